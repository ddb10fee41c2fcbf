/**
 * Rényi differential privacy (Mironov 2017, "Rényi Differential Privacy"):
 * a mechanism is (α, ε(α))-RDP when the Rényi divergence of order α between
 * its outputs on neighbouring datasets is at most ε(α). RDP composes by
 * adding curves, order by order, and converts to (ε, δ)-DP at the end.
 *
 * This is the RDP accountant of Google's dp_accounting
 * (python/dp_accounting/dp_accounting/rdp/rdp_privacy_accountant.py) in
 * TypeScript: the same default orders, the same subsampled-Gaussian
 * algorithms (Mironov, Talwar and Zhang 2019; Wang, Balle and
 * Kasiviswanathan 2019) and the same conversion (Balle et al. 2020;
 * Canonne, Kamath and Steinke 2020, Prop. 12). Where dp_accounting's
 * floating point can cancel, the same quantities are computed as sums of
 * non-negative terms (each place says how), so a curve is never negative,
 * never NaN, and keeps its relative accuracy when it is tiny.
 *
 * Where this differs from dp_accounting, it is by giving a valid bound where
 * dp_accounting gives none or a looser one, never a smaller number:
 * - a fractional order whose series does not converge gets the chord of
 *   the convex log A_α between its integer neighbours (dp_accounting: ∞);
 * - the option fractionalSeries: 'alternating' sums the exact series as
 *   Opacus does (dp_accounting sums |terms|, up to 3% looser at α < 2);
 * - order ∞ converts pure-DP curves, also at δ = 0;
 * - the discrete Laplace and pure ε-DP events have curves (dp_accounting:
 *   unsupported); sampled events with q = 1 are their inner event;
 * - orders above 10^5 of sampled Gaussians use the mixture bound
 *   log(1 − q + q e^{α(α−1)/(2σ²)})/(α − 1) instead of α + 1 terms;
 * - Poisson sampling of events other than Gaussians (discrete Gaussian,
 *   zCDP, Laplace, discrete Laplace, pure ε-DP and compositions of these)
 *   is accounted by the general bound of Zhu and Wang 2019 (dp_accounting:
 *   unsupported); see `poissonGeneralCurve`.
 *
 * Neighbouring relations, as in dp_accounting: Poisson-sampled events are
 * add-or-remove-one; sampled-without-replacement and randomized-response
 * events are replace-one; the other mechanisms hold for both with the
 * sensitivity their event states.
 */
import { aoneof, aoptions } from '../../core/assert.ts';
import { ConfideError, describe } from '../../core/errors.ts';
import { logNormalCdf } from '../calibration.ts';
import { aevent, describeEvent, type PrivacyEvent } from './events.ts';
import { log1mExp, logAdd, logComb, logExpm1, logFactorial, softplus } from './_logspace.ts';
import { logPoissonGeneralBracket } from './_subsampled.ts';

/**
 * dp_accounting's default orders (RdpAccountant, DEFAULT_RDP_ORDERS):
 * `[1 + x / 10. for x in range(1, 100)] + list(range(11, 64)) + [128, 256, 512, 1024]`,
 * 156 orders chosen to cover the Gaussian mechanism in the privacy regime of interest.
 */
export const DEFAULT_RDP_ORDERS: readonly number[] = Object.freeze([
  ...Array.from({ length: 99 }, (_, i) => 1 + (i + 1) / 10),
  ...Array.from({ length: 53 }, (_, i) => 11 + i),
  128,
  256,
  512,
  1024,
]);

/** An ε(α) for the orders of a curve, with the order that achieved it. */
export interface RdpEpsilon {
  readonly epsilon: number;
  readonly order: number;
}

/** A δ for the orders of a curve, with the order that achieved it. */
export interface RdpDelta {
  readonly delta: number;
  readonly order: number;
}

type Orders = readonly number[] | Float64Array;

// ---------- log-space arithmetic ----------

const EPS = 2 ** -52;
const LN2 = Math.LN2;
const LN4 = 2 * Math.LN2;

/** g(z) = e^z − 1 − z >= 0, by its series where the difference would cancel. */
function expm1MinusX(z: number): number {
  if (Math.abs(z) < 0.5) {
    let term = (z * z) / 2;
    let sum = term;
    for (let k = 3; k < 40; k++) {
      term *= z / k;
      sum += term;
      if (Math.abs(term) <= 1e-17 * sum) break;
    }
    return sum;
  }
  return Math.expm1(z) - z;
}

/** log g(z), with g(z) = e^z − 1 − z, for any z (∞ at ±∞). */
function logExpm1MinusX(z: number): number {
  if (z > 30) return z + Math.log1p(-(1 + z) * Math.exp(-z));
  return Math.log(expm1MinusX(z));
}

// ---------- errors ----------

function unsupported(event: PrivacyEvent, reason: string): never {
  throw new ConfideError('E_UNSUPPORTED', `the RDP accountant cannot account ${describeEvent(event)}: ${reason}`, {
    field: 'event',
  });
}

function badInput(field: string, expected: string, got: unknown): never {
  throw new ConfideError('E_BAD_INPUT', `"${field}" expected ${expected}, got ${describe(got)}`, { field });
}

// ---------- RDP of single mechanisms ----------

/**
 * The Rényi divergence of binary-like distributions P, Q with P/Q ∈ {e^L, e^−L, 1},
 * where the part of mass B sits at ratio e^−L: randomized response (Q is P
 * with two buckets swapped). With s = α − 1,
 *   Σ P^α Q^{1−α} − 1 = B (1 − e^{−sL}) (e^{αL} − 1),
 * a product of non-negative factors (A e^{sL} + B e^{−sL} − A − B with A = B e^L),
 * so D_α = log1p(that)/s keeps its digits however small it is.
 */
function rrLikeRdp(logB: number, L: number, alpha: number): number {
  const s = alpha - 1;
  return softplus(logB + log1mExp(s * L) + logExpm1(alpha * L)) / s;
}

/**
 * The tight RDP of an ε-DP mechanism: every ε-DP pair of output
 * distributions is a post-processing of binary randomized response with
 * ratio e^ε (Kairouz, Oh and Viswanath 2015, Thm 2.3 with δ = 0), so by data
 * processing D_α <= D_α(RR_ε) = log[(e^{αε} + e^{(1−α)ε})/(1 + e^ε)]/(α − 1),
 * which is below min(ε, αε²/2) (Bun and Steinke 2016, Prop. 3.3). Order 1 is
 * the KL divergence ε·tanh(ε/2).
 */
function pureRdp(epsilon: number, alpha: number): number {
  if (epsilon === 0) return 0;
  if (alpha === Infinity) return epsilon;
  if (alpha === 1) return epsilon * Math.tanh(epsilon / 2);
  return rrLikeRdp(-softplus(epsilon), epsilon, alpha); // B = 1/(1 + e^ε)
}

/**
 * The Laplace mechanism with ε = Δ/b (Mironov 2017, Prop. 6):
 *   D_α = log[α/(2α−1)·e^{(α−1)ε} + (α−1)/(2α−1)·e^{−αε}]/(α − 1),
 * dp_accounting's `_laplace_rdp`. Written as 1 + [α g((α−1)ε) + (α−1) g(−αε)]/(2α−1)
 * with g(z) = e^z − 1 − z >= 0 inside the logarithm, so neither small ε (where
 * dp_accounting needs a Taylor series near α = 1) nor large ε cancels.
 * Order 1 is the KL divergence ε + e^{−ε} − 1.
 */
function laplaceRdp(epsilon: number, alpha: number): number {
  if (epsilon === 0) return 0;
  if (alpha === Infinity) return epsilon;
  if (alpha === 1) return expm1MinusX(-epsilon);
  const s = alpha - 1;
  const logExcess = logAdd(Math.log(alpha) + logExpm1MinusX(s * epsilon), Math.log(s) + logExpm1MinusX(-alpha * epsilon)) - Math.log(2 * alpha - 1);
  return softplus(logExcess) / s;
}

/** Terms summed explicitly for the discrete Laplace before the closed form takes over. */
const DL_MAX_TERMS = 20000;

/**
 * The discrete Laplace mechanism P(x) ∝ e^{−t|x|} with integer sensitivity Δ.
 * Derivation (u = e^{−t}, ε = tΔ, s = α − 1): the privacy loss L(x) is ε for
 * x <= 0, −ε for x >= Δ and t(Δ − 2x) between, and pairing x with Δ − x gives
 *   (Σ P^α Q^{1−α} − 1)(1 + u) = φ(ε) + (1 − u) Σ_{x=1}^{⌊(Δ−1)/2⌋} u^x φ(t(Δ − 2x)),
 * with φ(z) = (e^{sz} − 1)(1 − e^{−αz}) >= 0. For Δ = 1 this is the pure-DP
 * curve of ε = t exactly. The terms decrease geometrically (ratio e^{−t(2α−1)});
 * when more than DL_MAX_TERMS are needed (tiny t, huge Δ) the geometric
 * series is summed in closed form instead, with a margin for its rounding,
 * and capped by the pure-DP curve of ε = tΔ, which also bounds it.
 * Order 1 (the KL divergence) follows from the same pairing; past the term
 * limit it is bounded by the pure-DP KL ε·tanh(ε/2).
 */
function discreteLaplaceRdp(t: number, sensitivity: number, alpha: number): number {
  const epsilon = t * sensitivity;
  if (alpha === Infinity) return epsilon;
  if (sensitivity === 1 || epsilon === Infinity) return pureRdp(epsilon, alpha);
  const m = Math.floor((sensitivity - 1) / 2);
  const log1mU = log1mExp(t);
  const logNorm = softplus(-t); // log(1 + u)
  if (alpha === 1) {
    // KL·(1 + u) = ε(1 − u^Δ) + (1 − u) Σ t d u^x (1 − u^d), d = Δ − 2x
    const middle = positiveSeries(m, (x) => {
      const d = sensitivity - 2 * x;
      return Math.log(t * d) - t * x + log1mExp(t * d);
    });
    if (middle === null) return pureRdp(epsilon, 1);
    return Math.exp(logAdd(Math.log(epsilon) + log1mExp(epsilon), log1mU + middle) - logNorm);
  }
  const s = alpha - 1;
  const phi = (z: number) => logExpm1(s * z) + log1mExp(alpha * z);
  const middle = positiveSeries(m, (x) => -t * x + phi(t * (sensitivity - 2 * x)));
  if (middle !== null) return softplus(logAdd(phi(epsilon), log1mU + middle) - logNorm) / s;
  // Closed form: S(1 + u) = e^{sε} + e^{−αε} + (1 − u) e^{sε} r(1 − r^{Δ−1})/(1 − r), r = e^{−(2α−1)t}.
  const k = (2 * alpha - 1) * t;
  const logMiddle = s * epsilon + log1mU - k + log1mExp(k * (sensitivity - 1)) - log1mExp(k);
  const logS = logAdd(logAdd(s * epsilon, -alpha * epsilon), logMiddle) - logNorm;
  const margin = 16 * EPS * (1 + s * epsilon + alpha * epsilon + Math.abs(logMiddle) + logNorm);
  return Math.min(Math.max(0, (logS + margin) / s), pureRdp(epsilon, alpha));
}

/**
 * log Σ_{x=1}^{m} e^{term(x)} for terms that decrease in x, or null when more
 * than DL_MAX_TERMS would be needed. Stops once the rest, at most
 * (m − x)·e^{term(x)}, is below 1e-17 of the sum.
 */
function positiveSeries(m: number, term: (x: number) => number): number | null {
  let sum = -Infinity;
  for (let x = 1; x <= m; x++) {
    if (x > DL_MAX_TERMS) return null;
    const v = term(x);
    sum = logAdd(sum, v);
    if (v + Math.log(m - x) < sum - 39) break; // e^{−39} < 1e-17
  }
  return sum;
}

/**
 * k-ary randomized response, "with probability p a uniform bucket, else the
 * truth", under the replace-one relation: dp_accounting's
 * `_randomized_response_rdp_replace_one`, the divergence between
 * P = [1 − p + p/k, p/k, ..., p/k] and Q = [p/k, 1 − p + p/k, p/k, ..., p/k].
 * Here A/B = e^L with B = p/k and L = log(k/p − k + 1), and the sum minus one
 * is B(1 − e^{−(α−1)L})(e^{αL} − 1) (see rrLikeRdp). Order 1 is (1 − p)L;
 * order ∞ is L, the pure ε of the mechanism.
 */
function randomizedResponseRdp(p: number, k: number, alpha: number): number {
  const L = Math.log1p((k * (1 - p)) / p);
  if (L === 0) return 0;
  if (alpha === Infinity) return L;
  if (alpha === 1) return (1 - p) * L;
  return rrLikeRdp(Math.log(p / k), L, alpha);
}

// ---------- the Poisson-subsampled Gaussian (Mironov, Talwar and Zhang 2019) ----------

/**
 * Above this σ/Δ (where σ² nears the double range) the RDP is below 1e-200
 * at every useful order and the mixture bound is used directly.
 */
const HUGE_SIGMA = 1e100;

/** Largest integer order summed term by term (α + 1 terms); larger orders use the mixture bound. */
const MAX_EXACT_ORDER = 100000;

/**
 * log A_α for integer α, A_α = E_{i ~ Bin(α, q)} exp(i(i − 1)/(2σ²)) (MTZ19
 * Sec. 3.3; dp_accounting `_compute_log_a_int`). The terms i = 0 and 1 are
 * exactly the 1 that A_α exceeds, so A_α − 1 is summed from i = 2 with
 * factors e^{…} − 1: all terms are non-negative and log A_α = log1p(A_α − 1)
 * cannot come out negative or lose its digits when it is tiny.
 */
function logAInt(q: number, sigma: number, alpha: number): number {
  const logQ = Math.log(q);
  const log1mQ = Math.log1p(-q);
  const c = 1 / (2 * sigma * sigma);
  const logFa = logFactorial(alpha);
  let sum = -Infinity;
  for (let i = 2; i <= alpha; i++) {
    const logCoef = logFa - logFactorial(i) - logFactorial(alpha - i) + i * logQ + (alpha - i) * log1mQ;
    sum = logAdd(sum, logCoef + logExpm1(c * i * (i - 1)));
  }
  return softplus(sum);
}

const MAX_STEPS_LOG_A_FRAC = 1000;

/**
 * log A_α for fractional α (MTZ19 Sec. 3.3): the integral is split at
 * z0 = σ² log(1/q − 1) + 1/2 and each part expanded binomially, the terms
 *   C(α, i) q^i (1−q)^{α−i} e^{(i²−i)/(2σ²)} Φ((z0 − i)/σ)  and
 *   C(α, i) q^{α−i} (1−q)^i e^{(j²−j)/(2σ²)} Φ((j − z0)/σ),  j = α − i,
 * summed until both decrease and are e^{−30} below the total, within 1000
 * terms as in dp_accounting's `_compute_log_a_frac` (else null: dp_accounting
 * then drops the order; the caller interpolates, or see the end of the loop
 * for the alternating series).
 *
 * The binomial coefficients of a fractional α alternate in sign past i = α.
 * dp_accounting sums |C(α, i)| (series 'absolute', the default here), an
 * upper bound on A_α; Opacus and TF Privacy sum the alternating series
 * (series 'alternating'), which is A_α itself: at q = 0.01, σ = 2.5, α = 1.5
 * the two differ by 3%, and numerical quadrature agrees with the alternating
 * sum to 1e-9. For 'alternating', positive and negative terms are summed
 * apart (in log space) and the difference is rounded up by a bound on its
 * rounding and truncation error, then capped by the |C| sum, so where the
 * series would cancel it falls back towards dp_accounting's bound and never
 * below the truth (dp_accounting once returned a negative log A_α with
 * signed terms, at q = 0.4, σ = 12, α ≈ 59).
 */
function logAFrac(q: number, sigma: number, alpha: number, alternating: boolean): number | null {
  const logQ = Math.log(q);
  const log1mQ = Math.log1p(-q);
  const c = 1 / (2 * sigma * sigma);
  const z0 = sigma * sigma * (log1mQ - logQ) + 0.5;
  let pos = -Infinity; // log of the positive terms of both parts
  let neg = -Infinity; // log of the magnitudes of the negative terms
  let err = -Infinity; // log of a bound on the terms' own rounding errors
  let last0 = -Infinity;
  let last1 = -Infinity;
  let logCoef = 0; // log |C(α, i)|
  let sign = 1;
  let decreasing = false;
  for (let i = 0; i < MAX_STEPS_LOG_A_FRAC; i++) {
    if (i > 0) {
      const f = (alpha - (i - 1)) / i;
      logCoef += Math.log(Math.abs(f));
      if (f < 0) sign = -sign;
    }
    const j = alpha - i;
    const a0 = i * logQ, b0 = j * log1mQ, c0 = (i * i - i) * c, e0 = logNormalCdf((z0 - i) / sigma);
    const a1 = j * logQ, b1 = i * log1mQ, c1 = (j * j - j) * c, e1 = logNormalCdf((j - z0) / sigma);
    const logS0 = logCoef + a0 + b0 + c0 + e0;
    const logS1 = logCoef + a1 + b1 + c1 + e1;
    const pair = logAdd(logS0, logS1);
    if (sign > 0) pos = logAdd(pos, pair);
    else neg = logAdd(neg, pair);
    // Each log term carries absolute error about ulp × (its parts), and log|C| one more per step.
    const parts = (i + 1) * (1 + Math.abs(logCoef)) + Math.abs(a0) + Math.abs(b0) + Math.abs(c0) + Math.abs(e0) + Math.abs(a1) + Math.abs(b1) + Math.abs(c1) + Math.abs(e1);
    err = logAdd(err, pair + Math.log(8 * EPS * parts));
    const total = logAdd(pos, neg);
    decreasing = logS0 < last0 && logS1 < last1;
    if (decreasing && Math.max(logS0, logS1) < total - 30) {
      if (!alternating) return total;
      // Rounding of the sums (4 ulps per addition) and the alternating tails (each below its last term).
      const slack = logAdd(err, total + Math.log(4 * EPS * (i + 1) + 2 * Math.exp(-30)));
      const exact = neg < pos ? pos + Math.log(-Math.expm1(neg - pos) + Math.exp(slack - pos)) : total;
      return Math.max(0, Math.min(total, exact));
    }
    last0 = logS0;
    last1 = logS1;
  }
  // Not converged: the terms decay only like |C(α, i)| ~ i^{−α−1} (the Gaussian
  // factors cancel to a constant past z0), which happens for α < 2 at large q
  // or small σ. Where the terms alternate and decrease (past α + 1, and past
  // z0 + 10σ where the Gaussian tail is asymptotic), the alternating sum is
  // within its last term of A_α, so that term is added as the bound.
  const n = MAX_STEPS_LOG_A_FRAC - 1;
  if (alternating && decreasing && n > alpha + 1 && n > z0 + 10 * sigma && neg < pos) {
    const lastPair = logAdd(last0, last1);
    const slack = logAdd(logAdd(err, lastPair), logAdd(pos, neg) + Math.log(4 * EPS * MAX_STEPS_LOG_A_FRAC));
    return Math.max(0, pos + Math.log(-Math.expm1(neg - pos) + Math.exp(slack - pos)));
  }
  return null;
}

/**
 * When the exact sums are out of reach: by joint convexity of
 * (P, Q) ↦ Σ P^α Q^{1−α}, mixing with probability q can only bring the pair
 * closer, so A_α <= 1 − q + q·e^{(α−1)α/(2σ²)}. Used for orders above
 * MAX_EXACT_ORDER and fractional orders whose series does not converge and
 * whose neighbouring integers are out of reach; such orders never set ε.
 */
function logAMixtureBound(q: number, sigma: number, alpha: number): number {
  return softplus(Math.log(q) + logExpm1(((alpha - 1) * alpha) / (2 * sigma * sigma)));
}

/** dp_accounting `_compute_rdp_poisson_subsampled_gaussian` at one order, 0 < q < 1. */
function poissonGaussianRdp(q: number, sigma: number, alpha: number, alternating: boolean): number {
  if (alpha === Infinity) return Infinity;
  if (sigma === 0) return Infinity;
  const s = alpha - 1;
  if (sigma > HUGE_SIGMA) return logAMixtureBound(q, sigma, alpha) / s;
  if (Number.isInteger(alpha)) {
    return (alpha <= MAX_EXACT_ORDER ? logAInt(q, sigma, alpha) : logAMixtureBound(q, sigma, alpha)) / s;
  }
  const frac = logAFrac(q, sigma, alpha, alternating);
  if (frac !== null) return frac / s;
  // log A_α is convex in α (a log-moment-generating function), so it lies
  // below the chord between the neighbouring integers; log A_1 = 0.
  const lo = Math.floor(alpha);
  const hi = lo + 1;
  if (hi > MAX_EXACT_ORDER) return logAMixtureBound(q, sigma, alpha) / s;
  const t = alpha - lo;
  const logLo = lo === 1 ? 0 : logAInt(q, sigma, lo);
  return ((1 - t) * logLo + t * logAInt(q, sigma, hi)) / s;
}

// ---------- the Gaussian sampled without replacement (Wang, Balle and Kasiviswanathan 2019) ----------

/**
 * log Δ^k φ(−1) for even k = 2, 4, ..., kmax, where φ(x) = exp(x(x + 1)/(2σ²))
 * = e^{(ℓ−1)ε(ℓ)} at ℓ = x + 1 and Δ is the forward difference: the
 * quantities of WBK19 Thm 27 that dp_accounting's `_get_forward_diffs`
 * computes by differencing in place (its deltas[k − 1]).
 *
 * Here each is Σ_j (−1)^{k−j} C(k, j) φ(j − 1), its positive and negative
 * parts summed separately in log space, and the difference is rounded up by
 * a bound on its rounding error: even differences of φ are positive (φ is
 * e^{c(x+½)²} up to a constant, whose even derivatives are positive), and
 * where the parts nearly cancel the result is a valid upper bound instead of
 * noise. The theorem's bound increases with these values, so it stays sound.
 */
function logEvenForwardDifferences(sigma: number, kmax: number): Float64Array {
  const c = 1 / (2 * sigma * sigma);
  const out = new Float64Array(kmax + 1).fill(-Infinity);
  for (let k = 2; k <= kmax; k += 2) {
    let pos = -Infinity;
    let neg = -Infinity;
    let largest = 0;
    const logFk = logFactorial(k);
    for (let j = 0; j <= k; j++) {
      const v = logFk - logFactorial(j) - logFactorial(k - j) + (j - 1) * j * c;
      largest = Math.max(largest, Math.abs(v));
      if ((k - j) % 2 === 0) pos = logAdd(pos, v);
      else neg = logAdd(neg, v);
    }
    const m = Math.max(pos, neg);
    const a = Math.exp(pos - m);
    const b = Math.exp(neg - m);
    const err = EPS * (64 + 16 * k * (1 + Math.log2(k + 2)) + 16 * largest + 16 * Math.abs(m));
    const diff = a - b;
    out[k] = m + Math.log(Math.max(diff, 0) + err * (a + b));
  }
  return out;
}

/** Orders up to this use the forward differences (O(α²) work), as in dp_accounting. */
const WOR_MAX_DIFF_ORDER = 256;

/**
 * log of the WBK19 Thm 27 bound on E[(μ/μ')^α] for integer α >= 2:
 * dp_accounting's `_compute_rdp_sample_wor_gaussian_int`, summed as
 * log1p(Σ_{i>=2} terms) so that a tiny result keeps its digits.
 */
function worLogAInt(q: number, sigma: number, alpha: number, diffs: Float64Array | null): number {
  if (alpha === 1) return 0;
  const c = 1 / (2 * sigma * sigma);
  const cgf = (x: number) => x * (x + 1) * c; // (x)·ε(x + 1) for the Gaussian
  const f2 = 2 * c; // ε(2)
  const logQ = Math.log(q);
  let sum = 2 * logQ + logComb(alpha, 2) + Math.min(LN4 + logExpm1(f2), f2 + LN2);
  for (let i = 3; i <= alpha; i++) {
    let s = LN2 + cgf(i - 1);
    if (diffs !== null && alpha <= WOR_MAX_DIFF_ORDER) {
      const lo = diffs[2 * Math.floor(i / 2)];
      const hi = diffs[2 * Math.ceil(i / 2)];
      s = Math.min(LN4 + 0.5 * (lo + hi), s);
    }
    sum = logAdd(sum, s + i * logQ + logComb(alpha, i));
  }
  return softplus(sum);
}

/** dp_accounting `_compute_rdp_sample_wor_gaussian_scalar` at one order, 0 < q < 1. */
function worGaussianRdp(q: number, sigma: number, alpha: number, diffs: () => Float64Array): number {
  if (alpha === Infinity || sigma === 0) return Infinity;
  const s = alpha - 1;
  const lo = Math.floor(alpha);
  const hi = Math.ceil(alpha);
  if (hi > MAX_EXACT_ORDER || sigma > HUGE_SIGMA) return logAMixtureBound(q, sigma, alpha) / s;
  const d = hi <= WOR_MAX_DIFF_ORDER ? diffs() : null;
  if (lo === hi) return worLogAInt(q, sigma, alpha, d) / s;
  // WBK19 Corollary 10: the cumulant generating function is convex, interpolate.
  const t = alpha - lo;
  return ((1 - t) * worLogAInt(q, sigma, lo, d) + t * worLogAInt(q, sigma, hi, d)) / s;
}

// ---------- events ----------

/**
 * Σ (Δ/σ)² over the Gaussians of a tree of compositions: the tree is one
 * Gaussian with σ/Δ = (Σ (Δ/σ)²)^{−1/2} (dp_accounting
 * `_effective_gaussian_noise_multiplier`, after Mironov et al. 2018, Sec. 3).
 */
function inverseSquareNoise(e: PrivacyEvent, outer: PrivacyEvent): number {
  switch (e.type) {
    case 'gaussian': {
      const r = (e.sensitivity ?? 1) / e.sigma;
      return r * r;
    }
    case 'self-composed': {
      const inner = inverseSquareNoise(e.event, outer);
      return e.count === 0 ? 0 : e.count * inner;
    }
    case 'composed': {
      let sum = 0;
      for (const sub of e.events) sum += inverseSquareNoise(sub, outer);
      return sum;
    }
    default:
      return unsupported(
        outer,
        `a sampled event must contain only Gaussian events (possibly composed); found ${describeEvent(e)} (dp_accounting has no RDP bound for it either)`,
      );
  }
}

/** True for a Gaussian, or compositions of Gaussians only: one Gaussian with the combined noise multiplier. */
function isGaussianTree(e: PrivacyEvent): boolean {
  switch (e.type) {
    case 'gaussian':
      return true;
    case 'self-composed':
      return isGaussianTree(e.event);
    case 'composed':
      return e.events.every(isGaussianTree);
    default:
      return false;
  }
}

/** The first part of a composition stated for replacing one record (randomized response, sampling without replacement), or null. */
function replaceOnePart(e: PrivacyEvent): PrivacyEvent | null {
  switch (e.type) {
    case 'randomized-response':
    case 'sampled-without-replacement':
      return e;
    case 'self-composed':
      return replaceOnePart(e.event);
    case 'composed':
      for (const sub of e.events) {
        const found = replaceOnePart(sub);
        if (found !== null) return found;
      }
      return null;
    default:
      return null;
  }
}

/** Curves computed during one call, by orders array and event (a ledger composes many equal sampled events). */
type Memo = Map<Orders, Map<string, Float64Array>>;

/**
 * Integer orders above this get no Zhu–Wang sum (O(α) terms each, and the
 * inner curve at every integer below): they keep the inner curve and the
 * pure-DP bound, which are valid at every order; such orders never set ε.
 */
const GENERAL_MAX_ORDER = 10000;

type PoissonEvent = Extract<PrivacyEvent, { type: 'poisson-sampled' }>;

/**
 * Poisson sampling of any add-or-remove mechanism whose inner event is not a
 * pure Gaussian tree (discrete Gaussian, zCDP, Laplace, discrete Laplace,
 * pure ε-DP, nested sampled events, and compositions of these). The inner
 * curve is that of the whole inner composition: the sampling decides once
 * whether the record enters every part, as for composed Gaussians above.
 * At each order ε'(α) is the smallest of three valid bounds:
 *
 * 1. Zhu and Wang 2019, Thm 6 (see _subsampled.ts), at integer α >= 2;
 * 2. the inner curve itself: Rényi divergence is jointly quasi-convex at
 *    every order (van Erven and Harremoës 2014), and the sampled pair is a
 *    mixture, over the other records' coins, of pairs (p, (1 − q)p + q·p')
 *    whose divergence in either direction is at most max(0, D_α between p
 *    and p');
 * 3. when the inner event is pure ε-DP (finite curve at order ∞): the sampled
 *    mechanism is ε'-DP with ε' = log(1 + q(e^ε − 1)) (Li, Qardaji and Su
 *    2012; Balle, Barthe and Gaboardi 2018), in both directions: with
 *    m = (1 − q)p + q·p', m/p = 1 − q + q·p'/p <= 1 − q + qe^ε, and
 *    p/m <= 1/(1 − q + qe^{−ε}) <= 1 − q + qe^ε because
 *    (1 − q + qe^{−ε})(1 − q + qe^ε) >= 1; so it has the pure-DP curve of ε',
 *    and at order ∞ that is the answer.
 *
 * Fractional orders α (Zhu and Wang's bound is for integers): (α − 1)D_α is
 * convex in α for every pair of distributions (a cumulant generating
 * function of the privacy loss, by Hölder), and 0 at α = 1, so it lies
 * below the chord through valid bounds at ⌊α⌋ and ⌈α⌉. This is below
 * ε'(⌈α⌉), the bound that monotonicity of D_α in α alone would give.
 *
 * The discrete Gaussian goes this way too, not by Mironov, Talwar and
 * Zhang's exact formula: its likelihood ratio against an integer shift is
 * the continuous one, and E[e^{tX}] <= e^{t²σ²/2} (CKS20) bounds the moments
 * of the direction D_α(mixture ‖ p) by the Gaussian's, but MTZ19 prove the
 * other direction D_α(p ‖ mixture) smaller only for the continuous Gaussian,
 * and a multivariate discrete Gaussian with L2 sensitivity Δ has no rotation
 * that reduces its worst shift to one coordinate. Without a proof the
 * accountant does not use the tighter formula.
 */
function poissonGeneralCurve(e: PoissonEvent, orders: Orders, alternating: boolean, memo: Memo): Float64Array {
  let byEvent = memo.get(orders);
  if (byEvent === undefined) memo.set(orders, (byEvent = new Map()));
  const key = JSON.stringify(e);
  const hit = byEvent.get(key);
  if (hit !== undefined) return hit;

  const replaceOne = replaceOnePart(e.event);
  if (replaceOne !== null)
    unsupported(
      e,
      `${describeEvent(replaceOne)} is stated for replacing one record, and Poisson sampling amplifies only guarantees for adding or removing one (Zhu and Wang 2019)`,
    );
  const n = orders.length;
  let kmax = 2;
  for (let i = 0; i < n; i++) {
    const a = orders[i];
    if (a === 1) orderError(1, e);
    if (a < Infinity && Math.ceil(a) <= GENERAL_MAX_ORDER) kmax = Math.max(kmax, Math.ceil(a));
  }
  const q = e.q;
  // ε(ℓ) of the inner event at ℓ = 2..kmax, indexed by ℓ.
  const integer = new Float64Array(kmax + 1);
  integer.set(curveOf(e.event, Float64Array.from({ length: kmax - 1 }, (_, i) => i + 2), alternating, memo), 2);
  const inner = curveOf(e.event, orders, alternating, memo);
  const innerPure = curveOf(e.event, [Infinity], alternating, memo)[0];
  const pure = innerPure < Infinity ? softplus(Math.log(q) + logExpm1(innerPure)) : Infinity; // log(1 + q(e^ε − 1))
  const pureAt = (alpha: number) => (pure < Infinity ? pureRdp(pure, alpha) : Infinity);

  // (k − 1)·ε'(k) at integer k: the smallest of the three bounds.
  const scaled = new Float64Array(kmax + 1).fill(NaN);
  const scaledAt = (k: number): number => {
    if (k === 1) return 0;
    if (Number.isNaN(scaled[k]))
      scaled[k] = Math.min(logPoissonGeneralBracket(q, k, integer), (k - 1) * integer[k], (k - 1) * pureAt(k));
    return scaled[k];
  };

  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const a = orders[i];
    let bound = Math.min(inner[i], pureAt(a));
    if (a < Infinity && Math.ceil(a) <= kmax) {
      const lo = Math.floor(a);
      const t = a - lo;
      const chord = t === 0 ? scaledAt(lo) : (1 - t) * scaledAt(lo) + t * scaledAt(lo + 1);
      bound = Math.min(bound, chord / (a - 1));
    }
    out[i] = bound;
  }
  byEvent.set(key, out);
  return out;
}

function orderError(alpha: number, event: PrivacyEvent): never {
  throw new ConfideError(
    'E_UNSUPPORTED',
    `the RDP accountant has no order-${alpha} (KL divergence) bound for ${describeEvent(event)}; use orders > 1`,
    { field: 'orders' },
  );
}

function curveOf(e: PrivacyEvent, orders: Orders, alternating: boolean, memo: Memo = new Map()): Float64Array {
  const n = orders.length;
  const out = new Float64Array(n);
  switch (e.type) {
    case 'gaussian':
    case 'discrete-gaussian': {
      // α Δ²/(2σ²); the discrete Gaussian satisfies the same bound (CKS20, Thm 4).
      const r = (e.sensitivity ?? 1) / e.sigma;
      const half = 0.5 * r * r;
      if (half > 0) for (let i = 0; i < n; i++) out[i] = orders[i] * half;
      return out;
    }
    case 'laplace': {
      const epsilon = (e.sensitivity ?? 1) / e.b;
      for (let i = 0; i < n; i++) out[i] = laplaceRdp(epsilon, orders[i]);
      return out;
    }
    case 'discrete-laplace':
      for (let i = 0; i < n; i++) out[i] = discreteLaplaceRdp(e.a, e.sensitivity, orders[i]);
      return out;
    case 'randomized-response':
      for (let i = 0; i < n; i++) out[i] = randomizedResponseRdp(e.p, e.k, orders[i]);
      return out;
    case 'epsilon-delta':
      if ((e.delta ?? 0) > 0)
        unsupported(e, 'an (epsilon, delta) guarantee with delta > 0 has no RDP curve; give the mechanism\'s own event instead');
      for (let i = 0; i < n; i++) out[i] = pureRdp(e.epsilon, orders[i]);
      return out;
    case 'zcdp':
      for (let i = 0; i < n; i++) out[i] = e.rho === 0 ? 0 : e.rho * orders[i];
      return out;
    case 'poisson-sampled': {
      if (e.q === 0) return out;
      if (e.q === 1) return curveOf(e.event, orders, alternating, memo);
      if (e.event.type === 'poisson-sampled') {
        // Keeping each record with probability q and then each kept one with
        // probability q' is keeping it with probability qq': one sampling,
        // accounted once (exactly, for Gaussians). The product is rounded up,
        // as every bound here grows with q.
        const inner = e.event;
        const q = Math.min(1, e.q * inner.q * (1 + EPS));
        if (q > 0 || inner.q === 0) return curveOf({ type: 'poisson-sampled', q, event: inner.event }, orders, alternating, memo);
      }
      if (!isGaussianTree(e.event)) return poissonGeneralCurve(e, orders, alternating, memo);
      const inv = inverseSquareNoise(e.event, e);
      if (inv === 0) return out;
      const sigma = 1 / Math.sqrt(inv);
      for (let i = 0; i < n; i++) {
        if (orders[i] === 1) orderError(1, e);
        out[i] = poissonGaussianRdp(e.q, sigma, orders[i], alternating);
      }
      return out;
    }
    case 'sampled-without-replacement': {
      if (e.m === 0) return out;
      if (e.m === e.n) return curveOf(e.event, orders, alternating, memo);
      const inv = inverseSquareNoise(e.event, e);
      if (inv === 0) return out;
      const sigma = 1 / Math.sqrt(inv);
      const q = e.m / e.n;
      let kmax = 2;
      for (let i = 0; i < n; i++)
        if (orders[i] <= WOR_MAX_DIFF_ORDER) kmax = Math.max(kmax, 2 * Math.ceil(Math.ceil(orders[i]) / 2));
      let diffs: Float64Array | undefined;
      const lazy = () => (diffs ??= logEvenForwardDifferences(sigma, kmax));
      for (let i = 0; i < n; i++) {
        if (orders[i] === 1) orderError(1, e);
        out[i] = worGaussianRdp(q, sigma, orders[i], lazy);
      }
      return out;
    }
    case 'self-composed': {
      const inner = curveOf(e.event, orders, alternating, memo);
      if (e.count === 0) return out;
      for (let i = 0; i < n; i++) out[i] = e.count * inner[i];
      return out;
    }
    case 'composed': {
      for (const sub of e.events) {
        const c = curveOf(sub, orders, alternating, memo);
        for (let i = 0; i < n; i++) out[i] += c[i];
      }
      return out;
    }
  }
}

// ---------- argument checks ----------

function aorders(v: unknown): Orders {
  if (v === DEFAULT_RDP_ORDERS) return DEFAULT_RDP_ORDERS;
  if (!(Array.isArray(v) || v instanceof Float64Array) || v.length === 0)
    badInput('orders', 'a non-empty array of orders >= 1 (Infinity allowed)', v);
  for (let i = 0; i < v.length; i++) {
    const a = v[i];
    if (typeof a !== 'number' || !(a >= 1)) badInput(`orders[${i}]`, 'a number >= 1 (Infinity allowed)', a);
  }
  return v as Orders;
}

function acurve(v: unknown, n: number): readonly number[] | Float64Array {
  if (!(Array.isArray(v) || v instanceof Float64Array)) badInput('rdp', 'an array of RDP values', v);
  if (v.length !== n)
    throw new ConfideError('E_BAD_INPUT', `"rdp" expected length ${n} (the length of "orders"), got ${v.length}`, { field: 'rdp' });
  for (let i = 0; i < n; i++) {
    const r = v[i];
    if (typeof r !== 'number' || !(r >= 0)) badInput(`rdp[${i}]`, 'a number >= 0 (Infinity allowed)', r);
  }
  return v as readonly number[] | Float64Array;
}

function aunitClosed(v: unknown, field: string): number {
  if (typeof v !== 'number' || !(v >= 0 && v <= 1)) badInput(field, 'a number in [0, 1]', v);
  return v;
}

function aepsilon(v: unknown): number {
  if (typeof v !== 'number' || !(v >= 0 && v < Infinity)) badInput('epsilon', 'a finite number >= 0', v);
  return v;
}

function checked(curve: Float64Array): Float64Array {
  for (let i = 0; i < curve.length; i++)
    if (!(curve[i] >= 0)) throw new ConfideError('E_INTERNAL', `RDP curve has ${curve[i]} at index ${i}`);
  return curve;
}

// ---------- conversion to (ε, δ) ----------

function epsilonFromCurve(orders: Orders, rdp: ArrayLike<number>, delta: number): RdpEpsilon {
  const logDelta = Math.log(delta);
  let best = Infinity;
  let order = orders[0];
  for (let i = 0; i < orders.length; i++) {
    const a = orders[i];
    const r = rdp[i];
    let e: number;
    if (r === 0) e = 0; // the two distributions are equal
    else if (r === Infinity) e = Infinity;
    else if (log1mExp(r) < 2 * logDelta) e = 0; // δ >= sqrt(1 − e^{−KL}) >= TV distance
    else if (a === Infinity) e = r; // D_∞ <= r is pure r-DP
    else if (a > 1.01) e = r + Math.log1p(-1 / a) - (logDelta + Math.log(a)) / (a - 1);
    else e = Infinity; // the bound is unstable and useless as α → 1
    if (e < best) {
      best = e;
      order = a;
    }
  }
  if (best === Infinity) {
    if (delta === 0)
      throw new ConfideError(
        'E_UNSUPPORTED',
        'RDP gives a finite epsilon at delta = 0 only for pure-DP events with Infinity among the orders; use delta > 0 or basic composition',
        { field: 'delta' },
      );
    throw new ConfideError('E_OVERFLOW', 'no RDP order gives a finite epsilon (the RDP curve is infinite at every order)', {
      field: 'event',
    });
  }
  return { epsilon: Math.max(0, best), order };
}

function deltaFromCurve(orders: Orders, rdp: ArrayLike<number>, epsilon: number): RdpDelta {
  let best = Infinity;
  let order = orders[0];
  for (let i = 0; i < orders.length; i++) {
    const a = orders[i];
    const r = rdp[i];
    let logDelta = r === 0 ? -Infinity : 0.5 * log1mExp(r); // δ <= sqrt(1 − e^{−KL})
    if (a === Infinity) {
      if (r <= epsilon) logDelta = -Infinity;
    } else if (a > 1.01 && r < Infinity) {
      logDelta = Math.min(logDelta, (a - 1) * (r - epsilon + Math.log1p(-1 / a)) - Math.log(a));
    }
    if (logDelta < best) {
      best = logDelta;
      order = a;
    }
  }
  return { delta: Math.min(Math.exp(best), 1), order };
}

// ---------- public API ----------

/** How the fractional-order series of the Poisson-subsampled Gaussian is summed (see `logAFrac`). */
export type FractionalSeries = 'absolute' | 'alternating';

export interface RdpOptions {
  /**
   * 'absolute' (default): dp_accounting's sum of |terms|, an upper bound
   * that reproduces its numbers. 'alternating': the exact series of Mironov,
   * Talwar and Zhang as Opacus and TF Privacy sum it, tighter at fractional
   * orders (with a guard against cancellation). Integer orders are exact either way.
   */
  readonly fractionalSeries?: FractionalSeries;
}

const SERIES: readonly FractionalSeries[] = ['absolute', 'alternating'];

function aalternating(options: RdpOptions | undefined): boolean {
  aoptions(options, 'options', ['fractionalSeries']);
  return aoneof(options?.fractionalSeries ?? 'absolute', 'options.fractionalSeries', SERIES) === 'alternating';
}

/**
 * The RDP curve of an event: ε(α) at each order, such that the event is
 * (α, ε(α))-RDP. Values may be Infinity (no bound at that order, e.g. α = ∞
 * for a Gaussian); they are never negative or NaN.
 *
 * - gaussian, discrete-gaussian: αΔ²/(2σ²) (Mironov 2017, Prop. 7; CKS20).
 * - laplace: Mironov 2017, Prop. 6 with ε = Δ/b.
 * - discrete-laplace: the exact divergence (derived at `discreteLaplaceRdp`).
 * - randomized-response: dp_accounting's replace-one formula.
 * - epsilon-delta with δ = 0: the tight bound for pure ε-DP (binary randomized response).
 * - zcdp: ρα.
 * - poisson-sampled Gaussian (a Gaussian or compositions of Gaussians):
 *   Mironov, Talwar and Zhang 2019, exact at integer orders, series at fractional ones.
 * - poisson-sampled anything else that holds for adding or removing one record
 *   (discrete Gaussian, zcdp, laplace, discrete-laplace, pure epsilon-delta,
 *   sampled events, and compositions of these, whose curves add before the
 *   sampling): the general upper bound of Zhu and Wang 2019 (Thm 6) at
 *   integer orders, capped by the inner curve and, for pure-DP inner events,
 *   by the pure-DP curve of log(1 + q(e^ε − 1)); fractional orders take the
 *   chord between their integer neighbours; order ∞ is finite only for pure-DP
 *   inner events. Nested Poisson sampling multiplies the rates.
 * - sampled-without-replacement Gaussian: Wang, Balle and Kasiviswanathan 2019, Thm 27.
 * - self-composed: count × curve; composed: the sum of the curves.
 * A sampled event with q = 1 (m = n) is its inner event, whatever it is; with
 * q = 0 (m = 0) it costs nothing.
 *
 * @throws ConfideError E_UNSUPPORTED for events without an RDP bound here
 *   (δ > 0 guarantees, Poisson sampling of replace-one events such as
 *   randomized response, sampling without replacement of non-Gaussian events,
 *   order 1 of sampled events)
 */
export function rdpCurve(
  event: PrivacyEvent,
  orders: readonly number[] | Float64Array = DEFAULT_RDP_ORDERS,
  options?: RdpOptions,
): Float64Array {
  aevent(event);
  const o = aorders(orders);
  return checked(curveOf(event, o, aalternating(options)));
}

/**
 * The smallest ε over the orders such that an (α, rdp[i])-RDP mechanism is
 * (ε, δ)-DP: dp_accounting's `compute_epsilon` (Balle et al. 2020, Thm 21;
 * CKS20, Prop. 12), ε = r + log(1 − 1/α) − (log δ + log α)/(α − 1) for
 * α > 1.01, ε = 0 where δ already exceeds sqrt(1 − e^{−r}) (the KL bound on
 * the total variation), and additionally ε = r at α = ∞.
 *
 * @param delta in [0, 1]; δ = 0 needs α = ∞ among the orders
 * @throws ConfideError E_OVERFLOW when no order gives a finite ε
 */
export function rdpToEpsilon(orders: readonly number[] | Float64Array, rdp: readonly number[] | Float64Array, delta: number): RdpEpsilon {
  const o = aorders(orders);
  const r = acurve(rdp, o.length);
  return epsilonFromCurve(o, r, aunitClosed(delta, 'delta'));
}

/**
 * The smallest δ over the orders for a target ε: dp_accounting's
 * `compute_delta`, δ = exp((α − 1)(r − ε + log(1 − 1/α)) − log α) for
 * α > 1.01, min with sqrt(1 − e^{−r}), and δ = 0 at α = ∞ when r <= ε.
 * δ may underflow to 0 for very large ε.
 */
export function rdpToDelta(orders: readonly number[] | Float64Array, rdp: readonly number[] | Float64Array, epsilon: number): RdpDelta {
  const o = aorders(orders);
  const r = acurve(rdp, o.length);
  return deltaFromCurve(o, r, aepsilon(epsilon));
}

/**
 * ε at a given δ for an event by RDP, with the optimal order (dp_accounting
 * `RdpAccountant.get_epsilon_and_optimal_order`).
 *
 * @param delta in [0, 1]
 * @param orders the orders to optimise over (default {@link DEFAULT_RDP_ORDERS})
 * @throws ConfideError E_OVERFLOW when no order gives a finite ε;
 *   E_UNSUPPORTED as {@link rdpCurve}, or for δ = 0 without a pure-DP order ∞
 */
export function rdpEpsilon(
  event: PrivacyEvent,
  delta: number,
  orders: readonly number[] | Float64Array = DEFAULT_RDP_ORDERS,
  options?: RdpOptions,
): RdpEpsilon {
  aevent(event);
  aunitClosed(delta, 'delta');
  const o = aorders(orders);
  return epsilonFromCurve(o, checked(curveOf(event, o, aalternating(options))), delta);
}

/**
 * δ at a given ε for an event by RDP, with the optimal order (dp_accounting
 * `RdpAccountant.get_delta_and_optimal_order`).
 *
 * @param epsilon a finite ε >= 0
 */
export function rdpDelta(
  event: PrivacyEvent,
  epsilon: number,
  orders: readonly number[] | Float64Array = DEFAULT_RDP_ORDERS,
  options?: RdpOptions,
): RdpDelta {
  aevent(event);
  aepsilon(epsilon);
  const o = aorders(orders);
  return deltaFromCurve(o, checked(curveOf(event, o, aalternating(options))), epsilon);
}
