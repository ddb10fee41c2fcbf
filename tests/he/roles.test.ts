/**
 * The three roles over the in-memory party runtime: a full aggregation, a
 * dropout, a refused contribution, a decryptor that refuses an aggregate of
 * fewer than K contributors (asked by a rogue aggregator), and a client that
 * refuses a key bundle the decryptor did not sign.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { ConfideError } from '../../src/core/errors.ts';
import { FixedPoint } from '../../src/core/fixedpoint.ts';
import { seededRng } from '../../src/core/random.ts';
import * as he from '../../src/he/index.ts';
import { generateIdentity, join, memoryTransport, serve, type Identity } from '../../src/net/index.ts';

let plan: he.AggregationPlan;
let keys: he.HeKeyPair;

beforeAll(async () => {
  plan = await he.planAggregation({ contributors: 16, bound: 10 });
  using ctx = await he.createContext(plan.params);
  keys = he.generateKeys(ctx, plan);
});

async function setup(nClients: number) {
  const transport = memoryTransport();
  const aggregator = generateIdentity();
  const decryptor = generateIdentity();
  const clients = Array.from({ length: nClients }, () => generateIdentity());
  const server = await serve({ transport, identity: aggregator, allow: [decryptor.id, ...clients.map((c) => c.id)] });
  const dParty = await join({ transport, address: server.address, identity: decryptor, serverId: server.id });
  const cParties = await Promise.all(clients.map((identity) => join({ transport, address: server.address, identity, serverId: server.id })));
  const close = async () => {
    await Promise.all([dParty.close(), ...cParties.map((p) => p.close())]);
    await server.close();
  };
  return { server, aggregator, decryptor, clients, dParty, cParties, close };
}

function vector(i: number, n: number): Float64Array {
  return Float64Array.from({ length: n }, (_, k) => Math.sin(k * (i + 1)) * 9);
}

describe('roles in memory', () => {
  it('clients, aggregator and decryptor compute the exact fixed-point sum; the decryptor sees only a masked aggregate', async () => {
    const s = await setup(5);
    const n = 8192 + 100; // two ciphertexts per vector
    const requests: he.DecryptRequest[] = [];
    const decrypting = he.runDecryptor({ party: s.dParty, identity: s.decryptor, ...keys, minContributors: 3, timeoutMs: 20_000, onRequest: (r) => requests.push(r) });
    const clientRuns = s.cParties.map((party, i) =>
      he.runClient({ party, decryptor: s.decryptor.id, values: vector(i, n), timeoutMs: 20_000, rng: seededRng(i) }),
    );
    const result = await he.runAggregator({ server: s.server, decryptor: s.decryptor.id, clients: s.clients.map((c) => c.id), minContributors: 3, deadlineMs: 20_000 });
    const clientResults = await Promise.all(clientRuns);
    await decrypting;

    // The exact sum of what the clients encoded (same rounding randomness).
    const fp = new FixedPoint({ bits: 64, fracBits: plan.fracBits, bound: plan.bound });
    const expected = new Float64Array(n);
    for (let i = 0; i < 5; i++) {
      const d = fp.decode(fp.encode(vector(i, n), { rng: seededRng(i) }).data);
      for (let k = 0; k < n; k++) expected[k] += d[k];
    }
    expect(Array.from(result.sum)).toEqual(Array.from(expected));
    expect(result.contributors.sort()).toEqual(s.clients.map((c) => c.id).sort());
    expect(result.dropped).toEqual([]);
    for (const c of clientResults) {
      expect(Array.from(c.sum!)).toEqual(Array.from(expected));
      expect(c.contributors).toBe(5);
      expect(c.bytesSent / n).toBeLessThan(33); // 2 × 131 kB for 8,292 values (the second chunk mostly padding)
    }

    // The decryptor got one request, of 5 contributors, whose plaintext is not the sum.
    expect(requests).toHaveLength(1);
    const [req] = requests;
    expect(req.refused).toBeUndefined();
    expect(req.contributors).toBe(5);
    expect(req.from).toBe(s.server.id);
    const opened = await he.openPublicKey(keys.publicKey);
    const t = Number(opened.context.plainModulus);
    opened.context.dispose();
    const scale = 2 ** plan.fracBits;
    let same = 0;
    for (let k = 0; k < n; k++) {
      const enc = Math.round(expected[k] * scale);
      if (Number(req.residues![k]) === (enc < 0 ? enc + t : enc)) same++;
    }
    expect(same).toBeLessThan(5); // a uniform mask hits the sum with probability 1/t per value
    await s.close();
  });

  it('a dropout and a malformed contribution leave the others in the sum', async () => {
    const s = await setup(5);
    const n = 10;
    const events: he.HeEvent[] = [];
    const decrypting = he.runDecryptor({ party: s.dParty, identity: s.decryptor, ...keys, minContributors: 3, timeoutMs: 20_000 });
    const honest = [0, 1, 2].map((i) => he.runClient({ party: s.cParties[i], decryptor: s.decryptor.id, values: Float64Array.from({ length: n }, () => i + 1), timeoutMs: 20_000 }));
    // Client 3 sends garbage; client 4 leaves without sending.
    const rogue = (async () => {
      await s.cParties[3].receive(2, { from: s.server.id, timeoutMs: 20_000 });
      await s.cParties[3].send(s.server.id, 3, { header: { kind: 'he-input' }, payloads: [new Uint8Array(100)] });
    })();
    await s.cParties[4].close();
    const result = await he.runAggregator({
      server: s.server, decryptor: s.decryptor.id, clients: s.clients.map((c) => c.id), minContributors: 3, deadlineMs: 20_000, on: (e) => events.push(e),
    });
    await rogue;
    await Promise.all(honest);
    await decrypting;
    expect(Array.from(result.sum)).toEqual(new Array(n).fill(6));
    expect(result.contributors.sort()).toEqual([0, 1, 2].map((i) => s.clients[i].id).sort());
    expect(result.refused.map((x) => x.party)).toEqual([s.clients[3].id]);
    expect(result.dropped).toEqual([s.clients[4].id]);
    expect(events.some((e) => e.type === 'refused' && e.party === s.clients[3].id)).toBe(true);
    await s.close();
  });

  it('with workers: 2 the aggregator sums in a pool: the same exact sum, a malformed contribution still refused', async () => {
    const s = await setup(4);
    const n = 8192 + 100;
    const decrypting = he.runDecryptor({ party: s.dParty, identity: s.decryptor, ...keys, minContributors: 3, timeoutMs: 20_000 });
    const honest = [0, 1, 2].map((i) => he.runClient({ party: s.cParties[i], decryptor: s.decryptor.id, values: vector(i, n), timeoutMs: 20_000, rng: seededRng(i) }));
    // Client 3 sends a ciphertext whose SEAL bytes are corrupt: a worker refuses it.
    const rogue = (async () => {
      const k = await s.cParties[3].receive(2, { from: s.server.id, timeoutMs: 20_000 });
      using enc = await he.VectorEncryptor.open(k.payloads[0] as Uint8Array);
      const bad = enc.encrypt(vector(3, n)).chunks;
      bad[1].fill(0xff, bad[1].length - 64);
      await s.cParties[3].send(s.server.id, 3, { header: { kind: 'he-input' }, payloads: bad });
    })();
    const result = await he.runAggregator({ server: s.server, decryptor: s.decryptor.id, clients: s.clients.map((c) => c.id), minContributors: 3, deadlineMs: 20_000, workers: 2 });
    await Promise.all([...honest, rogue, decrypting]);
    const fp = new FixedPoint({ bits: 64, fracBits: plan.fracBits, bound: plan.bound });
    const expected = new Float64Array(n);
    for (let i = 0; i < 3; i++) {
      const d = fp.decode(fp.encode(vector(i, n), { rng: seededRng(i) }).data);
      for (let k = 0; k < n; k++) expected[k] += d[k];
    }
    expect(Array.from(result.sum)).toEqual(Array.from(expected));
    expect(result.contributors.sort()).toEqual([0, 1, 2].map((i) => s.clients[i].id).sort());
    expect(result.refused.map((x) => x.party)).toEqual([s.clients[3].id]);
    expect(result.refused[0].reason).toMatch(/SEAL refused to load/);
    await s.close();
  });

  it('the decryptor refuses an aggregate of fewer than K contributors, and never returns its plaintext', async () => {
    const s = await setup(1);
    const requests: he.DecryptRequest[] = [];
    const decrypting = he.runDecryptor({ party: s.dParty, identity: s.decryptor, ...keys, minContributors: 3, timeoutMs: 20_000, onRequest: (r) => requests.push(r) });
    // A rogue aggregator: takes the bundle, then asks to decrypt one client's ciphertext as "1 contributor".
    const k = await s.server.receive(1, { from: s.decryptor.id, timeoutMs: 20_000 });
    using enc = await he.VectorEncryptor.open(k.payloads[0] as Uint8Array);
    const single = enc.encrypt(Float64Array.from([1, 2, 3]));
    await s.server.send(s.decryptor.id, 4, { header: { kind: 'he-decrypt', contributors: 1 }, payloads: [Buffer.from(s.clients[0].id, 'hex'), ...single.chunks] });
    const reply = await s.server.receive(5, { from: s.decryptor.id, timeoutMs: 20_000 });
    expect(reply.header.ok).toBe(false);
    expect(reply.header.reason).toMatch(/at least 3/);
    expect(reply.payloads).toEqual([]);
    const req = await decrypting;
    expect(req.refused).toMatch(/at least 3/);
    expect(req.residues).toBeUndefined();
    expect(requests).toHaveLength(1);
    await s.close();
  });

  it('the decryptor refuses a count that repeats a party or disagrees with the ciphertexts', async () => {
    const s = await setup(1);
    const decrypting = he.runDecryptor({ party: s.dParty, identity: s.decryptor, ...keys, minContributors: 2, timeoutMs: 20_000 });
    const k = await s.server.receive(1, { from: s.decryptor.id, timeoutMs: 20_000 });
    using enc = await he.VectorEncryptor.open(k.payloads[0] as Uint8Array);
    const single = enc.encrypt(Float64Array.from([1]));
    const id = Buffer.from(s.clients[0].id, 'hex');
    await s.server.send(s.decryptor.id, 4, { header: { kind: 'he-decrypt', contributors: 2 }, payloads: [Buffer.concat([id, id]), ...single.chunks] });
    expect((await decrypting).refused).toMatch(/repeats/);
    await s.close();
  });

  it('a client refuses a key bundle that the decryptor did not sign', async () => {
    const s = await setup(1);
    const impostor: Identity = generateIdentity();
    const client = he.runClient({ party: s.cParties[0], decryptor: s.decryptor.id, values: new Float64Array(4), timeoutMs: 20_000 });
    await s.server.send(s.clients[0].id, 2, { header: { kind: 'he-keys', signature: he.signKeyBundle(impostor, keys.publicKey) }, payloads: [keys.publicKey] });
    await expect(client).rejects.toSatisfy((e: unknown) => e instanceof ConfideError && e.code === 'E_CRYPTO');
    expect(he.verifyKeyBundle(s.decryptor.id, keys.publicKey, he.signKeyBundle(s.decryptor, keys.publicKey))).toBe(true);
    await s.close();
  });

  it('argument checks', async () => {
    const s = await setup(1);
    const bad = (o: object) => he.runAggregator({ server: s.server, decryptor: s.decryptor.id, clients: [s.clients[0].id], minContributors: 1, deadlineMs: 100, ...o } as he.AggregatorOptions);
    for (const o of [{ minContributors: 2 }, { decryptor: 'x' }, { clients: [] }, { deadlineMs: -1 }, { server: {} }, { extra: 1 }, { workers: 0 }, { workers: 1.5 }])
      await expect(bad(o)).rejects.toBeInstanceOf(ConfideError);
    await expect(he.runClient({ party: s.cParties[0], decryptor: s.decryptor.id, values: [1] as unknown as Float64Array, timeoutMs: 10 })).rejects.toBeInstanceOf(ConfideError);
    await s.close();
  });
});
