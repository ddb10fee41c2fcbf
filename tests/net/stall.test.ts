/**
 * A party (or server) whose own event loop is blocked must not count that
 * time as the peer's silence, and a message lost with a broken link is resent
 * after the reconnection (README, "Delivery"). Found by bench/fl: a client
 * that blocked for 15 s encrypting took the server for lost, reconnected, and
 * the update it had just sent never arrived.
 */
import { describe, expect, it } from 'vitest';
import { join, webSocketTransport, type Link, type Transport } from '../../src/net/index.ts';
import { eventually, of, session } from './_helpers.ts';

/** Blocks this process's event loop for `ms` (a long synchronous computation). */
function busy(ms: number): void {
  const until = performance.now() + ms;
  while (performance.now() < until) {
    // spin
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A link whose sends are swallowed (they resolve, the bytes never arrive) while `swallowing()` says so. */
function lossy(l: Link, swallowing: () => boolean): Link {
  return {
    remote: l.remote,
    send: (frame: readonly Uint8Array[]) => (swallowing() ? Promise.resolve() : l.send(frame)),
    setHandlers: (h) => l.setHandlers(h),
    pause: () => l.pause(),
    resume: () => l.resume(),
    close: (reason: string) => l.close(reason),
    ...(l.setMaxFrameBytes ? { setMaxFrameBytes: (n: number) => l.setMaxFrameBytes!(n) } : {}),
  };
}

/**
 * The in-memory transport, with switches that make the party side's links
 * (`swallow`) or the server side's (`swallowDown`) swallow what they send: a
 * connection that breaks with data still in its buffers.
 */
function lossyTransport(inner: Transport): Transport & { swallow: boolean; swallowDown: boolean } {
  const t = {
    swallow: false,
    swallowDown: false,
    listen: (accept: (link: Link) => void) => inner.listen((l) => accept(lossy(l, () => t.swallowDown))),
    dial: async (address: string): Promise<Link> => lossy(await inner.dial(address), () => t.swallow),
  };
  return t;
}

describe('a blocked event loop is not the peer going silent', () => {
  for (const backend of ['memory', 'websocket'] as const) {
    it(`${backend}: a party that blocks for 10 heartbeats right after sending is neither disconnected nor loses its message`, async () => {
      const s = await session(1, {
        server: { heartbeatMs: 20 },
        party: { heartbeatMs: 20 },
        ...(backend === 'websocket' ? { transport: webSocketTransport({ host: '127.0.0.1', port: 0 }) } : {}),
      });
      const [p] = s.parties;
      await sleep(100); // heartbeats flowing
      await p.send(p.serverId, 1, { header: { kind: 'update' }, payloads: [new Float32Array(1 << 16).fill(1.5)] });
      // Both ends live in this process: the server's loop is blocked too, so both sides' checks are exercised.
      busy(10 * 20 * 3);
      const m = await s.server.receive(1, { timeoutMs: 10_000 });
      expect(m.header.kind).toBe('update');
      expect((m.payloads[0] as Float32Array)[12345]).toBe(1.5);
      await sleep(150); // several more heartbeats, now answered
      expect(of(s.serverEvents, 'disconnect')).toEqual([]);
      expect(of(s.partyEvents[0], 'disconnect')).toEqual([]);
      expect(of(s.serverEvents, 'drop')).toEqual([]);
      expect(p.connected).toBe(true);
      expect(s.server.parties()).toEqual([p.id]);
      await s.close();
    });
  }

  it('a server that really goes silent is still detected after a stall', async () => {
    const s = await session(1, { server: { heartbeatMs: 60_000 }, party: { heartbeatMs: 20 } });
    busy(300);
    // The stall resets the party's clock; the server then pings only once a minute, so three heartbeats later it is silent.
    await eventually(() => of(s.partyEvents[0], 'disconnect').length > 0);
    expect(of(s.partyEvents[0], 'disconnect')[0].reason).toMatch(/server silent for \d+ ms/);
    await s.close();
  });
});

describe('messages sent before a lost link', () => {
  it('are resent after the reconnection, once each, to the server and relayed, in order', async () => {
    const lossy = lossyTransport((await import('../../src/net/index.ts')).memoryTransport());
    const s = await session(2, { transport: lossy });
    const [a, b] = s.parties;
    await a.send(a.serverId, 1, { header: { n: 1 }, payloads: [] }); // arrives
    expect((await s.server.receive(1, { timeoutMs: 5000 })).header.n).toBe(1);
    lossy.swallow = true;
    await a.send(a.serverId, 1, { header: { n: 2 }, payloads: [new Uint8Array(5 << 20).fill(7)] }); // two chunks, lost
    await a.send(b.id, 3, { header: { relayed: true }, payloads: [] }); // lost
    await a.send(a.serverId, 1, { header: { n: 3 }, payloads: [] }); // lost
    lossy.swallow = false;
    s.transport.links[0].close('cable pulled');
    await eventually(() => of(s.partyEvents[0], 'join').some((e) => e.resumed));
    const two = await s.server.receive(1, { timeoutMs: 5000 });
    expect(two.header.n).toBe(2);
    expect((two.payloads[0] as Uint8Array).length).toBe(5 << 20);
    expect((two.payloads[0] as Uint8Array)[(5 << 20) - 1]).toBe(7);
    expect((await s.server.receive(1, { timeoutMs: 5000 })).header.n).toBe(3);
    expect((await b.receive(3, { from: a.id, timeoutMs: 5000 })).header.relayed).toBe(true);
    // Nothing twice (a replay would have got a dropped): the round holds nothing more, and a is still in.
    await expect(s.server.receive(1, { timeoutMs: 100 })).rejects.toThrow(/no message/);
    expect(of(s.serverEvents, 'drop')).toEqual([]);
    await a.send(a.serverId, 2, { header: { after: true }, payloads: [] });
    expect((await s.server.receive(2, { timeoutMs: 5000 })).header.after).toBe(true);
    await s.close();
  });

  it('lent messages ({ lend: true }: payloads not copied) are resent too, re-tagged for the new link', async () => {
    const lossy = lossyTransport((await import('../../src/net/index.ts')).memoryTransport());
    const s = await session(1, { transport: lossy });
    const [a] = s.parties;
    lossy.swallow = true;
    const big = new Uint8Array(5 << 20).fill(7); // two chunks
    const small = new Float32Array(1000).fill(0.5); // one frame
    await a.send(a.serverId, 1, { header: { n: 1 }, payloads: [big] }, { lend: true });
    await a.send(a.serverId, 1, { header: { n: 2 }, payloads: [small, Uint8Array.of(1)] }, { lend: true });
    lossy.swallow = false;
    s.transport.links[0].close('cable pulled');
    await eventually(() => of(s.partyEvents[0], 'join').some((e) => e.resumed));
    const one = await s.server.receive(1, { timeoutMs: 5000 });
    expect(one.header.n).toBe(1);
    expect(one.payloads[0]).toEqual(big);
    const two = await s.server.receive(1, { timeoutMs: 5000 });
    expect(two.header.n).toBe(2);
    expect(two.payloads[0]).toEqual(small);
    expect(of(s.serverEvents, 'drop')).toEqual([]);
    expect(of(s.serverEvents, 'reject')).toEqual([]);
    await s.close();
  });

  it('from the server too: what the party never received is resent after it reconnects, once', async () => {
    const lossy = lossyTransport((await import('../../src/net/index.ts')).memoryTransport());
    const s = await session(2, { transport: lossy });
    const [a, b] = s.parties;
    expect(await s.server.send(a.id, 4, { header: { n: 1 }, payloads: [] })).toBe(true);
    expect((await a.receive(4, { timeoutMs: 5000 })).header.n).toBe(1);
    lossy.swallowDown = true;
    const model = new Float32Array(1 << 20).fill(0.25);
    expect(await s.server.send(a.id, 4, { header: { n: 2 }, payloads: [model] })).toBe(true); // lost with the link
    await s.server.broadcast(4, { header: { n: 3 }, payloads: [] }, { to: [a.id] }); // lost too
    lossy.swallowDown = false;
    expect(await s.server.send(b.id, 4, { header: { n: 9 }, payloads: [] })).toBe(true);
    s.transport.links[0].close('cable pulled');
    await eventually(() => of(s.partyEvents[0], 'join').some((e) => e.resumed));
    const two = await a.receive(4, { timeoutMs: 5000 });
    expect(two.header.n).toBe(2);
    expect((two.payloads[0] as Float32Array)[(1 << 20) - 1]).toBe(0.25);
    expect((await a.receive(4, { timeoutMs: 5000 })).header.n).toBe(3);
    // Not the first one again (the party would refuse it as replayed, with a reject event).
    await expect(a.receive(4, { timeoutMs: 100 })).rejects.toThrow(/no message/);
    expect(of(s.partyEvents[0], 'reject')).toEqual([]);
    expect((await b.receive(4, { timeoutMs: 5000 })).header.n).toBe(9);
    await s.close();
  });

  it('a process restarted with the same identity gets none of what its predecessor was sent, and numbers on after it', async () => {
    const s = await session(1, { server: { reconnectWindowMs: 10_000 }, party: { reconnectWindowMs: 0 } });
    const [a] = s.parties;
    await a.send(a.serverId, 1, { header: { n: 1 }, payloads: [] });
    expect((await s.server.receive(1, { timeoutMs: 5000 })).header.n).toBe(1);
    expect(await s.server.send(a.id, 4, { header: { old: true }, payloads: [] })).toBe(true);
    expect((await a.receive(4, { timeoutMs: 5000 })).header.old).toBe(true);
    s.transport.links[0].close('process killed'); // the party gives up (no reconnection window): a crash
    await eventually(() => of(s.serverEvents, 'disconnect').length > 0);
    const again = await join({ transport: s.transport, address: s.server.address, identity: s.identities[0] });
    await expect(again.receive(4, { timeoutMs: 200 })).rejects.toThrow(/no message/);
    await again.send(again.serverId, 2, { header: { n: 2 }, payloads: [] }); // numbered after what the server saw: accepted
    expect((await s.server.receive(2, { timeoutMs: 5000 })).header.n).toBe(2);
    expect(of(s.serverEvents, 'drop')).toEqual([]);
    await again.close();
    await s.server.close();
  });

  it('beyond maxBufferedBytes the oldest are not kept, and the sender is told which were lost', async () => {
    const lossy = lossyTransport((await import('../../src/net/index.ts')).memoryTransport());
    const s = await session(1, { transport: lossy, party: { maxBufferedBytes: 3000 } });
    const [a] = s.parties;
    lossy.swallow = true;
    await a.send(a.serverId, 5, { header: { n: 1 }, payloads: [new Uint8Array(2000)] });
    await a.send(a.serverId, 6, { header: { n: 2 }, payloads: [new Uint8Array(2000)] });
    lossy.swallow = false;
    s.transport.links[0].close('cable pulled');
    await eventually(() => of(s.partyEvents[0], 'join').some((e) => e.resumed));
    expect((await s.server.receive(6, { timeoutMs: 5000 })).header.n).toBe(2);
    const lost = of(s.partyEvents[0], 'undeliverable');
    expect(lost.map((e) => [e.round, e.to])).toEqual([[5, s.server.id]]);
    await expect(s.server.receive(5, { timeoutMs: 100 })).rejects.toThrow(/no message/);
    await s.close();
  });
});

describe('heartbeats acknowledge what arrived, so nothing is kept for resending longer than a heartbeat', () => {
  it('each side forgets its sent messages once the other side acknowledges them', async () => {
    const s = await session(1, { server: { heartbeatMs: 20 }, party: { heartbeatMs: 20 } });
    const [p] = s.parties;
    for (let i = 1; i <= 8; i++) await p.send(p.serverId, i, { header: { i }, payloads: [new Uint8Array(100_000)] });
    for (let i = 1; i <= 4; i++) expect(await s.server.send(p.id, i, { header: { i }, payloads: [new Uint8Array(100_000)] })).toBe(true);
    // Before any acknowledgement each side keeps what it sent (unless a heartbeat already came by).
    expect(p.retainedBytes + s.server.retainedBytes(p.id)).toBeGreaterThan(0);
    for (let i = 1; i <= 8; i++) expect((await s.server.receive(i, { timeoutMs: 5000 })).header.i).toBe(i);
    for (let i = 1; i <= 4; i++) expect((await p.receive(i, { timeoutMs: 5000 })).header.i).toBe(i);
    await eventually(() => p.retainedBytes === 0 && s.server.retainedBytes(p.id) === 0);
    expect(of(s.serverEvents, 'drop')).toEqual([]);
    await s.close();
  });

  it('what is not yet acknowledged is still resent after a lost link', async () => {
    const lossy = lossyTransport((await import('../../src/net/index.ts')).memoryTransport());
    const s = await session(1, { transport: lossy, server: { heartbeatMs: 20 }, party: { heartbeatMs: 20 } });
    const [a] = s.parties;
    await a.send(a.serverId, 1, { header: { n: 1 }, payloads: [] });
    expect((await s.server.receive(1, { timeoutMs: 5000 })).header.n).toBe(1);
    await eventually(() => a.retainedBytes === 0); // acknowledged
    lossy.swallow = true;
    await a.send(a.serverId, 2, { header: { n: 2 }, payloads: [new Uint8Array(1000)] });
    expect(a.retainedBytes).toBeGreaterThan(1000);
    lossy.swallow = false;
    s.transport.links[0].close('cable pulled');
    await eventually(() => of(s.partyEvents[0], 'join').some((e) => e.resumed));
    expect((await s.server.receive(2, { timeoutMs: 5000 })).header.n).toBe(2);
    await eventually(() => a.retainedBytes === 0);
    expect(of(s.partyEvents[0], 'undeliverable')).toEqual([]);
    await s.close();
  });
});
