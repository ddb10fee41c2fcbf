/**
 * `MpcParty.truncate` in real in-memory sessions of 3 and 5 parties, in every
 * sharing and with every source of pairs (dealer store in Z_2^64 and in
 * Fp61, the parties' own pairs in Z_2^64, Fp61 and Shamir, made ahead with
 * `truncationPairs` or inside the call): products of random fixed-point reals
 * truncated within the bounds of fixed.ts, a chained computation against
 * plaintext, Shamir with a party dropped, rounds per call, refusals.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ConfideError } from '../../src/core/errors.ts';
import { Fp61 } from '../../src/core/field.ts';
import { seededRng } from '../../src/core/random.ts';
import { HE_TRIPLE_FIELD, MpcParty, Shared, TrustedDealer, type MpcPartyOptions, type TripleStore } from '../../src/mpc/index.ts';
import { CONFUSION_VALUES } from '../_battery.ts';
import { netSession } from './_helpers.ts';

type Kind = 'additive-dealer' | 'additive-own' | 'field-dealer' | 'field-own' | 'shamir-own';
const KINDS: Kind[] = ['additive-dealer', 'additive-own', 'field-dealer', 'field-own', 'shamir-own'];
const F = 8; // fracBits

const enc = (xs: bigint[]) => BigUint64Array.from(xs, (x) => BigInt.asUintN(64, x));
const signed = (v: bigint) => BigInt.asIntN(64, v);
/** An encoded real in (−32, 32) at scale 2^8: |v| < 2^13. */
const real = fc.bigInt({ min: -(1n << 13n) + 1n, max: (1n << 13n) - 1n });

/** Session options and stores for a kind: dealer kinds get `pairs` pairs for fracBits F in their store. */
function setup(kind: Kind, n: number, triples: number, pairs: number, seed: number): { options: Partial<MpcPartyOptions>; stores?: TripleStore[]; terms: number } {
  const rng = seededRng(seed);
  const truncation = kind.endsWith('dealer') ? { fracBits: F, count: pairs } : undefined;
  if (kind.startsWith('additive')) return { options: {}, stores: new TrustedDealer(n, { rng }).preprocess(triples, { truncation }), terms: kind === 'additive-dealer' ? 1 : n };
  if (kind.startsWith('field')) return { options: { sharing: 'field', field: Fp61 }, stores: new TrustedDealer(n, { field: Fp61, rng }).preprocess(triples, { truncation }), terms: kind === 'field-dealer' ? 1 : n };
  return { options: { sharing: 'shamir' }, terms: n };
}

/** Runs `program` at n parties; parties in `leave` close their connection when the program calls `leave()`. */
async function session<T>(
  n: number,
  options: Partial<MpcPartyOptions>,
  stores: TripleStore[] | undefined,
  program: (mpc: MpcParty, i: number, leave: () => Promise<void>) => Promise<T>,
  leavers: number[] = [],
  timeoutMs = 20_000,
): Promise<PromiseSettledResult<T>[]> {
  const s = await netSession(n);
  try {
    const parties = s.nets.map((p) => p.id);
    return await Promise.allSettled(
      s.nets.map(async (net, i) => {
        const mpc = await MpcParty.start({ net, parties, timeoutMs, triples: stores?.[i], ...options });
        return program(mpc, i, async () => {
          if (leavers.includes(i)) {
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

function ok<T>(r: PromiseSettledResult<T>): T {
  if (r.status === 'rejected') throw r.reason;
  return r.value;
}

/** e = result − ⌊P / 2^f⌋ must lie in [0, terms] (fixed.ts: error in [−(1 − 2^−f), terms·(1 − 2^−f)] units). */
function expectWithin(result: bigint, exact: bigint, terms: number): void {
  const e = result - (exact >> BigInt(F));
  expect(e >= 0n && e <= BigInt(terms), `result ${result} for ${exact}/2^${F}: carry ${e} outside [0, ${terms}]`).toBe(true);
}

describe('MpcParty.truncate: x·y / 2^f within the derived bound', () => {
  for (const kind of KINDS)
    it(`${kind}: products of random reals, 3 and 5 parties, one opening with pairs at hand`, async () => {
      await fc.assert(
        fc.asyncProperty(fc.constantFrom(3, 5), fc.array(fc.tuple(real, real), { minLength: 1, maxLength: 10 }), fc.nat(), async (n, xy, seed) => {
          const len = xy.length;
          const { options, stores, terms } = setup(kind, n, len, len, seed);
          const x = enc(xy.map((p) => p[0])), y = enc(xy.map((p) => p[1]));
          // |x·y| < 2^26: bits 27; sigma 30 fits every kind (Fp61: k + σ ≤ 58 for 5 parties).
          const opts = { fracBits: F, bits: 27, sigma: 30 };
          const results = await session(n, options, stores, async (mpc, i) => {
            const xs = await mpc.input(0, i === 0 ? x : undefined, len);
            const ys = await mpc.input(n - 1, i === n - 1 ? y : undefined, len);
            const p = await mpc.mul(xs, ys);
            if (kind.endsWith('own')) await mpc.truncationPairs(len, opts);
            const before = mpc.nextRound;
            const t = await mpc.truncate(p, opts);
            const rounds = mpc.nextRound - before;
            return { t: Array.from(await mpc.open(t), signed), rounds };
          });
          for (const r of results) {
            const { t, rounds } = ok(r);
            expect(rounds).toBe(1);
            t.forEach((v, k) => expectWithin(v, xy[k][0] * xy[k][1], terms));
          }
        }),
        { numRuns: 4, seed: 20261130 },
      );
    });

  it('without pairs at hand, truncate makes them: one more round (two under Shamir), same bound', async () => {
    for (const kind of ['additive-own', 'field-own', 'shamir-own'] as Kind[]) {
      const n = 3;
      const { options, stores, terms } = setup(kind, n, 4, 0, 1);
      const xy: [bigint, bigint][] = [[8191n, -8191n], [-1n, 1n], [3000n, 2999n], [0n, 5n]];
      const results = await session(n, options, stores, async (mpc, i) => {
        const xs = await mpc.input(1, i === 1 ? enc(xy.map((p) => p[0])) : undefined, 4);
        const ys = await mpc.input(2, i === 2 ? enc(xy.map((p) => p[1])) : undefined, 4);
        const p = await mpc.mul(xs, ys);
        const before = mpc.nextRound;
        const t = await mpc.truncate(p, { fracBits: F, bits: 27, sigma: 30 });
        return { rounds: mpc.nextRound - before, t: Array.from(await mpc.open(t), signed) };
      });
      for (const r of results) {
        const { rounds, t } = ok(r);
        expect(rounds).toBe(kind === 'shamir-own' ? 3 : 2);
        t.forEach((v, k) => expectWithin(v, xy[k][0] * xy[k][1], terms));
      }
    }
  });
});

describe('the 45-bit field of the dealer-free HE triples', () => {
  it('own pairs fit k + σ ≤ 43 for 3 parties: truncation within the bound, and k + σ = 44 is refused naming the field', async () => {
    const field = HE_TRIPLE_FIELD;
    const stores = new TrustedDealer(3, { field, rng: seededRng(21) }).preprocess(3);
    const xy: [bigint, bigint][] = [[511n, -511n], [100n, 37n], [-5n, -300n]];
    // f = 6: |x·y| < 2^18, bits 19, sigma 24: w = 43.
    const results = await session(3, { sharing: 'field', field }, stores, async (mpc, i) => {
      const xs = await mpc.input(0, i === 0 ? enc(xy.map((p) => p[0])) : undefined, 3);
      const ys = await mpc.input(1, i === 1 ? enc(xy.map((p) => p[1])) : undefined, 3);
      const p = await mpc.mul(xs, ys);
      const refused = await mpc.truncate(p, { fracBits: 6, bits: 19, sigma: 25 }).then(() => undefined, (e: ConfideError) => e);
      const t = await mpc.truncate(p, { fracBits: 6, bits: 19, sigma: 24 });
      return { refused, t: Array.from(await mpc.open(t), signed) };
    });
    for (const r of results) {
      const { refused, t } = ok(r);
      expect(refused?.code).toBe('E_OVERFLOW');
      expect(refused?.message).toContain(`F_${field.p}`);
      t.forEach((v, k) => {
        const e = v - ((xy[k][0] * xy[k][1]) >> 6n);
        expect(e >= 0n && e <= 3n).toBe(true);
      });
    }
  });
});

describe('a chained fixed-point computation matches plaintext', () => {
  for (const kind of KINDS)
    it(`${kind}: (x·y truncated)·z truncated, 3 parties, against the real product within the bound`, async () => {
      const n = 3, len = 40;
      const rng = seededRng(77);
      const draw = () => Array.from({ length: len }, () => rng.uniformBigInt(1n << 14n) - (1n << 13n) + 1n);
      const [x, y, z] = [draw(), draw(), draw()];
      const { options, stores, terms } = setup(kind, n, 2 * len, 2 * len, 78);
      // Step 1: |x·y| < 2^26 (bits 27). Step 2: |t1·z| < (2^18 + n)·2^13 < 2^32 (bits 33); sigma 25 fits both.
      const results = await session(n, options, stores, async (mpc, i) => {
        const [xs, ys, zs] = [await mpc.input(0, i === 0 ? enc(x) : undefined, len), await mpc.input(1, i === 1 ? enc(y) : undefined, len), await mpc.input(2, i === 2 ? enc(z) : undefined, len)];
        const t1 = await mpc.truncate(await mpc.mul(xs, ys), { fracBits: F, bits: 27, sigma: 25 });
        const t2 = await mpc.truncate(await mpc.mul(t1, zs), { fracBits: F, bits: 33, sigma: 25 });
        return Float64Array.from(await mpc.open(t2), (v) => Number(signed(v)) / 2 ** F);
      });
      const u = 1 - 2 ** -F; // the error of one truncation lies in [−u, terms·u] units of 2^-f
      for (const r of results) {
        const out = ok(r);
        for (let k = 0; k < len; k++) {
          const [X, Y, Z] = [Number(x[k]) / 2 ** F, Number(y[k]) / 2 ** F, Number(z[k]) / 2 ** F];
          // t2 = (t1·z)/2^f + ε2 and t1 = x·y/2^f + ε1, so in reals: out − X·Y·Z = (ε1·Z + ε2)·2^-f.
          const err = (out[k] - X * Y * Z) * 2 ** F;
          const e1lo = Math.min(-u * Z, terms * u * Z), e1hi = Math.max(-u * Z, terms * u * Z);
          expect(err).toBeGreaterThanOrEqual(e1lo - u - 1e-9);
          expect(err).toBeLessThanOrEqual(e1hi + terms * u + 1e-9);
        }
      }
    });
});

describe('Shamir truncation with a party dropped', () => {
  it('n = 5, t = 3: party 4 leaves after the product; the pair input leaves it out and the survivors truncate correctly (n′ = 4)', async () => {
    const xy: [bigint, bigint][] = [[8000n, -7000n], [123n, 456n], [-1n, -1n]];
    const results = await session(5, { sharing: 'shamir' }, undefined, async (mpc, i, leave) => {
      const xs = await mpc.input(0, i === 0 ? enc(xy.map((p) => p[0])) : undefined, 3);
      const ys = await mpc.input(1, i === 1 ? enc(xy.map((p) => p[1])) : undefined, 3);
      const p = await mpc.mul(xs, ys); // needs all 5 (2t − 1)
      await leave();
      const t = await mpc.truncate(p, { fracBits: F, bits: 27, sigma: 30 });
      return { t: Array.from(await mpc.open(t), signed), dropped: mpc.dropped };
    }, [4], 1500);
    for (const i of [0, 1, 2, 3]) {
      const { t, dropped } = ok(results[i]);
      expect(dropped).toEqual([4]);
      t.forEach((v, k) => expectWithin(v, xy[k][0] * xy[k][1], 4));
    }
  });

  it('pairs made ahead by all 5 serve after a party left (one opening among the 4 left)', async () => {
    const xy: [bigint, bigint][] = [[-8191n, 8191n], [77n, -3n]];
    const results = await session(5, { sharing: 'shamir' }, undefined, async (mpc, i, leave) => {
      await mpc.truncationPairs(2, { fracBits: F, bits: 27, sigma: 30 });
      const xs = await mpc.input(0, i === 0 ? enc(xy.map((p) => p[0])) : undefined, 2);
      const ys = await mpc.input(1, i === 1 ? enc(xy.map((p) => p[1])) : undefined, 2);
      const p = await mpc.mul(xs, ys);
      await leave();
      const before = mpc.nextRound;
      const t = await mpc.truncate(p, { fracBits: F, bits: 27, sigma: 30 });
      const rounds = mpc.nextRound - before;
      return { t: Array.from(await mpc.open(t), signed), rounds, dropped: mpc.dropped };
    }, [3], 1500);
    for (const i of [0, 1, 2, 4]) {
      const { t, rounds, dropped } = ok(results[i]);
      expect(rounds).toBe(1);
      expect(dropped).toEqual([3]);
      t.forEach((v, k) => expectWithin(v, xy[k][0] * xy[k][1], 5));
    }
  });
});

describe('refusals', () => {
  it('parameters that cannot work are refused before anything is sent, with ConfideError codes', async () => {
    const stores = new TrustedDealer(2, { rng: seededRng(3) }).preprocess(4, { truncation: { fracBits: F, count: 2 } });
    const results = await session(2, {}, stores, async (mpc) => {
      const v = new Shared('additive', new BigUint64Array(3));
      const codes: Record<string, string | undefined> = {};
      const code = async (name: string, p: Promise<unknown>) => {
        try {
          await p;
          codes[name] = 'none';
        } catch (e) {
          codes[name] = e instanceof ConfideError ? `${e.code}:${e.field}` : String(e);
        }
      };
      const before = mpc.nextRound;
      await code('too few store pairs', mpc.truncate(v, { fracBits: F, bits: 30 }));
      await code('wrap too likely', mpc.truncate(new Shared('additive', new BigUint64Array(1)), { fracBits: F, bits: 50 }));
      await code('bits not above fracBits', mpc.truncate(v, { fracBits: F, bits: F }));
      await code('unknown option', mpc.truncate(v, { fracBits: F, bits: 30, scale: 2 } as never));
      await code('another sharing', mpc.truncate(new Shared('shamir', new BigUint64Array(3)), { fracBits: F, bits: 30 }));
      // No store pairs for fracBits 4: own pairs, whose sum must not wrap 2^64 (2·2^(k+σ)).
      await code('own pairs too wide', mpc.truncate(v, { fracBits: 4, bits: 30, sigma: 34 }));
      await code('own pairs too wide ahead', mpc.truncationPairs(3, { fracBits: 4, bits: 30, sigma: 34 }));
      return { codes, rounds: mpc.nextRound - before };
    });
    for (const r of results) {
      const { codes, rounds } = ok(r);
      expect(codes).toEqual({
        'too few store pairs': 'E_STATE:n',
        'wrap too likely': 'E_OVERFLOW:bits',
        'bits not above fracBits': 'E_BAD_INPUT:bits',
        'unknown option': 'E_BAD_INPUT:options.scale',
        'another sharing': 'E_BAD_INPUT:a',
        'own pairs too wide': 'E_OVERFLOW:bits',
        'own pairs too wide ahead': 'E_OVERFLOW:bits',
      });
      expect(rounds).toBe(0);
    }
  });

  it('Fp61 with the default sigma 40 refuses bits beyond 19 (3 parties), naming the field', async () => {
    const results = await session(3, { sharing: 'shamir' }, undefined, async (mpc) => mpc.truncate(new Shared('shamir', new BigUint64Array(1)), { fracBits: F, bits: 20 }));
    for (const r of results) {
      expect(r.status).toBe('rejected');
      if (r.status === 'rejected') {
        expect(r.reason.code).toBe('E_OVERFLOW');
        expect(r.reason.message).toContain(`F_${Fp61.p}`);
        expect(r.reason.details).toMatchObject({ maxBits: 19 });
      }
    }
  });

  it('parties whose store pairs are out of step fail with E_PROTOCOL', async () => {
    const stores = new TrustedDealer(2, { rng: seededRng(4) }).preprocess(0, { truncation: { fracBits: F, count: 4 } });
    stores[1].takePairs(1, F);
    const results = await session(2, {}, stores, async (mpc, i) => mpc.truncate(await mpc.input(0, i === 0 ? enc([5n]) : undefined, 1), { fracBits: F, bits: 30 }));
    for (const r of results) expect(r.status === 'rejected' && r.reason.code).toBe('E_PROTOCOL');
  });

  it('truncate and truncationPairs refuse hostile arguments before sending (type-confusion battery)', async () => {
    const failures: string[] = [];
    const s = await netSession(2);
    try {
      const parties = s.nets.map((p) => p.id);
      const [a] = await Promise.all(s.nets.map((net) => MpcParty.start({ net, parties, timeoutMs: 5000 })));
      const v = () => new Shared('additive', new BigUint64Array(4));
      const cases: [string, (...x: any[]) => Promise<unknown>, () => unknown[], Record<number, string[]>][] = [
        // Valid options here still fail fast (E_OVERFLOW: k + σ too wide for own pairs), so the battery waits for nobody.
        ['truncate', (x, o) => a.truncate(x, o), () => [v(), { fracBits: 8, bits: 62 }], {}],
        ['truncationPairs', (l, o) => a.truncationPairs(l, o), () => [4, { fracBits: 8, bits: 62 }], {}],
        ['truncate options.fracBits', (f) => a.truncate(v(), { fracBits: f, bits: 62 }), () => [8], {}],
        ['truncate options.bits', (b) => a.truncate(v(), { fracBits: 8, bits: b }), () => [62], {}],
        ['truncate options.sigma', (sg) => a.truncate(v(), { fracBits: 8, bits: 62, sigma: sg }), () => [40], { 0: ['undefined'] }],
      ];
      for (const [name, fn, valid, accept] of cases) {
        const n = valid().length;
        for (let i = 0; i < n; i++)
          for (const [label, make] of CONFUSION_VALUES) {
            if (accept[i]?.includes(label)) continue;
            const args = valid();
            args[i] = make();
            const r = await Promise.race([
              Promise.resolve().then(() => fn(...args)).then(() => 'returned', (e) => (e instanceof ConfideError ? 'ok' : `threw ${e?.name}: ${e?.message}`)),
              new Promise<string>((res) => setTimeout(() => res('waited for peers'), 500)),
            ]);
            if (r !== 'ok') failures.push(`${name} arg ${i} = ${label}: ${r}`);
          }
      }
    } finally {
      await s.close();
    }
    expect(failures).toEqual([]);
  });
});
