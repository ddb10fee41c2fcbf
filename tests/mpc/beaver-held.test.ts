/**
 * Triple stores held in WASM memory (core's arena) and the Z_2^64 Beaver
 * round that reads them in place: the same triples out of `take`, `encode`
 * and `decode` as a store in ordinary memory, `dispose` returning the arena
 * memory, products whose every party's share equals beaverMask/beaverCombine
 * on the same triples bit for bit, bounded WASM memory over many products,
 * WASM memory growing during a round, and stores out of step. Under
 * CONFIDE_WASM=0 the same tests run with every store in ordinary memory.
 */
import { describe, expect, it } from 'vitest';
import { Fp61, PrimeField } from '../../src/core/field.ts';
import { seededRng } from '../../src/core/random.ts';
import { arenaAlloc, kernelInfo } from '../../src/core/wasm/loader.ts';
import { HE_TRIPLE_FIELD, MpcParty, Shared, TripleShare, TripleStore, TrustedDealer, beaverCombine, beaverMask, shareAdditive } from '../../src/mpc/index.ts';
import { HELD_MIN, holdTriples } from '../../src/mpc/beaver.ts';
import { vectorField, type FieldLike } from '../../src/mpc/_vfield.ts';
import { netSession, values } from './_helpers.ts';

const wasm = kernelInfo().backend === 'wasm-simd';

/** Runs `program` at n parties of an in-memory session, party i on stores[i]. */
async function runParties<T>(n: number, program: (mpc: MpcParty, i: number) => Promise<T>, o: { stores: TripleStore[]; field?: FieldLike }): Promise<{ results: PromiseSettledResult<T>[] }> {
  const s = await netSession(n);
  try {
    const parties = s.nets.map((p) => p.id);
    const results = await Promise.allSettled(
      s.nets.map(async (net, i) => program(await MpcParty.start({ net, parties, triples: o.stores[i], timeoutMs: 20_000, ...(o.field ? { sharing: 'field' as const, field: o.field } : {}) }), i)),
    );
    return { results };
  } finally {
    await s.close();
  }
}
const sumZ64 = (vs: BigUint64Array[]) => vs.reduce((acc, v) => acc.map((x, i) => BigInt.asUintN(64, x + v[i])));

/** A store's unused triples, copied out with `take` from a decoded copy (so the store itself is not consumed). */
function contents(store: TripleStore): TripleShare {
  const copy = TripleStore.decode(store.encode());
  const t = copy.take(copy.remaining);
  copy.dispose();
  return t;
}

describe('TripleStore in WASM memory', () => {
  it('a session moves its store there when HELD_MIN triples remain and the WASM kernels run; dealt stores stay out', async () => {
    const dealer = new TrustedDealer(2, { rng: seededRng(1) });
    const big = dealer.preprocess(HELD_MIN + 5);
    const small = dealer.preprocess(HELD_MIN + 5);
    small[0].take(6);
    small[1].take(6);
    expect([...big, ...small].map((s) => s.inWasmMemory)).toEqual([false, false, false, false]);
    await runParties(2, async () => undefined, { stores: big });
    await runParties(2, async () => undefined, { stores: small });
    expect(big.map((s) => s.inWasmMemory)).toEqual([wasm, wasm]);
    expect(small.map((s) => s.inWasmMemory)).toEqual([false, false]);
    for (const s of [...big, ...small]) s.dispose();
  });

  it('take, encode and decode give the triples it was built from, held or not', () => {
    const rng = seededRng(2);
    for (const n of [HELD_MIN - 1, HELD_MIN, 5000]) {
      for (const field of [undefined, new PrimeField(35184371613697n)]) {
        const f = field === undefined ? undefined : vectorField(field);
        const a = f ? f.random(n, rng) : new BigUint64Array(rng.bytes(8 * n).buffer);
        const b = f ? f.random(n, rng) : new BigUint64Array(rng.bytes(8 * n).buffer);
        const c = f ? f.random(n, rng) : new BigUint64Array(rng.bytes(8 * n).buffer);
        const [a0, b0, c0] = [a.slice(), b.slice(), c.slice()];
        const store = new TripleStore(rng.bytes(16), 0, 2, a, b, c, field);
        // Some taken before the store moves, some after: the positions carry on.
        const k0 = n === 5000 ? 100 : 0, k = Math.floor(n / 3);
        const before = store.take(k0);
        holdTriples(store);
        expect(store.inWasmMemory).toBe(wasm && n - k0 >= HELD_MIN);
        // A held store owns its copy of the unused triples (and wiped them where they were given).
        if (store.inWasmMemory) {
          expect(a.subarray(k0).every((v) => v === 0n)).toBe(true);
          a.fill(1n, k0);
        }
        expect([before.a, before.b, before.c]).toEqual([a0.subarray(0, k0), b0.subarray(0, k0), c0.subarray(0, k0)]);
        const first = store.take(k - k0);
        expect(first.offset).toBe(k0);
        expect(first.field).toBe(field);
        expect([first.a, first.b, first.c]).toEqual([a0.subarray(k0, k), b0.subarray(k0, k), c0.subarray(k0, k)]);
        const rest = contents(store);
        expect([rest.a, rest.b, rest.c]).toEqual([a0.subarray(k), b0.subarray(k), c0.subarray(k)]);
        const again = TripleStore.decode(store.encode());
        expect(again.position).toBe(0);
        expect(again.remaining).toBe(n - k);
        expect(again.take(1).a[0]).toBe(a0[k]);
        store.dispose();
        again.dispose();
      }
    }
  });

  it('a taken TripleShare stays valid after WASM memory grows and after the store is disposed', () => {
    const [store] = new TrustedDealer(2, { rng: seededRng(3) }).preprocess(4000);
    const want = contents(store);
    holdTriples(store);
    const t = store.take(4000);
    const grow = arenaAlloc(BigUint64Array, 1 << 21); // 16 MiB: the arena grows past what was there
    store.dispose();
    expect([t.a, t.b, t.c]).toEqual([want.a, want.b, want.c]);
    grow.free();
  });

  it('dispose returns the arena memory, and any later use is E_STATE', () => {
    const before = kernelInfo().arenaBytes;
    const stores = new TrustedDealer(3, { rng: seededRng(4) }).preprocess(10_000, { truncation: { fracBits: 8, count: 10 } });
    stores.forEach(holdTriples);
    if (wasm) expect(kernelInfo().arenaBytes - before).toBeGreaterThanOrEqual(3 * 3 * 10_000 * 8);
    for (const s of stores) s.dispose();
    expect(kernelInfo().arenaBytes).toBe(before);
    const s = stores[0];
    s.dispose(); // twice is fine
    expect(s.inWasmMemory).toBe(false);
    for (const use of [() => s.take(1), () => s.encode(), () => s.takePairs(1, 8)])
      expect(use).toThrow(expect.objectContaining({ code: 'E_STATE' }));
  });

  it('`using` disposes a store', () => {
    const before = kernelInfo().arenaBytes;
    const [mine, other] = new TrustedDealer(2, { rng: seededRng(5) }).preprocess(3000);
    holdTriples(mine);
    holdTriples(other);
    {
      using s = mine;
      expect(s.remaining).toBe(3000);
    }
    expect(mine.inWasmMemory).toBe(false);
    expect(() => mine.take(1)).toThrow(expect.objectContaining({ code: 'E_STATE' }));
    // The other party's store is still live: only this one returned its memory.
    expect(kernelInfo().arenaBytes - before).toBe(wasm ? 3 * 3000 * 8 : 0);
    other.dispose();
  });
});

describe('Beaver products on held triples', () => {
  for (const [label, field, len] of [['Z_2^64', undefined, 3000], ['the HE field', HE_TRIPLE_FIELD, 3000], ['Fp61', Fp61, 3000], ['Z_2^64, store in ordinary memory', undefined, 400], ['the HE field, store in ordinary memory', HE_TRIPLE_FIELD, 400]] as const) {
    it(`every party's share equals beaverMask and beaverCombine on the same triples, bit for bit (${label})`, async () => {
      const n = 3, rng = seededRng(6);
      const dealer = new TrustedDealer(n, { rng, field });
      const stores = dealer.preprocess(2 * len);
      // What each party's store holds, copied before the session uses it.
      const copies = stores.map(contents);
      const p = field?.p;
      const draw = () => (field ? vectorField(field).random(len, rng) : new BigUint64Array(rng.bytes(8 * len).buffer));
      const x = draw(), y = draw();
      const sharing = field === undefined ? 'additive' : 'field';
      const xs = shareAdditive(x, n, { rng, domain: field }), ys = shareAdditive(y, n, { rng, domain: field });
      const got = values(
        (
          await runParties(n, async (mpc, i) => {
            const u = await mpc.mul(new Shared(sharing, xs[i]), new Shared(sharing, ys[i]));
            const w = await mpc.mul(u, new Shared(sharing, ys[i]));
            return [u.share, w.share];
          }, { stores, field })
        ).results,
      );
      // The reference: the same algebra, party by party, on the copied triples.
      const add = (vs: BigUint64Array[]) => (p === undefined ? sumZ64(vs) : vs.reduce((acc, v) => acc.map((q, i) => (q + v[i]) % p)));
      const ref = (us: BigUint64Array[], vs: BigUint64Array[], from: number) => {
        const t = copies.map((c) => new TripleShare(c.a.subarray(from, from + len), c.b.subarray(from, from + len), c.c.subarray(from, from + len), 0, field));
        const m = us.map((u, i) => beaverMask(u, vs[i], t[i]));
        const d = add(m.map((v) => v.d)), e = add(m.map((v) => v.e));
        return t.map((ti, i) => beaverCombine(d, e, ti, i === 0));
      };
      const u = ref(xs, ys, 0);
      const w = ref(u, ys, len);
      for (let i = 0; i < n; i++) {
        expect(got[i][0]).toEqual(u[i]);
        expect(got[i][1]).toEqual(w[i]);
      }
      const held = wasm && 2 * len >= HELD_MIN;
      expect(stores.map((s) => s.inWasmMemory)).toEqual([held, held, held]);
      const open = add(got.map((g) => g[1]));
      const mod = p ?? 1n << 64n;
      for (let k = 0; k < len; k += 7) expect(open[k]).toBe((((x[k] * y[k]) % mod) * y[k]) % mod);
      for (const s of stores) s.dispose();
    });
  }

  it('empty vectors multiply to empty vectors and take no triple', async () => {
    for (const field of [undefined, HE_TRIPLE_FIELD]) {
      const stores = new TrustedDealer(2, { rng: seededRng(12), field }).preprocess(HELD_MIN);
      const sharing = field === undefined ? 'additive' : 'field';
      const got = values((await runParties(2, async (mpc) => (await mpc.mul(new Shared(sharing, new BigUint64Array(0)), new Shared(sharing, new BigUint64Array(0)))).share, { stores, field })).results);
      expect(got).toEqual([new BigUint64Array(0), new BigUint64Array(0)]);
      expect(stores.map((s) => s.remaining)).toEqual([HELD_MIN, HELD_MIN]);
      for (const s of stores) s.dispose();
    }
  });

  it('a field share that is not a field element is refused before anything is sent (E_BAD_INPUT)', async () => {
    const n = 2, len = 2000;
    const stores = new TrustedDealer(n, { rng: seededRng(10), field: HE_TRIPLE_FIELD }).preprocess(len);
    const r = (
      await runParties(n, async (mpc) => mpc.mul(new Shared('field', new BigUint64Array(len).fill(HE_TRIPLE_FIELD.p)), new Shared('field', new BigUint64Array(len))), { stores, field: HE_TRIPLE_FIELD })
    ).results;
    for (const s of r) expect((s as PromiseRejectedResult).reason).toMatchObject({ code: 'E_BAD_INPUT', field: 'x[0]' });
    for (const s of stores) s.dispose();
  });

  it('WASM memory stays bounded over many products, and the arena holds only the stores afterwards', async () => {
    const n = 3, len = 20_000, muls = 40;
    const stores = new TrustedDealer(n, { rng: seededRng(7) }).preprocess(muls * len);
    stores.forEach(holdTriples); // as the sessions will: the baseline then includes the stores
    const arenaWithStores = kernelInfo().arenaBytes;
    const memory: number[] = [];
    const out = values(
      (
        await runParties(n, async (mpc, i) => {
          const x = await mpc.input(0, i === 0 ? BigUint64Array.from({ length: len }, (_, k) => BigInt(k)) : undefined, len);
          let z: Shared = x;
          for (let r = 0; r < muls; r++) {
            z = await mpc.mul(x, x);
            if (i === 0) memory.push(kernelInfo().memoryBytes);
          }
          return mpc.open(z);
        }, { stores })
      ).results,
    );
    for (let k = 0; k < len; k += 1111) expect(out[0][k]).toBe(BigInt(k * k));
    // Each product takes 2·len words of scratch (4·len at party 0) and returns them: after the
    // first few rounds the arena reuses what it freed and memory does not grow.
    expect(memory.at(-1)).toBe(memory[4]);
    // At most what it was (a store an earlier test dropped may have been collected meanwhile).
    expect(kernelInfo().arenaBytes).toBeLessThanOrEqual(arenaWithStores);
    for (const s of stores) s.dispose();
  });

  it('a product survives WASM memory growing while its round is open', async () => {
    const n = 3, len = 50_000;
    const stores = new TrustedDealer(n, { rng: seededRng(8) }).preprocess(len);
    const grown: { free(): void }[] = [];
    const before = kernelInfo().memoryBytes;
    const out = values(
      (
        await runParties(n, async (mpc, i) => {
          const x = await mpc.input(1, i === 1 ? BigUint64Array.from({ length: len }, (_, k) => BigInt(k % 1000)) : undefined, len);
          const p = mpc.mul(x, x);
          // Between sending d ‖ e and combining: another user of the arena grows WASM memory.
          if (i === 2) setImmediate(() => grown.push(arenaAlloc(BigUint64Array, Math.min(2 ** 29, before / 8 + (1 << 20)))));
          return mpc.open(await p);
        }, { stores })
      ).results,
    );
    if (wasm) expect(kernelInfo().memoryBytes).toBeGreaterThan(before);
    for (let k = 0; k < len; k += 499) expect(out[2][k]).toBe(BigInt((k % 1000) ** 2));
    grown.forEach((g) => g.free());
    for (const s of stores) s.dispose();
  });

  it('stores out of step fail at every party with E_PROTOCOL, and the next product still works', async () => {
    const n = 3, len = 2000;
    const stores = new TrustedDealer(n, { rng: seededRng(9) }).preprocess(4 * len);
    stores[1].take(1); // party 1 is one triple ahead
    const r = (
      await runParties(n, async (mpc, i) => {
        const x = await mpc.input(0, i === 0 ? new BigUint64Array(len).fill(3n) : undefined, len);
        return mpc.mul(x, x);
      }, { stores })
    ).results;
    for (const s of r) {
      expect(s.status).toBe('rejected');
      expect((s as PromiseRejectedResult).reason.code).toBe('E_PROTOCOL');
    }
    expect(String((r[0] as PromiseRejectedResult).reason.message)).toMatch(/offset/);
    expect(String((r[2] as PromiseRejectedResult).reason.message)).toMatch(/party 0 aborted/);
    for (const s of stores) s.dispose();
  });
});
