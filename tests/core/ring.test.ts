import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ConfideError, Z32, Z64, arenaAlloc, ring } from '../../src/core/index.ts';

const M32 = (1n << 32n) - 1n, M64 = (1n << 64n) - 1n;
const pair32 = fc.integer({ min: 0, max: 2000 }).chain((n) =>
  fc.tuple(fc.array(fc.nat({ max: 2 ** 32 - 1 }), { minLength: n, maxLength: n }), fc.array(fc.nat({ max: 2 ** 32 - 1 }), { minLength: n, maxLength: n })),
);
const pair64 = fc.integer({ min: 0, max: 500 }).chain((n) =>
  fc.tuple(fc.array(fc.bigInt({ min: 0n, max: M64 }), { minLength: n, maxLength: n }), fc.array(fc.bigInt({ min: 0n, max: M64 }), { minLength: n, maxLength: n })),
);

describe('Z_2^32', () => {
  it('add, sub, neg, mulScalar agree with BigInt (property)', () => {
    fc.assert(
      fc.property(pair32, fc.integer({ min: -(2 ** 32), max: 2 ** 32 }), ([xs, ys], k) => {
        const a = Uint32Array.from(xs), b = Uint32Array.from(ys);
        const s = Z32.add(a, b), d = Z32.sub(a, b), ng = Z32.neg(a), m = Z32.mulScalar(a, k);
        for (let i = 0; i < a.length; i++) {
          expect(BigInt(s[i])).toBe((BigInt(xs[i]) + BigInt(ys[i])) & M32);
          expect(BigInt(d[i])).toBe((BigInt(xs[i]) - BigInt(ys[i])) & M32);
          expect(BigInt(ng[i])).toBe(-BigInt(xs[i]) & M32);
          expect(BigInt(m[i])).toBe((BigInt(xs[i]) * BigInt(k)) & M32);
        }
      }),
      { numRuns: 100 },
    );
  });

  it('works in place, and sum handles out aliasing any input', () => {
    const a = Uint32Array.of(1, 2, 3), b = Uint32Array.of(10, 20, 30), c = Uint32Array.of(100, 200, 0xffffffff);
    expect(Z32.sum([a, b, c])).toEqual(Uint32Array.of(111, 222, 32));
    const b2 = b.slice();
    expect(Z32.sum([a, b2, c], b2)).toEqual(Uint32Array.of(111, 222, 32));
    const a2 = a.slice();
    expect(Z32.sum([a2, a2], a2)).toEqual(Uint32Array.of(2, 4, 6));
    Z32.add(a, b, a);
    expect(a).toEqual(Uint32Array.of(11, 22, 33));
    expect(Z32.toSigned(0xffffffff)).toBe(-1);
    expect(Z32.fromSigned(-1)).toBe(0xffffffff);
  });

  it('runs on vectors in WASM memory and gives the same answers', () => {
    using a = arenaAlloc(Uint32Array, 1001), b = arenaAlloc(Uint32Array, 1001);
    a.view.forEach((_, i, v) => (v[i] = i * 0x9e3779b9));
    b.view.forEach((_, i, v) => (v[i] = i * 7));
    const want = Z32.add(a.view.slice(), b.view.slice());
    Z32.add(a.view, b.view, a.view);
    expect(a.view).toEqual(want);
    expect(Z32.sum([a.view, b.view, b.view])).toEqual(Z32.add(want, Z32.mulScalar(b.view, 2)));
    // Every operand in WASM memory: the WASM kernels run.
    using o = arenaAlloc(Uint32Array, 1001);
    expect(Z32.sum([a.view, b.view, b.view], o.view)).toEqual(Z32.add(want, Z32.mulScalar(b.view, 2)));
    expect(Z32.sum([o.view, b.view], o.view)).toEqual(Z32.add(want, Z32.mulScalar(b.view, 3)));
    Z32.neg(a.view, o.view);
    expect(Z32.add(o.view, a.view, o.view).every((x) => x === 0)).toBe(true);
  });
});

describe('Z_2^64', () => {
  it('add, sub, neg, mulScalar agree with BigInt (property)', () => {
    fc.assert(
      fc.property(pair64, fc.bigInt({ min: -(1n << 70n), max: 1n << 70n }), ([xs, ys], k) => {
        const a = BigUint64Array.from(xs), b = BigUint64Array.from(ys);
        const s = Z64.add(a, b), d = Z64.sub(a, b), ng = Z64.neg(a), m = Z64.mulScalar(a, k);
        for (let i = 0; i < a.length; i++) {
          expect(s[i]).toBe((xs[i] + ys[i]) & M64);
          expect(d[i]).toBe((xs[i] - ys[i]) & M64);
          expect(ng[i]).toBe(-xs[i] & M64);
          expect(m[i]).toBe((xs[i] * k) & M64);
        }
      }),
      { numRuns: 100 },
    );
  });

  it('sums many vectors, in WASM memory or not', () => {
    const vs = Array.from({ length: 7 }, (_, j) => new BigUint64Array(99).map((_, i) => BigInt(i + j) * 0xfedcba9876543210n));
    const want = vs.reduce((acc, v) => acc.map((x, i) => (x + v[i]) & M64), new BigUint64Array(99));
    expect(Z64.sum(vs)).toEqual(want);
    const arena = vs.map((v) => {
      const a = arenaAlloc(BigUint64Array, v.length);
      a.view.set(v);
      return a;
    });
    expect(Z64.sum(arena.map((a) => a.view))).toEqual(want);
    for (const a of arena) a.free();
    expect(Z64.toSigned(M64)).toBe(-1n);
    expect(Z64.fromSigned(-2n)).toBe(M64 - 1n);
  });
});

describe('ring arguments', () => {
  it('refuses mismatched types and lengths', () => {
    expect(() => Z32.add(new Uint32Array(2), new Uint32Array(3))).toThrow(ConfideError);
    expect(() => Z32.add(new Uint32Array(2), new Int32Array(2) as never)).toThrow(ConfideError);
    expect(() => Z32.add(new Uint32Array(2), new Uint32Array(2), new Uint32Array(1))).toThrow(ConfideError);
    expect(() => Z64.add(new Uint32Array(2) as never, new BigUint64Array(2))).toThrow(ConfideError);
    expect(() => Z64.mulScalar(new BigUint64Array(2), 3 as never)).toThrow(ConfideError);
    expect(() => Z32.mulScalar(new Uint32Array(2), 1.5)).toThrow(ConfideError);
    expect(() => Z32.sum([])).toThrow(ConfideError);
    expect(() => ring(16 as never)).toThrow(ConfideError);
    expect(ring(64)).toBe(Z64);
  });

  it('refuses arena vectors used after free', () => {
    const a = arenaAlloc(Uint32Array, 4);
    a.free();
    expect(() => a.view).toThrow(ConfideError);
    a.free(); // idempotent
  });
});
