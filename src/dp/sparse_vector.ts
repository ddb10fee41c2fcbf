/**
 * The sparse vector technique: answer a long, adaptively chosen stream of
 * "is this query above the threshold?" questions, paying for at most c
 * positive answers.
 *
 * The algorithm is Lyu, Su and Li, "Understanding the Sparse Vector Technique
 * for Differential Privacy" (PVLDB 2017), Algorithm 1: a noisy threshold
 * T + ρ with ρ ~ Lap(Δ/ε1) drawn once, a fresh ν_i ~ Lap(2cΔ/ε2) per query
 * (Lap(cΔ/ε2) when the queries are monotonic), answer ⊤ when
 * q_i + ν_i >= T + ρ, halt after c answers ⊤. It corrects the variants that
 * are not private and is Dwork and Roth's AboveThreshold (2014,
 * §3.6, Algorithm 1) for c = 1. `NumericSparse` also releases each positive
 * query with fresh Laplace noise of budget ε3 (Lyu et al. Algorithm 1 with
 * ε3 > 0; Dwork and Roth Algorithm 3).
 *
 * Threat model. Two datasets are neighbours when one person's data differs,
 * and the caller promises that such a change moves every query's value by at
 * most Δ (`sensitivity`). The threshold is public. Then the whole transcript,
 * every ⊤/⊥ (and every released value) for as many queries as are asked,
 * chosen adaptively, is ε-DP. Negative answers are "free" only in this sense:
 * the theorem bounds the whole transcript by ε whatever the number of
 * queries. They still carry information (that a query was probably below the
 * threshold), all of it within that ε.
 *
 * Exactness (the granularity approach of Google's differential-privacy library,
 * applied to SVT). Nothing is compared or sampled in floating point:
 *
 * 1. A power-of-two grid g = 2^k is fixed from the public parameters:
 *    k = min(⌊log2 s⌋, ⌊log2 Δ⌋ + 10) − 20 over the continuous noise scales s
 *    (query noise, and release noise for NumericSparse), so that g is at most
 *    2^-20 of the noise scale and 2^-10 of Δ.
 * 2. The threshold and every query value x are snapped to m = round(x/g), an
 *    integer (x/g is exact: g is a power of two). |x/g| > 2^52 is refused with
 *    E_OVERFLOW. Snapping moves a value by at most g/2, so neighbouring
 *    snapped values differ by at most Δ_g = Δ/g + 1 grid units (an integer
 *    difference, at most ⌊Δ/g + 1⌋).
 * 3. The noise is integer discrete Laplace (CKS20, exact), with the Lyu et al.
 *    scales in grid units rounded up: ρ with ⌈Δ_g/ε1⌉, ν with ⌈2cΔ_g/ε2⌉
 *    (⌈cΔ_g/ε2⌉ monotonic), releases with ⌈cΔ_g/ε3⌉. The SVT proof goes
 *    through with integer shifts of ρ and ν_i, and the discrete Laplace
 *    density ratio obeys the same bound, so the guarantee holds; rounding the
 *    scales up only adds noise.
 * 4. The comparison m_value + ν >= m_threshold + ρ is an exact integer one.
 *
 * An out-of-range value throws, and an exception is observable: when a query
 * may leave ±`maxMagnitude` (public), clamp it before calling `test`.
 */
import { aboolean, ainteger, anumber, aoptions, apositive } from '../core/assert.ts';
import { ConfideError, describe } from '../core/errors.ts';
import { arng, systemRng, type Rng } from '../core/random.ts';
import { pure, type Guarantee, type PrivacyEvent } from './guarantee.ts';
import { laplaceMarginSteps } from './mechanisms.ts';
import { arational, type Rational } from './rational.ts';
import { discreteLaplaceSampler, type DiscreteLaplace } from './samplers.ts';

/** Options of `AboveThreshold`. */
export interface AboveThresholdOptions {
  /** The public threshold T (a finite number). */
  threshold: number;
  /** Total privacy parameter ε > 0 for the whole interaction. */
  epsilon: number;
  /** Δ > 0: the most one person's data can move any single query's value. */
  sensitivity: number;
  /** c: how many positive answers before the mechanism halts (integer >= 1, default 1). */
  maxPositives?: number;
  /**
   * True when, for every pair of neighbouring datasets, all queries move in
   * the same direction (counts under adding one person, for example). The
   * query noise is then Lap(cΔ/ε2) instead of Lap(2cΔ/ε2) for the same ε
   * (Lyu et al. 2017, Algorithm 1). Default false.
   */
  monotonic?: boolean;
  /** Randomness; defaults to `systemRng()`. Pass `seededRng(n)` only in tests. */
  rng?: Rng;
}

/** Options of `NumericSparse`. */
export interface NumericSparseOptions extends AboveThresholdOptions {
  /**
   * Shares [threshold, queries, releases] of ε, as positive weights
   * (normalised exactly): ε1 = ε·w1/Σw, ε2 = ε·w2/Σw, ε3 = ε·w3/Σw.
   * Default [1, 2, 1]: ε1 = ε/4, ε2 = ε/2, ε3 = ε/4.
   */
  split?: readonly [number, number, number];
}

const AT_KEYS = ['threshold', 'epsilon', 'sensitivity', 'maxPositives', 'monotonic', 'rng'] as const;
const NS_KEYS = [...AT_KEYS, 'split'] as const;
const MAX_POSITIVES = 2 ** 32;
const LIMIT = 2 ** 52;

// ---------------------------------------------------------------------------
// Exact rational helpers

function mul(a: Rational, b: Rational): Rational {
  return { num: a.num * b.num, den: a.den * b.den };
}

function div(a: Rational, b: Rational): Rational {
  return { num: a.num * b.den, den: a.den * b.num };
}

function int(n: bigint): Rational {
  return { num: n, den: 1n };
}

function ceil(r: Rational): bigint {
  const q = r.num / r.den;
  return q * r.den === r.num ? q : q + 1n; // r > 0
}

function bitLength(n: bigint): number {
  return n.toString(2).length;
}

/** ⌊log2 r⌋ for a rational r > 0, exactly. */
function floorLog2(r: Rational): number {
  const e = bitLength(r.num) - bitLength(r.den); // r in [2^(e−1), 2^(e+1))
  const atLeast = e >= 0 ? r.num >= r.den << BigInt(e) : r.num << BigInt(-e) >= r.den;
  return atLeast ? e : e - 1;
}

/** 2^k as a rational (k any integer). */
function pow2(k: number): Rational {
  return k >= 0 ? int(1n << BigInt(k)) : { num: 1n, den: 1n << BigInt(-k) };
}

/** a + b >= c + d for integers (b, d possibly bigints), exactly. */
function sumAtLeast(a: number, b: number | bigint, c: number, d: number | bigint): boolean {
  if (typeof b === 'number' && typeof d === 'number') {
    const l = a + b, r = c + d;
    // A safe-integer result is the exact sum (a larger sum rounds to >= 2^53).
    if (Number.isSafeInteger(l) && Number.isSafeInteger(r)) return l >= r;
  }
  return BigInt(a) + BigInt(b) >= BigInt(c) + BigInt(d);
}

// ---------------------------------------------------------------------------
// The shared machinery

interface Budget {
  /** Threshold, query and (NumericSparse) release shares of ε, exact. */
  e1: Rational;
  e2: Rational;
  e3: Rational | null;
}

/** The grid, the samplers and the state of one SVT interaction. */
class SparseVector {
  readonly epsilon: number;
  readonly maxPositives: number;
  readonly granularity: number;
  readonly maxMagnitude: number;
  readonly thresholdScale: number;
  readonly queryScale: number;
  readonly releaseScale: number;
  readonly releaseSampler: DiscreteLaplace | null;
  readonly #querySampler: DiscreteLaplace;
  readonly #rng: Rng;
  readonly #mThreshold: number;
  readonly #rho: number | bigint;
  positives = 0;
  queries = 0;

  constructor(o: Record<string, unknown>, split: (eps: Rational) => Budget) {
    const threshold = anumber(o.threshold, 'threshold');
    const epsilon = apositive(o.epsilon, 'epsilon');
    const sensitivity = apositive(o.sensitivity, 'sensitivity');
    const c = o.maxPositives === undefined ? 1 : ainteger(o.maxPositives, 'maxPositives', 1, MAX_POSITIVES);
    const monotonic = o.monotonic === undefined ? false : aboolean(o.monotonic, 'monotonic');
    const rng = o.rng === undefined ? systemRng() : arng(o.rng);
    const { e1, e2, e3 } = split(arational(epsilon, 'epsilon'));
    const delta = arational(sensitivity, 'sensitivity');
    const cDelta = mul(int(BigInt(c)), delta);
    const queryFactor = int(monotonic ? 1n : 2n);

    // 1. The grid, from the continuous scales (public parameters only).
    let k = Math.min(floorLog2(div(mul(queryFactor, cDelta), e2)), floorLog2(delta) + 10);
    if (e3) k = Math.min(k, floorLog2(div(cDelta, e3)));
    k = Math.max(-1022, Math.min(1000, k - 20)); // keep 2^k a normal double
    const g = pow2(k);

    // 3. Integer noise scales in grid units, rounded up (step 2, snapping, is `snap`).
    const deltaG: Rational = { num: delta.num * g.den + delta.den * g.num, den: delta.den * g.num }; // Δ/g + 1
    const cDeltaG = mul(int(BigInt(c)), deltaG);
    const tRho = ceil(div(deltaG, e1));
    const tNu = ceil(div(mul(queryFactor, cDeltaG), e2));
    const tRelease = e3 ? ceil(div(cDeltaG, e3)) : 0n;

    this.epsilon = epsilon;
    this.maxPositives = c;
    this.granularity = 2 ** k;
    this.maxMagnitude = LIMIT * this.granularity;
    this.thresholdScale = Number(tRho) * this.granularity;
    this.queryScale = Number(tNu) * this.granularity;
    this.releaseScale = Number(tRelease) * this.granularity;
    this.#querySampler = discreteLaplaceSampler(tNu);
    this.releaseSampler = e3 ? discreteLaplaceSampler(tRelease) : null;
    this.#rng = rng;
    this.#mThreshold = this.snap(threshold, 'threshold');
    this.#rho = discreteLaplaceSampler(tRho).sample(rng);
  }

  get halted(): boolean {
    return this.positives >= this.maxPositives;
  }

  /** round(x/g), refusing |x/g| > 2^52. */
  snap(x: number, field: string): number {
    const q = x / this.granularity;
    if (!(Math.abs(q) <= LIMIT))
      throw new ConfideError(
        'E_OVERFLOW',
        `"${field}" expected a value within ±${this.maxMagnitude} (2^52 grid steps of ${this.granularity}), got ${describe(x)}`,
        { field },
      );
    return Math.round(q) + 0; // + 0 turns -0 into 0
  }

  /** One query: its snapped value, or null below the noisy threshold. */
  step(value: unknown, kind: string): number | null {
    if (this.halted)
      throw new ConfideError('E_STATE', `${kind} has halted after ${this.maxPositives} positive answer(s)`);
    const m = this.snap(anumber(value, 'value'), 'value');
    this.queries++;
    const nu = this.#querySampler.sample(this.#rng);
    if (!sumAtLeast(m, nu, this.#mThreshold, this.#rho)) return null;
    this.positives++;
    return m;
  }

  /** The released value for a snapped m (NumericSparse): (m + η)·g. */
  releaseValue(m: number): number {
    const eta = (this.releaseSampler as DiscreteLaplace).sample(this.#rng);
    // m + η is exact while it is a safe integer; beyond, both forms are the
    // correctly rounded exact sum, a deterministic function of the output.
    const sum = typeof eta === 'number' ? m + eta : Number(BigInt(m) + eta);
    return sum * this.granularity; // exact: g is a power of two
  }
}

// ---------------------------------------------------------------------------
// Public classes

/**
 * What AboveThreshold and NumericSparse share: the running state, the
 * guarantee and event (pure ε for the whole interaction), and the public
 * parameters a caller may inspect.
 */
abstract class SparseVectorMechanism {
  protected readonly svt: SparseVector;
  /** Pure ε for the whole interaction. */
  readonly guarantee: Guarantee;
  readonly event: PrivacyEvent;

  protected constructor(svt: SparseVector, name: 'above-threshold' | 'numeric-sparse') {
    this.svt = svt;
    this.guarantee = pure(svt.epsilon);
    this.event = { type: 'epsilon-delta', epsilon: svt.epsilon, name };
  }

  /** Answers `true` so far. */
  get positives(): number {
    return this.svt.positives;
  }
  /** Queries answered so far. */
  get queries(): number {
    return this.svt.queries;
  }
  /** True once `maxPositives` answers were `true`; `test` then throws. */
  get halted(): boolean {
    return this.svt.halted;
  }
  /** c, the number of positive answers allowed. */
  get maxPositives(): number {
    return this.svt.maxPositives;
  }
  /** The grid step g (a power of two) that values are snapped to. */
  get granularity(): number {
    return this.svt.granularity;
  }
  /** The largest |value| (and |threshold|) accepted: 2^52·g. */
  get maxMagnitude(): number {
    return this.svt.maxMagnitude;
  }
  /** The scale of the threshold noise ρ, in value units (integer scale times g). */
  get thresholdScale(): number {
    return this.svt.thresholdScale;
  }
  /** The scale of each query noise ν, in value units. */
  get queryScale(): number {
    return this.svt.queryScale;
  }
}

/**
 * AboveThreshold / Sparse (Lyu, Su and Li 2017, Algorithm 1; Dwork and Roth
 * 2014, Algorithms 1 and 2): `test(value)` answers whether value + ν >=
 * threshold + ρ, where ρ is drawn once at construction and ν afresh for each
 * query. After `maxPositives` (c) answers `true` it halts, and `test` throws
 * `ConfideError('E_STATE')`.
 *
 * Budget: ε1 = ε/2 for the threshold (ρ ~ Lap(Δ/ε1)), ε2 = ε/2 for the
 * queries (ν ~ Lap(2cΔ/ε2), or Lap(cΔ/ε2) with `monotonic`), both exact
 * discrete Laplace on the grid described in the module comment.
 *
 * Guarantee: pure ε-DP for the whole interaction, whatever the number of
 * queries, for queries of sensitivity Δ chosen adaptively against a public
 * threshold (Lyu et al. 2017); event `{ type: 'epsilon-delta', name:
 * 'above-threshold', epsilon }`. Record the event once, when the mechanism is
 * created. Threat model and exactness: see the module comment.
 */
export class AboveThreshold extends SparseVectorMechanism {
  constructor(options: AboveThresholdOptions) {
    const o = (aoptions(options as AboveThresholdOptions | undefined, 'options', AT_KEYS) ?? {}) as unknown as Record<string, unknown>;
    const svt = new SparseVector(o, (eps) => {
      const half = { num: eps.num, den: eps.den * 2n };
      return { e1: half, e2: half, e3: null };
    });
    super(svt, 'above-threshold');
  }

  /** Whether `value` (this query's true answer) is above the noisy threshold. */
  test(value: number): boolean {
    return this.svt.step(value, 'AboveThreshold') !== null;
  }
}

/**
 * NumericSparse (Dwork and Roth 2014, §3.6, Algorithm 3; Lyu, Su and Li
 * 2017, Algorithm 1 with ε3 > 0): AboveThreshold that, for each positive
 * query, also releases the query's value plus fresh Laplace noise. `test`
 * returns the released value, or null below the threshold; it halts after
 * `maxPositives` (c) positives like `AboveThreshold`.
 *
 * Budget (option `split`, default [1, 2, 1]): ε1 = ε/4 for the threshold
 * (ρ ~ Lap(Δ/ε1)), ε2 = ε/2 for the comparisons (ν ~ Lap(2cΔ/ε2), Lap(cΔ/ε2)
 * with `monotonic`), ε3 = ε/4 for the releases (Lap(cΔ/ε3) each, at most c of
 * them), all exact discrete Laplace on the grid of the module comment.
 * Released values are multiples of `granularity`.
 *
 * Guarantee: pure ε-DP for the whole interaction (SVT with ε1 + ε2, composed
 * with at most c Laplace releases of ε3/c each), whatever the number of
 * queries; event `{ type: 'epsilon-delta', name: 'numeric-sparse', epsilon }`.
 * Threat model: see the module comment.
 */
export class NumericSparse extends SparseVectorMechanism {
  constructor(options: NumericSparseOptions) {
    const o = (aoptions(options as NumericSparseOptions | undefined, 'options', NS_KEYS) ?? {}) as unknown as Record<string, unknown>;
    const weights = asplit(o.split);
    const svt = new SparseVector(o, (eps) => {
      const total = weights[0].num * weights[1].den * weights[2].den +
        weights[1].num * weights[0].den * weights[2].den +
        weights[2].num * weights[0].den * weights[1].den;
      const denAll = weights[0].den * weights[1].den * weights[2].den;
      // ε·w_i/Σw with Σw = total/denAll.
      const share = (w: Rational): Rational => ({ num: eps.num * w.num * denAll, den: eps.den * w.den * total });
      return { e1: share(weights[0]), e2: share(weights[1]), e3: share(weights[2]) };
    });
    super(svt, 'numeric-sparse');
  }

  /** For a positive query, its noisy value (a multiple of `granularity`); null below the threshold. */
  test(value: number): number | null {
    const m = this.svt.step(value, 'NumericSparse');
    return m === null ? null : this.svt.releaseValue(m);
  }

  /**
   * The half-width of an interval that contains each released value's noise
   * with probability at least `level`: P(|released − snapped value| <= m) >=
   * level, where the snapped value is within g/2 of the true one. Exact
   * discrete Laplace tail, evaluated in floating point (public parameters only).
   */
  margin(level: number): number {
    anumber(level, 'level', 0, 1, true);
    if (level === 1) throw new ConfideError('E_BAD_INPUT', '"level" expected a finite number > 0 and < 1, got 1', { field: 'level' });
    return laplaceMarginSteps(this.svt.releaseScale / this.svt.granularity, level) * this.svt.granularity;
  }

  /** The scale of each release's noise, in value units. */
  get releaseScale(): number {
    return this.svt.releaseScale;
  }
}

function asplit(v: unknown): [Rational, Rational, Rational] {
  if (v === undefined) return [int(1n), int(2n), int(1n)];
  if (!Array.isArray(v) || v.length !== 3)
    throw new ConfideError('E_BAD_INPUT', `"split" expected three positive weights [threshold, queries, releases], got ${describe(v)}`, { field: 'split' });
  return [0, 1, 2].map((i) => arational(apositive(v[i], `split[${i}]`), `split[${i}]`)) as [Rational, Rational, Rational];
}
