/**
 * VectorEncryptor.encryptAsync: the same ciphertexts' contents as encrypt,
 * and the event loop gets turns while a long vector is encrypted (a process
 * encrypting must keep answering heartbeats; bench/fl found a client blocked
 * for 15 s). Also the type-confusion battery.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { seededRng } from '../../src/core/random.ts';
import * as he from '../../src/he/index.ts';
import { confusionFailures } from '../_battery.ts';

let plan: he.AggregationPlan;
let ctx: he.HeContext;
let enc: he.VectorEncryptor;
let dec: he.VectorDecryptor;

beforeAll(async () => {
  plan = await he.planAggregation({ contributors: 100, bound: 4, fracBits: 8 });
  ctx = await he.createContext(plan.params);
  const keys = he.generateKeys(ctx, plan);
  enc = he.createEncryptor(ctx, plan, keys.publicKey);
  dec = await he.VectorDecryptor.open(keys.secretKey);
});

afterAll(() => {
  enc.dispose();
  dec.dispose();
  ctx.dispose();
});

describe('encryptAsync', () => {
  it('decrypts to what encrypt gives, and lets the event loop run between ciphertexts', async () => {
    // Several ciphertexts' worth, on the grid 2^-8 (exact through the codec), some beyond ±4 (clipped).
    const n = 6 * ctx.slots + 17;
    const rng = seededRng(11);
    const values = Float64Array.from({ length: n }, () => (Math.floor(rng.nextU32() / 2 ** 20) - 2048) / 256);
    const sync = enc.encrypt(values);
    let turns = 0;
    let ticking = true;
    const tick = () => {
      turns++;
      if (ticking) setImmediate(tick);
    };
    setImmediate(tick);
    const started = performance.now();
    const e = await enc.encryptAsync(values);
    const elapsed = performance.now() - started;
    ticking = false;
    expect(e.length).toBe(n);
    expect(e.chunks.length).toBe(sync.chunks.length);
    expect(e.clipped).toBe(sync.clipped);
    expect(e.clipped).toBeGreaterThan(0);
    expect(Array.from(dec.decrypt(e))).toEqual(Array.from(dec.decrypt(sync)));
    // At least one turn per 20 ms of work (the encryptor's yield interval), and at least one in all.
    expect(turns).toBeGreaterThanOrEqual(Math.max(1, Math.floor(elapsed / 20) - 1));
  });

  it('refuses bad input as encrypt does, and a disposed encryptor', async () => {
    const failures = await confusionFailures('encryptAsync', (v, o) => enc.encryptAsync(v, o), () => [new Float64Array(3), undefined], { accept: { 1: ['undefined', 'object'] } });
    expect(failures).toEqual([]);
    const other = he.createEncryptor(ctx, plan, (he.generateKeys(ctx, plan)).publicKey);
    other.dispose();
    await expect(other.encryptAsync(new Float64Array(3))).rejects.toMatchObject({ code: 'E_STATE' });
  });
});
