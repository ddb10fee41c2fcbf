/**
 * Envelopes (what parties and the server send each other) and the handshake
 * messages. Normative layout in src/net/README.md ("Envelopes", "Handshake").
 *
 * ```
 * offset size field
 *      0   64 authenticator: kind 1, an Ed25519 signature by the sender;
 *             kind 2, a 16-byte GMAC tag then 48 zero bytes
 *     64    1 protocol version u8 = 2
 *     65    1 kind u8: 1 signed (party to party, relayed), 2 MAC'd (party <-> server)
 *     66    2 reserved, zero
 *     68    4 round u32
 *     72   16 session id
 *     88   32 sender public key
 *    120   32 recipient public key
 *    152    8 sequence number u64 (per sender and session, strictly increasing)
 *    160  ... body: one core codec message (header + typed-array payloads)
 * ```
 *
 * A signature covers ENVELOPE_DOMAIN || bytes[64, 160) || SHA-256(body):
 * fixed-length fields then a fixed-length digest, so the encoding is
 * unambiguous, and the body is hashed once at SHA-256 speed instead of twice
 * at SHA-512 speed inside Ed25519. A MAC tag covers bytes[64, end) under the
 * link's key for the sender's direction (see _session.ts). The body starts
 * at offset 160, a multiple of 8, so the codec's payloads decode as views
 * without copies.
 */
import { createHash, createHmac } from 'node:crypto';
import { decodeMessage, encodeMessage, encodeMessageInto, type DecodeLimits, type Message } from '../core/codec.ts';
import { ConfideError } from '../core/errors.ts';
import { FRAME_HEADER_BYTES, NET_VERSION, type Headroomed } from './_frame.ts';
import { randomBytes } from '../core/random.ts';
import { EPHEMERAL_BYTES, TAG_BYTES, deriveKeys, ephemeral, macTag, macVerify, type SessionKeys } from './_session.ts';
import { PUBLIC_KEY_BYTES, SIGNATURE_BYTES, signBytes, verifyBytes, type Identity } from './identity.ts';

export const SESSION_ID_BYTES = 16;
export const ENVELOPE_HEADER_BYTES = 160;
/** Signed by the sender's Ed25519 key: party-to-party messages, which the server relays. */
export const KIND_SIGNED = 1;
/** Tagged with the link's session key: messages between a party and the server. */
export const KIND_MAC = 2;
/** Where the authenticated fields start: the signature or tag covers bytes from here on. */
const FIELDS_AT = SIGNATURE_BYTES;

const ENVELOPE_DOMAIN = new TextEncoder().encode('confide/net/v2/envelope\0');
const AUTH_DOMAIN = new TextEncoder().encode('confide/net/v2/auth\0');
const WELCOME_DOMAIN = new TextEncoder().encode('confide/net/v2/welcome\0');

export interface EnvelopeFields {
  round: number;
  sessionId: Uint8Array;
  from: Uint8Array;
  to: Uint8Array;
  seq: number;
}

export interface OpenedEnvelope extends EnvelopeFields {
  kind: number;
  /** The whole envelope, for relaying unchanged. */
  bytes: Uint8Array;
  /** The signature (kind 1) or tag (kind 2). */
  authenticator: Uint8Array;
  body: Uint8Array;
}

function decodeError(reason: string): ConfideError {
  return new ConfideError('E_DECODE', `net: ${reason}`, { field: 'envelope' });
}

function sha256(b: Uint8Array): Uint8Array {
  return createHash('sha256').update(b).digest();
}

function signedData(fields: Uint8Array, digest: Uint8Array): Uint8Array {
  const d = new Uint8Array(ENVELOPE_DOMAIN.length + (ENVELOPE_HEADER_BYTES - FIELDS_AT) + digest.length);
  d.set(ENVELOPE_DOMAIN);
  d.set(fields, ENVELOPE_DOMAIN.length);
  d.set(digest, d.length - digest.length);
  return d;
}

/** Writes an envelope header at `at` in `out`: the fields, and a zeroed authenticator. */
function writeHeader(out: Uint8Array, at: number, kind: number, f: EnvelopeFields): void {
  const dv = new DataView(out.buffer, out.byteOffset + at, ENVELOPE_HEADER_BYTES);
  out.fill(0, at, at + FIELDS_AT);
  out[at + 64] = NET_VERSION;
  out[at + 65] = kind;
  out[at + 66] = 0;
  out[at + 67] = 0;
  dv.setUint32(68, f.round, true);
  out.set(f.sessionId, at + 72);
  out.set(f.from, at + 88);
  out.set(f.to, at + 120);
  dv.setBigUint64(152, BigInt(f.seq), true);
}

/** A message body encoded once, to seal for one or many recipients (its digest is computed when first signed). */
export interface PreparedBody {
  body: Uint8Array;
  digest?: Uint8Array;
}

/** Encodes a message with the core codec (E_BAD_INPUT on a bad message). */
export function prepareBody(message: Message): PreparedBody {
  return { body: encodeMessage(message) };
}

/** Builds and signs an envelope around a prepared body, as two parts: its 160-byte header and the body (shared, not copied). */
export function sealSigned(identity: Identity, f: EnvelopeFields, p: PreparedBody): Uint8Array[] {
  const out = new Uint8Array(ENVELOPE_HEADER_BYTES);
  writeHeader(out, 0, KIND_SIGNED, f);
  p.digest ??= sha256(p.body);
  out.set(signBytes(identity, signedData(out.subarray(FIELDS_AT), p.digest)), 0);
  return [out, p.body];
}

/** Builds and tags an envelope around a prepared body with the link's sending key, as two parts. */
export function sealMac(keys: SessionKeys, f: EnvelopeFields, p: PreparedBody): Uint8Array[] {
  const out = new Uint8Array(ENVELOPE_HEADER_BYTES);
  writeHeader(out, 0, KIND_MAC, f);
  out.set(macTag(keys.send, keys.sendDirection, f.seq, [out.subarray(FIELDS_AT), p.body]), 0);
  return [out, p.body];
}

/**
 * Encodes `message` straight into a fresh frame buffer after FRAME_HEADER_BYTES
 * of room and its envelope header, and tags it: the one copy of the payloads
 * a send makes. `bodyBytes` is `encodedLength(message)`, taken by the caller
 * beforehand (the message is validated then); a message that changed size
 * since is refused (E_BAD_INPUT), so no byte of the buffer goes out unwritten.
 */
export function sealMacHeadroomed(keys: SessionKeys, f: EnvelopeFields, message: Message, bodyBytes: number): Headroomed {
  const n = FRAME_HEADER_BYTES + ENVELOPE_HEADER_BYTES + bodyBytes;
  // Not zero-filled: the frame header, envelope header and encoding write every byte.
  const buf = new Uint8Array(Buffer.allocUnsafeSlow(n).buffer, 0, n);
  buf.fill(0, 0, FRAME_HEADER_BYTES);
  writeHeader(buf, FRAME_HEADER_BYTES, KIND_MAC, f);
  const written = encodeMessageInto(message, buf, FRAME_HEADER_BYTES + ENVELOPE_HEADER_BYTES);
  if (written !== bodyBytes) {
    buf.fill(0);
    throw new ConfideError('E_BAD_INPUT', '"message" changed while it was being sent', { field: 'message' });
  }
  buf.set(macTag(keys.send, keys.sendDirection, f.seq, [buf.subarray(FRAME_HEADER_BYTES + FIELDS_AT)]), FRAME_HEADER_BYTES);
  return { headroom: buf };
}

/**
 * An envelope as a list of parts whose concatenation is the message after
 * FRAME_HEADER_BYTES of room at the start of the first part (the room takes
 * the first frame header): the envelope header and the codec's header and
 * payload table, then each payload's own bytes (not copied), with the
 * codec's zero padding between them.
 */
export interface Gathered {
  readonly gathered: readonly Uint8Array[];
}

const LITTLE_ENDIAN = new Uint8Array(Uint16Array.of(1).buffer)[0] === 1;
const ZEROS = new Uint8Array(8);

/** An empty typed array of the same kind as `p` (a Buffer counts as a Uint8Array, as the codec reads it). */
function emptyLike(p: ArrayBufferView): ArrayBufferView {
  const kind = (p as unknown as { [Symbol.toStringTag]: string })[Symbol.toStringTag];
  const C = (globalThis as unknown as Record<string, new (n: number) => ArrayBufferView>)[kind];
  return new C(0);
}

/**
 * `sealMacHeadroomed` without copying the payloads: the same bytes on the
 * wire, as parts (`Gathered`), and the same tag, computed over the parts in
 * order. The codec's header and table come from encoding the message with
 * empty payloads of the same kinds, then writing in the real lengths (its
 * format, src/core/codec.ts: total length at byte 12, the table after the
 * header, each entry's byte length at +4, every payload 8-aligned). The
 * payloads' bytes are read when the frame is written, and again if it is
 * resent after a reconnection. Undefined when the message has no payloads
 * or the host is big-endian (the codec swaps bytes there): seal it with
 * `sealMacHeadroomed` then.
 */
export function sealMacGathered(keys: SessionKeys, f: EnvelopeFields, message: Message, bodyBytes: number): Gathered | undefined {
  const payloads = message.payloads as readonly ArrayBufferView[];
  if (!LITTLE_ENDIAN || payloads.length === 0) return undefined;
  const shell = encodeMessage({ header: message.header, payloads: payloads.map(emptyLike) as Message['payloads'] });
  const room = FRAME_HEADER_BYTES + ENVELOPE_HEADER_BYTES;
  const head = new Uint8Array(room + shell.length);
  head.fill(0, 0, FRAME_HEADER_BYTES);
  writeHeader(head, FRAME_HEADER_BYTES, KIND_MAC, f);
  head.set(shell, room);
  const dv = new DataView(head.buffer, room, shell.length);
  dv.setUint32(12, bodyBytes, true);
  const table = 16 + dv.getUint32(4, true);
  const parts: Uint8Array[] = [head];
  let pos = shell.length;
  for (let i = 0; i < payloads.length; i++) {
    const p = payloads[i];
    if (i > 0 && pos % 8 !== 0) {
      parts.push(ZEROS.subarray(0, 8 - (pos % 8)));
      pos += 8 - (pos % 8);
    }
    dv.setUint32(table + 8 * i + 4, p.byteLength, true);
    if (p.byteLength > 0) parts.push(new Uint8Array(p.buffer, p.byteOffset, p.byteLength));
    pos += p.byteLength;
  }
  if (pos !== bodyBytes) throw new ConfideError('E_BAD_INPUT', '"message" changed while it was being sent', { field: 'message' });
  const aad = [head.subarray(FRAME_HEADER_BYTES + FIELDS_AT), ...parts.slice(1)];
  head.set(macTag(keys.send, keys.sendDirection, f.seq, aad), FRAME_HEADER_BYTES);
  return { gathered: parts };
}

/** The bytes of a gathered envelope in one buffer, room included (a resend's copy). */
export function joinGathered(g: Gathered): Headroomed {
  let n = 0;
  for (const p of g.gathered) n += p.length;
  const buf = new Uint8Array(Buffer.allocUnsafeSlow(n).buffer, 0, n);
  let at = 0;
  for (const p of g.gathered) {
    buf.set(p, at);
    at += p.length;
  }
  return { headroom: buf };
}

/**
 * A copy of a sealed `sealMacHeadroomed` envelope, tagged for a new link (same
 * fields and sequence number, the new link's key): how a party resends, after
 * a reconnection, what the server never received. Keys are fresh per link, so
 * the (key, nonce) pair is still new. A copy, not the buffer itself: the old
 * link may still be writing it out (a closing WebSocket flushes what it
 * queued), and the server must see those bytes as they were.
 */
export function retagMacHeadroomed(keys: SessionKeys, seq: number, h: Headroomed): Headroomed {
  const buf = new Uint8Array(Buffer.allocUnsafeSlow(h.headroom.length).buffer, 0, h.headroom.length);
  buf.set(h.headroom);
  buf.set(macTag(keys.send, keys.sendDirection, seq, [buf.subarray(FRAME_HEADER_BYTES + FIELDS_AT)]), FRAME_HEADER_BYTES);
  return { headroom: buf };
}

function join(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts[0].length + parts[1].length);
  out.set(parts[0]);
  out.set(parts[1], parts[0].length);
  return out;
}

/** Encodes and signs an envelope into one buffer. `message` is validated by the codec (E_BAD_INPUT). */
export function sealEnvelope(identity: Identity, f: EnvelopeFields, message: Message): Uint8Array {
  return join(sealSigned(identity, f, prepareBody(message)));
}

/** Encodes and tags an envelope into one buffer (tests, and hand-made clients). */
export function sealMacEnvelope(keys: SessionKeys, f: EnvelopeFields, message: Message): Uint8Array {
  return join(sealMac(keys, f, prepareBody(message)));
}

/** Reads the fixed fields; checks layout only (no signature or tag, no body decoding). */
export function parseEnvelope(bytes: Uint8Array): OpenedEnvelope {
  if (bytes.length < ENVELOPE_HEADER_BYTES) throw decodeError(`envelope of ${bytes.length} bytes is shorter than its ${ENVELOPE_HEADER_BYTES}-byte header`);
  if (bytes[64] !== NET_VERSION) throw decodeError(`envelope version ${bytes[64]}, expected ${NET_VERSION}`);
  const kind = bytes[65];
  if (kind !== KIND_SIGNED && kind !== KIND_MAC) throw decodeError(`unknown envelope kind ${kind}`);
  if (bytes[66] !== 0 || bytes[67] !== 0) throw decodeError('reserved envelope bytes are not zero');
  if (kind === KIND_MAC) for (let i = TAG_BYTES; i < FIELDS_AT; i++) if (bytes[i] !== 0) throw decodeError('bytes after the MAC tag are not zero');
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.length);
  const seq = dv.getBigUint64(152, true);
  if (seq > BigInt(Number.MAX_SAFE_INTEGER)) throw decodeError('sequence number above 2^53 - 1');
  return {
    kind,
    bytes,
    authenticator: bytes.subarray(0, kind === KIND_MAC ? TAG_BYTES : SIGNATURE_BYTES),
    round: dv.getUint32(68, true),
    sessionId: bytes.subarray(72, 88),
    from: bytes.subarray(88, 88 + PUBLIC_KEY_BYTES),
    to: bytes.subarray(120, 120 + PUBLIC_KEY_BYTES),
    seq: Number(seq),
    body: bytes.subarray(ENVELOPE_HEADER_BYTES),
  };
}

/** True when a signed envelope's signature by its sender is valid. */
export function verifyEnvelope(e: OpenedEnvelope): boolean {
  if (e.kind !== KIND_SIGNED) return false;
  return verifyBytes(e.from, signedData(e.bytes.subarray(FIELDS_AT, ENVELOPE_HEADER_BYTES), sha256(e.body)), e.authenticator);
}

/** True when a MAC'd envelope's tag is valid under the link's receiving key. */
export function verifyMacEnvelope(e: OpenedEnvelope, keys: SessionKeys): boolean {
  if (e.kind !== KIND_MAC) return false;
  return macVerify(keys.receive, keys.receiveDirection, e.seq, e.bytes.subarray(FIELDS_AT), e.authenticator);
}

/** Decodes the body (E_DECODE on malformed bytes). */
export function envelopeBody(e: OpenedEnvelope, limits: DecodeLimits): Message {
  return decodeMessage(e.body, limits);
}

// ---------------------------------------------------------------------------
// Handshake. Each handshake message is one core codec message with scalar
// header fields and no payloads.

function transcript(domain: Uint8Array, parts: Uint8Array[]): Uint8Array {
  // Every part has a fixed length (session id 16, nonces 32, keys 32), so
  // plain concatenation is unambiguous.
  let n = domain.length;
  for (const p of parts) n += p.length;
  const out = new Uint8Array(n);
  out.set(domain);
  let pos = domain.length;
  for (const p of parts) {
    out.set(p, pos);
    pos += p.length;
  }
  return out;
}

/** What both sides sign: the session, both identities, both fresh values and both ephemeral key-agreement keys. */
export interface TranscriptParts {
  sessionId: Uint8Array;
  serverKey: Uint8Array;
  challenge: Uint8Array;
  serverEphemeral: Uint8Array;
  clientKey: Uint8Array;
  clientNonce: Uint8Array;
  clientEphemeral: Uint8Array;
}

function parts(t: TranscriptParts): Uint8Array[] {
  return [t.sessionId, t.serverKey, t.challenge, t.serverEphemeral, t.clientKey, t.clientNonce, t.clientEphemeral];
}

/** What a client signs: the server's fresh challenge bound to the session, the server, itself and both ephemeral keys. */
export function authTranscript(t: TranscriptParts): Uint8Array {
  return transcript(AUTH_DOMAIN, parts(t));
}

/** What the server signs back: the same, under another domain, so a client authenticates the server and both ephemeral keys. */
export function welcomeTranscript(t: TranscriptParts): Uint8Array {
  return transcript(WELCOME_DOMAIN, parts(t));
}

export const HANDSHAKE_LIMITS: DecodeLimits = { maxBytes: 4096, maxHeaderBytes: 4096, maxPayloads: 0, maxPayloadBytes: 0 };

export interface Hello {
  sessionId: Uint8Array;
  serverKey: Uint8Array;
  challenge: Uint8Array;
  /** The server's X25519 key for this connection. */
  ephemeral: Uint8Array;
}

export interface Auth {
  publicKey: Uint8Array;
  nonce: Uint8Array;
  /** The party's X25519 key for this connection. */
  ephemeral: Uint8Array;
  signature: Uint8Array;
  /** HMAC-SHA256(token, transcript) when the server enrols by token; empty otherwise. */
  tokenProof: Uint8Array;
  /**
   * On a reconnection, the highest sequence number the party has accepted
   * from the server in this session (0: none), so that the server resends
   * what came after; on a first connection 2^53 − 1 (nothing older is wanted).
   */
  received: number;
}

export interface Welcome {
  signature: Uint8Array;
  /** Highest sequence number the server has accepted from this party (0: none), so a resumed party knows what arrived. */
  lastSeq: number;
  resumed: boolean;
}

function field(h: Record<string, unknown>, key: string, bytes: number): Uint8Array {
  const v = h[key];
  if (!(v instanceof Uint8Array) || (bytes >= 0 && v.length !== bytes))
    throw decodeError(`handshake field "${key}" expected ${bytes >= 0 ? `${bytes} bytes` : 'bytes'}`);
  return v;
}

function exactKeys(h: Record<string, unknown>, keys: string[]): void {
  const got = Object.keys(h);
  if (got.length !== keys.length || !keys.every((k) => k in h)) throw decodeError(`handshake fields ${got.join(',')}, expected ${keys.join(',')}`);
}

export function encodeHello(h: Hello): Uint8Array {
  return encodeMessage({ header: { challenge: h.challenge, kx: h.ephemeral, server: h.serverKey, session: h.sessionId }, payloads: [] });
}

export function decodeHello(b: Uint8Array): Hello {
  const { header } = decodeMessage(b, HANDSHAKE_LIMITS);
  exactKeys(header, ['challenge', 'kx', 'server', 'session']);
  return {
    challenge: field(header, 'challenge', 32),
    ephemeral: field(header, 'kx', EPHEMERAL_BYTES),
    serverKey: field(header, 'server', PUBLIC_KEY_BYTES),
    sessionId: field(header, 'session', SESSION_ID_BYTES),
  };
}

export function encodeAuth(a: Auth): Uint8Array {
  return encodeMessage({ header: { key: a.publicKey, kx: a.ephemeral, nonce: a.nonce, received: a.received, signature: a.signature, token: a.tokenProof }, payloads: [] });
}

export function decodeAuth(b: Uint8Array): Auth {
  const { header } = decodeMessage(b, HANDSHAKE_LIMITS);
  exactKeys(header, ['key', 'kx', 'nonce', 'received', 'signature', 'token']);
  const tokenProof = field(header, 'token', -1);
  if (tokenProof.length !== 0 && tokenProof.length !== 32) throw decodeError('handshake token proof expected 0 or 32 bytes');
  const received = header.received;
  if (typeof received !== 'number' || !Number.isSafeInteger(received) || received < 0) throw decodeError('handshake field "received" expected a non-negative integer');
  return {
    received,
    publicKey: field(header, 'key', PUBLIC_KEY_BYTES),
    ephemeral: field(header, 'kx', EPHEMERAL_BYTES),
    nonce: field(header, 'nonce', 32),
    signature: field(header, 'signature', SIGNATURE_BYTES),
    tokenProof,
  };
}

/** A party's answer to a HELLO: its AUTH message, the transcript it signed, and the connection's keys (undefined when the server's ephemeral key is unusable). */
export interface Answer {
  auth: Uint8Array;
  parts: TranscriptParts;
  keys: SessionKeys | undefined;
}

/** Builds the party side of the handshake: a fresh nonce and ephemeral key, the signature, the token proof. */
export function answerHello(identity: Identity, hello: Hello, token?: Uint8Array, received = Number.MAX_SAFE_INTEGER): Answer {
  const own = ephemeral();
  const parts: TranscriptParts = {
    sessionId: hello.sessionId,
    serverKey: hello.serverKey,
    challenge: hello.challenge,
    serverEphemeral: hello.ephemeral,
    clientKey: identity.publicKey,
    clientNonce: randomBytes(32),
    clientEphemeral: own.publicKey,
  };
  const t = authTranscript(parts);
  const tokenProof = token === undefined ? new Uint8Array(0) : new Uint8Array(createHmac('sha256', token).update(t).digest());
  const auth = encodeAuth({ publicKey: identity.publicKey, nonce: parts.clientNonce, ephemeral: own.publicKey, signature: signBytes(identity, t), tokenProof, received });
  const keys = deriveKeys(own, hello.ephemeral, hello.sessionId, identity.publicKey, hello.ephemeral, own.publicKey, 'party');
  return { auth, parts, keys };
}

export function encodeWelcome(w: Welcome): Uint8Array {
  return encodeMessage({ header: { lastSeq: w.lastSeq, resumed: w.resumed, signature: w.signature }, payloads: [] });
}

export function decodeWelcome(b: Uint8Array): Welcome {
  const { header } = decodeMessage(b, HANDSHAKE_LIMITS);
  exactKeys(header, ['lastSeq', 'resumed', 'signature']);
  const lastSeq = header.lastSeq;
  if (typeof lastSeq !== 'number' || !Number.isSafeInteger(lastSeq) || lastSeq < 0) throw decodeError('handshake field "lastSeq" expected a non-negative integer');
  if (typeof header.resumed !== 'boolean') throw decodeError('handshake field "resumed" expected a boolean');
  return { signature: field(header, 'signature', SIGNATURE_BYTES), lastSeq, resumed: header.resumed };
}

export function encodeBye(reason: string): Uint8Array {
  return encodeMessage({ header: { reason: reason.slice(0, 200) }, payloads: [] });
}

export function decodeBye(b: Uint8Array): string {
  try {
    const { header } = decodeMessage(b, HANDSHAKE_LIMITS);
    return typeof header.reason === 'string' ? header.reason : 'no reason given';
  } catch {
    return 'undecodable reason';
  }
}
