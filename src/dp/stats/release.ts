/**
 * From exact bounded aggregates to a DP release, spending from the ledger
 * first. The budget (ε, δ) is split equally among the noisy measurements the
 * query needs and the partition selection (Google's differential-privacy
 * library and PipelineDP split the same way by default):
 *
 *   measurement   when                      L1 sensitivity (Laplace)   L2 (Gaussian)
 *   count         count, mean, variance     L0·Linf                    √L0·Linf
 *   units         units                     L0                         √L0
 *   sum           sum, mean, variance       L0·Linf·h                  √L0·Linf·h        (of x - mid; h = half-range)
 *                 (sum alone: of x itself)  L0·Linf·max(|lo|,|hi|)     √L0·Linf·max(|lo|,|hi|)
 *   sum of sq.    variance                  L0·Linf·h²/2               √L0·Linf·h²/2     (of (x-mid)² - h²/2)
 *   histogram     histogram                 L0·Linf                    √L0·Linf
 *   quantiles     quantiles                 (quantile tree; see quantiles.ts)
 *
 * Neighbouring datasets differ in one privacy unit (add or remove all its
 * rows); bounding makes the sensitivities above true. Mean and variance are
 * post-processing of count and sums (Li et al. 2016, as in Google's
 * BoundedMean); so is a sum when the count is also released (sum = Σ(x-mid) +
 * mid·count, whose noise is smaller than a direct sum's). Top-k by noisy count
 * is post-processing too. With δ, Laplace noise leaves all of δ to the
 * selection; Gaussian noise gets half of it, split among its measurements.
 */
import { anumber, aoneof, aoptions, apositive, ainteger, astring } from '../../core/assert.ts';
import { ConfideError } from '../../core/errors.ts';
import { arng, systemRng, type Rng } from '../../core/random.ts';
import { approx, type Guarantee } from '../guarantee.ts';
import type { PrivacyEvent } from '../accounting/events.ts';
import {
  discreteGaussianMechanism,
  discreteLaplaceMechanism,
  gaussianMechanism,
  laplaceMechanism,
  rhoFor,
  type NoiseDescription,
} from '../mechanisms.ts';
import type { PrivacyLedger, Receipt } from '../budget/ledger.ts';
import { release as spendThenCompute } from '../budget/release.ts';
import { PARTITION_SELECTION_STRATEGIES, partitionSelector, type PartitionSelectionStrategy } from './partition_selection.ts';
import { QuantileTree, releaseQuantiles } from './quantiles.ts';
import { valueScales, type GroupState, type StatsPartial } from './partial.ts';
import type { Aggregation, NormalizedQuery } from './query.ts';

export type StatsNoise = 'laplace' | 'gaussian';

export interface StatsReleaseOptions {
  /** Total ε of this release. */
  epsilon: number;
  /** Total δ: needed for partition selection and Gaussian noise. */
  delta?: number;
  /** 'laplace' (default, pure ε for the measurements) or 'gaussian' (better for many measurements). */
  noise?: StatsNoise;
  /** How unknown groups are selected (default 'truncated-geometric'). */
  selection?: PartitionSelectionStrategy;
  /** Keep only the k groups of largest noisy count (post-processing). */
  top?: number;
  /** Confidence level of the intervals (default 0.95). */
  level?: number;
  ledger: PrivacyLedger;
  dataset: string;
  principal?: string;
  purpose?: string;
  /** Extra words for the ledger's query text (e.g. the input names). */
  note?: string;
  rng?: Rng;
}

export type Interval = readonly [number, number];

/** One released group: noisy values, and intervals that hold each with probability >= level (noise only). */
export interface GroupRelease {
  readonly key: string;
  readonly count?: number;
  readonly units?: number;
  readonly sum?: number;
  readonly mean?: number;
  readonly variance?: number;
  /** Rank → value. */
  readonly quantiles?: Readonly<Record<string, number>>;
  readonly histogram?: readonly number[];
  readonly ci: {
    readonly level: number;
    readonly count?: Interval;
    readonly units?: Interval;
    readonly sum?: Interval;
    readonly mean?: Interval;
    /** Half-width for every bucket. */
    readonly histogram?: number;
  };
}

export interface MeasurementInfo {
  readonly name: 'count' | 'units' | 'sum' | 'sumsq' | 'histogram' | 'quantiles';
  readonly epsilon: number;
  readonly delta: number;
  readonly noise: NoiseDescription | null;
}

export interface StatsRelease {
  readonly query: NormalizedQuery;
  readonly groups: readonly GroupRelease[];
  /** Groups released before top-k. */
  readonly released: number;
  readonly selection: {
    readonly strategy: PartitionSelectionStrategy;
    readonly epsilon: number;
    readonly delta: number;
    /** Units a group needs to be released with probability 1/2 and 0.95. */
    readonly unitsFor50: number;
    readonly unitsFor95: number;
  } | null;
  readonly measurements: readonly MeasurementInfo[];
  readonly guarantee: Guarantee;
  readonly event: PrivacyEvent;
  readonly receipt: Receipt;
  readonly outputHash: string;
  readonly input: StatsPartial['input'];
  readonly bounding: StatsPartial['bounding'];
}

type Measurement = MeasurementInfo['name'];

function measurementsOf(aggs: readonly Aggregation[]): Measurement[] {
  const has = (...a: Aggregation[]) => a.some((x) => aggs.includes(x));
  const out: Measurement[] = [];
  if (has('count', 'mean', 'variance')) out.push('count');
  if (has('units')) out.push('units');
  if (has('sum', 'mean', 'variance')) out.push('sum');
  if (has('variance')) out.push('sumsq');
  if (has('histogram')) out.push('histogram');
  if (has('quantiles')) out.push('quantiles');
  return out;
}

function describeQuery(q: NormalizedQuery, note: string | undefined): string {
  const v = q.value === null ? '' : `(${q.value} in [${q.bounds![0]}, ${q.bounds![1]}])`;
  const groups = q.publicGroups === null ? `${q.groupBy}, selected privately` : `${q.groupBy}, ${q.publicGroups.length} public groups`;
  return `${q.aggregations.join(',')}${v} by ${groups}; unit ${q.unit}, at most ${q.maxGroupsPerUnit} groups and ${q.maxRowsPerGroup} rows per group per unit${note ? `; ${note}` : ''}`;
}

/**
 * The largest share x <= (total - first)/n with first + x + x + ... (n times,
 * added left to right as the accountants add a composition) <= total, so that
 * an equal split never composes back to a hair over the budget it came from.
 */
function fitSplit(first: number, total: number, n: number): number {
  let x = (total - first) / n;
  for (;;) {
    let sum = first;
    for (let i = 0; i < n; i++) sum += x;
    if (sum <= total) return x;
    x *= 1 - 2 ** -52;
  }
}

type PlanOptions = Omit<StatsReleaseOptions, 'ledger' | 'dataset' | 'principal' | 'purpose' | 'note'>;

/** Checks the options and fixes the split, the selector and the event, before any data-dependent step. */
function prepare(partial: StatsPartial, options: PlanOptions) {
  if (typeof partial !== 'object' || partial === null || !(partial.groups instanceof Map))
    throw new ConfideError('E_BAD_INPUT', '"partial" expected a StatsPartial (from collectStats, mergePartials or partialFromJson)', { field: 'partial' });
  const q = partial.query;
  const epsilon = apositive(options?.epsilon, 'epsilon');
  const delta = options.delta === undefined ? 0 : anumber(options.delta, 'delta', 0, 1);
  if (delta >= 1) throw new ConfideError('E_BAD_INPUT', '"delta" expected a number in [0, 1)', { field: 'delta' });
  const noise = aoneof(options.noise ?? 'laplace', 'noise', ['laplace', 'gaussian'] as const);
  const strategy = aoneof(options.selection ?? 'truncated-geometric', 'selection', PARTITION_SELECTION_STRATEGIES);
  const top = options.top === undefined ? undefined : ainteger(options.top, 'top', 1);
  const level = options.level === undefined ? 0.95 : anumber(options.level, 'level', 0, 1, true);
  if (level >= 1) throw new ConfideError('E_BAD_INPUT', '"level" expected a number in (0, 1)', { field: 'level' });
  const rng = options.rng === undefined ? systemRng() : arng(options.rng, 'rng');
  const measurements = measurementsOf(q.aggregations);
  const selecting = q.publicGroups === null;
  if (top !== undefined && !measurements.includes('count') && !measurements.includes('units'))
    throw new ConfideError('E_BAD_INPUT', '"top" ranks groups by noisy count: ask for count or units too', { field: 'top' });
  if (selecting && delta === 0)
    throw new ConfideError('E_BAD_INPUT', 'groups not known in advance are released by partition selection, which needs "delta" > 0; or list the groups (publicGroups)', { field: 'delta' });
  if (noise === 'gaussian' && delta === 0)
    throw new ConfideError('E_BAD_INPUT', 'Gaussian noise needs "delta" > 0', { field: 'delta' });

  // The split: equal ε among measurements and selection; δ to selection (Laplace) or half to it (Gaussian).
  const parts = measurements.length + (selecting ? 1 : 0);
  const eps = fitSplit(0, epsilon, parts);
  const deltaSel = selecting ? (noise === 'gaussian' ? delta / 2 : delta) : 0;
  const deltaEach = noise === 'gaussian' ? fitSplit(deltaSel, delta, measurements.length) : 0;
  const l0 = q.maxGroupsPerUnit, linf = q.maxRowsPerGroup;
  const selector = selecting ? partitionSelector({ strategy, epsilon: eps, delta: deltaSel, maxPartitionsContributed: l0 }) : null;

  const events: PrivacyEvent[] = [];
  if (selector) events.push(selector.event);
  for (const m of measurements)
    events.push({ type: 'epsilon-delta', epsilon: eps, ...(deltaEach > 0 ? { delta: deltaEach } : {}), name: `stats:${m}:${noise}` });
  const event: PrivacyEvent = events.length === 1 ? events[0] : { type: 'composed', events };
  const guarantee = approx(epsilon, selecting || noise === 'gaussian' ? delta : 0);
  const plan: Plan = { measurements, selector, eps, deltaEach, noise, l0, linf, level, top, rng };
  return { plan, event, guarantee, strategy, deltaSel };
}

/**
 * The privacy event a release of `partial` with these options would spend
 * (for checking that a job of several releases fits its budget first, with
 * `PrivacyLedger.preview`).
 */
export function statsEvent(partial: StatsPartial, options: PlanOptions): PrivacyEvent {
  aoptions(options, 'options', ['epsilon', 'delta', 'noise', 'selection', 'top', 'level', 'rng']);
  return prepare(partial, options).event;
}

/**
 * Releases `partial` with differential privacy: spends (ε, δ) from the ledger
 * (refused with E_BUDGET_EXCEEDED before anything is drawn), then selects
 * groups, adds noise and derives means, variances and intervals.
 */
export async function releaseStats(partial: StatsPartial, options: StatsReleaseOptions): Promise<StatsRelease> {
  aoptions(options, 'options', ['epsilon', 'delta', 'noise', 'selection', 'top', 'level', 'ledger', 'dataset', 'principal', 'purpose', 'note', 'rng']);
  const { plan, event, guarantee, strategy, deltaSel } = prepare(partial, options);
  const dataset = astring(options.dataset, 'dataset', 200);
  const done = await spendThenCompute(
    options.ledger,
    {
      dataset,
      event,
      guarantee,
      principal: options.principal ?? 'confide stats',
      purpose: options.purpose ?? 'DP statistics',
      query: describeQuery(partial.query, options.note),
    },
    () => computeRelease(partial, plan),
  );
  const selector = plan.selector;
  return {
    query: partial.query,
    ...done.value,
    selection: selector
      ? { strategy, epsilon: plan.eps, delta: deltaSel, unitsFor50: selector.unitsNeeded(0.5), unitsFor95: selector.unitsNeeded(0.95) }
      : null,
    guarantee,
    event,
    receipt: done.receipt,
    outputHash: done.outputHash,
    input: partial.input,
    bounding: partial.bounding,
  };
}

interface Plan {
  measurements: Measurement[];
  selector: ReturnType<typeof partitionSelector> | null;
  eps: number;
  deltaEach: number;
  noise: StatsNoise;
  l0: number;
  linf: number;
  level: number;
  top: number | undefined;
  rng: Rng;
}

const EMPTY: Omit<GroupState, 'histogram' | 'tree'> = { units: 0, weight: 0, count: 0, sum: 0, sumsq: 0 };

function computeRelease(partial: StatsPartial, plan: Plan): { groups: GroupRelease[]; released: number; measurements: MeasurementInfo[] } {
  const q = partial.query;
  const { eps, deltaEach, noise, l0, linf, level, rng } = plan;
  // Selection first: which groups exist. Public groups are all released, empty or not.
  let keys: string[];
  if (plan.selector) {
    keys = [];
    const weighted = plan.selector.strategy === 'weighted-gaussian';
    for (const k of [...partial.groups.keys()].sort()) {
      const g = partial.groups.get(k)!;
      if (plan.selector.keep(weighted ? g.weight : g.units, rng)) keys.push(k);
    }
  } else keys = [...q.publicGroups!];
  const state = (k: string) => partial.groups.get(k);
  const d = keys.length;
  const { mid, half, sumQuantum, sumsqQuantum } = valueScales(q);
  const [lo, hi] = q.bounds ?? [0, 0];
  const rl0 = Math.sqrt(l0);
  const infos: MeasurementInfo[] = [];
  // Each measurement adds noise to one vector over the released groups.
  const integer = (name: Measurement, xs: number[], l1: number, l2: number) => {
    const r =
      noise === 'laplace'
        ? discreteLaplaceMechanism(xs, { epsilon: eps, sensitivity: l1, rng })
        : discreteGaussianMechanism(xs, { epsilon: eps, delta: deltaEach, sensitivity: l2, rng });
    infos.push({ name, epsilon: eps, delta: deltaEach, noise: r.noise });
    return r;
  };
  const real = (name: Measurement, xs: Float64Array, l1: number, l2: number) => {
    const r =
      noise === 'laplace'
        ? laplaceMechanism(xs, { epsilon: eps, sensitivity: l1, rng })
        : gaussianMechanism(xs, { epsilon: eps, delta: deltaEach, sensitivity: l2, rng });
    infos.push({ name, epsilon: eps, delta: deltaEach, noise: r.noise });
    return r;
  };
  const has = (a: Aggregation) => q.aggregations.includes(a);
  const ms = plan.measurements;
  const split = 1 - (1 - level) / 2; // Bonferroni: two intervals that hold together with probability >= level
  let count: number[] | null = null, countMargin = 0, countMarginSplit = 0;
  let units: number[] | null = null, unitsMargin = 0;
  let sum: Float64Array | null = null, sumMargin = 0, sumMarginSplit = 0;
  let sumsq: Float64Array | null = null;
  let hist: number[] | null = null, histMargin = 0;
  let quant: number[][] | null = null;
  const empty = d === 0;
  for (const m of ms) {
    if (empty) {
      infos.push({ name: m, epsilon: eps, delta: deltaEach, noise: null });
      continue;
    }
    if (m === 'count') {
      const r = integer('count', keys.map((k) => state(k)?.count ?? 0), l0 * linf, rl0 * linf);
      count = r.value;
      countMargin = r.margin(level);
      countMarginSplit = r.margin(split);
    } else if (m === 'units') {
      const r = integer('units', keys.map((k) => state(k)?.units ?? 0), l0, rl0);
      units = r.value;
      unitsMargin = r.margin(level);
    } else if (m === 'sum') {
      // Σ(x - mid) when the count is released too (sum = that + mid·count), else Σx directly.
      const normalized = ms.includes('count');
      const xs = Float64Array.from(keys, (k) => {
        const g = state(k) ?? EMPTY;
        return normalized ? g.sum * sumQuantum : g.sum * sumQuantum + mid * g.count;
      });
      const bound = normalized ? half : Math.max(Math.abs(lo), Math.abs(hi));
      const r = real('sum', xs, l0 * linf * bound, rl0 * linf * bound);
      sum = r.value;
      sumMargin = r.margin(level);
      sumMarginSplit = r.margin(split);
    } else if (m === 'sumsq') {
      const xs = Float64Array.from(keys, (k) => (state(k) ?? EMPTY).sumsq * sumsqQuantum);
      const r = real('sumsq', xs, (l0 * linf * half * half) / 2, (rl0 * linf * half * half) / 2);
      sumsq = r.value;
    } else if (m === 'histogram') {
      const b = q.buckets!.length - 1;
      const xs: number[] = [];
      for (const k of keys) {
        const h = state(k)?.histogram;
        for (let i = 0; i < b; i++) xs.push(h ? h[i] : 0);
      }
      const r = integer('histogram', xs, l0 * linf, rl0 * linf);
      hist = r.value;
      histMargin = r.margin(level);
    } else {
      const trees = keys.map((k) => state(k)?.tree ?? new QuantileTree({ lower: lo, upper: hi }));
      const opts =
        noise === 'laplace'
          ? { epsilon: eps, maxPartitionsContributed: l0, maxContributionsPerPartition: linf, rng }
          : { rho: rhoFor(eps, deltaEach), maxPartitionsContributed: l0, maxContributionsPerPartition: linf, rng };
      const r = releaseQuantiles(trees, q.quantiles, opts);
      quant = r.values;
      infos.push({ name: 'quantiles', epsilon: eps, delta: deltaEach, noise: { distribution: r.noise.distribution, scale: r.noise.scale, granularity: 1 } });
    }
  }
  const b = q.buckets ? q.buckets.length - 1 : 0;
  let groups: GroupRelease[] = keys.map((key, i) => {
    const out: Record<string, unknown> = { key };
    const ci: Record<string, unknown> = { level };
    if (count && has('count')) {
      out.count = count[i];
      ci.count = [count[i] - countMargin, count[i] + countMargin];
    }
    if (units) {
      out.units = units[i];
      ci.units = [units[i] - unitsMargin, units[i] + unitsMargin];
    }
    if (sum && has('sum')) {
      if (count) {
        const s = sum[i] + mid * count[i];
        const m = sumMarginSplit + Math.abs(mid) * countMarginSplit;
        out.sum = s;
        ci.sum = [s - m, s + m];
      } else {
        out.sum = sum[i];
        ci.sum = [sum[i] - sumMargin, sum[i] + sumMargin];
      }
    }
    if (has('mean') && count && sum) {
      const n = Math.max(1, count[i]);
      out.mean = clamp(mid + sum[i] / n, lo, hi);
      // Interval arithmetic on the two intervals (each at level `split`).
      const c0 = count[i] - countMarginSplit, c1 = count[i] + countMarginSplit;
      const s0 = sum[i] - sumMarginSplit, s1 = sum[i] + sumMarginSplit;
      if (c0 >= 1) {
        const r = [s0 / c0, s0 / c1, s1 / c0, s1 / c1];
        ci.mean = [clamp(mid + Math.min(...r), lo, hi), clamp(mid + Math.max(...r), lo, hi)];
      } else ci.mean = [lo, hi];
    }
    if (has('variance') && count && sum && sumsq) {
      const n = Math.max(1, count[i]);
      const m1 = clamp(sum[i] / n, -half, half);
      const m2 = clamp(sumsq[i] / n + (half * half) / 2, 0, half * half);
      out.variance = clamp(m2 - m1 * m1, 0, half * half);
    }
    if (quant) out.quantiles = Object.fromEntries(q.quantiles.map((r, j) => [String(r), quant![i][j]]));
    if (hist) {
      out.histogram = hist.slice(i * b, (i + 1) * b);
      ci.histogram = histMargin;
    }
    out.ci = ci;
    return out as unknown as GroupRelease;
  });
  const released = groups.length;
  if (plan.top !== undefined) {
    const rank = (g: GroupRelease) => g.count ?? g.units ?? 0;
    groups = groups
      .map((g, i) => ({ g, i, r: count ? count[i] : rank(g) }))
      .sort((a, b) => b.r - a.r || (a.g.key < b.g.key ? -1 : 1))
      .slice(0, plan.top)
      .map((x) => x.g);
  }
  return { groups, released, measurements: infos };
}

function clamp(x: number, lo: number, hi: number): number {
  return x < lo ? lo : x > hi ? hi : x;
}
