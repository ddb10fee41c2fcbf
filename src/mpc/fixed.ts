/**
 * Fixed-point reals on additive Z_2^64 shares: values carry 2^fracBits
 * (core's FixedPoint codec, 64-bit ring), so a product carries 2^(2·fracBits)
 * and must be truncated by fracBits before the next product.
 *
 * Probabilistic truncation with a shared uniform r (ABY3's TruncPr shape,
 * Mohassel and Rindal CCS 2018, §5.1; Catrina and Saxena FC 2010 for the
 * idea): with x known to lie in [-2^(k-1), 2^(k-1)), the parties open
 * c = x + 2^(k-1) + r mod 2^64 and set [x >> f] = (c >> f) - 2^(k-1-f) - [r >> f].
 *
 * - Privacy: r is uniform in Z_2^64, so c is uniform: nothing about x is
 *   revealed (perfectly, not statistically).
 * - Error: when x + 2^(k-1) + r does not wrap, the result is ⌊x / 2^f⌋ or
 *   ⌊x / 2^f⌋ + 1: within one unit in the last place (2^-f of the real value).
 * - Failure: it wraps with probability (x + 2^(k-1)) / 2^64 < 2^(k-64); then
 *   the result is off by about 2^(64-f). So the statistical parameter is
 *   σ = 64 - k: `truncate` refuses k unless 2^(k-64) <= 2^-sigma (sigma
 *   defaults to 20, so products must stay below 2^43 in magnitude, ring units).
 */
import { ainteger, aoptions, atyped, aboolean } from '../core/assert.ts';
import { ConfideError } from '../core/errors.ts';
import { add64, sub64, words } from './_z64.ts';
import { shiftRight64, type TruncationPair } from './beaver.ts';

export interface TruncationOptions {
  /** Bits of the values being truncated: |x| < 2^(bits-1) in ring units. */
  bits: number;
  /** Required failure exponent: the wrap probability is at most 2^-sigma. Default 20. */
  sigma?: number;
}

/** The probability bound that one truncated element is wrong by ~2^(64-f): 2^(bits-64). */
export function truncationFailureProbability(bits: number): number {
  ainteger(bits, 'bits', 2, 64);
  return 2 ** (bits - 64);
}

function checkParams(pair: TruncationPair, options: TruncationOptions): { f: number; k: number } {
  aoptions(options, 'options', ['bits', 'sigma']);
  if (options === undefined) throw new ConfideError('E_BAD_INPUT', '"options" expected { bits }', { field: 'options' });
  if (typeof pair !== 'object' || pair === null) throw new ConfideError('E_BAD_INPUT', '"pair" expected a TruncationPair', { field: 'pair' });
  const f = ainteger(pair.fracBits, 'pair.fracBits', 1, 52);
  const k = ainteger(options.bits, 'bits', f + 1, 63);
  const sigma = ainteger(options.sigma ?? 20, 'sigma', 1, 62);
  if (64 - k < sigma)
    throw new ConfideError('E_OVERFLOW', `truncating ${k}-bit values fails with probability up to 2^-${64 - k}, above the required 2^-${sigma}; lower fracBits or the bound`, {
      field: 'bits',
      details: { bits: k, sigma, maxBits: 64 - sigma },
    });
  atyped(pair.r, 'pair.r', BigUint64Array);
  atyped(pair.rHigh, 'pair.rHigh', BigUint64Array);
  return { f, k };
}

function addConstant(v: BigUint64Array, hi: number, lo: number): void {
  // v += hi·2^32 + lo, element-wise, in place.
  const z = words(v);
  for (let i = 0; i < z.length; i += 2) {
    const s = z[i] + lo;
    z[i] = s >>> 0;
    z[i + 1] = (z[i + 1] + hi + (s >= 4294967296 ? 1 : 0)) >>> 0;
  }
}

function pow2Words(e: number): [number, number] {
  return e >= 32 ? [2 ** (e - 32), 0] : [0, 2 ** e];
}

/** Step 1: this party's share of c = x + 2^(bits-1) + r, to be opened. */
export function truncateMask(x: BigUint64Array, pair: TruncationPair, first: boolean, options: TruncationOptions): BigUint64Array {
  atyped(x, 'x', BigUint64Array);
  const { k } = checkParams(pair, options);
  aboolean(first, 'first');
  if (pair.r.length !== x.length) throw new ConfideError('E_BAD_INPUT', `"pair.r" expected length ${x.length}`, { field: 'pair.r' });
  const c = add64(x, pair.r, new BigUint64Array(x.length));
  if (first) addConstant(c, ...pow2Words(k - 1));
  return c;
}

/** Step 2, after c is opened: this party's share of x >> fracBits. */
export function truncateFinish(c: BigUint64Array, pair: TruncationPair, first: boolean, options: TruncationOptions): BigUint64Array {
  atyped(c, 'c', BigUint64Array);
  const { f, k } = checkParams(pair, options);
  aboolean(first, 'first');
  if (pair.rHigh.length !== c.length) throw new ConfideError('E_BAD_INPUT', `"pair.rHigh" expected length ${c.length}`, { field: 'pair.rHigh' });
  const out = new BigUint64Array(c.length);
  if (first) {
    shiftRight64(c, f, out);
    // Subtract 2^(k-1-f): add its two's complement.
    const [hi, lo] = pow2Words(k - 1 - f);
    const neg = new BigUint64Array(1);
    const w = words(neg);
    w[0] = lo; w[1] = hi;
    const minus = sub64(new BigUint64Array(1), neg, new BigUint64Array(1));
    const mw = words(minus);
    addConstant(out, mw[1], mw[0]);
  }
  return sub64(out, pair.rHigh, out);
}
