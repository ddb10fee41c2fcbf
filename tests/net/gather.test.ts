/**
 * Sends without copies (README "Performance"): a MAC'd envelope sealed as
 * parts that lend the payloads' own bytes (`sealMacGathered`, used by
 * `party.send(..., { lend: true })`) must put exactly the bytes and tag of
 * the copying encoding on the wire, so a receiver cannot tell them apart and
 * a changed part fails the MAC; a gathered frame is the parts themselves, or
 * cut like any message when long; over WebSocket a frame of several pieces
 * travels as one WebSocket frame whose header confide writes (the server
 * unmasked, a loopback client with the all-zero key), which the header
 * function must get right at every length boundary.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import * as wsModule from 'ws';
import { WebSocket } from 'ws';
import { encodedLength, type Message } from '../../src/core/codec.ts';
import { seededRng } from '../../src/core/random.ts';
import { joinGathered, parseEnvelope, sealMacGathered, sealMacHeadroomed, verifyMacEnvelope } from '../../src/net/_envelope.ts';
import { FRAME_ENVELOPE, FRAME_HEADER_BYTES, Reassembler, concatPieces, frameGathered, frameHeadroomed } from '../../src/net/_frame.ts';
import { deriveKeys, ephemeral } from '../../src/net/_session.ts';
import { webSocketTransport, wsFrameHeader } from '../../src/net/websocket.ts';
import { generateIdentity, memoryTransport, type Link, type Transport } from '../../src/net/index.ts';
import { of, session } from './_helpers.ts';

const rng = seededRng(77);

function keyPair() {
  const p = ephemeral();
  const s = ephemeral();
  const sessionId = rng.bytes(16);
  const alice = generateIdentity();
  const party = deriveKeys(p, s.publicKey, sessionId, alice.publicKey, s.publicKey, p.publicKey, 'party')!;
  const server = deriveKeys(s, p.publicKey, sessionId, alice.publicKey, s.publicKey, p.publicKey, 'server')!;
  return { party, server, fields: { round: 5, sessionId, from: alice.publicKey, to: generateIdentity().publicKey, seq: 9 } };
}

/** Random bytes as a typed array of `kind`, `n` elements long, at `offset` elements into its buffer. */
function typed(kind: 'f32' | 'f64' | 'u8' | 'i16', n: number, offset: number): Message['payloads'][number] {
  const C = { f32: Float32Array, f64: Float64Array, u8: Uint8Array, i16: Int16Array }[kind];
  const size = C.BYTES_PER_ELEMENT;
  const buf = new ArrayBuffer((n + offset) * size);
  new Uint8Array(buf).set(rng.bytes((n + offset) * size));
  const t = new C(buf, offset * size, n);
  // Finite floats (NaN bit patterns are fine for the codec, but keep the data ordinary).
  if (t instanceof Float32Array || t instanceof Float64Array) for (let i = 0; i < n; i++) t[i] = (i % 7) - 3.5;
  return t;
}

describe('sealMacGathered', () => {
  it('gives the bytes and tag of sealMacHeadroomed for any payloads (property)', () => {
    const { party, fields } = keyPair();
    fc.assert(
      fc.property(
        fc.array(fc.record({ kind: fc.constantFrom('f32' as const, 'f64' as const, 'u8' as const, 'i16' as const), n: fc.nat(40), offset: fc.nat(3) }), { minLength: 1, maxLength: 5 }),
        fc.string({ maxLength: 30 }),
        (specs, name) => {
          const message: Message = { header: { kind: 'fit-result', names: name, examples: 3 }, payloads: specs.map((s) => typed(s.kind, s.n, s.offset)) };
          const copied = sealMacHeadroomed(party, fields, message, encodedLength(message)).headroom;
          const g = sealMacGathered(party, fields, message, encodedLength(message))!;
          expect(g).toBeDefined();
          expect(joinGathered(g).headroom).toEqual(copied);
        },
      ),
      { numRuns: 200, seed: 11 },
    );
  });

  it('lends the payload bytes: one part per non-empty payload is a view of its buffer, not a copy', () => {
    const { party, fields } = keyPair();
    const w = new Float32Array(1000).fill(0.25);
    const g = sealMacGathered(party, fields, { header: { a: 1 }, payloads: [w] }, encodedLength({ header: { a: 1 }, payloads: [w] }))!;
    expect(g.gathered).toHaveLength(2);
    expect(g.gathered[1].buffer).toBe(w.buffer);
    expect(g.gathered[1].byteLength).toBe(w.byteLength);
  });

  it('is verified by the receiver like any MAC\'d envelope, and a changed part (payload or header) is refused', () => {
    const { party, server, fields } = keyPair();
    const message: Message = { header: { kind: 'x' }, payloads: [Float32Array.of(1, 2, 3), Uint8Array.of(7)] };
    const g = sealMacGathered(party, fields, message, encodedLength(message))!;
    const received = () => joinGathered(g).headroom.subarray(FRAME_HEADER_BYTES);
    expect(verifyMacEnvelope(parseEnvelope(received()), server)).toBe(true);
    // A bit flipped in the payload's part after sealing (what a receiver would see).
    (message.payloads[0] as Float32Array)[1] = 2.5;
    expect(verifyMacEnvelope(parseEnvelope(received()), server)).toBe(false);
    (message.payloads[0] as Float32Array)[1] = 2;
    expect(verifyMacEnvelope(parseEnvelope(received()), server)).toBe(true);
    g.gathered[0][FRAME_HEADER_BYTES + 70] ^= 1; // the round field
    expect(verifyMacEnvelope(parseEnvelope(received()), server)).toBe(false);
  });

  it('declines a message without payloads (the copying path seals it)', () => {
    const { party, fields } = keyPair();
    expect(sealMacGathered(party, fields, { header: { a: 1 }, payloads: [] }, encodedLength({ header: { a: 1 }, payloads: [] }))).toBeUndefined();
  });

  it('refuses a message whose payloads changed size since it was measured', () => {
    const { party, fields } = keyPair();
    const message: Message = { header: {}, payloads: [new Float32Array(4)] };
    expect(() => sealMacGathered(party, fields, message, encodedLength(message) + 8)).toThrow(expect.objectContaining({ code: 'E_BAD_INPUT' }));
  });
});

describe('frameGathered', () => {
  it('makes one frame of the parts themselves, or the chunks of their concatenation, which reassemble to the message', () => {
    const { party, fields } = keyPair();
    for (const n of [10, 5000]) {
      const message: Message = { header: { n }, payloads: [typed('f32', n, 1)] };
      const g = sealMacGathered(party, fields, message, encodedLength(message))!;
      const copy = joinGathered(g);
      const chunk = 4096;
      const frames = frameGathered(FRAME_ENVELOPE, 0, g.gathered, chunk);
      const expected = frameHeadroomed(FRAME_ENVELOPE, 0, copy, chunk);
      expect(frames.map(concatPieces)).toEqual(expected.map(concatPieces));
      if (frames.length === 1) expect(frames[0][1]).toBe(g.gathered[1]);
      const r = new Reassembler({ chunkBytes: chunk, maxMessageBytes: 1 << 20 });
      let got;
      for (const f of frames) got = r.push(concatPieces(f));
      expect(got?.bytes).toEqual(copy.headroom.subarray(FRAME_HEADER_BYTES));
    }
  });
});

// ws exports its frame writer at run time; its type declarations do not list it.
const Sender = (wsModule as unknown as { Sender: { frame(data: Buffer, options: Record<string, unknown>): Buffer[] } }).Sender;

describe('wsFrameHeader', () => {
  it('writes the header ws writes for the same frame, at every length boundary, unmasked and with the zero key', () => {
    for (const n of [0, 1, 125, 126, 127, 65535, 65536, 70000]) {
      const data = Buffer.alloc(n);
      const plain = Sender.frame(data, { fin: true, opcode: 2, mask: false, readOnly: false, rsv1: false });
      expect(wsFrameHeader(n, false)).toEqual(new Uint8Array(plain[0]));
      const zero = Sender.frame(data, { fin: true, opcode: 2, mask: true, readOnly: false, rsv1: false, generateMask: (m: Buffer) => void m.fill(0) });
      expect(wsFrameHeader(n, true)).toEqual(new Uint8Array(zero[0]));
    }
  });
});

describe('WebSocket links write a frame of several pieces as one WebSocket frame', () => {
  it('server to a bare ws client: one fragment holding the pieces in order', async () => {
    const t = webSocketTransport();
    const links: Link[] = [];
    const listener = await t.listen((l) => links.push(l));
    const ws = new WebSocket(listener.address, { perMessageDeflate: false });
    ws.binaryType = 'fragments';
    const got = new Promise<Buffer[]>((resolve) => ws.once('message', (d) => resolve(d as unknown as Buffer[])));
    await new Promise((r) => ws.once('open', r));
    while (links.length === 0) await new Promise((r) => setTimeout(r, 5));
    const pieces = [rng.bytes(30), rng.bytes(70_000), rng.bytes(5), rng.bytes(100_000)];
    await links[0].send(pieces);
    const fragments = await got;
    expect(fragments).toHaveLength(1);
    expect(new Uint8Array(fragments[0])).toEqual(concatPieces(pieces));
    ws.close();
    await listener.close();
  });

  it('a loopback client (zero mask) to the server: the bytes arrive as sent', async () => {
    const t = webSocketTransport();
    const frames: Uint8Array[] = [];
    const listener = await t.listen((l) => l.setHandlers({ frame: (f) => frames.push(f.slice()), close: () => {} }));
    const link = await t.dial(listener.address);
    link.setHandlers({ frame: () => {}, close: () => {} });
    const a = [rng.bytes(100), rng.bytes(80_000), rng.bytes(3)];
    const b = [rng.bytes(65_536), rng.bytes(1)];
    await link.send(a);
    await link.send(b);
    await link.send([rng.bytes(10)]);
    const deadline = Date.now() + 5000;
    while (frames.length < 3 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
    expect(frames[0]).toEqual(concatPieces(a));
    expect(frames[1]).toEqual(concatPieces(b));
    expect(frames[2]).toHaveLength(10);
    link.close('done');
    await listener.close();
  });
});

describe('party.send with { lend: true }', () => {
  for (const [name, transport] of [
    ['memory', () => memoryTransport()],
    ['websocket', () => webSocketTransport()],
  ] as [string, () => Transport][]) {
    it(`delivers what a copying send delivers (${name})`, async () => {
      const s = await session(1, { transport: transport() });
      try {
        const [p] = s.parties;
        const w = typed('f32', 300_000, 1) as Float32Array;
        const v = Uint8Array.of(1, 2, 3);
        await p.send(s.server.id, 1, { header: { k: 'lent' }, payloads: [w, v] }, { lend: true });
        await p.send(s.server.id, 1, { header: { k: 'copied' }, payloads: [w, v] });
        const a = await s.server.receive(1, { from: p.id, timeoutMs: 10_000 });
        const b = await s.server.receive(1, { from: p.id, timeoutMs: 10_000 });
        expect([a.header.k, b.header.k]).toEqual(['lent', 'copied']);
        expect(a.payloads).toEqual(b.payloads);
        expect(a.payloads[0]).toEqual(w);
        expect(of(s.serverEvents, 'reject')).toEqual([]);
      } finally {
        await s.close();
      }
    });
  }

  it('refuses bad options before sending', async () => {
    const s = await session(1);
    try {
      const [p] = s.parties;
      const m = { header: {}, payloads: [new Float32Array(2)] };
      for (const bad of [{ lend: 1 }, { lend: 'yes' }, { copy: false }, null, 5, [true]])
        await expect(p.send(s.server.id, 1, m, bad as never)).rejects.toMatchObject({ code: 'E_BAD_INPUT' });
    } finally {
      await s.close();
    }
  });
});
