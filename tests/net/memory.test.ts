/**
 * Protocol behaviour on the in-memory backend: multi-round collection,
 * broadcast, relayed party-to-party messages, deadlines and dropouts,
 * reconnection, heartbeats, backpressure, buffer limits, admission (allow-list,
 * token, pinned server) and the type-confusion battery on the public API.
 */
import { describe, expect, it } from 'vitest';
import { ConfideError, isConfideError } from '../../src/core/errors.ts';
import {
  HIGH_WATER_BYTES,
  generateIdentity,
  join,
  memoryTransport,
  serve,
  webSocketTransport,
  type Party,
} from '../../src/net/index.ts';
import { confusionFailures } from '../_battery.ts';
import { eventually, of, session } from './_helpers.ts';

async function rejection(p: Promise<unknown>): Promise<ConfideError> {
  try {
    await p;
  } catch (e) {
    if (e instanceof ConfideError) return e;
    throw e;
  }
  throw new Error('expected a rejection');
}

describe('rounds', () => {
  it('runs three rounds: collect from every party, broadcast the sum, relay between parties', async () => {
    const s = await session(4);
    const ids = s.parties.map((p) => p.id);
    for (const p of s.parties) {
      expect(p.sessionId).toEqual(s.server.sessionId);
      expect(p.serverId).toBe(s.server.id);
    }
    s.server.sessionId.fill(0); // a copy: the session is unchanged
    expect(s.server.sessionId).toEqual(s.parties[0].sessionId);
    const inputs = s.parties.map((_, i) => Float32Array.from({ length: 1000 }, (_, k) => i + k));
    let sum = new Float32Array(1000);
    for (let round = 1; round <= 3; round++) {
      await Promise.all(s.parties.map((p, i) => p.send(p.serverId, round, { header: { round }, payloads: [inputs[i]] })));
      const r = await s.server.collect(round, { deadlineMs: 5000 });
      expect(r.dropped).toEqual([]);
      expect([...r.messages.keys()].sort()).toEqual([...ids].sort());
      sum = new Float32Array(1000);
      for (const m of r.messages.values()) {
        expect(m.round).toBe(round);
        expect(m.to).toBe(s.server.id);
        const v = m.payloads[0] as Float32Array;
        for (let k = 0; k < v.length; k++) sum[k] += v[k];
      }
      expect(await s.server.broadcast(round, { header: { kind: 'sum' }, payloads: [sum] })).toHaveLength(4);
      for (const p of s.parties) {
        const m = await p.receive(round, { from: s.server.id, timeoutMs: 5000 });
        expect(Array.from((m.payloads[0] as Float32Array).subarray(0, 3))).toEqual([6, 10, 14]);
      }
    }
    // Party 0 to party 3 through the server, with the sender's identity intact.
    await s.parties[0].send(ids[3], 7, { header: { secret: 'share' }, payloads: [new Uint32Array([1, 2, 3])] });
    const m = await s.parties[3].receive(7, { timeoutMs: 5000 });
    expect(m.from).toBe(ids[0]);
    expect(m.header.secret).toBe('share');
    expect(Array.from(m.payloads[0] as Uint32Array)).toEqual([1, 2, 3]);
    // Events: joins, round starts and ends, bytes in and out.
    expect(of(s.serverEvents, 'join')).toHaveLength(4);
    expect(of(s.serverEvents, 'round-start').map((e) => e.round)).toEqual([1, 2, 3]);
    expect(of(s.serverEvents, 'round-end').map((e) => e.received)).toEqual([4, 4, 4]);
    const bytesIn = of(s.serverEvents, 'bytes').filter((e) => e.direction === 'in');
    expect(bytesIn.length).toBe(13);
    expect(bytesIn[0].bytes).toBeGreaterThan(4000);
    await s.close();
  });

  it('reports a silent party as dropped at the deadline; its late message is discarded with an event', async () => {
    const s = await session(3);
    await s.parties[0].send(s.parties[0].serverId, 1, { header: { x: 1 }, payloads: [] });
    await s.parties[1].send(s.parties[1].serverId, 1, { header: { x: 2 }, payloads: [] });
    const r = await s.server.collect(1, { deadlineMs: 200 });
    expect(r.messages.size).toBe(2);
    expect(r.dropped).toEqual([s.parties[2].id]);
    expect(of(s.serverEvents, 'round-end')[0].dropped).toEqual([s.parties[2].id]);
    await s.parties[2].send(s.parties[2].serverId, 1, { header: { x: 3 }, payloads: [] });
    await eventually(() => of(s.serverEvents, 'late').length === 1);
    expect(of(s.serverEvents, 'late')[0]).toEqual({ type: 'late', party: s.parties[2].id, round: 1 });
    // The slow party is still in the session and takes part in the next round.
    await Promise.all(s.parties.map((p) => p.send(p.serverId, 2, { header: {}, payloads: [] })));
    expect((await s.server.collect(2, { deadlineMs: 5000 })).dropped).toEqual([]);
    await expect(s.server.collect(2, { deadlineMs: 10 })).rejects.toThrow(/already collected/);
    await s.close();
  });

  it('collect hands each message to onMessage as it arrives, while the round is still open', async () => {
    const s = await session(3);
    const seen: [string, unknown][] = [];
    const pending = s.server.collect(1, { deadlineMs: 5000, onMessage: (from, m) => void seen.push([from, m.header.x]) });
    // Sent one at a time: each is seen before the next is sent, and before the round ends.
    for (const i of [2, 0, 1]) {
      await s.parties[i].send(s.parties[i].serverId, 1, { header: { x: i }, payloads: [] });
      await eventually(() => seen.length === [2, 0, 1].indexOf(i) + 1);
    }
    const r = await pending;
    expect(seen).toEqual([2, 0, 1].map((i) => [s.parties[i].id, i]));
    expect([...r.messages.keys()].sort()).toEqual(s.parties.map((p) => p.id).sort());
    // A message of a closed round never reaches the callback.
    await s.parties[0].send(s.parties[0].serverId, 1, { header: { x: 9 }, payloads: [] });
    await eventually(() => of(s.serverEvents, 'late').length === 1);
    expect(seen.length).toBe(3);
    await s.close();
  });

  it('collect rejects with what onMessage throws and closes the round', async () => {
    const s = await session(2);
    const boom = new Error('boom');
    const pending = s.server.collect(1, { deadlineMs: 5000, onMessage: () => { throw boom; } });
    await s.parties[0].send(s.parties[0].serverId, 1, { header: {}, payloads: [] });
    await expect(pending).rejects.toBe(boom);
    await expect(s.server.collect(1, { deadlineMs: 10 })).rejects.toThrow(/already collected/);
    await expect(s.server.collect(2, { deadlineMs: 10, onMessage: 'no' as never })).rejects.toMatchObject({ code: 'E_BAD_INPUT', field: 'onMessage' });
    await s.close();
  });

  it('ends a round early when the missing parties leave, and reports them', async () => {
    const s = await session(3);
    await s.parties[0].send(s.parties[0].serverId, 1, { header: {}, payloads: [] });
    const pending = s.server.collect(1, { deadlineMs: 60_000 });
    await s.parties[1].close();
    await s.parties[2].close();
    const r = await pending;
    expect(r.messages.size).toBe(1);
    expect(r.dropped.sort()).toEqual([s.parties[1].id, s.parties[2].id].sort());
    expect(of(s.serverEvents, 'drop').map((e) => e.reason)).toEqual(['left: party closed', 'left: party closed']);
    expect(s.server.parties()).toEqual([s.parties[0].id]);
    // Sending to a party that left is a dropout, not an error.
    expect(await s.server.send(s.parties[1].id, 2, { header: {}, payloads: [] })).toBe(false);
    await expect(s.parties[1].send(s.parties[1].serverId, 2, { header: {}, payloads: [] })).rejects.toThrow(/closed/);
    await s.close();
  });

  it('receive times out with E_TIMEOUT; waits are rejected with E_STATE when the server closes', async () => {
    const s = await session(1);
    const e = await rejection(s.parties[0].receive(1, { timeoutMs: 30 }));
    expect(e.code).toBe('E_TIMEOUT');
    const waiting = rejection(s.server.receive(1, { timeoutMs: 60_000 }));
    const collecting = rejection(s.server.collect(2, { deadlineMs: 60_000, from: [generateIdentity().id] }));
    await s.server.close();
    expect((await waiting).code).toBe('E_STATE');
    expect((await collecting).code).toBe('E_STATE');
    // The party hears the server leave.
    await eventually(() => of(s.partyEvents[0], 'drop').length === 1);
    expect(of(s.partyEvents[0], 'drop')[0].reason).toBe('server closed');
    await s.close();
  });
});

describe('reconnection and heartbeats', () => {
  it('a party whose link is cut reconnects with the same identity and its messages count in the round', async () => {
    const s = await session(2);
    const round = s.server.collect(1, { deadlineMs: 10_000 });
    s.transport.links[0].close('cable pulled');
    await eventually(() => of(s.serverEvents, 'disconnect').length === 1);
    // Sent while away: queued at the server and delivered after the party is back.
    expect(await s.server.send(s.parties[0].id, 1, { header: { queued: true }, payloads: [] })).toBe(true);
    await eventually(() => of(s.serverEvents, 'join').some((e) => e.resumed));
    await Promise.all(s.parties.map((p) => p.send(p.serverId, 1, { header: {}, payloads: [] })));
    const r = await round;
    expect(r.dropped).toEqual([]);
    expect(r.messages.size).toBe(2);
    expect((await s.parties[0].receive(1, { timeoutMs: 5000 })).header.queued).toBe(true);
    expect(of(s.partyEvents[0], 'disconnect')).toHaveLength(1);
    expect(of(s.partyEvents[0], 'join').map((e) => e.resumed)).toEqual([false, true]);
    await s.close();
  });

  it('drops a party that does not come back within the window, and the round goes on without it', async () => {
    const s = await session(2, { server: { reconnectWindowMs: 100 }, party: { reconnectWindowMs: 0 } });
    const round = s.server.collect(1, { deadlineMs: 60_000 });
    s.transport.links[1].close('gone');
    await s.parties[0].send(s.parties[0].serverId, 1, { header: {}, payloads: [] });
    const r = await round;
    expect(r.dropped).toEqual([s.parties[1].id]);
    expect(of(s.serverEvents, 'drop')[0].reason).toMatch(/did not reconnect within 100 ms/);
    await s.close();
  });

  it('a party that stops answering heartbeats is disconnected, then reconnects', async () => {
    const s = await session(1, { server: { heartbeatMs: 30 }, party: { heartbeatMs: 10_000 } });
    s.transport.links[0].pause(); // the party stops reading, so it answers no ping
    await eventually(() => of(s.serverEvents, 'disconnect').length > 0);
    expect(of(s.serverEvents, 'disconnect')[0].reason).toMatch(/no heartbeat for \d+ ms/);
    s.transport.links[0].resume(); // it then sees the link end, and reconnects
    await eventually(() => of(s.serverEvents, 'join').some((e) => e.resumed));
    // The server counts the join when it sends its welcome; the party is connected once it has read it.
    await eventually(() => s.parties[0].connected);
    await s.close();
  });

  it('a party that hears nothing from the server for three heartbeats reconnects', async () => {
    // The server pings rarely, so the party's own check fires first.
    const s = await session(1, { server: { heartbeatMs: 60_000 }, party: { heartbeatMs: 30 } });
    await eventually(() => of(s.partyEvents[0], 'disconnect').length > 0);
    expect(of(s.partyEvents[0], 'disconnect')[0].reason).toMatch(/server silent for \d+ ms/);
    await eventually(() => of(s.partyEvents[0], 'join').some((e) => e.resumed));
    await s.parties[0].send(s.server.id, 1, { header: { after: 'reconnect' }, payloads: [] });
    expect((await s.server.receive(1, { timeoutMs: 5000 })).header.after).toBe('reconnect');
    await s.close();
  });
});

describe('limits and backpressure', () => {
  it('a slow reader slows the sender instead of filling the server', async () => {
    const s = await session(2);
    const [a, b] = s.parties;
    s.transport.links[1].pause(); // b stops reading
    const chunk = new Uint8Array(1 << 20);
    let resolved = 0;
    const sends: Promise<void>[] = [];
    for (let i = 0; i < 64; i++) sends.push(a.send(b.id, 1, { header: { i }, payloads: [chunk] }).then(() => void resolved++));
    await new Promise((r) => setTimeout(r, 300));
    // At most what fits under the high-water marks of the two hops (plus one message in each).
    expect(resolved).toBeLessThan(64);
    expect(resolved).toBeLessThanOrEqual((3 * HIGH_WATER_BYTES) / (1 << 20) + 4);
    s.transport.links[1].resume();
    await Promise.all(sends);
    for (let i = 0; i < 64; i++) expect((await b.receive(1, { timeoutMs: 5000 })).header.i).toBe(i);
    await s.close();
  });

  it('drops a party that makes the server hold more than maxBufferedBytes', async () => {
    const s = await session(2, { server: { maxBufferedBytes: 10_000 } });
    const [a, b] = s.parties;
    await b.send(b.serverId, 1, { header: {}, payloads: [new Uint8Array(100)] });
    for (let i = 0; i < 3; i++) await a.send(a.serverId, 1, { header: { i }, payloads: [new Uint8Array(4000)] });
    await eventually(() => of(s.serverEvents, 'drop').length === 1);
    expect(of(s.serverEvents, 'drop')[0]).toMatchObject({ party: a.id, reason: expect.stringMatching(/maxBufferedBytes/) });
    const r = await s.server.collect(1, { deadlineMs: 5000, from: [a.id, b.id] });
    expect([...r.messages.keys()]).toEqual([b.id]);
    expect(r.dropped).toEqual([a.id]);
    await eventually(() => of(s.partyEvents[0], 'drop').length === 1);
    await s.close();
  });

  it('refuses at the sender a message over maxMessageBytes; a 9 MB message crosses in three 4 MiB chunks', async () => {
    const s = await session(1, { server: { maxMessageBytes: 16 << 20 }, party: { maxMessageBytes: 16 << 20 } });
    const p = s.parties[0];
    await expect(p.send(p.serverId, 1, { header: {}, payloads: [new Uint8Array(17 << 20)] })).rejects.toThrow(/maxMessageBytes/);
    const big = new Float64Array(9_000_000 / 8).map((_, i) => i);
    await p.send(p.serverId, 1, { header: {}, payloads: [big] });
    const m = await s.server.receive(1, { timeoutMs: 10_000 });
    const v = m.payloads[0] as Float64Array;
    expect(v.length).toBe(big.length);
    expect(v[v.length - 1]).toBe(big.length - 1);
    await s.close();
  });
});

describe('admission', () => {
  it('refuses an identity not on the allow-list, and says why in the events', async () => {
    const s = await session(1);
    const e = await rejection(join({ transport: s.transport, address: s.server.address, identity: generateIdentity() }));
    expect(e.code).toBe('E_PROTOCOL');
    expect(e.message).toMatch(/not on the allow-list/);
    expect(of(s.serverEvents, 'reject')[0].reason).toMatch(/not on the allow-list/);
    expect(s.server.parties()).toHaveLength(1);
    await s.close();
  });

  it('admits token holders only', async () => {
    const transport = memoryTransport();
    const token = new Uint8Array(32).fill(5);
    const server = await serve({ transport, identity: generateIdentity(), token });
    const ok = await join({ transport, address: server.address, identity: generateIdentity(), token });
    const e = await rejection(join({ transport, address: server.address, identity: generateIdentity(), token: new Uint8Array(32).fill(6) }));
    expect(e.message).toMatch(/enrolment token/);
    const e2 = await rejection(join({ transport, address: server.address, identity: generateIdentity() }));
    expect(e2.message).toMatch(/enrolment token/);
    expect(server.parties()).toEqual([ok.id]);
    await ok.close();
    await server.close();
  });

  it('a party that pins the server identity refuses another server', async () => {
    const s = await session(1);
    const e = await rejection(join({ transport: s.transport, address: s.server.address, identity: s.identities[0], serverId: generateIdentity().id }));
    expect(e.code).toBe('E_CRYPTO');
    const again = await join({ transport: s.transport, address: s.server.address, identity: generateIdentity(), serverId: s.server.id }).catch((x) => x);
    // Pinned correctly but not on the allow-list: refused by the server, not by the pin.
    expect(String(again)).toMatch(/allow-list/);
    await s.close();
  });
});

describe('session limits and undeliverable relays', () => {
  it('refuses joins past maxParties, and reports relays to unknown recipients as undeliverable', async () => {
    const s = await session(2, { server: { maxParties: 2, allow: undefined, token: new Uint8Array(16).fill(1) }, party: { token: new Uint8Array(16).fill(1) } });
    const third = await join({ transport: s.transport, address: s.server.address, identity: generateIdentity(), token: new Uint8Array(16).fill(1) }).catch((e) => e);
    expect(String(third)).toMatch(/session full \(2 parties\)/);
    const stranger = generateIdentity().id;
    await s.parties[0].send(stranger, 1, { header: {}, payloads: [] });
    await eventually(() => of(s.serverEvents, 'undeliverable').length === 1);
    expect(of(s.serverEvents, 'undeliverable')[0]).toEqual({ type: 'undeliverable', from: s.parties[0].id, to: stranger, reason: 'unknown recipient' });
    // Not a violation: the sender stays.
    expect(s.server.parties()).toHaveLength(2);
    await s.close();
  });
});

describe('public API', () => {
  it('passes the type-confusion battery', async () => {
    const transport = memoryTransport();
    const sid = generateIdentity();
    const pid = generateIdentity();
    const servers: { close(): Promise<void> }[] = [];
    const parties: Party[] = [];
    const failures: string[] = [];
    const track = async <T extends { close(): Promise<void> }>(p: Promise<T>, list: T[]) => {
      const v = await p;
      list.push(v);
      return v;
    };
    failures.push(...(await confusionFailures('serve', (o) => track(serve(o), servers), () => [{ transport, identity: sid, allow: [pid.id] }])));
    const server = await serve({ transport, identity: sid, allow: [pid.id] });
    servers.push(server);
    failures.push(
      ...(await confusionFailures('join', (o) => track(join(o), parties), () => [{ transport, address: server.address, identity: pid }])),
    );
    const party = parties[parties.length - 1];
    const msg = () => ({ header: { a: 1 }, payloads: [new Uint8Array(2)] });
    // One message for each valid call of Party.receive below.
    for (let i = 0; i < 3; i++) await server.send(party.id, 1, msg());
    failures.push(...(await confusionFailures('Party.send', party.send.bind(party), () => [server.id, 1, msg()])));
    failures.push(...(await confusionFailures('Party.receive', party.receive.bind(party), () => [1, { timeoutMs: 1000 }])));
    failures.push(...(await confusionFailures('PartyServer.send', server.send.bind(server), () => [party.id, 1, msg()])));
    for (let i = 0; i < 3; i++) await party.send(server.id, 5, msg());
    failures.push(...(await confusionFailures('PartyServer.receive', server.receive.bind(server), () => [5, { timeoutMs: 1000 }])));
    failures.push(...(await confusionFailures('PartyServer.broadcast', server.broadcast.bind(server), () => [1, msg()], { accept: { 2: ['undefined'] } })));
    let round = 100;
    failures.push(...(await confusionFailures('PartyServer.collect', server.collect.bind(server), () => [round++, { deadlineMs: 1, from: [] }])));
    failures.push(...(await confusionFailures('PartyServer.waitForParties', server.waitForParties.bind(server), () => [1, { timeoutMs: 1000 }])));
    failures.push(...(await confusionFailures('PartyServer.drop', server.drop.bind(server), () => [generateIdentity().id, 'test'], { accept: { 1: ['string'] } })));
    failures.push(...(await confusionFailures('webSocketTransport', webSocketTransport, () => [{ host: '127.0.0.1' }], { accept: { 0: ['undefined', 'object'] } })));
    failures.push(...(await confusionFailures('memoryTransport.dial', transport.dial, () => [server.address])));
    expect(failures).toEqual([]);
    for (const p of parties) await p.close();
    for (const x of servers) await x.close();
  });

  it('errors carry stable codes', async () => {
    const transport = memoryTransport();
    const e = await rejection(join({ transport, address: 'memory://nowhere', identity: generateIdentity() }));
    expect(isConfideError(e, 'E_IO')).toBe(true);
    const e2 = await rejection(serve({ transport, identity: generateIdentity() }));
    expect(e2.code).toBe('E_BAD_INPUT');
    expect(e2.field).toBe('allow');
  });
});
