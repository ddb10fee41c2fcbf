/**
 * Private selection: pick a candidate whose utility is high, revealing little
 * about the data that determined the utilities.
 *
 * - `exponentialMechanism`: McSherry and Talwar, FOCS 2007; Dwork and Roth,
 *   "The Algorithmic Foundations of Differential Privacy" (2014), §3.4.
 * - `permuteAndFlip` (= `reportNoisyMax`): McKenna and Sheldon, NeurIPS 2020;
 *   Ding, Kifer, Saghaian, Steinke, Wang, Xiao and Zhang, "The Permute-and-Flip
 *   Mechanism is Identical to Report-Noisy-Max with Exponential Noise" (2021).
 * - `topK`: k permute-and-flip draws without replacement, basic composition.
 *
 * Threat model shared by every function here. Two datasets are neighbours
 * when one person's data differs between them, and the caller promises that
 * such a change moves every utility by at most `sensitivity` (Δ). The released
 * index is then ε-DP: whatever an adversary who sees it already knows, the
 * probability of each output changes by at most a factor e^ε when one person's
 * data changes. The utilities stay hidden; the number of candidates n is
 * public. The guarantee covers the output only: the number of random draws,
 * and so the running time, depends on the utilities.
 *
 * Exactness. No floating-point value decides an outcome (Mironov 2012): the
 * utilities, ε and Δ are read as the exact rationals their doubles denote,
 * every exponent γ = ε·(u_max − u_i)/(2Δ) is an exact rational, and every coin
 * is an exact Bernoulli(exp(−γ)) from samplers.ts.
 */
import { aboolean, anumber, aoptions, apositive, ainteger } from '../core/assert.ts';
import { ConfideError, describe } from '../core/errors.ts';
import { arng, systemRng, type Rng } from '../core/random.ts';
import { pure, type PrivacyEvent, type Release } from './guarantee.ts';
import { arational, type Rational } from './rational.ts';
import { expCoinRational } from './samplers.ts';

// ---------------------------------------------------------------------------
// Argument checks

const MAX_CANDIDATES = 2 ** 32 - 1;

/** A copy of `v` (an array or typed array of finite numbers, at least one). */
function autilities(v: unknown, field: string): Float64Array {
  const len = (Array.isArray(v) || ArrayBuffer.isView(v)) ? (v as { length?: unknown }).length : undefined;
  if (typeof len !== 'number' || !Number.isSafeInteger(len))
    throw new ConfideError('E_BAD_INPUT', `"${field}" expected an array or typed array of finite numbers, got ${describe(v)}`, { field });
  if (len < 1 || len > MAX_CANDIDATES)
    throw new ConfideError('E_BAD_INPUT', `"${field}" expected 1 to ${MAX_CANDIDATES} candidates, got ${len}`, { field });
  const a = v as ArrayLike<unknown>;
  const out = new Float64Array(len);
  for (let i = 0; i < len; i++) {
    const x = a[i];
    if (typeof x !== 'number' || !Number.isFinite(x))
      throw new ConfideError('E_BAD_INPUT', `"${field}[${i}]" expected a finite number, got ${describe(x)}`, { field: `${field}[${i}]` });
    out[i] = x;
  }
  return out;
}

/** A probability level in (0, 1). */
function alevel(level: unknown): number {
  anumber(level, 'level', 0, 1, true);
  if (level === 1)
    throw new ConfideError('E_BAD_INPUT', '"level" expected a finite number > 0 and < 1, got 1', { field: 'level' });
  return level as number;
}

/** The exact value of a finite double, negative allowed. */
function exact(x: number): Rational {
  const r = arational(Math.abs(x), 'utility', true);
  return x < 0 ? { num: -r.num, den: r.den } : r;
}

/** a − b exactly, for doubles a >= b. */
function exactDiff(a: number, b: number): Rational {
  if (a === b) return { num: 0n, den: 1n };
  const x = exact(a), y = exact(b);
  return { num: x.num * y.den - y.num * x.den, den: x.den * y.den };
}

// ---------------------------------------------------------------------------
// Shared core

interface SelectionOptions {
  /** Privacy parameter ε > 0 (a finite number). */
  epsilon: number;
  /** Δ > 0: the most one person's data can move any single utility. */
  sensitivity: number;
  /** Randomness; defaults to `systemRng()`. Pass `seededRng(n)` only in tests. */
  rng?: Rng;
}

export type PermuteAndFlipOptions = SelectionOptions;
export type TopKOptions = SelectionOptions;

export interface ExponentialMechanismOptions extends SelectionOptions {
  /**
   * True when every utility moves in the same direction when one person's
   * data changes (counts under adding a person, for example). The mechanism
   * then uses exp(ε·u/Δ) instead of exp(ε·u/(2Δ)) for the same ε (McSherry
   * and Talwar 2007; Dwork and Roth §3.4). Default false.
   */
  monotonic?: boolean;
}

const SELECTION_KEYS = ['epsilon', 'sensitivity', 'rng'] as const;
const EM_KEYS = ['epsilon', 'sensitivity', 'rng', 'monotonic'] as const;

interface Checked {
  epsilon: number;
  sensitivity: number;
  eps: Rational;
  delta: Rational;
  rng: Rng;
  monotonic: boolean;
}

function acheck(options: unknown, keys: readonly string[]): Checked {
  const o = (aoptions(options as object | undefined, 'options', keys) ?? {}) as Record<string, unknown>;
  const epsilon = apositive(o.epsilon, 'epsilon');
  const sensitivity = apositive(o.sensitivity, 'sensitivity');
  const rng = o.rng === undefined ? systemRng() : arng(o.rng);
  const monotonic = o.monotonic === undefined ? false : aboolean(o.monotonic, 'monotonic');
  return {
    epsilon,
    sensitivity,
    eps: arational(epsilon, 'epsilon'),
    delta: arational(sensitivity, 'sensitivity'),
    rng,
    monotonic,
  };
}

/**
 * The exponents γ_i = eps·(u_max − u_i)/(divisor·Δ) as exact rationals,
 * computed on first use (a draw usually looks at a few candidates only).
 */
class Exponents {
  readonly #u: Float64Array;
  readonly #max: number;
  readonly #num: bigint; // eps.num · Δ.den
  readonly #den: bigint; // eps.den · divisor · Δ.num
  readonly #cache = new Map<number, [bigint, bigint]>();

  constructor(u: Float64Array, max: number, eps: Rational, delta: Rational, divisor: bigint) {
    this.#u = u;
    this.#max = max;
    this.#num = eps.num * delta.den;
    this.#den = eps.den * divisor * delta.num;
  }

  /** Bernoulli(exp(−γ_i)). */
  coin(i: number, rng: Rng): boolean {
    const ui = this.#u[i];
    if (ui === this.#max) return true;
    let g = this.#cache.get(i);
    if (!g) {
      const d = exactDiff(this.#max, ui);
      g = [this.#num * d.num, this.#den * d.den];
      if (this.#cache.size < 1 << 16) this.#cache.set(i, g);
    }
    return expCoinRational(g[0], g[1], rng);
  }
}

function maxOf(u: Float64Array, candidates?: Uint32Array, count = u.length): number {
  let m = -Infinity;
  if (candidates) for (let j = 0; j < count; j++) m = Math.max(m, u[candidates[j]]);
  else for (let i = 0; i < u.length; i++) m = Math.max(m, u[i]);
  return m;
}

/**
 * One permute-and-flip draw among candidates[0..count): visit them in a
 * uniformly random order (Fisher–Yates, one swap per visit, so only the
 * visited prefix is shuffled) and accept candidate r with probability
 * exp(−γ_r). The candidate of maximal utility has γ = 0, so at most `count`
 * visits. Leaves the chosen index at candidates[count − 1] and returns it.
 */
function permuteAndFlipDraw(
  u: Float64Array,
  candidates: Uint32Array,
  count: number,
  eps: Rational,
  delta: Rational,
  rng: Rng,
): number {
  const gammas = new Exponents(u, maxOf(u, candidates, count), eps, delta, 2n);
  for (let j = 0; j < count; j++) {
    const s = j + rng.uniformInt(count - j);
    const r = candidates[s];
    candidates[s] = candidates[j];
    candidates[j] = r;
    if (gammas.coin(r, rng)) {
      // Move the winner to the end so that the caller can drop it.
      candidates[j] = candidates[count - 1];
      candidates[count - 1] = r;
      return r;
    }
  }
  throw new ConfideError('E_INTERNAL', 'permute-and-flip visited every candidate without accepting the maximum');
}

/** (scale)·(ln n + ln(1/(1 − level))): the selection utility bound, 0 when n = 1. */
function utilityMargin(scale: number, n: number, failure: number): number {
  return n === 1 ? 0 : scale * (Math.log(n) - Math.log(failure));
}

function release<T>(value: T, epsilon: number, event: PrivacyEvent, margin: (level: number) => number): Release<T> {
  return { value, guarantee: pure(epsilon), event, margin };
}

// ---------------------------------------------------------------------------
// Public mechanisms

/**
 * The exponential mechanism: returns index i with probability proportional to
 * exp(ε·u_i/(2Δ)) (exp(ε·u_i/Δ) with `monotonic: true`).
 *
 * Guarantee: pure ε-DP for neighbours that move each utility by at most Δ
 * (Dwork and Roth Thm 3.10); event `{ type: 'epsilon-delta', epsilon, name: 'exponential' }`.
 * See the module comment for the threat model.
 *
 * Sampling is exact rejection: draw i uniformly, accept with the exact coin
 * Bernoulli(exp(−ε(u_max − u_i)/(2Δ))), repeat. The expected number of rounds
 * is n / Σ_i exp(−γ_i), between 1 and n; `permuteAndFlip` never needs more
 * than n coins, and is never less accurate, so prefer it for large n.
 *
 * `margin(level)` is a utility margin, not a noise margin: with probability at
 * least `level`, u_chosen >= u_max − (2Δ/ε)(ln n + ln(1/(1 − level)))
 * (Δ/ε when monotonic; Dwork and Roth Thm 3.11). It depends only on n, ε and Δ.
 */
export function exponentialMechanism(
  utilities: ArrayLike<number>,
  options: ExponentialMechanismOptions,
): Release<number> {
  const u = autilities(utilities, 'utilities');
  const { epsilon, sensitivity, eps, delta, rng, monotonic } = acheck(options, EM_KEYS);
  const n = u.length;
  const gammas = new Exponents(u, maxOf(u), eps, delta, monotonic ? 1n : 2n);
  let chosen: number;
  for (;;) {
    const i = rng.uniformInt(n);
    if (gammas.coin(i, rng)) {
      chosen = i;
      break;
    }
  }
  const scale = (monotonic ? 1 : 2) * (sensitivity / epsilon);
  return release(chosen, epsilon, { type: 'epsilon-delta', epsilon, name: 'exponential' }, (level) =>
    utilityMargin(scale, n, 1 - alevel(level)),
  );
}

/**
 * Permute-and-flip (McKenna and Sheldon, NeurIPS 2020): visit the
 * candidates in a uniformly random order and stop at the first r whose coin
 * Bernoulli(exp(ε(u_r − u_max)/(2Δ))) succeeds. The best candidate succeeds
 * with probability 1, so at most n coins are drawn.
 *
 * Guarantee: pure ε-DP for neighbours that move each utility by at most Δ
 * (McKenna and Sheldon 2020); event `{ type: 'epsilon-delta', epsilon, name: 'permute-and-flip' }`.
 * Its expected utility is never worse than the exponential mechanism's at the
 * same ε (also McKenna and Sheldon). Threat model: see the module comment.
 *
 * `margin(level)` is a utility margin: with probability at least `level`,
 * u_chosen >= u_max − (2Δ/ε)(ln n + ln(1/(1 − level))). (Permute-and-flip is
 * report-noisy-max with Exponential(2Δ/ε) noise (Ding et al. 2021); the chosen
 * candidate's noise is at most the largest of n such draws.)
 */
export function permuteAndFlip(utilities: ArrayLike<number>, options: PermuteAndFlipOptions): Release<number> {
  const u = autilities(utilities, 'utilities');
  const { epsilon, sensitivity, eps, delta, rng } = acheck(options, SELECTION_KEYS);
  const n = u.length;
  const candidates = new Uint32Array(n);
  for (let i = 0; i < n; i++) candidates[i] = i;
  const chosen = permuteAndFlipDraw(u, candidates, n, eps, delta, rng);
  const scale = 2 * (sensitivity / epsilon);
  return release(chosen, epsilon, { type: 'epsilon-delta', epsilon, name: 'permute-and-flip' }, (level) =>
    utilityMargin(scale, n, 1 - alevel(level)),
  );
}

/**
 * Report-noisy-max, the recommended one: permute-and-flip, which Ding, Kifer,
 * Saghaian, Steinke, Wang, Xiao and Zhang (2021) prove is identical in
 * distribution to report-noisy-max with Exponential(2Δ/ε) noise, and which is
 * never less accurate than the exponential mechanism (McKenna and Sheldon
 * 2020). Sampled exactly, without any floating-point noise. Same guarantee,
 * event and margin as `permuteAndFlip`.
 */
export const reportNoisyMax: (utilities: ArrayLike<number>, options: PermuteAndFlipOptions) => Release<number> =
  permuteAndFlip;

const F64 = new Float64Array(1);
const U64 = new BigUint64Array(F64.buffer);

/** The largest double <= ε/k exactly (so that k steps never spend more than ε). */
function stepEpsilon(epsilon: number, eps: Rational, k: number): number {
  let s = epsilon / k;
  for (;;) {
    const r = arational(s, 'epsilon');
    if (r.num * BigInt(k) * eps.den <= eps.num * r.den) return s;
    F64[0] = s;
    U64[0] -= 1n; // next double down (s > 0)
    s = F64[0];
  }
}

/**
 * The top k candidates by utility, privately: k permute-and-flip draws
 * without replacement, each with ε/k, in the order drawn.
 *
 * Guarantee: pure ε-DP for neighbours that move each utility by at most Δ,
 * by basic composition of k (ε/k)-DP draws (Dwork and Roth Thm 3.16). The
 * per-draw ε is the largest double not above ε/k, so the event
 * `{ type: 'self-composed', event: { type: 'epsilon-delta', name:
 * 'permute-and-flip', epsilon: ε/k }, count: k }` is exact and an accountant
 * may compose it more tightly than k·(ε/k). Threat model: see the module comment.
 *
 * `margin(level)` is a utility margin: with probability at least `level`, for
 * every j the j-th chosen candidate has utility >= (the j-th largest utility)
 * − (2Δk/ε)(ln n + ln(k/(1 − level))) (the single-draw bound at ε/k with a
 * union bound over the k draws).
 */
export function topK(utilities: ArrayLike<number>, k: number, options: TopKOptions): Release<number[]> {
  const u = autilities(utilities, 'utilities');
  ainteger(k, 'k', 1, MAX_CANDIDATES);
  const { epsilon, sensitivity, eps, delta, rng } = acheck(options, SELECTION_KEYS);
  const n = u.length;
  if (k > n)
    throw new ConfideError('E_BAD_INPUT', `"k" expected an integer in [1, ${n}] (the number of candidates), got ${k}`, { field: 'k' });
  const step = stepEpsilon(epsilon, eps, k);
  const stepEps = arational(step, 'epsilon');
  const candidates = new Uint32Array(n);
  for (let i = 0; i < n; i++) candidates[i] = i;
  const chosen: number[] = [];
  for (let count = n; chosen.length < k; count--) chosen.push(permuteAndFlipDraw(u, candidates, count, stepEps, delta, rng));
  const scale = 2 * (sensitivity / step);
  const event: PrivacyEvent = {
    type: 'self-composed',
    event: { type: 'epsilon-delta', epsilon: step, name: 'permute-and-flip' },
    count: k,
  };
  return release(chosen, epsilon, event, (level) => utilityMargin(scale, n, (1 - alevel(level)) / k));
}
