/**
 * The federated client: joins a coordinator, and for every instruction runs
 * the user's `fit` or `evaluate` on its own data, sending back only the new
 * weights (or the delta), its example count and metrics. The training data
 * never leaves the process.
 */
import { aoptions } from '../core/assert.ts';
import { ConfideError, describe, isConfideError } from '../core/errors.ts';
import type { Identity, NetListener, PartyId, Received, Transport } from '../net/index.ts';
import { CoordinatorLink } from './_link.ts';
import { runClient as runHeClient } from '../he/index.ts';
import { runSecAggClient, type SecAggConfig } from '../secagg/index.ts';
import { systemRng } from '../core/random.ts';
import { clipAndEncode, countScaleOf } from './dp_fedavg.ts';
import type { FitConfig } from './strategies.ts';
import { atensors, flatten, subtractTensors, type Tensors } from './tensors.ts';

export interface ClientFitResult {
  /** The weights after local training, or (exactly one of the two) the change to the weights received. */
  weights?: Tensors;
  delta?: Tensors;
  /** Training examples used (the FedAvg weight), an integer >= 1. */
  examples: number;
  /** Mean training loss, reported in the round metrics. */
  loss?: number;
}

export interface ClientEvaluateResult {
  loss: number;
  accuracy: number;
  examples: number;
}

export interface ClientOptions {
  transport: Transport;
  address: string;
  identity: Identity;
  serverId?: PartyId;
  token?: Uint8Array;
  /**
   * Local training. `weights` are views of the received message (checked
   * finite; fit may write to them). In plain rounds the returned tensors are
   * sent as they are, not copied: leave them unchanged until fit is called
   * again (they may be read until then, e.g. to resend after a lost link).
   */
  fit: (weights: Tensors, config: FitConfig & { round: number }) => ClientFitResult | Promise<ClientFitResult>;
  evaluate?: (weights: Tensors, config: { round: number }) => ClientEvaluateResult | Promise<ClientEvaluateResult>;
  /** Longest wait for the coordinator's next instruction (default 600,000 ms). */
  idleTimeoutMs?: number;
  /** How long to keep trying to (re)join a coordinator, e.g. one restarted from a checkpoint (default 60,000 ms). */
  rejoinWindowMs?: number;
  on?: NetListener;
  /**
   * The secure-aggregation config this client accepts (the coordinator must
   * use exactly this one; src/secagg checks its digest). Without it the client
   * refuses rounds the coordinator runs with secure aggregation. Coordinates
   * of the update beyond ±bound are clipped (counted in onRound's `clipped`).
   */
  secagg?: SecAggConfig;
  /**
   * The HE decryptor this client trusts: it encrypts only under a key bundle
   * signed by this party id (so the coordinator cannot substitute a key of its
   * own). Without it the client refuses rounds run with homomorphic aggregation.
   */
  he?: { decryptor: PartyId };
  /** Called after each instruction handled (progress output). */
  onRound?: (event: { kind: 'fit' | 'skip' | 'evaluate'; round: number; clipped?: number; failed?: boolean }) => void;
}

export interface ClientSummary {
  readonly fitted: number;
  readonly evaluated: number;
  readonly reason: string;
}

const KEYS = ['transport', 'address', 'identity', 'serverId', 'token', 'fit', 'evaluate', 'idleTimeoutMs', 'rejoinWindowMs', 'on', 'secagg', 'he', 'onRound'];

function tensorsOf(m: Received): Tensors {
  const names = typeof m.header.names === 'string' ? m.header.names.split('\n') : [];
  if (names.length !== m.payloads.length) throw new ConfideError('E_PROTOCOL', 'fl: instruction with mismatched tensors', { field: 'names' });
  const out: Tensors = {};
  names.forEach((n, i) => {
    const p = m.payloads[i];
    if (!(p instanceof Float32Array)) throw new ConfideError('E_PROTOCOL', `fl: tensor ${describe(n)} is not float32`, { field: 'payloads' });
    // Used in place: a view of the received message, which is this client's own buffer (fit may even write to it).
    out[n] = p;
  });
  return atensors(out, 'weights');
}

/**
 * One secure-aggregation or HE round from the client's side. A round the
 * coordinator aborts or lets lapse (too few clients, a deadline, a decryptor
 * that left) is a failed round, not the end of the client: it waits for the
 * next instruction. A key bundle not signed by the pinned decryptor (E_CRYPTO)
 * is refused the same way: nothing was encrypted under it.
 */
async function secureRound<T>(run: () => Promise<T>): Promise<T | undefined> {
  try {
    return await run();
  } catch (e) {
    if (isConfideError(e) && (e.code === 'E_PROTOCOL' || e.code === 'E_TIMEOUT' || e.code === 'E_CRYPTO')) return undefined;
    throw e;
  }
}

/**
 * Serves the coordinator's instructions until it says 'done'. A lost link is
 * the runtime's to restore (same session); a coordinator that restarts (a new
 * session, e.g. after a crash and resume) is joined again for up to
 * `rejoinWindowMs`.
 */
export async function runClient(options: ClientOptions): Promise<ClientSummary> {
  aoptions(options, 'options', KEYS);
  if (typeof options !== 'object' || options === null) throw new ConfideError('E_BAD_INPUT', '"options" expected client options', { field: 'options' });
  if (typeof options.fit !== 'function') throw new ConfideError('E_BAD_INPUT', `"fit" expected a function, got ${describe(options.fit)}`, { field: 'fit' });
  if (options.evaluate !== undefined && typeof options.evaluate !== 'function') throw new ConfideError('E_BAD_INPUT', `"evaluate" expected a function, got ${describe(options.evaluate)}`, { field: 'evaluate' });
  if (options.he !== undefined && (typeof options.he !== 'object' || options.he === null || typeof options.he.decryptor !== 'string' || !/^[0-9a-f]{64}$/.test(options.he.decryptor)))
    throw new ConfideError('E_BAD_INPUT', `"he" expected { decryptor: <party id> }, got ${describe(options.he)}`, { field: 'he' });
  const idle = options.idleTimeoutMs ?? 600_000;
  const rejoin = options.rejoinWindowMs ?? 60_000;
  let fitted = 0, evaluated = 0;
  const link = await CoordinatorLink.open(options, rejoin);
  try {
    for (;;) {
      const m = await link.next(idle);
      const party = link.party;
      const h = m.header;
      const round = typeof h.round === 'number' ? h.round : -1;
      if (h.kind === 'done') return { fitted, evaluated, reason: typeof h.reason === 'string' ? h.reason : 'done' };
      if (h.kind === 'skip') {
        options.onRound?.({ kind: 'skip', round });
        continue;
      }
      if (h.kind === 'fit') {
        const weights = tensorsOf(m);
        const config = { ...(JSON.parse(typeof h.config === 'string' ? h.config : '{}') as FitConfig), round };
        const r = await options.fit(weights, config);
        if (typeof r !== 'object' || r === null || (r.weights === undefined) === (r.delta === undefined))
          throw new ConfideError('E_BAD_INPUT', '"fit" must return { weights } or { delta } (exactly one) and examples', { field: 'fit' });
        const out = atensors(r.weights ?? r.delta, r.weights ? 'fit().weights' : 'fit().delta', weights);
        if (!Number.isSafeInteger(r.examples) || r.examples < 1) throw new ConfideError('E_BAD_INPUT', `"fit().examples" expected an integer >= 1, got ${describe(r.examples)}`, { field: 'fit().examples' });
        const names = Object.keys(weights);
        if (h.aggregation === 'secagg' && h.dp === 'distributed') {
          if (options.secagg?.noise === undefined)
            throw new ConfideError('E_PROTOCOL', 'fl: the coordinator runs DP-FedAvg with distributed noise but this client has no secagg config with noise', { field: 'secagg' });
          const c = options.secagg;
          const d = names.reduce((n, k) => n + weights[k].length, 0);
          const C = h.clipNorm;
          const k = countScaleOf(c);
          if (typeof C !== 'number' || !(C > 0 && C < Infinity) || (c.length !== d && !(c.length === d + 1 && k > 0)))
            throw new ConfideError('E_PROTOCOL', 'fl: a distributed-DP round without a valid clip norm, or a secagg config that does not fit the model', { field: 'secagg' });
          const delta = flatten(r.delta ?? subtractTensors(out, weights), names);
          // u = clip(Δ, C)/C encoded on secagg's grid 2^-fracBits in integers, ‖u‖₂ <= 1 exactly (as DP-FedAvg clips
          // centrally); with adaptive clipping the clipped-or-not bit, worth k, as one more coordinate. secagg then clips
          // to its pinned l2Norm (a no-op here), encodes (exact on grid values) and adds this client's discrete Gaussian
          // noise before masking, so the coordinator never sees an un-noised sum.
          const grid = 2 ** c.fracBits;
          const { ints, clipped } = clipAndEncode(delta, C, grid, systemRng());
          const input = new Float64Array(c.length);
          for (let i = 0; i < d; i++) input[i] = ints[i] / grid;
          if (c.length === d + 1) input[d] = clipped ? 0 : k;
          const outcome = await secureRound(() => runSecAggClient(party, { identity: options.identity, config: c, input, round: Number(h.secaggRound), timeoutMs: idle }));
          if (outcome === undefined) {
            options.onRound?.({ kind: 'fit', round, failed: true });
            continue;
          }
          fitted++;
          options.onRound?.({ kind: 'fit', round, clipped: outcome.clipped + (clipped ? 1 : 0) });
          continue;
        }
        if (h.aggregation === 'he') {
          if (options.he === undefined)
            throw new ConfideError('E_PROTOCOL', 'fl: the coordinator runs homomorphic aggregation but this client has no HE decryptor pinned', { field: 'he' });
          const delta = flatten(r.delta ?? subtractTensors(out, weights), names);
          const cap = typeof h.maxExamples === 'number' && Number.isSafeInteger(h.maxExamples) && h.maxExamples >= 1 ? h.maxExamples : 1;
          const weight = Math.min(r.examples, cap) / cap;
          // [w·Δ, w] under the decryptor's public key: the coordinator sums ciphertexts and learns Σ w_i Δ_i and Σ w_i.
          const values = new Float64Array(delta.length + 1);
          for (let i = 0; i < delta.length; i++) values[i] = weight * delta[i];
          values[delta.length] = weight;
          const timeoutMs = typeof h.timeoutMs === 'number' && Number.isSafeInteger(h.timeoutMs) && h.timeoutMs >= 1 ? Math.min(h.timeoutMs, idle) : idle;
          const outcome = await secureRound(() => runHeClient({ party, decryptor: options.he!.decryptor, values, timeoutMs, round: Number(h.heRound), waitForResult: false }));
          if (outcome === undefined) {
            options.onRound?.({ kind: 'fit', round, failed: true });
            continue;
          }
          fitted++;
          options.onRound?.({ kind: 'fit', round, clipped: outcome.clipped });
          continue;
        }
        if (h.aggregation === 'secagg') {
          if (options.secagg === undefined)
            throw new ConfideError('E_PROTOCOL', 'fl: the coordinator runs secure aggregation but this client has no secagg config', { field: 'secagg' });
          const delta = r.delta ?? subtractTensors(out, weights);
          // Masked and weighted by the (capped, scaled) example count: the coordinator learns only
          // Σ w_i Δ_i and Σ w_i. Scaling keeps w_i <= maxWeight, so |w_i Δ_i| <= |Δ_i| <= bound.
          const cap = typeof h.maxExamples === 'number' && Number.isSafeInteger(h.maxExamples) && h.maxExamples >= 1 ? h.maxExamples : 1;
          const weight = ((options.secagg.maxWeight ?? 1) * Math.min(r.examples, cap)) / cap;
          // One tensor goes as it is (secagg takes float32 and makes its own copy); several are laid end to end.
          const input = names.length === 1 ? delta[names[0]] : flatten(delta, names);
          const outcome = await secureRound(() => runSecAggClient(party, { identity: options.identity, config: options.secagg!, input, weight, round: Number(h.secaggRound), timeoutMs: idle }));
          if (outcome === undefined) {
            options.onRound?.({ kind: 'fit', round, failed: true });
            continue;
          }
          fitted++;
          options.onRound?.({ kind: 'fit', round, clipped: outcome.clipped });
          continue;
        }
        await party.send(party.serverId, 2 * round - 1, {
          header: { kind: 'fit-result', round, names: names.join('\n'), examples: r.examples, delta: r.delta !== undefined, ...(typeof r.loss === 'number' && Number.isFinite(r.loss) ? { loss: r.loss } : {}) },
          payloads: names.map((n) => out[n]),
          // Lent, not copied into the frame: `out` is fit's result, which nothing here changes, and the next fit
          // comes only with the next instruction, after the coordinator has this update (or closed its round).
        }, { lend: true });
        fitted++;
        options.onRound?.({ kind: 'fit', round });
        continue;
      }
      if (h.kind === 'evaluate') {
        if (options.evaluate === undefined) continue;
        const e = await options.evaluate(tensorsOf(m), { round });
        await party.send(party.serverId, 2 * round, { header: { kind: 'evaluate-result', round, examples: e.examples, loss: e.loss, accuracy: e.accuracy }, payloads: [] });
        evaluated++;
        options.onRound?.({ kind: 'evaluate', round });
      }
    }
  } finally {
    await link.close();
  }
}
