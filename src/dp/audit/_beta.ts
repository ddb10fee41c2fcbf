/**
 * Exact binomial confidence bounds for the audit: the regularized incomplete
 * beta function I_x(a, b) by Lentz's continued fraction (Numerical Recipes
 * §6.4, `betai`/`betacf`), its inverse by bisection, and the Clopper–Pearson
 * interval built on it (Clopper and Pearson, Biometrika 1934). Floating point
 * throughout: these describe samples, they never decide a random outcome.
 */
import { ConfideError } from '../../core/errors.ts';

/**
 * ln Γ(x) for x > 0: shifted up to x >= 15 by the recurrence, then Stirling's
 * series to the x^-9 term (absolute error below 1e-15 there).
 */
export function logGamma(x: number): number {
  let shift = 0;
  while (x < 15) {
    shift += Math.log(x);
    x += 1;
  }
  const x2 = 1 / (x * x);
  const series =
    (1 / x) * (1 / 12 - x2 * (1 / 360 - x2 * (1 / 1260 - x2 * (1 / 1680 - x2 * (1 / 1188)))));
  return (x - 0.5) * Math.log(x) - x + 0.5 * Math.log(2 * Math.PI) + series - shift;
}

const TINY = 1e-300;
const EPS = 1e-15;

/** The continued fraction of I_x(a, b) (Numerical Recipes `betacf`, modified Lentz). */
function betacf(a: number, b: number, x: number): number {
  const qab = a + b, qap = a + 1, qam = a - 1;
  let c = 1;
  let d = 1 - (qab * x) / qap;
  if (Math.abs(d) < TINY) d = TINY;
  d = 1 / d;
  let h = d;
  // Converges in O(sqrt(max(a, b))) steps; the cap is far above that for any sample size we accept.
  const maxIter = 10000 + Math.ceil(10 * Math.sqrt(Math.max(a, b)));
  for (let m = 1; m <= maxIter; m++) {
    const m2 = 2 * m;
    let aa = (m * (b - m) * x) / ((qam + m2) * (a + m2));
    d = 1 + aa * d;
    if (Math.abs(d) < TINY) d = TINY;
    c = 1 + aa / c;
    if (Math.abs(c) < TINY) c = TINY;
    d = 1 / d;
    h *= d * c;
    aa = (-(a + m) * (qab + m) * x) / ((a + m2) * (qap + m2));
    d = 1 + aa * d;
    if (Math.abs(d) < TINY) d = TINY;
    c = 1 + aa / c;
    if (Math.abs(c) < TINY) c = TINY;
    d = 1 / d;
    const del = d * c;
    h *= del;
    if (Math.abs(del - 1) < EPS) return h;
  }
  throw new ConfideError('E_INTERNAL', `incomplete beta continued fraction did not converge (a=${a}, b=${b}, x=${x})`);
}

/** The regularized incomplete beta function I_x(a, b) for a, b > 0 and x in [0, 1]. */
export function regularizedBeta(x: number, a: number, b: number): number {
  if (x <= 0) return 0;
  if (x >= 1) return 1;
  const lnFront = logGamma(a + b) - logGamma(a) - logGamma(b) + a * Math.log(x) + b * Math.log1p(-x);
  const front = Math.exp(lnFront);
  // The fraction converges fast for x < (a + 1)/(a + b + 2); use the symmetry I_x(a,b) = 1 − I_{1−x}(b,a) beyond.
  if (x < (a + 1) / (a + b + 2)) return (front * betacf(a, b, x)) / a;
  return 1 - (front * betacf(b, a, 1 - x)) / b;
}

/**
 * The p-quantile of Beta(a, b): the x with I_x(a, b) = p, by bisection on
 * [0, 1] (I_x is increasing in x), to a relative width of 1e-14.
 */
export function betaQuantile(p: number, a: number, b: number): number {
  if (p <= 0) return 0;
  if (p >= 1) return 1;
  let lo = 0, hi = 1;
  for (let i = 0; i < 2000; i++) {
    const mid = lo === 0 && hi < 1e-3 ? hi / 16 : (lo + hi) / 2; // reach tiny quantiles geometrically
    if (mid <= lo || mid >= hi) break;
    if (regularizedBeta(mid, a, b) < p) lo = mid;
    else hi = mid;
    if (hi - lo <= 1e-14 * hi) break;
  }
  return (lo + hi) / 2;
}

/**
 * The exact two-sided Clopper–Pearson interval for a binomial proportion
 * after k successes in n trials at the given confidence: each end holds
 * one-sided with probability 1 − α/2, α = 1 − confidence.
 * lower = B(α/2; k, n − k + 1), upper = B(1 − α/2; k + 1, n − k).
 */
export function clopperPearson(k: number, n: number, confidence: number): [number, number] {
  const alpha = 1 - confidence;
  const lower = k === 0 ? 0 : betaQuantile(alpha / 2, k, n - k + 1);
  const upper = k === n ? 1 : betaQuantile(1 - alpha / 2, k + 1, n - k);
  return [lower, upper];
}
