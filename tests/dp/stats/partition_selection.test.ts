import fc from 'fast-check';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { seededRng } from '../../../src/core/index.ts';
import {
  coinWithProbability,
  partitionSelector,
  type PartitionSelectionStrategy,
} from '../../../src/dp/stats/partition_selection.ts';
import { confusionFailures } from '../../_battery.ts';
import { zQuantile } from '../../_stats.ts';

const vectors = JSON.parse(readFileSync(new URL('../../vectors/partition_selection.json', import.meta.url), 'utf8'));
const z = zQuantile('1e-6');

/**
 * Checks the two (ε', δ') constraints of Desfontaines et al. (neighbours n and
 * n + 1 both ways) on p(0..nMax), with p(0) = 0, and the second on the drop
 * probability q = 1 - p as the selector computes it (p rounds to 1 long before
 * q is 0). The relative 1e-12 allows only the rounding of this check itself,
 * far below the 2^-20 slack the selector keeps.
 */
function constraintViolations(p: (n: number) => number, q: (n: number) => number, eps: number, delta: number, nMax: number): string[] {
  const bad: string[] = [];
  const e = Math.exp(eps);
  const slack = 1e-12 * (e + 1) * delta;
  let prevP = 0, prevQ = 1;
  for (let n = 0; n < nMax; n++) {
    const nextP = p(n + 1), nextQ = q(n + 1);
    if (nextP > e * prevP + delta + slack) bad.push(`p(${n + 1}) = ${nextP} > e^ε p(${n}) + δ = ${e * prevP + delta}`);
    if (prevQ > e * nextQ + delta + slack) bad.push(`1 - p(${n}) = ${prevQ} > e^ε (1 - p(${n + 1})) + δ = ${e * nextQ + delta}`);
    if (Math.abs(nextP + nextQ - 1) > 1e-15) bad.push(`p + q at ${n + 1} is ${nextP + nextQ}`);
    prevP = nextP;
    prevQ = nextQ;
  }
  return bad;
}

describe('truncated geometric (Desfontaines et al. 2022)', () => {
  it('matches the figures of Google’s library tests', () => {
    for (const c of vectors.cases) {
      const s = partitionSelector({ epsilon: c.epsilon, delta: c.delta, maxPartitionsContributed: c.maxPartitionsContributed });
      const p = s.probability(c.n);
      expect(Math.abs(p - c.probability), c.name).toBeLessThanOrEqual(c.tolerance);
      // The held-back slack only ever lowers the keep probability below the formula, never raises it above 1.
      if (c.probability < 1) expect(p, c.name).toBeLessThanOrEqual(c.probability);
    }
    for (const c of vectors.crossovers) {
      const s = partitionSelector({ epsilon: c.epsilon, delta: c.delta, maxPartitionsContributed: c.maxPartitionsContributed });
      expect(s.parameters.firstCrossover).toBe(c.firstCrossover);
      expect(s.parameters.alwaysKeptFrom).toBe(c.secondCrossover + 1);
      expect(s.dropProbability(c.secondCrossover)).toBeGreaterThan(0);
      expect(s.probability(c.secondCrossover + 1)).toBe(1);
    }
  });

  it('is 0 at n = 0, monotone, p(1) <= δ/L0, reaches 1, and meets both constraints with (ε/L0, δ/L0)', () => {
    for (const epsilon of [0.01, 0.1, 1, 5, 20]) {
      for (const delta of [1e-12, 1e-8, 1e-5, 0.01, 0.3]) {
        for (const l0 of [1, 3, 50]) {
          const s = partitionSelector({ epsilon, delta, maxPartitionsContributed: l0 });
          const p = (n: number) => s.probability(n);
          const end = s.parameters.alwaysKeptFrom;
          expect(p(0)).toBe(0);
          expect(p(1)).toBeLessThanOrEqual(delta / l0);
          expect(p(end)).toBe(1);
          expect(s.dropProbability(end - 1)).toBeGreaterThan(0);
          expect(s.dropProbability(end)).toBe(0);
          for (let n = 0; n < end + 2; n++) expect(p(n + 1)).toBeGreaterThanOrEqual(p(n));
          expect(constraintViolations(p, (n) => s.dropProbability(n), epsilon / l0, delta / l0, Math.min(end + 2, 200_000)), `${epsilon} ${delta} ${l0}`).toEqual([]);
        }
      }
    }
  });

  it('meets the constraints for random budgets (fast-check)', () => {
    fc.assert(
      fc.property(
        fc.double({ min: 1e-3, max: 10, noNaN: true }),
        fc.double({ min: 1e-10, max: 0.5, noNaN: true }),
        fc.integer({ min: 1, max: 20 }),
        (epsilon, delta, l0) => {
          const s = partitionSelector({ epsilon, delta, maxPartitionsContributed: l0 });
          const end = s.parameters.alwaysKeptFrom;
          if (end > 100_000) return true; // covered by the loop above for small ε; keeps the run short
          return constraintViolations((n) => s.probability(n), (n) => s.dropProbability(n), epsilon / l0, delta / l0, end + 1).length === 0 && s.probability(end) === 1;
        },
      ),
      { numRuns: 300 },
    );
  });

  it('is near optimal: the constraints are tight on the first piece', () => {
    const s = partitionSelector({ epsilon: 1, delta: 1e-6, maxPartitionsContributed: 1 });
    // p(n+1) = e^ε p(n) + δ on the first piece, up to the 2^-20 slack.
    const n1 = s.parameters.firstCrossover;
    for (let n = 1; n < n1; n++) {
      const p = s.probability(n), q = s.probability(n + 1);
      expect(q / (Math.E * p + 1e-6)).toBeGreaterThan(1 - 4e-6);
    }
  });
});

describe('thresholding strategies', () => {
  it('laplace: p(1) <= δ/L0, monotone, and (ε/L0, δ/L0) constraints', () => {
    for (const [epsilon, delta, l0] of [[1, 1e-5, 1], [0.5, 1e-8, 4], [3, 0.01, 10]] as const) {
      const s = partitionSelector({ strategy: 'laplace', epsilon, delta, maxPartitionsContributed: l0 });
      const p = (n: number) => (n === 0 ? 0 : s.probability(n));
      expect(p(1)).toBeLessThanOrEqual(delta / l0);
      // The threshold is the least that meets δ/L0: n = 2 sees what n = 1 would with a threshold one lower.
      expect(s.probability(2)).toBeGreaterThan(delta / l0);
      const nMax = s.parameters.threshold * 3 + 50;
      for (let n = 1; n < nMax; n++) expect(p(n + 1)).toBeGreaterThanOrEqual(p(n));
      expect(constraintViolations(p, (n) => (n === 0 ? 1 : s.dropProbability(n)), epsilon / l0, delta / l0, nMax)).toEqual([]);
      expect(p(nMax)).toBeGreaterThan(0.999);
    }
  });

  it('gaussian: p(1) <= (δ/2)/L0, monotone; with L0 = 1 the constraints hold for (ε, δ)', () => {
    for (const [epsilon, delta, l0] of [[1, 1e-5, 1], [0.5, 1e-8, 1], [1, 1e-6, 5], [2, 1e-3, 30]] as const) {
      const s = partitionSelector({ strategy: 'gaussian', epsilon, delta, maxPartitionsContributed: l0 });
      const p = (n: number) => (n === 0 ? 0 : s.probability(n));
      expect(p(1)).toBeLessThanOrEqual(delta / 2 / l0);
      expect(s.probability(0)).toBeLessThan(p(1));
      const nMax = s.parameters.threshold * 2 + 10 * s.parameters.sigma;
      for (let n = 1; n < nMax; n++) expect(p(n + 1)).toBeGreaterThanOrEqual(p(n));
      if (l0 === 1) expect(constraintViolations(p, (n) => (n === 0 ? 1 : s.dropProbability(n)), epsilon, delta, nMax)).toEqual([]);
      expect(p(Math.ceil(nMax))).toBeGreaterThan(0.999);
    }
  });

  it('weighted-gaussian: a unit alone in t <= L0 partitions (weight 1/√t each) gets any of them kept with probability <= δ/2', () => {
    for (const [epsilon, delta, l0] of [[1, 1e-5, 1], [1, 1e-6, 10], [0.5, 1e-8, 100]] as const) {
      const s = partitionSelector({ strategy: 'weighted-gaussian', epsilon, delta, maxPartitionsContributed: l0 });
      for (let t = 1; t <= l0; t++) {
        const keepAny = -Math.expm1(t * Math.log1p(-s.probability(1 / Math.sqrt(t))));
        expect(keepAny, `t = ${t}`).toBeLessThanOrEqual(delta / 2);
      }
      let prev = 0;
      for (let w = 0; w < 4 * s.parameters.threshold; w += 0.25) {
        const p = s.probability(w);
        expect(p).toBeGreaterThanOrEqual(prev);
        prev = p;
      }
      expect(s.probability(s.parameters.threshold)).toBeCloseTo(0.5, 9);
      expect(Number.isInteger(s.probability(0.5))).toBe(false); // real weights are accepted
    }
  });

  it('unitsNeeded is the least n reaching the level', () => {
    for (const strategy of ['truncated-geometric', 'laplace', 'gaussian', 'weighted-gaussian'] as const) {
      const s = partitionSelector({ strategy, epsilon: 1, delta: 1e-5, maxPartitionsContributed: 2 });
      for (const level of [0.1, 0.5, 0.9, 0.999]) {
        const n = s.unitsNeeded(level);
        expect(s.probability(n)).toBeGreaterThanOrEqual(level);
        if (n > 0) expect(s.probability(n - 1)).toBeLessThan(level);
      }
    }
  });
});

describe('keep matches probability (seeded, each check at two-sided 1e-6)', () => {
  const cases: [PartitionSelectionStrategy, number[]][] = [
    ['truncated-geometric', [1, 3, 6, 8, 10]],
    ['laplace', [5, 12, 15, 18, 25]],
    ['gaussian', [5, 12, 15, 18, 25]],
    ['weighted-gaussian', [2, 5.5, 8, 10]],
  ];
  for (const [strategy, ns] of cases) {
    it(strategy, () => {
      const s = partitionSelector({ strategy, epsilon: 0.5, delta: 0.02, maxPartitionsContributed: 1 });
      const rng = seededRng(61);
      const trials = 20_000;
      for (const n of ns) {
        const p = s.probability(n);
        let kept = 0;
        for (let i = 0; i < trials; i++) if (s.keep(n, rng)) kept++;
        const tol = z * Math.sqrt(Math.max(p * (1 - p), 1 / trials) / trials);
        expect(Math.abs(kept / trials - p), `${strategy} n = ${n}: ${kept / trials} vs ${p}`).toBeLessThanOrEqual(tol);
      }
    });
  }

  it('keep(0) never keeps under the truncated geometric; beyond the second crossover always keeps', () => {
    const s = partitionSelector({ epsilon: 0.5, delta: 0.02, maxPartitionsContributed: 1 });
    const rng = seededRng(3);
    for (let i = 0; i < 1000; i++) {
      expect(s.keep(0, rng)).toBe(false);
      expect(s.keep(15, rng)).toBe(true);
    }
  });

  it('coinWithProbability has exactly the probability of a double, ties included', () => {
    const rng = seededRng(4);
    for (const p of [0.3, 1e-3, 0.999]) {
      let n = 0;
      const trials = 50_000;
      for (let i = 0; i < trials; i++) if (coinWithProbability(p, rng)) n++;
      expect(Math.abs(n / trials - p)).toBeLessThanOrEqual(z * Math.sqrt((p * (1 - p)) / trials));
    }
    expect(coinWithProbability(0, rng)).toBe(false);
    expect(coinWithProbability(1, rng)).toBe(true);
  });
});

describe('guarantee, event and input checks', () => {
  it('states (ε, δ) and an epsilon-delta event named after the strategy', () => {
    const s = partitionSelector({ strategy: 'gaussian', epsilon: 1, delta: 1e-6, maxPartitionsContributed: 3 });
    expect(s.guarantee).toEqual({ kind: 'approx', epsilon: 1, delta: 1e-6 });
    expect(s.event).toEqual({ type: 'epsilon-delta', epsilon: 1, delta: 1e-6, name: 'partition-selection:gaussian' });
    expect(partitionSelector({ epsilon: 1, delta: 1e-6, maxPartitionsContributed: 1 }).strategy).toBe('truncated-geometric');
  });

  it('refuses δ = 0, δ = 1, unknown strategies and options', () => {
    for (const bad of [
      { epsilon: 1, delta: 0, maxPartitionsContributed: 1 },
      { epsilon: 1, delta: 1, maxPartitionsContributed: 1 },
      { epsilon: 1, delta: 1e-5, maxPartitionsContributed: 0 },
      { epsilon: 1, delta: 1e-5, maxPartitionsContributed: 1, strategy: 'magic' },
      { epsilon: 1, delta: 1e-5, maxPartitionsContributed: 1, threshold: 3 },
    ])
      expect(() => partitionSelector(bad as never)).toThrow(/expected|unknown/);
  });

  it('passes the type-confusion battery', async () => {
    const valid = { epsilon: 1, delta: 1e-5, maxPartitionsContributed: 2 };
    const sel = partitionSelector(valid);
    const wsel = partitionSelector({ ...valid, strategy: 'weighted-gaussian' });
    const fail = [
      ...(await confusionFailures('partitionSelector', (o) => partitionSelector(o), () => [valid])),
      ...(await confusionFailures(
        'partitionSelector fields',
        (e, d, l, s) => partitionSelector({ epsilon: e, delta: d, maxPartitionsContributed: l, strategy: s }),
        () => [1, 1e-5, 2, 'laplace'],
        { accept: { 0: ['fraction', 'huge'], 1: ['fraction'], 3: ['undefined'] } },
      )),
      ...(await confusionFailures('probability', (n) => sel.probability(n), () => [3])),
      ...(await confusionFailures('keep', (n, r) => sel.keep(n, r), () => [3, seededRng(1)], { accept: { 1: ['undefined'] } })),
      ...(await confusionFailures('weighted probability', (w) => wsel.probability(w), () => [1.5], { accept: { 0: ['-0', 'fraction', 'huge'] } })),
      ...(await confusionFailures('unitsNeeded', (l) => sel.unitsNeeded(l), () => [0.9], { accept: { 0: ['fraction'] } })),
    ];
    expect(fail).toEqual([]);
  });
});
