/** Parameters of a discrete Laplace run (see `laplace` below and src/dp/samplers.ts). */
export interface LaplaceParams {
  /** Scale numerator, 1 <= t < 2^32. */
  readonly t: number;
  /** Scale denominator, 1 <= s < 2^20. */
  readonly s: number;
  /** floor(2^32·exp(-1)). */
  readonly e1: number;
  /** floor(2^32·exp(-d/t)) for d < min(t, 65536) (entry 0 is never read). */
  readonly p0: Uint32Array;
  /** floor(2^32·exp(-65536·d/t)) for d < ceil(t/65536) when t > 65536, else empty. */
  readonly p1: Uint32Array;
}

/** How a discrete Laplace run ended (`status`). */
export const LAPLACE_DONE = 0;
/** Stopped inside sample `index`: JS finishes it from `phase`, `u`, `v`, `digit`, then runs again. */
export const LAPLACE_STOP = 1;
/** Sample `index` does not fit an Int32Array. */
export const LAPLACE_RANGE = 2;
/** An attempt would have started at a keystream word >= `limit`. */
export const LAPLACE_EXHAUSTED = 3;
/** Where a stopped sample stands (`phase`). */
export const PHASE_P0 = 0; // the word read equals p0[digit]
export const PHASE_P1 = 1; // the word read equals p1[digit]
export const PHASE_E1 = 2; // the word read equals e1, after v successes
export const PHASE_GEOMETRIC = 3; // v reached 2^20; the Bernoulli(exp(-1)) loop goes on at pos

/** The in/out state of a discrete Laplace run. */
export interface LaplaceRun {
  /** In: the first output index to fill. Out: out.length, or the index of the sample the run stopped in. */
  index: number;
  /** In: the next keystream word to read. Out: the word after the last one read. */
  pos: number;
  /** In: no attempt starts at a keystream word >= limit (at most 2^36 - 2^24). */
  limit: number;
  /** Out: LAPLACE_DONE, LAPLACE_STOP, LAPLACE_RANGE or LAPLACE_EXHAUSTED. */
  status: number;
  /** Out, for LAPLACE_STOP: PHASE_P0, PHASE_P1, PHASE_E1 or PHASE_GEOMETRIC. */
  phase: number;
  /** Out, for LAPLACE_STOP: the attempt's uniform draw below t. */
  u: number;
  /** Out, for LAPLACE_STOP: Bernoulli(exp(-1)) successes so far. */
  v: number;
  /** Out, for LAPLACE_STOP in PHASE_P0 or PHASE_P1: the table index that tied. */
  digit: number;
}

/** How a prime field's products are computed (the `kind` argument of the field kernels). */
export const FIELD_P61 = 0; // p = 2^61 - 1: Mersenne folding
export const FIELD_SMALL = 1; // p < 2^50: quotient estimated in doubles, one correction
export const FIELD_MONT = 2; // any other odd p < 2^64: Montgomery products, R = 2^64

/** Doubles estimate a product's quotient to within 1 below this many bits (see wasm/assembly/kernels.ts). */
export const FIELD_SMALL_BITS = 50;

/** A prime p < 2^64 with the constants its field kernels need, made once per field by `fieldParams`. */
export interface FieldParams {
  readonly p: bigint;
  readonly kind: typeof FIELD_P61 | typeof FIELD_SMALL | typeof FIELD_MONT;
  /** p^-1 mod 2^64 (FIELD_MONT). */
  readonly pinv: bigint;
  /** 2^64 mod p: k·R mod p turns a scalar k into Montgomery form (FIELD_MONT). */
  readonly r1: bigint;
  /** 2^128 mod p (FIELD_MONT). */
  readonly r2: bigint;
  /** 1/p as a double (FIELD_SMALL). */
  readonly pinvF: number;
}

const P61 = (1n << 61n) - 1n;
const MASK64 = (1n << 64n) - 1n;

/**
 * The kernel constants for an odd prime 3 <= p < 2^64 (not checked for
 * primality here: the caller holds a PrimeField or Fp61).
 */
export function fieldParams(p: bigint): FieldParams {
  const kind = p === P61 ? FIELD_P61 : p < 1n << BigInt(FIELD_SMALL_BITS) ? FIELD_SMALL : FIELD_MONT;
  // p^-1 mod 2^64 by Newton's iteration: x = p is right mod 2^3 (p odd); each step doubles the bits.
  let pinv = p;
  for (let i = 0; i < 5; i++) pinv = (pinv * (2n - p * pinv)) & MASK64;
  return { p, kind, pinv, r1: (1n << 64n) % p, r2: (1n << 128n) % p, pinvF: 1 / Number(p) };
}

/**
 * The kernel interface shared by the WASM kernels and their JS twins.
 * Arguments are trusted here: the public functions in core check them first.
 * Lengths come from `out`; every other vector has at least that length.
 */
export interface Kernels {
  readonly backend: 'wasm-simd' | 'js';
  /** ChaCha20 keystream blocks (RFC 8439) from block `counter` into `out` (a multiple of 16 words). */
  chacha20(key: Uint8Array, nonce: Uint8Array, counter: number, out: Uint32Array): void;
  /** vec[i] ±= keystream word i, mod 2^32. */
  mask32(vec: Uint32Array, key: Uint8Array, nonce: Uint8Array, counter: number, subtract: boolean): void;
  /** vec[i] ±= keystream words (2i, 2i+1) read as a little-endian u64, mod 2^64. */
  mask64(vec: BigUint64Array, key: Uint8Array, nonce: Uint8Array, counter: number, subtract: boolean): void;
  add32(out: Uint32Array, a: Uint32Array, b: Uint32Array): void;
  sub32(out: Uint32Array, a: Uint32Array, b: Uint32Array): void;
  neg32(out: Uint32Array, a: Uint32Array): void;
  mul32(out: Uint32Array, a: Uint32Array, k: number): void;
  add64(out: BigUint64Array, a: BigUint64Array, b: BigUint64Array): void;
  sub64(out: BigUint64Array, a: BigUint64Array, b: BigUint64Array): void;
  neg64(out: BigUint64Array, a: BigUint64Array): void;
  mul64(out: BigUint64Array, a: BigUint64Array, k: bigint): void;
  /** out[i] = a[i]·b[i] mod 2^64. */
  mulv64(out: BigUint64Array, a: BigUint64Array, b: BigUint64Array): void;
  /** out[i] += a[i]·b[i] mod 2^64. */
  mulAddv64(out: BigUint64Array, a: BigUint64Array, b: BigUint64Array): void;
  /** The Beaver combination out = c + d⊙b + e⊙a (+ d⊙e when `first`), mod 2^64. */
  beaver64(out: BigUint64Array, c: BigUint64Array, d: BigUint64Array, e: BigUint64Array, a: BigUint64Array, b: BigUint64Array, first: boolean): void;
  /** Element-wise a + b, a − b and a·b mod f.p, operands canonical in [0, p). */
  fieldAdd(out: BigUint64Array, a: BigUint64Array, b: BigUint64Array, f: FieldParams): void;
  fieldSub(out: BigUint64Array, a: BigUint64Array, b: BigUint64Array, f: FieldParams): void;
  fieldMul(out: BigUint64Array, a: BigUint64Array, b: BigUint64Array, f: FieldParams): void;
  /** The index of the first element of `a` that is not below f.p, or -1. */
  fieldCheck(a: BigUint64Array, f: FieldParams): number;
  /** out[i] = a[i]·k mod f.p, k in [0, p). */
  fieldMulScalar(out: BigUint64Array, a: BigUint64Array, k: bigint, f: FieldParams): void;
  /**
   * Fixed-point encode: clamp to ±bound (counting), multiply by scale, round
   * stochastically with keystream word i (ChaCha20 under key/nonce from block 0)
   * for element i, store two's complement. Returns the clip count, or -(i+1)
   * when element i is not finite.
   */
  encode32(
    out: Uint32Array,
    input: Float32Array | Float64Array,
    scale: number,
    bound: number,
    key: Uint8Array,
    nonce: Uint8Array,
  ): number;
  encode64(
    out: BigUint64Array,
    input: Float32Array | Float64Array,
    scale: number,
    bound: number,
    key: Uint8Array,
    nonce: Uint8Array,
  ): number;
  /**
   * Discrete Laplace samples (CKS20 algorithm 2 with 32-bit prefix tables)
   * into out[run.index..), drawing uniform words from the ChaCha20 keystream
   * under `key` with nonce 0 (word w: the w-th little-endian u32 from block 0)
   * from word run.pos on. Stops at the end, at a tie with a table prefix (which
   * only exact arithmetic in JS resolves), or as `run.status` says otherwise;
   * wasm/assembly/kernels.ts spells out the algorithm.
   */
  laplace(out: Int32Array | Float64Array, params: LaplaceParams, key: Uint8Array, run: LaplaceRun): void;
}
