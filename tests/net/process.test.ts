/**
 * Separate Node processes over WebSocket on loopback: this process runs the
 * server, two child processes (tests/net/fixtures/party.ts) run parties that
 * authenticate with their own Ed25519 keys, exchange relayed messages with
 * each other and answer the server over several rounds.
 */
import { describe, expect, it } from 'vitest';
import { generateIdentity, identitySeed, serve, webSocketTransport, type NetEvent } from '../../src/net/index.ts';
import { eventually } from './_helpers.ts';
import { runNode } from '../_process.ts';

const FIXTURE = new URL('./fixtures/party.ts', import.meta.url).pathname;

const run = (args: string[]) => runNode(FIXTURE, args);

describe('two party processes and a server', () => {
  it('run a four-round exchange with authentication and relayed messages', async () => {
    const ROUNDS = 4;
    const parties = [generateIdentity(), generateIdentity()];
    const events: NetEvent[] = [];
    const server = await serve({
      transport: webSocketTransport(),
      identity: generateIdentity(),
      allow: parties.map((p) => p.id),
      on: (e) => events.push(e),
    });
    const seed = (i: number) => Buffer.from(identitySeed(parties[i])).toString('hex');
    const children = [0, 1].map((i) => run([server.address, seed(i), server.id, String(ROUNDS), parties[1 - i].id]));
    await server.waitForParties(2, { timeoutMs: 20_000 });
    for (let round = 1; round <= ROUNDS; round++) {
      const v = Float64Array.from({ length: 1000 }, (_, k) => round + k);
      await server.broadcast(round, { header: { round }, payloads: [v] });
      const r = await server.collect(round, { deadlineMs: 20_000 });
      expect(r.dropped).toEqual([]);
      for (const m of r.messages.values()) {
        expect(m.header.round).toBe(round);
        expect(m.header.fromPeer).toBe(round * 100);
        const w = m.payloads[0] as Float64Array;
        expect(w[0]).toBe(2 * round);
        expect(w[999]).toBe(2 * (round + 999));
      }
    }
    const results = await Promise.all(children);
    for (const r of results) {
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
      expect(r.stdout).toContain('"type":"join"');
    }
    expect(events.filter((e) => e.type === 'join')).toHaveLength(2);
    // The children's farewells may still be in flight when their processes exit.
    await eventually(() => events.filter((e) => e.type === 'drop').length === 2);
    expect(events.filter((e) => e.type === 'drop').map((e) => (e as { reason: string }).reason)).toEqual(['left: party closed', 'left: party closed']);
    await server.close();
  });
});
