/**
 * Randomized response: local differential privacy for one categorical answer.
 *
 * - `randomizedResponse`: Warner, "Randomized Response" (JASA 1965), in its
 *   ε-DP form (Dwork and Roth 2014, §3.2).
 * - `kRandomizedResponse`: k-ary randomized response (Kairouz, Oh and
 *   Viswanath, "Extremal Mechanisms for Local Differential Privacy", 2014;
 *   "direct encoding" in Wang, Blocki, Li and Jha, "Locally Differentially
 *   Private Protocols for Frequency Estimation", USENIX Security 2017).
 * - `estimateFrequencies`, `estimateProportion`: the unbiased estimators and
 *   their standard errors (Wang et al. 2017, direct encoding).
 *
 * Threat model: local. Each respondent runs the mechanism on their own value
 * and sends only the report, so neither the collector nor anyone who sees the
 * reports needs to be trusted. For any two values a respondent could hold,
 * each report is at most e^ε times more likely under one than the other: the
 * report is ε-DP with respect to that respondent's value. Several reports
 * from the same person compose (each call spends ε for that person).
 *
 * Exactness. No floating-point value decides an outcome: the truthful answer
 * is proposed with probability 1/k and every other answer with probability
 * (1/k)·exp(−ε), by a uniform draw and an exact Bernoulli(exp(−ε)) coin,
 * repeated on rejection. The estimators are post-processing of the reports and
 * use floating point.
 */
import { aboolean, ainteger, anumber, aoptions, apositive, isBytes } from '../core/assert.ts';
import { ConfideError, describe } from '../core/errors.ts';
import { arng, systemRng, type Rng } from '../core/random.ts';
import { pure, type PrivacyEvent, type Release } from './guarantee.ts';
import { arational } from './rational.ts';
import { expCoinRational } from './samplers.ts';

// ---------------------------------------------------------------------------
// Mechanisms

/** Options of the randomized-response mechanisms. */
export interface RandomizedResponseOptions {
  /** Privacy parameter ε > 0 (local DP, per respondent and report). */
  epsilon: number;
  /** Randomness; defaults to `systemRng()`. Pass `seededRng(n)` only in tests. */
  rng?: Rng;
}

const RR_KEYS = ['epsilon', 'rng'] as const;
/** Largest k accepted: the alphabet is indexed by uniform 32-bit draws. */
const MAX_K = 2 ** 32;

function acheck(options: unknown): { epsilon: number; num: bigint; den: bigint; rng: Rng } {
  const o = (aoptions(options as object | undefined, 'options', RR_KEYS) ?? {}) as Record<string, unknown>;
  const epsilon = apositive(o.epsilon, 'epsilon');
  const rng = o.rng === undefined ? systemRng() : arng(o.rng);
  const { num, den } = arational(epsilon, 'epsilon');
  return { epsilon, num, den, rng };
}

/**
 * P(report = truth) = e^ε/(e^ε + k − 1), written to stay finite for large ε.
 * Floating point, for margins and estimators only.
 */
function truthProbability(epsilon: number, k: number): number {
  return 1 / (1 + (k - 1) * Math.exp(-epsilon));
}

/**
 * The margin of a categorical report under the Release contract
 * P(|output − input| <= m) >= level: 0 while level is at most the truth
 * probability (the report equals the value), else k − 1 (always true).
 */
function categoricalMargin(epsilon: number, k: number): (level: number) => number {
  // Shade the float probability down so that a level at the boundary gets the safe answer.
  const p = truthProbability(epsilon, k) * (1 - 2 ** -40);
  return (level) => (anumber(level, 'level', 0, 1, true) <= p ? 0 : k - 1);
}

/**
 * Binary randomized response: reports `value` with probability exactly
 * e^ε/(1 + e^ε) and its negation otherwise.
 *
 * Guarantee: pure ε local DP for the respondent who holds `value` (see the
 * module comment); event `{ type: 'randomized-response', p, k: 2 }`.
 * Sampling: a fair bit proposes the truth or the lie, the lie is accepted with
 * an exact Bernoulli(exp(−ε)) coin, and a rejected lie is proposed again
 * (expected 2/(1 + e^−ε) <= 2 rounds).
 *
 * `margin(level)` follows the Release contract with false = 0 and true = 1: it
 * is 0 when level <= e^ε/(1 + e^ε) (the report is the truth that often), else 1.
 */
export function randomizedResponse(value: boolean, options: RandomizedResponseOptions): Release<boolean> {
  aboolean(value, 'value');
  const { epsilon, num, den, rng } = acheck(options);
  let report: boolean;
  for (;;) {
    if (rng.bit()) {
      report = value;
      break;
    }
    if (expCoinRational(num, den, rng)) {
      report = !value;
      break;
    }
  }
  return {
    value: report,
    guarantee: pure(epsilon),
    event: rrEvent(epsilon, 2),
    margin: categoricalMargin(epsilon, 2),
  };
}

/**
 * The accounting event: k-RR with truth probability e^ε/(e^ε + k − 1) is
 * "with probability p a uniform bucket, else the truth" for p = k/(e^ε + k − 1).
 */
function rrEvent(epsilon: number, k: number): PrivacyEvent {
  return { type: 'randomized-response', p: k / (Math.exp(epsilon) + k - 1), k };
}

/**
 * k-ary randomized response: for a value in {0, ..., k − 1}, reports the value
 * with probability exactly e^ε/(e^ε + k − 1) and each other value with
 * probability exactly 1/(e^ε + k − 1).
 *
 * Guarantee: pure ε local DP for the respondent who holds `value` (see the
 * module comment); event `{ type: 'randomized-response', p, k }` with
 * p = k/(e^ε + k − 1), the probability of answering with a uniform bucket.
 * Sampling: propose a uniform j in [0, k), accept it if it is the value, else
 * with an exact Bernoulli(exp(−ε)) coin. The expected number of rounds is
 * k/(1 + (k − 1)e^−ε), which is below min(k, e^ε + 1) but grows when both
 * k and e^ε are large (about 2·10^4 rounds at k = 10^6, ε = 10).
 *
 * `margin(level)` follows the Release contract on indices: 0 when
 * level <= e^ε/(e^ε + k − 1), else k − 1.
 */
export function kRandomizedResponse(value: number, k: number, options: RandomizedResponseOptions): Release<number> {
  ainteger(k, 'k', 2, MAX_K);
  ainteger(value, 'value', 0, k - 1);
  const { epsilon, num, den, rng } = acheck(options);
  let report: number;
  for (;;) {
    const j = rng.uniformInt(k);
    if (j === value || expCoinRational(num, den, rng)) {
      report = j;
      break;
    }
  }
  return {
    value: report,
    guarantee: pure(epsilon),
    event: rrEvent(epsilon, k),
    margin: categoricalMargin(epsilon, k),
  };
}

// ---------------------------------------------------------------------------
// Estimators (post-processing)

/** Estimated true counts from k-RR reports, with one standard error per count. */
export interface FrequencyEstimate {
  /** Unbiased estimates n̂_v of how many respondents hold each value v (may be negative). */
  readonly counts: Float64Array;
  /** The standard error of each estimate (plug-in of its exact variance). */
  readonly standardErrors: Float64Array;
}

/** Estimated proportion of `true` values from binary randomized-response reports. */
export interface ProportionEstimate {
  /** Unbiased estimate of the fraction of respondents whose value is true (may fall outside [0, 1]). */
  readonly proportion: number;
  /** Its standard error, sqrt(p·q/n)/(p − q), which does not depend on the data. */
  readonly standardError: number;
}

/** Largest k for estimation (one Float64 count per category). */
const MAX_ESTIMATED_K = 2 ** 26;

/** p, q and p − q for k-RR at ε, computed without overflow for large ε. */
function rates(epsilon: number, k: number): { p: number; q: number; pq: number } {
  const e = Math.exp(-epsilon);
  const z = 1 + (k - 1) * e;
  return { p: 1 / z, q: e / z, pq: -Math.expm1(-epsilon) / z };
}

/**
 * Unbiased estimates of the true counts from k-RR reports (Wang et al. 2017,
 * direct encoding): with p = e^ε/(e^ε + k − 1), q = 1/(e^ε + k − 1) and c_v the number of
 * reports equal to v, n̂_v = (c_v − n·q)/(p − q).
 *
 * Standard errors: Var(n̂_v) = n·q(1 − q)/(p − q)² + n_v·(1 − p − q)/(p − q)
 * exactly; the second term (zero for k = 2) is evaluated at n̂_v clamped to
 * [0, n]. Post-processing of the reports: no further privacy cost.
 */
export function estimateFrequencies(reports: ArrayLike<number>, k: number, epsilon: number): FrequencyEstimate {
  ainteger(k, 'k', 2, MAX_ESTIMATED_K);
  apositive(epsilon, 'epsilon');
  const len = (Array.isArray(reports) || ArrayBuffer.isView(reports)) ? (reports as { length?: unknown }).length : undefined;
  if (typeof len !== 'number' || !Number.isSafeInteger(len) || len < 1)
    throw new ConfideError('E_BAD_INPUT', `"reports" expected a non-empty array or typed array of integers in [0, ${k}), got ${describe(reports)}`, { field: 'reports' });
  const counts = new Float64Array(k);
  const r = reports as ArrayLike<unknown>;
  for (let i = 0; i < len; i++) {
    const v = r[i];
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v >= k)
      throw new ConfideError('E_BAD_INPUT', `"reports[${i}]" expected an integer in [0, ${k}), got ${describe(v)}`, { field: `reports[${i}]` });
    counts[v]++;
  }
  const n = len;
  const { p, q, pq } = rates(epsilon, k);
  const base = (n * q * (1 - q)) / (pq * pq);
  const slope = (1 - p - q) / pq;
  const standardErrors = new Float64Array(k);
  for (let v = 0; v < k; v++) {
    const est = (counts[v] - n * q) / pq;
    counts[v] = est;
    standardErrors[v] = Math.sqrt(base + Math.min(Math.max(est, 0), n) * slope);
  }
  return { counts, standardErrors };
}

/**
 * Unbiased estimate of the proportion of `true` values from binary
 * randomized-response reports (`true`/`false`, or 1/0 in a Uint8Array):
 * (mean report − q)/(p − q) with p = e^ε/(1 + e^ε), q = 1 − p. Its standard
 * error sqrt(p·q/n)/(p − q) is exact, since for k = 2 the variance does not
 * depend on the data. Post-processing: no further privacy cost.
 */
export function estimateProportion(reports: readonly boolean[] | Uint8Array, epsilon: number): ProportionEstimate {
  apositive(epsilon, 'epsilon');
  const bytes = isBytes(reports);
  if (!(Array.isArray(reports) || bytes) || (reports as { length: number }).length < 1)
    throw new ConfideError('E_BAD_INPUT', `"reports" expected a non-empty array of booleans or a Uint8Array of 0/1, got ${describe(reports)}`, { field: 'reports' });
  const r = reports as ArrayLike<unknown>;
  const n = r.length;
  let ones = 0;
  for (let i = 0; i < n; i++) {
    const v = r[i];
    const ok = bytes ? v === 0 || v === 1 : typeof v === 'boolean';
    if (!ok)
      throw new ConfideError('E_BAD_INPUT', `"reports[${i}]" expected ${bytes ? '0 or 1' : 'a boolean'}, got ${describe(v)}`, { field: `reports[${i}]` });
    if (v === true || v === 1) ones++;
  }
  const { p, q, pq } = rates(epsilon, 2);
  return { proportion: (ones / n - q) / pq, standardError: Math.sqrt((p * q) / n) / pq };
}
