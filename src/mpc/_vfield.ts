/**
 * One vector interface over the two prime fields core offers: Fp61 and any
 * PrimeField whose elements fit a u64 (the 45-bit HE triple field, moduli
 * users pick). Both run on core's field kernels (WASM, JS twins without it).
 */
import { ConfideError, describe } from '../core/errors.ts';
import { Fp61, PrimeField } from '../core/field.ts';
import { atyped } from '../core/assert.ts';
import type { Rng } from '../core/random.ts';
import { fieldParams, kernels } from '../core/wasm/loader.ts';

export type FieldLike = typeof Fp61 | PrimeField;

export interface VectorField {
  readonly p: bigint;
  /** Scalar arithmetic (inverses for Lagrange coefficients). */
  readonly scalar: PrimeField;
  add(a: BigUint64Array, b: BigUint64Array, out?: BigUint64Array): BigUint64Array;
  sub(a: BigUint64Array, b: BigUint64Array, out?: BigUint64Array): BigUint64Array;
  mulScalar(a: BigUint64Array, k: bigint, out?: BigUint64Array): BigUint64Array;
  /** Element-wise product. */
  mul(a: BigUint64Array, b: BigUint64Array, out?: BigUint64Array): BigUint64Array;
  random(n: number, rng: Rng): BigUint64Array;
  /** Throws E_BAD_INPUT unless every element is in [0, p). */
  check(v: unknown, field: string): BigUint64Array;
}

const FP61_SCALAR = new PrimeField(Fp61.p);
const FP61_PARAMS = fieldParams(Fp61.p);
const cache = new WeakMap<PrimeField, VectorField>();

const fp61Field: VectorField = {
  p: Fp61.p,
  scalar: FP61_SCALAR,
  add: (a, b, out) => Fp61.add(a, b, out),
  sub: (a, b, out) => Fp61.sub(a, b, out),
  mulScalar: (a, k, out) => Fp61.mulScalar(a, k, out),
  mul: (a, b, out) => Fp61.mul(a, b, out),
  random: (n, rng) => Fp61.random(n, rng),
  check(v, field) {
    const a = atyped(v, field, BigUint64Array);
    const i = kernels().fieldCheck(a, FP61_PARAMS);
    if (i >= 0) throw new ConfideError('E_BAD_INPUT', `"${field}[${i}]" expected an element below 2^61 - 1`, { field: `${field}[${i}]` });
    return a;
  },
};

/** The result vector: `o`, or a new one; every operand must have the length of `a`. */
function outFor(a: BigUint64Array, b: BigUint64Array | undefined, o: BigUint64Array | undefined): BigUint64Array {
  const r = o ?? new BigUint64Array(a.length);
  if (b !== undefined && b.length !== a.length)
    throw new ConfideError('E_BAD_INPUT', `field vectors of different lengths (a: ${a.length}, b: ${b.length})`, { field: 'b' });
  if (r.length !== a.length)
    throw new ConfideError('E_BAD_INPUT', `field vectors of different lengths (a: ${a.length}, out: ${r.length})`, { field: 'out' });
  return r;
}

/**
 * n uniform elements of [0, p), p < 2^64: `rng.uniformBigInt(p)` element by
 * element, the same words drawn in the same order and the same rejections
 * (so the same vector from the same generator), compared and stored as
 * 32-bit words instead of BigInts.
 */
function uniformBelow(n: number, p: bigint, rng: Rng): BigUint64Array {
  const r = new BigUint64Array(n);
  const z = new Uint32Array(r.buffer);
  const bitLen = (p - 1n).toString(2).length;
  const wide = bitLen > 32;
  const topShift = 32 - (wide ? bitLen - 32 : bitLen); // uniformBigInt's top word keeps the high bitLen mod 32 bits
  const pHi = Number(p >> 32n), pLo = Number(p & 0xffffffffn);
  for (let i = 0; i < n; i++) {
    for (;;) {
      const hi = rng.nextU32() >>> topShift;
      if (!wide) {
        if (hi < pLo || pHi > 0) {
          z[2 * i] = hi;
          break;
        }
        continue;
      }
      const lo = rng.nextU32();
      if (hi < pHi || (hi === pHi && lo < pLo)) {
        z[2 * i] = lo;
        z[2 * i + 1] = hi;
        break;
      }
    }
  }
  return r;
}

/** A PrimeField below 2^64 on the field kernels (elements canonical in [0, p)). */
function kernelField(f: PrimeField): VectorField {
  const p = f.p;
  const fp = fieldParams(p);
  const vf: VectorField = {
    p,
    scalar: f,
    add(a, b, o) {
      const r = outFor(a, b, o);
      kernels().fieldAdd(r, a, b, fp);
      return r;
    },
    sub(a, b, o) {
      const r = outFor(a, b, o);
      kernels().fieldSub(r, a, b, fp);
      return r;
    },
    mulScalar(a, k, o) {
      const r = outFor(a, undefined, o);
      // Callers pass small integers as well as field elements (Shamir's x-coordinates).
      kernels().fieldMulScalar(r, a, ((k % p) + p) % p, fp);
      return r;
    },
    mul(a, b, o) {
      const r = outFor(a, b, o);
      kernels().fieldMul(r, a, b, fp);
      return r;
    },
    random(n, rng) {
      return uniformBelow(n, p, rng);
    },
    check(v, field) {
      const a = atyped(v, field, BigUint64Array);
      const i = kernels().fieldCheck(a, fp);
      if (i >= 0) throw new ConfideError('E_BAD_INPUT', `"${field}[${i}]" expected an element below ${p}`, { field: `${field}[${i}]` });
      return a;
    },
  };
  return vf;
}

/** The vector view of `field` (Fp61 or a PrimeField with p < 2^64). */
export function vectorField(field: unknown, name = 'field'): VectorField {
  if (field === Fp61) return fp61Field;
  if (field instanceof PrimeField) {
    if (field.p >= 1n << 64n)
      throw new ConfideError('E_BAD_INPUT', `"${name}" expected a prime below 2^64 (vectors are BigUint64Array), got ${field.bits} bits`, { field: name });
    let vf = cache.get(field);
    if (vf === undefined) cache.set(field, (vf = kernelField(field)));
    return vf;
  }
  throw new ConfideError('E_BAD_INPUT', `"${name}" expected Fp61 or a PrimeField, got ${describe(field)}`, { field: name });
}

const TWO64 = 1n << 64n;

/**
 * Z_2^64 two's complement → field elements by the centred map (v ↦ v mod p for
 * |v| < p/2): the inputs of field and Shamir sessions. Larger magnitudes are
 * E_OVERFLOW (they would wrap mod p).
 */
export function toFieldCentred(v: BigUint64Array, p: bigint): BigUint64Array {
  const half = p >> 1n;
  const out = new BigUint64Array(v.length);
  for (let i = 0; i < v.length; i++) {
    const x = v[i];
    const neg = x >= 1n << 63n;
    const mag = neg ? TWO64 - x : x;
    if (mag > half)
      throw new ConfideError('E_OVERFLOW', `"values[${i}]" does not fit the field (|v| must be below p/2 = ${half})`, { field: `values[${i}]` });
    out[i] = neg && mag !== 0n ? p - mag : mag;
  }
  return out;
}

/** Field elements → Z_2^64 two's complement by the centred lift (values above p/2 are negative). */
export function fromFieldCentred(v: BigUint64Array, p: bigint): BigUint64Array {
  const half = p >> 1n;
  const out = new BigUint64Array(v.length);
  for (let i = 0; i < v.length; i++) out[i] = v[i] > half ? TWO64 - (p - v[i]) : v[i];
  return out;
}
