/**
 * Randomness. Every draw in confide comes from an `Rng`: `systemRng()` (the
 * platform CSPRNG, the default everywhere) or `seededRng(seed)` (ChaCha20,
 * reproducible, for tests and simulations only). The uniform helpers are exact:
 * rejection sampling, never modulo reduction or floating-point scaling, so
 * that samplers built on them have no bias to leak.
 */
import { abigint, abytes, ainteger, isBytes } from './assert.ts';
import { ConfideError } from './errors.ts';
import { chachaBlocks, keyWords } from './_chacha20.ts';

const POOL_WORDS = 1024; // 4 KiB of buffered randomness per generator
const TWO_32 = 4294967296;

export abstract class Rng {
  /** Human-readable kind, for audit reports: 'system' or 'seeded-chacha20'. */
  abstract readonly kind: string;
  #pool = new Uint32Array(POOL_WORDS);
  #pos = POOL_WORDS;

  /** Fills `words` with uniform 32-bit words from the underlying source. */
  protected abstract refill(words: Uint32Array): void;

  /** A uniform 32-bit unsigned integer. */
  nextU32(): number {
    if (this.#pos === POOL_WORDS) {
      this.refill(this.#pool);
      this.#pos = 0;
    }
    return this.#pool[this.#pos++];
  }

  /** Fills `out` with uniform bytes and returns it. */
  fill<T extends Uint8Array>(out: T): T {
    abytes(out, 'out');
    const n = out.length;
    let i = 0;
    // Whole words straight from the pool.
    for (; i + 4 <= n; i += 4) {
      const w = this.nextU32();
      out[i] = w;
      out[i + 1] = w >>> 8;
      out[i + 2] = w >>> 16;
      out[i + 3] = w >>> 24;
    }
    if (i < n) {
      let w = this.nextU32();
      for (; i < n; i++, w >>>= 8) out[i] = w;
    }
    return out;
  }

  /** `n` fresh uniform bytes. */
  bytes(n: number): Uint8Array {
    ainteger(n, 'n', 0, 2 ** 31);
    return this.fill(new Uint8Array(n));
  }

  /** A uniform integer in [0, 2^k) for 0 <= k <= 32. */
  bits(k: number): number {
    ainteger(k, 'k', 0, 32);
    return k === 0 ? 0 : this.nextU32() >>> (32 - k);
  }

  /** A uniform boolean. */
  bit(): boolean {
    return (this.nextU32() & 1) === 1;
  }

  /**
   * A uniform integer in [0, bound) for 1 <= bound <= 2^53, without modulo
   * bias: draws below a multiple of `bound` are accepted, the rest redrawn.
   */
  uniformInt(bound: number): number {
    if (!Number.isInteger(bound) || bound < 1 || bound > 2 ** 53) ainteger(bound, 'bound', 1, 2 ** 53 - 1);
    if (bound <= TWO_32) {
      // Accept x in [0, limit) where limit is the largest multiple of bound <= 2^32.
      const limit = TWO_32 - (TWO_32 % bound);
      for (;;) {
        const x = this.nextU32();
        if (x < limit) return x % bound;
      }
    }
    const TWO_53 = 2 ** 53;
    const limit = TWO_53 - (TWO_53 % bound);
    for (;;) {
      const x = (this.nextU32() >>> 11) * TWO_32 + this.nextU32(); // 21 + 32 bits
      if (x < limit) return x % bound;
    }
  }

  /** A uniform bigint in [0, bound) for bound >= 1, by rejection on the bit length. */
  uniformBigInt(bound: bigint): bigint {
    abigint(bound, 'bound', 1n);
    if (bound === 1n) return 0n;
    const top = bound - 1n;
    const bitLen = top.toString(2).length;
    const words = Math.ceil(bitLen / 32);
    const topBits = bitLen - 32 * (words - 1); // 1..32 bits used in the top word
    for (;;) {
      let x = BigInt(this.nextU32() >>> (32 - topBits));
      for (let i = 1; i < words; i++) x = (x << 32n) | BigInt(this.nextU32());
      if (x < bound) return x;
    }
  }

  /** A uniform integer in [lo, hi] (both safe integers, hi - lo < 2^53). */
  uniformRange(lo: number, hi: number): number {
    ainteger(lo, 'lo', Number.MIN_SAFE_INTEGER);
    ainteger(hi, 'hi', lo);
    return lo + this.uniformInt(hi - lo + 1);
  }

  /** Shuffles `a` in place (Fisher–Yates with unbiased draws) and returns it. */
  shuffle<T>(a: T[]): T[] {
    if (!Array.isArray(a))
      throw new ConfideError('E_BAD_INPUT', '"a" expected an array', { field: 'a' });
    for (let i = a.length - 1; i > 0; i--) {
      const j = this.uniformInt(i + 1);
      const t = a[i];
      a[i] = a[j];
      a[j] = t;
    }
    return a;
  }
}

const GETRANDOM_MAX = 65536; // getRandomValues refuses more bytes per call

class SystemRng extends Rng {
  readonly kind = 'system';
  readonly #crypto: Crypto;
  constructor(c: Crypto) {
    super();
    this.#crypto = c;
  }
  protected refill(words: Uint32Array): void {
    for (let off = 0; off < words.length; off += GETRANDOM_MAX / 4) {
      this.#crypto.getRandomValues(words.subarray(off, off + GETRANDOM_MAX / 4));
    }
  }
}

let shared: SystemRng | undefined;

/**
 * The platform CSPRNG (`globalThis.crypto.getRandomValues`, which Node backs
 * with OpenSSL's generator), with buffered draws. The same instance is shared.
 */
export function systemRng(): Rng {
  if (shared) return shared;
  const c = (globalThis as { crypto?: Crypto }).crypto;
  if (!c || typeof c.getRandomValues !== 'function')
    throw new ConfideError(
      'E_UNSUPPORTED',
      'no cryptographic random source: globalThis.crypto.getRandomValues is missing',
    );
  shared = new SystemRng(c);
  return shared;
}

/** Fresh random bytes from the system CSPRNG. */
export function randomBytes(n: number): Uint8Array {
  return systemRng().bytes(n);
}

class SeededRng extends Rng {
  readonly kind = 'seeded-chacha20';
  readonly #key: Int32Array;
  readonly #nonce = new Int32Array(3);
  #counter = 0;
  constructor(key: Uint8Array) {
    super();
    this.#key = keyWords(key);
  }
  protected refill(words: Uint32Array): void {
    const blocks = words.length / 16;
    if (this.#counter + blocks > TWO_32) {
      // 2^32 blocks (256 GiB) per nonce; move to the next nonce rather than repeat.
      this.#nonce[0]++;
      this.#counter = 0;
    }
    chachaBlocks(this.#key, this.#nonce, this.#counter, words, 0, blocks);
    this.#counter += blocks;
  }
}

/**
 * A reproducible generator: the ChaCha20 keystream under `seed`. For tests and
 * simulations only; nothing in confide uses it unless it is passed explicitly.
 * `seed` is 32 bytes, or a non-negative integer (encoded little-endian).
 */
export function seededRng(seed: Uint8Array | number | bigint): Rng {
  let key: Uint8Array;
  if (isBytes(seed)) {
    key = abytes(seed, 'seed', 32).slice();
  } else {
    let s: bigint;
    if (typeof seed === 'number') s = BigInt(ainteger(seed, 'seed'));
    else s = abigint(seed, 'seed', 0n, (1n << 256n) - 1n);
    key = new Uint8Array(32);
    for (let i = 0; i < 32; i++, s >>= 8n) key[i] = Number(s & 0xffn);
  }
  return new SeededRng(key);
}

/** Checks that `v` is an Rng (for functions that take one as an option). */
export function arng(v: unknown, field = 'rng'): Rng {
  if (!(v instanceof Rng))
    throw new ConfideError('E_BAD_INPUT', `"${field}" expected an Rng (systemRng() or seededRng(seed))`, {
      field,
    });
  return v;
}
