/**
 * Randomized response: the exact truth probabilities against seeded draws
 * (binomial z-tests at z = 4.75, chi-square at alpha 1e-6), and the
 * estimators' unbiasedness and standard errors on simulated surveys.
 */
import { describe, expect, it } from 'vitest';
import { ConfideError } from '../../src/core/errors.ts';
import { seededRng } from '../../src/core/random.ts';
import {
  estimateFrequencies,
  estimateProportion,
  kRandomizedResponse,
  randomizedResponse,
} from '../../src/dp/randomized_response.ts';
import { confusionFailures, type BatteryOptions } from '../_battery.ts';
import { chiSquare, chiSquareCritical, zQuantile } from '../_stats.ts';

const Z = zQuantile('1e-6');

/** |successes/n − p| within z standard errors of a binomial proportion. */
function expectBinomial(successes: number, n: number, p: number): void {
  expect(Math.abs(successes / n - p)).toBeLessThanOrEqual(Z * Math.sqrt((p * (1 - p)) / n));
}

describe('randomizedResponse', () => {
  it.each([0.1, 1, 3])('tells the truth with probability e^ε/(1 + e^ε) at ε = %s', (epsilon) => {
    const rng = seededRng(41);
    const n = 200_000;
    let truthful = 0, notBoolean = 0;
    for (let i = 0; i < n; i++) {
      const value = i % 2 === 0;
      const r = randomizedResponse(value, { epsilon, rng });
      if (typeof r.value !== 'boolean') notBoolean++;
      if (r.value === value) truthful++;
    }
    expect(notBoolean).toBe(0);
    expectBinomial(truthful, n, Math.exp(epsilon) / (1 + Math.exp(epsilon)));
  });

  it('almost never lies at a huge ε, and stays exact for every size of ε', () => {
    const rng = seededRng(42);
    for (let i = 0; i < 2000; i++) expect(randomizedResponse(true, { epsilon: 1e9, rng }).value).toBe(true);
    let truthful = 0;
    const n = 50_000;
    for (let i = 0; i < n; i++) if (randomizedResponse(false, { epsilon: 1e-12, rng }).value === false) truthful++;
    expectBinomial(truthful, n, 0.5);
  });

  it('reports its guarantee, event and margin', () => {
    const r = randomizedResponse(true, { epsilon: 1, rng: seededRng(1) });
    expect(r.guarantee).toEqual({ kind: 'pure', epsilon: 1 });
    expect(r.event).toEqual({ type: 'randomized-response', p: expect.closeTo(2 / (Math.E + 1), 14), k: 2 });
    const p = Math.E / (1 + Math.E);
    expect(r.margin(0.5)).toBe(0);
    expect(r.margin(p - 1e-6)).toBe(0);
    expect(r.margin(p + 1e-6)).toBe(1);
    expect(r.margin(1)).toBe(1);
  });
});

describe('kRandomizedResponse', () => {
  const cases: [number, number][] = [
    [3, 0.5],
    [3, 2],
    [10, 0.5],
    [10, 2],
  ];
  it.each(cases)('k = %s, ε = %s: truth e^ε/(e^ε + k − 1), others uniform', (k, epsilon) => {
    const rng = seededRng(43);
    const n = 200_000;
    // Counts of (report − value) mod k: offset 0 is the truth.
    const offsets = new Array<number>(k).fill(0);
    let outOfRange = 0;
    for (let i = 0; i < n; i++) {
      const value = i % k;
      const r = kRandomizedResponse(value, k, { epsilon, rng }).value;
      if (!(Number.isInteger(r) && r >= 0 && r < k)) outOfRange++;
      else offsets[(r - value + k) % k]++;
    }
    expect(outOfRange).toBe(0);
    const z = Math.exp(epsilon) + k - 1;
    expectBinomial(offsets[0], n, Math.exp(epsilon) / z);
    const probs = offsets.map((_, j) => (j === 0 ? Math.exp(epsilon) / z : 1 / z));
    expect(chiSquare(offsets, probs.map((p) => p * n))).toBeLessThan(chiSquareCritical(k - 1, '1e-6'));
  });

  it('handles large k and huge ε', () => {
    const rng = seededRng(44);
    for (let i = 0; i < 200; i++) expect(kRandomizedResponse(777, 1000, { epsilon: 1e6, rng }).value).toBe(777);
    const r = kRandomizedResponse(2 ** 32 - 1, 2 ** 32, { epsilon: 1, rng });
    expect(Number.isInteger(r.value) && r.value >= 0 && r.value < 2 ** 32).toBe(true);
  });

  it('reports its guarantee, event and margin', () => {
    const r = kRandomizedResponse(2, 5, { epsilon: 2, rng: seededRng(1) });
    expect(r.guarantee).toEqual({ kind: 'pure', epsilon: 2 });
    expect(r.event).toEqual({ type: 'randomized-response', p: expect.closeTo(5 / (Math.exp(2) + 4), 14), k: 5 });
    const p = Math.exp(2) / (Math.exp(2) + 4);
    expect(r.margin(p - 1e-6)).toBe(0);
    expect(r.margin(p + 1e-6)).toBe(4);
  });
});

describe('estimators', () => {
  it('estimateFrequencies is unbiased and its standard errors are right', () => {
    const k = 4, epsilon = 1, trials = 300, rng = seededRng(45);
    const truth = [1000, 600, 300, 100];
    const n = truth.reduce((a, b) => a + b, 0);
    const values = truth.flatMap((c, v) => new Array<number>(c).fill(v));
    const sum = new Float64Array(k), sumSq = new Float64Array(k), seSum = new Float64Array(k);
    for (let t = 0; t < trials; t++) {
      const reports = new Uint8Array(n);
      for (let i = 0; i < n; i++) reports[i] = kRandomizedResponse(values[i], k, { epsilon, rng }).value;
      const { counts, standardErrors } = estimateFrequencies(reports, k, epsilon);
      expect(counts.reduce((a, b) => a + b, 0)).toBeCloseTo(n, 6); // the estimates sum to n exactly
      for (let v = 0; v < k; v++) {
        sum[v] += counts[v];
        sumSq[v] += counts[v] ** 2;
        seSum[v] += standardErrors[v];
      }
    }
    const p = Math.E / (Math.E + k - 1), q = 1 / (Math.E + k - 1);
    for (let v = 0; v < k; v++) {
      const exactVar = (n * q * (1 - q)) / (p - q) ** 2 + (truth[v] * (1 - p - q)) / (p - q);
      const mean = sum[v] / trials;
      expect(Math.abs(mean - truth[v])).toBeLessThanOrEqual(Z * Math.sqrt(exactVar / trials));
      // Sample variance of `trials` estimates: relative sd about sqrt(2/trials) for near-normal data.
      const sampleVar = (sumSq[v] - trials * mean * mean) / (trials - 1);
      expect(Math.abs(sampleVar / exactVar - 1)).toBeLessThanOrEqual(Z * Math.sqrt(2 / (trials - 1)));
      // The plug-in standard error is close to the exact one.
      expect(Math.abs(seSum[v] / trials / Math.sqrt(exactVar) - 1)).toBeLessThan(0.02);
    }
  });

  it('estimateProportion is unbiased and its standard error is exact', () => {
    const epsilon = 0.8, trials = 300, n = 2000, rng = seededRng(46);
    const ones = 600; // true proportion 0.3
    let sum = 0, sumSq = 0, se = 0;
    for (let t = 0; t < trials; t++) {
      const reports: boolean[] = [];
      for (let i = 0; i < n; i++) reports.push(randomizedResponse(i < ones, { epsilon, rng }).value);
      const est = estimateProportion(reports, epsilon);
      sum += est.proportion;
      sumSq += est.proportion ** 2;
      se = est.standardError;
      // The Uint8Array form agrees.
      if (t === 0) expect(estimateProportion(Uint8Array.from(reports, Number), epsilon)).toEqual(est);
    }
    const p = Math.exp(epsilon) / (1 + Math.exp(epsilon)), q = 1 - p;
    expect(se).toBeCloseTo(Math.sqrt((p * q) / n) / (p - q), 12);
    const mean = sum / trials;
    expect(Math.abs(mean - 0.3)).toBeLessThanOrEqual((Z * se) / Math.sqrt(trials));
    const sampleVar = (sumSq - trials * mean * mean) / (trials - 1);
    expect(Math.abs(sampleVar / se ** 2 - 1)).toBeLessThanOrEqual(Z * Math.sqrt(2 / (trials - 1)));
  });

  it('stays finite for a huge ε and inverts the identity channel', () => {
    const { counts, standardErrors } = estimateFrequencies([0, 1, 1, 2, 2, 2], 3, 1e6);
    expect([...counts]).toEqual([1, 2, 3]);
    expect([...standardErrors]).toEqual([0, 0, 0]);
    expect(estimateProportion([true, false, true, true], 1e6)).toEqual({ proportion: 0.75, standardError: 0 });
  });
});

describe('bad inputs', () => {
  const ok = { epsilon: 1, rng: seededRng(1) };
  it('refuses bad values, k, epsilon and options', () => {
    for (const v of [1, 'true', null, undefined]) expect(() => randomizedResponse(v as never, ok)).toThrow(ConfideError);
    for (const [v, k] of [[3, 3], [-1, 3], [0.5, 3], [0, 1], [0, 1.5], [0, 2 ** 32 + 1], [-0, 3]])
      expect(() => kRandomizedResponse(v, k, ok)).toThrow(ConfideError);
    for (const o of [{ epsilon: 0 }, { epsilon: -1 }, { epsilon: NaN }, { epsilon: Infinity }, { epsilon: 1, rng: 1 }, { epsilon: 1, k: 2 }, {}, undefined])
      expect(() => randomizedResponse(true, o as never)).toThrow(ConfideError);
    expect(() => randomizedResponse(true, ok).margin(0)).toThrow(ConfideError);
    expect(() => randomizedResponse(true, ok).margin(1.5)).toThrow(ConfideError);
  });

  it('refuses bad reports', () => {
    for (const r of [[], [0, 3], [0, 1.5], [0, -1], ['0'], new Float64Array([NaN]), { length: 1, 0: 0 }, null])
      expect(() => estimateFrequencies(r as never, 3, 1)).toThrow(ConfideError);
    for (const r of [[], [1, 0], [true, 1], new Uint8Array([0, 2]), new Uint16Array(2), 'true', null])
      expect(() => estimateProportion(r as never, 1)).toThrow(ConfideError);
    expect(() => estimateFrequencies([0], 2 ** 27, 1)).toThrow(ConfideError);
    expect(() => estimateProportion([true], 0)).toThrow(ConfideError);
  });
});

describe('type-confusion battery (randomized response)', () => {
  const rng = () => seededRng(1);
  const epsOk = ['fraction', 'huge'];
  type Case = [string, (...a: any[]) => unknown, () => unknown[], BatteryOptions?];
  const cases: Case[] = [
    ['randomizedResponse', (v, epsilon, r) => randomizedResponse(v, { epsilon, rng: r }), () => [false, 1, rng()], { accept: { 0: ['boolean'], 1: epsOk, 2: ['undefined'] } }],
    ['randomizedResponse options', (o) => randomizedResponse(true, o), () => [{ epsilon: 1 }]],
    ['randomizedResponse margin', (l) => randomizedResponse(true, { epsilon: 1, rng: rng() }).margin(l), () => [0.5], { accept: { 0: ['fraction'] } }],
    ['kRandomizedResponse', (v, k, epsilon, r) => kRandomizedResponse(v, k, { epsilon, rng: r }), () => [1, 3, 1, rng()], { accept: { 2: epsOk, 3: ['undefined'] } }],
    ['kRandomizedResponse options', (o) => kRandomizedResponse(1, 3, o), () => [{ epsilon: 1 }]],
    ['kRandomizedResponse margin', (l) => kRandomizedResponse(1, 3, { epsilon: 1, rng: rng() }).margin(l), () => [0.5], { accept: { 0: ['fraction'] } }],
    ['estimateFrequencies', estimateFrequencies, () => [[0, 1, 2, 1], 3, 1], { accept: { 0: ['Uint16Array'], 2: epsOk } }],
    ['estimateProportion', estimateProportion, () => [[true, false, true], 1], { accept: { 1: epsOk } }],
  ];
  it.each(cases.map((c) => [c[0], c] as const))('%s', async (_name, [name, fn, args, opts]) => {
    expect(await confusionFailures(name, fn, args, opts)).toEqual([]);
  });
});
