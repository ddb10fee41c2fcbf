/**
 * Multiplication beyond Z_2^64: Shamir sharing with degree reduction (GRR),
 * against plaintext and with parties dropping after input (what is tolerated
 * is exactly 2t − 1 parties present at the multiplication), and additive
 * sharing in a prime field with dealer triples.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Fp61, PrimeField } from '../../src/core/field.ts';
import { MpcParty, TrustedDealer, jointMean, jointVariance, type MpcPartyOptions } from '../../src/mpc/index.ts';
import { netSession, runParties, values } from './_helpers.ts';

const signed = (v: bigint) => BigInt.asIntN(64, v);
const enc = (xs: bigint[]) => BigUint64Array.from(xs, (x) => BigInt.asUintN(64, x));
const small = fc.bigInt({ min: -(1n << 28n), max: 1n << 28n });

/** Runs `program` at n parties; those in `leaveAfterInput` close their connection once their input is in. */
async function withDropouts<T>(n: number, options: Partial<MpcPartyOptions>, leaveAfterInput: number[], program: (mpc: MpcParty, i: number, leave: () => Promise<void>) => Promise<T>) {
  const s = await netSession(n);
  try {
    const parties = s.nets.map((p) => p.id);
    return await Promise.allSettled(
      s.nets.map(async (net, i) => {
        const mpc = await MpcParty.start({ net, parties, timeoutMs: 1500, ...options });
        return program(mpc, i, async () => {
          if (leaveAfterInput.includes(i)) {
            await net.close();
            throw new Error('left');
          }
        });
      }),
    );
  } finally {
    await s.close();
  }
}

describe('Shamir multiplication (GRR degree reduction)', () => {
  it('x ⊙ y matches plaintext for 3 and 5 parties (random signed inputs)', async () => {
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(3, 5), fc.array(fc.tuple(small, small), { minLength: 1, maxLength: 12 }), async (n, pairs) => {
        const x = enc(pairs.map((p) => p[0])), y = enc(pairs.map((p) => p[1]));
        const { results } = await runParties(n, async (mpc, i) => {
          const xs = await mpc.input(0, i === 0 ? x : undefined, x.length);
          const ys = await mpc.input(n - 1, i === n - 1 ? y : undefined, y.length);
          // A product of a product: the degree stays t − 1 after each reduction.
          const xy = await mpc.mul(xs, ys);
          const xyy = await mpc.mul(xy, ys);
          return [await mpc.open(xy), await mpc.open(xyy)];
        }, { sharing: 'shamir' });
        for (const [xy, xyy] of values(results)) {
          expect(Array.from(xy, signed)).toEqual(pairs.map(([a, b]) => a * b));
          // |x·y·y| < 2^84 wraps mod p = 2^61 − 1: compare in the field.
          expect(Array.from(xyy, (v) => ((signed(v) % Fp61.p) + Fp61.p) % Fp61.p)).toEqual(pairs.map(([a, b]) => (((a * b * b) % Fp61.p) + Fp61.p) % Fp61.p));
        }
      }),
      { numRuns: 4 },
    );
  });

  it('n = 5, t = 2: two parties leaving after input are tolerated (2t − 1 = 3 remain)', async () => {
    const x = enc([3n, -7n, 1000n]), y = enc([5n, 11n, -2n]);
    const results = await withDropouts(5, { sharing: 'shamir', threshold: 2 }, [1, 3], async (mpc, i, leave) => {
      const xs = await mpc.input(0, i === 0 ? x : undefined, 3);
      const ys = await mpc.input(4, i === 4 ? y : undefined, 3);
      await leave();
      const p = await mpc.open(await mpc.mul(xs, ys));
      return { p: Array.from(p, signed), dropped: mpc.dropped };
    });
    for (const i of [0, 2, 4]) {
      const r = results[i];
      if (r.status === 'rejected') throw r.reason;
      expect(r.value.p).toEqual([15n, -77n, -2000n]);
      expect(r.value.dropped).toEqual([1, 3]);
    }
  });

  it('n = 5, t = 3: one party leaving after input stops the multiplication with E_PROTOCOL (it needs all 5)', async () => {
    const x = enc([3n]);
    const results = await withDropouts(5, { sharing: 'shamir' }, [2], async (mpc, i, leave) => {
      const xs = await mpc.input(0, i === 0 ? x : undefined, 1);
      await leave();
      return mpc.mul(xs, xs);
    });
    for (const i of [0, 1, 3, 4]) {
      const r = results[i];
      expect(r.status).toBe('rejected');
      if (r.status === 'rejected') {
        expect(r.reason.code).toBe('E_PROTOCOL');
        expect(r.reason.details).toMatchObject({ need: 5 });
      }
    }
  });
});

describe('additive sharing in a prime field', () => {
  it('Beaver products with field triples match plaintext (Fp61 and a 45-bit prime), and statistics run unchanged', async () => {
    for (const field of [Fp61, new PrimeField(35184371613697n)]) {
      const x = enc([3n, -7n, 1n << 20n]), y = enc([-5n, 11n, 1n << 20n]);
      const s = await netSession(3);
      try {
        const parties = s.nets.map((p) => p.id);
        const stores = new TrustedDealer(3, { field }).preprocess(10);
        const out = await Promise.all(
          s.nets.map(async (net, i) => {
            const mpc = await MpcParty.start({ net, parties, sharing: 'field', field, triples: stores[i] });
            const xs = await mpc.input(1, i === 1 ? x : undefined, 3);
            const ys = await mpc.input(2, i === 2 ? y : undefined, 3);
            const p = await mpc.open(await mpc.mul(xs, ys));
            const m = await jointMean(mpc, Float64Array.of(i, 2 * i));
            return { p: Array.from(p, signed), mean: m.mean };
          }),
        );
        for (const r of out) {
          expect(r.p).toEqual([-15n, -77n, 1n << 40n]);
          expect(r.mean).toBeCloseTo(1.5, 6);
        }
      } finally {
        await s.close();
      }
    }
  });

  it("the statistics' overflow check uses the session's field: sums of squares beyond 2^43 are refused in the 45-bit field", async () => {
    const field = new PrimeField(35184371613697n);
    const s = await netSession(2);
    try {
      const parties = s.nets.map((p) => p.id);
      const r = await Promise.allSettled(s.nets.map(async (net) => {
        const mpc = await MpcParty.start({ net, parties, sharing: 'field', field });
        // 2 × 10^5 × (1000 · 2^10)^2 ≈ 2^57.6 under the defaults.
        return jointVariance(mpc, Float64Array.of(1));
      }));
      for (const x of r) expect(x.status === 'rejected' && x.reason.code === 'E_OVERFLOW').toBe(true);
    } finally {
      await s.close();
    }
  });

  it('a store over another domain is refused at start', async () => {
    const s = await netSession(2);
    try {
      const parties = s.nets.map((p) => p.id);
      const z64 = new TrustedDealer(2).preprocess(1);
      await expect(MpcParty.start({ net: s.nets[0], parties, sharing: 'field', triples: z64[0] })).rejects.toMatchObject({ code: 'E_BAD_INPUT', field: 'triples' });
      await expect(MpcParty.start({ net: s.nets[0], parties, sharing: 'additive', field: Fp61 })).rejects.toMatchObject({ code: 'E_BAD_INPUT', field: 'field' });
    } finally {
      await s.close();
    }
  });
});
