import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { seededRng } from '../../../src/core/index.ts';
import { QUANTILE_TREE_ALPHA, QuantileTree, releaseQuantiles } from '../../../src/dp/stats/quantiles.ts';
import { confusionFailures } from '../../_battery.ts';

const noNoise = { epsilon: 1e15, maxPartitionsContributed: 1, maxContributionsPerPartition: 1 };

describe('QuantileTree', () => {
  it('without noise, quantiles are within one leaf of the exact ones (fast-check)', () => {
    fc.assert(
      fc.property(
        // Below 200 rows every non-empty node holds more than α of its siblings' total, so the α filter is inert.
        fc.array(fc.double({ min: -50, max: 150, noNaN: true }), { minLength: 1, maxLength: 199 }),
        fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { minLength: 1, maxLength: 5 }),
        fc.integer({ min: 2, max: 16 }),
        fc.integer({ min: 1, max: 4 }),
        (xs, qs, branching, height) => {
          const tree = new QuantileTree({ lower: 0, upper: 100, branching, height });
          for (const x of xs) tree.add(x);
          const sorted = xs.map((x) => Math.min(100, Math.max(0, x))).sort((a, b) => a - b);
          const width = 100 / tree.leaves;
          const { values } = releaseQuantiles([tree], qs, { ...noNoise, rng: seededRng(1) });
          return qs.every((q, i) => {
            const exact = sorted[Math.max(0, Math.ceil(q * sorted.length) - 1)];
            return Math.abs(values[0][i] - exact) <= width * (1 + 1e-9);
          });
        },
      ),
      { numRuns: 300 },
    );
  });

  it('merging two halves gives the tree of the whole; JSON round-trips', () => {
    const rng = seededRng(2);
    const whole = new QuantileTree({ lower: 0, upper: 1 });
    const a = new QuantileTree({ lower: 0, upper: 1 });
    const b = new QuantileTree({ lower: 0, upper: 1 });
    for (let i = 0; i < 5000; i++) {
      const x = rng.uniformInt(1 << 30) / (1 << 29) - 0.5; // some outside [0, 1]
      whole.add(x);
      (i % 3 === 0 ? a : b).add(x);
    }
    a.merge(b);
    expect(a.toJSON()).toEqual(whole.toJSON());
    expect(a.count).toBe(5000);
    const back = QuantileTree.fromJSON(JSON.parse(JSON.stringify(whole)));
    expect(back.toJSON()).toEqual(whole.toJSON());
    expect(back.clamped).toBe(whole.clamped);
    expect(whole.size).toBeLessThanOrEqual(5000);
  });

  it('counts clamped values and keeps them at the bounds', () => {
    const t = new QuantileTree({ lower: 10, upper: 20, height: 2, branching: 4 });
    for (const x of [5, 10, 15, 20, 25, 30]) t.add(x);
    expect(t.clamped).toBe(3);
    expect(t.count).toBe(6);
    expect(t.entries()).toEqual([[0, 2], [8, 1], [15, 3]]);
    const { values } = releaseQuantiles([t], [0, 1], noNoise);
    expect(values[0][0]).toBeGreaterThanOrEqual(10);
    expect(values[0][1]).toBeLessThanOrEqual(20);
  });

  it('refuses non-finite values, other shapes, and malformed JSON', () => {
    const t = new QuantileTree({ lower: 0, upper: 1 });
    for (const v of [NaN, Infinity, -Infinity]) expect(() => t.add(v)).toThrow(/value/);
    expect(() => t.merge(new QuantileTree({ lower: 0, upper: 2 }))).toThrow(/same shape/);
    expect(() => t.merge(new QuantileTree({ lower: 0, upper: 1, height: 3 }))).toThrow(/same shape/);
    expect(() => t.merge(t)).toThrow(/different tree/);
    t.add(0.5);
    const good = t.toJSON();
    for (const bad of [
      { ...good, count: 2 },
      { ...good, version: 2 },
      { ...good, leaves: [[t.leaves, 1]] },
      { ...good, leaves: [[0, 0]], count: 0 },
      { ...good, clamped: 5 },
      { ...good, extra: 1 },
      { ...good, leaves: 'x' },
    ])
      expect(() => QuantileTree.fromJSON(bad)).toThrow(/json/);
  });
});

describe('releaseQuantiles', () => {
  it('states the guarantee and the event the accountant composes', () => {
    const t = new QuantileTree({ lower: 0, upper: 1 });
    const lap = releaseQuantiles([t], [0.5], { epsilon: 2, maxPartitionsContributed: 3, maxContributionsPerPartition: 5 });
    expect(lap.guarantee).toEqual({ kind: 'pure', epsilon: 2 });
    expect(lap.event).toEqual({ type: 'discrete-laplace', a: 2 / 60, sensitivity: 60 });
    expect(lap.noise).toEqual({ distribution: 'discrete-laplace', scale: 30 });
    const g1 = releaseQuantiles([t], [0.5], { rho: 0.5, maxPartitionsContributed: 3, maxContributionsPerPartition: 1 });
    expect(g1.guarantee).toEqual({ kind: 'zcdp', rho: 0.5 });
    expect(g1.event).toEqual({ type: 'self-composed', count: 12, event: { type: 'discrete-gaussian', sigma: Math.sqrt(12), sensitivity: 1 } });
    const g2 = releaseQuantiles([t], [0.5], { rho: 0.5, maxPartitionsContributed: 3, maxContributionsPerPartition: 2 });
    expect(g2.event).toEqual({ type: 'zcdp', rho: 0.5 });
    expect(g2.noise.scale).toBeCloseTo(Math.sqrt(48), 12);
    expect(() => releaseQuantiles([t], [0.5], { epsilon: 1, rho: 1, maxPartitionsContributed: 1, maxContributionsPerPartition: 1 })).toThrow(/exactly one/);
  });

  it('outputs are non-decreasing in q for every tree, whatever the order asked', () => {
    const rng = seededRng(5);
    const trees = Array.from({ length: 20 }, (_, g) => {
      const t = new QuantileTree({ lower: 0, upper: 100 });
      for (let i = 0; i < 50 * g; i++) t.add(rng.uniformInt(10_000) / 100);
      return t;
    });
    const qs = [0.9, 0.1, 0.5, 0.25, 0.75, 0, 1, 0.5001];
    const { values } = releaseQuantiles(trees, qs, { epsilon: 0.5, maxPartitionsContributed: 2, maxContributionsPerPartition: 1, rng });
    const order = qs.map((_, i) => i).sort((a, b) => qs[a] - qs[b]);
    for (const v of values) {
      for (let k = 1; k < order.length; k++) expect(v[order[k]]).toBeGreaterThanOrEqual(v[order[k - 1]]);
      for (const x of v) expect(x >= 0 && x <= 100).toBe(true);
    }
  });

  it('the median of 10,000 uniform values is within the computed error bound (seeded; bound holds with probability >= 1 - 1e-6 per release)', () => {
    // Bound. Let m bound |noise| on every node a descent reads (at most b·h = 64 per quantile);
    // the discrete Gaussian is sub-Gaussian with variance proxy σ² (CKS20), so
    // P(|Y| > m) <= 2 exp(-m²/2σ²), and m = σ·sqrt(2 ln(2·64/1e-6)) gives the union bound 1e-6.
    // At a level, a child's corrected noisy count is within e of its true count, where
    // e = m + the largest true count a child could have and still fall under the α filter
    // (t < α(parent total + b·m) + m). Tracking the target rank down the tree (see
    // src/dp/stats/quantiles.ts): the rank error is at most b·e₁ at the root, b·e_ℓ + b·e_{ℓ+1} + e_ℓ
    // per level step, and the leaf's own count plus (b + 1)·e_h at the end.
    const rho = 0.5, b = 16, h = 4, n = 10_000;
    const sigma = Math.sqrt(h / (2 * rho));
    const m = Math.ceil(sigma * Math.sqrt(2 * Math.log((2 * b * h) / 1e-6)));
    const rng = seededRng(6);
    const xs = Array.from({ length: n }, () => rng.uniformInt(2 ** 40) / 2 ** 40);
    const tree = new QuantileTree({ lower: 0, upper: 1 });
    for (const x of xs) tree.add(x);
    // True node counts per level, from the leaves.
    const levels: Map<number, number>[] = Array.from({ length: h + 1 }, () => new Map());
    for (const [leaf, c] of tree.entries())
      for (let l = h, node = leaf; l >= 0; l--, node = Math.floor(node / b)) levels[l].set(node, (levels[l].get(node) ?? 0) + c);
    const e = [0];
    for (let l = 1; l <= h; l++) {
      let worst = 0;
      for (const [parent, total] of levels[l - 1]) {
        const cut = QUANTILE_TREE_ALPHA * (total + b * m) + m;
        for (let j = 0; j < b; j++) {
          const t = levels[l].get(parent * b + j) ?? 0;
          if (t < cut) worst = Math.max(worst, t);
        }
      }
      e.push(m + worst);
    }
    let rankError = b * e[1] + (b + 1) * e[h] + Math.max(...levels[h].values());
    for (let l = 1; l < h; l++) rankError += b * e[l] + b * e[l + 1] + e[l];
    expect(rankError).toBeLessThan(n / 4); // the bound says something
    const sorted = [...xs].sort((a, c) => a - c);
    const leaf = 1 / tree.leaves;
    const lo = sorted[Math.max(0, Math.floor(n / 2 - rankError))] - leaf;
    const hi = sorted[Math.min(n - 1, Math.ceil(n / 2 + rankError))] + leaf;
    let worstError = 0;
    for (let r = 0; r < 20; r++) {
      const v = releaseQuantiles([tree], [0.5], { rho, maxPartitionsContributed: 1, maxContributionsPerPartition: 1, rng }).values[0][0];
      expect(v).toBeGreaterThanOrEqual(lo);
      expect(v).toBeLessThanOrEqual(hi);
      worstError = Math.max(worstError, Math.abs(v - sorted[n / 2]));
    }
    expect(worstError).toBeLessThan(hi - lo);
  });

  it('passes the type-confusion battery', async () => {
    const tree = () => {
      const t = new QuantileTree({ lower: 0, upper: 1 });
      t.add(0.5);
      return t;
    };
    const fail = [
      ...(await confusionFailures('QuantileTree', (lo, hi, h, br) => new QuantileTree({ lower: lo, upper: hi, height: h, branching: br }), () => [0, 1, 3, 4], {
        accept: { 0: ['-0', 'negative', 'fraction'], 1: ['fraction', 'huge'], 2: ['undefined'], 3: ['undefined'] },
      })),
      ...(await confusionFailures('QuantileTree options', (o) => new QuantileTree(o), () => [{ lower: 0, upper: 1 }])),
      ...(await confusionFailures('add', (v) => tree().add(v), () => [0.5], { accept: { 0: ['-0', 'negative', 'fraction', 'huge'] } })),
      ...(await confusionFailures('merge', (o) => tree().merge(o), () => [tree()])),
      ...(await confusionFailures('fromJSON', (j) => QuantileTree.fromJSON(j), () => [tree().toJSON()])),
      ...(await confusionFailures(
        'releaseQuantiles',
        (ts, qs, e, l0, linf, r) => releaseQuantiles(ts, qs, { epsilon: e, maxPartitionsContributed: l0, maxContributionsPerPartition: linf, rng: r }),
        () => [[tree()], [0.5], 1, 1, 1, seededRng(1)],
        { accept: { 2: ['fraction', 'huge'], 5: ['undefined'] } },
      )),
      ...(await confusionFailures('releaseQuantiles options', (o) => releaseQuantiles([tree()], [0.5], o), () => [
        { rho: 1, maxPartitionsContributed: 1, maxContributionsPerPartition: 1 },
      ])),
    ];
    expect(fail).toEqual([]);
  });
});
