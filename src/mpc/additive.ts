/**
 * Additive secret sharing of vectors: x = x_0 + ... + x_{n-1}, either in the
 * ring Z_2^64 (core's Z64; its add/sub run on the WASM kernels when the vectors
 * live in WASM memory) or in a prime field (Fp61 or a PrimeField below 2^64).
 * Any n-1 shares are uniform and independent of x: all n are needed to open.
 */
import { ainteger, aoptions, atyped } from '../core/assert.ts';
import { ConfideError } from '../core/errors.ts';
import { Z64 } from '../core/ring.ts';
import { arng, systemRng, type Rng } from '../core/random.ts';
import { randomZ64 } from './_z64.ts';
import { vectorField, type FieldLike } from './_vfield.ts';

/** Where additive shares live: the ring Z_2^64 (`Z64`) or a prime field. */
export type AdditiveDomain = typeof Z64 | FieldLike;

export interface AdditiveOptions {
  /** `Z64` (default), `Fp61` or a PrimeField with p < 2^64. */
  domain?: AdditiveDomain;
  /** Randomness for the shares; the system CSPRNG by default. */
  rng?: Rng;
}

const MAX_PARTIES = 1 << 16;

/** Splits `secret` into `parties` additive shares; returns one vector per party. */
export function shareAdditive(secret: BigUint64Array, parties: number, options?: AdditiveOptions): BigUint64Array[] {
  atyped(secret, 'secret', BigUint64Array);
  ainteger(parties, 'parties', 2, MAX_PARTIES);
  aoptions(options, 'options', ['domain', 'rng']);
  const rng = options?.rng === undefined ? systemRng() : arng(options.rng);
  const domain = options?.domain ?? Z64;
  const shares: BigUint64Array[] = [];
  if (domain === Z64) {
    const last = secret.slice();
    for (let i = 0; i < parties - 1; i++) {
      const s = randomZ64(secret.length, rng);
      Z64.sub(last, s, last);
      shares.push(s);
    }
    shares.push(last);
    return shares;
  }
  const f = vectorField(domain, 'domain');
  const last = f.check(secret, 'secret').slice();
  for (let i = 0; i < parties - 1; i++) {
    const s = f.random(secret.length, rng);
    f.sub(last, s, last);
    shares.push(s);
  }
  shares.push(last);
  return shares;
}

/**
 * The sum of all shares. Every party's share is needed: a missing one is
 * E_PROTOCOL. In Z_2^64, pass `out` in WASM memory (core's `arenaAlloc`) with
 * shares there too, and the sum runs on the WASM kernel.
 */
export function reconstructAdditive(shares: readonly BigUint64Array[], options?: { domain?: AdditiveDomain; parties?: number; out?: BigUint64Array }): BigUint64Array {
  if (!Array.isArray(shares) || shares.length === 0)
    throw new ConfideError('E_BAD_INPUT', '"shares" expected a non-empty array of BigUint64Array', { field: 'shares' });
  aoptions(options, 'options', ['domain', 'parties', 'out']);
  if (options?.parties !== undefined) {
    ainteger(options.parties, 'parties', 2, MAX_PARTIES);
    if (shares.length !== options.parties)
      throw new ConfideError('E_PROTOCOL', `additive sharing needs all ${options.parties} shares to open, got ${shares.length}`, {
        field: 'shares',
        details: { have: shares.length, need: options.parties },
      });
  }
  const domain = options?.domain ?? Z64;
  if (domain === Z64) return Z64.sum(shares, options?.out);
  if (options?.out !== undefined) throw new ConfideError('E_BAD_INPUT', '"out" applies to the Z64 domain only', { field: 'out' });
  const f = vectorField(domain, 'domain');
  const first = f.check(shares[0], 'shares[0]');
  const out = first.slice();
  for (let i = 1; i < shares.length; i++) {
    const s = f.check(shares[i], `shares[${i}]`);
    if (s.length !== out.length)
      throw new ConfideError('E_BAD_INPUT', `"shares[${i}]" expected length ${out.length}, got ${s.length}`, { field: `shares[${i}]` });
    f.add(out, s, out);
  }
  return out;
}
