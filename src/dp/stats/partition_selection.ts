/**
 * Differentially private partition selection: which groups to release when
 * the set of groups is not known in advance (a group that exists only because
 * of one person would otherwise reveal that person).
 *
 * Input per partition: the number n of distinct privacy units in it, after
 * each unit was bounded to at most L0 = `maxPartitionsContributed` partitions
 * (for 'weighted-gaussian', the partition's weight sum instead, where a unit
 * with k <= L0 partitions gives each of them 1/√k).
 *
 * Strategies, for a budget (ε, δ) covering the whole selection over all partitions:
 *
 * - 'truncated-geometric' (default): the optimal selection of Desfontaines,
 *   Voss, Gipson, Mandayam, "Differentially private partition selection",
 *   PoPETs 2022 (Thm. 1): the largest keep probability p(n) allowed by
 *   p(n+1) <= e^ε' p(n) + δ' and 1 - p(n) <= e^ε' (1 - p(n+1)) + δ', p(0) = 0,
 *   with per-partition (ε', δ') = (ε/L0, δ/L0). The closed form has three
 *   pieces: p(n) = δ'(e^{nε'} - 1)/(e^ε' - 1) up to the first crossover n₁,
 *   then 1 - p(n) = e^{-(n-n₁)ε'}(1 - p(n₁)) - δ'(1 - e^{-(n-n₁)ε'})/(e^ε' - 1),
 *   then 1. Google's library and PipelineDP use it by default.
 * - 'laplace': keep iff n + X >= T, X discrete Laplace of scale L0/ε (the count
 *   vector has L1 sensitivity L0), T the least integer with P(1 + X >= T) <= δ/L0.
 * - 'gaussian': keep iff n + Y >= T, Y the discrete Gaussian N_Z(0, σ²) with σ
 *   for (ε, δ/2) at L2 sensitivity √L0 (exact CKS20 Thm 7 δ for L0 = 1, the
 *   ρ-zCDP conversion of CKS20 Prop. 12 otherwise), T the least integer with
 *   P(1 + Y >= T) <= (δ/2)/L0 (as Google's library splits δ: half noise, half threshold).
 * - 'weighted-gaussian': Gopi, Gulhane, Kulkarni, Shen, Shokouhi, Yekhanin,
 *   "Differentially private set union", ICML 2020 (policy Gaussian, Thm. B.2
 *   of the arXiv version): keep iff w + N(0, σ²) >= ρ, σ the analytic Gaussian
 *   σ (Balle and Wang 2018) for (ε, δ/2) at L2 sensitivity 1, and
 *   ρ = max_{1<=t<=L0} (1/√t + σ Φ⁻¹((1 - δ/2)^{1/t})).
 *
 * Why the whole selection is (ε, δ)-DP (add or remove one unit): partitions
 * the unit shares with others change their input by at most 1 each (L0 of
 * them; weighted: L2 norm 1), which the noise covers with ε (thresholding; for
 * truncated-geometric each of the L0 decisions is (ε', δ')-DP and they compose
 * to (ε, δ)). A partition that exists only because of the unit (n = 1, or
 * weight 1/√t among its t partitions) is kept with probability at most δ/L0
 * (truncated-geometric, laplace), (δ/2)/L0 (gaussian), or the t of them
 * together with probability at most δ/2 (weighted-gaussian), which is the δ
 * part. Google's library uses 1 - (1 - δ)^{1/L0} per partition, which is
 * larger than δ/L0 by a factor 1 + O(δ); δ/L0 follows from basic composition.
 *
 * Randomness and rounding: 'laplace' and 'gaussian' decide with the exact
 * integer samplers, so the decision is exact. The other two draw a coin with a
 * floating-point probability p, exactly: a uniform 53-bit integer is compared
 * with p·2^53, and on a tie the comparison goes on with the fraction, so the
 * coin has exactly the probability of the double p. The coin is on the
 * smaller of p and 1 - p, each computed directly (never as 1 minus a rounded
 * value), so both the keep and the drop probability carry relative error only.
 * That error (a few ulps) is covered by computing p for a slightly smaller
 * budget, (1 - 2^-20)·(ε', δ') for truncated-geometric, and δ·(1 - 1e-9) with a
 * threshold rounded up for the Gaussian ones: the slack is far above the
 * rounding for ε' >= 1e-9 (below, the formulas still run, without that proof).
 */
import { ainteger, anumber, aoneof, aoptions, apositive } from '../../core/assert.ts';
import { ConfideError } from '../../core/errors.ts';
import { arng, systemRng, type Rng } from '../../core/random.ts';
import { discreteSigmaFor, rhoFor } from '../mechanisms.ts';
import { analyticGaussianSigma, discreteGaussianDelta, normalCdf } from '../calibration.ts';
import { approx, type Guarantee, type PrivacyEvent } from '../guarantee.ts';
import { arational, type Rational } from '../rational.ts';
import { discreteGaussianSampler, discreteLaplaceSampler } from '../samplers.ts';

export type PartitionSelectionStrategy = 'truncated-geometric' | 'laplace' | 'gaussian' | 'weighted-gaussian';

export const PARTITION_SELECTION_STRATEGIES: readonly PartitionSelectionStrategy[] = ['truncated-geometric', 'laplace', 'gaussian', 'weighted-gaussian'];

export interface PartitionSelectorOptions {
  /** Default 'truncated-geometric'. */
  strategy?: PartitionSelectionStrategy;
  /** ε for the whole selection, > 0. */
  epsilon: number;
  /** δ for the whole selection, in (0, 1): selection is impossible with δ = 0. */
  delta: number;
  /** L0: the most partitions one unit contributes to (after bounding). */
  maxPartitionsContributed: number;
}

export interface PartitionSelector {
  readonly strategy: PartitionSelectionStrategy;
  readonly epsilon: number;
  readonly delta: number;
  readonly maxPartitionsContributed: number;
  /** The keep probability for a partition with this many units (weighted-gaussian: this weight sum), as the decision uses it. */
  probability(n: number): number;
  /** 1 - probability(n), computed directly: accurate where probability(n) rounds to 1 (the decision draws on it there). */
  dropProbability(n: number): number;
  /** The random decision for one partition. */
  keep(n: number, rng?: Rng): boolean;
  /** The least integer n with probability(n) >= level, for level in (0, 1): how many units a group needs to be likely to appear. */
  unitsNeeded(level: number): number;
  /** (ε, δ) for the whole selection over all partitions. */
  readonly guarantee: Guarantee;
  /** The ledger's record: an epsilon-delta event named 'partition-selection:<strategy>'. */
  readonly event: PrivacyEvent;
  /** The parameters the decision uses, for reports. */
  readonly parameters: Readonly<Record<string, number>>;
}

const TWO_53 = 2 ** 53;
/** Relative budget held back from the truncated geometric so that rounding in p cannot cross the constraints. */
const GEOMETRIC_SLACK = 2 ** -20;
/** δ aimed at by the Gaussian calibrations and thresholds, relative (as mechanisms.ts does). */
const DELTA_MARGIN = 1e-9;

/**
 * A coin with exactly the probability of the double p (p in [0, 1]): compare a
 * uniform integer below 2^53 with p·2^53 (exact: a power-of-two scaling); on a
 * tie (probability 2^-53) continue with the fractional part.
 */
export function coinWithProbability(p: number, rng: Rng): boolean {
  for (;;) {
    if (!(p > 0)) return false;
    if (p >= 1) return true;
    const x = p * TWO_53;
    const k = Math.floor(x);
    const u = rng.uniformInt(TWO_53);
    if (u !== k) return u < k;
    p = x - k;
  }
}

/** A keep decision whose smaller side is known with relative accuracy. */
interface KeepProbability {
  /** P(keep), used when <= 1/2. */
  keep: number;
  /** P(drop), used when keep > 1/2. */
  drop: number;
}

function decide(kp: KeepProbability, rng: Rng): boolean {
  return kp.keep <= 0.5 ? coinWithProbability(kp.keep, rng) : !coinWithProbability(kp.drop, rng);
}

// ---------------------------------------------------------------------------
// Truncated geometric (Desfontaines et al. 2022, Thm. 1)

class TruncatedGeometric {
  readonly eps: number;
  readonly delta: number;
  /** e^ε - 1. */
  readonly em1: number;
  /** The last n computed by the first piece. */
  readonly n1: number;
  /** 1 - p(n₁), computed directly. */
  readonly q1: number;
  /** The first n with p(n) = 1. */
  readonly n2: number;

  constructor(eps: number, delta: number) {
    this.eps = eps;
    this.delta = delta;
    this.em1 = Math.expm1(eps);
    // The first piece p(k+1) = e^ε p(k) + δ is the binding constraint while
    // p(k) <= p* = (1 - e^-ε)(1 - δ)/(e^ε - e^-ε), i.e. for k <= K with
    // e^{Kε} <= 1 + tanh(ε/2)(1/δ - 1); the paper's first crossover is n₁ = K + 1.
    const pStar = (-Math.expm1(-eps) * (1 - delta)) / (2 * Math.sinh(eps));
    let k = Math.max(0, Math.floor(Math.log1p(Math.tanh(eps / 2) * (1 / delta - 1)) / eps));
    // Correct by steps so that rounding in the closed form cannot shift the crossover.
    while (k > 0 && this.#first(k) > pStar) k--;
    while (this.#first(k + 1) <= pStar) k++;
    this.n1 = k + 1;
    const p1 = this.#first(this.n1);
    this.q1 = 1 - p1; // p1 < 1/2 here, so this subtraction is exact to an ulp
    // Second crossover: the last n whose second-piece drop probability is still > 0.
    let m = Math.max(0, Math.floor(Math.log1p((this.em1 / delta) * this.q1) / eps));
    while (m > 0 && this.#second(m) <= 0) m--;
    while (this.#second(m + 1) > 0) m++;
    this.n2 = this.n1 + m + 1;
  }

  /** δ(e^{nε} - 1)/(e^ε - 1). */
  #first(n: number): number {
    return n === 0 ? 0 : (this.delta * Math.expm1(n * this.eps)) / this.em1;
  }

  /** 1 - p(n₁ + m) = e^{-mε}(1 - p(n₁)) + δ(e^{-mε} - 1)/(e^ε - 1), no large terms cancelling for tiny ε. */
  #second(m: number): number {
    return Math.exp(-m * this.eps) * this.q1 + (this.delta * Math.expm1(-m * this.eps)) / this.em1;
  }

  at(n: number): KeepProbability {
    if (n === 0) return { keep: 0, drop: 1 };
    if (n <= this.n1) {
      const p = this.#first(n);
      return { keep: p, drop: 1 - p };
    }
    if (n >= this.n2) return { keep: 1, drop: 0 };
    const q = Math.max(0, this.#second(n - this.n1));
    return { keep: 1 - q, drop: q };
  }
}

// ---------------------------------------------------------------------------
// Discrete noise tails

/** P(X >= k) for the discrete Laplace with P(x) ∝ e^{-|x|/b}. */
function laplaceTail(b: number, k: number): KeepProbability {
  const r = Math.exp(-1 / b);
  // P(X >= k) = r^k/(1 + r) for k >= 1; P(X <= -k) is the same by symmetry.
  if (k >= 1) {
    const t = Math.exp(-k / b) / (1 + r);
    return { keep: t, drop: 1 - t };
  }
  const t = Math.exp(-(1 - k) / b) / (1 + r); // P(X <= k - 1) = P(X >= 1 - k)
  return { keep: 1 - t, drop: t };
}

/** The discrete Gaussian N_Z(0, σ²): tails by direct summation (O(σ) terms). */
class DiscreteGaussianTail {
  readonly sigma: number;
  readonly #z: number;
  readonly #limit: number;
  constructor(sigma: number) {
    this.sigma = sigma;
    // Beyond 39σ every term is below e^{-760}: nothing left in double precision.
    this.#limit = Math.ceil(39 * sigma) + 2;
    this.#z = 1 + 2 * this.#sumFrom(1);
  }
  /** Σ_{y >= k} e^{-y²/2σ²} for k >= 1, summed from the small end so that nothing is lost. */
  #sumFrom(k: number): number {
    const inv = 1 / (2 * this.sigma * this.sigma);
    let s = 0;
    for (let y = this.#limit; y >= k; y--) s += Math.exp(-y * y * inv);
    return s;
  }
  /** P(Y >= k) and P(Y < k). */
  tail(k: number): KeepProbability {
    if (k >= 1) {
      const t = this.#sumFrom(k) / this.#z;
      return { keep: t, drop: 1 - t };
    }
    const t = this.#sumFrom(1 - k) / this.#z; // P(Y <= k - 1) = P(Y >= 1 - k)
    return { keep: 1 - t, drop: t };
  }
}

/** The least integer k with tail(k).keep <= target, tail decreasing in k (from a starting guess). */
function leastThreshold(tail: (k: number) => number, guess: number, target: number): number {
  let k = Math.ceil(guess);
  while (tail(k) > target) k++;
  while (tail(k - 1) <= target) k--;
  return k;
}

// ---------------------------------------------------------------------------
// Gaussian calibration helpers

/** z with Φ(-z) <= u (u in (0, 1/2]), the least such to 1e-13 relative: the upper u-quantile, rounded up. */
function upperQuantile(u: number): number {
  let lo = 0, hi = 1;
  while (normalCdf(-hi) > u) {
    lo = hi;
    hi *= 2;
  }
  for (let i = 0; i < 200 && hi - lo > 1e-13 * hi; i++) {
    const mid = (lo + hi) / 2;
    if (normalCdf(-mid) > u) lo = mid;
    else hi = mid;
  }
  return hi;
}

// ---------------------------------------------------------------------------
// The selector

function bad(field: string, message: string): never {
  throw new ConfideError('E_BAD_INPUT', `"${field}" ${message}`, { field });
}

/** The least integer n >= 0 with p(n) >= level, p non-decreasing and reaching level. */
function leastN(p: (n: number) => number, level: number): number {
  let hi = 1;
  while (p(hi) < level) {
    hi *= 2;
    if (hi > 2 ** 52) throw new ConfideError('E_OVERFLOW', 'unitsNeeded: no n below 2^52 reaches the level', { field: 'level' });
  }
  if (p(0) >= level) return 0;
  let lo = 0; // p(lo) < level <= p(hi)
  while (hi - lo > 1) {
    const mid = Math.floor((lo + hi) / 2);
    if (p(mid) >= level) hi = mid;
    else lo = mid;
  }
  return hi;
}

/**
 * A partition selector for one release: `keep(n)` for each candidate
 * partition, all under one (ε, δ) budget (see the top of this file).
 */
export function partitionSelector(options: PartitionSelectorOptions): PartitionSelector {
  if (options === undefined) bad('options', 'expected an options object, got undefined');
  aoptions(options, 'options', ['strategy', 'epsilon', 'delta', 'maxPartitionsContributed']);
  const strategy = options.strategy === undefined ? 'truncated-geometric' : aoneof(options.strategy, 'strategy', PARTITION_SELECTION_STRATEGIES);
  const epsilon = apositive(options.epsilon, 'epsilon');
  const delta = anumber(options.delta, 'delta', 0, 1, true);
  if (delta >= 1) bad('delta', `expected a number in (0, 1), got ${delta}`);
  const l0 = ainteger(options.maxPartitionsContributed, 'maxPartitionsContributed', 1);

  let at: (n: number) => KeepProbability;
  let keepFn: (n: number, rng: Rng) => boolean;
  let parameters: Record<string, number>;
  const integerInput = strategy !== 'weighted-gaussian';

  if (strategy === 'truncated-geometric') {
    const epsPer = epsilon / l0, deltaPer = delta / l0;
    const tg = new TruncatedGeometric(epsPer * (1 - GEOMETRIC_SLACK), deltaPer * (1 - GEOMETRIC_SLACK));
    at = (n) => tg.at(n);
    keepFn = (n, rng) => decide(tg.at(n), rng);
    parameters = { epsilonPerPartition: epsPer, deltaPerPartition: deltaPer, firstCrossover: tg.n1, alwaysKeptFrom: tg.n2 };
  } else if (strategy === 'laplace') {
    // Scale L0/ε exactly (a rational), as discreteLaplaceMechanism builds it.
    const eps = arational(epsilon, 'epsilon');
    const scale: Rational = { num: BigInt(l0) * eps.den, den: eps.num };
    const sampler = discreteLaplaceSampler(scale);
    const b = l0 / epsilon;
    const target = (delta / l0) * (1 - DELTA_MARGIN);
    // P(1 + X >= T) = P(X >= T - 1) <= δ/L0; the closed form b·ln(1/(δ'(1 + e^{-1/b}))) starts the search.
    const k = leastThreshold((k) => laplaceTail(b, k).keep, b * Math.log(1 / (target * (1 + Math.exp(-1 / b)))), target);
    const threshold = k + 1;
    at = (n) => laplaceTail(b, threshold - n);
    keepFn = (n, rng) => n + Number(sampler.sample(rng)) >= threshold;
    parameters = { scale: b, threshold, deltaPerPartition: delta / l0 };
  } else if (strategy === 'gaussian') {
    const noiseDelta = (delta / 2) * (1 - DELTA_MARGIN);
    const sigma = l0 === 1 ? discreteSigmaFor(epsilon, noiseDelta, 1) : Math.sqrt(l0 / (2 * rhoFor(epsilon, noiseDelta)));
    // σ² rounded up by one part in 2^50 so that σ·σ's rounding cannot leave less noise than calibrated.
    const sigma2 = arational(sigma * sigma * (1 + 2 ** -50), 'sigma2');
    const sampler = discreteGaussianSampler(sigma2);
    const dg = new DiscreteGaussianTail(sigma);
    const target = (delta / 2 / l0) * (1 - DELTA_MARGIN);
    const k = leastThreshold((k) => dg.tail(k).keep, sigma * upperQuantile(target), target);
    const threshold = k + 1;
    at = (n) => dg.tail(threshold - n);
    keepFn = (n, rng) => n + Number(sampler.sample(rng)) >= threshold;
    parameters = { sigma, threshold, deltaPerPartition: delta / 2 / l0 };
  } else {
    const sigma = analyticGaussianSigma(epsilon, (delta / 2) * (1 - DELTA_MARGIN), 1);
    const thresholdDelta = (delta / 2) * (1 - DELTA_MARGIN);
    let rho = -Infinity;
    // Gopi et al.: a unit with t partitions puts 1/√t in each; none of them may cross
    // with probability above δ/2: P(1/√t + σZ < ρ)^t >= 1 - δ/2.
    for (let t = 1; t <= l0; t++) {
      const u = -Math.expm1(Math.log1p(-thresholdDelta) / t); // 1 - (1 - δ/2)^{1/t}
      rho = Math.max(rho, 1 / Math.sqrt(t) + sigma * upperQuantile(u));
    }
    rho *= 1 + 1e-12; // rounding in the sum above must not lower the threshold
    const threshold = rho;
    at = (w) => {
      const x = (w - threshold) / sigma;
      return x < 0 ? { keep: normalCdf(x), drop: 1 - normalCdf(x) } : { keep: 1 - normalCdf(-x), drop: normalCdf(-x) };
    };
    keepFn = (w, rng) => decide(at(w), rng);
    parameters = { sigma, threshold };
  }

  const input = (n: unknown): number => (integerInput ? ainteger(n, 'n') : anumber(n, 'n', 0));
  const probability = (n: number) => at(n).keep;
  return {
    strategy,
    epsilon,
    delta,
    maxPartitionsContributed: l0,
    probability: (n: number) => probability(input(n)),
    dropProbability: (n: number) => at(input(n)).drop,
    keep: (n: number, rng?: Rng) => {
      const x = input(n);
      return keepFn(x, rng === undefined ? systemRng() : arng(rng));
    },
    unitsNeeded: (level: number) => {
      anumber(level, 'level', 0, 1, true);
      if (level >= 1) bad('level', `expected a number in (0, 1), got ${level}`);
      return leastN(probability, level);
    },
    guarantee: approx(epsilon, delta),
    event: { type: 'epsilon-delta', epsilon, delta, name: `partition-selection:${strategy}` },
    parameters: Object.freeze(parameters),
  };
}
