import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ConfideError, FixedPoint, Z32, Z64, seededRng } from '../../src/core/index.ts';
import { zQuantile } from '../_stats.ts';

describe('FixedPoint encode/decode', () => {
  it('round-trips within one quantum, for both rings and both float widths (property)', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(32 as const, 64 as const),
        fc.integer({ min: 0, max: 20 }),
        fc.array(fc.double({ min: -100, max: 100, noNaN: true }), { maxLength: 500 }),
        fc.boolean(),
        (bits, fracBits, xs, f32) => {
          const fp = new FixedPoint({ bits, fracBits, bound: 100 });
          const input = f32 ? Float32Array.from(xs) : Float64Array.from(xs);
          const { data, clipped } = fp.encode(input, { rng: seededRng(fracBits) });
          expect(clipped).toBe(0);
          const back = fp.decode(data as never);
          for (let i = 0; i < xs.length; i++) expect(Math.abs(back[i] - input[i])).toBeLessThan(1 / fp.scale);
        },
      ),
      { numRuns: 100 },
    );
  });

  it('is exact on the grid, including negatives and -0', () => {
    const fp = new FixedPoint({ bits: 32, fracBits: 4, bound: 10 });
    const xs = Float64Array.of(0, -0, 1.5, -1.5, 9.9375, -10, 10);
    const { data } = fp.encode(xs);
    expect([...fp.decode(data)]).toEqual([0, 0, 1.5, -1.5, 9.9375, -10, 10]);
    expect(data[3]).toBe(2 ** 32 - 24); // -1.5 · 16 in two's complement
  });

  it('clips to ±bound and counts every clipped value', () => {
    const fp = new FixedPoint({ bits: 64, fracBits: 10, bound: 2 });
    const { data, clipped } = fp.encode(Float64Array.of(1, 2, 2.0001, -7, 1e300, -2));
    expect(clipped).toBe(3);
    expect([...fp.decode(data)]).toEqual([1, 2, 2, -2, 2, -2]);
  });

  it('refuses NaN and infinities, naming the index', () => {
    const fp = new FixedPoint({ bits: 32, fracBits: 8, bound: 1 });
    for (const bad of [NaN, Infinity, -Infinity]) {
      const xs = new Float32Array(100_000);
      xs[70_001] = bad; // past the first staging chunk
      const err = (() => {
        try {
          fp.encode(xs);
        } catch (e) {
          return e as ConfideError;
        }
      })();
      expect(err).toBeInstanceOf(ConfideError);
      expect(err!.code).toBe('E_BAD_INPUT');
      expect(err!.field).toBe('values[70001]');
    }
  });

  it('rounds stochastically without bias (mean within z=4.75 sigma, seeded)', () => {
    // x·scale = k + f rounds up with probability f: mean error 0, variance f(1-f).
    const fp = new FixedPoint({ bits: 32, fracBits: 2, bound: 10 });
    for (const x of [0.1, -0.1, 1.3, -2.71828, 0.125 + 1e-9]) {
      const n = 200_000;
      const { data } = fp.encode(new Float64Array(n).fill(x), { rng: seededRng(Math.round(x * 1e6) >>> 0) });
      const back = fp.decode(data);
      let mean = 0;
      for (const v of back) mean += v;
      mean /= n;
      const f = x * fp.scale - Math.floor(x * fp.scale);
      const sd = Math.sqrt((f * (1 - f)) / n) / fp.scale;
      expect(Math.abs(mean - x)).toBeLessThanOrEqual(zQuantile('1e-6') * sd + 1e-12);
      // Only the two neighbouring grid points occur.
      const lo = Math.floor(x * fp.scale) / fp.scale, hi = lo + 1 / fp.scale;
      for (let i = 0; i < 1000; i++) expect(back[i] === lo || back[i] === hi).toBe(true);
    }
  });

  it('decodes sums of many parties', () => {
    const fp = new FixedPoint({ bits: 64, fracBits: 16, bound: 1000 });
    const rng = seededRng(4);
    const parties = Array.from({ length: 9 }, (_, p) => Float64Array.from({ length: 50 }, (_, i) => Math.sin(p * 50 + i) * 999));
    const sum = Z64.sum(parties.map((x) => fp.encode(x, { rng }).data));
    const back = fp.decode(sum);
    for (let i = 0; i < 50; i++) {
      const want = parties.reduce((s, x) => s + x[i], 0);
      expect(Math.abs(back[i] - want)).toBeLessThan(9 / fp.scale);
    }
  });

  it('writes into a given output vector', () => {
    const fp = new FixedPoint({ bits: 32, fracBits: 0, bound: 5 });
    const out = new Uint32Array(3);
    expect(fp.encode(Float32Array.of(1, -1, 3), { out }).data).toBe(out);
    expect([...out]).toEqual([1, 2 ** 32 - 1, 3]);
    expect(() => fp.encode(Float32Array.of(1), { out })).toThrow(ConfideError);
    expect(() => fp.encode(Float32Array.of(1), { out: new BigUint64Array(1) as never })).toThrow(ConfideError);
  });
});

describe('FixedPoint overflow checks', () => {
  it('checkOverflow admits exactly the parties whose sum fits', () => {
    const fp = new FixedPoint({ bits: 32, fracBits: 16, bound: 1000 }); // ⌈1000·2^16⌉ = 65,536,000
    const max = fp.maxParties();
    expect(max).toBe(Math.floor((2 ** 31 - 1) / 65_536_000));
    expect(() => fp.checkOverflow(max)).not.toThrow();
    const err = (() => {
      try {
        fp.checkOverflow(max + 1);
      } catch (e) {
        return e as ConfideError;
      }
    })();
    expect(err?.code).toBe('E_OVERFLOW');
    expect(err?.details?.maxParties).toBe(max);
    expect(() => fp.checkOverflow(max, 2 ** 30)).toThrow(ConfideError);
  });

  it('the bound holds in practice: the largest admitted sum decodes without wrapping', () => {
    const fp = new FixedPoint({ bits: 32, fracBits: 8, bound: 100 });
    const n = fp.maxParties();
    const data = Array.from({ length: n }, () => fp.encode(Float64Array.of(100, -100)).data);
    expect([...fp.decode(Z32.sum(data))]).toEqual([100 * n, -100 * n]);
  });

  it('refuses codecs whose single values cannot fit', () => {
    expect(() => new FixedPoint({ bits: 32, fracBits: 16, bound: 2 ** 15 })).toThrow(ConfideError);
    expect(() => new FixedPoint({ bits: 64, fracBits: 40, bound: 2 ** 13 })).toThrow(ConfideError);
    expect(() => new FixedPoint({ bits: 64, fracBits: 40, bound: 2 ** 11 })).not.toThrow();
    expect(() => new FixedPoint({ bits: 16 as never, fracBits: 4, bound: 1 })).toThrow(ConfideError);
    expect(() => new FixedPoint({ bits: 32, fracBits: 53, bound: 1 })).toThrow(ConfideError);
    expect(() => new FixedPoint({ bits: 32, fracBits: 4, bound: 0 })).toThrow(ConfideError);
    expect(() => new FixedPoint(undefined as never)).toThrow(ConfideError);
  });
});
