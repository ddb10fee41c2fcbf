/**
 * Calibration for iterated Gaussian releases (DP-SGD, DP-FedAvg): the noise
 * multiplier σ (noise standard deviation over L2 sensitivity) that a target
 * (ε, δ) allows for a number of steps, and the number of steps a σ allows.
 * Each step is a Gaussian on a Poisson sample of rate q (no sampling when
 * q = 1); the steps compose as one self-composed event, accounted by RDP,
 * zCDP (only without sampling) or PLD. The PLD accountant is passed in as
 * `epsilonFor` so that this file does not depend on it.
 *
 * Both searches rely only on ε growing as σ falls and as steps are added,
 * and both round towards privacy: the returned σ meets the target, the
 * returned step count meets it, and one fewer of each would not (up to the
 * stated tolerance for σ).
 */
import { ainteger, anumber, aoneof, aoptions } from '../../core/assert.ts';
import { ConfideError, describe } from '../../core/errors.ts';
import type { PrivacyEvent } from './events.ts';
import { DEFAULT_RDP_ORDERS, rdpCurve, rdpToEpsilon, type FractionalSeries } from './rdp.ts';
import { rhoToEpsilon } from './zcdp.ts';

export type CalibrationMethod = 'rdp' | 'pld' | 'zcdp';

/** ε at δ for an event by some accountant (the PLD one, for method 'pld'). */
export type EpsilonFunction = (event: PrivacyEvent, delta: number) => number;

interface CommonOptions {
  /** The target ε > 0. */
  readonly epsilon: number;
  /** The target δ in (0, 1). */
  readonly delta: number;
  /** Poisson sampling rate in (0, 1] (default 1: every record in every step). */
  readonly q?: number;
  readonly method: CalibrationMethod;
  /** Required for method 'pld': ε of an event at δ (the PLD accountant's). */
  readonly epsilonFor?: EpsilonFunction;
  /** For method 'rdp': the orders (default DEFAULT_RDP_ORDERS). */
  readonly orders?: readonly number[] | Float64Array;
  /** For method 'rdp': how fractional orders are summed (see RdpOptions). */
  readonly fractionalSeries?: FractionalSeries;
}

export interface NoiseMultiplierOptions extends CommonOptions {
  /** The number of steps, an integer >= 1. */
  readonly steps: number;
}

export interface MaxStepsOptions extends CommonOptions {
  /** The noise multiplier σ > 0. */
  readonly sigma: number;
}

const METHODS: readonly CalibrationMethod[] = ['rdp', 'pld', 'zcdp'];
const COMMON_KEYS = ['epsilon', 'delta', 'q', 'method', 'epsilonFor', 'orders', 'fractionalSeries'];

/** Relative width of the final σ bracket. */
const SIGMA_TOLERANCE = 1e-6;

interface Target {
  epsilon: number;
  delta: number;
  q: number;
  method: CalibrationMethod;
  epsilonFor: EpsilonFunction | undefined;
  orders: readonly number[] | Float64Array;
  series: FractionalSeries;
}

function readCommon(o: CommonOptions): Target {
  const epsilon = anumber(o.epsilon, 'epsilon', 0, Infinity, true);
  const delta = anumber(o.delta, 'delta', 0, 1, true);
  if (delta === 1) throw new ConfideError('E_BAD_INPUT', '"delta" expected a number < 1, got 1', { field: 'delta' });
  const q = o.q === undefined ? 1 : anumber(o.q, 'q', 0, 1, true);
  const method = aoneof(o.method, 'method', METHODS);
  const epsilonFor = o.epsilonFor;
  if (method === 'pld') {
    if (typeof epsilonFor !== 'function')
      throw new ConfideError('E_BAD_INPUT', `"epsilonFor" expected the PLD accountant's (event, delta) => epsilon for method 'pld', got ${describe(epsilonFor)}`, {
        field: 'epsilonFor',
      });
  } else if (epsilonFor !== undefined) {
    throw new ConfideError('E_BAD_INPUT', `"epsilonFor" is only used with method 'pld', got it with method '${method}'`, { field: 'epsilonFor' });
  }
  if (method !== 'rdp' && (o.orders !== undefined || o.fractionalSeries !== undefined))
    throw new ConfideError('E_BAD_INPUT', `"orders" and "fractionalSeries" apply only to method 'rdp'`, { field: 'orders' });
  if (method === 'zcdp' && q < 1)
    throw new ConfideError('E_UNSUPPORTED', `zCDP has no tight bound for Poisson subsampling (q = ${q}); use method 'rdp' or 'pld'`, { field: 'q' });
  return {
    epsilon,
    delta,
    q,
    method,
    epsilonFor,
    orders: o.orders ?? DEFAULT_RDP_ORDERS,
    series: o.fractionalSeries ?? 'absolute',
  };
}

function stepEvent(sigma: number, q: number): PrivacyEvent {
  const gaussian: PrivacyEvent = { type: 'gaussian', sigma };
  return q === 1 ? gaussian : { type: 'poisson-sampled', q, event: gaussian };
}

function composed(step: PrivacyEvent, steps: number): PrivacyEvent {
  return steps === 1 ? step : { type: 'self-composed', count: steps, event: step };
}

/** ε, with a ConfideError E_OVERFLOW (no finite ε) read as Infinity: the target is not met. */
function orInfinity(f: () => number): number {
  try {
    return f();
  } catch (e) {
    if (e instanceof ConfideError && e.code === 'E_OVERFLOW') return Infinity;
    throw e;
  }
}

function fromPld(t: Target, event: PrivacyEvent): number {
  const v = orInfinity(() => (t.epsilonFor as EpsilonFunction)(event, t.delta));
  if (typeof v !== 'number' || !(v >= 0))
    throw new ConfideError('E_BAD_INPUT', `"epsilonFor" returned ${describe(v)}, not an epsilon >= 0`, { field: 'epsilonFor' });
  return v;
}

/**
 * A function of the step count giving ε for a fixed σ, computing what does
 * not depend on the count once (the RDP curve of one step, its ρ).
 */
function epsilonOfSteps(t: Target, sigma: number): (steps: number) => number {
  const step = stepEvent(sigma, t.q);
  switch (t.method) {
    case 'rdp': {
      const one = rdpCurve(step, t.orders, { fractionalSeries: t.series });
      const curve = new Float64Array(one.length);
      return (steps) => {
        for (let i = 0; i < one.length; i++) curve[i] = one[i] === 0 ? 0 : steps * one[i];
        return orInfinity(() => rdpToEpsilon(t.orders, curve, t.delta).epsilon);
      };
    }
    case 'zcdp': {
      const rho = 0.5 / (sigma * sigma);
      return (steps) => (rho * steps < Infinity ? rhoToEpsilon(rho * steps, t.delta) : Infinity);
    }
    case 'pld':
      return (steps) => fromPld(t, composed(step, steps));
  }
}

// ---------- public API ----------

/**
 * The smallest noise multiplier σ (to relative 1e-6, rounded up) such that
 * `steps` Gaussian releases with sensitivity 1, each on a Poisson sample of
 * rate q, are (ε, δ)-DP by the chosen accountant. The returned σ always meets
 * the target: ε(σ) <= epsilon for the same accountant and settings.
 *
 * Search: doubling or halving from σ = 1 to a bracket, then bisection.
 *
 * @throws ConfideError E_OVERFLOW when σ would exceed 2^64;
 *   E_BAD_INPUT when the target is met with vanishing noise (δ too large for
 *   the sampling rate); E_UNSUPPORTED for zCDP with q < 1
 */
export function noiseMultiplier(options: NoiseMultiplierOptions): number {
  aoptions(options, 'options', [...COMMON_KEYS, 'steps']);
  if (options === undefined) throw new ConfideError('E_BAD_INPUT', '"options" expected an object, got undefined', { field: 'options' });
  const t = readCommon(options);
  const steps = ainteger(options.steps, 'steps', 1);
  const exceeds = (sigma: number) => epsilonOfSteps(t, sigma)(steps) > t.epsilon;
  let lo: number;
  let hi: number;
  if (exceeds(1)) {
    lo = 1;
    hi = 2;
    while (exceeds(hi)) {
      lo = hi;
      hi *= 2;
      if (hi > 2 ** 64)
        throw new ConfideError('E_OVERFLOW', `noiseMultiplier: no sigma below 2^64 meets epsilon ${t.epsilon} at delta ${t.delta} over ${steps} steps`);
    }
  } else {
    hi = 1;
    lo = 0.5;
    while (!exceeds(lo)) {
      hi = lo;
      lo /= 2;
      if (lo < 2 ** -60)
        throw new ConfideError(
          'E_BAD_INPUT',
          `noiseMultiplier: the target (epsilon ${t.epsilon}, delta ${t.delta}) is met with vanishing noise; delta is too large for this sampling rate and step count`,
          { field: 'delta' },
        );
    }
  }
  while (hi - lo > SIGMA_TOLERANCE * hi) {
    const mid = lo + (hi - lo) / 2;
    if (exceeds(mid)) lo = mid;
    else hi = mid;
  }
  return hi;
}

/**
 * The largest number of steps (Gaussian releases with noise multiplier σ on
 * Poisson samples of rate q) that stays within (ε, δ) by the chosen
 * accountant; 0 when even one step exceeds it. Doubling to a bracket, then
 * binary search over integers.
 *
 * @throws ConfideError E_OVERFLOW when the budget allows more than 2^53 − 1 steps
 */
export function maxSteps(options: MaxStepsOptions): number {
  aoptions(options, 'options', [...COMMON_KEYS, 'sigma']);
  if (options === undefined) throw new ConfideError('E_BAD_INPUT', '"options" expected an object, got undefined', { field: 'options' });
  const t = readCommon(options);
  const sigma = anumber(options.sigma, 'sigma', 0, Infinity, true);
  const epsilonAt = epsilonOfSteps(t, sigma);
  const fits = (steps: number) => epsilonAt(steps) <= t.epsilon;
  if (!fits(1)) return 0;
  let lo = 1; // fits
  let hi = 2;
  while (fits(hi)) {
    lo = hi;
    if (hi === 2 ** 52)
      throw new ConfideError('E_OVERFLOW', `maxSteps: sigma ${sigma} allows more than 2^53 - 1 steps within epsilon ${t.epsilon} at delta ${t.delta}`);
    hi *= 2;
  }
  while (hi - lo > 1) {
    const mid = lo + Math.floor((hi - lo) / 2);
    if (fits(mid)) lo = mid;
    else hi = mid;
  }
  return lo;
}
