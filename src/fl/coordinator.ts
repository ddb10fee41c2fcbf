/**
 * The federated-averaging coordinator, over the party runtime (src/net).
 *
 * Protocol (net rounds; every FL round r >= 1):
 *   net round 0, server → party:   { kind: 'fit', round: r, names, config } with the global tensors as payloads
 *                                   (to the sampled clients), or { kind: 'skip', round: r } (to the others);
 *                                   { kind: 'evaluate', round: r, names } with the tensors; { kind: 'done', reason };
 *                                   to the HE decryptor: { kind: 'he-decrypt-round', round: r, heRound, timeoutMs }.
 *   net round 2r - 1, party → server: { kind: 'fit-result', round: r, names, examples, delta, metrics } + tensors
 *   net round 2r, party → server:     { kind: 'evaluate-result', round: r, examples, loss, accuracy }
 *   secure aggregation: src/secagg's rounds 8R + 1 ... 8R + 5, R = SECAGG_ROUND_BASE + r;
 *   homomorphic aggregation: src/he's rounds h ... h + 5, h = HE_ROUND_BASE + 8r.
 * Tensors travel raw as Float32Array payloads, in the order of `names`
 * (newline-separated). A party's reply that does not decode, has other
 * tensors, or non-finite values, drops that party (a logged reason; the round
 * goes on without it). A party that misses the deadline is a dropout.
 *
 * A DP round's result never leaves this process before its spend is
 * committed: with central DP-FedAvg and a checkpoint, the spend, the new model
 * and the strategy state commit in ONE ledger transaction, and only then is
 * the model evaluated, broadcast or reported.
 *
 * Threat model: README.md ("Threat model"), per aggregation backend.
 */
import { ainteger, anumber, aoptions } from '../core/assert.ts';
import { ConfideError, describe, isConfideError } from '../core/errors.ts';
import { seededRng, systemRng, type Rng } from '../core/random.ts';
import type { PrivacyLedger, Receipt } from '../dp/index.ts';
import { openPublicKey, runAggregator, type AggregationPlan } from '../he/index.ts';
import type { PartyId, PartyServer, Received } from '../net/index.ts';
import { checkRound, distributedGaussianRho, encodedSensitivity, runSecAggServer, type SecAggConfig } from '../secagg/index.ts';
import { CheckpointStore } from './checkpoint.ts';
import { DpFedAvg, countScaleOf } from './dp_fedavg.ts';
import { strategyFromState, type ClientUpdate, type Strategy } from './strategies.ts';
import { UpdateSum } from './_accumulate.ts';
import { atensorShape, atensors, cloneTensors, parameterCount, subtractTensors, unflatten, type Tensors } from './tensors.ts';

/**
 * Secure-aggregation rounds use secagg's net rounds 8R + 1 ... 8R + 5 with
 * R = SECAGG_ROUND_BASE + r, far above the FL protocol's own rounds (<= 2·10^6).
 */
export const SECAGG_ROUND_BASE = 2 ** 20;

/**
 * Homomorphic-aggregation rounds use src/he's net rounds h ... h + 5 with
 * h = HE_ROUND_BASE + 8r: above the secagg rounds (< 8·(2^20 + 10^6) + 6 < 2^24).
 */
export const HE_ROUND_BASE = 2 ** 24;

/** The HE backend: who decrypts, and the public key bundle whose plan sizes the rounds. */
export interface HeAggregationOptions {
  /** The decryptor's party id: it holds the secret key and joins this server as a party (fl `runDecryptor`). */
  decryptor: PartyId;
  /** The decryptor's public key bundle (he `generateKeys`); its plan is checked against every round before it starts. */
  publicKey: Uint8Array;
}

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
  /**
   * Required with DP-FedAvg: where the rounds are spent. With secure
   * aggregation, `corruptFraction` is the fraction of sampled clients that
   * may collude with the coordinator (their noise is not counted; default 0).
   */
  dp?: { ledger: PrivacyLedger; dataset: string; principal: string; corruptFraction?: number };
  /**
   * 'plain' (default): the coordinator receives every update. 'secagg': clients
   * send only masked updates and the coordinator learns their example-weighted
   * sum (src/secagg, Bonawitz et al. 2017); needs `secagg` and a mean-based
   * strategy; with DP-FedAvg the clients clip and noise their own updates
   * (distributed DP). 'he': clients encrypt their weighted updates under the
   * decryptor's public key and the coordinator sums ciphertexts (src/he); needs `he`.
   */
  aggregation?: 'plain' | 'secagg' | 'he';
  /**
   * The secure-aggregation config (length = the model's parameter count); clients
   * pin the same one. Without DP: maxWeight set, no noise. With DP-FedAvg:
   * noise set (its l2Norm = the strategy's clipNorm), no maxWeight.
   */
  secagg?: SecAggConfig;
  /** The homomorphic-aggregation backend (aggregation: 'he'). */
  he?: HeAggregationOptions;
  /**
   * With secure or homomorphic aggregation a client's weight is
   * maxWeight·min(n_i, maxExamples)/maxExamples (maxWeight = 1 for HE), so
   * weighted updates stay within the encoding's bound (default 10,000).
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

const KEYS = ['server', 'initialWeights', 'strategy', 'rounds', 'minClients', 'minAvailable', 'fraction', 'sampling', 'roundDeadlineMs', 'waitForClientsMs', 'minUpdates', 'evaluateEvery', 'fitConfig', 'checkpoint', 'run', 'dp', 'aggregation', 'secagg', 'he', 'maxExamples', 'seed', 'onRound'];

/** Packs tensors as (names, payloads). */
function pack(t: Tensors): { names: string; payloads: Float32Array[] } {
  const names = Object.keys(t);
  return { names: names.join('\n'), payloads: names.map((n) => t[n]) };
}

/** Unpacks a party's tensors, checked against `like` (finite values included); a reason string when they are bad. */
export function unpackTensors(m: Received, like: Tensors): Tensors | string {
  const out = unpackShape(m, like);
  if (typeof out === 'string') return out;
  try {
    return atensors(out, 'tensors', like);
  } catch (e) {
    return (e as Error).message;
  }
}

/** `unpackTensors` without the finiteness check. */
function unpackShape(m: Received, like: Tensors): Tensors | string {
  const names = m.header.names;
  if (typeof names !== 'string') return 'reply without tensor names';
  const list = names.split('\n');
  if (list.length !== m.payloads.length) return `${list.length} tensor names for ${m.payloads.length} payloads`;
  const out: Tensors = {};
  for (let i = 0; i < list.length; i++) {
    const p = m.payloads[i];
    if (!(p instanceof Float32Array)) return `tensor ${describe(list[i])} is not float32`;
    // Used in place: the payload is a view of the received message (net gives each message its own buffer), not a copy.
    out[list[i]] = p;
  }
  try {
    return atensorShape(out, 'tensors', like);
  } catch (e) {
    return (e as Error).message;
  }
}

/**
 * A party's fit result for round r, checked (kind, round, tensor names,
 * types and lengths, example count, and finiteness unless `finite` is false:
 * the streaming sum checks that while adding); a reason string when it is bad.
 */
function fitResult(m: Received, r: number, like: Tensors, finite: boolean): { tensors: Tensors; examples: number; delta: boolean } | string {
  const h = m.header;
  if (h.kind !== 'fit-result' || h.round !== r) return `expected the fit result of round ${r}`;
  const tensors = finite ? unpackTensors(m, like) : unpackShape(m, like);
  if (typeof tensors === 'string') return tensors;
  const examples = h.examples;
  if (typeof examples !== 'number' || !Number.isSafeInteger(examples) || examples < 1) return `bad example count ${describe(examples)}`;
  return { tensors, examples, delta: h.delta === true };
}

/** values[i] / weight rounded to float32, for i < d, as one flat update (a loop: a closure per value runs several times slower). */
function meanOf(values: Float64Array, weight: number, d: number): Float64Array {
  const out = new Float64Array(d);
  for (let i = 0; i < d; i++) out[i] = Math.fround(values[i] / weight);
  return out;
}

function finiteTensors(t: Tensors): boolean {
  try {
    atensors(t, 'update');
    return true;
  } catch {
    return false;
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
  const dp = isDp ? adp(options.dp) : undefined;
  if (isDp) asamplingAgrees(strategy as DpFedAvg, sampling, fraction);

  const aggregation = options.aggregation ?? 'plain';
  if (aggregation !== 'plain' && aggregation !== 'secagg' && aggregation !== 'he')
    throw new ConfideError('E_BAD_INPUT', `"aggregation" expected 'plain', 'secagg' or 'he', got ${describe(aggregation)}`, { field: 'aggregation' });
  if (aggregation !== 'plain' && !isDp) {
    const name = (strategy as Strategy).name;
    if (name === 'fedmedian' || name === 'trimmed-mean' || name === 'krum')
      throw new ConfideError('E_BAD_INPUT', `${name} needs every individual update; ${aggregation === 'he' ? 'homomorphic' : 'secure'} aggregation reveals only their sum`, { field: 'strategy' });
  }
  const d = parameterCount(options.initialWeights);
  if (aggregation === 'secagg') asecaggFor(options.secagg, d, isDp ? (strategy as DpFedAvg) : undefined);
  let plan: AggregationPlan | undefined;
  let decryptor: PartyId | undefined;
  if (aggregation === 'he') {
    if (isDp) throw new ConfideError('E_UNSUPPORTED', 'DP-FedAvg with the HE backend is not implemented (no distributed noise inside ciphertexts); use secagg for distributed DP or plain aggregation for central DP', { field: 'aggregation' });
    ({ plan, decryptor } = await aheFor(options.he));
  } else if (options.he !== undefined) throw new ConfideError('E_BAD_INPUT', '"he" is only for aggregation: \'he\'', { field: 'he' });
  const maxExamples = options.maxExamples === undefined ? 10_000 : ainteger(options.maxExamples, 'maxExamples', 1);

  let store: CheckpointStore | undefined;
  if (options.checkpoint !== undefined) {
    if (dp !== undefined) {
      // The round's spend and its checkpoint must commit together: they live in one database.
      if (options.checkpoint !== dp.ledger.path)
        throw new ConfideError('E_BAD_INPUT', `"checkpoint" with DP-FedAvg must be the ledger's own file (${describe(dp.ledger.path)}), so that a round's spend and its checkpoint commit in one transaction; got ${describe(options.checkpoint)}`, { field: 'checkpoint' });
      store = CheckpointStore.inLedger(dp.ledger);
    } else store = CheckpointStore.open(options.checkpoint);
  }
  let weights = cloneTensors(options.initialWeights);
  let start = 1;
  // Plain rounds of a mean-based strategy sum the updates as they arrive (strategy.aggregateSum); DP-FedAvg
  // (which clips each update) and the robust rules (which need every update) get them all after the deadline.
  const streaming = aggregation === 'plain' && !isDp && typeof (strategy as Strategy).aggregateSum === 'function';
  /** The streaming sum's buffer, reused from round to round. */
  let scratch: Float64Array | undefined;
  const history: RoundMetrics[] = [];
  const stop = async (reason: string) => {
    await server.broadcast(0, { header: { kind: 'done', reason }, payloads: [] }).catch(() => undefined);
  };
  try {
    const saved = store?.latest(run);
    if (saved !== undefined) {
      weights = atensors(saved.weights, 'checkpoint.weights', options.initialWeights);
      strategy = isDp ? DpFedAvg.fromState(saved.strategy) : strategyFromState(saved.strategy);
      start = saved.round + 1;
    }
    for (let r = start; r <= rounds; r++) {
      const t0 = performance.now();
      if (strategy instanceof DpFedAvg && aggregation === 'plain') {
        const preview = dp!.ledger.preview(dp!.dataset, strategy.roundEvent());
        if (!preview.fits) throw budgetStop(r, dp!.dataset, preview.spent, dp!.ledger);
      }
      const pool = (await waitForClients(server, minAvailable, waitMs, decryptor)).sort();
      const rng = roundRng(seed, r, 0);
      let sampled: PartyId[];
      if (sampling === 'poisson') sampled = pool.filter(() => rng.nextU32() / 2 ** 32 < fraction);
      else sampled = rng.shuffle(pool).slice(0, Math.min(pool.length, Math.max(minClients, Math.ceil(fraction * pool.length))));
      sampled.sort();

      // Checks that need the sample, before anything is sent.
      let runnable = sampled.length > 0;
      if (aggregation === 'secagg') {
        runnable = sampled.length >= Math.max(2, options.secagg!.threshold);
        // The ring must hold the sum of this many clients (and their noise): E_OVERFLOW before anything is sent.
        if (runnable) checkRound(options.secagg!, sampled.length);
      }
      if (aggregation === 'he') {
        if (sampled.length > plan!.contributors)
          throw new ConfideError('E_OVERFLOW', `round ${r} sampled ${sampled.length} clients; the HE keys' plan is sized for sums of at most ${plan!.contributors} (plaintext range): plan the keys for more contributors or sample fewer`, { field: 'he.publicKey', details: { round: r, sampled: sampled.length, contributors: plan!.contributors } });
        runnable = sampled.length >= minUpdates;
      }
      if (strategy instanceof DpFedAvg && aggregation === 'secagg' && runnable) {
        // Preview with every sampled client surviving (the least ρ the round can cost); secagg spends for the actual survivors.
        const best = secaggRoundEvent(options.secagg!, sampled.length, sampled.length, dp!.corruptFraction);
        const preview = dp!.ledger.preview(dp!.dataset, best);
        if (!preview.fits) throw budgetStop(r, dp!.dataset, preview.spent, dp!.ledger);
      }
      const heRound = HE_ROUND_BASE + 8 * r;
      if (aggregation === 'he' && runnable) {
        // The decryptor first, so that its signed key bundle is on the way when the clients finish training.
        const ok = await server.send(decryptor!, 0, { header: { kind: 'he-decrypt-round', round: r, heRound, timeoutMs: Math.min(2 ** 31 - 1, 3 * deadlineMs + 10_000) }, payloads: [] });
        if (!ok) runnable = false;
      }
      const fitTo = runnable ? sampled : [];
      const others = pool.filter((p) => !fitTo.includes(p));
      const config = { ...(strategy instanceof DpFedAvg ? {} : strategy.fitConfig()), ...(options.fitConfig ?? {}) };
      const { names, payloads } = pack(weights);
      const header: Record<string, string | number> = { kind: 'fit', round: r, names, config: JSON.stringify(config) };
      if (aggregation === 'secagg') {
        header.aggregation = 'secagg';
        header.secaggRound = SECAGG_ROUND_BASE + r;
        header.maxExamples = maxExamples;
        if (strategy instanceof DpFedAvg) {
          header.dp = 'distributed';
          header.clipNorm = strategy.clipNorm;
        }
      } else if (aggregation === 'he') {
        header.aggregation = 'he';
        header.heRound = heRound;
        header.maxExamples = maxExamples;
        // How long a client waits for the key bundle and the end of the round once it has trained.
        header.timeoutMs = Math.min(2 ** 31 - 1, 3 * deadlineMs + 10_000);
      }
      if (fitTo.length > 0) await server.broadcast(0, { header, payloads }, { to: fitTo });
      if (others.length > 0) await server.broadcast(0, { header: { kind: 'skip', round: r }, payloads: [] }, { to: others });

      let messages = new Map<PartyId, Received>();
      let dropped: PartyId[] = [];
      const updates: ClientUpdate[] = [];
      let lossSum = 0, lossN = 0, bad = 0;
      let secureSurvivors = 0;
      let noisySum: Float64Array | undefined;
      let noisyUnclipped: number | undefined;
      let secureReceipt: Receipt | undefined;
      /** Secure or homomorphic aggregation: the survivors' weighted mean, each value rounded to float32 (one update of weight 1). */
      let securedMean: Float64Array | undefined;
      /** Plain aggregation, streaming: Σ n_k Δ_k, Σ n_k and the number of updates in it. */
      let plainSum: { sum: Float64Array; examples: number; count: number } | undefined;
      if (aggregation === 'secagg' && runnable) {
        // The coordinator learns Σ w_i Δ_i and Σ w_i (or, with DP, Σ clip(Δ_i) + noise) over the survivors, nothing else.
        try {
          const res = await runSecAggServer(server, {
            config: options.secagg!, round: SECAGG_ROUND_BASE + r, participants: sampled, deadlineMs,
            ...(strategy instanceof DpFedAvg
              ? { privacy: { ledger: dp!.ledger, dataset: dp!.dataset, principal: dp!.principal, purpose: `federated training round ${r}`, query: `DP-FedAvg with distributed discrete Gaussian noise through secure aggregation: sum of ${d} parameters clipped to C = ${strategy.clipNorm} over ${sampled.length} sampled clients; ${sampling} sampling, amplification not credited (the coordinator knows the sample)`, ...(dp!.corruptFraction === undefined ? {} : { corruptFraction: dp!.corruptFraction }) } }
              : {}),
          });
          dropped = sampled.filter((p) => !res.survivors.includes(p));
          secureSurvivors = res.survivors.length;
          if (strategy instanceof DpFedAvg) {
            noisySum = Float64Array.from(res.values.slice(0, d));
            if (strategy.adaptive) noisyUnclipped = res.values[d] / countScaleOf(options.secagg!);
            secureReceipt = res.privacy?.receipt;
          } else if (res.weight > 0) {
            // One "update" carrying the weighted mean (rounded to float32): every mean-based strategy's Δ̄ is then exactly it.
            securedMean = meanOf(res.values, res.weight, d);
          } else secureSurvivors = 0;
        } catch (e) {
          if (isConfideError(e, 'E_BUDGET_EXCEEDED')) throw budgetStop(r, dp!.dataset, undefined, dp!.ledger, e);
          // Too few clients stayed (E_PROTOCOL) or a deadline passed: nothing was unmasked; the model stays.
          if (!isConfideError(e) || (e.code !== 'E_PROTOCOL' && e.code !== 'E_TIMEOUT')) throw e;
          dropped = sampled;
          secureSurvivors = 0;
        }
      } else if (aggregation === 'he' && runnable) {
        // The coordinator sums ciphertexts and learns Σ w_i Δ_i and Σ w_i (masked decryption by the decryptor).
        try {
          const res = await runAggregator({ server, decryptor: decryptor!, clients: sampled, minContributors: minUpdates, deadlineMs, round: heRound, shareResult: false });
          dropped = sampled.filter((p) => !res.contributors.includes(p));
          const weight = res.sum[d];
          if (weight > 0) {
            securedMean = meanOf(res.sum, weight, d);
            secureSurvivors = res.contributors.length;
          }
        } catch (e) {
          if (!isConfideError(e) || (e.code !== 'E_PROTOCOL' && e.code !== 'E_TIMEOUT')) throw e;
          // Nothing was decrypted. A decryptor still waiting for this round's request is released with an empty one (it refuses it).
          await server.send(decryptor!, heRound + 3, { header: { kind: 'he-cancel' }, payloads: [] }).catch(() => false);
          dropped = sampled;
        }
      } else if (aggregation === 'plain' && runnable && streaming) {
        // Each update is checked and added to Σ n_k Δ_k as it arrives, in the sample's order whatever the
        // arrival order (_accumulate.ts), so that once the last one is in only a little adding is left.
        const sum = new UpdateSum(weights, sampled, (scratch ??= new Float64Array(d)));
        const reasons = new Map<PartyId, string>();
        ({ messages, dropped } = await server.collect(2 * r - 1, {
          deadlineMs,
          from: sampled,
          onMessage: (id, m) => {
            const u = fitResult(m, r, weights, false);
            if (typeof u === 'string') reasons.set(id, u);
            else sum.add(id, u.tensors, u.examples, !u.delta);
          },
        }));
        const res = sum.finish();
        for (const [id, reason] of res.rejected) reasons.set(id, reason);
        for (const id of [...reasons.keys()].sort()) {
          server.drop(id, `fl: ${reasons.get(id)}`);
          bad++;
        }
        for (const id of res.accepted) {
          const h = messages.get(id)!.header;
          if (typeof h.loss === 'number' && Number.isFinite(h.loss)) {
            lossSum += h.loss * (h.examples as number);
            lossN += h.examples as number;
          }
        }
        messages = new Map();
        if (res.accepted.length > 0) plainSum = { sum: res.sum, examples: res.examples, count: res.accepted.length };
      } else if (aggregation === 'plain' && runnable) ({ messages, dropped } = await server.collect(2 * r - 1, { deadlineMs, from: sampled }));
      else dropped = [];
      for (const id of [...messages.keys()].sort()) {
        const m = messages.get(id)!;
        const u = fitResult(m, r, weights, true);
        if (typeof u === 'string') {
          server.drop(id, `fl: ${u}`);
          bad++;
          continue;
        }
        const delta = u.delta ? u.tensors : subtractTensors(u.tensors, weights);
        // Finite weights can still differ by more than float32 holds: such an update is a bad reply, not the coordinator's crash.
        if (!u.delta && !finiteTensors(delta)) {
          server.drop(id, 'fl: the update (weights − global) overflows float32');
          bad++;
          continue;
        }
        updates.push({ delta, examples: u.examples });
        if (typeof m.header.loss === 'number' && Number.isFinite(m.header.loss)) {
          lossSum += m.header.loss * u.examples;
          lossN += u.examples;
        }
      }
      const current = strategy;
      const metricsOf = (updated: boolean, privacy: RoundMetrics['privacy'], evaluation?: RoundMetrics['evaluation']): RoundMetrics => ({
        round: r,
        available: pool.length,
        sampled: sampled.length,
        aggregated: aggregation === 'plain' ? (plainSum?.count ?? updates.length) : secureSurvivors,
        dropped: dropped.length + bad,
        ...(lossN > 0 ? { trainLoss: lossSum / lossN } : {}),
        ...(evaluation ? { evaluation } : {}),
        ...(privacy ? { privacy } : {}),
        seconds: (performance.now() - t0) / 1000,
        updated,
      });
      let metrics: RoundMetrics;
      if (current instanceof DpFedAvg && aggregation === 'plain') {
        // DP-FedAvg releases every round, even one with few updates: skipping would depend on the data.
        // Spend, noise, new model and checkpoint in ONE transaction: killed before the commit, none of it exists.
        const { ledger, dataset, principal } = dp!;
        const commit = () => {
          const res = current.aggregate(weights, updates.map((u) => u.delta), { ledger, dataset, principal, round: r, rng: roundRng(seed, r, 1) });
          const m = metricsOf(true, { spent: res.receipt.spent, budget: res.receipt.budget, clipNorm: res.clipNorm });
          store?.save(run, r, res.weights, current.toJSON(), m);
          return { res, m };
        };
        const { res, m } = store === undefined ? commit() : ledger.transaction(commit);
        weights = res.weights;
        metrics = m;
      } else if (current instanceof DpFedAvg) {
        // Distributed noise: secagg spent the round (for the actual honest survivors) before unmasking.
        const clipNorm = current.clipNorm;
        if (noisySum !== undefined) weights = current.applySum(weights, noisySum, noisyUnclipped).weights;
        const odo = dp!.ledger.odometer(dp!.dataset);
        metrics = metricsOf(noisySum !== undefined, { spent: secureReceipt?.spent ?? odo.spent, budget: odo.budget, clipNorm });
        store?.save(run, r, weights, current.toJSON(), metrics);
      } else {
        let updated = false;
        if (securedMean !== undefined && typeof current.aggregateSum !== 'function') updates.push({ delta: unflatten(securedMean, weights), examples: 1 });
        if (securedMean !== undefined && typeof current.aggregateSum === 'function') {
          // The sum of one update of weight 1 is that update: the same bits as aggregate(weights, [{ delta: mean, examples: 1 }]).
          if (secureSurvivors >= minUpdates) {
            weights = current.aggregateSum(weights, securedMean, 1);
            updated = true;
          }
        } else if (plainSum !== undefined) {
          if (plainSum.count >= minUpdates) {
            weights = current.aggregateSum!(weights, plainSum.sum, plainSum.examples);
            updated = true;
          }
        } else if (aggregation === 'plain' ? updates.length >= minUpdates : secureSurvivors >= minUpdates && updates.length > 0) {
          weights = current.aggregate(weights, updates);
          updated = true;
        }
        metrics = metricsOf(updated, undefined);
        store?.save(run, r, weights, current.toJSON(), metrics);
      }
      // Committed: the model may now leave this process.
      if (evaluateEvery > 0 && (r % evaluateEvery === 0 || r === rounds)) {
        const evaluation = await evaluateRound(server, r, weights, deadlineMs, decryptor);
        metrics = { ...metrics, evaluation, seconds: (performance.now() - t0) / 1000 };
        store?.saveMetrics(run, r, metrics);
      }
      history.push(metrics);
      try {
        options.onRound?.(metrics);
      } catch {
        // A progress callback must not break training.
      }
    }
    await stop('completed');
    return { weights, history, startedAt: start };
  } catch (e) {
    await stop(isConfideError(e, 'E_BUDGET_EXCEEDED') ? 'privacy budget exhausted' : `coordinator stopped: ${isConfideError(e) ? e.code : 'error'}`);
    throw e;
  } finally {
    store?.close();
  }
}

function adp(v: unknown): { ledger: PrivacyLedger; dataset: string; principal: string; corruptFraction?: number } {
  if (typeof v !== 'object' || v === null) throw new ConfideError('E_BAD_INPUT', '"dp" expected { ledger, dataset, principal } with a DP-FedAvg strategy', { field: 'dp' });
  const o = v as { ledger: PrivacyLedger; dataset: string; principal: string; corruptFraction?: number };
  aoptions(o, 'dp', ['ledger', 'dataset', 'principal', 'corruptFraction']);
  if (typeof o.ledger !== 'object' || o.ledger === null || typeof o.ledger.transaction !== 'function')
    throw new ConfideError('E_BAD_INPUT', `"dp.ledger" expected a PrivacyLedger, got ${describe(o.ledger)}`, { field: 'dp.ledger' });
  if (o.corruptFraction !== undefined) anumber(o.corruptFraction, 'dp.corruptFraction', 0, 0.999);
  return o;
}

/** The accountant is told how the coordinator samples: the strategy's stated sampling must be the coordinator's. */
function asamplingAgrees(strategy: DpFedAvg, sampling: 'fixed' | 'poisson', fraction: number): void {
  const sp = strategy.sampling;
  if (sampling === 'poisson') {
    if (sp === null || sp.type !== 'poisson' || sp.q !== fraction)
      throw new ConfideError('E_BAD_INPUT', `Poisson sampling with fraction ${fraction}: the DP-FedAvg strategy must be made with sampling: { type: 'poisson', q: ${fraction} } so that the accountant is told (got ${describe(sp)})`, { field: 'strategy.sampling' });
  } else if (sp !== null && sp.type === 'poisson')
    throw new ConfideError('E_BAD_INPUT', 'the DP-FedAvg strategy states Poisson sampling but the coordinator samples a fixed number of clients: its event would credit an amplification that does not happen', { field: 'strategy.sampling' });
}

function asecaggFor(c: SecAggConfig | undefined, d: number, dpStrategy: DpFedAvg | undefined): void {
  if (typeof c !== 'object' || c === null) throw new ConfideError('E_BAD_INPUT', '"secagg" expected a SecAggConfig with aggregation: \'secagg\'', { field: 'secagg' });
  if (dpStrategy === undefined) {
    if (c.length !== d) throw new ConfideError('E_BAD_INPUT', `"secagg.length" expected the model's ${d} parameters, got ${describe(c.length)}`, { field: 'secagg.length' });
    if (c.maxWeight === undefined) throw new ConfideError('E_BAD_INPUT', '"secagg.maxWeight" is needed: clients weight their updates by their example counts', { field: 'secagg.maxWeight' });
    if (c.noise !== undefined) throw new ConfideError('E_BAD_INPUT', '"secagg.noise" (distributed DP) needs a DpFedAvg strategy and a ledger', { field: 'secagg.noise' });
    return;
  }
  // Clients send normalised updates clip(Δ, C)/C (norm <= 1) and, with adaptive clipping, the count bit worth k (dp_fedavg.ts).
  if (c.noise === undefined) throw new ConfideError('E_BAD_INPUT', '"secagg.noise" is needed with DP-FedAvg: the clients add the noise (dpSecAggConfig)', { field: 'secagg.noise' });
  if (c.maxWeight !== undefined) throw new ConfideError('E_BAD_INPUT', '"secagg.maxWeight" must be unset with DP-FedAvg: every client counts once (the fixed denominator qN)', { field: 'secagg.maxWeight' });
  const want = d + (dpStrategy.adaptive ? 1 : 0);
  if (c.length !== want) throw new ConfideError('E_BAD_INPUT', `"secagg.length" expected ${want} (the model's ${d} parameters${dpStrategy.adaptive ? ' and the count of unclipped updates' : ''}), got ${describe(c.length)}`, { field: 'secagg.length' });
  if (!(c.noise.l2Norm >= 1)) throw new ConfideError('E_BAD_INPUT', `"secagg.noise.l2Norm" expected >= 1 (updates are sent normalised by the clip norm), got ${describe(c.noise.l2Norm)}`, { field: 'secagg.noise.l2Norm' });
  const k = countScaleOf(c);
  if (dpStrategy.adaptive && !(k > 0)) throw new ConfideError('E_BAD_INPUT', '"secagg.noise.l2Norm" leaves no room for the count coordinate (adaptive clipping needs l2Norm = √(1 + k²); use dpSecAggConfig)', { field: 'secagg.noise.l2Norm' });
  if (c.bound < Math.max(1, dpStrategy.adaptive ? k : 0)) throw new ConfideError('E_BAD_INPUT', `"secagg.bound" ${c.bound} is below the largest coordinate clients send (${Math.max(1, dpStrategy.adaptive ? k : 0)})`, { field: 'secagg.bound' });
}

/** The zCDP event secagg spends for `survivors` of `clients` (src/secagg noise.ts), for the preview. */
function secaggRoundEvent(c: SecAggConfig, clients: number, survivors: number, corruptFraction = 0) {
  const honest = Math.max(0, survivors - Math.ceil(clients * corruptFraction));
  const rho = distributedGaussianRho({ clientVariance: c.noise!.clientVariance, sensitivity: encodedSensitivity(c), survivors: honest, dimension: c.length + (c.maxWeight === undefined ? 0 : 1) });
  return { type: 'zcdp' as const, rho: Number.isFinite(rho) ? rho : Number.MAX_VALUE };
}

async function aheFor(v: HeAggregationOptions | undefined): Promise<{ plan: AggregationPlan; decryptor: PartyId }> {
  if (typeof v !== 'object' || v === null) throw new ConfideError('E_BAD_INPUT', '"he" expected { decryptor, publicKey } with aggregation: \'he\'', { field: 'he' });
  aoptions(v, 'he', ['decryptor', 'publicKey']);
  if (typeof v.decryptor !== 'string' || !/^[0-9a-f]{64}$/.test(v.decryptor))
    throw new ConfideError('E_BAD_INPUT', `"he.decryptor" expected a party id (64 lowercase hex digits), got ${describe(v.decryptor)}`, { field: 'he.decryptor' });
  if (!(v.publicKey instanceof Uint8Array)) throw new ConfideError('E_BAD_INPUT', `"he.publicKey" expected a public key bundle (Uint8Array), got ${describe(v.publicKey)}`, { field: 'he.publicKey' });
  const opened = await openPublicKey(v.publicKey);
  opened.context.dispose();
  const plan = opened.plan;
  if (plan.params.scheme !== 'bfv') throw new ConfideError('E_BAD_INPUT', '"he.publicKey" must be a BFV key: masked decryption (the decryptor sees only sum + mask) is BFV only', { field: 'he.publicKey' });
  // Each client also sends its weight (<= 1) as the last value, so the plan's bound must hold it.
  if (plan.bound < 1) throw new ConfideError('E_BAD_INPUT', `"he.publicKey" is planned for values within ±${plan.bound}; the weight coordinate needs a bound >= 1`, { field: 'he.publicKey' });
  return { plan, decryptor: v.decryptor };
}

function budgetStop(r: number, dataset: string, requested: number | undefined, ledger: PrivacyLedger, cause?: unknown): ConfideError {
  const o = ledger.odometer(dataset);
  return new ConfideError('E_BUDGET_EXCEEDED', `training stops before round ${r}: round ${r} would exceed the privacy budget of ${describe(dataset)} (${o.spent} spent of ${o.budget}${requested === undefined ? '' : `, ${requested} after the round`})`, {
    field: 'dp',
    details: { round: r, dataset, spent: o.spent, budget: o.budget },
    ...(cause === undefined ? {} : { cause }),
  });
}

/** Waits for `n` clients (and the HE decryptor, when there is one, which is not a client). */
async function waitForClients(server: PartyServer, n: number, timeoutMs: number, decryptor: PartyId | undefined): Promise<PartyId[]> {
  if (decryptor === undefined) return [...(await server.waitForParties(n, { timeoutMs }))];
  const until = Date.now() + timeoutMs;
  for (;;) {
    const all = await server.waitForParties(n + 1, { timeoutMs: Math.max(1, until - Date.now()) });
    const clients = all.filter((p) => p !== decryptor);
    if (all.includes(decryptor) && clients.length >= n) return clients;
    if (Date.now() >= until) throw new ConfideError('E_TIMEOUT', `the HE decryptor ${decryptor.slice(0, 16)}… did not join within ${timeoutMs} ms`, { field: 'he.decryptor' });
    await new Promise((res) => setTimeout(res, 50));
  }
}

/** Sends the model to every connected client for evaluation and combines their answers, weighted by examples. */
async function evaluateRound(server: PartyServer, r: number, weights: Tensors, deadlineMs: number, exclude?: PartyId): Promise<RoundMetrics['evaluation']> {
  const { names, payloads } = pack(weights);
  const to = await server.broadcast(0, { header: { kind: 'evaluate', round: r, names }, payloads }, { to: server.parties().filter((p) => p !== exclude) });
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
