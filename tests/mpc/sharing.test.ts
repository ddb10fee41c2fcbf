/**
 * Sharing algebra: share then reconstruct is the identity (additive over
 * Z_2^64, Fp61 and a small PrimeField; Shamir from any t of n), t-1 Shamir
 * shares are uniform (chi-square on GF(7)), missing shares fail cleanly.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Fp61, PrimeField } from '../../src/core/field.ts';
import { seededRng } from '../../src/core/random.ts';
import { Z64 } from '../../src/core/ring.ts';
import { arenaAlloc } from '../../src/core/wasm/loader.ts';
import { lagrangeAtZero, reconstructAdditive, reconstructShamir, shareAdditive, shareShamir } from '../../src/mpc/index.ts';
import { confusionFailures, thrown } from '../_battery.ts';
import { chiSquare, chiSquareCritical } from '../_stats.ts';

const u64 = fc.bigInt({ min: 0n, max: (1n << 64n) - 1n });
const vecZ64 = fc.array(u64, { maxLength: 20 }).map((a) => BigUint64Array.from(a));
const vecFp61 = fc.array(fc.bigInt({ min: 0n, max: Fp61.p - 1n }), { maxLength: 20 }).map((a) => BigUint64Array.from(a));
const F101 = new PrimeField(101n);

describe('additive sharing', () => {
  it('reconstructs in Z_2^64, Fp61 and GF(101)', () => {
    fc.assert(
      fc.property(vecZ64, fc.integer({ min: 2, max: 6 }), fc.nat(), (x, n, seed) => {
        const shares = shareAdditive(x, n, { rng: seededRng(seed) });
        expect(shares).toHaveLength(n);
        expect(reconstructAdditive(shares, { parties: n })).toEqual(x);
      }),
      { numRuns: 100 },
    );
    fc.assert(
      fc.property(vecFp61, fc.integer({ min: 2, max: 6 }), (x, n) => {
        expect(reconstructAdditive(shareAdditive(x, n, { domain: Fp61 }), { domain: Fp61 })).toEqual(x);
      }),
      { numRuns: 60 },
    );
    fc.assert(
      fc.property(fc.array(fc.bigInt({ min: 0n, max: 100n }), { maxLength: 10 }), (a) => {
        const x = BigUint64Array.from(a);
        expect(reconstructAdditive(shareAdditive(x, 3, { domain: F101 }), { domain: F101 })).toEqual(x);
      }),
      { numRuns: 60 },
    );
  });

  it('reconstructs shares that live in WASM memory (the kernels add them)', () => {
    const x = BigUint64Array.from({ length: 1001 }, (_, i) => BigInt(i) * 0x9e3779b97f4a7c15n & ((1n << 64n) - 1n));
    const shares = shareAdditive(x, 3, { rng: seededRng(2) });
    using a = arenaAlloc(BigUint64Array, 1001), b = arenaAlloc(BigUint64Array, 1001), c = arenaAlloc(BigUint64Array, 1001), o = arenaAlloc(BigUint64Array, 1001);
    a.view.set(shares[0]);
    b.view.set(shares[1]);
    c.view.set(shares[2]);
    const out = reconstructAdditive([a.view, b.view, c.view], { out: o.view });
    expect(out.buffer).toBe(o.view.buffer); // the result is in WASM memory, written by the kernel
    expect(out).toEqual(x);
  });

  it('a missing share is E_PROTOCOL, and a share alone is not the secret', () => {
    const x = BigUint64Array.from([5n, 7n]);
    const shares = shareAdditive(x, 3, { rng: seededRng(1) });
    expect(thrown(() => reconstructAdditive(shares.slice(0, 2), { parties: 3 })).code).toBe('E_PROTOCOL');
    expect(Z64.sum(shares.slice(0, 2))).not.toEqual(x);
    expect(thrown(() => shareAdditive(BigUint64Array.from([Fp61.p]), 2, { domain: Fp61 })).code).toBe('E_BAD_INPUT');
  });
});

describe('Shamir t-of-n', () => {
  it('any t shares reconstruct; t-1 are E_PROTOCOL', () => {
    fc.assert(
      fc.property(vecFp61, fc.integer({ min: 1, max: 7 }), fc.integer({ min: 0, max: 6 }), fc.nat(1e9), (x, n, dt, seed) => {
        const t = Math.max(1, n - (dt % n));
        const shares = shareShamir(x, { threshold: t, parties: n, rng: seededRng(seed) });
        // A pseudo-random subset of size t, in a shuffled order.
        const rng = seededRng(seed + 1);
        const order = shares.slice();
        for (let i = order.length - 1; i > 0; i--) {
          const j = rng.uniformInt(i + 1);
          [order[i], order[j]] = [order[j], order[i]];
        }
        expect(reconstructShamir(order.slice(0, t), { threshold: t })).toEqual(x);
        if (t > 1) expect(thrown(() => reconstructShamir(order.slice(0, t - 1), { threshold: t })).code).toBe('E_PROTOCOL');
      }),
      { numRuns: 80 },
    );
  });

  it('works over a small PrimeField and duplicate points do not count twice', () => {
    const F = new PrimeField(13n);
    const x = BigUint64Array.from([0n, 12n, 5n]);
    const shares = shareShamir(x, { threshold: 3, parties: 5, field: F, rng: seededRng(3) });
    expect(reconstructShamir([shares[4], shares[1], shares[2]], { threshold: 3, field: F })).toEqual(x);
    expect(thrown(() => reconstructShamir([shares[0], shares[0], shares[1]], { threshold: 3, field: F })).code).toBe('E_PROTOCOL');
    // Lagrange coefficients at 0 sum to 1 (they interpolate the constant 1).
    const l = lagrangeAtZero([1, 3, 4], F);
    expect(l.reduce((a, b) => (a + b) % 13n, 0n)).toBe(1n);
  });

  it('t-1 shares are uniform whatever the secret (chi-square on GF(7), alpha 1e-6)', () => {
    const F = new PrimeField(7n);
    const rng = seededRng(99);
    const trials = 4900;
    for (const secret of [0n, 6n]) {
      // t = 3 of n = 5: the pair (share 2, share 5) should be uniform on 49 cells.
      const counts = new Array(49).fill(0);
      for (let i = 0; i < trials; i++) {
        const s = shareShamir(BigUint64Array.from([secret]), { threshold: 3, parties: 5, field: F, rng });
        counts[Number(s[1].data[0]) * 7 + Number(s[4].data[0])]++;
      }
      const stat = chiSquare(counts, new Array(49).fill(trials / 49));
      expect(stat).toBeLessThan(chiSquareCritical(48, '1e-6'));
    }
    // The test can fail: t shares are not uniform (they determine the secret).
    const counts = new Array(343).fill(0);
    for (let i = 0; i < 3430; i++) {
      const s = shareShamir(BigUint64Array.from([0n]), { threshold: 3, parties: 3, field: F, rng });
      counts[Number(s[0].data[0]) * 49 + Number(s[1].data[0]) * 7 + Number(s[2].data[0])]++;
    }
    expect(chiSquare(counts, new Array(343).fill(10))).toBeGreaterThan(chiSquareCritical(342, '1e-6'));
  });
});

describe('type confusion', () => {
  it('every sharing function throws ConfideError on hostile arguments', async () => {
    const x = () => BigUint64Array.from([1n, 2n]);
    const failures = [
      ...(await confusionFailures('shareAdditive', shareAdditive, () => [x(), 3], { accept: { 2: ['undefined'] } })),
      ...(await confusionFailures('reconstructAdditive', reconstructAdditive, () => [[x(), x()]], { accept: { 1: ['undefined'] } })),
      ...(await confusionFailures('shareShamir', shareShamir, () => [x(), { threshold: 2, parties: 3 }])),
      ...(await confusionFailures('reconstructShamir', reconstructShamir, () => [shareShamir(x(), { threshold: 1, parties: 2 }), { threshold: 1 }])),
      ...(await confusionFailures('lagrangeAtZero', lagrangeAtZero, () => [[1, 2]], { accept: { 0: ['plain array'], 1: ['undefined'] } })),
    ];
    expect(failures).toEqual([]);
  });
});
