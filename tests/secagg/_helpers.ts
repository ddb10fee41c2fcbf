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

import type { Message } from '../../src/core/codec.ts';
import { randomBytes } from '../../src/core/random.ts';
import { SecAggClient, SecAggServer, type SecAggOutput } from '../../src/secagg/index.ts';

export interface Driven {
  server: SecAggServer;
  clients: SecAggClient[];
  identities: Identity[];
  /** Every message the server received, per step, by client index. */
  seen: Record<Phase, Map<number, Message>>;
  output: SecAggOutput | undefined;
  error: unknown;
  /** Clients that refused a server message (they then count as dropouts). */
  clientErrors: Map<number, unknown>;
}

/**
 * Runs the state machines directly (no network), so tests can read and
 * tamper with every message: `tamper(step, i, m)` may return a replacement
 * for client i's answer (undefined: drop it).
 */
export function drive(
  config: SecAggConfig,
  xs: Float64Array[],
  opts: {
    tamper?: (step: Phase, i: number, m: Message) => Message | undefined;
    tamperIn?: (step: Phase, i: number, m: Message) => Message;
    round?: number; sessionId?: Uint8Array; identities?: Identity[]; threads?: number; clientThreads?: number } = {},
): Driven {
  const n = xs.length;
  const identities = opts.identities ?? Array.from({ length: n }, () => generateIdentity());
  const sessionId = opts.sessionId ?? randomBytes(16);
  const round = opts.round ?? 0;
  const server = new SecAggServer({ sessionId, round, config, participants: identities.map((i) => i.id), ...(opts.threads === undefined ? {} : { threads: opts.threads }) });
  const clients = identities.map((identity, i) => new SecAggClient({ identity, sessionId, round, config, input: xs[i], ...(opts.clientThreads === undefined ? {} : { threads: opts.clientThreads }) }));
  const seen = { advertise: new Map(), share: new Map(), masked: new Map(), consistency: new Map(), unmask: new Map() } as Driven['seen'];
  const byId = new Map(identities.map((id, i) => [id.id, i]));
  const begin = server.begin();
  let inbox = new Map<string, Message>(identities.map((id) => [id.id, begin]));
  const clientErrors = new Map<number, unknown>();
  const steps: [Phase, (c: SecAggClient, m: Message) => Message, (a: Map<string, Message>) => Map<string, Message> | SecAggOutput][] = [
    ['advertise', (c, m) => c.advertise(m), (a) => server.advertised(a)],
    ['share', (c, m) => c.shareKeys(m), (a) => server.shared(a)],
    ['masked', (c, m) => c.maskedInput(m), (a) => server.masked(a)],
    ['consistency', (c, m) => c.consistency(m), (a) => server.consistent(a)],
    ['unmask', (c, m) => c.unmask(m), (a) => server.unmasked(a)],
  ];
  try {
    for (const [step, answer, collect] of steps) {
      const answers = new Map<string, Message>();
      for (const [id, m] of inbox) {
        const i = byId.get(id)!;
        let reply: Message | undefined;
        try {
          reply = answer(clients[i], opts.tamperIn ? opts.tamperIn(step, i, m) : m);
        } catch (e) {
          clientErrors.set(i, e);
          continue;
        }
        if (opts.tamper) reply = opts.tamper(step, i, reply);
        if (reply === undefined) continue;
        seen[step].set(i, reply);
        answers.set(id, reply);
      }
      const out = collect(answers);
      if (out instanceof Map) inbox = out;
      else return { server, clients, identities, seen, output: out, error: undefined, clientErrors };
    }
  } catch (error) {
    return { server, clients, identities, seen, output: undefined, error, clientErrors };
  }
  throw new Error('unreachable');
}
