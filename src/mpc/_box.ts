/**
 * Confidential party-to-party channels for shares. confide/net signs relayed
 * messages but does not encrypt them, and the relay (and, without TLS, the
 * network) would otherwise read every share. Each MPC session draws a fresh
 * X25519 key pair per party; the public keys travel in signed relayed
 * messages (so the relay cannot substitute its own), and each ordered pair
 * (i → j) gets its own AES-256-GCM key, HKDF-SHA256(Z, salt = session label,
 * info = direction ‖ sender id ‖ recipient id). Nonces are a per-key counter,
 * and every key lives for one session, so no (key, nonce) pair repeats.
 */
import { createCipheriv, createDecipheriv, createPublicKey, diffieHellman, generateKeyPairSync, hkdfSync, type KeyObject } from 'node:crypto';
import { ConfideError } from '../core/errors.ts';

export interface BoxKeys {
  readonly publicKey: Uint8Array;
  readonly privateKey: KeyObject;
}

export function boxKeyPair(): BoxKeys {
  const { publicKey, privateKey } = generateKeyPairSync('x25519');
  const x = publicKey.export({ format: 'jwk' }).x as string;
  return { publicKey: new Uint8Array(Buffer.from(x, 'base64url')), privateKey };
}

/** A sealing (or opening) key for one direction of one pair. */
export class Box {
  readonly #key: Buffer;
  #counter = 0n;

  constructor(mine: BoxKeys, theirPublic: Uint8Array, salt: string, info: string) {
    if (!(theirPublic instanceof Uint8Array) || theirPublic.length !== 32)
      throw new ConfideError('E_PROTOCOL', 'a peer sent a malformed key-agreement key', { field: 'publicKey' });
    let z: Buffer;
    try {
      const pub = createPublicKey({ key: { kty: 'OKP', crv: 'X25519', x: Buffer.from(theirPublic).toString('base64url') }, format: 'jwk' });
      z = diffieHellman({ privateKey: mine.privateKey, publicKey: pub });
    } catch (cause) {
      throw new ConfideError('E_PROTOCOL', 'a peer sent an unusable key-agreement key', { field: 'publicKey', cause });
    }
    if (z.every((b) => b === 0)) throw new ConfideError('E_PROTOCOL', 'a peer sent a low-order key-agreement key', { field: 'publicKey' });
    this.#key = Buffer.from(hkdfSync('sha256', z, salt, `confide/mpc/v1/box\0${info}`, 32));
    z.fill(0);
  }

  /**
   * Encrypts `data`; returns the nonce, the ciphertext and the tag apart (they
   * travel as two payloads, so a long vector is not copied once more to
   * append 16 bytes). `aad` binds the round.
   */
  seal(data: ArrayBufferView, aad: Uint8Array): { nonce: Uint8Array; body: Uint8Array; tag: Uint8Array } {
    const nonce = new Uint8Array(12);
    new DataView(nonce.buffer).setBigUint64(0, this.#counter++, true);
    const c = createCipheriv('aes-256-gcm', this.#key, nonce);
    c.setAAD(aad);
    const body = c.update(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
    const fin = c.final(); // GCM is a stream mode: empty
    return { nonce, body: fin.length === 0 ? body : Buffer.concat([body, fin]), tag: c.getAuthTag() };
  }

  /**
   * Decrypts into 8-byte-aligned memory (OpenSSL's output buffer itself when
   * it is aligned, as Node's large buffers are; a copy otherwise); E_CRYPTO
   * when the tag fails.
   */
  open(nonce: unknown, body: unknown, tag: unknown, aad: Uint8Array): Uint8Array {
    if (!(nonce instanceof Uint8Array) || nonce.length !== 12 || !(body instanceof Uint8Array) || !(tag instanceof Uint8Array) || tag.length !== 16)
      throw new ConfideError('E_PROTOCOL', 'a peer sent a malformed sealed share', { field: 'box' });
    const d = createDecipheriv('aes-256-gcm', this.#key, nonce);
    d.setAAD(aad);
    d.setAuthTag(tag);
    let out: Uint8Array, fin: Uint8Array;
    try {
      out = d.update(body);
      fin = d.final();
    } catch (cause) {
      throw new ConfideError('E_CRYPTO', 'a sealed share failed authentication', { field: 'box', cause });
    }
    if (fin.length === 0 && out.byteOffset % 8 === 0) return out;
    const aligned = new Uint8Array(out.length + fin.length);
    aligned.set(out, 0);
    aligned.set(fin, out.length);
    return aligned;
  }
}
