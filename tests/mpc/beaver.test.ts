/**
 * Beaver multiplication on vectors against plaintext products mod 2^64, the
 * word-level product against BigInt, triples used once only, the store's
 * encoding, and fixed-point truncation within one unit in the last place.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { FixedPoint } from '../../src/core/fixedpoint.ts';
import { seededRng } from '../../src/core/random.ts';
import { Fp61, PrimeField } from '../../src/core/field.ts';
import { Z64 } from '../../src/core/ring.ts';
import {
  TripleStore,
  TrustedDealer,
  beaverCombine,
  beaverMask,
  mulZ64,
  reconstructAdditive,
  shareAdditive,
  truncateFinish,
  truncateMask,
  truncationFailureProbability,
} from '../../src/mpc/index.ts';
import { confusionFailures, thrown } from '../_battery.ts';
import { sum64 } from '../../src/mpc/_z64.ts';

const MASK = (1n << 64n) - 1n;
const u64 = fc.bigInt({ min: 0n, max: MASK });

/** Runs the two Beaver steps for n parties in one process (the opened values are sums of shares). */
function multiply(xs: BigUint64Array[], ys: BigUint64Array[], triples: ReturnType<TrustedDealer['triples']>): BigUint64Array {
  const masks = xs.map((x, i) => beaverMask(x, ys[i], triples[i]));
  const d = Z64.sum(masks.map((m) => m.d));
  const e = Z64.sum(masks.map((m) => m.e));
  return Z64.sum(triples.map((t, i) => beaverCombine(d, e, t, i === 0)));
}

describe('Z_2^64 products', () => {
  it('mulZ64 equals BigInt products mod 2^64', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(u64, u64), { maxLength: 40 }), (pairs) => {
        const x = BigUint64Array.from(pairs.map((p) => p[0])), y = BigUint64Array.from(pairs.map((p) => p[1]));
        expect(Array.from(mulZ64(x, y))).toEqual(pairs.map(([a, b]) => (a * b) & MASK));
      }),
      { numRuns: 200 },
    );
  });

  it('sum64 (the one-pass sum of the openings) equals BigInt sums mod 2^64 for 1 to 6 vectors', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 6 }), fc.integer({ min: 0, max: 20 }), fc.nat(), (k, len, seed) => {
        const rng = seededRng(seed);
        const vs = Array.from({ length: k }, () => {
          const v = new BigUint64Array(len);
          rng.fill(new Uint8Array(v.buffer));
          return v;
        });
        const want = Array.from({ length: len }, (_, i) => vs.reduce((s, v) => s + v[i], 0n) & MASK);
        expect(Array.from(sum64(vs, new BigUint64Array(len)))).toEqual(want);
      }),
      { numRuns: 200 },
    );
  });

  it('Beaver multiplication with dealer triples matches plaintext for 2 to 5 parties', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(u64, u64), { minLength: 1, maxLength: 30 }), fc.integer({ min: 2, max: 5 }), fc.nat(), (pairs, n, seed) => {
        const rng = seededRng(seed);
        const x = BigUint64Array.from(pairs.map((p) => p[0])), y = BigUint64Array.from(pairs.map((p) => p[1]));
        const dealer = new TrustedDealer(n, { rng });
        const z = multiply(shareAdditive(x, n, { rng }), shareAdditive(y, n, { rng }), dealer.triples(x.length));
        expect(z).toEqual(mulZ64(x, y));
      }),
      { numRuns: 80 },
    );
  });

  it('a triple is used once: reuse is E_STATE, and a store never hands one out twice', () => {
    const dealer = new TrustedDealer(3, { rng: seededRng(4) });
    const t = dealer.triples(2);
    const x = new BigUint64Array(2);
    beaverMask(x, x, t[0]);
    expect(thrown(() => beaverMask(x, x, t[0])).code).toBe('E_STATE');

    const stores = dealer.preprocess(10);
    expect(stores.map((s) => s.party)).toEqual([0, 1, 2]);
    const first = stores[0].take(4);
    expect(first.offset).toBe(0);
    expect(stores[0].take(6).offset).toBe(4);
    expect(thrown(() => stores[0].take(1)).code).toBe('E_STATE');
    // A store written after use holds only the unused triples.
    const s1 = stores[1];
    s1.take(3);
    const reloaded = TripleStore.decode(s1.encode());
    expect(reloaded.capacity).toBe(7);
    expect(Array.from(reloaded.id)).toEqual(Array.from(s1.id));
    expect(reloaded.take(7).a).toEqual(s1.take(7).a);
  });

  it('field triples: c = a·b mod p, and a store keeps its field through encode/decode', () => {
    const field = new PrimeField(35184371613697n);
    for (const f of [Fp61, field]) {
      const stores = new TrustedDealer(3, { field: f, rng: seededRng(8) }).preprocess(20);
      const back = stores.map((st) => TripleStore.decode(st.encode()));
      expect(back[0].field?.p).toBe(f.p);
      const t = back.map((st) => st.take(20));
      for (let k = 0; k < 20; k++) {
        const sum = (x: 'a' | 'b' | 'c') => t.reduce((acc, sh) => acc + sh[x][k], 0n) % f.p;
        expect((sum('a') * sum('b')) % f.p).toBe(sum('c'));
      }
    }
    // A field element at or above p is refused.
    const id = new Uint8Array(16);
    expect(() => new TripleStore(id, 0, 2, BigUint64Array.of(field.p), BigUint64Array.of(0n), BigUint64Array.of(0n), field)).toThrow(expect.objectContaining({ code: 'E_BAD_INPUT' }));
  });

  it('triples from stores multiply correctly', () => {
    const rng = seededRng(5);
    const dealer = new TrustedDealer(3, { rng });
    const stores = dealer.preprocess(100);
    const x = BigUint64Array.from({ length: 50 }, (_, i) => BigInt(i) * 1234567n);
    const y = BigUint64Array.from({ length: 50 }, (_, i) => MASK - BigInt(i));
    const z = multiply(shareAdditive(x, 3, { rng }), shareAdditive(y, 3, { rng }), stores.map((s) => s.take(50)));
    expect(z).toEqual(mulZ64(x, y));
  });
});

describe('fixed-point truncation', () => {
  it('products of reals truncate to within one unit in the last place', () => {
    const rng = seededRng(6);
    const fp = new FixedPoint({ bits: 64, fracBits: 12, bound: 100 });
    const n = 3, len = 500;
    const xs = Float64Array.from({ length: len }, (_, i) => Math.sin(i) * 99);
    const ys = Float64Array.from({ length: len }, (_, i) => Math.cos(3 * i) * 99);
    const ex = fp.encode(xs, { rng }).data as BigUint64Array, ey = fp.encode(ys, { rng }).data as BigUint64Array;
    const dealer = new TrustedDealer(n, { rng });
    const prod = multiply(shareAdditive(ex, n, { rng }), shareAdditive(ey, n, { rng }), dealer.triples(len));
    // Reshare the product so truncation starts from shares (as it does online).
    const zs = shareAdditive(prod, n, { rng });
    const pairs = dealer.truncationPairs(len, 12);
    // |x·y·2^24| < 100^2·2^24 < 2^38: k = 39 bits, so each element fails (is off by 2^40) with probability < 2^-25.
    const opt = { bits: 39, sigma: 25 };
    const c = Z64.sum(zs.map((z, i) => truncateMask(z, pairs[i], i === 0, opt)));
    const out = fp.decode(reconstructAdditive(zs.map((_, i) => truncateFinish(c, pairs[i], i === 0, opt))));
    let worst = 0;
    for (let i = 0; i < len; i++) {
      // The encoded inputs are within one quantum of the reals; compare with the product of the encoded values.
      const exact = (fp.decode(ex.subarray(i, i + 1))[0] * fp.decode(ey.subarray(i, i + 1))[0]);
      worst = Math.max(worst, Math.abs(out[i] - exact));
    }
    expect(worst).toBeLessThanOrEqual(2 ** -12);
    expect(truncationFailureProbability(39)).toBe(2 ** -25);
    expect(thrown(() => truncateMask(zs[0], pairs[0], true, { bits: 53 })).code).toBe('E_OVERFLOW');
  });
});

describe('type confusion', () => {
  it('Beaver and truncation functions throw ConfideError on hostile arguments', async () => {
    const mk = () => new TrustedDealer(2, { rng: seededRng(1) });
    const v = () => new BigUint64Array(2);
    const failures = [
      ...(await confusionFailures('TrustedDealer', (n, o) => new TrustedDealer(n, o), () => [2, undefined], { accept: { 1: ['undefined', 'object'] } })),
      ...(await confusionFailures('TrustedDealer.triples', (n) => mk().triples(n), () => [2], { accept: { 0: ['-0'] } })),
      ...(await confusionFailures('TripleStore.take', (n) => mk().preprocess(4)[0].take(n), () => [2], { accept: { 0: ['-0'] } })),
      ...(await confusionFailures('TripleStore.decode', (b) => TripleStore.decode(b), () => [mk().preprocess(2)[0].encode()])),
      ...(await confusionFailures('beaverMask', beaverMask, () => [v(), v(), mk().triples(2)[0]])),
      ...(await confusionFailures('beaverCombine', beaverCombine, () => [v(), v(), mk().triples(2)[0], true], { accept: { 3: ['boolean'] } })),
      ...(await confusionFailures('mulZ64', mulZ64, () => [v(), v()])),
      ...(await confusionFailures('truncateMask', truncateMask, () => [v(), mk().truncationPairs(2, 8)[0], true, { bits: 30 }], { accept: { 2: ['boolean'] } })),
      ...(await confusionFailures('truncateFinish', truncateFinish, () => [v(), mk().truncationPairs(2, 8)[0], false, { bits: 30 }], { accept: { 2: ['boolean'] } })),
    ];
    expect(failures).toEqual([]);
  });
});
