/**
 * The statistics engine end to end in process: collect (read + bound +
 * aggregate), merge shards, release through the ledger.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfideError } from '../../../src/core/errors.ts';
import { seededRng } from '../../../src/core/random.ts';
import {
  PrivacyLedger,
  collectStats,
  mergePartials,
  normalizeQuery,
  partialFromJson,
  partialToJson,
  releaseStats,
  statsEvent,
  type StatsPartial,
  type StatsQuery,
} from '../../../src/dp/index.ts';
import { confusionFailures } from '../../_battery.ts';
import { zQuantile } from '../../_stats.ts';

let dir: string;
const file = (name: string) => join(dir, name);

function ledger(epsilon = 1000, delta = 1e-3): PrivacyLedger {
  const l = PrivacyLedger.open(':memory:');
  l.setBudget('d', { epsilon, delta }, { method: 'basic', principal: 'test' });
  return l;
}

/** 300 users over 6 domains; user i writes rows to domain (i mod 6), plus a second domain for every third user. */
function corpusRows(): { user: string; domain: string; tokens: number }[] {
  const rows = [];
  for (let i = 0; i < 300; i++) {
    const user = `u${i}`;
    for (let k = 0; k < 1 + (i % 4); k++) rows.push({ user, domain: `d${i % 6}`, tokens: 100 * (i % 6) + k });
    if (i % 3 === 0) rows.push({ user, domain: `d${(i + 1) % 6}`, tokens: 50 });
  }
  return rows;
}

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'confide-stats-'));
  writeFileSync(file('corpus.jsonl'), `${corpusRows().map((r) => JSON.stringify(r)).join('\n')}\n`);
  // A flood: one unit writes 20,000 rows to a group nobody else uses.
  const flood = Array.from({ length: 20_000 }, (_, i) => JSON.stringify({ user: 'mallory', domain: 'secret.example', tokens: i }));
  writeFileSync(file('flood.jsonl'), `${flood.join('\n')}\n${corpusRows().map((r) => JSON.stringify(r)).join('\n')}\n`);
  writeFileSync(
    file('bad.jsonl'),
    ['{"user":"a","domain":"x","tokens":1}', 'not json', '{"domain":"x","tokens":1}', '{"user":"b","domain":"x","tokens":"many"}', '{"user":"c","domain":"x","tokens":"7"}'].join('\n'),
  );
});
afterAll(() => {});

const base: StatsQuery = { unit: 'user', groupBy: 'domain', aggregations: ['count', 'units', 'sum', 'mean', 'variance'], value: 'tokens', bounds: [0, 1000], maxGroupsPerUnit: 2, maxRowsPerGroup: 4 };

describe('collectStats', () => {
  it('computes the exact bounded aggregates (nothing dropped when the caps are loose)', async () => {
    const p = await collectStats([file('corpus.jsonl')], base, { rng: seededRng(1) });
    const rows = corpusRows();
    expect(p.input.records).toBe(rows.length);
    expect(p.bounding.rowsOverGroupLimit + p.bounding.rowsOverRowLimit).toBe(0);
    for (let d = 0; d < 6; d++) {
      const mine = rows.filter((r) => r.domain === `d${d}`);
      const g = p.groups.get(`d${d}`)!;
      expect(g.units).toBe(new Set(mine.map((r) => r.user)).size);
      expect(g.count).toBe(mine.length);
      // Σ(x - mid) in quanta of 2^-20 of the half-range (500 → 2^9): exact for these integers.
      expect(g.sum * 2 ** (9 - 20)).toBe(mine.reduce((s, r) => s + r.tokens - 500, 0));
    }
  });

  it('counts malformed lines and records with missing or non-numeric fields, with file and line', async () => {
    const p = await collectStats([file('bad.jsonl')], base, { rng: seededRng(1) });
    expect(p.input.records).toBe(2); // a and c ("7" is a number in a string, as CSV gives)
    expect(p.input.malformed).toBe(3);
    expect(p.input.samples.map((s) => s.line)).toEqual([2, 3, 4]);
    expect(p.input.samples[1].reason).toMatch(/"user"/);
    expect(p.input.samples[2].reason).toMatch(/"tokens".*non-numeric string/);
    // Reasons name the field and its type, never the value.
    expect(JSON.stringify(p.input.samples)).not.toContain('many');
  });

  it('clamps values into the bounds and counts them', async () => {
    const p = await collectStats([file('corpus.jsonl')], { ...base, bounds: [0, 200] }, { rng: seededRng(1) });
    const over = corpusRows().filter((r) => r.tokens > 200).length;
    expect(p.bounding.clamped).toBe(over);
  });

  it('drops rows outside the public groups before bounding, and counts them', async () => {
    const p = await collectStats([file('corpus.jsonl')], { ...base, publicGroups: ['d0', 'd1', 'nobody'] }, { rng: seededRng(1) });
    expect([...p.groups.keys()].sort()).toEqual(['d0', 'd1']);
    expect(p.bounding.rowsOutsideGroups).toBe(corpusRows().filter((r) => r.domain !== 'd0' && r.domain !== 'd1').length);
  });

  it('groups a numeric field by buckets', async () => {
    const p = await collectStats([file('corpus.jsonl')], { unit: 'user', groupBy: 'tokens', groupBuckets: [100, 300], aggregations: ['count'], maxGroupsPerUnit: 3, maxRowsPerGroup: 4 }, { rng: seededRng(1) });
    const rows = corpusRows();
    expect(p.groups.get('<100')!.count).toBe(rows.filter((r) => r.tokens < 100).length);
    expect(p.groups.get('[100, 300)')!.count).toBe(rows.filter((r) => r.tokens >= 100 && r.tokens < 300).length);
    expect(p.groups.get('>=300')!.count).toBe(rows.filter((r) => r.tokens >= 300).length);
  });
});

describe('partials', () => {
  it('shards by unit, and the merge of the shards is the one-run state', async () => {
    const q: StatsQuery = { ...base, maxGroupsPerUnit: 1 }; // the L0 choice binds for every third user
    const whole = await collectStats([file('corpus.jsonl')], q, { rng: seededRng(9) });
    const shards = await Promise.all([0, 1, 2].map((index) => collectStats([file('corpus.jsonl')], q, { rng: seededRng(9), shard: { index, count: 3 } })));
    expect(shards.reduce((s, p) => s + p.bounding.units, 0)).toBe(whole.bounding.units);
    const merged = mergePartials(shards.map((p) => partialFromJson(JSON.parse(JSON.stringify(partialToJson(p))))));
    const view = (p: StatsPartial) => [...p.groups].sort().map(([k, g]) => [k, g.units, g.count, g.sum, g.sumsq]);
    expect(view(merged)).toEqual(view(whole));
    expect(merged.bounding.rowsOverGroupLimit).toBe(whole.bounding.rowsOverGroupLimit);
    // Every shard reads the whole input; each reports its own units' records, so the merge counts each once.
    expect(merged.input.records).toBe(whole.input.records);
    expect(merged.input.bytes).toBe(whole.input.bytes);
    const bad = await Promise.all([0, 1].map((index) => collectStats([file('bad.jsonl')], base, { rng: seededRng(1), shard: { index, count: 2 } })));
    const one = await collectStats([file('bad.jsonl')], base, { rng: seededRng(1) });
    const m = mergePartials(bad);
    expect([m.input.records, m.input.malformed]).toEqual([one.input.records, one.input.malformed]);
    expect(m.input.samples.map((x) => x.line).sort()).toEqual(one.input.samples.map((x) => x.line).sort());
  });

  it('splits the units over worker threads and merges them into the one-thread state', async () => {
    // L0 and Linf do not bind here, so the state does not depend on the threads' own random keys.
    const single = await collectStats([file('corpus.jsonl')], base, { rng: seededRng(3) });
    let progressed = false;
    const threaded = await collectStats([file('corpus.jsonl')], base, { threads: 3, onProgress: () => (progressed = true) });
    const view = (p: StatsPartial) => [...p.groups].sort().map(([k, g]) => [k, g.units, g.count, g.sum, g.sumsq]);
    expect(view(threaded)).toEqual(view(single));
    expect(threaded.input).toEqual(single.input);
    expect(threaded.bounding).toEqual(single.bounding);
    expect(threaded.shard).toBeNull();
    expect(progressed).toBe(true);
    // Inside an outer shard, the threads split that shard only.
    const outer = await collectStats([file('corpus.jsonl')], base, { shard: { index: 1, count: 2 }, threads: 2 });
    const direct = await collectStats([file('corpus.jsonl')], base, { shard: { index: 1, count: 2 }, rng: seededRng(4) });
    expect(view(outer)).toEqual(view(direct));
    expect(outer.shard).toEqual({ index: 1, count: 2 });
    await expect(collectStats(['-'], base, { threads: 2 })).rejects.toMatchObject({ code: 'E_BAD_INPUT', field: 'threads' });
    await expect(collectStats([file('missing.jsonl')], base, { threads: 2 })).rejects.toMatchObject({ code: 'E_IO' });
  });

  it('refuses to merge what could count a unit twice, or different queries', async () => {
    const a = await collectStats([file('corpus.jsonl')], base, { rng: seededRng(1), shard: { index: 0, count: 2 } });
    const b = await collectStats([file('corpus.jsonl')], base, { rng: seededRng(1), shard: { index: 0, count: 2 } });
    const c = await collectStats([file('corpus.jsonl')], base, { rng: seededRng(1) });
    const d = await collectStats([file('corpus.jsonl')], { ...base, maxRowsPerGroup: 3 }, { rng: seededRng(1), shard: { index: 1, count: 2 } });
    expect(() => mergePartials([a, b])).toThrow(/shard 0\/2/);
    expect(() => mergePartials([a, c])).toThrow(/disjoint/);
    expect(() => mergePartials([a, d])).toThrow(/different query/);
    expect(mergePartials([a, c], { assumeDisjointUnits: true }).input.records).toBe(a.input.records + c.input.records);
  });

  it('reads back only well-formed partial files', () => {
    const bad = (v: unknown) => {
      try {
        partialFromJson(v);
      } catch (e) {
        return (e as ConfideError).code;
      }
      return 'accepted';
    };
    const good = partialToJson({ ...emptyish() }) as Record<string, unknown>;
    expect(bad(good)).toBe('accepted');
    expect(bad({ ...good, version: 2 })).toBe('E_DECODE');
    expect(bad({ ...good, groups: [['x', { units: -1, weight: 0, count: 0, sum: 0, sumsq: 0 }]] })).toBe('E_DECODE');
    expect(bad({ ...good, groups: [['x', { units: 1, weight: 1, count: 1.5, sum: 0, sumsq: 0 }]] })).toBe('E_DECODE');
    expect(bad({ ...good, query: { unit: 'u' } })).toBe('E_DECODE');
    expect(bad(null)).toBe('E_BAD_INPUT');
  });
});

function emptyish(): StatsPartial {
  return {
    query: normalizeQuery({ unit: 'u', groupBy: 'g', aggregations: ['count'] }),
    shard: null,
    input: { records: 0, malformed: 0, samples: [], files: 0, skippedFiles: [], bytes: 0 },
    bounding: { rows: 0, rowsOverGroupLimit: 0, rowsOverRowLimit: 0, units: 0, rowsOutsideGroups: 0, clamped: 0 },
    groups: new Map(),
  };
}

describe('releaseStats', () => {
  it('never releases a group that one unit floods with 20,000 rows', async () => {
    const p = await collectStats([file('flood.jsonl')], { unit: 'user', groupBy: 'domain', aggregations: ['count'], maxGroupsPerUnit: 1, maxRowsPerGroup: 1 }, { rng: seededRng(2) });
    expect(p.groups.get('secret.example')!.units).toBe(1);
    const l = ledger();
    for (let t = 0; t < 200; t++) {
      const r = await releaseStats(p, { epsilon: 1, delta: 1e-6, ledger: l, dataset: 'd', rng: seededRng(100 + t) });
      expect(r.groups.map((g) => g.key)).not.toContain('secret.example');
      // Groups of 45 units or more are kept with probability > 0.9999 at ε = 0.5 (half of the budget).
      for (const [k, g] of p.groups) if (g.units >= 45) expect(r.groups.map((x) => x.key)).toContain(k);
    }
  });

  it('spends first: a release over the budget is refused before anything is drawn', async () => {
    const p = await collectStats([file('corpus.jsonl')], base, { rng: seededRng(1) });
    const l = ledger(1, 1e-6);
    const before = l.history('d').length;
    await expect(releaseStats(p, { epsilon: 2, delta: 1e-7, ledger: l, dataset: 'd' })).rejects.toMatchObject({ code: 'E_BUDGET_EXCEEDED' });
    expect(l.history('d').length).toBe(before);
    const r = await releaseStats(p, { epsilon: 0.5, delta: 1e-7, ledger: l, dataset: 'd' });
    expect(r.receipt.id).toBeGreaterThan(0);
    expect(l.history('d').at(-1)!.laterOutputHash).toBe(r.outputHash);
    expect(l.history('d').at(-1)!.event).toEqual(r.event);
  });

  it('needs δ to select groups privately, and releases every public group, empty or not', async () => {
    const p = await collectStats([file('corpus.jsonl')], base, { rng: seededRng(1) });
    await expect(releaseStats(p, { epsilon: 1, ledger: ledger(), dataset: 'd' })).rejects.toMatchObject({ code: 'E_BAD_INPUT', field: 'delta' });
    const pub = await collectStats([file('corpus.jsonl')], { ...base, publicGroups: ['d0', 'empty'] }, { rng: seededRng(1) });
    const r = await releaseStats(pub, { epsilon: 1, ledger: ledger(), dataset: 'd', rng: seededRng(3) });
    expect(r.groups.map((g) => g.key)).toEqual(['d0', 'empty']);
    expect(r.guarantee).toEqual({ kind: 'pure', epsilon: 1 });
    expect(r.selection).toBeNull();
  });

  it('splits the budget among measurements and selection, and records what ran', async () => {
    const p = await collectStats([file('corpus.jsonl')], base, { rng: seededRng(1) });
    const r = await releaseStats(p, { epsilon: 3, delta: 1e-6, ledger: ledger(), dataset: 'd', rng: seededRng(4) });
    // count, sum, sum of squares, units + selection: five parts of ε = 3.
    expect(r.measurements.map((m) => m.name)).toEqual(['count', 'units', 'sum', 'sumsq']);
    for (const m of r.measurements) expect(m.epsilon).toBeCloseTo(3 / 5, 12);
    expect(r.selection!.epsilon).toBeCloseTo(3 / 5, 12);
    expect(r.guarantee).toEqual({ kind: 'approx', epsilon: 3, delta: 1e-6 });
    expect(r.event.type).toBe('composed');
  });

  it('splits a budget so that its parts never compose to more than it (0.053/3 added thrice is 0.053000000000000005)', async () => {
    const p = await collectStats([file('corpus.jsonl')], { ...base, aggregations: ['count', 'sum'] }, { rng: seededRng(1) });
    expect(0.053 / 3 + 0.053 / 3 + 0.053 / 3).toBeGreaterThan(0.053);
    for (const [epsilon, delta, noise] of [[0.053, 3e-7, 'laplace'], [0.007, 1e-6, 'gaussian'], [0.056, 7e-6, 'gaussian']] as const) {
      const l = PrivacyLedger.open(':memory:');
      l.setBudget('d', { epsilon, delta }, { method: 'basic', principal: 'test' });
      const r = await releaseStats(p, { epsilon, delta, noise, ledger: l, dataset: 'd', rng: seededRng(2) });
      expect(r.receipt.spent).toBeLessThanOrEqual(epsilon);
    }
  });

  it('gives intervals that cover the exact bounded values at their level', async () => {
    // Public groups, so every release has the same six groups; 200 releases × 6 groups × (count, sum, mean).
    const q: StatsQuery = { ...base, publicGroups: ['d0', 'd1', 'd2', 'd3', 'd4', 'd5'] };
    const p = await collectStats([file('corpus.jsonl')], q, { rng: seededRng(1) });
    const { sumQuantumFor } = { sumQuantumFor: 2 ** (9 - 20) };
    const exact = new Map([...p.groups].map(([k, g]) => [k, { count: g.count, sum: g.sum * sumQuantumFor + 500 * g.count, mean: 500 + (g.sum * sumQuantumFor) / g.count, units: g.units }]));
    for (const noise of ['laplace', 'gaussian'] as const) {
      let covered = 0, total = 0;
      const l = ledger(1e9, 0.5);
      for (let t = 0; t < 200; t++) {
        const r = await releaseStats(p, { epsilon: 2, delta: 1e-5, noise, ledger: l, dataset: 'd', level: 0.9, rng: seededRng(1000 * t + 7) });
        for (const g of r.groups) {
          const e = exact.get(g.key)!;
          for (const m of ['count', 'units', 'sum', 'mean'] as const) {
            const [lo, hi] = g.ci[m]!;
            total++;
            if (lo <= e[m] && e[m] <= hi) covered++;
          }
        }
      }
      // Each interval holds with probability >= 0.9; with 4800 of them the rate is at least 0.9 - z·se (one-sided, 1e-6).
      const se = Math.sqrt((0.9 * 0.1) / total);
      expect(covered / total, noise).toBeGreaterThan(0.9 - zQuantile('1e-6') * se);
    }
  });

  it('estimates means and variances close to the truth with a generous budget', async () => {
    const q: StatsQuery = { ...base, publicGroups: ['d0', 'd3'], aggregations: ['mean', 'variance'] };
    const p = await collectStats([file('corpus.jsonl')], q, { rng: seededRng(1) });
    const r = await releaseStats(p, { epsilon: 1e5, ledger: ledger(1e6), dataset: 'd', rng: seededRng(5) });
    const rows = corpusRows();
    for (const g of r.groups) {
      const xs = rows.filter((x) => x.domain === g.key).map((x) => x.tokens);
      const mean = xs.reduce((a, b) => a + b, 0) / xs.length;
      const variance = xs.reduce((a, b) => a + (b - mean) ** 2, 0) / xs.length;
      expect(g.mean).toBeCloseTo(mean, 0);
      expect(g.variance!).toBeGreaterThan(variance - 20);
      expect(g.variance!).toBeLessThan(variance + 20);
      expect(g.count).toBeUndefined();
    }
  });

  it('keeps the top k groups by noisy count', async () => {
    const p = await collectStats([file('corpus.jsonl')], { unit: 'user', groupBy: 'domain', aggregations: ['count'], maxGroupsPerUnit: 2, maxRowsPerGroup: 4 }, { rng: seededRng(1) });
    const r = await releaseStats(p, { epsilon: 100, delta: 1e-6, top: 2, ledger: ledger(), dataset: 'd', rng: seededRng(6) });
    expect(r.released).toBe(6);
    expect(r.groups).toHaveLength(2);
    expect(r.groups[0].count!).toBeGreaterThanOrEqual(r.groups[1].count!);
    // Users i ≡ 3 (mod 4) write 4 rows; d3 and d5 have the most rows.
    const exact = [...p.groups].sort((a, b) => b[1].count - a[1].count).slice(0, 2).map(([k]) => k).sort();
    expect(r.groups.map((g) => g.key).sort()).toEqual(exact);
  });

  it('releases quantiles and histograms with Gaussian noise, and statsEvent names what a release spends', async () => {
    const q: StatsQuery = { unit: 'user', groupBy: 'domain', aggregations: ['count', 'quantiles', 'histogram'], value: 'tokens', bounds: [0, 600], buckets: [0, 200, 400, 600], quantiles: [0.5, 0.9], publicGroups: ['d1', 'd5'], maxGroupsPerUnit: 2, maxRowsPerGroup: 4 };
    const p = await collectStats([file('corpus.jsonl')], q, { rng: seededRng(1) });
    const options = { epsilon: 200, delta: 1e-6, noise: 'gaussian' as const, rng: seededRng(8) };
    const r = await releaseStats(p, { ...options, ledger: ledger(1e6), dataset: 'd' });
    expect(statsEvent(p, { epsilon: 200, delta: 1e-6, noise: 'gaussian' })).toEqual(r.event);
    expect(r.measurements.map((m) => [m.name, m.noise?.distribution])).toEqual([['count', 'discrete-gaussian'], ['histogram', 'discrete-gaussian'], ['quantiles', 'discrete-gaussian']]);
    const rows = corpusRows();
    for (const g of r.groups) {
      const xs = rows.filter((x) => x.domain === g.key).map((x) => x.tokens).sort((a, b) => a - b);
      // d1 holds 100..103 and 50s, d5 holds 500..503 and 50s: the median is within one leaf (600/65536) plus noise.
      expect(Math.abs(g.quantiles!['0.5'] - xs[Math.floor(xs.length / 2)])).toBeLessThan(5);
      expect(g.quantiles!['0.9']).toBeGreaterThanOrEqual(g.quantiles!['0.5']);
      const exact = [0, 0, 0];
      for (const x of xs) exact[Math.min(2, Math.floor(x / 200))]++;
      g.histogram!.forEach((h, i) => expect(Math.abs(h - exact[i])).toBeLessThanOrEqual(g.ci.histogram!));
    }
    expect(await confusionFailures('statsEvent', (o) => statsEvent(p, o as never), () => [{ epsilon: 1, delta: 1e-6 }])).toEqual([]);
  });

  it('refuses bad options with a code', async () => {
    const p = await collectStats([file('corpus.jsonl')], base, { rng: seededRng(1) });
    const l = ledger(1e9, 0.5);
    const call = (epsilon: unknown, delta: unknown, top: unknown, level: unknown) =>
      releaseStats(p, { epsilon, delta, top, level, ledger: l, dataset: 'd', rng: seededRng(1) } as never);
    expect(await confusionFailures('releaseStats', call, () => [1, 1e-6, 3, 0.9], { accept: { 0: ['fraction', 'huge'], 1: ['undefined'], 2: ['undefined'], 3: ['undefined', 'fraction'] } })).toEqual([]);
    expect(await confusionFailures('releaseStats options', (o) => releaseStats(p, o as never), () => [{ epsilon: 1, delta: 1e-6, ledger: l, dataset: 'd' }])).toEqual([]);
    expect(await confusionFailures('releaseStats partial', (x) => releaseStats(x as never, { epsilon: 1, delta: 1e-6, ledger: l, dataset: 'd' }), () => [p])).toEqual([]);
  });

  it('checks queries', async () => {
    const q = (over: Partial<StatsQuery>) => () => normalizeQuery({ ...base, ...over } as StatsQuery);
    expect(q({ aggregations: ['count', 'median' as never] })).toThrow(/unknown aggregation/);
    expect(q({ bounds: [5, 5] })).toThrow(/lower < upper/);
    expect(q({ bounds: undefined })).toThrow(/bounds/);
    expect(q({ aggregations: ['histogram'], buckets: [100, 200] })).toThrow(/cover the bounds/);
    expect(q({ maxGroupsPerUnit: 0 })).toThrow(ConfideError);
    expect(q({ unit: '' })).toThrow(/empty/);
    expect(await confusionFailures('normalizeQuery', (x) => normalizeQuery(x as never), () => [base])).toEqual([]);
    expect(await confusionFailures('collectStats', (i, qq, o) => collectStats(i as never, qq as never, o as never), () => [[file('corpus.jsonl')], base, { rng: seededRng(1) }], { accept: { 2: ['undefined', 'object'] } })).toEqual([]);
  });
});
