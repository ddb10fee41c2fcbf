/**
 * MAC'd (SPDZ-style) sessions: honest runs match plaintext and pass every
 * check; a party that adds an error to a share it opens (an output, or a
 * Beaver d) is caught by the MAC check at every party, for many seeds and
 * errors; an owner that sends different input differences to different
 * parties is caught by the view hash; the session is over after a failure.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Fp61 } from '../../src/core/field.ts';
import { seededRng } from '../../src/core/random.ts';
import { AuthShared, AuthStore, HE_TRIPLE_FIELD, MacDealer, MpcParty, SpdzSession } from '../../src/mpc/index.ts';
import { confusionFailures } from '../_battery.ts';
import { netSession } from './_helpers.ts';

const enc = (xs: bigint[]) => BigUint64Array.from(xs, (x) => BigInt.asUintN(64, x));
const dec = (v: BigUint64Array) => Array.from(v, (x) => BigInt.asIntN(64, x));
const P = Fp61.p;

/** n MAC'd parties on one in-memory session; `program` runs at each. */
async function spdz<T>(n: number, program: (s: SpdzSession, i: number) => Promise<T>, options: { seed?: number; field?: typeof Fp61 | typeof HE_TRIPLE_FIELD } = {}): Promise<PromiseSettledResult<T>[]> {
  const net = await netSession(n);
  try {
    const parties = net.nets.map((p) => p.id);
    const stores = new MacDealer(n, { field: options.field, rng: options.seed === undefined ? undefined : seededRng(options.seed) }).preprocess({ triples: 32, masks: 16 });
    return await Promise.allSettled(
      net.nets.map(async (netParty, i) => {
        const mpc = await MpcParty.start({ net: netParty, parties, timeoutMs: 5000, rng: options.seed === undefined ? undefined : seededRng(options.seed * 31 + i) });
        return program(new SpdzSession(mpc, stores[i]), i);
      }),
    );
  } finally {
    await net.close();
  }
}

/** x·y + 3x − y, with x from party 0 and y from the last party. */
/** Every party fails the MAC check (E_CRYPTO), and parties 1 and 2 each name the other: their views of ε differ. */
function expectViewsDiffer(r: PromiseSettledResult<unknown>[]): void {
  for (const v of r) {
    expect(v.status).toBe('rejected');
    if (v.status === 'rejected') expect(v.reason).toMatchObject({ code: 'E_CRYPTO', field: 'mac' });
  }
  if (r[1].status === 'rejected') expect(r[1].reason.details.parties).toContain(2);
  if (r[2].status === 'rejected') expect(r[2].reason.details.parties).toContain(1);
}

async function honest(s: SpdzSession, i: number, n: number, x: BigUint64Array, y: BigUint64Array) {
  const xs = await s.input(0, i === 0 ? x : undefined, x.length);
  const ys = await s.input(n - 1, i === n - 1 ? y : undefined, y.length);
  const z = s.sub(s.add(await s.mul(xs, ys), s.mulPublic(xs, 3n)), ys);
  return dec(await s.output(s.addPublic(z, enc(x.length === 0 ? [] : Array.from({ length: x.length }, () => 0n)))));
}

describe('MAC\'d sessions', () => {
  it('honest runs match plaintext and pass the check (2 to 4 parties, Fp61 and the HE field)', async () => {
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 2, max: 4 }), fc.array(fc.tuple(fc.bigInt({ min: -(1n << 20n), max: 1n << 20n }), fc.bigInt({ min: -(1n << 20n), max: 1n << 20n })), { minLength: 1, maxLength: 8 }), fc.boolean(), async (n, pairs, he) => {
        const x = enc(pairs.map((p) => p[0])), y = enc(pairs.map((p) => p[1]));
        const r = await spdz(n, (s, i) => honest(s, i, n, x, y), { field: he ? HE_TRIPLE_FIELD : Fp61 });
        for (const v of r) {
          if (v.status === 'rejected') throw v.reason;
          expect(v.value).toEqual(pairs.map(([a, b]) => a * b + 3n * a - b));
        }
      }),
      { numRuns: 6 },
    );
  });

  it('a party adding an error to the share it opens is detected at every party (40 seeds and errors)', async () => {
    const rng = seededRng(99);
    for (let seed = 0; seed < 40; seed++) {
      const cheater = seed % 3;
      const delta = 1n + rng.uniformBigInt(P - 1n); // any nonzero error
      const r = await spdz(3, async (s, i) => {
        const xs = await s.input(1, i === 1 ? enc([5n, 6n]) : undefined, 2);
        const ys = await s.input(2, i === 2 ? enc([7n, -8n]) : undefined, 2);
        const z = await s.mul(xs, ys);
        // The cheater opens its share of z plus an error in one element (its MAC share untouched).
        const share = z.share.slice();
        if (i === cheater) share[seed % 2] = (share[seed % 2] + delta) % P;
        return s.output(new AuthShared(share, z.mac));
      }, { seed });
      for (const v of r) {
        expect(v.status).toBe('rejected');
        if (v.status === 'rejected') expect(v.reason).toMatchObject({ code: 'E_CRYPTO', field: 'mac' });
      }
    }
  });

  it('an error in a Beaver opening (d) is detected at the next check; the session is then over', async () => {
    for (let seed = 100; seed < 110; seed++) {
      const r = await spdz(3, async (s, i) => {
        const xs = await s.input(0, i === 0 ? enc([2n]) : undefined, 1);
        // Party 1 shifts its share of x before the product: d opens wrong, the MACs disagree.
        const x = i === 1 ? new AuthShared(BigUint64Array.of((xs.share[0] + 1n) % P), xs.mac) : xs;
        const z = await s.mul(x, xs);
        try {
          return await s.output(z);
        } catch (e) {
          // After a failed check, every call is refused.
          await expect(s.open(z)).rejects.toMatchObject({ code: 'E_STATE' });
          throw e;
        }
      }, { seed });
      for (const v of r) expect(v.status === 'rejected' && v.reason.code === 'E_CRYPTO').toBe(true);
    }
  });

  it('an owner sending different input differences to different parties is detected (views differ)', async () => {
    const n = 3;
    const net = await netSession(n);
    try {
      const parties = net.nets.map((p) => p.id);
      const stores = new MacDealer(n).preprocess({ triples: 0, masks: 1 });
      const r = await Promise.allSettled(
        net.nets.map(async (netParty, i) => {
          const mpc = await MpcParty.start({ net: netParty, parties });
          const s = new SpdzSession(mpc, stores[i]);
          if (i !== 0) {
            const x = await s.input(0, undefined, 1);
            return s.output(x);
          }
          // Party 0 deviates: it sends its honest ε to party 1 and ε + 1 to party 2, by hand, then carries on.
          const mask = stores[0].takeMasks(0, 1);
          const eps = (5n + P - mask.clear![0]) % P;
          const { channelOf } = await import('../../src/mpc/party.ts');
          const ch = channelOf(mpc);
          const round = ch.round();
          await ch.send(1, round, 'spdz-input', [BigUint64Array.of(eps)], { offset: 0 });
          await ch.send(2, round, 'spdz-input', [BigUint64Array.of((eps + 1n) % P)], { offset: 0 });
          const x = new AuthShared(BigUint64Array.of((mask.r.share[0] + eps) % P), BigUint64Array.of((mask.r.mac[0] + stores[0].alpha * eps) % P));
          return s.output(x);
        }),
      );
      expectViewsDiffer(r);
    } finally {
      await net.close();
    }
  });

  it('inputAll, sum, sumElements, tile and blockSums keep the MACs consistent (checked output equals plaintext)', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(fc.array(fc.bigInt({ min: -(1n << 40n), max: 1n << 40n }), { minLength: 6, maxLength: 6 }), { minLength: 3, maxLength: 3 }), async (rows) => {
        const r = await spdz(3, async (s, i) => {
          const all = await s.inputAll(enc(rows[i]));
          expect(s.store.masksRemaining(0)).toBe(16 - 6);
          const total = s.sum(all);
          // [Σ of all 18 inputs, row sums of the 2×3 view of the total, the total tiled twice]
          const out = await s.output(s.sum([s.tile(s.sumElements(total), 6), s.tile(s.blockSums(total, 3), 3), s.mulPublic(total, 0n)]));
          const tiled = await s.output(s.tile(total, 2));
          return { out: dec(out), tiled: dec(tiled) };
        });
        const total = [0, 1, 2, 3, 4, 5].map((k) => rows[0][k] + rows[1][k] + rows[2][k]);
        const grand = total.reduce((a, b) => a + b, 0n);
        const blocks = [total[0] + total[1] + total[2], total[3] + total[4] + total[5]];
        for (const v of r) {
          if (v.status === 'rejected') throw v.reason;
          expect(v.value.out).toEqual([0, 1, 2, 3, 4, 5].map((k) => grand + blocks[k % 2]));
          expect(v.value.tiled).toEqual([...total, ...total]);
        }
      }),
      { numRuns: 4 },
    );
  });

  it('inputAll: an owner sending different ε to different parties is detected at the next check (views differ)', async () => {
    const n = 3;
    const net = await netSession(n);
    try {
      const parties = net.nets.map((p) => p.id);
      const stores = new MacDealer(n).preprocess({ triples: 0, masks: 1 });
      const r = await Promise.allSettled(
        net.nets.map(async (netParty, i) => {
          const mpc = await MpcParty.start({ net: netParty, parties });
          const s = new SpdzSession(mpc, stores[i]);
          if (i !== 0) {
            await s.inputAll(enc([BigInt(i)]));
            return s.check();
          }
          // Party 0 runs the input round by hand: ε to party 1, ε + 1 to party 2.
          const masks = [0, 1, 2].map((owner) => stores[0].takeMasks(owner, 1));
          const eps = (5n + P - masks[0].clear![0]) % P;
          const { channelOf } = await import('../../src/mpc/party.ts');
          const ch = channelOf(mpc);
          const round = ch.round();
          await ch.send(1, round, 'spdz-input-all', [BigUint64Array.of(eps)], { offset: 0 });
          await ch.send(2, round, 'spdz-input-all', [BigUint64Array.of((eps + 1n) % P)], { offset: 0 });
          await ch.gather([1, 2], round);
          return s.check();
        }),
      );
      expectViewsDiffer(r);
    } finally {
      await net.close();
    }
  });

  it('inputAll refuses before sending when any owner\'s masks are short (E_STATE), and takes none', async () => {
    const stores = new MacDealer(2, { rng: seededRng(3) }).preprocess({ triples: 0, masks: 2 });
    const net = await netSession(2);
    try {
      const parties = net.nets.map((p) => p.id);
      const [mpc] = await Promise.all(net.nets.map((p) => MpcParty.start({ net: p, parties, timeoutMs: 300 })));
      const s = new SpdzSession(mpc, stores[0]);
      await expect(s.inputAll(enc([1n, 2n, 3n]))).rejects.toMatchObject({ code: 'E_STATE', field: 'store' });
      expect(stores[0].masksRemaining(0)).toBe(2);
      expect(stores[0].masksRemaining(1)).toBe(2);
    } finally {
      await net.close();
    }
  });

  it('AuthStore.encode keeps only what is unused, decode loads it, and a session continues on the decoded stores', async () => {
    const n = 3;
    const stores = new MacDealer(n, { rng: seededRng(21) }).preprocess({ triples: 6, masks: 5 });
    const net = await netSession(n);
    try {
      const parties = net.nets.map((p) => p.id);
      const mpcs = await Promise.all(net.nets.map((p) => MpcParty.start({ net: p, parties, timeoutMs: 5000 })));
      // First run: 2 masks of party 0, 2 of party 2, 2 triples.
      const first = await Promise.all(mpcs.map(async (mpc, i) => {
        const s = new SpdzSession(mpc, stores[i]);
        const x = await s.input(0, i === 0 ? enc([3n, -4n]) : undefined, 2);
        const y = await s.input(2, i === 2 ? enc([5n, 6n]) : undefined, 2);
        return dec(await s.output(await s.mul(x, y)));
      }));
      for (const v of first) expect(v).toEqual([15n, -24n]);
      const loaded = stores.map((st) => AuthStore.decode(st.encode()));
      for (const [i, st] of loaded.entries()) {
        expect(st.party).toBe(i);
        expect(st.parties).toBe(n);
        expect(st.alpha).toBe(stores[i].alpha);
        expect(st.triplesRemaining).toBe(4);
        expect([0, 1, 2].map((o) => st.masksRemaining(o))).toEqual([3, 5, 3]);
      }
      // Second run on the decoded stores (offsets continue from the dealer's numbering at every party alike).
      const second = await Promise.all(mpcs.map(async (mpc, i) => {
        const s = new SpdzSession(mpc, loaded[i]);
        const x = await s.input(1, i === 1 ? enc([7n, 8n, 9n]) : undefined, 3);
        return dec(await s.output(await s.mul(x, x)));
      }));
      for (const v of second) expect(v).toEqual([49n, 64n, 81n]);
    } finally {
      await net.close();
    }
    // Damaged bytes are E_DECODE, never a crash or a store with wrong shapes.
    const bytes = stores[0].encode();
    for (const bad of [bytes.subarray(0, bytes.length - 8), new Uint8Array(40), new Uint8Array(0)])
      expect(() => AuthStore.decode(bad)).toThrow(expect.objectContaining({ code: 'E_DECODE' }));
    const flipped = bytes.slice();
    flipped.fill(0xff, flipped.length - 8); // the last element of the own masks' clear values: 2^64 − 1 is not in the field
    expect(() => AuthStore.decode(flipped)).toThrow(expect.objectContaining({ code: 'E_DECODE' }));
    expect(await confusionFailures('AuthStore.decode', (b) => AuthStore.decode(b), () => [stores[1].encode()])).toEqual([]);
  });

  it('type confusion', async () => {
    const stores = new MacDealer(2, { rng: seededRng(1) }).preprocess({ triples: 4, masks: 4 });
    const net = await netSession(2);
    try {
      const parties = net.nets.map((p) => p.id);
      const mpcs = await Promise.all(net.nets.map((p) => MpcParty.start({ net: p, parties, timeoutMs: 300 })));
      const s = new SpdzSession(mpcs[0], stores[0]);
      const v = () => new AuthShared(new BigUint64Array(2), new BigUint64Array(2));
      const failures = [
        ...(await confusionFailures('MacDealer', (n, o) => new MacDealer(n, o), () => [2, undefined], { accept: { 1: ['undefined', 'object'] } })),
        ...(await confusionFailures('MacDealer.preprocess', (o) => new MacDealer(2).preprocess(o), () => [{ triples: 1, masks: 1 }])),
        ...(await confusionFailures('SpdzSession', (m, st) => new SpdzSession(m, st), () => [mpcs[0], stores[0]])),
        ...(await confusionFailures('AuthShared', (a, b) => new AuthShared(a, b), () => [new BigUint64Array(1), new BigUint64Array(1)])),
        ...(await confusionFailures('add', (a, b) => s.add(a, b), () => [v(), v()])),
        ...(await confusionFailures('sub', (a, b) => s.sub(a, b), () => [v(), v()])),
        ...(await confusionFailures('addPublic', (a, b) => s.addPublic(a, b), () => [v(), new BigUint64Array(2)])),
        ...(await confusionFailures('mulPublic', (a, k) => s.mulPublic(a, k), () => [v(), 2n], { accept: { 1: ['bigint'] } })),
        ...(await confusionFailures('sum', (l) => s.sum(l), () => [[v(), v()]])),
        ...(await confusionFailures('sumElements', (a) => s.sumElements(a), () => [v()])),
        ...(await confusionFailures('tile', (a, t) => s.tile(a, t), () => [v(), 2])),
        ...(await confusionFailures('blockSums', (a, w) => s.blockSums(a, w), () => [v(), 2])),
      ];
      expect(failures).toEqual([]);
      for (const bad of [NaN, -1, 2 ** 64, '1', null]) {
        await expect(s.input(bad as number, undefined, 1)).rejects.toMatchObject({ code: 'E_BAD_INPUT' });
        await expect(s.mul(v(), bad as never)).rejects.toMatchObject({ code: 'E_BAD_INPUT' });
        await expect(s.open(bad as never)).rejects.toMatchObject({ code: 'E_BAD_INPUT' });
        await expect(s.inputAll(bad as never)).rejects.toMatchObject({ code: 'E_BAD_INPUT' });
      }
      for (const bad of [new Uint16Array(2), [1n], { length: 1 }]) await expect(s.inputAll(bad as never)).rejects.toMatchObject({ code: 'E_BAD_INPUT' });
      // Values outside the field's centred range are E_OVERFLOW before anything is sent.
      await expect(s.inputAll(BigUint64Array.of(1n << 62n))).rejects.toMatchObject({ code: 'E_OVERFLOW' });
    } finally {
      await net.close();
    }
  });
});
