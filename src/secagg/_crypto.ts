/**
 * The cryptographic primitives of secure aggregation, all through node:crypto:
 * X25519 key agreement (RFC 7748), HKDF-SHA256 (RFC 5869), ChaCha20-Poly1305
 * (RFC 8439) for the encrypted shares, and Ed25519 (RFC 8032) signatures by
 * the parties' identity keys. Keys travel as raw 32-byte strings.
 */
import {
  createCipheriv,
  createDecipheriv,
  createPrivateKey,
  createPublicKey,
  diffieHellman,
  generateKeyPairSync,
  hkdfSync,
  sign,
  verify,
  type KeyObject,
} from 'node:crypto';

export const KEY_BYTES = 32;
export const SIGNATURE_BYTES = 64;
export const TAG_BYTES = 16;

// DER prefixes (RFC 8410): PKCS#8 for an X25519 private key and SPKI for an
// X25519 public key, each followed by the 32 raw bytes.
const X25519_PKCS8 = Buffer.from('302e020100300506032b656e04220420', 'hex');
const X25519_SPKI = Buffer.from('302a300506032b656e032100', 'hex');

export interface KeyPair {
  /** Raw public key. */
  publicKey: Uint8Array;
  /** Raw private key (the RFC 7748 scalar string). */
  secretKey: Uint8Array;
  /** The private key as a KeyObject, for agreements. */
  privateKey: KeyObject;
}

/** A fresh X25519 key pair from OpenSSL's CSPRNG. */
export function x25519KeyPair(): KeyPair {
  const { privateKey, publicKey } = generateKeyPairSync('x25519');
  const spki = publicKey.export({ format: 'der', type: 'spki' });
  const pkcs8 = privateKey.export({ format: 'der', type: 'pkcs8' });
  return {
    publicKey: new Uint8Array(spki.subarray(X25519_SPKI.length)),
    secretKey: new Uint8Array(pkcs8.subarray(X25519_PKCS8.length)),
    privateKey,
  };
}

/** The key pair of a raw X25519 private key (e.g. one reconstructed from shares). */
export function x25519FromSecret(secretKey: Uint8Array): KeyPair {
  const privateKey = createPrivateKey({ key: Buffer.concat([X25519_PKCS8, secretKey]), format: 'der', type: 'pkcs8' });
  const spki = createPublicKey(privateKey).export({ format: 'der', type: 'spki' });
  return { publicKey: new Uint8Array(spki.subarray(X25519_SPKI.length)), secretKey: secretKey.slice(), privateKey };
}

/** The KeyObject of a raw X25519 private key, for agreements; the DER copy is wiped. */
export function x25519PrivateKey(secretKey: Uint8Array): KeyObject {
  const der = Buffer.concat([X25519_PKCS8, secretKey]);
  try {
    return createPrivateKey({ key: der, format: 'der', type: 'pkcs8' });
  } finally {
    der.fill(0);
  }
}

// Public keys are imported as JWK (RFC 8037 OKP): the same key as from the DER prefix, about 4 µs (15%)
// cheaper per key in node:crypto than parsing SPKI, and a client imports about 1,500 of them per round.
function okpPublic(crv: 'X25519' | 'Ed25519', raw: Uint8Array): KeyObject {
  return createPublicKey({ key: { kty: 'OKP', crv, x: Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength).toString('base64url') }, format: 'jwk' });
}

export function x25519Public(raw: Uint8Array): KeyObject {
  return okpPublic('X25519', raw);
}

/**
 * The X25519 shared secret, or undefined when the peer's key is not usable
 * (OpenSSL refuses low-order points, whose shared secret is all zero).
 */
export function agree(privateKey: KeyObject, peer: KeyObject): Uint8Array | undefined {
  try {
    return new Uint8Array(diffieHellman({ privateKey, publicKey: peer }));
  } catch {
    return undefined;
  }
}

/** HKDF-SHA256 to 32 bytes. */
export function hkdf(ikm: Uint8Array, salt: Uint8Array, info: Uint8Array): Uint8Array {
  return new Uint8Array(hkdfSync('sha256', ikm, salt, info, 32));
}

// Each AEAD key encrypts exactly one message (it is derived per session,
// round, sender and recipient), so a fixed nonce never repeats under a key.
const NONCE = Buffer.alloc(12);

export function seal(key: Uint8Array, plaintext: Uint8Array, ad: Uint8Array): Uint8Array {
  const c = createCipheriv('chacha20-poly1305', key, NONCE, { authTagLength: TAG_BYTES });
  c.setAAD(ad, { plaintextLength: plaintext.length });
  const out = new Uint8Array(plaintext.length + TAG_BYTES);
  out.set(c.update(plaintext), 0);
  c.final();
  out.set(c.getAuthTag(), plaintext.length);
  return out;
}

/** The plaintext, or undefined when the tag does not verify. */
export function open(key: Uint8Array, ciphertext: Uint8Array, ad: Uint8Array): Uint8Array | undefined {
  if (ciphertext.length < TAG_BYTES) return undefined;
  const n = ciphertext.length - TAG_BYTES;
  try {
    const d = createDecipheriv('chacha20-poly1305', key, NONCE, { authTagLength: TAG_BYTES });
    d.setAAD(ad, { plaintextLength: n });
    d.setAuthTag(ciphertext.subarray(n));
    const out = new Uint8Array(d.update(ciphertext.subarray(0, n)));
    d.final();
    return out;
  } catch {
    return undefined;
  }
}

export function signWith(privateKey: KeyObject, data: Uint8Array): Uint8Array {
  return new Uint8Array(sign(null, data, privateKey));
}

const edKeys = new Map<string, KeyObject>();

/** Verifies an Ed25519 signature under a raw public key; false for any malformed input. */
export function verifyWith(publicKey: Uint8Array, data: Uint8Array, signature: Uint8Array): boolean {
  if (publicKey.length !== KEY_BYTES || signature.length !== SIGNATURE_BYTES) return false;
  const id = Buffer.from(publicKey).toString('hex');
  let k = edKeys.get(id);
  try {
    if (k === undefined) {
      k = okpPublic('Ed25519', publicKey);
      if (edKeys.size > 4096) edKeys.clear();
      edKeys.set(id, k);
    }
    return verify(null, data, k, signature);
  } catch {
    return false;
  }
}

// X25519 public keys whose agreement with any key is all zero (RFC 7748,
// section 6.1: implementations may check for it; node:crypto refuses it): the
// u-coordinates of the points of order dividing 8 on the curve and on its
// twist (0, 1, p - 1 and the two points of order 8) and the non-canonical
// encodings p and p + 1, little-endian, with bit 255 ignored as X25519 ignores
// it. A table lookup instead of an agreement per advertised key; a test checks
// that node:crypto refuses exactly these.
export const LOW_ORDER_KEYS: readonly string[] = [
  '0000000000000000000000000000000000000000000000000000000000000000',
  '0100000000000000000000000000000000000000000000000000000000000000',
  'e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800',
  '5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157',
  'ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f',
  'edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f',
  'eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f',
];
const LOW_ORDER = new Set(LOW_ORDER_KEYS);

/** False for a key X25519 cannot agree with (a low-order point): its shared secrets would be all zero. */
export function usableKey(raw: Uint8Array): boolean {
  const k = Buffer.from(raw);
  k[31] &= 0x7f;
  return !LOW_ORDER.has(k.toString('hex'));
}

const encoder = new TextEncoder();
const labels = new Map<string, Uint8Array>();

/** Concatenates byte strings and u32 (little-endian) integers; strings are UTF-8 with a NUL after. */
export function transcript(...parts: (Uint8Array | number | string)[]): Uint8Array {
  const bytes = parts.map((p) => {
    if (typeof p === 'string') {
      // Labels are a handful of constants, used per pair: encode each once.
      let b = labels.get(p);
      if (b === undefined) {
        b = encoder.encode(`${p}\0`);
        if (labels.size < 64) labels.set(p, b);
      }
      return b;
    }
    if (typeof p === 'number') {
      const b = new Uint8Array(4);
      new DataView(b.buffer).setUint32(0, p, true);
      return b;
    }
    return p;
  });
  let n = 0;
  for (const b of bytes) n += b.length;
  const out = new Uint8Array(n);
  let o = 0;
  for (const b of bytes) {
    out.set(b, o);
    o += b.length;
  }
  return out;
}

export function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let d = 0;
  for (let i = 0; i < a.length; i++) d |= a[i] ^ b[i];
  return d === 0;
}
