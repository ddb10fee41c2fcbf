/**
 * Who shares masks with whom. SecAgg (Bonawitz et al. CCS 2017) pairs every
 * client with every other: the complete graph, O(n) work and traffic per
 * client. SecAgg+ (Bell et al. CCS 2020) pairs each client only with its k
 * neighbours in a Harary graph H(n, k) whose nodes are placed in a uniformly
 * random order, with k = O(log n), so work per client is O(log n) and the
 * server's O(n log n).
 *
 * H(n, k) for even k is the circulant graph in which position p is joined to
 * positions p ± 1, ..., p ± k/2 (mod n). The order of the clients on the
 * circle comes from a public seed that the server draws and announces; every
 * client rebuilds the same graph from it.
 *
 * `secaggParameters` picks the degree k and the threshold t for n clients, a
 * dropout rate δ and a corrupt fraction γ (clients colluding with the
 * server), with a statistical security parameter σ and a correctness
 * parameter η. Its three conditions (bounds derived here, in the manner of
 * Bell et al. 2020, section 3 and appendix; the constants are ours):
 *
 * 1. Correctness: every client's secrets stay recoverable. A client's k
 *    neighbours are a uniformly random k-subset of the others, so the number
 *    that drop is dominated in the Chernoff sense by Binomial(k, δ)
 *    (Hoeffding 1963, section 6: sampling without replacement obeys the same
 *    bound). With D the binary KL divergence, the union over n clients gives
 *    n · exp(-k · D((k - t + 1)/k ‖ δ)) ≤ 2^-η.
 * 2. Shares stay private: the corrupt neighbours of an honest client, which
 *    with the server could reconstruct both its self-mask seed and its mask
 *    key, are fewer than t: n · exp(-k · D(t/k ‖ γ)) ≤ 2^-σ.
 * 3. The honest survivors stay connected, so that the server learns only the
 *    whole sum and no partial sum of a component: in H(n, k) with nodes
 *    removed, the rest is disconnected only if two disjoint runs of k/2
 *    consecutive positions are all removed. With a fraction ρ = γ + δ removed
 *    and a random order, a given set of k positions is all removed with
 *    probability at most ρ^k, so the union over pairs of starts gives
 *    (n² / 2) · ρ^k ≤ 2^-σ.
 *
 * The chooser takes the smallest even k (or the complete graph, k = n - 1)
 * for which some t meets all three, and the largest such t up to a majority
 * of the holders (t > (k + 1)/2 keeps a server from collecting both shares of
 * one client under two inconsistent survivor sets).
 */
import { ainteger, anumber, aoptions, abytes } from '../core/assert.ts';
import { ConfideError } from '../core/errors.ts';
import { seededRng } from '../core/random.ts';

export interface SecAggGraph {
  /** 'complete' or 'harary'. */
  readonly kind: 'complete' | 'harary';
  /** Number of clients (nodes 0 .. n - 1). */
  readonly n: number;
  /** Neighbours per node (n - 1 for the complete graph). */
  readonly degree: number;
  /** The neighbours of node i, sorted ascending (i itself excluded). */
  neighbours(i: number): readonly number[];
  /** True when i and j are neighbours. */
  adjacent(i: number, j: number): boolean;
}

class CompleteGraph implements SecAggGraph {
  readonly kind = 'complete';
  readonly n: number;
  readonly degree: number;
  readonly #cache = new Map<number, number[]>();
  constructor(n: number) {
    this.n = n;
    this.degree = n - 1;
  }
  neighbours(i: number): readonly number[] {
    let a = this.#cache.get(i);
    if (a === undefined) {
      a = [];
      for (let j = 0; j < this.n; j++) if (j !== i) a.push(j);
      if (this.#cache.size > 64) this.#cache.clear();
      this.#cache.set(i, a);
    }
    return a;
  }
  adjacent(i: number, j: number): boolean {
    return i !== j && i >= 0 && j >= 0 && i < this.n && j < this.n;
  }
}

class HararyGraph implements SecAggGraph {
  readonly kind = 'harary';
  readonly n: number;
  readonly degree: number;
  readonly #pos: Int32Array;
  readonly #adj: number[][];
  constructor(n: number, k: number, order: number[]) {
    this.n = n;
    this.degree = k;
    this.#pos = new Int32Array(n);
    order.forEach((node, p) => (this.#pos[node] = p));
    this.#adj = [];
    const h = k / 2;
    for (let i = 0; i < n; i++) {
      const p = this.#pos[i];
      const a: number[] = [];
      for (let d = 1; d <= h; d++) a.push(order[(p + d) % n], order[(p - d + n) % n]);
      this.#adj.push(a.sort((x, y) => x - y));
    }
  }
  neighbours(i: number): readonly number[] {
    return this.#adj[i];
  }
  adjacent(i: number, j: number): boolean {
    if (i === j || i < 0 || j < 0 || i >= this.n || j >= this.n) return false;
    const d = Math.abs(this.#pos[i] - this.#pos[j]);
    return Math.min(d, this.n - d) <= this.degree / 2;
  }
}

/** The complete graph on n clients (SecAgg). */
export function completeGraph(n: number): SecAggGraph {
  ainteger(n, 'n', 2, 1_000_000);
  return new CompleteGraph(n);
}

/**
 * The Harary graph H(n, k) with nodes placed on the circle in the order a
 * 32-byte public seed determines (SecAgg+). k must be even; k ≥ n - 1 gives
 * the complete graph.
 */
export function hararyGraph(n: number, k: number, seed: Uint8Array): SecAggGraph {
  ainteger(n, 'n', 2, 1_000_000);
  ainteger(k, 'k', 2, 1_000_000);
  abytes(seed, 'seed', 32);
  if (k >= n - 1) return new CompleteGraph(n);
  if (k % 2 !== 0) throw new ConfideError('E_BAD_INPUT', `"k" expected an even degree below n - 1, got ${k}`, { field: 'k' });
  // The order is public (it only has to be unpredictable to the clients
  // before they are enrolled), so a seeded ChaCha20 stream is the right tool.
  const order = seededRng(seed).shuffle(Array.from({ length: n }, (_, i) => i));
  return new HararyGraph(n, k, order);
}

/** Binary KL divergence D(a ‖ p) in nats. */
function kl(a: number, p: number): number {
  const term = (x: number, y: number) => (x === 0 ? 0 : x * Math.log(x / y));
  return term(a, p) + term(1 - a, 1 - p);
}

/** log2 of the Chernoff bound on P[Binomial(k, p) ≥ m] (0 when m/k ≤ p). */
function log2Tail(k: number, p: number, m: number): number {
  if (m > k) return -Infinity;
  const a = m / k;
  if (a <= p) return 0;
  if (p === 0) return -Infinity;
  return (-k * kl(a, p)) / Math.LN2;
}

export interface ParameterOptions {
  /** Clients that start the round. */
  clients: number;
  /** Expected fraction of clients that drop out before the end, in [0, 1). */
  dropoutRate: number;
  /** Fraction of clients that may collude with the server, in [0, 1). */
  corruptFraction: number;
  /** Statistical security parameter σ: privacy failures below 2^-σ (default 40). */
  securityBits?: number;
  /** Correctness parameter η: failed rounds below 2^-η (default 20). */
  correctnessBits?: number;
}

export interface SecAggParameters {
  graph: 'complete' | 'harary';
  /** Neighbours per client. */
  degree: number;
  /** Shamir threshold t: shares held by a client's neighbours and itself. */
  threshold: number;
  /** log2 bounds of the three failure events (see the module doc). */
  log2Failure: { correctness: number; sharePrivacy: number; disconnection: number };
}

/**
 * The smallest Harary degree k and a threshold t meeting the three
 * conditions of the module doc, or the complete graph when no smaller k
 * does. Throws E_BAD_INPUT when even the complete graph cannot meet them
 * (too many dropouts or corrupt clients for n).
 */
export function secaggParameters(options: ParameterOptions): SecAggParameters {
  aoptions(options, 'options', ['clients', 'dropoutRate', 'corruptFraction', 'securityBits', 'correctnessBits']);
  if (options === undefined) throw new ConfideError('E_BAD_INPUT', '"options" expected { clients, dropoutRate, corruptFraction }', { field: 'options' });
  const n = ainteger(options.clients, 'clients', 2, 1_000_000);
  const delta = anumber(options.dropoutRate, 'dropoutRate', 0, 0.999);
  const gamma = anumber(options.corruptFraction, 'corruptFraction', 0, 0.999);
  const sigma = options.securityBits === undefined ? 40 : anumber(options.securityBits, 'securityBits', 1, 256);
  const eta = options.correctnessBits === undefined ? 20 : anumber(options.correctnessBits, 'correctnessBits', 1, 256);
  const log2n = Math.log2(n);
  const rho = Math.min(1, gamma + delta);
  // Holders of a client's shares: its deg neighbours and itself. The feasible
  // thresholds form an interval [tMin, tMax]; take a majority of the holders
  // when it lies inside, else the nearest end.
  const thresholdFor = (deg: number) => {
    const ok = (t: number) => log2n + log2Tail(deg, delta, deg - t + 1) <= -eta && log2n + log2Tail(deg, gamma, t) <= -sigma;
    let tMin = 0;
    let tMax = 0;
    for (let t = 1; t <= deg + 1; t++) {
      if (ok(t)) {
        if (tMin === 0) tMin = t;
        tMax = t;
      } else if (tMin !== 0) break;
    }
    if (tMin === 0) return undefined;
    const t = Math.max(tMin, Math.min(tMax, Math.floor((deg + 1) / 2) + 1));
    return { t, correctness: log2n + log2Tail(deg, delta, deg - t + 1), sharePrivacy: log2n + log2Tail(deg, gamma, t) };
  };
  const full = thresholdFor(n - 1);
  if (full === undefined)
    throw new ConfideError(
      'E_BAD_INPUT',
      `no threshold meets 2^-${sigma} privacy and 2^-${eta} correctness for ${n} clients with dropout rate ${delta} and corrupt fraction ${gamma}`,
      { field: 'clients' },
    );
  for (let k = 2; k < n - 1; k += 2) {
    const disconnection = 2 * log2n - 1 + k * Math.log2(rho);
    if (disconnection > -sigma) continue;
    const r = thresholdFor(k);
    if (r !== undefined)
      return { graph: 'harary', degree: k, threshold: r.t, log2Failure: { correctness: r.correctness, sharePrivacy: r.sharePrivacy, disconnection } };
  }
  // Condition 3 does not arise in the complete graph: the survivors are all adjacent.
  return { graph: 'complete', degree: n - 1, threshold: full.t, log2Failure: { correctness: full.correctness, sharePrivacy: full.sharePrivacy, disconnection: -Infinity } };
}
