/**
 * DP-FedAvg (McMahan, Ramage, Talwar, Zhang, ICLR 2018, Alg. 1 with the
 * fixed denominator): every client update is clipped to L2 norm C, the
 * clipped updates are summed, Gaussian noise of standard deviation z·C is
 * added to the sum, and the sum is divided by the expected number of
 * clients qN (not the actual one, which would leak). The unit of privacy is
 * the client: neighbouring training runs differ in all of one client's data.
 *
 * Noise is exact. Updates are encoded on the grid g = C/R (R = `resolution`
 * grid steps per clip norm) with stochastic rounding, clipped *in integers*
 * to ‖·‖₂ <= R, so the sensitivity bound holds exactly, and the sum gets
 * multivariate discrete Gaussian noise N_Z(0, (zR)²) per coordinate (Canonne,
 * Kamath, Steinke 2020, Thm 14: ρ = R²/(2(zR)²) = 1/(2z²)), drawn with
 * src/dp's exact sampler. The released mean is g·(noisy sum)/qN.
 *
 * Adaptive clipping (Andrew, Thakkar, McMahan, Ramaswamy, NeurIPS 2021,
 * Alg. 1): each client also contributes the bit b = [‖Δ‖ <= C]; the noisy
 * fraction b̃ = (Σb + N(0, σ_b²))/qN of unclipped updates moves the clip norm
 * geometrically, C ← C·exp(−η_C (b̃ − γ)). So C grows when fewer than γ of the
 * updates fit, i.e. when more than 1 − γ of them are clipped, and shrinks
 * otherwise. The bit rides in the same noisy vector (scaled by s = round(zR/σ_b),
 * so its noise is σ_b in count units), and the round's L2 sensitivity is
 * √(R² + s²): one Gaussian event covers both releases, which is Andrew et
 * al.'s accounting (their z_Δ = (z⁻² − (2σ_b)⁻²)^(-1/2) with our
 * add-or-remove sensitivity 1 for the count instead of ½).
 *
 * Accounting: each round is one event in src/dp's grammar,
 *   { discrete-gaussian, σ = zR, Δ = ⌈√(R² + s²)⌉ }   (s = 0 without adaptive clipping)
 * spent through the ledger before the noisy sum is released. The RDP and
 * zCDP accountants compose it (α Δ²/(2σ²), resp. ρ = Δ²/(2σ²), hold for the
 * multivariate discrete Gaussian: CKS20 Thm 14). The ledger's PLD accountant
 * models a *scalar* discrete Gaussian, which is not a bound for vectors, so
 * datasets accounted by PLD (or basic composition) are refused.
 *
 * Client sampling: with `sampling: { type: 'poisson', q }` (each client
 * joins a round independently with probability q, and the sample is not
 * revealed) the event is `{ poisson-sampled, q, event: <the round's event> }`,
 * so the accountant credits amplification by subsampling (the denominator
 * stays the fixed qN, McMahan et al. 2018). src/dp's RDP accountant accounts
 * it (Zhu and Wang 2019's bound for Poisson subsampling of an add-or-remove
 * mechanism); its zCDP accountant refuses it with E_UNSUPPORTED, and then so
 * does the ledger's preview, before anything is released. Fixed-size
 * sampling, or none stated, gives the unsampled event: valid whatever the
 * sampling (neighbouring runs still differ in one client's data), only loose.
 *
 * Distributed noise (`applySum`, `distributedNoise`, `dpSecAggConfig`): the
 * clients clip and noise their own updates and secure aggregation releases
 * only the noisy sum (src/fl's coordinator with src/secagg, Kairouz, Liu and
 * Steinke 2021); the protocol spends its own event. Each client sends its
 * update *normalised* by the round's clip norm, u = clip(Δ, C)/C, on the grid
 * 2^-f in integers (‖u‖₂ <= 1 exactly), so the pinned secagg config (whose
 * digest the clients check) does not depend on C and adaptive clipping works:
 * the clipped-or-not bit rides as one more coordinate worth
 * k = ⌊√(L² − 1)·2^f⌋/2^f (L the config's l2Norm), and the whole vector's norm
 * stays within L, which is what secagg's guarantee is computed for. The server
 * step is x ← x + η·C·(Σu + noise)/qN; the noisy count is (last coordinate)/k.
 * With per-client variance σ² = (z·2^f)²/m the m expected clients' noise is
 * z·C in model units, as centrally, and k = z/σ_b puts σ_b on the count.
 */
import { ainteger, anumber, aoptions, astring } from '../core/assert.ts';
import { ConfideError, describe } from '../core/errors.ts';
import { arng, systemRng, type Rng } from '../core/random.ts';
import { discreteGaussianSampler, type PrivacyEvent, type PrivacyLedger, type Receipt } from '../dp/index.ts';
import type { SecAggConfig } from '../secagg/index.ts';
import { atensors, flatten, unflatten, type Tensors } from './tensors.ts';

/** How clients are sampled each round, as the accountant is told. */
export type RoundSampling =
  /** Each of `population` clients joins independently with probability q (McMahan et al. 2018). */
  | { readonly type: 'poisson'; readonly q: number }
  /** Exactly `clients` of `population`, uniformly without replacement. */
  | { readonly type: 'fixed'; readonly population: number; readonly clients: number };

export interface AdaptiveClippingOptions {
  /** γ: the fraction of updates meant to fit under C (default 0.5, the median norm). */
  targetQuantile?: number;
  /** η_C of the geometric update (default 0.2, as in Andrew et al.). */
  learningRate?: number;
  /** σ_b, the noise on the count of unclipped updates (default expectedClients/20, as in Andrew et al.). */
  countStddev?: number;
}

export interface DpFedAvgOptions {
  /** z: the noise on the sum has standard deviation z·C. */
  noiseMultiplier: number;
  /** The (initial) clip norm C. */
  clipNorm: number;
  /** qN, the expected number of clients a round; the sum is divided by it. */
  expectedClients: number;
  /** How clients are sampled: Poisson sampling is told to the accountant (a poisson-sampled event), fixed sampling is recorded in the query text. */
  sampling?: RoundSampling;
  /** Server learning rate (default 1). */
  serverLearningRate?: number;
  /** Adaptive clipping (Andrew et al. 2021); off when omitted. */
  adaptive?: AdaptiveClippingOptions;
  /** R, grid steps per clip norm (default 2^14). */
  resolution?: number;
}

export interface DpRoundOptions {
  ledger: PrivacyLedger;
  dataset: string;
  /** Who trains (recorded in the ledger). */
  principal: string;
  /** The round number (recorded in the ledger). */
  round: number;
  /** Randomness for noise and rounding (default systemRng(); seeded only in tests). */
  rng?: Rng;
}

export interface DpRoundResult {
  /** The new global weights. */
  readonly weights: Tensors;
  /** The ledger's receipt for this round. */
  readonly receipt: Receipt;
  /** The clip norm used this round, and the one the next round will use. */
  readonly clipNorm: number;
  readonly nextClipNorm: number;
  /** The noisy fraction of unclipped updates (adaptive clipping only; a DP release). */
  readonly unclippedFraction?: number;
  readonly clients: number;
}

/** What `applySum` returns: the new weights and the clip norms of this round and the next. */
export interface DpSumResult {
  readonly weights: Tensors;
  readonly clipNorm: number;
  readonly nextClipNorm: number;
  /** The noisy fraction of unclipped updates (adaptive clipping only). */
  readonly unclippedFraction?: number;
}

export interface DpSecAggConfigOptions {
  /** d: the model's parameter count. */
  parameters: number;
  /** σ² per client, encoded units (`DpFedAvg.distributedNoise`). */
  clientVariance: number;
  /** Adaptive clipping: k, the clipped-or-not bit's value (`DpFedAvg.distributedNoise`); the vector gets one more coordinate. */
  countScale?: number;
  /** Shamir threshold of secure aggregation. */
  threshold: number;
  /** Fixed-point fractional bits f (default 16). */
  fracBits?: number;
  /** Ring width (default 32). */
  bits?: 32 | 64;
  /** 'complete' (default) or a Harary graph. */
  graph?: SecAggConfig['graph'];
}

/**
 * The secure-aggregation config for DP-FedAvg with distributed noise (module
 * doc), which coordinator and clients both pin: length d (+1 with adaptive
 * clipping), l2Norm L = √(1 + k²) for normalised updates and the count bit,
 * bound max(1, k), no weights (every client counts once).
 */
export function dpSecAggConfig(options: DpSecAggConfigOptions): SecAggConfig {
  aoptions(options, 'options', ['parameters', 'clientVariance', 'countScale', 'threshold', 'fracBits', 'bits', 'graph']);
  if (typeof options !== 'object' || options === null) throw new ConfideError('E_BAD_INPUT', '"options" expected { parameters, clientVariance, threshold }', { field: 'options' });
  const d = ainteger(options.parameters, 'parameters', 1, 2 ** 28 - 1);
  const clientVariance = anumber(options.clientVariance, 'clientVariance', 0.25, 2 ** 100);
  const k = options.countScale === undefined ? undefined : anumber(options.countScale, 'countScale', 0, 2 ** 20, true);
  const fracBits = options.fracBits === undefined ? 16 : ainteger(options.fracBits, 'fracBits', 0, 52);
  const bits = options.bits === undefined ? 32 : options.bits;
  if (bits !== 32 && bits !== 64) throw new ConfideError('E_BAD_INPUT', `"bits" expected 32 or 64, got ${describe(bits)}`, { field: 'bits' });
  const graph = options.graph ?? 'complete';
  if (graph !== 'complete' && (typeof graph !== 'object' || graph === null)) throw new ConfideError('E_BAD_INPUT', `"graph" expected 'complete' or { degree }, got ${describe(graph)}`, { field: 'graph' });
  return {
    length: d + (k === undefined ? 0 : 1),
    bits,
    fracBits,
    bound: Math.max(1, k ?? 0),
    threshold: ainteger(options.threshold, 'threshold', 1, 1_000_000),
    graph,
    noise: { clientVariance, l2Norm: k === undefined ? 1 : Math.sqrt(1 + k * k) },
  };
}

/** k, the count bit's value, derived from a config's l2Norm on its grid (module doc); 0 when the config has no room for it. */
export function countScaleOf(config: SecAggConfig): number {
  const L = config.noise?.l2Norm ?? 1;
  if (!(L > 1)) return 0;
  const grid = 2 ** config.fracBits;
  return Math.floor(Math.sqrt(L * L - 1) * grid) / grid;
}

export interface DpFedAvgState {
  readonly strategy: 'dp-fedavg';
  readonly options: DpFedAvgOptions;
  readonly clipNorm: number;
  readonly rounds: number;
}

const TWO_53 = 2 ** 53;

function resolveOptions(options: DpFedAvgOptions): Required<Omit<DpFedAvgOptions, 'adaptive' | 'sampling'>> & { sampling: RoundSampling | null; adaptive?: Required<AdaptiveClippingOptions> } {
  aoptions(options, 'options', ['noiseMultiplier', 'clipNorm', 'expectedClients', 'sampling', 'serverLearningRate', 'adaptive', 'resolution']);
  if (options === undefined) throw new ConfideError('E_BAD_INPUT', '"options" expected DP-FedAvg options, got undefined', { field: 'options' });
  const noiseMultiplier = anumber(options.noiseMultiplier, 'noiseMultiplier', 0, 1e6, true);
  const clipNorm = anumber(options.clipNorm, 'clipNorm', 0, 1e12, true);
  const expectedClients = anumber(options.expectedClients, 'expectedClients', 0, 1e9, true);
  const serverLearningRate = options.serverLearningRate === undefined ? 1 : anumber(options.serverLearningRate, 'serverLearningRate', 0, 1e6, true);
  const resolution = options.resolution === undefined ? 2 ** 14 : ainteger(options.resolution, 'resolution', 16, 2 ** 20);
  const s = options.sampling as RoundSampling | undefined;
  let sampling: RoundSampling | null = null;
  if (s === undefined) sampling = null;
  else if (typeof s !== 'object' || s === null) throw new ConfideError('E_BAD_INPUT', `"sampling" expected { type: 'poisson', q } or { type: 'fixed', population, clients }, got ${describe(s)}`, { field: 'sampling' });
  else if (s.type === 'poisson') {
    aoptions(s, 'sampling', ['type', 'q']);
    sampling = { type: 'poisson', q: anumber(s.q, 'sampling.q', 0, 1, true) };
  } else if (s.type === 'fixed') {
    aoptions(s, 'sampling', ['type', 'population', 'clients']);
    const population = ainteger(s.population, 'sampling.population', 1);
    sampling = { type: 'fixed', population, clients: ainteger(s.clients, 'sampling.clients', 1, population) };
  } else throw new ConfideError('E_BAD_INPUT', `"sampling.type" expected 'poisson' or 'fixed', got ${describe((s as { type?: unknown }).type)}`, { field: 'sampling.type' });
  const r = { noiseMultiplier, clipNorm, expectedClients, sampling, serverLearningRate, resolution };
  if (options.adaptive === undefined) return r;
  const a = options.adaptive;
  aoptions(a, 'adaptive', ['targetQuantile', 'learningRate', 'countStddev']);
  if (typeof a !== 'object' || a === null) throw new ConfideError('E_BAD_INPUT', '"adaptive" expected an options object', { field: 'adaptive' });
  return {
    ...r,
    adaptive: {
      targetQuantile: a.targetQuantile === undefined ? 0.5 : anumber(a.targetQuantile, 'adaptive.targetQuantile', 0, 1),
      learningRate: a.learningRate === undefined ? 0.2 : anumber(a.learningRate, 'adaptive.learningRate', 0, 10, true),
      countStddev: a.countStddev === undefined ? expectedClients / 20 : anumber(a.countStddev, 'adaptive.countStddev', 0, 1e9, true),
    },
  };
}

/**
 * Clips `delta` to L2 norm `clipNorm` and encodes it in grid units of
 * clipNorm/resolution: stochastic rounding, then, if rounding pushed the
 * integer norm over `resolution`, rounding towards zero (which cannot), so
 * the integer vector's norm is at most `resolution` exactly. Returns the
 * integers and whether the update was clipped.
 */
export function clipAndEncode(delta: Float64Array, clipNorm: number, resolution: number, rng: Rng): { ints: Float64Array; clipped: boolean } {
  let sq = 0;
  for (let i = 0; i < delta.length; i++) sq += delta[i] * delta[i];
  const norm = Math.sqrt(sq);
  const clipped = norm > clipNorm;
  const scale = (resolution / clipNorm) * (clipped ? clipNorm / norm : 1);
  const ints = new Float64Array(delta.length);
  let isq = 0;
  for (let i = 0; i < delta.length; i++) {
    const x = delta[i] * scale, f = Math.floor(x);
    const k = rng.nextU32() / 2 ** 32 < x - f ? f + 1 : f;
    ints[i] = k;
    isq += k * k;
  }
  if (isq > resolution * resolution) for (let i = 0; i < delta.length; i++) ints[i] = Math.trunc(delta[i] * scale);
  return { ints, clipped };
}

export class DpFedAvg {
  readonly #o: ReturnType<typeof resolveOptions>;
  #clipNorm: number;
  #rounds = 0;

  constructor(options: DpFedAvgOptions) {
    this.#o = resolveOptions(options);
    this.#clipNorm = this.#o.clipNorm;
  }

  get clipNorm(): number {
    return this.#clipNorm;
  }

  get rounds(): number {
    return this.#rounds;
  }

  /** s: the factor on each client's clipped-or-not bit, so that its noise is σ_b in count units. */
  #bitScale(): number {
    const a = this.#o.adaptive;
    return a === undefined ? 0 : Math.max(1, Math.round((this.#o.noiseMultiplier * this.#o.resolution) / a.countStddev));
  }

  #samplingText(): string {
    const sp = this.#o.sampling;
    if (sp === null) return 'client sampling not stated, no amplification credited';
    return sp.type === 'poisson'
      ? `clients Poisson-sampled with q = ${sp.q}, amplification credited (poisson-sampled event)`
      : `${sp.clients} of ${sp.population} clients sampled, amplification not credited`;
  }

  /** How clients are sampled, as the accountant is told (null: not stated). */
  get sampling(): RoundSampling | null {
    return this.#o.sampling;
  }

  /** The options this instance was made with (resolved). */
  get expectedClients(): number {
    return this.#o.expectedClients;
  }

  /** Whether adaptive clipping is on. */
  get adaptive(): boolean {
    return this.#o.adaptive !== undefined;
  }

  /**
   * The privacy event of one round, in src/dp's grammar (the same every
   * round): the multivariate discrete Gaussian on the clipped sum, inside a
   * `poisson-sampled` event with Poisson sampling.
   */
  roundEvent(): PrivacyEvent {
    const R = this.#o.resolution, s = this.#bitScale();
    const event: PrivacyEvent = { type: 'discrete-gaussian', sigma: this.#o.noiseMultiplier * R, sensitivity: Math.ceil(Math.sqrt(R * R + s * s)) };
    const sp = this.#o.sampling;
    return sp !== null && sp.type === 'poisson' && sp.q < 1 ? { type: 'poisson-sampled', q: sp.q, event } : event;
  }

  /**
   * The clients' noise for distributed DP through secure aggregation with
   * `fracBits` fractional bits: per-client variance σ² = (z·2^f)²/qN in
   * encoded units (the qN expected clients' noise together is z·C on the sum,
   * as centrally), and with adaptive clipping the count coordinate's value
   * k = z/σ_b (so its noise is σ_b clients). Give both to `dpSecAggConfig`.
   */
  distributedNoise(fracBits = 16): { clientVariance: number; countScale?: number } {
    ainteger(fracBits, 'fracBits', 0, 52);
    const z = this.#o.noiseMultiplier;
    const clientVariance = Math.max(0.25, (z * 2 ** fracBits) ** 2 / this.#o.expectedClients);
    const a = this.#o.adaptive;
    return a === undefined ? { clientVariance } : { clientVariance, countScale: z / a.countStddev };
  }

  /**
   * One round with distributed noise. `noisySum` is Σ u_i + noise with
   * u_i = clip(Δ_i, C)/C the clients' normalised updates (module doc),
   * flattened in the tensor order of `global`, as secure aggregation released
   * it (its privacy already spent by that protocol); with adaptive clipping,
   * `noisyUnclipped` is the noisy count of clients that were not clipped.
   * Returns global + η·C·noisySum/qN, moves C as `aggregate` does, and counts
   * the round.
   */
  applySum(global: Tensors, noisySum: Float64Array, noisyUnclipped?: number): DpSumResult {
    atensors(global, 'global');
    const names = Object.keys(global);
    const x = flatten(global, names);
    if (!(noisySum instanceof Float64Array) || noisySum.length !== x.length)
      throw new ConfideError('E_BAD_INPUT', `"noisySum" expected a Float64Array of the model's ${x.length} parameters, got ${describe(noisySum)}`, { field: 'noisySum' });
    const a = this.#o.adaptive;
    if (a !== undefined) anumber(noisyUnclipped, 'noisyUnclipped', -1e15, 1e15);
    else if (noisyUnclipped !== undefined) throw new ConfideError('E_BAD_INPUT', '"noisyUnclipped" is only for adaptive clipping', { field: 'noisyUnclipped' });
    for (let i = 0; i < x.length; i++)
      if (!Number.isFinite(noisySum[i])) throw new ConfideError('E_BAD_INPUT', `"noisySum[${i}]" expected a finite number, got ${noisySum[i]}`, { field: 'noisySum' });
    const clipNorm = this.#clipNorm;
    const scale = (this.#o.serverLearningRate * clipNorm) / this.#o.expectedClients;
    for (let i = 0; i < x.length; i++) x[i] += noisySum[i] * scale;
    let unclippedFraction: number | undefined;
    if (a !== undefined) {
      unclippedFraction = noisyUnclipped! / this.#o.expectedClients;
      this.#clipNorm = clipNorm * Math.exp(-a.learningRate * (unclippedFraction - a.targetQuantile));
    }
    this.#rounds++;
    return { weights: unflatten(x, global), clipNorm, nextClipNorm: this.#clipNorm, ...(unclippedFraction === undefined ? {} : { unclippedFraction }) };
  }

  /**
   * One round: checks the budget (`ledger.preview`), clips and encodes every
   * update, spends the round's event through the ledger, and only then draws
   * the noise and releases the new weights. Throws E_BUDGET_EXCEEDED, having
   * changed nothing, when the round would exceed the dataset's budget.
   *
   * @param deltas the clients' updates (weights after local training minus `global`);
   *   an empty list is a round in which no sampled client answered, still noised and spent.
   */
  aggregate(global: Tensors, deltas: readonly Tensors[], options: DpRoundOptions): DpRoundResult {
    atensors(global, 'global');
    aoptions(options, 'options', ['ledger', 'dataset', 'principal', 'round', 'rng']);
    if (typeof options !== 'object' || options === null) throw new ConfideError('E_BAD_INPUT', '"options" expected { ledger, dataset, principal, round }', { field: 'options' });
    const ledger = options.ledger;
    if (typeof ledger !== 'object' || ledger === null || typeof (ledger as PrivacyLedger).spend !== 'function')
      throw new ConfideError('E_BAD_INPUT', `"ledger" expected a PrivacyLedger, got ${describe(ledger)}`, { field: 'ledger' });
    const dataset = astring(options.dataset, 'dataset', 200);
    const principal = astring(options.principal, 'principal', 200);
    const round = ainteger(options.round, 'round');
    const rng = options.rng === undefined ? systemRng() : arng(options.rng, 'rng');
    if (!Array.isArray(deltas)) throw new ConfideError('E_BAD_INPUT', `"deltas" expected an array of tensors, got ${describe(deltas)}`, { field: 'deltas' });
    deltas.forEach((d, i) => atensors(d, `deltas[${i}]`, global));
    const names = Object.keys(global);
    const R = this.#o.resolution, s = this.#bitScale();
    let d = 0;
    for (const n of names) d += global[n].length;
    if (!(d * R * R < TWO_53)) throw new ConfideError('E_OVERFLOW', `${d} parameters at resolution ${R} overflow exact integer norms; lower the resolution`, { field: 'resolution' });

    const before = ledger.odometer(dataset);
    if (before.method !== 'rdp' && before.method !== 'zcdp')
      throw new ConfideError('E_UNSUPPORTED', `dataset ${describe(dataset)} is accounted by ${before.method}; DP-FedAvg's multivariate discrete Gaussian rounds need the RDP or zCDP accountant (set its budget with method 'rdp')`, { field: 'dataset' });
    const event = this.roundEvent();
    const preview = ledger.preview(dataset, event);
    if (!preview.fits)
      throw new ConfideError(
        'E_BUDGET_EXCEEDED',
        `training stops before round ${round}: it would bring the ${before.unit === 'rho' ? 'ρ' : 'ε'} spent on ${describe(dataset)} from ${before.spent} to ${preview.spent}, over the budget of ${preview.budget}`,
        { field: 'dataset', details: { dataset, round, spent: before.spent, requested: preview.spent, budget: preview.budget } },
      );

    const sum = new Float64Array(d);
    let unclipped = 0;
    for (const delta of deltas) {
      const { ints, clipped } = clipAndEncode(flatten(delta, names), this.#clipNorm, R, rng);
      for (let i = 0; i < d; i++) sum[i] += ints[i];
      if (!clipped) unclipped++;
    }
    const receipt = ledger.spend({
      dataset,
      event,
      principal,
      purpose: `federated training round ${round}`,
      query: `DP-FedAvg: sum of ${d} clipped parameters (C = ${this.#clipNorm}, z = ${this.#o.noiseMultiplier})${s > 0 ? ' and the count of unclipped updates' : ''}; ${this.#samplingText()}`,
    });

    const sigma = this.#o.noiseMultiplier * R;
    const sampler = discreteGaussianSampler(sigma * sigma * (1 + 2 ** -50));
    const noise = sampler.fill(new Float64Array(d + (s > 0 ? 1 : 0)), rng);
    const g = this.#clipNorm / R;
    const step = new Float64Array(d);
    const scale = (this.#o.serverLearningRate * g) / this.#o.expectedClients;
    for (let i = 0; i < d; i++) step[i] = (sum[i] + noise[i]) * scale;
    const x = flatten(global, names);
    for (let i = 0; i < d; i++) x[i] += step[i];
    const clipNorm = this.#clipNorm;
    let unclippedFraction: number | undefined;
    if (this.#o.adaptive !== undefined) {
      const a = this.#o.adaptive;
      unclippedFraction = (unclipped * s + noise[d]) / s / this.#o.expectedClients;
      this.#clipNorm = clipNorm * Math.exp(-a.learningRate * (unclippedFraction - a.targetQuantile));
    }
    this.#rounds++;
    return { weights: unflatten(x, global), receipt, clipNorm, nextClipNorm: this.#clipNorm, clients: deltas.length, ...(unclippedFraction === undefined ? {} : { unclippedFraction }) };
  }

  toJSON(): DpFedAvgState {
    const { sampling, ...rest } = this.#o;
    return { strategy: 'dp-fedavg', options: { ...rest, ...(sampling === null ? {} : { sampling }) }, clipNorm: this.#clipNorm, rounds: this.#rounds };
  }

  static fromState(state: unknown): DpFedAvg {
    if (typeof state !== 'object' || state === null || Array.isArray(state))
      throw new ConfideError('E_BAD_INPUT', `"state" expected a DP-FedAvg state, got ${describe(state)}`, { field: 'state' });
    const s = state as DpFedAvgState;
    aoptions(s, 'state', ['strategy', 'options', 'clipNorm', 'rounds']);
    if (s.strategy !== 'dp-fedavg') throw new ConfideError('E_BAD_INPUT', `"state.strategy" expected 'dp-fedavg', got ${describe(s.strategy)}`, { field: 'state.strategy' });
    const out = new DpFedAvg(s.options);
    out.#clipNorm = anumber(s.clipNorm, 'state.clipNorm', 0, 1e12, true);
    out.#rounds = ainteger(s.rounds, 'state.rounds');
    return out;
  }
}
