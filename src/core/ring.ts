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

/** What differs between the two rings; everything else is shared by `makeRing`. */
interface RingSpec<V extends RingVector, S extends number | bigint> {
  bits: 32 | 64;
  Array: Uint32ArrayConstructor | BigUint64ArrayConstructor;
  maxLength: number;
  ops: { add: 'add32' | 'add64'; sub: 'sub32' | 'sub64'; neg: 'neg32' | 'neg64'; mul: 'mul32' | 'mul64' };
  /** Checks a scalar and reduces it mod 2^bits. */
  scalar(k: unknown): S;
  toSigned(x: unknown): S;
  fromSigned(x: unknown): S;
}

function makeRing<V extends RingVector, S extends number | bigint>(spec: RingSpec<V, S>): Ring<V, S> {
  const { Array: ctor, ops } = spec;
  // The kernel methods are typed per ring; the spec pairs each ring with its own.
  type K = Record<string, (...args: unknown[]) => void>;
  const k = (vs: readonly ArrayBufferView[]) => kernelsFor(vs) as unknown as K;
  return {
    bits: spec.bits,
    modulus: 1n << BigInt(spec.bits),
    Array: ctor as Ring<V, S>['Array'],
    zeros(n) {
      return new ctor(ainteger(n, 'n', 0, spec.maxLength)) as V;
    },
    add(a, b, out) {
      const o = checkBinary<V>(ctor, a, b, out);
      k([o, a, b])[ops.add](o, a, b);
      return o;
    },
    sub(a, b, out) {
      const o = checkBinary<V>(ctor, a, b, out);
      k([o, a, b])[ops.sub](o, a, b);
      return o;
    },
    neg(a, out) {
      const o = checkUnary<V>(ctor, a, out);
      k([o, a])[ops.neg](o, a);
      return o;
    },
    mulScalar(a, scalar, out) {
      const r = spec.scalar(scalar);
      const o = checkUnary<V>(ctor, a, out);
      k([o, a])[ops.mul](o, a, r);
      return o;
    },
    sum(vectors, out) {
      const o = checkVectors<V>(ctor, vectors, out);
      const kern = k([o, ...vectors]);
      // When out is one of the inputs, it already holds that term.
      const start = vectors.indexOf(o);
      if (start < 0) o.set(vectors[0] as never);
      for (let i = 0; i < vectors.length; i++) if (i !== start && (start >= 0 || i > 0)) kern[ops.add](o, o, vectors[i]);
      return o;
    },
    toSigned: spec.toSigned,
    fromSigned: spec.fromSigned,
  };
}

const MASK64 = (1n << 64n) - 1n;

export const Z32: Ring<Uint32Array, number> = makeRing<Uint32Array, number>({
  bits: 32,
  Array: Uint32Array,
  maxLength: 2 ** 31,
  ops: { add: 'add32', sub: 'sub32', neg: 'neg32', mul: 'mul32' },
  scalar: (k) => ainteger(k, 'k', -(2 ** 32), 2 ** 32) >>> 0,
  toSigned: (x) => ainteger(x, 'x', 0, 2 ** 32 - 1) | 0,
  fromSigned: (x) => ainteger(x, 'x', Number.MIN_SAFE_INTEGER) >>> 0,
});

export const Z64: Ring<BigUint64Array, bigint> = makeRing<BigUint64Array, bigint>({
  bits: 64,
  Array: BigUint64Array,
  maxLength: 2 ** 30,
  ops: { add: 'add64', sub: 'sub64', neg: 'neg64', mul: 'mul64' },
  scalar: (k) => abigint(k, 'k') & MASK64,
  toSigned: (x) => BigInt.asIntN(64, abigint(x, 'x', 0n, MASK64)),
  fromSigned: (x) => BigInt.asUintN(64, abigint(x, 'x')),
});

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
