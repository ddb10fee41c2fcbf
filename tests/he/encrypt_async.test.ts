/**
 * VectorEncryptor.encryptAsync: the same ciphertexts' contents as encrypt,
 * and the event loop gets turns while a long vector is encrypted (a process
 * encrypting must keep answering heartbeats; bench/fl found a client blocked
 * for 15 s). Also the type-confusion battery.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { seededRng } from '../../src/core/random.ts';
import * as he from '../../src/he/index.ts';
import { confusionFailures } from '../_battery.ts';
import { useHeKeys } from './_keys.ts';

let plan: he.AggregationPlan;
let ctx: he.HeContext;
let enc: he.VectorEncryptor;
let dec: he.VectorDecryptor;

const fixture = useHeKeys({ contributors: 100, bound: 4, fracBits: 8 });
beforeAll(() => void ({ plan, ctx, enc, dec } = fixture));

describe('encryptAsync', () => {
  it('decrypts to what encrypt gives, and lets the event loop run between ciphertexts', async () => {
    // 40 ciphertexts' worth (well over the 20 ms between yields on any machine: each BFV encryption takes
    // milliseconds), on the grid 2^-8 (exact through the codec), some beyond ±4 (clipped).
    const n = 40 * ctx.slots + 17;
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
    const e = await enc.encryptAsync(values);
    const during = turns;
    ticking = false;
    expect(e.length).toBe(n);
    expect(e.chunks.length).toBe(sync.chunks.length);
    expect(e.clipped).toBe(sync.clipped);
    expect(e.clipped).toBeGreaterThan(0);
    expect(Array.from(dec.decrypt(e))).toEqual(Array.from(dec.decrypt(sync)));
    // The event loop ran while the vector was being encrypted (a synchronous encryption gives it no turn at all).
    expect(during).toBeGreaterThanOrEqual(1);
  });

  it('refuses bad input as encrypt does, and a disposed encryptor', async () => {
    const failures = await confusionFailures('encryptAsync', (v, o) => enc.encryptAsync(v, o), () => [new Float64Array(3), undefined], { accept: { 1: ['undefined', 'object'] } });
    expect(failures).toEqual([]);
    const other = he.createEncryptor(ctx, plan, (he.generateKeys(ctx, plan)).publicKey);
    other.dispose();
    await expect(other.encryptAsync(new Float64Array(3))).rejects.toMatchObject({ code: 'E_STATE' });
  });
});
