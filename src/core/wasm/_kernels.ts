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
}
