/**
 * The JS-side steps of heTriples that moved off BigInt loops must give the
 * same bits as the loops they replaced: the flooding of c0 (he's floodC0,
 * now X mod q_k from 32-bit limbs on core's field kernels) against the
 * per-coefficient BigInt reduction of the signed E, and a vector field's
 * random elements (compared on 32-bit words) against rng.uniformBigInt
 * element by element from the same generator. Under CONFIDE_WASM=0 both run
 * on the JS twins.
 */
import { describe, expect, it } from 'vitest';
import { PrimeField } from '../../src/core/field.ts';
import { seededRng, type Rng } from '../../src/core/random.ts';
import { createContext, productFlooding } from '../../src/he/index.ts';
import { floodC0 } from '../../src/he/residues.ts';
import { HE_TRIPLE_PARAMS } from '../../src/mpc/index.ts';
import { vectorField } from '../../src/mpc/_vfield.ts';

/** ANCHOR: residues.ts's floodC0 before this change (commit 105c0c8), BigInt per coefficient. */
function previousFloodC0(bytes: Uint8Array, n: number, q: readonly bigint[], f: number, rng: Rng): void {
  const L = q.length;
  const tail = bytes.length - 2 * L * n * 8;
  const c0 = new BigUint64Array(bytes.slice(tail, tail + L * n * 8).buffer);
  const words = Math.ceil((f + 1) / 64);
  const topBits = f + 1 - 64 * (words - 1);
  const topMask = (1n << BigInt(topBits)) - 1n;
  const rnd = new BigUint64Array(words * n);
  rng.fill(new Uint8Array(rnd.buffer));
  const shift = 1n << BigInt(f);
  for (let j = 0; j < n; j++) {
    let x = rnd[j * words + words - 1] & topMask;
    for (let w = words - 2; w >= 0; w--) x = (x << 64n) | rnd[j * words + w];
    const e = x - shift;
    for (let k = 0; k < L; k++) {
      const qk = q[k];
      let v = (c0[k * n + j] + (e % qk)) % qk;
      if (v < 0n) v += qk;
      c0[k * n + j] = v;
    }
  }
  bytes.set(new Uint8Array(c0.buffer), tail);
}

describe('heTriples JS-side steps', () => {
  it('floodC0 gives the bits of the BigInt loop it replaced (HE triple parameters, sigma 20 and 40, and other widths)', async () => {
    const ctx = await createContext(HE_TRIPLE_PARAMS);
    try {
      const q = ctx.coeffModulus.slice(0, -1);
      const n = HE_TRIPLE_PARAMS.polyModulusDegree;
      const data = seededRng(11);
      for (const sigma of [20, 40]) {
        const { floodBits } = productFlooding(ctx, sigma);
        for (const f of [floodBits, 63, 64, 65, 127, 128, 129, 150]) {
          // A fake serialised ciphertext: 40 header bytes, then c0 and c1 residues below each q_k.
          const bytes = new Uint8Array(40 + 2 * q.length * n * 8);
          data.fill(bytes.subarray(0, 40));
          const body = new BigUint64Array(bytes.buffer, 40, 2 * q.length * n);
          for (let k = 0; k < 2 * q.length; k++) {
            const qk = q[k % q.length];
            for (let j = 0; j < n; j++) body[k * n + j] = j < 4 ? [0n, 1n, qk - 1n, qk - 2n][j] : data.uniformBigInt(qk);
          }
          const ours = bytes.slice(), theirs = bytes.slice();
          floodC0(ours, n, q, f, seededRng(100 + f));
          previousFloodC0(theirs, n, q, f, seededRng(100 + f));
          expect(Buffer.from(ours).equals(Buffer.from(theirs))).toBe(true);
          // c1 and the header are untouched; c0 changed.
          expect(Buffer.from(ours.subarray(40 + q.length * n * 8)).equals(Buffer.from(bytes.subarray(40 + q.length * n * 8)))).toBe(true);
          expect(Buffer.from(ours).equals(Buffer.from(bytes))).toBe(false);
        }
      }
    } finally {
      ctx.dispose();
    }
  });

  it("a prime field's random vector is uniformBigInt's, element by element, from the same generator", () => {
    for (const p of [3n, 65537n, 2147483647n, 4294967291n, 4294967311n, 35184371613697n, 1152921504606846883n, 18446744073709551557n]) {
      for (const seed of [1, 2]) {
        const got = vectorField(new PrimeField(p)).random(5000, seededRng(seed));
        const ref = seededRng(seed);
        const want = BigUint64Array.from({ length: 5000 }, () => ref.uniformBigInt(p));
        expect(got).toEqual(want);
      }
    }
  });
});
