/**
 * Additive noise mechanisms, built only on the exact integer samplers.
 *
 * Integers get integer noise directly: discrete Laplace (the two-sided
 * geometric mechanism) and the discrete Gaussian (Canonne, Kamath, Steinke
 * 2020). Reals get integer noise on a power-of-two grid, the granularity
 * approach of Google's differential-privacy library: the input is rounded to
 * the nearest multiple of g = 2^k, integer noise in units of g is added, and
 * the output is that integer times g, computed exactly. Rounding can move two
 * neighbouring inputs one grid step further apart, so the sensitivity used for
 * calibration is the grid-unit sensitivity plus one (per coordinate), and the
 * integer noise scale is rounded up, never down: the stated guarantee holds
 * exactly, with at most a 2^-12 relative increase in noise. No floating-point
 * noise is ever generated, so the attacks of Mironov 2012 (gaps in
 * floating-point Laplace output) and on sums (reordering, rounding) do not apply.
 *
 * Threat model, for every mechanism here: the caller states the sensitivity
 * (how much one person's data can change the input: L1 for Laplace, L2 for
 * Gaussian). An adversary who sees the output, knows the mechanism and its
 * parameters, and knows everyone else's data, learns about that person no
 * more than the returned guarantee allows. If the stated sensitivity is
 * wrong (values not clamped, a person contributing twice), the guarantee is void.
 */
import { anumber, aoptions, apositive, ainteger } from '../core/assert.ts';
import { ConfideError } from '../core/errors.ts';
import { arng, systemRng, type Rng } from '../core/random.ts';
import { analyticGaussianSigma, classicGaussianSigma, discreteGaussianDelta, gaussianRho, normalCdf } from './calibration.ts';
import { approx, pure, zcdp, type Guarantee, type PrivacyEvent, type Release } from './guarantee.ts';
import { rhoToDelta } from './accounting/zcdp.ts';
import { arational, type Rational } from './rational.ts';
import { discreteGaussianSampler, discreteLaplaceSampler } from './samplers.ts';

/** Calibrations aim at δ·(1 - DELTA_MARGIN), far above the error of the δ computations. */
const DELTA_MARGIN = 1e-9;
/** Noise is at least 2^GRID_BITS grid steps wide, so snapping costs at most a 2^-GRID_BITS relative increase. */
const GRID_BITS = 12;
const TWO_53 = 2 ** 53;

export type RealInput = number | Float64Array | Float32Array | readonly number[];

// ---------------------------------------------------------------------------
// Shared pieces

function acheckLevel(level: unknown): number {
  return anumber(level, 'level', 0, 1, true) === 1
    ? (() => {
        throw new ConfideError('E_BAD_INPUT', '"level" expected a number in (0, 1), got 1', { field: 'level' });
      })()
    : (level as number);
}

function aprobability(v: unknown, field: string): number {
  const x = anumber(v, field, 0, 1, true);
  if (x >= 1) throw new ConfideError('E_BAD_INPUT', `"${field}" expected a number in (0, 1), got ${x}`, { field });
  return x;
}

/** Reads a real scalar or vector into a fresh Float64Array, refusing non-finite entries. */
function realVector(values: unknown, field: string): Float64Array {
  let v: Float64Array;
  if (typeof values === 'number') v = Float64Array.of(anumber(values, field));
  else if (values instanceof Float64Array || values instanceof Float32Array) v = Float64Array.from(values);
  else if (Array.isArray(values)) v = Float64Array.from(values, (x, i) => anumber(x, `${field}[${i}]`));
  else
    throw new ConfideError('E_BAD_INPUT', `"${field}" expected a number, number[], Float64Array or Float32Array`, { field });
  for (let i = 0; i < v.length; i++)
    if (!Number.isFinite(v[i])) anumber(v[i], `${field}[${i}]`);
  return v;
}

/**
 * The grid g = 2^k, k = ⌊log2(perCoordinate)⌋ - GRID_BITS, for a sensitivity
 * spread over d coordinates (Δ/d for L1, Δ/√d for L2): snapping then adds at
 * most 2^-GRID_BITS of the sensitivity, so the noise grows by at most that much.
 */
function gridFor(perCoordinate: number): number {
  const k = Math.floor(Math.log2(perCoordinate)) - GRID_BITS;
  return 2 ** Math.max(k, -1074);
}

/** Rounds x/g to an integer, refusing inputs too large for exact arithmetic on the grid. */
function snap(x: number, g: number, field: string): number {
  const m = Math.round(x / g);
  if (!(Math.abs(m) < TWO_53 / 4))
    throw new ConfideError('E_OVERFLOW', `"${field}" = ${x} is too large for the noise grid 2^${Math.log2(g)}`, { field });
  return m;
}

/**
 * Snaps every coordinate to the grid (all first, so a refused input consumes
 * no noise), adds integer noise from `sampler` in grid units, and returns the
 * exact multiples of g.
 */
function addGridNoise(
  xs: Float64Array,
  g: number,
  sampler: { fill(out: Float64Array, rng: Rng): Float64Array },
  rng: Rng,
): Float64Array {
  const out = new Float64Array(xs.length);
  for (let i = 0; i < xs.length; i++) out[i] = snap(xs[i], g, `value[${i}]`);
  const noise = sampler.fill(new Float64Array(xs.length), rng);
  for (let i = 0; i < xs.length; i++) {
    const m = out[i] + noise[i];
    if (!Number.isSafeInteger(m)) throw new ConfideError('E_OVERFLOW', 'noisy value exceeds the grid range', { field: 'value' });
    out[i] = m * g;
  }
  return out;
}

/**
 * A double at least σ²: the product σ·σ rounds to nearest and may fall an ulp
 * short, which would leave slightly less noise than the calibration proved
 * enough; one part in 2^50 more covers every rounding on the way.
 */
function varianceAtLeast(sigma: number): number {
  return sigma * sigma * (1 + 2 ** -50);
}

function ceilDiv(a: bigint, b: bigint): bigint {
  return (a + b - 1n) / b;
}

/**
 * Smallest integer m >= 0 with P(|X| > m) <= 1 - level for discrete Laplace of
 * scale τ, where P(|X| > m) = 2e^{-(m+1)/τ}/(1 + e^{-1/τ}): the closed form,
 * then corrected step by step so that rounding cannot make it off by one.
 */
export function laplaceMarginSteps(tau: number, level: number): number {
  const tail = (m: number) => (2 * Math.exp(-(m + 1) / tau)) / (1 + Math.exp(-1 / tau));
  let m = Math.max(0, Math.ceil(tau * Math.log(2 / ((1 - level) * (1 + Math.exp(-1 / tau))))) - 1);
  while (m > 0 && tail(m - 1) <= 1 - level) m--;
  while (tail(m) > 1 - level) m++;
  return m;
}

/** Smallest integer m >= 0 with P(|X| > m) <= 1 - level for the discrete Gaussian N_Z(0, σ²). */
function gaussianMarginSteps(sigma: number, level: number): number {
  if (sigma > 64) {
    // The discrete and continuous tails agree to within e^{-2π²σ²} relative (CKS20 §2.2);
    // take the continuous quantile plus one step.
    let lo = 0, hi = 40;
    for (let i = 0; i < 100; i++) {
      const mid = (lo + hi) / 2;
      if (2 * normalCdf(-mid) > 1 - level) lo = mid;
      else hi = mid;
    }
    return Math.ceil(hi * sigma) + 1;
  }
  // Sum the pmf outward from 0 until the mass inside reaches the level.
  const inv = 1 / (2 * sigma * sigma);
  let z = 1;
  const limit = Math.ceil(sigma * 40 + 10);
  for (let x = 1; x <= limit; x++) z += 2 * Math.exp(-x * x * inv);
  let inside = 1 / z;
  let m = 0;
  while (inside < level && m < limit) {
    m++;
    inside += (2 * Math.exp(-m * m * inv)) / z;
  }
  return m;
}

/** The noise a mechanism added, in the units of its output. */
export interface NoiseDescription {
  distribution: 'discrete-laplace' | 'discrete-gaussian';
  /** Laplace: the scale b (P(x) ∝ exp(-|x|/b)); Gaussian: σ. */
  scale: number;
  /** The output grid: 1 for integer mechanisms, 2^k for real ones. */
  granularity: number;
}

/** A release of an additive noise mechanism: its output, cost, error bars and noise. */
export interface NoisyRelease<T> extends Release<T> {
  readonly noise: NoiseDescription;
}

function release<T>(
  value: T,
  guarantee: Guarantee,
  event: PrivacyEvent,
  noise: NoiseDescription,
  margin: (level: number) => number,
): NoisyRelease<T> {
  const cache = new Map<number, number>();
  return {
    value,
    guarantee,
    event,
    noise,
    margin(level: number) {
      acheckLevel(level);
      let m = cache.get(level);
      if (m === undefined) cache.set(level, (m = margin(level)));
      return m;
    },
  };
}

interface NoiseOptions {
  rng?: Rng;
}

// ---------------------------------------------------------------------------
// Integer mechanisms

export interface DiscreteLaplaceOptions extends NoiseOptions {
  epsilon: number;
  /** L1 sensitivity: a positive integer. */
  sensitivity: number;
}

function integerVector(values: unknown, field: string): number[] {
  if (typeof values === 'number') return [ainteger(values, field, Number.MIN_SAFE_INTEGER)];
  if (Array.isArray(values) || values instanceof Int32Array)
    return Array.from(values as ArrayLike<unknown>, (x, i) => ainteger(x, `${field}[${i}]`, Number.MIN_SAFE_INTEGER));
  throw new ConfideError('E_BAD_INPUT', `"${field}" expected an integer, integer[] or Int32Array`, { field });
}

/**
 * The geometric (discrete Laplace) mechanism for integer counts and sums:
 * adds noise X with P(x) ∝ exp(-ε|x|/Δ), scale Δ/ε exactly (no rounding).
 * Pure ε-DP for L1 sensitivity Δ (Ghosh, Roughgarden, Sundararajan 2009).
 * A vector input spends ε once for the whole vector, with Δ its L1 sensitivity.
 */
export function discreteLaplaceMechanism(value: number, options: DiscreteLaplaceOptions): NoisyRelease<number>;
export function discreteLaplaceMechanism(value: readonly number[] | Int32Array, options: DiscreteLaplaceOptions): NoisyRelease<number[]>;
export function discreteLaplaceMechanism(value: number | readonly number[] | Int32Array, options: DiscreteLaplaceOptions): NoisyRelease<number | number[]> {
  aoptions(options, 'options', ['epsilon', 'sensitivity', 'rng']);
  const xs = integerVector(value, 'value');
  const epsilon = apositive(options?.epsilon, 'epsilon');
  const sensitivity = ainteger(options.sensitivity, 'sensitivity', 1);
  const rng = options.rng === undefined ? systemRng() : arng(options.rng, 'rng');
  const eps = arational(epsilon, 'epsilon');
  const scale: Rational = { num: BigInt(sensitivity) * eps.den, den: eps.num };
  const sampler = discreteLaplaceSampler(scale);
  const out = xs.map((x) => {
    const y = x + Number(sampler.sample(rng));
    if (!Number.isSafeInteger(y)) throw new ConfideError('E_OVERFLOW', 'noisy value exceeds 2^53', { field: 'value' });
    return y;
  });
  const tau = sensitivity / epsilon;
  const noise: NoiseDescription = { distribution: 'discrete-laplace', scale: sensitivity / epsilon, granularity: 1 };
  return release(typeof value === 'number' ? out[0] : out, pure(epsilon), { type: 'discrete-laplace', a: epsilon / sensitivity, sensitivity }, noise, (level) =>
    laplaceMarginSteps(tau, level),
  );
}

/** The geometric mechanism is the discrete Laplace mechanism. */
export const geometricMechanism = discreteLaplaceMechanism;

export interface DiscreteGaussianOptions extends NoiseOptions {
  /** L2 sensitivity (scalar: a positive integer; vector: any value > 0). */
  sensitivity: number;
  /** Calibrate to ρ-zCDP: σ² = Δ²/(2ρ), exact. */
  rho?: number;
  /** Or to (ε, δ)-DP. */
  epsilon?: number;
  delta?: number;
  /** Or give σ² directly (a rational: number, bigint or { num, den }). */
  sigma2?: number | bigint | { num: number | bigint; den: number | bigint };
}

/** σ for a scalar discrete Gaussian with integer sensitivity Δ: the least σ (to 1e-9) with CKS20 Thm 7's δ(ε) <= δ. */
export function discreteSigmaFor(epsilon: number, targetDelta: number, sensitivity: number): number {
  // Aim a hair below δ so that floating-point error in δ(σ) (about 1e-13 relative) cannot cross it.
  const delta = targetDelta * (1 - DELTA_MARGIN);
  let hi = analyticGaussianSigma(epsilon, delta, sensitivity);
  while (discreteGaussianDelta(hi, epsilon, sensitivity) > delta) hi *= 1.01;
  let lo = hi / 2;
  while (discreteGaussianDelta(lo, epsilon, sensitivity) <= delta && lo > 1e-9) lo /= 2;
  for (let i = 0; i < 80 && hi - lo > hi * 1e-12; i++) {
    const mid = (lo + hi) / 2;
    if (discreteGaussianDelta(mid, epsilon, sensitivity) <= delta) hi = mid;
    else lo = mid;
  }
  return hi;
}

/** The largest ρ whose tight (ε, δ) conversion (CKS20 Prop. 12) meets δ. */
export function rhoFor(epsilon: number, targetDelta: number): number {
  const delta = targetDelta * (1 - DELTA_MARGIN);
  // rhoToEpsilon is increasing in ρ; bisect for the largest ρ with rhoToEpsilon(ρ, δ) <= ε.
  let lo = 0, hi = epsilon;
  while (rhoToDelta(hi, epsilon) <= delta) hi *= 2;
  for (let i = 0; i < 200 && hi - lo > hi * 1e-13; i++) {
    const mid = (lo + hi) / 2;
    if (mid > 0 && rhoToDelta(mid, epsilon) <= delta) lo = mid;
    else hi = mid;
  }
  return lo;
}

function gaussianTarget(options: DiscreteGaussianOptions): { kind: 'rho'; rho: number } | { kind: 'approx'; epsilon: number; delta: number } | { kind: 'sigma2' } {
  const given = ['rho', 'epsilon', 'sigma2'].filter((k) => (options as unknown as Record<string, unknown>)[k] !== undefined);
  if (given.length !== 1)
    throw new ConfideError('E_BAD_INPUT', '"options" expected exactly one of rho, (epsilon and delta), or sigma2', { field: 'options' });
  if (options.rho !== undefined) return { kind: 'rho', rho: apositive(options.rho, 'rho') };
  if (options.epsilon !== undefined) return { kind: 'approx', epsilon: apositive(options.epsilon, 'epsilon'), delta: aprobability(options.delta, 'delta') };
  return { kind: 'sigma2' };
}

/**
 * The discrete Gaussian mechanism (CKS20) for integer vectors: adds
 * N_Z(0, σ²) noise to each coordinate. Guarantees: ρ-zCDP with ρ = Δ²/(2σ²)
 * for L2 sensitivity Δ (CKS20 Thm 4 and 14), and for a scalar with integer Δ
 * the exact (ε, δ) of CKS20 Thm 7. Calibrate by `rho`, by `epsilon`+`delta`
 * (scalar: exact discrete δ; vector: through the zCDP conversion, CKS20 Prop. 12),
 * or give `sigma2`.
 */
export function discreteGaussianMechanism(value: number, options: DiscreteGaussianOptions): NoisyRelease<number>;
export function discreteGaussianMechanism(value: readonly number[] | Int32Array, options: DiscreteGaussianOptions): NoisyRelease<number[]>;
export function discreteGaussianMechanism(value: number | readonly number[] | Int32Array, options: DiscreteGaussianOptions): NoisyRelease<number | number[]> {
  aoptions(options, 'options', ['sensitivity', 'rho', 'epsilon', 'delta', 'sigma2', 'rng']);
  const xs = integerVector(value, 'value');
  const scalar = typeof value === 'number';
  const sensitivity = scalar ? ainteger(options?.sensitivity, 'sensitivity', 1) : apositive(options?.sensitivity, 'sensitivity');
  const rng = options.rng === undefined ? systemRng() : arng(options.rng, 'rng');
  const target = gaussianTarget(options);
  let sigma2: Rational, guarantee: Guarantee;
  if (target.kind === 'sigma2') {
    sigma2 = arational(options.sigma2, 'sigma2');
    const sigma = Math.sqrt(Number(sigma2.num) / Number(sigma2.den));
    guarantee = zcdp(gaussianRho(sigma, sensitivity));
  } else if (target.kind === 'rho') {
    // σ² = Δ²/(2ρ) exactly.
    const d = arational(sensitivity, 'sensitivity'), r = arational(target.rho, 'rho');
    sigma2 = { num: d.num * d.num * r.den, den: 2n * d.den * d.den * r.num };
    guarantee = zcdp(target.rho);
  } else {
    const sigma = scalar
      ? discreteSigmaFor(target.epsilon, target.delta, sensitivity)
      : Math.sqrt((sensitivity * sensitivity) / (2 * rhoFor(target.epsilon, target.delta)));
    sigma2 = arational(varianceAtLeast(sigma), 'sigma2');
    guarantee = approx(target.epsilon, target.delta);
  }
  const sampler = discreteGaussianSampler(sigma2);
  const out = xs.map((x) => {
    const y = x + Number(sampler.sample(rng));
    if (!Number.isSafeInteger(y)) throw new ConfideError('E_OVERFLOW', 'noisy value exceeds 2^53', { field: 'value' });
    return y;
  });
  const sigma = Math.sqrt(Number(sigma2.num) / Number(sigma2.den));
  // A scalar with integer Δ is the discrete Gaussian event itself; a vector shift is
  // accounted by its exact ρ (the multivariate discrete Gaussian's privacy loss is not the scalar one).
  const event: PrivacyEvent = scalar ? { type: 'discrete-gaussian', sigma, sensitivity } : { type: 'zcdp', rho: gaussianRho(sigma, sensitivity) };
  return release(scalar ? out[0] : out, guarantee, event, { distribution: 'discrete-gaussian', scale: sigma, granularity: 1 }, (level) =>
    gaussianMarginSteps(sigma, level),
  );
}

// ---------------------------------------------------------------------------
// Real-valued mechanisms on a power-of-two grid

export interface LaplaceOptions extends NoiseOptions {
  epsilon: number;
  /** L1 sensitivity of the whole input (scalar or vector). */
  sensitivity: number;
}

/**
 * The Laplace mechanism for reals, ε-DP for L1 sensitivity Δ: each coordinate
 * is snapped to the grid g = 2^k (k = ⌊log2(Δ/d)⌋ - 12) and gets discrete
 * Laplace noise of integer scale t = ⌈(⌊Δ/g⌋ + d)/ε⌉ in grid units (d the
 * vector length: snapping adds at most one grid step per coordinate to the L1
 * distance). The output is a multiple of g. `margin(level)` includes the
 * snapping error of at most g/2.
 */
export function laplaceMechanism(value: number, options: LaplaceOptions): NoisyRelease<number>;
export function laplaceMechanism(value: Float64Array | Float32Array | readonly number[], options: LaplaceOptions): NoisyRelease<Float64Array>;
export function laplaceMechanism(value: RealInput, options: LaplaceOptions): NoisyRelease<number | Float64Array> {
  aoptions(options, 'options', ['epsilon', 'sensitivity', 'rng']);
  const xs = realVector(value, 'value');
  const epsilon = apositive(options?.epsilon, 'epsilon');
  const sensitivity = apositive(options.sensitivity, 'sensitivity');
  const rng = options.rng === undefined ? systemRng() : arng(options.rng, 'rng');
  const g = gridFor(sensitivity / Math.max(1, xs.length));
  // Grid-unit L1 sensitivity after snapping: ⌊Δ/g⌋ + d (integer, exact: g is a power of two).
  const gridSensitivity = BigInt(Math.floor(sensitivity / g)) + BigInt(Math.max(1, xs.length));
  const eps = arational(epsilon, 'epsilon');
  const t = ceilDiv(gridSensitivity * eps.den, eps.num);
  const sampler = discreteLaplaceSampler({ num: t, den: 1n });
  const out = addGridNoise(xs, g, sampler, rng);
  const tau = Number(t);
  return release(
    typeof value === 'number' ? out[0] : out,
    pure(epsilon),
    // Exactly what ran: integer noise exp(-|x|/t) on grid-unit sensitivity S.
    { type: 'discrete-laplace', a: 1 / tau, sensitivity: Number(gridSensitivity) },
    { distribution: 'discrete-laplace', scale: tau * g, granularity: g },
    (level) => laplaceMarginSteps(tau, level) * g + g / 2,
  );
}

export interface GaussianOptions extends NoiseOptions {
  epsilon: number;
  delta: number;
  /** L2 sensitivity of the whole input. */
  sensitivity: number;
  /** 'analytic' (default; Balle and Wang 2018) or 'classic' (Dwork and Roth, ε < 1). */
  calibration?: 'analytic' | 'classic';
}

/**
 * The Gaussian mechanism for reals, (ε, δ)-DP for L2 sensitivity Δ: discrete
 * Gaussian noise on the grid g = 2^k (k = ⌊log2(min(σ₀, Δ)/√d)⌋ - 12, σ₀ the
 * continuous calibration), with the grid-unit L2 sensitivity Δ/g + √d covering snapping.
 * Scalar inputs are calibrated with the exact discrete δ (CKS20 Thm 7) after
 * the chosen continuous calibration picks the grid; vectors through ρ-zCDP
 * and CKS20's conversion. `calibration: 'classic'` uses Dwork and Roth's σ
 * (ε < 1) for the continuous part, as some audits require.
 */
export function gaussianMechanism(value: number, options: GaussianOptions): NoisyRelease<number>;
export function gaussianMechanism(value: Float64Array | Float32Array | readonly number[], options: GaussianOptions): NoisyRelease<Float64Array>;
export function gaussianMechanism(value: RealInput, options: GaussianOptions): NoisyRelease<number | Float64Array> {
  aoptions(options, 'options', ['epsilon', 'delta', 'sensitivity', 'calibration', 'rng']);
  const xs = realVector(value, 'value');
  const epsilon = apositive(options?.epsilon, 'epsilon');
  const delta = aprobability(options.delta, 'delta');
  const sensitivity = apositive(options.sensitivity, 'sensitivity');
  const calibration = options.calibration ?? 'analytic';
  if (calibration !== 'analytic' && calibration !== 'classic')
    throw new ConfideError('E_BAD_INPUT', `"calibration" expected 'analytic' or 'classic'`, { field: 'calibration' });
  const rng = options.rng === undefined ? systemRng() : arng(options.rng, 'rng');
  const sigma0 =
    calibration === 'classic' ? classicGaussianSigma(epsilon, delta, sensitivity) : analyticGaussianSigma(epsilon, delta, sensitivity);
  const d = Math.max(1, xs.length);
  const g = gridFor(Math.min(sigma0, sensitivity) / Math.sqrt(d));
  let sigmaGrid: number;
  if (xs.length <= 1) {
    const gridSensitivity = Math.floor(sensitivity / g) + 1; // integer: |m - m'| <= ⌊Δ/g⌋ + 1
    sigmaGrid =
      calibration === 'classic'
        ? Math.max(classicGaussianSigma(epsilon, delta, gridSensitivity), discreteSigmaFor(epsilon, delta, gridSensitivity))
        : discreteSigmaFor(epsilon, delta, gridSensitivity);
  } else {
    const gridSensitivity = sensitivity / g + Math.sqrt(d);
    const fromZcdp = Math.sqrt((gridSensitivity * gridSensitivity) / (2 * rhoFor(epsilon, delta)));
    sigmaGrid = calibration === 'classic' ? Math.max(fromZcdp, classicGaussianSigma(epsilon, delta, gridSensitivity)) : fromZcdp;
  }
  const sampler = discreteGaussianSampler(arational(varianceAtLeast(sigmaGrid), 'sigma2'));
  const gaussianEvent: PrivacyEvent =
    xs.length <= 1
      ? { type: 'discrete-gaussian', sigma: sigmaGrid, sensitivity: Math.floor(sensitivity / g) + 1 }
      : { type: 'zcdp', rho: gaussianRho(sigmaGrid, sensitivity / g + Math.sqrt(d)) };
  const out = addGridNoise(xs, g, sampler, rng);
  return release(
    typeof value === 'number' ? out[0] : out,
    approx(epsilon, delta),
    gaussianEvent,
    { distribution: 'discrete-gaussian', scale: sigmaGrid * g, granularity: g },
    (level) => gaussianMarginSteps(sigmaGrid, level) * g + g / 2,
  );
}
