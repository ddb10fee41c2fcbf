/**
 * Framing, envelopes and identities without any network: chunking round
 * trips (property tests over message and chunk sizes), every framing
 * violation the reassembler must refuse, the memory bound on partial
 * messages, and signatures that fail on any changed byte.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { isConfideError } from '../../src/core/errors.ts';
import { seededRng } from '../../src/core/random.ts';
import {
  CHUNK_BYTES,
  CHUNK_SLACK_BYTES,
  FRAME_ENVELOPE,
  FRAME_HEADER_BYTES,
  FRAME_PING,
  NET_VERSION,
  Reassembler,
  concatPieces,
  decodeAck,
  encodeAck,
  frameHeadroomed,
  frameMessage,
  framePieces,
  maxChunkData,
} from '../../src/net/_frame.ts';
import {
  ENVELOPE_HEADER_BYTES,
  decodeAuth,
  decodeHello,
  decodeWelcome,
  encodeAuth,
  encodeHello,
  encodeWelcome,
  envelopeBody,
  parseEnvelope,
  sealEnvelope,
  verifyEnvelope,
} from '../../src/net/_envelope.ts';
import { generateIdentity, identityFromSeed, identitySeed, partyId, signWithIdentity, verifySignature } from '../../src/net/index.ts';
import { verifyBytes, signBytes } from '../../src/net/identity.ts';
import { confusionFailures } from '../_battery.ts';

const rng = seededRng(7);

function reassemble(frames: Uint8Array[], chunkBytes: number, maxMessageBytes = 1 << 30) {
  const r = new Reassembler({ chunkBytes, maxMessageBytes });
  const out = [];
  for (const f of frames) {
    const m = r.push(f);
    if (m) out.push(m);
  }
  return out;
}

function protocolError(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    if (isConfideError(e, 'E_PROTOCOL')) return e.message;
    throw e;
  }
  throw new Error('expected E_PROTOCOL, nothing was thrown');
}

describe('frames', () => {
  it('round-trip any sequence of messages at any chunk size (property)', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 64 }),
        fc.array(fc.record({ type: fc.integer({ min: 1, max: 7 }), len: fc.integer({ min: 0, max: 300 }) }), { maxLength: 8 }),
        (chunk, specs) => {
          const msgs = specs.map((s) => ({ type: s.type, bytes: rng.bytes(s.len) }));
          const frames = msgs.flatMap((m, i) => frameMessage(m.type, i, m.bytes, chunk));
          for (const f of frames) expect(f.length).toBeLessThanOrEqual(FRAME_HEADER_BYTES + maxChunkData(chunk));
          const back = reassemble(frames, chunk);
          expect(back.map((m) => m.type)).toEqual(msgs.map((m) => m.type));
          back.forEach((m, i) => expect(Buffer.from(m.bytes).equals(Buffer.from(msgs[i].bytes))).toBe(true));
          // Reassembled messages are 8-aligned, so typed views over them need no copy.
          for (const m of back) expect(m.bytes.byteOffset % 8).toBe(0);
        },
      ),
    );
  });

  it('frames a message given in parts exactly as the same bytes in one piece, without copying (property)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 40 }), fc.array(fc.integer({ min: 0, max: 90 }), { maxLength: 5 }), (chunk, lens) => {
        const parts = lens.map((n) => rng.bytes(n));
        const whole = concatPieces(parts.length ? parts : [new Uint8Array(0)]);
        const pieces = framePieces(FRAME_ENVELOPE, 3, parts, chunk);
        expect(pieces.map(concatPieces)).toEqual(frameMessage(FRAME_ENVELOPE, 3, whole, chunk));
        // Every piece after a header is a view of a part.
        for (const f of pieces) for (const p of f.slice(1)) expect(parts.some((q) => q.buffer === p.buffer)).toBe(true);
      }),
    );
  });

  it('cuts at exactly 4 MiB on the wire', () => {
    const msg = new Uint8Array(2 * CHUNK_BYTES + 5);
    msg[CHUNK_BYTES] = 9;
    const frames = frameMessage(FRAME_ENVELOPE, 0, msg);
    expect(frames.map((f) => f.length - FRAME_HEADER_BYTES)).toEqual([CHUNK_BYTES, CHUNK_BYTES, 5]);
    expect([frames[0][0], frames[0][1], frames[0][2], frames[0][3]]).toEqual([0x43, 0x4e, NET_VERSION, FRAME_ENVELOPE]);
    const [back] = reassemble(frames, CHUNK_BYTES, 3 * CHUNK_BYTES);
    expect(back.bytes.length).toBe(msg.length);
    expect(back.bytes[CHUNK_BYTES]).toBe(9);
  });

  it('a message up to 4 MiB + 64 KiB is one frame (a 4 MiB tensor with its headers); past that, 4 MiB chunks', () => {
    expect(CHUNK_SLACK_BYTES).toBe(64 * 1024);
    expect(maxChunkData(CHUNK_BYTES)).toBe(CHUNK_BYTES + CHUNK_SLACK_BYTES);
    expect(maxChunkData(64)).toBe(65);
    expect(frameMessage(FRAME_ENVELOPE, 0, new Uint8Array(65), 64)).toHaveLength(1);
    const lens = (n: number) => frameMessage(FRAME_ENVELOPE, 0, new Uint8Array(n)).map((f) => f.length - FRAME_HEADER_BYTES);
    expect(lens(CHUNK_BYTES + 184)).toEqual([CHUNK_BYTES + 184]);
    expect(lens(CHUNK_BYTES + CHUNK_SLACK_BYTES)).toEqual([CHUNK_BYTES + CHUNK_SLACK_BYTES]);
    expect(lens(CHUNK_BYTES + CHUNK_SLACK_BYTES + 1)).toEqual([CHUNK_BYTES, CHUNK_SLACK_BYTES + 1]);
    // The receiver uses a one-frame message in place: no copy.
    const [f] = frameMessage(FRAME_ENVELOPE, 0, new Uint8Array(CHUNK_BYTES + 184));
    const [back] = reassemble([f], CHUNK_BYTES);
    expect(back.bytes.buffer).toBe(f.buffer);
    // A peer that splits such a message anyway breaks the format.
    const split = framePieces(FRAME_ENVELOPE, 0, [new Uint8Array(CHUNK_BYTES + 184)], CHUNK_BYTES);
    expect(split).toHaveLength(1);
    const odd = frameMessage(FRAME_ENVELOPE, 0, new Uint8Array(40), 16).slice(0, 1); // 16-byte chunks of a 40-byte message
    expect(protocolError(() => reassemble(odd, 64))).toMatch(/carries 16 bytes, expected 40/);
  });

  it('frames a message laid out with headroom as the same frames, the first one a view of its buffer (property)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 40 }), fc.integer({ min: 0, max: 200 }), (chunk, len) => {
        const msg = rng.bytes(len);
        const buf = new Uint8Array(FRAME_HEADER_BYTES + len).fill(0xee);
        buf.set(msg, FRAME_HEADER_BYTES);
        const frames = frameHeadroomed(FRAME_ENVELOPE, 5, { headroom: buf }, chunk);
        expect(frames.map(concatPieces)).toEqual(frameMessage(FRAME_ENVELOPE, 5, msg, chunk));
        expect(frames[0]).toHaveLength(1);
        expect(frames[0][0].buffer).toBe(buf.buffer);
        expect(frames[0][0].byteOffset).toBe(0);
      }),
    );
  });

  it('refuses truncated frames, bad magic, other versions and unknown types', () => {
    const [f] = frameMessage(FRAME_PING, 0, new Uint8Array(3), 16);
    const r = () => new Reassembler({ chunkBytes: 16, maxMessageBytes: 100 });
    expect(protocolError(() => r().push(f.subarray(0, 10)))).toMatch(/truncated/);
    expect(protocolError(() => r().push(f.subarray(0, f.length - 1)))).toMatch(/carries 2 bytes, expected 3/);
    for (const [at, value, why] of [
      [0, 0x00, /magic/],
      [2, 1, /version 1/],
      [3, 0, /unknown frame type/],
      [3, 8, /unknown frame type/],
    ] as const) {
      const bad = f.slice();
      bad[at] = value;
      expect(protocolError(() => r().push(bad))).toMatch(why);
    }
  });

  it('refuses out-of-order chunks and messages, interleaving, and wrong chunk lengths', () => {
    const a = frameMessage(FRAME_ENVELOPE, 0, new Uint8Array(40), 16);
    const b = frameMessage(FRAME_ENVELOPE, 1, new Uint8Array(40), 16);
    const mk = () => new Reassembler({ chunkBytes: 16, maxMessageBytes: 100 });
    expect(protocolError(() => mk().push(a[1]))).toMatch(/starts at chunk 1/);
    expect(protocolError(() => mk().push(b[0]))).toMatch(/message number 1 out of order/);
    let r = mk();
    r.push(a[0]);
    expect(protocolError(() => r.push(a[2]))).toMatch(/chunk 2 out of order/);
    r = mk();
    r.push(a[0]);
    expect(protocolError(() => r.push(b[0]))).toMatch(/interleaved/);
    // A replayed whole message: its number is behind.
    r = mk();
    for (const f of a) r.push(f);
    expect(protocolError(() => r.push(a[0]))).toMatch(/out of order/);
    // A peer that lies about the chunk size.
    const odd = frameMessage(FRAME_ENVELOPE, 0, new Uint8Array(40), 8);
    expect(protocolError(() => mk().push(odd[0]))).toMatch(/expected 16/);
  });

  it('refuses a declared message over the limit on its first chunk, before keeping anything', () => {
    const r = new Reassembler({ chunkBytes: 16, maxMessageBytes: 100 });
    const [first] = frameMessage(FRAME_ENVELOPE, 0, new Uint8Array(101), 16);
    expect(protocolError(() => r.push(first))).toMatch(/exceeds the limit of 100/);
    expect(r.bufferedBytes).toBe(0);
  });

  it('holds only the bytes received for a partial message, never what a peer declares', () => {
    const r = new Reassembler({ chunkBytes: 16, maxMessageBytes: 1 << 30 });
    // A header declaring a 1 GiB message with one 16-byte chunk.
    const f = new Uint8Array(FRAME_HEADER_BYTES + 16);
    f.set([0x43, 0x4e, NET_VERSION, FRAME_ENVELOPE]);
    new DataView(f.buffer).setUint32(12, 1 << 30, true);
    expect(r.push(f)).toBeUndefined();
    expect(r.bufferedBytes).toBe(16);
  });

  it('survives random bytes: every input either reassembles or throws E_PROTOCOL (property)', () => {
    fc.assert(
      fc.property(fc.array(fc.uint8Array({ maxLength: 64 }), { maxLength: 6 }), (frames) => {
        const r = new Reassembler({ chunkBytes: 16, maxMessageBytes: 64 });
        try {
          for (const f of frames) r.push(f);
        } catch (e) {
          expect(isConfideError(e, 'E_PROTOCOL')).toBe(true);
        }
      }),
    );
  });
});

describe('envelopes', () => {
  const alice = generateIdentity();
  const bob = generateIdentity();
  const sessionId = rng.bytes(16);
  const fields = { round: 3, sessionId, from: alice.publicKey, to: bob.publicKey, seq: 42 };
  const msg = { header: { kind: 'share', n: 5 }, payloads: [new Float32Array([1.5, -2]), new BigUint64Array([7n])] };

  it('seal, parse, verify and decode round-trip; payloads come back as aligned views', () => {
    const env = sealEnvelope(alice, fields, msg);
    const e = parseEnvelope(env);
    expect(e.round).toBe(3);
    expect(e.seq).toBe(42);
    expect(partyId(e.from)).toBe(alice.id);
    expect(partyId(e.to)).toBe(bob.id);
    expect(verifyEnvelope(e)).toBe(true);
    const body = envelopeBody(e, {});
    expect(body.header.kind).toBe('share');
    expect(Array.from(body.payloads[0] as Float32Array)).toEqual([1.5, -2]);
    expect((body.payloads[1] as BigUint64Array)[0]).toBe(7n);
    expect(body.payloads[0].buffer).toBe(env.buffer);
    expect(ENVELOPE_HEADER_BYTES % 8).toBe(0);
  });

  it('a change to any signed byte breaks the signature (round, session, sender, recipient, sequence, body)', () => {
    const env = sealEnvelope(alice, fields, msg);
    for (const at of [0, 63, 68, 72, 87, 88, 120, 152, ENVELOPE_HEADER_BYTES, env.length - 1]) {
      const bad = env.slice();
      bad[at] ^= 1;
      let ok: boolean;
      try {
        ok = verifyEnvelope(parseEnvelope(bad));
      } catch (e) {
        ok = !isConfideError(e, 'E_DECODE');
      }
      expect(ok, `byte ${at}`).toBe(false);
    }
  });

  it('refuses short envelopes, other versions and kinds, and reserved bytes', () => {
    const env = sealEnvelope(alice, fields, msg);
    const decodeErr = (b: Uint8Array) => {
      try {
        parseEnvelope(b);
        return 'parsed';
      } catch (e) {
        return isConfideError(e, 'E_DECODE') ? 'E_DECODE' : String(e);
      }
    };
    expect(decodeErr(env.subarray(0, 100))).toBe('E_DECODE');
    for (const at of [64, 65, 66, 67]) {
      const bad = env.slice();
      bad[at] ^= 0x10;
      expect(decodeErr(bad), `byte ${at}`).toBe('E_DECODE');
    }
  });

  it('handshake messages round-trip and refuse wrong field sizes', () => {
    const hello = { sessionId, serverKey: bob.publicKey, challenge: rng.bytes(32), ephemeral: rng.bytes(32) };
    expect(decodeHello(encodeHello(hello))).toEqual(hello);
    const auth = { publicKey: alice.publicKey, nonce: rng.bytes(32), ephemeral: rng.bytes(32), signature: rng.bytes(64), tokenProof: new Uint8Array(0), received: 7 };
    expect(decodeAuth(encodeAuth(auth))).toEqual(auth);
    expect(() => decodeAuth(encodeAuth({ ...auth, received: -1 }))).toThrow(/received/);
    expect(() => decodeAuth(encodeAuth({ ...auth, received: 0.5 }))).toThrow(/received/);
    const welcome = { signature: rng.bytes(64), lastSeq: 9, resumed: true };
    expect(decodeWelcome(encodeWelcome(welcome))).toEqual(welcome);
    expect(() => decodeHello(encodeHello({ ...hello, challenge: rng.bytes(31) }))).toThrow(/challenge/);
    expect(() => decodeHello(encodeHello({ ...hello, ephemeral: rng.bytes(33) }))).toThrow(/kx/);
    expect(() => decodeAuth(encodeAuth({ ...auth, ephemeral: rng.bytes(0) }))).toThrow(/kx/);
    expect(() => decodeAuth(encodeHello(hello))).toThrow(/handshake fields/);
  });
});

describe('identities', () => {
  it('a seed gives the same key pair back; signatures verify only under the right key', () => {
    const a = generateIdentity();
    const again = identityFromSeed(identitySeed(a));
    expect(again.id).toBe(a.id);
    expect(a.id).toMatch(/^[0-9a-f]{64}$/);
    const data = rng.bytes(100);
    const sig = signBytes(a, data);
    expect(verifyBytes(again.publicKey, data, sig)).toBe(true);
    expect(verifyBytes(generateIdentity().publicKey, data, sig)).toBe(false);
    // Not a curve point: refused, not thrown.
    expect(verifyBytes(new Uint8Array(32).fill(0xff), data, sig)).toBe(false);
  });

  it('RFC 8032 test vector 1: the seed gives the published public key', () => {
    const seed = Buffer.from('9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60', 'hex');
    expect(identityFromSeed(new Uint8Array(seed)).id).toBe('d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a');
  });

  it('RFC 8032 test vector 2: signWithIdentity gives the published signature, and verifySignature accepts only it', () => {
    const id = identityFromSeed(new Uint8Array(Buffer.from('4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb', 'hex')));
    const message = new Uint8Array([0x72]);
    const sig = signWithIdentity(id, message);
    expect(Buffer.from(sig).toString('hex')).toBe(
      '92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00',
    );
    const key = new Uint8Array(Buffer.from(id.id, 'hex'));
    expect(verifySignature(key, message, sig)).toBe(true);
    for (let i = 0; i < 64; i += 7) {
      const bad = sig.slice();
      bad[i] ^= 1;
      expect(verifySignature(key, message, bad)).toBe(false);
    }
    expect(verifySignature(key, new Uint8Array([0x73]), sig)).toBe(false);
    expect(verifySignature(key, message, sig.subarray(0, 63))).toBe(false);
    expect(verifySignature(new Uint8Array(32).fill(0xff), message, sig)).toBe(false); // not a curve point
    expect(() => verifySignature(key.subarray(0, 31), message, sig)).toThrow(/publicKey/);
  });

  it('passes the type-confusion battery', async () => {
    const seed = rng.bytes(32);
    const a = generateIdentity();
    expect(await confusionFailures('identityFromSeed', identityFromSeed, () => [seed])).toEqual([]);
    expect(await confusionFailures('partyId', partyId, () => [a.publicKey])).toEqual([]);
    expect(await confusionFailures('identitySeed', identitySeed, () => [a])).toEqual([]);
    expect(await confusionFailures('signWithIdentity', signWithIdentity, () => [a, new Uint8Array(3)])).toEqual([]);
    const sig = signWithIdentity(a, new Uint8Array(3));
    expect(await confusionFailures('verifySignature', verifySignature, () => [a.publicKey, new Uint8Array(3), sig])).toEqual([]);
  });
});

describe('heartbeat acknowledgements', () => {
  it('round-trip every sequence number up to 2^53 - 1; empty means none; other lengths and larger values are violations', () => {
    fc.assert(fc.property(fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }), (n) => decodeAck(encodeAck(n)) === n));
    expect(decodeAck(new Uint8Array(0))).toBeUndefined();
    for (const len of [1, 3, 7, 9, 16]) expect(() => decodeAck(new Uint8Array(len))).toThrow(/heartbeat frame with a/);
    expect(() => decodeAck(new Uint8Array(8).fill(0xff))).toThrow(/beyond 2\^53/);
  });
});
