/**
 * Exact rationals for noise parameters. Samplers take their parameters as
 * rationals so that no floating-point rounding decides an outcome. A JS
 * number converts exactly (every finite double is a dyadic rational), so
 * `0.1` means the double nearest 0.1; pass `{ num: 1, den: 10 }` for exactly
 * one tenth.
 */
import { ConfideError, describe } from '../core/errors.ts';

export interface Rational {
  readonly num: bigint;
  readonly den: bigint;
}

export type RationalLike = number | bigint | Rational | { num: number | bigint; den: number | bigint };

function gcd(a: bigint, b: bigint): bigint {
  if (a < 0n) a = -a;
  if (b < 0n) b = -b;
  while (b !== 0n) [a, b] = [b, a % b];
  return a;
}

function reduce(num: bigint, den: bigint): Rational {
  if (den < 0n) [num, den] = [-num, -den];
  const g = gcd(num, den);
  return g > 1n ? { num: num / g, den: den / g } : { num, den };
}

const F64 = new Float64Array(1);
const U64 = new BigUint64Array(F64.buffer);

/** The exact value of a finite double as a reduced rational. */
function fromDouble(x: number): Rational {
  if (Number.isInteger(x) && Number.isSafeInteger(x)) return { num: BigInt(x), den: 1n };
  F64[0] = x;
  const bits = U64[0];
  const sign = bits >> 63n ? -1n : 1n;
  const exp = Number((bits >> 52n) & 0x7ffn);
  let mant = bits & ((1n << 52n) - 1n);
  let e: number;
  if (exp === 0) e = -1074; // subnormal
  else {
    mant |= 1n << 52n;
    e = exp - 1075;
  }
  return e >= 0 ? { num: sign * (mant << BigInt(e)), den: 1n } : reduce(sign * mant, 1n << BigInt(-e));
}

function fail(field: string, expected: string, got: unknown): never {
  throw new ConfideError('E_BAD_INPUT', `"${field}" expected ${expected}, got ${describe(got)}`, { field });
}

/**
 * Reads a rational in (min, ∞) (or [0, ∞) with `allowZero`): a finite number,
 * a bigint, or { num, den } with integer parts and den > 0.
 */
export function arational(v: unknown, field: string, allowZero = false): Rational {
  let r: Rational;
  if (typeof v === 'number') {
    if (!Number.isFinite(v)) fail(field, 'a finite number', v);
    r = fromDouble(v);
  } else if (typeof v === 'bigint') r = { num: v, den: 1n };
  else if (typeof v === 'object' && v !== null && !Array.isArray(v) && 'num' in v && 'den' in v) {
    const { num, den } = v as { num: unknown; den: unknown };
    const toBig = (x: unknown, f: string) => {
      if (typeof x === 'bigint') return x;
      if (typeof x === 'number' && Number.isSafeInteger(x) && !Object.is(x, -0)) return BigInt(x);
      return fail(`${field}.${f}`, 'an integer (number or bigint)', x);
    };
    const n = toBig(num, 'num'), d = toBig(den, 'den');
    if (d <= 0n) fail(`${field}.den`, 'an integer > 0', den);
    r = reduce(n, d);
  } else return fail(field, 'a number, bigint or { num, den }', v);
  if (r.num < 0n || (r.num === 0n && !allowZero)) fail(field, allowZero ? 'a rational >= 0' : 'a rational > 0', v);
  return r;
}

/** floor(sqrt(n)) for n >= 0 (Newton's method on bigints). */
export function isqrt(n: bigint): bigint {
  if (n < 2n) return n;
  const approx = Math.sqrt(Number(n));
  let x = Number.isFinite(approx) ? BigInt(Math.floor(approx)) : 1n << BigInt((n.toString(2).length >> 1) + 1);
  // Correct the float estimate exactly.
  while (x * x > n) x = (x + n / x) >> 1n;
  while ((x + 1n) * (x + 1n) <= n) x++;
  return x;
}

export function toNumber(r: Rational): number {
  return Number(r.num) / Number(r.den);
}

export function rationalString(r: Rational): string {
  return r.den === 1n ? `${r.num}` : `${r.num}/${r.den}`;
}
