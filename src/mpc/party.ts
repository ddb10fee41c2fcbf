/**
 * A party of an MPC session over confide/net. Every party runs the same
 * TypeScript program (input, compute, open); each protocol step takes the
 * next round number, so the same calls in the same order line up across
 * parties, whether the net session is in memory or over WebSocket.
 *
 * Shares travel party to party through the relay, signed by net and sealed
 * here (AES-256-GCM under pairwise X25519 keys: see _box.ts), so the relay
 * learns sizes and timing, never a share or an opened value.
 *
 * - `additive` (default): shares in Z_2^64; every party is needed at every
 *   step, and a missing party is E_PROTOCOL. Multiplication by Beaver triples
 *   from a TripleStore.
 * - `field`: additive shares in a prime field (Fp61 by default, or any
 *   PrimeField below 2^64, e.g. the BFV plaintext field of the dealer-free
 *   triples in hetriples.ts); otherwise as `additive`. Values are Z_2^64 two's
 *   complement outside, mapped centred into the field (|v| < p/2).
 * - `shamir`: t-of-n shares in Fp61 (t defaults to ⌊n/2⌋ + 1); linear
 *   operations and opening go on while at least t parties remain. A party
 *   missing at input has its input left out (all survivors agree on which,
 *   by a round that intersects what each received). Multiplication by
 *   resharing the local products (Gennaro, Rabin and Rabin 1998), which needs
 *   2t − 1 parties present.
 *
 * Fixed-point products are truncated by `truncate` in every sharing (one
 * opening; fixed.ts derives the bounds), with pairs from the TripleStore, from
 * `truncationPairs` ahead of time, or made by the parties inside the call.
 */
import { ainteger, aoptions, astring, atyped } from '../core/assert.ts';
import { ConfideError, describe } from '../core/errors.ts';
import { Fp61 } from '../core/field.ts';
import { arng, systemRng, type Rng } from '../core/random.ts';
import { Z64 } from '../core/ring.ts';
import { addMask, expandSeed } from '../core/prg.ts';
import type { Party, PartyId } from '../net/index.ts';
import { Box, boxKeyPair } from './_box.ts';
import { sub64, sum64 } from './_z64.ts';
import { TripleStore, TruncationPair, holdTriples, randomBelow2, reserveTriples, shiftRight64, type HeldTriples } from './beaver.ts';
import { arenaAlloc, fieldParams, kernels, type ArenaVector, type FieldParams } from '../core/wasm/loader.ts';
import { TRUNCATION_SIGMA_HIDING, assertTruncationFits, truncateFinish, truncateMask, truncationShape } from './fixed.ts';
import { shareAdditive } from './additive.ts';
import { lagrangeAtZero, reconstructShamir, shareShamir, type ShamirShare } from './shamir.ts';
import { fromFieldCentred, toFieldCentred, vectorField, type FieldLike, type VectorField } from './_vfield.ts';

export type Sharing = 'additive' | 'shamir' | 'field';

/** This party's share of a secret vector. */
export class Shared {
  readonly sharing: Sharing;
  /** Z_2^64 elements (additive), elements of the session's field (field) or Fp61 elements (Shamir). */
  readonly share: BigUint64Array;
  constructor(sharing: Sharing, share: BigUint64Array) {
    this.sharing = sharing;
    this.share = share;
  }
  get length(): number {
    return this.share.length;
  }
}

export interface MpcPartyOptions {
  /** A joined confide/net party. */
  net: Party;
  /** Every party's id, in index order: the same list at every party. */
  parties: readonly PartyId[];
  sharing?: Sharing;
  /** Shamir only: shares needed to open; default ⌊n/2⌋ + 1 (an honest majority). */
  threshold?: number;
  /** `field` sharing only: Fp61 (default) or a PrimeField below 2^64. */
  field?: FieldLike;
  /** Preprocessed triples for `mul` (additive: Z_2^64 triples; field: triples in the session's field). */
  triples?: TripleStore;
  /** A label all parties share; separates sessions' keys and messages. Default 'confide-mpc'. */
  session?: string;
  /** How long to wait for each peer's message; default 30,000 ms. */
  timeoutMs?: number;
  /** The first net round this session uses; default 1. */
  firstRound?: number;
  rng?: Rng;
}

/** Options of `MpcParty.truncate` and `MpcParty.truncationPairs`. */
export interface TruncateOptions {
  /** Divide by 2^fracBits (the scale a product carries beyond its factors'). */
  fracBits: number;
  /** The promise |x| < 2^(bits-1), in ring units (a product at scale 2^(2·fracBits) included). */
  bits: number;
  /** Statistical parameter (fixed.ts): default 20 for Z_2^64 dealer pairs (wrap probability), 40 otherwise (leak). */
  sigma?: number;
}

/** Pairs the parties made with `truncationPairs`, per fracBits and width, handed out in order. */
interface PairPool {
  r: BigUint64Array;
  h: BigUint64Array;
  width: number;
  terms: number;
  next: number;
}

const OPTION_KEYS = ['net', 'parties', 'sharing', 'field', 'threshold', 'triples', 'session', 'timeoutMs', 'firstRound', 'rng'];

/** A received message as net hands it over. */
export interface Received {
  header: Record<string, unknown>;
  payloads: unknown[];
}

/**
 * The message layer of a session, for the protocols of this module that run
 * on an MpcParty's session (hetriples.ts, spdz.ts). Not exported from the
 * module's index: a round taken here is a round the session's own calls skip,
 * so every party must make the same calls in the same order.
 */
export interface Channel {
  readonly rng: Rng;
  /** Takes the next round number. */
  round(): number;
  /** The parties still present, this one excluded. */
  peers(): number[];
  /** Sends vectors to party j, AES-GCM sealed unless `plain`. */
  send(j: number, round: number, kind: string, vectors: BigUint64Array[], header?: Record<string, string | number>, plain?: boolean): Promise<void>;
  /** Sends a raw net message (signed by net, not sealed): for ciphertexts. */
  sendRaw(j: number, round: number, header: Record<string, string | number>, payloads: Uint8Array[]): Promise<void>;
  gather(from: number[], round: number): Promise<Map<number, Received>>;
  /** Checks the kind and lengths of a message from party j and unseals it. */
  open(j: number, round: number, kind: string, m: Received, lengths: number[], plain?: boolean): BigUint64Array[];
  /** Marks parties missing at `step` (fatal unless Shamir with t parties left). */
  missing(who: number[], step: string): void;
}

const channels = new WeakMap<MpcParty, Channel>();

/** The channel of a session (module-internal). */
export function channelOf(mpc: MpcParty): Channel {
  const c = channels.get(mpc);
  if (c === undefined) throw new ConfideError('E_BAD_INPUT', `"mpc" expected an MpcParty, got ${describe(mpc)}`, { field: 'mpc' });
  return c;
}

function roundAad(round: number, kind: string): Uint8Array {
  const k = new TextEncoder().encode(kind);
  const out = new Uint8Array(4 + k.length);
  new DataView(out.buffer).setUint32(0, round, true);
  out.set(k, 4);
  return out;
}

/** The error a party raises when party 0 aborts an opening (its reason and details). */
function abortError(m: Received): ConfideError {
  let details: Record<string, unknown> | undefined;
  try {
    details = JSON.parse(String(m.header.details));
  } catch {
    details = undefined;
  }
  return new ConfideError('E_PROTOCOL', `party 0 aborted the opening: ${String(m.header.reason)}`, { field: 'parties', details });
}

export class MpcParty {
  readonly index: number;
  readonly parties: readonly PartyId[];
  readonly sharing: Sharing;
  readonly threshold: number;
  /** The prime field of `field` and `shamir` sessions (Fp61 for Shamir); undefined for Z_2^64. */
  readonly field: FieldLike | undefined;
  readonly #vf: VectorField | undefined;
  /** The field's kernel parameters (field and Shamir sessions). */
  readonly #fp: FieldParams | undefined;
  readonly #net: Party;
  readonly #timeoutMs: number;
  readonly #rng: Rng;
  readonly #triples: TripleStore | undefined;
  readonly #out = new Map<number, Box>();
  readonly #in = new Map<number, Box>();
  readonly #dropped = new Set<number>();
  readonly #pool = new Map<string, PairPool>();
  #round: number;

  private constructor(o: Required<Pick<MpcPartyOptions, 'net' | 'parties' | 'sharing' | 'timeoutMs' | 'firstRound' | 'rng'>> & { threshold: number; triples?: TripleStore; field?: FieldLike }) {
    this.#net = o.net;
    this.parties = o.parties;
    this.index = o.parties.indexOf(o.net.id);
    this.sharing = o.sharing;
    this.field = o.field;
    this.#vf = o.field === undefined ? undefined : vectorField(o.field);
    this.#fp = o.field === undefined ? undefined : fieldParams(o.field.p);
    this.threshold = o.threshold;
    this.#timeoutMs = o.timeoutMs;
    this.#round = o.firstRound;
    this.#rng = o.rng;
    this.#triples = o.triples;
    channels.set(this, {
      rng: this.#rng,
      round: () => this.#round++,
      peers: () => this.#peers(),
      send: (j, round, kind, vectors, header = {}, plain = false) => this.#sendSealed(j, round, kind, vectors, header, plain),
      sendRaw: (j, round, header, payloads) => this.#net.send(this.parties[j], round, { header, payloads }),
      gather: (from, round) => this.#gather(from, round),
      open: (j, round, kind, m, lengths, plain = false) => this.#openSealed(j, round, kind, m, lengths, plain),
      missing: (who, step) => this.#missing(who, step),
    });
  }

  /** Checks options, then agrees pairwise channel keys with every peer (one round). */
  static async start(options: MpcPartyOptions): Promise<MpcParty> {
    aoptions(options, 'options', OPTION_KEYS);
    if (options === undefined) throw new ConfideError('E_BAD_INPUT', '"options" expected { net, parties }', { field: 'options' });
    const net = options.net;
    if (typeof net !== 'object' || net === null || typeof (net as Party).send !== 'function' || typeof (net as Party).id !== 'string')
      throw new ConfideError('E_BAD_INPUT', `"net" expected a joined confide/net Party, got ${describe(net)}`, { field: 'net' });
    const parties = options.parties;
    if (!Array.isArray(parties) || parties.length < 2 || parties.length > 1024 || !parties.every((p) => typeof p === 'string') || new Set(parties).size !== parties.length)
      throw new ConfideError('E_BAD_INPUT', '"parties" expected 2 to 1024 distinct party ids', { field: 'parties' });
    if (!parties.includes(net.id)) throw new ConfideError('E_BAD_INPUT', '"parties" does not include this party\'s id', { field: 'parties' });
    const sharing = options.sharing ?? 'additive';
    if (sharing !== 'additive' && sharing !== 'shamir' && sharing !== 'field')
      throw new ConfideError('E_BAD_INPUT', `"sharing" expected 'additive', 'field' or 'shamir', got ${describe(sharing)}`, { field: 'sharing' });
    const n = parties.length;
    const threshold = sharing === 'shamir' ? ainteger(options.threshold ?? Math.floor(n / 2) + 1, 'threshold', 1, n) : n;
    if (sharing !== 'shamir' && options.threshold !== undefined)
      throw new ConfideError('E_BAD_INPUT', '"threshold" applies to Shamir sharing only', { field: 'threshold' });
    if (sharing !== 'field' && options.field !== undefined)
      throw new ConfideError('E_BAD_INPUT', '"field" applies to field sharing only (Shamir runs over Fp61)', { field: 'field' });
    const field: FieldLike | undefined = sharing === 'shamir' ? Fp61 : sharing === 'field' ? (options.field ?? Fp61) : undefined;
    if (field !== undefined) {
      vectorField(field, 'field');
      if (BigInt(n) >= field.p) throw new ConfideError('E_BAD_INPUT', `"field" expected a prime above the number of parties`, { field: 'field' });
    }
    if (options.triples !== undefined) {
      if (!(options.triples instanceof TripleStore)) throw new ConfideError('E_BAD_INPUT', '"triples" expected a TripleStore', { field: 'triples' });
      if (sharing === 'shamir') throw new ConfideError('E_BAD_INPUT', '"triples" apply to additive and field sharing (Shamir multiplies without triples)', { field: 'triples' });
      if (options.triples.field?.p !== field?.p)
        throw new ConfideError('E_BAD_INPUT', `"triples" are over ${options.triples.field === undefined ? 'Z_2^64' : `F_${options.triples.field.p}`}, the session over ${field === undefined ? 'Z_2^64' : `F_${field.p}`}`, { field: 'triples' });
      if (options.triples.parties !== n || parties[options.triples.party] !== net.id)
        throw new ConfideError('E_BAD_INPUT', `"triples" belong to party ${options.triples.party} of ${options.triples.parties}, not to this party`, { field: 'triples' });
      // The session's products read the triples in WASM memory (when that is worth it: see TripleStore.inWasmMemory).
      holdTriples(options.triples);
    }
    const session = astring(options.session ?? 'confide-mpc', 'session', 256);
    const p = new MpcParty({
      net,
      parties,
      sharing,
      threshold,
      field,
      triples: options.triples,
      timeoutMs: ainteger(options.timeoutMs ?? 30_000, 'timeoutMs', 1, 2 ** 31 - 1),
      firstRound: ainteger(options.firstRound ?? 1, 'firstRound', 0, 2 ** 31),
      rng: options.rng === undefined ? systemRng() : arng(options.rng),
    });
    await p.#agreeKeys(session);
    return p;
  }

  /** Parties found missing (Shamir); they are skipped from then on. */
  get dropped(): readonly number[] {
    return [...this.#dropped].sort((a, b) => a - b);
  }
  /** The next net round this session will use (for running other protocols after it). */
  get nextRound(): number {
    return this.#round;
  }

  #peers(): number[] {
    const out: number[] = [];
    for (let j = 0; j < this.parties.length; j++) if (j !== this.index && !this.#dropped.has(j)) out.push(j);
    return out;
  }

  /** Marks parties missing: fatal under additive sharing, fatal under Shamir only below t parties. */
  #missing(who: number[], step: string): void {
    if (who.length === 0) return;
    if (this.sharing === 'additive')
      throw new ConfideError('E_PROTOCOL', `additive sharing needs every party; ${who.map((j) => `party ${j}`).join(', ')} missed ${step}`, {
        field: 'parties',
        details: { missing: who, step },
      });
    for (const j of who) this.#dropped.add(j);
    const alive = this.parties.length - this.#dropped.size;
    if (alive < this.threshold)
      throw new ConfideError('E_PROTOCOL', `${alive} parties remain after ${step}; Shamir opening needs ${this.threshold}`, {
        field: 'parties',
        details: { alive, threshold: this.threshold, dropped: this.dropped },
      });
  }

  async #agreeKeys(session: string): Promise<void> {
    const round = this.#round++;
    const mine = boxKeyPair();
    const peers = this.#peers();
    const header = { kind: 'mpc-key', session };
    await Promise.all(peers.map((j) => this.#net.send(this.parties[j], round, { header, payloads: [mine.publicKey] })));
    const got = await this.#gather(peers, round);
    const missing: number[] = [];
    for (const j of peers) {
      const m = got.get(j);
      if (m === undefined) { missing.push(j); continue; }
      if (m.header.kind !== 'mpc-key' || m.header.session !== session || !(m.payloads[0] instanceof Uint8Array))
        throw new ConfideError('E_PROTOCOL', `party ${j} answered the key round with something else (another session?)`, { field: 'session' });
      const me = this.parties[this.index], them = this.parties[j];
      this.#out.set(j, new Box(mine, m.payloads[0], session, `${me}>${them}`));
      this.#in.set(j, new Box(mine, m.payloads[0], session, `${them}>${me}`));
    }
    this.#missing(missing, 'key agreement');
  }

  /** One message from each of `from` in `round`, or none by the deadline. */
  async #gather(from: number[], round: number): Promise<Map<number, { header: Record<string, unknown>; payloads: unknown[] }>> {
    const results = await Promise.allSettled(from.map((j) => this.#net.receive(round, { from: this.parties[j], timeoutMs: this.#timeoutMs })));
    const out = new Map<number, { header: Record<string, unknown>; payloads: unknown[] }>();
    results.forEach((r, k) => {
      if (r.status === 'fulfilled') out.set(from[k], r.value);
      else if (!(r.reason instanceof ConfideError && (r.reason.code === 'E_TIMEOUT' || r.reason.code === 'E_STATE'))) throw r.reason;
    });
    return out;
  }

  /**
   * Sends vectors to party j, sealed unless `plain` (used only for Beaver's
   * d and e shares, which are uniform to anyone without the triple shares:
   * the relay learns nothing from them, and net still signs them).
   */
  async #sendSealed(j: number, round: number, kind: string, vectors: BigUint64Array[], header: Record<string, string | number> = {}, plain = false): Promise<void> {
    if (plain) {
      await this.#net.send(this.parties[j], round, { header: { ...header, kind }, payloads: vectors });
      return;
    }
    const box = this.#out.get(j);
    if (box === undefined) throw new ConfideError('E_INTERNAL', `no channel to party ${j}`);
    const aad = roundAad(round, kind);
    const payloads: Uint8Array[] = [];
    const h: Record<string, string | number | Uint8Array> = { ...header, kind };
    vectors.forEach((v, k) => {
      const s = box.seal(v, aad);
      h[`n${k}`] = s.nonce;
      payloads.push(s.body, s.tag);
    });
    await this.#net.send(this.parties[j], round, { header: h, payloads });
  }

  #openSealed(j: number, round: number, kind: string, m: { header: Record<string, unknown>; payloads: unknown[] }, lengths: number[], plain = false): BigUint64Array[] {
    if (m.header.kind !== kind || m.payloads.length !== (plain ? 1 : 2) * lengths.length)
      throw new ConfideError('E_PROTOCOL', `party ${j} sent ${describe(m.header.kind)} where ${kind} was due (are all parties running the same program?)`, { field: 'round', details: { party: j, round } });
    if (plain)
      return lengths.map((len, k) => {
        const v = m.payloads[k];
        if (!(v instanceof BigUint64Array) || v.length !== len)
          throw new ConfideError('E_PROTOCOL', `party ${j} sent ${describe(v)} where ${len} elements were due`, { field: 'length', details: { party: j } });
        return v;
      });
    const aad = roundAad(round, kind);
    const box = this.#in.get(j)!;
    return lengths.map((len, k) => {
      const bytes = box.open(m.header[`n${k}`], m.payloads[2 * k], m.payloads[2 * k + 1], aad);
      if (bytes.length !== len * 8) throw new ConfideError('E_PROTOCOL', `party ${j} sent a vector of ${bytes.length / 8} elements, ${len} expected`, { field: 'length', details: { party: j } });
      return new BigUint64Array(bytes.buffer, bytes.byteOffset, len);
    });
  }

  #split(values: BigUint64Array): BigUint64Array[] {
    if (this.sharing === 'additive') return shareAdditive(values, this.parties.length, { rng: this.#rng });
    if (this.sharing === 'field') return shareAdditive(this.#toField(values), this.parties.length, { rng: this.#rng, domain: this.field });
    const shares = shareShamir(this.#toField(values), { threshold: this.threshold, parties: this.parties.length, rng: this.#rng });
    return shares.map((s) => s.data);
  }
  #toField(v: BigUint64Array): BigUint64Array {
    return toFieldCentred(v, this.field!.p);
  }
  #fromField(v: BigUint64Array): BigUint64Array {
    return fromFieldCentred(v, this.field!.p);
  }

  /**
   * Every party inputs a vector of the same length at once; returns the
   * sharings by owner. Under Shamir an owner that dropped is `undefined`;
   * under additive sharing a missing owner is E_PROTOCOL.
   */
  async inputAll(values: BigUint64Array): Promise<(Shared | undefined)[]> {
    atyped(values, 'values', BigUint64Array);
    const owners = this.parties.map((_, j) => j).filter((j) => !this.#dropped.has(j));
    return this.#input(owners, values, values.length);
  }

  /** Party `owner` inputs `values` (undefined elsewhere); everyone passes the public `length`. */
  async input(owner: number, values: BigUint64Array | undefined, length: number): Promise<Shared> {
    ainteger(owner, 'owner', 0, this.parties.length - 1);
    ainteger(length, 'length', 0, 2 ** 27);
    if (owner === this.index) {
      atyped(values, 'values', BigUint64Array);
      if (values!.length !== length) throw new ConfideError('E_BAD_INPUT', `"values" expected length ${length}, got ${values!.length}`, { field: 'values' });
    } else if (values !== undefined) throw new ConfideError('E_BAD_INPUT', '"values" are given by the owner only', { field: 'values' });
    if (this.#dropped.has(owner)) throw new ConfideError('E_PROTOCOL', `party ${owner} has dropped out and cannot input`, { field: 'owner' });
    const r = (await this.#input([owner], values, length))[owner];
    if (r === undefined) throw new ConfideError('E_PROTOCOL', `party ${owner} dropped before its input arrived`, { field: 'owner', details: { owner } });
    return r;
  }

  async #input(owners: number[], values: BigUint64Array | undefined, length: number): Promise<(Shared | undefined)[]> {
    const round = this.#round++;
    const result: (Shared | undefined)[] = new Array(this.parties.length).fill(undefined);
    const peers = this.#peers();
    const additive = this.sharing === 'additive';
    if (owners.includes(this.index)) {
      if (additive) {
        // Each peer's share is PRG(seed) for a fresh 256-bit seed (ChaCha20, core's fused
        // kernel); the owner keeps x − Σ PRG(seed_j). Only the sealed seeds travel.
        const own = values!.slice();
        const seeds = peers.map(() => this.#rng.bytes(32));
        seeds.forEach((seed) => addMask(own, seed, -1));
        await Promise.all(peers.map((j, k) => this.#sendSealed(j, round, 'mpc-input', [new BigUint64Array(seeds[k].buffer)], { length })));
        seeds.forEach((seed) => seed.fill(0));
        result[this.index] = new Shared('additive', own);
      } else {
        const shares = this.#split(values!);
        await Promise.all(peers.map((j) => this.#sendSealed(j, round, 'mpc-input', [shares[j]], { length })));
        result[this.index] = new Shared(this.sharing, shares[this.index]);
      }
    }
    const from = owners.filter((j) => j !== this.index && !this.#dropped.has(j));
    const got = await this.#gather(from, round);
    const missing: number[] = [];
    for (const j of from) {
      const m = got.get(j);
      if (m === undefined) { missing.push(j); continue; }
      if (m.header.length !== length) throw new ConfideError('E_PROTOCOL', `party ${j} input ${describe(m.header.length)} values, ${length} expected`, { field: 'length', details: { party: j } });
      if (additive) {
        const seed = this.#openSealed(j, round, 'mpc-input', m, [4])[0];
        result[j] = new Shared('additive', expandSeed(new Uint8Array(seed.buffer, seed.byteOffset, 32), length, 64) as BigUint64Array);
      } else result[j] = new Shared(this.sharing, this.#openSealed(j, round, 'mpc-input', m, [length])[0]);
    }
    this.#missing(missing, 'input');
    if (this.sharing === 'shamir') await this.#agreeOnInputs(owners, result);
    return result;
  }

  /** Shamir: survivors tell each other whose shares they hold and keep the intersection. */
  async #agreeOnInputs(owners: number[], result: (Shared | undefined)[]): Promise<void> {
    const keep = await this.#agreeOn(owners, (j) => result[j] !== undefined, 'input agreement');
    for (const j of owners) if (!keep.has(j)) result[j] = undefined;
  }

  /**
   * Shamir: every survivor says which of `candidates` it holds a message
   * from; all keep the intersection (the same set everywhere, as long as no
   * party fails half way through this round), and candidates left out are
   * dropped from the session.
   */
  async #agreeOn(candidates: number[], holds: (j: number) => boolean, step: string): Promise<Set<number>> {
    const round = this.#round++;
    const keep = new Set(candidates.filter(holds));
    const have = [...keep].join(',');
    const peers = this.#peers();
    await Promise.all(peers.map((j) => this.#net.send(this.parties[j], round, { header: { kind: 'mpc-have', have }, payloads: [] })));
    const got = await this.#gather(peers, round);
    const missing = peers.filter((j) => !got.has(j));
    for (const [j, m] of got) {
      if (m.header.kind !== 'mpc-have' || typeof m.header.have !== 'string')
        throw new ConfideError('E_PROTOCOL', `party ${j} sent ${describe(m.header.kind)} where mpc-have was due`, { field: 'round' });
      const theirs = new Set(m.header.have === '' ? [] : m.header.have.split(',').map(Number));
      for (const k of [...keep]) if (!theirs.has(k)) keep.delete(k);
    }
    const lost = candidates.filter((j) => !keep.has(j) && j !== this.index);
    for (const j of lost) this.#dropped.add(j);
    this.#missing(missing, step);
    return keep;
  }

  /**
   * Public metadata (column names, row counts): every party says a short
   * string and hears everyone's, signed by net but not sealed (the relay reads
   * it). Entries of dropped parties are undefined.
   */
  async exchange(info: string): Promise<(string | undefined)[]> {
    astring(info, 'info', 64 * 1024);
    const round = this.#round++;
    const peers = this.#peers();
    await Promise.all(peers.map((j) => this.#net.send(this.parties[j], round, { header: { kind: 'mpc-exchange', info }, payloads: [] })));
    const got = await this.#gather(peers, round);
    const out: (string | undefined)[] = new Array(this.parties.length).fill(undefined);
    out[this.index] = info;
    for (const [j, m] of got) {
      if (m.header.kind !== 'mpc-exchange' || typeof m.header.info !== 'string')
        throw new ConfideError('E_PROTOCOL', `party ${j} sent ${describe(m.header.kind)} where mpc-exchange was due`, { field: 'round' });
      out[j] = m.header.info;
    }
    this.#missing(peers.filter((j) => !got.has(j)), 'exchange');
    return out;
  }

  #check(a: unknown, field: string): Shared {
    if (!(a instanceof Shared)) throw new ConfideError('E_BAD_INPUT', `"${field}" expected a Shared vector, got ${describe(a)}`, { field });
    if (a.sharing !== this.sharing) throw new ConfideError('E_BAD_INPUT', `"${field}" is a ${a.sharing} sharing; this session uses ${this.sharing}`, { field });
    return a;
  }
  #pair(a: unknown, b: unknown): [Shared, Shared] {
    const x = this.#check(a, 'a'), y = this.#check(b, 'b');
    if (x.length !== y.length) throw new ConfideError('E_BAD_INPUT', `"b" expected length ${x.length}, got ${y.length}`, { field: 'b' });
    return [x, y];
  }

  /** a + b (local). */
  add(a: Shared, b: Shared): Shared {
    const [x, y] = this.#pair(a, b);
    return new Shared(this.sharing, this.#vf === undefined ? Z64.add(x.share, y.share) : this.#vf.add(x.share, y.share));
  }
  /** a - b (local). */
  sub(a: Shared, b: Shared): Shared {
    const [x, y] = this.#pair(a, b);
    return new Shared(this.sharing, this.#vf === undefined ? Z64.sub(x.share, y.share) : this.#vf.sub(x.share, y.share));
  }
  /** The sum of several sharings of equal length (local); undefined entries (dropped owners) are skipped. */
  sum(list: readonly (Shared | undefined)[]): Shared {
    if (!Array.isArray(list)) throw new ConfideError('E_BAD_INPUT', '"list" expected an array of Shared', { field: 'list' });
    const present = list.filter((s) => s !== undefined);
    if (present.length === 0) throw new ConfideError('E_BAD_INPUT', '"list" holds no Shared vector', { field: 'list' });
    if (present.length === 1) return this.add(present[0], new Shared(this.sharing, new BigUint64Array(present[0].length)));
    // One output vector for the whole sum (a reduce would allocate one per term).
    const [x, y] = this.#pair(present[0], present[1]);
    const rest = present.slice(2).map((s, k) => this.#check(s, `list[${k + 2}]`));
    for (const s of rest) if (s.length !== x.length) throw new ConfideError('E_BAD_INPUT', `"list" expected vectors of length ${x.length}`, { field: 'list' });
    const out = new BigUint64Array(x.length);
    if (this.#vf === undefined) sum64([x.share, y.share, ...rest.map((s) => s.share)], out);
    else {
      this.#vf.add(x.share, y.share, out);
      for (const s of rest) this.#vf.add(out, s.share, out);
    }
    return new Shared(this.sharing, out);
  }
  /** a + v for a public vector v in Z_2^64 (one party adds it under additive and field sharing; all under Shamir). */
  addPublic(a: Shared, v: BigUint64Array): Shared {
    const x = this.#check(a, 'a');
    atyped(v, 'v', BigUint64Array);
    if (v.length !== x.length) throw new ConfideError('E_BAD_INPUT', `"v" expected length ${x.length}`, { field: 'v' });
    if (this.sharing === 'shamir') return new Shared('shamir', Fp61.add(x.share, this.#toField(v)));
    if (this.sharing === 'field') return new Shared('field', this.index === 0 ? this.#vf!.add(x.share, this.#toField(v)) : x.share.slice());
    return new Shared('additive', this.index === 0 ? Z64.add(x.share, v) : x.share.slice());
  }
  /** k·a for a public integer k (local). */
  mulPublic(a: Shared, k: bigint): Shared {
    const x = this.#check(a, 'a');
    if (typeof k !== 'bigint') throw new ConfideError('E_BAD_INPUT', `"k" expected a bigint, got ${describe(k)}`, { field: 'k' });
    if (this.sharing === 'additive') return new Shared('additive', Z64.mulScalar(x.share, k));
    const p = this.field!.p;
    return new Shared(this.sharing, this.#vf!.mulScalar(x.share, ((k % p) + p) % p));
  }
  /** The sum of a's elements, as a sharing of length 1 (local). */
  sumElements(a: Shared): Shared {
    const x = this.#check(a, 'a');
    let s = 0n;
    if (this.sharing === 'additive') {
      for (let i = 0; i < x.length; i++) s += x.share[i];
      return new Shared('additive', BigUint64Array.of(BigInt.asUintN(64, s)));
    }
    for (let i = 0; i < x.length; i++) s += x.share[i];
    return new Shared(this.sharing, BigUint64Array.of(s % this.field!.p));
  }
  /** Elements [start, end) of a (local). */
  slice(a: Shared, start: number, end: number): Shared {
    const x = this.#check(a, 'a');
    ainteger(start, 'start', 0, x.length);
    ainteger(end, 'end', start, x.length);
    return new Shared(this.sharing, x.share.slice(start, end));
  }
  /** a repeated `times` times end to end (local; for matrix-vector products). */
  tile(a: Shared, times: number): Shared {
    const x = this.#check(a, 'a');
    ainteger(times, 'times', 0, 2 ** 27);
    const out = new BigUint64Array(x.length * times);
    for (let r = 0; r < times; r++) out.set(x.share, r * x.length);
    return new Shared(this.sharing, out);
  }
  /** Sums of consecutive blocks of `width` elements (local; row sums of a row-major matrix). */
  blockSums(a: Shared, width: number): Shared {
    const x = this.#check(a, 'a');
    ainteger(width, 'width', 1, Math.max(1, x.length));
    if (x.length % width !== 0) throw new ConfideError('E_BAD_INPUT', `"width" expected a divisor of ${x.length}`, { field: 'width' });
    const out = new BigUint64Array(x.length / width);
    for (let r = 0; r < out.length; r++) {
      let s = 0n;
      for (let c = 0; c < width; c++) s += x.share[r * width + c];
      out[r] = this.sharing === 'additive' ? BigInt.asUintN(64, s) : s % this.field!.p;
    }
    return new Shared(this.sharing, out);
  }

  /**
   * a ⊙ b. Additive and field sharing: Beaver triples from this party's
   * TripleStore, one round that opens d = a - t.a and e = b - t.b. Shamir:
   * see `#mulShamir` (no triples; 2t − 1 parties must be present).
   */
  async mul(a: Shared, b: Shared): Promise<Shared> {
    const [x, y] = this.#pair(a, b);
    if (this.sharing === 'shamir') return this.#mulShamir(x, y);
    if (this.#triples === undefined) throw new ConfideError('E_STATE', 'multiplication needs a TripleStore ("triples" option)', { field: 'triples' });
    const t = reserveTriples(this.#triples, x.length);
    const check = { store: Buffer.from(this.#triples.id).toString('hex'), offset: t.offset };
    return new Shared(this.sharing, await this.#beaver(x.share, y.share, t, check));
  }

  /**
   * The Beaver round with its vectors in WASM memory (core's arena; ordinary
   * memory on the JS backend): d ‖ e is formed there from x, y and the
   * store's a, b (read in place when the store holds them there), sent from
   * there, summed there at party 0, and combined there with c, a, b (the
   * beaver_z64 kernel in Z_2^64, field products and sums mod p), so no
   * kernel stages an operand. The messages are `#openRaw`'s (one payload
   * d ‖ e, unsealed: uniform to anyone without the triples) and the results
   * those of beaverMask and beaverCombine.
   */
  async #beaver(x: BigUint64Array, y: BigUint64Array, t: HeldTriples, check: Record<string, string | number>): Promise<BigUint64Array> {
    const n = x.length, k = kernels(), kind = 'mpc-beaver';
    const fp = this.#fp;
    const round = this.#round++;
    using de = arenaAlloc(BigUint64Array, 2 * n);
    {
      const v = de.view, tv = t.views(), d = v.subarray(0, n), e = v.subarray(n);
      d.set(x);
      e.set(y);
      if (fp === undefined) {
        if (k.backend === 'js' || tv.a.buffer === v.buffer) {
          k.sub64(d, d, tv.a);
          k.sub64(e, e, tv.b);
        } else {
          // A store in ordinary memory (too small, or beyond the budget): its a and b come
          // into WASM memory too, since the subtraction's JS twin costs several copies.
          using ab = arenaAlloc(BigUint64Array, 2 * n);
          const w = ab.view, u = de.view, tu = t.views();
          w.set(tu.a, 0);
          w.set(tu.b, n);
          k.sub64(u.subarray(0, n), u.subarray(0, n), w.subarray(0, n));
          k.sub64(u.subarray(n), u.subarray(n), w.subarray(n));
        }
      } else {
        // beaverMask's checks: the shares must be field elements.
        for (const [w, name] of [[d, 'x'], [e, 'y']] as const) {
          const i = k.fieldCheck(w, fp);
          if (i >= 0) throw new ConfideError('E_BAD_INPUT', `"${name}[${i}]" expected an element below ${fp.p}`, { field: `${name}[${i}]` });
        }
        k.fieldSub(d, d, tv.a, fp);
        k.fieldSub(e, e, tv.b, fp);
      }
    }
    if (this.index !== 0) {
      // net encodes the payload before send returns its promise, so the view cannot go stale under it.
      await this.#sendSealed(0, round, kind, [de.view], check, true);
      const m = (await this.#gather([0], round)).get(0);
      if (m === undefined) this.#missing([0], `opening (${kind})`);
      if (m!.header.kind === 'mpc-abort') throw abortError(m!);
      const [opened] = this.#openSealed(0, round, `${kind}-result`, m!, [2 * n], true);
      if (fp !== undefined) this.#fieldFrom(0, opened);
      // Our share of d ‖ e has gone out: its place takes the opened d ‖ e.
      de.view.set(opened);
      return this.#combine(de, t);
    }
    const peers = this.#peers();
    const got = await this.#gather(peers, round);
    try {
      this.#missing(peers.filter((j) => !got.has(j)), `opening (${kind})`);
      const theirs = peers.map((j) => {
        const m = got.get(j)!;
        for (const [key, val] of Object.entries(check))
          if (m.header[key] !== val)
            throw new ConfideError('E_PROTOCOL', `party ${j} used ${key} ${describe(m.header[key])}, party 0 ${describe(val)}: triple stores out of step`, { field: key, details: { party: j } });
        const v = this.#openSealed(j, round, kind, m, [2 * n], true)[0];
        return fp === undefined ? v : this.#fieldFrom(j, v);
      });
      // Each share copied next to ours and added by the kernel (both in WASM memory).
      using tmp = arenaAlloc(BigUint64Array, 2 * n);
      for (const v of theirs) {
        const sum = de.view, w = tmp.view;
        w.set(v);
        if (fp === undefined) k.add64(sum, sum, w);
        else k.fieldAdd(sum, sum, w, fp);
      }
    } catch (e) {
      await this.#abort(peers.filter((j) => got.has(j)), round, e);
      throw e;
    }
    const opened = de.view;
    await Promise.all(peers.map((j) => this.#sendSealed(j, round, `${kind}-result`, [opened], {}, true)));
    return this.#combine(de, t);
  }

  /**
   * This party's share of x ⊙ y from the opened d ‖ e (in `de`), into
   * ordinary memory: z = c + d ⊙ b + e ⊙ a, plus d ⊙ e at party 0.
   */
  #combine(de: ArenaVector<BigUint64Array>, t: HeldTriples): BigUint64Array {
    const n = t.length, k = kernels(), fp = this.#fp, first = this.index === 0;
    if (fp === undefined) {
      const out = new BigUint64Array(n);
      const v = de.view, tv = t.views();
      k.beaver64(out, tv.c, v.subarray(0, n), v.subarray(n), tv.a, tv.b, first);
      return out;
    }
    using zt = arenaAlloc(BigUint64Array, 2 * n);
    const w = zt.view, z = w.subarray(0, n), tmp = w.subarray(n);
    const v = de.view, d = v.subarray(0, n), e = v.subarray(n), tv = t.views();
    k.fieldMul(z, d, tv.b, fp);
    k.fieldMul(tmp, e, tv.a, fp);
    k.fieldAdd(z, z, tmp, fp);
    k.fieldAdd(z, z, tv.c, fp);
    if (first) {
      k.fieldMul(tmp, d, e, fp);
      k.fieldAdd(z, z, tmp, fp);
    }
    return z.slice();
  }

  /** Party 0 stops an opening: every peer that sent its share hears why. */
  async #abort(peers: number[], round: number, e: unknown): Promise<void> {
    const reason = e instanceof Error ? e.message : String(e);
    const details = JSON.stringify((e as ConfideError).details ?? {});
    await Promise.all(peers.map((j) => this.#net.send(this.parties[j], round, { header: { kind: 'mpc-abort', reason, details }, payloads: [] })));
  }

  /**
   * Shamir multiplication by degree reduction (Gennaro, Rabin and Rabin,
   * PODC 1998, §3, the simplification of BGW's step): each party's product
   * of shares is a point of x·y's polynomial of degree 2(t − 1); it reshares
   * that point with a fresh polynomial of degree t − 1, and every party takes
   * Σ λ_i · (share of party i's product), λ the Lagrange coefficients at 0 of
   * 2t − 1 agreed points. The result is a degree t − 1 sharing of x·y. Two
   * rounds: the reshares, then agreeing on whose reshares every survivor
   * holds. Needs 2t − 1 ≤ (parties present), i.e. n ≥ 2t − 1: with
   * t = ⌊n/2⌋ + 1 every party must be present for n = 3 and n = 5.
   */
  async #mulShamir(x: Shared, y: Shared): Promise<Shared> {
    const need = 2 * this.threshold - 1;
    const alive = this.parties.length - this.#dropped.size;
    if (alive < need)
      throw new ConfideError('E_PROTOCOL', `${alive} parties remain; Shamir multiplication with threshold ${this.threshold} needs 2t − 1 = ${need}`, {
        field: 'parties',
        details: { alive, need, dropped: this.dropped },
      });
    const round = this.#round++;
    const reshares = shareShamir(Fp61.mul(x.share, y.share), { threshold: this.threshold, parties: this.parties.length, rng: this.#rng });
    const peers = this.#peers();
    await Promise.all(peers.map((j) => this.#sendSealed(j, round, 'mpc-reshare', [reshares[j].data])));
    const got = await this.#gather(peers, round);
    const held = new Map<number, BigUint64Array>([[this.index, reshares[this.index].data]]);
    for (const [j, m] of got) held.set(j, this.#fieldFrom(j, this.#openSealed(j, round, 'mpc-reshare', m, [x.length])[0]));
    this.#missing(peers.filter((j) => !got.has(j)), 'multiplication (resharing)');
    const keep = await this.#agreeOn(this.parties.map((_, j) => j), (j) => held.has(j), 'multiplication (agreement)');
    if (keep.size < need)
      throw new ConfideError('E_PROTOCOL', `only ${keep.size} parties' reshares reached every survivor; Shamir multiplication needs ${need}`, {
        field: 'parties',
        details: { have: keep.size, need, dropped: this.dropped },
      });
    const use = [...keep].sort((i, j) => i - j).slice(0, need);
    const lambda = lagrangeAtZero(use.map((j) => j + 1));
    const out = new BigUint64Array(x.length);
    use.forEach((j, k) => Fp61.add(out, Fp61.mulScalar(held.get(j)!, lambda[k]), out));
    return new Shared('shamir', out);
  }

  /** A field vector from party j: E_PROTOCOL unless every element is below p. */
  #fieldFrom(j: number, v: BigUint64Array): BigUint64Array {
    if (kernels().fieldCheck(v, this.#fp!) >= 0)
      throw new ConfideError('E_PROTOCOL', `party ${j} sent a value that is not a field element`, { field: 'share', details: { party: j } });
    return v;
  }

  /**
   * Opens additive shares to every party; all shares are needed. Party 0
   * collects the others' shares, adds them and sends the sum back: 2(N − 1)
   * messages instead of N(N − 1), and party 0 learns nothing the others do
   * not (every party gets the opened value). `check` fields (the triple
   * store's id and offset) must match party 0's, or it aborts the round.
   */
  async #openRaw(vectors: BigUint64Array[], kind: string, check: Record<string, string | number> = {}, plain = false): Promise<BigUint64Array[]> {
    const round = this.#round++;
    const lengths = vectors.map((v) => v.length);
    if (this.index !== 0) {
      await this.#sendSealed(0, round, kind, vectors, check, plain);
      const got = await this.#gather([0], round);
      const m = got.get(0);
      if (m === undefined) this.#missing([0], `opening (${kind})`);
      if (m!.header.kind === 'mpc-abort') throw abortError(m!);
      const r = this.#openSealed(0, round, `${kind}-result`, m!, lengths, plain);
      if (this.#vf !== undefined) r.forEach((v) => this.#fieldFrom(0, v));
      return r;
    }
    const peers = this.#peers();
    const got = await this.#gather(peers, round);
    let sums: BigUint64Array[];
    try {
      this.#missing(peers.filter((j) => !got.has(j)), `opening (${kind})`);
      const all = vectors.map((v) => [v]);
      for (const j of peers) {
        const m = got.get(j)!;
        for (const [key, val] of Object.entries(check))
          if (m.header[key] !== val)
            throw new ConfideError('E_PROTOCOL', `party ${j} used ${key} ${describe(m.header[key])}, party 0 ${describe(val)}: triple stores out of step`, { field: key, details: { party: j } });
        const theirs = this.#openSealed(j, round, kind, m, lengths, plain);
        theirs.forEach((v, k) => all[k].push(this.#vf === undefined ? v : this.#fieldFrom(j, v)));
      }
      // Each opened vector in one pass over all the shares, into a fresh vector.
      const vf = this.#vf;
      sums = all.map((vs) => {
        const out = new BigUint64Array(vs[0].length);
        if (vf === undefined) return sum64(vs, out);
        vf.add(vs[0], vs[1] ?? out, out);
        for (let k = 2; k < vs.length; k++) vf.add(out, vs[k], out);
        return out;
      });
    } catch (e) {
      await this.#abort(peers.filter((j) => got.has(j)), round, e);
      throw e;
    }
    await Promise.all(peers.map((j) => this.#sendSealed(j, round, `${kind}-result`, sums, {}, plain)));
    return sums;
  }

  /**
   * Opens `a` to every party: returns the secret as Z_2^64 elements (two's
   * complement; field and Shamir values are lifted from the field's centred range).
   * `noise`, when given, is this party's share of noise, added to its share
   * before anything leaves it (see `openNoisy` in stats.ts).
   */
  async open(a: Shared, noise?: BigUint64Array): Promise<BigUint64Array> {
    const x = this.#check(a, 'a');
    let share = x.share;
    if (noise !== undefined) {
      atyped(noise, 'noise', BigUint64Array);
      if (noise.length !== x.length) throw new ConfideError('E_BAD_INPUT', `"noise" expected length ${x.length}`, { field: 'noise' });
      share = this.sharing === 'additive' ? Z64.add(share, noise) : this.#vf!.add(share, this.#toField(noise));
    }
    if (this.sharing === 'additive') return (await this.#openRaw([share], 'mpc-open'))[0];
    if (this.sharing === 'field') return this.#fromField((await this.#openRaw([share], 'mpc-open'))[0]);
    return this.#fromField(await this.#openShamir(share, 'mpc-open'));
  }

  /** Shamir opening, all to all (so that it survives dropouts): the field elements. */
  async #openShamir(share: BigUint64Array, kind: string): Promise<BigUint64Array> {
    const round = this.#round++;
    const peers = this.#peers();
    await Promise.all(peers.map((j) => this.#sendSealed(j, round, kind, [share])));
    const got = await this.#gather(peers, round);
    const shares: ShamirShare[] = [{ x: this.index + 1, data: share }];
    for (const j of peers) {
      const m = got.get(j);
      if (m !== undefined) shares.push({ x: j + 1, data: this.#openSealed(j, round, kind, m, [share.length])[0] });
    }
    this.#missing(peers.filter((j) => !got.has(j)), 'opening');
    return reconstructShamir(shares, { threshold: this.threshold });
  }

  #truncateOptions(options: unknown): { f: number; k: number; sigma: number | undefined } {
    aoptions(options as TruncateOptions | undefined, 'options', ['fracBits', 'bits', 'sigma']);
    if (options === undefined) throw new ConfideError('E_BAD_INPUT', '"options" expected { fracBits, bits }', { field: 'options' });
    const o = options as TruncateOptions;
    const f = ainteger(o.fracBits, 'fracBits', 1, 62);
    const k = ainteger(o.bits, 'bits', f + 1, 63);
    const sigma = o.sigma === undefined ? undefined : ainteger(o.sigma, 'sigma', 1, 62);
    return { f, k, sigma };
  }

  /**
   * The width of the parties' own draws for these options (k + sigma), after
   * checking that the sum of one draw per party present cannot wrap
   * (E_OVERFLOW otherwise, before anything is sent).
   */
  #ownWidth(f: number, k: number, sigma: number | undefined): number {
    const s = sigma ?? TRUNCATION_SIGMA_HIDING;
    const modulus = this.field === undefined ? 1n << 64n : this.field.p;
    assertTruncationFits({
      fracBits: f,
      bits: k,
      sigma: s,
      width: k + s,
      terms: this.parties.length - this.#dropped.size,
      modulus,
      domain: this.field === undefined ? 'Z_2^64' : `F_${modulus}`,
    });
    return k + s;
  }

  /**
   * The parties' own pairs, one input round (two under Shamir, with the
   * agreement): each party present draws r_j uniform in [0, 2^width) and
   * inputs r_j ‖ ⌊r_j / 2^f⌋; the pair is the sum over those whose input
   * every survivor holds (fixed.ts, kind 3).
   */
  async #makePairs(length: number, f: number, width: number): Promise<{ r: BigUint64Array; h: BigUint64Array; terms: number }> {
    const draws = randomBelow2(length, width, this.#rng);
    const values = new BigUint64Array(2 * length);
    values.set(draws);
    shiftRight64(draws, f, values.subarray(length));
    draws.fill(0n);
    const owners = this.parties.map((_, j) => j).filter((j) => !this.#dropped.has(j));
    const inputs = await this.#input(owners, values, 2 * length);
    values.fill(0n);
    const from = inputs.filter((v): v is Shared => v !== undefined);
    // Privacy needs one honest contributor: a coalition has at most t − 1 parties under Shamir, n − 1 otherwise.
    const need = this.sharing === 'shamir' ? this.threshold : this.parties.length;
    if (from.length < need)
      throw new ConfideError('E_PROTOCOL', `only ${from.length} parties contributed to the truncation pairs; ${need} are needed so that one is honest`, {
        field: 'parties',
        details: { have: from.length, need, dropped: this.dropped },
      });
    const sum = this.sum(from).share;
    return { r: sum.slice(0, length), h: sum.slice(length), terms: from.length };
  }

  /**
   * Makes `length` truncation pairs for later `truncate` calls with the same
   * fracBits, bits and sigma, so that each of those is one opening. The
   * parties make them (no dealer): one input round, two under Shamir, where a
   * party missing at it is left out. Every party must make the same calls.
   * Returns how many such pairs the session now holds unused.
   */
  async truncationPairs(length: number, options: TruncateOptions): Promise<number> {
    ainteger(length, 'length', 0, 2 ** 26);
    const { f, k, sigma } = this.#truncateOptions(options);
    const width = this.#ownWidth(f, k, sigma);
    const key = `${f}:${width}`;
    const pool = this.#pool.get(key);
    if (length === 0) return pool === undefined ? 0 : pool.r.length - pool.next;
    const made = await this.#makePairs(length, f, width);
    if (pool === undefined) {
      this.#pool.set(key, { ...made, width, next: 0 });
      return length;
    }
    const left = pool.r.length - pool.next;
    const join = (old: BigUint64Array, add: BigUint64Array) => {
      const out = new BigUint64Array(left + length);
      out.set(old.subarray(pool.next));
      out.set(add, left);
      return out;
    };
    this.#pool.set(key, { r: join(pool.r, made.r), h: join(pool.h, made.h), width, terms: Math.max(pool.terms, made.terms), next: 0 });
    return left + length;
  }

  /**
   * A sharing of x / 2^fracBits, rounded by probabilistic truncation (fixed.ts:
   * Catrina–Saxena's TruncPr; ABY3's in Z_2^64), one opening. `bits` is the
   * caller's promise |x| < 2^(bits-1) in ring units; the parameters are
   * checked before anything is sent (E_OVERFLOW when k, f, sigma cannot work
   * in this ring or field). Pairs come, in this order, from `truncationPairs`
   * made earlier with the same options; from the TripleStore, when it holds
   * pairs for fracBits (E_STATE when too few remain); or from the parties
   * inside this call (one more round, two under Shamir). Error against the
   * exact x/2^f, in units of 2^-f: in (−1, 1) with dealer pairs, in (−1, n')
   * with the parties' own (n' the contributors); see `truncationBounds`.
   */
  async truncate(a: Shared, options: TruncateOptions): Promise<Shared> {
    const x = this.#check(a, 'a');
    const { f, k, sigma } = this.#truncateOptions(options);
    const n = x.length;
    if (n === 0) return new Shared(this.sharing, new BigUint64Array(0));
    const opts = { bits: k, sigma };
    let pair: TruncationPair;
    let check: Record<string, string | number>;
    let advance = () => {};
    const ownWidth = k + (sigma ?? TRUNCATION_SIGMA_HIDING);
    const pool = this.#pool.get(`${f}:${ownWidth}`);
    const stored = this.#triples?.truncation(f);
    if (pool !== undefined && pool.r.length - pool.next >= n) {
      const s = pool.next;
      pair = new TruncationPair(pool.r.subarray(s, s + n), pool.h.subarray(s, s + n), f, { width: pool.width, terms: pool.terms, field: this.field, offset: s });
      check = { pairs: 'pool', offset: s };
      advance = () => { pool.next += n; };
    } else if (stored !== undefined) {
      truncationShape({ fracBits: f, width: stored.width, terms: stored.terms, field: this.field }, opts);
      pair = this.#triples!.takePairs(n, f);
      check = { pairs: Buffer.from(this.#triples!.id).toString('hex'), offset: pair.offset };
    } else {
      const width = this.#ownWidth(f, k, sigma);
      const made = await this.#makePairs(n, f, width);
      pair = new TruncationPair(made.r, made.h, f, { width, terms: made.terms, field: this.field });
      check = { pairs: 'own' };
    }
    const first = this.sharing === 'shamir' || this.index === 0;
    const masked = truncateMask(x.share, pair, first, opts);
    advance();
    const c = this.sharing === 'shamir' ? await this.#openShamir(masked, 'mpc-trunc') : (await this.#openRaw([masked], 'mpc-trunc', { ...check, fracBits: f }))[0];
    return new Shared(this.sharing, truncateFinish(c, pair, first, opts));
  }
}
