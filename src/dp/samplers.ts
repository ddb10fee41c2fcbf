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
 *
 * `DiscreteLaplace.fill` into an Int32Array or Float64Array (t < 2^32, s < 2^20)
 * runs the same algorithm in a fused WASM kernel (or its JS twin), which takes
 * its uniform words from the ChaCha20 keystream under a fresh 256-bit key drawn
 * from the caller's rng (nonce 0, a new key whenever 2^36 - 2^24 words are used
 * up). ChaCha20 keyed from a CSPRNG is a CSPRNG: telling its keystream from
 * uniform words would break ChaCha20 as a PRF. The kernel decides every coin by
 * its 32-bit prefix as above and stops at a tie (or after 2^20 Bernoulli(exp(-1))
 * successes); JS then finishes that sample exactly, reading the next keystream
 * words in the order `sample` would read words from its rng, and resumes the
 * kernel. So a fill has exactly the distribution of independent `sample` calls.
 */
import { atyped } from '../core/assert.ts';
import { ConfideError } from '../core/errors.ts';
import { arng, systemRng, type Rng } from '../core/random.ts';
import {
  LAPLACE_DONE,
  LAPLACE_EXHAUSTED,
  LAPLACE_RANGE,
  PHASE_E1,
  PHASE_GEOMETRIC,
  PHASE_P0,
  PHASE_P1,
  arenaAlloc,
  jsKernels,
  kernels,
  type ArenaVector,
  type Kernels,
  type LaplaceParams,
  type LaplaceRun,
} from '../core/wasm/loader.ts';
import { arational, isqrt, rationalString, type Rational, type RationalLike } from './rational.ts';

/** Where the coins get their uniform 32-bit words: an Rng, or a keystream read from a position. */
interface WordSource {
  nextU32(): number;
}

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
function expCoin(rng: WordSource, p32: number, a: bigint, b: bigint): boolean {
  return expCoinFrom(rng.nextU32(), rng, p32, a, b);
}

/** expCoin with the first word r already drawn. */
function expCoinFrom(r: number, rng: WordSource, p32: number, a: bigint, b: bigint): boolean {
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
  #complete = false;
  constructor(size: number, step: bigint, t: bigint) {
    this.#p = new Uint32Array(size);
    this.#known = new Uint8Array(size);
    this.#t = t;
    this.#step = step;
  }
  /** The prefix for i >= 1. */
  prefix(i: number): number {
    if (this.#known[i] === 0) {
      this.#p[i] = Number(expNegFloor(BigInt(i) * this.#step, this.#t, 32));
      this.#known[i] = 1;
    }
    return this.#p[i];
  }
  /** The coin for exp(-(i·step)/t). */
  coin(rng: WordSource, i: number): boolean {
    return i === 0 || this.coinFrom(rng.nextU32(), rng, i);
  }
  /** The coin for exp(-(i·step)/t), i >= 1, with its first word r already drawn. */
  coinFrom(r: number, rng: WordSource, i: number): boolean {
    const p = this.prefix(i);
    return r !== p ? r < p : expCoinFrom(r, rng, p, BigInt(i) * this.#step, this.#t);
  }
  /**
   * Every prefix, for the kernels (entry 0 stays 0: it is never read). The
   * products exp(-i·γ₁) = exp(-γ₁)^i run on 64-bit fixed-point bounds, rounded
   * outward, from lo <= 2^64·exp(-γ₁) < lo + 1; where the bounds agree on the
   * top 32 bits those are the prefix, elsewhere expNegFloor decides. The bounds
   * widen by about 3 units of 2^-64 a step, so after 2^16 steps they disagree
   * with probability about 2^-14 per entry: all exact, at a few ms per 2^16.
   */
  all(): Uint32Array {
    if (this.#complete) return this.#p;
    const p = this.#p, known = this.#known, t = this.#t, step = this.#step;
    const a = expNegFloor(step, t, 64), a1 = a + 1n;
    let lo = 1n << 64n, hi = lo; // lo <= 2^64·exp(-i·γ₁) <= hi, here for i = 0
    for (let i = 1; i < p.length; i++) {
      lo = (lo * a) >> 64n;
      hi = ((hi * a1) >> 64n) + 1n;
      if (known[i] !== 0) continue;
      const top = lo >> 32n;
      p[i] = top === hi >> 32n ? Number(top) : Number(expNegFloor(BigInt(i) * step, t, 32));
      known[i] = 1;
    }
    this.#complete = true;
    return p;
  }
}

/** Number of Bernoulli(exp(-1)) successes before the first failure. */
function geometricExpOne(rng: WordSource): number {
  let v = 0;
  while (expCoin(rng, EXP_MINUS_ONE_P32, 1n, 1n)) v++;
  return v;
}

// ---------------------------------------------------------------------------
// Discrete Laplace

const FAST_T = 2 ** 48;
/** Keystream words per key in the kernel path: an attempt starting below this ends below 2^36 (block 2^32) unless it draws 2^24 words. */
const KEYSTREAM_LIMIT = 2 ** 36 - 2 ** 24;
/** Shorter fills sample directly from the rng: drawing a key and a keystream chunk would cost more. */
const KERNEL_MIN_LENGTH = 16;
const NONCE_ZERO = new Uint8Array(12);
const NO_TABLE = new Uint32Array(0);

/**
 * Uniform words for the kernel path: kernel runs over a keystream, and single
 * words of it at a position, to finish the samples a run stops in.
 */
export interface LaplaceWordStream {
  run(out: Int32Array | Float64Array, params: LaplaceParams, run: LaplaceRun): void;
  word(pos: number): number;
}

/** The ChaCha20 keystream under `key` (nonce 0), run by kernel set `k`. */
function chachaStream(k: Kernels, key: Uint8Array): LaplaceWordStream {
  const block = new Uint32Array(16);
  let cached = -1;
  return {
    run: (out, params, run) => k.laplace(out, params, key, run),
    word(pos) {
      const b = Math.floor(pos / 16);
      if (b >= 2 ** 32) throw new ConfideError('E_INTERNAL', 'discrete Laplace keystream exhausted');
      if (b !== cached) {
        jsKernels.chacha20(key, NONCE_ZERO, b, block);
        cached = b;
      }
      return block[pos % 16];
    },
  };
}

/** Options of `laplaceKernelFill` (for tests). */
export interface LaplaceKernelOptions {
  /** The kernel set (default: `kernels()`, WASM when available). */
  kernels?: Kernels;
  /** The first key (default: 32 bytes from the rng). Later keys always come from the rng. */
  key?: Uint8Array;
  /** The first keystream word (default 0). */
  pos?: number;
  /** Draw a new key before an attempt would start at this word (default 2^36 - 2^24). */
  limit?: number;
  /** Words for a key (default: the ChaCha20 keystream run by `kernels`); tests script them. */
  stream?: (key: Uint8Array) => LaplaceWordStream;
}

/** Frees a collected sampler's kernel tables, which live in WASM memory outside the garbage collector's reach. */
const tableRegistry = new FinalizationRegistry<ArenaVector<Uint32Array>[]>((tables) => {
  for (const v of tables) v.free();
});

let kernelFill: (dl: DiscreteLaplace, out: Int32Array | Float64Array, rng: Rng, opts: LaplaceKernelOptions) => void;

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
  /** t < 2^32 (and the fast path): fill can run the kernel. */
  readonly #kernelFit: boolean;
  /** The digit tables copied into WASM memory, on the first WASM fill. */
  #arena: { p0: ArenaVector<Uint32Array>; p1: ArenaVector<Uint32Array> } | null = null;

  static {
    kernelFill = (dl, out, rng, opts) => {
      if (!dl.#kernelFit)
        throw new ConfideError('E_BAD_INPUT', `"scale" expected t < 2^32 and s < 2^20 for the kernel path, got ${rationalString(dl.scale)}`, { field: 'scale' });
      dl.#fillKernel(out, rng, opts);
    };
  }

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
    this.#kernelFit = this.#fast && this.#t < 2n ** 32n;
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
    const t = this.#tNum, digits = this.#digits;
    for (;;) {
      const u = rng.uniformInt(t);
      // Bernoulli(exp(-u/t)) as the conjunction of one coin per 16-bit digit of u.
      let accept = digits[0].coin(rng, u % 65536);
      for (let j = 1, rest = Math.floor(u / 65536); accept && j < digits.length; j++, rest = Math.floor(rest / 65536))
        accept = digits[j].coin(rng, rest % 65536);
      if (!accept) continue;
      return this.#quotient(u, geometricExpOne(rng));
    }
  }

  /** ⌊(u + tv)/s⌋ on the fast path. */
  #quotient(u: number, v: number): number {
    const x = u + this.#tNum * v;
    if (!(x < 2 ** 53)) {
      const y = (BigInt(u) + this.#t * BigInt(v)) / this.#s;
      if (y > BigInt(Number.MAX_SAFE_INTEGER)) throw new ConfideError('E_OVERFLOW', 'discrete Laplace sample exceeds 2^53', { field: 'scale' });
      return Number(y);
    }
    return this.#sNum === 1 ? x : Math.floor(x / this.#sNum);
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

  /**
   * Fills `out` with independent samples and returns it. Int32Array and
   * Float64Array outputs with t < 2^32 run the WASM kernel (the JS twin
   * without WASM) on a ChaCha20 keystream keyed from `rng`; see the top of
   * this file.
   */
  fill<T extends Int32Array | Float64Array | BigInt64Array>(out: T, rng: Rng = systemRng()): T {
    if (this.#kernelFit && (out instanceof Int32Array || out instanceof Float64Array) && out.length >= KERNEL_MIN_LENGTH) {
      this.#fillKernel(out, arng(rng), {});
      return out;
    }
    return fillWith(out, rng, (r) => this.sample(r), this.#fast ? (r) => this.#sampleFast(r) : null);
  }

  /** The kernel parameters, with the tables in WASM memory for the WASM kernels. */
  #kernelParams(k: Kernels): LaplaceParams {
    const p0 = this.#digits[0].all();
    const p1 = this.#digits.length > 1 ? this.#digits[1].all() : NO_TABLE;
    const base = { t: this.#tNum, s: this.#sNum, e1: EXP_MINUS_ONE_P32 };
    if (k.backend === 'js') return { ...base, p0, p1 };
    if (this.#arena === null) {
      const a0 = arenaAlloc(Uint32Array, p0.length), a1 = arenaAlloc(Uint32Array, p1.length);
      a0.view.set(p0);
      a1.view.set(p1);
      this.#arena = { p0: a0, p1: a1 };
      tableRegistry.register(this, [a0, a1]);
    }
    return { ...base, p0: this.#arena.p0.view, p1: this.#arena.p1.view };
  }

  /**
   * The kernel path of `fill`: kernel runs, and in between, in JS, the rest of
   * each sample a run stopped in, on the same keystream words.
   */
  #fillKernel(out: Int32Array | Float64Array, rng: Rng, opts: LaplaceKernelOptions): void {
    const k = opts.kernels ?? kernels();
    const { byteOffset, length } = out;
    const params = this.#kernelParams(k);
    // Copying the tables into WASM memory may grow it, which detaches an `out` that lived
    // there (its length drops to 0): view the same bytes in the grown memory.
    if (out.length !== length && k.backend !== 'js')
      out = out instanceof Int32Array ? new Int32Array(params.p0.buffer, byteOffset, length) : new Float64Array(params.p0.buffer, byteOffset, length);
    const streamFor = opts.stream ?? ((key: Uint8Array) => chachaStream(k, key));
    let stream = streamFor(opts.key ?? rng.bytes(32));
    const run: LaplaceRun = { index: 0, pos: opts.pos ?? 0, limit: opts.limit ?? KEYSTREAM_LIMIT, status: 0, phase: 0, u: 0, v: 0, digit: 0 };
    const int32 = out instanceof Int32Array;
    const words = { pos: 0, nextU32: () => stream.word(words.pos++) };
    for (;;) {
      stream.run(out, params, run);
      if (run.status === LAPLACE_DONE) return;
      if (run.status === LAPLACE_RANGE) throw overflow(run.index, 'Int32Array');
      if (run.status === LAPLACE_EXHAUSTED) {
        // Between attempts: a fresh key continues the stream of independent uniform words.
        stream = streamFor(rng.bytes(32));
        run.pos = 0;
        continue;
      }
      words.pos = run.pos;
      const y = this.#finishStopped(run, words);
      run.pos = words.pos;
      if (y === null) continue; // rejected: the kernel starts the next attempt
      if (int32 ? y < INT32_MIN || y > INT32_MAX : !Number.isSafeInteger(y)) throw overflow(run.index, out.constructor.name);
      out[run.index++] = y;
    }
  }

  /**
   * The rest of the attempt a kernel run stopped in (LAPLACE_STOP), reading
   * words exactly as #sampleFast reads them from its rng from that point on:
   * the sample, or null when the attempt is rejected.
   */
  #finishStopped(run: LaplaceRun, words: WordSource): number | null {
    const digits = this.#digits;
    let v: number;
    if (run.phase === PHASE_P0 || run.phase === PHASE_P1) {
      // The word just read equals the prefix: the comparison goes on with further exact bits.
      const table = digits[run.phase === PHASE_P0 ? 0 : 1];
      if (!table.coinFrom(table.prefix(run.digit), words, run.digit)) return null;
      if (run.phase === PHASE_P0 && digits.length > 1 && !digits[1].coin(words, Math.floor(run.u / 65536))) return null;
      v = geometricExpOne(words);
    } else if (run.phase === PHASE_E1) {
      v = expCoinFrom(EXP_MINUS_ONE_P32, words, EXP_MINUS_ONE_P32, 1n, 1n) ? run.v + 1 + geometricExpOne(words) : run.v;
    } else if (run.phase === PHASE_GEOMETRIC) {
      v = run.v + geometricExpOne(words);
    } else {
      throw new ConfideError('E_INTERNAL', `discrete Laplace kernel stopped in unknown phase ${run.phase}`);
    }
    const y = this.#quotient(run.u, v);
    const negative = (words.nextU32() & 1) === 1;
    if (negative && y === 0) return null;
    return negative ? -y : y;
  }

  /** Variance 2e^{-1/τ}/(1-e^{-1/τ})² (computed in floating point, for reports). */
  get variance(): number {
    const p = Math.exp(-Number(this.#s) / Number(this.#t));
    return (2 * p) / (1 - p) ** 2;
  }
}

/**
 * `fill` through the kernel path with a chosen kernel set, first key and
 * start position, or scripted words. Internal (for tests; confide/dp does not
 * export it). Requires t < 2^32 and s < 2^20.
 */
export function laplaceKernelFill<T extends Int32Array | Float64Array>(dl: DiscreteLaplace, out: T, rng: Rng, opts: LaplaceKernelOptions = {}): T {
  kernelFill(dl, out, arng(rng), opts);
  return out;
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

  /**
   * Fills `out` with independent samples. For Int32Array and Float64Array the
   * discrete Laplace proposals come in batches from its (WASM) fill and are
   * accepted one by one: the proposals are i.i.d. either way, so this is
   * algorithm 3 unchanged, with the proposal loop vectorised.
   */
  fill<T extends Int32Array | Float64Array | BigInt64Array>(out: T, rng: Rng = systemRng()): T {
    atyped(out, 'out', Int32Array, Float64Array, BigInt64Array);
    arng(rng);
    if (out instanceof BigInt64Array || out.length < 64) return fillWith(out, rng, (r) => this.sample(r), null);
    const batch = new Float64Array(Math.min(1 << 16, Math.ceil(out.length * 1.5) + 64));
    const int32 = out instanceof Int32Array;
    let i = 0;
    while (i < out.length) {
      this.#laplace.fill(batch, rng);
      for (let j = 0; j < batch.length && i < out.length; j++) {
        const y = batch[j];
        if (!this.#acceptCoin(rng, Math.abs(y))) continue;
        if (int32 && (y < INT32_MIN || y > INT32_MAX)) throw overflow(i, 'Int32Array');
        out[i++] = y;
      }
    }
    return out;
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

