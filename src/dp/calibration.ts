/**
 * Gaussian noise calibration: how much noise a Gaussian mechanism needs for a
 * privacy target, and what privacy a given amount of noise buys.
 *
 * This is analysis, not sampling, so it works in floating point. It is written
 * so that the answers stay trustworthy at the edges callers reach in practice:
 * deltas down to 1e-300, epsilons in the hundreds, sensitivities far from 1.
 *
 * - The normal CDF follows W. J. Cody's rational Chebyshev approximations
 *   (Math. Comp. 23, 1969; ANORM in Cody, ACM TOMS 19, 1993, Algorithm 715),
 *   which carry relative accuracy into the far lower tail.
 * - The exact delta of the Gaussian mechanism (Balle and Wang 2018, Thm 8) is
 *   a difference of two tail probabilities that share the factor e^{-u²/2};
 *   the factor is taken out analytically, so e^ε never overflows and the
 *   difference loses only the digits its own conditioning costs.
 * - Searches for sigma and epsilon bisect down to adjacent doubles and return
 *   the side that satisfies the target: calibration rounds up, never down.
 */
import { anumber, ainteger, apositive } from '../core/assert.ts';
import { ConfideError, describe } from '../core/errors.ts';

// ---------- the normal distribution (Cody 1969/1993) ----------

const INV_SQRT_2PI = 0.3989422804014327; // 1/√(2π)
const SQRT_2PI = 2.5066282746310002; // √(2π)
/** Cody's boundary between the central range and the two exponential ranges. */
const CENTRAL = 0.66291;
const SQRT_32 = 5.656854249492381;

// Coefficients of ANORM (Cody 1993): central range |x| <= 0.66291 ...
const A = [2.2352520354606839287, 161.02823106855587881, 1067.6894854603709582, 18154.981253343561249, 0.065682337918207449113];
const B = [47.20258190468824187, 976.09855173777669322, 10260.932208618978205, 45507.789335026729956];
// ... 0.66291 < y <= √32 ...
const C = [
  0.39894151208813466764, 8.8831497943883759412, 93.506656132177855979, 597.27027639480026226,
  2494.5375852903726711, 6848.1904505362823326, 11602.651437647350124, 9842.7148383839780218,
  1.0765576773720192317e-8,
];
const D = [
  22.266688044328115691, 235.38790178262499861, 1519.377599407554805, 6485.558298266760755,
  18615.571640885098091, 34900.952721145977266, 38912.003286093271411, 19685.429676859990727,
];
// ... and y > √32 (a rational function of 1/y²).
const P = [0.21589853405795699, 0.1274011611602473639, 0.022235277870649807, 0.001421619193227893466, 2.9112874951168792e-5, 0.02307344176494017303];
const Q = [1.28426009614491121, 0.468238212480865118, 0.0659881378689285515, 0.00378239633202758244, 7.29751555083966205e-5];

/** t(x) with Φ(x) = 1/2 + t(x), for |x| <= CENTRAL. Odd in x, so Φ(v) − Φ(u) near 0 keeps its digits. */
function centralPart(x: number): number {
  const xx = x * x;
  let num = A[4] * xx;
  let den = xx;
  for (let i = 0; i < 3; i++) {
    num = (num + A[i]) * xx;
    den = (den + B[i]) * xx;
  }
  return (x * (num + A[3])) / (den + B[3]);
}

/**
 * e^{−x²/2} to a few ulps however large x is: x = h + r with h a multiple of
 * 1/16, so h² is exact and only the small r(2h + r) carries rounding (Cody).
 */
function gaussExp(x: number): number {
  const y = Math.abs(x);
  if (y >= 40) return 0; // e^{-800} is below the smallest double
  const h = Math.trunc(y * 16) / 16;
  const r = (y - h) * (y + h);
  return Math.exp(-h * h * 0.5) * Math.exp(-r * 0.5);
}

/** R(y) = Φ(−y)·e^{y²/2} for y >= CENTRAL (the Mills ratio over √(2π)): smooth, decreasing, R(∞) = 0. */
function millsFactor(y: number): number {
  if (y <= SQRT_32) {
    let num = C[8] * y;
    let den = y;
    for (let i = 0; i < 7; i++) {
      num = (num + C[i]) * y;
      den = (den + D[i]) * y;
    }
    return (num + C[7]) / (den + D[7]);
  }
  const z = 1 / (y * y);
  let num = P[5] * z;
  let den = z;
  for (let i = 0; i < 4; i++) {
    num = (num + P[i]) * z;
    den = (den + Q[i]) * z;
  }
  return (INV_SQRT_2PI - (z * (num + P[4])) / (den + Q[4])) / y;
}

function cdf(x: number): number {
  const y = Math.abs(x);
  if (y <= CENTRAL) return 0.5 + centralPart(x);
  const lower = gaussExp(y) * millsFactor(y);
  return x < 0 ? lower : 1 - lower;
}

function logCdf(x: number): number {
  if (x < -CENTRAL) {
    // log Φ(x) = −x²/2 + log R(−x), with x² split as in gaussExp while that is exact.
    const y = -x;
    const h = y < 2 ** 40 ? Math.trunc(y * 16) / 16 : y;
    const r = (y - h) * (y + h);
    return -h * h * 0.5 - r * 0.5 + Math.log(millsFactor(y));
  }
  if (x <= CENTRAL) return Math.log(0.5 + centralPart(x));
  return Math.log1p(-gaussExp(x) * millsFactor(x));
}

/**
 * Φ(−u) − e^w · e^{(v²−u²)/2} · Φ(−v) with v = u + h, h > 0, |w| small. The
 * gap h is passed, not v, because rounding u + h and subtracting again would
 * cost the digits of a small gap.
 *
 * Both terms carry the factor e^{−u²/2}, which is taken out analytically:
 * e^{(v²−u²)/2}·Φ(−v) = e^{−u²/2}·R(v). So nothing overflows however large
 * (v² − u²)/2 is (for the Gaussian mechanism it is ε), and nothing underflows
 * before the answer does. When v is close to u the two terms nearly cancel;
 * then the difference is expanded in h = v − u instead, so the result keeps
 * its relative accuracy (about (1 + u²) ulps) however small it is.
 */
function shiftedTailDifference(u: number, h: number, w: number): number {
  const v = u + h;
  if (h < 0.5 && h * Math.abs(u) < 0.5) return nearTailDifference(u, h, w);
  // Here the terms differ by a factor of at least about e^{-1/2}: subtract.
  if (v >= CENTRAL) {
    const second = Math.exp(w) * millsFactor(v); // times e^{-u²/2}
    if (u >= CENTRAL) return gaussExp(u) * (millsFactor(u) - second);
    return cdf(-u) - gaussExp(u) * second;
  }
  const e = w + (h * (v + u)) / 2; // the whole exponent, here bounded
  const tailV = 0.5 - centralPart(v);
  if (u < -CENTRAL) return cdf(-u) - Math.exp(e) * tailV;
  // Φ(−u) − e^e Φ(−v) = (t(v) − t(u)) − (e^e − 1)·Φ(−v): no 1/2 − 1/2 cancellation
  return centralPart(v) - centralPart(u) - Math.expm1(e) * tailV;
}

/**
 * The same difference for h = v − u < 1/2 and h·|u| < 1/2, by Taylor's series
 * of R around u: with S_k = e^{−u²/2} R^{(k)}(u),
 *   difference = −(e^w − 1)·S_0 − e^w · Σ_{k>=1} S_k h^k / k!,
 * where S_0 = Φ(−u), S_1 = u S_0 − e^{−u²/2}/√(2π) (from R' = yR − 1/√(2π))
 * and S_{k+1} = u S_k + k S_{k−1}. The terms shrink at least like (1/2)^k/k.
 */
function nearTailDifference(u: number, h: number, w: number): number {
  const s0 = cdf(-u);
  let prev = s0;
  let cur = u * s0 - INV_SQRT_2PI * gaussExp(u);
  let sum = 0;
  let hk = 1; // h^k / k!
  for (let k = 1; k <= 100; k++) {
    hk *= h / k;
    const term = cur * hk;
    sum += term;
    if (Math.abs(term) <= 1e-17 * Math.abs(sum)) break;
    const next = u * cur + k * prev;
    prev = cur;
    cur = next;
  }
  return -Math.expm1(w) * s0 - Math.exp(w) * sum;
}

/** Balle and Wang's exact delta without argument checks; depends on σ/Δ only. */
function continuousDelta(sigma: number, epsilon: number, l2: number): number {
  const a = 0.5 * (l2 / sigma); // Δ/(2σ)
  const b = epsilon === 0 ? 0 : epsilon * (sigma / l2); // εσ/Δ; 2ab = ε
  if (a === Infinity) return 1; // Δ/σ beyond the double range: the noise hides nothing
  // δ = Φ(a − b) − e^ε Φ(−a − b) with u = b − a, v = b + a and ε = (v² − u²)/2
  return probability(shiftedTailDifference(b - a, 2 * a, 0), 'gaussianDelta');
}

// ---------- argument checks and result guards ----------

/** A number strictly between `min` and 1 (`min` defaults to 0). */
function aopenUnit(v: unknown, field: string, min = 0, note = ''): number {
  if (typeof v !== 'number' || !(v > min && v < 1)) {
    throw new ConfideError('E_BAD_INPUT', `"${field}" expected a finite number > ${min} and < 1${note}, got ${describe(v)}`, {
      field,
    });
  }
  return v;
}

/** Smallest delta the searches accept: below it the tails are subnormal and lose their digits. */
const MIN_DELTA = 1e-300;

function adelta(v: unknown): number {
  if (typeof v !== 'number' || !(v >= MIN_DELTA && v < 1)) {
    throw new ConfideError(
      'E_BAD_INPUT',
      `"delta" expected a finite number >= ${MIN_DELTA} and < 1, got ${describe(v)}`,
      { field: 'delta' },
    );
  }
  return v;
}

function probability(p: number, what: string): number {
  if (Number.isNaN(p)) throw new ConfideError('E_INTERNAL', `${what} produced NaN`);
  return p > 0 ? (p < 1 ? p : 1) : 0; // also turns -0 into 0
}

/** A sigma in [min, ∞); otherwise the parameters ask for a sigma a double cannot hold. */
function finiteSigma(sigma: number, what: string, min = Number.MIN_VALUE): number {
  if (!(sigma >= min && sigma < Infinity))
    throw new ConfideError('E_OVERFLOW', `${what}: sigma ${describe(sigma)} is outside the range of a double`);
  return sigma;
}

/**
 * Bisects [lo, hi] until lo and hi are adjacent doubles, keeping
 * `exceeds(lo) && !exceeds(hi)`, and returns hi: the least value found on
 * the passing side, so callers round up.
 */
function bisectUp(lo: number, hi: number, exceeds: (x: number) => boolean): number {
  for (let i = 0; i < 2200; i++) {
    const mid = lo + (hi - lo) / 2;
    if (mid <= lo || mid >= hi) return hi;
    if (exceeds(mid)) lo = mid;
    else hi = mid;
  }
  throw new ConfideError('E_INTERNAL', 'bisection did not converge');
}

// ---------- public API ----------

/**
 * The standard normal CDF Φ(x) = P[Z <= x], Z ~ N(0, 1).
 *
 * Cody's rational Chebyshev approximations (ANORM, ACM TOMS Algorithm 715),
 * with e^{−x²/2} evaluated by an exact split of x. Relative error is a few
 * ulps (about 1e-15) as long as Φ(x) is a normal double, that is for
 * x >= −37.5; below that the result is subnormal and loses digits gradually,
 * reaching 0 near x = −38.5: use {@link logNormalCdf} there.
 */
export function normalCdf(x: number): number {
  anumber(x, 'x');
  return cdf(x);
}

/**
 * log Φ(x), accurate for every finite x: in the lower tail it is
 * −x²/2 + log(Φ(x)e^{x²/2}), the second term from Cody's asymptotic rational
 * approximation, so nothing underflows (log Φ(−40) = −804.608442013754...).
 * Relative error about 1e-15; −Infinity only for x < −1.8e154, where the value
 * itself is below −Number.MAX_VALUE.
 */
export function logNormalCdf(x: number): number {
  anumber(x, 'x');
  return logCdf(x);
}

/**
 * The classic Gaussian mechanism (Dwork and Roth 2014, The Algorithmic
 * Foundations of Differential Privacy, Theorem A.1): noise N(0, σ²) with
 * σ = Δ₂·√(2 ln(1.25/δ))/ε gives (ε, δ)-DP for ε < 1.
 *
 * The theorem holds only for ε < 1; larger epsilons are refused. The bound is
 * loose: {@link analyticGaussianSigma} gives the exact, smaller sigma for any ε.
 *
 * @param epsilon in (0, 1)
 * @param delta in (0, 1)
 * @param l2Sensitivity the L2 sensitivity Δ₂ > 0
 */
export function classicGaussianSigma(epsilon: number, delta: number, l2Sensitivity: number): number {
  aopenUnit(epsilon, 'epsilon', 0, ' (Dwork and Roth Thm A.1 holds only for epsilon < 1; use analyticGaussianSigma for larger epsilon)');
  aopenUnit(delta, 'delta');
  apositive(l2Sensitivity, 'l2Sensitivity');
  const c = Math.sqrt(2 * (Math.log(1.25) - Math.log(delta)));
  // A subnormal result would have lost relative precision, so it is refused too.
  return finiteSigma(l2Sensitivity * (c / epsilon), 'classicGaussianSigma', 2 ** -1022);
}

/**
 * The exact delta of the Gaussian mechanism N(0, σ²) with L2 sensitivity Δ at
 * a given ε (Balle and Wang 2018, "Improving the Gaussian Mechanism for
 * Differential Privacy", Theorem 8):
 *
 *   δ(ε) = Φ(Δ/(2σ) − εσ/Δ) − e^ε Φ(−Δ/(2σ) − εσ/Δ).
 *
 * The mechanism is (ε, δ)-DP exactly for δ >= δ(ε); ε = 0 gives the total
 * variation distance between N(0, σ²) and N(Δ, σ²). The second term is
 * computed as e^{−u²/2}·R(v) with u = εσ/Δ − Δ/(2σ), v = εσ/Δ + Δ/(2σ) and
 * R(y) = Φ(−y)e^{y²/2}, which is exact because ε = (v² − u²)/2; so a large ε
 * cannot overflow and a tiny δ is not the difference of two rounded
 * exponentials, and when the two terms nearly cancel (σ ≫ Δ) their
 * difference is taken by a Taylor series. Relative error is a few ulps times
 * 1 + (εσ/Δ)², which is the conditioning of δ itself (measured against
 * mpmath: below 4e-13 on the vectors in tests/vectors/gaussian.json). Results
 * below 1e-300 are tails of subnormal numbers and only roughly right.
 *
 * @param sigma the noise standard deviation σ > 0
 * @param epsilon ε >= 0
 * @param l2Sensitivity the L2 sensitivity Δ > 0
 */
export function gaussianDelta(sigma: number, epsilon: number, l2Sensitivity: number): number {
  apositive(sigma, 'sigma');
  anumber(epsilon, 'epsilon', 0);
  apositive(l2Sensitivity, 'l2Sensitivity');
  return continuousDelta(sigma, epsilon, l2Sensitivity);
}

/**
 * The analytic Gaussian mechanism (Balle and Wang 2018, Algorithm 1): the
 * smallest σ such that N(0, σ²) noise on a query of L2 sensitivity Δ is
 * (ε, δ)-DP, found by bisection on the exact delta of {@link gaussianDelta},
 * which decreases in σ. The search runs down to adjacent doubles (relative
 * accuracy far below 1e-12) and returns the upper end, so the result always
 * satisfies gaussianDelta(σ, ε, Δ) <= δ.
 *
 * @param epsilon ε > 0 (any size; the classic bound needs ε < 1)
 * @param delta δ in [1e-300, 1)
 * @param l2Sensitivity Δ > 0
 * @throws ConfideError E_OVERFLOW when σ does not fit a double
 */
export function analyticGaussianSigma(epsilon: number, delta: number, l2Sensitivity: number): number {
  apositive(epsilon, 'epsilon');
  adelta(delta);
  apositive(l2Sensitivity, 'l2Sensitivity');
  const exceeds = (sigma: number) => continuousDelta(sigma, epsilon, l2Sensitivity) > delta;
  // Bracket by doubling or halving from σ = Δ; δ(σ) runs from 1 (σ → 0) to 0 (σ → ∞).
  let lo: number;
  let hi: number;
  let sigma = l2Sensitivity;
  if (exceeds(sigma)) {
    do {
      lo = sigma;
      sigma *= 2;
      if (sigma === Infinity) finiteSigma(sigma, 'analyticGaussianSigma');
    } while (exceeds(sigma));
    hi = sigma;
  } else {
    do {
      hi = sigma;
      sigma /= 2;
      if (sigma === 0) finiteSigma(sigma, 'analyticGaussianSigma');
    } while (!exceeds(sigma));
    lo = sigma;
  }
  return finiteSigma(bisectUp(lo, hi, exceeds), 'analyticGaussianSigma');
}

/**
 * The smallest ε for which N(0, σ²) noise with L2 sensitivity Δ is
 * (ε, δ)-DP: the inverse of {@link gaussianDelta} in ε (Balle and Wang 2018,
 * Theorem 8), by bisection to adjacent doubles, rounded up. Returns 0 when
 * the total variation distance is already <= δ.
 *
 * @param sigma σ > 0
 * @param delta δ in [1e-300, 1)
 * @param l2Sensitivity Δ > 0
 * @throws ConfideError E_OVERFLOW when no finite ε reaches δ (σ/Δ below ~1e-150)
 */
export function gaussianEpsilon(sigma: number, delta: number, l2Sensitivity: number): number {
  apositive(sigma, 'sigma');
  adelta(delta);
  apositive(l2Sensitivity, 'l2Sensitivity');
  const exceeds = (epsilon: number) => continuousDelta(sigma, epsilon, l2Sensitivity) > delta;
  if (!exceeds(0)) return 0;
  let lo = 0;
  let hi = 1;
  while (exceeds(hi)) {
    lo = hi;
    hi *= 2;
    if (hi === Infinity) {
      throw new ConfideError('E_OVERFLOW', `gaussianEpsilon: no finite epsilon reaches delta ${delta} with sigma/l2Sensitivity = ${sigma / l2Sensitivity}`);
    }
  }
  // Shrink a [0, hi] bracket to a factor of two so the bisection below is short.
  while (lo === 0) {
    const half = hi / 2;
    if (exceeds(half)) lo = half;
    else if (half === 0) return hi;
    else hi = half;
  }
  return bisectUp(lo, hi, exceeds);
}

// ---------- the discrete Gaussian (Canonne, Kamath, Steinke 2020) ----------

/** From this sigma on, tail sums use Euler–Maclaurin instead of summing O(σ) terms. */
const EM_MIN_SIGMA = 1000;
/** B_{2k}(1/2)/(2k)!, k = 1..4: the midpoint Euler–Maclaurin coefficients. */
const EM_COEF = [-1 / 24, 7 / 5760, -31 / 967680, 127 / 154828800];

/** The normaliser Z = Σ_{y∈ℤ} e^{−y²/(2σ²)}: directly for σ <= 1, else by Poisson summation σ√(2π)(1 + 2Σ_k e^{−2π²σ²k²}). */
function discreteGaussianNormaliser(sigma: number): number {
  if (sigma <= 1) {
    let z = 1;
    for (let n = 1; ; n++) {
      const t = Math.exp((-n * n) / (2 * sigma * sigma));
      z += 2 * t;
      if (t < 1e-17 * z) return z;
    }
  }
  let s = 0;
  for (let k = 1; ; k++) {
    const t = Math.exp(-2 * Math.PI * Math.PI * sigma * sigma * k * k);
    if (t < 1e-17) return SQRT_2PI * sigma * (1 + 2 * s);
    s += t;
  }
}

/**
 * The midpoint Euler–Maclaurin correction: Σ_{n>=m} e^{−n²/(2σ²)} =
 * σ√(2π)·[Φ(−z) + e^{−z²/2}·correction(z)] with z = (m − 1/2)/σ, where
 * correction = (1/√(2π)) Σ_k B_{2k}(1/2)/(2k)! · σ^{−2k} He_{2k−1}(z). The
 * remainder is of relative order 1e-8·(z/σ)^10, below 1e-22 where it is used.
 */
function emCorrection(z: number, sigma: number): number {
  const s2 = 1 / (sigma * sigma);
  const zz = z * z;
  const he1 = z;
  const he3 = z * (zz - 3);
  const he5 = z * (zz * (zz - 10) + 15);
  const he7 = z * (zz * (zz * (zz - 21) + 105) - 105);
  return INV_SQRT_2PI * s2 * (EM_COEF[0] * he1 + s2 * (EM_COEF[1] * he3 + s2 * (EM_COEF[2] * he5 + s2 * EM_COEF[3] * he7)));
}

/**
 * The exact delta of the discrete Gaussian mechanism: x + Y with
 * Y ~ N_ℤ(0, σ²) (P[Y = y] ∝ e^{−y²/(2σ²)} on the integers) and integer
 * sensitivity |x − x'| <= Δ (Canonne, Kamath and Steinke 2020, "The Discrete
 * Gaussian for Differential Privacy", Theorem 7):
 *
 *   δ(ε) = P[Y > εσ²/Δ − Δ/2] − e^ε P[Y > εσ²/Δ + Δ/2].
 *
 * Because Δ is an integer, the second tail is the first shifted by Δ, so
 * δ·Z = Σ_{y > εσ²/Δ − Δ/2} e^{−y²/(2σ²)}·(1 − e^{ε − Δ(2y + Δ)/(2σ²)}),
 * a sum of non-negative terms with no cancellation and no overflow. Below
 * σ = 1000 it is summed term by term (compensated); from there on each tail
 * sum is midpoint Euler–Maclaurin against Φ (exact to double precision at that
 * scale), or, for a tail that starts beyond σ²/25 where it decays within a few
 * hundred terms, summed directly. Z comes from Poisson summation. Measured
 * against mpmath the relative error stays below 3e-13.
 *
 * @param sigma the σ parameter of N_ℤ(0, σ²) (not quite its standard deviation), σ > 0
 * @param epsilon ε >= 0
 * @param sensitivity Δ, a positive integer
 * @throws ConfideError E_OVERFLOW when the second tail starts beyond 2^53
 */
export function discreteGaussianDelta(sigma: number, epsilon: number, sensitivity: number): number {
  apositive(sigma, 'sigma');
  anumber(epsilon, 'epsilon', 0);
  ainteger(sensitivity, 'sensitivity', 1);
  const ratio = epsilon === 0 ? 0 : epsilon * (sigma / sensitivity);
  const t1 = ratio * sigma - sensitivity / 2; // εσ²/Δ − Δ/2
  if (t1 > 39 * sigma) return 0; // every remaining term is below e^{-760}
  const y0 = Math.floor(t1) + 1; // the least integer > t1
  if (sigma < EM_MIN_SIGMA) return probability(discreteDeltaBySum(sigma, epsilon, sensitivity, y0), 'discreteGaussianDelta');
  return probability(discreteDeltaByEulerMaclaurin(sigma, epsilon, sensitivity, y0), 'discreteGaussianDelta');
}

function discreteDeltaBySum(sigma: number, epsilon: number, sensitivity: number, y0: number): number {
  const inv2s2 = 1 / (2 * sigma * sigma);
  const limit = Math.ceil(38.6 * sigma) + 2; // e^{−n²/(2σ²)} is 0 in double beyond
  let sum = 0;
  let carry = 0; // Neumaier compensation
  for (let n = Math.max(y0, -limit); n <= limit; n++) {
    const f = n === 0 ? 1 : Math.exp(-n * n * inv2s2); // (0·∞ when 2σ² underflows)
    const term = f * -Math.expm1(epsilon - sensitivity * (2 * n + sensitivity) * inv2s2);
    const s = sum + term;
    carry += Math.abs(sum) >= Math.abs(term) ? sum - s + term : term - s + sum;
    sum = s;
    // For n > 0, Σ_{k>n} e^{−k²/(2σ²)} <= e^{−n²/(2σ²)} / (e^{n/σ²} − 1), and each term is at most that.
    if (n > 0 && f <= 1e-17 * (sum + carry) * Math.expm1(2 * n * inv2s2)) break;
  }
  return (sum + carry) / discreteGaussianNormaliser(sigma);
}

function discreteDeltaByEulerMaclaurin(sigma: number, epsilon: number, sensitivity: number, y0: number): number {
  // Z = σ√(2π) exactly in double for σ >= 1000, so δ = N/(σ√(2π)) directly.
  const x0 = y0 - 0.5;
  const z0 = x0 / sigma;
  const d = sensitivity / sigma;
  const z1 = (x0 + sensitivity) / sigma;
  // e^ε·e^{−z1²/2} = e^{−z0²/2}·e^w; |w| <= Δ/(2σ²) since x0 is within 1/2 of εσ²/Δ − Δ/2
  const w = epsilon - (d * (z0 + z1)) / 2;
  if (z1 <= sigma / 25) {
    // Both tails are smooth on the integer grid (|x| <= σ²/25): each sum is
    // σ√(2π)[Φ(−z) + e^{−z²/2}·correction(z)], combined with the shared factor out.
    const main = shiftedTailDifference(z0, d, w);
    return main + gaussExp(z0) * (emCorrection(z0, sigma) - Math.exp(w) * emCorrection(z1, sigma));
  }
  // The second tail starts beyond σ²/25, where consecutive terms shrink by at
  // least e^{−1/25}: it is summed directly in a few hundred terms. Here
  // Δ > σ²/25 − 39σ, so the weight 1 − e^{−Δ(y − t)/σ²} of the positive-term
  // form rises within a few steps and the two tails do not nearly cancel.
  if (y0 + sensitivity > Number.MAX_SAFE_INTEGER)
    throw new ConfideError('E_OVERFLOW', 'discreteGaussianDelta: the second tail starts beyond 2^53, where a double no longer holds every integer');
  const first = cdf(-z0) + gaussExp(z0) * emCorrection(z0, sigma);
  let second = 0;
  for (let n = y0 + sensitivity; ; n++) {
    const q = n / sigma;
    const t = Math.exp(epsilon - q * q * 0.5);
    second += t;
    if (t <= 1e-17 * second * Math.expm1(n / (sigma * sigma)) || t === 0) break;
    if (n - y0 - sensitivity > 1e6) throw new ConfideError('E_INTERNAL', 'discreteGaussianDelta: tail sum did not converge');
  }
  return first - second / (SQRT_2PI * sigma);
}

/**
 * The zero-concentrated DP of Gaussian noise: ρ = Δ²/(2σ²) (Bun and Steinke
 * 2016, Proposition 1.6, for N(0, σ²); Canonne, Kamath and Steinke 2020,
 * Proposition 5, for the discrete Gaussian N_ℤ(0, σ²), same ρ).
 *
 * @param sigma σ > 0
 * @param l2Sensitivity Δ > 0
 * @throws ConfideError E_OVERFLOW when ρ exceeds the double range
 */
export function gaussianRho(sigma: number, l2Sensitivity: number): number {
  apositive(sigma, 'sigma');
  apositive(l2Sensitivity, 'l2Sensitivity');
  const r = l2Sensitivity / sigma;
  const rho = 0.5 * r * r;
  if (rho === Infinity) {
    throw new ConfideError('E_OVERFLOW', `gaussianRho: rho for sigma ${sigma} and l2Sensitivity ${l2Sensitivity} exceeds the double range`);
  }
  return rho;
}
