/**
 * Shamir t-of-n sharing of vectors over a prime field (Shamir 1979): each
 * coordinate is the constant term of its own random polynomial of degree t-1,
 * and party j (x = j, 1-based) holds the polynomial's value at j. Any t shares
 * reconstruct by Lagrange interpolation at 0; any t-1 are uniform and
 * independent of the secret. The model is an honest majority (t > n/2 is
 * recommended so that an opened value cannot be decided by a colluding
 * minority); up to n - t parties may be missing at reconstruction.
 */
import { ainteger, aoptions, atyped } from '../core/assert.ts';
import { ConfideError } from '../core/errors.ts';
import { Fp61 } from '../core/field.ts';
import { arng, systemRng, type Rng } from '../core/random.ts';
import { vectorField, type FieldLike } from './_vfield.ts';

export interface ShamirShare {
  /** The evaluation point, 1..n (the party's index + 1). */
  readonly x: number;
  readonly data: BigUint64Array;
}

export interface ShamirOptions {
  /** Shares needed to reconstruct (the polynomial degree is threshold - 1); 1 <= threshold <= parties. */
  threshold: number;
  /** Number of shares to make. */
  parties: number;
  /** Fp61 (default) or a PrimeField with p < 2^64 and p > parties. */
  field?: FieldLike;
  rng?: Rng;
}

const MAX_PARTIES = 1 << 16;

export function shareShamir(secret: BigUint64Array, options: ShamirOptions): ShamirShare[] {
  aoptions(options, 'options', ['threshold', 'parties', 'field', 'rng']);
  if (options === undefined) throw new ConfideError('E_BAD_INPUT', '"options" expected { threshold, parties }', { field: 'options' });
  const n = ainteger(options.parties, 'parties', 1, MAX_PARTIES);
  const t = ainteger(options.threshold, 'threshold', 1, n);
  const f = vectorField(options.field ?? Fp61);
  if (BigInt(n) >= f.p) throw new ConfideError('E_BAD_INPUT', `"parties" expected fewer than p = ${f.p}`, { field: 'parties' });
  const s = f.check(secret, 'secret');
  const rng = options.rng === undefined ? systemRng() : arng(options.rng);
  const coeffs: BigUint64Array[] = [];
  for (let k = 1; k < t; k++) coeffs.push(f.random(s.length, rng));
  const shares: ShamirShare[] = [];
  for (let j = 1; j <= n; j++) {
    // Horner: ((a_{t-1}·j + a_{t-2})·j + ...)·j + s.
    const acc = new BigUint64Array(s.length);
    for (let k = t - 2; k >= 0; k--) {
      f.mulScalar(acc, BigInt(j), acc);
      f.add(acc, coeffs[k], acc);
    }
    f.mulScalar(acc, BigInt(j), acc);
    f.add(acc, s, acc);
    shares.push({ x: j, data: acc });
  }
  return shares;
}

/** Lagrange coefficients at 0 for the points `xs` (distinct, nonzero mod p). */
export function lagrangeAtZero(xs: readonly number[], field: FieldLike = Fp61): bigint[] {
  const F = vectorField(field).scalar;
  if (!Array.isArray(xs) || xs.length === 0)
    throw new ConfideError('E_BAD_INPUT', '"xs" expected a non-empty array of evaluation points', { field: 'xs' });
  const seen = new Set<bigint>();
  for (let i = 0; i < xs.length; i++) {
    const x = F.create(BigInt(ainteger(xs[i], `xs[${i}]`, 1, MAX_PARTIES)));
    if (seen.has(x)) throw new ConfideError('E_BAD_INPUT', `"xs[${i}]" repeats a point`, { field: `xs[${i}]` });
    seen.add(x);
  }
  return xs.map((xj, j) => {
    let num = 1n, den = 1n;
    for (let m = 0; m < xs.length; m++) {
      if (m === j) continue;
      num = F.mul(num, F.create(BigInt(xs[m])));
      den = F.mul(den, F.create(BigInt(xs[m] - xj)));
    }
    return F.div(num, den);
  });
}

/**
 * Reconstructs from any `threshold` of the shares (the first ones given with
 * distinct points are used). Fewer than `threshold` is E_PROTOCOL: too few
 * parties remain.
 */
export function reconstructShamir(shares: readonly ShamirShare[], options: { threshold: number; field?: FieldLike }): BigUint64Array {
  aoptions(options, 'options', ['threshold', 'field']);
  if (options === undefined) throw new ConfideError('E_BAD_INPUT', '"options" expected { threshold }', { field: 'options' });
  const t = ainteger(options.threshold, 'threshold', 1, MAX_PARTIES);
  const field = options.field ?? Fp61;
  const f = vectorField(field);
  if (!Array.isArray(shares)) throw new ConfideError('E_BAD_INPUT', '"shares" expected an array of { x, data }', { field: 'shares' });
  const chosen: ShamirShare[] = [];
  const seen = new Set<number>();
  let length = -1;
  for (let i = 0; i < shares.length && chosen.length < t; i++) {
    const sh = shares[i];
    if (typeof sh !== 'object' || sh === null) throw new ConfideError('E_BAD_INPUT', `"shares[${i}]" expected { x, data }`, { field: `shares[${i}]` });
    const x = ainteger(sh.x, `shares[${i}].x`, 1, MAX_PARTIES);
    const d = f.check(atyped(sh.data, `shares[${i}].data`, BigUint64Array), `shares[${i}].data`);
    if (length < 0) length = d.length;
    else if (d.length !== length)
      throw new ConfideError('E_BAD_INPUT', `"shares[${i}].data" expected length ${length}, got ${d.length}`, { field: `shares[${i}].data` });
    if (seen.has(x)) continue;
    seen.add(x);
    chosen.push(sh);
  }
  if (chosen.length < t)
    throw new ConfideError('E_PROTOCOL', `Shamir reconstruction needs ${t} shares from distinct parties, got ${chosen.length}`, {
      field: 'shares',
      details: { have: chosen.length, need: t },
    });
  const lambda = lagrangeAtZero(chosen.map((s) => s.x), field);
  const out = new BigUint64Array(length);
  const tmp = new BigUint64Array(length);
  for (let j = 0; j < chosen.length; j++) {
    f.mulScalar(chosen[j].data, lambda[j], tmp);
    f.add(out, tmp, out);
  }
  return out;
}
