/**
 * The PLD accountant: known answers from tests/vectors/pld.json (Google's
 * dp_accounting tests, the exact Gaussian, the DP-SGD figure), the
 * FFT against a direct DFT, then the properties a pessimistic accountant
 * must keep (never below the exact value, monotone, consistent between ε and
 * δ and between composition routes) and the failures it must report
 * (E_OVERFLOW, E_UNSUPPORTED, the type-confusion battery).
 */
import { describe as group, expect, it } from 'vitest';
import fc from 'fast-check';
import { readFileSync } from 'node:fs';
import { PrivacyLossDistribution as PLD, pldDelta, pldEpsilon } from '../../../src/dp/accounting/pld.ts';
import { convolve, dftBins, fft, irfft, rfft } from '../../../src/dp/accounting/_fft.ts';
import type { PrivacyEvent } from '../../../src/dp/accounting/events.ts';
import { discreteGaussianDelta, gaussianDelta, gaussianEpsilon } from '../../../src/dp/calibration.ts';
import { ConfideError } from '../../../src/core/errors.ts';
import { confusionFailures, thrown } from '../../_battery.ts';

const V = JSON.parse(readFileSync(new URL('../../vectors/pld.json', import.meta.url), 'utf8'));


function within(got: number, want: number, atol: number, label: string): void {
  if (!(Math.abs(got - want) <= atol)) throw new Error(`${label}: got ${got}, want ${want} ± ${atol}`);
}

const dpsgd = (count: number, q = 0.04, sigma = 1.5): PrivacyEvent => ({
  type: 'self-composed',
  count,
  event: { type: 'poisson-sampled', q, event: { type: 'gaussian', sigma } },
});

/** A seeded generator for the FFT checks (no Math.random in tests either). */
function lcg(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

// ---------- known answers ----------

group('vectors (tests/vectors/pld.json)', () => {
  for (const v of V.accountant) {
    it(`${v.name}`, () => {
      for (const q of v.queries) {
        if ('epsilonAt' in q) within(pldEpsilon(v.event, q.epsilonAt), q.expected, q.atol, `${v.name}: epsilon at delta ${q.epsilonAt}`);
        else within(pldDelta(v.event, q.deltaAt), q.expected, q.atol, `${v.name}: delta at epsilon ${q.deltaAt}`);
      }
    });
  }

  const build = (mechanism: string, v: Record<string, number>): PLD => {
    switch (mechanism) {
      case 'gaussian':
        return PLD.fromGaussian(v.sigma, {
          sensitivity: v.sensitivity,
          samplingProbability: v.q,
          discretization: v.discretization,
          logMassTruncationBound: v.logMassTruncationBound,
        });
      case 'laplace':
        return PLD.fromLaplace(v.b, { sensitivity: v.sensitivity, samplingProbability: v.q, discretization: v.discretization });
      case 'randomized-response':
        return PLD.fromRandomizedResponse(v.p, v.k, { discretization: v.discretization });
      case 'discrete-laplace':
        return PLD.fromDiscreteLaplace(v.a, { sensitivity: v.sensitivity, samplingProbability: v.q, discretization: v.discretization });
      case 'discrete-gaussian':
        return PLD.fromDiscreteGaussian(v.sigma, { sensitivity: v.sensitivity, samplingProbability: v.q, truncationBound: v.truncationBound });
    }
    throw new Error(mechanism);
  };
  const compare = (pld: PLD, adjacency: 'remove' | 'add', want: Record<string, number>, inf: number, atol: number, label: string) => {
    const got = pld.pmf(adjacency);
    const keys = new Set(Object.keys(want).map(Number));
    got.probabilities.forEach((p, i) => {
      if (p !== 0) keys.add(got.lowerIndex + i);
    });
    for (const k of keys) {
      const g = got.probabilities[k - got.lowerIndex] ?? 0;
      within(g, want[k] ?? 0, atol, `${label} ${adjacency} loss index ${k}`);
    }
    within(got.infinityMass, inf, atol, `${label} ${adjacency} infinity mass`);
  };
  for (const g of V.pmf) {
    for (const v of g.vectors) {
      const label = `${g.mechanism} ${JSON.stringify({ ...v, add: undefined, remove: undefined })}`;
      it(label, () => {
        const pld = build(g.mechanism, v);
        compare(pld, 'remove', v.remove, v.infinityMass, g.atol, label);
        if (v.add) {
          expect(pld.symmetric).toBe(false);
          compare(pld, 'add', v.add, v.addInfinityMass ?? 0, g.atol, label);
        } else expect(pld.symmetric).toBe(true);
      });
    }
  }
});

// ---------- FFT ----------

group('FFT', () => {
  function naiveDft(re: Float64Array, im: Float64Array, inverse: boolean): [Float64Array, Float64Array] {
    const n = re.length;
    const R = new Float64Array(n);
    const I = new Float64Array(n);
    for (let k = 0; k < n; k++)
      for (let j = 0; j < n; j++) {
        const t = ((inverse ? 2 : -2) * Math.PI * ((j * k) % n)) / n;
        R[k] += re[j] * Math.cos(t) - im[j] * Math.sin(t);
        I[k] += re[j] * Math.sin(t) + im[j] * Math.cos(t);
      }
    return [R, I];
  }

  it('matches a direct DFT in both directions, lengths 1 to 512', () => {
    const rnd = lcg(1);
    for (let n = 1; n <= 512; n *= 2) {
      for (const inverse of [false, true]) {
        const re = new Float64Array(n).map(() => rnd() - 0.5);
        const im = new Float64Array(n).map(() => rnd() - 0.5);
        const [R, I] = naiveDft(re, im, inverse);
        fft(re, im, inverse);
        for (let k = 0; k < n; k++) {
          within(re[k], R[k], 1e-13 * n, `n=${n} re[${k}]`);
          within(im[k], I[k], 1e-13 * n, `n=${n} im[${k}]`);
        }
      }
    }
  });

  it('rfft equals the complex FFT of a real sequence, irfft inverts it', () => {
    const rnd = lcg(2);
    for (let n = 2; n <= 1024; n *= 2) {
      const x = new Float64Array(n).map(() => rnd());
      const [R, I] = naiveDft(x, new Float64Array(n), false);
      const [r, i] = rfft(x, n);
      expect(r.length).toBe(n / 2 + 1);
      for (let k = 0; k <= n / 2; k++) {
        within(r[k], R[k], 1e-13 * n, `n=${n} bin ${k}`);
        within(i[k], I[k], 1e-13 * n, `n=${n} bin ${k}`);
      }
      const back = irfft(r, i, n);
      for (let j = 0; j < n; j++) within(back[j], x[j], 1e-15 * n, `n=${n} sample ${j}`);
    }
  });

  it('zero-pads a shorter input and convolves like the direct sum', () => {
    const rnd = lcg(3);
    const a = new Float64Array(37).map(() => rnd());
    const b = new Float64Array(101).map(() => rnd());
    const c = convolve(a, b);
    expect(c.length).toBe(137);
    for (let k = 0; k < c.length; k++) {
      let s = 0;
      for (let i = 0; i < a.length; i++) if (k - i >= 0 && k - i < b.length) s += a[i] * b[k - i];
      within(c[k], s, 1e-12, `c[${k}]`);
    }
    expect(Array.from(convolve(Float64Array.of(1, 2, 3), Float64Array.of(1, 1))).map((v) => Math.round(v * 1e12) / 1e12)).toEqual([1, 3, 5, 3]);
  });

  it('dftBins sums selected bins directly, equal to the FFT', () => {
    const rnd = lcg(4);
    const x = new Float64Array(300).map(() => rnd());
    const n = 1024;
    const [r, i] = rfft(x, n);
    const bins = [0, 1, 2, 17, 511, 512];
    const [dr, di] = dftBins(x, n, bins);
    bins.forEach((k, b) => {
      within(dr[b], r[k], 1e-12, `bin ${k} re`);
      within(di[b], i[k], 1e-12, `bin ${k} im`);
    });
  });
});

// ---------- properties ----------

group('pessimism and accuracy against exact values', () => {
  it('one Gaussian: epsilon is never below the exact value and within 2e-3 of it', () => {
    for (const sigma of [0.5, 1, 2, 5, 20]) {
      for (const delta of [1e-3, 1e-5, 1e-8]) {
        const exact = gaussianEpsilon(sigma, delta, 1);
        const got = pldEpsilon({ type: 'gaussian', sigma }, delta);
        expect(got).toBeGreaterThanOrEqual(exact - 1e-12);
        expect(got - exact).toBeLessThan(2e-3);
      }
    }
  });

  it('one Gaussian: delta is never below the exact value and close to it', () => {
    for (const sigma of [0.7, 1, 3]) {
      for (const epsilon of [0, 0.3, 1, 3]) {
        const exact = gaussianDelta(sigma, epsilon, 1);
        const got = pldDelta({ type: 'gaussian', sigma }, epsilon);
        expect(got).toBeGreaterThanOrEqual(exact * (1 - 1e-12));
        expect(got - exact).toBeLessThan(1e-3 * Math.max(exact, 1e-3));
      }
    }
  });

  it('Gaussian compositions merge exactly: Σ (Δ/σ)² decides', () => {
    const event: PrivacyEvent = {
      type: 'composed',
      events: [
        { type: 'self-composed', count: 4, event: { type: 'gaussian', sigma: 4 } },
        { type: 'gaussian', sigma: 3, sensitivity: 2 },
        { type: 'gaussian', sigma: 6, sensitivity: 3 },
      ],
    };
    // 4/16 + 4/9 + 9/36 = 0.25 + 0.4444 + 0.25
    const sigma = 1 / Math.sqrt(0.25 + 4 / 9 + 0.25);
    const exact = gaussianEpsilon(sigma, 1e-6, 1);
    const got = pldEpsilon(event, 1e-6);
    expect(got).toBeGreaterThanOrEqual(exact);
    expect(got - exact).toBeLessThan(2e-3);
  });

  it('Gaussian self-composition by FFT agrees with the exact composed Gaussian', () => {
    // The class does not merge: 16 × σ=4 goes through the FFT; exact is σ=1.
    const composed = PLD.fromGaussian(4).selfCompose(16);
    for (const delta of [1e-3, 1e-6]) {
      const exact = gaussianEpsilon(1, delta, 1);
      const got = composed.getEpsilonForDelta(delta);
      expect(got).toBeGreaterThanOrEqual(exact);
      expect(got - exact).toBeLessThan(5e-3);
    }
  });

  it('discrete Gaussian: delta is at least the exact delta of CKS20 and close to it', () => {
    for (const [sigma, sensitivity] of [
      [2, 1],
      [5, 3],
      [10, 1],
    ]) {
      for (const epsilon of [0.1, 0.5, 1]) {
        const exact = discreteGaussianDelta(sigma, epsilon, sensitivity);
        const got = pldDelta({ type: 'discrete-gaussian', sigma, sensitivity }, epsilon);
        // Losses on the grid are not rounded: equal up to the last bits.
        expect(got).toBeGreaterThanOrEqual(exact * (1 - 1e-12));
        expect(got - exact).toBeLessThan(2e-3 * Math.max(exact, 1e-3));
      }
    }
  });

  it('Laplace and sampled Laplace: pure epsilon is the largest loss, rounded up to the grid', () => {
    for (const b of [0.5, 1, 3]) {
      const got = pldEpsilon({ type: 'laplace', b }, 0);
      expect(got).toBeGreaterThanOrEqual(1 / b);
      expect(got - 1 / b).toBeLessThanOrEqual(1e-4 + 1e-12);
    }
    const q = 0.1;
    const want = Math.log1p(q * Math.expm1(2));
    const got = pldEpsilon({ type: 'poisson-sampled', q, event: { type: 'laplace', b: 0.5 } }, 0);
    expect(got).toBeGreaterThanOrEqual(want);
    expect(got - want).toBeLessThanOrEqual(1e-4 + 1e-12);
  });

  it('randomized response: epsilon at delta 0 is ln(k/p − k + 1) rounded up', () => {
    for (const [p, k] of [
      [0.5, 2],
      [0.2, 4],
      [0.9, 10],
    ]) {
      const want = Math.log1p(k / p - k);
      const got = pldEpsilon({ type: 'randomized-response', p, k }, 0);
      expect(got).toBeGreaterThanOrEqual(want);
      expect(got - want).toBeLessThanOrEqual(1e-4 + 1e-12);
    }
  });

  it('pure (ε, 0) events compose by adding epsilons at delta 0, and tighter above', () => {
    const event: PrivacyEvent = { type: 'self-composed', count: 100, event: { type: 'epsilon-delta', epsilon: 0.1 } };
    within(pldEpsilon(event, 0), 10, 1e-9, 'basic composition at delta 0');
    const advanced = pldEpsilon(event, 1e-6);
    expect(advanced).toBeLessThan(10);
    // Kairouz, Oh and Viswanath 2015 optimal composition is around 5.6 here; the PLD of the
    // pessimistic ±ε pair is that composition.
    expect(advanced).toBeGreaterThan(3);
  });
});

group('consistency', () => {
  it('epsilon decreases as delta grows; delta decreases as epsilon grows', () => {
    const pld = PLD.fromEvent(dpsgd(300));
    let last = Infinity;
    for (const delta of [1e-9, 1e-7, 1e-5, 1e-3, 1e-1]) {
      const e = pld.getEpsilonForDelta(delta);
      expect(e).toBeLessThanOrEqual(last);
      last = e;
    }
    let lastDelta = 1;
    for (const epsilon of [0, 0.5, 1, 2, 4, 8]) {
      const d = pld.getDeltaForEpsilon(epsilon);
      expect(d).toBeLessThanOrEqual(lastDelta);
      lastDelta = d;
    }
  });

  it('delta at the returned epsilon is within the asked delta', () => {
    const pld = PLD.fromGaussian(0.9, { samplingProbability: 0.3 }).selfCompose(20);
    fc.assert(
      fc.property(fc.double({ min: -9, max: -1, noNaN: true }), (logDelta) => {
        const delta = 10 ** logDelta;
        const e = pld.getEpsilonForDelta(delta);
        return pld.getDeltaForEpsilon(e) <= delta * (1 + 1e-9) + 1e-15;
      }),
      { numRuns: 25, seed: 7 },
    );
  });

  it('self-composition equals repeated composition', () => {
    const base = PLD.fromLaplace(2, { samplingProbability: 0.3 });
    const a = base.selfCompose(5);
    const b = base.compose(base).compose(base).compose(base).compose(base);
    for (const delta of [1e-2, 1e-5]) within(a.getEpsilonForDelta(delta), b.getEpsilonForDelta(delta), 1e-6, `delta ${delta}`);
    const c = PLD.fromGaussian(2, { samplingProbability: 0.1 });
    within(c.selfCompose(200).getEpsilonForDelta(1e-6), c.selfCompose(100).compose(c.selfCompose(100)).getEpsilonForDelta(1e-6), 1e-4, 'split 200');
  });

  it('composition commutes', () => {
    const a = PLD.fromGaussian(1.2, { samplingProbability: 0.2 }).selfCompose(10);
    const b = PLD.fromDiscreteLaplace(0.7, { sensitivity: 2 });
    within(a.compose(b).getEpsilonForDelta(1e-6), b.compose(a).getEpsilonForDelta(1e-6), 1e-9, 'a∘b vs b∘a');
  });

  it('fromEvent, pldEpsilon and pldDelta agree; the event tree is flattened', () => {
    const inner: PrivacyEvent = { type: 'poisson-sampled', q: 0.05, event: { type: 'laplace', b: 1 } };
    const nested: PrivacyEvent = { type: 'self-composed', count: 4, event: { type: 'self-composed', count: 25, event: inner } };
    const flat: PrivacyEvent = { type: 'self-composed', count: 100, event: inner };
    const spread: PrivacyEvent = { type: 'composed', events: [{ type: 'self-composed', count: 60, event: inner }, { type: 'self-composed', count: 40, event: inner }] };
    const e = pldEpsilon(flat, 1e-6);
    expect(pldEpsilon(nested, 1e-6)).toBe(e);
    expect(pldEpsilon(spread, 1e-6)).toBe(e);
    expect(PLD.fromEvent(flat).getEpsilonForDelta(1e-6)).toBe(e);
    expect(PLD.fromEvent(flat).getDeltaForEpsilon(1)).toBe(pldDelta(flat, 1));
  });

  it('nested Poisson sampling multiplies the probabilities', () => {
    const a = pldEpsilon({ type: 'poisson-sampled', q: 0.5, event: { type: 'poisson-sampled', q: 0.2, event: { type: 'gaussian', sigma: 1 } } }, 1e-5);
    expect(a).toBe(pldEpsilon({ type: 'poisson-sampled', q: 0.1, event: { type: 'gaussian', sigma: 1 } }, 1e-5));
  });

  it('sampling: add and remove PMFs differ, and sampling helps', () => {
    const sampled = PLD.fromGaussian(1, { samplingProbability: 0.1 });
    expect(sampled.symmetric).toBe(false);
    expect(PLD.fromGaussian(1).symmetric).toBe(true);
    expect(sampled.getEpsilonForDelta(1e-5)).toBeLessThan(PLD.fromGaussian(1).getEpsilonForDelta(1e-5));
    // Poisson sampling with q = 1 is no sampling.
    expect(pldEpsilon({ type: 'poisson-sampled', q: 1, event: { type: 'laplace', b: 1 } }, 1e-6)).toBe(pldEpsilon({ type: 'laplace', b: 1 }, 1e-6));
  });

  it('a finer grid is tighter, a coarser one looser, both upper bounds', () => {
    const exact = gaussianEpsilon(1.3, 1e-6, 1);
    const fine = pldEpsilon({ type: 'gaussian', sigma: 1.3 }, 1e-6, { discretization: 1e-5 });
    const coarse = pldEpsilon({ type: 'gaussian', sigma: 1.3 }, 1e-6, { discretization: 1e-2 });
    expect(fine).toBeGreaterThanOrEqual(exact);
    expect(coarse).toBeGreaterThanOrEqual(fine);
    expect(fine - exact).toBeLessThan(1e-4);
  });

  it('nothing happens: identity, count 0, sampling probability 0, no events', () => {
    expect(PLD.identity().getEpsilonForDelta(0)).toBe(0);
    expect(PLD.identity().getDeltaForEpsilon(0)).toBe(0);
    expect(pldEpsilon({ type: 'composed', events: [] }, 1e-5)).toBe(0);
    expect(pldEpsilon({ type: 'self-composed', count: 0, event: { type: 'zcdp', rho: 1 } }, 0)).toBe(0);
    expect(pldEpsilon({ type: 'poisson-sampled', q: 0, event: { type: 'gaussian', sigma: 0.1 } }, 0)).toBe(0);
    expect(PLD.fromGaussian(1).selfCompose(0).getDeltaForEpsilon(0)).toBe(0);
  });
});

// ---------- limits and failures ----------

group('limits: a correct number or a ConfideError', () => {
  it('delta 0 with unbounded loss, or below an event\'s own delta, is epsilon = Infinity', () => {
    expect(pldEpsilon({ type: 'gaussian', sigma: 1 }, 0)).toBe(Infinity);
    expect(pldEpsilon(dpsgd(10), 0)).toBe(Infinity);
    expect(pldEpsilon({ type: 'epsilon-delta', epsilon: 1, delta: 0.01 }, 0.001)).toBe(Infinity);
    expect(pldEpsilon({ type: 'epsilon-delta', epsilon: 1, delta: 0.01 }, 0.01)).toBeCloseTo(1, 12);
  });

  it('delta below the numerical floor is E_OVERFLOW, never a made-up epsilon (prv_accountant#17)', () => {
    const e = thrown(() => pldEpsilon(dpsgd(2249), 1e-18));
    expect(e.code).toBe('E_OVERFLOW');
    expect(e.message).toMatch(/numerical floor/);
    expect(thrown(() => pldEpsilon({ type: 'gaussian', sigma: 1 }, 1e-30)).code).toBe('E_OVERFLOW');
  });

  it('delta comparable to the FFT rounding error is E_OVERFLOW with both figures', () => {
    const e = thrown(() => pldEpsilon(dpsgd(2249), 1e-12));
    expect(e.code).toBe('E_OVERFLOW');
    const { epsilonEstimate, epsilonUpperBound } = e.details as { epsilonEstimate: number; epsilonUpperBound: number };
    expect(epsilonUpperBound).toBeGreaterThan(epsilonEstimate);
    // Larger deltas are answered, certified against the rounding error.
    expect(pldEpsilon(dpsgd(2249), 1e-9)).toBeGreaterThan(pldEpsilon(dpsgd(2249), 1e-5));
  });

  it('a grid too large for memory is E_OVERFLOW naming a discretization that fits', () => {
    const e = thrown(() => pldEpsilon({ type: 'laplace', b: 1e-4 }, 1e-5));
    expect(e.code).toBe('E_OVERFLOW');
    const suggested = (e.details as { suggestedDiscretization: number }).suggestedDiscretization;
    const eps = pldEpsilon({ type: 'laplace', b: 1e-4 }, 1e-5, { discretization: suggested });
    expect(eps).toBeGreaterThanOrEqual(1e4 * (1 - 1e-9) + Math.log1p(-1e-5));
    expect(thrown(() => pldEpsilon({ type: 'gaussian', sigma: 1e-3 }, 1e-5)).code).toBe('E_OVERFLOW');
    expect(thrown(() => pldEpsilon(dpsgd(1e9), 1e-5)).code).toBe('E_OVERFLOW');
    expect(thrown(() => pldEpsilon(dpsgd(Number.MAX_SAFE_INTEGER), 1e-5)).code).toBe('E_OVERFLOW');
    expect(thrown(() => pldEpsilon({ type: 'discrete-gaussian', sigma: 1e7, sensitivity: 1 }, 1e-5)).code).toBe('E_OVERFLOW');
  });

  it('counts whose product is not a safe integer are E_OVERFLOW', () => {
    const e = thrown(() =>
      pldEpsilon({ type: 'self-composed', count: 2 ** 30, event: { type: 'self-composed', count: 2 ** 30, event: { type: 'laplace', b: 1 } } }, 1e-5),
    );
    expect(e.code).toBe('E_OVERFLOW');
    expect(thrown(() => pldEpsilon({ type: 'gaussian', sigma: 1e-300 }, 1e-5)).code).toBe('E_OVERFLOW');
  });

  it('large epsilons stay exact where the grid allows', () => {
    // (1000, 0) is also (1000 + ln(1 − δ), δ).
    within(pldEpsilon({ type: 'epsilon-delta', epsilon: 1000 }, 1e-5), 1000 + Math.log1p(-1e-5), 1e-6, 'epsilon 1000');
    within(pldEpsilon({ type: 'laplace', b: 0.01 }, 0), 100, 1e-4 + 1e-9, 'Laplace b=0.01');
    expect(pldDelta(dpsgd(100), 1e308)).toBeLessThan(1e-14);
  });

  it('events it cannot account are E_UNSUPPORTED', () => {
    const cases: PrivacyEvent[] = [
      { type: 'zcdp', rho: 0.5 },
      { type: 'sampled-without-replacement', n: 100, m: 10, event: { type: 'gaussian', sigma: 1 } },
      { type: 'poisson-sampled', q: 0.5, event: { type: 'epsilon-delta', epsilon: 1 } },
      { type: 'poisson-sampled', q: 0.5, event: { type: 'randomized-response', p: 0.5, k: 2 } },
      { type: 'poisson-sampled', q: 0.5, event: { type: 'self-composed', count: 2, event: { type: 'gaussian', sigma: 1 } } },
      { type: 'composed', events: [{ type: 'laplace', b: 1 }, { type: 'zcdp', rho: 1 }] },
    ];
    for (const c of cases) {
      expect(thrown(() => pldEpsilon(c, 1e-5)).code).toBe('E_UNSUPPORTED');
      expect(thrown(() => pldDelta(c, 1)).code).toBe('E_UNSUPPORTED');
    }
  });

  it('random events give a finite, non-NaN answer in range or a ConfideError', () => {
    const leaf = fc.oneof(
      fc.record({ type: fc.constant('gaussian' as const), sigma: fc.double({ min: 0.1, max: 50, noNaN: true }) }),
      fc.record({ type: fc.constant('laplace' as const), b: fc.double({ min: 0.05, max: 50, noNaN: true }) }),
      fc.record({ type: fc.constant('discrete-laplace' as const), a: fc.double({ min: 0.01, max: 5, noNaN: true }), sensitivity: fc.integer({ min: 1, max: 4 }) }),
      fc.record({ type: fc.constant('discrete-gaussian' as const), sigma: fc.double({ min: 0.3, max: 30, noNaN: true }), sensitivity: fc.integer({ min: 1, max: 4 }) }),
      fc.record({ type: fc.constant('randomized-response' as const), p: fc.double({ min: 0.01, max: 1, noNaN: true }), k: fc.integer({ min: 2, max: 100 }) }),
      fc.record({ type: fc.constant('epsilon-delta' as const), epsilon: fc.double({ min: 0, max: 5, noNaN: true }), delta: fc.double({ min: 0, max: 0.01, noNaN: true }) }),
    );
    const sampled = fc.oneof(
      leaf,
      fc.record({
        type: fc.constant('poisson-sampled' as const),
        q: fc.double({ min: 0, max: 1, noNaN: true }),
        event: fc.oneof(
          fc.record({ type: fc.constant('gaussian' as const), sigma: fc.double({ min: 0.4, max: 20, noNaN: true }) }),
          fc.record({ type: fc.constant('laplace' as const), b: fc.double({ min: 0.2, max: 20, noNaN: true }) }),
        ),
      }),
    );
    const event = fc.array(fc.record({ count: fc.integer({ min: 0, max: 100 }), event: sampled }), { minLength: 1, maxLength: 3 }).map(
      (xs): PrivacyEvent => ({ type: 'composed', events: xs.map((x) => ({ type: 'self-composed', count: x.count, event: x.event as PrivacyEvent })) }),
    );
    fc.assert(
      fc.property(event, fc.double({ min: 0, max: 0.5, noNaN: true }), fc.double({ min: 0, max: 20, noNaN: true }), (e, delta, epsilon) => {
        let pld: PLD;
        try {
          pld = PLD.fromEvent(e);
        } catch (err) {
          if (!(err instanceof ConfideError)) throw err;
          return true;
        }
        try {
          const v = pld.getEpsilonForDelta(delta);
          if (Number.isNaN(v) || v < 0) return false;
        } catch (err) {
          if (!(err instanceof ConfideError)) throw err;
        }
        const d = pld.getDeltaForEpsilon(epsilon);
        return d >= 0 && d <= 1;
      }),
      { numRuns: 30, seed: 11 },
    );
  });
});

group('input checks', () => {
  const laplace: PrivacyEvent = { type: 'laplace', b: 1 };

  it('pldEpsilon and pldDelta pass the type-confusion battery', async () => {
    expect(
      await confusionFailures('pldEpsilon', pldEpsilon, () => [laplace, 1e-5, { discretization: 1e-3 }], {
        accept: { 1: ['-0', 'fraction'], 2: ['undefined', 'object'] },
      }),
    ).toEqual([]);
    expect(
      await confusionFailures('pldDelta', pldDelta, () => [laplace, 1, { discretization: 1e-3 }], {
        accept: { 1: ['-0', 'fraction', 'huge'], 2: ['undefined', 'object'] },
      }),
    ).toEqual([]);
  });

  it('the factories and methods pass the type-confusion battery', async () => {
    const base = PLD.fromGaussian(1, { discretization: 1e-3 });
    const failures = [
      ...(await confusionFailures('fromGaussian', PLD.fromGaussian, () => [1, { samplingProbability: 0.5 }], {
        accept: { 0: ['fraction', 'huge'], 1: ['undefined', 'object'] },
      })),
      ...(await confusionFailures('fromLaplace', PLD.fromLaplace, () => [1, { sensitivity: 2 }], {
        accept: { 0: ['fraction', 'huge'], 1: ['undefined', 'object'] },
      })),
      ...(await confusionFailures('fromDiscreteLaplace', PLD.fromDiscreteLaplace, () => [1, { sensitivity: 2 }], {
        accept: { 0: ['fraction', 'huge'], 1: ['undefined', 'object'] },
      })),
      ...(await confusionFailures('fromDiscreteGaussian', PLD.fromDiscreteGaussian, () => [2, { truncationBound: 30 }], {
        accept: { 0: ['fraction', 'huge'], 1: ['undefined', 'object'] },
      })),
      ...(await confusionFailures('fromRandomizedResponse', PLD.fromRandomizedResponse, () => [0.5, 3, undefined], {
        accept: { 0: ['fraction'], 2: ['undefined', 'object'] },
      })),
      ...(await confusionFailures('fromPrivacyParameters', PLD.fromPrivacyParameters, () => [1, 0.1, undefined], {
        accept: { 0: ['-0', 'fraction'], 1: ['-0', 'fraction', 'undefined'], 2: ['undefined', 'object'] },
      })),
      ...(await confusionFailures('fromEvent', PLD.fromEvent, () => [laplace, undefined], { accept: { 1: ['undefined', 'object'] } })),
      ...(await confusionFailures('identity', PLD.identity, () => [undefined], { accept: { 0: ['undefined', 'object'] } })),
      ...(await confusionFailures('selfCompose', (c) => base.selfCompose(c), () => [3])),
      ...(await confusionFailures('compose', (o) => base.compose(o), () => [base])),
      ...(await confusionFailures('getEpsilonForDelta', (d) => base.getEpsilonForDelta(d), () => [1e-5], { accept: { 0: ['-0', 'fraction'] } })),
      ...(await confusionFailures('getDeltaForEpsilon', (e) => base.getDeltaForEpsilon(e), () => [1], { accept: { 0: ['-0', 'fraction', 'huge'] } })),
      ...(await confusionFailures('pmf', (a) => base.pmf(a), () => ['add'], { accept: { 0: ['undefined'] } })),
    ];
    expect(failures).toEqual([]);
  });

  it('rejects bad parameters by name', () => {
    expect(thrown(() => pldEpsilon(laplace, 1.5)).field).toBe('delta');
    expect(thrown(() => pldDelta(laplace, -1)).field).toBe('epsilon');
    expect(thrown(() => pldEpsilon(laplace, 1e-5, { discretization: 0 })).field).toBe('options.discretization');
    expect(thrown(() => pldEpsilon(laplace, 1e-5, { discretisation: 1e-3 } as never)).field).toBe('options.discretisation');
    expect(thrown(() => pldEpsilon({ type: 'laplace', b: -1 } as PrivacyEvent, 1e-5)).field).toBe('event.b');
    expect(thrown(() => PLD.fromDiscreteGaussian(1, { sensitivity: 5, truncationBound: 2 })).code).toBe('E_BAD_INPUT');
    const a = PLD.fromLaplace(1);
    const b = PLD.fromLaplace(1, { discretization: 1e-3 });
    expect(thrown(() => a.compose(b)).field).toBe('other');
    expect(thrown(() => new (PLD as unknown as new (...args: unknown[]) => PLD)(Symbol('x'), 1e-4, null, null)).code).toBe('E_BAD_INPUT');
  });
});
