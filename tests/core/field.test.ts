import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  ConfideError,
  Fp61,
  PrimeField,
  SECRET_FIELD,
  fieldToSecret,
  isProbablePrime,
  secretToField,
  seededRng,
} from '../../src/core/index.ts';

const P61 = (1n << 61n) - 1n;
const el61 = fc.bigInt({ min: 0n, max: P61 - 1n });
const vec61 = (n: number) => fc.array(el61, { minLength: n, maxLength: n }).map((a) => BigUint64Array.from(a));

describe('isProbablePrime', () => {
  it('knows small primes, Carmichael numbers and the Mersenne primes', () => {
    const small = [2n, 3n, 5n, 97n, 7919n];
    for (const p of small) expect(isProbablePrime(p)).toBe(true);
    for (const c of [0n, 1n, 4n, 561n, 1105n, 41041n, 3215031751n, 7919n * 7907n]) expect(isProbablePrime(c)).toBe(false);
    expect(isProbablePrime((1n << 61n) - 1n)).toBe(true);
    expect(isProbablePrime((1n << 127n) - 1n)).toBe(true);
    expect(isProbablePrime((1n << 67n) - 1n)).toBe(false); // Cole 1903: 193707721 × 761838257287
  });
});

describe('SECRET_FIELD', () => {
  it('is p = 2^256 + 297, a prime with no prime between 2^256 and it', () => {
    const p = SECRET_FIELD.p;
    expect(p).toBe((1n << 256n) + 297n);
    expect(isProbablePrime(p)).toBe(true);
    for (let q = (1n << 256n) + 1n; q < p; q += 2n) expect(isProbablePrime(q)).toBe(false);
    expect(SECRET_FIELD.bytes).toBe(33);
  });

  it('holds every 32-byte secret', () => {
    const all = new Uint8Array(32).fill(0xff);
    const x = secretToField(all);
    expect(SECRET_FIELD.isValid(x)).toBe(true);
    expect(fieldToSecret(x)).toEqual(all);
    expect(() => fieldToSecret(1n << 256n)).toThrow(ConfideError);
  });

  it('obeys the field axioms (property)', () => {
    const F = SECRET_FIELD;
    const el = fc.bigInt({ min: 0n, max: F.p - 1n });
    fc.assert(
      fc.property(el, el, el, (a, b, c) => {
        expect(F.add(a, b)).toBe((a + b) % F.p);
        expect(F.sub(F.add(a, b), b)).toBe(a);
        expect(F.mul(a, F.add(b, c))).toBe(F.add(F.mul(a, b), F.mul(a, c)));
        expect(F.add(a, F.neg(a))).toBe(0n);
        if (a !== 0n) expect(F.mul(a, F.inv(a))).toBe(1n);
        expect(F.fromBytes(F.toBytes(a))).toBe(a);
      }),
      { numRuns: 200 },
    );
  });

  it('computes inverses by Fermat as well', () => {
    const F = new PrimeField(7919n);
    for (let a = 1n; a < 50n; a++) expect(F.inv(a)).toBe(F.pow(a, F.p - 2n));
    expect(() => F.inv(0n)).toThrow(ConfideError);
    expect(F.div(6n, 3n)).toBe(2n);
  });

  it('refuses non-canonical input', () => {
    const F = SECRET_FIELD;
    expect(() => F.add(F.p, 0n)).toThrow(ConfideError);
    expect(() => F.mul(-1n, 1n)).toThrow(ConfideError);
    expect(() => F.fromBytes(F.toBytes(F.p - 1n).map(() => 0xff))).toThrow(ConfideError);
    expect(() => new PrimeField(15n)).toThrow(ConfideError);
    expect(() => new PrimeField(7 as never)).toThrow(ConfideError);
    expect(F.create(-1n)).toBe(F.p - 1n);
  });

  it('draws uniform elements', () => {
    const F = new PrimeField(5n);
    const rng = seededRng(1);
    const counts = [0, 0, 0, 0, 0];
    for (let i = 0; i < 5000; i++) counts[Number(F.random(rng))]++;
    for (const c of counts) expect(Math.abs(c - 1000)).toBeLessThan(150);
  });
});

describe('Fp61 vectors', () => {
  it('add, sub, neg and mul agree with BigInt (property)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 40 }).chain((n) => fc.tuple(vec61(n), vec61(n))), fc.bigInt({ min: 0n, max: P61 - 1n }), ([a, b], k) => {
        const sum = Fp61.add(a, b), diff = Fp61.sub(a, b), neg = Fp61.neg(a), prod = Fp61.mul(a, b), sc = Fp61.mulScalar(a, k);
        for (let i = 0; i < a.length; i++) {
          expect(sum[i]).toBe((a[i] + b[i]) % P61);
          expect(diff[i]).toBe((a[i] - b[i] + P61) % P61);
          expect(neg[i]).toBe((P61 - a[i]) % P61);
          expect(prod[i]).toBe((a[i] * b[i]) % P61);
          expect(sc[i]).toBe((a[i] * k) % P61);
        }
      }),
      { numRuns: 300 },
    );
  });

  it('handles the edges p-1, 0 and carries across the word boundary', () => {
    const a = BigUint64Array.from([P61 - 1n, 0n, 0xffffffffn, P61 - 1n]);
    const b = BigUint64Array.from([1n, 0n, 1n, P61 - 1n]);
    expect([...Fp61.add(a, b)]).toEqual([0n, 0n, 0x100000000n, P61 - 2n]);
    expect([...Fp61.sub(b, a)]).toEqual([2n, 0n, (1n - 0xffffffffn + P61) % P61, 0n]);
  });

  it('works in place and reduces u64 values', () => {
    const a = BigUint64Array.from([5n, P61 - 1n]);
    Fp61.add(a, BigUint64Array.from([1n, 2n]), a);
    expect([...a]).toEqual([6n, 1n]);
    expect([...Fp61.reduce(BigUint64Array.from([(1n << 64n) - 1n, P61]))]).toEqual([((1n << 64n) - 1n) % P61, 0n]);
  });

  it('refuses elements >= p and mismatched lengths', () => {
    expect(() => Fp61.add(BigUint64Array.from([P61]), BigUint64Array.from([0n]))).toThrow(ConfideError);
    expect(() => Fp61.add(new BigUint64Array(2), new BigUint64Array(3))).toThrow(ConfideError);
    expect(() => Fp61.mulScalar(new BigUint64Array(2), P61)).toThrow(ConfideError);
  });

  it('draws uniform elements below p', () => {
    const v = Fp61.random(10_000, seededRng(2));
    let high = 0;
    for (const x of v) {
      expect(x < P61).toBe(true);
      if (x >= 1n << 60n) high++;
    }
    expect(Math.abs(high - 5000)).toBeLessThan(300);
  });
});
