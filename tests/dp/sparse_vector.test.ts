/**
 * Sparse vector technique: the grid construction, exact answers at a huge ε,
 * the positive rate at and near the threshold against the Laplace-difference
 * law (z = 4.75), halting, no false positives far below the threshold, and the
 * release noise of NumericSparse against the exact discrete Laplace moments.
 */
import { describe, expect, it } from 'vitest';
import { ConfideError, isConfideError } from '../../src/core/errors.ts';
import { seededRng } from '../../src/core/random.ts';
import { AboveThreshold, NumericSparse } from '../../src/dp/sparse_vector.ts';
import { confusionFailures, type BatteryOptions } from '../_battery.ts';
import { zQuantile } from '../_stats.ts';

const Z = zQuantile('1e-6');

function expectBinomial(successes: number, n: number, p: number): void {
  expect(Math.abs(successes / n - p)).toBeLessThanOrEqual(Z * Math.sqrt((p * (1 - p)) / n));
}

function isPowerOfTwo(g: number): boolean {
  const k = Math.log2(g);
  return Number.isInteger(k) && 2 ** k === g;
}

/**
 * P(ν − ρ >= −d) for independent continuous Laplace ν (scale b) and ρ (scale
 * a), a ≠ b, d >= 0: the tail of the difference is (a²e^{−t/a} − b²e^{−t/b})/(2(a² − b²)).
 * The discrete noise on a grid 2^20 times finer than b matches it to ~1e-6.
 */
function positiveProbability(d: number, a: number, b: number): number {
  return 1 - (a * a * Math.exp(-d / a) - b * b * Math.exp(-d / b)) / (2 * (a * a - b * b));
}

describe('AboveThreshold', () => {
  it('answers exact comparisons at a huge epsilon', () => {
    const rng = seededRng(51);
    // Noise scales about 4e-4 and 2e-4: an error 0.01 away has probability < e^-20.
    for (let t = 0; t < 200; t++) {
      for (const v of [-5, 0, 9.9, 9.99, 10.01, 10.5, 1e4]) {
        const at = new AboveThreshold({ threshold: 10, epsilon: 1e4, sensitivity: 1, rng });
        expect(at.test(v)).toBe(v >= 10);
      }
    }
    const at = new AboveThreshold({ threshold: 10, epsilon: 1e4, sensitivity: 1, maxPositives: 3, rng });
    expect([1, 9.9, 10.1, 3, 11, 12].map((v) => at.test(v))).toEqual([false, false, true, false, true, true]);
    expect(at.halted).toBe(true);
  });

  it('answers a query exactly at the threshold positively half of the time', () => {
    const rng = seededRng(52);
    const n = 40_000;
    let pos = 0;
    for (let i = 0; i < n; i++) {
      const threshold = i % 2 === 0 ? 0 : 3.7;
      if (new AboveThreshold({ threshold, epsilon: 1, sensitivity: 1, rng }).test(threshold)) pos++;
    }
    expectBinomial(pos, n, 0.5);
  });

  it('answers one noise scale above the threshold with the Laplace-difference probability', () => {
    const rng = seededRng(53);
    const n = 40_000;
    let pos = 0, p = 0;
    for (let i = 0; i < n; i++) {
      const at = new AboveThreshold({ threshold: 100, epsilon: 0.5, sensitivity: 2, rng });
      const d = 16; // one nominal query scale, 2cΔ/ε2 = 2·1·2/0.25
      p = positiveProbability(d, at.thresholdScale, at.queryScale);
      if (at.test(100 + d)) pos++;
    }
    expect(p).toBeGreaterThan(0.6);
    expectBinomial(pos, n, p);
  });

  it('draws the noisy threshold once: answers at the threshold are correlated through it', () => {
    // Two queries at the threshold on one instance are both positive with
    // probability E[S(ρ)²], S(r) = P(ν >= r), which exceeds 1/4; a fresh ρ per
    // query would give exactly 1/4. Monotonic halves ν's scale, for more power.
    const rng = seededRng(56);
    const n = 40_000;
    let both = 0, a = 0, b = 0;
    for (let i = 0; i < n; i++) {
      const at = new AboveThreshold({ threshold: 5, epsilon: 1, sensitivity: 1, maxPositives: 2, monotonic: true, rng });
      a = at.thresholdScale;
      b = at.queryScale;
      if (at.test(5) && at.test(5)) both++;
    }
    const S = (r: number) => (r >= 0 ? 0.5 * Math.exp(-r / b) : 1 - 0.5 * Math.exp(r / b));
    // E[S(ρ)²] for ρ ~ Laplace(a), by the midpoint rule over ±60a.
    let p2 = 0;
    const h = a / 2000;
    for (let r = -60 * a + h / 2; r < 60 * a; r += h) p2 += (S(r) ** 2 * Math.exp(-Math.abs(r) / a) * h) / (2 * a);
    const tolerance = Z * Math.sqrt((p2 * (1 - p2)) / n);
    expect(p2 - 0.25).toBeGreaterThan(2 * tolerance);
    expectBinomial(both, n, p2);
  });

  it('halts after maxPositives positive answers', () => {
    const at = new AboveThreshold({ threshold: 0, epsilon: 1, sensitivity: 1, maxPositives: 3, rng: seededRng(54) });
    for (let i = 0; i < 3; i++) expect(at.test(1e6)).toBe(true);
    expect(at.positives).toBe(3);
    expect(at.queries).toBe(3);
    expect(at.halted).toBe(true);
    let caught: unknown;
    try {
      at.test(1e6);
    } catch (e) {
      caught = e;
    }
    expect(isConfideError(caught, 'E_STATE')).toBe(true);
    expect(at.queries).toBe(3);
  });

  it('never fires on queries far below the threshold', () => {
    const rng = seededRng(55);
    const at = new AboveThreshold({ threshold: 0, epsilon: 1, sensitivity: 1, rng });
    // P(any positive) <= P(ρ <= −100) + 10^4·P(ν >= 400 − 100 − 100·u) with u in [0, 1): below 1e-12.
    const a = at.thresholdScale, b = at.queryScale;
    expect(Math.exp(-100 / a) + 1e4 * Math.exp(-300 / b)).toBeLessThan(1e-12);
    for (let i = 0; i < 10_000; i++) expect(at.test(-400 - 100 * (i / 10_000))).toBe(false);
    expect(at.queries).toBe(10_000);
    expect(at.positives).toBe(0);
    expect(at.halted).toBe(false);
  });

  it('uses the Lyu et al. scales, rounded up, on a power-of-two grid', () => {
    for (const [epsilon, sensitivity, c] of [[1, 1, 1], [0.1, 3, 5], [8, 0.25, 2], [1e-3, 1, 100]]) {
      const at = new AboveThreshold({ threshold: 0, epsilon, sensitivity, maxPositives: c, rng: seededRng(1) });
      const mono = new AboveThreshold({ threshold: 0, epsilon, sensitivity, maxPositives: c, monotonic: true, rng: seededRng(1) });
      expect(isPowerOfTwo(at.granularity)).toBe(true);
      expect(at.granularity).toBeLessThanOrEqual(sensitivity / 1024);
      expect(at.granularity).toBeLessThanOrEqual(at.queryScale / 2 ** 20);
      expect(at.maxMagnitude).toBe(2 ** 52 * at.granularity);
      const rho = sensitivity / (epsilon / 2), nu = (2 * c * sensitivity) / (epsilon / 2);
      // Never less noise than the continuous scales; at most 0.2% more.
      expect(at.thresholdScale).toBeGreaterThanOrEqual(rho);
      expect(at.thresholdScale / rho - 1).toBeLessThan(2e-3);
      expect(at.queryScale).toBeGreaterThanOrEqual(nu);
      expect(at.queryScale / nu - 1).toBeLessThan(2e-3);
      expect(mono.queryScale).toBeGreaterThanOrEqual(nu / 2);
      expect(mono.queryScale / (nu / 2) - 1).toBeLessThan(2e-3);
    }
  });

  it('reports its guarantee and event', () => {
    const at = new AboveThreshold({ threshold: 0, epsilon: 0.7, sensitivity: 1 });
    expect(at.guarantee).toEqual({ kind: 'pure', epsilon: 0.7 });
    expect(at.event).toEqual({ type: 'epsilon-delta', epsilon: 0.7, name: 'above-threshold' });
    expect(at.maxPositives).toBe(1);
  });
});

describe('NumericSparse', () => {
  it('releases multiples of the granularity, near the value at a huge epsilon', () => {
    const rng = seededRng(61);
    const ns = new NumericSparse({ threshold: 10, epsilon: 1e4, sensitivity: 1, maxPositives: 5, rng });
    expect(isPowerOfTwo(ns.granularity)).toBe(true);
    expect(ns.test(9.9)).toBeNull();
    for (const v of [10.1, 12.345, 100, 1e5]) {
      const out = ns.test(v)!;
      expect(Number.isInteger(out / ns.granularity)).toBe(true);
      expect(Math.abs(out - v)).toBeLessThan(0.05);
    }
    expect(ns.positives).toBe(4);
    expect(ns.queries).toBe(5);
  });

  it('adds release noise with the exact discrete Laplace mean and variance', () => {
    const n = 20_000;
    const ns = new NumericSparse({ threshold: 0, epsilon: 1, sensitivity: 1, maxPositives: n, rng: seededRng(62) });
    const g = ns.granularity;
    const value = 100 * ns.queryScale + 0.3; // always above; not on the grid
    const snapped = Math.round(value / g) * g;
    let sum = 0, sumSq = 0;
    for (let i = 0; i < n; i++) {
      const out = ns.test(value)!;
      expect(Number.isInteger(out / g)).toBe(true);
      const eta = (out - snapped) / g;
      sum += eta;
      sumSq += eta * eta;
    }
    expect(ns.halted).toBe(true);
    const tau = ns.releaseScale / g;
    const variance = (2 * Math.exp(-1 / tau)) / (1 - Math.exp(-1 / tau)) ** 2;
    const mean = sum / n;
    expect(Math.abs(mean)).toBeLessThanOrEqual(Z * Math.sqrt(variance / n));
    // Laplace fourth moment is 6σ⁴, so the sample variance has sd σ²·sqrt(5/n).
    const sampleVar = sumSq / n - mean * mean;
    expect(Math.abs(sampleVar - variance)).toBeLessThanOrEqual(Z * variance * Math.sqrt(5 / n));
  });

  it('splits the budget 1:2:1 by default, or as asked', () => {
    const ns = new NumericSparse({ threshold: 0, epsilon: 1, sensitivity: 1, maxPositives: 2, rng: seededRng(1) });
    const close = (x: number, want: number) => {
      expect(x).toBeGreaterThanOrEqual(want);
      expect(x / want - 1).toBeLessThan(2e-3);
    };
    close(ns.thresholdScale, 1 / 0.25);
    close(ns.queryScale, (2 * 2) / 0.5);
    close(ns.releaseScale, 2 / 0.25);
    const custom = new NumericSparse({ threshold: 0, epsilon: 1, sensitivity: 1, split: [1, 1, 2], rng: seededRng(1) });
    close(custom.thresholdScale, 1 / 0.25);
    close(custom.queryScale, 2 / 0.25);
    close(custom.releaseScale, 1 / 0.5);
    expect(ns.event).toEqual({ type: 'epsilon-delta', epsilon: 1, name: 'numeric-sparse' });
    expect(ns.guarantee).toEqual({ kind: 'pure', epsilon: 1 });
  });

  it('has a release margin that holds at its level', () => {
    const ns = new NumericSparse({ threshold: 0, epsilon: 1, sensitivity: 1, maxPositives: 10_000, rng: seededRng(63) });
    const level = 0.9, m = ns.margin(level);
    // Continuous Laplace: P(|η| > m) = e^{−m/b}; the margin is about b·ln 10.
    expect(Math.abs(m / (ns.releaseScale * Math.log(10)) - 1)).toBeLessThan(1e-3);
    const v = 1e3 * ns.queryScale;
    const snapped = Math.round(v / ns.granularity) * ns.granularity;
    let inside = 0;
    for (let i = 0; i < 10_000; i++) if (Math.abs(ns.test(v)! - snapped) <= m) inside++;
    expect(inside / 10_000).toBeGreaterThanOrEqual(level - Z * Math.sqrt((level * (1 - level)) / 10_000));
    for (const bad of [0, 1, NaN, 2]) expect(() => ns.margin(bad)).toThrow(ConfideError);
  });

  it('halts after maxPositives releases', () => {
    const ns = new NumericSparse({ threshold: 0, epsilon: 1, sensitivity: 1, rng: seededRng(64) });
    expect(ns.test(1e6)).not.toBeNull();
    expect(ns.halted).toBe(true);
    expect(() => ns.test(1e6)).toThrow(expect.objectContaining({ code: 'E_STATE' }));
  });
});

describe('bad inputs', () => {
  const ok = { threshold: 0, epsilon: 1, sensitivity: 1, rng: seededRng(1) };
  it('refuses bad parameters', () => {
    for (const Ctor of [AboveThreshold, NumericSparse]) {
      for (const o of [
        { ...ok, threshold: NaN },
        { ...ok, epsilon: 0 },
        { ...ok, epsilon: -1 },
        { ...ok, sensitivity: 0 },
        { ...ok, sensitivity: NaN },
        { ...ok, maxPositives: 0 },
        { ...ok, maxPositives: 1.5 },
        { ...ok, monotonic: 'yes' },
        { ...ok, rng: Math.random },
        { ...ok, thresold: 1 },
        { epsilon: 1, sensitivity: 1 },
        undefined,
      ])
        expect(() => new Ctor(o as never)).toThrow(ConfideError);
    }
    for (const split of [[1, 0, 1], [1, 2], [1, 2, NaN], 'even', [1, 2, 3, 4]])
      expect(() => new NumericSparse({ ...ok, split: split as never })).toThrow(ConfideError);
    expect(() => new AboveThreshold({ ...ok, split: [1, 1, 1] } as never)).toThrow(/unknown option/);
  });

  it('refuses out-of-range values with E_OVERFLOW, and bad values without changing state', () => {
    const at = new AboveThreshold({ ...ok, maxPositives: 5 });
    expect(() => new AboveThreshold({ ...ok, threshold: at.maxMagnitude * 2 })).toThrow(expect.objectContaining({ code: 'E_OVERFLOW' }));
    expect(() => at.test(at.maxMagnitude * 2)).toThrow(expect.objectContaining({ code: 'E_OVERFLOW' }));
    expect(at.test(at.maxMagnitude)).toBe(true);
    for (const v of [NaN, Infinity, '1', null, 1n]) expect(() => at.test(v as never)).toThrow(expect.objectContaining({ code: 'E_BAD_INPUT' }));
    expect(at.queries).toBe(1);
  });
});

describe('type-confusion battery (sparse vector)', () => {
  const rng = () => seededRng(1);
  const numbersOk = ['fraction', 'huge'];
  type Case = [string, (...a: any[]) => unknown, () => unknown[], BatteryOptions?];
  const accept = { 0: ['negative', '-0', 'fraction'], 1: numbersOk, 2: numbersOk, 3: ['undefined'], 4: ['undefined', 'boolean'], 5: ['undefined'] };
  const cases: Case[] = [
    [
      'AboveThreshold',
      (threshold, epsilon, sensitivity, maxPositives, monotonic, r) => new AboveThreshold({ threshold, epsilon, sensitivity, maxPositives, monotonic, rng: r }),
      () => [1, 1, 1, 2, false, rng()],
      { accept },
    ],
    ['AboveThreshold options', (o) => new AboveThreshold(o), () => [{ threshold: 0, epsilon: 1, sensitivity: 1 }]],
    [
      'AboveThreshold.test',
      (v) => new AboveThreshold({ threshold: 0, epsilon: 1, sensitivity: 1, maxPositives: 10, rng: rng() }).test(v),
      () => [1],
      { accept: { 0: ['negative', '-0', 'fraction'] } },
    ],
    [
      'NumericSparse',
      (threshold, epsilon, sensitivity, maxPositives, monotonic, r, split) => new NumericSparse({ threshold, epsilon, sensitivity, maxPositives, monotonic, rng: r, split }),
      () => [1, 1, 1, 2, false, rng(), [1, 2, 1]],
      { accept: { ...accept, 6: ['undefined', 'plain array'] } },
    ],
    ['NumericSparse options', (o) => new NumericSparse(o), () => [{ threshold: 0, epsilon: 1, sensitivity: 1 }]],
    [
      'NumericSparse.test',
      (v) => new NumericSparse({ threshold: 0, epsilon: 1, sensitivity: 1, maxPositives: 10, rng: rng() }).test(v),
      () => [1],
      { accept: { 0: ['negative', '-0', 'fraction'] } },
    ],
    ['NumericSparse.margin', (l) => new NumericSparse({ threshold: 0, epsilon: 1, sensitivity: 1 }).margin(l), () => [0.9], { accept: { 0: ['fraction'] } }],
  ];
  it.each(cases.map((c) => [c[0], c] as const))('%s', async (_name, [name, fn, args, opts]) => {
    expect(await confusionFailures(name, fn, args, opts)).toEqual([]);
  });
});
