/**
 * Privacy loss distributions (PLD): the tightest accountant confide has for
 * compositions of Gaussian, Laplace, discrete and Poisson-subsampled
 * mechanisms. It follows Google's dp_accounting `pld/` package
 * (privacy_loss_distribution.py, privacy_loss_mechanism.py, pld_pmf.py,
 * pld_privacy_accountant.py) in semantics and defaults, so its numbers match
 * theirs (Koskela, Jälkö and Honkela 2020; Meiser and Mohammadi 2018; the
 * "Privacy Loss Distributions" note in dp_accounting's docs).
 *
 * A PLD is the distribution of the privacy loss L = ln(P(o)/Q(o)) for o ~ P,
 * where P and Q are the mechanism's outputs on neighbouring inputs; then
 * δ(ε) = E[(1 − e^{ε−L})₊] + P[L = +∞] (the hockey-stick divergence), and
 * the PLD of a composition is the convolution of the PLDs. Here a PLD is a
 * probability mass function on the grid {k·d} (d = `discretization`, default
 * 1e-4) plus a mass at +∞, built so that every ε and δ it reports is an upper
 * bound ("pessimistic"):
 *
 * - Gaussian and Laplace: connect-the-dots (Doroshenko, Ghazi, Kamath, Kumar
 *   and Manurangsi, PETS 2022, Algorithm 1; dp_accounting's default): the
 *   masses are chosen so that the discrete PLD has the mechanism's δ at every
 *   grid ε and more in between. The Gaussian noise is cut where each tail
 *   holds e^{-50}/2; that mass goes to +∞.
 * - discrete Laplace, discrete Gaussian, randomized response and (ε, δ)
 *   events: privacy buckets, every loss rounded up to the grid (dp_accounting's
 *   default for these).
 * - Poisson sampling with probability q, under add-or-remove-one neighbours
 *   (dp_accounting's default relation): the "remove" PLD (P = (1−q)μ + qμ(·+Δ),
 *   Q = μ) and the "add" PLD (P = μ, Q = (1−q)μ + qμ(·−Δ)) are both kept and
 *   composed separately; ε and δ are the worse of the two.
 * - Self-composition: one FFT of the PMF, raised to the count, one inverse
 *   FFT, on a window chosen by a Chernoff bound so that at most 1e-15/2 of
 *   mass lies on either side of it (pld_pmf.py `self_compose`, common.py
 *   `self_convolve`). Composition of two PMFs: FFT convolution (direct when
 *   one is short), then tails of at most 1e-15/2 each cut. Cut mass above
 *   goes to +∞, cut mass below onto the lowest kept loss.
 *
 * Beyond dp_accounting:
 * - Unsampled Gaussian events are merged exactly before anything is built
 *   (their composition is the Gaussian with 1/σ² = Σ Δᵢ²/σᵢ²), as
 *   dp_accounting does for the count of one event.
 * - A bounded loss (Laplace, discrete Laplace, randomized response, (ε, δ))
 *   keeps its right tail through compositions, so δ = 0 (pure DP) is
 *   answered: Laplace b=1 three times and b=2 twice gives ε = 4 at δ = 0.
 * - The mass at +∞ is split into the mechanism's own (δ of an (ε, δ) event)
 *   and the numerical part (tails the constructions and compositions cut). A
 *   δ below the mechanism's own gives ε = ∞ (true); a δ below the numerical
 *   part cannot be answered and is an E_OVERFLOW, never a made-up ε (the
 *   failure of microsoft/prv_accountant#17).
 * - Each PMF carries a bound on the L2 norm of its floating-point error,
 *   carried through every FFT (Higham 2002, §24.1), through the power of a
 *   self-composition (count·|z|^{count−1} times the error of each bin, so the
 *   few bins near frequency 0 are summed again directly and accurately), and
 *   through truncations. ε is computed so that δ plus that error is within
 *   the asked δ. When the allowance moves ε by more than 1% (or ten grid
 *   steps) the δ is too small for the arithmetic and the answer is an
 *   E_OVERFLOW that gives both figures; for DP-SGD with 2,249 steps that
 *   happens below δ ≈ 1e-11.
 * - A grid that would need more than 2^22 points (a very large ε, a huge
 *   count, a tiny σ) is an E_OVERFLOW that names a discretization that fits
 *   (prv_accountant#36, #42 fail with internal assertions instead).
 *
 * Randomized response is analysed under replace-one neighbours (the input
 * bucket changes), the only relation dp_accounting allows for it; every
 * other mechanism under add-or-remove-one. Poisson sampling applies to
 * Gaussian and Laplace noise, continuous or discrete. zCDP events and
 * sampling without replacement are E_UNSUPPORTED here: use the zCDP or RDP
 * accountant.
 */
import { anumber, aoptions, ainteger } from '../../core/assert.ts';
import { ConfideError, describe } from '../../core/errors.ts';
import { logNormalCdf, normalCdf } from '../calibration.ts';
import { aevent, describeEvent, type PrivacyEvent } from './events.ts';
import { dftBins, irfft, nextPow2, rfft } from './_fft.ts';

// ---------- constants ----------

const U = 2 ** -53; // unit roundoff of a double
/** Grid step of the privacy loss (dp_accounting's value_discretization_interval). */
export const DEFAULT_DISCRETIZATION = 1e-4;
/** Mass each (self-)composition may cut from the tails (dp_accounting's default). */
const TAIL_MASS_TRUNCATION = 1e-15;
/** ln of the Gaussian noise mass cut from each tail (dp_accounting's log_mass_truncation_bound). */
const LOG_MASS_TRUNCATION_BOUND = -50;
/** Largest PMF on the grid (points). */
const MAX_PMF_LENGTH = 2 ** 22;
/** Largest number of integer noise values a discrete mechanism may enumerate. */
const MAX_DISCRETE_SUPPORT = 2 ** 24;
/** dp_accounting rejects δ values that increase with ε by more than this. */
const DELTA_DIFF_TOLERANCE = 1e-12;
/** Rounding error per level of a radix-2 FFT with accurate twiddles (Higham 2002, Thm 24.2: μ + γ₄(√2 + μ)). */
const FFT_LEVEL_ERROR = 7 * U;

/**
 * Relative error bound ρ of a real FFT of length n (either direction) done as
 * a complex FFT of length n/2 plus one separating pass, which can double the
 * error of the half-length transform and adds a few roundings: each bin is
 * within ρ‖x‖₁ of exact, and the whole within ρ‖x̂‖₂.
 */
function fftError(n: number): number {
  return (2 * Math.log2(n) + 1) * FFT_LEVEL_ERROR;
}

// ---------- the PMF of one adjacency ----------

/**
 * A pessimistic PMF of the privacy loss: `probs[i]` is the mass at loss
 * (lo + i)·d. Never empty. Internal (exported only for the class's type).
 */
export interface Pmf {
  readonly lo: number;
  readonly probs: Float64Array;
  /** All mass at +∞: the mechanism's own plus every tail the numerics cut. */
  readonly inf: number;
  /** The mechanism's own mass at +∞ (δ of an (ε, δ) event); <= inf. */
  readonly trueInf: number;
  /** Bound on the L2 norm of the floating-point error in `probs`. */
  readonly roundoff: number;
  /** Whether the privacy loss is bounded (pure DP is possible). */
  readonly bounded: boolean;
}

function overflow(message: string, details?: Record<string, unknown>): never {
  throw new ConfideError('E_OVERFLOW', message, details ? { details } : {});
}

/** A discretization (1-2-5 series) at which a grid of `span` losses fits in MAX_PMF_LENGTH. */
function suggestDiscretization(span: number, d: number): number {
  const need = (span / (MAX_PMF_LENGTH / 4)) * 1.0000001;
  let s = 10 ** Math.floor(Math.log10(Math.max(need, d)));
  for (const m of [1, 2, 5, 10]) if (s * m >= need && s * m > d) return s * m;
  return s * 10;
}

function checkLength(length: number, d: number, what: string): void {
  if (!(length <= MAX_PMF_LENGTH))
    overflow(
      `${what} needs ${length > 1e15 ? length.toExponential(2) : length} grid points at discretization ${d} ` +
        `(at most ${MAX_PMF_LENGTH}); use a coarser discretization, e.g. ${suggestDiscretization(length * d, d)}`,
      { gridPoints: length, discretization: d, suggestedDiscretization: suggestDiscretization(length * d, d) },
    );
}

/** Sets rounding noise below zero to zero; a NaN is a bug, never a silent zero. */
function clampNegative(probs: Float64Array): void {
  for (let i = 0; i < probs.length; i++) {
    const v = probs[i];
    if (v < 0) probs[i] = 0;
    else if (v !== v) throw new ConfideError('E_INTERNAL', 'the PLD produced NaN');
  }
}

/** Clamps rounding noise below zero, drops exact zeros at both ends and checks the result. */
function makePmf(lo: number, probs: Float64Array, inf: number, trueInf: number, roundoff: number, bounded: boolean): Pmf {
  let a = 0;
  let b = probs.length;
  clampNegative(probs);
  if (!(inf >= 0 && trueInf >= 0 && roundoff >= 0)) throw new ConfideError('E_INTERNAL', 'the PLD produced NaN');
  if (roundoff === 0) {
    // Exact zeros at the ends carry no mass. (After rounding a zero may hide
    // mass up to the error bound, so noisy arrays keep their full support.)
    while (a < b && probs[a] === 0) a++;
    while (b > a && probs[b - 1] === 0) b--;
    if (a === b) return { lo: 0, probs: new Float64Array(1), inf: Math.min(inf, 1), trueInf: Math.min(trueInf, inf, 1), roundoff, bounded };
  }
  const p = a === 0 && b === probs.length ? probs : probs.slice(a, b);
  if (!Number.isSafeInteger(lo + a) || !Number.isSafeInteger(lo + b))
    overflow(`privacy losses beyond ${(lo + b).toExponential(2)} grid steps cannot be indexed`);
  return { lo: lo + a, probs: p, inf: Math.min(inf, 1), trueInf: Math.min(trueInf, inf, 1), roundoff, bounded };
}

/** A PMF from (grid index → mass) pairs. */
function pmfFromMasses(masses: Map<number, number>, inf: number, trueInf: number, bounded: boolean, d: number, what: string): Pmf {
  if (masses.size === 0) return makePmf(0, new Float64Array(1), inf, trueInf, 0, bounded);
  let lo = Infinity;
  let hi = -Infinity;
  for (const k of masses.keys()) {
    if (k < lo) lo = k;
    if (k > hi) hi = k;
  }
  checkLength(hi - lo + 1, d, what);
  const probs = new Float64Array(hi - lo + 1);
  for (const [k, v] of masses) probs[k - lo] += v;
  return makePmf(lo, probs, inf, trueInf, 0, bounded);
}

function addMass(masses: Map<number, number>, index: number, mass: number): void {
  if (mass > 0) masses.set(index, (masses.get(index) ?? 0) + mass);
}

/** Grid index of a loss rounded up (pessimistic); E_OVERFLOW when it cannot be indexed. */
function roundUp(loss: number, d: number, what: string): number {
  const k = Math.ceil(loss / d);
  if (!Number.isSafeInteger(k)) checkLength(Math.abs(k), d, what);
  return k;
}

function norms(p: Float64Array): { l1: number; l2: number } {
  let l1 = 0;
  let l2 = 0;
  for (let i = 0; i < p.length; i++) {
    const v = p[i];
    l1 += v;
    l2 += v * v;
  }
  return { l1, l2: Math.sqrt(l2) };
}

/** 1 − (1 − a)(1 − b), the chance that at least one of two independent events hits +∞. */
function orMass(a: number, b: number): number {
  return a + b - a * b;
}

/**
 * Cuts the longest prefix and suffix each holding at most tail/2 of mass
 * (pld_pmf.py `_truncate_tails`, pessimistic): the prefix's mass moves onto
 * the first kept loss (a larger loss), the suffix's goes to +∞. With a
 * rounding error r (L2) in the array, k cut values may hide up to r·√k more
 * mass; that bound is what is cut and moved.
 */
function truncateTails(
  probs: Float64Array,
  tail: number,
  keepRight: boolean,
  r: number,
): { offset: number; probs: Float64Array; right: number } {
  const n = probs.length;
  const half = tail / 2;
  let left = 0;
  let s = 0;
  while (left < n - 1 && s + probs[left] + r * Math.sqrt(left + 1) <= half) s += probs[left++];
  const leftMass = left > 0 ? s + r * Math.sqrt(left) : 0;
  let right = n;
  s = 0;
  while (!keepRight && right > left + 1 && s + probs[right - 1] + r * Math.sqrt(n - right + 1) <= half) s += probs[--right];
  const rightMass = right < n ? s + r * Math.sqrt(n - right) : 0;
  if (left === 0 && right === n) return { offset: 0, probs, right: 0 };
  const out = probs.slice(left, right);
  out[0] += leftMass;
  return { offset: left, probs: out, right: rightMass };
}

/** Convolution; direct when one side is short (exact to a few ulps), by FFT otherwise. */
function convolvePmfs(a: Pmf, b: Pmf): { probs: Float64Array; roundoff: number } {
  const la = a.probs.length;
  const lb = b.probs.length;
  const len = la + lb - 1;
  const na = norms(a.probs);
  const nb = norms(b.probs);
  const inherited = a.roundoff * nb.l1 + b.roundoff * na.l1 + a.roundoff * b.roundoff * Math.sqrt(Math.min(la, lb));
  const [s, l] = la <= lb ? [a.probs, b.probs] : [b.probs, a.probs];
  let nonzero = 0;
  for (let i = 0; i < s.length; i++) if (s[i] !== 0) nonzero++;
  const n = Math.max(2, nextPow2(len));
  if (nonzero <= 48 || nonzero * l.length <= 4 * n * Math.log2(n)) {
    const out = new Float64Array(len);
    for (let i = 0; i < s.length; i++) {
      const v = s[i];
      if (v === 0) continue;
      for (let j = 0; j < l.length; j++) out[i + j] += v * l[j];
    }
    // Sums of nonnegative products: each output within (terms)·u of exact.
    const { l2 } = norms(out);
    return { probs: out, roundoff: inherited + 2 * nonzero * U * l2 };
  }
  const [ar, ai] = rfft(a.probs, n);
  const [br, bi] = rfft(b.probs, n);
  for (let k = 0; k < ar.length; k++) {
    const r = ar[k] * br[k] - ai[k] * bi[k];
    ai[k] = ar[k] * bi[k] + ai[k] * br[k];
    ar[k] = r;
  }
  const out = irfft(ar, ai, n).slice(0, len);
  const rho = fftError(n);
  const { l2 } = norms(out);
  // Forward errors ρ‖a‖₂√n times |B̂| <= ‖b‖₁ (and vice versa), the product, the inverse.
  const fresh = rho * (na.l2 * nb.l1 + na.l1 * nb.l2) + (3 * U + rho) * l2;
  return { probs: out, roundoff: inherited + fresh };
}

function composePmf(a: Pmf, b: Pmf, tail: number, d: number): Pmf {
  checkLength(a.probs.length + b.probs.length - 1, d, 'this composition');
  const { probs, roundoff } = convolvePmfs(a, b);
  clampNegative(probs);
  // A bounded loss keeps its right tail, so that pure DP (δ = 0) stays answerable.
  const bounded = a.bounded && b.bounded;
  const cut = truncateTails(probs, tail, bounded, roundoff);
  return makePmf(
    a.lo + b.lo + cut.offset,
    cut.probs,
    orMass(a.inf, b.inf) + cut.right,
    orMass(a.trueInf, b.trueInf),
    roundoff,
    bounded,
  );
}

/**
 * Chernoff bounds on the support of the count-fold self-convolution that
 * hold all but `tail` of its mass (common.py `compute_self_convolve_bounds`:
 * orders ±1..20 divided by the length).
 */
function selfConvolveBounds(p: Float64Array, count: number, tail: number, r: number): [number, number] {
  const len = p.length;
  let lower = 0;
  let upper = (len - 1) * count;
  const logTerm = Math.log(2 / tail);
  for (const sign of [1, -1]) {
    // MGF at orders sign·j/len, j = 1..20, in one pass: x^j with x = e^{sign·i/len}.
    const mgf = new Float64Array(21);
    const step = Math.exp(sign / len);
    let x = 1; // e^{sign·i/len}
    for (let i = 0; i < len; i++) {
      const v = p[i];
      if (v > 0) {
        let xj = v;
        for (let j = 1; j <= 20; j++) {
          xj *= x;
          mgf[j] += xj;
        }
      }
      x *= step;
    }
    for (let j = 1; j <= 20; j++) {
      const order = (sign * j) / len;
      // The true MGF exceeds the computed one by at most r·‖(e^{order·i})_i‖₂
      // (Cauchy–Schwarz), a geometric sum; 1e-12 covers rounding in the powers.
      const sq = r === 0 ? 0 : Math.sqrt(Math.expm1(2 * order * len) / Math.expm1(2 * order));
      const bound = (count * (Math.log(mgf[j] + r * sq) + 1e-12) + logTerm) / order;
      if (!Number.isFinite(bound)) continue;
      if (sign > 0) upper = Math.min(upper, Math.ceil(bound));
      else lower = Math.max(lower, Math.floor(bound));
    }
  }
  if (lower > upper) lower = upper; // all but `tail` of nothing: keep one point
  return [lower, upper];
}

function selfComposePmf(a: Pmf, count: number, d: number): Pmf {
  if (count === 1) return a;
  const len = a.probs.length;
  const inf = -Math.expm1(count * Math.log1p(-a.inf));
  const trueInf = -Math.expm1(count * Math.log1p(-a.trueInf));
  const full = (len - 1) * count + 1;
  if (len === 1) {
    // A single loss: its mass to the power count.
    const p = Math.pow(a.probs[0], count);
    const lo = a.lo * count;
    if (!Number.isSafeInteger(lo)) overflow(`a privacy loss of ${(lo * d).toExponential(2)} cannot be indexed at discretization ${d}`);
    return makePmf(lo, Float64Array.of(p), inf, trueInf, count * a.roundoff + 2 * count * U * p, a.bounded);
  }
  let [lower, upper] = selfConvolveBounds(a.probs, count, TAIL_MASS_TRUNCATION, a.roundoff);
  // A bounded loss keeps its whole right tail, so that pure DP (δ = 0) stays answerable.
  if (a.bounded) upper = full - 1;
  let outLen = upper - lower + 1;
  checkLength(outLen, d, `${count} compositions`);
  const n = Math.max(2, nextPow2(Math.max(outLen, len)));
  if (n >= full) {
    // The whole support fits: no wrap-around, nothing cut.
    lower = 0;
    upper = full - 1;
    outLen = full;
  }
  const na = norms(a.probs);
  const [re, im] = rfft(a.probs, n);
  const rho = fftError(n);
  // Each FFT bin is within ρ‖a‖₁ of exact (every butterfly adds at most η
  // times the mass under it), and z ↦ z^count multiplies that error by
  // count·|z|^{count−1}. The bins where that factor exceeds 1 (the low
  // frequencies, a handful when the count is large) are summed again
  // directly, to within 5u‖a‖₁ (dftBins); the others keep the FFT's bound.
  const binError = rho * na.l1;
  const directError = 6 * U * na.l1;
  const threshold = Math.exp((-2 * Math.log(count)) / (count - 1)); // |z|² above it: count·|z|^{count−1} > 1
  // Worth it only when the power amplifies much (at most `count` times).
  const cap = count < 64 ? 0 : Math.max(1, Math.floor((n * Math.log2(n)) / (2 * len)));
  const direct: number[] = [];
  for (let k = 0; k < re.length && direct.length < cap; k++)
    if (re[k] * re[k] + im[k] * im[k] > threshold) direct.push(k);
  const isDirect = new Uint8Array(re.length);
  if (direct.length > 0) {
    const [dr, di] = dftBins(a.probs, n, direct);
    for (let b = 0; b < direct.length; b++) {
      re[direct[b]] = dr[b];
      im[direct[b]] = di[b];
      isDirect[direct[b]] = 1;
    }
  }
  // s2 accumulates Σ err_k²·|z_k|^{2(count−1)} (e² covers the perturbed base
  // when |z_k| >= (count+1)·err_k; below that the power is negligible), c2
  // the squared norm of the result, over all n bins (k and n−k alike).
  let s2 = 0;
  let c2 = 0;
  const smallPow = (e: number) => {
    const small = (count + 1) * e;
    return small >= 1 ? 1 : Math.exp(2 * (count - 1) * Math.log(small));
  };
  const smallFft = smallPow(binError);
  const smallDirect = smallPow(directError);
  for (let k = 0; k < re.length; k++) {
    const zr = re[k];
    const zi = im[k];
    let rr = 1;
    let ri = 0;
    let br = zr;
    let bi = zi;
    let m = count;
    for (;;) {
      if (m % 2 === 1) {
        const t = rr * br - ri * bi;
        ri = rr * bi + ri * br;
        rr = t;
      }
      m = Math.floor(m / 2);
      if (m === 0) break;
      const t = br * br - bi * bi;
      bi = 2 * br * bi;
      br = t;
    }
    re[k] = rr;
    im[k] = ri;
    const weight = k === 0 || k === re.length - 1 ? 1 : 2; // bins k and n−k
    const z2 = zr * zr + zi * zi;
    const r2 = rr * rr + ri * ri;
    const e = isDirect[k] ? directError : binError;
    const small = (count + 1) * e;
    c2 += weight * r2;
    s2 += weight * e * e * (z2 >= small * small ? (Math.E * Math.E * r2) / z2 : isDirect[k] ? smallDirect : smallFft);
  }
  const cyclic = irfft(re, im, n);
  const out = new Float64Array(outLen);
  for (let i = 0; i < outLen; i++) out[i] = cyclic[(lower + i) % n];
  clampNegative(out);
  // The Chernoff bound leaves at most half the tail mass on each side. What
  // lies above the window is missing (or wrapped onto low losses): count it
  // at +∞. What lies below is missing for ε under the window: count it on
  // the lowest kept loss. (dp_accounting adds the whole 1e-15 to +∞.)
  const cutAbove = upper < full - 1 ? TAIL_MASS_TRUNCATION / 2 : 0;
  if (lower > 0) out[0] += TAIL_MASS_TRUNCATION / 2;
  const { l2 } = norms(out);
  const spectral = count * Math.sqrt(s2) + 3 * count * U * Math.sqrt(c2);
  const inherited =
    a.roundoff === 0 ? 0 : count * a.roundoff * Math.exp(Math.min(700, (count - 1) * Math.sqrt(len) * a.roundoff));
  const roundoff = inherited + spectral / Math.sqrt(n) + rho * l2;
  const lo = a.lo * count + lower;
  if (!Number.isSafeInteger(a.lo * count) || !Number.isSafeInteger(lo + outLen))
    overflow(`privacy losses of ${((a.lo * count) * d).toExponential(2)} cannot be indexed at discretization ${d}`);
  return makePmf(lo, out, Math.min(1, inf + cutAbove), trueInf, roundoff, a.bounded);
}

// ---------- hockey-stick divergence ----------

/** δ(ε) of one PMF: +∞ mass, the grid's part, and the rounding error of the bins above ε. */
function pmfDelta(p: Pmf, epsilon: number, d: number): number {
  const probs = p.probs;
  let sum = 0;
  let above = 0;
  for (let i = probs.length - 1; i >= 0; i--) {
    const loss = (p.lo + i) * d;
    if (!(loss > epsilon)) break;
    sum += -Math.expm1(epsilon - loss) * probs[i];
    above++;
  }
  return Math.min(1, p.inf + sum + p.roundoff * Math.sqrt(above));
}

interface EpsilonResult {
  /** The ε certified with the rounding error counted. */
  epsilon: number;
  /** The ε of the computed PMF alone (what dp_accounting reports). */
  estimate: number;
}

/**
 * The smallest ε >= 0 with D(ε) <= δ, where D(ε) = inf + Σ_{L>ε} p(1 − e^{ε−L})
 * + r·√#{L > ε} (r = 0 for the estimate). Scans down from the largest loss
 * (pld_pmf.py `_get_epsilon_for_delta`), keeping Σ p·e^{−L} scaled so that
 * losses of any size neither overflow nor underflow.
 */
function scanEpsilon(p: Pmf, delta: number, d: number, r: number): number {
  const probs = p.probs;
  let upper = p.inf; // Σ p over the bins above, plus +∞
  let lowerScaled = 0; // Σ p·e^{ref − L} over the bins above
  let ref = 0;
  let count = 0;
  let next = Infinity; // the loss of the lowest bin above
  for (let i = probs.length - 1; i >= -1; i--) {
    // On [L_i, next) the bins above are exactly those already added.
    const loss = i >= 0 ? (p.lo + i) * d : -Infinity;
    const err = r * Math.sqrt(count);
    const excess = upper + err - delta;
    if (excess > 0) {
      // D(L_i) = excess − e^{L_i − ref}·lowerScaled; is it still above δ?
      const atLoss = lowerScaled > 0 ? excess - Math.exp(loss - ref) * lowerScaled : excess;
      if (atLoss > 0 || i < 0) {
        const eps = lowerScaled > 0 ? ref + Math.log(excess / lowerScaled) : next;
        return Math.max(0, Math.min(eps, next));
      }
    }
    if (i < 0 || loss <= 0) return 0;
    const v = probs[i];
    upper += v;
    if (v > 0) {
      if (lowerScaled === 0) ref = loss;
      lowerScaled += v * Math.exp(ref - loss);
      if (lowerScaled > 1e200) {
        ref -= Math.log(lowerScaled);
        lowerScaled = 1;
      }
    }
    count++;
    next = loss;
  }
  return 0;
}

function pmfEpsilon(p: Pmf, delta: number, d: number): EpsilonResult {
  if (p.trueInf > delta) return { epsilon: Infinity, estimate: Infinity };
  if (delta === 0 && !p.bounded) return { epsilon: Infinity, estimate: Infinity };
  if (p.inf > delta)
    overflow(
      `delta ${delta} is below the numerical floor of this PLD: ${p.inf - p.trueInf} of its mass was cut from ` +
        `the tails (1e-15 per composition, e^-50 of Gaussian noise); ask for a larger delta, or use the RDP or zCDP accountant`,
      { delta, floor: p.inf - p.trueInf },
    );
  return { epsilon: scanEpsilon(p, delta, d, p.roundoff), estimate: scanEpsilon(p, delta, d, 0) };
}

// ---------- mechanisms ----------

type Adjacency = 'remove' | 'add';

/** log(e^a + e^b), safe at ±∞. */
function logAddExp(a: number, b: number): number {
  if (a === -Infinity) return b;
  if (b === -Infinity) return a;
  const m = Math.max(a, b);
  return m + Math.log1p(Math.exp(-Math.abs(a - b)));
}

/**
 * The privacy loss of a mechanism with unsampled loss l after Poisson
 * sampling with probability q: log(1 − q + q·e^l) for remove, and
 * −log(1 − q + q·e^{−l}) for add.
 */
function sampledLoss(l: number, q: number, adjacency: Adjacency): number {
  if (q === 1) return l;
  return adjacency === 'remove' ? logAddExp(Math.log1p(-q), Math.log(q) + l) : -logAddExp(Math.log1p(-q), Math.log(q) - l);
}

/**
 * log(1 + (e^t − 1)/q) for t > log(1 − q), the inverse of t ↦ log(1 − q + q·e^t);
 * −∞ at (or, by rounding, just above) t = log(1 − q).
 */
function unsample(t: number, q: number): number {
  if (t === Infinity) return Infinity;
  if (t > 1) return t - Math.log(q) + Math.log1p(-(1 - q) * Math.exp(-t));
  return Math.log1p(Math.max(-1, Math.expm1(t) / q));
}

/**
 * The privacy loss of an additive-noise mechanism whose loss is
 * non-increasing in the noise value x (privacy_loss_mechanism.py
 * `AdditiveNoisePrivacyLoss`), for one adjacency and sampling probability q.
 * `base` is the loss without sampling, ln μ(x+Δ)/μ(x) (remove) or
 * ln μ(x−Δ)/μ(x) (add).
 */
abstract class AdditiveNoiseLoss {
  readonly q: number;
  readonly adjacency: Adjacency;
  readonly sensitivity: number;
  constructor(sensitivity: number, q: number, adjacency: Adjacency) {
    this.sensitivity = sensitivity;
    this.q = q;
    this.adjacency = adjacency;
  }
  abstract base(x: number): number;
  abstract inverseBase(loss: number): number;
  abstract cdf(x: number): number;
  abstract logCdf(x: number): number;

  loss(x: number): number {
    return sampledLoss(this.base(x), this.q, this.adjacency);
  }

  /** The largest x whose loss is at least `loss`. */
  inverse(loss: number): number {
    const q = this.q;
    if (q === 1) return this.inverseBase(loss);
    if (this.adjacency === 'remove') return this.inverseBase(unsample(loss, q));
    return this.inverseBase(-unsample(-loss, q));
  }

  upperCdf(x: number): number {
    const q = this.q;
    if (this.adjacency === 'add') return this.cdf(x);
    if (q === 1) return this.cdf(x + this.sensitivity);
    return (1 - q) * this.cdf(x) + q * this.cdf(x + this.sensitivity);
  }

  lowerLogCdf(x: number): number {
    const q = this.q;
    if (this.adjacency === 'remove') return this.logCdf(x);
    if (q === 1) return this.logCdf(x - this.sensitivity);
    return logAddExp(Math.log1p(-q) + this.logCdf(x), Math.log(q) + this.logCdf(x - this.sensitivity));
  }

  /** The mechanism's δ(ε): P[L >= ε] − e^ε·Q[L >= ε], exact for a monotone loss. */
  delta(epsilon: number): number {
    const q = this.q;
    if (q < 1) {
      if (this.adjacency === 'add' && epsilon >= -Math.log1p(-q)) return 0;
      if (this.adjacency === 'remove' && epsilon <= Math.log1p(-q)) return Math.min(1, Math.max(0, -Math.expm1(epsilon)));
    }
    const x = this.inverse(epsilon);
    const a = this.upperCdf(x);
    const b = Math.exp(epsilon + this.lowerLogCdf(x));
    // The CDFs are accurate to about 1e-15 relative; the difference cancels.
    // Round up by ten times that, so the grid's δ are never below the true ones.
    const v = a - b + 1e-14 * (a + b);
    if (v !== v) throw new ConfideError('E_INTERNAL', `the mechanism's delta at epsilon ${epsilon} is NaN`);
    return v > 0 ? (v < 1 ? v : 1) : 0;
  }
}

/** Gaussian noise N(0, σ²) (privacy_loss_mechanism.py `GaussianPrivacyLoss`). */
class GaussianLoss extends AdditiveNoiseLoss {
  readonly sigma: number;
  readonly logMassTruncation: number;
  constructor(sigma: number, sensitivity: number, q: number, adjacency: Adjacency, logMassTruncation = LOG_MASS_TRUNCATION_BOUND) {
    super(sensitivity, q, adjacency);
    this.sigma = sigma;
    this.logMassTruncation = logMassTruncation;
  }
  base(x: number): number {
    const s = this.sensitivity;
    const c = this.adjacency === 'add' ? 0.5 * s - x : -0.5 * s - x;
    return (s * c) / (this.sigma * this.sigma);
  }
  inverseBase(loss: number): number {
    const s = this.sensitivity;
    const shift = (loss * this.sigma * this.sigma) / s;
    return (this.adjacency === 'add' ? 0.5 * s : -0.5 * s) - shift;
  }
  cdf(x: number): number {
    if (x === Infinity) return 1;
    if (x === -Infinity) return 0;
    return normalCdf(x / this.sigma);
  }
  logCdf(x: number): number {
    if (x === Infinity) return 0;
    if (x === -Infinity) return -Infinity;
    return logNormalCdf(x / this.sigma);
  }
  /** [ε_lower, ε_upper]: the losses where the noise is cut, e^{bound}/2 of mass in each tail. */
  bounds(): [number, number] {
    const z = gaussianTruncationQuantile(this.logMassTruncation) * this.sigma;
    let lowerX = z;
    let upperX = -z;
    if (this.adjacency === 'add') upperX += this.sensitivity;
    else lowerX -= this.sensitivity;
    return [this.loss(upperX), this.loss(lowerX)];
  }
}

const truncationQuantiles = new Map<number, number>();
/** Φ⁻¹(e^{bound}/2) by bisection on log Φ (cached): the lower end, so each cut tail is at most e^{bound}/2. */
function gaussianTruncationQuantile(bound: number): number {
  let z = truncationQuantiles.get(bound);
  if (z !== undefined) return z;
  const target = Math.log(0.5) + bound;
  let lo = -1e5;
  let hi = 0;
  for (let i = 0; i < 2200; i++) {
    const mid = (lo + hi) / 2;
    if (mid <= lo || mid >= hi) break;
    if (logNormalCdf(mid) < target) lo = mid;
    else hi = mid;
  }
  z = lo;
  if (truncationQuantiles.size < 16) truncationQuantiles.set(bound, z);
  return z;
}

/** Laplace noise with scale b (privacy_loss_mechanism.py `LaplacePrivacyLoss`). */
class LaplaceLoss extends AdditiveNoiseLoss {
  readonly b: number;
  constructor(b: number, sensitivity: number, q: number, adjacency: Adjacency) {
    super(sensitivity, q, adjacency);
    this.b = b;
  }
  base(x: number): number {
    const s = this.sensitivity;
    return this.adjacency === 'add' ? (Math.abs(x - s) - Math.abs(x)) / this.b : (Math.abs(x) - Math.abs(x + s)) / this.b;
  }
  inverseBase(loss: number): number {
    const s = this.sensitivity;
    const t = loss * this.b;
    if (t > s) return -Infinity;
    if (t <= -s) return Infinity;
    return this.adjacency === 'add' ? 0.5 * (s - t) : 0.5 * (-s - t);
  }
  cdf(x: number): number {
    return x < 0 ? 0.5 * Math.exp(x / this.b) : 1 - 0.5 * Math.exp(-x / this.b);
  }
  logCdf(x: number): number {
    return x < 0 ? Math.log(0.5) + x / this.b : Math.log1p(-0.5 * Math.exp(-x / this.b));
  }
  bounds(): [number, number] {
    const max = this.sensitivity / this.b;
    const q = this.q;
    if (q === 1) return [-max, max];
    const up = logAddExp(Math.log1p(-q), Math.log(q) + max);
    const down = logAddExp(Math.log1p(-q), Math.log(q) - max);
    return this.adjacency === 'add' ? [-up, -down] : [down, up];
  }
}

/**
 * Pessimistic connect-the-dots PMF on the consecutive grid [lower, upper]
 * (pld_pmf.py `create_pmf_pessimistic_connect_dots_fixed_gap`).
 */
function connectDots(mechanism: GaussianLoss | LaplaceLoss, d: number, what: string): Pmf {
  const [epsLower, epsUpper] = mechanism.bounds();
  const lower = Math.floor(epsLower / d);
  let upper = Math.ceil(epsUpper / d);
  const bounded = mechanism instanceof LaplaceLoss;
  // A Laplace loss never exceeds epsUpper: make sure the top grid point is at
  // or above it, where δ is exactly 0 (rounding would leave ~1e-16 at +∞).
  if (bounded && upper * d < epsUpper) upper++;
  if (!Number.isSafeInteger(lower) || !Number.isSafeInteger(upper)) checkLength(Infinity, d, what);
  const n = upper - lower + 1;
  checkLength(n, d, what);
  const deltas = new Float64Array(n);
  for (let i = 0; i < n; i++) deltas[i] = mechanism.delta((lower + i) * d);
  if (bounded) deltas[n - 1] = 0;
  if (n === 1) return makePmf(lower, Float64Array.of(1 - deltas[0]), deltas[0], 0, 0, bounded);
  for (let i = 1; i < n; i++) {
    if (deltas[i] - deltas[i - 1] > DELTA_DIFF_TOLERANCE)
      throw new ConfideError('E_INTERNAL', `${what}: the mechanism's delta increases with epsilon at ${(lower + i) * d}`);
    if (deltas[i] > deltas[i - 1]) deltas[i] = deltas[i - 1];
  }
  const em1 = Math.expm1(d);
  const e = Math.exp(d);
  const probs = new Float64Array(n);
  probs[0] = 1 - deltas[0] + (deltas[1] - deltas[0]) / em1;
  for (let i = 1; i < n - 1; i++) probs[i] = (deltas[i + 1] - deltas[i] - e * (deltas[i] - deltas[i - 1])) / em1;
  probs[n - 1] = (deltas[n - 1] - deltas[n - 2]) / Math.expm1(-d);
  return makePmf(lower, probs, deltas[n - 1], 0, 0, bounded);
}

/**
 * A PMF by privacy buckets from the masses of P over the noise values and
 * the loss at each (privacy_loss_distribution.py
 * `_create_pld_pmf_from_monotone_privacy_loss`, discrete case).
 */
function bucketPmf(
  entries: (emit: (loss: number, mass: number) => void) => void,
  inf: number,
  d: number,
  what: string,
  bounded: boolean,
  infinityIsTrue = false,
): Pmf {
  const masses = new Map<number, number>();
  let infinity = inf;
  entries((loss, mass) => {
    if (loss === Infinity) infinity += mass;
    else if (loss !== -Infinity) addMass(masses, roundUp(loss, d, what), mass);
  });
  return pmfFromMasses(masses, infinity, infinityIsTrue ? infinity : 0, bounded, d, what);
}

/** Discrete Laplace noise P(x) ∝ e^{−a|x|} (privacy_loss_mechanism.py `DiscreteLaplacePrivacyLoss`). */
function discreteLaplacePmf(a: number, sensitivity: number, q: number, adjacency: Adjacency, d: number): Pmf {
  const what = `the discrete Laplace PLD (a=${a}, sensitivity ${sensitivity})`;
  if (sensitivity > MAX_DISCRETE_SUPPORT)
    overflow(`${what} would enumerate ${sensitivity} noise values (at most ${MAX_DISCRETE_SUPPORT})`);
  const s = sensitivity;
  const c = 1 + Math.exp(-a); // P(X <= x) = e^{ax}/c for x < 0
  const norm = -Math.expm1(-a) / c; // P(X = 0) = tanh(a/2)
  const pmf = (x: number) => norm * Math.exp(-a * Math.abs(x));
  const cdf = (x: number) => (x < 0 ? Math.exp(a * x) / c : 1 - Math.exp(-a * (x + 1)) / c);
  const sf = (x: number) => (x >= 0 ? Math.exp(-a * (x + 1)) / c : 1 - Math.exp(a * x) / c);
  const mix = (f: (x: number) => number, x: number) =>
    adjacency === 'add' ? f(x) : q === 1 ? f(x + s) : (1 - q) * f(x) + q * f(x + s);
  const base = (x: number) => (adjacency === 'add' ? a * (Math.abs(x - s) - Math.abs(x)) : a * (Math.abs(x) - Math.abs(x + s)));
  const loss = (x: number) => sampledLoss(base(x), q, adjacency);
  const [lowerX, upperX] = adjacency === 'add' ? [1, s - 1] : [1 - s, -1];
  return bucketPmf(
    (emit) => {
      emit(loss(lowerX - 1), mix(cdf, lowerX - 1));
      emit(loss(upperX + 1), mix(sf, upperX));
      for (let x = lowerX; x <= upperX; x++) emit(loss(x), mix(pmf, x));
    },
    0,
    d,
    what,
    true,
  );
}

/**
 * Discrete Gaussian noise N_Z(0, σ²) cut to [−T, T] with T = ⌈11.6σ⌉ (at
 * most 1e-30 of mass beyond, CKS20; at least Δ/2, where dp_accounting would
 * refuse), as dp_accounting's `DiscreteGaussianPrivacyLoss`. Noise values
 * that only P can produce have loss +∞. The cut changes δ by at most the
 * mass beyond T, which is added to +∞. A caller's `truncationBound` makes the
 * cut noise the mechanism itself (its +∞ mass is then the mechanism's own).
 */
function discreteGaussianPmf(
  sigma: number,
  sensitivity: number,
  q: number,
  adjacency: Adjacency,
  d: number,
  truncationBound?: number,
): Pmf {
  const what = `the discrete Gaussian PLD (sigma=${sigma}, sensitivity ${sensitivity})`;
  const s = sensitivity;
  const T = truncationBound ?? Math.max(Math.ceil(11.6 * sigma), Math.ceil(s / 2));
  if (2 * T + 1 > MAX_DISCRETE_SUPPORT)
    overflow(`${what} would enumerate ${2 * T + 1} noise values (at most ${MAX_DISCRETE_SUPPORT})`);
  if (2 * T < s)
    throw new ConfideError('E_BAD_INPUT', `"truncationBound" ${T} is less than half the sensitivity ${s}`, { field: 'truncationBound' });
  const v2 = 2 * sigma * sigma;
  // Normaliser of the cut distribution, smallest terms first.
  let z = 0;
  for (let x = T; x >= 1; x--) z += 2 * Math.exp(-(x * x) / v2);
  z += 1;
  const pmf = (x: number) => (x < -T || x > T ? 0 : Math.exp(-(x * x) / v2) / z);
  // Mass beyond T of the uncut distribution (relative to its normaliser >= z): a geometric bound.
  const t1 = T + 1;
  const beyond = truncationBound === undefined ? (2 * Math.exp(-(t1 * t1) / v2)) / -Math.expm1(-t1 / (sigma * sigma)) / z : 0;
  const upperPmf = (x: number) =>
    adjacency === 'add' ? pmf(x) : q === 1 ? pmf(x + s) : (1 - q) * pmf(x) + q * pmf(x + s);
  const base = (x: number): number => {
    const y = adjacency === 'add' ? x : x + s;
    if (y > T) return -Infinity;
    if (y < s - T) return Infinity;
    return (s * (0.5 * s - y)) / (sigma * sigma);
  };
  const loss = (x: number) => sampledLoss(base(x), q, adjacency);
  let lowerX: number;
  let upperX: number;
  if (adjacency === 'add') {
    upperX = T;
    lowerX = q === 1 ? s - T : -T;
  } else {
    lowerX = -T;
    upperX = q === 1 ? T - s : T;
  }
  return bucketPmf(
    (emit) => {
      let tail = 0;
      for (let x = -T - s; x < lowerX; x++) tail += upperPmf(x);
      emit(Infinity, tail + beyond);
      for (let x = lowerX; x <= upperX; x++) emit(loss(x), upperPmf(x));
    },
    0,
    d,
    what,
    false,
    // With a caller's truncation bound the cut noise is the mechanism itself.
    truncationBound !== undefined,
  );
}

/**
 * k-ary randomized response (with probability p a uniform bucket, else the
 * truth) under replace-one neighbours (privacy_loss_distribution.py
 * `from_randomized_response`, REPLACE_ONE): loss ±ln(k/p − k + 1) with masses
 * 1 − p(k−1)/k and p/k, and 0 with mass (k−2)p/k. Symmetric.
 */
function randomizedResponsePmf(p: number, k: number, d: number): Pmf {
  const what = `the randomized response PLD (p=${p}, k=${k})`;
  const loss = Math.log1p(k / p - k);
  const masses = new Map<number, number>();
  addMass(masses, roundUp(loss, d, what), 1 - (p * (k - 1)) / k);
  addMass(masses, roundUp(-loss, d, what), p / k);
  if (k > 2) addMass(masses, 0, ((k - 2) * p) / k);
  return pmfFromMasses(masses, 0, 0, true, d, what);
}

/**
 * The pessimistic PLD of any (ε, δ)-DP mechanism (privacy_loss_distribution.py
 * `from_privacy_parameters`): +∞ with mass δ, ε with (1−δ)/(1+e^{−ε}),
 * −ε with (1−δ)/(1+e^ε).
 */
function privacyParametersPmf(epsilon: number, delta: number, d: number): Pmf {
  const what = `the PLD of an (epsilon=${epsilon}, delta=${delta}) event`;
  const masses = new Map<number, number>();
  addMass(masses, roundUp(epsilon, d, what), (1 - delta) / (1 + Math.exp(-epsilon)));
  addMass(masses, roundUp(-epsilon, d, what), (1 - delta) / (1 + Math.exp(epsilon)));
  return pmfFromMasses(masses, delta, delta, true, d, what);
}

// ---------- the distribution ----------

const INTERNAL = Symbol('PrivacyLossDistribution');
/** The PMFs of a distribution, for this module's functions (set by the class's static block). */
let parts: (pld: PrivacyLossDistribution) => [Pmf, Pmf | null];

export interface PldOptions {
  /** Grid step of the privacy loss (default 1e-4); smaller is tighter and slower. */
  discretization?: number;
}

export interface MechanismOptions extends PldOptions {
  /** Sensitivity of the query (default 1; an integer for discrete noise). */
  sensitivity?: number;
  /** Poisson sampling probability q in (0, 1] (default 1: no sampling). */
  samplingProbability?: number;
}

export interface GaussianOptions extends MechanismOptions {
  /**
   * ln of the noise mass cut from the tails and counted at +∞ (default −50,
   * dp_accounting's log_mass_truncation_bound); at most 0.
   */
  logMassTruncationBound?: number;
}

export interface DiscreteGaussianOptions extends MechanismOptions {
  /** Noise cut to [−T, T] (default ⌈11.6σ⌉, so at most 1e-30 is cut). */
  truncationBound?: number;
}

/** A copy of one adjacency's PMF: mass `probabilities[i]` at loss (lowerIndex + i)·discretization. */
export interface PldPmf {
  lowerIndex: number;
  probabilities: Float64Array;
  infinityMass: number;
}

function adiscretization(options: PldOptions | undefined, keys: readonly string[]): number {
  aoptions(options, 'options', keys);
  const d = options?.discretization;
  return d === undefined ? DEFAULT_DISCRETIZATION : anumber(d, 'options.discretization', 0, 10, true);
}

function asampling(options: MechanismOptions | undefined): number {
  const q = options?.samplingProbability;
  return q === undefined ? 1 : anumber(q, 'options.samplingProbability', 0, 1, true);
}

/**
 * A privacy loss distribution: one pessimistic PMF per adjacency (remove,
 * and add when they differ), on a common grid. Immutable; `compose` and
 * `selfCompose` return new distributions.
 */
export class PrivacyLossDistribution {
  readonly discretization: number;
  readonly #remove: Pmf;
  readonly #add: Pmf | null;

  /** @internal Use the static factories or `fromEvent`. */
  constructor(token: symbol, discretization: number, remove: Pmf, add: Pmf | null) {
    if (token !== INTERNAL)
      throw new ConfideError('E_BAD_INPUT', 'PrivacyLossDistribution is built by its static factories (fromEvent, fromGaussian, ...)');
    this.discretization = discretization;
    this.#remove = remove;
    this.#add = add;
  }

  /** True when the add and remove PLDs are the same (no sampling). */
  get symmetric(): boolean {
    return this.#add === null;
  }

  /** The PLD of a mechanism that reveals nothing: loss 0 with probability 1. */
  static identity(options?: PldOptions): PrivacyLossDistribution {
    const d = adiscretization(options, ['discretization']);
    return new PrivacyLossDistribution(INTERNAL, d, IDENTITY, null);
  }

  /** The PLD of a privacy event (see events.ts), composed as its structure says. */
  static fromEvent(event: PrivacyEvent, options?: PldOptions): PrivacyLossDistribution {
    aevent(event);
    const d = adiscretization(options, ['discretization']);
    return buildEvent(event, d);
  }

  /** Gaussian noise N(0, σ²) on a query of L2 sensitivity Δ, optionally Poisson-sampled (connect-the-dots). */
  static fromGaussian(sigma: number, options?: GaussianOptions): PrivacyLossDistribution {
    anumber(sigma, 'sigma', 0, Infinity, true);
    const d = adiscretization(options, ['discretization', 'sensitivity', 'samplingProbability', 'logMassTruncationBound']);
    const s = options?.sensitivity === undefined ? 1 : anumber(options.sensitivity, 'options.sensitivity', 0, Infinity, true);
    const bound =
      options?.logMassTruncationBound === undefined
        ? LOG_MASS_TRUNCATION_BOUND
        : anumber(options.logMassTruncationBound, 'options.logMassTruncationBound', -700, 0);
    return gaussianPld(sigma, s, asampling(options), d, bound);
  }

  /** Laplace noise with scale b on a query of L1 sensitivity Δ, optionally Poisson-sampled (connect-the-dots). */
  static fromLaplace(b: number, options?: MechanismOptions): PrivacyLossDistribution {
    anumber(b, 'b', 0, Infinity, true);
    const d = adiscretization(options, ['discretization', 'sensitivity', 'samplingProbability']);
    const s = options?.sensitivity === undefined ? 1 : anumber(options.sensitivity, 'options.sensitivity', 0, Infinity, true);
    return laplacePld(b, s, asampling(options), d);
  }

  /** Discrete Laplace noise P(x) ∝ e^{−a|x|} on an integer query of sensitivity Δ (privacy buckets). */
  static fromDiscreteLaplace(a: number, options?: MechanismOptions): PrivacyLossDistribution {
    anumber(a, 'a', 0, Infinity, true);
    const d = adiscretization(options, ['discretization', 'sensitivity', 'samplingProbability']);
    const s = options?.sensitivity === undefined ? 1 : ainteger(options.sensitivity, 'options.sensitivity', 1);
    const q = asampling(options);
    return pair(d, q, (adj) => discreteLaplacePmf(a, s, q, adj, d));
  }

  /** Discrete Gaussian noise N_Z(0, σ²) on an integer query of sensitivity Δ (privacy buckets). */
  static fromDiscreteGaussian(sigma: number, options?: DiscreteGaussianOptions): PrivacyLossDistribution {
    anumber(sigma, 'sigma', 0, Infinity, true);
    const d = adiscretization(options, ['discretization', 'sensitivity', 'samplingProbability', 'truncationBound']);
    const s = options?.sensitivity === undefined ? 1 : ainteger(options.sensitivity, 'options.sensitivity', 1);
    const t = options?.truncationBound === undefined ? undefined : ainteger(options.truncationBound, 'options.truncationBound', 1);
    const q = asampling(options);
    return pair(d, q, (adj) => discreteGaussianPmf(sigma, s, q, adj, d, t));
  }

  /** k-ary randomized response: with probability p a uniform bucket, else the truth (replace-one). */
  static fromRandomizedResponse(p: number, k: number, options?: PldOptions): PrivacyLossDistribution {
    anumber(p, 'p', 0, 1, true);
    ainteger(k, 'k', 2);
    const d = adiscretization(options, ['discretization']);
    return new PrivacyLossDistribution(INTERNAL, d, randomizedResponsePmf(p, k, d), null);
  }

  /** The pessimistic PLD of any (ε, δ)-DP mechanism. */
  static fromPrivacyParameters(epsilon: number, delta = 0, options?: PldOptions): PrivacyLossDistribution {
    anumber(epsilon, 'epsilon', 0);
    anumber(delta, 'delta', 0, 1);
    const d = adiscretization(options, ['discretization']);
    return new PrivacyLossDistribution(INTERNAL, d, privacyParametersPmf(epsilon, delta, d), null);
  }

  /** The PLD of running this mechanism and then `other` (independent noise). */
  compose(other: PrivacyLossDistribution): PrivacyLossDistribution {
    if (!(other instanceof PrivacyLossDistribution))
      throw new ConfideError('E_BAD_INPUT', `"other" expected a PrivacyLossDistribution, got ${describe(other)}`, { field: 'other' });
    if (other.discretization !== this.discretization)
      throw new ConfideError(
        'E_BAD_INPUT',
        `"other" has discretization ${other.discretization}, expected ${this.discretization} (PLDs compose only on the same grid)`,
        { field: 'other' },
      );
    return composePlds(this, other);
  }

  /** The PLD of `count` independent runs of this mechanism (count 0: the identity). */
  selfCompose(count: number): PrivacyLossDistribution {
    ainteger(count, 'count', 0);
    return selfComposePld(this, count);
  }

  /**
   * The smallest ε >= 0 such that δ(ε) <= `delta` for both adjacencies;
   * Infinity when the mechanism itself has more than `delta` of mass at +∞
   * (or `delta` is 0 and the loss is unbounded).
   */
  getEpsilonForDelta(delta: number): number {
    anumber(delta, 'delta', 0, 1);
    return epsilonOf(this, delta);
  }

  /** δ(ε), the hockey-stick divergence, the worse of the two adjacencies; an upper bound. */
  getDeltaForEpsilon(epsilon: number): number {
    anumber(epsilon, 'epsilon', 0, Infinity);
    return deltaOf(this, epsilon);
  }

  /** A copy of the PMF of one adjacency ('remove' by default). */
  pmf(adjacency: Adjacency = 'remove'): PldPmf {
    if (adjacency !== 'remove' && adjacency !== 'add')
      throw new ConfideError('E_BAD_INPUT', `"adjacency" expected "remove" or "add", got ${describe(adjacency)}`, { field: 'adjacency' });
    const p = adjacency === 'add' && this.#add !== null ? this.#add : this.#remove;
    return { lowerIndex: p.lo, probabilities: p.probs.slice(), infinityMass: p.inf };
  }

  static {
    // Internal accessors for the module's functions (not part of the API).
    parts = (pld) => [pld.#remove, pld.#add];
  }
}

const IDENTITY: Pmf = { lo: 0, probs: Float64Array.of(1), inf: 0, trueInf: 0, roundoff: 0, bounded: true };

function pld(d: number, remove: Pmf, add: Pmf | null): PrivacyLossDistribution {
  return new PrivacyLossDistribution(INTERNAL, d, remove, add);
}

/** Remove and add PMFs; one when q = 1, where they coincide (dp_accounting `_pld_for_subsampled_mechanism`). */
function pair(d: number, q: number, make: (adjacency: Adjacency) => Pmf): PrivacyLossDistribution {
  const remove = make('remove');
  return pld(d, remove, q === 1 ? null : make('add'));
}

function gaussianPld(sigma: number, sensitivity: number, q: number, d: number, bound = LOG_MASS_TRUNCATION_BOUND): PrivacyLossDistribution {
  const what = `the Gaussian PLD (sigma=${sigma}, sensitivity ${sensitivity}${q < 1 ? `, q=${q}` : ''})`;
  return pair(d, q, (adj) => connectDots(new GaussianLoss(sigma, sensitivity, q, adj, bound), d, what));
}

function laplacePld(b: number, sensitivity: number, q: number, d: number): PrivacyLossDistribution {
  const what = `the Laplace PLD (b=${b}, sensitivity ${sensitivity}${q < 1 ? `, q=${q}` : ''})`;
  return pair(d, q, (adj) => connectDots(new LaplaceLoss(b, sensitivity, q, adj), d, what));
}

function composePlds(a: PrivacyLossDistribution, b: PrivacyLossDistribution): PrivacyLossDistribution {
  const [ar, aa] = parts(a);
  const [br, ba] = parts(b);
  const d = a.discretization;
  const remove = composePmf(ar, br, TAIL_MASS_TRUNCATION, d);
  if (aa === null && ba === null) return pld(d, remove, null);
  return pld(d, remove, composePmf(aa ?? ar, ba ?? br, TAIL_MASS_TRUNCATION, d));
}

function selfComposePld(a: PrivacyLossDistribution, count: number): PrivacyLossDistribution {
  const d = a.discretization;
  if (count === 0) return pld(d, IDENTITY, null);
  const [r, ad] = parts(a);
  return pld(d, selfComposePmf(r, count, d), ad === null ? null : selfComposePmf(ad, count, d));
}

/**
 * Largest shift of ε the rounding-error allowance may cause before the
 * answer is refused: 1% of ε, or 10 grid steps (the grid itself is only
 * that accurate).
 */
function epsilonTolerance(estimate: number, d: number): number {
  return Math.max(10 * d, 0.01 * estimate);
}

function epsilonOf(pld: PrivacyLossDistribution, delta: number): number {
  const d = pld.discretization;
  let epsilon = 0;
  let estimate = 0;
  for (const p of parts(pld)) {
    if (p === null) continue;
    const r = pmfEpsilon(p, delta, d);
    epsilon = Math.max(epsilon, r.epsilon);
    estimate = Math.max(estimate, r.estimate);
  }
  if (epsilon - estimate > epsilonTolerance(estimate, d))
    overflow(
      `delta ${delta} is too small for the floating-point accuracy of this PLD: epsilon is between ${estimate} ` +
        `and ${epsilon} (the FFT rounding error could be comparable to delta); ask for a larger delta, ` +
        `or use the RDP or zCDP accountant`,
      { delta, epsilonEstimate: estimate, epsilonUpperBound: epsilon },
    );
  if (Number.isNaN(epsilon)) throw new ConfideError('E_INTERNAL', 'the PLD produced NaN');
  return epsilon;
}

function deltaOf(pld: PrivacyLossDistribution, epsilon: number): number {
  const d = pld.discretization;
  let delta = 0;
  for (const p of parts(pld)) if (p !== null) delta = Math.max(delta, pmfDelta(p, epsilon, d));
  if (Number.isNaN(delta)) throw new ConfideError('E_INTERNAL', 'the PLD produced NaN');
  return delta;
}

// ---------- events ----------

/** A leaf of the event tree with how many times it runs. */
interface Leaf {
  event: PrivacyEvent;
  q: number;
  count: number;
}

function multiply(a: number, b: number, event: PrivacyEvent): number {
  const c = a * b;
  if (!Number.isSafeInteger(c))
    overflow(`${describeEvent(event)} runs ${c.toExponential(2)} times in all, more than can be counted exactly`);
  return c;
}

function unsupported(event: PrivacyEvent, why: string): never {
  throw new ConfideError('E_UNSUPPORTED', `the PLD accountant cannot account ${describeEvent(event)}: ${why}`, {
    details: { type: event.type },
  });
}

/** Flattens compositions, counts repeats, folds nested Poisson sampling into one probability. */
function collect(event: PrivacyEvent, count: number, q: number, out: Leaf[]): void {
  if (count === 0 || q === 0) return;
  switch (event.type) {
    case 'self-composed':
      if (q !== 1) unsupported(event, 'Poisson sampling of a composition is not a composition of sampled events');
      collect(event.event, multiply(count, event.count, event), 1, out);
      return;
    case 'composed':
      if (q !== 1) unsupported(event, 'Poisson sampling of a composition is not a composition of sampled events');
      for (const e of event.events) collect(e, count, 1, out);
      return;
    case 'poisson-sampled':
      collect(event.event, count, q * event.q, out);
      return;
    case 'gaussian':
    case 'laplace':
    case 'discrete-laplace':
    case 'discrete-gaussian':
      out.push({ event, q, count });
      return;
    case 'randomized-response':
    case 'epsilon-delta':
      if (q !== 1) unsupported(event, 'only Gaussian and Laplace noise (continuous or discrete) can be Poisson-sampled here');
      out.push({ event, q, count });
      return;
    case 'zcdp':
      unsupported(event, 'a zCDP guarantee has no single privacy loss distribution; use the zCDP or RDP accountant');
    case 'sampled-without-replacement':
      unsupported(event, 'sampling without replacement is not supported by the PLD accountant; use the RDP accountant');
  }
}

function leafPld(leaf: Leaf, d: number): PrivacyLossDistribution {
  const { event, q } = leaf;
  switch (event.type) {
    case 'gaussian':
      return gaussianPld(event.sigma, event.sensitivity ?? 1, q, d);
    case 'laplace':
      return laplacePld(event.b, event.sensitivity ?? 1, q, d);
    case 'discrete-laplace':
      return pair(d, q, (adj) => discreteLaplacePmf(event.a, event.sensitivity, q, adj, d));
    case 'discrete-gaussian':
      return pair(d, q, (adj) => discreteGaussianPmf(event.sigma, event.sensitivity, q, adj, d));
    case 'randomized-response':
      return pld(d, randomizedResponsePmf(event.p, event.k, d), null);
    case 'epsilon-delta':
      return pld(d, privacyParametersPmf(event.epsilon, event.delta ?? 0, d), null);
    default:
      throw new ConfideError('E_INTERNAL', `unexpected leaf ${event.type}`);
  }
}

function buildEvent(event: PrivacyEvent, d: number): PrivacyLossDistribution {
  const leaves: Leaf[] = [];
  collect(event, 1, 1, leaves);
  // Unsampled Gaussians compose exactly into one: 1/σ² = Σ count·(Δ/σ)².
  let gaussianPrecision = 0;
  const groups = new Map<string, Leaf>();
  for (const leaf of leaves) {
    const e = leaf.event;
    if (e.type === 'gaussian' && leaf.q === 1) {
      const r = (e.sensitivity ?? 1) / e.sigma;
      gaussianPrecision += leaf.count * r * r;
      continue;
    }
    const key = `${leaf.q}|${JSON.stringify(e)}`;
    const g = groups.get(key);
    if (g) g.count = multiply(1, g.count + leaf.count, e);
    else groups.set(key, { ...leaf });
  }
  let result: PrivacyLossDistribution | null = null;
  const add = (p: PrivacyLossDistribution) => {
    result = result === null ? p : composePlds(result, p);
  };
  if (gaussianPrecision > 0) {
    if (!Number.isFinite(gaussianPrecision))
      overflow('the composed Gaussian noise is too small to represent (sum of (sensitivity/sigma)^2 overflows)');
    add(gaussianPld(1 / Math.sqrt(gaussianPrecision), 1, 1, d));
  }
  for (const leaf of groups.values()) add(selfComposePld(leafPld(leaf, d), leaf.count));
  return result ?? pld(d, IDENTITY, null);
}

// ---------- entry points ----------

/**
 * The smallest ε such that `event` is (ε, δ)-DP by the PLD accountant (an
 * upper bound; within about the discretization of the exact value).
 * Infinity when no ε works (an (ε, δ) event with a larger δ; δ = 0 with
 * Gaussian noise). E_OVERFLOW when δ is too small or the grid too large to
 * answer reliably; E_UNSUPPORTED for zCDP and sampling-without-replacement
 * events.
 */
export function pldEpsilon(event: PrivacyEvent, delta: number, options?: PldOptions): number {
  aevent(event);
  anumber(delta, 'delta', 0, 1);
  const d = adiscretization(options, ['discretization']);
  return epsilonOf(buildEvent(event, d), delta);
}

/**
 * δ(ε) of `event` by the PLD accountant: an upper bound that includes the
 * tails the numerics cut and the floating-point error (so never below about
 * 1e-15 for Gaussian noise).
 */
export function pldDelta(event: PrivacyEvent, epsilon: number, options?: PldOptions): number {
  aevent(event);
  anumber(epsilon, 'epsilon', 0, Infinity);
  const d = adiscretization(options, ['discretization']);
  return deltaOf(buildEvent(event, d), epsilon);
}
