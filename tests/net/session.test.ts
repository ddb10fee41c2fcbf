/**
 * Session keys between a party and the server (README "Handshake",
 * "Envelopes"): the X25519 ephemeral keys inside the signed transcript, the
 * per-direction, per-connection GMAC keys, and what they refuse: tampered,
 * replayed and reflected MAC'd envelopes, a party forging the server's
 * messages to another party, and a man in the middle swapping an ephemeral
 * key during the handshake. Also the cap on connections waiting to
 * authenticate. All in memory; a hand-made party speaks the wire format.
 */
import { describe, expect, it } from 'vitest';
import {
  KIND_MAC,
  authTranscript,
  decodeAuth,
  decodeHello,
  encodeAuth,
  encodeHello,
  parseEnvelope,
  sealMacEnvelope,
  verifyMacEnvelope,
  welcomeTranscript,
  type TranscriptParts,
} from '../../src/net/_envelope.ts';
import { FRAME_AUTH, FRAME_ENVELOPE, FRAME_HELLO, Reassembler, concatPieces, frameMessage } from '../../src/net/_frame.ts';
import { PARTY_TO_SERVER, SERVER_TO_PARTY, deriveKeys, ephemeral, macTag, macVerify } from '../../src/net/_session.ts';
import { seededRng } from '../../src/core/random.ts';
import { generateIdentity, join, memoryTransport, serve, type Identity, type Link, type LinkHandlers, type NetEvent, type Transport } from '../../src/net/index.ts';
import { eventually, of, rawParty, session } from './_helpers.ts';

const rng = seededRng(4242);

type Rewrite = (type: number, bytes: Uint8Array) => Uint8Array[];

/**
 * A man in the middle on every link it dials: whole messages in each
 * direction pass through `up` (party to server) or `down` (server to party)
 * and what they return is re-framed with consistent message numbers. `inject`
 * hands the last dialled party an extra message as if the server had sent it.
 */
function mitm(inner: Transport) {
  const hooks: { up?: Rewrite; down?: Rewrite; inject?: (type: number, bytes: Uint8Array) => void } = {};
  const transport: Transport = {
    listen: (accept) => inner.listen(accept),
    async dial(address) {
      const link = await inner.dial(address);
      const upR = new Reassembler({ chunkBytes: 4 << 20, maxMessageBytes: 1 << 30 });
      const downR = new Reassembler({ chunkBytes: 4 << 20, maxMessageBytes: 1 << 30 });
      let upNo = 0;
      let downNo = 0;
      const wrapped: Link = {
        remote: link.remote,
        async send(pieces) {
          const m = upR.push(concatPieces(pieces));
          if (m === undefined) return;
          for (const bytes of hooks.up ? hooks.up(m.type, m.bytes) : [m.bytes]) for (const f of frameMessage(m.type, upNo++, bytes)) await link.send([f]);
        },
        pause: () => link.pause(),
        resume: () => link.resume(),
        close: (reason) => link.close(reason),
        setHandlers(h: LinkHandlers) {
          hooks.inject = (type, bytes) => {
            for (const f of frameMessage(type, downNo++, bytes)) h.frame(f);
          };
          link.setHandlers({
            close: (reason, violation) => h.close(reason, violation),
            frame(f) {
              const m = downR.push(f);
              if (m === undefined) return;
              for (const bytes of hooks.down ? hooks.down(m.type, m.bytes) : [m.bytes]) for (const out of frameMessage(m.type, downNo++, bytes)) h.frame(out);
            },
          });
        },
      };
      return wrapped;
    },
  };
  return { transport, hooks };
}

const key = (id: string) => new Uint8Array(Buffer.from(id, 'hex'));

describe('session keys', () => {
  it('differ per direction and per party, and both sides derive the same pair', () => {
    const sessionId = rng.bytes(16);
    const alice = generateIdentity();
    const bob = generateIdentity();
    const derive = (party: Identity) => {
      const s = ephemeral();
      const p = ephemeral();
      const server = deriveKeys(s, p.publicKey, sessionId, party.publicKey, s.publicKey, p.publicKey, 'server')!;
      const client = deriveKeys(p, s.publicKey, sessionId, party.publicKey, s.publicKey, p.publicKey, 'party')!;
      return { server, client };
    };
    const a = derive(alice);
    const b = derive(bob);
    expect(a.client.send.equals(a.server.receive)).toBe(true);
    expect(a.client.receive.equals(a.server.send)).toBe(true);
    expect(a.client.sendDirection).toBe(PARTY_TO_SERVER);
    expect(a.server.sendDirection).toBe(SERVER_TO_PARTY);
    const all = [a.client.send, a.client.receive, b.client.send, b.client.receive].map((k) => k.toString('hex'));
    expect(new Set(all).size).toBe(4);
    // Same ephemeral keys, another party id: other keys (the identity is bound in).
    const s = ephemeral();
    const p = ephemeral();
    const k1 = deriveKeys(s, p.publicKey, sessionId, alice.publicKey, s.publicKey, p.publicKey, 'server')!;
    const k2 = deriveKeys(s, p.publicKey, sessionId, bob.publicKey, s.publicKey, p.publicKey, 'server')!;
    expect(k1.send.equals(k2.send)).toBe(false);
    // A tag made for one direction does not verify for the other, nor under another party's key.
    const aad = rng.bytes(100);
    const tag = macTag(a.client.send, PARTY_TO_SERVER, 7, [aad]);
    expect(macVerify(a.server.receive, PARTY_TO_SERVER, 7, aad, tag)).toBe(true);
    expect(macVerify(a.server.receive, SERVER_TO_PARTY, 7, aad, tag)).toBe(false);
    expect(macVerify(a.server.receive, PARTY_TO_SERVER, 8, aad, tag)).toBe(false);
    expect(macVerify(b.server.receive, PARTY_TO_SERVER, 7, aad, tag)).toBe(false);
    // An unusable peer key (a low-order point gives an all-zero secret) yields no keys.
    expect(deriveKeys(s, new Uint8Array(32), sessionId, alice.publicKey, s.publicKey, new Uint8Array(32), 'server')).toBeUndefined();
  });

  it('a MAC covers every header field and the body', () => {
    const s = ephemeral();
    const p = ephemeral();
    const sessionId = rng.bytes(16);
    const alice = generateIdentity();
    const server = generateIdentity();
    const client = deriveKeys(p, s.publicKey, sessionId, alice.publicKey, s.publicKey, p.publicKey, 'party')!;
    const srv = deriveKeys(s, p.publicKey, sessionId, alice.publicKey, s.publicKey, p.publicKey, 'server')!;
    const env = sealMacEnvelope(client, { round: 2, sessionId, from: alice.publicKey, to: server.publicKey, seq: 3 }, { header: { x: 1 }, payloads: [new Float32Array(8)] });
    expect(env[65]).toBe(KIND_MAC);
    expect(verifyMacEnvelope(parseEnvelope(env), srv)).toBe(true);
    for (const at of [0, 15, 68, 72, 88, 120, 152, 160, env.length - 1]) {
      const bad = env.slice();
      bad[at] ^= 1;
      expect(verifyMacEnvelope(parseEnvelope(bad), srv), `byte ${at}`).toBe(false);
    }
    // The 48 bytes after the tag must be zero.
    const pad = env.slice();
    pad[40] = 1;
    expect(() => parseEnvelope(pad)).toThrow(/after the MAC tag/);
  });

  it('both signatures cover both ephemeral keys', () => {
    const t: TranscriptParts = {
      sessionId: rng.bytes(16),
      serverKey: rng.bytes(32),
      challenge: rng.bytes(32),
      serverEphemeral: rng.bytes(32),
      clientKey: rng.bytes(32),
      clientNonce: rng.bytes(32),
      clientEphemeral: rng.bytes(32),
    };
    for (const f of ['serverEphemeral', 'clientEphemeral'] as const) {
      const swapped = { ...t, [f]: rng.bytes(32) };
      expect(authTranscript(swapped)).not.toEqual(authTranscript(t));
      expect(welcomeTranscript(swapped)).not.toEqual(welcomeTranscript(t));
    }
    expect(authTranscript(t)).not.toEqual(welcomeTranscript(t));
  });
});

describe('MAC\'d envelopes on a live session', () => {
  it('the server drops a party whose MAC\'d envelope was tampered with, with a reason', async () => {
    const m = mitm(memoryTransport());
    const s = await session(2, { transport: m.transport });
    const [a, b] = s.parties;
    const round = s.server.collect(1, { deadlineMs: 5000 });
    await a.send(s.server.id, 1, { header: {}, payloads: [] });
    // Then flip one payload byte of b's envelope on its way.
    m.hooks.up = (type, bytes) => {
      if (type !== FRAME_ENVELOPE) return [bytes];
      const x = bytes.slice();
      x[x.length - 1] ^= 1;
      return [x];
    };
    await b.send(s.server.id, 1, { header: {}, payloads: [new Uint8Array(8)] });
    const r = await round;
    expect(r.dropped).toEqual([b.id]);
    expect(of(s.serverEvents, 'drop')).toEqual([{ type: 'drop', party: b.id, reason: 'bad envelope MAC' }]);
    m.hooks.up = undefined;
    await s.close();
  });

  it('the server refuses a replayed MAC\'d envelope; a party refuses a replayed, tampered or reflected one from the server', async () => {
    const m = mitm(memoryTransport());
    const s = await session(1, { transport: m.transport });
    const [a] = s.parties;
    const ev = s.partyEvents[0];
    // Server to party: a duplicate, then a flipped byte, then the party's own envelope reflected back.
    m.hooks.down = (type, bytes) => (type === FRAME_ENVELOPE ? [bytes, bytes] : [bytes]);
    await s.server.send(a.id, 1, { header: { n: 1 }, payloads: [] });
    expect((await a.receive(1, { timeoutMs: 5000 })).header.n).toBe(1);
    await eventually(() => of(ev, 'reject').length === 1);
    expect(of(ev, 'reject')[0]).toMatchObject({ party: s.server.id, reason: expect.stringMatching(/replayed/) });
    m.hooks.down = (type, bytes) => {
      if (type !== FRAME_ENVELOPE) return [bytes];
      const x = bytes.slice();
      x[70] ^= 1; // the round
      return [x];
    };
    await s.server.send(a.id, 2, { header: {}, payloads: [] });
    await eventually(() => of(ev, 'reject').length === 2);
    expect(of(ev, 'reject')[1].reason).toBe('bad envelope MAC');
    m.hooks.down = undefined;
    let sent: Uint8Array | undefined;
    m.hooks.up = (type, bytes) => {
      if (type === FRAME_ENVELOPE) sent = bytes;
      return [bytes];
    };
    await a.send(s.server.id, 3, { header: {}, payloads: [] });
    await s.server.receive(3, { timeoutMs: 5000 });
    m.hooks.inject!(FRAME_ENVELOPE, sent!);
    await eventually(() => of(ev, 'reject').length === 3);
    expect(of(ev, 'reject')[2].reason).toBe('envelope for another recipient');
    // The same reflection with the addresses swapped back is still refused: the key is per direction.
    const swapped = sent!.slice();
    swapped.set(sent!.subarray(120, 152), 88);
    swapped.set(sent!.subarray(88, 120), 120);
    m.hooks.inject!(FRAME_ENVELOPE, swapped);
    await eventually(() => of(ev, 'reject').length === 4);
    expect(of(ev, 'reject')[3].reason).toMatch(/replayed|bad envelope MAC/);
    // Party to server: the same envelope twice.
    m.hooks.up = (type, bytes) => (type === FRAME_ENVELOPE ? [bytes, bytes] : [bytes]);
    await a.send(s.server.id, 4, { header: {}, payloads: [] });
    await eventually(() => of(s.serverEvents, 'drop').length === 1);
    expect(of(s.serverEvents, 'drop')[0].reason).toMatch(/replayed or reordered envelope: sequence \d+ after \d+/);
    await s.close();
  });

  it('a party cannot forge the server\'s messages to another party', async () => {
    const m = mitm(memoryTransport());
    const mallory = generateIdentity();
    const alice = generateIdentity();
    const events: NetEvent[] = [];
    const aliceEvents: NetEvent[] = [];
    const server = await serve({ transport: m.transport, identity: generateIdentity(), allow: [mallory.id, alice.id], on: (e) => events.push(e) });
    const evil = await rawParty(m.transport, server.address, mallory);
    const a = await join({ transport: m.transport, address: server.address, identity: alice, on: (e) => aliceEvents.push(e) });
    const forge = (seq: number, keys: typeof evil.keys) =>
      sealMacEnvelope(keys, { round: 1, sessionId: evil.hello.sessionId, from: key(server.id), to: alice.publicKey, seq }, { header: { forged: true }, payloads: [] });
    // Injected on alice's link (mallory controls her network): tagged with mallory's keys in either direction.
    m.hooks.inject!(FRAME_ENVELOPE, forge(1000, evil.keys));
    m.hooks.inject!(FRAME_ENVELOPE, forge(1001, { ...evil.keys, send: evil.keys.receive, sendDirection: evil.keys.receiveDirection }));
    await eventually(() => of(aliceEvents, 'reject').length === 2);
    expect(of(aliceEvents, 'reject').map((e) => e.reason)).toEqual(['bad envelope MAC', 'bad envelope MAC']);
    // Through the server: refused there, and mallory is dropped.
    await evil.send(FRAME_ENVELOPE, forge(1, evil.keys));
    await eventually(() => of(events, 'drop').length === 1);
    expect(of(events, 'drop')[0]).toMatchObject({ party: mallory.id, reason: 'envelope sender is not the authenticated identity' });
    await expect(a.receive(1, { timeoutMs: 50 })).rejects.toThrow(/no message/);
    // The genuine server still gets through.
    await server.send(alice.id, 1, { header: { genuine: true }, payloads: [] });
    expect((await a.receive(1, { timeoutMs: 5000 })).header.genuine).toBe(true);
    await a.close();
    await server.close();
  });

  it('a relayed envelope must be signed and one for the server MAC\'d', async () => {
    const transport = memoryTransport();
    const mallory = generateIdentity();
    const bob = generateIdentity();
    const events: NetEvent[] = [];
    const server = await serve({ transport, identity: generateIdentity(), allow: [mallory.id, bob.id], on: (e) => events.push(e) });
    const b = await join({ transport, address: server.address, identity: bob });
    const evil = await rawParty(transport, server.address, mallory);
    // A MAC'd envelope addressed to bob: the server cannot check it for bob, so it refuses to relay it.
    await evil.send(FRAME_ENVELOPE, sealMacEnvelope(evil.keys, { round: 1, sessionId: evil.hello.sessionId, from: mallory.publicKey, to: bob.publicKey, seq: 1 }, { header: {}, payloads: [] }));
    await eventually(() => of(events, 'drop').length === 1);
    expect(of(events, 'drop')[0]).toMatchObject({ party: mallory.id, reason: 'relayed envelope is not signed' });
    await b.close();
    await server.close();
  });
});

describe('the handshake against a man in the middle', () => {
  for (const side of ['server', 'party'] as const) {
    it(`refuses a transcript whose ${side} ephemeral key was swapped`, async () => {
      const m = mitm(memoryTransport());
      const alice = generateIdentity();
      const events: NetEvent[] = [];
      const server = await serve({ transport: m.transport, identity: generateIdentity(), allow: [alice.id], on: (e) => events.push(e) });
      const attacker = ephemeral();
      if (side === 'server')
        m.hooks.down = (type, bytes) => (type === FRAME_HELLO ? [encodeHello({ ...decodeHello(bytes), ephemeral: attacker.publicKey })] : [bytes]);
      else m.hooks.up = (type, bytes) => (type === FRAME_AUTH ? [encodeAuth({ ...decodeAuth(bytes), ephemeral: attacker.publicKey })] : [bytes]);
      await expect(join({ transport: m.transport, address: server.address, identity: alice, reconnectWindowMs: 0 })).rejects.toThrow(/bad signature on the challenge/);
      expect(of(events, 'reject')[0].reason).toMatch(/bad signature on the challenge/);
      expect(server.parties()).toEqual([]);
      // Untouched, the same party joins.
      m.hooks.down = m.hooks.up = undefined;
      const a = await join({ transport: m.transport, address: server.address, identity: alice });
      expect(server.parties()).toEqual([a.id]);
      await a.close();
      await server.close();
    });
  }
});

describe('connections waiting to authenticate', () => {
  it('are capped by maxPendingConnections: the excess is closed with a reject event', async () => {
    const transport = memoryTransport();
    const alice = generateIdentity();
    const events: NetEvent[] = [];
    const server = await serve({ transport, identity: generateIdentity(), allow: [alice.id], maxPendingConnections: 2, on: (e) => events.push(e) });
    const links: { link: Link; closed: boolean }[] = [];
    for (let i = 0; i < 3; i++) {
      const link = await transport.dial(server.address);
      const entry = { link, closed: false };
      link.setHandlers({ frame: () => {}, close: () => void (entry.closed = true) });
      links.push(entry);
    }
    await eventually(() => links[2].closed);
    expect(links[0].closed || links[1].closed).toBe(false);
    expect(of(events, 'reject')).toHaveLength(1);
    expect(of(events, 'reject')[0].reason).toMatch(/too many connections waiting to authenticate \(maxPendingConnections = 2\)/);
    // While two wait, a real party is refused too; once one leaves, it gets in.
    await expect(join({ transport, address: server.address, identity: alice, reconnectWindowMs: 0 })).rejects.toThrow(/handshake/);
    links[0].link.close('bye');
    await eventually(() => of(events, 'reject').length === 3);
    const a = await join({ transport, address: server.address, identity: alice });
    expect(server.parties()).toEqual([a.id]);
    // An authenticated party no longer counts: two more may wait.
    const more = await Promise.all([transport.dial(server.address), transport.dial(server.address)]);
    let cut = 0;
    for (const l of more) l.setHandlers({ frame: () => {}, close: () => void cut++ });
    await new Promise((r) => setTimeout(r, 20));
    expect(cut).toBe(1); // links[1] still waits, so only one of the two fits
    await a.close();
    await server.close();
  });

  it('rejects a bad maxPendingConnections', async () => {
    for (const v of [0, -1, 1.5, NaN, '4'])
      await expect(serve({ transport: memoryTransport(), identity: generateIdentity(), allow: [], maxPendingConnections: v as number })).rejects.toThrow(/maxPendingConnections/);
  });
});
