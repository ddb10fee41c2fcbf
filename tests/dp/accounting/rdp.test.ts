/**
 * RDP accountant: the known answers of tests/vectors/rdp.json (dp_accounting,
 * Opacus, the issue), then what must hold whatever the parameters: the
 * subsampled Gaussian against numerical integration, the discrete Laplace
 * against direct summation, sampling without replacement against a literal
 * port of dp_accounting's differencing, composition, the conversions'
 * consistency and bounds, extreme parameters, and the type-confusion battery.
 */
import { describe as group, expect, it } from 'vitest';
import fc from 'fast-check';
import { readFileSync } from 'node:fs';
import {
  DEFAULT_RDP_ORDERS,
  rdpCurve,
  rdpDelta,
  rdpEpsilon,
  rdpToDelta,
  rdpToEpsilon,
  type RdpOptions,
} from '../../../src/dp/accounting/rdp.ts';
import type { PrivacyEvent } from '../../../src/dp/accounting/events.ts';
import { gaussianDelta } from '../../../src/dp/calibration.ts';
import { ConfideError } from '../../../src/core/errors.ts';
import { confusionFailures, thrown } from '../../_battery.ts';

// ---------- helpers ----------

type OrderSpec = number | string | { range: [number, number]; add?: number; multiply?: number; divide?: number };

function parseOrders(spec: 'default' | OrderSpec[]): readonly number[] {
  if (spec === 'default') return DEFAULT_RDP_ORDERS;
  const out: number[] = [];
  for (const s of spec) {
    if (typeof s === 'number') out.push(s);
    else if (s === 'Infinity') out.push(Infinity);
    else if (typeof s === 'object') {
      const { range, add = 0, multiply = 1, divide = 1 } = s;
      for (let x = range[0]; x <= range[1]; x++) out.push(add + (x * multiply) / divide);
    } else throw new Error(`bad order spec ${String(s)}`);
  }
  return out;
}

const num = (v: number | string) => (v === 'Infinity' ? Infinity : (v as number));

function expectClose(got: number, want: number, tol: { rtol?: number; atol?: number }, label: string): void {
  if (got === want) return;
  const err = Math.abs(got - want);
  const ok = (tol.atol !== undefined && err <= tol.atol) || (tol.rtol !== undefined && err <= tol.rtol * Math.abs(want));
  if (!ok) throw new Error(`${label}: got ${got}, want ${want} (error ${err.toExponential(2)}, tolerance ${JSON.stringify(tol)})`);
}


const gaussian = (sigma: number): PrivacyEvent => ({ type: 'gaussian', sigma });
const poisson = (q: number, event: PrivacyEvent): PrivacyEvent => ({ type: 'poisson-sampled', q, event });
const times = (count: number, event: PrivacyEvent): PrivacyEvent => ({ type: 'self-composed', count, event });

/**
 * log A_α = log ∫ μ0(z) ((1 − q) + q e^{(2z−1)/(2σ²)})^α dz by the trapezoid
 * rule in log space: for a smooth integrand decaying like a Gaussian the rule
 * converges exponentially in 1/h, so h = σ/100 on a wide interval is exact
 * to rounding (the mpmath reference of dp_accounting's test_compute_log_a_equals_mp).
 */
function logAByQuadrature(q: number, sigma: number, alpha: number): number {
  const h = sigma / 100;
  const lo = -40 * sigma - 1;
  const hi = alpha + 40 * sigma + 1;
  const logNorm = -Math.log(sigma * Math.sqrt(2 * Math.PI));
  const values: number[] = [];
  let max = -Infinity;
  for (let z = lo; z <= hi; z += h) {
    const x = (2 * z - 1) / (2 * sigma * sigma);
    const mix = x > 0 ? x + Math.log(q + (1 - q) * Math.exp(-x)) : Math.log1p(q * Math.expm1(x));
    const v = logNorm - (z * z) / (2 * sigma * sigma) + alpha * mix;
    values.push(v);
    if (v > max) max = v;
  }
  let sum = 0;
  for (const v of values) sum += Math.exp(v - max);
  return max + Math.log(sum * h);
}

/** D_α between DL(0) and DL(Δ), P(x) ∝ e^{−t|x|}, by direct summation (order 1: the KL divergence). */
function discreteLaplaceBySum(t: number, sensitivity: number, alpha: number): number {
  const n = Math.ceil(50 / t) + sensitivity; // e^{−50} of the mass lies beyond
  const logC = Math.log(Math.tanh(t / 2));
  if (alpha === 1) {
    let kl = 0;
    for (let x = -n; x <= n + sensitivity; x++) kl += Math.exp(logC - t * Math.abs(x)) * t * (Math.abs(x - sensitivity) - Math.abs(x));
    return kl;
  }
  let max = -Infinity;
  const terms: number[] = [];
  for (let x = -n; x <= n + sensitivity; x++) {
    const v = logC - t * alpha * Math.abs(x) - t * (1 - alpha) * Math.abs(x - sensitivity);
    terms.push(v);
    if (v > max) max = v;
  }
  let sum = 0;
  for (const v of terms) sum += Math.exp(v - max);
  return (max + Math.log(sum)) / (alpha - 1);
}

/**
 * A line-by-line port of dp_accounting's `_get_forward_diffs` (differencing
 * in place in log space) and `_compute_rdp_sample_wor_gaussian_int`, as the
 * reference for the sampled-without-replacement curve.
 */
function worLogAReference(q: number, sigma: number, alpha: number): number {
  const logAdd = (a: number, b: number) => {
    const lo = Math.min(a, b);
    const hi = Math.max(a, b);
    return lo === -Infinity ? hi : Math.log1p(Math.exp(lo - hi)) + hi;
  };
  const logSubSign = (x: number, y: number): [boolean, number] =>
    x > y ? [true, x + Math.log1p(-Math.exp(y - x))] : x < y ? [false, y + Math.log1p(-Math.exp(x - y))] : [true, -Infinity];
  const logFact = (n: number) => {
    let s = 0;
    for (let i = 2; i <= n; i++) s += Math.log(i);
    return s;
  };
  const logComb = (n: number, k: number) => logFact(n) - logFact(k) - logFact(n - k);
  const cgf = (x: number) => (x * (x + 1)) / (2 * sigma * sigma);
  const func = (x: number) => x / (2 * sigma * sigma);
  const n = alpha;
  const vec = new Array<number>(n + 3).fill(0);
  const signs = new Array<boolean>(n + 3).fill(true);
  const deltas = new Array<number>(n + 2).fill(0);
  for (let i = 1; i < n + 3; i++) vec[i] = cgf(i - 1);
  for (let i = 0; i < n + 2; i++) {
    for (let j = 0; j < n + 2 - i; j++) {
      if (signs[j] === signs[j + 1]) {
        const [s, m] = logSubSign(vec[j + 1], vec[j]);
        signs[j] = signs[j + 1] ? s : !s;
        vec[j] = m;
      } else {
        vec[j] = logAdd(vec[j], vec[j + 1]);
        signs[j] = signs[j + 1];
      }
    }
    deltas[i] = vec[0];
  }
  let logA = 0;
  const logF2m1 = func(2) + Math.log1p(-Math.exp(-func(2)));
  for (let i = 2; i <= alpha; i++) {
    let s: number;
    if (i === 2) s = 2 * Math.log(q) + logComb(alpha, 2) + Math.min(Math.log(4) + logF2m1, func(2) + Math.log(2));
    else {
      const lo = deltas[2 * Math.floor(i / 2) - 1];
      const hi = deltas[2 * Math.ceil(i / 2) - 1];
      s = Math.min(Math.log(4) + 0.5 * (lo + hi), Math.log(2) + cgf(i - 1)) + i * Math.log(q) + logComb(alpha, i);
    }
    logA = logAdd(logA, s);
  }
  return logA;
}

// ---------- known answers ----------

const V = JSON.parse(readFileSync(new URL('../../vectors/rdp.json', import.meta.url), 'utf8'));

group('known answers (tests/vectors/rdp.json)', () => {
  it('every vector names its source', () => {
    expect(V.vectors.length).toBeGreaterThanOrEqual(20);
    for (const v of V.vectors) expect(typeof v.source).toBe('string');
  });
  // Calibration vectors (kind 'opacus-noise-multiplier') are read by calibrate.test.ts.
  for (const v of V.vectors.filter((x: { kind: string }) => x.kind !== 'opacus-noise-multiplier')) {
    it(v.name, () => {
      const orders = parseOrders(v.orders);
      const options = v.options as RdpOptions | undefined;
      const tol = { rtol: v.rtol, atol: v.atol };
      switch (v.kind) {
        case 'curve': {
          const got = rdpCurve(v.event, orders, options);
          v.expected.forEach((want: number | string, i: number) => expectClose(got[i], num(want), tol, `${v.name} at order ${orders[i]}`));
          break;
        }
        case 'epsilon':
          expectClose(rdpEpsilon(v.event, v.delta, orders, options).epsilon, v.expected, tol, v.name);
          break;
        case 'delta':
          expectClose(rdpDelta(v.event, v.epsilon, orders, options).delta, v.expected, tol, v.name);
          break;
        case 'toEpsilon': {
          const r = rdpToEpsilon(orders, orders.map(() => v.rdp), v.delta);
          expectClose(r.epsilon, v.expected, tol, v.name);
          expect(r.order).toBe(v.expectedOrder);
          break;
        }
        case 'toDelta': {
          const r = rdpToDelta(orders, orders.map(() => v.rdp), v.epsilon);
          expectClose(r.delta, v.expected, tol, v.name);
          expect(r.order).toBe(v.expectedOrder);
          break;
        }
        default:
          throw new Error(`unknown kind ${v.kind}`);
      }
    });
  }

  it('DEFAULT_RDP_ORDERS is dp_accounting\'s list', () => {
    const python = [...Array.from({ length: 99 }, (_, i) => 1 + (i + 1) / 10), ...Array.from({ length: 53 }, (_, i) => 11 + i), 128, 256, 512, 1024];
    expect(DEFAULT_RDP_ORDERS).toEqual(python);
    expect(DEFAULT_RDP_ORDERS.length).toBe(156);
    expect(Object.isFrozen(DEFAULT_RDP_ORDERS)).toBe(true);
  });

  it('DP-SGD by dp_accounting\'s defaults is a little above the Opacus setting, and 2,249 steps below 2,250', () => {
    const event = (count: number) => times(count, poisson(0.04, gaussian(1.5)));
    const absolute = rdpEpsilon(event(2250), 1e-5);
    const alternating = rdpEpsilon(event(2250), 1e-5, undefined, { fractionalSeries: 'alternating' });
    expect(absolute.epsilon).toBeGreaterThan(alternating.epsilon);
    expect(absolute.epsilon - alternating.epsilon).toBeLessThan(1e-3);
    expect(absolute.order).toBe(3.9);
    const fewer = rdpEpsilon(event(2249), 1e-5).epsilon;
    expect(fewer).toBeLessThan(absolute.epsilon);
    expect(fewer).toBeCloseTo(7.33, 2); // "RDP says epsilon 7.33" (issue 4)
  });
});

// ---------- the Poisson-subsampled Gaussian ----------

group('Poisson-subsampled Gaussian (Mironov, Talwar and Zhang 2019)', () => {
  // dp_accounting test_compute_log_a_equals_mp: (q, sigma, order), rtol 1e-4, atol 1e-8
  const params: [number, number, number][] = [
    [1e-7, 0.1, 1.01],
    [1e-6, 0.1, 256],
    [1e-5, 0.1, 256.1],
    [1e-6, 1, 27],
    [1e-4, 1, 1.5],
    [1e-3, 1, 2],
    [0.01, 10, 20],
    [0.1, 100, 20.5],
    [0.99, 0.1, 256],
    [0.999, 100, 256.1],
  ];
  for (const [q, sigma, alpha] of params) {
    it(`log A matches numerical integration at q=${q}, sigma=${sigma}, order ${alpha}`, () => {
      const want = logAByQuadrature(q, sigma, alpha);
      const event = poisson(q, gaussian(sigma));
      for (const series of ['absolute', 'alternating'] as const) {
        const got = rdpCurve(event, [alpha], { fractionalSeries: series })[0] * (alpha - 1);
        expect(Math.abs(got - want)).toBeLessThanOrEqual(1e-8 + 1e-4 * Math.abs(want));
      }
    });
  }

  it('the alternating series is A_α itself, the absolute one an upper bound', () => {
    for (const [q, sigma] of [[0.01, 2.5], [0.04, 1.5], [0.2, 0.8], [0.5, 3]]) {
      for (const alpha of [1.5, 2.5, 3.9, 7.3]) {
        const event = poisson(q, gaussian(sigma));
        const exact = logAByQuadrature(q, sigma, alpha);
        const alternating = rdpCurve(event, [alpha], { fractionalSeries: 'alternating' })[0] * (alpha - 1);
        const absolute = rdpCurve(event, [alpha])[0] * (alpha - 1);
        // the quadrature sums ~10^5 terms near 1, so it carries about 1e-12 absolute error
        expect(Math.abs(alternating - exact)).toBeLessThanOrEqual(1e-9 * exact + 1e-12);
        expect(alternating).toBeGreaterThanOrEqual(exact * (1 - 1e-9) - 1e-12);
        expect(absolute).toBeGreaterThanOrEqual(alternating);
      }
    }
  });

  it('integer orders are exact, and tiny values keep their digits', () => {
    // A_2 = 1 + q²(e^{1/σ²} − 1) exactly
    for (const [q, sigma] of [[0.01, 1], [1e-6, 100], [0.5, 0.3], [1e-9, 1e4]]) {
      const want = Math.log1p(q * q * Math.expm1(1 / (sigma * sigma)));
      expectClose(rdpCurve(poisson(q, gaussian(sigma)), [2])[0], want, { rtol: 1e-14 }, `q=${q} sigma=${sigma}`);
    }
  });

  it('fractional orders stay positive where TF Privacy once went negative', () => {
    // dp_accounting test_log_a_frac_positive
    const orders = Array.from({ length: 21 }, (_, i) => 58.5 + i * 0.05);
    for (const series of ['absolute', 'alternating'] as const) {
      const curve = rdpCurve(poisson(0.4, gaussian(12)), orders, { fractionalSeries: series });
      for (const r of curve) expect(r).toBeGreaterThan(0);
    }
  });

  it('orders whose series does not converge get the convex interpolation, not Infinity', () => {
    // dp_accounting test_log_a_frac_early_termination: it drops these orders (∞)
    const event = poisson(0.1, gaussian(1));
    const curve = rdpCurve(event, DEFAULT_RDP_ORDERS);
    for (let i = 0; i < curve.length; i++) {
      expect(Number.isFinite(curve[i])).toBe(true);
      const alpha = DEFAULT_RDP_ORDERS[i];
      if (alpha > 1 && alpha < 40 && !Number.isInteger(alpha)) {
        const exact = logAByQuadrature(0.1, 1, alpha) / (alpha - 1);
        expect(curve[i]).toBeGreaterThanOrEqual(exact * (1 - 1e-9));
      }
    }
  });

  it('is nondecreasing in the order, like every Rényi divergence', () => {
    for (const [q, sigma] of [[0.01, 2.5], [0.04, 1.5], [0.3, 5], [0.001, 0.7]]) {
      const curve = rdpCurve(poisson(q, gaussian(sigma)), DEFAULT_RDP_ORDERS, { fractionalSeries: 'alternating' });
      for (let i = 1; i < curve.length; i++) expect(curve[i]).toBeGreaterThanOrEqual(curve[i - 1] * (1 - 1e-9));
    }
  });

  it('q = 1 is the Gaussian, q = 0 is free, and nested Gaussians compose into one noise multiplier', () => {
    const orders = [1.5, 2, 7.5, 64];
    expect(rdpCurve(poisson(1, gaussian(2)), orders)).toEqual(rdpCurve(gaussian(2), orders));
    expect(Array.from(rdpCurve(poisson(0, { type: 'laplace', b: 1 }), orders))).toEqual([0, 0, 0, 0]);
    // dp_accounting test_effective_gaussian_noise_multiplier_composed
    const sigmas = [0.7, 1.3, 2.1, 0.9];
    const nested: PrivacyEvent = {
      type: 'composed',
      events: [gaussian(sigmas[0]), times(3, gaussian(sigmas[1])), { type: 'composed', events: [gaussian(sigmas[2]), gaussian(sigmas[3])] }],
    };
    const effective = 1 / Math.sqrt([sigmas[0], sigmas[1], sigmas[1], sigmas[1], sigmas[2], sigmas[3]].reduce((s, x) => s + x ** -2, 0));
    const a = rdpCurve(poisson(0.05, nested), orders);
    const b = rdpCurve(poisson(0.05, gaussian(effective)), orders);
    for (let i = 0; i < orders.length; i++) expectClose(a[i], b[i], { rtol: 1e-12 }, `order ${orders[i]}`);
    // sensitivity enters through Δ/σ
    const c = rdpCurve(poisson(0.05, { type: 'gaussian', sigma: 3, sensitivity: 2 }), orders);
    const d = rdpCurve(poisson(0.05, gaussian(1.5)), orders);
    for (let i = 0; i < orders.length; i++) expectClose(c[i], d[i], { rtol: 1e-14 }, `order ${orders[i]}`);
  });
});

// ---------- sampling without replacement ----------

group('Gaussian sampled without replacement (Wang, Balle and Kasiviswanathan 2019)', () => {
  it('agrees with a literal port of dp_accounting where its differencing is well conditioned', () => {
    for (const [n, m, sigma] of [[1000, 10, 1], [100, 10, 2], [60000, 256, 1.1], [100, 50, 0.7], [1000, 10, 5]]) {
      const orders = [2, 3, 4, 5, 8, 16, 32, 64, 128, 256];
      const got = rdpCurve({ type: 'sampled-without-replacement', n, m, event: gaussian(sigma) }, orders);
      orders.forEach((alpha, i) => {
        const want = worLogAReference(m / n, sigma, alpha) / (alpha - 1);
        expect(got[i]).toBeGreaterThanOrEqual(want * (1 - 1e-14));
        expectClose(got[i], want, { rtol: 1e-9 }, `n=${n} m=${m} sigma=${sigma} order ${alpha}`);
      });
    }
  });

  it('interpolates fractional orders, uses the cruder bound above 256, and m = n is the Gaussian', () => {
    const event: PrivacyEvent = { type: 'sampled-without-replacement', n: 1000, m: 20, event: gaussian(1.2) };
    const [a3, a35, a4] = rdpCurve(event, [3, 3.5, 4]);
    expectClose(a35, (0.5 * a3 * 2 + 0.5 * a4 * 3) / 2.5, { rtol: 1e-14 }, 'order 3.5');
    const big = rdpCurve(event, [256, 300, 1024]);
    expect(big[1]).toBeGreaterThan(big[0]);
    expect(Number.isFinite(big[2])).toBe(true);
    expect(rdpCurve({ type: 'sampled-without-replacement', n: 7, m: 7, event: gaussian(2) }, [2, 5])).toEqual(rdpCurve(gaussian(2), [2, 5]));
  });

  it('subsampling only helps: below the Gaussian of the same noise at every order', () => {
    const orders = [1.5, 2, 3, 10, 64, 256, 512];
    const wor = rdpCurve({ type: 'sampled-without-replacement', n: 500, m: 25, event: gaussian(1) }, orders);
    const full = rdpCurve(gaussian(1), orders);
    for (let i = 0; i < orders.length; i++) expect(wor[i]).toBeLessThanOrEqual(full[i]);
  });
});

// ---------- single mechanisms ----------

group('Laplace, discrete Laplace, randomized response, pure and zCDP events', () => {
  it('Laplace matches dp_accounting\'s formula and its consistency checks', () => {
    const formula = (eps: number, a: number) =>
      a === 1 ? eps + Math.expm1(-eps) : eps + Math.log1p(((a - 1) * Math.expm1(eps * (1 - 2 * a))) / (2 * a - 1)) / (a - 1);
    const orders = [1, 1.5, 2, 5, 50, 1024];
    for (const eps of [0.01, 0.5, 1, 10, 100]) {
      const curve = rdpCurve({ type: 'laplace', b: 1 / eps }, orders);
      orders.forEach((a, i) => expectClose(curve[i], formula(eps, a), { rtol: 1e-13 }, `eps ${eps} order ${a}`));
    }
    // test_laplace: KL <= min(eps, eps²/2); orders 1 and 1 + 1e-6, 1.1 ± 1e-6 agree to 3 places
    for (const eps of [0.01, 1, 100]) {
      const r = rdpCurve({ type: 'laplace', b: 1 / eps }, [1, 1 + 1e-6, 1.1 - 1e-6, 1.1 + 1e-6]);
      expect(r[0]).toBeLessThanOrEqual(Math.min(eps, (eps * eps) / 2));
      expect(Math.abs(r[0] - r[1])).toBeLessThan(5e-4);
      expect(Math.abs(r[2] - r[3])).toBeLessThan(5e-4);
    }
    // tiny epsilon: α ε²/2 to leading order, no cancellation
    expectClose(rdpCurve({ type: 'laplace', b: 1e12 }, [2])[0], 1e-24, { rtol: 1e-11 }, 'eps 1e-12');
  });

  it('discrete Laplace equals direct summation, including past the term limit', () => {
    const orders = [1, 1.5, 2, 3.7, 10, 64];
    for (const [t, sensitivity] of [[0.5, 1], [0.5, 2], [0.3, 3], [1, 7], [0.05, 10], [2, 4], [0.01, 3]]) {
      const curve = rdpCurve({ type: 'discrete-laplace', a: t, sensitivity }, orders);
      orders.forEach((a, i) => expectClose(curve[i], discreteLaplaceBySum(t, sensitivity, a), { rtol: 1e-10 }, `t=${t} Δ=${sensitivity} order ${a}`));
    }
    // 25,000 paired terms that decay slowly: the closed form and its margin
    const curve = rdpCurve({ type: 'discrete-laplace', a: 1e-4, sensitivity: 50001 }, [1.5, 2, 10]);
    [1.5, 2, 10].forEach((a, i) => {
      const want = discreteLaplaceBySum(1e-4, 50001, a);
      expect(curve[i]).toBeGreaterThanOrEqual(want * (1 - 1e-12));
      expectClose(curve[i], want, { rtol: 1e-9 }, `closed form, order ${a}`);
    });
  });

  it('discrete Laplace with Δ = 1 is the pure-DP curve of epsilon = a, and order ∞ is aΔ', () => {
    const orders = [1, 1.3, 2, 20, Infinity];
    expect(rdpCurve({ type: 'discrete-laplace', a: 0.7, sensitivity: 1 }, orders)).toEqual(rdpCurve({ type: 'epsilon-delta', epsilon: 0.7 }, orders));
    expect(rdpCurve({ type: 'discrete-laplace', a: 0.25, sensitivity: 12 }, [Infinity])[0]).toBe(3);
  });

  it('pure epsilon-DP: tight (binary randomized response) and below min(ε, αε²/2)', () => {
    for (const eps of [1e-6, 0.1, 1, 5, 300]) {
      const orders = [1, 1.01, 1.5, 2, 10, 1000, Infinity];
      const curve = rdpCurve({ type: 'epsilon-delta', epsilon: eps }, orders);
      const p = 2 / (Math.exp(eps) + 1); // binary RR with this p is eps-DP
      const rr = rdpCurve({ type: 'randomized-response', p, k: 2 }, orders);
      orders.forEach((a, i) => {
        expect(curve[i]).toBeLessThanOrEqual(Math.min(eps, (a * eps * eps) / 2) * (1 + 1e-12));
        if (eps < 30) expectClose(curve[i], rr[i], { rtol: 1e-9 }, `eps ${eps} order ${a}`);
      });
      expect(curve[orders.length - 1]).toBe(eps);
    }
  });

  it('randomized response: p = 1 is free, order 1 is (1 − p)·ε, order ∞ is ε', () => {
    expect(Array.from(rdpCurve({ type: 'randomized-response', p: 1, k: 5 }, [1, 2, Infinity]))).toEqual([0, 0, 0]);
    const eps = Math.log(10 / 0.2 - 10 + 1);
    const [kl, inf] = rdpCurve({ type: 'randomized-response', p: 0.2, k: 10 }, [1, Infinity]);
    expectClose(kl, 0.8 * eps, { rtol: 1e-15 }, 'KL');
    expectClose(inf, eps, { rtol: 1e-15 }, 'order ∞');
  });

  it('zCDP events are ρα; Gaussians are αΔ²/(2σ²) and infinite at order ∞', () => {
    expect(Array.from(rdpCurve({ type: 'zcdp', rho: 0.5 }, [1, 2, 10]))).toEqual([0.5, 1, 5]);
    expect(Array.from(rdpCurve({ type: 'zcdp', rho: 0 }, [2, Infinity]))).toEqual([0, 0]);
    expect(Array.from(rdpCurve({ type: 'discrete-gaussian', sigma: 2, sensitivity: 3 }, [2, Infinity]))).toEqual([2.25, Infinity]);
  });
});

// ---------- composition and conversion ----------

group('composition and conversion', () => {
  it('self-composition multiplies and composition adds (dp_accounting test_rdp_composition)', () => {
    const base = gaussian(3.14159);
    const orders = [2.71828];
    const one = rdpCurve(base, orders)[0];
    expectClose(rdpCurve(times(6, base), orders)[0], 6 * one, { rtol: 1e-15 }, 'count');
    expectClose(rdpCurve(times(3, times(2, base)), orders)[0], 6 * one, { rtol: 1e-15 }, 'nested');
    expectClose(rdpCurve({ type: 'composed', events: Array(6).fill(base) }, orders)[0], 6 * one, { rtol: 1e-14 }, 'composed');
    expectClose(
      rdpCurve({ type: 'composed', events: [times(1, base), times(2, base), times(3, base)] }, orders)[0],
      6 * one,
      { rtol: 1e-14 },
      'mixed',
    );
    const other = gaussian(1.61803);
    expectClose(rdpCurve({ type: 'composed', events: [base, other] }, orders)[0], one + rdpCurve(other, orders)[0], { rtol: 1e-15 }, 'two');
    expect(Array.from(rdpCurve({ type: 'composed', events: [] }, orders))).toEqual([0]);
    expect(Array.from(rdpCurve(times(0, gaussian(1e-300)), [2, Infinity]))).toEqual([0, 0]);
  });

  it('epsilon and delta invert each other (dp_accounting test_epsilon_delta_consistency)', () => {
    const orders = Array.from({ length: 48 }, (_, i) => i + 2);
    for (const q of [0, 0.01, 0.1, 0.8, 1]) {
      for (const sigma of [0.1, 1, 10, 100]) {
        const event = poisson(q, gaussian(sigma));
        for (const delta of [0.99, 0.9, 0.1, 0.01, 1e-3, 1e-5, 1e-9, 1e-12]) {
          const { epsilon } = rdpEpsilon(event, delta, orders);
          const back = rdpDelta(event, epsilon, orders).delta;
          if (epsilon === 0) expect(back).toBeLessThanOrEqual(delta);
          else expect(Math.abs(back - delta)).toBeLessThanOrEqual(1e-9 * delta);
        }
      }
    }
  });

  it('the Gaussian delta is between the exact one and exp(−(ε − ½)²/2) (dp_accounting test_delta_bounds_gaussian)', () => {
    const orders = Array.from({ length: 495 }, (_, i) => 0.1 * (i + 10));
    const curve = rdpCurve(gaussian(1), orders);
    for (let x = 0; x < 500; x++) {
      const eps = 0.1 * x;
      const { delta } = rdpToDelta(orders, curve, eps);
      expect(gaussianDelta(1, eps, 1)).toBeLessThanOrEqual(delta + 1e-300);
      if (eps >= 0.5) expect(delta).toBeLessThanOrEqual(Math.exp(-0.5 * (eps - 0.5) ** 2) + 1e-300);
    }
  });

  it('order ∞ converts pure events at delta = 0; otherwise delta = 0 is an E_UNSUPPORTED', () => {
    const laplace: PrivacyEvent = times(3, { type: 'laplace', b: 2, sensitivity: 1 });
    expect(rdpEpsilon(laplace, 0, [2, 10, Infinity])).toEqual({ epsilon: 1.5, order: Infinity });
    expect(rdpDelta(laplace, 1.5, [2, 10, Infinity])).toEqual({ delta: 0, order: Infinity });
    expect(thrown(() => rdpEpsilon(gaussian(1), 0)).code).toBe('E_UNSUPPORTED');
    expect(rdpEpsilon(gaussian(1), 1)).toEqual({ epsilon: 0, order: 1.1 });
    expect(rdpEpsilon(poisson(0, gaussian(1)), 0).epsilon).toBe(0);
  });

  it('the KL bound gives epsilon 0 where delta exceeds sqrt(1 − e^{−r}), whatever the order', () => {
    const r = 1e-4; // sqrt(1 − e^{−r}) ≈ 0.0099995
    expect(rdpToEpsilon([1, 1.005, 2], [r, r, r], 0.011)).toEqual({ epsilon: 0, order: 1 });
    expect(thrown(() => rdpToEpsilon([1, 1.005], [r, r], 0.0099)).code).toBe('E_OVERFLOW');
    expect(rdpToDelta([1.005], [r], 0).delta).toBeCloseTo(Math.sqrt(-Math.expm1(-r)), 15);
  });
});

// ---------- extremes ----------

group('extreme parameters: a correct number or a ConfideError, never NaN', () => {
  it('a billion steps, delta 1e-300, epsilon 1e3', () => {
    const event = times(1e9, poisson(1e-4, gaussian(2)));
    const { epsilon } = rdpEpsilon(event, 1e-5);
    expect(epsilon).toBeGreaterThan(0);
    expect(Number.isFinite(epsilon)).toBe(true);
    const tiny = rdpEpsilon(gaussian(1), 1e-300).epsilon;
    expect(tiny).toBeGreaterThan(rdpEpsilon(gaussian(1), 1e-5).epsilon);
    expect(gaussianDelta(1, tiny, 1)).toBeLessThanOrEqual(1e-300);
    expect(rdpDelta(gaussian(1), 1e3)).toEqual({ delta: 0, order: 1024 });
    expect(rdpDelta(times(1e9, gaussian(10)), 1e3).delta).toBeGreaterThan(0.99);
    // ε = 1e300 per release: 1000 of them still fit a double, 2^53 − 1 of them do not
    expectClose(rdpEpsilon(times(1000, { type: 'laplace', b: 1e-300 }), 1e-5, [2, Infinity]).epsilon, 1e303, { rtol: 1e-12 }, 'huge epsilon');
    expect(thrown(() => rdpEpsilon(times(2 ** 53 - 1, { type: 'laplace', b: 1e-300 }), 1e-5, [2, Infinity])).code).toBe('E_OVERFLOW');
  });

  it('noise too small for a double is an E_OVERFLOW; noise too large to matter gives 0', () => {
    expect(thrown(() => rdpEpsilon(gaussian(1e-200), 1e-5)).code).toBe('E_OVERFLOW');
    expect(thrown(() => rdpEpsilon(poisson(0.5, gaussian(1e-200)), 1e-5)).code).toBe('E_OVERFLOW');
    expect(rdpEpsilon(gaussian(1e200), 1e-5).epsilon).toBe(0);
    const big = rdpEpsilon(poisson(0.5, gaussian(1e150)), 1e-5).epsilon;
    expect(big).toBeGreaterThanOrEqual(0);
    expect(big).toBeLessThan(1e-3);
    const wor = rdpEpsilon({ type: 'sampled-without-replacement', n: 10, m: 3, event: gaussian(1e150) }, 1e-5).epsilon;
    expect(wor).toBeLessThan(1e-3);
  });

  it('random events give finite, non-negative curves and conversions', () => {
    const leaf = fc.oneof(
      fc.record({ type: fc.constant('gaussian' as const), sigma: fc.double({ min: 1e-3, max: 1e3, noNaN: true }) }),
      fc.record({ type: fc.constant('laplace' as const), b: fc.double({ min: 1e-3, max: 1e3, noNaN: true }) }),
      fc.record({ type: fc.constant('discrete-laplace' as const), a: fc.double({ min: 1e-4, max: 10, noNaN: true }), sensitivity: fc.integer({ min: 1, max: 1000 }) }),
      fc.record({ type: fc.constant('randomized-response' as const), p: fc.double({ min: 1e-6, max: 1, noNaN: true }), k: fc.integer({ min: 2, max: 100 }) }),
      fc
        .record({ q: fc.double({ min: 1e-6, max: 1, noNaN: true }), sigma: fc.double({ min: 0.3, max: 100, noNaN: true }) })
        .map(({ q, sigma }) => poisson(q, gaussian(sigma))),
    );
    const event = fc.tuple(leaf, fc.integer({ min: 1, max: 1e6 })).map(([e, n]) => times(n, e as PrivacyEvent));
    fc.assert(
      fc.property(event, fc.double({ min: 1e-12, max: 0.5, noNaN: true }), (e, delta) => {
        const curve = rdpCurve(e);
        for (const r of curve) expect(r >= 0).toBe(true);
        try {
          const { epsilon } = rdpEpsilon(e, delta);
          expect(epsilon >= 0 && epsilon < Infinity).toBe(true);
          const back = rdpDelta(e, epsilon).delta;
          expect(back >= 0 && back <= 1).toBe(true);
        } catch (err) {
          expect(err).toBeInstanceOf(ConfideError);
        }
      }),
      { numRuns: 60, seed: 4 },
    );
  });
});

// ---------- refusals and the battery ----------

group('refusals and argument checks', () => {
  it('events without an RDP bound are E_UNSUPPORTED naming the event', () => {
    // Poisson sampling of other add-or-remove events is accounted (tests/dp/accounting/rdp_subsampled.test.ts).
    const cases: PrivacyEvent[] = [
      { type: 'epsilon-delta', epsilon: 1, delta: 1e-6 },
      { type: 'sampled-without-replacement', n: 10, m: 2, event: { type: 'discrete-gaussian', sigma: 2, sensitivity: 1 } },
      poisson(0.5, { type: 'randomized-response', p: 0.5, k: 2 }),
      poisson(0.5, { type: 'epsilon-delta', epsilon: 1, delta: 1e-6 }),
    ];
    for (const e of cases) {
      const err = thrown(() => rdpCurve(e));
      expect(err.code).toBe('E_UNSUPPORTED');
      expect(err.message).toMatch(/RDP accountant cannot account/);
    }
    expect(thrown(() => rdpCurve(poisson(0.1, gaussian(1)), [1, 2])).code).toBe('E_UNSUPPORTED');
    expect(thrown(() => rdpCurve({ type: 'gaussian', sigma: 1, extra: 1 } as unknown as PrivacyEvent)).code).toBe('E_BAD_INPUT');
    expect(thrown(() => rdpCurve(gaussian(1), [2, 0.5])).field).toBe('orders[1]');
    expect(thrown(() => rdpCurve(gaussian(1), [2], { fractionalSeries: 'exact' as never })).code).toBe('E_BAD_INPUT');
  });

  it('every public function passes the type-confusion battery', async () => {
    const event = () => times(10, poisson(0.01, gaussian(1.1)));
    const orders = () => [2, 3, 4, 5];
    const failures = [
      ...(await confusionFailures('rdpCurve', rdpCurve, () => [event(), orders(), undefined], {
        accept: { 1: ['plain array', 'undefined'], 2: ['undefined', 'object'] },
      })),
      ...(await confusionFailures('rdpEpsilon', rdpEpsilon, () => [event(), 1e-5, orders(), undefined], {
        accept: { 1: ['-0', 'fraction'], 2: ['plain array', 'undefined'], 3: ['undefined', 'object'] },
      })),
      ...(await confusionFailures('rdpDelta', rdpDelta, () => [event(), 1, orders(), undefined], {
        accept: { 1: ['-0', 'fraction', 'huge'], 2: ['plain array', 'undefined'], 3: ['undefined', 'object'] },
      })),
      ...(await confusionFailures('rdpToEpsilon', rdpToEpsilon, () => [orders(), [0.1, 0.2, 0.3, 0.4], 1e-5], {
        accept: { 2: ['-0', 'fraction'] },
      })),
      ...(await confusionFailures('rdpToDelta', rdpToDelta, () => [orders(), [0.1, 0.2, 0.3, 0.4], 1], {
        accept: { 2: ['-0', 'fraction', 'huge'] },
      })),
    ];
    expect(failures).toEqual([]);
  });
});
