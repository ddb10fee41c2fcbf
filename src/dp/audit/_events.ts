/**
 * Shared machinery of the audits: drawing outputs on two neighbouring inputs,
 * the candidate events (threshold sets for numbers, outcome sets for
 * categories) and counting how often each input's outputs fall in one.
 */
import { ConfideError, describe } from '../../core/errors.ts';
import type { Rng } from '../../core/random.ts';

/** An output the audit can count: a finite number or a boolean. */
export type Outcome = number | boolean;

/**
 * A set of outputs. `threshold`: outputs >= `threshold` (side 'above') or
 * < `threshold` (side 'below'). `set`: outputs equal to one of `outcomes`.
 */
export type AuditEvent =
  | { readonly kind: 'threshold'; readonly threshold: number; readonly side: 'above' | 'below' }
  | { readonly kind: 'set'; readonly outcomes: readonly Outcome[] };

export function describeEvent(e: AuditEvent): string {
  if (e.kind === 'threshold') return `output ${e.side === 'above' ? '>=' : '<'} ${e.threshold}`;
  return `output in {${e.outcomes.map(String).join(', ')}}`;
}

function outcomeOf(o: unknown): Outcome | undefined {
  if (typeof o === 'number' && Number.isFinite(o)) return o;
  if (typeof o === 'boolean') return o;
  // A Release ({ value, guarantee, ... }) is read through its value.
  if (typeof o === 'object' && o !== null && 'value' in o && 'guarantee' in o) {
    const v = (o as { value: unknown }).value;
    if ((typeof v === 'number' && Number.isFinite(v)) || typeof v === 'boolean') return v;
  }
  return undefined;
}

/**
 * Draws `n` outputs on each input, alternating inputs so that a stateful
 * mechanism cannot separate them by position. All outputs must be finite
 * numbers, or all booleans.
 */
export function drawOutputs<I>(
  mechanism: (input: I, rng: Rng) => unknown,
  inputs: readonly [I, I],
  n: number,
  rng: Rng,
): { a: Float64Array; b: Float64Array; boolean: boolean } {
  const a = new Float64Array(n), b = new Float64Array(n);
  let kind: 'number' | 'boolean' | undefined;
  const read = (o: unknown): number => {
    const v = outcomeOf(o);
    const k = typeof v as 'number' | 'boolean';
    if (v === undefined || (kind !== undefined && k !== kind))
      throw new ConfideError(
        'E_BAD_INPUT',
        `"mechanism" expected to return finite numbers or booleans (or a Release of one)${kind ? `, all ${kind}s` : ''}, got ${describe(v === undefined ? o : v)}; project vector outputs to a scalar`,
        { field: 'mechanism' },
      );
    kind = k;
    return v === true ? 1 : v === false ? 0 : (v as number);
  };
  for (let i = 0; i < n; i++) {
    a[i] = read(mechanism(inputs[0], rng));
    b[i] = read(mechanism(inputs[1], rng));
  }
  return { a, b, boolean: kind === 'boolean' };
}

/** Count of entries of `xs` (any order) in `event`; booleans were stored as 0/1. */
export function countIn(xs: Float64Array, event: AuditEvent): number {
  let k = 0;
  if (event.kind === 'threshold') {
    const t = event.threshold;
    if (event.side === 'above') for (let i = 0; i < xs.length; i++) k += xs[i] >= t ? 1 : 0;
    else for (let i = 0; i < xs.length; i++) k += xs[i] < t ? 1 : 0;
    return k;
  }
  const set = new Set(event.outcomes.map((o) => (o === true ? 1 : o === false ? 0 : o)));
  for (let i = 0; i < xs.length; i++) k += set.has(xs[i]) ? 1 : 0;
  return k;
}

/** A candidate event with its counts on the two inputs' training outputs. */
export interface Candidate {
  event: AuditEvent;
  countA: number;
  countB: number;
}

const MAX_THRESHOLDS = 512;
/** Most distinct outcomes for which every likelihood-ratio prefix set is tried. */
export const MAX_SET_OUTCOMES = 256;

/**
 * Threshold candidates at the quantiles of the pooled outputs (every distinct
 * value when there are few), each in both directions, with their counts.
 */
export function thresholdCandidates(a: Float64Array, b: Float64Array): Candidate[] {
  const sa = Float64Array.from(a).sort(), sb = Float64Array.from(b).sort();
  const pooled = new Float64Array(sa.length + sb.length);
  pooled.set(sa);
  pooled.set(sb, sa.length);
  pooled.sort();
  const ts = new Set<number>();
  const step = Math.max(1, Math.floor(pooled.length / MAX_THRESHOLDS));
  for (let i = 0; i < pooled.length; i += step) ts.add(pooled[i]);
  ts.add(pooled[pooled.length - 1]);
  // Count of sorted xs that are >= t, by binary search.
  const atLeast = (xs: Float64Array, t: number): number => {
    let lo = 0, hi = xs.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (xs[mid] < t) lo = mid + 1;
      else hi = mid;
    }
    return xs.length - lo;
  };
  const out: Candidate[] = [];
  for (const t of ts) {
    const ka = atLeast(sa, t), kb = atLeast(sb, t);
    out.push({ event: { kind: 'threshold', threshold: t, side: 'above' }, countA: ka, countB: kb });
    out.push({ event: { kind: 'threshold', threshold: t, side: 'below' }, countA: sa.length - ka, countB: sb.length - kb });
  }
  return out;
}

/**
 * Outcome-set candidates (DP-Sniper's idea, Bichsel et al. 2021, for a finite
 * output space): outcomes sorted by their smoothed likelihood ratio
 * (c_a + ½)/(c_b + ½), and every prefix of that order and of its reverse; the
 * best set for a given size is such a prefix. Null when there are more than
 * MAX_SET_OUTCOMES distinct outcomes.
 */
export function setCandidates(a: Float64Array, b: Float64Array, boolean: boolean): Candidate[] | null {
  const counts = new Map<number, [number, number]>();
  const bump = (x: number, j: 0 | 1) => {
    let c = counts.get(x);
    if (!c) {
      if (counts.size >= MAX_SET_OUTCOMES) return false;
      counts.set(x, (c = [0, 0]));
    }
    c[j]++;
    return true;
  };
  for (let i = 0; i < a.length; i++) if (!bump(a[i], 0)) return null;
  for (let i = 0; i < b.length; i++) if (!bump(b[i], 1)) return null;
  const entries = [...counts.entries()].sort(
    (x, y) => (y[1][0] + 0.5) / (y[1][1] + 0.5) - (x[1][0] + 0.5) / (x[1][1] + 0.5) || x[0] - y[0],
  );
  const toOutcome = (x: number): Outcome => (boolean ? x === 1 : x);
  const out: Candidate[] = [];
  for (const order of [entries, [...entries].reverse()]) {
    let ka = 0, kb = 0;
    const members: Outcome[] = [];
    // Prefixes short of the whole space (the whole space has ratio 1).
    for (let j = 0; j < order.length - 1; j++) {
      const [x, [ca, cb]] = order[j];
      ka += ca;
      kb += cb;
      members.push(toOutcome(x));
      out.push({ event: { kind: 'set', outcomes: [...members] }, countA: ka, countB: kb });
    }
  }
  return out;
}

/** Splits outputs into the first half (choosing the test) and the second (evaluating it). */
export function split(xs: Float64Array): [Float64Array, Float64Array] {
  const h = Math.floor(xs.length / 2);
  return [xs.subarray(0, h), xs.subarray(h)];
}
