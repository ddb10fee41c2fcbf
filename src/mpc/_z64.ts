/**
 * Element-wise arithmetic in Z_2^64 for the Beaver steps: products and the
 * Beaver combination run on core's WASM kernels (native 64-bit multiplies;
 * the JS twins on 32-bit words where WebAssembly is missing); additions run
 * here on 32-bit words. Also uniform Z_2^64 vectors.
 */
import type { Rng } from '../core/random.ts';
import { kernels } from '../core/wasm/loader.ts';

const TWO_32 = 4294967296;

export function words(v: BigUint64Array): Uint32Array {
  return new Uint32Array(v.buffer, v.byteOffset, v.length * 2);
}

/** out = a ⊙ b mod 2^64 (equal lengths). `out` may alias `a` or `b`. */
export function mul64(a: BigUint64Array, b: BigUint64Array, out: BigUint64Array): BigUint64Array {
  kernels().mulv64(out, a, b);
  return out;
}

/** out += a ⊙ b mod 2^64 (the fused step of a Beaver combination); `tmp` is no longer used. */
export function mulAdd64(a: BigUint64Array, b: BigUint64Array, out: BigUint64Array, _tmp: BigUint64Array): void {
  kernels().mulAddv64(out, a, b);
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
 * without temporaries (at the first party as c + d⊙(b + e) + e⊙a), on the
 * `beaver_z64` kernel. All vectors have the length of `out`.
 */
export function beaverCombine64(c: BigUint64Array, d: BigUint64Array, e: BigUint64Array, a: BigUint64Array, b: BigUint64Array, first: boolean, out: BigUint64Array): BigUint64Array {
  kernels().beaver64(out, c, d, e, a, b, first);
  return out;
}
