import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { nodeKeystream } from '../_keystream.ts';
import { ConfideError, Z32, Z64, addMask, chacha20Keystream, expandSeed } from '../../src/core/index.ts';

const seed = fc.uint8Array({ minLength: 32, maxLength: 32 });
const nonce = fc.uint8Array({ minLength: 12, maxLength: 12 });

describe('expandSeed', () => {
  it('is the ChaCha20 keystream read as little-endian words (property, against node:crypto)', () => {
    fc.assert(
      fc.property(seed, nonce, fc.integer({ min: 0, max: 5000 }), fc.integer({ min: 0, max: 1000 }), (s, n, len, counter) => {
        const ks = nodeKeystream(s, n, counter, 8 * len + 64);
        const v32 = expandSeed(s, len, 32, { nonce: n, counter }) as Uint32Array;
        expect(Buffer.from(v32.buffer).equals(Buffer.from(ks.subarray(0, 4 * len)))).toBe(true);
        const v64 = expandSeed(s, len, 64, { nonce: n, counter }) as BigUint64Array;
        expect(Buffer.from(v64.buffer).equals(Buffer.from(ks.subarray(0, 8 * len)))).toBe(true);
      }),
      { numRuns: 40 },
    );
  });

  it('gives unrelated vectors for different nonces and seeds', () => {
    const s = new Uint8Array(32).fill(1);
    const a = expandSeed(s, 64, 32) as Uint32Array;
    const b = expandSeed(s, 64, 32, { nonce: new Uint8Array(12).fill(1) }) as Uint32Array;
    const c = expandSeed(new Uint8Array(32).fill(2), 64, 32) as Uint32Array;
    let same = 0;
    for (let i = 0; i < 64; i++) same += +(a[i] === b[i]) + +(a[i] === c[i]);
    expect(same).toBe(0);
  });

  it('refuses a counter range that would wrap the keystream', () => {
    const s = new Uint8Array(32);
    expect(() => expandSeed(s, 32, 32, { counter: 2 ** 32 - 1 })).toThrow(ConfideError);
    expect(() => expandSeed(s, 16, 32, { counter: 2 ** 32 - 1 })).not.toThrow();
  });
});

describe('addMask', () => {
  it('adding then subtracting the same mask is the identity (property)', () => {
    fc.assert(
      fc.property(seed, nonce, fc.array(fc.nat(), { maxLength: 3000 }), (s, n, xs) => {
        const v = Uint32Array.from(xs);
        const w = v.slice();
        addMask(w, s, 1, { nonce: n });
        if (xs.length > 8) expect(w).not.toEqual(v);
        addMask(w, s, -1, { nonce: n });
        expect(w).toEqual(v);
        const v64 = BigUint64Array.from(xs.map(BigInt));
        const w64 = v64.slice();
        addMask(w64, s, -1, { nonce: n });
        addMask(w64, s, 1, { nonce: n });
        expect(w64).toEqual(v64);
      }),
      { numRuns: 50 },
    );
  });

  it('equals adding the expanded vector, without materialising it', () => {
    const s = new Uint8Array(32).map((_, i) => i);
    const x = new Uint32Array(100_003).map((_, i) => i * 31);
    const want = Z32.add(x, expandSeed(s, x.length, 32) as Uint32Array);
    expect(addMask(x.slice(), s, 1)).toEqual(want);
    const x64 = new BigUint64Array(50_001).map((_, i) => BigInt(i) << 40n);
    const want64 = Z64.sub(x64, expandSeed(s, x64.length, 64) as BigUint64Array);
    expect(addMask(x64.slice(), s, -1)).toEqual(want64);
  });

  it('pairwise masks cancel in the sum (the secure-aggregation identity)', () => {
    const n = 5, len = 777;
    const seeds = Array.from({ length: n }, (_, u) => Array.from({ length: n }, (_, v) => new Uint8Array(32).fill(u * n + v + 1)));
    const inputs = Array.from({ length: n }, (_, u) => new Uint32Array(len).map((_, i) => u * 1000 + i));
    const masked = inputs.map((x, u) => {
      const y = x.slice();
      for (let v = 0; v < n; v++) if (v !== u) addMask(y, u < v ? seeds[u][v] : seeds[v][u], u < v ? 1 : -1);
      return y;
    });
    expect(Z32.sum(masked)).toEqual(Z32.sum(inputs));
  });

  it('refuses bad arguments', () => {
    const s = new Uint8Array(32);
    expect(() => addMask(new Int32Array(4) as never, s, 1)).toThrow(ConfideError);
    expect(() => addMask(new Uint32Array(4), new Uint8Array(16), 1)).toThrow(ConfideError);
    expect(() => addMask(new Uint32Array(4), s, 0 as never)).toThrow(ConfideError);
    expect(() => addMask(new Uint32Array(4), s, 1, { nonce: new Uint8Array(8) })).toThrow(ConfideError);
    expect(() => expandSeed(s, -1, 32)).toThrow(ConfideError);
    expect(() => expandSeed(s, 4, 16 as never)).toThrow(ConfideError);
  });
});

describe('chacha20Keystream', () => {
  it('fills any length and offset, matching node:crypto', () => {
    const key = new Uint8Array(32).fill(7), n = new Uint8Array(12).fill(2);
    for (const len of [0, 1, 63, 64, 65, 1000, 70_000]) {
      const buf = new Uint8Array(len + 3);
      const out = buf.subarray(3); // unaligned
      chacha20Keystream(key, out, { nonce: n, counter: 5 });
      expect(Buffer.from(out).equals(Buffer.from(nodeKeystream(key, n, 5, len)))).toBe(true);
    }
  });
});
