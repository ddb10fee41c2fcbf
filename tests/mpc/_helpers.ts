/** An in-memory net session with n MPC parties, all started together. */
import { generateIdentity, join, memoryTransport, serve, type Party, type PartyServer } from '../../src/net/index.ts';
import { MpcParty, TrustedDealer, type MpcPartyOptions } from '../../src/mpc/index.ts';

export interface MpcSession {
  server: PartyServer;
  nets: Party[];
  close(): Promise<void>;
}

export async function netSession(n: number): Promise<MpcSession> {
  const transport = memoryTransport();
  const ids = Array.from({ length: n }, () => generateIdentity());
  const server = await serve({ transport, identity: generateIdentity(), allow: ids.map((i) => i.id) });
  const nets: Party[] = [];
  for (const identity of ids) nets.push(await join({ transport, address: server.address, identity }));
  return {
    server,
    nets,
    async close() {
      await Promise.all(nets.map((p) => p.close().catch(() => {})));
      await server.close();
    },
  };
}

/**
 * Runs `program` at every party (concurrently, as separate processes would)
 * and returns each party's result. `triples` preprocesses that many per party.
 */
export async function runParties<T>(
  n: number,
  program: (mpc: MpcParty, index: number) => Promise<T>,
  options: { triples?: number; sharing?: MpcPartyOptions['sharing']; timeoutMs?: number; skip?: number[] } = {},
): Promise<{ results: PromiseSettledResult<T>[] }> {
  const s = await netSession(n);
  try {
    const parties = s.nets.map((p) => p.id);
    const stores = options.triples ? new TrustedDealer(n).preprocess(options.triples) : undefined;
    const results = await Promise.allSettled(
      s.nets.map(async (net, i) => {
        const mpc = await MpcParty.start({ net, parties, triples: stores?.[i], sharing: options.sharing, timeoutMs: options.timeoutMs ?? 20_000 });
        if (options.skip?.includes(i)) {
          // A party that crashes after the session started, before its input: it leaves at once.
          await net.close();
          throw new Error('skipped');
        }
        return program(mpc, i);
      }),
    );
    return { results };
  } finally {
    await s.close();
  }
}

export function values<T>(r: PromiseSettledResult<T>[]): T[] {
  return r.map((x) => {
    if (x.status === 'rejected') throw x.reason;
    return x.value;
  });
}
