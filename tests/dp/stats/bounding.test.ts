import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { seededRng } from '../../../src/core/random.ts';
import { ContributionBounder, unitShard, type Contribution } from '../../../src/dp/stats/bounding.ts';
import { confusionFailures } from '../../_battery.ts';
import { chiSquare, chiSquareCritical } from '../../_stats.ts';

type Row = [unit: string, group: string, value: number];

function bound(rows: readonly Row[], l0: number, linf: number, seed: number, values = true) {
  const b = new ContributionBounder({ maxGroupsPerUnit: l0, maxRowsPerGroup: linf, values, rng: seededRng(seed) });
  for (const [u, g, v] of rows) b.add(u, g, v);
  const counts = b.counts;
  const units: (readonly Contribution[])[] = [];
  const names: string[] = [];
  b.drain((c, u) => {
    units.push(c);
    names.push(u);
  });
  return { counts, units, names };
}

const rowsArb = fc.array(
  fc.tuple(fc.constantFrom('a', 'b', 'c', 'dd', 'é'), fc.constantFrom('x', 'y', 'z', 'w', 'v', '0', ''), fc.integer({ min: -5, max: 5 })),
  { maxLength: 200 },
);

describe('ContributionBounder', () => {
  it('keeps at most L0 groups per unit and Linf rows per group, and accounts for every row', () => {
    fc.assert(
      fc.property(rowsArb, fc.integer({ min: 1, max: 4 }), fc.integer({ min: 1, max: 4 }), fc.nat(), (rows, l0, linf, seed) => {
        const { counts, units } = bound(rows, l0, linf, seed);
        let kept = 0;
        for (const cs of units) {
          expect(cs.length).toBeLessThanOrEqual(l0);
          expect(new Set(cs.map((c) => c.group)).size).toBe(cs.length);
          for (const c of cs) {
            expect(c.rows).toBeGreaterThanOrEqual(1);
            expect(c.rows).toBeLessThanOrEqual(linf);
            expect(c.values).toHaveLength(c.rows);
            kept += c.rows;
          }
        }
        expect(counts.rows).toBe(rows.length);
        expect(kept + counts.rowsOverGroupLimit + counts.rowsOverRowLimit).toBe(rows.length);
        expect(units.length).toBe(new Set(rows.map((r) => r[0])).size);
      }),
    );
  });

  it('chooses the same groups whatever the row order (a bottom-L0 sample under a fixed key)', () => {
    fc.assert(
      fc.property(rowsArb, fc.integer({ min: 1, max: 3 }), fc.nat(), (rows, l0, seed) => {
        const kept = (rs: readonly Row[]) =>
          bound(rs, l0, 1000, seed)
            .units.map((cs) => cs.map((c) => c.group).sort().join('|'))
            .sort();
        expect(kept([...rows].reverse())).toEqual(kept(rows));
        // Every row of a kept group is kept when Linf is not binding, and a
        // unit keeps min(L0, its distinct groups) groups.
        const { units, names } = bound(rows, l0, 1000, seed);
        units.forEach((cs, i) => {
          const mine = rows.filter((r) => r[0] === names[i]);
          expect(cs.length).toBe(Math.min(l0, new Set(mine.map((r) => r[1])).size));
          for (const c of cs) expect(c.rows).toBe(mine.filter((r) => r[1] === c.group).length);
        });
      }),
    );
  });

  it('keeps each of a unit\'s groups with probability L0/k, even when one group comes first with many rows', () => {
    // 5 distinct groups, L0 = 2: each is kept with probability 2/5 (chi-square at 1e-6).
    const groups = ['g0', 'g1', 'g2', 'g3', 'g4'];
    const rows: Row[] = [];
    for (let i = 0; i < 50; i++) rows.push(['u', 'g0', 1]);
    for (const g of groups.slice(1)) rows.push(['u', g, 1]);
    const trials = 3000;
    const kept = new Array(5).fill(0);
    for (let t = 0; t < trials; t++) {
      const { units } = bound(rows, 2, 1, 1000 + t, false);
      for (const c of units[0]) kept[groups.indexOf(c.group)]++;
    }
    const expected = new Array(5).fill((trials * 2) / 5);
    expect(chiSquare(kept, expected)).toBeLessThan(chiSquareCritical(4, '1e-6'));
  });

  it('samples Linf of a group\'s rows uniformly (reservoir)', () => {
    const rows: Row[] = Array.from({ length: 10 }, (_, i) => ['u', 'g', i] as Row);
    const trials = 3000;
    const kept = new Array(10).fill(0);
    for (let t = 0; t < trials; t++) {
      const { units } = bound(rows, 1, 3, 5000 + t);
      for (const v of units[0][0].values!) kept[v]++;
    }
    expect(chiSquare(kept, new Array(10).fill((trials * 3) / 10))).toBeLessThan(chiSquareCritical(9, '1e-6'));
  });

  it('refuses an evicted group when it comes back, and counts its rows as over the group limit', () => {
    // With L0 = 1, whichever group has the lower priority wins; the loser's rows are all dropped.
    const rows: Row[] = [['u', 'a', 1], ['u', 'b', 2], ['u', 'a', 3], ['u', 'b', 4], ['u', 'a', 5]];
    const { units, counts } = bound(rows, 1, 10, 7);
    const [c] = units[0];
    expect(c.rows).toBe(c.group === 'a' ? 3 : 2);
    expect(counts.rowsOverGroupLimit).toBe(c.group === 'a' ? 2 : 3);
    expect(counts.rowsOverRowLimit).toBe(0);
  });

  it('tracks no values when none are needed', () => {
    const { units } = bound([['u', 'g', 1], ['u', 'g', 2]], 1, 2, 1, false);
    expect(units[0][0]).toEqual({ group: 'g', rows: 2, values: null });
  });

  it('refuses bad caps', async () => {
    const make = (l0: unknown, linf: unknown, values: unknown, rng: unknown) =>
      new ContributionBounder({ maxGroupsPerUnit: l0, maxRowsPerGroup: linf, values, rng } as never);
    expect(await confusionFailures('ContributionBounder', make, () => [1, 1, true, seededRng(1)], { accept: { 2: ['boolean'] } })).toEqual([]);
    expect(await confusionFailures('ContributionBounder options', (o) => new ContributionBounder(o as never), () => [{ maxGroupsPerUnit: 1, maxRowsPerGroup: 1, values: true, rng: seededRng(1) }])).toEqual([]);
  });
});

describe('unitShard', () => {
  it('is stable and spreads units evenly', () => {
    expect(unitShard('alice@example.com', 8)).toBe(unitShard('alice@example.com', 8));
    const n = 8, counts = new Array(n).fill(0);
    for (let i = 0; i < 40_000; i++) counts[unitShard(`user${i}`, n)]++;
    expect(chiSquare(counts, new Array(n).fill(40_000 / n))).toBeLessThan(chiSquareCritical(n - 1, '1e-6'));
  });
});
