/**
 * Exact samplers for differential privacy (Canonne, Kamath, Steinke 2020,
 * "The Discrete Gaussian for Differential Privacy", algorithms 1 to 3).
 *
 * No floating-point value decides an outcome. Parameters are exact rationals;
 * every coin is a comparison of uniform random bits with the exact binary
 * expansion of a probability:
 *
 * - Bernoulli(exp(-γ)) for rational γ compares a uniform 32-bit word with
 *   floor(2^32·exp(-γ)), computed once per γ with interval arithmetic on
 *   bigints (so the 32 bits are provably right). On a tie (probability 2^-32)
 *   the comparison continues with further exact bits of the expansion, so the
 *   outcome has exactly the probability exp(-γ). That replaces CKS20's
 *   algorithm 1 loop (several rational coins per call) by one draw and one
 *   comparison.
 * - Bernoulli(exp(-(a+b))) = Bernoulli(exp(-a)) ∧ Bernoulli(exp(-b)) for
 *   independent coins, so a scale t up to 2^32 needs two tables of at most
 *   2^16 prefixes (for the high and low halves of U), filled lazily.
 *
 * The rest is CKS20 as written: discrete Laplace by algorithm 2 (U uniform
 * below t, accepted with Bernoulli(exp(-U/t)), plus t times a geometric count
 * of Bernoulli(exp(-1)) successes), discrete Gaussian by algorithm 3
 * (discrete Laplace proposals accepted with Bernoulli(exp(-(|Y| - σ²/t)²/2σ²))).
 * Parameters beyond the 32-bit fast path run the same algorithms on bigints.
 */
import { atyped } from '../core/assert.ts';
import { ConfideError } from '../core/errors.ts';
import { arng, systemRng, type Rng } from '../core/random.ts';
import { arational, isqrt, rationalString, type Rational, type RationalLike } from './rational.ts';

// ---------------------------------------------------------------------------
// Exact binary expansion of exp(-a/b)

const E_CACHE = new Map<number, [bigint, bigint]>();

/** [lo, hi] with lo <= 2^P·e <= hi. */
function eInterval(P: number): [bigint, bigint] {
  let c = E_CACHE.get(P);
  if (!c) {
    c = seriesInterval(1n, 1n, P);
    E_CACHE.set(P, c);
  }
  return c;
}

/** [lo, hi] bounding 2^P·exp(a/b) for 0 <= a/b < 1 (Taylor series, floored terms). */
function seriesInterval(a: bigint, b: bigint, P: number): [bigint, bigint] {
  const one = 1n << BigInt(P);
  let term = one, sum = one, n = 0n;
  while (term > 0n) {
    n++;
    term = (term * a) / (b * n);
    sum += term;
  }
  // Each floored term is low by < 1 + (error carried, < 2 since a/b < 1);
  // the tail after the first zero term is < 2 units. 4 per term is generous.
  return [sum, sum + 4n * (n + 1n)];
}

/** floor(2^k · exp(-a/b)) for a/b > 0, exactly. */
export function expNegFloor(a: bigint, b: bigint, k: number): bigint {
  const m = a / b; // integer part of the exponent
  const f = a % b;
  for (let P = k + 64; ; P += 64) {
    // 2^P·exp(a/b) = 2^P·e^m·exp(f/b), as an interval.
    let [lo, hi] = f === 0n ? [1n << BigInt(P), 1n << BigInt(P)] : seriesInterval(f, b, P);
    if (m > 0n) {
      const [elo, ehi] = eInterval(P);
      let [plo, phi] = [elo, ehi];
      let e = m;
      const shift = BigInt(P);
      // Multiply [lo, hi] by e^m by repeated squaring, rounding outward.
      for (;;) {
        if (e & 1n) {
          lo = (lo * plo) >> shift;
          hi = ((hi * phi) >> shift) + 1n;
        }
        e >>= 1n;
        if (e === 0n) break;
        plo = (plo * plo) >> shift;
        phi = ((phi * phi) >> shift) + 1n;
      }
    }
    const num = 1n << BigInt(k + P);
    const below = num / hi, above = num / lo;
    if (below === above) return below;
  }
}

/**
 * One coin with probability exp(-a/b), given p32 = floor(2^32·exp(-a/b)).
 * Draws one word; only on a tie does it compute further bits.
 */
function expCoin(rng: Rng, p32: number, a: bigint, b: bigint): boolean {
  return expCoinFrom(rng.nextU32(), rng, p32, a, b);
}

/** expCoin with the first word r already drawn. */
function expCoinFrom(r: number, rng: Rng, p32: number, a: bigint, b: bigint): boolean {
  if (r !== p32) return r < p32;
  for (let k = 64; ; k += 32) {
    const block = Number(expNegFloor(a, b, k) & 0xffffffffn);
    const s = rng.nextU32();
    if (s !== block) return s < block;
  }
}

const EXP_MINUS_ONE_P32 = Number(expNegFloor(1n, 1n, 32));

/** Exponents from here on are split into exp(-1) coins, so no expansion of e^γ is ever computed. */
const SPLIT_GAMMA = 64n;

/**
 * Bernoulli(exp(-γ)) for a fixed rational γ >= 0. Below γ = 64 one 32-bit
 * prefix decides; above, exp(-γ) = exp(-1)^⌊γ⌋ · exp(-{γ}) is a conjunction
 * of independent coins that stops at the first failure (about 1.6 coins
 * expected, whatever γ is).
 */
export class BernoulliExp {
  readonly gamma: Rational;
  readonly #p32: number;
  readonly #whole: bigint;
  readonly #frac: BernoulliExp | null;
  constructor(gamma: RationalLike) {
    this.gamma = arational(gamma, 'gamma', true);
    const { num, den } = this.gamma;
    if (num < SPLIT_GAMMA * den) {
      this.#whole = 0n;
      this.#frac = null;
      this.#p32 = num === 0n ? 2 ** 32 : Number(expNegFloor(num, den, 32));
    } else {
      this.#whole = num / den;
      this.#frac = num % den === 0n ? null : new BernoulliExp({ num: num % den, den });
      this.#p32 = 0;
    }
  }
  sample(rng: Rng = systemRng()): boolean {
    arng(rng);
    if (this.#whole === 0n) return this.#p32 === 2 ** 32 || expCoin(rng, this.#p32, this.gamma.num, this.gamma.den);
    for (let i = 0n; i < this.#whole; i++) if (!expCoin(rng, EXP_MINUS_ONE_P32, 1n, 1n)) return false;
    return this.#frac === null || this.#frac.sample(rng);
  }
}

const coins = new Map<string, BernoulliExp>();

/**
 * A coin with probability exactly exp(-num/den) (num >= 0, den > 0 bigints),
 * for callers whose γ varies per draw; the coins are cached (up to 1024).
 */
export function expCoinRational(num: bigint, den: bigint, rng: Rng): boolean {
  if (num === 0n) return true;
  const key = `${num}/${den}`;
  let coin = coins.get(key);
  if (!coin) {
    if (coins.size >= 1024) coins.delete(coins.keys().next().value as string);
    coin = new BernoulliExp({ num, den });
    coins.set(key, coin);
  }
  return coin.sample(rng);
}

/** A coin with probability exactly exp(-γ), γ a rational >= 0. */
export function bernoulliExp(gamma: RationalLike, rng: Rng = systemRng()): boolean {
  return new BernoulliExp(gamma).sample(rng);
}

/** A coin with probability exactly p, p a rational in [0, 1]. */
export function bernoulli(p: RationalLike, rng: Rng = systemRng()): boolean {
  const r = arational(p, 'p', true);
  if (r.num > r.den) throw new ConfideError('E_BAD_INPUT', `"p" expected a probability in [0, 1], got ${rationalString(r)}`, { field: 'p' });
  arng(rng);
  if (r.den <= 2n ** 53n) return rng.uniformInt(Number(r.den)) < Number(r.num);
  return rng.uniformBigInt(r.den) < r.num;
}

// ---------------------------------------------------------------------------
// Lazily filled tables of 32-bit prefixes


/** Prefixes floor(2^32·exp(-(i·step)/t)) for i < size, computed on first use. */
class PrefixTable {
  /** floor(2^32·exp(-γ_i)) < 2^32 for γ_i > 0; entry 0 (γ = 0) is never read. */
  readonly #p: Uint32Array;
  readonly #known: Uint8Array;
  readonly #t: bigint;
  readonly #step: bigint;
  constructor(size: number, step: bigint, t: bigint) {
    this.#p = new Uint32Array(size);
    this.#known = new Uint8Array(size);
    this.#t = t;
    this.#step = step;
  }
  /** The coin for exp(-(i·step)/t). */
  coin(rng: Rng, i: number): boolean {
    if (i === 0) return true;
    if (this.#known[i] === 0) {
      this.#p[i] = Number(expNegFloor(BigInt(i) * this.#step, this.#t, 32));
      this.#known[i] = 1;
    }
    const p = this.#p[i];
    const r = rng.nextU32();
    return r !== p ? r < p : expCoinFrom(r, rng, p, BigInt(i) * this.#step, this.#t);
  }
}

/** Number of Bernoulli(exp(-1)) successes before the first failure. */
function geometricExpOne(rng: Rng): number {
  let v = 0;
  while (expCoin(rng, EXP_MINUS_ONE_P32, 1n, 1n)) v++;
  return v;
}

// ---------------------------------------------------------------------------
// Discrete Laplace

const FAST_T = 2 ** 48;

/**
 * The discrete Laplace distribution with scale τ = t/s (rational, > 0):
 * P(x) ∝ exp(-|x|/τ) on the integers (CKS20 algorithm 2). Construct once per
 * scale; `sample` and `fill` then draw about five 32-bit words per sample.
 */
export class DiscreteLaplace {
  readonly scale: Rational;
  readonly #t: bigint;
  readonly #s: bigint;
  readonly #fast: boolean;
  readonly #tNum: number;
  readonly #sNum: number;
  /** Tables for the 16-bit digits of U: exp(-U/t) is the product over digits. */
  readonly #digits: PrefixTable[];

  constructor(scale: RationalLike) {
    this.scale = arational(scale, 'scale');
    this.#t = this.scale.num;
    this.#s = this.scale.den;
    // Fast path: t < 2^48 and s < 2^20, so U, X = U + tV and X / s are exact doubles
    // (X is checked; a V large enough to break that has probability below e^-32).
    this.#fast = this.#t < BigInt(FAST_T) && this.#s < 2n ** 20n;
    this.#tNum = Number(this.#t);
    this.#sNum = Number(this.#s);
    this.#digits = [];
    if (this.#fast)
      for (let step = 1; step === 1 || step < this.#tNum; step *= 65536)
        this.#digits.push(new PrefixTable(Math.min(65536, Math.ceil(this.#tNum / step)), BigInt(step), this.#t));
  }

  /** One sample. */
  sample(rng: Rng = systemRng()): number | bigint {
    arng(rng);
    return this.#fast ? this.#sampleFast(rng) : this.#sampleBig(rng);
  }

  /**
   * ⌊X/s⌋ for X = U + tV (CKS20 algorithm 2 before the sign): geometric with
   * P(y) = (1 - e^{-1/τ}) e^{-y/τ}.
   */
  geometric(rng: Rng = systemRng()): number | bigint {
    arng(rng);
    return this.#fast ? this.#geometricFast(rng) : this.#geometricBig(rng);
  }

  #geometricFast(rng: Rng): number {
    const t = this.#tNum, s = this.#sNum, digits = this.#digits;
    for (;;) {
      const u = rng.uniformInt(t);
      // Bernoulli(exp(-u/t)) as the conjunction of one coin per 16-bit digit of u.
      let accept = digits[0].coin(rng, u % 65536);
      for (let j = 1, rest = Math.floor(u / 65536); accept && j < digits.length; j++, rest = Math.floor(rest / 65536))
        accept = digits[j].coin(rng, rest % 65536);
      if (!accept) continue;
      const v = geometricExpOne(rng);
      const x = u + t * v;
      if (!(x < 2 ** 53)) {
        const y = (BigInt(u) + this.#t * BigInt(v)) / this.#s;
        if (y > BigInt(Number.MAX_SAFE_INTEGER)) throw new ConfideError('E_OVERFLOW', 'discrete Laplace sample exceeds 2^53', { field: 'scale' });
        return Number(y);
      }
      return s === 1 ? x : Math.floor(x / s);
    }
  }

  #geometricBig(rng: Rng): bigint {
    const t = this.#t;
    for (;;) {
      const u = rng.uniformBigInt(t);
      if (u !== 0n && !expCoin(rng, Number(expNegFloor(u, t, 32)), u, t)) continue;
      return (u + t * BigInt(geometricExpOne(rng))) / this.#s;
    }
  }

  #sampleFast(rng: Rng): number {
    for (;;) {
      const y = this.#geometricFast(rng);
      const negative = (rng.nextU32() & 1) === 1;
      if (negative && y === 0) continue; // so that 0 is not counted twice
      return negative ? -y : y;
    }
  }

  #sampleBig(rng: Rng): bigint {
    for (;;) {
      const y = this.#geometricBig(rng);
      const negative = (rng.nextU32() & 1) === 1;
      if (negative && y === 0n) continue;
      return negative ? -y : y;
    }
  }

  /** Fills `out` with independent samples and returns it. */
  fill<T extends Int32Array | Float64Array | BigInt64Array>(out: T, rng: Rng = systemRng()): T {
    return fillWith(out, rng, (r) => this.sample(r), this.#fast ? (r) => this.#sampleFast(r) : null);
  }

  /** Variance 2e^{-1/τ}/(1-e^{-1/τ})² (computed in floating point, for reports). */
  get variance(): number {
    const p = Math.exp(-Number(this.#s) / Number(this.#t));
    return (2 * p) / (1 - p) ** 2;
  }
}

// ---------------------------------------------------------------------------
// Discrete Gaussian

/**
 * The discrete Gaussian N_Z(0, σ²) with rational σ² > 0: P(x) ∝ exp(-x²/2σ²)
 * on the integers (CKS20 algorithm 3, with t = ⌊σ⌋ + 1).
 */
export class DiscreteGaussian {
  readonly sigma2: Rational;
  readonly #laplace: DiscreteLaplace;
  readonly #t: bigint;
  /** σ²/t and 1/(2σ²) in floating point, for the filter in #acceptCoin. */
  readonly #c: number;
  readonly #inv2s2: number;
  readonly #floatOk: boolean;

  constructor(sigma2: RationalLike) {
    this.sigma2 = arational(sigma2, 'sigma2');
    this.#t = isqrt(this.sigma2.num / this.sigma2.den) + 1n;
    this.#laplace = new DiscreteLaplace({ num: this.#t, den: 1n });
    const s2 = Number(this.sigma2.num) / Number(this.sigma2.den);
    this.#c = s2 / Number(this.#t);
    this.#inv2s2 = 1 / (2 * s2);
    this.#floatOk = Number.isFinite(s2) && s2 > 1e-6 && s2 < 2 ** 80;
  }

  /** γ(|y|) = (|y| - σ²/t)² / (2σ²) as num/den: (|y|·d·t - n)² / (2·n·d·t²). */
  #gamma(y: bigint): [bigint, bigint] {
    const { num: n, den: d } = this.sigma2;
    const t = this.#t;
    const c = y * d * t - n;
    return [c * c, 2n * n * d * t * t];
  }

  /**
   * Bernoulli(exp(-γ(|y|))). A floating-point estimate of the probability,
   * with an error margin (1e-10 absolute, far above any rounding here),
   * decides only when the drawn 32-bit word lies clearly on one side; inside
   * the margin (probability about 2^-31) the exact prefix decides. The result
   * is therefore always the exact coin; floating point only saves work.
   */
  #acceptCoin(rng: Rng, y: number | bigint): boolean {
    const r = rng.nextU32();
    if (typeof y === 'number' && y < 2 ** 40 && this.#floatOk) {
      const diff = y - this.#c;
      const p = Math.exp(-(diff * diff) * this.#inv2s2);
      const lo = Math.floor((p - 1e-10) * 4294967296);
      if (r < lo) return true;
      const hi = Math.ceil((p + 1e-10) * 4294967296);
      if (r >= hi) return false;
    }
    const [a, b] = this.#gamma(typeof y === 'bigint' ? y : BigInt(y));
    if (a === 0n) return true;
    if (a < SPLIT_GAMMA * b) return expCoinFrom(r, rng, Number(expNegFloor(a, b, 32)), a, b);
    // γ >= 64: the first exp(-1) coin takes the word already drawn, the rest follow.
    if (!expCoinFrom(r, rng, EXP_MINUS_ONE_P32, 1n, 1n)) return false;
    return expCoinRational(a - b, b, rng);
  }

  sample(rng: Rng = systemRng()): number | bigint {
    arng(rng);
    for (;;) {
      const y = this.#laplace.sample(rng);
      if (this.#acceptCoin(rng, typeof y === 'bigint' ? (y < 0n ? -y : y) : Math.abs(y))) return y;
    }
  }

  fill<T extends Int32Array | Float64Array | BigInt64Array>(out: T, rng: Rng = systemRng()): T {
    return fillWith(out, rng, (r) => this.sample(r), null);
  }
}

// ---------------------------------------------------------------------------
// Vectorised fills

const INT32_MIN = -(2 ** 31), INT32_MAX = 2 ** 31 - 1;

function fillWith<T extends Int32Array | Float64Array | BigInt64Array>(
  out: T,
  rng: Rng,
  sample: (rng: Rng) => number | bigint,
  fast: ((rng: Rng) => number) | null,
): T {
  atyped(out, 'out', Int32Array, Float64Array, BigInt64Array);
  arng(rng);
  if (out instanceof BigInt64Array) {
    for (let i = 0; i < out.length; i++) {
      const x = BigInt(sample(rng));
      if (x !== BigInt.asIntN(64, x)) throw overflow(i, 'BigInt64Array');
      out[i] = x;
    }
    return out;
  }
  const f = fast ?? ((r: Rng) => Number(sample(r)));
  const int32 = out instanceof Int32Array;
  for (let i = 0; i < out.length; i++) {
    const x = f(rng);
    if (int32 ? x < INT32_MIN || x > INT32_MAX : !Number.isSafeInteger(x)) throw overflow(i, out.constructor.name);
    out[i] = x;
  }
  return out;
}

function overflow(i: number, type: string): ConfideError {
  return new ConfideError('E_OVERFLOW', `sample ${i} does not fit a ${type}; use a wider array (BigInt64Array)`, {
    field: 'out',
  });
}

// ---------------------------------------------------------------------------
// Function forms (samplers are cached per parameter)

const cache = new Map<string, DiscreteLaplace | DiscreteGaussian>();
function cached<T extends DiscreteLaplace | DiscreteGaussian>(key: string, make: () => T): T {
  let s = cache.get(key) as T | undefined;
  if (!s) {
    if (cache.size >= 64) cache.delete(cache.keys().next().value as string);
    s = make();
    cache.set(key, s);
  }
  return s;
}

/** The sampler for a discrete Laplace scale (shared, so its tables fill once). */
export function discreteLaplaceSampler(scale: RationalLike): DiscreteLaplace {
  const r = arational(scale, 'scale');
  return cached(`L${rationalString(r)}`, () => new DiscreteLaplace(r));
}

/** The sampler for a discrete Gaussian variance (shared). */
export function discreteGaussianSampler(sigma2: RationalLike): DiscreteGaussian {
  const r = arational(sigma2, 'sigma2');
  return cached(`G${rationalString(r)}`, () => new DiscreteGaussian(r));
}

/** One discrete Laplace sample with scale τ (P(x) ∝ exp(-|x|/τ)). */
export function discreteLaplace(scale: RationalLike, rng: Rng = systemRng()): number | bigint {
  return discreteLaplaceSampler(scale).sample(rng);
}

/** One discrete Gaussian sample with variance parameter σ². */
export function discreteGaussian(sigma2: RationalLike, rng: Rng = systemRng()): number | bigint {
  return discreteGaussianSampler(sigma2).sample(rng);
}

/**
 * Geometric: the number of Bernoulli(exp(-γ)) successes before the first
 * failure, P(k) = (1 - e^{-γ}) e^{-γk}, for rational γ > 0 (CKS20's
 * construction inside algorithm 2, with scale 1/γ).
 */
export function geometricExp(gamma: RationalLike, rng: Rng = systemRng()): number | bigint {
  const g = arational(gamma, 'gamma');
  return discreteLaplaceSampler({ num: g.den, den: g.num }).geometric(rng);
}

/** Samples the integer count n >= 0 of failures before the first success of Bernoulli(p), p rational in (0, 1]. */
export function geometric(p: RationalLike, rng: Rng = systemRng()): number {
  const r = arational(p, 'p');
  if (r.num > r.den) throw new ConfideError('E_BAD_INPUT', `"p" expected a probability in (0, 1], got ${rationalString(r)}`, { field: 'p' });
  // One trial per failure: below 2^-20 the expected 2^20 trials are the wrong tool; geometricExp is O(1).
  if (r.num * 2n ** 20n < r.den)
    throw new ConfideError('E_BAD_INPUT', `"p" expected a probability >= 2^-20 (for smaller p use geometricExp), got ${rationalString(r)}`, { field: 'p' });
  arng(rng);
  let n = 0;
  while (!bernoulli(r, rng)) {
    if (++n > Number.MAX_SAFE_INTEGER - 1) throw new ConfideError('E_OVERFLOW', 'geometric count exceeds 2^53', { field: 'p' });
  }
  return n;
}

