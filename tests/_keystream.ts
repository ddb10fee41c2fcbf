import { createCipheriv } from 'node:crypto';

/** ChaCha20 keystream from node:crypto (OpenSSL), the independent reference for our kernels. */
export function nodeKeystream(key: Uint8Array, nonce: Uint8Array, counter: number, bytes: number): Uint8Array {
  const iv = Buffer.alloc(16); // 4-byte little-endian block counter, then the 12-byte nonce
  iv.writeUInt32LE(counter, 0);
  iv.set(nonce, 4);
  return createCipheriv('chacha20', key, iv).update(Buffer.alloc(bytes));
}
