/**
 * The pure-JavaScript twins of the WASM kernels. Each computes exactly what
 * its kernel computes (a property test checks them bit for bit); they run
 * when WebAssembly or SIMD is missing, or when `CONFIDE_WASM=0`.
 *
 * 64-bit vectors are handled as pairs of 32-bit words (little-endian lo, hi)
 * rather than through BigInt, which is an order of magnitude faster (products
 * mod a prime of 50 to 64 bits other than 2^61 − 1 are the exception: BigInt).
 */
import { chachaBlocks, keyWords, nonceWords } from '../_chacha20.ts';
import {
  FIELD_P61,
  FIELD_SMALL,
  LAPLACE_DONE,
  LAPLACE_EXHAUSTED,
  LAPLACE_RANGE,
  LAPLACE_STOP,
  PHASE_E1,
  PHASE_GEOMETRIC,
  PHASE_P0,
  PHASE_P1,
  type FieldParams,
  type Kernels,
  type LaplaceParams,
  type LaplaceRun,
} from './_kernels.ts';

const TWO_32 = 4294967296;
const CHUNK_BLOCKS = 64; // keystream generated 4 KiB at a time

function words64(v: BigUint64Array): Uint32Array {
  return new Uint32Array(v.buffer, v.byteOffset, v.length * 2);
}

/** High 32 bits of the 64-bit product of two u32 values, from 16-bit halves (integer operations only). */
function mulHi32(a: number, b: number): number {
  const a0 = a & 0xffff, a1 = a >>> 16, b0 = b & 0xffff, b1 = b >>> 16;
  const m1 = a1 * b0, m2 = a0 * b1; // < 2^32 each
  const t = ((a0 * b0) >>> 16) + (m1 & 0xffff) + (m2 & 0xffff);
  return a1 * b1 + (m1 >>> 16) + (m2 >>> 16) + (t >>> 16);
}

/**
 * (al + ah·2^32)·(bl + bh·2^32) mod 2^64 is al·bl + 2^32·(ah·bl + al·bh): the low word is
 * Math.imul's; `mulHi32(al, bl) + imul(ah, bl) + imul(al, bh)` is the high word (mod 2^32).
 */
function beaverTwin(out: BigUint64Array, c: BigUint64Array, d: BigUint64Array, e: BigUint64Array, a: BigUint64Array, b: BigUint64Array, first: boolean): void {
  const C = words64(c), D = words64(d), E = words64(e), A = words64(a), B = words64(b), Z = words64(out);
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
    hi += mulHi32(dl, yl) + Math.imul(dh, yl) + Math.imul(dl, yh);
    yl = A[i];
    yh = A[i + 1];
    lo += Math.imul(el, yl) >>> 0;
    hi += mulHi32(el, yl) + Math.imul(eh, yl) + Math.imul(el, yh);
    // lo < 3·2^32 carries into hi; every sum is exact in a double.
    Z[i] = lo >>> 0;
    Z[i + 1] = (hi + Math.floor(lo / TWO_32)) >>> 0;
  }
}

/** Calls `each(ks, base, count)` with successive keystream chunks covering `nWords` words. */
function keystreamChunks(
  key: Uint8Array,
  nonce: Uint8Array,
  counter: number,
  nWords: number,
  each: (ks: Uint32Array, base: number, count: number) => void,
): void {
  const k = keyWords(key), n = nonceWords(nonce);
  const ks = new Uint32Array(CHUNK_BLOCKS * 16);
  for (let base = 0, ctr = counter; base < nWords; base += ks.length, ctr += CHUNK_BLOCKS) {
    const count = Math.min(ks.length, nWords - base);
    chachaBlocks(k, n, ctr >>> 0, ks, 0, Math.ceil(count / 16));
    each(ks, base, count);
  }
}

function encodeTwin(
  lo: Uint32Array,
  hi: Uint32Array | null,
  input: Float32Array | Float64Array,
  scale: number,
  bound: number,
  key: Uint8Array,
  nonce: Uint8Array,
): number {
  let clipped = 0;
  let bad = -1;
  keystreamChunks(key, nonce, 0, input.length, (ks, base, count) => {
    if (bad >= 0) return;
    for (let j = 0; j < count; j++) {
      const i = base + j;
      let x = input[i];
      if (!Number.isFinite(x)) {
        bad = i;
        return;
      }
      if (x > bound) {
        x = bound;
        clipped++;
      } else if (x < -bound) {
        x = -bound;
        clipped++;
      }
      const y = x * scale;
      const fl = Math.floor(y);
      const v = ks[j] < (y - fl) * TWO_32 ? fl + 1 : fl;
      if (hi === null) lo[i] = v;
      else {
        lo[2 * i] = v;
        lo[2 * i + 1] = Math.floor(v / TWO_32);
      }
    }
  });
  return bad >= 0 ? -(bad + 1) : clipped;
}

const TWO_25 = 33554432;
const P61_HI = 0x1fffffff; // high word of 2^61 - 1; the low word is 0xffffffff

/**
 * a·b mod 2^61 − 1 on 32-bit words (b null: by the scalar k). The product's
 * words w3..w0 come from the four 32×32 partial products with carries kept
 * in doubles; with L its low 61 bits and H = ab >> 61 (both below 2^61),
 * ab ≡ L + H, and L + H < 2^62 needs at most one subtraction of p.
 */
function mulP61Twin(out: BigUint64Array, a: BigUint64Array, b: BigUint64Array | null, k: bigint): void {
  const o = words64(out), x = words64(a), y = b === null ? null : words64(b);
  const kl = Number(k & 0xffffffffn), kh = Number(k >> 32n);
  for (let i = 0; i < o.length; i += 2) {
    const al = x[i], ah = x[i + 1];
    const bl = y === null ? kl : y[i], bh = y === null ? kh : y[i + 1];
    const t1 = mulHi32(al, bl) + (Math.imul(al, bh) >>> 0) + (Math.imul(ah, bl) >>> 0);
    const c1 = Math.floor(t1 / TWO_32);
    const t2 = mulHi32(al, bh) + mulHi32(ah, bl) + (Math.imul(ah, bh) >>> 0) + c1;
    const c2 = Math.floor(t2 / TWO_32);
    const w0 = Math.imul(al, bl) >>> 0, w1 = t1 >>> 0, w2 = t2 >>> 0, w3 = mulHi32(ah, bh) + c2;
    // L = (w1 & P61_HI) : w0; H = ab >> 61 = ((w3 << 3) | (w2 >>> 29)) : ((w2 << 3) | (w1 >>> 29)).
    let lo = w0 + (((w2 << 3) | (w1 >>> 29)) >>> 0);
    let hi = (w1 & P61_HI) + ((w3 << 3) | (w2 >>> 29));
    if (lo >= TWO_32) {
      lo -= TWO_32;
      hi++;
    }
    if (hi > P61_HI || (hi === P61_HI && lo === 0xffffffff)) {
      // - (2^61 - 1): + 1 on the low word, - 2^29 on the high word.
      hi -= 0x20000000;
      lo += 1;
      if (lo === TWO_32) {
        lo = 0;
        hi++;
      }
    }
    o[i] = lo;
    o[i + 1] = hi;
  }
}

/**
 * The field product. Every kernel kind returns the canonical residue, so the
 * twin may reach it another way. For p < 2^50: q estimates floor(a·b/p) in
 * doubles to within 1 (as the kernel's mulsmall does), and r = a·b − q·p is
 * computed exactly on 25-bit halves x = x1·2^25 + x0 (every partial product
 * below 2^51): r = (T2·2^25 + T1)·2^25 + T0 with T2 = a1·b1 − q1·p1,
 * T1 = a1·b0 + a0·b1 − q1·p0 − q0·p1, T0 = a0·b0 − q0·p0, each exact. As
 * r lies in [−p, 2p), T2·2^25 + T1 = (r − T0)/2^25 is an integer below 2^27
 * in magnitude, so that sum of two exact doubles is exact too. 2^61 − 1
 * folds the 122-bit product on 32-bit words (`mulP61Twin`). Other primes
 * use BigInt (exact, many times slower than WASM; it runs only without
 * WebAssembly).
 */
function fieldMulTwin(out: BigUint64Array, a: BigUint64Array, b: BigUint64Array | null, k: bigint, f: FieldParams): void {
  const p = f.p;
  if (f.kind === FIELD_P61) return mulP61Twin(out, a, b, k);
  if (f.kind !== FIELD_SMALL) {
    if (b === null) for (let i = 0; i < out.length; i++) out[i] = (a[i] * k) % p;
    else for (let i = 0; i < out.length; i++) out[i] = (a[i] * b[i]) % p;
    return;
  }
  const o = words64(out), x = words64(a), y = b === null ? null : words64(b);
  const pf = Number(p), p0 = pf % TWO_25, p1 = (pf - p0) / TWO_25, inv = f.pinvF;
  const kf = Number(k), k0 = kf % TWO_25, k1 = (kf - k0) / TWO_25;
  for (let i = 0; i < o.length; i += 2) {
    const al = x[i], ah = x[i + 1];
    // 25-bit halves from the words (a < 2^50: ah < 2^18).
    const a0 = al & 0x1ffffff, a1 = (ah << 7) | (al >>> 25);
    let b0 = k0, b1 = k1;
    if (y !== null) {
      const bl = y[i], bh = y[i + 1];
      b0 = bl & 0x1ffffff;
      b1 = (bh << 7) | (bl >>> 25);
    }
    const q = Math.floor((a1 * TWO_25 + a0) * (b1 * TWO_25 + b0) * inv);
    const q1 = Math.floor(q / TWO_25), q0 = q - q1 * TWO_25; // (% on doubles is a slow call in V8)
    const t2 = a1 * b1 - q1 * p1;
    const t1 = a1 * b0 + a0 * b1 - (q1 * p0 + q0 * p1);
    const t0 = a0 * b0 - q0 * p0;
    let r = (t2 * TWO_25 + t1) * TWO_25 + t0;
    if (r < 0) r += pf;
    else if (r >= pf) r -= pf;
    const lo = r >>> 0;
    o[i] = lo;
    o[i + 1] = (r - lo) / TWO_32;
  }
}

/** Fills `out` (a multiple of 16 words) with the words of blocks block, block+1, ... of a keystream. */
export type BlockSource = (block: number, out: Uint32Array) => void;

const GEOMETRIC_MAX = 2 ** 20;

/**
 * The discrete Laplace kernel (wasm/assembly/kernels.ts, `laplace_i32` and
 * `laplace_f64`) over any source of keystream blocks: the same attempts, the
 * same stops, the same state. Tests drive it with scripted words.
 */
export function laplaceTwin(out: Int32Array | Float64Array, params: LaplaceParams, source: BlockSource, run: LaplaceRun): void {
  const { t, s, e1, p0, p1 } = params;
  const int32 = out instanceof Int32Array;
  const len = out.length, limit = run.limit;
  const maxAccept = TWO_32 - 1 - (TWO_32 % t);
  const split = t > 65536;
  const ks = new Uint32Array(64); // words (pos - k) .. (pos - k) + 63
  let i = run.index, pos = run.pos;
  let k = pos % 64;
  if (k !== 0) source((pos - k) / 16, ks);
  const word = (): number => {
    if (k === 0) source(pos / 16, ks);
    const w = ks[k];
    k = (k + 1) & 63;
    pos++;
    return w;
  };
  const stop = (status: number, phase: number, u: number, v: number, digit: number) => {
    run.index = i;
    run.status = status;
    run.pos = pos;
    run.phase = phase;
    run.u = u;
    run.v = v;
    run.digit = digit;
  };
  while (i < len) {
    if (pos >= limit) return stop(LAPLACE_EXHAUSTED, 0, 0, 0, 0);
    let w = word();
    while (w > maxAccept) w = word();
    const u = w % t;
    let d = split ? u & 0xffff : u;
    if (d !== 0) {
      const p = p0[d], r = word();
      if (r === p) return stop(LAPLACE_STOP, PHASE_P0, u, 0, d);
      if (r > p) continue;
    }
    if (split) {
      d = u >>> 16;
      if (d !== 0) {
        const p = p1[d], r = word();
        if (r === p) return stop(LAPLACE_STOP, PHASE_P1, u, 0, d);
        if (r > p) continue;
      }
    }
    let v = 0;
    for (;;) {
      const r = word();
      if (r === e1) return stop(LAPLACE_STOP, PHASE_E1, u, v, 0);
      if (r > e1) break;
      if (++v === GEOMETRIC_MAX) return stop(LAPLACE_STOP, PHASE_GEOMETRIC, u, v, 0);
    }
    // x < 2^52 and s < 2^20: x/s lies at least 1/s below the next integer, more than half an
    // ulp of x/s, so the rounded quotient stays below it and the floor is exact.
    const x = u + t * v;
    const y = s === 1 ? x : Math.floor(x / s);
    const negative = (word() & 1) === 1;
    if (negative && y === 0) continue;
    if (int32 && y > (negative ? 2 ** 31 : 2 ** 31 - 1)) return stop(LAPLACE_RANGE, 0, u, v, 0);
    out[i++] = negative ? -y : y;
  }
  stop(LAPLACE_DONE, 0, 0, 0, 0);
}

/** The ChaCha20 keystream under `key` with nonce 0, as a block source. */
export function chachaSource(key: Uint8Array): BlockSource {
  const k = keyWords(key), n = new Int32Array(3);
  return (block, out) => chachaBlocks(k, n, block, out, 0, out.length >>> 4);
}

export const jsKernels: Kernels = {
  backend: 'js',

  chacha20(key, nonce, counter, out) {
    chachaBlocks(keyWords(key), nonceWords(nonce), counter, out, 0, out.length >>> 4);
  },

  mask32(vec, key, nonce, counter, subtract) {
    keystreamChunks(key, nonce, counter, vec.length, (ks, base, count) => {
      if (subtract) for (let j = 0; j < count; j++) vec[base + j] -= ks[j];
      else for (let j = 0; j < count; j++) vec[base + j] += ks[j];
    });
  },

  mask64(vec, key, nonce, counter, subtract) {
    const w = words64(vec);
    keystreamChunks(key, nonce, counter, w.length, (ks, base, count) => {
      for (let j = 0; j < count; j += 2) {
        const i = base + j;
        const alo = w[i], ahi = w[i + 1], blo = ks[j], bhi = ks[j + 1];
        if (subtract) {
          w[i] = alo - blo;
          w[i + 1] = ahi - bhi - (alo < blo ? 1 : 0);
        } else {
          const s = alo + blo;
          w[i] = s;
          w[i + 1] = ahi + bhi + (s >= TWO_32 ? 1 : 0);
        }
      }
    });
  },

  add32(out, a, b) {
    for (let i = 0; i < out.length; i++) out[i] = a[i] + b[i];
  },
  sub32(out, a, b) {
    for (let i = 0; i < out.length; i++) out[i] = a[i] - b[i];
  },
  neg32(out, a) {
    for (let i = 0; i < out.length; i++) out[i] = -a[i];
  },
  mul32(out, a, k) {
    for (let i = 0; i < out.length; i++) out[i] = Math.imul(a[i], k);
  },

  add64(out, a, b) {
    const o = words64(out), x = words64(a), y = words64(b);
    for (let i = 0; i < o.length; i += 2) {
      const s = x[i] + y[i];
      const h = x[i + 1] + y[i + 1] + (s >= TWO_32 ? 1 : 0);
      o[i] = s;
      o[i + 1] = h;
    }
  },
  sub64(out, a, b) {
    const o = words64(out), x = words64(a), y = words64(b);
    for (let i = 0; i < o.length; i += 2) {
      const alo = x[i], blo = y[i];
      const h = x[i + 1] - y[i + 1] - (alo < blo ? 1 : 0);
      o[i] = alo - blo;
      o[i + 1] = h;
    }
  },
  neg64(out, a) {
    const o = words64(out), x = words64(a);
    for (let i = 0; i < o.length; i += 2) {
      const lo = x[i];
      const h = -x[i + 1] - (lo !== 0 ? 1 : 0);
      o[i] = -lo;
      o[i + 1] = h;
    }
  },
  mul64(out, a, k) {
    const o = words64(out), x = words64(a);
    const klo = Number(k & 0xffffffffn), khi = Number((k >> 32n) & 0xffffffffn);
    for (let i = 0; i < o.length; i += 2) {
      const alo = x[i], ahi = x[i + 1];
      // (ahi·2^32 + alo)(khi·2^32 + klo) mod 2^64
      const h = mulHi32(alo, klo) + Math.imul(ahi, klo) + Math.imul(alo, khi);
      o[i] = Math.imul(alo, klo);
      o[i + 1] = h;
    }
  },

  mulv64(out, a, b) {
    const o = words64(out), x = words64(a), y = words64(b);
    for (let i = 0; i < o.length; i += 2) {
      const al = x[i], ah = x[i + 1], bl = y[i], bh = y[i + 1];
      o[i] = Math.imul(al, bl);
      o[i + 1] = mulHi32(al, bl) + Math.imul(ah, bl) + Math.imul(al, bh);
    }
  },
  mulAddv64(out, a, b) {
    const o = words64(out), x = words64(a), y = words64(b);
    for (let i = 0; i < o.length; i += 2) {
      const al = x[i], ah = x[i + 1], bl = y[i], bh = y[i + 1];
      const lo = o[i] + (Math.imul(al, bl) >>> 0); // < 2^33
      o[i] = lo;
      o[i + 1] = o[i + 1] + mulHi32(al, bl) + Math.imul(ah, bl) + Math.imul(al, bh) + (lo >= TWO_32 ? 1 : 0);
    }
  },
  beaver64(out, c, d, e, a, b, first) {
    beaverTwin(out, c, d, e, a, b, first);
  },

  fieldAdd(out, a, b, f) {
    const o = words64(out), x = words64(a), y = words64(b);
    const pl = Number(f.p & 0xffffffffn), ph = Number(f.p >> 32n);
    for (let i = 0; i < o.length; i += 2) {
      let lo = x[i] + y[i];
      let hi = x[i + 1] + y[i + 1]; // < 2^33: the carry out of 64 bits stays in the double
      if (lo >= TWO_32) {
        lo -= TWO_32;
        hi++;
      }
      if (hi > ph || (hi === ph && lo >= pl)) {
        lo -= pl;
        hi -= ph;
        if (lo < 0) {
          lo += TWO_32;
          hi--;
        }
      }
      o[i] = lo;
      o[i + 1] = hi;
    }
  },
  fieldSub(out, a, b, f) {
    const o = words64(out), x = words64(a), y = words64(b);
    const pl = Number(f.p & 0xffffffffn), ph = Number(f.p >> 32n);
    for (let i = 0; i < o.length; i += 2) {
      let lo = x[i] - y[i];
      let hi = x[i + 1] - y[i + 1];
      if (lo < 0) {
        lo += TWO_32;
        hi--;
      }
      if (hi < 0) {
        lo += pl;
        hi += ph;
        if (lo >= TWO_32) {
          lo -= TWO_32;
          hi++;
        }
      }
      o[i] = lo;
      o[i + 1] = hi;
    }
  },
  fieldCheck(a, f) {
    const x = words64(a);
    const pl = Number(f.p & 0xffffffffn), ph = Number(f.p >> 32n);
    for (let i = 1; i < x.length; i += 2) {
      const h = x[i];
      if (h >= ph && (h > ph || x[i - 1] >= pl)) return (i - 1) / 2;
    }
    return -1;
  },
  fieldMul(out, a, b, f) {
    fieldMulTwin(out, a, b, 0n, f);
  },
  fieldMulScalar(out, a, k, f) {
    fieldMulTwin(out, a, null, k, f);
  },

  encode32(out, input, scale, bound, key, nonce) {
    return encodeTwin(out, null, input, scale, bound, key, nonce);
  },
  encode64(out, input, scale, bound, key, nonce) {
    const w = words64(out);
    return encodeTwin(w, w, input, scale, bound, key, nonce);
  },

  laplace(out, params, key, run) {
    laplaceTwin(out, params, chachaSource(key), run);
  },
};
