/**
 * Element-wise products in Z_2^64 on 32-bit word views, without BigInt: core's
 * ring has add/sub/neg/mulScalar kernels but no vector-by-vector product, and a
 * BigInt per element costs about 20x this. Also uniform Z_2^64 vectors.
 */
import type { Rng } from '../core/random.ts';

const TWO_32 = 4294967296;

export function words(v: BigUint64Array): Uint32Array {
  return new Uint32Array(v.buffer, v.byteOffset, v.length * 2);
}

/**
 * out = a ⊙ b mod 2^64. With a = ah·2^32 + al: a·b ≡ al·bl + 2^32·(ah·bl + al·bh);
 * the low word of al·bl is Math.imul's, the high word comes from 16-bit halves (`mulhi`).
 * `out` may alias `a` or `b`.
 */
export function mul64(a: BigUint64Array, b: BigUint64Array, out: BigUint64Array): BigUint64Array {
  const x = words(a), y = words(b), z = words(out);
  for (let i = 0; i < z.length; i += 2) {
    const al = x[i], ah = x[i + 1], bl = y[i], bh = y[i + 1];
    z[i] = Math.imul(al, bl) >>> 0;
    z[i + 1] = (mulhi(al, bl) + Math.imul(ah, bl) + Math.imul(al, bh)) >>> 0;
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

/**
 * out = Σ vs mod 2^64 in one pass (three at a time: each pass reads its
 * inputs once and writes out once, instead of a copy and an add per term).
 */
export function sum64(vs: readonly BigUint64Array[], out: BigUint64Array): BigUint64Array {
  if (vs.length === 1) {
    out.set(vs[0]);
    return out;
  }
  let k = 0;
  let acc: BigUint64Array | undefined;
  while (k < vs.length) {
    const a = acc ?? vs[k++];
    const b = vs[k++];
    const c = k < vs.length ? vs[k++] : undefined;
    if (c === undefined) add64(a, b, out);
    else add3_64(a, b, c, out);
    acc = out;
  }
  return out;
}

/** out = a + b + c mod 2^64 on words (carries below 3, exact in doubles). */
function add3_64(a: BigUint64Array, b: BigUint64Array, c: BigUint64Array, out: BigUint64Array): void {
  const x = words(a), y = words(b), w = words(c), z = words(out);
  for (let i = 0; i < z.length; i += 2) {
    const lo = x[i] + y[i] + w[i];
    z[i] = lo >>> 0;
    z[i + 1] = (x[i + 1] + y[i + 1] + w[i + 1] + Math.floor(lo / TWO_32)) >>> 0;
  }
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

/**
 * The Beaver combination z = c + d⊙b + e⊙a (+ d⊙e when `first`) in one pass
 * over words, without temporaries; at the first party as c + d⊙(b + e) + e⊙a. Each 64-bit product mod 2^64 is
 * lo = imul(al, bl) and hi = mulhi(al, bl) + imul(ah, bl) + imul(al, bh),
 * with mulhi (the high word of the 32×32 product) from 16-bit halves.
 */
export function beaverCombine64(c: BigUint64Array, d: BigUint64Array, e: BigUint64Array, a: BigUint64Array, b: BigUint64Array, first: boolean, out: BigUint64Array): BigUint64Array {
  const C = words(c), D = words(d), E = words(e), A = words(a), B = words(b), Z = words(out);
  for (let i = 0; i < Z.length; i += 2) {
    const dl = D[i], dh = D[i + 1], el = E[i], eh = E[i + 1];
    let lo = C[i], hi = C[i + 1];
    // d⊙b, or at the first party d⊙(b + e) = d⊙b + d⊙e: one product fewer.
    let yl = B[i], yh = B[i + 1];
    if (first) {
      const s = yl + el;
      yl = s >>> 0;
      yh = (yh + eh + (s >= TWO_32 ? 1 : 0)) >>> 0;
    }
    lo += Math.imul(dl, yl) >>> 0;
    hi += mulhi(dl, yl) + Math.imul(dh, yl) + Math.imul(dl, yh);
    // e⊙a
    yl = A[i]; yh = A[i + 1];
    lo += Math.imul(el, yl) >>> 0;
    hi += mulhi(el, yl) + Math.imul(eh, yl) + Math.imul(el, yh);
    // lo < 3·2^32: its high bits carry into hi; all sums are exact in a double.
    const carry = Math.floor(lo / TWO_32);
    Z[i] = lo >>> 0;
    Z[i + 1] = (hi + carry) >>> 0;
  }
  return out;
}

/** The high 32 bits of the 64-bit product of two u32. */
function mulhi(x: number, y: number): number {
  const x0 = x & 0xffff, x1 = x >>> 16, y0 = y & 0xffff, y1 = y >>> 16;
  const m1 = x1 * y0, m2 = x0 * y1;
  const t = ((x0 * y0) >>> 16) + (m1 & 0xffff) + (m2 & 0xffff);
  return x1 * y1 + (m1 >>> 16) + (m2 >>> 16) + (t >>> 16);
}
