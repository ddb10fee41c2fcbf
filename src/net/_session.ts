/**
 * Session keys for the link between a party and the server. During the
 * handshake each side sends a fresh X25519 public key inside the transcript
 * that both Ed25519 signatures cover (README "Handshake"); the shared secret
 * gives, through HKDF-SHA256 (RFC 5869), one AES-256 key per direction. Each
 * envelope between the party and the server then carries a GMAC tag
 * (AES-256-GCM with no plaintext, NIST SP 800-38D) over its header and body
 * instead of an Ed25519 signature over a SHA-256 of the body: about 20 GB/s
 * against SHA-256's 1.7 GB/s here, at both ends.
 *
 * The 96-bit GCM nonce is the direction and the sender's sequence number.
 * Keys are fresh for every connection (new ephemeral keys on both sides, so a
 * reconnection re-keys), and a sender never reuses a sequence number within a
 * session, so no (key, nonce) pair repeats.
 */
import { createCipheriv, createDecipheriv, createPublicKey, diffieHellman, generateKeyPairSync, hkdfSync, type KeyObject } from 'node:crypto';

export const EPHEMERAL_BYTES = 32;
export const TAG_BYTES = 16;
/** Nonce prefixes: which side sent the envelope. */
export const PARTY_TO_SERVER = 0;
export const SERVER_TO_PARTY = 1;

const INFO_P2S = new TextEncoder().encode('confide/net/v2/party-to-server\0');
const INFO_S2P = new TextEncoder().encode('confide/net/v2/server-to-party\0');

/** A one-connection X25519 key pair. */
export interface Ephemeral {
  publicKey: Uint8Array;
  privateKey: KeyObject;
}

// Keys cross node:crypto as JWK (RFC 8037: `x` is the raw key in base64url),
// which exports and imports faster than SPKI DER (2 and 45 us against 26 and 60 here).
export function ephemeral(): Ephemeral {
  const { publicKey, privateKey } = generateKeyPairSync('x25519');
  return { publicKey: new Uint8Array(Buffer.from(publicKey.export({ format: 'jwk' }).x!, 'base64url')), privateKey };
}

/** The two directional keys of one connection, as one side holds them. */
export interface SessionKeys {
  /** Key and nonce prefix for what this side sends. */
  send: Buffer;
  sendDirection: number;
  /** Key and nonce prefix for what this side receives. */
  receive: Buffer;
  receiveDirection: number;
}

/**
 * Derives the connection's keys, or undefined when the peer's ephemeral key
 * is not a usable X25519 point (the all-zero shared secret of a low-order
 * point is refused by OpenSSL). `salt` is the session id; the info strings
 * name the direction and bind the party's identity key and both ephemeral keys.
 */
export function deriveKeys(
  own: Ephemeral,
  peer: Uint8Array,
  sessionId: Uint8Array,
  partyKey: Uint8Array,
  serverEphemeral: Uint8Array,
  partyEphemeral: Uint8Array,
  role: 'party' | 'server',
): SessionKeys | undefined {
  if (peer.length !== EPHEMERAL_BYTES) return undefined;
  let shared: Buffer;
  try {
    const x = Buffer.from(peer.buffer, peer.byteOffset, peer.length).toString('base64url');
    shared = diffieHellman({ privateKey: own.privateKey, publicKey: createPublicKey({ key: { kty: 'OKP', crv: 'X25519', x }, format: 'jwk' }) });
  } catch {
    return undefined;
  }
  const key = (label: Uint8Array) => {
    const info = new Uint8Array(label.length + 3 * 32);
    info.set(label);
    info.set(partyKey, label.length);
    info.set(serverEphemeral, label.length + 32);
    info.set(partyEphemeral, label.length + 64);
    return Buffer.from(hkdfSync('sha256', shared, sessionId, info, 32));
  };
  const p2s = key(INFO_P2S);
  const s2p = key(INFO_S2P);
  shared.fill(0);
  return role === 'party'
    ? { send: p2s, sendDirection: PARTY_TO_SERVER, receive: s2p, receiveDirection: SERVER_TO_PARTY }
    : { send: s2p, sendDirection: SERVER_TO_PARTY, receive: p2s, receiveDirection: PARTY_TO_SERVER };
}

function nonce(direction: number, seq: number): Buffer {
  const iv = Buffer.alloc(12);
  iv.writeUInt32LE(direction, 0);
  iv.writeBigUInt64LE(BigInt(seq), 4);
  return iv;
}

/** GMAC tag over the concatenation of `aad` (16 bytes). */
export function macTag(key: Buffer, direction: number, seq: number, aad: readonly Uint8Array[]): Uint8Array {
  const c = createCipheriv('aes-256-gcm', key, nonce(direction, seq));
  for (const a of aad) c.setAAD(a);
  c.final();
  return c.getAuthTag();
}

/** True when `tag` is the GMAC tag of `aad` (compared in constant time by OpenSSL). */
export function macVerify(key: Buffer, direction: number, seq: number, aad: Uint8Array, tag: Uint8Array): boolean {
  if (tag.length !== TAG_BYTES) return false;
  const d = createDecipheriv('aes-256-gcm', key, nonce(direction, seq));
  d.setAAD(aad);
  d.setAuthTag(tag);
  try {
    d.final();
    return true;
  } catch {
    return false;
  }
}
