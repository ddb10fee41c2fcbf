/**
 * Exactness and statistics of the samplers. Statistical tests use seeded
 * generators and critical values at tail probability 1e-6 (chi-square) or
 * z = 4.75 (means and variances), so they fail for defects, not for luck.
 */
import { describe, expect, it } from 'vitest';
import { ConfideError, Rng, seededRng } from '../../src/core/index.ts';
import {
  BernoulliExp,
  DiscreteGaussian,
  DiscreteLaplace,
  bernoulli,
  bernoulliExp,
  discreteGaussian,
  discreteLaplace,
  expNegFloor,
  geometric,
  geometricExp,
} from '../../src/dp/samplers.ts';
import { confusionFailures } from '../_battery.ts';
import { chiSquare, chiSquareCritical, zQuantile } from '../_stats.ts';

/** 1/e to 50 decimal places (OEIS A068985). */
const INV_E_50 = 36787944117144232159552377016146086744581113103176n;

/** An Rng that replays scripted words (then repeats the last), to drive exact tie-breaking. */
class ScriptedRng extends Rng {
  readonly kind = 'scripted';
  #words: number[];
  constructor(words: number[]) {
    super();
    this.#words = words;
  }
  protected refill(out: Uint32Array): void {
    for (let i = 0; i < out.length; i++) out[i] = this.#words.length > 1 ? this.#words.shift()! : this.#words[0];
  }
}

describe('expNegFloor: exact binary expansion of exp(-a/b)', () => {
  it('matches 1/e to 160 bits', () => {
    for (const k of [1, 8, 32, 53, 64, 100, 160]) {
      const want = ((1n << BigInt(k)) * INV_E_50) / 10n ** 50n;
      expect(expNegFloor(1n, 1n, k)).toBe(want);
    }
  });

  it('is consistent across precisions and with Math.exp', () => {
    for (const [a, b] of [[1n, 3n], [7n, 2n], [100n, 7n], [1n, 1000n], [999n, 1000n], [50n, 1n]] as const) {
      const wide = expNegFloor(a, b, 128);
      expect(expNegFloor(a, b, 32)).toBe(wide >> 96n);
      expect(expNegFloor(a, b, 64)).toBe(wide >> 64n);
      const approx = Math.exp(-Number(a) / Number(b));
      expect(Math.abs(Number(wide) / 2 ** 128 - approx)).toBeLessThan(approx * 1e-14 + 1e-300);
    }
  });
});

describe('Bernoulli coins', () => {
  it('BernoulliExp resolves a tie on the first word with further exact bits', () => {
    const p32 = Number(expNegFloor(1n, 1n, 32));
    const next = Number(expNegFloor(1n, 1n, 64) & 0xffffffffn);
    expect(new BernoulliExp(1).sample(new ScriptedRng([p32, next - 1]))).toBe(true);
    expect(new BernoulliExp(1).sample(new ScriptedRng([p32, next + 1]))).toBe(false);
    expect(new BernoulliExp(1).sample(new ScriptedRng([p32 - 1]))).toBe(true);
    expect(new BernoulliExp(1).sample(new ScriptedRng([p32 + 1]))).toBe(false);
    expect(new BernoulliExp(0).sample(new ScriptedRng([0xffffffff]))).toBe(true);
  });

  it.each([[{ num: 1, den: 3 }], [2], [{ num: 1, den: 100 }], [0.5]])('bernoulliExp(%o) has mean exp(-γ)', (gamma) => {
    const rng = seededRng(21);
    const g = typeof gamma === 'number' ? gamma : gamma.num / gamma.den;
    const p = Math.exp(-g), n = 200_000;
    let hits = 0;
    for (let i = 0; i < n; i++) hits += +bernoulliExp(gamma, rng);
    expect(Math.abs(hits / n - p)).toBeLessThan(zQuantile('1e-6') * Math.sqrt((p * (1 - p)) / n));
  });

  it('BernoulliExp handles huge γ in O(1) draws (exp(-1) coins that stop at the first failure)', () => {
    const rng = seededRng(23);
    for (const gamma of [64, 1e9, { num: 10n ** 30n + 1n, den: 3n }]) {
      let hits = 0;
      for (let i = 0; i < 1000; i++) hits += +new BernoulliExp(gamma).sample(rng);
      expect(hits).toBe(0);
    }
    // Just above the split point the probability is still exact: exp(-64.5) is tiny, exp(-(64 + tiny)) ≈ e^-64.
    const n = 100_000;
    let hits = 0;
    for (let i = 0; i < n; i++) hits += +bernoulliExp({ num: 129, den: 2 }, rng);
    expect(hits).toBe(0);
  });

  it('bernoulli(p) is exact for rationals, including huge denominators', () => {
    const rng = seededRng(22);
    let hits = 0;
    for (let i = 0; i < 100_000; i++) hits += +bernoulli({ num: 1, den: 7 }, rng);
    expect(Math.abs(hits / 1e5 - 1 / 7)).toBeLessThan(zQuantile('1e-6') * Math.sqrt((1 / 7) * (6 / 7) / 1e5));
    expect(bernoulli({ num: 0n, den: 1n }, rng)).toBe(false);
    expect(bernoulli(1, rng)).toBe(true);
    let big = 0;
    for (let i = 0; i < 20_000; i++) big += +bernoulli({ num: 2n ** 100n, den: 2n ** 101n + 1n }, rng);
    expect(Math.abs(big / 2e4 - 0.5)).toBeLessThan(zQuantile('1e-6') * Math.sqrt(0.25 / 2e4));
    expect(() => bernoulli(1.5, rng)).toThrow(ConfideError);
  });
});

/** Chi-square of samples against a pmf on the integers, pooling the tails into two bins. */
function chiSquareTest(samples: ArrayLike<number>, pmf: (x: number) => number, halfWidth: number) {
  const n = samples.length;
  const bins = new Map<number, number>();
  for (let i = 0; i < n; i++) {
    const x = Math.max(-halfWidth - 1, Math.min(halfWidth + 1, samples[i]));
    bins.set(x, (bins.get(x) ?? 0) + 1);
  }
  const observed: number[] = [], expected: number[] = [];
  let inner = 0;
  for (let x = -halfWidth; x <= halfWidth; x++) {
    const p = pmf(x);
    inner += p;
    observed.push(bins.get(x) ?? 0);
    expected.push(p * n);
  }
  // Tails, split evenly by symmetry.
  observed.push(bins.get(-halfWidth - 1) ?? 0, bins.get(halfWidth + 1) ?? 0);
  expected.push(((1 - inner) / 2) * n, ((1 - inner) / 2) * n);
  return { stat: chiSquare(observed, expected), df: observed.length - 1 };
}

function moments(xs: ArrayLike<number>) {
  let m = 0, v = 0, m4 = 0;
  for (let i = 0; i < xs.length; i++) m += xs[i];
  m /= xs.length;
  for (let i = 0; i < xs.length; i++) {
    const d = xs[i] - m;
    v += d * d;
    m4 += d ** 4;
  }
  return { mean: m, variance: v / xs.length, m4: m4 / xs.length };
}

describe('discrete Laplace', () => {
  it.each([
    ['1', 1],
    ['10', 10],
    ['10/3', { num: 10, den: 3 }],
    ['2.5 (dyadic)', 2.5],
    ['100000 (two table digits)', 100_000],
  ] as const)('scale %s: mean, variance and chi-square against the exact pmf', (_n, scale) => {
    const dl = new DiscreteLaplace(scale);
    const tau = typeof scale === 'number' ? scale : scale.num / scale.den;
    const p = Math.exp(-1 / tau);
    const n = 200_000;
    const xs = dl.fill(new Float64Array(n), seededRng(Math.round(tau * 1000)));
    const variance = (2 * p) / (1 - p) ** 2;
    expect(dl.variance).toBeCloseTo(variance, 6);
    const { mean, variance: v, m4 } = moments(xs);
    const z = zQuantile('1e-6');
    expect(Math.abs(mean)).toBeLessThan(z * Math.sqrt(variance / n));
    expect(Math.abs(v - variance)).toBeLessThan(z * Math.sqrt((m4 - variance * variance) / n));
    const halfWidth = Math.min(60, Math.ceil(tau * 4));
    if (tau <= 100) {
      const { stat, df } = chiSquareTest(xs, (x) => ((1 - p) / (1 + p)) * p ** Math.abs(x), halfWidth);
      expect(stat).toBeLessThan(chiSquareCritical(df, '1e-6'));
    }
  });

  it('handles scales beyond the fast path with bigints', () => {
    const dl = new DiscreteLaplace({ num: 2n ** 60n + 1n, den: 2n ** 50n }); // scale ≈ 1024, numerator beyond 2^48
    const n = 20_000;
    const xs = Array.from({ length: n }, () => Number(dl.sample(seededRngShared)));
    const { mean, variance } = moments(xs);
    const want = dl.variance;
    expect(Math.abs(mean)).toBeLessThan(zQuantile('1e-6') * Math.sqrt(want / n));
    expect(Math.abs(variance / want - 1)).toBeLessThan(0.1);
    expect(typeof dl.sample(seededRngShared)).toBe('bigint');
  });

  it('fills Int32Array, Float64Array and BigInt64Array', () => {
    const rng = seededRng(5);
    expect(new DiscreteLaplace(3).fill(new Int32Array(100), rng).some((x) => x !== 0)).toBe(true);
    expect(new DiscreteLaplace(3).fill(new BigInt64Array(10), rng).length).toBe(10);
    expect(typeof discreteLaplace(4, rng)).toBe('number');
    expect(() => new DiscreteLaplace(2 ** 40).fill(new Int32Array(100), rng)).toThrow(ConfideError);
  });
});
const seededRngShared = seededRng(77);

describe('discrete Gaussian', () => {
  it.each([
    ['0.5', 0.5],
    ['4', 4],
    ['100', 100],
    ['100/7', { num: 100, den: 7 }],
  ] as const)('sigma^2 %s: mean, variance and chi-square against the exact pmf', (_n, sigma2) => {
    const s2 = typeof sigma2 === 'number' ? sigma2 : sigma2.num / sigma2.den;
    const dg = new DiscreteGaussian(sigma2);
    const n = 200_000;
    const xs = dg.fill(new Float64Array(n), seededRng(Math.round(s2 * 100)));
    const halfWidth = Math.ceil(Math.sqrt(s2) * 5) + 1;
    let z = 0;
    for (let x = -halfWidth * 3; x <= halfWidth * 3; x++) z += Math.exp((-x * x) / (2 * s2));
    const pmf = (x: number) => Math.exp((-x * x) / (2 * s2)) / z;
    let variance = 0, fourth = 0;
    for (let x = -halfWidth * 3; x <= halfWidth * 3; x++) {
      variance += x * x * pmf(x);
      fourth += x ** 4 * pmf(x);
    }
    const { mean, variance: v } = moments(xs);
    const q = zQuantile('1e-6');
    expect(Math.abs(mean)).toBeLessThan(q * Math.sqrt(variance / n));
    expect(Math.abs(v - variance)).toBeLessThan(q * Math.sqrt((fourth - variance * variance) / n));
    const { stat, df } = chiSquareTest(xs, pmf, Math.min(halfWidth, 60));
    expect(stat).toBeLessThan(chiSquareCritical(df, '1e-6'));
  });

  it('keeps its variance at large sigma (the floating-point filter never decides wrongly in bulk)', () => {
    const dg = new DiscreteGaussian(1e10);
    const n = 100_000;
    const { mean, variance } = moments(dg.fill(new Float64Array(n), seededRng(9)));
    expect(Math.abs(mean)).toBeLessThan(zQuantile('1e-6') * Math.sqrt(1e10 / n));
    expect(Math.abs(variance / 1e10 - 1)).toBeLessThan(zQuantile('1e-6') * Math.sqrt(2 / n));
    expect(typeof discreteGaussian(2, seededRng(1))).toBe('number');
  });
});

describe('geometric', () => {
  it('geometricExp(γ) has P(k) = (1 - e^-γ) e^-γk', () => {
    const rng = seededRng(31);
    const p = Math.exp(-0.25), n = 100_000;
    const xs = Array.from({ length: n }, () => Number(geometricExp({ num: 1, den: 4 }, rng)));
    const counts = new Float64Array(31), expected = new Float64Array(31);
    for (const x of xs) counts[Math.min(30, x)]++;
    for (let k = 0; k < 30; k++) expected[k] = n * (1 - p) * p ** k;
    expected[30] = n * p ** 30;
    expect(chiSquare(counts, expected)).toBeLessThan(chiSquareCritical(30, '1e-6'));
  });

  it('geometric(p) counts failures before the first success', () => {
    const rng = seededRng(32);
    const n = 50_000;
    let sum = 0;
    for (let i = 0; i < n; i++) sum += geometric({ num: 1, den: 4 }, rng);
    // mean (1-p)/p = 3, variance (1-p)/p² = 12
    expect(Math.abs(sum / n - 3)).toBeLessThan(zQuantile('1e-6') * Math.sqrt(12 / n));
    expect(() => geometric(0, rng)).toThrow(ConfideError);
    expect(() => geometric(1e-300, rng)).toThrow(ConfideError); // would take ~1e300 trials
    expect(typeof geometricExp({ num: 1, den: 1e9 }, rng)).toBe('number'); // the O(1) route for tiny rates
  });
});

describe('sampler arguments', () => {
  it('refuse nonsense parameters with E_BAD_INPUT', () => {
    for (const bad of [0, -1, NaN, Infinity, '10', null, { num: 1, den: 0 }, { num: 1.5, den: 2 }, { num: -1, den: 2 }]) {
      expect(() => new DiscreteLaplace(bad as never)).toThrow(ConfideError);
      expect(() => new DiscreteGaussian(bad as never)).toThrow(ConfideError);
    }
    expect(() => new BernoulliExp(-1)).toThrow(ConfideError);
  });

  it('pass the type-confusion battery', async () => {
    const rng = () => seededRng(1);
    const failures = [
      ...(await confusionFailures('discreteLaplace', discreteLaplace, () => [10, rng()], { accept: { 0: ['fraction', 'huge', 'bigint'], 1: ['undefined'] } })),
      ...(await confusionFailures('discreteGaussian', discreteGaussian, () => [10, rng()], { accept: { 0: ['fraction', 'huge', 'bigint'], 1: ['undefined'] } })),
      ...(await confusionFailures('bernoulliExp', bernoulliExp, () => [1, rng()], { accept: { 0: ['fraction', 'huge', 'bigint', '-0'], 1: ['undefined'] } })),
      ...(await confusionFailures('bernoulli', bernoulli, () => [{ num: 1, den: 2 }, rng()], { accept: { 0: ['fraction', 'bigint', '-0'], 1: ['undefined'] } })),
      ...(await confusionFailures('geometricExp', geometricExp, () => [1, rng()], { accept: { 0: ['fraction', 'huge', 'bigint'], 1: ['undefined'] } })),
      ...(await confusionFailures('DiscreteLaplace.fill', (o, r) => new DiscreteLaplace(3).fill(o, r), () => [new Int32Array(4), rng()], { accept: { 1: ['undefined'] } })),
      ...(await confusionFailures('DiscreteGaussian.sample', (r) => new DiscreteGaussian(3).sample(r), () => [rng()], { accept: { 0: ['undefined'] } })),
    ];
    expect(failures).toEqual([]);
  });
});
