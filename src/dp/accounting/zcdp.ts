/**
 * Zero-concentrated differential privacy (Bun and Steinke 2016): a mechanism
 * is ρ-zCDP when its Rényi divergences satisfy D_α <= ρα at every order
 * α > 1. zCDP composes by adding ρ, and the Gaussian mechanism is exactly
 * Δ²/(2σ²)-zCDP, so Gaussian compositions without sampling are accounted
 * with no loss before the final conversion, for which this uses the tight
 * one of Canonne, Kamath and Steinke 2020 (CKS20, "The Discrete Gaussian
 * for Differential Privacy", Prop. 12 / Cor. 13).
 *
 * zCDP has no tight bound for subsampling, so sampled events are refused
 * (E_UNSUPPORTED) unless the sampling is trivial (q = 0 or 1, m = 0 or n).
 */
import { anumber } from '../../core/assert.ts';
import { ConfideError, describe } from '../../core/errors.ts';
import { aevent, describeEvent, type PrivacyEvent } from './events.ts';

function unsupported(event: PrivacyEvent, reason: string): never {
  throw new ConfideError('E_UNSUPPORTED', `the zCDP accountant cannot account ${describeEvent(event)}: ${reason}`, {
    field: 'event',
  });
}

/** ε²/2 for a pure ε-DP mechanism (Bun and Steinke 2016, Prop. 3.3). */
const pureRho = (epsilon: number) => 0.5 * epsilon * epsilon;

/** ρ of an event, possibly Infinity when the parameters leave the double range. */
function rhoOf(e: PrivacyEvent): number {
  switch (e.type) {
    case 'gaussian':
    case 'discrete-gaussian': {
      // Δ²/(2σ²): Bun and Steinke 2016, Prop. 1.6; the discrete Gaussian: CKS20, Thm 4.
      const r = (e.sensitivity ?? 1) / e.sigma;
      return 0.5 * r * r;
    }
    case 'zcdp':
      return e.rho;
    case 'epsilon-delta':
      if ((e.delta ?? 0) > 0) unsupported(e, 'an (epsilon, delta) guarantee with delta > 0 implies no zCDP bound');
      return pureRho(e.epsilon);
    case 'laplace':
      return pureRho((e.sensitivity ?? 1) / e.b);
    case 'discrete-laplace':
      return pureRho(e.a * e.sensitivity);
    case 'randomized-response':
      // pure ε = log((1 − p + p/k)/(p/k)) under replace-one
      return pureRho(Math.log1p((e.k * (1 - e.p)) / e.p));
    case 'poisson-sampled':
      if (e.q === 0) return 0;
      if (e.q === 1) return rhoOf(e.event);
      return unsupported(e, 'zCDP has no tight bound for subsampling; use the RDP or PLD accountant');
    case 'sampled-without-replacement':
      if (e.m === 0) return 0;
      if (e.m === e.n) return rhoOf(e.event);
      return unsupported(e, 'zCDP has no tight bound for subsampling; use the RDP or PLD accountant');
    case 'self-composed': {
      const inner = rhoOf(e.event);
      return e.count === 0 ? 0 : e.count * inner;
    }
    case 'composed': {
      let sum = 0;
      for (const sub of e.events) sum += rhoOf(sub);
      return sum;
    }
  }
}

// ---------- the CKS20 conversion ----------

/**
 * log δ_α(ε) for α = 1 + x (CKS20, Prop. 12 with D_α <= ρα):
 *   δ_α = e^{(α−1)(αρ − ε)} (1 − 1/α)^α / (α − 1),
 * whose log is x((1 + x)ρ − ε) + x log x − (1 + x) log(1 + x), convex in x > 0
 * (the last two terms are (α−1)log(α−1) − α log α, with second derivative
 * 1/(α−1) − 1/α > 0). For x > 1 they are rewritten as −log x − (1 + x)log1p(1/x),
 * which does not cancel.
 */
function logDeltaAt(x: number, rho: number, epsilon: number): number {
  const entropy = x <= 1 ? x * Math.log(x) - (1 + x) * Math.log1p(x) : -Math.log(x) - (1 + x) * Math.log1p(1 / x);
  return x * ((1 + x) * rho - epsilon) + entropy;
}

/** d/dx of logDeltaAt: (1 + 2x)ρ − ε + log(x/(1 + x)), increasing in x. */
function slopeAt(x: number, rho: number, epsilon: number): number {
  return (1 + 2 * x) * rho - epsilon + Math.log(x) - Math.log1p(x);
}

/** min over α > 1 of log δ_α(ε), for ρ > 0. */
function minLogDelta(rho: number, epsilon: number): number {
  // Bracket the root of the slope: it is −∞ at 0+ and positive once (1 + 2x)ρ > ε + 1 and x >= 1.
  let lo = 1;
  let hi = 1;
  if (slopeAt(1, rho, epsilon) < 0) {
    while (slopeAt(hi, rho, epsilon) < 0) {
      lo = hi;
      hi *= 2;
      if (hi === Infinity) throw new ConfideError('E_INTERNAL', 'zCDP conversion: no minimum found');
    }
  } else {
    while (slopeAt(lo, rho, epsilon) >= 0) {
      hi = lo;
      lo /= 2;
      if (lo < 1e-300) return 0; // the minimum is at α → 1, where δ_α → 1
    }
  }
  // Bisection, geometric while the bracket spans orders of magnitude.
  for (let i = 0; i < 200; i++) {
    const mid = hi > 4 * lo ? Math.sqrt(lo * hi) : lo + (hi - lo) / 2;
    if (mid <= lo || mid >= hi) break;
    if (slopeAt(mid, rho, epsilon) < 0) lo = mid;
    else hi = mid;
  }
  // Every α gives a valid bound, so the smaller of the two ends is sound.
  return Math.min(logDeltaAt(lo, rho, epsilon), logDeltaAt(hi, rho, epsilon), 0);
}

function arho(v: unknown): number {
  return anumber(v, 'rho', 0);
}

function adeltaClosed(v: unknown): number {
  if (typeof v !== 'number' || !(v >= 0 && v <= 1))
    throw new ConfideError('E_BAD_INPUT', `"delta" expected a number in [0, 1], got ${describe(v)}`, { field: 'delta' });
  return v;
}

function finiteRho(rho: number, event: PrivacyEvent): number {
  if (!(rho < Infinity))
    throw new ConfideError('E_OVERFLOW', `zCDP: rho of ${describeEvent(event)} exceeds the range of a double`, {
      field: 'event',
    });
  return rho;
}

// ---------- public API ----------

/**
 * ρ such that the event is ρ-zCDP:
 * - gaussian, discrete-gaussian: Δ²/(2σ²);
 * - zcdp: ρ;
 * - pure ε-DP (epsilon-delta with δ = 0, laplace with ε = Δ/b, discrete-laplace
 *   with ε = aΔ, randomized-response with ε = log(k/p − k + 1)): ε²/2 (Bun and Steinke 2016, Prop. 3.3);
 * - self-composed: count × ρ; composed: the sum.
 *
 * @throws ConfideError E_UNSUPPORTED for subsampled events and δ > 0 guarantees;
 *   E_OVERFLOW when ρ exceeds the double range
 */
export function zcdpRho(event: PrivacyEvent): number {
  aevent(event);
  return finiteRho(rhoOf(event), event);
}

/**
 * The δ at which a ρ-zCDP mechanism is (ε, δ)-DP, by the conversion of
 * CKS20 (Prop. 12 applied to D_α <= ρα):
 *   δ = min_{α>1} e^{(α−1)(αρ−ε)} (1 − 1/α)^α / (α − 1),
 * minimised over α by bisection on the derivative (the logarithm is convex
 * in α), and capped at 1. δ = 0 for ρ = 0; δ may underflow to 0 for very
 * large ε.
 *
 * @param rho ρ >= 0
 * @param epsilon ε >= 0
 */
export function rhoToDelta(rho: number, epsilon: number): number {
  arho(rho);
  anumber(epsilon, 'epsilon', 0);
  if (rho === 0) return 0;
  return Math.min(1, Math.exp(minLogDelta(rho, epsilon)));
}

/**
 * The smallest ε at which a ρ-zCDP mechanism is (ε, δ)-DP by the CKS20
 * conversion: the inverse of {@link rhoToDelta} in ε, by bisection to
 * relative 1e-15 starting from Bun and Steinke's ρ + 2√(ρ log(1/δ)), rounded
 * up (the returned ε satisfies rhoToDelta(ρ, ε) <= δ).
 *
 * @param rho ρ >= 0
 * @param delta δ in [0, 1]
 * @throws ConfideError E_UNSUPPORTED for δ = 0 with ρ > 0 (zCDP never gives δ = 0)
 */
export function rhoToEpsilon(rho: number, delta: number): number {
  arho(rho);
  adeltaClosed(delta);
  if (rho === 0 || delta === 1) return 0;
  if (delta === 0)
    throw new ConfideError('E_UNSUPPORTED', 'zCDP with rho > 0 gives no finite epsilon at delta = 0', { field: 'delta' });
  // The same arithmetic as rhoToDelta, so that the returned ε satisfies it exactly.
  const exceeds = (epsilon: number) => Math.min(1, Math.exp(minLogDelta(rho, epsilon))) > delta;
  if (!exceeds(0)) return 0;
  let hi = rho + 2 * Math.sqrt(rho * -Math.log(delta));
  let lo = 0;
  while (exceeds(hi)) {
    lo = hi;
    hi *= 2;
    if (hi === Infinity) throw new ConfideError('E_OVERFLOW', `zCDP: epsilon for rho ${rho} exceeds the range of a double`);
  }
  for (let i = 0; i < 2200 && hi - lo > 1e-15 * hi; i++) {
    const mid = lo + (hi - lo) / 2;
    if (mid <= lo || mid >= hi) break;
    if (exceeds(mid)) lo = mid;
    else hi = mid;
  }
  return hi;
}

/**
 * ε at a given δ for an event by zCDP: {@link zcdpRho} then {@link rhoToEpsilon}.
 *
 * @param delta δ in [0, 1]
 */
export function zcdpEpsilon(event: PrivacyEvent, delta: number): number {
  aevent(event);
  adeltaClosed(delta);
  return rhoToEpsilon(finiteRho(rhoOf(event), event), delta);
}

/**
 * δ at a given ε for an event by zCDP: {@link zcdpRho} then {@link rhoToDelta}.
 *
 * @param epsilon ε >= 0
 */
export function zcdpDelta(event: PrivacyEvent, epsilon: number): number {
  aevent(event);
  anumber(epsilon, 'epsilon', 0);
  return rhoToDelta(finiteRho(rhoOf(event), event), epsilon);
}
