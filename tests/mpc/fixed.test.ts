/**
 * Probabilistic truncation as local steps (no network): dealer pairs in a
 * prime field (Catrina–Saxena) and pairs summed from the parties' own draws,
 * against the exact ⌊x / 2^f⌋ with the error bounds derived in fixed.ts
 * (including inputs that reach the worst case); pairs used once; parameter
 * refusals; truncation pairs in the TripleStore and its encoding.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decodeMessage } from '../../src/core/codec.ts';
import { Fp61, PrimeField } from '../../src/core/field.ts';
import { seededRng } from '../../src/core/random.ts';
import { Z64 } from '../../src/core/ring.ts';
import {
  TripleStore,
  TruncationPair,
  TrustedDealer,
  reconstructAdditive,
  shareAdditive,
  truncateFinish,
  truncateMask,
  truncationBounds,
  type TruncationOptions,
} from '../../src/mpc/index.ts';
import { confusionFailures, thrown } from '../_battery.ts';

type Field = typeof Fp61 | PrimeField;
const HE_FIELD = new PrimeField(35184371613697n); // a 45-bit prime (the HE triples' field)
const mod = (v: bigint, p: bigint) => ((v % p) + p) % p;
const centred = (v: bigint, p: bigint) => (v > p / 2n ? v - p : v);
/** ⌊v / 2^f⌋ for signed v (BigInt's >> floors). */
const floorDiv = (v: bigint, f: number) => v >> BigInt(f);

/**
 * Truncates x (signed integers) in `field` by the two local steps at n
 * parties with the given pairs, and returns the signed results.
 */
function truncateLocally(x: bigint[], pairs: TruncationPair[], field: Field, options: TruncationOptions, rng = seededRng(1)): bigint[] {
  const n = pairs.length;
  const shares = shareAdditive(BigUint64Array.from(x, (v) => mod(v, field.p)), n, { domain: field, rng });
  const masked = shares.map((s, i) => truncateMask(s, pairs[i], i === 0, options));
  const c = reconstructAdditive(masked, { domain: field });
  const out = reconstructAdditive(pairs.map((pr, i) => truncateFinish(c, pr, i === 0, options)), { domain: field });
  return Array.from(out, (v) => centred(v, field.p));
}

/** Pairs as the parties make them: n draws of `width` bits summed, with Σ ⌊draw / 2^f⌋. */
function summedPairs(draws: bigint[][], f: number, width: number, field: Field, parties: number, rng = seededRng(2)): TruncationPair[] {
  const len = draws[0].length;
  const r = new BigUint64Array(len), h = new BigUint64Array(len);
  for (let i = 0; i < len; i++) {
    r[i] = mod(draws.reduce((s, d) => s + d[i], 0n), field.p);
    h[i] = mod(draws.reduce((s, d) => s + (d[i] >> BigInt(f)), 0n), field.p);
  }
  const rs = shareAdditive(r, parties, { domain: field, rng }), hs = shareAdditive(h, parties, { domain: field, rng });
  return rs.map((ri, i) => new TruncationPair(ri, hs[i], f, { width, terms: draws.length, field }));
}

describe('truncation in a prime field with dealer pairs (Catrina–Saxena)', () => {
  it('gives ⌊x/2^f⌋ or ⌊x/2^f⌋ + 1 for every admissible x (Fp61 and a 45-bit field, 2 to 5 parties)', () => {
    fc.assert(
      fc.property(
        fc.constantFrom<Field>(Fp61, HE_FIELD),
        fc.integer({ min: 2, max: 5 }),
        fc.integer({ min: 1, max: 12 }),
        fc.nat(),
        (field, n, f, seed) => {
          const rng = seededRng(seed);
          const width = field.p.toString(2).length - 2;
          const k = width - 20; // sigma 20
          const half = 1n << BigInt(k - 1);
          // Random x, plus the extremes of the promise.
          const x = [-half, half - 1n, 0n, -1n, ...Array.from({ length: 20 }, () => rng.uniformBigInt(2n * half) - half)];
          const pairs = new TrustedDealer(n, { field, rng }).truncationPairs(x.length, f);
          expect(pairs[0].width).toBe(width);
          const out = truncateLocally(x, pairs, field, { bits: k, sigma: 20 }, rng);
          out.forEach((v, i) => {
            const d = v - floorDiv(x[i], f);
            expect(d === 0n || d === 1n).toBe(true);
          });
        },
      ),
      { numRuns: 60 },
    );
  });

  it('reports its bounds: error in (−1, 1) units, no failure, leak 2^(k−w)', () => {
    const [pair] = new TrustedDealer(3, { field: Fp61, rng: seededRng(3) }).truncationPairs(1, 8);
    expect(truncationBounds(pair, { bits: 19 })).toEqual({ below: 1, above: 1, failure: 0, leak: 2 ** (19 - 59) });
    const [z] = new TrustedDealer(3, { rng: seededRng(3) }).truncationPairs(1, 8);
    expect(truncationBounds(z, { bits: 39 })).toEqual({ below: 1, above: 1, failure: 2 ** -25, leak: 0 });
  });
});

describe("truncation with the parties' own pairs (sums of draws)", () => {
  it('stays within (−1, n′) units of x/2^f: ⌊x/2^f⌋ + e with 0 ≤ e ≤ n′ (property, Fp61, the 45-bit field and Z_2^64-sized draws)', () => {
    fc.assert(
      fc.property(fc.constantFrom<Field>(Fp61, HE_FIELD), fc.integer({ min: 1, max: 5 }), fc.integer({ min: 2, max: 5 }), fc.integer({ min: 1, max: 10 }), fc.nat(), (field, terms, n, f, seed) => {
        const rng = seededRng(seed);
        const sigma = 20;
        // The widest k that fits: (2^k − 1) + terms·(2^(k+σ) − 1) < p.
        let k = f + 1;
        while ((1n << BigInt(k + 1)) - 1n + BigInt(terms) * ((1n << BigInt(k + 1 + sigma)) - 1n) < field.p) k++;
        const width = k + sigma;
        const half = 1n << BigInt(k - 1);
        const x = [-half, half - 1n, ...Array.from({ length: 16 }, () => rng.uniformBigInt(2n * half) - half)];
        const draws = Array.from({ length: terms }, () => x.map(() => rng.uniformBigInt(1n << BigInt(width))));
        const out = truncateLocally(x, summedPairs(draws, f, width, field, n, rng), field, { bits: k, sigma }, rng);
        out.forEach((v, i) => {
          const e = v - floorDiv(x[i], f);
          expect(e >= 0n && e <= BigInt(terms)).toBe(true);
        });
      }),
      { numRuns: 60 },
    );
  });

  it('the bound is tight: the error reaches n′(1 − 2^−f) above and −(1 − 2^−f) below', () => {
    const f = 6, k = 20, sigma = 20, width = k + sigma;
    const low = (1n << BigInt(f)) - 1n;
    const base = 320n - (1n << BigInt(k - 1)); // a multiple of 2^f below zero
    for (const terms of [1, 3, 5]) {
      // Top: x' ≡ n′ and every draw ≡ 2^f − 1 (mod 2^f): the carries add up to e = n′.
      const top = [base + BigInt(terms)];
      const draws = Array.from({ length: terms }, (_, j) => [(BigInt(j + 7) << BigInt(f)) + low]);
      const [v] = truncateLocally(top, summedPairs(draws, f, width, Fp61, 3), Fp61, { bits: k, sigma });
      expect(v - floorDiv(top[0], f)).toBe(BigInt(terms));
      expect(Number(v) - Number(top[0]) / 2 ** f).toBe(terms * (1 - 2 ** -f));
      // Bottom: x' ≡ 2^f − 1 and every draw ≡ 0: no carry, the floor of x.
      const bottom = [base + low];
      const flat = Array.from({ length: terms }, (_, j) => [BigInt(j + 7) << BigInt(f)]);
      const [u] = truncateLocally(bottom, summedPairs(flat, f, width, Fp61, 3), Fp61, { bits: k, sigma });
      expect(Number(u) - Number(bottom[0]) / 2 ** f).toBe(-(1 - 2 ** -f));
    }
  });

  it('with uniform draws the error averages (n′ − 1)/2 units (seeded; tolerance 6 standard errors)', () => {
    const rng = seededRng(12);
    const f = 10, k = 24, sigma = 20, width = k + sigma, len = 4000;
    for (const terms of [1, 3]) {
      const x = Array.from({ length: len }, () => rng.uniformBigInt(1n << BigInt(k)) - (1n << BigInt(k - 1)));
      const draws = Array.from({ length: terms }, () => x.map(() => rng.uniformBigInt(1n << BigInt(width))));
      const out = truncateLocally(x, summedPairs(draws, f, width, Fp61, 2, rng), Fp61, { bits: k, sigma }, rng);
      const errs = out.map((v, i) => Number(v) - Number(x[i]) / 2 ** f);
      const mean = errs.reduce((s, e) => s + e, 0) / len;
      // err = Σ l_j/2^f − frac((b + Σ l_j)/2^f): mean n′(1 − 2^−f)/2 − (1 − 2^−f)/2, variance below n′/12 + 1/12.
      const want = ((terms - 1) * (1 - 2 ** -f)) / 2;
      const se = Math.sqrt((terms + 1) / 12 / len);
      expect(Math.abs(mean - want)).toBeLessThan(6 * se);
      expect(Math.min(...errs)).toBeGreaterThan(-1);
      expect(Math.max(...errs)).toBeLessThan(terms);
    }
  });

  it('bounds reported for own pairs: above = terms, leak = 2^−σ', () => {
    const pr = summedPairs([[5n], [9n], [11n]], 4, 40, Fp61, 3)[0];
    expect(truncationBounds(pr, { bits: 20, sigma: 20 })).toEqual({ below: 1, above: 3, failure: 0, leak: 2 ** -20 });
    // The default sigma (40) asks more than 40-bit draws give 20-bit values.
    expect(thrown(() => truncationBounds(pr, { bits: 20 })).code).toBe('E_OVERFLOW');
  });

  it('works in Z_2^64 with narrow draws (no wrap): the same bound', () => {
    const rng = seededRng(11);
    const f = 12, k = 30, sigma = 30, n = 3;
    const x = Array.from({ length: 50 }, () => rng.uniformBigInt(1n << BigInt(k)) - (1n << BigInt(k - 1)));
    const r = new BigUint64Array(50), h = new BigUint64Array(50);
    for (let i = 0; i < 50; i++)
      for (let j = 0; j < n; j++) {
        const d = rng.uniformBigInt(1n << BigInt(k + sigma));
        r[i] += d;
        h[i] += d >> BigInt(f);
      }
    const rs = shareAdditive(r, n, { rng }), hs = shareAdditive(h, n, { rng });
    const pairs = rs.map((ri, i) => new TruncationPair(ri, hs[i], f, { width: k + sigma, terms: n }));
    const xs = shareAdditive(BigUint64Array.from(x, (v) => BigInt.asUintN(64, v)), n, { rng });
    const c = Z64.sum(xs.map((s, i) => truncateMask(s, pairs[i], i === 0, { bits: k, sigma })));
    const out = Z64.sum(pairs.map((pr, i) => truncateFinish(c, pr, i === 0, { bits: k, sigma })));
    out.forEach((v, i) => {
      const e = BigInt.asIntN(64, v) - floorDiv(x[i], f);
      expect(e >= 0n && e <= BigInt(n)).toBe(true);
    });
  });
});

describe('refusals', () => {
  it('a pair masks once: a second truncateMask is E_STATE', () => {
    const pairs = new TrustedDealer(2, { field: Fp61, rng: seededRng(4) }).truncationPairs(2, 8);
    const x = new BigUint64Array(2);
    truncateMask(x, pairs[0], true, { bits: 19 });
    expect(pairs[0].used).toBe(true);
    expect(thrown(() => truncateMask(x, pairs[0], true, { bits: 19 })).code).toBe('E_STATE');
    // The Z_2^64 pairs too.
    const z = new TrustedDealer(2, { rng: seededRng(4) }).truncationPairs(2, 8);
    truncateMask(x, z[1], false, { bits: 30 });
    expect(thrown(() => truncateMask(x, z[1], false, { bits: 30 })).code).toBe('E_STATE');
    // A store takes over the pairs it is built from (they can no longer mask on their own), and refuses used ones.
    const id = new Uint8Array(16), none = new BigUint64Array(0);
    new TripleStore(id, 0, 2, none, none, none, undefined, [z[0]]);
    expect(z[0].used).toBe(true);
    expect(thrown(() => truncateMask(x, z[0], true, { bits: 30 })).code).toBe('E_STATE');
    expect(thrown(() => new TripleStore(id, 1, 2, none, none, none, undefined, [z[1]])).code).toBe('E_STATE');
  });

  it('parameters that cannot work are refused with E_OVERFLOW naming "bits", and the pair stays unused', () => {
    const [fp] = new TrustedDealer(2, { field: Fp61, rng: seededRng(5) }).truncationPairs(1, 8);
    const x = new BigUint64Array(1);
    // Fp61 dealer pairs are 59 bits wide: k ≤ 59 − σ.
    const e1 = thrown(() => truncateMask(x, fp, true, { bits: 20 }));
    expect(e1.code).toBe('E_OVERFLOW');
    expect(e1.field).toBe('bits');
    expect(e1.details).toMatchObject({ maxBits: 19, width: 59 });
    expect(fp.used).toBe(false);
    expect(() => truncateMask(x, fp, true, { bits: 39, sigma: 20 })).not.toThrow();
    // Own pairs whose sum could pass p: 3 draws of 60 bits (59 bits fit).
    expect(() => truncationBounds(summedPairs([[1n], [2n], [3n]], 4, 59, Fp61, 3)[0], { bits: 19 })).not.toThrow();
    const own = summedPairs([[1n], [2n], [3n]], 4, 60, Fp61, 3)[0];
    const e2 = thrown(() => truncateMask(x, own, true, { bits: 19 }));
    expect(e2.code).toBe('E_OVERFLOW');
    expect(e2.message).toContain(`F_${Fp61.p}`);
    // Z_2^64 dealer pairs: failure 2^(k−64) must stay below 2^−σ.
    const [z] = new TrustedDealer(2, { rng: seededRng(5) }).truncationPairs(1, 8);
    expect(thrown(() => truncateMask(x, z, true, { bits: 45 })).code).toBe('E_OVERFLOW');
    expect(thrown(() => truncateMask(x, z, true, { bits: 8 })).code).toBe('E_BAD_INPUT'); // bits must exceed fracBits
    expect(thrown(() => truncateMask(x, z, true, { bits: 30, sigma: 0 })).code).toBe('E_BAD_INPUT');
    // A dealer in a field too small for any width.
    expect(thrown(() => new TrustedDealer(2, { field: new PrimeField(101n) }).truncationPairs(1, 6)).code).toBe('E_BAD_INPUT');
  });

  it('an opened mask beyond its bound proves the promise broken: E_OVERFLOW at finish', () => {
    const k = 19, f = 8;
    // x' = x + 2^(k−1) ≥ 2^k + 2^59 opens above (2^k − 1) + (2^59 − 1) whatever r is.
    const x = [(1n << 59n) + (1n << BigInt(k))];
    const pairs = new TrustedDealer(3, { field: Fp61, rng: seededRng(6) }).truncationPairs(1, f);
    const e = thrown(() => truncateLocally(x, pairs, Fp61, { bits: k }));
    expect(e.code).toBe('E_OVERFLOW');
    expect(e.field).toBe('bits');
  });
});

describe('truncation pairs in the TripleStore', () => {
  it('preprocess deals pairs per fracBits; takePairs hands each out once; E_STATE when too few or none', () => {
    const stores = new TrustedDealer(3, { rng: seededRng(7) }).preprocess(10, { truncation: [{ fracBits: 8, count: 6 }, { fracBits: 16, count: 4 }] });
    const s = stores[0];
    expect(s.truncationFracBits).toEqual([8, 16]);
    expect(s.truncation(8)).toEqual({ remaining: 6, width: 64, terms: 1, position: 0 });
    expect(s.truncation(12)).toBeUndefined();
    const a = s.takePairs(4, 8), b = s.takePairs(2, 8);
    expect([a.offset, b.offset]).toEqual([0, 4]);
    expect(thrown(() => s.takePairs(1, 8)).code).toBe('E_STATE');
    expect(thrown(() => s.takePairs(1, 12)).code).toBe('E_STATE');
    // The shares add up to (r, r >> 16) in Z_2^64.
    const t = stores.map((st) => st.takePairs(4, 16));
    const r = Z64.sum(t.map((p) => p.r)), h = Z64.sum(t.map((p) => p.rHigh));
    r.forEach((v, i) => expect(h[i]).toBe(v >> 16n));
    // A single spec (not a list) is accepted too.
    expect(new TrustedDealer(2).preprocess(1, { truncation: { fracBits: 4, count: 2 } })[1].truncation(4)?.remaining).toBe(2);
  });

  it('encode/decode keeps the unused pairs (v2) and stores without pairs stay v1', () => {
    for (const field of [undefined, Fp61, HE_FIELD]) {
      const stores = new TrustedDealer(2, { field, rng: seededRng(8) }).preprocess(5, { truncation: [{ fracBits: 10, count: 7 }] });
      stores[0].take(2);
      const first = stores[0].takePairs(3, 10);
      const bytes = stores[0].encode();
      expect(decodeMessage(bytes, { maxBytes: 1 << 20 }).header.kind).toBe('confide/mpc/triples/v2');
      const back = TripleStore.decode(bytes);
      expect(back.remaining).toBe(3);
      expect(back.field?.p).toBe(field?.p);
      expect(back.truncation(10)).toMatchObject({ remaining: 4, terms: 1, width: field === undefined ? 64 : field.p.toString(2).length - 2 });
      const rest = back.takePairs(4, 10);
      const orig = stores[0].takePairs(4, 10);
      expect(rest.r).toEqual(orig.r);
      expect(rest.rHigh).toEqual(orig.rHigh);
      expect(first.r.length).toBe(3);
    }
    const plain = new TrustedDealer(2, { rng: seededRng(9) }).preprocess(3)[1];
    const bytes = plain.encode();
    expect(decodeMessage(bytes, { maxBytes: 1 << 20 }).header.kind).toBe('confide/mpc/triples/v1');
    expect(TripleStore.decode(bytes).truncationFracBits).toEqual([]);
  });

  it('decoded field pairs truncate correctly', () => {
    const rng = seededRng(10);
    const stores = new TrustedDealer(3, { field: HE_FIELD, rng }).preprocess(0, { truncation: { fracBits: 5, count: 30 } }).map((s) => TripleStore.decode(s.encode()));
    const x = Array.from({ length: 30 }, () => rng.uniformBigInt(1n << 22n) - (1n << 21n));
    const out = truncateLocally(x, stores.map((s) => s.takePairs(30, 5)), HE_FIELD, { bits: 22, sigma: 21 }, rng);
    out.forEach((v, i) => expect([0n, 1n]).toContain(v - floorDiv(x[i], 5)));
  });
});

describe('type confusion', () => {
  it('the truncation functions throw ConfideError on hostile arguments', async () => {
    const fd = () => new TrustedDealer(2, { field: Fp61, rng: seededRng(1) });
    const v = () => new BigUint64Array(2);
    const store = () => new TrustedDealer(2, { rng: seededRng(1) }).preprocess(2, { truncation: { fracBits: 8, count: 4 } })[0];
    const failures = [
      ...(await confusionFailures('TruncationPair', (r, h, f, o) => new TruncationPair(r, h, f, o), () => [v(), v(), 8, { width: 40, terms: 2, field: Fp61 }], { accept: { 3: ['undefined', 'object'] } })),
      ...(await confusionFailures('TrustedDealer.truncationPairs (field)', (n, f) => fd().truncationPairs(n, f), () => [2, 8], { accept: { 0: ['-0'] } })),
      ...(await confusionFailures('TrustedDealer.preprocess', (c, o) => new TrustedDealer(2).preprocess(c, o), () => [2, { truncation: [{ fracBits: 8, count: 2 }] }], { accept: { 0: ['-0'], 1: ['undefined', 'object'] } })),
      ...(await confusionFailures('TripleStore.takePairs', (n, f) => store().takePairs(n, f), () => [2, 8], { accept: { 0: ['-0'] } })),
      ...(await confusionFailures('TripleStore.truncation', (f) => store().truncation(f), () => [8])),
      ...(await confusionFailures('truncationBounds', truncationBounds, () => [fd().truncationPairs(2, 8)[0], { bits: 19 }])),
      ...(await confusionFailures('truncateMask (field)', truncateMask, () => [v(), fd().truncationPairs(2, 8)[0], true, { bits: 19 }], { accept: { 2: ['boolean'] } })),
      ...(await confusionFailures('truncateFinish (field)', truncateFinish, () => [v(), fd().truncationPairs(2, 8)[0], false, { bits: 19 }], { accept: { 2: ['boolean'] } })),
    ];
    expect(failures).toEqual([]);
  });
});
