/**
 * What server and clients agree on before a round: vector length, the
 * fixed-point encoding, the graph, the threshold, the weight coordinate and
 * the distributed noise. Each side checks the other's view: the server
 * announces the SHA-256 digest of the canonical config and a client refuses
 * a round whose digest differs from its own.
 */
import { createHash } from 'node:crypto';
import { ainteger, anumber, aobject, aoneof, aoptions } from '../core/assert.ts';
import { ConfideError, describe } from '../core/errors.ts';
import { FixedPoint } from '../core/fixedpoint.ts';

export interface NoiseConfig {
  /**
   * Variance σ² of each client's discrete Gaussian noise, per coordinate, in
   * encoded units (the integers the fixed-point codec produces). Use
   * `calibrateDistributedNoise` to choose it.
   */
  clientVariance: number;
  /**
   * Each client clips its (weighted) vector to this L2 norm before encoding,
   * so that one client changes the sum by a bounded amount (see noise.ts).
   */
  l2Norm: number;
}

export interface SecAggConfig {
  /** Coordinates of each client's vector (the weight, when carried, is one more). */
  length: number;
  /** Ring width of the masked sum: 32 or 64 bits. */
  bits: 32 | 64;
  /** Fixed-point scale 2^fracBits. */
  fracBits: number;
  /** Each coordinate is clipped to [-bound, bound] before encoding. */
  bound: number;
  /** Shamir threshold t: shares among a client's neighbours and itself needed to recover its secrets. */
  threshold: number;
  /** 'complete' (SecAgg) or a Harary graph of even degree k (SecAgg+). */
  graph: 'complete' | { degree: number };
  /** When set, a client's vector is multiplied by its weight in [0, maxWeight], which travels as an extra coordinate. */
  maxWeight?: number;
  /** Distributed discrete Gaussian noise (Kairouz, Liu and Steinke 2021). */
  noise?: NoiseConfig;
}

const KEYS = ['length', 'bits', 'fracBits', 'bound', 'threshold', 'graph', 'maxWeight', 'noise'];

/** Checks a config and returns a normalised copy. */
export function aconfig(v: unknown, field = 'config'): SecAggConfig {
  const o = aobject(v, field) as unknown as SecAggConfig;
  aoptions(o, field, KEYS);
  const length = ainteger(o.length, `${field}.length`, 1, 2 ** 28);
  const bits = aoneof(o.bits, `${field}.bits`, [32, 64] as const);
  const fracBits = ainteger(o.fracBits, `${field}.fracBits`, 0, 52);
  const bound = anumber(o.bound, `${field}.bound`, 0, Number.MAX_VALUE, true);
  const threshold = ainteger(o.threshold, `${field}.threshold`, 1, 1_000_000);
  let graph: SecAggConfig['graph'];
  if (o.graph === 'complete') graph = 'complete';
  else {
    const g = aobject(o.graph, `${field}.graph`) as { degree: number };
    aoptions(g, `${field}.graph`, ['degree']);
    const degree = ainteger(g.degree, `${field}.graph.degree`, 2, 1_000_000);
    if (degree % 2 !== 0) throw new ConfideError('E_BAD_INPUT', `"${field}.graph.degree" expected an even degree, got ${degree}`, { field: `${field}.graph.degree` });
    graph = { degree };
  }
  const out: SecAggConfig = { length, bits, fracBits, bound, threshold, graph };
  if (o.maxWeight !== undefined) out.maxWeight = anumber(o.maxWeight, `${field}.maxWeight`, 0, Number.MAX_VALUE, true);
  if (o.noise !== undefined) {
    const nz = aobject(o.noise, `${field}.noise`) as unknown as NoiseConfig;
    aoptions(nz, `${field}.noise`, ['clientVariance', 'l2Norm']);
    out.noise = {
      clientVariance: anumber(nz.clientVariance, `${field}.noise.clientVariance`, 0.25, 2 ** 100),
      l2Norm: anumber(nz.l2Norm, `${field}.noise.l2Norm`, 0, Number.MAX_VALUE, true),
    };
  }
  // The codec itself checks that one value fits the ring at this scale.
  codecOf(out);
  if (out.maxWeight !== undefined && Math.ceil(out.maxWeight * 2 ** fracBits) > Math.min(2 ** 52, 2 ** (bits - 1) - 1))
    throw new ConfideError('E_OVERFLOW', `"${field}.maxWeight" ${out.maxWeight} does not fit the ${bits}-bit ring at scale 2^${fracBits}`, { field: `${field}.maxWeight` });
  return out;
}

export function codecOf(c: SecAggConfig): FixedPoint {
  return new FixedPoint({ bits: c.bits, fracBits: c.fracBits, bound: Math.max(c.bound, c.maxWeight ?? 0) });
}

/** Coordinates on the wire: the vector, plus one for the weight. */
export function wireLength(c: SecAggConfig): number {
  return c.length + (c.maxWeight === undefined ? 0 : 1);
}

/**
 * Magnitude of the noise sum that the ring must hold beside the inputs, per
 * coordinate: 14 standard deviations of the total noise of n clients (a
 * discrete Gaussian is sub-Gaussian with the continuous one's variance proxy
 * (CKS20, Corollary 23), so a coordinate exceeds it with probability below
 * 2·exp(-98) ≈ 4e-43). Wrapping would only cost accuracy: the modular sum is
 * post-processing of the noisy sum, so privacy holds either way.
 */
export function noiseHeadroom(c: SecAggConfig, clients: number): number {
  return c.noise === undefined ? 0 : Math.ceil(14 * Math.sqrt(c.noise.clientVariance * clients));
}

/**
 * Throws E_OVERFLOW unless the sum of `clients` encoded vectors (and their
 * noise) fits the ring, and E_BAD_INPUT when the threshold cannot be met.
 * Server and clients both run it before the first message of a round.
 */
export function checkRound(c: SecAggConfig, clients: number): void {
  ainteger(clients, 'clients', 1);
  codecOf(c).checkOverflow(clients, noiseHeadroom(c, clients));
  const holders = c.graph === 'complete' || c.graph.degree >= clients - 1 ? clients : c.graph.degree + 1;
  if (c.threshold > holders)
    throw new ConfideError('E_BAD_INPUT', `threshold ${c.threshold} exceeds the ${holders} holders of each client's shares`, { field: 'config.threshold' });
  if (clients < 2) throw new ConfideError('E_BAD_INPUT', `a secure sum needs at least 2 clients, got ${clients}`, { field: 'clients' });
}

/** SHA-256 over the canonical JSON of the normalised config. */
export function configDigest(c: SecAggConfig): Uint8Array {
  const canonical = JSON.stringify({
    v: 1,
    length: c.length,
    bits: c.bits,
    fracBits: c.fracBits,
    bound: c.bound,
    threshold: c.threshold,
    graph: c.graph === 'complete' ? 'complete' : c.graph.degree,
    maxWeight: c.maxWeight ?? null,
    noise: c.noise === undefined ? null : [c.noise.clientVariance, c.noise.l2Norm],
  });
  return new Uint8Array(createHash('sha256').update(canonical).digest());
}

export function aweight(v: unknown, c: SecAggConfig): number {
  if (c.maxWeight === undefined) {
    if (v !== undefined) throw new ConfideError('E_BAD_INPUT', `"weight" is only allowed with config.maxWeight, got ${describe(v)}`, { field: 'weight' });
    return 1;
  }
  return anumber(v ?? 1, 'weight', 0, c.maxWeight);
}
