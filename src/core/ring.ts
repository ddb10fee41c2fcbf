/**
 * Vector arithmetic in the rings Z_2^32 (Uint32Array) and Z_2^64
 * (BigUint64Array), the rings that masks and additive shares live in.
 * Operations run on the WASM kernels when every operand already lives in WASM
 * memory (see `arenaAlloc`), and on the JS twins otherwise, since copying across
 * the boundary costs more than an add saves.
 *
 * Every operation takes an optional `out`; pass one of the inputs to work in place.
 */
import { abigint, ainteger, asameLength, atyped } from './assert.ts';
import { ConfideError } from './errors.ts';
import { kernelsFor } from './wasm/loader.ts';

export type RingVector = Uint32Array | BigUint64Array;

export interface Ring<V extends RingVector, S extends number | bigint> {
  /** 32 or 64. */
  readonly bits: 32 | 64;
  /** 2^bits. */
  readonly modulus: bigint;
  /** The typed-array class of this ring's vectors. */
  readonly Array: V extends Uint32Array ? Uint32ArrayConstructor : BigUint64ArrayConstructor;
  /** A zero vector of length n. */
  zeros(n: number): V;
  /** a + b. */
  add(a: V, b: V, out?: V): V;
  /** a - b. */
  sub(a: V, b: V, out?: V): V;
  /** -a. */
  neg(a: V, out?: V): V;
  /** k·a for a scalar k (reduced mod 2^bits). */
  mulScalar(a: V, k: S, out?: V): V;
  /** The sum of one or more vectors of equal length. */
  sum(vectors: readonly V[], out?: V): V;
  /** The centred representative of an element in [-2^(bits-1), 2^(bits-1)). */
  toSigned(x: S): S;
  /** The element representing a signed integer (reduced mod 2^bits). */
  fromSigned(x: S): S;
}

function checkBinary<V extends RingVector>(
  ctor: Uint32ArrayConstructor | BigUint64ArrayConstructor,
  a: unknown,
  b: unknown,
  out: unknown,
): V {
  const av = atyped(a, 'a', ctor) as V;
  asameLength(av, atyped(b, 'b', ctor), 'a', 'b');
  if (out === undefined) return new ctor(av.length) as V;
  const o = atyped(out, 'out', ctor) as V;
  asameLength(av, o, 'a', 'out');
  return o;
}

function checkUnary<V extends RingVector>(
  ctor: Uint32ArrayConstructor | BigUint64ArrayConstructor,
  a: unknown,
  out: unknown,
): V {
  const av = atyped(a, 'a', ctor) as V;
  if (out === undefined) return new ctor(av.length) as V;
  const o = atyped(out, 'out', ctor) as V;
  asameLength(av, o, 'a', 'out');
  return o;
}

function checkVectors<V extends RingVector>(
  ctor: Uint32ArrayConstructor | BigUint64ArrayConstructor,
  vectors: unknown,
  out: unknown,
): V {
  if (!Array.isArray(vectors) || vectors.length === 0)
    throw new ConfideError('E_BAD_INPUT', '"vectors" expected a non-empty array of vectors', {
      field: 'vectors',
    });
  const first = atyped(vectors[0], 'vectors[0]', ctor) as V;
  for (let i = 1; i < vectors.length; i++)
    asameLength(first, atyped(vectors[i], `vectors[${i}]`, ctor), 'vectors[0]', `vectors[${i}]`);
  if (out === undefined) return new ctor(first.length) as V;
  const o = atyped(out, 'out', ctor) as V;
  asameLength(first, o, 'vectors[0]', 'out');
  return o;
}

export const Z32: Ring<Uint32Array, number> = {
  bits: 32,
  modulus: 1n << 32n,
  Array: Uint32Array,
  zeros(n) {
    return new Uint32Array(ainteger(n, 'n', 0, 2 ** 31));
  },
  add(a, b, out) {
    const o = checkBinary<Uint32Array>(Uint32Array, a, b, out);
    kernelsFor(o, a, b).add32(o, a, b);
    return o;
  },
  sub(a, b, out) {
    const o = checkBinary<Uint32Array>(Uint32Array, a, b, out);
    kernelsFor(o, a, b).sub32(o, a, b);
    return o;
  },
  neg(a, out) {
    const o = checkUnary<Uint32Array>(Uint32Array, a, out);
    kernelsFor(o, a).neg32(o, a);
    return o;
  },
  mulScalar(a, k, out) {
    ainteger(k, 'k', -(2 ** 32), 2 ** 32);
    const o = checkUnary<Uint32Array>(Uint32Array, a, out);
    kernelsFor(o, a).mul32(o, a, k >>> 0);
    return o;
  },
  sum(vectors, out) {
    const o = checkVectors<Uint32Array>(Uint32Array, vectors, out);
    const k = kernelsFor(o, ...vectors);
    // When out is one of the inputs, it already holds that term.
    const start = vectors.indexOf(o);
    if (start < 0) o.set(vectors[0]);
    for (let i = 0; i < vectors.length; i++) if (i !== start && (start >= 0 || i > 0)) k.add32(o, o, vectors[i]);
    return o;
  },
  toSigned(x) {
    return ainteger(x, 'x', 0, 2 ** 32 - 1) | 0;
  },
  fromSigned(x) {
    return ainteger(x, 'x', Number.MIN_SAFE_INTEGER) >>> 0;
  },
};

const MASK64 = (1n << 64n) - 1n;

export const Z64: Ring<BigUint64Array, bigint> = {
  bits: 64,
  modulus: 1n << 64n,
  Array: BigUint64Array,
  zeros(n) {
    return new BigUint64Array(ainteger(n, 'n', 0, 2 ** 30));
  },
  add(a, b, out) {
    const o = checkBinary<BigUint64Array>(BigUint64Array, a, b, out);
    kernelsFor(o, a, b).add64(o, a, b);
    return o;
  },
  sub(a, b, out) {
    const o = checkBinary<BigUint64Array>(BigUint64Array, a, b, out);
    kernelsFor(o, a, b).sub64(o, a, b);
    return o;
  },
  neg(a, out) {
    const o = checkUnary<BigUint64Array>(BigUint64Array, a, out);
    kernelsFor(o, a).neg64(o, a);
    return o;
  },
  mulScalar(a, k, out) {
    abigint(k, 'k');
    const o = checkUnary<BigUint64Array>(BigUint64Array, a, out);
    kernelsFor(o, a).mul64(o, a, k & MASK64);
    return o;
  },
  sum(vectors, out) {
    const o = checkVectors<BigUint64Array>(BigUint64Array, vectors, out);
    const k = kernelsFor(o, ...vectors);
    // When out is one of the inputs, it already holds that term.
    const start = vectors.indexOf(o);
    if (start < 0) o.set(vectors[0]);
    for (let i = 0; i < vectors.length; i++) if (i !== start && (start >= 0 || i > 0)) k.add64(o, o, vectors[i]);
    return o;
  },
  toSigned(x) {
    return BigInt.asIntN(64, abigint(x, 'x', 0n, MASK64));
  },
  fromSigned(x) {
    return BigInt.asUintN(64, abigint(x, 'x'));
  },
};

/** The ring with the given bit width. */
export function ring(bits: 32): Ring<Uint32Array, number>;
export function ring(bits: 64): Ring<BigUint64Array, bigint>;
export function ring(bits: 32 | 64): Ring<Uint32Array, number> | Ring<BigUint64Array, bigint>;
export function ring(bits: 32 | 64) {
  if (bits === 32) return Z32;
  if (bits === 64) return Z64;
  throw new ConfideError('E_BAD_INPUT', `"bits" expected 32 or 64, got ${String(bits)}`, {
    field: 'bits',
  });
}
