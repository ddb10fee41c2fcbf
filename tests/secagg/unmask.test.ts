/** The mask work (server regeneration, client masking) and batched signature checks: threads change nothing. */
import { describe, expect, it } from 'vitest';
import { isConfideError } from '../../src/core/errors.ts';
import { addMask } from '../../src/core/prg.ts';
import { randomBytes } from '../../src/core/random.ts';
import { Z32, Z64 } from '../../src/core/ring.ts';
import { generateIdentity } from '../../src/net/index.ts';
import { agree, LOW_ORDER_KEYS, signWith, usableKey, x25519FromSecret, x25519KeyPair, x25519Public } from '../../src/secagg/_crypto.ts';
import { MaskSum, partOf, regenerate, signedBatch, stopWorkers, verifyMany, warmWorkers, workersReady, type PairJobs } from '../../src/secagg/_unmask.ts';
import { pairSeed } from '../../src/secagg/client.ts';
import { shareValue } from '../../src/secagg/shamir.ts';
import { SECRET_FIELD } from '../../src/core/field.ts';
import { SecAggClient, type SecAggConfig } from '../../src/secagg/index.ts';
import { drive, expectedSum, inputs } from './_helpers.ts';

const sessionId = new Uint8Array(16).fill(9);
const round = 3;

/** n participants, the first `d` dropped, each paired with every one of the rest. */
function jobsFor(n: number, d: number) {
  const ids = randomBytes(32 * n);
  const pairs = Array.from({ length: n }, () => x25519KeyPair());
  const maskKeys = new Uint8Array(32 * n);
  pairs.forEach((p, i) => maskKeys.set(p.publicKey, 32 * i));
  const secretKeys = new Uint8Array(32 * d);
  const owner: number[] = [];
  const peer: number[] = [];
  for (let o = 0; o < d; o++) {
    secretKeys.set(pairs[o].secretKey, 32 * o);
    for (let w = d; w < n; w++) {
      owner.push(o);
      peer.push(w);
    }
  }
  const jobs: PairJobs = { secretKeys, dropped: Uint32Array.from({ length: d }, (_, i) => i), owner: Uint32Array.from(owner), peer: Uint32Array.from(peer), ids, maskKeys };
  return { jobs, pairs, ids };
}

describe('regenerate', () => {
  it('removes exactly the masks the survivors added, by the rule of the protocol', () => {
    const { jobs, pairs, ids } = jobsFor(5, 2);
    const v = new Uint32Array(1000);
    // What the survivors added: +PRG(s_vw) when w's index is above v's (it always is here).
    for (let o = 0; o < 2; o++)
      for (let w = 2; w < 5; w++) {
        const s = agree(pairs[w].privateKey, x25519Public(pairs[o].publicKey))!;
        addMask(v, pairSeed(s, sessionId, round, ids.subarray(32 * o, 32 * o + 32), ids.subarray(32 * w, 32 * w + 32)), 1);
      }
    expect(v.some((x) => x !== 0)).toBe(true);
    expect(regenerate(v, jobs, sessionId, round, 1)).toBe(0);
    expect(Array.from(v).every((x) => x === 0)).toBe(true);
  });

  it('the sum with worker threads equals the single-thread sum, and the workers did their parts', async () => {
    warmWorkers(3);
    expect(await workersReady()).toBeGreaterThanOrEqual(2);
    const { jobs } = jobsFor(12, 4);
    const base = Z32.zeros(5000) as Uint32Array;
    for (let i = 0; i < base.length; i++) base[i] = (i * 2654435761) >>> 0;
    const one = base.slice();
    const three = base.slice();
    expect(regenerate(one, jobs, sessionId, round, 1)).toBe(0);
    expect(regenerate(three, jobs, sessionId, round, 3)).toBe(2);
    expect(Array.from(three)).toEqual(Array.from(one));
    expect(Array.from(one)).not.toEqual(Array.from(base));
  });

  it('a worker still starting: the calling thread takes back the chunks it has not started, and the sum is the same', async () => {
    await stopWorkers();
    const { jobs } = jobsFor(14, 4); // 40 pairs: the worker's share is 8 chunks
    const one = new Uint32Array(2000).map((_, i) => i * 3);
    const two = one.slice();
    regenerate(one, jobs, sessionId, round, 1);
    // The worker is started by this call and loads while the calling thread does its own part.
    const byWorkers = regenerate(two, jobs, sessionId, round, 2);
    expect(byWorkers).toBeLessThanOrEqual(1);
    expect(Array.from(two)).toEqual(Array.from(one));
    // It stays usable: once ready it does its share.
    expect(await workersReady()).toBe(1);
    const three = one.slice().fill(0);
    const want = new Uint32Array(2000);
    regenerate(want, jobs, sessionId, round, 1);
    expect(regenerate(three, jobs, sessionId, round, 2)).toBe(1);
    expect(Array.from(three)).toEqual(Array.from(want));
  });

  it('64-bit vectors: the threaded sum equals the single-thread sum', () => {
    const { jobs } = jobsFor(6, 2);
    const one = new BigUint64Array(300).fill(7n);
    const two = one.slice();
    regenerate(one, jobs, sessionId, round, 1);
    expect(regenerate(two, jobs, sessionId, round, 2)).toBe(1);
    expect(Array.from(two)).toEqual(Array.from(one));
  });

  it('a low-order survivor key fails the round with E_PROTOCOL, threaded or not', () => {
    const { jobs } = jobsFor(6, 2);
    jobs.maskKeys.fill(0, 32 * 5, 32 * 6); // u = 0: the all-zero shared secret, refused
    for (const threads of [1, 2]) {
      let err: unknown;
      try {
        regenerate(new Uint32Array(64), jobs, sessionId, round, threads);
      } catch (e) {
        err = e;
      }
      expect(isConfideError(err, 'E_PROTOCOL')).toBe(true);
    }
  });
});

describe('shareValue', () => {
  it('reads the same integer as the field decoder, including values at and above p', () => {
    const p = SECRET_FIELD.p;
    for (const v of [0n, 1n, p - 1n, (1n << 256n) - 1n, 0xdeadbeefn << 200n]) {
      const b = new Uint8Array(40);
      b.set(SECRET_FIELD.toBytes(v), 3);
      expect(shareValue(b, 3)).toBe(SECRET_FIELD.fromBytes(b.subarray(3, 36)));
    }
    const top = new Uint8Array(33).fill(0xff);
    expect(shareValue(top, 0)).toBe((1n << 264n) - 1n);
  });
});

describe('a whole round with threads', () => {
  it('dropouts after sharing keys: the threaded server sums exactly, like the single-thread one', () => {
    const n = 12;
    const config: SecAggConfig = { length: 2000, bits: 32, fracBits: 0, bound: 1000, threshold: 7, graph: 'complete' };
    const xs = inputs(n, 2000, 31);
    const identities = Array.from({ length: n }, () => generateIdentity());
    const leave = (step: string, i: number, m: unknown) => (step === 'masked' && i % 4 === 1 ? undefined : m);
    const sums = [1, 3].map((threads) => {
      const r = drive(config, xs, { identities, threads, tamper: leave as never });
      expect(r.error).toBeUndefined();
      expect(r.server.dropped.masked).toHaveLength(3);
      return r.output!;
    });
    const want = Array.from(expectedSum(xs, (i) => i % 4 !== 1));
    expect(Array.from(sums[0].values)).toEqual(want);
    expect(Array.from(sums[1].values)).toEqual(want);
  });

  it('refuses a bad thread count', () => {
    expect(() => drive({ length: 4, bits: 32, fracBits: 0, bound: 10, threshold: 2, graph: 'complete' }, inputs(3, 4, 1), { threads: 0 })).toThrow(/threads/);
  });
});

describe('usableKey (the low-order table)', () => {
  const probe = x25519FromSecret(new Uint8Array(32).fill(7));
  const agrees = (k: Uint8Array) => agree(probe.privateKey, x25519Public(k)) !== undefined;

  it('refuses every listed key, with bit 255 clear or set, exactly where node:crypto refuses the agreement', () => {
    for (const h of LOW_ORDER_KEYS)
      for (const top of [0, 0x80]) {
        const k = new Uint8Array(Buffer.from(h, 'hex'));
        k[31] |= top;
        expect(usableKey(k)).toBe(false);
        expect(agrees(k)).toBe(false);
      }
  });

  it('accepts fresh keys, small u-coordinates and non-canonical encodings that node:crypto agrees with', () => {
    const keys: Uint8Array[] = Array.from({ length: 200 }, () => x25519KeyPair().publicKey);
    for (let u = 2; u < 300; u++) keys.push(Uint8Array.from({ length: 32 }, (_, i) => (i === 0 ? u & 255 : i === 1 ? u >> 8 : 0)));
    const p = (1n << 255n) - 19n;
    for (let d = 2n; d < 19n; d++) {
      let x = p + d;
      keys.push(Uint8Array.from({ length: 32 }, () => {
        const b = Number(x & 255n);
        x >>= 8n;
        return b;
      }));
    }
    for (const k of keys) {
      expect(agrees(k)).toBe(true);
      expect(usableKey(k)).toBe(true);
    }
  });
});

describe('self masks, parts and the accumulator', () => {
  it('self seeds are subtracted by default and added with selfSign 1, threaded or not', () => {
    const { jobs } = jobsFor(6, 2);
    const seeds = randomBytes(32 * 3);
    const want = new Uint32Array(777).map((_, i) => i * 7);
    const base = want.slice();
    for (let k = 0; k < 3; k++) addMask(want, seeds.subarray(32 * k, 32 * k + 32), -1);
    regenerate(want, jobs, sessionId, round, 1);
    for (const threads of [1, 2, 3]) {
      const got = base.slice();
      regenerate(got, { ...jobs, selfSeeds: seeds.slice() }, sessionId, round, threads);
      expect(Array.from(got)).toEqual(Array.from(want));
    }
    // selfSign 1 adds them: the round trip leaves only the pair masks.
    const back = base.slice();
    regenerate(back, { ...jobs, peer: new Uint32Array(0), owner: new Uint32Array(0), selfSeeds: seeds.slice() }, sessionId, round, 2);
    regenerate(back, { ...jobs, peer: new Uint32Array(0), owner: new Uint32Array(0), selfSeeds: seeds.slice(), selfSign: 1 }, sessionId, round, 1);
    expect(Array.from(back)).toEqual(Array.from(base));
  });

  it('a part carries only the secrets of its own units, and the parts sum to the whole', () => {
    const { jobs } = jobsFor(9, 3); // 3 owners × 6 peers = 18 pairs
    const all = { ...jobs, selfSeeds: randomBytes(32 * 4) };
    const units = 4 + 18;
    const whole = new Uint32Array(300);
    regenerate(whole, { ...all, selfSeeds: all.selfSeeds.slice() }, sessionId, round, 1);
    for (const cut of [0, 3, 4, 5, 10, 16, units]) {
      const a = partOf(all, 0, cut);
      const b = partOf(all, cut, units);
      const seenOwners = (p: PairJobs) => new Set(Array.from(p.owner, (o) => p.dropped[o]));
      for (const p of [a, b]) {
        // Exactly the keys of the owners its pairs name, each the owner's own key.
        expect(p.secretKeys.length).toBe(32 * seenOwners(p).size);
        p.dropped.forEach((v, l) => expect(Buffer.from(p.secretKeys.subarray(32 * l, 32 * l + 32))).toEqual(Buffer.from(jobs.secretKeys.subarray(32 * v, 32 * v + 32))));
      }
      expect(a.selfSeeds!.length + b.selfSeeds!.length).toBe(32 * 4);
      expect(a.peer.length + b.peer.length).toBe(18);
      const v = new Uint32Array(300);
      regenerate(v, a, sessionId, round, 1);
      regenerate(v, b, sessionId, round, 1);
      expect(Array.from(v)).toEqual(Array.from(whole));
    }
  });

  it('MaskSum adds vectors and masks in WASM memory like the plain ring ops, 32 and 64 bits', () => {
    for (const bits of [32, 64] as const) {
      const n = 1000 + 3;
      const seed = randomBytes(32);
      const y = bits === 32 ? new Uint32Array(n).map((_, i) => i * 2654435761) : new BigUint64Array(n).map((_, i) => BigInt(i) * 0x9e3779b97f4a7c15n);
      const want = y.slice() as typeof y;
      (bits === 32 ? Z32 : Z64).add(want as never, y as never, want as never);
      addMask(want, seed, -1);
      const s = new MaskSum(bits, n);
      try {
        s.add(y);
        s.add(y);
        s.mask(seed, -1);
        const out = y.slice() as typeof y;
        s.copyTo(out);
        expect(Array.from(out as ArrayLike<number | bigint>)).toEqual(Array.from(want as ArrayLike<number | bigint>));
      } finally {
        s.free();
      }
    }
  });
});

  it('MaskSum.mask equals addMask across keystream chunks (2^16 words), both signs, 32 and 64 bits', () => {
    // Lengths around the 256 KiB chunk of OpenSSL keystream (65,536 words of 32 bits, 32,768 of 64).
    for (const bits of [32, 64] as const)
      for (const n of [1, 17, 32_767, 32_768, 32_769, 65_536, 65_537, 140_001])
        for (const sign of [1, -1] as const) {
          const seed = randomBytes(32);
          const y = bits === 32 ? new Uint32Array(n).map((_, i) => i * 2654435761) : new BigUint64Array(n).map((_, i) => (BigInt(i) * 0x9e3779b97f4a7c15n) & (2n ** 64n - 1n));
          const want = y.slice() as typeof y;
          addMask(want, seed, sign);
          addMask(want, seed, sign); // the same mask twice: no state carried between masks
          const s = new MaskSum(bits, n);
          try {
            s.add(y);
            s.mask(seed, sign);
            s.mask(seed, sign);
            const out = y.slice() as typeof y;
            s.copyTo(out);
            const same = Buffer.from(out.buffer, out.byteOffset, out.byteLength).equals(Buffer.from(want.buffer, want.byteOffset, want.byteLength));
            expect(same, `bits ${bits}, n ${n}, sign ${sign}`).toBe(true);
          } finally {
            s.free();
          }
        }
  });

  it('x25519Public (imported as JWK) is the key of the raw bytes: agreements match both ways', () => {
    for (let k = 0; k < 8; k++) {
      const a = x25519KeyPair();
      const b = x25519KeyPair();
      const ab = agree(a.privateKey, x25519Public(b.publicKey))!;
      const ba = agree(b.privateKey, x25519Public(a.publicKey))!;
      expect(Buffer.from(ab).equals(Buffer.from(ba))).toBe(true);
      expect(x25519FromSecret(a.secretKey).publicKey).toEqual(a.publicKey);
    }
  });

describe('verifyMany', () => {
  const signers = Array.from({ length: 3 }, () => generateIdentity());
  const items = Array.from({ length: 200 }, (_, k) => {
    const id = signers[k % 3];
    const data = randomBytes(10 + (k % 50));
    return { key: id.publicKey, data, sig: signWith(id.privateKey, data) };
  });

  it('finds every bad signature, key or datum at any position, on one thread or several', () => {
    const bad = new Set([0, 63, 64, 127, 128, 199]);
    const tampered = items.map((it, k) => {
      if (!bad.has(k)) return it;
      if (k % 3 === 0) return { ...it, sig: Uint8Array.from(it.sig, (b, i) => (i === 5 ? b ^ 1 : b)) };
      if (k % 3 === 1) return { ...it, key: signers[(k + 1) % 3].publicKey };
      return { ...it, data: Uint8Array.from(it.data, (b, i) => (i === 0 ? b ^ 0x80 : b)) };
    });
    // Malformed lengths never verify (and never throw).
    tampered[100] = { ...tampered[100], sig: tampered[100].sig.subarray(0, 63) };
    bad.add(100);
    warmWorkers(3);
    for (const threads of [1, 2, 3]) {
      const ok = verifyMany(signedBatch(tampered), threads);
      expect(Array.from(ok).flatMap((v, k) => (v === 1 ? [] : [k]))).toEqual([...bad].sort((a, b) => a - b));
    }
  });
});

describe('clients with threads', () => {
  it('mask with worker threads to the same exact sum, with dropouts', () => {
    const n = 8;
    const config: SecAggConfig = { length: 3000, bits: 64, fracBits: 0, bound: 1000, threshold: 5, graph: 'complete' };
    const xs = inputs(n, 3000, 77);
    const leave = (step: string, i: number, m: unknown) => (step === 'masked' && i === 2 ? undefined : m);
    const r = drive(config, xs, { clientThreads: 3, threads: 2, tamper: leave as never });
    expect(r.error).toBeUndefined();
    expect(Array.from(r.output!.values)).toEqual(Array.from(expectedSum(xs, (i) => i !== 2)));
  });

  it('refuses a bad thread count', () => {
    const config: SecAggConfig = { length: 4, bits: 32, fracBits: 0, bound: 10, threshold: 2, graph: 'complete' };
    for (const threads of [0, 1.5, -1, 65, '2', NaN])
      expect(() => new SecAggClient({ identity: generateIdentity(), sessionId: new Uint8Array(16), round: 0, config, input: new Float64Array(4), threads: threads as never })).toThrow(/threads/);
  });
});
