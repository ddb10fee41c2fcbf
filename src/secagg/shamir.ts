/**
 * Shamir secret sharing (Shamir 1979) of 32-byte secrets over SECRET_FIELD,
 * p = 2^256 + 297, so that every 256-bit secret (a seed, an X25519 private
 * key) is one field element and nothing is truncated. A secret is the
 * constant term of a random polynomial of degree t - 1; holder x gets its
 * value at x. Any t shares determine the secret (Lagrange interpolation at 0);
 * any t - 1 are uniformly distributed and independent of it.
 */
import { ainteger, abytes } from '../core/assert.ts';
import { ConfideError, describe } from '../core/errors.ts';
import { SECRET_FIELD, fieldToSecret, secretToField } from '../core/field.ts';
import { arng, systemRng, type Rng } from '../core/random.ts';

const P = SECRET_FIELD.p;
const TWO_256 = 1n << 256n;
const LOW = TWO_256 - 1n;
/** Products of small factors are kept as doubles below this (exact, and times p within reduce's range). */
const PACKED = 2 ** 43;

/**
 * The little-endian integer in bytes [at, at + 33) of `bytes` (a share's
 * field element as it travels), read as four 64-bit words and a top byte
 * rather than byte by byte. The caller checks it against p.
 */
export function shareValue(bytes: Uint8Array, at: number): bigint {
  const dv = new DataView(bytes.buffer, bytes.byteOffset + at, SECRET_FIELD.bytes);
  return (
    (BigInt(dv.getUint8(32)) << 256n) |
    (dv.getBigUint64(24, true) << 192n) |
    (dv.getBigUint64(16, true) << 128n) |
    (dv.getBigUint64(8, true) << 64n) |
    dv.getBigUint64(0, true)
  );
}

/** A share: the holder's point x (1 ≤ x < 2^32) and the polynomial's value there. */
export interface Share {
  readonly x: number;
  readonly y: bigint;
}

/** v mod p for 0 ≤ v < 2^300, using 2^256 ≡ -297 (mod p). */
function reduce(v: bigint): bigint {
  let r = (v & LOW) - 297n * (v >> 256n);
  if (r < 0n) r += P;
  return r >= P ? r - P : r;
}

function aholders(holders: unknown, field: string): readonly number[] {
  if (!Array.isArray(holders) || holders.length === 0)
    throw new ConfideError('E_BAD_INPUT', `"${field}" expected a non-empty array of holder points, got ${describe(holders)}`, { field });
  const seen = new Set<number>();
  for (let i = 0; i < holders.length; i++) {
    const x = ainteger(holders[i], `${field}[${i}]`, 1, 2 ** 32 - 1);
    if (seen.has(x)) throw new ConfideError('E_BAD_INPUT', `"${field}[${i}]" repeats the point ${x}`, { field: `${field}[${i}]` });
    seen.add(x);
  }
  return holders as number[];
}

/**
 * Splits a 32-byte secret into one share per holder point (distinct integers
 * in [1, 2^32)), any `threshold` of which recover it. Coefficients come from
 * `rng` (the system CSPRNG by default; a seeded one only in tests).
 */
export function shamirShare(secret: Uint8Array, threshold: number, holders: readonly number[], rng: Rng = systemRng()): Share[] {
  abytes(secret, 'secret', 32);
  const xs = aholders(holders, 'holders');
  ainteger(threshold, 'threshold', 1, xs.length);
  arng(rng);
  const coeffs: bigint[] = [secretToField(secret)];
  for (let i = 1; i < threshold; i++) coeffs.push(rng.uniformBigInt(P));
  const out: Share[] = [];
  for (const x of xs) {
    const bx = BigInt(x);
    // Horner, reduced only every `lazy` steps: a step multiplies by x < 2^b (b = bits of x) and
    // adds a coefficient below p, so `lazy` ≤ 40/b steps from a value below p stay below 2^298,
    // within reduce's range (< 2^300). Fewer BigInt operations than a reduction per step (sharing
    // costs t·holders steps per secret).
    const lazy = Math.max(1, Math.floor(40 / Math.max(1, Math.ceil(Math.log2(x + 1)))));
    let acc = coeffs[threshold - 1];
    for (let i = threshold - 2, k = 1; i >= 0; i--, k++) {
      acc = acc * bx + coeffs[i];
      if (k % lazy === 0 || i === 0) acc = reduce(acc);
    }
    out.push({ x, y: acc });
  }
  return out;
}

function inverse(a: bigint): bigint {
  return SECRET_FIELD.inv(a);
}

/**
 * Lagrange coefficients at 0 for the points `xs`: λ_i = Π_{j≠i} x_j / (x_j - x_i),
 * with one field inversion for all of them (Montgomery's batch trick).
 */
export function lagrangeAtZero(xs: readonly number[]): bigint[] {
  const t = xs.length;
  const num: bigint[] = new Array(t);
  const den: bigint[] = new Array(t);
  // The factors are integers below 2^32: they are multiplied as doubles while the product stays below
  // 2^43 (exact), and only then into the field element (below p < 2^257, so the product stays below
  // 2^300, within reduce's range): a few BigInt multiplications per coefficient instead of one per
  // factor (t² factors in all, 63,000 at t = 251).
  for (let i = 0; i < t; i++) {
    let nu = 1n;
    let de = 1n;
    let pn = 1;
    let pd = 1;
    let negative = false;
    const xi = xs[i];
    for (let j = 0; j < t; j++) {
      if (j === i) continue;
      const xj = xs[j];
      if (pn * xj >= PACKED) {
        nu = reduce(nu * BigInt(pn));
        pn = 1;
      }
      pn *= xj;
      let d = xj - xi;
      if (d < 0) {
        d = -d;
        negative = !negative;
      }
      if (pd * d >= PACKED) {
        de = reduce(de * BigInt(pd));
        pd = 1;
      }
      pd *= d;
    }
    nu = reduce(nu * BigInt(pn));
    de = reduce(de * BigInt(pd));
    num[i] = nu;
    // Π (x_j - x_i) = (-1)^(negative factors) · Π |x_j - x_i|.
    den[i] = negative && de !== 0n ? P - de : de;
  }
  // Batch inversion of den.
  const prefix: bigint[] = new Array(t);
  let acc = 1n;
  for (let i = 0; i < t; i++) {
    prefix[i] = acc;
    acc = (acc * den[i]) % P;
  }
  let inv = inverse(acc);
  const out: bigint[] = new Array(t);
  for (let i = t - 1; i >= 0; i--) {
    out[i] = (((inv * prefix[i]) % P) * num[i]) % P;
    inv = (inv * den[i]) % P;
  }
  return out;
}

/** Σ λ_i y_i for shares at the points the coefficients were made for. */
export function interpolate(lambdas: readonly bigint[], ys: readonly bigint[]): bigint {
  let s = 0n;
  for (let i = 0; i < lambdas.length; i++) s += lambdas[i] * ys[i];
  return s % P;
}

/**
 * The secret behind `threshold` or more shares (the first `threshold` are
 * used). Throws E_PROTOCOL when there are fewer than `threshold` shares, or
 * when they interpolate to a value that is no 32-byte secret (inconsistent
 * shares).
 */
export function shamirReconstruct(shares: readonly Share[], threshold: number): Uint8Array {
  if (!Array.isArray(shares)) throw new ConfideError('E_BAD_INPUT', `"shares" expected an array of shares, got ${describe(shares)}`, { field: 'shares' });
  ainteger(threshold, 'threshold', 1, 2 ** 32 - 1);
  if (shares.length < threshold)
    throw new ConfideError('E_PROTOCOL', `${shares.length} shares cannot recover a secret shared with threshold ${threshold}`, { field: 'shares' });
  const used = shares.slice(0, threshold);
  const xs: number[] = [];
  const ys: bigint[] = [];
  const seen = new Set<number>();
  for (let i = 0; i < used.length; i++) {
    const s = used[i] as Share | null;
    if (typeof s !== 'object' || s === null) throw new ConfideError('E_BAD_INPUT', `"shares[${i}]" expected { x, y }, got ${describe(s)}`, { field: `shares[${i}]` });
    const x = ainteger(s.x, `shares[${i}].x`, 1, 2 ** 32 - 1);
    if (!SECRET_FIELD.isValid(s.y)) throw new ConfideError('E_BAD_INPUT', `"shares[${i}].y" expected a field element, got ${describe(s.y)}`, { field: `shares[${i}].y` });
    if (seen.has(x)) throw new ConfideError('E_BAD_INPUT', `"shares[${i}].x" repeats the point ${x}`, { field: `shares[${i}].x` });
    seen.add(x);
    xs.push(x);
    ys.push(s.y);
  }
  const v = interpolate(lagrangeAtZero(xs), ys);
  if (v >= TWO_256) throw new ConfideError('E_PROTOCOL', 'the shares are inconsistent: they interpolate to no 32-byte secret', { field: 'shares' });
  return fieldToSecret(v);
}
