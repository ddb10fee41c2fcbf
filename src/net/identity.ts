/**
 * Party identities: Ed25519 key pairs (RFC 8032) through node:crypto. A
 * party's identity is its raw 32-byte public key; `PartyId` is that key in
 * lowercase hex, the name every API of `net` uses for a party.
 */
import { createPrivateKey, createPublicKey, sign, verify, type KeyObject } from 'node:crypto';
import { abytes } from '../core/assert.ts';
import { ConfideError, describe } from '../core/errors.ts';
import { randomBytes } from '../core/random.ts';

/** A party's name on the network: its Ed25519 public key, 64 lowercase hex digits. */
export type PartyId = string;

export interface Identity {
  /** The raw public key in hex. */
  readonly id: PartyId;
  /** The raw 32-byte Ed25519 public key. */
  readonly publicKey: Uint8Array;
  /** The private key as a node:crypto KeyObject (never leaves the process). */
  readonly privateKey: KeyObject;
}

export const PUBLIC_KEY_BYTES = 32;
export const SIGNATURE_BYTES = 64;

// PKCS#8 DER for an Ed25519 private key is this fixed prefix followed by the
// 32-byte seed (RFC 8410, section 7).
const PKCS8_PREFIX = Uint8Array.from([0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20]);
// SPKI DER for an Ed25519 public key: this prefix, then the 32 raw bytes.
const SPKI_PREFIX = Uint8Array.from([0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00]);

const HEX_ID = /^[0-9a-f]{64}$/;

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}

export function toHex(b: Uint8Array): string {
  return Buffer.from(b.buffer, b.byteOffset, b.length).toString('hex');
}

/** The PartyId of a raw 32-byte Ed25519 public key. */
export function partyId(publicKey: Uint8Array): PartyId {
  abytes(publicKey, 'publicKey', PUBLIC_KEY_BYTES);
  return toHex(publicKey);
}

/** Checks a PartyId argument (64 lowercase hex digits). */
export function aparty(v: unknown, field: string): PartyId {
  if (typeof v !== 'string' || !HEX_ID.test(v))
    throw new ConfideError('E_BAD_INPUT', `"${field}" expected a party id (64 lowercase hex digits), got ${describe(v)}`, { field });
  return v;
}

/** The raw public key of a PartyId. */
export function partyKey(id: PartyId): Uint8Array {
  return new Uint8Array(Buffer.from(aparty(id, 'id'), 'hex'));
}

/**
 * The identity whose Ed25519 private key is `seed` (32 bytes, as RFC 8032
 * defines the private key). Keep the seed as secret as the key itself.
 */
export function identityFromSeed(seed: Uint8Array): Identity {
  abytes(seed, 'seed', 32);
  const privateKey = createPrivateKey({ key: Buffer.from(concat(PKCS8_PREFIX, seed)), format: 'der', type: 'pkcs8' });
  const spki = createPublicKey(privateKey).export({ format: 'der', type: 'spki' });
  const publicKey = new Uint8Array(spki.subarray(SPKI_PREFIX.length));
  return Object.freeze({ id: toHex(publicKey), publicKey, privateKey });
}

/** A fresh identity from the system CSPRNG. */
export function generateIdentity(): Identity {
  return identityFromSeed(randomBytes(32));
}

/** The 32-byte seed of an identity, to store it (for `identityFromSeed`). */
export function identitySeed(identity: Identity): Uint8Array {
  const key = aidentity(identity, 'identity').privateKey;
  const der = key.export({ format: 'der', type: 'pkcs8' });
  return new Uint8Array(der.subarray(PKCS8_PREFIX.length));
}

/** Checks an Identity argument (as made by generateIdentity/identityFromSeed). */
export function aidentity(v: unknown, field: string): Identity {
  const o = v as Partial<Identity> | null;
  if (
    typeof o !== 'object' ||
    o === null ||
    typeof o.id !== 'string' ||
    !HEX_ID.test(o.id) ||
    typeof o.privateKey !== 'object' ||
    o.privateKey === null ||
    (o.privateKey as KeyObject).asymmetricKeyType !== 'ed25519' ||
    (o.privateKey as KeyObject).type !== 'private'
  )
    throw new ConfideError('E_BAD_INPUT', `"${field}" expected an Identity (generateIdentity()), got ${describe(v)}`, { field });
  return o as Identity;
}

// Public KeyObjects are cached by id: verifying is on the hot path, and
// parsing a key costs about as much as a verification.
const publicKeys = new Map<string, KeyObject>();
const MAX_CACHED_KEYS = 4096;

export function publicKeyObject(raw: Uint8Array): KeyObject {
  const id = toHex(raw);
  let k = publicKeys.get(id);
  if (k === undefined) {
    k = createPublicKey({ key: Buffer.from(concat(SPKI_PREFIX, raw)), format: 'der', type: 'spki' });
    if (publicKeys.size >= MAX_CACHED_KEYS) publicKeys.clear();
    publicKeys.set(id, k);
  }
  return k;
}

/**
 * Signs `data` with the identity's Ed25519 key (64 bytes): for signatures an
 * application adds on top of the runtime's own, such as a key bundle its
 * holder vouches for. Verify with `verifySignature(partyKey, ...)`.
 */
export function signWithIdentity(identity: Identity, data: Uint8Array): Uint8Array {
  return signBytes(aidentity(identity, 'identity'), abytes(data, 'data'));
}

/**
 * True when `signature` is the Ed25519 signature of `data` under `publicKey`
 * (32 raw bytes, e.g. `Buffer.from(partyId, 'hex')`); false for a signature
 * of the wrong length, a key that is not a curve point, or a forgery.
 */
export function verifySignature(publicKey: Uint8Array, data: Uint8Array, signature: Uint8Array): boolean {
  return verifyBytes(abytes(publicKey, 'publicKey', PUBLIC_KEY_BYTES), abytes(data, 'data'), abytes(signature, 'signature'));
}

export function signBytes(identity: Identity, data: Uint8Array): Uint8Array {
  return new Uint8Array(sign(null, data, identity.privateKey));
}

/** True when `signature` is a valid Ed25519 signature of `data` under the raw public key. */
export function verifyBytes(publicKey: Uint8Array, data: Uint8Array, signature: Uint8Array): boolean {
  if (signature.length !== SIGNATURE_BYTES || publicKey.length !== PUBLIC_KEY_BYTES) return false;
  try {
    return verify(null, data, publicKeyObject(publicKey), signature);
  } catch {
    // A public key that is not a valid curve point.
    return false;
  }
}
