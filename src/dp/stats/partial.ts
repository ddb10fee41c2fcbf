/**
 * The exact, bounded aggregates of one run before any noise: the state a shard
 * emits and a merge adds up. Merging the partials of shards that split the
 * privacy units between them gives the state one run over all the data would
 * have (bounding is per unit, so a unit's contribution does not depend on the
 * other units), and noise is added once, at release.
 *
 * Sums are kept in fixed point: each clamped value becomes an integer number
 * of quanta (2^-20 of the half-range, round to nearest), so sums are exact
 * integers, independent of the order rows arrive in or shards are merged
 * (floating-point sums are not, and their rounding can leak; Mironov 2012,
 * Casacuberta et al. 2022).
 *
 * A partial holds exact statistics of the data: it is as sensitive as the
 * rows. Keep it where the rows are allowed to be.
 */
import { ConfideError, describe } from '../../core/errors.ts';
import { aobject } from '../../core/assert.ts';
import { canonicalJson } from '../budget/_canonical.ts';
import type { BoundingCounts, Contribution } from './bounding.ts';
import { QuantileTree } from './quantiles.ts';
import { bucketIndex, queryFromJson, type NormalizedQuery } from './query.ts';
import type { Malformed } from './reader.ts';

export const PARTIAL_FORMAT = 'confide-stats-partial';
export const PARTIAL_VERSION = 1;
/** Quanta per half-range: a value is stored to 2^-20 of (upper - lower)/2. */
const QUANTUM_BITS = 20;
const MAX_EXACT = 2 ** 53;

/** The exact aggregates of one group over bounded contributions. */
export interface GroupState {
  /** Distinct units contributing (each counted once). */
  units: number;
  /** Σ over units of 1/√k, k the unit's number of groups (weighted partition selection). */
  weight: number;
  /** Rows (at most Linf per unit). */
  count: number;
  /** Σ (x - mid), in quanta of `sumQuantum`. */
  sum: number;
  /** Σ ((x - mid)² - h²/2), in quanta of `sumsqQuantum` (h the half-range). */
  sumsq: number;
  histogram: number[] | null;
  tree: QuantileTree | null;
}

export interface InputSummary {
  records: number;
  /** Lines or records that could not be read or lacked a field: counted, with the first samples. */
  malformed: number;
  samples: Malformed[];
  files: number;
  skippedFiles: string[];
  bytes: number;
}

export interface StatsPartial {
  readonly query: NormalizedQuery;
  /** The unit shard this run kept (index of count), or null when it kept every unit it read. */
  readonly shard: { readonly index: number; readonly count: number } | null;
  readonly input: InputSummary;
  readonly bounding: BoundingCounts & {
    /** Rows whose group is not in the public list (dropped before bounding). */
    rowsOutsideGroups: number;
    /** Kept values that were outside the bounds and clamped. */
    clamped: number;
  };
  readonly groups: Map<string, GroupState>;
}

/** The fixed-point scales of a query's value field. */
export function valueScales(query: NormalizedQuery): { mid: number; half: number; sumQuantum: number; sumsqQuantum: number } {
  const [lo, hi] = query.bounds ?? [0, 1];
  const mid = lo / 2 + hi / 2, half = hi / 2 - lo / 2;
  return {
    mid,
    half,
    sumQuantum: 2 ** (Math.ceil(Math.log2(half)) - QUANTUM_BITS),
    sumsqQuantum: 2 ** (Math.ceil(Math.log2((half * half) / 2)) - QUANTUM_BITS),
  };
}

function newGroup(query: NormalizedQuery): GroupState {
  const agg = query.aggregations;
  return {
    units: 0,
    weight: 0,
    count: 0,
    sum: 0,
    sumsq: 0,
    histogram: agg.includes('histogram') ? new Array<number>(query.buckets!.length - 1).fill(0) : null,
    tree: agg.includes('quantiles') ? new QuantileTree({ lower: query.bounds![0], upper: query.bounds![1] }) : null,
  };
}

function overflow(field: string): never {
  throw new ConfideError('E_OVERFLOW', `the exact ${field} of a group exceeds 2^53 quanta; split the input into shards`, { field });
}

/** An empty partial for `query`, into which `accumulator` adds bounded contributions. */
export function emptyPartial(query: NormalizedQuery, shard: StatsPartial['shard']): StatsPartial {
  return {
    query,
    shard,
    input: { records: 0, malformed: 0, samples: [], files: 0, skippedFiles: [], bytes: 0 },
    bounding: { rows: 0, rowsOverGroupLimit: 0, rowsOverRowLimit: 0, units: 0, rowsOutsideGroups: 0, clamped: 0 },
    groups: new Map(),
  };
}

/** Returns the function that adds one unit's bounded contributions to `partial`. */
export function accumulator(partial: StatsPartial): (contributions: readonly Contribution[]) => void {
  const q = partial.query;
  const [lo, hi] = q.bounds ?? [0, 0];
  const { mid, half, sumQuantum, sumsqQuantum } = valueScales(q);
  const center = (half * half) / 2;
  const tracksValues = q.value !== null;
  const tracksSquares = q.aggregations.includes('variance');
  return (contributions) => {
    const w = 1 / Math.sqrt(contributions.length);
    for (const c of contributions) {
      let g = partial.groups.get(c.group);
      if (g === undefined) partial.groups.set(c.group, (g = newGroup(q)));
      g.units++;
      g.weight += w;
      g.count += c.rows;
      if (!tracksValues) continue;
      for (const raw of c.values!) {
        let x = raw;
        if (x < lo || x > hi) {
          partial.bounding.clamped++;
          x = x < lo ? lo : hi;
        }
        const y = x - mid;
        g.sum += Math.round(y / sumQuantum);
        if (tracksSquares) g.sumsq += Math.round((y * y - center) / sumsqQuantum);
        if (g.histogram) g.histogram[Math.min(bucketIndex(q.buckets!, x), g.histogram.length - 1)]++;
        g.tree?.add(x);
      }
      if (!(Math.abs(g.sum) < MAX_EXACT) || !(Math.abs(g.sumsq) < MAX_EXACT)) overflow('sum');
    }
  };
}

function sameShape(a: StatsPartial, b: StatsPartial): boolean {
  return canonicalJson(a.query, 'query') === canonicalJson(b.query, 'query');
}

/**
 * Adds partials into one. They must come from the same query and hold
 * disjoint sets of privacy units: partials made with `shard` (index of count)
 * prove it when their counts agree and their indices differ; partials made
 * otherwise can be merged only with `assumeDisjointUnits`, the caller's
 * statement that the inputs were split by unit (which the release then records).
 */
export function mergePartials(partials: readonly StatsPartial[], options: { assumeDisjointUnits?: boolean } = {}): StatsPartial {
  if (!Array.isArray(partials) || partials.length === 0)
    throw new ConfideError('E_BAD_INPUT', `"partials" expected a non-empty array, got ${describe(partials)}`, { field: 'partials' });
  const first = partials[0];
  const indices = new Set<number>();
  for (const [i, p] of partials.entries()) {
    if (!sameShape(first, p))
      throw new ConfideError('E_BAD_INPUT', `partial ${i} computed a different query than partial 0; only partials of one query merge`, { field: `partials[${i}]` });
    if (p.shard === null || first.shard === null || p.shard.count !== first.shard.count) {
      if (!options.assumeDisjointUnits)
        throw new ConfideError(
          'E_BAD_INPUT',
          'cannot prove the partials hold disjoint units: make them with --shard i/n (same n), or state that the input was split by unit (assumeDisjointUnits)',
          { field: `partials[${i}].shard` },
        );
    } else if (indices.has(p.shard.index))
      throw new ConfideError('E_BAD_INPUT', `two partials are shard ${p.shard.index}/${p.shard.count}: a unit would count twice`, { field: `partials[${i}].shard` });
    else indices.add(p.shard.index);
  }
  const out = emptyPartial(first.query, null);
  for (const p of partials) {
    out.input.records += p.input.records;
    out.input.malformed += p.input.malformed;
    out.input.files += p.input.files;
    out.input.bytes += p.input.bytes;
    out.input.skippedFiles.push(...p.input.skippedFiles);
    for (const s of p.input.samples) if (out.input.samples.length < 100) out.input.samples.push(s);
    for (const k of ['rows', 'rowsOverGroupLimit', 'rowsOverRowLimit', 'units', 'rowsOutsideGroups', 'clamped'] as const)
      out.bounding[k] += p.bounding[k];
    for (const [key, g] of p.groups) {
      const t = out.groups.get(key);
      if (t === undefined) {
        out.groups.set(key, cloneGroup(g));
        continue;
      }
      t.units += g.units;
      t.weight += g.weight;
      t.count += g.count;
      t.sum += g.sum;
      t.sumsq += g.sumsq;
      if (!(Math.abs(t.sum) < MAX_EXACT) || !(Math.abs(t.sumsq) < MAX_EXACT)) overflow('sum');
      if (t.histogram) for (let i = 0; i < t.histogram.length; i++) t.histogram[i] += g.histogram![i];
      t.tree?.merge(g.tree!);
    }
  }
  return out;
}

function cloneGroup(g: GroupState): GroupState {
  return {
    ...g,
    histogram: g.histogram ? [...g.histogram] : null,
    tree: g.tree ? QuantileTree.fromJSON(g.tree.toJSON()) : null,
  };
}

// ---------------------------------------------------------------------------
// JSON form (the --partial file)

export function partialToJson(p: StatsPartial): object {
  return {
    format: PARTIAL_FORMAT,
    version: PARTIAL_VERSION,
    note: 'exact statistics before noise: as sensitive as the input rows',
    query: p.query,
    shard: p.shard,
    input: p.input,
    bounding: p.bounding,
    groups: [...p.groups].map(([key, g]) => [key, { ...g, tree: g.tree ? g.tree.toJSON() : null }]),
  };
}

function count(o: Record<string, unknown>, key: string, path: string, integer = true): number {
  const v = o[key];
  if (typeof v !== 'number' || !Number.isFinite(v) || (integer && !Number.isSafeInteger(v)) || (integer && key !== 'sum' && key !== 'sumsq' && v < 0))
    throw new ConfideError('E_DECODE', `partial: "${path}.${key}" expected ${integer ? 'an integer' : 'a number'}, got ${describe(v)}`, { field: `${path}.${key}` });
  return v;
}

/** Reads a partial from its JSON form, checking every field (partials travel between machines). */
export function partialFromJson(v: unknown): StatsPartial {
  const o = aobject(v, 'partial');
  if (o.format !== PARTIAL_FORMAT || o.version !== PARTIAL_VERSION)
    throw new ConfideError('E_DECODE', `not a ${PARTIAL_FORMAT} version ${PARTIAL_VERSION} file (format ${describe(o.format)}, version ${describe(o.version)})`, { field: 'partial' });
  let query: NormalizedQuery;
  try {
    query = queryFromJson(o.query);
  } catch (e) {
    throw new ConfideError('E_DECODE', `partial: bad query: ${(e as Error).message}`, { field: 'partial.query', cause: e });
  }
  let shard: StatsPartial['shard'] = null;
  if (o.shard !== null) {
    const s = aobject(o.shard, 'partial.shard');
    const countN = count(s, 'count', 'shard'), index = count(s, 'index', 'shard');
    if (countN < 1 || index >= countN) throw new ConfideError('E_DECODE', 'partial: shard index out of range', { field: 'partial.shard' });
    shard = { index, count: countN };
  }
  const input = aobject(o.input, 'partial.input');
  const bounding = aobject(o.bounding, 'partial.bounding');
  const p = emptyPartial(query, shard);
  for (const k of ['records', 'malformed', 'files', 'bytes'] as const) p.input[k] = count(input, k, 'input');
  if (Array.isArray(input.samples)) p.input.samples = (input.samples as Malformed[]).slice(0, 100);
  if (Array.isArray(input.skippedFiles)) p.input.skippedFiles = (input.skippedFiles as unknown[]).map(String);
  for (const k of ['rows', 'rowsOverGroupLimit', 'rowsOverRowLimit', 'units', 'rowsOutsideGroups', 'clamped'] as const)
    p.bounding[k] = count(bounding, k, 'bounding');
  if (!Array.isArray(o.groups)) throw new ConfideError('E_DECODE', 'partial: "groups" expected an array', { field: 'partial.groups' });
  for (const [i, entry] of (o.groups as unknown[]).entries()) {
    const path = `groups[${i}]`;
    if (!Array.isArray(entry) || entry.length !== 2 || typeof entry[0] !== 'string')
      throw new ConfideError('E_DECODE', `partial: "${path}" expected [key, state]`, { field: path });
    const g = aobject(entry[1], path);
    const state = newGroup(query);
    state.units = count(g, 'units', path);
    state.weight = count(g, 'weight', path, false);
    state.count = count(g, 'count', path);
    state.sum = count(g, 'sum', path);
    state.sumsq = count(g, 'sumsq', path);
    if (state.histogram) {
      const h = g.histogram;
      if (!Array.isArray(h) || h.length !== state.histogram.length || !h.every((x) => Number.isSafeInteger(x) && x >= 0))
        throw new ConfideError('E_DECODE', `partial: "${path}.histogram" expected ${state.histogram.length} counts`, { field: path });
      state.histogram = h as number[];
    }
    if (state.tree) {
      try {
        state.tree = QuantileTree.fromJSON(g.tree);
      } catch (e) {
        throw new ConfideError('E_DECODE', `partial: "${path}.tree": ${(e as Error).message}`, { field: path, cause: e });
      }
    }
    if (p.groups.has(entry[0])) throw new ConfideError('E_DECODE', `partial: group ${JSON.stringify(entry[0])} appears twice`, { field: path });
    p.groups.set(entry[0], state);
  }
  return p;
}
