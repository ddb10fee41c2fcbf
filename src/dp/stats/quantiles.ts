/**
 * DP quantiles by the hierarchical histogram ("quantile tree") of Google's
 * differential-privacy library (cc/algorithms/quantile-tree.h and
 * common_docs/Differentially_Private_Quantile_Trees.pdf): [lower, upper] is
 * cut into branching^height equal leaves; a value increments one node per
 * level along its path; at release every node gets independent integer noise;
 * a quantile is found by descending from the root, choosing at each level the
 * child where the noisy cumulative count crosses the target, then
 * interpolating linearly inside the node reached.
 *
 * As in the library: a negative noisy count counts as 0; a child whose noisy
 * count is below α = 0.005 of its siblings' total is treated as empty (noise
 * on an empty node); if all children are empty the descent stops and
 * interpolates in the current node; the crossing test allows 1e-6 of
 * tolerance. All of that is post-processing.
 *
 * Storage is sparse: only non-empty leaves are kept (internal counts are sums
 * of leaves, computed at release), so memory grows with the number of distinct
 * leaves hit, not with branching^height. Noise is drawn only for the nodes a
 * descent reads, and cached for the release, which has the same distribution
 * as noising every node first (unread noise cannot affect the output). Trees
 * merge by adding counts, so shards can be reduced before one release.
 *
 * Sensitivity (add or remove one privacy unit): the unit touches at most L0 =
 * maxPartitionsContributed trees, with at most Linf = maxContributionsPerPartition
 * rows in each. A row adds 1 to exactly one node per level, so in one tree the
 * changes at one level are non-negative integers summing to at most Linf:
 * L1 at most Linf, L2² at most Linf² (all in one node). Over `height` levels and
 * L0 trees: L1 <= L0·Linf·height and L2² <= L0·height·Linf². Hence
 * - Laplace: discrete Laplace of scale L0·Linf·height/ε per node, ε-DP (pure);
 * - Gaussian: discrete Gaussian with σ² = L0·height·Linf²/(2ρ) per node,
 *   ρ-zCDP (CKS20 Thm 14: a multivariate discrete Gaussian shift v costs ||v||²/(2σ²)).
 */
import { ainteger, anumber, aobject, aoptions, apositive } from '../../core/assert.ts';
import { ConfideError, describe } from '../../core/errors.ts';
import { arng, systemRng, type Rng } from '../../core/random.ts';
import { pure, zcdp, type Guarantee, type PrivacyEvent } from '../guarantee.ts';
import { arational } from '../rational.ts';
import { discreteGaussianSampler, discreteLaplaceSampler, type DiscreteGaussian, type DiscreteLaplace } from '../samplers.ts';

/** Google's defaults: 16^4 = 65,536 leaves. */
export const DEFAULT_TREE_HEIGHT = 4;
export const DEFAULT_BRANCHING_FACTOR = 16;
/** Children below this fraction of their siblings' noisy total are treated as empty (Google's kAlpha). */
export const QUANTILE_TREE_ALPHA = 0.005;
/** Tolerance of the crossing test (Google's kNumericalTolerance). */
const TOLERANCE = 1e-6;
/** Leaves are indexed by doubles: at most 2^48 of them. */
const MAX_LEAVES = 2 ** 48;
const JSON_VERSION = 1;

export interface QuantileTreeOptions {
  lower: number;
  upper: number;
  /** Levels below the root (default 4). */
  height?: number;
  /** Children per node (default 16). */
  branching?: number;
}

function shapeError(field: string, message: string): never {
  throw new ConfideError('E_BAD_INPUT', `"${field}" ${message}`, { field });
}

/** The exact counts of one group's values on a quantile tree (not DP by itself). */
export class QuantileTree {
  readonly lower: number;
  readonly upper: number;
  readonly height: number;
  readonly branching: number;
  readonly leaves: number;
  /** Non-empty leaves: index -> count. */
  readonly #counts = new Map<number, number>();
  #count = 0;
  #clamped = 0;

  constructor(options: QuantileTreeOptions) {
    if (options === undefined) shapeError('options', 'expected an options object, got undefined');
    aoptions(options, 'options', ['lower', 'upper', 'height', 'branching']);
    this.lower = anumber(options.lower, 'lower');
    this.upper = anumber(options.upper, 'upper');
    if (!(this.upper > this.lower)) shapeError('upper', `expected a number > lower (${this.lower}), got ${describe(options.upper)}`);
    if (!Number.isFinite(this.upper - this.lower)) shapeError('upper', 'expected upper - lower to be a finite number');
    this.height = options.height === undefined ? DEFAULT_TREE_HEIGHT : ainteger(options.height, 'height', 1, 48);
    this.branching = options.branching === undefined ? DEFAULT_BRANCHING_FACTOR : ainteger(options.branching, 'branching', 2, 2 ** 24);
    this.leaves = this.branching ** this.height;
    if (this.leaves > MAX_LEAVES) shapeError('height', `expected branching^height <= 2^48, got ${this.branching}^${this.height}`);
  }

  /** Rows added (exact, not DP: for the engine's own bookkeeping). */
  get count(): number {
    return this.#count;
  }

  /** Rows whose value lay outside [lower, upper] and were clamped. */
  get clamped(): number {
    return this.#clamped;
  }

  /** Non-empty leaves (the memory the tree holds). */
  get size(): number {
    return this.#counts.size;
  }

  /** The leaf of a value: ⌊(x - lower)/(upper - lower)·leaves⌋, the top end in the last leaf. */
  leafOf(value: number): number {
    const f = (value - this.lower) / (this.upper - this.lower);
    const i = Math.floor(f * this.leaves);
    return i < 0 ? 0 : i >= this.leaves ? this.leaves - 1 : i;
  }

  /** Adds one row; non-finite values are refused, values outside [lower, upper] clamped and counted. */
  add(value: number): void {
    if (typeof value !== 'number' || !Number.isFinite(value)) anumber(value, 'value');
    if (value < this.lower || value > this.upper) this.#clamped++;
    const leaf = this.leafOf(value);
    this.#counts.set(leaf, (this.#counts.get(leaf) ?? 0) + 1);
    this.#count++;
  }

  #sameShape(other: QuantileTree, field: string): void {
    if (!(other instanceof QuantileTree)) shapeError(field, `expected a QuantileTree, got ${describe(other)}`);
    if (other.lower !== this.lower || other.upper !== this.upper || other.height !== this.height || other.branching !== this.branching)
      shapeError(
        field,
        `expected a tree of the same shape ([${this.lower}, ${this.upper}], height ${this.height}, branching ${this.branching}), got ` +
          `[${other.lower}, ${other.upper}], height ${other.height}, branching ${other.branching}`,
      );
  }

  /** Adds another tree's counts (same bounds and shape) into this one. */
  merge(other: QuantileTree): void {
    this.#sameShape(other, 'other');
    if (other === this) shapeError('other', 'expected a different tree (merging a tree into itself would double it)');
    for (const [leaf, c] of other.#counts) this.#counts.set(leaf, (this.#counts.get(leaf) ?? 0) + c);
    this.#count += other.#count;
    this.#clamped += other.#clamped;
  }

  /** The non-empty leaves in index order, as [index, count] pairs. */
  entries(): [number, number][] {
    return [...this.#counts].sort((a, b) => a[0] - b[0]);
  }

  toJSON(): QuantileTreeJson {
    return {
      version: JSON_VERSION,
      lower: this.lower,
      upper: this.upper,
      height: this.height,
      branching: this.branching,
      count: this.#count,
      clamped: this.#clamped,
      leaves: this.entries(),
    };
  }

  /** Reads `toJSON` output (parsed), checking every field: counts must add up. */
  static fromJSON(json: unknown): QuantileTree {
    const o = aobject(json, 'json');
    for (const k of Object.keys(o))
      if (!['version', 'lower', 'upper', 'height', 'branching', 'count', 'clamped', 'leaves'].includes(k))
        throw new ConfideError('E_DECODE', `"json.${k}" is not a field of a quantile tree`, { field: `json.${k}` });
    if (o.version !== JSON_VERSION)
      throw new ConfideError('E_DECODE', `"json.version" expected ${JSON_VERSION}, got ${describe(o.version)}`, { field: 'json.version' });
    const tree = new QuantileTree({ lower: o.lower as number, upper: o.upper as number, height: o.height as number, branching: o.branching as number });
    const count = ainteger(o.count, 'json.count');
    const clamped = ainteger(o.clamped, 'json.clamped', 0, count);
    if (!Array.isArray(o.leaves)) throw new ConfideError('E_DECODE', '"json.leaves" expected an array of [index, count]', { field: 'json.leaves' });
    let sum = 0;
    for (let i = 0; i < o.leaves.length; i++) {
      const e = o.leaves[i] as unknown;
      if (!Array.isArray(e) || e.length !== 2)
        throw new ConfideError('E_DECODE', `"json.leaves[${i}]" expected [index, count]`, { field: `json.leaves[${i}]` });
      const leaf = ainteger(e[0], `json.leaves[${i}][0]`, 0, tree.leaves - 1);
      const c = ainteger(e[1], `json.leaves[${i}][1]`, 1);
      if (tree.#counts.has(leaf)) throw new ConfideError('E_DECODE', `"json.leaves[${i}]" repeats leaf ${leaf}`, { field: `json.leaves[${i}]` });
      tree.#counts.set(leaf, c);
      sum += c;
    }
    if (sum !== count)
      throw new ConfideError('E_DECODE', `"json.count" is ${count} but the leaves hold ${sum}`, { field: 'json.count' });
    tree.#count = count;
    tree.#clamped = clamped;
    return tree;
  }
}

export interface QuantileTreeJson {
  version: number;
  lower: number;
  upper: number;
  height: number;
  branching: number;
  count: number;
  clamped: number;
  leaves: [number, number][];
}

export interface ReleaseQuantilesOptions {
  /** Discrete Laplace noise: pure ε-DP. Exactly one of epsilon and rho. */
  epsilon?: number;
  /** Discrete Gaussian noise: ρ-zCDP. */
  rho?: number;
  /** L0: the most trees (groups) one unit contributes to. */
  maxPartitionsContributed: number;
  /** Linf: the most rows one unit adds to one tree. */
  maxContributionsPerPartition: number;
  rng?: Rng;
}

export interface QuantilesRelease {
  /** Per tree, per requested quantile; non-decreasing in q within each tree. */
  values: number[][];
  guarantee: Guarantee;
  event: PrivacyEvent;
  /** The noise every node got, in counts. */
  noise: { distribution: 'discrete-laplace' | 'discrete-gaussian'; scale: number };
}

/** Noisy node counts of one tree for one release, drawn as the descent reads them. */
class NoisyTree {
  readonly #tree: QuantileTree;
  /** Per level (1..height): node index -> exact count, from the leaves. */
  readonly #levels: Map<number, number>[];
  readonly #noisy = new Map<string, number>();
  readonly #noise: () => number;

  constructor(tree: QuantileTree, noise: () => number) {
    this.#tree = tree;
    this.#noise = noise;
    const { height, branching } = tree;
    this.#levels = Array.from({ length: height + 1 }, () => new Map<number, number>());
    for (const [leaf, c] of tree.entries()) {
      let node = leaf;
      for (let level = height; level >= 1; level--) {
        const m = this.#levels[level];
        m.set(node, (m.get(node) ?? 0) + c);
        node = Math.floor(node / branching);
      }
    }
  }

  count(level: number, node: number): number {
    const key = `${level}:${node}`;
    let v = this.#noisy.get(key);
    if (v === undefined) {
      v = (this.#levels[level].get(node) ?? 0) + this.#noise();
      this.#noisy.set(key, v);
    }
    return v;
  }

  /** Google's descent (see the top of this file). */
  quantile(q: number): number {
    const { height, branching, lower, upper } = this.#tree;
    const kids = new Float64Array(branching);
    let node = 0;
    let level = 0;
    while (level < height) {
      let total = 0;
      for (let j = 0; j < branching; j++) {
        kids[j] = Math.max(0, this.count(level + 1, node * branching + j));
        total += kids[j];
      }
      if (total <= 0) break;
      let corrected = 0;
      for (let j = 0; j < branching; j++) {
        if (kids[j] < total * QUANTILE_TREE_ALPHA) kids[j] = 0;
        corrected += kids[j];
      }
      if (corrected <= 0) break;
      let partial = 0;
      let chosen = -1;
      for (let j = 0; j < branching; j++) {
        if (kids[j] === 0) continue;
        partial += kids[j];
        chosen = j;
        if (partial / corrected >= q - TOLERANCE) break;
      }
      // The child's share of the target, rescaled to its own range.
      const before = partial - kids[chosen];
      q = Math.min(1, Math.max(0, (q - before / corrected) / (kids[chosen] / corrected)));
      node = node * branching + chosen;
      level++;
    }
    const width = (upper - lower) / branching ** level;
    const lo = lower + node * width;
    return Math.min(upper, Math.max(lower, lo + q * width));
  }
}

/**
 * Releases quantiles of many trees (one per group) under one budget: each
 * unit changes at most `maxPartitionsContributed` trees, by at most
 * `maxContributionsPerPartition` rows each (the caller bounds contributions
 * first; the guarantee is void otherwise).
 */
export function releaseQuantiles(trees: readonly QuantileTree[], quantiles: readonly number[], options: ReleaseQuantilesOptions): QuantilesRelease {
  if (!Array.isArray(trees)) shapeError('trees', `expected an array of QuantileTree, got ${describe(trees)}`);
  for (let i = 0; i < trees.length; i++)
    if (!(trees[i] instanceof QuantileTree)) shapeError(`trees[${i}]`, `expected a QuantileTree, got ${describe(trees[i])}`);
  if (!Array.isArray(quantiles) || quantiles.length === 0) shapeError('quantiles', `expected a non-empty array of numbers in [0, 1], got ${describe(quantiles)}`);
  const qs = quantiles.map((q, i) => anumber(q, `quantiles[${i}]`, 0, 1));
  if (options === undefined) shapeError('options', 'expected an options object, got undefined');
  aoptions(options, 'options', ['epsilon', 'rho', 'maxPartitionsContributed', 'maxContributionsPerPartition', 'rng']);
  if ((options.epsilon === undefined) === (options.rho === undefined))
    shapeError('options', 'expected exactly one of epsilon (Laplace noise) and rho (discrete Gaussian noise)');
  const l0 = ainteger(options.maxPartitionsContributed, 'maxPartitionsContributed', 1);
  const linf = ainteger(options.maxContributionsPerPartition, 'maxContributionsPerPartition', 1);
  const rng = options.rng === undefined ? systemRng() : arng(options.rng, 'rng');
  // Every tree of one release must share the height: the sensitivity depends on it.
  const height = trees.length > 0 ? trees[0].height : DEFAULT_TREE_HEIGHT;
  for (let i = 1; i < trees.length; i++)
    if (trees[i].height !== height) shapeError(`trees[${i}]`, `expected height ${height} like trees[0], got ${trees[i].height}`);

  let sampler: DiscreteLaplace | DiscreteGaussian;
  let guarantee: Guarantee, event: PrivacyEvent, noise: QuantilesRelease['noise'];
  if (options.epsilon !== undefined) {
    const epsilon = apositive(options.epsilon, 'epsilon');
    const l1 = l0 * linf * height;
    if (!Number.isSafeInteger(l1)) throw new ConfideError('E_OVERFLOW', 'L0·Linf·height exceeds 2^53', { field: 'maxPartitionsContributed' });
    const eps = arational(epsilon, 'epsilon');
    // Scale L1/ε exactly, as a rational.
    sampler = discreteLaplaceSampler({ num: BigInt(l1) * eps.den, den: eps.num });
    guarantee = pure(epsilon);
    event = { type: 'discrete-laplace', a: epsilon / l1, sensitivity: l1 };
    noise = { distribution: 'discrete-laplace', scale: l1 / epsilon };
  } else {
    const rho = apositive(options.rho, 'rho');
    const l2sq = l0 * height * linf * linf;
    if (!Number.isSafeInteger(l2sq)) throw new ConfideError('E_OVERFLOW', 'L0·height·Linf² exceeds 2^53', { field: 'maxPartitionsContributed' });
    const r = arational(rho, 'rho');
    // σ² = L0·height·Linf²/(2ρ), exact.
    sampler = discreteGaussianSampler({ num: BigInt(l2sq) * r.den, den: 2n * r.num });
    const sigma = Math.sqrt(l2sq / (2 * rho));
    guarantee = zcdp(rho);
    // With Linf = 1 a unit shifts at most L0·height nodes by exactly 1: the
    // composition of that many scalar discrete Gaussians with Δ = 1, which the
    // PLD accountant composes exactly. With Linf > 1 the shift per level may be
    // spread over several nodes, so only its ρ is stated.
    event = linf === 1 ? { type: 'self-composed', count: l0 * height, event: { type: 'discrete-gaussian', sigma, sensitivity: 1 } } : { type: 'zcdp', rho };
    noise = { distribution: 'discrete-gaussian', scale: sigma };
  }
  const draw = () => Number(sampler.sample(rng));
  // Quantiles in increasing order, so monotonicity can be enforced as post-processing.
  const order = qs.map((_, i) => i).sort((a, b) => qs[a] - qs[b]);
  const values = trees.map((tree) => {
    const noisy = new NoisyTree(tree, draw);
    const out = new Array<number>(qs.length);
    let prev = -Infinity;
    for (const i of order) {
      prev = Math.max(prev, noisy.quantile(qs[i]));
      out[i] = prev;
    }
    return out;
  });
  return { values, guarantee, event, noise };
}
