/**
 * Element-wise products in Z_2^64 on 32-bit word views, without BigInt: core's
 * ring has add/sub/neg/mulScalar kernels but no vector-by-vector product, and a
 * BigInt per element costs about 20x this. Also uniform Z_2^64 vectors.
 */
import type { Rng } from '../core/random.ts';

const TWO_16 = 65536;
const TWO_32 = 4294967296;

export function words(v: BigUint64Array): Uint32Array {
  return new Uint32Array(v.buffer, v.byteOffset, v.length * 2);
}

/**
 * out = a ⊙ b mod 2^64. With a = ah·2^32 + al: a·b ≡ al·bl + 2^32·(ah·bl + al·bh);
 * al·bl is formed exactly from 16-bit halves (every partial product < 2^33 is exact in a double).
 * `out` may alias `a` or `b`.
 */
export function mul64(a: BigUint64Array, b: BigUint64Array, out: BigUint64Array): BigUint64Array {
  const x = words(a), y = words(b), z = words(out);
  for (let i = 0; i < z.length; i += 2) {
    const al = x[i], ah = x[i + 1], bl = y[i], bh = y[i + 1];
    const a0 = al & 0xffff, a1 = al >>> 16, b0 = bl & 0xffff, b1 = bl >>> 16;
    const mid = a1 * b0 + a0 * b1; // < 2^33
    const midLo = mid % TWO_16;
    const low = a0 * b0 + midLo * TWO_16; // < 2^33
    const carry = low >= TWO_32 ? 1 : 0;
    z[i] = low >>> 0;
    z[i + 1] = (a1 * b1 + (mid - midLo) / TWO_16 + carry + Math.imul(ah, bl) + Math.imul(al, bh)) >>> 0;
  }
  return out;
}

/** out += a ⊙ b mod 2^64 (the fused step of a Beaver combination). */
export function mulAdd64(a: BigUint64Array, b: BigUint64Array, out: BigUint64Array, tmp: BigUint64Array): void {
  mul64(a, b, tmp);
  add64(out, tmp, out);
}

/** out = a + b mod 2^64 on words (for scratch vectors that skip core's argument checks). */
export function add64(a: BigUint64Array, b: BigUint64Array, out: BigUint64Array): BigUint64Array {
  const x = words(a), y = words(b), z = words(out);
  for (let i = 0; i < z.length; i += 2) {
    const lo = x[i] + y[i];
    z[i] = lo >>> 0;
    z[i + 1] = (x[i + 1] + y[i + 1] + (lo >= TWO_32 ? 1 : 0)) >>> 0;
  }
  return out;
}

/** out = a - b mod 2^64 on words. */
export function sub64(a: BigUint64Array, b: BigUint64Array, out: BigUint64Array): BigUint64Array {
  const x = words(a), y = words(b), z = words(out);
  for (let i = 0; i < z.length; i += 2) {
    const lo = x[i] - y[i];
    z[i] = lo >>> 0;
    z[i + 1] = (x[i + 1] - y[i + 1] - (lo < 0 ? 1 : 0)) >>> 0;
  }
  return out;
}

/** n uniform elements of Z_2^64. */
export function randomZ64(n: number, rng: Rng): BigUint64Array {
  const v = new BigUint64Array(n);
  rng.fill(new Uint8Array(v.buffer));
  return v;
}

/** Signed 64-bit value of element i as a double (exact below 2^53 in magnitude). */
export function signedAt(v: BigUint64Array, i: number): number {
  const z = words(v);
  return (z[2 * i + 1] | 0) * TWO_32 + z[2 * i];
}
