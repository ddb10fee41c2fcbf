/**
 * Distributed DP for secure aggregation: the distributed discrete Gaussian of
 * Kairouz, Liu and Steinke (ICML 2021, "The Distributed Discrete Gaussian
 * Mechanism for Federated Learning with Secure Aggregation").
 *
 * Each client clips its vector to L2 norm c, encodes it (scale s = 2^fracBits,
 * unbiased stochastic rounding) and adds i.i.d. N_Z(0, σ²) noise to every
 * coordinate before masking. The server only ever sees the masked vectors and
 * the sum, which carries the sum of the survivors' noise.
 *
 * Sensitivity (add or remove one client), in encoded units: rounding moves
 * each coordinate by less than 1, so the encoded vector's L2 norm is below
 * Δ = c·s + √d (d coordinates); a weight coordinate in [0, w_max] adds
 * (w_max·s + 1)² under the root.
 *
 * Guarantee (KLS21, Theorem 2 / Proposition 14): for σ ≥ 1/2, the sum of m
 * independent N_Z(0, σ²)^d vectors gives a Rényi divergence at order α of at
 * most min(α·Δ²/(2mσ²) + τd, (α/2)(Δ/(√m σ) + τ√d)²) between neighbours,
 * with τ = 10 · Σ_{k=1}^{m-1} exp(-2π²σ² · k/(k+1)). Both forms are at most
 * ρα for α ≥ 1 with ρ = min(Δ²/(2mσ²) + τd, (Δ/(√m σ) + τ√d)²/2), so the
 * round is ρ-zCDP; the ledger records the event { type: 'zcdp', rho } and the
 * accountant turns it into (ε, δ).
 *
 * Dropouts lower the noise: only the m clients whose masked vectors enter the
 * sum contribute noise, and clients colluding with the server know (and can
 * subtract) their own. So the noise is calibrated for the expected number of
 * honest survivors m = ⌊n(1 - dropout)⌋ - ⌈n·corrupt⌉, and the guarantee that
 * is spent is computed for the actual survivors minus the colluding clients,
 * which the server knows only after the masked inputs arrive, and before it
 * can unmask anything.
 */
import { ainteger, anumber, aoptions } from '../core/assert.ts';
import { ConfideError } from '../core/errors.ts';
import type { Rng } from '../core/random.ts';
import type { RingVector } from '../core/ring.ts';
import { discreteGaussianSampler, epsilonFor } from '../dp/index.ts';
import type { SecAggConfig } from './config.ts';

/** KLS21's τ for m summands of variance σ² (0 for a single client). */
export function klsTau(variance: number, summands: number): number {
  let tau = 0;
  const c = 2 * Math.PI * Math.PI * variance;
  for (let k = 1; k < summands; k++) {
    const term = Math.exp((-c * k) / (k + 1));
    tau += term;
    // Terms decrease with k (towards exp(-c)); after 1,000 of them, bound
    // the rest by the current one.
    if (k >= 1000) {
      tau += (summands - 1 - k) * term;
      break;
    }
  }
  return 10 * tau;
}

export interface RhoOptions {
  /** Per-client variance σ² in encoded units. */
  clientVariance: number;
  /** L2 sensitivity Δ in encoded units. */
  sensitivity: number;
  /** Number of honest clients whose noise is in the sum. */
  survivors: number;
  /** Coordinates d. */
  dimension: number;
}

/** ρ of the distributed discrete Gaussian (module doc); Infinity with no honest survivor. */
export function distributedGaussianRho(options: RhoOptions): number {
  aoptions(options, 'options', ['clientVariance', 'sensitivity', 'survivors', 'dimension']);
  if (options === undefined) throw new ConfideError('E_BAD_INPUT', '"options" expected { clientVariance, sensitivity, survivors, dimension }', { field: 'options' });
  const s2 = anumber(options.clientVariance, 'clientVariance', 0.25, 2 ** 100);
  const delta = anumber(options.sensitivity, 'sensitivity', 0, Number.MAX_VALUE, true);
  const m = ainteger(options.survivors, 'survivors', 0);
  const d = ainteger(options.dimension, 'dimension', 1);
  if (m === 0) return Infinity;
  const tau = klsTau(s2, m);
  const a = (delta * delta) / (2 * m * s2) + tau * d;
  const b = (delta / Math.sqrt(m * s2) + tau * Math.sqrt(d)) ** 2 / 2;
  return Math.min(a, b);
}

/** Δ of a config in encoded units (module doc). */
export function encodedSensitivity(config: SecAggConfig): number {
  if (config.noise === undefined) throw new ConfideError('E_BAD_INPUT', '"config.noise" is required for a sensitivity', { field: 'config.noise' });
  const s = 2 ** config.fracBits;
  const main = config.noise.l2Norm * s + Math.sqrt(config.length);
  const weight = config.maxWeight === undefined ? 0 : config.maxWeight * s + 1;
  return Math.sqrt(main * main + weight * weight);
}

/** Coordinates that carry noise (the weight coordinate too, when present). */
export function noiseDimension(config: SecAggConfig): number {
  return config.length + (config.maxWeight === undefined ? 0 : 1);
}

/** Honest survivors to credit: survivors minus the colluding clients allowed for. */
export function honestSurvivors(survivors: number, clients: number, corruptFraction: number): number {
  return Math.max(0, survivors - Math.ceil(clients * corruptFraction));
}

/** The largest ρ whose zCDP-to-(ε, δ) conversion (CKS20) is at most ε at δ, by bisection. */
export function rhoForEpsilon(epsilon: number, delta: number): number {
  anumber(epsilon, 'epsilon', 0, 1e6, true);
  anumber(delta, 'delta', 0, 1, true);
  let lo = 0;
  let hi = epsilon;
  for (let i = 0; i < 200 && hi - lo > 1e-12 * hi; i++) {
    const mid = (lo + hi) / 2;
    if (epsilonFor({ type: 'zcdp', rho: mid }, delta, { method: 'zcdp' }) <= epsilon) lo = mid;
    else hi = mid;
  }
  return lo;
}

export interface CalibrateOptions {
  /** Target ρ-zCDP, or give epsilon and delta. */
  rho?: number;
  epsilon?: number;
  delta?: number;
  /** L2 clipping norm c of a client's vector. */
  l2Norm: number;
  /** Coordinates of the vector (without the weight). */
  length: number;
  fracBits: number;
  maxWeight?: number;
  /** Clients that start the round. */
  clients: number;
  /** Expected dropout rate in [0, 1). */
  dropoutRate: number;
  /** Fraction of clients that may collude with the server (their noise is not counted). */
  corruptFraction?: number;
}

/**
 * The per-client variance σ² (encoded units) that gives the target privacy
 * when the expected number of honest clients survive (module doc). Fewer
 * survivors give a weaker guarantee, which the server computes and spends.
 */
export function calibrateDistributedNoise(options: CalibrateOptions): number {
  aoptions(options, 'options', ['rho', 'epsilon', 'delta', 'l2Norm', 'length', 'fracBits', 'maxWeight', 'clients', 'dropoutRate', 'corruptFraction']);
  if (options === undefined) throw new ConfideError('E_BAD_INPUT', '"options" expected { rho | epsilon, delta, l2Norm, length, fracBits, clients, dropoutRate }', { field: 'options' });
  let rho: number;
  if (options.rho !== undefined) {
    if (options.epsilon !== undefined || options.delta !== undefined)
      throw new ConfideError('E_BAD_INPUT', 'give either "rho" or "epsilon" and "delta", not both', { field: 'rho' });
    rho = anumber(options.rho, 'rho', 0, 1e6, true);
  } else rho = rhoForEpsilon(anumber(options.epsilon, 'epsilon', 0, 1e6, true), anumber(options.delta, 'delta', 0, 1, true));
  const clients = ainteger(options.clients, 'clients', 2);
  const dropout = anumber(options.dropoutRate, 'dropoutRate', 0, 0.999);
  const corrupt = options.corruptFraction === undefined ? 0 : anumber(options.corruptFraction, 'corruptFraction', 0, 0.999);
  const config = {
    length: ainteger(options.length, 'length', 1),
    bits: 64,
    fracBits: ainteger(options.fracBits, 'fracBits', 0, 52),
    bound: 1,
    threshold: 1,
    graph: 'complete',
    noise: { clientVariance: 1, l2Norm: anumber(options.l2Norm, 'l2Norm', 0, Number.MAX_VALUE, true) },
    ...(options.maxWeight === undefined ? {} : { maxWeight: anumber(options.maxWeight, 'maxWeight', 0, Number.MAX_VALUE, true) }),
  } as SecAggConfig;
  const m = honestSurvivors(Math.floor(clients * (1 - dropout)), clients, corrupt);
  if (m < 1) throw new ConfideError('E_BAD_INPUT', 'no honest client is expected to survive: lower dropoutRate or corruptFraction', { field: 'dropoutRate' });
  const sensitivity = encodedSensitivity(config);
  const dimension = noiseDimension(config);
  const at = (v: number) => distributedGaussianRho({ clientVariance: v, sensitivity, survivors: m, dimension });
  // ρ falls as σ² grows; bracket, then bisect (in log space).
  let lo = 0.25;
  if (at(lo) <= rho) return lo;
  let hi = 1;
  while (at(hi) > rho) {
    hi *= 4;
    if (hi > 2 ** 100) throw new ConfideError('E_BAD_INPUT', `no client variance reaches rho = ${rho}`, { field: 'rho' });
  }
  for (let i = 0; i < 100 && hi / lo > 1 + 1e-9; i++) {
    const mid = Math.sqrt(lo * hi);
    if (at(mid) > rho) lo = mid;
    else hi = mid;
  }
  return hi;
}

const TWO_32 = 4294967296;

/** Scales x to L2 norm at most c, in place; returns whether it was clipped. */
export function clipL2(x: Float64Array, c: number): boolean {
  let s = 0;
  for (let i = 0; i < x.length; i++) s += x[i] * x[i];
  const norm = Math.sqrt(s);
  if (!(norm > c)) return false;
  const f = c / norm;
  for (let i = 0; i < x.length; i++) x[i] *= f;
  return true;
}

/** vector += N_Z(0, σ²) per coordinate, mod 2^bits, with the exact sampler of dp (CKS20). */
export function addDiscreteGaussian(vector: RingVector, variance: number, rng: Rng): void {
  const noise = discreteGaussianSampler(variance).fill(new Float64Array(vector.length), rng);
  if (vector instanceof Uint32Array) {
    for (let i = 0; i < vector.length; i++) {
      const v = (vector[i] + noise[i]) % TWO_32;
      vector[i] = v < 0 ? v + TWO_32 : v;
    }
  } else {
    for (let i = 0; i < vector.length; i++) vector[i] = BigInt.asUintN(64, vector[i] + BigInt(noise[i]));
  }
}
