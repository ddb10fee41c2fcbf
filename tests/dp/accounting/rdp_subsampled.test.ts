/**
 * Poisson sampling of events other than the Gaussian in the RDP accountant:
 * the general upper bound of Zhu and Wang 2019 (src/dp/accounting/_subsampled.ts)
 * and how rdpCurve uses it (src/dp/accounting/rdp.ts, poissonGeneralCurve).
 *
 * What must hold: the bound is at least the exact sampled divergence, in both
 * directions, of any mechanism whose curve it is given (checked on random
 * two-point mechanisms, where everything is computable exactly), at least
 * the exact sampled Gaussian of Mironov, Talwar and Zhang, at most the
 * unsampled curve, nondecreasing in q; it equals a direct evaluation of the
 * theorem's sum; extreme parameters give numbers or Infinity, never NaN;
 * and a ledger accounts 100 sampled discrete Gaussian rounds between the
 * continuous sampled Gaussian and the unsampled figure.
 */
import { describe as group, expect, it } from 'vitest';
import fc from 'fast-check';
import { logPoissonGeneralBracket } from '../../../src/dp/accounting/_subsampled.ts';
import { rdpCurve, rdpEpsilon } from '../../../src/dp/accounting/rdp.ts';
import { epsilonFor } from '../../../src/dp/accounting/accountant.ts';
import type { PrivacyEvent } from '../../../src/dp/accounting/events.ts';
import { PrivacyLedger } from '../../../src/dp/budget/index.ts';
import { confusionFailures, thrown } from '../../_battery.ts';

const gaussian = (sigma: number): PrivacyEvent => ({ type: 'gaussian', sigma });
const dg = (sigma: number, sensitivity = 1): PrivacyEvent => ({ type: 'discrete-gaussian', sigma, sensitivity });
const poisson = (q: number, event: PrivacyEvent): PrivacyEvent => ({ type: 'poisson-sampled', q, event });
const times = (count: number, event: PrivacyEvent): PrivacyEvent => ({ type: 'self-composed', count, event });
const range = (lo: number, hi: number) => Array.from({ length: hi - lo + 1 }, (_, i) => lo + i);

/** ε(ℓ) = ℓ/(2σ²) at ℓ = 0..kmax, indexed by ℓ (the Gaussian's and the discrete Gaussian's curve at Δ = 1). */
function linearCurve(slope: number, kmax: number): Float64Array {
  return Float64Array.from({ length: kmax + 1 }, (_, l) => l * slope);
}

/** D_α(P ‖ Q) of finite distributions, directly (full support). */
function renyi(alpha: number, P: readonly number[], Q: readonly number[]): number {
  let s = 0;
  for (let i = 0; i < P.length; i++) s += P[i] ** alpha * Q[i] ** (1 - alpha);
  return Math.log(s) / (alpha - 1);
}

const normalise = (v: readonly number[]) => {
  const t = v.reduce((a, b) => a + b, 0);
  return v.map((x) => x / t);
};

/** C(n, k) exactly, as a double. */
function binomial(n: number, k: number): number {
  let c = 1n;
  for (let i = 0; i < k; i++) c = (c * BigInt(n - i)) / BigInt(i + 1);
  return Number(c);
}

/** The theorem's bracket summed as written, term by term in plain doubles (no logs, no rearrangement). */
function bracketDirect(q: number, alpha: number, eps: (l: number) => number): number {
  let s = (1 - q) ** (alpha - 1) * (alpha * q - q + 1);
  s += binomial(alpha, 2) * q ** 2 * (1 - q) ** (alpha - 2) * Math.exp(eps(2));
  for (let l = 3; l <= alpha; l++) s += 3 * binomial(alpha, l) * q ** l * (1 - q) ** (alpha - l) * Math.exp((l - 1) * eps(l));
  return s;
}

group('the Zhu–Wang general bound (logPoissonGeneralBracket)', () => {
  it('is at least the exact sampled divergence, both directions, of random two-point mechanisms', () => {
    // A mechanism with M(S) = P and M(S ∪ {x}) = P' has the exact curve
    // ε(ℓ) = max(D_ℓ(P ‖ P'), D_ℓ(P' ‖ P)); Poisson sampling turns the pair
    // into (P, (1 − q)P + qP'), whose divergences are computed directly.
    const weights = fc.array(fc.double({ min: 1e-6, max: 1, noNaN: true }), { minLength: 2, maxLength: 5 });
    fc.assert(
      fc.property(weights, weights, fc.double({ min: 1e-4, max: 0.99, noNaN: true }), fc.integer({ min: 2, max: 14 }), (a, b, q, alpha) => {
        const k = Math.min(a.length, b.length);
        const P = normalise(a.slice(0, k));
        const P2 = normalise(b.slice(0, k));
        const eps = Float64Array.from({ length: alpha + 1 }, (_, l) => (l < 2 ? 0 : Math.max(renyi(l, P, P2), renyi(l, P2, P))));
        const M = P.map((p, i) => (1 - q) * p + q * P2[i]);
        const exact = Math.max(renyi(alpha, P, M), renyi(alpha, M, P));
        const bound = logPoissonGeneralBracket(q, alpha, eps) / (alpha - 1);
        expect(bound).toBeGreaterThanOrEqual(exact - 1e-12 - 1e-9 * exact);
      }),
      { numRuns: 400, seed: 11 },
    );
  });

  it('is at least the exact sampled Gaussian (Mironov, Talwar, Zhang) at every integer order, equal at order 2', () => {
    const orders = [...range(2, 64), 128, 256];
    for (const q of [1e-5, 1e-3, 0.01, 0.05, 0.2, 0.5, 0.9])
      for (const sigma of [0.5, 0.8, 1, 1.1, 2, 5, 20]) {
        const exact = rdpCurve(poisson(q, gaussian(sigma)), orders);
        const eps = linearCurve(1 / (2 * sigma * sigma), 256);
        orders.forEach((alpha, i) => {
          const bound = logPoissonGeneralBracket(q, alpha, eps) / (alpha - 1);
          expect(bound, `q=${q} σ=${sigma} α=${alpha}`).toBeGreaterThanOrEqual(exact[i] * (1 - 1e-12));
          // At α = 2 the theorem has no factor 3 and is the exact formula.
          if (alpha === 2) expect(bound).toBeCloseTo(exact[i], 14);
        });
      }
  });

  it('equals the sum as written, evaluated term by term, and two closed forms', () => {
    for (const q of [0.01, 0.1, 0.3, 0.5])
      for (const sigma of [0.8, 1.1, 2, 5])
        for (const alpha of [2, 3, 4, 5, 8, 16, 32, 60]) {
          const c = 1 / (2 * sigma * sigma);
          const direct = bracketDirect(q, alpha, (l) => l * c);
          // The plain sum cancels near 1 and overflows for large moments; the log-space one does neither.
          if (!(direct - 1 >= 1e-6 && direct < Infinity)) continue;
          const got = logPoissonGeneralBracket(q, alpha, linearCurve(c, alpha));
          expect(Math.abs(got - Math.log(direct)) / Math.log(direct), `q=${q} σ=${sigma} α=${alpha}`).toBeLessThan(1e-10);
        }
    // α = 2: log(1 + q²(e^{ε(2)} − 1)), kept to full relative precision when tiny.
    for (const [q, e2] of [[1e-8, 0.3], [0.01, 1], [0.5, 5]]) {
      const eps = [0, 0, e2];
      expect(logPoissonGeneralBracket(q, 2, eps)).toBeCloseTo(Math.log1p(q * q * Math.expm1(e2)), 15);
      expect(logPoissonGeneralBracket(q, 2, eps) / Math.log1p(q * q * Math.expm1(e2))).toBeCloseTo(1, 13);
    }
    // α = 3: (1 − q)²(1 + 2q) + 3q²(1 − q)e^{ε(2)} + 3q³e^{2ε(3)}.
    const [q, e2, e3] = [0.2, 0.7, 1.3];
    const want = Math.log((1 - q) ** 2 * (1 + 2 * q) + 3 * q * q * (1 - q) * Math.exp(e2) + 3 * q ** 3 * Math.exp(2 * e3));
    expect(logPoissonGeneralBracket(q, 3, [0, 0, e2, e3])).toBeCloseTo(want, 14);
  });

  it('tends to ε(α) + log(3)/(α − 1) as q → 1 (ε(2) at order 2); rdpCurve at q = 1 is the inner curve', () => {
    const c = 1 / (2 * 1.1 * 1.1);
    const eps = linearCurve(c, 64);
    for (const alpha of [2, 3, 5, 10, 64]) {
      const bound = logPoissonGeneralBracket(1 - 1e-12, alpha, eps) / (alpha - 1);
      const limit = alpha * c + (alpha === 2 ? 0 : Math.log(3) / (alpha - 1));
      expect(bound).toBeCloseTo(limit, 8);
    }
    // The accountant never reports more than the unsampled curve, and q = 1 is exactly it.
    const orders = [1.5, 2, 3, 10, 64, 256];
    const inner = rdpCurve(dg(1.1), orders);
    expect(Array.from(rdpCurve(poisson(1, dg(1.1)), orders))).toEqual(Array.from(inner));
    const near = rdpCurve(poisson(1 - 1e-12, dg(1.1)), orders);
    near.forEach((r, i) => expect(r).toBeLessThanOrEqual(inner[i]));
  });

  it('keeps tiny values to full relative precision, and is Infinity (never NaN) for infinite inner orders', () => {
    const eps = linearCurve(1 / 2, 10);
    const tiny = logPoissonGeneralBracket(1e-150, 10, eps);
    // Leading term C(10, 2) q² (e^{ε(2)} − 1).
    expect(tiny / (45 * 1e-300 * Math.expm1(1))).toBeCloseTo(1, 10);
    expect(logPoissonGeneralBracket(0.1, 5, [0, 0, 1, Infinity, 1])).toBe(Infinity);
    expect(logPoissonGeneralBracket(0.1, 2, [0, 0, 0])).toBe(0);
  });
});

group('rdpCurve: Poisson-sampled events other than Gaussians', () => {
  const integers = [...range(2, 64), 128, 256];

  it('the sampled discrete Gaussian: above the sampled Gaussian, below the unsampled curve', () => {
    for (const q of [1e-4, 0.01, 0.05, 0.3])
      for (const sigma of [0.7, 1.1, 3]) {
        const general = rdpCurve(poisson(q, dg(sigma)), integers);
        const exact = rdpCurve(poisson(q, gaussian(sigma)), integers);
        const unsampled = rdpCurve(dg(sigma), integers);
        integers.forEach((alpha, i) => {
          expect(general[i]).toBeGreaterThanOrEqual(exact[i] * (1 - 1e-12));
          expect(general[i]).toBeLessThanOrEqual(unsampled[i]);
        });
        // Small q, low orders: a real amplification (below q times the unsampled value), not just the cap.
        if (q <= 0.01 && sigma >= 1.1)
          for (const alpha of [2, 4, 8]) {
            const i = integers.indexOf(alpha);
            expect(general[i]).toBeLessThan(unsampled[i] * q);
          }
      }
  });

  it('is nondecreasing in q at every order', () => {
    const orders = [1.5, 2, 2.5, 3, 4, 8, 16, 32, 64, 128, 256, 1024];
    const qs = [1e-6, 1e-4, 1e-3, 0.01, 0.02, 0.05, 0.1, 0.2, 0.4, 0.6, 0.8, 0.95, 0.999, 1];
    for (const inner of [dg(1.1), dg(4, 3), { type: 'zcdp', rho: 0.02 } as PrivacyEvent, { type: 'laplace', b: 2 } as PrivacyEvent]) {
      let prev: ArrayLike<number> = new Float64Array(orders.length);
      for (const q of qs) {
        const c = rdpCurve(poisson(q, inner), orders);
        c.forEach((r, i) => expect(r, `q=${q} α=${orders[i]}`).toBeGreaterThanOrEqual(prev[i] * (1 - 1e-12)));
        prev = c;
      }
    }
  });

  it('depends on the inner event only through its curve; compositions add curves before sampling', () => {
    const orders = [1.25, 2, 3, 7.5, 20, 256];
    const same = (a: PrivacyEvent, b: PrivacyEvent) => expect(Array.from(rdpCurve(a, orders))).toEqual(Array.from(rdpCurve(b, orders)));
    // Δ = 3, σ = 4: ε(α) = 9α/32, as a zCDP event of ρ = 9/32.
    same(poisson(0.03, dg(4, 3)), poisson(0.03, { type: 'zcdp', rho: 9 / 32 }));
    // A Gaussian composed with a discrete Gaussian goes the general way, on the summed curve.
    same(poisson(0.03, { type: 'composed', events: [gaussian(2), dg(2)] }), poisson(0.03, { type: 'zcdp', rho: 0.25 }));
    same(poisson(0.03, times(4, dg(2))), poisson(0.03, { type: 'zcdp', rho: 0.5 }));
    // Sampling once for four releases is not four samplings.
    const once = rdpCurve(poisson(0.03, times(4, dg(2))), orders);
    const each = rdpCurve(times(4, poisson(0.03, dg(2))), orders);
    expect(Array.from(once)).not.toEqual(Array.from(each));
    // Pure-Gaussian trees keep the exact formula (σ = 1/√(1/4 + 1/4), to rounding).
    const tree = rdpCurve(poisson(0.03, { type: 'composed', events: [gaussian(2), gaussian(2)] }), orders);
    const one = rdpCurve(poisson(0.03, gaussian(Math.SQRT2)), orders);
    tree.forEach((r, i) => expect(r / one[i]).toBeCloseTo(1, 12));
    expect(tree[2]).toBeLessThan(rdpCurve(poisson(0.03, { type: 'zcdp', rho: 0.25 }), orders)[2]); // α = 3: exact below Zhu–Wang
    // Equal events in one composition are computed once and counted each time.
    const a = poisson(0.01, dg(1.1));
    const b = poisson(0.02, { type: 'laplace', b: 3 });
    const composed = rdpCurve({ type: 'composed', events: [a, b, structuredClone(a)] }, orders);
    const ca = rdpCurve(a, orders);
    const cb = rdpCurve(b, orders);
    composed.forEach((r, i) => expect(r / (2 * ca[i] + cb[i])).toBeCloseTo(1, 14));
  });

  it('nested Poisson sampling is one sampling at the product of the rates', () => {
    const orders = [1.5, 2, 3, 10, 64];
    const nested = rdpCurve(poisson(0.5, poisson(0.02, gaussian(1.1))), orders);
    const flat = rdpCurve(poisson(0.01, gaussian(1.1)), orders);
    // Equal to rounding (q·q' is rounded up; the fractional-order series has its own last digits).
    nested.forEach((r, i) => expect(r / flat[i]).toBeCloseTo(1, 12));
    const nestedDg = rdpCurve(poisson(0.1, poisson(0.1, dg(2))), orders);
    const flatDg = rdpCurve(poisson(0.01, dg(2)), orders);
    nestedDg.forEach((r, i) => expect(r / flatDg[i]).toBeCloseTo(1, 12));
    expect(Array.from(rdpCurve(poisson(0.5, poisson(0, dg(2))), orders))).toEqual([0, 0, 0, 0, 0]);
  });

  it('pure-DP inner events: order ∞ is log(1 + q(e^ε − 1)), and the curve is below that pure-DP curve', () => {
    const orders = [1.5, 2, 3, 10, 100, 1024, Infinity];
    for (const [inner, epsilon] of [
      [{ type: 'laplace', b: 0.5 }, 2],
      [{ type: 'discrete-laplace', a: 0.3, sensitivity: 4 }, 1.2],
      [{ type: 'epsilon-delta', epsilon: 3 }, 3],
    ] as [PrivacyEvent, number][]) {
      for (const q of [1e-3, 0.05, 0.5]) {
        const amplified = Math.log1p(q * Math.expm1(epsilon));
        const c = rdpCurve(poisson(q, inner), orders);
        expect(c[orders.length - 1]).toBeCloseTo(amplified, 14);
        const pure = rdpCurve({ type: 'epsilon-delta', epsilon: amplified }, orders);
        c.forEach((r, i) => expect(r).toBeLessThanOrEqual(pure[i] * (1 + 1e-12)));
        // δ = 0 converts through order ∞.
        expect(rdpEpsilon(poisson(q, inner), 0, orders).epsilon).toBeCloseTo(amplified, 14);
      }
    }
    // Non-pure inner events are infinite at order ∞.
    expect(rdpCurve(poisson(0.1, dg(1)), [Infinity])[0]).toBe(Infinity);
  });

  it('fractional orders lie on the chord of their integer neighbours, below the next integer order', () => {
    const e = poisson(0.01, dg(1.1));
    const [r2, r3, r25, r15] = rdpCurve(e, [2, 3, 2.5, 1.5]);
    expect(r25).toBeCloseTo((0.5 * 1 * r2 + 0.5 * 2 * r3) / 1.5, 15);
    expect(r25).toBeLessThanOrEqual(r3);
    expect(r15).toBeCloseTo(r2, 15); // the chord from (1, 0) to (2, r2)
  });

  it('extreme parameters give numbers or Infinity, never NaN', () => {
    const orders = [1.01, 1.5, 2, 3, 10, 64, 256, 1024, 20000, Infinity];
    for (const q of [5e-324, 1e-300, 1e-12, 0.01, 0.5, 1 - 2 ** -53])
      for (const inner of [dg(1e-3), dg(0.05), dg(1), dg(1e6), dg(1e150, 1), { type: 'zcdp', rho: 1e300 } as PrivacyEvent, { type: 'zcdp', rho: 0 } as PrivacyEvent, { type: 'laplace', b: 1e-3 } as PrivacyEvent, { type: 'discrete-laplace', a: 1e-4, sensitivity: 1000 } as PrivacyEvent]) {
        const c = rdpCurve(poisson(q, inner), orders);
        c.forEach((r, i) => {
          expect(Number.isNaN(r), `q=${q} ${JSON.stringify(inner)} α=${orders[i]}`).toBe(false);
          expect(r).toBeGreaterThanOrEqual(0);
          if (orders[i] < Infinity) expect(r).toBeLessThan(Infinity);
        });
      }
    // 1e9 rounds at a tiny rate, δ = 1e-300: a finite ε.
    const { epsilon } = rdpEpsilon(times(1e9, poisson(1e-9, dg(2))), 1e-300);
    expect(epsilon > 0 && epsilon < Infinity).toBe(true);
    expect(Array.from(rdpCurve(poisson(0.3, { type: 'zcdp', rho: 0 }), [2, 5.5, Infinity]))).toEqual([0, 0, 0]);
  });

  it('random sampled events give finite, non-negative curves and conversions', () => {
    const leaf = fc.oneof(
      fc.record({ type: fc.constant('discrete-gaussian' as const), sigma: fc.double({ min: 1e-2, max: 1e4, noNaN: true }), sensitivity: fc.integer({ min: 1, max: 1e6 }) }),
      fc.record({ type: fc.constant('zcdp' as const), rho: fc.double({ min: 0, max: 1e3, noNaN: true }) }),
      fc.record({ type: fc.constant('laplace' as const), b: fc.double({ min: 1e-3, max: 1e3, noNaN: true }) }),
      fc.record({ type: fc.constant('epsilon-delta' as const), epsilon: fc.double({ min: 0, max: 50, noNaN: true }) }),
    );
    const inner = fc.oneof(leaf, fc.array(leaf, { minLength: 1, maxLength: 3 }).map((events) => ({ type: 'composed' as const, events })));
    const event = fc
      .tuple(inner, fc.double({ min: 1e-9, max: 1, noNaN: true }), fc.integer({ min: 1, max: 1e6 }))
      .map(([e, q, n]) => times(n, poisson(q, e as PrivacyEvent)));
    fc.assert(
      fc.property(event, fc.double({ min: 1e-12, max: 0.5, noNaN: true }), (e, delta) => {
        for (const r of rdpCurve(e)) expect(r >= 0).toBe(true);
        const { epsilon } = rdpEpsilon(e, delta);
        expect(epsilon >= 0 && epsilon < Infinity).toBe(true);
      }),
      { numRuns: 60, seed: 5 },
    );
  });

  it('refuses replace-one inner events, δ > 0 guarantees and order 1, naming the event', () => {
    const cases: PrivacyEvent[] = [
      poisson(0.1, { type: 'randomized-response', p: 0.5, k: 4 }),
      poisson(0.1, { type: 'composed', events: [dg(1), times(2, { type: 'randomized-response', p: 0.5, k: 4 })] }),
      poisson(0.1, { type: 'sampled-without-replacement', n: 10, m: 3, event: gaussian(1) }),
    ];
    for (const e of cases) {
      const err = thrown(() => rdpCurve(e));
      expect(err.code).toBe('E_UNSUPPORTED');
      expect(err.message).toMatch(/RDP accountant cannot account PoissonSampled.*replacing one record/);
    }
    const approx = thrown(() => rdpCurve(poisson(0.1, { type: 'epsilon-delta', epsilon: 1, delta: 1e-6 })));
    expect(approx.code).toBe('E_UNSUPPORTED');
    expect(approx.message).toMatch(/delta > 0/);
    const kl = thrown(() => rdpCurve(poisson(0.1, dg(1)), [1, 2]));
    expect(kl.code).toBe('E_UNSUPPORTED');
    expect(kl.field).toBe('orders');
  });

  it('rdpCurve and rdpEpsilon pass the type-confusion battery on a sampled discrete Gaussian', async () => {
    const event = () => times(10, poisson(0.01, dg(1.1, 3)));
    const failures = [
      ...(await confusionFailures('rdpCurve', rdpCurve, () => [event(), [2, 3, 4.5], undefined], {
        accept: { 1: ['plain array', 'undefined'], 2: ['undefined', 'object'] },
      })),
      ...(await confusionFailures('rdpEpsilon', rdpEpsilon, () => [event(), 1e-5, [2, 3, 4.5], undefined], {
        accept: { 1: ['-0', 'fraction'], 2: ['plain array', 'undefined'], 3: ['undefined', 'object'] },
      })),
    ];
    expect(failures).toEqual([]);
  });
});

group('the ledger with sampled discrete Gaussian rounds (DP-FedAvg) and sampled zCDP rounds (secure aggregation)', () => {
  const spendArgs = (dataset: string, event: PrivacyEvent, i: number) => ({ dataset, event, principal: 'fl', purpose: 'a test', query: `round ${i}` });
  const R = 2 ** 14;
  const round: PrivacyEvent = poisson(0.01, dg(1.1 * R, R));
  const delta = 1e-5;

  it('100 rounds at q = 0.01, z = 1.1: finite, far below unsampled, above the continuous sampled Gaussian', () => {
    using ledger = PrivacyLedger.open(':memory:');
    ledger.setBudget('fl', { epsilon: 10, delta }, { method: 'rdp', principal: 'officer' });
    for (let i = 0; i < 100; i++) ledger.spend(spendArgs('fl', round, i));
    const { spent, releases } = ledger.odometer('fl');
    expect(releases).toBe(100);
    const sgm = epsilonFor(times(100, poisson(0.01, gaussian(1.1))), delta, { method: 'rdp' });
    const unsampled = epsilonFor(times(100, dg(1.1 * R, R)), delta, { method: 'rdp' });
    expect(spent).toBeCloseTo(epsilonFor(times(100, round), delta, { method: 'rdp' }), 12);
    expect(spent).toBeGreaterThan(sgm);
    expect(spent).toBeLessThan(unsampled / 20);
    // Figures of this run (README): SGM 0.956, discrete Gaussian by Zhu–Wang 1.044, unsampled 83.1.
    expect(sgm).toBeCloseTo(0.956, 3);
    expect(spent).toBeCloseTo(1.044, 3);
    expect(unsampled).toBeCloseTo(83.1, 1);
  });

  it('secure aggregation\'s zCDP rounds under Poisson sampling: accounted by RDP, refused clearly by PLD and by a ρ budget', () => {
    const secagg = poisson(0.05, { type: 'zcdp', rho: 0.01 });
    using ledger = PrivacyLedger.open(':memory:');
    ledger.setBudget('rdp', { epsilon: 5, delta }, { method: 'rdp', principal: 'officer' });
    for (let i = 0; i < 10; i++) ledger.spend(spendArgs('rdp', secagg, i));
    const spent = ledger.odometer('rdp').spent;
    expect(spent).toBeGreaterThan(0);
    expect(spent).toBeLessThan(epsilonFor(times(10, { type: 'zcdp', rho: 0.01 }), delta, { method: 'rdp' }));
    ledger.setBudget('pld', { epsilon: 5, delta }, { method: 'pld', principal: 'officer' });
    const pld = thrown(() => ledger.spend(spendArgs('pld', secagg, 0)));
    expect(pld.code).toBe('E_UNSUPPORTED');
    expect(pld.message).toMatch(/PLD accountant cannot account/);
    ledger.setBudget('rho', { rho: 1 }, { principal: 'officer' });
    const rho = thrown(() => ledger.spend(spendArgs('rho', round, 0)));
    expect(rho.code).toBe('E_UNSUPPORTED');
    expect(rho.message).toMatch(/zCDP accountant cannot account/);
    expect(ledger.odometer('pld').releases).toBe(0);
    expect(ledger.odometer('rho').releases).toBe(0);
  });
});
