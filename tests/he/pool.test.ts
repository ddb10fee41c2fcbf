/**
 * AggregatorPool: the sum over worker threads is the single-thread sum, to
 * the byte (BFV and CKKS ciphertext addition is coefficient-wise mod q, so
 * the order and grouping of additions cannot change it); refused vectors
 * leave the pool working; bytes are transferred, not copied; memory stays
 * flat; close ends the threads.
 */
import { readdirSync } from 'node:fs';
import { markAsUntransferable } from 'node:worker_threads';
import { beforeAll, describe, expect, it } from 'vitest';
import { ConfideError } from '../../src/core/errors.ts';
import { seededRng } from '../../src/core/random.ts';
import * as he from '../../src/he/index.ts';
import { confusionFailures } from '../_battery.ts';
import { useHeKeys } from './_keys.ts';

let plan: he.AggregationPlan;
let ctx: he.HeContext;
let keys: he.HeKeyPair;
let enc: he.VectorEncryptor;
let dec: he.VectorDecryptor;

const fixture = useHeKeys({ contributors: 10_000, bound: 4, fracBits: 8 });
beforeAll(() => void ({ plan, ctx, keys, enc, dec } = fixture));

async function rejects(p: Promise<unknown>, code: string): Promise<ConfideError> {
  try {
    await p;
  } catch (e) {
    expect(e).toBeInstanceOf(ConfideError);
    expect((e as ConfideError).code, (e as Error).message).toBe(code);
    return e as ConfideError;
  }
  throw new Error(`expected ${code}, nothing was thrown`);
}

/** A copy whose buffers the pool may take. */
const copy = (v: he.EncryptedVector): he.EncryptedVector => ({ ...v, chunks: v.chunks.map((c) => c.slice()) });

/** OS threads of this process (Linux): each worker thread is at least one. */
const threads = () => readdirSync('/proc/self/task').length;

describe('AggregatorPool', () => {
  it('sums to exactly the single-thread sum for 1, 2 and 3 workers (BFV), chunk bytes included', async () => {
    const n = 2 * ctx.slots + 17; // three ciphertexts a vector
    const vectors = Array.from({ length: 7 }, (_, j) => enc.encrypt(Float64Array.from({ length: n }, (_, i) => Math.sin(i * (j + 1)) * 3.9), { rng: seededRng(j) }));
    using acc = new he.Accumulator(ctx);
    for (const v of vectors) acc.add(v);
    const single = acc.result();
    for (const workers of [1, 2, 3]) {
      await using pool = await he.AggregatorPool.open(ctx, { workers });
      expect(pool.workers).toBe(workers);
      await Promise.all(vectors.map((v) => pool.add(copy(v))));
      const sum = await pool.result();
      expect(sum.contributors).toBe(7);
      expect(pool.contributors).toBe(7);
      expect(pool.length).toBe(n);
      expect(sum.chunks).toEqual(single.chunks);
      expect(Array.from(dec.decrypt(sum))).toEqual(Array.from(dec.decrypt(single)));
    }
  });

  it('a sum (several contributors) counts as its contributors; CKKS sums match too', async () => {
    const p = await he.planAggregation({ contributors: 20, bound: 10, scheme: 'ckks' });
    using c = await he.createContext(p.params);
    const k = he.generateKeys(c, p);
    using e = he.createEncryptor(c, p, k.publicKey);
    const vectors = Array.from({ length: 4 }, (_, j) => e.encrypt(Float64Array.from({ length: 100 }, (_, i) => Math.cos(i + j) * 9)));
    using acc = new he.Accumulator(c);
    for (const v of vectors) acc.add(v);
    using two = new he.Accumulator(c);
    two.add(vectors[0]);
    two.add(vectors[1]);
    await using pool = await he.AggregatorPool.open(c, { workers: 2 });
    await Promise.all([pool.add(two.result()), pool.add(copy(vectors[2])), pool.add(copy(vectors[3]))]);
    const sum = await pool.result();
    expect(sum.contributors).toBe(4);
    expect(sum.chunks).toEqual(acc.result().chunks);
  });

  it('a malformed ciphertext is refused with a code and the pool goes on', async () => {
    const n = ctx.slots + 5;
    const good = Array.from({ length: 6 }, (_, j) => enc.encrypt(new Float64Array(n).fill(j % 3)));
    await using pool = await he.AggregatorPool.open(ctx, { workers: 2 });
    const corrupt = copy(good[0]);
    corrupt.chunks[1].fill(0xff, corrupt.chunks[1].length - 64); // SEAL's own bytes: refused inside a worker
    const badHeader = copy(good[0]);
    badHeader.chunks[0][0] = 0; // not CFHE: refused before any worker sees it
    const adds = good.map((v) => pool.add(copy(v)));
    const refusedInWorker = rejects(pool.add(corrupt), 'E_DECODE');
    await rejects(pool.add(badHeader), 'E_DECODE');
    await rejects(pool.add(enc.encrypt(new Float64Array(3))), 'E_BAD_INPUT'); // another length
    await rejects(pool.add([]), 'E_BAD_INPUT');
    await Promise.all(adds);
    await refusedInWorker;
    // The worker that refused still works: more vectors than workers after it.
    await Promise.all(good.map((v) => pool.add(copy(v))));
    const sum = await pool.result();
    expect(sum.contributors).toBe(12);
    expect(Array.from(dec.decrypt(sum))).toEqual(new Array(n).fill(2 * (0 + 1 + 2) * 2));
  });

  it('transfers the bytes (the caller’s buffers are detached) except untransferable ones, which are copied', async () => {
    await using pool = await he.AggregatorPool.open(ctx, { workers: 2 });
    const v = enc.encrypt(Float64Array.from([1, 2, 3]));
    const mine = copy(v);
    await pool.add(mine);
    expect(mine.chunks[0].buffer.byteLength).toBe(0);
    await rejects(pool.add(mine), 'E_DECODE'); // nothing left to read
    // Two chunks sharing one buffer are transferred once.
    const w = enc.encrypt(new Float64Array(ctx.slots + 1).fill(1));
    const joined = new Uint8Array(w.chunks[0].length + w.chunks[1].length);
    joined.set(w.chunks[0]);
    joined.set(w.chunks[1], w.chunks[0].length);
    await using other = await he.AggregatorPool.open(ctx, { workers: 1 });
    await other.add([joined.subarray(w.chunks[0].length), joined.subarray(0, w.chunks[0].length)]);
    expect(joined.buffer.byteLength).toBe(0);
    expect(Array.from(dec.decrypt(await other.result()))).toEqual(new Array(ctx.slots + 1).fill(1));
    // Untransferable (as Node's Buffer pool is): copied, left intact here.
    const kept = copy(v);
    markAsUntransferable(kept.chunks[0].buffer);
    await pool.add(kept);
    expect(kept.chunks[0]).toEqual(v.chunks[0]);
    expect(Array.from(dec.decrypt(await pool.result()))).toEqual([2, 4, 6]);
  });

  it('aggregates 4,000 ciphertexts in 2 workers with flat memory', async () => {
    const vectors = Array.from({ length: 10 }, (_, j) => enc.encrypt(Float64Array.from({ length: 100 }, (_, i) => ((i + j) % 8) / 4 - 1)));
    const expected = new Float64Array(100);
    for (const v of vectors) {
      const d = dec.decrypt(v);
      for (let i = 0; i < 100; i++) expected[i] += 400 * d[i];
    }
    await using pool = await he.AggregatorPool.open(ctx, { workers: 2 });
    const window: Promise<void>[] = [];
    let before = 0;
    for (let k = 0; k < 4000; k++) {
      if (window.length >= 8) await window.shift();
      window.push(pool.add(copy(vectors[k % 10])));
      expect(pool.pending).toBeLessThanOrEqual(8);
      if (k === 499) {
        await Promise.all(window.splice(0));
        before = process.memoryUsage().rss; // after warm-up: both WASM heaps grown
      }
    }
    await Promise.all(window);
    const growth = process.memoryUsage().rss - before;
    // Holding the 3,500 later ciphertexts would take 3,500 × 131 kB ≈ 460 MB; the bound is 64 MiB.
    expect(3500 * vectors[0].chunks[0].length).toBeGreaterThan(4.5e8);
    expect(growth).toBeLessThan(64 * 2 ** 20);
    const sum = await pool.result();
    expect(sum.contributors).toBe(4000);
    expect(Array.from(dec.decrypt(sum))).toEqual(Array.from(expected));
  });

  it('close ends the worker threads and refuses further use; an empty pool has no result', async () => {
    const pool = await he.AggregatorPool.open(ctx, { workers: 3 });
    const open = threads();
    await rejects(pool.result(), 'E_STATE');
    await pool.close();
    await pool.close();
    expect(pool.closed).toBe(true);
    let now = threads();
    for (let i = 0; i < 40 && now > open - 3; i++) {
      await new Promise((r) => setTimeout(r, 50));
      now = threads();
    }
    expect(now).toBeLessThanOrEqual(open - 3);
    await rejects(pool.add(enc.encrypt(new Float64Array(1))), 'E_STATE');
    await rejects(pool.result(), 'E_STATE');
  });

  it('type confusion', async () => {
    const failures = [
      ...(await confusionFailures('AggregatorPool.open', (c, o) => he.AggregatorPool.open(c, o).then((p) => p.close()), () => [ctx, { workers: 1 }])),
    ];
    await using pool = await he.AggregatorPool.open(ctx, { workers: 1 });
    failures.push(...(await confusionFailures('AggregatorPool.add', (v) => pool.add(v), () => [enc.encrypt(new Float64Array(2))])));
    expect(failures).toEqual([]);
  });
});
