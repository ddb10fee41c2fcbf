/**
 * The federated-averaging coordinator, over the party runtime (src/net).
 *
 * Protocol (net rounds; every FL round r >= 1):
 *   net round 0, server → party:   { kind: 'fit', round: r, names, config } with the global tensors as payloads
 *                                   (to the sampled clients), or { kind: 'skip', round: r } (to the others);
 *                                   { kind: 'evaluate', round: r, names } with the tensors; { kind: 'done', reason }.
 *   net round 2r - 1, party → server: { kind: 'fit-result', round: r, names, examples, delta, metrics } + tensors
 *   net round 2r, party → server:     { kind: 'evaluate-result', round: r, examples, loss, accuracy }
 * Tensors travel raw as Float32Array payloads, in the order of `names`
 * (newline-separated). A party's reply that does not decode, has other
 * tensors, or non-finite values, drops that party (a logged reason; the round
 * goes on without it). A party that misses the deadline is a dropout.
 *
 * Threat model: with plain aggregation the coordinator sees every client's
 * update (only DP-FedAvg's noise protects the released model, not the
 * individual updates from the coordinator). Clients see only global models.
 */
import { ainteger, anumber, aoptions } from '../core/assert.ts';
import { ConfideError, describe } from '../core/errors.ts';
import { seededRng, systemRng, type Rng } from '../core/random.ts';
import type { PrivacyLedger } from '../dp/index.ts';
import type { PartyId, PartyServer, Received } from '../net/index.ts';
import { runSecAggServer, type SecAggConfig } from '../secagg/index.ts';
import { CheckpointStore } from './checkpoint.ts';
import { DpFedAvg } from './dp_fedavg.ts';
import { strategyFromState, type ClientUpdate, type Strategy } from './strategies.ts';
import { atensors, cloneTensors, parameterCount, subtractTensors, unflatten, type Tensors } from './tensors.ts';

/**
 * Secure-aggregation rounds use secagg's net rounds 8R + 1 ... 8R + 5 with
 * R = SECAGG_ROUND_BASE + r, far above the FL protocol's own rounds (<= 2·10^6).
 */
export const SECAGG_ROUND_BASE = 2 ** 20;

export interface RoundMetrics {
  readonly round: number;
  /** Clients connected when the round started, sampled, and whose updates were aggregated. */
  readonly available: number;
  readonly sampled: number;
  readonly aggregated: number;
  /** Sampled clients that missed the deadline or were dropped for a bad reply. */
  readonly dropped: number;
  /** Example-weighted mean of the clients' reported training loss, when they report one. */
  readonly trainLoss?: number;
  /** Evaluation on the clients' held-out data (evaluation rounds only). */
  readonly evaluation?: { readonly loss: number; readonly accuracy: number; readonly examples: number; readonly clients: number };
  /** DP-FedAvg: ε (or ρ) spent so far on the dataset, and the clip norm used. */
  readonly privacy?: { readonly spent: number; readonly budget: number; readonly clipNorm: number };
  readonly seconds: number;
  /** Whether the model changed (false when too few updates arrived). */
  readonly updated: boolean;
}

export interface CoordinatorOptions {
  server: PartyServer;
  /** The model to start from (ignored when resuming from a checkpoint). */
  initialWeights: Tensors;
  strategy: Strategy | DpFedAvg;
  rounds: number;
  /** The fewest clients a round samples (fixed sampling; default 1). */
  minClients?: number;
  /** Clients that must be connected before a round starts (default minClients). */
  minAvailable?: number;
  /** Fraction of connected clients sampled per round (default 1). */
  fraction?: number;
  /** 'fixed': max(minClients, ⌈fraction·n⌉) uniformly; 'poisson': each client with probability `fraction` (default 'fixed'). */
  sampling?: 'fixed' | 'poisson';
  /** Per-round deadline for replies (default 60,000 ms). */
  roundDeadlineMs?: number;
  /** How long to wait for `minAvailable` clients to connect before a round (default 300,000 ms). */
  waitForClientsMs?: number;
  /** Fewest updates to aggregate; with fewer the model is left unchanged that round (default 1). */
  minUpdates?: number;
  /** Evaluate every k rounds (and after the last), 0 for never (default 1). */
  evaluateEvery?: number;
  /** Sent to clients in each fit instruction, beside the strategy's own config. */
  fitConfig?: Record<string, number | string | boolean>;
  /** A checkpoint file (SQLite): saved after every round; a restart resumes after the last saved round. */
  checkpoint?: string;
  /** The run's name in the checkpoint file (default 'default'). */
  run?: string;
  /** Required with DP-FedAvg: where the rounds are spent. */
  dp?: { ledger: PrivacyLedger; dataset: string; principal: string };
  /**
   * 'plain' (default): the coordinator receives every update. 'secagg': clients
   * send only masked updates and the coordinator learns their example-weighted
   * sum (src/secagg, Bonawitz et al. 2017); needs `secagg` and a mean-based strategy.
   */
  aggregation?: 'plain' | 'secagg';
  /** The secure-aggregation config (length = the model's parameter count, maxWeight set); clients pin the same one. */
  secagg?: SecAggConfig;
  /**
   * With secure aggregation a client's weight is maxWeight·min(n_i, maxExamples)/maxExamples,
   * so weighted updates stay within the config's bound (default 10,000).
   */
  maxExamples?: number;
  /** Tests and simulations only: makes sampling and DP noise reproducible (round r uses seededRng(seed·2^32 + r)). */
  seed?: number;
  /** Called after every round (progress output). */
  onRound?: (metrics: RoundMetrics) => void;
}

export interface CoordinatorResult {
  readonly weights: Tensors;
  readonly history: readonly RoundMetrics[];
  /** The round the run started at (> 1 after a resume). */
  readonly startedAt: number;
}

const KEYS = ['server', 'initialWeights', 'strategy', 'rounds', 'minClients', 'minAvailable', 'fraction', 'sampling', 'roundDeadlineMs', 'waitForClientsMs', 'minUpdates', 'evaluateEvery', 'fitConfig', 'checkpoint', 'run', 'dp', 'aggregation', 'secagg', 'maxExamples', 'seed', 'onRound'];

/** Packs tensors as (names, payloads). */
function pack(t: Tensors): { names: string; payloads: Float32Array[] } {
  const names = Object.keys(t);
  return { names: names.join('\n'), payloads: names.map((n) => t[n]) };
}

/** Unpacks a party's tensors, checked against `like`; a reason string when they are bad. */
export function unpackTensors(m: Received, like: Tensors): Tensors | string {
  const names = m.header.names;
  if (typeof names !== 'string') return 'reply without tensor names';
  const list = names.split('\n');
  if (list.length !== m.payloads.length) return `${list.length} tensor names for ${m.payloads.length} payloads`;
  const out: Tensors = {};
  for (let i = 0; i < list.length; i++) {
    const p = m.payloads[i];
    if (!(p instanceof Float32Array)) return `tensor ${describe(list[i])} is not float32`;
    out[list[i]] = Float32Array.from(p);
  }
  try {
    return atensors(out, 'tensors', like);
  } catch (e) {
    return (e as Error).message;
  }
}

function roundRng(seed: number | undefined, round: number, stream: number): Rng {
  return seed === undefined ? systemRng() : seededRng((BigInt(seed) << 40n) + (BigInt(stream) << 32n) + BigInt(round));
}

/** Runs (or resumes) a training run and resolves with the final model and per-round metrics. */
export async function runCoordinator(options: CoordinatorOptions): Promise<CoordinatorResult> {
  aoptions(options, 'options', KEYS);
  if (typeof options !== 'object' || options === null) throw new ConfideError('E_BAD_INPUT', '"options" expected coordinator options', { field: 'options' });
  const server = options.server;
  if (typeof server !== 'object' || server === null || typeof (server as PartyServer).collect !== 'function')
    throw new ConfideError('E_BAD_INPUT', `"server" expected a PartyServer (from serve()), got ${describe(server)}`, { field: 'server' });
  atensors(options.initialWeights, 'initialWeights');
  const rounds = ainteger(options.rounds, 'rounds', 1, 1_000_000);
  const minClients = options.minClients === undefined ? 1 : ainteger(options.minClients, 'minClients', 1);
  const minAvailable = options.minAvailable === undefined ? minClients : ainteger(options.minAvailable, 'minAvailable', 1);
  const fraction = options.fraction === undefined ? 1 : anumber(options.fraction, 'fraction', 0, 1, true);
  const sampling = options.sampling ?? 'fixed';
  if (sampling !== 'fixed' && sampling !== 'poisson') throw new ConfideError('E_BAD_INPUT', `"sampling" expected 'fixed' or 'poisson', got ${describe(sampling)}`, { field: 'sampling' });
  const deadlineMs = options.roundDeadlineMs === undefined ? 60_000 : ainteger(options.roundDeadlineMs, 'roundDeadlineMs', 1, 2 ** 31 - 1);
  const waitMs = options.waitForClientsMs === undefined ? 300_000 : ainteger(options.waitForClientsMs, 'waitForClientsMs', 1, 2 ** 31 - 1);
  const minUpdates = options.minUpdates === undefined ? 1 : ainteger(options.minUpdates, 'minUpdates', 1);
  const evaluateEvery = options.evaluateEvery === undefined ? 1 : ainteger(options.evaluateEvery, 'evaluateEvery');
  const seed = options.seed === undefined ? undefined : ainteger(options.seed, 'seed', 0, 2 ** 24);
  const run = options.run ?? 'default';
  let strategy = options.strategy;
  const isDp = strategy instanceof DpFedAvg;
  if (!isDp && (typeof strategy !== 'object' || strategy === null || typeof (strategy as Strategy).aggregate !== 'function'))
    throw new ConfideError('E_BAD_INPUT', `"strategy" expected a Strategy or DpFedAvg, got ${describe(strategy)}`, { field: 'strategy' });
  if (isDp && options.dp === undefined) throw new ConfideError('E_BAD_INPUT', '"dp" expected { ledger, dataset, principal } with a DP-FedAvg strategy', { field: 'dp' });

  const aggregation = options.aggregation ?? 'plain';
  if (aggregation !== 'plain' && aggregation !== 'secagg') throw new ConfideError('E_BAD_INPUT', `"aggregation" expected 'plain' or 'secagg', got ${describe(aggregation)}`, { field: 'aggregation' });
  if (aggregation === 'secagg') {
    if (isDp) throw new ConfideError('E_UNSUPPORTED', 'DP-FedAvg with secure aggregation (distributed noise) is not implemented; use plain aggregation for central DP', { field: 'aggregation' });
    const name = (strategy as Strategy).name;
    if (name === 'fedmedian' || name === 'trimmed-mean' || name === 'krum')
      throw new ConfideError('E_BAD_INPUT', `${name} needs every individual update; secure aggregation reveals only their sum`, { field: 'strategy' });
    const c = options.secagg;
    if (typeof c !== 'object' || c === null) throw new ConfideError('E_BAD_INPUT', '"secagg" expected a SecAggConfig with aggregation: \'secagg\'', { field: 'secagg' });
    if (c.length !== parameterCount(options.initialWeights)) throw new ConfideError('E_BAD_INPUT', `"secagg.length" expected the model's ${parameterCount(options.initialWeights)} parameters, got ${describe(c.length)}`, { field: 'secagg.length' });
    if (c.maxWeight === undefined) throw new ConfideError('E_BAD_INPUT', '"secagg.maxWeight" is needed: clients weight their updates by their example counts', { field: 'secagg.maxWeight' });
  }
  const maxExamples = options.maxExamples === undefined ? 10_000 : ainteger(options.maxExamples, 'maxExamples', 1);
  const store = options.checkpoint === undefined ? undefined : CheckpointStore.open(options.checkpoint);
  let weights = cloneTensors(options.initialWeights);
  let start = 1;
  const history: RoundMetrics[] = [];
  try {
    const saved = store?.latest(run);
    if (saved !== undefined) {
      weights = atensors(saved.weights, 'checkpoint.weights', options.initialWeights);
      strategy = isDp ? DpFedAvg.fromState(saved.strategy) : strategyFromState(saved.strategy);
      start = saved.round + 1;
    }
    for (let r = start; r <= rounds; r++) {
      const t0 = performance.now();
      let secureSurvivors = 0;
      if (strategy instanceof DpFedAvg) {
        const { ledger, dataset } = options.dp!;
        if (!ledger.preview(dataset, strategy.roundEvent()).fits) {
          await server.broadcast(0, { header: { kind: 'done', reason: 'privacy budget exhausted' }, payloads: [] });
          throw new ConfideError('E_BUDGET_EXCEEDED', `training stops before round ${r}: round ${r} would exceed the privacy budget of ${describe(dataset)} (${ledger.odometer(dataset).spent} spent of ${ledger.odometer(dataset).budget})`, {
            field: 'dp',
            details: { round: r, dataset },
          });
        }
      }
      const available = await server.waitForParties(minAvailable, { timeoutMs: waitMs });
      const rng = roundRng(seed, r, 0);
      const pool = [...available].sort();
      let sampled: PartyId[];
      if (sampling === 'poisson') sampled = pool.filter(() => rng.nextU32() / 2 ** 32 < fraction);
      else sampled = rng.shuffle(pool).slice(0, Math.min(pool.length, Math.max(minClients, Math.ceil(fraction * pool.length))));
      sampled.sort();
      const others = pool.filter((p) => !sampled.includes(p));
      const config = { ...(strategy instanceof DpFedAvg ? {} : strategy.fitConfig()), ...(options.fitConfig ?? {}) };
      const { names, payloads } = pack(weights);
      const header: Record<string, string | number> = { kind: 'fit', round: r, names, config: JSON.stringify(config) };
      if (aggregation === 'secagg') {
        header.aggregation = 'secagg';
        header.secaggRound = SECAGG_ROUND_BASE + r;
        header.maxExamples = maxExamples;
      }
      if (sampled.length > 0) await server.broadcast(0, { header, payloads }, { to: sampled });
      if (others.length > 0) await server.broadcast(0, { header: { kind: 'skip', round: r }, payloads: [] }, { to: others });
      let { messages, dropped } = { messages: new Map<PartyId, Received>(), dropped: [] as PartyId[] };
      const updates: ClientUpdate[] = [];
      let lossSum = 0, lossN = 0, bad = 0;
      if (aggregation === 'secagg' && sampled.length > 0) {
        // The coordinator learns Σ n_i Δ_i and Σ n_i over the survivors, nothing else.
        try {
          const res = await runSecAggServer(server, { config: options.secagg!, round: SECAGG_ROUND_BASE + r, participants: sampled, deadlineMs });
          dropped = sampled.filter((p) => !res.survivors.includes(p));
          if (res.weight > 0) {
            const mean = res.values.map((v) => v / res.weight);
            // One "update" carrying the weighted mean: every mean-based strategy's Δ̄ is then exactly it.
            updates.push({ delta: unflatten(mean, weights), examples: 1 });
            secureSurvivors = res.survivors.length;
          }
        } catch (e) {
          // Too few clients stayed (E_PROTOCOL) or a deadline passed: nothing was unmasked; the model stays.
          if (!(e instanceof ConfideError) || (e.code !== 'E_PROTOCOL' && e.code !== 'E_TIMEOUT')) throw e;
          dropped = sampled;
        }
      } else if (sampled.length > 0) ({ messages, dropped } = await server.collect(2 * r - 1, { deadlineMs, from: sampled }));
      for (const id of [...messages.keys()].sort()) {
        const m = messages.get(id)!;
        const h = m.header;
        const tensors = unpackTensors(m, weights);
        const examples = h.examples;
        let reason: string | undefined;
        if (h.kind !== 'fit-result' || h.round !== r) reason = `expected the fit result of round ${r}`;
        else if (typeof tensors === 'string') reason = tensors;
        else if (typeof examples !== 'number' || !Number.isSafeInteger(examples) || examples < 1) reason = `bad example count ${describe(examples)}`;
        if (reason !== undefined || typeof tensors === 'string') {
          server.drop(id, `fl: ${reason}`);
          bad++;
          continue;
        }
        const delta = h.delta === true ? tensors : subtractTensors(tensors, weights);
        updates.push({ delta, examples: examples as number });
        if (typeof h.loss === 'number' && Number.isFinite(h.loss)) {
          lossSum += h.loss * (examples as number);
          lossN += examples as number;
        }
      }
      let privacy: RoundMetrics['privacy'];
      let updated = false;
      if (strategy instanceof DpFedAvg) {
        // DP-FedAvg releases every round, even one with few updates: skipping would depend on the data.
        const { ledger, dataset, principal } = options.dp!;
        const res = strategy.aggregate(weights, updates.map((u) => u.delta), { ledger, dataset, principal, round: r, rng: roundRng(seed, r, 1) });
        weights = res.weights;
        updated = true;
        privacy = { spent: res.receipt.spent, budget: res.receipt.budget, clipNorm: res.clipNorm };
      } else if (aggregation === 'secagg' ? secureSurvivors >= minUpdates : updates.length >= minUpdates) {
        weights = strategy.aggregate(weights, updates);
        updated = true;
      }
      let evaluation: RoundMetrics['evaluation'];
      if (evaluateEvery > 0 && (r % evaluateEvery === 0 || r === rounds)) evaluation = await evaluateRound(server, r, weights, deadlineMs);
      const metrics: RoundMetrics = {
        round: r,
        available: pool.length,
        sampled: sampled.length,
        aggregated: aggregation === 'secagg' ? secureSurvivors : updates.length,
        dropped: dropped.length + bad,
        ...(lossN > 0 ? { trainLoss: lossSum / lossN } : {}),
        ...(evaluation ? { evaluation } : {}),
        ...(privacy ? { privacy } : {}),
        seconds: (performance.now() - t0) / 1000,
        updated,
      };
      store?.save(run, r, weights, strategy.toJSON(), metrics);
      history.push(metrics);
      try {
        options.onRound?.(metrics);
      } catch {
        // A progress callback must not break training.
      }
    }
    await server.broadcast(0, { header: { kind: 'done', reason: 'completed' }, payloads: [] });
    return { weights, history, startedAt: start };
  } finally {
    store?.close();
  }
}

/** Sends the model to every connected client for evaluation and combines their answers, weighted by examples. */
async function evaluateRound(server: PartyServer, r: number, weights: Tensors, deadlineMs: number): Promise<RoundMetrics['evaluation']> {
  const { names, payloads } = pack(weights);
  const to = await server.broadcast(0, { header: { kind: 'evaluate', round: r, names }, payloads });
  const { messages } = await server.collect(2 * r, { deadlineMs, from: to });
  let loss = 0, correct = 0, n = 0, clients = 0;
  for (const [id, m] of messages) {
    const h = m.header;
    if (h.kind !== 'evaluate-result' || h.round !== r || typeof h.examples !== 'number' || !Number.isSafeInteger(h.examples) || h.examples < 0 ||
      typeof h.loss !== 'number' || !Number.isFinite(h.loss) || typeof h.accuracy !== 'number' || !(h.accuracy >= 0 && h.accuracy <= 1)) {
      server.drop(id, 'fl: bad evaluation result');
      continue;
    }
    loss += h.loss * h.examples;
    correct += h.accuracy * h.examples;
    n += h.examples;
    clients++;
  }
  return { loss: n ? loss / n : 0, accuracy: n ? correct / n : 0, examples: n, clients };
}
