/** Shared set-up for the net tests: a server and n parties on one transport, with their events. */
import { answerHello, decodeHello } from '../../src/net/_envelope.ts';
import { FRAME_AUTH, FRAME_HELLO, FRAME_WELCOME, Reassembler, frameMessage } from '../../src/net/_frame.ts';
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

/**
 * A hand-made party that speaks the wire format: it authenticates over a raw
 * link and then sends whatever frames a test makes (`send` frames a message,
 * `sendFrame` sends one frame as is, numbered with `nextNo`).
 */
export async function rawParty(transport: Transport, address: string, identity: Identity) {
  const link = await transport.dial(address);
  const r = new Reassembler({ chunkBytes: 4 << 20, maxMessageBytes: 1 << 20 });
  const got: { type: number; bytes: Uint8Array }[] = [];
  let closed = false;
  link.setHandlers({
    frame: (f) => {
      const m = r.push(f);
      if (m) got.push(m);
    },
    close: () => void (closed = true),
  });
  await eventually(() => got.length > 0);
  if (got[0].type !== FRAME_HELLO) throw new Error(`expected HELLO, got frame type ${got[0].type}`);
  const hello = decodeHello(got[0].bytes);
  const answer = answerHello(identity, hello);
  let no = 0;
  const send = async (type: number, bytes: Uint8Array) => {
    for (const f of frameMessage(type, no++, bytes)) await link.send([f]);
  };
  await send(FRAME_AUTH, answer.auth);
  await eventually(() => got.length > 1 || closed);
  if (got[1]?.type !== FRAME_WELCOME) throw new Error(`expected WELCOME, got ${got[1] ? `frame type ${got[1].type}` : 'a closed link'}`);
  return {
    hello,
    keys: answer.keys!,
    got,
    send,
    sendFrame: (f: Uint8Array) => link.send([f]),
    nextNo: () => no++,
    get closed() {
      return closed;
    },
  };
}
