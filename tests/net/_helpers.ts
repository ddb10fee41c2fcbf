/** Shared set-up for the net tests: a server and n parties on one transport, with their events. */
import {
  generateIdentity,
  join,
  memoryTransport,
  serve,
  type Identity,
  type JoinOptions,
  type Link,
  type NetEvent,
  type Party,
  type PartyServer,
  type ServerOptions,
  type Transport,
} from '../../src/net/index.ts';

/** A transport that remembers the client side of every link it dials, so tests can cut or pause them. */
export function tappedTransport(inner: Transport = memoryTransport()): Transport & { links: Link[] } {
  const links: Link[] = [];
  return {
    links,
    listen: (accept) => inner.listen(accept),
    async dial(address) {
      const l = await inner.dial(address);
      links.push(l);
      return l;
    },
  };
}

export interface Session {
  server: PartyServer;
  parties: Party[];
  identities: Identity[];
  serverEvents: NetEvent[];
  partyEvents: NetEvent[][];
  transport: Transport & { links: Link[] };
  close(): Promise<void>;
}

export async function session(
  n: number,
  opts: { server?: Partial<ServerOptions>; party?: Partial<JoinOptions>; transport?: Transport } = {},
): Promise<Session> {
  const transport = tappedTransport(opts.transport);
  const identities = Array.from({ length: n }, () => generateIdentity());
  const serverEvents: NetEvent[] = [];
  const server = await serve({
    transport,
    identity: generateIdentity(),
    allow: identities.map((i) => i.id),
    on: (e) => serverEvents.push(e),
    ...opts.server,
  });
  const partyEvents: NetEvent[][] = identities.map(() => []);
  const parties: Party[] = [];
  // One at a time, so that transport.links[i] is party i's link.
  for (let i = 0; i < n; i++)
    parties.push(await join({ transport, address: server.address, identity: identities[i], on: (e) => partyEvents[i].push(e), ...opts.party }));
  return {
    server,
    parties,
    identities,
    serverEvents,
    partyEvents,
    transport,
    async close() {
      await Promise.all(parties.map((p) => p.close()));
      await server.close();
    },
  };
}

/** Resolves when `events` holds one matching `pred` (polls; the test's own timeout bounds it). */
export async function eventually<T>(fn: () => T | undefined | false, stepMs = 5): Promise<T> {
  for (;;) {
    const v = fn();
    if (v !== undefined && v !== false) return v;
    await new Promise((r) => setTimeout(r, stepMs));
  }
}

export const of = <K extends NetEvent['type']>(events: NetEvent[], type: K): Extract<NetEvent, { type: K }>[] =>
  events.filter((e): e is Extract<NetEvent, { type: K }> => e.type === type);
