/** Shared set-up for the secagg tests: a server and n clients on the in-memory transport. */
import { generateIdentity, join, memoryTransport, serve, type Identity, type Party, type PartyServer } from '../../src/net/index.ts';
import { seededRng } from '../../src/core/random.ts';
import { runSecAggClient, runSecAggServer, type ClientOutcome, type Phase, type RunServerOptions, type SecAggConfig, type SecAggResult } from '../../src/secagg/index.ts';

export interface Net {
  server: PartyServer;
  parties: Party[];
  identities: Identity[];
  close(): Promise<void>;
}

export async function network(n: number): Promise<Net> {
  const transport = memoryTransport();
  const identities = Array.from({ length: n }, () => generateIdentity());
  const server = await serve({ transport, identity: generateIdentity(), allow: identities.map((i) => i.id) });
  const parties = await Promise.all(identities.map((identity) => join({ transport, address: server.address, identity })));
  return {
    server,
    parties,
    identities,
    async close() {
      await Promise.all(parties.map((p) => p.close()));
      await server.close();
    },
  };
}

/** Integer-valued inputs (exact in fixed point), reproducible per client. */
export function inputs(n: number, length: number, seed = 1, max = 1000): Float64Array[] {
  const rng = seededRng(seed);
  return Array.from({ length: n }, () => Float64Array.from({ length }, () => rng.uniformInt(2 * max + 1) - max));
}

export interface RoundRun {
  result: SecAggResult | undefined;
  error: unknown;
  clients: (ClientOutcome | { error: unknown })[];
}

/** Runs one round; `drops[i]` makes client i leave before that step. */
export async function runRound(
  net: Net,
  config: SecAggConfig,
  xs: Float64Array[],
  opts: { drops?: (Phase | undefined)[]; server?: Partial<RunServerOptions>; weights?: number[]; round?: number } = {},
): Promise<RoundRun> {
  const clients = net.parties.map((p, i) =>
    runSecAggClient(p, {
      identity: net.identities[i],
      config,
      input: xs[i],
      timeoutMs: 20_000,
      ...(opts.round === undefined ? {} : { round: opts.round }),
      ...(opts.weights ? { weight: opts.weights[i] } : {}),
      ...(opts.drops?.[i] ? { dropBefore: opts.drops[i] } : {}),
    }).catch((error: unknown) => ({ error })),
  );
  let result: SecAggResult | undefined;
  let error: unknown;
  try {
    result = await runSecAggServer(net.server, { config, deadlineMs: 20_000, participants: net.identities.map((i) => i.id), ...(opts.round === undefined ? {} : { round: opts.round }), ...opts.server });
  } catch (e) {
    error = e;
  }
  return { result, error, clients: await Promise.all(clients) };
}

export function expectedSum(xs: Float64Array[], keep: (i: number) => boolean, weights?: number[]): Float64Array {
  const out = new Float64Array(xs[0].length);
  xs.forEach((x, i) => {
    if (!keep(i)) return;
    const w = weights?.[i] ?? 1;
    for (let j = 0; j < x.length; j++) out[j] += w * x[j];
  });
  return out;
}
