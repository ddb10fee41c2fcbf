/**
 * Across processes over WebSocket on loopback: this process runs the server,
 * 20 child processes (tests/secagg/fixtures/client.ts) run clients with their
 * own identity keys. Two leave the session before the masked input, one
 * before unmasking, and one process dies without a word before signing the
 * survivor set (a real dropout the server only sees as a silent link). The
 * sum is exact.
 */
import { describe, expect, it } from 'vitest';
import { seededRng } from '../../src/core/random.ts';
import { generateIdentity, identitySeed, serve, webSocketTransport } from '../../src/net/index.ts';
import { runSecAggServer, type SecAggConfig } from '../../src/secagg/index.ts';
import { runNode } from '../_process.ts';

const FIXTURE = new URL('./fixtures/client.ts', import.meta.url).pathname;

const run = (args: string[]) => runNode(FIXTURE, args);

describe('20 client processes and a server over WebSocket', () => {
  it('aggregate exactly with clients that leave and one that dies', { timeout: 180_000 }, async () => {
    const N = 20;
    const config: SecAggConfig = { length: 5000, bits: 32, fracBits: 2, bound: 1000, threshold: 11, graph: 'complete' };
    const ids = Array.from({ length: N }, () => generateIdentity());
    const server = await serve({ transport: webSocketTransport({ host: '127.0.0.1', port: 0 }), identity: generateIdentity(), allow: ids.map((i) => i.id) });
    const modes: Record<number, string> = { 3: 'leave-before-masked', 4: 'leave-before-masked', 5: 'leave-before-unmask', 6: 'crash-before-consistency' };
    const children = ids.map((id, i) =>
      run([server.address, Buffer.from(identitySeed(id)).toString('hex'), server.id, JSON.stringify(config), String(500 + i), ...(modes[i] ? [modes[i]] : [])]),
    );
    // Twenty TypeScript processes start on two shared cores: allow them time to join.
    await server.waitForParties(N, { timeoutMs: 90_000 });
    // The dead process leaves a silent link: the deadline (not a farewell) ends its step.
    const result = await runSecAggServer(server, { config, deadlineMs: 8_000, participants: ids.map((i) => i.id) });
    const outcomes = await Promise.all(children);
    await server.close();
    const expected = new Float64Array(config.length);
    for (let i = 0; i < N; i++) {
      if (modes[i] === 'leave-before-masked') continue;
      const rng = seededRng(500 + i);
      for (let k = 0; k < config.length; k++) expected[k] += rng.uniformInt(2001) - 1000;
    }
    expect(Array.from(result.values)).toEqual(Array.from(expected));
    expect(result.survivors).toHaveLength(N - 2);
    expect(result.dropped.masked).toHaveLength(2);
    expect(result.dropped.consistency).toEqual([ids[6].id]);
    expect(result.dropped.unmask).toEqual([ids[5].id]);
    for (const [i, o] of outcomes.entries()) {
      expect(o.stderr, `client ${i}`).toBe('');
      expect(o.code, `client ${i}`).toBe(0);
      if (!modes[i]) expect(JSON.parse(o.stdout)).toEqual({ status: 'done' });
    }
  });
});
