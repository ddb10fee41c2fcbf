/**
 * Prime fields. `PrimeField` is exact BigInt arithmetic mod any prime (used
 * for Shamir sharing of 32-byte secrets in `SECRET_FIELD`, p = 2^256 + 297,
 * the smallest prime above 2^256, so every 32-byte string is a field element).
 * `Fp61` is the Mersenne field p = 2^61 - 1 on BigUint64Array vectors, for
 * sharing long vectors: its arithmetic runs on the field kernels (WASM, or
 * their JS twins on 32-bit word pairs where WebAssembly is missing).
 */
import { abigint, abytes, ainteger, asameLength, atyped } from './assert.ts';
import { ConfideError } from './errors.ts';
import { arng, systemRng, type Rng } from './random.ts';
import { fieldParams, kernels } from './wasm/loader.ts';

function modPow(b: bigint, e: bigint, m: bigint): bigint {
  let r = 1n;
  b %= m;
  while (e > 0n) {
    if (e & 1n) r = (r * b) % m;
    b = (b * b) % m;
    e >>= 1n;
  }
  return r;
}

const MR_BASES = [2n, 3n, 5n, 7n, 11n, 13n, 17n, 19n, 23n, 29n, 31n, 37n, 41n, 43n, 47n, 53n, 59n, 61n, 67n, 71n];

/**
 * Miller–Rabin with the first 20 prime bases: deterministic below 3.3·10^24
 * and an error below 4^-20 for larger n (for adversarial n, add random bases).
 */
export function isProbablePrime(n: bigint): boolean {
  abigint(n, 'n');
  if (n < 2n) return false;
  for (const p of MR_BASES) if (n === p) return true; else if (n % p === 0n) return false;
  let d = n - 1n, s = 0;
  while ((d & 1n) === 0n) { d >>= 1n; s++; }
  outer: for (const a of MR_BASES) {
    let x = modPow(a, d, n);
    if (x === 1n || x === n - 1n) continue;
    for (let i = 1; i < s; i++) {
      x = (x * x) % n;
      if (x === n - 1n) continue outer;
    }
    return false;
  }
  return true;
}

export class PrimeField {
  readonly p: bigint;
  readonly bits: number;
  /** Bytes of a canonical little-endian element encoding. */
  readonly bytes: number;

  /** `p` must be prime; it is checked with Miller–Rabin. */
  constructor(p: bigint) {
    abigint(p, 'p', 3n);
    if (!isProbablePrime(p))
      throw new ConfideError('E_BAD_INPUT', `"p" expected a prime, got ${p}`, { field: 'p' });
    this.p = p;
    this.bits = p.toString(2).length;
    this.bytes = Math.ceil(this.bits / 8);
  }

  /** x mod p in [0, p). */
  create(x: bigint): bigint {
    const r = abigint(x, 'x') % this.p;
    return r < 0n ? r + this.p : r;
  }
  isValid(x: unknown): x is bigint {
    return typeof x === 'bigint' && x >= 0n && x < this.p;
  }
  #el(x: unknown, field: string): bigint {
    return abigint(x, field, 0n, this.p - 1n);
  }
  add(a: bigint, b: bigint): bigint {
    const r = this.#el(a, 'a') + this.#el(b, 'b');
    return r >= this.p ? r - this.p : r;
  }
  sub(a: bigint, b: bigint): bigint {
    const r = this.#el(a, 'a') - this.#el(b, 'b');
    return r < 0n ? r + this.p : r;
  }
  neg(a: bigint): bigint {
    const x = this.#el(a, 'a');
    return x === 0n ? 0n : this.p - x;
  }
  mul(a: bigint, b: bigint): bigint {
    return (this.#el(a, 'a') * this.#el(b, 'b')) % this.p;
  }
  pow(a: bigint, e: bigint): bigint {
    return modPow(this.#el(a, 'a'), abigint(e, 'e', 0n), this.p);
  }
  /** Multiplicative inverse (extended Euclid); 0 has none. */
  inv(a: bigint): bigint {
    const x = this.#el(a, 'a');
    if (x === 0n) throw new ConfideError('E_BAD_INPUT', '"a" expected a nonzero element, got 0', { field: 'a' });
    let [r0, r1, s0, s1] = [this.p, x, 0n, 1n];
    while (r1 !== 0n) {
      const q = r0 / r1;
      [r0, r1] = [r1, r0 - q * r1];
      [s0, s1] = [s1, s0 - q * s1];
    }
    return s0 < 0n ? s0 + this.p : s0;
  }
  div(a: bigint, b: bigint): bigint {
    return this.mul(a, this.inv(b));
  }
  /** A uniform element. */
  random(rng: Rng = systemRng()): bigint {
    return arng(rng).uniformBigInt(this.p);
  }
  /** Canonical little-endian encoding in `bytes` bytes. */
  toBytes(x: bigint): Uint8Array {
    let v = this.#el(x, 'x');
    const out = new Uint8Array(this.bytes);
    for (let i = 0; i < out.length; i++, v >>= 8n) out[i] = Number(v & 0xffn);
    return out;
  }
  /** Decodes a canonical encoding; values >= p are refused, not reduced. */
  fromBytes(b: Uint8Array): bigint {
    abytes(b, 'bytes', this.bytes);
    let v = 0n;
    for (let i = b.length - 1; i >= 0; i--) v = (v << 8n) | BigInt(b[i]);
    if (v >= this.p)
      throw new ConfideError('E_BAD_INPUT', `"bytes" encode a value >= p`, { field: 'bytes' });
    return v;
  }
}

/** p = 2^256 + 297: the smallest prime above 2^256, so any 32-byte secret is an element. */
export const SECRET_FIELD = new PrimeField((1n << 256n) + 297n);

/** Reads a 32-byte string as a SECRET_FIELD element (little-endian). */
export function secretToField(secret: Uint8Array): bigint {
  abytes(secret, 'secret', 32);
  let v = 0n;
  for (let i = 31; i >= 0; i--) v = (v << 8n) | BigInt(secret[i]);
  return v;
}

/** The inverse of secretToField; refuses elements >= 2^256. */
export function fieldToSecret(x: bigint): Uint8Array {
  abigint(x, 'x', 0n, (1n << 256n) - 1n);
  const out = new Uint8Array(32);
  for (let i = 0; i < 32; i++, x >>= 8n) out[i] = Number(x & 0xffn);
  return out;
}

// ---------------------------------------------------------------------------
// Fp61: vectors mod the Mersenne prime 2^61 - 1.

const P61 = (1n << 61n) - 1n;
const P61_PARAMS = fieldParams(P61);
const P61_HI = 0x1fffffff; // high word of p; the low word is 0xffffffff

function w(v: BigUint64Array): Uint32Array {
  return new Uint32Array(v.buffer, v.byteOffset, v.length * 2);
}

function checkElements(v: BigUint64Array, field: string): void {
  const i = kernels().fieldCheck(v, P61_PARAMS);
  if (i >= 0)
    throw new ConfideError('E_BAD_INPUT', `"${field}[${i}]" expected an element below 2^61 - 1`, { field: `${field}[${i}]` });
}

function outFor(a: BigUint64Array, out: BigUint64Array | undefined): BigUint64Array {
  if (out === undefined) return new BigUint64Array(a.length);
  atyped(out, 'out', BigUint64Array);
  asameLength(a, out, 'a', 'out');
  return out;
}

/** Vectors over GF(2^61 - 1), elements canonical in [0, p). */
export const Fp61 = {
  p: P61,

  /** Reduces arbitrary u64 values (e.g. a Z_2^64 vector) into the field. */
  reduce(a: BigUint64Array, out?: BigUint64Array): BigUint64Array {
    atyped(a, 'a', BigUint64Array);
    const o = outFor(a, out);
    for (let i = 0; i < a.length; i++) o[i] = a[i] % P61;
    return o;
  },

  add(a: BigUint64Array, b: BigUint64Array, out?: BigUint64Array): BigUint64Array {
    atyped(a, 'a', BigUint64Array);
    atyped(b, 'b', BigUint64Array);
    asameLength(a, b, 'a', 'b');
    checkElements(a, 'a');
    checkElements(b, 'b');
    const o = outFor(a, out);
    kernels().fieldAdd(o, a, b, P61_PARAMS);
    return o;
  },

  neg(a: BigUint64Array, out?: BigUint64Array): BigUint64Array {
    atyped(a, 'a', BigUint64Array);
    checkElements(a, 'a');
    const o = outFor(a, out);
    const x = w(a), z = w(o);
    for (let i = 0; i < z.length; i += 2) {
      const lo = x[i], hi = x[i + 1];
      if (lo === 0 && hi === 0) { z[i] = 0; z[i + 1] = 0; continue; }
      // p - a: low word 0xffffffff - lo never borrows.
      z[i] = 0xffffffff - lo;
      z[i + 1] = P61_HI - hi;
    }
    return o;
  },

  sub(a: BigUint64Array, b: BigUint64Array, out?: BigUint64Array): BigUint64Array {
    atyped(a, 'a', BigUint64Array);
    atyped(b, 'b', BigUint64Array);
    asameLength(a, b, 'a', 'b');
    checkElements(a, 'a');
    checkElements(b, 'b');
    const o = outFor(a, out);
    kernels().fieldSub(o, a, b, P61_PARAMS);
    return o;
  },

  /** Element-wise product (Mersenne folding of the 122-bit product). */
  mul(a: BigUint64Array, b: BigUint64Array, out?: BigUint64Array): BigUint64Array {
    atyped(a, 'a', BigUint64Array);
    atyped(b, 'b', BigUint64Array);
    asameLength(a, b, 'a', 'b');
    checkElements(a, 'a');
    checkElements(b, 'b');
    const o = outFor(a, out);
    kernels().fieldMul(o, a, b, P61_PARAMS);
    return o;
  },

  mulScalar(a: BigUint64Array, k: bigint, out?: BigUint64Array): BigUint64Array {
    atyped(a, 'a', BigUint64Array);
    abigint(k, 'k', 0n, P61 - 1n);
    checkElements(a, 'a');
    const o = outFor(a, out);
    kernels().fieldMulScalar(o, a, k, P61_PARAMS);
    return o;
  },

  /** n uniform field elements (61-bit draws, rejecting p itself). */
  random(n: number, rng: Rng = systemRng()): BigUint64Array {
    ainteger(n, 'n', 0, 2 ** 30);
    arng(rng);
    const o = new BigUint64Array(n);
    const z = w(o);
    for (let i = 0; i < z.length; i += 2) {
      let lo: number, hi: number;
      do {
        lo = rng.nextU32();
        hi = rng.nextU32() >>> 3;
      } while (hi === P61_HI && lo === 0xffffffff);
      z[i] = lo;
      z[i + 1] = hi;
    }
    return o;
  },
};
