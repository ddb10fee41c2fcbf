/**
 * Fixed-point reals on shares: values carry 2^fracBits (core's FixedPoint
 * codec), so a product carries 2^(2·fracBits) and must be truncated by
 * fracBits before the next product. Probabilistic truncation (Catrina and
 * Saxena, FC 2010, §3.1 TruncPr; ABY3's shape in Z_2^64, Mohassel and Rindal,
 * CCS 2018, §5.1): with x promised to lie in [-2^(k-1), 2^(k-1)) (k = `bits`,
 * f = fracBits, x' = x + 2^(k-1) in [0, 2^k)) and a shared pair (r, [r_hi]),
 * the parties open c = x' + r and keep
 *
 *     [x >> f] = (c >> f) − 2^(k-1-f) − [r_hi].
 *
 * One opening. Three kinds of pair, three sets of bounds (proofs in short):
 *
 * 1. **Z_2^64, dealer pair, r uniform over the ring** (width 64, ABY3).
 *    - Privacy: c is uniform; nothing about x is revealed (perfect).
 *    - Error: when x' + r does not wrap mod 2^64, c >> f = ⌊x'/2^f⌋ + ⌊r/2^f⌋ + e
 *      with carry e ∈ {0, 1}, and r_hi = ⌊r/2^f⌋, so the result is ⌊x/2^f⌋ + e:
 *      result − x/2^f ∈ [−(1 − 2^-f), 1 − 2^-f], under one unit in the last
 *      place (2^-f) (kind 3 with n' = 1).
 *    - Failure: x' + r wraps with probability x'/2^64 < 2^(k-64), and then the
 *      result is off by about 2^(64-f). `sigma` (default 20) bounds it:
 *      refused (E_OVERFLOW) unless 64 − k ≥ sigma.
 *
 * 2. **A prime field, dealer pair, r uniform in [0, 2^w)** (w = bits(p) − 2,
 *    Catrina–Saxena). x is the field element x mod p (centred).
 *    - No wrap, ever: c ≤ (2^k − 1) + (2^w − 1) < p is checked on the
 *      parameters, so the opened c is the integer x' + r and the error is as
 *      in 1, under one unit in the last place, with no failure probability.
 *    - Privacy (statistical): for any two admissible x, the statistical
 *      distance between the distributions of c is |x'_1 − x'_2|/2^w < 2^(k-w).
 *      `sigma` (default 40) is required of it: refused unless w − k ≥ sigma.
 *      Over a vector of L elements the distance adds up to at most L·2^(k-w).
 *
 * 3. **Pairs made by the parties, no dealer** (`MpcParty.truncationPairs`,
 *    or inside `MpcParty.truncate`; any sharing). Each contributing party j
 *    draws r_j uniform in [0, 2^w), w = k + sigma, and inputs r_j and
 *    h_j = ⌊r_j/2^f⌋; r = Σ r_j over the n' contributors (`terms`), r_hi = Σ h_j.
 *    - Error: write r_j = 2^f h_j + l_j and x' = 2^f a + b (l_j, b < 2^f).
 *      Then c >> f = a + Σ h_j + e with e = ⌊(b + Σ l_j)/2^f⌋ ≥ 0, and
 *      a − 2^(k-1-f) = ⌊x/2^f⌋ (2^f divides 2^(k-1)), so the result is
 *      ⌊x/2^f⌋ + e and result − x/2^f = e − b/2^f. Below: e ≥ 0 and
 *      b ≤ 2^f − 1. Above: e ≤ (b + Σ l_j)/2^f and Σ l_j ≤ n'(2^f − 1). So
 *
 *          result − x/2^f ∈ [−(1 − 2^-f), n'·(1 − 2^-f)]   (units of 2^-f),
 *
 *      in particular within (−1, n') units, n' ≤ the number of parties; both
 *      ends are attained (b = 2^f − 1 with every l_j = 0; b = n' with every
 *      l_j = 2^f − 1). With uniform draws the error averages about
 *      (n' − 1)/2 units: the carries of Σ l_j that r_hi leaves out.
 *    - No wrap: refused (E_OVERFLOW) unless (2^k − 1) + n·(2^w − 1) < M
 *      (M = p, or 2^64 in Z_2^64), n the parties present: the opened c is
 *      then the exact integer x' + r. In Fp61 that is k + sigma ≤ 59 for
 *      n ≤ 3 and ≤ 58 for n ≤ 7 (k ≤ 19 with sigma 40, k ≤ 39 with sigma
 *      20, for 3 parties); in the 45-bit HE field, k + sigma ≤ 43 for n ≤ 3.
 *    - Privacy: a coalition knows its own r_j, but an honest contributor's
 *      r_h is uniform in [0, 2^w) and unknown to it, so as in 2 the distance
 *      between the distributions of c given any two admissible x (and
 *      everything the coalition holds) is below 2^(k-w) = 2^-sigma per
 *      element. This needs one honest contributor: every party under additive
 *      sharing (all must be present); under Shamir at least t contributors,
 *      which `MpcParty` checks (a coalition has at most t − 1).
 *    - Dropouts (Shamir): a party missing at the pair input is left out of
 *      both sums, all survivors agree on who contributed, and n' counts
 *      only them: still correct, and the bound above uses n'.
 *
 * "Overflow checked": the promise |x| < 2^(k-1) concerns secret values and
 * cannot be checked, but its parameters are, before anything is sent; and in
 * kinds 2 and 3 an opened c above (2^k − 1) + n'·(2^w − 1) proves the promise
 * broken (c is public, so saying so leaks nothing): E_OVERFLOW at every party.
 * A broken promise can also go unnoticed and give a wrong result.
 */
import { ainteger, aoptions, atyped, aboolean } from '../core/assert.ts';
import { ConfideError, describe } from '../core/errors.ts';
import { add64, sub64, words } from './_z64.ts';
import { shiftRight64, TruncationPair } from './beaver.ts';
import { vectorField } from './_vfield.ts';

export interface TruncationOptions {
  /** Bits of the values being truncated: |x| < 2^(bits-1) in ring units. */
  bits: number;
  /**
   * Statistical parameter: the wrap probability (Z_2^64 dealer pairs, default
   * 20) or the statistical distance of the opened value (field pairs and the
   * parties' own pairs, default 40) is at most 2^-sigma per element. A failure
   * shows as a wildly wrong result; a leak is silent, hence the stricter default.
   */
  sigma?: number;
}

/** The default `sigma` where it bounds a wrap (Z_2^64 dealer pairs). */
export const TRUNCATION_SIGMA_WRAP = 20;
/** The default `sigma` where it bounds a statistical leak (field pairs, the parties' own pairs). */
export const TRUNCATION_SIGMA_HIDING = 40;

/** The probability bound that one truncated element is wrong by ~2^(64-f): 2^(bits-64). */
export function truncationFailureProbability(bits: number): number {
  ainteger(bits, 'bits', 2, 64);
  return 2 ** (bits - 64);
}

/** What the parameters of a truncation are checked against. */
export interface TruncationShape {
  fracBits: number;
  bits: number;
  sigma: number;
  /** Width of each draw of r (64 and terms 1: uniform over Z_2^64). */
  width: number;
  terms: number;
  /** The modulus: 2^64 or p. */
  modulus: bigint;
  /** The domain, for messages: 'Z_2^64' or 'F_p'. */
  domain: string;
}

const TWO64 = 1n << 64n;

/** The largest c that an admissible x can open to without a wrap (kinds 2 and 3). */
function maxOpened(s: { bits: number; width: number; terms: number }): bigint {
  return (1n << BigInt(s.bits)) - 1n + BigInt(s.terms) * ((1n << BigInt(s.width)) - 1n);
}

/** Whether these pairs are one draw uniform over Z_2^64 (ABY3, kind 1); sums of draws must never wrap. */
function wraps(s: { width: number; terms: number; modulus: bigint }): boolean {
  return s.width === 64 && s.terms === 1 && s.modulus === TWO64;
}

/**
 * Throws E_OVERFLOW when k, f, sigma cannot work with these pairs: the
 * conditions of the header. Module-internal (MpcParty checks before sending).
 */
export function assertTruncationFits(s: TruncationShape): void {
  const { bits: k, sigma, width: w, terms, modulus } = s;
  if (wraps(s)) {
    if (64 - k < sigma)
      throw new ConfideError('E_OVERFLOW', `truncating ${k}-bit values fails with probability up to 2^-${64 - k}, above the required 2^-${sigma}; lower fracBits or the bound`, {
        field: 'bits',
        details: { bits: k, sigma, maxBits: 64 - sigma },
      });
    return;
  }
  if (w - k < sigma)
    throw new ConfideError('E_OVERFLOW', `pairs of ${w} bits hide ${k}-bit values only to 2^-${w - k}, above the required 2^-${sigma}; lower bits (at most ${w - sigma}) or sigma`, {
      field: 'bits',
      details: { bits: k, sigma, width: w, maxBits: w - sigma },
    });
  if (maxOpened(s) >= modulus) {
    // The largest k that would fit with the same margin w − k, for the message.
    let maxBits = 0;
    for (let b = s.fracBits + 1; b < 64; b++) if (maxOpened({ bits: b, width: w === k + sigma ? b + sigma : w, terms }) < modulus) maxBits = b;
    throw new ConfideError('E_OVERFLOW', `${k}-bit values masked by ${terms} draw(s) of ${w} bits can reach ${maxOpened(s)}, beyond ${s.domain} (modulus ${modulus}); at most ${maxBits} bits fit with sigma ${sigma}`, {
      field: 'bits',
      details: { bits: k, sigma, width: w, terms, modulus: String(modulus), domain: s.domain, maxBits },
    });
  }
}

/** The error and privacy figures of truncating with `pair` under `options` (the header's bounds, after its checks). */
export function truncationBounds(pair: TruncationPair, options: TruncationOptions): {
  /** result − x/2^f lies strictly between −below and +above, in units of 2^-f. */
  below: number;
  above: number;
  /** Per element: probability of a wrong result (kind 1), else 0. */
  failure: number;
  /** Per element: statistical distance of the opened value between any two inputs (0: perfect). */
  leak: number;
} {
  const s = shapeOf(pair, options);
  if (wraps(s)) return { below: 1, above: 1, failure: 2 ** (s.bits - 64), leak: 0 };
  return { below: 1, above: s.terms, failure: 0, leak: 2 ** (s.bits - s.width) };
}

function shapeOf(pair: unknown, options: TruncationOptions): TruncationShape {
  if (!(pair instanceof TruncationPair)) throw new ConfideError('E_BAD_INPUT', `"pair" expected a TruncationPair, got ${describe(pair)}`, { field: 'pair' });
  return truncationShape(pair, options);
}

/**
 * The checked shape of truncating with pairs of this kind under `options`
 * (sigma defaulted by kind); E_OVERFLOW when they cannot work. Module-internal:
 * MpcParty runs it on a store's or a pool's pairs before taking any.
 */
export function truncationShape(pair: { fracBits: number; width: number; terms: number; field: { p: bigint } | undefined }, options: TruncationOptions): TruncationShape {
  aoptions(options, 'options', ['bits', 'sigma']);
  if (options === undefined) throw new ConfideError('E_BAD_INPUT', '"options" expected { bits }', { field: 'options' });
  const f = pair.fracBits;
  const k = ainteger(options.bits, 'bits', f + 1, 63);
  const modulus = pair.field === undefined ? TWO64 : pair.field.p;
  const wrap = wraps({ width: pair.width, terms: pair.terms, modulus });
  const sigma = ainteger(options.sigma ?? (wrap ? TRUNCATION_SIGMA_WRAP : TRUNCATION_SIGMA_HIDING), 'sigma', 1, 62);
  const s = { fracBits: f, bits: k, sigma, width: pair.width, terms: pair.terms, modulus, domain: pair.field === undefined ? 'Z_2^64' : `F_${modulus}` };
  assertTruncationFits(s);
  return s;
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

/**
 * Step 1: this party's share of c = x + 2^(bits-1) + r, to be opened. Marks
 * the pair used (a second mask with it is E_STATE). `first`: true at exactly
 * one party under additive sharing; at every party under Shamir sharing (a
 * public constant is added to every Shamir share).
 */
export function truncateMask(x: BigUint64Array, pair: TruncationPair, first: boolean, options: TruncationOptions): BigUint64Array {
  atyped(x, 'x', BigUint64Array);
  const { bits: k } = shapeOf(pair, options);
  aboolean(first, 'first');
  if (pair.length !== x.length) throw new ConfideError('E_BAD_INPUT', `"pair" expected length ${x.length}, got ${pair.length}`, { field: 'pair' });
  if (pair.field !== undefined) {
    const vf = vectorField(pair.field);
    vf.check(x, 'x');
    pair.consume();
    const c = vf.add(x, pair.r);
    if (first) {
      const half = 1n << BigInt(k - 1); // below p: k < bits(p) − 1 by the checks
      const p = pair.field.p;
      for (let i = 0; i < c.length; i++) c[i] = (c[i] + half) % p;
    }
    return c;
  }
  pair.consume();
  const c = add64(x, pair.r, new BigUint64Array(x.length));
  if (first) addConstant(c, ...pow2Words(k - 1));
  return c;
}

/**
 * Step 2, after c is opened (the same c at every party): this party's share
 * of x >> fracBits. `first` as for `truncateMask`. E_OVERFLOW when c shows
 * that some |x| was not below 2^(bits-1) (kinds 2 and 3 only).
 */
export function truncateFinish(c: BigUint64Array, pair: TruncationPair, first: boolean, options: TruncationOptions): BigUint64Array {
  atyped(c, 'c', BigUint64Array);
  const s = shapeOf(pair, options);
  const { fracBits: f, bits: k } = s;
  aboolean(first, 'first');
  if (pair.length !== c.length) throw new ConfideError('E_BAD_INPUT', `"pair" expected length ${c.length}, got ${pair.length}`, { field: 'pair' });
  if (pair.field !== undefined) vectorField(pair.field).check(c, 'c');
  if (!wraps(s)) {
    const top = maxOpened(s);
    for (let i = 0; i < c.length; i++)
      if (c[i] > top)
        throw new ConfideError('E_OVERFLOW', `element ${i} was not below 2^${k - 1} in magnitude (the opened mask exceeds its bound): "bits" ${k} is too small for the values`, {
          field: 'bits',
          details: { index: i, bits: k },
        });
  }
  if (pair.field !== undefined) {
    const p = pair.field.p;
    const shift = BigInt(f), sub = 1n << BigInt(k - 1 - f);
    const out = new BigUint64Array(c.length);
    for (let i = 0; i < c.length; i++) {
      const pub = first ? (c[i] >> shift) + p - sub : p; // c >> f < p, and sub < p
      out[i] = (pub + p - pair.rHigh[i]) % p;
    }
    return out;
  }
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
