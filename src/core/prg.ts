/**
 * The pseudorandom generator behind masks and seeds: ChaCha20 (RFC 8439)
 * keyed by a full 256-bit seed. `expandSeed` turns a seed into a ring vector;
 * `addMask` adds or subtracts that vector in place without materialising it
 * (the fused WASM kernel generates 4 blocks in registers and adds them).
 *
 * Word i of a vector comes from keystream word i (32-bit ring) or words 2i and
 * 2i+1 read as a little-endian u64 (64-bit ring), from block `counter` under
 * `nonce`. Different vectors under one seed need different nonces: a mask
 * that is reused leaks the difference of the two inputs.
 */
import { abytes, ainteger, aoneof, aoptions, atyped } from './assert.ts';
import { ConfideError } from './errors.ts';
import type { RingVector } from './ring.ts';
import { kernels } from './wasm/loader.ts';

export const SEED_BYTES = 32;
export const NONCE_BYTES = 12;
const ZERO_NONCE = new Uint8Array(NONCE_BYTES);
const MAX_BLOCKS = 2 ** 32;

export interface PrgOptions {
  /** 12-byte nonce; all zero by default. */
  nonce?: Uint8Array;
  /** First ChaCha20 block (default 0). */
  counter?: number;
}

function params(seed: unknown, opts: PrgOptions | undefined, words: number) {
  abytes(seed, 'seed', SEED_BYTES);
  aoptions(opts, 'options', ['nonce', 'counter']);
  const nonce = opts?.nonce === undefined ? ZERO_NONCE : abytes(opts.nonce, 'nonce', NONCE_BYTES);
  const counter = opts?.counter === undefined ? 0 : ainteger(opts.counter, 'counter', 0, MAX_BLOCKS - 1);
  // The block counter is 32 bits: past it the keystream would repeat.
  if (counter + Math.ceil(words / 16) > MAX_BLOCKS)
    throw new ConfideError('E_OVERFLOW', `a ChaCha20 stream holds 2^32 blocks; ${words} words from block ${counter} do not fit`, {
      field: 'counter',
    });
  return { nonce, counter };
}

/** Writes ChaCha20 keystream bytes into `out` (any length) and returns it. */
export function chacha20Keystream(key: Uint8Array, out: Uint8Array, opts?: PrgOptions): Uint8Array {
  abytes(out, 'out');
  const { nonce, counter } = params(key, opts, Math.ceil(out.length / 4));
  const whole = out.length & ~63;
  const k = kernels();
  if (whole > 0) {
    if ((out.byteOffset & 3) === 0) k.chacha20(key, nonce, counter, new Uint32Array(out.buffer, out.byteOffset, whole / 4));
    else {
      const tmp = new Uint32Array(whole / 4);
      k.chacha20(key, nonce, counter, tmp);
      out.set(new Uint8Array(tmp.buffer), 0);
    }
  }
  if (whole < out.length) {
    const last = new Uint32Array(16);
    k.chacha20(key, nonce, (counter + whole / 64) >>> 0, last);
    out.set(new Uint8Array(last.buffer, 0, out.length - whole), whole);
  }
  return out;
}

/** The ring vector of `length` elements that `seed` expands to. */
export function expandSeed(seed: Uint8Array, length: number, bits: 32 | 64, opts?: PrgOptions): RingVector {
  aoneof(bits, 'bits', [32, 64] as const);
  ainteger(length, 'length', 0, bits === 32 ? 2 ** 31 : 2 ** 30);
  const v = bits === 32 ? new Uint32Array(length) : new BigUint64Array(length);
  addMask(v, seed, 1, opts);
  return v;
}

/**
 * vector += sign · PRG(seed), in place, mod 2^32 or 2^64 by the vector's type.
 * With sign -1 it subtracts the same mask, so `addMask(v, s, 1); addMask(v, s, -1)`
 * is the identity.
 */
export function addMask<V extends RingVector>(vector: V, seed: Uint8Array, sign: 1 | -1, opts?: PrgOptions): V {
  const v = atyped(vector, 'vector', Uint32Array, BigUint64Array) as V;
  aoneof(sign, 'sign', [1, -1] as const);
  const wide = v instanceof BigUint64Array;
  const { nonce, counter } = params(seed, opts, wide ? 2 * v.length : v.length);
  const k = kernels();
  if (wide) k.mask64(v as BigUint64Array, seed, nonce, counter, sign === -1);
  else k.mask32(v as Uint32Array, seed, nonce, counter, sign === -1);
  return v;
}
