/**
 * The MPC vector kernels (products and the Beaver combination in Z_2^64,
 * add / sub / product / scalar product mod a prime below 2^64): the WASM
 * kernel equals its JS twin bit for bit, and both equal BigInt arithmetic,
 * over lengths from 0 past several staging chunks (8192 elements), operands
 * inside and outside WASM memory, in place, and the edge values 0, 1, p − 1
 * (2^64 − 1 and 2^63 in Z_2^64). Under CONFIDE_WASM=0 only the twins run,
 * against BigInt.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ConfideError } from '../../src/core/errors.ts';
import { Fp61, PrimeField, isProbablePrime } from '../../src/core/field.ts';
import { seededRng, type Rng } from '../../src/core/random.ts';
import type { Kernels } from '../../src/core/wasm/_kernels.ts';
import { FIELD_MONT, FIELD_P61, FIELD_SMALL, arenaAlloc, fieldParams, jsKernels, wasmKernels, type FieldParams } from '../../src/core/wasm/loader.ts';
import { beaverCombine64, mul64, mulAdd64 } from '../../src/mpc/_z64.ts';
import { vectorField } from '../../src/mpc/_vfield.ts';

const wasm = wasmKernels();
const both: [string, Kernels][] = [['js', jsKernels], ...(wasm ? [['wasm', wasm] as [string, Kernels]] : [])];
const M64 = (1n << 64n) - 1n;

const prevPrime = (n: bigint) => {
  while (!isProbablePrime(n)) n--;
  return n;
};
const nextPrime = (n: bigint) => {
  while (!isProbablePrime(n)) n++;
  return n;
};
/** Every product method and the boundaries between them. */
const PRIMES: bigint[] = [
  3n,
  7n,
  65537n,
  35184371613697n, // HE_TRIPLE_PRIME, the 45-bit BFV plaintext field
  prevPrime((1n << 50n) - 1n), // the largest prime with a quotient estimated in doubles
  nextPrime(1n << 50n), // the smallest Montgomery one
  (1n << 61n) - 1n,
  prevPrime((1n << 61n) - 2n),
  prevPrime((1n << 63n) - 1n),
  nextPrime((1n << 63n) + 1n), // sums overflow 64 bits
  prevPrime(M64), // 2^64 - 59
];

/** Mostly small lengths, the staging and twin thresholds, some spanning several 8192-element chunks. */
const length = fc.oneof(
  fc.integer({ min: 0, max: 100 }),
  fc.constantFrom(0, 1, 2, 31, 32, 33, 8191, 8192, 8193, 16385, 24577),
  fc.integer({ min: 0, max: 40_000 }),
);

/** n elements below `bound`: uniform, with every fifth an edge value (0, 1, bound − 1, bound − 2, bound / 2). */
function values(n: number, bound: bigint, rng: Rng): BigUint64Array {
  const edges = [0n, 1n, bound - 1n, bound - 2n, bound >> 1n];
  const v = new BigUint64Array(n);
  for (let i = 0; i < n; i++) v[i] = rng.nextU32() % 5 === 0 ? edges[rng.nextU32() % edges.length] : rng.uniformBigInt(bound);
  return v;
}

/**
 * Copies of `vs` in WASM memory when `inArena` (the JS backend: ordinary
 * memory), all allocated before any view is taken, since growing the memory
 * detaches earlier views.
 */
function place(vs: BigUint64Array[], inArena: boolean, held: { free(): void }[]): BigUint64Array[] {
  if (!inArena) return vs.map((v) => v.slice());
  const hs = vs.map((v) => arenaAlloc(BigUint64Array, v.length));
  held.push(...hs);
  return hs.map((h, i) => {
    h.view.set(vs[i]);
    return h.view;
  });
}

function expectEqual(got: BigUint64Array, want: BigUint64Array, what: string): void {
  expect(got.length, what).toBe(want.length);
  for (let i = 0; i < want.length; i++) if (got[i] !== want[i]) expect(`${what}[${i}] = ${got[i]}`).toBe(`${what}[${i}] = ${want[i]}`);
}

describe('fieldParams', () => {
  it('picks the product method by size and holds p^-1 mod 2^64, 2^64 mod p, 2^128 mod p', () => {
    for (const p of PRIMES) {
      const f = fieldParams(p);
      expect((f.pinv * p) & M64).toBe(1n);
      expect(f.r1).toBe((1n << 64n) % p);
      expect(f.r2).toBe((1n << 128n) % p);
      expect(f.kind).toBe(p === (1n << 61n) - 1n ? FIELD_P61 : p < 1n << 50n ? FIELD_SMALL : FIELD_MONT);
    }
  });
});

describe.each(both)('Z_2^64 kernels (%s) equal BigInt', (_name, k) => {
  it('mulv64, mulAddv64 and beaver64 (both parties), in and out of WASM memory, in place', () => {
    fc.assert(
      fc.property(length, fc.nat(), fc.boolean(), fc.boolean(), (n, seed, inArena, alias) => {
        const rng = seededRng(seed);
        const [a, b, c, d, e] = [0, 1, 2, 3, 4].map(() => values(n, 1n << 64n, rng));
        const held: { free(): void }[] = [];
        try {
          const zero = new BigUint64Array(n);
          const [A, B, C, D, E, O, acc] = place([a, b, c, d, e, zero, c], inArena, held);
          // Mixed: one operand outside WASM memory while the others are inside.
          const Bout = b.slice();
          const prod = a.map((x, i) => (x * b[i]) & M64);
          const out = alias ? A : O;
          k.mulv64(out, A, inArena ? Bout : B);
          expectEqual(out, prod, 'mulv64');
          A.set(a);
          k.mulAddv64(acc, A, B);
          expectEqual(acc, c.map((x, i) => (x + a[i] * b[i]) & M64), 'mulAddv64');
          for (const first of [false, true]) {
            const want = c.map((x, i) => (x + d[i] * b[i] + e[i] * a[i] + (first ? d[i] * e[i] : 0n)) & M64);
            C.set(c);
            const z = alias ? C : O;
            k.beaver64(z, C, D, E, A, B, first);
            expectEqual(z, want, `beaver64 first=${first}`);
          }
        } finally {
          for (const h of held) h.free();
        }
      }),
      { numRuns: 30 },
    );
  });
});

describe.each(both)('prime field kernels (%s) equal BigInt', (_name, k) => {
  it.each(PRIMES.map((p) => [p]))('p = %s: add, sub, mul, mulScalar, in and out of WASM memory, in place', (p) => {
    const fp: FieldParams = fieldParams(p);
    fc.assert(
      fc.property(length, fc.nat(), fc.boolean(), fc.boolean(), fc.oneof(fc.constantFrom(0n, 1n, p - 1n), fc.bigInt({ min: 0n, max: p - 1n })), (n, seed, inArena, alias, s) => {
        const rng = seededRng(seed);
        const a = values(n, p, rng), b = values(n, p, rng);
        const held: { free(): void }[] = [];
        try {
          const [A, B, O] = place([a, b, new BigUint64Array(n)], inArena, held);
          const run = (op: (o: BigUint64Array) => void, want: (x: bigint, y: bigint) => bigint, what: string) => {
            A.set(a);
            const o = alias ? A : O;
            op(o);
            expectEqual(o, a.map((x, i) => want(x, b[i])), what);
          };
          run((o) => k.fieldAdd(o, A, B, fp), (x, y) => (x + y) % p, 'add');
          run((o) => k.fieldSub(o, A, B, fp), (x, y) => (x - y + p) % p, 'sub');
          run((o) => k.fieldMul(o, A, B, fp), (x, y) => (x * y) % p, 'mul');
          run((o) => k.fieldMulScalar(o, A, s, fp), (x) => (x * s) % p, 'mulScalar');
        } finally {
          for (const h of held) h.free();
        }
      }),
      { numRuns: 8 },
    );
  });

  it('fieldCheck finds the first element not below p (p, p + 1, 2^64 − 1 planted anywhere, or none)', () => {
    fc.assert(
      fc.property(length, fc.nat(), fc.constantFrom(...PRIMES), fc.boolean(), fc.array(fc.nat(), { maxLength: 3 }), fc.boolean(), (n, seed, p, inArena, at, low) => {
        const fp = fieldParams(p);
        const v = values(n, p, seededRng(seed));
        const bad = [p, p + 1n, M64].filter((x) => x <= M64);
        for (const j of at) if (n > 0) v[j % n] = bad[j % bad.length];
        if (low && n > 0) v[n - 1] = p - 1n;
        let want = -1;
        for (let i = 0; i < n; i++) if (v[i] >= p) { want = i; break; }
        const held: { free(): void }[] = [];
        try {
          const [V] = place([v], inArena, held);
          expect(k.fieldCheck(V, fp)).toBe(want);
        } finally {
          for (const h of held) h.free();
        }
      }),
      { numRuns: 60 },
    );
  });

  it('every pair of edge values, for every prime', () => {
    for (const p of PRIMES) {
      const fp = fieldParams(p);
      const edge = [0n, 1n, 2n, p >> 1n, (p + 1n) >> 1n, p - 2n, p - 1n].filter((x) => x < p);
      // 64 copies of each pair: long enough for the staged WASM path (shorter vectors take the twin).
      const a = BigUint64Array.from(edge.flatMap((x) => edge.map(() => x)).flatMap((x) => Array(64).fill(x)));
      const b = BigUint64Array.from(edge.flatMap(() => edge).flatMap((y) => Array(64).fill(y)));
      const o = new BigUint64Array(a.length);
      k.fieldMul(o, a, b, fp);
      expectEqual(o, a.map((x, i) => (x * b[i]) % p), `mul mod ${p}`);
      k.fieldAdd(o, a, b, fp);
      expectEqual(o, a.map((x, i) => (x + b[i]) % p), `add mod ${p}`);
      k.fieldSub(o, a, b, fp);
      expectEqual(o, a.map((x, i) => (x - b[i] + p) % p), `sub mod ${p}`);
      for (const s of edge) {
        k.fieldMulScalar(o, a, s, fp);
        expectEqual(o, a.map((x) => (x * s) % p), `mulScalar ${s} mod ${p}`);
      }
    }
  });
});

describe.each(both)('products below 2^50 (%s): the estimated quotient is corrected every time', (_name, k) => {
  it('10^5 products near p, near 0 and uniform, for the HE field and the largest prime below 2^50', () => {
    for (const p of [35184371613697n, PRIMES[4]]) {
      const fp = fieldParams(p);
      expect(fp.kind).toBe(FIELD_SMALL);
      const rng = seededRng(Number(p % 1000n));
      const n = 100_000;
      const pick = (j: number) => (j % 3 === 0 ? p - 1n - rng.uniformBigInt(1n << 20n) : j % 3 === 1 ? rng.uniformBigInt(1n << 20n) : rng.uniformBigInt(p));
      const a = BigUint64Array.from({ length: n }, (_, j) => pick(j)), b = BigUint64Array.from({ length: n }, (_, j) => pick(j >> 2));
      const o = new BigUint64Array(n);
      k.fieldMul(o, a, b, fp);
      expectEqual(o, a.map((x, i) => (x * b[i]) % p), `mul mod ${p}`);
      const s = p - 1n - rng.uniformBigInt(1000n);
      k.fieldMulScalar(o, a, s, fp);
      expectEqual(o, a.map((x) => (x * s) % p), `mulScalar mod ${p}`);
    }
  });
});

describe.runIf(wasm)('WASM MPC kernels equal their JS twins', () => {
  const w = wasm as Kernels;
  it('bit for bit on the same inputs, for Z_2^64 and every prime', () => {
    fc.assert(
      fc.property(length, fc.nat(), fc.constantFrom(...PRIMES), fc.boolean(), (n, seed, p, first) => {
        const rng = seededRng(seed);
        const [a, b, c, d, e] = [0, 1, 2, 3, 4].map(() => values(n, 1n << 64n, rng));
        const pair = (f: (k: Kernels, o: BigUint64Array) => void, init: BigUint64Array = new BigUint64Array(n)) => {
          const x = init.slice(), y = init.slice();
          f(w, x);
          f(jsKernels, y);
          expect(Buffer.from(x.buffer).equals(Buffer.from(y.buffer))).toBe(true);
        };
        pair((k, o) => k.mulv64(o, a, b));
        pair((k, o) => k.mulAddv64(o, a, b), c);
        pair((k, o) => k.beaver64(o, c, d, e, a, b, first));
        const fp = fieldParams(p);
        const x = values(n, p, rng), y = values(n, p, rng), s = rng.uniformBigInt(p);
        pair((k, o) => k.fieldAdd(o, x, y, fp));
        pair((k, o) => k.fieldSub(o, x, y, fp));
        pair((k, o) => k.fieldMul(o, x, y, fp));
        pair((k, o) => k.fieldMulScalar(o, x, s, fp));
        if (n > 0) x[(seed >>> 3) % n] = p + BigInt(seed % 2);
        expect(w.fieldCheck(x, fp)).toBe(jsKernels.fieldCheck(x, fp));
      }),
      { numRuns: 40 },
    );
  });
});

describe('the callers keep their results', () => {
  it("_z64's mul64, mulAdd64 and beaverCombine64 equal BigInt", () => {
    const rng = seededRng(5);
    const n = 10_001;
    const [a, b, c, d, e] = [0, 1, 2, 3, 4].map(() => values(n, 1n << 64n, rng));
    expectEqual(mul64(a, b, new BigUint64Array(n)), a.map((x, i) => (x * b[i]) & M64), 'mul64');
    const acc = c.slice();
    mulAdd64(a, b, acc, new BigUint64Array(n));
    expectEqual(acc, c.map((x, i) => (x + a[i] * b[i]) & M64), 'mulAdd64');
    for (const first of [false, true])
      expectEqual(
        beaverCombine64(c, d, e, a, b, first, new BigUint64Array(n)),
        c.map((x, i) => (x + d[i] * b[i] + e[i] * a[i] + (first ? d[i] * e[i] : 0n)) & M64),
        'beaverCombine64',
      );
  });

  it('Fp61 and vectorField(PrimeField) arithmetic equals BigInt (the HE triple field, a Montgomery field, a tiny one)', () => {
    const rng = seededRng(6);
    const n = 3001;
    const P61 = Fp61.p;
    const a = values(n, P61, rng), b = values(n, P61, rng), k = rng.uniformBigInt(P61);
    expectEqual(Fp61.mul(a, b), a.map((x, i) => (x * b[i]) % P61), 'Fp61.mul');
    expectEqual(Fp61.add(a, b), a.map((x, i) => (x + b[i]) % P61), 'Fp61.add');
    expectEqual(Fp61.sub(a, b), a.map((x, i) => (x - b[i] + P61) % P61), 'Fp61.sub');
    expectEqual(Fp61.mulScalar(a, k), a.map((x) => (x * k) % P61), 'Fp61.mulScalar');
    for (const p of [35184371613697n, nextPrime(1n << 55n), 13n]) {
      const f = vectorField(new PrimeField(p));
      const x = values(n, p, rng), y = values(n, p, rng);
      expectEqual(f.mul(x, y), x.map((v, i) => (v * y[i]) % p), `mul mod ${p}`);
      expectEqual(f.add(x, y), x.map((v, i) => (v + y[i]) % p), `add mod ${p}`);
      expectEqual(f.sub(x, y), x.map((v, i) => (v - y[i] + p) % p), `sub mod ${p}`);
      // Shamir passes x-coordinates, which may exceed a tiny p.
      expectEqual(f.mulScalar(x, 20n), x.map((v) => (v * 20n) % p), `mulScalar mod ${p}`);
      const o = x.slice();
      f.mul(o, y, o);
      expectEqual(o, x.map((v, i) => (v * y[i]) % p), `in-place mul mod ${p}`);
    }
  });

  it('Fp61 and vectorField(...).check name the first element out of range', () => {
    const v = new BigUint64Array(20_000).fill(5n);
    v[17_000] = Fp61.p;
    v[19_000] = Fp61.p + 9n;
    expect(() => Fp61.mul(v, v)).toThrow(/"a\[17000\]" expected an element below 2\^61 - 1/);
    expect(() => vectorField(Fp61).check(v, 'share')).toThrow(/"share\[17000\]"/);
    const f = vectorField(new PrimeField(13n));
    expect(() => f.check(BigUint64Array.from([1n, 12n, 13n, 14n]), 'x')).toThrow(/"x\[2\]" expected an element below 13/);
    expect(f.check(BigUint64Array.from([0n, 12n]), 'x')).toEqual(BigUint64Array.from([0n, 12n]));
  });

  it('vectorField refuses vectors of different lengths', () => {
    const f = vectorField(new PrimeField(13n));
    const fieldOf = (run: () => unknown) => {
      try {
        run();
      } catch (e) {
        expect(e).toBeInstanceOf(ConfideError);
        return [(e as ConfideError).code, (e as ConfideError).field];
      }
      return 'no error';
    };
    expect(fieldOf(() => f.mul(new BigUint64Array(3), new BigUint64Array(2)))).toEqual(['E_BAD_INPUT', 'b']);
    expect(fieldOf(() => f.add(new BigUint64Array(3), new BigUint64Array(3), new BigUint64Array(4)))).toEqual(['E_BAD_INPUT', 'out']);
    expect(fieldOf(() => f.mulScalar(new BigUint64Array(3), 2n, new BigUint64Array(2)))).toEqual(['E_BAD_INPUT', 'out']);
  });
});
