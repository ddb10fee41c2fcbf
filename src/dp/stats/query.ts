/**
 * What a statistics run computes: the privacy unit, the grouping, the value
 * and its bounds, the aggregations, and the contribution caps. A query is
 * checked and normalised once; partial states carry the normalised query, so
 * two shards can only be merged when they computed the same thing.
 */
import { ainteger, anumber, aobject, aoptions, astring } from '../../core/assert.ts';
import { ConfideError, describe } from '../../core/errors.ts';

export const AGGREGATIONS = ['count', 'units', 'sum', 'mean', 'variance', 'quantiles', 'histogram'] as const;
/**
 * Per group: `count` rows, `units` distinct privacy units, and over the value
 * field `sum`, `mean`, `variance`, `quantiles` and `histogram` (counts per bucket).
 */
export type Aggregation = (typeof AGGREGATIONS)[number];

export interface StatsQuery {
  /** The field naming the privacy unit (user, sender, author, document). */
  unit: string;
  /** The field whose value is a row's group. */
  groupBy: string;
  /**
   * Bucket edges for a numeric `groupBy` field, ascending: the group of a row
   * is the bucket [e_i, e_i+1) of its value (values below the first edge or
   * from the last on get the open buckets "<e_0" and ">=e_n"). Bucketed
   * groups are known in advance, so they skip partition selection.
   */
  groupBuckets?: readonly number[];
  aggregations: readonly Aggregation[];
  /** The numeric field that sum, mean, variance, quantiles and histogram read. */
  value?: string;
  /** [lower, upper]: values are clamped into it (and the clamped rows counted). */
  bounds?: readonly [number, number];
  /** Quantile ranks in [0, 1] (default 0.25, 0.5, 0.75). */
  quantiles?: readonly number[];
  /** Histogram bucket edges, ascending, covering the bounds: buckets [e_i, e_i+1), the last one closed. */
  buckets?: readonly number[];
  /** L0: groups one unit may contribute to (default 1). */
  maxGroupsPerUnit?: number;
  /** Linf: rows one unit may contribute to one group (default 1). */
  maxRowsPerGroup?: number;
  /**
   * Groups known in advance (a public list): exactly these are released, with
   * no partition selection, including those with no rows; rows of other
   * groups are dropped and counted.
   */
  publicGroups?: readonly string[];
}

/** A checked query with every default filled in; what partial states carry. */
export interface NormalizedQuery {
  readonly unit: string;
  readonly groupBy: string;
  readonly groupBuckets: readonly number[] | null;
  readonly aggregations: readonly Aggregation[];
  readonly value: string | null;
  readonly bounds: readonly [number, number] | null;
  readonly quantiles: readonly number[];
  readonly buckets: readonly number[] | null;
  readonly maxGroupsPerUnit: number;
  readonly maxRowsPerGroup: number;
  /** Unique, in the caller's order; null when groups are selected privately. */
  readonly publicGroups: readonly string[] | null;
}

const VALUE_AGGREGATIONS: ReadonlySet<Aggregation> = new Set(['sum', 'mean', 'variance', 'quantiles', 'histogram']);
const MAX_GROUPS_PER_UNIT = 1 << 16;
const MAX_ROWS_PER_GROUP = 1 << 20;

function bad(field: string, message: string): never {
  throw new ConfideError('E_BAD_INPUT', message, { field });
}

function aedges(v: unknown, field: string): number[] {
  if (!Array.isArray(v) || v.length < 1 || v.length > 100_000) bad(field, `"${field}" expected an array of 1 to 100000 ascending numbers, got ${describe(v)}`);
  const out = v.map((x, i) => anumber(x, `${field}[${i}]`));
  for (let i = 1; i < out.length; i++) if (!(out[i] > out[i - 1])) bad(field, `"${field}" must be strictly ascending (at index ${i})`);
  return out;
}

export function normalizeQuery(query: StatsQuery): NormalizedQuery {
  aobject(query, 'query');
  aoptions(query, 'query', [
    'unit', 'groupBy', 'groupBuckets', 'aggregations', 'value', 'bounds', 'quantiles', 'buckets',
    'maxGroupsPerUnit', 'maxRowsPerGroup', 'publicGroups',
  ]);
  const unit = astring(query.unit, 'unit', 1000);
  const groupBy = astring(query.groupBy, 'groupBy', 1000);
  if (unit === '' || groupBy === '') bad(unit === '' ? 'unit' : 'groupBy', 'field names must not be empty');
  if (!Array.isArray(query.aggregations) || query.aggregations.length === 0)
    bad('aggregations', `"aggregations" expected a non-empty array of ${AGGREGATIONS.join(', ')}, got ${describe(query.aggregations)}`);
  const aggregations = [...new Set(query.aggregations as unknown[])].map((a, i) => {
    if (!(AGGREGATIONS as readonly unknown[]).includes(a)) bad(`aggregations[${i}]`, `unknown aggregation ${describe(a)}; expected one of ${AGGREGATIONS.join(', ')}`);
    return a as Aggregation;
  });
  aggregations.sort((a, b) => AGGREGATIONS.indexOf(a) - AGGREGATIONS.indexOf(b));
  const needsValue = aggregations.some((a) => VALUE_AGGREGATIONS.has(a));
  let value: string | null = null, bounds: [number, number] | null = null;
  if (needsValue) {
    value = astring(query.value, 'value', 1000);
    if (value === '') bad('value', '"value" must not be empty');
    if (!Array.isArray(query.bounds) || query.bounds.length !== 2) bad('bounds', `"bounds" expected [lower, upper] for ${aggregations.filter((a) => VALUE_AGGREGATIONS.has(a)).join(', ')}, got ${describe(query.bounds)}`);
    const lo = anumber(query.bounds[0], 'bounds[0]'), hi = anumber(query.bounds[1], 'bounds[1]');
    if (!(hi > lo)) bad('bounds', `"bounds" expected lower < upper, got [${lo}, ${hi}]`);
    bounds = [lo, hi];
  } else if (query.value !== undefined || query.bounds !== undefined) {
    bad(query.value !== undefined ? 'value' : 'bounds', '"value" and "bounds" apply only to sum, mean, variance, quantiles and histogram');
  }
  let quantiles: number[] = [0.25, 0.5, 0.75];
  if (query.quantiles !== undefined) {
    if (!aggregations.includes('quantiles')) bad('quantiles', '"quantiles" given without the quantiles aggregation');
    if (!Array.isArray(query.quantiles) || query.quantiles.length === 0 || query.quantiles.length > 1000)
      bad('quantiles', `"quantiles" expected 1 to 1000 ranks in [0, 1], got ${describe(query.quantiles)}`);
    quantiles = [...new Set(query.quantiles.map((q, i) => anumber(q, `quantiles[${i}]`, 0, 1)))].sort((a, b) => a - b);
  }
  let buckets: number[] | null = null;
  if (aggregations.includes('histogram')) {
    buckets = aedges(query.buckets, 'buckets');
    if (buckets.length < 2) bad('buckets', '"buckets" expected at least 2 edges');
    // Values are clamped into the bounds first, so edges covering the bounds put every value in a bucket.
    if (buckets[0] > bounds![0] || buckets[buckets.length - 1] < bounds![1])
      bad('buckets', `"buckets" must cover the bounds [${bounds![0]}, ${bounds![1]}] (first edge <= lower, last edge >= upper)`);
  } else if (query.buckets !== undefined) bad('buckets', '"buckets" given without the histogram aggregation');
  const groupBuckets = query.groupBuckets === undefined ? null : aedges(query.groupBuckets, 'groupBuckets');
  let publicGroups: string[] | null = null;
  if (query.publicGroups !== undefined) {
    if (groupBuckets) bad('publicGroups', '"publicGroups" and "groupBuckets" exclude each other (bucketed groups are public already)');
    if (!Array.isArray(query.publicGroups) || query.publicGroups.length === 0 || query.publicGroups.length > 10_000_000)
      bad('publicGroups', `"publicGroups" expected a non-empty array of strings, got ${describe(query.publicGroups)}`);
    // In the caller's order (reports show them so), without repeats.
    publicGroups = [...new Set(query.publicGroups.map((g, i) => astring(g, `publicGroups[${i}]`, 10_000)))];
  } else if (groupBuckets) publicGroups = bucketLabels(groupBuckets);
  return {
    unit,
    groupBy,
    groupBuckets,
    aggregations,
    value,
    bounds,
    quantiles: aggregations.includes('quantiles') ? quantiles : [],
    buckets,
    maxGroupsPerUnit: query.maxGroupsPerUnit === undefined ? 1 : ainteger(query.maxGroupsPerUnit, 'maxGroupsPerUnit', 1, MAX_GROUPS_PER_UNIT),
    maxRowsPerGroup: query.maxRowsPerGroup === undefined ? 1 : ainteger(query.maxRowsPerGroup, 'maxRowsPerGroup', 1, MAX_ROWS_PER_GROUP),
    publicGroups,
  };
}

/** The labels of bucketed groups, in order: "<e0", "[e0, e1)", ..., ">=en". */
export function bucketLabels(edges: readonly number[]): string[] {
  const out = [`<${edges[0]}`];
  for (let i = 0; i + 1 < edges.length; i++) out.push(`[${edges[i]}, ${edges[i + 1]})`);
  out.push(`>=${edges[edges.length - 1]}`);
  return out;
}

/** Index of the bucket [e_i, e_i+1) holding x, -1 below e_0, n-1 at or above e_{n-1} (binary search). */
export function bucketIndex(edges: readonly number[], x: number): number {
  let lo = 0, hi = edges.length; // invariant: edges[lo-1] <= x < edges[hi]
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (edges[mid] <= x) lo = mid + 1;
    else hi = mid;
  }
  return lo - 1;
}

/** Reads a query from untrusted JSON (a partial file): the same checks as `normalizeQuery`. */
export function queryFromJson(v: unknown): NormalizedQuery {
  const o = aobject(v, 'query');
  const q: Record<string, unknown> = {};
  for (const [k, x] of Object.entries(o)) if (x !== null) q[k] = x;
  if (q.groupBuckets !== undefined) delete q.publicGroups;
  if (Array.isArray(q.quantiles) && q.quantiles.length === 0) delete q.quantiles;
  return normalizeQuery(q as unknown as StatsQuery);
}
