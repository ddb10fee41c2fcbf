/**
 * The client of secure aggregation (Bonawitz et al. CCS 2017, figure 4, with
 * the signatures of its actively secure variant and the neighbourhoods of
 * SecAgg+, Bell et al. CCS 2020). `SecAggClient` is the state machine: one
 * method per step, each taking the server's message and returning the reply,
 * with no I/O, so tests can drive it and inspect every message.
 * `runSecAggClient` drives it over a `net` party.
 *
 * Steps and what the client checks before it answers:
 * 1. AdvertiseKeys: the server's announcement names this round's config
 *    (digest), participants and graph seed; the config must be ours and the
 *    round must fit the ring (overflow checked before anything is sent). The
 *    client answers with two fresh X25519 public keys (c for encrypting
 *    shares, s for masks), signed with its identity key over the session and
 *    round.
 * 2. ShareKeys: every neighbour's keys must carry that neighbour's valid
 *    signature and all keys must be distinct; at least t holders (neighbours
 *    and itself) must remain. It draws the self-mask seed b_u, Shamir-shares
 *    b_u and its mask secret key t-of-holders, and encrypts each neighbour's
 *    pair of shares with ChaCha20-Poly1305 under HKDF(X25519(c_u, c_v)),
 *    associated data = session, round, sender, recipient.
 * 3. MaskedInputCollection: y_u = x_u + PRG(b_u) + Σ_v ±PRG(s_uv) mod 2^k
 *    over the neighbours whose shares reached it (+ when u's index is above
 *    v's), every seed HKDF-SHA256(secret, salt = session id, info = label ‖
 *    round ‖ identities), 256 bits, expanded by ChaCha20 (core addMask).
 * 4. ConsistencyCheck: the survivor set must contain it, contain only
 *    neighbours whose shares it holds, and leave t holders; it signs the set.
 * 5. Unmasking: every neighbour's signature on the same survivor set must
 *    verify, and t holders must have signed. For each neighbour v whose share
 *    it holds, it reveals the share of b_v if v survived, else the share of
 *    v's mask key: one of the two, never both, and it answers this step once.
 *
 * Any failed check aborts the round (E_PROTOCOL) and the client answers
 * nothing further, so a server cannot make it try again with other sets.
 */
import { ainteger, aoptions, atyped, abytes } from '../core/assert.ts';
import type { Message } from '../core/codec.ts';
import { ConfideError, describe, isConfideError } from '../core/errors.ts';
import { SECRET_FIELD } from '../core/field.ts';
import { availableParallelism } from 'node:os';
import { arng, randomBytes, systemRng, type Rng } from '../core/random.ts';
import type { RingVector } from '../core/ring.ts';
import type { Identity, Party, PartyId } from '../net/index.ts';
import { agree, bytesEqual, hkdf, KEY_BYTES, open, seal, signWith, transcript, x25519KeyPair, x25519Public, type KeyPair } from './_crypto.ts';
import { regenerate, signedBatch, verifyMany, warmWorkers } from './_unmask.ts';
import { aconfig, aweight, checkRound, codecOf, configDigest, wireLength, type SecAggConfig } from './config.ts';
import {
  ADVERTISE_BYTES,
  MAX_ROUND,
  PHASE,
  PROTOCOL,
  ROUND_STRIDE,
  SHARE_BYTES,
  SHARE_CIPHERTEXT_BYTES,
  SHARE_KIND_B,
  SHARE_KIND_S,
  bytesPayload,
  expectKind,
  headerBytes,
  headerInt,
  indexPayload,
  keyAt,
  message,
  payloadCount,
  pointOf,
  protocolError,
  type Phase,
  PHASES,
} from './_wire.ts';
import { completeGraph, hararyGraph, type SecAggGraph } from './graph.ts';
import { addDiscreteGaussian, clipL2 } from './noise.ts';
import { shamirShare } from './shamir.ts';
import type { KeyObject } from 'node:crypto';

export interface SecAggClientOptions {
  /** The client's identity (its net identity: the key its messages are signed with). */
  identity: Identity;
  /** The session id (16 bytes: `party.sessionId`). */
  sessionId: Uint8Array;
  /** Aggregation round number (masks and keys are fresh per round). */
  round: number;
  config: SecAggConfig;
  /** The client's vector (config.length values). */
  input: Float64Array | Float32Array;
  /** Its weight in [0, config.maxWeight] when the config carries weights (default 1). */
  weight?: number;
  /** Randomness for stochastic rounding and noise (default: the system CSPRNG). Keys and seeds always come from the CSPRNG. */
  rng?: Rng;
  /**
   * Threads (the caller's included) that expand this client's masks and check
   * its neighbours' signatures; 1 keeps it on the calling thread. Default:
   * the machine's parallelism (at most 8) when the round is large (at least
   * 2^24 mask words, or 256 neighbours), else 1. The masked input is the same.
   */
  threads?: number;
}

/** Mask words from which worker threads pay for their start (as on the server). */
const MIN_THREADED_WORDS = 2 ** 24;
/** Neighbours from which checking their signatures on worker threads pays. */
const MIN_THREADED_SIGNERS = 256;

type Step = Phase | 'done' | 'failed';

interface Peer {
  index: number;
  cPk: Uint8Array;
  sPk: Uint8Array;
}

/** Message pieces signed by clients: each names the protocol, step, session and round. */
export function advertiseTranscript(sessionId: Uint8Array, round: number, cPk: Uint8Array, sPk: Uint8Array): Uint8Array {
  return transcript(`${PROTOCOL}/advertise`, sessionId, round, cPk, sPk);
}

export function consistencyTranscript(sessionId: Uint8Array, round: number, survivors: Uint32Array): Uint8Array {
  return transcript(`${PROTOCOL}/consistency`, sessionId, round, survivors.length, new Uint8Array(survivors.buffer, survivors.byteOffset, survivors.byteLength));
}

/** HKDF key of the AEAD that carries shares from `from` to `to`. */
export function shareKey(secret: Uint8Array, sessionId: Uint8Array, round: number, from: Uint8Array, to: Uint8Array): Uint8Array {
  return hkdf(secret, sessionId, transcript(`${PROTOCOL}/share-key`, round, from, to));
}

export function shareAd(sessionId: Uint8Array, round: number, from: Uint8Array, to: Uint8Array): Uint8Array {
  return transcript(`${PROTOCOL}/share`, sessionId, round, from, to);
}

/** Seed of the pairwise mask between two clients (identity keys in index order). */
export function pairSeed(secret: Uint8Array, sessionId: Uint8Array, round: number, low: Uint8Array, high: Uint8Array): Uint8Array {
  return hkdf(secret, sessionId, transcript(`${PROTOCOL}/pair-mask`, round, low, high));
}

/** Seed of a client's self mask. */
export function selfSeed(b: Uint8Array, sessionId: Uint8Array, round: number, id: Uint8Array): Uint8Array {
  return hkdf(b, sessionId, transcript(`${PROTOCOL}/self-mask`, round, id));
}

export function graphOf(config: SecAggConfig, n: number, seed: Uint8Array): SecAggGraph {
  return config.graph === 'complete' || config.graph.degree >= n - 1 ? completeGraph(n) : hararyGraph(n, config.graph.degree, seed);
}

/** The participant list: 32-byte keys, strictly increasing (so indices are canonical). */
export function checkParticipants(list: Uint8Array): number {
  if (list.length === 0 || list.length % KEY_BYTES !== 0) throw protocolError('the participant list expected whole 32-byte keys', 'participants');
  const n = list.length / KEY_BYTES;
  for (let i = 1; i < n; i++) if (Buffer.compare(keyAt(list, i - 1), keyAt(list, i)) >= 0) throw protocolError('the participant list expected strictly increasing keys', 'participants');
  return n;
}

function aidentityLike(v: unknown): Identity {
  const o = v as Identity | null;
  if (typeof o !== 'object' || o === null || typeof o.id !== 'string' || !/^[0-9a-f]{64}$/.test(o.id) || !(o.publicKey instanceof Uint8Array) ||
    typeof o.privateKey !== 'object' || o.privateKey === null || (o.privateKey as KeyObject).asymmetricKeyType !== 'ed25519')
    throw new ConfideError('E_BAD_INPUT', `"identity" expected an Identity (generateIdentity()), got ${describe(v)}`, { field: 'identity' });
  return o;
}

export class SecAggClient {
  readonly round: number;
  readonly config: SecAggConfig;
  /** Input values that were clipped to ±bound (or scaled to the L2 norm, counted as 1). */
  clipped = 0;
  #identity: Identity;
  #session: Uint8Array;
  #input: Float64Array;
  #weight: number;
  #rng: Rng;
  #step: Step = 'advertise';
  #participants = new Uint8Array(0);
  #me = -1;
  #graph: SecAggGraph | undefined;
  #c: KeyPair | undefined;
  #s: KeyPair | undefined;
  #peers = new Map<number, Peer>();
  #b: Uint8Array | undefined;
  #selfB = 0n;
  /** Neighbours whose shares reached us: U_2 ∩ N(u), with their ciphertexts. */
  #received = new Map<number, Uint8Array>();
  #survivors: Uint32Array | undefined;
  /** Keys of the AEADs that carry each neighbour's shares to this client. */
  #inKeys = new Map<number, Uint8Array>();
  /** What was revealed per owner, so that both shares are never given out. */
  readonly #revealed = new Map<number, number>();
  #threadsOption: number | undefined;
  #threads = 1;

  constructor(options: SecAggClientOptions) {
    aoptions(options, 'options', ['identity', 'sessionId', 'round', 'config', 'input', 'weight', 'rng', 'threads']);
    if (options === undefined) throw new ConfideError('E_BAD_INPUT', '"options" expected { identity, sessionId, round, config, input }', { field: 'options' });
    this.#identity = aidentityLike(options.identity);
    this.#session = abytes(options.sessionId, 'sessionId', 16).slice();
    this.round = ainteger(options.round, 'round', 0, MAX_ROUND);
    this.config = aconfig(options.config);
    const input = atyped(options.input, 'input', Float64Array, Float32Array);
    if (input.length !== this.config.length)
      throw new ConfideError('E_BAD_INPUT', `"input" expected ${this.config.length} values, got ${input.length}`, { field: 'input' });
    for (let i = 0; i < input.length; i++)
      if (!Number.isFinite(input[i])) throw new ConfideError('E_BAD_INPUT', `"input[${i}]" expected a finite number, got ${input[i]}`, { field: `input[${i}]` });
    this.#input = Float64Array.from(input);
    this.#weight = aweight(options.weight, this.config);
    this.#rng = options.rng === undefined ? systemRng() : arng(options.rng);
    this.#threadsOption = options.threads === undefined ? undefined : ainteger(options.threads, 'threads', 1, 64);
  }

  /** This client's index among the round's participants (after the announcement). */
  get index(): number {
    return this.#me;
  }

  /** The step the client expects next: 'advertise' ... 'unmask', then 'done' (or 'failed'). */
  get step(): Step {
    return this.#step;
  }

  #enter(step: Phase, m: Message): void {
    if (this.#step !== step)
      throw new ConfideError('E_STATE', `secagg client: expected step "${this.#step}", not "${step}"${this.#step === 'done' ? ' (each step runs once)' : ''}`, { field: 'step' });
    if (typeof m !== 'object' || m === null || typeof m.header !== 'object' || m.header === null || !Array.isArray(m.payloads)) {
      this.#step = 'failed';
      throw protocolError(`expected a message, got ${describe(m)}`, 'message');
    }
  }

  #run<T>(step: Phase, m: Message, body: () => T): T {
    this.#enter(step, m);
    try {
      const out = body();
      this.#step = PHASES[PHASES.indexOf(step) + 1] ?? 'done';
      return out;
    } catch (e) {
      this.#step = 'failed';
      this.#wipe();
      if (isConfideError(e)) throw e;
      throw new ConfideError('E_PROTOCOL', `secagg: malformed ${step} input`, { field: 'message', cause: e });
    }
  }

  #wipe(): void {
    this.#b?.fill(0);
    this.#selfB = 0n;
    this.#received.clear();
    for (const k of this.#inKeys.values()) k.fill(0);
    this.#inKeys.clear();
  }

  /** Step 1: reads the server's announcement, returns the signed public keys. */
  advertise(announcement: Message): Message {
    return this.#run('advertise', announcement, () => {
      expectKind(announcement, 'begin');
      if (headerInt(announcement, 'round', MAX_ROUND) !== this.round) throw protocolError(`announcement for round ${String(announcement.header.round)}, expected ${this.round}`, 'round');
      if (!bytesEqual(headerBytes(announcement, 'config', 32), configDigest(this.config)))
        throw protocolError("the server's config differs from this client's", 'config');
      const seed = headerBytes(announcement, 'seed', 32);
      payloadCount(announcement, 1);
      const list = bytesPayload(announcement, 0, KEY_BYTES);
      const n = checkParticipants(list);
      this.#participants = list.slice();
      for (let i = 0; i < n; i++) if (bytesEqual(keyAt(list, i), this.#identity.publicKey)) this.#me = i;
      if (this.#me < 0) throw protocolError('this client is not among the participants', 'participants');
      checkRound(this.config, n);
      this.#graph = graphOf(this.config, n, seed);
      const degree = this.#graph.neighbours(this.#me).length;
      this.#threads = this.#threadsOption ?? (degree * wireLength(this.config) >= MIN_THREADED_WORDS || degree >= MIN_THREADED_SIGNERS ? Math.min(8, availableParallelism()) : 1);
      // Started now, so that their start-up overlaps the wait for the server rather than a step's work.
      if (this.#threads > 1) warmWorkers(this.#threads);
      this.#c = x25519KeyPair();
      this.#s = x25519KeyPair();
      const sig = signWith(this.#identity.privateKey, advertiseTranscript(this.#session, this.round, this.#c.publicKey, this.#s.publicKey));
      const rec = new Uint8Array(ADVERTISE_BYTES);
      rec.set(this.#c.publicKey, 0);
      rec.set(this.#s.publicKey, KEY_BYTES);
      rec.set(sig, 2 * KEY_BYTES);
      return message('advertise', [rec]);
    });
  }

  /** Step 2: checks the neighbours' signed keys, returns the encrypted shares. */
  shareKeys(keys: Message): Message {
    return this.#run('share', keys, () => {
      expectKind(keys, 'keys');
      payloadCount(keys, 2);
      const n = this.#participants.length / KEY_BYTES;
      const idx = indexPayload(keys, 0, n);
      const recs = bytesPayload(keys, 1, ADVERTISE_BYTES, idx.length);
      const seen = new Set<string>([Buffer.from(this.#c!.publicKey).toString('hex'), Buffer.from(this.#s!.publicKey).toString('hex')]);
      for (const v of idx) if (!this.#graph!.adjacent(this.#me, v)) throw protocolError(`client ${v} is not a neighbour of client ${this.#me}`, 'keys');
      // All signatures first (on worker threads too when there are many), then the keys in order.
      const ok = verifyMany(
        signedBatch(Array.from(idx, (v, j) => {
          const rec = recs.subarray(j * ADVERTISE_BYTES, (j + 1) * ADVERTISE_BYTES);
          return { key: keyAt(this.#participants, v), data: advertiseTranscript(this.#session, this.round, rec.subarray(0, KEY_BYTES), rec.subarray(KEY_BYTES, 2 * KEY_BYTES)), sig: rec.subarray(2 * KEY_BYTES) };
        })),
        this.#threads,
      );
      for (let j = 0; j < idx.length; j++) {
        const v = idx[j];
        const rec = recs.subarray(j * ADVERTISE_BYTES, (j + 1) * ADVERTISE_BYTES);
        const cPk = rec.slice(0, KEY_BYTES);
        const sPk = rec.slice(KEY_BYTES, 2 * KEY_BYTES);
        if (ok[j] !== 1) throw protocolError(`the keys of client ${v} are not signed by its identity`, 'keys');
        for (const k of [cPk, sPk]) {
          const h = Buffer.from(k).toString('hex');
          if (seen.has(h)) throw protocolError(`client ${v} advertised a key seen before`, 'keys');
          seen.add(h);
        }
        this.#peers.set(v, { index: v, cPk, sPk });
      }
      this.#needHolders(this.#peers.size + 1, 'keys');
      this.#b = randomBytes(32);
      const holders = [this.#me, ...idx].sort((a, b) => a - b);
      const points = holders.map(pointOf);
      const sShares = shamirShare(this.#s!.secretKey, this.config.threshold, points);
      const bShares = shamirShare(this.#b, this.config.threshold, points);
      const me = keyAt(this.#participants, this.#me);
      const cts = new Uint8Array(idx.length * SHARE_CIPHERTEXT_BYTES);
      const plain = new Uint8Array(8 + 2 * SHARE_BYTES);
      const dv = new DataView(plain.buffer);
      let j = 0;
      for (let h = 0; h < holders.length; h++) {
        const v = holders[h];
        if (v === this.#me) {
          this.#selfB = bShares[h].y;
          continue;
        }
        const peer = this.#peers.get(v)!;
        const secret = agree(this.#c!.privateKey, x25519Public(peer.cPk));
        if (secret === undefined) throw protocolError(`client ${v} advertised an unusable key`, 'keys');
        const them = keyAt(this.#participants, v);
        dv.setUint32(0, this.#me, true);
        dv.setUint32(4, v, true);
        plain.set(SECRET_FIELD.toBytes(sShares[h].y), 8);
        plain.set(SECRET_FIELD.toBytes(bShares[h].y), 8 + SHARE_BYTES);
        cts.set(seal(shareKey(secret, this.#session, this.round, me, them), plain, shareAd(this.#session, this.round, me, them)), j * SHARE_CIPHERTEXT_BYTES);
        // The key for v's shares to us comes from the same agreement: derive it now, not again at unmasking.
        this.#inKeys.set(v, shareKey(secret, this.#session, this.round, them, me));
        secret.fill(0);
        j++;
      }
      plain.fill(0);
      return message('shares', [Uint32Array.from(idx), cts]);
    });
  }

  #needHolders(count: number, field: string): void {
    if (count < this.config.threshold)
      throw protocolError(`${count} holders of this client's shares remain, fewer than the threshold ${this.config.threshold}`, field);
  }

  /** Step 3: stores the shares addressed to it, returns the masked input. */
  maskedInput(ciphertexts: Message): Message {
    return this.#run('masked', ciphertexts, () => {
      expectKind(ciphertexts, 'ciphertexts');
      payloadCount(ciphertexts, 2);
      const n = this.#participants.length / KEY_BYTES;
      const from = indexPayload(ciphertexts, 0, n);
      const cts = bytesPayload(ciphertexts, 1, SHARE_CIPHERTEXT_BYTES, from.length);
      for (let j = 0; j < from.length; j++) {
        if (!this.#peers.has(from[j])) throw protocolError(`shares from client ${from[j]}, whose keys this client never received`, 'ciphertexts');
        this.#received.set(from[j], cts.slice(j * SHARE_CIPHERTEXT_BYTES, (j + 1) * SHARE_CIPHERTEXT_BYTES));
      }
      this.#needHolders(this.#received.size + 1, 'ciphertexts');
      const y = this.#encode();
      // y += PRG(b_u) + Σ_v ±PRG(s_uv): the server's regeneration of a dropped client's masks, from
      // this client's side (same seeds, same signs; see _unmask.ts), split across threads.
      const peers = [...this.#received.keys()].sort((a, b) => a - b);
      const maskKeys = new Uint8Array(n * KEY_BYTES);
      for (const v of peers) maskKeys.set(this.#peers.get(v)!.sPk, v * KEY_BYTES);
      const jobs = {
        secretKeys: this.#s!.secretKey.slice(),
        dropped: Uint32Array.of(this.#me),
        owner: new Uint32Array(peers.length),
        peer: Uint32Array.from(peers),
        ids: this.#participants,
        maskKeys,
        selfSeeds: selfSeed(this.#b!, this.#session, this.round, keyAt(this.#participants, this.#me)),
        selfSign: 1 as const,
      };
      this.#b!.fill(0);
      const words = (peers.length + 1) * y.length;
      try {
        regenerate(y, jobs, this.#session, this.round, this.#threadsOption ?? (words >= MIN_THREADED_WORDS ? this.#threads : 1));
      } catch (e) {
        if (isConfideError(e, 'E_PROTOCOL')) throw protocolError('a neighbour advertised an unusable mask key', 'keys');
        throw e;
      } finally {
        jobs.secretKeys.fill(0);
        jobs.selfSeeds.fill(0);
      }
      return message('masked', [y]);
    });
  }

  /** x_u: clipped, weighted, fixed-point encoded, with this client's noise share. */
  #encode(): RingVector {
    const c = this.config;
    const x = new Float64Array(wireLength(c));
    for (let i = 0; i < c.length; i++) x[i] = this.#input[i] * this.#weight;
    if (c.noise !== undefined && clipL2(x.subarray(0, c.length), c.noise.l2Norm)) this.clipped++;
    if (c.maxWeight !== undefined) x[c.length] = this.#weight;
    const { data, clipped } = codecOf(c).encode(x, { rng: this.#rng });
    this.clipped += clipped;
    if (c.noise !== undefined) addDiscreteGaussian(data, c.noise.clientVariance, this.#rng);
    return data;
  }

  /** Step 4: checks the survivor set, returns the signature over it. */
  consistency(survivors: Message): Message {
    return this.#run('consistency', survivors, () => {
      expectKind(survivors, 'survivors');
      payloadCount(survivors, 1);
      const n = this.#participants.length / KEY_BYTES;
      const u3 = indexPayload(survivors, 0, n);
      let mine = false;
      let holders = 0;
      for (const v of u3) {
        if (v === this.#me) {
          mine = true;
          holders++;
        } else if (this.#graph!.adjacent(this.#me, v)) {
          if (!this.#received.has(v)) throw protocolError(`survivor ${v} is a neighbour whose shares never reached this client`, 'survivors');
          holders++;
        }
      }
      if (!mine) throw protocolError('this client is missing from the survivor set', 'survivors');
      if (u3.length < this.config.threshold) throw protocolError(`${u3.length} survivors, fewer than the threshold ${this.config.threshold}`, 'survivors');
      this.#needHolders(holders, 'survivors');
      this.#survivors = Uint32Array.from(u3);
      return message('consistency', [signWith(this.#identity.privateKey, consistencyTranscript(this.#session, this.round, this.#survivors))]);
    });
  }

  /** Step 5: checks the neighbours' signatures on the survivor set, returns one share per neighbour. */
  unmask(signatures: Message): Message {
    return this.#run('unmask', signatures, () => {
      expectKind(signatures, 'signatures');
      payloadCount(signatures, 2);
      const n = this.#participants.length / KEY_BYTES;
      const signers = indexPayload(signatures, 0, n);
      const sigs = bytesPayload(signatures, 1, 64, signers.length);
      const u3 = this.#survivors!;
      const inU3 = new Set(u3);
      const t = consistencyTranscript(this.#session, this.round, u3);
      for (const v of signers) if (!inU3.has(v) || !this.#graph!.adjacent(this.#me, v)) throw protocolError(`signer ${v} is not a surviving neighbour`, 'signatures');
      const ok = verifyMany(signedBatch(Array.from(signers, (v, j) => ({ key: keyAt(this.#participants, v), data: t, sig: sigs.subarray(j * 64, (j + 1) * 64) }))), this.#threads);
      for (let j = 0; j < signers.length; j++) if (ok[j] !== 1) throw protocolError(`client ${signers[j]} did not sign this survivor set`, 'signatures');
      this.#needHolders(signers.length + 1, 'signatures');
      const owners: number[] = [this.#me];
      const kinds: number[] = [SHARE_KIND_B];
      const shares: Uint8Array[] = [SECRET_FIELD.toBytes(this.#selfB)];
      const me = keyAt(this.#participants, this.#me);
      for (const [v, ct] of [...this.#received].sort((a, b) => a[0] - b[0])) {
        const key = this.#inKeys.get(v);
        const them = keyAt(this.#participants, v);
        const plain = key && open(key, ct, shareAd(this.#session, this.round, them, me));
        // A share that does not decrypt (or names other clients) is withheld: revealing nothing for v is always safe.
        if (!plain) continue;
        const dv = new DataView(plain.buffer, plain.byteOffset);
        if (dv.getUint32(0, true) !== v || dv.getUint32(4, true) !== this.#me) continue;
        const kind = inU3.has(v) ? SHARE_KIND_B : SHARE_KIND_S;
        const prior = this.#revealed.get(v);
        if (prior !== undefined && prior !== kind) throw protocolError(`refusing to reveal both shares of client ${v}`, 'survivors');
        this.#revealed.set(v, kind);
        owners.push(v);
        kinds.push(kind);
        shares.push(plain.slice(kind === SHARE_KIND_B ? 8 + SHARE_BYTES : 8, kind === SHARE_KIND_B ? 8 + 2 * SHARE_BYTES : 8 + SHARE_BYTES));
        plain.fill(0);
      }
      const order = owners.map((_, i) => i).sort((a, b) => owners[a] - owners[b]);
      const packed = new Uint8Array(order.length * SHARE_BYTES);
      order.forEach((i, j) => packed.set(shares[i], j * SHARE_BYTES));
      this.#wipe();
      return message('unmask', [Uint32Array.from(order.map((i) => owners[i])), Uint8Array.from(order.map((i) => kinds[i])), packed]);
    });
  }
}

export interface RunClientOptions {
  identity: Identity;
  config: SecAggConfig;
  input: Float64Array | Float32Array;
  weight?: number;
  /** Aggregation round (default 0). */
  round?: number;
  /** How long to wait for each server message (default 60,000 ms). */
  timeoutMs?: number;
  rng?: Rng;
  /** Threads for this client's masks and signature checks (SecAggClientOptions.threads). */
  threads?: number;
  /**
   * For simulations and tests: leave the session (close the party) instead of
   * sending this step's message, as a client that crashes there would.
   */
  dropBefore?: Phase;
}

export interface ClientOutcome {
  /** 'done' after the unmasking answer went out; 'dropped' when dropBefore stopped it. */
  status: 'done' | 'dropped';
  clipped: number;
  /** Milliseconds of computation per step (excluding waiting). */
  timings: Partial<Record<Phase, number>>;
}

/** Runs one aggregation round as a client over a joined `net` party. */
export async function runSecAggClient(party: Party, options: RunClientOptions): Promise<ClientOutcome> {
  if (typeof party !== 'object' || party === null || typeof (party as Party).receive !== 'function')
    throw new ConfideError('E_BAD_INPUT', `"party" expected a joined Party, got ${describe(party)}`, { field: 'party' });
  aoptions(options, 'options', ['identity', 'config', 'input', 'weight', 'round', 'timeoutMs', 'rng', 'dropBefore', 'threads']);
  if (options === undefined) throw new ConfideError('E_BAD_INPUT', '"options" expected { identity, config, input }', { field: 'options' });
  const round = options.round === undefined ? 0 : ainteger(options.round, 'round', 0, MAX_ROUND);
  const timeoutMs = options.timeoutMs === undefined ? 60_000 : ainteger(options.timeoutMs, 'timeoutMs', 1, 2 ** 31 - 1);
  if (options.dropBefore !== undefined && !PHASES.includes(options.dropBefore))
    throw new ConfideError('E_BAD_INPUT', `"dropBefore" expected one of ${PHASES.join(', ')}, got ${describe(options.dropBefore)}`, { field: 'dropBefore' });
  const client = new SecAggClient({
    identity: options.identity,
    sessionId: party.sessionId,
    round,
    config: options.config,
    input: options.input,
    ...(options.weight === undefined ? {} : { weight: options.weight }),
    ...(options.rng === undefined ? {} : { rng: options.rng }),
    ...(options.threads === undefined ? {} : { threads: options.threads }),
  });
  if (options.identity.id !== (party.id as PartyId)) throw new ConfideError('E_BAD_INPUT', '"identity" is not the identity the party joined with', { field: 'identity' });
  const server = party.serverId;
  const base = round * ROUND_STRIDE;
  const timings: Partial<Record<Phase, number>> = {};
  const steps: [Phase, (m: Message) => Message][] = [
    ['advertise', (m) => client.advertise(m)],
    ['share', (m) => client.shareKeys(m)],
    ['masked', (m) => client.maskedInput(m)],
    ['consistency', (m) => client.consistency(m)],
    ['unmask', (m) => client.unmask(m)],
  ];
  for (const [phase, step] of steps) {
    const netRound = base + PHASE[phase];
    const m = await party.receive(netRound, { from: server, timeoutMs });
    if (options.dropBefore === phase) {
      await party.close();
      return { status: 'dropped', clipped: client.clipped, timings };
    }
    const t0 = performance.now();
    const reply = step(m);
    timings[phase] = performance.now() - t0;
    await party.send(server, netRound, reply);
  }
  return { status: 'done', clipped: client.clipped, timings };
}
