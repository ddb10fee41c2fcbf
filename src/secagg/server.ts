/**
 * The server of secure aggregation (Bonawitz et al. CCS 2017; SecAgg+ graph
 * of Bell et al. CCS 2020). `SecAggServer` is the state machine: one method
 * per step takes the clients' answers (a map from party id to message) and
 * returns what each client gets next, with no I/O. `runSecAggServer` drives it
 * over a `net` server with deadlines.
 *
 * The sets of the paper: U_1 advertised keys, U_2 sent shares, U_3 sent a
 * masked input, U_4 signed the survivor set, U_5 sent unmasking shares. A
 * client that sends something malformed or mis-signed is excluded (listed in
 * `excluded` with the reason) and counts as a dropout. After each step the
 * server keeps only clients whose secrets stay recoverable: a client needs t
 * holders (itself and its neighbours) left. When that fails for the round,
 * the step throws E_PROTOCOL before the server has asked for any share, so a
 * failed round reveals nothing; a failure at unmasking (fewer than t shares of
 * some secret) leaves the server with fewer than t shares, which Shamir's
 * scheme makes independent of the secret.
 */
import { ainteger, aoptions, abytes } from '../core/assert.ts';
import type { Message } from '../core/codec.ts';
import { ConfideError, describe, isConfideError } from '../core/errors.ts';
import { availableParallelism } from 'node:os';
import { SECRET_FIELD } from '../core/field.ts';
import { randomBytes } from '../core/random.ts';
import { Z32, Z64, type RingVector } from '../core/ring.ts';
import type { PartyId, PartyServer, Received } from '../net/index.ts';
import { release, type PrivacyLedger, type Receipt } from '../dp/index.ts';
import { bytesEqual, KEY_BYTES, SIGNATURE_BYTES, usableKey, x25519FromSecret } from './_crypto.ts';
import { advertiseTranscript, consistencyTranscript, graphOf, selfSeed } from './client.ts';
import { aconfig, checkRound, codecOf, configDigest, wireLength, type SecAggConfig } from './config.ts';
import {
  ADVERTISE_BYTES,
  MAX_ROUND,
  PHASE,
  ROUND_STRIDE,
  SHARE_BYTES,
  SHARE_CIPHERTEXT_BYTES,
  SHARE_KIND_B,
  SHARE_KIND_S,
  abortMessage,
  bytesPayload,
  expectKind,
  indexPayload,
  keyAt,
  message,
  payloadCount,
  pointOf,
  protocolError,
  type Phase,
} from './_wire.ts';
import type { SecAggGraph } from './graph.ts';
import { distributedGaussianRho, encodedSensitivity, honestSurvivors, noiseDimension } from './noise.ts';
import { interpolate, lagrangeAtZero, shareValue } from './shamir.ts';
import { MaskSum, regenerate, signedBatch, verifyMany, warmWorkers, type PairJobs } from './_unmask.ts';

export interface SecAggServerOptions {
  /** The session id (16 bytes: `server.sessionId`). */
  sessionId: Uint8Array;
  round: number;
  config: SecAggConfig;
  /** The round's clients (party ids); at least 2. */
  participants: readonly PartyId[];
  /** 32-byte public seed that orders the Harary graph (default: fresh random bytes). */
  graphSeed?: Uint8Array;
  /**
   * Threads (the caller's included) that regenerate dropped clients' masks at
   * unmasking; 1 keeps it on the calling thread. Default: the machine's
   * parallelism (at most 8) when the work is large, else 1. The sum is the same.
   */
  threads?: number;
}

export interface SecAggOutput {
  /** The sum of the survivors' encoded vectors (their noise included), in the ring. */
  sum: RingVector;
  /** The decoded sum of the vectors (weighted by each client's weight when weights are carried). */
  values: Float64Array;
  /** The sum of the survivors' weights (config.maxWeight set), else the number of survivors. */
  weight: number;
  /** Clients whose inputs are in the sum (U_3). */
  survivors: PartyId[];
  /** Clients lost at each step (dropped or excluded). */
  dropped: Record<Phase, PartyId[]>;
  /** Clients excluded for malformed or mis-signed messages, with the reason. */
  excluded: { party: PartyId; step: Phase; reason: string }[];
  /** Worker threads that regenerated dropped clients' masks beside the calling thread (0: the calling thread did all of it). */
  workerThreads: number;
}

interface Keys {
  cPk: Uint8Array;
  sPk: Uint8Array;
  sig: Uint8Array;
}

/** Mask words to regenerate below which worker threads do not pay for their start. */
const MIN_THREADED_WORDS = 2 ** 24;
/** Clients from which checking their signatures (about 110 µs each) on worker threads pays for starting them. */
const MIN_THREADED_SIGNERS = 256;

/**
 * Fixed-size records of the clients in `set` (ascending), packed in that
 * order, with each client's rank, so that a client's neighbours' records can
 * be gathered by runs (`gather`) rather than one copy per record: in the
 * complete graph a client's neighbours are two runs.
 */
function packRecords(set: Iterable<number>, n: number, record: number, write: (v: number, into: Uint8Array, at: number) => void): { packed: Uint8Array; rank: Int32Array } {
  const members = [...set].sort((a, b) => a - b);
  const rank = new Int32Array(n).fill(-1);
  const packed = new Uint8Array(members.length * record);
  members.forEach((v, r) => {
    rank[v] = r;
    write(v, packed, r * record);
  });
  return { packed, rank };
}

/** The records of `nb` (ascending, all ranked) from `packRecords`, copied run by run. */
function gather(packed: Uint8Array, rank: Int32Array, nb: readonly number[], record: number): Uint8Array {
  const out = new Uint8Array(nb.length * record);
  for (let j = 0; j < nb.length; ) {
    let k = j + 1;
    while (k < nb.length && rank[nb[k]] === rank[nb[k - 1]] + 1) k++;
    out.set(packed.subarray(rank[nb[j]] * record, (rank[nb[k - 1]] + 1) * record), j * record);
    j = k;
  }
  return out;
}

function hexToBytes(id: PartyId): Uint8Array {
  return new Uint8Array(Buffer.from(id, 'hex'));
}

export class SecAggServer {
  readonly round: number;
  readonly config: SecAggConfig;
  readonly sessionId: Uint8Array;
  readonly participants: readonly PartyId[];
  readonly graph: SecAggGraph;
  readonly graphSeed: Uint8Array;
  readonly excluded: SecAggOutput['excluded'] = [];
  readonly dropped: Record<Phase, PartyId[]> = { advertise: [], share: [], masked: [], consistency: [], unmask: [] };
  #list: Uint8Array;
  #index = new Map<PartyId, number>();
  #step: Phase | 'begin' | 'done' | 'failed' = 'begin';
  #alive = new Set<number>();
  #keys = new Map<number, Keys>();
  #u2 = new Set<number>();
  #u3: Uint32Array = new Uint32Array(0);
  #u3set = new Set<number>();
  #sum: RingVector | undefined;
  #sigs = new Map<number, Uint8Array>();

  constructor(options: SecAggServerOptions) {
    aoptions(options, 'options', ['sessionId', 'round', 'config', 'participants', 'graphSeed', 'threads']);
    if (options === undefined) throw new ConfideError('E_BAD_INPUT', '"options" expected { sessionId, round, config, participants }', { field: 'options' });
    this.sessionId = abytes(options.sessionId, 'sessionId', 16).slice();
    this.round = ainteger(options.round, 'round', 0, MAX_ROUND);
    this.config = aconfig(options.config);
    const ps = options.participants;
    if (!Array.isArray(ps)) throw new ConfideError('E_BAD_INPUT', `"participants" expected an array of party ids, got ${describe(ps)}`, { field: 'participants' });
    ps.forEach((p, i) => {
      if (typeof p !== 'string' || !/^[0-9a-f]{64}$/.test(p)) throw new ConfideError('E_BAD_INPUT', `"participants[${i}]" expected a party id, got ${describe(p)}`, { field: `participants[${i}]` });
    });
    // Lowercase hex sorts like the bytes it encodes: indices are canonical.
    const sorted = [...new Set(ps)].sort();
    if (sorted.length !== ps.length) throw new ConfideError('E_BAD_INPUT', '"participants" lists a party twice', { field: 'participants' });
    checkRound(this.config, sorted.length);
    this.participants = sorted;
    this.#list = new Uint8Array(sorted.length * KEY_BYTES);
    sorted.forEach((p, i) => {
      this.#list.set(hexToBytes(p), i * KEY_BYTES);
      this.#index.set(p, i);
    });
    this.graphSeed = options.graphSeed === undefined ? randomBytes(32) : abytes(options.graphSeed, 'graphSeed', 32).slice();
    this.graph = graphOf(this.config, sorted.length, this.graphSeed);
    this.#threads = options.threads === undefined ? undefined : ainteger(options.threads, 'threads', 1, 64);
  }

  #threads: number | undefined;

  /** Threads for `masks` mask expansions: starting a worker costs about as much as a few hundred masks of 10K. */
  #threadsFor(masks: number): number {
    if (this.#threads !== undefined) return this.#threads;
    return masks * wireLength(this.config) >= MIN_THREADED_WORDS ? Math.min(8, availableParallelism()) : 1;
  }

  get step(): string {
    return this.#step;
  }

  /** Clients still in the round. */
  alive(): PartyId[] {
    return [...this.#alive].sort((a, b) => a - b).map((i) => this.participants[i]);
  }

  /** The announcement every participant gets (net round 8r + 1). */
  begin(): Message {
    this.#expect('begin');
    this.#step = 'advertise';
    for (let i = 0; i < this.participants.length; i++) this.#alive.add(i);
    // Unmasking removes at least one self mask per client, and two signatures per client are checked:
    // when that calls for threads, start them now, so that their start-up overlaps the wait for the
    // clients rather than a step's work.
    const n = this.participants.length;
    const threads = this.#threads ?? (n >= MIN_THREADED_SIGNERS ? Math.min(8, availableParallelism()) : this.#threadsFor(n));
    if (threads > 1) warmWorkers(threads);
    return message('begin', [this.#list.slice()], { round: this.round, config: configDigest(this.config), seed: this.graphSeed.slice() });
  }

  #expect(step: string): void {
    if (this.#step !== step) throw new ConfideError('E_STATE', `secagg server: expected step "${this.#step}", not "${step}"`, { field: 'step' });
  }

  /**
   * Runs one step: reads each alive client's message (absent = dropped;
   * malformed = excluded), then prunes, checks the threshold, and builds the
   * replies. Any failure moves the server to 'failed'.
   */
  #phase<T>(step: Phase, answers: ReadonlyMap<PartyId, Message>, read: (i: number, m: Message) => void, after: () => T): T {
    this.#expect(step);
    if (!(answers instanceof Map)) throw new ConfideError('E_BAD_INPUT', `"answers" expected a Map from party id to message, got ${describe(answers)}`, { field: 'answers' });
    try {
      for (const i of [...this.#alive]) {
        const p = this.participants[i];
        const m = answers.get(p);
        if (m === undefined) {
          this.#lose(i, step);
          continue;
        }
        try {
          if (typeof m !== 'object' || m === null || typeof m.header !== 'object' || !Array.isArray(m.payloads)) throw protocolError('not a message', 'message');
          read(i, m);
        } catch (e) {
          this.excluded.push({ party: p, step, reason: isConfideError(e) ? e.message : 'malformed message' });
          this.#lose(i, step);
        }
      }
      const out = after();
      this.#step = step === 'unmask' ? 'done' : (['advertise', 'share', 'masked', 'consistency', 'unmask'] as const)[PHASE[step]];
      return out;
    } catch (e) {
      this.#step = 'failed';
      throw e;
    }
  }

  /** Distinct keys, and no low-order points (their agreements are all zero); the reason when not. */
  #checkKeys(keys: Keys, seen: Set<string>): string | undefined {
    for (const k of [keys.cPk, keys.sPk]) {
      const h = Buffer.from(k).toString('hex');
      if (seen.has(h)) return 'a key was advertised before';
      seen.add(h);
      if (!usableKey(k)) return 'an advertised key is not a usable X25519 key';
    }
    return undefined;
  }

  #exclude(i: number, step: Phase, reason: string): void {
    this.excluded.push({ party: this.participants[i], step, reason });
    this.#lose(i, step);
  }

  #verify(items: { key: Uint8Array; data: Uint8Array; sig: Uint8Array }[]): Uint8Array {
    return verifyMany(signedBatch(items), this.#threads ?? Math.min(8, availableParallelism()));
  }

  #lose(i: number, step: Phase): void {
    if (this.#alive.delete(i)) this.dropped[step].push(this.participants[i]);
  }

  /** Holders of i's shares among `set`: itself (if in it) and its neighbours in it. */
  #holders(i: number, set: ReadonlySet<number>): number {
    let h = set.has(i) ? 1 : 0;
    for (const v of this.graph.neighbours(i)) if (set.has(v)) h++;
    return h;
  }

  /** Drops clients with fewer than t holders alive, until none is left to drop. */
  #prune(step: Phase): void {
    const t = this.config.threshold;
    for (let changed = true; changed; ) {
      changed = false;
      for (const i of [...this.#alive])
        if (this.#holders(i, this.#alive) < t) {
          this.#lose(i, step);
          changed = true;
        }
    }
    if (this.#alive.size < Math.max(2, t))
      throw protocolError(`${this.#alive.size} clients remain after ${step}, fewer than the threshold ${t}: the round fails and nothing is revealed`, 'threshold');
  }

  /** Step 1: the signed keys; returns each client's neighbours' keys. */
  advertised(answers: ReadonlyMap<PartyId, Message>): Map<PartyId, Message> {
    const seen = new Set<string>();
    const pending: { i: number; keys: Keys }[] = [];
    return this.#phase('advertise', answers, (i, m) => {
      expectKind(m, 'advertise');
      payloadCount(m, 1);
      const rec = bytesPayload(m, 0, ADVERTISE_BYTES, 1);
      pending.push({ i, keys: { cPk: rec.slice(0, KEY_BYTES), sPk: rec.slice(KEY_BYTES, 2 * KEY_BYTES), sig: rec.slice(2 * KEY_BYTES) } });
    }, () => {
      // The signatures are checked together (on worker threads too), then the keys in arrival order,
      // exactly as if each had been checked on arrival.
      const ok = this.#verify(pending.map(({ i, keys: k }) => ({ key: keyAt(this.#list, i), data: advertiseTranscript(this.sessionId, this.round, k.cPk, k.sPk), sig: k.sig })));
      pending.forEach(({ i, keys }, j) => {
        const why = ok[j] !== 1 ? 'the keys are not signed by the client identity' : this.#checkKeys(keys, seen);
        if (why === undefined) this.#keys.set(i, keys);
        else this.#exclude(i, 'advertise', protocolError(why, 'advertise').message);
      });
      this.#prune('advertise');
      const out = new Map<PartyId, Message>();
      const { packed, rank } = packRecords(this.#alive, this.participants.length, ADVERTISE_BYTES, (v, into, at) => {
        const k = this.#keys.get(v)!;
        into.set(k.cPk, at);
        into.set(k.sPk, at + KEY_BYTES);
        into.set(k.sig, at + 2 * KEY_BYTES);
      });
      for (const i of this.#alive) {
        const nb = this.graph.neighbours(i).filter((v) => this.#alive.has(v));
        out.set(this.participants[i], message('keys', [Uint32Array.from(nb), gather(packed, rank, nb, ADVERTISE_BYTES)]));
      }
      return out;
    });
  }

  #cts = new Map<number, { to: Uint32Array; cts: Uint8Array }>();
  /** Step 2: the encrypted shares; returns each client's incoming ciphertexts. */
  shared(answers: ReadonlyMap<PartyId, Message>): Map<PartyId, Message> {
    const u1 = new Set(this.#alive);
    return this.#phase('share', answers, (i, m) => {
      expectKind(m, 'shares');
      payloadCount(m, 2);
      const to = indexPayload(m, 0, this.participants.length);
      const expected = this.graph.neighbours(i).filter((v) => u1.has(v));
      if (to.length !== expected.length || expected.some((v, j) => to[j] !== v)) throw protocolError('shares must go to exactly the neighbours that advertised keys', 'shares');
      const cts = bytesPayload(m, 1, SHARE_CIPHERTEXT_BYTES, to.length);
      this.#cts.set(i, { to, cts });
    }, () => {
      this.#prune('share');
      this.#u2 = new Set(this.#alive);
      const out = new Map<PartyId, Message>();
      // v's ciphertexts come from its neighbours in U_2 in ascending order, and each of those lists v
      // among its recipients (it sent to exactly its neighbours in U_1 ⊇ U_2). So a pass over the
      // senders in ascending order fills each recipient's list front to back: one native copy per
      // 90-byte record, read in sending order, with no search.
      const inbox: ({ from: number[]; cts: Uint8Array; filled: number } | undefined)[] = new Array(this.participants.length);
      for (const v of this.#u2) {
        const from = this.graph.neighbours(v).filter((u) => this.#u2.has(u));
        inbox[v] = { from, cts: new Uint8Array(from.length * SHARE_CIPHERTEXT_BYTES), filled: 0 };
      }
      for (const u of [...this.#u2].sort((a, b) => a - b)) {
        const e = this.#cts.get(u)!;
        for (let j = 0; j < e.to.length; j++) {
          const box = inbox[e.to[j]];
          if (box === undefined) continue;
          box.cts.set(e.cts.subarray(j * SHARE_CIPHERTEXT_BYTES, (j + 1) * SHARE_CIPHERTEXT_BYTES), box.filled++ * SHARE_CIPHERTEXT_BYTES);
        }
      }
      for (const v of this.#alive) {
        const box = inbox[v]!;
        if (box.filled !== box.from.length) throw protocolError(`internal: ${box.filled} ciphertexts for client ${v}, expected ${box.from.length}`, 'shares');
        out.set(this.participants[v], message('ciphertexts', [Uint32Array.from(box.from), box.cts]));
      }
      this.#cts.clear();
      return out;
    });
  }

  /** Step 3: the masked inputs, summed as they are read; returns the survivor set for each survivor. */
  masked(answers: ReadonlyMap<PartyId, Message>): Map<PartyId, Message> {
    const len = wireLength(this.config);
    const ring = this.config.bits === 32 ? Z32 : Z64;
    const sum = ring.zeros(len) as RingVector;
    const ys = new Map<number, RingVector>();
    return this.#phase('masked', answers, (i, m) => {
      expectKind(m, 'masked');
      payloadCount(m, 1);
      const y = m.payloads[0];
      if (!(y instanceof ring.Array) || y.length !== len) throw protocolError(`the masked input expected a ${ring.Array.name} of ${len} values`, 'masked');
      ys.set(i, y as RingVector);
    }, () => {
      // The masked inputs are summed only once the set is final: an excluded client's must not count.
      const u3 = new Set(this.#alive);
      for (const v of this.#u2)
        if (this.#holders(v, u3) < this.config.threshold)
          throw protocolError(`client ${v}'s secrets have fewer than ${this.config.threshold} holders among the survivors: the round fails and nothing is revealed`, 'threshold');
      if (u3.size < Math.max(2, this.config.threshold)) throw protocolError(`${u3.size} masked inputs, fewer than the threshold ${this.config.threshold}`, 'threshold');
      // Summed in WASM memory by the SIMD add kernel (each input is copied in: a memcpy), then copied
      // out, so that no WASM memory is held while the server waits for the next step.
      const acc = new MaskSum(this.config.bits, len);
      try {
        for (const i of u3) acc.add(ys.get(i)!);
        acc.copyTo(sum);
      } finally {
        acc.free();
      }
      ys.clear();
      this.#sum = sum;
      this.#u3 = Uint32Array.from([...u3].sort((a, b) => a - b));
      this.#u3set = u3;
      const msg = message('survivors', [this.#u3.slice()]);
      return new Map([...u3].map((i) => [this.participants[i], msg] as const));
    });
  }

  /** Number of clients whose masked input is in the sum (after step 3). */
  get survivorCount(): number {
    return this.#u3.length;
  }

  /** Step 4: the signatures on the survivor set; returns each client's neighbours' signatures. */
  consistent(answers: ReadonlyMap<PartyId, Message>): Map<PartyId, Message> {
    const t = consistencyTranscript(this.sessionId, this.round, this.#u3);
    const pending: { i: number; sig: Uint8Array }[] = [];
    return this.#phase('consistency', answers, (i, m) => {
      expectKind(m, 'consistency');
      payloadCount(m, 1);
      pending.push({ i, sig: bytesPayload(m, 0, SIGNATURE_BYTES, 1).slice() });
    }, () => {
      const ok = this.#verify(pending.map(({ i, sig }) => ({ key: keyAt(this.#list, i), data: t, sig })));
      pending.forEach(({ i, sig }, j) => {
        if (ok[j] === 1) this.#sigs.set(i, sig);
        else this.#exclude(i, 'consistency', protocolError('the survivor set is not signed by the client identity', 'consistency').message);
      });
      this.#checkRecoverable(this.#alive, 'consistency');
      const out = new Map<PartyId, Message>();
      const { packed, rank } = packRecords(this.#alive, this.participants.length, SIGNATURE_BYTES, (v, into, at) => into.set(this.#sigs.get(v)!, at));
      for (const i of this.#alive) {
        const nb = this.graph.neighbours(i).filter((v) => this.#alive.has(v));
        out.set(this.participants[i], message('signatures', [Uint32Array.from(nb), gather(packed, rank, nb, SIGNATURE_BYTES)]));
      }
      return out;
    });
  }

  /** Every secret still needed has t holders in `set`. */
  #checkRecoverable(set: ReadonlySet<number>, step: string): void {
    for (const v of this.#u2)
      if (this.#holders(v, set) < this.config.threshold)
        throw protocolError(`after ${step}, client ${v}'s secrets have fewer than ${this.config.threshold} holders left: the round fails`, 'threshold');
  }

  /** Step 5: the shares; reconstructs the secrets, removes the masks and returns the sum. */
  unmasked(answers: ReadonlyMap<PartyId, Message>): SecAggOutput {
    const n = this.participants.length;
    // Shares are kept as (bytes, offset) and read as integers only when they are among the t used.
    type Held = { x: number[]; bytes: Uint8Array[]; at: number[] };
    const bShares = new Map<number, Held>();
    const sShares = new Map<number, Held>();
    const got = new Map<number, { owners: Uint32Array; kinds: Uint8Array; shares: Uint8Array }>();
    return this.#phase('unmask', answers, (i, m) => {
      expectKind(m, 'unmask');
      payloadCount(m, 3);
      const owners = indexPayload(m, 0, n);
      const kinds = bytesPayload(m, 1, 1, owners.length);
      const shares = bytesPayload(m, 2, SHARE_BYTES, owners.length);
      for (let j = 0; j < owners.length; j++) {
        const v = owners[j];
        if (!this.#u2.has(v) || (v !== i && !this.graph.adjacent(i, v))) throw protocolError(`a share of client ${v}, which this client does not hold`, 'unmask');
        if (kinds[j] !== (this.#u3set.has(v) ? SHARE_KIND_B : SHARE_KIND_S)) throw protocolError(`the wrong kind of share for client ${v}`, 'unmask');
        // Below 2^256 (top byte 0) a share is a field element; only the rare rest needs the full comparison.
        if (shares[j * SHARE_BYTES + SHARE_BYTES - 1] !== 0 && shareValue(shares, j * SHARE_BYTES) >= SECRET_FIELD.p) throw protocolError('a share is not a field element', 'unmask');
      }
      got.set(i, { owners, kinds, shares });
    }, () => {
      for (const [i, g] of got) {
        if (!this.#alive.has(i)) continue;
        for (let j = 0; j < g.owners.length; j++) {
          const v = g.owners[j];
          const into = g.kinds[j] === SHARE_KIND_B ? bShares : sShares;
          let e = into.get(v);
          if (e === undefined) into.set(v, (e = { x: [], bytes: [], at: [] }));
          e.x.push(pointOf(i));
          e.bytes.push(g.shares);
          e.at.push(j * SHARE_BYTES);
        }
      }
      const t = this.config.threshold;
      // Coefficients per holder set: in the complete graph every secret comes from the same first t
      // holders, so one set serves all; the last set is compared first, point by point.
      const lagrange = new Map<string, bigint[]>();
      let lastXs: number[] = [];
      let lastLambdas: bigint[] = [];
      const secretOf = (v: number, from: Map<number, Held>, what: string) => {
        const e = from.get(v);
        if (e === undefined || e.x.length < t)
          throw protocolError(`${e?.x.length ?? 0} shares of client ${v}'s ${what}, fewer than the threshold ${t}: the round fails`, 'threshold');
        const xs = e.x.slice(0, t);
        // In the complete graph every secret comes from the same first t holders: one set of coefficients.
        let lambdas: bigint[];
        if (xs.length === lastXs.length && xs.every((x, k) => x === lastXs[k])) lambdas = lastLambdas;
        else {
          const key = xs.join(',');
          lambdas = lagrange.get(key) ?? lagrangeAtZero(xs);
          lagrange.set(key, lambdas);
          lastXs = xs;
          lastLambdas = lambdas;
        }
        const ys: bigint[] = new Array(t);
        for (let k = 0; k < t; k++) ys[k] = shareValue(e.bytes[k], e.at[k]);
        const value = interpolate(lambdas, ys);
        if (value >= 1n << 256n) throw protocolError(`the shares of client ${v}'s ${what} are inconsistent`, 'unmask');
        const out = new Uint8Array(32);
        let x = value;
        for (let k = 0; k < 32; k++, x >>= 8n) out[k] = Number(x & 0xffn);
        return out;
      };
      // Reconstruct everything first, so that a failure leaves the sum masked.
      const selfSeeds = new Uint8Array(this.#u3.length * KEY_BYTES);
      this.#u3.forEach((v, k) => {
        const b = secretOf(v, bShares, 'self-mask seed');
        const seed = selfSeed(b, this.sessionId, this.round, keyAt(this.#list, v));
        selfSeeds.set(seed, k * KEY_BYTES);
        b.fill(0);
        seed.fill(0);
      });
      const dropped = [...this.#u2].filter((v) => !this.#u3set.has(v));
      const jobs: PairJobs = {
        secretKeys: new Uint8Array(dropped.length * KEY_BYTES),
        dropped: Uint32Array.from(dropped),
        owner: new Uint32Array(0),
        peer: new Uint32Array(0),
        ids: this.#list,
        maskKeys: new Uint8Array(n * KEY_BYTES),
        selfSeeds,
        selfSign: -1,
      };
      const owner: number[] = [];
      const peer: number[] = [];
      dropped.forEach((v, o) => {
        const sk = secretOf(v, sShares, 'mask key');
        const kp = x25519FromSecret(sk);
        if (!bytesEqual(kp.publicKey, this.#keys.get(v)!.sPk)) throw protocolError(`the shares of client ${v}'s mask key do not match its advertised key`, 'unmask');
        jobs.secretKeys.set(sk, o * KEY_BYTES);
        sk.fill(0);
        for (const w of this.graph.neighbours(v)) {
          if (!this.#u3set.has(w)) continue;
          owner.push(o);
          peer.push(w);
        }
      });
      jobs.owner = Uint32Array.from(owner);
      jobs.peer = Uint32Array.from(peer);
      for (const w of this.#u3) jobs.maskKeys.set(this.#keys.get(w)!.sPk, w * KEY_BYTES);
      const sum = this.#sum!;
      let workerThreads: number;
      try {
        workerThreads = regenerate(sum, jobs, this.sessionId, this.round, this.#threadsFor(selfSeeds.length / KEY_BYTES + jobs.peer.length));
      } finally {
        jobs.secretKeys.fill(0);
        selfSeeds.fill(0);
      }
      const decoded = codecOf(this.config).decode(sum as never);
      const L = this.config.length;
      return {
        sum,
        values: decoded.slice(0, L),
        weight: this.config.maxWeight === undefined ? this.#u3.length : decoded[L],
        survivors: [...this.#u3].map((i) => this.participants[i]),
        dropped: this.dropped,
        excluded: this.excluded,
        workerThreads,
      };
    });
  }
}

/** Where a round with distributed noise spends its privacy. */
export interface LedgerOptions {
  ledger: PrivacyLedger;
  dataset: string;
  principal: string;
  purpose?: string;
  query?: string;
  /** Clients that may collude with the server: their noise is not counted (default 0). */
  corruptFraction?: number;
}

export interface RunServerOptions {
  config: SecAggConfig;
  round?: number;
  /** The round's clients (default: every party in the session now). */
  participants?: readonly PartyId[];
  /** Deadline of each step (default 60,000 ms). */
  deadlineMs?: number;
  graphSeed?: Uint8Array;
  /** Threads that regenerate dropped clients' masks (SecAggServerOptions.threads). */
  threads?: number;
  /** Required when config.noise is set: the guarantee is spent here before anything is unmasked. */
  privacy?: LedgerOptions;
}

export interface SecAggResult extends SecAggOutput {
  /** The guarantee spent for this round (with distributed noise). */
  privacy?: { rho: number; honestSurvivors: number; receipt: Receipt };
  /** Milliseconds of server computation per step (waiting excluded). */
  timings: Record<Phase, number>;
}

/**
 * Runs one aggregation round as the server. Lost and misbehaving clients are
 * dropouts; when too few remain the remaining clients get an abort and the
 * call rejects with E_PROTOCOL (nothing is unmasked). With noise, the round's
 * ρ for the actual honest survivors is spent from the ledger after the masked
 * inputs are in and before any share is requested; a refused spend aborts the
 * round with E_BUDGET_EXCEEDED.
 */
export async function runSecAggServer(server: PartyServer, options: RunServerOptions): Promise<SecAggResult> {
  if (typeof server !== 'object' || server === null || typeof (server as PartyServer).collect !== 'function')
    throw new ConfideError('E_BAD_INPUT', `"server" expected a PartyServer, got ${describe(server)}`, { field: 'server' });
  aoptions(options, 'options', ['config', 'round', 'participants', 'deadlineMs', 'graphSeed', 'threads', 'privacy']);
  if (options === undefined) throw new ConfideError('E_BAD_INPUT', '"options" expected { config, ... }', { field: 'options' });
  const config = aconfig(options.config);
  const round = options.round === undefined ? 0 : ainteger(options.round, 'round', 0, MAX_ROUND);
  const deadlineMs = options.deadlineMs === undefined ? 60_000 : ainteger(options.deadlineMs, 'deadlineMs', 1, 2 ** 31 - 1);
  const privacy = options.privacy;
  if (config.noise !== undefined) {
    aoptions(privacy, 'privacy', ['ledger', 'dataset', 'principal', 'purpose', 'query', 'corruptFraction']);
    if (privacy === undefined || typeof privacy.ledger?.spend !== 'function')
      throw new ConfideError('E_BAD_INPUT', '"privacy" expected { ledger, dataset, principal } for a round with distributed noise', { field: 'privacy' });
  } else if (privacy !== undefined) throw new ConfideError('E_BAD_INPUT', '"privacy" needs config.noise', { field: 'privacy' });
  const base = round * ROUND_STRIDE;
  const participants = options.participants ?? server.parties();
  let s: SecAggServer;
  try {
    s = new SecAggServer({ sessionId: server.sessionId, round, config, participants, ...(options.graphSeed === undefined ? {} : { graphSeed: options.graphSeed }), ...(options.threads === undefined ? {} : { threads: options.threads }) });
  } catch (e) {
    // E_OVERFLOW or a threshold the round cannot meet: the clients are told before anything is sent.
    if (isConfideError(e) && e.code !== 'E_BAD_INPUT' && Array.isArray(participants)) {
      const live = new Set(server.parties());
      await server.broadcast(base + PHASE.advertise, abortMessage(e.message), { to: participants.filter((p) => live.has(p)) }).catch(() => undefined);
    }
    throw e;
  }
  const timings: Record<Phase, number> = { advertise: 0, share: 0, masked: 0, consistency: 0, unmask: 0 };
  const all = s.participants;
  let current = [...all];

  const abort = async (step: Phase, e: unknown): Promise<never> => {
    const reason = isConfideError(e) ? e.message : 'internal error';
    // Everyone who answered this step hears of the abort, so that no client waits for its deadline.
    const live = new Set(server.parties());
    await server.broadcast(base + PHASE[step] + 1, abortMessage(reason), { to: current.filter((p) => live.has(p)) }).catch(() => undefined);
    throw e;
  };
  const send = async (netRound: number, out: Map<PartyId, Message>) => {
    await Promise.all([...out].map(([p, m]) => server.send(p, netRound, m)));
    // Clients pruned at this step are told on the round they wait on, so they stop waiting.
    const live = new Set(server.parties());
    const gone = current.filter((p) => !out.has(p) && live.has(p));
    if (gone.length > 0) await server.broadcast(netRound, abortMessage('excluded from the round: too few of its neighbours remain'), { to: gone });
    current = [...out.keys()];
  };
  const step = async <T>(phase: Phase, run: (answers: Map<PartyId, Received>) => T): Promise<T> => {
    const r = await server.collect(base + PHASE[phase], { deadlineMs, from: current });
    const t0 = performance.now();
    let out: T;
    try {
      out = run(r.messages);
    } catch (e) {
      timings[phase] += performance.now() - t0;
      return abort(phase, e);
    }
    timings[phase] += performance.now() - t0;
    for (const x of s.excluded.filter((x) => x.step === phase)) server.drop(x.party, `secagg: ${x.reason}`);
    return out;
  };

  await server.broadcast(base + PHASE.advertise, s.begin(), { to: all });
  await send(base + PHASE.share, await step('advertise', (a) => s.advertised(a)));
  await send(base + PHASE.masked, await step('share', (a) => s.shared(a)));
  const survivorSets = await step('masked', (a) => s.masked(a));
  const unmask = async (): Promise<SecAggOutput> => {
    await send(base + PHASE.consistency, survivorSets);
    await send(base + PHASE.unmask, await step('consistency', (a) => s.consistent(a)));
    return step('unmask', (a) => s.unmasked(a));
  };
  if (config.noise === undefined) return { ...(await unmask()), timings };
  const p = privacy!;
  const honest = honestSurvivors(s.survivorCount, all.length, p.corruptFraction ?? 0);
  const rho = distributedGaussianRho({ clientVariance: config.noise.clientVariance, sensitivity: encodedSensitivity(config), survivors: honest, dimension: noiseDimension(config) });
  if (!Number.isFinite(rho)) return abort('masked', protocolError('no honest client survived to carry the noise', 'privacy'));
  let released;
  try {
    released = await release(
      p.ledger,
      {
        dataset: p.dataset,
        event: { type: 'zcdp', rho },
        principal: p.principal,
        purpose: p.purpose ?? 'secure aggregation with distributed discrete Gaussian noise',
        query: p.query ?? `secagg round ${round}: sum of ${config.length} coordinates over ${s.survivorCount} clients`,
      },
      () => unmask(),
    );
  } catch (e) {
    if (isConfideError(e, 'E_BUDGET_EXCEEDED')) return abort('masked', e);
    throw e;
  }
  return { ...released.value, privacy: { rho, honestSurvivors: honest, receipt: released.receipt }, timings };
}
