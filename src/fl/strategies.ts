/**
 * Server strategies: how the coordinator turns the clients' updates of one
 * round into the next global model. Every strategy works on updates
 * Δ_i = (client's weights after local training) − (global weights sent), so
 * a strategy never needs to know whether the client returned weights or a
 * delta. Each keeps its whole state (optimiser moments, round count) in a
 * JSON value, so a coordinator can checkpoint it and resume exactly.
 *
 * Formulas (x the global weights, n_i client i's examples, K clients):
 *
 *   FedAvg      x ← x + η Σ n_i Δ_i / Σ n_i                   McMahan et al. 2017, Alg. 1 (η = 1)
 *   FedAvgM     v ← β v + Δ̄;  x ← x + η v                     Hsu, Qi, Brown 2019 (server momentum)
 *   FedProx     server as FedAvg; clients minimise f(w) + (μ/2)‖w − x‖²   Li et al. 2020
 *   FedAdagrad  m ← β1 m + (1−β1) Δ̄;  v ← v + Δ̄²                 Reddi et al. 2021, Alg. 2
 *   FedYogi     m as above;  v ← v − (1−β2) Δ̄² sign(v − Δ̄²)
 *   FedAdam     m as above;  v ← β2 v + (1−β2) Δ̄²
 *               x ← x + η m / (√v + τ), with v₋₁ = τ² (the paper's v₋₁ ≥ τ²) and no bias correction
 *   FedMedian   x ← x + median_i Δ_i, per coordinate            Yin et al. 2018
 *   trimmed     x ← x + mean of Δ_i without the ⌊βK⌋ largest and ⌊βK⌋ smallest, per coordinate (Yin et al. 2018)
 *   Krum        x ← x + Δ_k, k = argmin_i Σ_{j ∈ N_i} ‖Δ_i − Δ_j‖², N_i the K − f − 2 nearest others
 *               (Blanchard et al. 2017, needs K ≥ 2f + 3)
 *
 * Δ̄ is the example-weighted mean. The robust rules (median, trimmed mean,
 * Krum) ignore example counts: a Byzantine client could inflate its count.
 */
import { ainteger, anumber, aoptions } from '../core/assert.ts';
import { ConfideError, describe } from '../core/errors.ts';
import { accumulateTensors } from './_accumulate.ts';
import { atensors, atensorShape, flatten, tensorsFromJson, tensorsToJson, unflatten, type Tensors, type TensorsJson } from './tensors.ts';

/** One client's contribution to a round. */
export interface ClientUpdate {
  /** The client's weights after local training minus the global weights it started from. */
  readonly delta: Tensors;
  /** How many training examples the client used (FedAvg's weight). */
  readonly examples: number;
}

export type StrategyName = 'fedavg' | 'fedavgm' | 'fedprox' | 'fedadam' | 'fedyogi' | 'fedadagrad' | 'fedmedian' | 'trimmed-mean' | 'krum';

export const STRATEGY_NAMES: readonly StrategyName[] = ['fedavg', 'fedavgm', 'fedprox', 'fedadam', 'fedyogi', 'fedadagrad', 'fedmedian', 'trimmed-mean', 'krum'];

/** Values a strategy asks clients to use in `fit` (e.g. FedProx's μ). */
export type FitConfig = Record<string, number | string | boolean>;

/** A strategy's whole state as JSON: enough to continue exactly where it stopped. */
export interface StrategyState {
  readonly strategy: StrategyName;
  readonly options: Record<string, number>;
  /** Rounds aggregated so far. */
  readonly rounds: number;
  /** Server optimiser state (FedAvgM: v; adaptive: m and v), base64 float32. */
  readonly moments?: Record<string, TensorsJson>;
}

export interface Strategy {
  readonly name: StrategyName;
  /** Rounds aggregated so far. */
  readonly rounds: number;
  /** What clients are told to use in local training this round. */
  fitConfig(): FitConfig;
  /**
   * The next global model from the current one and this round's updates
   * (at least one; every delta shaped like `global`). Advances the state.
   */
  aggregate(global: Tensors, updates: readonly ClientUpdate[]): Tensors;
  /**
   * Mean-based strategies only: the same step from the round's weighted sum,
   * `sum` = Σ n_i Δ_i (flat, float64, in `global`'s name order, added in the
   * updates' order) and `examples` = Σ n_i. For the same updates it gives
   * `aggregate`'s result to the last bit. When a strategy has it, the
   * coordinator adds each update to the sum as it arrives instead of holding
   * them all until the deadline.
   */
  aggregateSum?(global: Tensors, sum: Float64Array, examples: number): Tensors;
  toJSON(): StrategyState;
}

export interface FedAvgOptions {
  /** Server learning rate η (default 1: plain averaging). */
  serverLearningRate?: number;
}
export interface FedAvgMOptions {
  /** η (default 1). */
  serverLearningRate?: number;
  /** β (default 0.9). */
  momentum?: number;
}
export interface FedProxOptions extends FedAvgOptions {
  /** μ of the client's proximal term (μ/2)‖w − x‖² (> 0). */
  mu: number;
}
export interface AdaptiveOptions {
  /** Server learning rate η (default 0.1 for FedAdam and FedAdagrad, 0.01 for FedYogi). */
  eta?: number;
  /** Adaptivity τ (default 1e-3). */
  tau?: number;
  /** Momentum β1 (default 0.9). */
  beta1?: number;
  /** Second-moment decay β2 (default 0.99; unused by FedAdagrad). */
  beta2?: number;
}
export interface TrimmedMeanOptions {
  /** Fraction β trimmed from each end per coordinate, in [0, 0.5). */
  beta: number;
}
export interface KrumOptions {
  /** Number f of Byzantine clients tolerated (needs at least 2f + 3 updates). */
  f: number;
}

// ---------------------------------------------------------------------------
// Shared pieces

interface Flat {
  names: string[];
  deltas: Float64Array[];
  examples: number[];
}

/** Checks the updates against the global model and flattens them. */
function flatUpdates(global: Tensors, updates: unknown): Flat {
  atensors(global, 'global');
  if (!Array.isArray(updates) || updates.length === 0)
    throw new ConfideError('E_BAD_INPUT', `"updates" expected a non-empty array of client updates, got ${describe(updates)}`, { field: 'updates' });
  const names = Object.keys(global);
  const deltas: Float64Array[] = [];
  const examples: number[] = [];
  updates.forEach((u, i) => {
    if (typeof u !== 'object' || u === null) throw new ConfideError('E_BAD_INPUT', `"updates[${i}]" expected { delta, examples }, got ${describe(u)}`, { field: `updates[${i}]` });
    atensors((u as ClientUpdate).delta, `updates[${i}].delta`, global);
    examples.push(ainteger((u as ClientUpdate).examples, `updates[${i}].examples`, 1));
    deltas.push(flatten((u as ClientUpdate).delta, names));
  });
  return { names, deltas, examples };
}

/**
 * Σ n_k Δ_k and Σ n_k over the updates, in the array's order, flat in the
 * global model's name order, checked against the global model: what a
 * mean-based strategy needs of a round. Accumulates straight from the
 * float32 tensors (no float64 copy of each update), checking each update's
 * finiteness in the same pass (a NaN or infinity names its culprit).
 */
function weightedSum(global: Tensors, updates: unknown): { sum: Float64Array; examples: number } {
  atensors(global, 'global');
  if (!Array.isArray(updates) || updates.length === 0)
    throw new ConfideError('E_BAD_INPUT', `"updates" expected a non-empty array of client updates, got ${describe(updates)}`, { field: 'updates' });
  const names = Object.keys(global);
  const sum = new Float64Array(parameterCountOf(global, names));
  let examples = 0;
  updates.forEach((u, k) => {
    if (typeof u !== 'object' || u === null) throw new ConfideError('E_BAD_INPUT', `"updates[${k}]" expected { delta, examples }, got ${describe(u)}`, { field: `updates[${k}]` });
    const delta = atensorShape((u as ClientUpdate).delta, `updates[${k}].delta`, global);
    const w = ainteger((u as ClientUpdate).examples, `updates[${k}].examples`, 1);
    examples += w;
    if (!accumulateTensors(sum, names, delta, w)) atensors(delta, `updates[${k}].delta`, global);
  });
  return { sum, examples };
}

/** Checks the shape of a weighted sum handed to `aggregateSum` (its values are checked while the step is computed). */
function asum(global: Tensors, sum: unknown, examples: unknown): number {
  const n = parameterCountOf(global, Object.keys(global));
  if (!(sum instanceof Float64Array) || sum.length !== n)
    throw new ConfideError('E_BAD_INPUT', `"sum" expected a Float64Array of the model's ${n} parameters, got ${describe(sum)}`, { field: 'sum' });
  return ainteger(examples, 'examples', 1);
}

/** Refuses a sum with a non-finite value, naming the first. */
function nonFiniteSum(sum: Float64Array): never {
  let i = 0;
  while (Number.isFinite(sum[i])) i++;
  throw new ConfideError('E_BAD_INPUT', `"sum[${i}]" expected a finite number, got ${describe(sum[i])}`, { field: `sum[${i}]` });
}

function parameterCountOf(t: Tensors, names: readonly string[]): number {
  let n = 0;
  for (const name of names) n += t[name].length;
  return n;
}

/** x + step, rounded once to float32. */
function applyStep(global: Tensors, names: readonly string[], step: Float64Array): Tensors {
  const x = flatten(global, names);
  for (let i = 0; i < x.length; i++) x[i] += step[i];
  return unflatten(x, global);
}

/**
 * x + η·(sum / total), rounded once to float32, tensor by tensor: FedAvg's
 * step without a float64 copy of the model or of the step. The same IEEE
 * operations per value as mean = sum/total, step = η·mean, x = g + step.
 * Undefined when a value of the sum is not finite.
 */
function fedAvgStep(global: Tensors, names: readonly string[], sum: Float64Array, total: number, eta: number): Tensors | undefined {
  const out: Tensors = {};
  let off = 0;
  for (const name of names) {
    const g = global[name];
    // Not zero-filled: every value is written.
    const x = new Float32Array(Buffer.allocUnsafeSlow(4 * g.length).buffer, 0, g.length);
    if (!meanStepInto(x, g, sum, off, total, eta)) return undefined;
    out[name] = x;
    off += g.length;
  }
  return out;
}

/** One tensor of `fedAvgStep`; false when a value of the sum is not finite (x·0 is NaN then, and NaN sticks). */
function meanStepInto(x: Float32Array, g: Float32Array, sum: Float64Array, off: number, total: number, eta: number): boolean {
  let s = 0;
  for (let i = 0; i < x.length; i++) {
    const v = sum[off + i];
    s += v * 0;
    x[i] = g[i] + eta * (v / total);
  }
  return s === 0;
}

function numberOption(o: Record<string, unknown> | undefined, key: string, dflt: number, min: number, max: number, exclusiveMin: boolean): number {
  const v = o?.[key];
  return v === undefined ? dflt : anumber(v, key, min, max, exclusiveMin);
}

function rejectUnlessRounds(rounds: unknown): number {
  return ainteger(rounds, 'state.rounds');
}

// ---------------------------------------------------------------------------
// Mean-based strategies: FedAvg, FedAvgM, FedProx, FedAdam, FedYogi, FedAdagrad

type MeanKind = 'fedavg' | 'fedavgm' | 'fedprox' | 'fedadam' | 'fedyogi' | 'fedadagrad';

class MeanStrategy implements Strategy {
  readonly name: MeanKind;
  readonly #options: Record<string, number>;
  #rounds = 0;
  /** FedAvgM: v; adaptive: m and v (flat, in the global model's name order). */
  #m: Float64Array | null = null;
  #v: Float64Array | null = null;
  #like: Tensors | null = null;

  constructor(name: MeanKind, options: Record<string, number>) {
    this.name = name;
    this.#options = options;
  }

  get rounds(): number {
    return this.#rounds;
  }

  fitConfig(): FitConfig {
    return this.name === 'fedprox' ? { proximalMu: this.#options.mu } : {};
  }

  aggregate(global: Tensors, updates: readonly ClientUpdate[]): Tensors {
    // weightedSum checks the global model (finite values included) and every update.
    const { sum, examples } = weightedSum(global, updates);
    return this.#step(global, sum, examples);
  }

  aggregateSum(global: Tensors, sum: Float64Array, examples: number): Tensors {
    atensors(global, 'global');
    return this.#step(global, sum, asum(global, sum, examples));
  }

  /** The round's step from Σ n_k Δ_k (flat) and Σ n_k; the caller has checked the global model, this its shape against earlier rounds. */
  #step(global: Tensors, sum: Float64Array, total: number): Tensors {
    const names = Object.keys(global);
    const o = this.#options;
    if (this.#like !== null) atensorShape(global, 'global', this.#like);
    if (this.name === 'fedavg' || this.name === 'fedprox') {
      const out = fedAvgStep(global, names, sum, total, o.serverLearningRate) ?? nonFiniteSum(sum);
      this.#like ??= global;
      this.#rounds++;
      return out;
    }
    // Δ̄ = Σ n_k Δ_k / Σ n_k (a new array: the sum is the caller's), then the step in the same array.
    const mean = new Float64Array(sum.length);
    let finite = 0;
    for (let i = 0; i < mean.length; i++) {
      finite += sum[i] * 0;
      mean[i] = sum[i] / total;
    }
    if (finite !== 0) nonFiniteSum(sum);
    this.#like ??= global;
    let step: Float64Array;
    if (this.name === 'fedavgm') {
      const v = (this.#v ??= new Float64Array(mean.length));
      for (let i = 0; i < v.length; i++) v[i] = o.momentum * v[i] + mean[i];
      step = mean;
      for (let i = 0; i < v.length; i++) step[i] = o.serverLearningRate * v[i];
    } else {
      const m = (this.#m ??= new Float64Array(mean.length));
      const v = (this.#v ??= new Float64Array(mean.length).fill(o.tau * o.tau));
      step = mean;
      for (let i = 0; i < mean.length; i++) {
        const d = mean[i], d2 = d * d;
        m[i] = o.beta1 * m[i] + (1 - o.beta1) * d;
        if (this.name === 'fedadagrad') v[i] = v[i] + d2;
        else if (this.name === 'fedyogi') v[i] = v[i] - (1 - o.beta2) * d2 * Math.sign(v[i] - d2);
        else v[i] = o.beta2 * v[i] + (1 - o.beta2) * d2;
        step[i] = (o.eta * m[i]) / (Math.sqrt(v[i]) + o.tau);
      }
    }
    this.#rounds++;
    return applyStep(global, names, step);
  }

  /** Rounds the running moments to float32 (what toJSON saves), so that a restored run continues bit for bit. */
  roundMoments(): void {
    for (const x of [this.#m, this.#v]) if (x !== null) for (let i = 0; i < x.length; i++) x[i] = Math.fround(x[i]);
  }

  toJSON(): StrategyState {
    const moments: Record<string, TensorsJson> = {};
    if (this.#like !== null) {
      if (this.#m) moments.m = tensorsToJson(unflatten(this.#m, this.#like));
      if (this.#v) moments.v = tensorsToJson(unflatten(this.#v, this.#like));
    }
    return { strategy: this.name, options: { ...this.#options }, rounds: this.#rounds, ...(Object.keys(moments).length ? { moments } : {}) };
  }

  /** Restores moments saved by toJSON (float32, exactly as they were saved). */
  restore(state: StrategyState): this {
    this.#rounds = rejectUnlessRounds(state.rounds);
    const mo = state.moments;
    if (mo !== undefined) {
      const allowed = this.name === 'fedavgm' ? ['v'] : this.name === 'fedavg' || this.name === 'fedprox' ? [] : ['m', 'v'];
      for (const k of Object.keys(mo)) if (!allowed.includes(k)) throw new ConfideError('E_BAD_INPUT', `"state.moments.${k}" is not a moment of ${this.name}`, { field: `state.moments.${k}` });
      const v = mo.v === undefined ? undefined : tensorsFromJson(mo.v, 'state.moments.v');
      const m = mo.m === undefined ? undefined : tensorsFromJson(mo.m, 'state.moments.m');
      const like = v ?? m;
      if (like !== undefined) {
        if (m && v) atensors(m, 'state.moments.m', v);
        const names = Object.keys(like);
        this.#like = like;
        this.#v = v ? flatten(v, names) : null;
        this.#m = m ? flatten(m, names) : null;
      }
    }
    return this;
  }
}

/**
 * Moments are kept in float64 while running but saved as float32, so to make
 * "save, restore, continue" equal to "continue", the running moments are
 * rounded to float32 after every round as well.
 */
class RoundedMeanStrategy extends MeanStrategy {
  override aggregate(global: Tensors, updates: readonly ClientUpdate[]): Tensors {
    const out = super.aggregate(global, updates);
    this.roundMoments();
    return out;
  }

  override aggregateSum(global: Tensors, sum: Float64Array, examples: number): Tensors {
    const out = super.aggregateSum(global, sum, examples);
    this.roundMoments();
    return out;
  }
}

// ---------------------------------------------------------------------------
// Robust strategies

function median(xs: Float64Array): number {
  xs.sort();
  const n = xs.length, h = n >> 1;
  return n % 2 === 1 ? xs[h] : (xs[h - 1] + xs[h]) / 2;
}

class RobustStrategy implements Strategy {
  readonly name: 'fedmedian' | 'trimmed-mean' | 'krum';
  readonly #options: Record<string, number>;
  #rounds = 0;

  constructor(name: 'fedmedian' | 'trimmed-mean' | 'krum', options: Record<string, number>) {
    this.name = name;
    this.#options = options;
  }

  get rounds(): number {
    return this.#rounds;
  }

  fitConfig(): FitConfig {
    return {};
  }

  aggregate(global: Tensors, updates: readonly ClientUpdate[]): Tensors {
    const f = flatUpdates(global, updates);
    const K = f.deltas.length, d = f.deltas[0].length;
    let step: Float64Array;
    if (this.name === 'krum') step = f.deltas[krumIndex(f.deltas, this.#options.f)];
    else {
      const trim = this.name === 'trimmed-mean' ? Math.floor(this.#options.beta * K) : 0;
      step = new Float64Array(d);
      const col = new Float64Array(K);
      for (let i = 0; i < d; i++) {
        for (let k = 0; k < K; k++) col[k] = f.deltas[k][i];
        if (this.name === 'fedmedian') step[i] = median(col);
        else {
          col.sort();
          let s = 0;
          for (let k = trim; k < K - trim; k++) s += col[k];
          step[i] = s / (K - 2 * trim);
        }
      }
    }
    this.#rounds++;
    return applyStep(global, f.names, step);
  }

  toJSON(): StrategyState {
    return { strategy: this.name, options: { ...this.#options }, rounds: this.#rounds };
  }

  restore(state: StrategyState): this {
    this.#rounds = rejectUnlessRounds(state.rounds);
    if (state.moments !== undefined) throw new ConfideError('E_BAD_INPUT', `"state.moments": ${this.name} has no moments`, { field: 'state.moments' });
    return this;
  }
}

/**
 * Krum's choice (Blanchard et al. 2017, §4): the update whose K − f − 2
 * nearest other updates are closest in summed squared distance. Ties go to
 * the lowest index.
 */
export function krumIndex(deltas: readonly Float64Array[], f: number): number {
  const K = deltas.length;
  ainteger(f, 'f');
  if (K < 2 * f + 3)
    throw new ConfideError('E_PROTOCOL', `Krum with f = ${f} needs at least ${2 * f + 3} updates, got ${K}`, { field: 'updates', details: { f, updates: K } });
  const dist = Array.from({ length: K }, () => new Float64Array(K));
  for (let a = 0; a < K; a++)
    for (let b = a + 1; b < K; b++) {
      let s = 0;
      const x = deltas[a], y = deltas[b];
      for (let i = 0; i < x.length; i++) s += (x[i] - y[i]) ** 2;
      dist[a][b] = dist[b][a] = s;
    }
  const m = K - f - 2;
  let best = 0, bestScore = Infinity;
  for (let a = 0; a < K; a++) {
    const others = Array.from(dist[a]).filter((_, b) => b !== a).sort((p, q) => p - q);
    let score = 0;
    for (let j = 0; j < m; j++) score += others[j];
    if (score < bestScore) {
      best = a;
      bestScore = score;
    }
  }
  return best;
}

// ---------------------------------------------------------------------------
// Constructors

const KEYS: Record<StrategyName, readonly string[]> = {
  fedavg: ['serverLearningRate'],
  fedavgm: ['serverLearningRate', 'momentum'],
  fedprox: ['serverLearningRate', 'mu'],
  fedadam: ['eta', 'tau', 'beta1', 'beta2'],
  fedyogi: ['eta', 'tau', 'beta1', 'beta2'],
  fedadagrad: ['eta', 'tau', 'beta1'],
  fedmedian: [],
  'trimmed-mean': ['beta'],
  krum: ['f'],
};

/** Full options of a strategy with defaults filled in and every value checked. */
function resolveOptions(name: StrategyName, options: object | undefined): Record<string, number> {
  aoptions(options, 'options', KEYS[name]);
  const o = options as Record<string, unknown> | undefined;
  switch (name) {
    case 'fedavg':
      return { serverLearningRate: numberOption(o, 'serverLearningRate', 1, 0, Infinity, true) };
    case 'fedavgm':
      return { serverLearningRate: numberOption(o, 'serverLearningRate', 1, 0, Infinity, true), momentum: numberOption(o, 'momentum', 0.9, 0, 1, false) };
    case 'fedprox': {
      if (o?.mu === undefined) throw new ConfideError('E_BAD_INPUT', '"mu" expected a finite number > 0, got undefined', { field: 'mu' });
      return { serverLearningRate: numberOption(o, 'serverLearningRate', 1, 0, Infinity, true), mu: anumber(o.mu, 'mu', 0, Infinity, true) };
    }
    case 'fedadam':
    case 'fedyogi':
    case 'fedadagrad': {
      const r: Record<string, number> = {
        eta: numberOption(o, 'eta', name === 'fedyogi' ? 0.01 : 0.1, 0, Infinity, true),
        tau: numberOption(o, 'tau', 1e-3, 0, Infinity, true),
        beta1: numberOption(o, 'beta1', 0.9, 0, 1, false),
      };
      if (r.beta1 >= 1) throw new ConfideError('E_BAD_INPUT', '"beta1" expected a number in [0, 1)', { field: 'beta1' });
      if (name !== 'fedadagrad') {
        r.beta2 = numberOption(o, 'beta2', 0.99, 0, 1, false);
        if (r.beta2 >= 1) throw new ConfideError('E_BAD_INPUT', '"beta2" expected a number in [0, 1)', { field: 'beta2' });
      }
      return r;
    }
    case 'fedmedian':
      return {};
    case 'trimmed-mean': {
      const beta = anumber(o?.beta, 'beta', 0, 0.5);
      if (beta >= 0.5) throw new ConfideError('E_BAD_INPUT', `"beta" expected a number in [0, 0.5), got ${beta}`, { field: 'beta' });
      return { beta };
    }
    case 'krum':
      return { f: ainteger(o?.f, 'f') };
  }
}

/** A strategy by name (as the CLI's --strategy takes it). */
export function createStrategy(name: StrategyName, options?: object): Strategy {
  if (typeof name !== 'string' || !STRATEGY_NAMES.includes(name))
    throw new ConfideError('E_BAD_INPUT', `"strategy" expected one of ${STRATEGY_NAMES.join(', ')}, got ${describe(name)}`, { field: 'strategy' });
  const o = resolveOptions(name, options);
  switch (name) {
    case 'fedmedian':
    case 'trimmed-mean':
    case 'krum':
      return new RobustStrategy(name, o);
    default:
      return new RoundedMeanStrategy(name, o);
  }
}

/** Restores a strategy from `toJSON()` output (parsed JSON). */
export function strategyFromState(state: unknown): Strategy {
  if (typeof state !== 'object' || state === null || Array.isArray(state))
    throw new ConfideError('E_BAD_INPUT', `"state" expected a strategy state object, got ${describe(state)}`, { field: 'state' });
  const s = state as StrategyState;
  aoptions(s, 'state', ['strategy', 'options', 'rounds', 'moments']);
  const strategy = createStrategy(s.strategy, s.options) as RoundedMeanStrategy | RobustStrategy;
  return strategy.restore(s);
}

export const fedAvg = (options?: FedAvgOptions): Strategy => createStrategy('fedavg', options);
export const fedAvgM = (options?: FedAvgMOptions): Strategy => createStrategy('fedavgm', options);
export const fedProx = (options: FedProxOptions): Strategy => createStrategy('fedprox', options);
export const fedAdam = (options?: AdaptiveOptions): Strategy => createStrategy('fedadam', options);
export const fedYogi = (options?: AdaptiveOptions): Strategy => createStrategy('fedyogi', options);
export const fedAdagrad = (options?: Omit<AdaptiveOptions, 'beta2'>): Strategy => createStrategy('fedadagrad', options);
export const fedMedian = (): Strategy => createStrategy('fedmedian');
export const trimmedMean = (options: TrimmedMeanOptions): Strategy => createStrategy('trimmed-mean', options);
export const krum = (options: KrumOptions): Strategy => createStrategy('krum', options);
