/**
 * Each WASM kernel equals its JS twin bit for bit (fast-check over lengths up
 * to 10^5, odd lengths, unaligned tails, both signs, operands inside and
 * outside WASM memory), and ChaCha20 matches RFC 8439 and node:crypto.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { nodeKeystream } from '../_keystream.ts';
import type { Kernels } from '../../src/core/wasm/_kernels.ts';
import { arenaAlloc, jsKernels, kernelInfo, wasmKernels } from '../../src/core/wasm/loader.ts';
import vectors from '../vectors/chacha20.json' with { type: 'json' };

const hex = (s: string) => Uint8Array.from(Buffer.from(s.replace(/\s+/g, ''), 'hex'));
const wasm = wasmKernels();
const both: [string, Kernels][] = [['js', jsKernels], ...(wasm ? [['wasm', wasm] as [string, Kernels]] : [])];


const bytes32 = fc.uint8Array({ minLength: 32, maxLength: 32 });
const bytes12 = fc.uint8Array({ minLength: 12, maxLength: 12 });
/** Mostly small lengths, some up to 10^5, biased towards block boundaries ± 1. */
const length = fc.oneof(
  fc.integer({ min: 0, max: 300 }),
  fc.constantFrom(0, 1, 15, 16, 17, 63, 64, 65, 255, 256, 257, 16383, 16384, 16385),
  fc.integer({ min: 0, max: 100_000 }),
);

describe('kernel backend', () => {
  it('loads the WASM kernels on this platform (Node with SIMD)', () => {
    if (process.env.CONFIDE_WASM === '0') return;
    expect(wasm).not.toBeNull();
    expect(kernelInfo().backend).toBe('wasm-simd');
  });
});

describe.each(both)('ChaCha20 (%s)', (_name, k) => {
  it.each(vectors.cases)('RFC 8439 $name', (c) => {
    const out = new Uint32Array(c.blocks * 16);
    k.chacha20(hex(c.key), hex(c.nonce), c.counter, out);
    expect(Buffer.from(out.buffer).toString('hex').slice(0, c.keystream.length)).toBe(c.keystream);
  });

  it('matches node:crypto for any key, nonce, counter and block count', () => {
    fc.assert(
      fc.property(bytes32, bytes12, fc.oneof(fc.nat(), fc.constant(0xfffffffe)), fc.integer({ min: 0, max: 40 }), (key, nonce, counter, blocks) => {
        const out = new Uint32Array(blocks * 16);
        k.chacha20(key, nonce, counter, out);
        const want = nodeKeystream(key, nonce, counter, blocks * 64);
        if (counter + blocks <= 2 ** 32) expect(Buffer.from(out.buffer).equals(want)).toBe(true);
      }),
      { numRuns: 60 },
    );
  });
});

describe.runIf(wasm)('WASM kernels equal their JS twins', () => {
  const w = wasm as Kernels;

  it('chacha20 across the staging chunk boundary and at the counter wrap', () => {
    const key = new Uint8Array(32).fill(9), nonce = new Uint8Array(12).fill(3);
    for (const [blocks, counter] of [[1025, 0], [2049, 7], [9, 0xfffffffc]]) {
      const a = new Uint32Array(blocks * 16), b = new Uint32Array(blocks * 16);
      jsKernels.chacha20(key, nonce, counter, a);
      w.chacha20(key, nonce, counter, b);
      expect(b).toEqual(a);
    }
  });

  it('mask32 / mask64, both signs, inside and outside WASM memory', () => {
    fc.assert(
      fc.property(length, bytes32, bytes12, fc.nat(), fc.boolean(), fc.boolean(), fc.integer({ min: 0, max: 3 }), (n, key, nonce, counter, subtract, inArena, offset) => {
        counter = counter % (2 ** 32 - Math.ceil((2 * n) / 16) - 1);
        const base32 = new Uint32Array(n + offset).map((_, i) => i * 2654435761);
        const a32 = base32.slice(offset);
        jsKernels.mask32(a32, key, nonce, counter, subtract);
        const a64 = new BigUint64Array(n).map((_, i) => BigInt(i) * 0x9e3779b97f4a7c15n);
        const want64 = a64.slice();
        jsKernels.mask64(want64, key, nonce, counter, subtract);
        if (inArena) {
          using v32 = arenaAlloc(Uint32Array, n + offset);
          v32.view.set(base32);
          const view32 = v32.view.subarray(offset);
          w.mask32(view32, key, nonce, counter, subtract);
          expect(view32).toEqual(a32);
          using v64 = arenaAlloc(BigUint64Array, n);
          v64.view.set(a64);
          w.mask64(v64.view, key, nonce, counter, subtract);
          expect(v64.view).toEqual(want64);
        } else {
          const b32 = base32.slice(offset);
          w.mask32(b32, key, nonce, counter, subtract);
          expect(b32).toEqual(a32);
          const b64 = a64.slice();
          w.mask64(b64, key, nonce, counter, subtract);
          expect(b64).toEqual(want64);
        }
      }),
      { numRuns: 40 },
    );
  });

  it('mask32 equals the node:crypto keystream added word by word', () => {
    const key = new Uint8Array(32).fill(1), nonce = new Uint8Array(12);
    const v = new Uint32Array(1001).fill(5);
    w.mask32(v, key, nonce, 0, false);
    const ks = new Uint32Array(nodeKeystream(key, nonce, 0, 1008 * 4).buffer.slice(0));
    for (let i = 0; i < v.length; i++) expect(v[i]).toBe((5 + ks[i]) >>> 0);
  });

  it('add, sub, neg, mul in Z_2^32 and Z_2^64, in place and aliased', () => {
    fc.assert(
      fc.property(length, fc.nat(), fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }), fc.boolean(), (n, k32, k64, alias) => {
        using a = arenaAlloc(Uint32Array, n), b = arenaAlloc(Uint32Array, n), o = arenaAlloc(Uint32Array, n);
        using a6 = arenaAlloc(BigUint64Array, n), b6 = arenaAlloc(BigUint64Array, n), o6 = arenaAlloc(BigUint64Array, n);
        for (let i = 0; i < n; i++) {
          a.view[i] = Math.imul(i + 1, 0x85ebca6b);
          b.view[i] = Math.imul(i + 7, 0xc2b2ae35);
          a6.view[i] = BigInt(i + 1) * 0xff51afd7ed558ccdn;
          b6.view[i] = BigInt(i + 3) * 0xc4ceb9fe1a85ec53n;
        }
        const A = a.view.slice(), B = b.view.slice(), A6 = a6.view.slice(), B6 = b6.view.slice();
        const check32 = (op: 'add32' | 'sub32') => {
          const want = new Uint32Array(n);
          jsKernels[op](want, A, B);
          const out = alias ? a.view : o.view;
          a.view.set(A);
          w[op](out, a.view, b.view);
          expect(out).toEqual(want);
        };
        const check64 = (op: 'add64' | 'sub64') => {
          const want = new BigUint64Array(n);
          jsKernels[op](want, A6, B6);
          const out = alias ? a6.view : o6.view;
          a6.view.set(A6);
          w[op](out, a6.view, b6.view);
          expect(out).toEqual(want);
        };
        check32('add32'); check32('sub32'); check64('add64'); check64('sub64');
        a.view.set(A); a6.view.set(A6);
        const n32 = new Uint32Array(n), m32 = new Uint32Array(n), n64 = new BigUint64Array(n), m64 = new BigUint64Array(n);
        jsKernels.neg32(n32, A); jsKernels.mul32(m32, A, k32 >>> 0);
        jsKernels.neg64(n64, A6); jsKernels.mul64(m64, A6, k64);
        w.neg32(o.view, a.view); expect(o.view).toEqual(n32);
        w.mul32(o.view, a.view, k32 >>> 0); expect(o.view).toEqual(m32);
        w.neg64(o6.view, a6.view); expect(o6.view).toEqual(n64);
        w.mul64(o6.view, a6.view, k64); expect(o6.view).toEqual(m64);
      }),
      { numRuns: 40 },
    );
  });

  it('the JS twins agree with BigInt arithmetic', () => {
    fc.assert(
      fc.property(fc.array(fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }), { minLength: 1, maxLength: 50 }), fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }), (xs, k) => {
        const a = BigUint64Array.from(xs), b = BigUint64Array.from(xs.map((x) => x ^ k));
        const s = new BigUint64Array(a.length), d = new BigUint64Array(a.length), ng = new BigUint64Array(a.length), m = new BigUint64Array(a.length);
        jsKernels.add64(s, a, b); jsKernels.sub64(d, a, b); jsKernels.neg64(ng, a); jsKernels.mul64(m, a, k);
        const M = (1n << 64n) - 1n;
        for (let i = 0; i < a.length; i++) {
          expect(s[i]).toBe((a[i] + b[i]) & M);
          expect(d[i]).toBe((a[i] - b[i]) & M);
          expect(ng[i]).toBe(-a[i] & M);
          expect(m[i]).toBe((a[i] * k) & M);
        }
      }),
      { numRuns: 200 },
    );
  });

  it('fixed-point encode, every input and output width, with clipping and bad values', () => {
    const special = fc.constantFrom(0, -0, 1e-300, -1e-300, 0.5, -0.5, 1e9, -1e9, 3.75, -3.75, 2 ** -30);
    const value = fc.oneof(fc.double({ min: -2000, max: 2000, noNaN: true }), special);
    fc.assert(
      fc.property(
        fc.oneof(fc.array(value, { maxLength: 300 }), fc.integer({ min: 0, max: 40_000 }).map((n) => Array.from({ length: n }, (_, i) => Math.sin(i) * 1500))),
        bytes32,
        fc.integer({ min: 0, max: 16 }),
        fc.option(fc.nat(), { nil: undefined }),
        fc.boolean(),
        (xs, key, fracBits, badAt, inArena) => {
          const nonce = new Uint8Array(12);
          const bound = 1000, scale = 2 ** fracBits;
          const vals = xs.slice();
          if (badAt !== undefined && vals.length > 0) vals[badAt % vals.length] = [NaN, Infinity, -Infinity][badAt % 3];
          for (const F of [Float32Array, Float64Array]) {
            const input = F.from(vals);
            const w32 = new Uint32Array(input.length), j32 = new Uint32Array(input.length);
            const w64 = new BigUint64Array(input.length), j64 = new BigUint64Array(input.length);
            const rj32 = jsKernels.encode32(j32, input, scale, bound, key, nonce);
            const rj64 = jsKernels.encode64(j64, input, scale, bound, key, nonce);
            let rw32: number, rw64: number;
            if (inArena) {
              using inp = arenaAlloc(F as Float64ArrayConstructor, input.length);
              inp.view.set(input);
              using o32 = arenaAlloc(Uint32Array, input.length), o64 = arenaAlloc(BigUint64Array, input.length);
              rw32 = w.encode32(o32.view, inp.view, scale, bound, key, nonce);
              rw64 = w.encode64(o64.view, inp.view, scale, bound, key, nonce);
              w32.set(o32.view); w64.set(o64.view);
            } else {
              rw32 = w.encode32(w32, input, scale, bound, key, nonce);
              rw64 = w.encode64(w64, input, scale, bound, key, nonce);
            }
            expect(rw32).toBe(rj32);
            expect(rw64).toBe(rj64);
            if (rj32 >= 0) {
              expect(w32).toEqual(j32);
              expect(w64).toEqual(j64);
            }
          }
        },
      ),
      { numRuns: 60 },
    );
  });
});
