/**
 * Signed envelopes (what parties send each other) and the handshake messages.
 * Normative layout in src/net/README.md ("Envelopes", "Handshake").
 *
 * ```
 * offset size field
 *      0   64 Ed25519 signature by the sender
 *     64    1 protocol version u8 = 1
 *     65    1 kind u8 = 1 (data)
 *     66    2 reserved, zero
 *     68    4 round u32
 *     72   16 session id
 *     88   32 sender public key
 *    120   32 recipient public key
 *    152    8 sequence number u64 (per sender and session, strictly increasing)
 *    160  ... body: one core codec message (header + typed-array payloads)
 * ```
 *
 * The signature covers ENVELOPE_DOMAIN || bytes[64, 160) || SHA-256(body):
 * fixed-length fields then a fixed-length digest, so the encoding is
 * unambiguous, and the body is hashed once at SHA-256 speed instead of twice
 * at SHA-512 speed inside Ed25519. The body starts at offset 160, a multiple
 * of 8, so the codec's payloads decode as views without copies.
 */
import { createHash } from 'node:crypto';
import { decodeMessage, encodeMessage, type DecodeLimits, type Message } from '../core/codec.ts';
import { ConfideError } from '../core/errors.ts';
import { NET_VERSION } from './_frame.ts';
import { PUBLIC_KEY_BYTES, SIGNATURE_BYTES, signBytes, verifyBytes, type Identity } from './identity.ts';

export const SESSION_ID_BYTES = 16;
export const ENVELOPE_HEADER_BYTES = 160;
export const KIND_DATA = 1;

const ENVELOPE_DOMAIN = new TextEncoder().encode('confide/net/v1/envelope\0');
const AUTH_DOMAIN = new TextEncoder().encode('confide/net/v1/auth\0');
const WELCOME_DOMAIN = new TextEncoder().encode('confide/net/v1/welcome\0');

export interface EnvelopeFields {
  round: number;
  sessionId: Uint8Array;
  from: Uint8Array;
  to: Uint8Array;
  seq: number;
}

export interface OpenedEnvelope extends EnvelopeFields {
  /** The whole envelope, for relaying unchanged. */
  bytes: Uint8Array;
  signature: Uint8Array;
  body: Uint8Array;
}

function decodeError(reason: string): ConfideError {
  return new ConfideError('E_DECODE', `net: ${reason}`, { field: 'envelope' });
}

function sha256(b: Uint8Array): Uint8Array {
  return createHash('sha256').update(b).digest();
}

function signedData(bytes: Uint8Array, digest: Uint8Array): Uint8Array {
  const d = new Uint8Array(ENVELOPE_DOMAIN.length + (ENVELOPE_HEADER_BYTES - SIGNATURE_BYTES) + digest.length);
  d.set(ENVELOPE_DOMAIN);
  d.set(bytes.subarray(SIGNATURE_BYTES, ENVELOPE_HEADER_BYTES), ENVELOPE_DOMAIN.length);
  d.set(digest, d.length - digest.length);
  return d;
}

/** A message body encoded and hashed once, to seal for one or many recipients. */
export interface PreparedBody {
  body: Uint8Array;
  digest: Uint8Array;
}

/** Encodes a message with the core codec (E_BAD_INPUT on a bad message) and hashes it. */
export function prepareBody(message: Message): PreparedBody {
  const body = encodeMessage(message);
  return { body, digest: sha256(body) };
}

/**
 * Builds and signs an envelope around a prepared body, as two parts: its
 * 160-byte header and the body (shared, not copied).
 */
export function sealPrepared(identity: Identity, f: EnvelopeFields, p: PreparedBody): Uint8Array[] {
  const out = new Uint8Array(ENVELOPE_HEADER_BYTES);
  const dv = new DataView(out.buffer);
  out[64] = NET_VERSION;
  out[65] = KIND_DATA;
  dv.setUint32(68, f.round, true);
  out.set(f.sessionId, 72);
  out.set(f.from, 88);
  out.set(f.to, 120);
  dv.setBigUint64(152, BigInt(f.seq), true);
  out.set(signBytes(identity, signedData(out, p.digest)), 0);
  return [out, p.body];
}

/** Encodes and signs an envelope into one buffer. `message` is validated by the codec (E_BAD_INPUT). */
export function sealEnvelope(identity: Identity, f: EnvelopeFields, message: Message): Uint8Array {
  const [head, body] = sealPrepared(identity, f, prepareBody(message));
  const out = new Uint8Array(head.length + body.length);
  out.set(head);
  out.set(body, head.length);
  return out;
}

/** Reads the fixed fields; checks layout only (no signature, no body decoding). */
export function parseEnvelope(bytes: Uint8Array): OpenedEnvelope {
  if (bytes.length < ENVELOPE_HEADER_BYTES) throw decodeError(`envelope of ${bytes.length} bytes is shorter than its ${ENVELOPE_HEADER_BYTES}-byte header`);
  if (bytes[64] !== NET_VERSION) throw decodeError(`envelope version ${bytes[64]}, expected ${NET_VERSION}`);
  if (bytes[65] !== KIND_DATA) throw decodeError(`unknown envelope kind ${bytes[65]}`);
  if (bytes[66] !== 0 || bytes[67] !== 0) throw decodeError('reserved envelope bytes are not zero');
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.length);
  const seq = dv.getBigUint64(152, true);
  if (seq > BigInt(Number.MAX_SAFE_INTEGER)) throw decodeError('sequence number above 2^53 - 1');
  return {
    bytes,
    signature: bytes.subarray(0, SIGNATURE_BYTES),
    round: dv.getUint32(68, true),
    sessionId: bytes.subarray(72, 88),
    from: bytes.subarray(88, 88 + PUBLIC_KEY_BYTES),
    to: bytes.subarray(120, 120 + PUBLIC_KEY_BYTES),
    seq: Number(seq),
    body: bytes.subarray(ENVELOPE_HEADER_BYTES),
  };
}

/** True when the sender's signature over the envelope is valid. */
export function verifyEnvelope(e: OpenedEnvelope): boolean {
  return verifyBytes(e.from, signedData(e.bytes, sha256(e.body)), e.signature);
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

/** What a client signs: the server's fresh challenge bound to the session, the server and itself. */
export function authTranscript(sessionId: Uint8Array, serverKey: Uint8Array, challenge: Uint8Array, clientKey: Uint8Array, clientNonce: Uint8Array): Uint8Array {
  return transcript(AUTH_DOMAIN, [sessionId, serverKey, challenge, clientKey, clientNonce]);
}

/** What the server signs back: the client's fresh nonce, so a client can authenticate the server too. */
export function welcomeTranscript(sessionId: Uint8Array, serverKey: Uint8Array, challenge: Uint8Array, clientKey: Uint8Array, clientNonce: Uint8Array): Uint8Array {
  return transcript(WELCOME_DOMAIN, [sessionId, serverKey, challenge, clientKey, clientNonce]);
}

export const HANDSHAKE_LIMITS: DecodeLimits = { maxBytes: 4096, maxHeaderBytes: 4096, maxPayloads: 0, maxPayloadBytes: 0 };

export interface Hello {
  sessionId: Uint8Array;
  serverKey: Uint8Array;
  challenge: Uint8Array;
}

export interface Auth {
  publicKey: Uint8Array;
  nonce: Uint8Array;
  signature: Uint8Array;
  /** HMAC-SHA256(token, transcript) when the server enrols by token; empty otherwise. */
  tokenProof: Uint8Array;
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
  return encodeMessage({ header: { challenge: h.challenge, server: h.serverKey, session: h.sessionId }, payloads: [] });
}

export function decodeHello(b: Uint8Array): Hello {
  const { header } = decodeMessage(b, HANDSHAKE_LIMITS);
  exactKeys(header, ['challenge', 'server', 'session']);
  return { challenge: field(header, 'challenge', 32), serverKey: field(header, 'server', PUBLIC_KEY_BYTES), sessionId: field(header, 'session', SESSION_ID_BYTES) };
}

export function encodeAuth(a: Auth): Uint8Array {
  return encodeMessage({ header: { key: a.publicKey, nonce: a.nonce, signature: a.signature, token: a.tokenProof }, payloads: [] });
}

export function decodeAuth(b: Uint8Array): Auth {
  const { header } = decodeMessage(b, HANDSHAKE_LIMITS);
  exactKeys(header, ['key', 'nonce', 'signature', 'token']);
  const tokenProof = field(header, 'token', -1);
  if (tokenProof.length !== 0 && tokenProof.length !== 32) throw decodeError('handshake token proof expected 0 or 32 bytes');
  return { publicKey: field(header, 'key', PUBLIC_KEY_BYTES), nonce: field(header, 'nonce', 32), signature: field(header, 'signature', SIGNATURE_BYTES), tokenProof };
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
