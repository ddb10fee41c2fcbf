/**
 * ChaCha20 block function in plain JavaScript (RFC 8439 §2.3). This is the JS
 * twin of the WASM kernel and the engine of `seededRng`; it works on 32-bit
 * words so that the mask and PRG code never goes through bytes.
 */

/**
 * Key words (8) and nonce words (3) read little-endian from their byte forms.
 * They are Int32Arrays on purpose: every word the rounds touch stays an int32
 * in V8, whereas a Uint32Array word >= 2^31 is a double and sends the block
 * function into a loop of deoptimisations (measured: 13 MB/s instead of 600).
 */
export function keyWords(key: Uint8Array): Int32Array {
  const w = new Int32Array(8);
  for (let i = 0; i < 8; i++)
    w[i] = key[4 * i] | (key[4 * i + 1] << 8) | (key[4 * i + 2] << 16) | (key[4 * i + 3] << 24);
  return w;
}

export function nonceWords(nonce: Uint8Array): Int32Array {
  const w = new Int32Array(3);
  for (let i = 0; i < 3; i++)
    w[i] =
      nonce[4 * i] | (nonce[4 * i + 1] << 8) | (nonce[4 * i + 2] << 16) | (nonce[4 * i + 3] << 24);
  return w;
}

/**
 * Writes `nBlocks` keystream blocks (16 words each) into `out` starting at
 * word `outOffset`, for block counters counter, counter+1, ... mod 2^32.
 */
export function chachaBlocks(
  k: Int32Array,
  n: Int32Array,
  counter: number,
  out: Uint32Array,
  outOffset: number,
  nBlocks: number,
): void {
  const k0 = k[0], k1 = k[1], k2 = k[2], k3 = k[3], k4 = k[4], k5 = k[5], k6 = k[6], k7 = k[7];
  const n0 = n[0], n1 = n[1], n2 = n[2];
  for (let b = 0; b < nBlocks; b++) {
    const ctr = (counter + b) | 0;
    let x0 = 0x61707865, x1 = 0x3320646e, x2 = 0x79622d32, x3 = 0x6b206574;
    let x4 = k0, x5 = k1, x6 = k2, x7 = k3, x8 = k4, x9 = k5, x10 = k6, x11 = k7;
    let x12 = ctr, x13 = n0, x14 = n1, x15 = n2;
    for (let r = 0; r < 10; r++) {
      // column round
      x0 = (x0 + x4) | 0; x12 ^= x0; x12 = (x12 << 16) | (x12 >>> 16);
      x8 = (x8 + x12) | 0; x4 ^= x8; x4 = (x4 << 12) | (x4 >>> 20);
      x0 = (x0 + x4) | 0; x12 ^= x0; x12 = (x12 << 8) | (x12 >>> 24);
      x8 = (x8 + x12) | 0; x4 ^= x8; x4 = (x4 << 7) | (x4 >>> 25);
      x1 = (x1 + x5) | 0; x13 ^= x1; x13 = (x13 << 16) | (x13 >>> 16);
      x9 = (x9 + x13) | 0; x5 ^= x9; x5 = (x5 << 12) | (x5 >>> 20);
      x1 = (x1 + x5) | 0; x13 ^= x1; x13 = (x13 << 8) | (x13 >>> 24);
      x9 = (x9 + x13) | 0; x5 ^= x9; x5 = (x5 << 7) | (x5 >>> 25);
      x2 = (x2 + x6) | 0; x14 ^= x2; x14 = (x14 << 16) | (x14 >>> 16);
      x10 = (x10 + x14) | 0; x6 ^= x10; x6 = (x6 << 12) | (x6 >>> 20);
      x2 = (x2 + x6) | 0; x14 ^= x2; x14 = (x14 << 8) | (x14 >>> 24);
      x10 = (x10 + x14) | 0; x6 ^= x10; x6 = (x6 << 7) | (x6 >>> 25);
      x3 = (x3 + x7) | 0; x15 ^= x3; x15 = (x15 << 16) | (x15 >>> 16);
      x11 = (x11 + x15) | 0; x7 ^= x11; x7 = (x7 << 12) | (x7 >>> 20);
      x3 = (x3 + x7) | 0; x15 ^= x3; x15 = (x15 << 8) | (x15 >>> 24);
      x11 = (x11 + x15) | 0; x7 ^= x11; x7 = (x7 << 7) | (x7 >>> 25);
      // diagonal round
      x0 = (x0 + x5) | 0; x15 ^= x0; x15 = (x15 << 16) | (x15 >>> 16);
      x10 = (x10 + x15) | 0; x5 ^= x10; x5 = (x5 << 12) | (x5 >>> 20);
      x0 = (x0 + x5) | 0; x15 ^= x0; x15 = (x15 << 8) | (x15 >>> 24);
      x10 = (x10 + x15) | 0; x5 ^= x10; x5 = (x5 << 7) | (x5 >>> 25);
      x1 = (x1 + x6) | 0; x12 ^= x1; x12 = (x12 << 16) | (x12 >>> 16);
      x11 = (x11 + x12) | 0; x6 ^= x11; x6 = (x6 << 12) | (x6 >>> 20);
      x1 = (x1 + x6) | 0; x12 ^= x1; x12 = (x12 << 8) | (x12 >>> 24);
      x11 = (x11 + x12) | 0; x6 ^= x11; x6 = (x6 << 7) | (x6 >>> 25);
      x2 = (x2 + x7) | 0; x13 ^= x2; x13 = (x13 << 16) | (x13 >>> 16);
      x8 = (x8 + x13) | 0; x7 ^= x8; x7 = (x7 << 12) | (x7 >>> 20);
      x2 = (x2 + x7) | 0; x13 ^= x2; x13 = (x13 << 8) | (x13 >>> 24);
      x8 = (x8 + x13) | 0; x7 ^= x8; x7 = (x7 << 7) | (x7 >>> 25);
      x3 = (x3 + x4) | 0; x14 ^= x3; x14 = (x14 << 16) | (x14 >>> 16);
      x9 = (x9 + x14) | 0; x4 ^= x9; x4 = (x4 << 12) | (x4 >>> 20);
      x3 = (x3 + x4) | 0; x14 ^= x3; x14 = (x14 << 8) | (x14 >>> 24);
      x9 = (x9 + x14) | 0; x4 ^= x9; x4 = (x4 << 7) | (x4 >>> 25);
    }
    const o = outOffset + 16 * b;
    // Int32 sums stored into the Uint32Array wrap to the same 32-bit words.
    out[o] = (x0 + 0x61707865) | 0; out[o + 1] = (x1 + 0x3320646e) | 0;
    out[o + 2] = (x2 + 0x79622d32) | 0; out[o + 3] = (x3 + 0x6b206574) | 0;
    out[o + 4] = (x4 + k0) | 0; out[o + 5] = (x5 + k1) | 0; out[o + 6] = (x6 + k2) | 0; out[o + 7] = (x7 + k3) | 0;
    out[o + 8] = (x8 + k4) | 0; out[o + 9] = (x9 + k5) | 0; out[o + 10] = (x10 + k6) | 0; out[o + 11] = (x11 + k7) | 0;
    out[o + 12] = (x12 + ctr) | 0; out[o + 13] = (x13 + n0) | 0; out[o + 14] = (x14 + n1) | 0; out[o + 15] = (x15 + n2) | 0;
  }
}
