/**
 * Private selection: the exact output distributions (softmax for the
 * exponential mechanism, the permutation sum for permute-and-flip) against
 * seeded empirical frequencies, with chi-square critical values at alpha 1e-6.
 */
import { describe, expect, it } from 'vitest';
import { ConfideError } from '../../src/core/errors.ts';
import { seededRng } from '../../src/core/random.ts';
import { exponentialMechanism, permuteAndFlip, reportNoisyMax, topK } from '../../src/dp/selection.ts';
import { confusionFailures, type BatteryOptions } from '../_battery.ts';
import { chiSquare, chiSquareCritical, zQuantile } from '../_stats.ts';

/** Exponential mechanism: P(i) ∝ exp(ε·u_i/(divisor·Δ)). */
function softmax(u: number[], epsilon: number, delta: number, divisor = 2): number[] {
  const max = Math.max(...u);
  const w = u.map((x) => Math.exp((epsilon * (x - max)) / (divisor * delta)));
  const s = w.reduce((a, b) => a + b, 0);
  return w.map((x) => x / s);
}

function permutations(n: number): number[][] {
  if (n === 0) return [[]];
  const out: number[][] = [];
  for (const p of permutations(n - 1)) for (let i = 0; i <= p.length; i++) out.push([...p.slice(0, i), n - 1, ...p.slice(i)]);
  return out;
}

/** Permute-and-flip over `candidates`: average over orders of P(first accepted = i). */
function pfDistribution(u: number[], epsilon: number, delta: number, candidates = u.map((_, i) => i)): Map<number, number> {
  const max = Math.max(...candidates.map((i) => u[i]));
  const p = (i: number) => Math.exp((epsilon * (u[i] - max)) / (2 * delta));
  const perms = permutations(candidates.length);
  const out = new Map<number, number>(candidates.map((i) => [i, 0]));
  for (const perm of perms) {
    let reach = 1;
    for (const j of perm) {
      const i = candidates[j];
      out.set(i, out.get(i)! + (reach * p(i)) / perms.length);
      reach *= 1 - p(i);
    }
  }
  return out;
}

function frequencies(n: number, draws: number, draw: () => number): number[] {
  const c = new Array<number>(n).fill(0);
  for (let t = 0; t < draws; t++) c[draw()]++;
  return c;
}

/** Chi-square of observed counts against probabilities, at alpha 1e-6. */
function expectFits(observed: number[], probs: number[]): void {
  const total = observed.reduce((a, b) => a + b, 0);
  // Merge cells expected below 5 into one, as the chi-square approximation needs.
  const obs: number[] = [], exp: number[] = [];
  let restO = 0, restE = 0;
  probs.forEach((p, i) => {
    if (p * total >= 5) {
      obs.push(observed[i]);
      exp.push(p * total);
    } else {
      restO += observed[i];
      restE += p * total;
    }
  });
  if (restE > 0) {
    obs.push(restO);
    exp.push(restE);
  }
  expect(obs.length).toBeGreaterThan(1);
  expect(chiSquare(obs, exp)).toBeLessThan(chiSquareCritical(obs.length - 1, '1e-6'));
}

const DRAWS = 60_000;

describe('exponentialMechanism', () => {
  const cases: [string, number[], number, number][] = [
    ['4 candidates, ε = 1', [0, 1, 2, 3], 1, 1],
    ['5 candidates, ε = 0.5, Δ = 2', [-3, 0.25, 1.5, 4, 2], 0.5, 2],
    ['6 candidates, ε = 3', [10, 10.5, 9, 11, 8, 10.25], 3, 1],
    ['3 candidates, ε = 0.1 (dyadic-unfriendly)', [0.1, 0.7, 0.3], 0.1, 0.3],
  ];
  it.each(cases)('matches the softmax probabilities: %s', (_name, u, epsilon, sensitivity) => {
    const rng = seededRng(11);
    const obs = frequencies(u.length, DRAWS, () => exponentialMechanism(u, { epsilon, sensitivity, rng }).value);
    expectFits(obs, softmax(u, epsilon, sensitivity));
  });

  it('uses exp(ε·u/Δ) when monotonic', () => {
    const u = [0, 1, 2, 3, 1.5];
    const rng = seededRng(12);
    const obs = frequencies(u.length, DRAWS, () => exponentialMechanism(u, { epsilon: 1, sensitivity: 1, rng, monotonic: true }).value);
    expectFits(obs, softmax(u, 1, 1, 1));
  });

  it('splits ties evenly', () => {
    const u = [1, 3, 3, 0, 3];
    const rng = seededRng(13);
    const obs = frequencies(u.length, DRAWS, () => exponentialMechanism(u, { epsilon: 2, sensitivity: 1, rng }).value);
    expectFits(obs, softmax(u, 2, 1));
  });

  it('is near uniform for a tiny ε and the argmax for a huge one', () => {
    const u = [0, 1, 2, 3];
    const rng = seededRng(14);
    const obs = frequencies(4, DRAWS, () => exponentialMechanism(u, { epsilon: 1e-9, sensitivity: 1, rng }).value);
    expectFits(obs, [0.25, 0.25, 0.25, 0.25]);
    // P(not the argmax) < 3·exp(−5·10^8): none in 2000 draws. Huge exponents do not hang.
    for (let t = 0; t < 2000; t++) expect(exponentialMechanism([0, 1, 5, 2], { epsilon: 1e9, sensitivity: 1, rng }).value).toBe(2);
    expect(exponentialMechanism([-1e300, 1e300, 0], { epsilon: 1e300, sensitivity: 1e-300, rng }).value).toBe(1);
  });

  it('accepts Float64Array and typed arrays, and one candidate', () => {
    const rng = seededRng(15);
    expect(exponentialMechanism(new Float64Array([5]), { epsilon: 1, sensitivity: 1, rng }).value).toBe(0);
    const v = exponentialMechanism(new Int32Array([1, 2, 3]), { epsilon: 1, sensitivity: 1, rng }).value;
    expect([0, 1, 2]).toContain(v);
  });

  it('is reproducible under a seed', () => {
    const u = [0, 1, 2, 3, 4, 5];
    const run = (seed: number) => {
      const rng = seededRng(seed);
      return Array.from({ length: 50 }, () => exponentialMechanism(u, { epsilon: 1, sensitivity: 1, rng }).value);
    };
    expect(run(16)).toEqual(run(16));
    expect(run(16)).not.toEqual(run(17));
  });

  it('reports its guarantee, event and utility margin', () => {
    const r = exponentialMechanism([0, 1, 2, 3], { epsilon: 0.5, sensitivity: 2, rng: seededRng(1) });
    expect(r.guarantee).toEqual({ kind: 'pure', epsilon: 0.5 });
    expect(r.event).toEqual({ type: 'epsilon-delta', epsilon: 0.5, name: 'exponential' });
    expect(r.margin(0.9)).toBeCloseTo(((2 * 2) / 0.5) * (Math.log(4) + Math.log(10)), 10);
    const m = exponentialMechanism([0, 1], { epsilon: 1, sensitivity: 1, monotonic: true, rng: seededRng(1) });
    expect(m.margin(0.5)).toBeCloseTo(Math.log(2) + Math.log(2), 10);
    expect(exponentialMechanism([7], { epsilon: 1, sensitivity: 1, rng: seededRng(1) }).margin(0.99)).toBe(0);
  });

  it('meets its utility margin at least `level` of the time', () => {
    const u = [0, 0.5, 1, 2, 3, 3.5, 4, 4.2];
    const rng = seededRng(17);
    const level = 0.9, n = 20_000;
    let ok = 0, margin = 0;
    for (let t = 0; t < n; t++) {
      const r = exponentialMechanism(u, { epsilon: 1, sensitivity: 1, rng });
      margin = r.margin(level);
      if (u[r.value] >= 4.2 - margin) ok++;
    }
    expect(ok / n).toBeGreaterThanOrEqual(level - zQuantile('1e-6') * Math.sqrt((level * (1 - level)) / n));
  });
});

describe('permuteAndFlip', () => {
  const cases: [string, number[], number, number][] = [
    ['2 candidates', [0, 1], 1, 1],
    ['3 candidates, ε = 2', [0, 1, 2.5], 2, 1],
    ['3 candidates with a tie at the top', [1, 1, 0], 1.5, 1],
    ['5 candidates, ε = 0.7, Δ = 0.5', [0.2, -1, 0.9, 0.4, 0], 0.7, 0.5],
  ];
  it.each(cases)('matches its exact distribution over permutations: %s', (_name, u, epsilon, sensitivity) => {
    const rng = seededRng(21);
    const obs = frequencies(u.length, DRAWS, () => permuteAndFlip(u, { epsilon, sensitivity, rng }).value);
    const exact = pfDistribution(u, epsilon, sensitivity);
    expect([...exact.values()].reduce((a, b) => a + b, 0)).toBeCloseTo(1, 12);
    expectFits(obs, u.map((_, i) => exact.get(i)!));
  });

  it('favours the best candidate at least as much as the exponential mechanism', () => {
    const u = [0, 1, 2, 3];
    const pf = pfDistribution(u, 1, 1).get(3)!;
    expect(pf).toBeGreaterThanOrEqual(softmax(u, 1, 1)[3]);
  });

  it('is near uniform for a tiny ε and the argmax for a huge one', () => {
    const rng = seededRng(22);
    expectFits(frequencies(3, DRAWS, () => permuteAndFlip([0, 1, 2], { epsilon: 1e-9, sensitivity: 1, rng }).value), [1 / 3, 1 / 3, 1 / 3]);
    for (let t = 0; t < 2000; t++) expect(permuteAndFlip([3, 1, 5, 2], { epsilon: 1e9, sensitivity: 1, rng }).value).toBe(2);
  });

  it('is reportNoisyMax', () => {
    expect(reportNoisyMax).toBe(permuteAndFlip);
    const r = reportNoisyMax([0, 1], { epsilon: 1, sensitivity: 1, rng: seededRng(1) });
    expect(r.event).toEqual({ type: 'epsilon-delta', epsilon: 1, name: 'permute-and-flip' });
    expect(r.guarantee).toEqual({ kind: 'pure', epsilon: 1 });
    expect(r.margin(0.95)).toBeCloseTo(2 * (Math.log(2) + Math.log(20)), 10);
  });
});

describe('topK', () => {
  it('draws k distinct candidates with the exact sequential distribution', () => {
    const u = [0, 1, 2];
    const epsilon = 2, k = 2, rng = seededRng(31);
    const step = epsilon / k;
    const pairs: [number, number][] = [];
    const probs: number[] = [];
    const first = pfDistribution(u, step, 1);
    for (const [i, pi] of first) {
      const second = pfDistribution(u, step, 1, [0, 1, 2].filter((x) => x !== i));
      for (const [j, pj] of second) {
        pairs.push([i, j]);
        probs.push(pi * pj);
      }
    }
    const index = new Map(pairs.map(([i, j], c) => [`${i},${j}`, c]));
    const obs = frequencies(pairs.length, DRAWS, () => {
      const v = topK(u, k, { epsilon, sensitivity: 1, rng }).value;
      expect(v.length).toBe(2);
      return index.get(v.join(','))!;
    });
    expectFits(obs, probs);
  });

  it('returns the true top k for a huge ε, and every candidate for k = n', () => {
    const rng = seededRng(32);
    expect(topK([5, 1, 9, 3, 7], 3, { epsilon: 1e9, sensitivity: 1, rng }).value).toEqual([2, 4, 0]);
    const all = topK([5, 1, 9, 3, 7], 5, { epsilon: 1, sensitivity: 1, rng }).value;
    expect([...all].sort()).toEqual([0, 1, 2, 3, 4]);
  });

  it('records k draws of at most ε/k each', () => {
    const r = topK([0, 1, 2, 3], 3, { epsilon: 1, sensitivity: 1, rng: seededRng(33) });
    expect(r.guarantee).toEqual({ kind: 'pure', epsilon: 1 });
    expect(r.event.type).toBe('self-composed');
    if (r.event.type !== 'self-composed') return;
    expect(r.event.count).toBe(3);
    const step = (r.event.event as { epsilon: number }).epsilon;
    expect(step).toBeLessThanOrEqual(1 / 3);
    expect(step * 3).toBeLessThanOrEqual(1);
    expect(r.margin(0.9)).toBeCloseTo(((2 * 1) / step) * (Math.log(4) + Math.log(3 / 0.1)), 8);
  });
});

describe('bad inputs', () => {
  const ok = { epsilon: 1, sensitivity: 1, rng: seededRng(1) };
  const fns = [
    ['exponentialMechanism', (u: unknown, o: unknown) => exponentialMechanism(u as number[], o as never)],
    ['permuteAndFlip', (u: unknown, o: unknown) => permuteAndFlip(u as number[], o as never)],
    ['topK', (u: unknown, o: unknown) => topK(u as number[], 1, o as never)],
  ] as const;
  it.each(fns)('%s refuses bad utilities and options', (_name, f) => {
    for (const u of [[], [1, NaN], [Infinity], [1, '2'], new BigInt64Array(2), new DataView(new ArrayBuffer(8)), { length: 1, 0: 1 }, null])
      expect(() => f(u, ok)).toThrow(ConfideError);
    for (const o of [
      { ...ok, epsilon: 0 },
      { ...ok, epsilon: -1 },
      { ...ok, epsilon: NaN },
      { ...ok, sensitivity: NaN },
      { ...ok, sensitivity: 0 },
      { ...ok, rng: {} },
      { ...ok, epslion: 1 },
      { sensitivity: 1 },
      undefined,
    ])
      expect(() => f([1, 2], o)).toThrow(ConfideError);
  });

  it('refuses k out of range, a bad level, and monotonic where it does not apply', () => {
    expect(() => topK([1, 2, 3], 4, ok)).toThrow(/"k"/);
    expect(() => topK([1, 2, 3], 0, ok)).toThrow(ConfideError);
    expect(() => permuteAndFlip([1, 2], { ...ok, monotonic: true } as never)).toThrow(/unknown option/);
    expect(() => exponentialMechanism([1, 2], { ...ok, monotonic: 1 as never })).toThrow(ConfideError);
    const r = exponentialMechanism([1, 2], ok);
    for (const level of [0, 1, -0.5, 2, NaN]) expect(() => r.margin(level)).toThrow(ConfideError);
  });
});

describe('type-confusion battery (selection)', () => {
  const rng = () => seededRng(1);
  const numbersOk = ['fraction', 'huge'];
  const utilitiesOk = ['plain array', 'Uint16Array'];
  type Case = [string, (...a: any[]) => unknown, () => unknown[], BatteryOptions?];
  const optionCases = (name: string, f: (u: any, o: any) => unknown, extra = false): Case[] => [
    [
      name,
      (u, epsilon, sensitivity, r, monotonic) => f(u, extra ? { epsilon, sensitivity, rng: r, monotonic } : { epsilon, sensitivity, rng: r }),
      () => (extra ? [[1, 2, 3], 1, 1, rng(), false] : [[1, 2, 3], 1, 1, rng()]),
      { accept: { 0: utilitiesOk, 1: numbersOk, 2: numbersOk, 3: ['undefined'], 4: ['undefined', 'boolean'] } },
    ],
    [`${name} options`, (o) => f([1, 2, 3], o), () => [{ epsilon: 1, sensitivity: 1 }]],
    [`${name} margin`, (l) => (f([1, 2, 3], { epsilon: 1, sensitivity: 1, rng: rng() }) as { margin: (l: number) => number }).margin(l), () => [0.9], { accept: { 0: ['fraction'] } }],
  ];
  const cases: Case[] = [
    ...optionCases('exponentialMechanism', exponentialMechanism, true),
    ...optionCases('permuteAndFlip', permuteAndFlip),
    ...optionCases('reportNoisyMax', reportNoisyMax),
    ...optionCases('topK', (u, o) => topK(u, 2, o)),
    ['topK k', (k) => topK([1, 2, 3], k, { epsilon: 1, sensitivity: 1, rng: rng() }), () => [2]],
  ];
  it.each(cases.map((c) => [c[0], c] as const))('%s', async (_name, [name, fn, args, opts]) => {
    expect(await confusionFailures(name, fn, args, opts)).toEqual([]);
  });
});
