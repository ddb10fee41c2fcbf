/**
 * Optional active security: SPDZ-style information-theoretic MACs (Damgård,
 * Pastro, Smart and Zakarias, CRYPTO 2012; the MAC check of Damgård, Keller,
 * Larraia, Pastro, Scholl and Smart, ESORICS 2013, "Practical covertly
 * secure MPC for dishonest majority", Fig. 10 "MACCheck"), over a prime
 * field (Fp61 by default).
 *
 * A global key α is additively shared (party i holds α_i, nobody knows α);
 * a value x is held as ⟨x⟩ = (x_i, γ_i) with Σ x_i = x and Σ γ_i = α·x.
 * Linear operations act on both parts (a public constant k adds k to x_0 and
 * α_i·k to each γ_i). Products use Beaver triples whose a, b and c carry
 * MACs. Openings reveal x but not the MAC shares; every opened value goes on
 * a list, and `check()` (which `output()` runs) verifies them all at once:
 *
 *   1. a joint random seed by commit-then-open (SHA-256 commitments to
 *      32-byte seeds; the XOR of all), expanded (ChaCha20) to coefficients
 *      r_k for the opened values a_k;
 *   2. each party computes a = Σ r_k a_k, γ_i = Σ r_k γ(a_k)_i,
 *      σ_i = γ_i − α_i·a;
 *   3. commit-then-open of the σ_i (with a hash of each party's view of the
 *      opened values and input differences), then Σ σ_i = 0 must hold.
 *
 * A party that changes the share it opens (or the opened value it reports)
 * makes Σ σ_i ≠ 0 except with probability at most 2/p per check (Damgård et
 * al. 2013, Lemma 1: 1/p for the random combination cancelling the errors,
 * 1/p for guessing α; the coefficients here are 64-bit words reduced mod p,
 * which adds at most ⌈2^64/p⌉/2^64 − 1/p: for Fp61 the bound is < 2^-59.8).
 * Detection is E_CRYPTO (field 'mac') at every party; nothing opened since
 * the last passing check may be trusted.
 *
 * The dealer (`MacDealer`) is TRUSTED: it knows α and every triple; it deals
 * the key shares, MAC'd triples and input masks.
 */
import { createHash } from 'node:crypto';
import { abytes, ainteger, aoptions, atyped } from '../core/assert.ts';
import { decodeMessage, encodeMessage } from '../core/codec.ts';
import { ConfideError, describe } from '../core/errors.ts';
import { Fp61, PrimeField } from '../core/field.ts';
import { chacha20Keystream } from '../core/prg.ts';
import { arng, systemRng, type Rng } from '../core/random.ts';
import { fromFieldCentred, toFieldCentred, vectorField, type FieldLike, type VectorField } from './_vfield.ts';
import { shareAdditive } from './additive.ts';
import { MpcParty, channelOf, type Channel } from './party.ts';

/** A MAC'd sharing: this party's share of x and of α·x. */
export class AuthShared {
  readonly share: BigUint64Array;
  readonly mac: BigUint64Array;
  constructor(share: BigUint64Array, mac: BigUint64Array) {
    atyped(share, 'share', BigUint64Array);
    atyped(mac, 'mac', BigUint64Array);
    if (share.length !== mac.length) throw new ConfideError('E_BAD_INPUT', `"mac" expected length ${share.length}`, { field: 'mac' });
    this.share = share;
    this.mac = mac;
  }
  get length(): number {
    return this.share.length;
  }
}

interface Triples {
  a: AuthShared;
  b: AuthShared;
  c: AuthShared;
}

/**
 * One party's preprocessing for a MAC'd session: its share of α, MAC'd
 * triples, and input masks ⟨r⟩ for each owner (the owner also holds r).
 */
export class AuthStore {
  readonly id: Uint8Array;
  readonly party: number;
  readonly parties: number;
  readonly field: FieldLike;
  readonly alpha: bigint;
  readonly #t: { a: BigUint64Array; b: BigUint64Array; c: BigUint64Array; ma: BigUint64Array; mb: BigUint64Array; mc: BigUint64Array };
  readonly #masks: { r: BigUint64Array; m: BigUint64Array; clear: BigUint64Array | undefined }[];
  #nextTriple = 0;
  readonly #nextMask: number[];
  /** Offsets of element 0 in the dealer's numbering (nonzero after a store was written back with `encode`). */
  readonly #tripleBase: number;
  readonly #maskBase: number[];

  /** Made by `MacDealer.preprocess` and `AuthStore.decode` only. */
  constructor(
    token: symbol,
    id: Uint8Array,
    party: number,
    parties: number,
    field: FieldLike,
    alpha: bigint,
    triples: { a: BigUint64Array; b: BigUint64Array; c: BigUint64Array; ma: BigUint64Array; mb: BigUint64Array; mc: BigUint64Array },
    masks: { r: BigUint64Array; m: BigUint64Array; clear: BigUint64Array | undefined }[],
    bases?: { triples: number; masks: number[] },
  ) {
    if (token !== DEALT) throw new ConfideError('E_STATE', 'AuthStores come from MacDealer.preprocess or AuthStore.decode', { field: 'token' });
    this.id = id;
    this.party = party;
    this.parties = parties;
    this.field = field;
    this.alpha = alpha;
    this.#t = triples;
    this.#masks = masks;
    this.#nextMask = masks.map(() => 0);
    this.#tripleBase = bases?.triples ?? 0;
    this.#maskBase = bases?.masks ?? masks.map(() => 0);
  }
  get triplesRemaining(): number {
    return this.#t.a.length - this.#nextTriple;
  }
  masksRemaining(owner: number): number {
    ainteger(owner, 'owner', 0, this.parties - 1);
    return this.#masks[owner].r.length - this.#nextMask[owner];
  }
  /** The next n MAC'd triples, each handed out once (E_STATE when too few remain). */
  takeTriples(n: number): Triples & { offset: number } {
    ainteger(n, 'n', 0, 2 ** 27);
    if (n > this.triplesRemaining)
      throw new ConfideError('E_STATE', `the store has ${this.triplesRemaining} MAC'd triples, ${n} requested`, { field: 'n' });
    const s = this.#nextTriple, e = s + n, t = this.#t;
    this.#nextTriple = e;
    return { a: new AuthShared(t.a.subarray(s, e), t.ma.subarray(s, e)), b: new AuthShared(t.b.subarray(s, e), t.mb.subarray(s, e)), c: new AuthShared(t.c.subarray(s, e), t.mc.subarray(s, e)), offset: this.#tripleBase + s };
  }
  /** The next n input masks of `owner` (with r in the clear when this party is the owner). */
  takeMasks(owner: number, n: number): { r: AuthShared; clear: BigUint64Array | undefined; offset: number } {
    ainteger(n, 'n', 0, 2 ** 27);
    if (n > this.masksRemaining(owner))
      throw new ConfideError('E_STATE', `the store has ${this.masksRemaining(owner)} input masks for party ${owner}, ${n} requested`, { field: 'n' });
    const s = this.#nextMask[owner], e = s + n, m = this.#masks[owner];
    this.#nextMask[owner] = e;
    return { r: new AuthShared(m.r.subarray(s, e), m.m.subarray(s, e)), clear: m.clear?.subarray(s, e), offset: this.#maskBase[owner] + s };
  }

  /**
   * This party's store as bytes, with only the unused triples and masks (as
   * TripleStore.encode): write it back after a run so that no triple or mask
   * is used twice across runs. Holds α_i, so keep the file private.
   */
  encode(): Uint8Array {
    const t = this.#t, s = this.#nextTriple;
    const payloads: BigUint64Array[] = [t.a, t.b, t.c, t.ma, t.mb, t.mc].map((v) => v.slice(s));
    this.#masks.forEach((m, owner) => {
      const k = this.#nextMask[owner];
      payloads.push(m.r.slice(k), m.m.slice(k));
    });
    const own = this.#masks[this.party];
    payloads.push(own.clear!.slice(this.#nextMask[this.party]));
    return encodeMessage({
      header: {
        kind: AUTH_STORE_KIND,
        id: this.id,
        party: this.party,
        parties: this.parties,
        p: String(this.field.p),
        alpha: String(this.alpha),
        tripleBase: this.#tripleBase + s,
        maskBase: this.#maskBase.map((b, owner) => b + this.#nextMask[owner]).join(','),
      },
      payloads,
    });
  }

  /** Loads a store written by `encode`; anything malformed is E_DECODE. */
  static decode(bytes: Uint8Array): AuthStore {
    abytes(bytes, 'bytes');
    const bad = (why: string, cause?: unknown): never => {
      throw new ConfideError('E_DECODE', `not a confide MAC'd store: ${why}`, { field: 'bytes', ...(cause !== undefined ? { cause } : {}) });
    };
    let m;
    try {
      m = decodeMessage(bytes, { maxBytes: 2 ** 31 - 1, maxPayloads: 6 + 2 * 1024 + 1, maxPayloadBytes: 2 ** 31 - 1 });
    } catch (cause) {
      return bad('it does not decode', cause);
    }
    const h = m.header;
    if (h.kind !== AUTH_STORE_KIND) bad('wrong kind');
    const party = h.party, parties = h.parties, tripleBase = h.tripleBase;
    if (!(h.id instanceof Uint8Array) || h.id.length !== 16) bad('malformed id');
    if (typeof parties !== 'number' || !Number.isSafeInteger(parties) || parties < 2 || parties > 1024) bad('malformed party count');
    if (typeof party !== 'number' || !Number.isSafeInteger(party) || party < 0 || party >= (parties as number)) bad('malformed party index');
    if (typeof tripleBase !== 'number' || !Number.isSafeInteger(tripleBase) || tripleBase < 0) bad('malformed triple offset');
    if (typeof h.p !== 'string' || !/^[0-9]{1,20}$/.test(h.p) || typeof h.alpha !== 'string' || !/^[0-9]{1,20}$/.test(h.alpha)) bad('malformed field or key share');
    if (typeof h.maskBase !== 'string' || !/^[0-9]{1,15}(,[0-9]{1,15})*$/.test(h.maskBase)) bad('malformed mask offsets');
    const n = parties as number, me = party as number;
    const maskBase = (h.maskBase as string).split(',').map(Number);
    if (maskBase.length !== n) bad('mask offsets do not match the party count');
    const p = BigInt(h.p as string), alpha = BigInt(h.alpha as string);
    let field: FieldLike;
    try {
      field = p === Fp61.p ? Fp61 : new PrimeField(p);
    } catch (cause) {
      return bad('its field is not a prime', cause);
    }
    if (p < 1n << 40n || p >= 1n << 64n || alpha >= p) bad('field or key share out of range');
    const ps = m.payloads;
    if (ps.length !== 6 + 2 * n + 1 || !ps.every((v) => v instanceof BigUint64Array)) bad('wrong payloads');
    const v = (ps as BigUint64Array[]).map((x) => x.slice());
    const vf = vectorField(field);
    try {
      for (const x of v) vf.check(x, 'payload');
    } catch (cause) {
      bad('an element is not in the field', cause);
    }
    const [a, b, c, ma, mb, mc] = v;
    if (![b, c, ma, mb, mc].every((x) => x.length === a.length)) bad('triple payloads differ in length');
    const masks = Array.from({ length: n }, (_, owner) => {
      const r = v[6 + 2 * owner], mm = v[7 + 2 * owner];
      if (mm.length !== r.length) bad('mask payloads differ in length');
      return { r, m: mm, clear: owner === me ? v[6 + 2 * n] : undefined };
    });
    if (v[6 + 2 * n].length !== masks[me].r.length) bad('own masks differ in length');
    return new AuthStore(DEALT, (h.id as Uint8Array).slice(), me, n, field, alpha, { a, b, c, ma, mb, mc }, masks, { triples: tripleBase as number, masks: maskBase });
  }
}

/**
 * The TRUSTED dealer of a MAC'd session: draws α, shares it, and deals
 * MAC'd triples and input masks. It knows every secret it deals; it sees no
 * input and takes no part in any round.
 */
export class MacDealer {
  readonly trusted = true;
  readonly parties: number;
  readonly field: FieldLike;
  readonly #rng: Rng;
  readonly #vf: VectorField;

  constructor(parties: number, options?: { field?: FieldLike; rng?: Rng }) {
    this.parties = ainteger(parties, 'parties', 2, 1024);
    aoptions(options, 'options', ['field', 'rng']);
    this.field = options?.field ?? Fp61;
    this.#vf = vectorField(this.field, 'field');
    if (this.#vf.p < 1n << 40n) throw new ConfideError('E_BAD_INPUT', '"field" expected a prime of at least 40 bits (a check passes an error with probability about 2/p)', { field: 'field' });
    this.#rng = options?.rng === undefined ? systemRng() : arng(options.rng);
  }

  /** One AuthStore per party with `triples` MAC'd triples and `masks` input masks per owner. */
  preprocess(options: { triples: number; masks: number }): AuthStore[] {
    aoptions(options, 'options', ['triples', 'masks']);
    if (options === undefined) throw new ConfideError('E_BAD_INPUT', '"options" expected { triples, masks }', { field: 'options' });
    const nt = ainteger(options.triples, 'triples', 0, 2 ** 26);
    const nm = ainteger(options.masks, 'masks', 0, 2 ** 26);
    const f = this.#vf, n = this.parties, rng = this.#rng;
    const alpha = f.random(1, rng);
    const alphaShares = shareAdditive(alpha, n, { domain: this.field, rng });
    const auth = (x: BigUint64Array) => ({ x: shareAdditive(x, n, { domain: this.field, rng }), m: shareAdditive(f.mulScalar(x, alpha[0]), n, { domain: this.field, rng }) });
    const a = f.random(nt, rng), b = f.random(nt, rng);
    const A = auth(a), B = auth(b), C = auth(f.mul(a, b));
    const masks = Array.from({ length: n }, () => {
      const r = f.random(nm, rng);
      return { clear: r, ...auth(r) };
    });
    const id = rng.bytes(16);
    return Array.from({ length: n }, (_, i) =>
      new AuthStore(DEALT, id, i, n, this.field, alphaShares[i][0], { a: A.x[i], b: B.x[i], c: C.x[i], ma: A.m[i], mb: B.m[i], mc: C.m[i] }, masks.map((m, owner) => ({ r: m.x[i], m: m.m[i], clear: owner === i ? m.clear : undefined }))),
    );
  }
}

const COMMIT_DOMAIN = 'confide/mpc/spdz/v1/commit\0';
const AUTH_STORE_KIND = 'confide/mpc/auth-store/v1';
const DEALT = Symbol('AuthStore');

/**
 * A MAC'd session over an MpcParty's channels (additive or field sharing;
 * every party must be present). Values in and out are Z_2^64 two's
 * complement, mapped centred into the field (|v| < p/2), as in MpcParty.
 */
export class SpdzSession {
  readonly mpc: MpcParty;
  readonly store: AuthStore;
  readonly #ch: Channel;
  readonly #f: VectorField;
  readonly #alpha: bigint;
  /** Opened values not yet checked, with this party's MAC shares. */
  #opened: BigUint64Array[] = [];
  #macs: BigUint64Array[] = [];
  /** Every public value this party saw since the last check (opened values and input differences), for the view hash. */
  #view = createHash('sha256');
  #failed = false;

  constructor(mpc: MpcParty, store: AuthStore) {
    if (!(mpc instanceof MpcParty)) throw new ConfideError('E_BAD_INPUT', `"mpc" expected an MpcParty, got ${describe(mpc)}`, { field: 'mpc' });
    if (!(store instanceof AuthStore)) throw new ConfideError('E_BAD_INPUT', `"store" expected an AuthStore (MacDealer.preprocess), got ${describe(store)}`, { field: 'store' });
    if (mpc.sharing === 'shamir') throw new ConfideError('E_BAD_INPUT', '"mpc" must be an additive or field session (MACs are on additive shares; every party is needed)', { field: 'mpc' });
    if (store.parties !== mpc.parties.length || store.party !== mpc.index)
      throw new ConfideError('E_BAD_INPUT', `"store" belongs to party ${store.party} of ${store.parties}, not to this party`, { field: 'store' });
    this.mpc = mpc;
    this.store = store;
    this.#ch = channelOf(mpc);
    this.#f = vectorField(store.field);
    this.#alpha = store.alpha;
  }

  get #p(): bigint {
    return this.#f.p;
  }
  /** Opened values awaiting a MAC check. */
  get unchecked(): number {
    return this.#opened.reduce((s, v) => s + v.length, 0);
  }

  #live(): void {
    if (this.#failed) throw new ConfideError('E_STATE', 'a MAC check failed in this session: it is over', { field: 'session' });
  }
  #auth(v: unknown, field: string): AuthShared {
    if (!(v instanceof AuthShared)) throw new ConfideError('E_BAD_INPUT', `"${field}" expected an AuthShared, got ${describe(v)}`, { field });
    this.#f.check(v.share, `${field}.share`);
    this.#f.check(v.mac, `${field}.mac`);
    return v;
  }
  #pair(a: unknown, b: unknown): [AuthShared, AuthShared] {
    const x = this.#auth(a, 'a'), y = this.#auth(b, 'b');
    if (x.length !== y.length) throw new ConfideError('E_BAD_INPUT', `"b" expected length ${x.length}, got ${y.length}`, { field: 'b' });
    return [x, y];
  }

  /** ⟨x⟩ + k for public field elements k: party 0 adds k to its share, every party α_i·k to its MAC. */
  #addConstant(x: AuthShared, k: BigUint64Array): AuthShared {
    const f = this.#f;
    return new AuthShared(this.mpc.index === 0 ? f.add(x.share, k) : x.share.slice(), f.add(x.mac, f.mulScalar(k, this.#alpha)));
  }

  add(a: AuthShared, b: AuthShared): AuthShared {
    const [x, y] = this.#pair(a, b);
    return new AuthShared(this.#f.add(x.share, y.share), this.#f.add(x.mac, y.mac));
  }
  sub(a: AuthShared, b: AuthShared): AuthShared {
    const [x, y] = this.#pair(a, b);
    return new AuthShared(this.#f.sub(x.share, y.share), this.#f.sub(x.mac, y.mac));
  }
  /** a + v for a public vector v (Z_2^64 two's complement). */
  addPublic(a: AuthShared, v: BigUint64Array): AuthShared {
    const x = this.#auth(a, 'a');
    atyped(v, 'v', BigUint64Array);
    if (v.length !== x.length) throw new ConfideError('E_BAD_INPUT', `"v" expected length ${x.length}`, { field: 'v' });
    return this.#addConstant(x, toFieldCentred(v, this.#p));
  }
  /** k·a for a public integer k. */
  mulPublic(a: AuthShared, k: bigint): AuthShared {
    const x = this.#auth(a, 'a');
    if (typeof k !== 'bigint') throw new ConfideError('E_BAD_INPUT', `"k" expected a bigint, got ${describe(k)}`, { field: 'k' });
    const kf = ((k % this.#p) + this.#p) % this.#p;
    return new AuthShared(this.#f.mulScalar(x.share, kf), this.#f.mulScalar(x.mac, kf));
  }

  /**
   * Party `owner` inputs `values` (undefined elsewhere; everyone passes the
   * public length): it opens ε = x − r for its mask r, and ⟨x⟩ = ⟨r⟩ + ε.
   * One round. ε goes into every party's view hash, so an owner that sends
   * different ε to different parties is caught by the next check.
   */
  async input(owner: number, values: BigUint64Array | undefined, length: number): Promise<AuthShared> {
    this.#live();
    ainteger(owner, 'owner', 0, this.mpc.parties.length - 1);
    ainteger(length, 'length', 0, 2 ** 26);
    const me = this.mpc.index;
    let x: BigUint64Array | undefined;
    if (owner === me) {
      atyped(values, 'values', BigUint64Array);
      if (values!.length !== length) throw new ConfideError('E_BAD_INPUT', `"values" expected length ${length}, got ${values!.length}`, { field: 'values' });
      x = toFieldCentred(values!, this.#p);
    } else if (values !== undefined) throw new ConfideError('E_BAD_INPUT', '"values" are given by the owner only', { field: 'values' });
    const mask = this.store.takeMasks(owner, length);
    const round = this.#ch.round();
    let eps: BigUint64Array;
    if (owner === me) {
      eps = this.#f.sub(x!, mask.clear!);
      await Promise.all(this.#ch.peers().map((j) => this.#ch.send(j, round, 'spdz-input', [eps], { offset: mask.offset })));
    } else {
      const got = await this.#ch.gather([owner], round);
      const m = got.get(owner);
      if (m === undefined) this.#ch.missing([owner], 'MAC\'d input');
      if (m!.header.offset !== mask.offset) throw new ConfideError('E_PROTOCOL', `party ${owner} used input mask ${describe(m!.header.offset)}, this party ${mask.offset}: stores out of step`, { field: 'offset' });
      eps = this.#field(owner, this.#ch.open(owner, round, 'spdz-input', m!, [length])[0]);
    }
    this.#see('input', eps);
    return this.#addConstant(mask.r, eps);
  }

  /**
   * Every party inputs a vector of the same length at once (one round, one
   * mask per element from each owner's masks); returns the sharings by
   * owner. Each party's ε goes into every view hash, in owner order. Refuses
   * before sending when the store lacks masks for any owner (E_STATE).
   */
  async inputAll(values: BigUint64Array): Promise<AuthShared[]> {
    this.#live();
    atyped(values, 'values', BigUint64Array);
    const length = ainteger(values.length, 'values.length', 0, 2 ** 26);
    const x = toFieldCentred(values, this.#p);
    const n = this.mpc.parties.length, me = this.mpc.index;
    for (let owner = 0; owner < n; owner++)
      if (this.store.masksRemaining(owner) < length)
        throw new ConfideError('E_STATE', `the store has ${this.store.masksRemaining(owner)} input masks for party ${owner}, ${length} needed`, { field: 'store', details: { owner, need: length, have: this.store.masksRemaining(owner) } });
    const masks = Array.from({ length: n }, (_, owner) => this.store.takeMasks(owner, length));
    const round = this.#ch.round();
    const peers = this.#ch.peers();
    const eps: BigUint64Array[] = new Array(n);
    eps[me] = this.#f.sub(x, masks[me].clear!);
    await Promise.all(peers.map((j) => this.#ch.send(j, round, 'spdz-input-all', [eps[me]], { offset: masks[me].offset })));
    const got = await this.#ch.gather(peers, round);
    this.#ch.missing(peers.filter((j) => !got.has(j)), 'MAC\'d input');
    for (const j of peers) {
      const m = got.get(j)!;
      if (m.header.offset !== masks[j].offset) throw new ConfideError('E_PROTOCOL', `party ${j} used input mask ${describe(m.header.offset)}, this party ${masks[j].offset}: stores out of step`, { field: 'offset' });
      eps[j] = this.#field(j, this.#ch.open(j, round, 'spdz-input-all', m, [length])[0]);
    }
    eps.forEach((e) => this.#see('input', e));
    return masks.map((m, j) => this.#addConstant(m.r, eps[j]));
  }

  /** The sum of several MAC'd sharings of equal length (local). */
  sum(list: readonly AuthShared[]): AuthShared {
    if (!Array.isArray(list) || list.length === 0) throw new ConfideError('E_BAD_INPUT', '"list" expected a non-empty array of AuthShared', { field: 'list' });
    const first = this.#auth(list[0], 'list[0]');
    const share = first.share.slice(), mac = first.mac.slice();
    for (let k = 1; k < list.length; k++) {
      const x = this.#auth(list[k], `list[${k}]`);
      if (x.length !== first.length) throw new ConfideError('E_BAD_INPUT', `"list" expected vectors of length ${first.length}`, { field: `list[${k}]` });
      this.#f.add(share, x.share, share);
      this.#f.add(mac, x.mac, mac);
    }
    return new AuthShared(share, mac);
  }
  /** The sum of a's elements, as a sharing of length 1 (local; the MAC shares sum alike). */
  sumElements(a: AuthShared): AuthShared {
    const x = this.#auth(a, 'a');
    return new AuthShared(this.#blocks(x.share, x.length), this.#blocks(x.mac, x.length));
  }
  /** a repeated `times` times end to end (local; for matrix-vector products). */
  tile(a: AuthShared, times: number): AuthShared {
    const x = this.#auth(a, 'a');
    ainteger(times, 'times', 0, 2 ** 26);
    const share = new BigUint64Array(x.length * times), mac = new BigUint64Array(x.length * times);
    for (let r = 0; r < times; r++) {
      share.set(x.share, r * x.length);
      mac.set(x.mac, r * x.length);
    }
    return new AuthShared(share, mac);
  }
  /** Sums of consecutive blocks of `width` elements (local; row sums of a row-major matrix). */
  blockSums(a: AuthShared, width: number): AuthShared {
    const x = this.#auth(a, 'a');
    ainteger(width, 'width', 1, Math.max(1, x.length));
    if (x.length % width !== 0) throw new ConfideError('E_BAD_INPUT', `"width" expected a divisor of ${x.length}`, { field: 'width' });
    return new AuthShared(this.#blocks(x.share, width), this.#blocks(x.mac, width));
  }
  #blocks(v: BigUint64Array, width: number): BigUint64Array {
    const p = this.#p;
    const out = new BigUint64Array(width === 0 ? 1 : v.length / width);
    for (let r = 0; r < out.length; r++) {
      let s = 0n;
      for (let c = 0; c < width; c++) s += v[r * width + c];
      out[r] = s % p;
    }
    return out;
  }

  #field(j: number, v: BigUint64Array): BigUint64Array {
    for (let i = 0; i < v.length; i++)
      if (v[i] >= this.#p) throw new ConfideError('E_PROTOCOL', `party ${j} sent a value that is not a field element`, { field: 'share', details: { party: j } });
    return v;
  }
  #see(label: string, v: BigUint64Array): void {
    this.#view.update(label);
    this.#view.update(new Uint8Array(v.buffer, v.byteOffset, v.byteLength));
  }

  /** Opens shares all to all (sealed unless `plain`) and records them for the MAC check. */
  async #open(xs: AuthShared[], kind: string, plain: boolean): Promise<BigUint64Array[]> {
    const round = this.#ch.round();
    const peers = this.#ch.peers();
    const shares = xs.map((x) => x.share);
    await Promise.all(peers.map((j) => this.#ch.send(j, round, kind, shares, {}, plain)));
    const got = await this.#ch.gather(peers, round);
    this.#ch.missing(peers.filter((j) => !got.has(j)), `MAC'd opening (${kind})`);
    const sums = shares.map((s) => s.slice());
    for (const j of peers) {
      const theirs = this.#ch.open(j, round, kind, got.get(j)!, xs.map((x) => x.length), plain);
      theirs.forEach((v, k) => this.#f.add(sums[k], this.#field(j, v), sums[k]));
    }
    sums.forEach((v, k) => {
      this.#opened.push(v);
      this.#macs.push(xs[k].mac);
      this.#see('open', v);
    });
    return sums;
  }

  /**
   * a ⊙ b with a MAC'd triple: opens d = a − t.a and e = b − t.b (recorded
   * for the check); ⟨z⟩ = ⟨c⟩ + d⟨b⟩ + e⟨a⟩ + d·e. One round.
   */
  async mul(a: AuthShared, b: AuthShared): Promise<AuthShared> {
    this.#live();
    const [x, y] = this.#pair(a, b);
    const t = this.store.takeTriples(x.length);
    // Parties whose stores are out of step see different offsets: their views differ at the check.
    this.#see('triples', BigUint64Array.of(BigInt(t.offset)));
    const [d, e] = await this.#open([this.sub(x, t.a), this.sub(y, t.b)], 'spdz-beaver', true);
    const f = this.#f;
    const share = f.add(f.add(f.mul(d, t.b.share), f.mul(e, t.a.share)), t.c.share);
    const mac = f.add(f.add(f.mul(d, t.b.mac), f.mul(e, t.a.mac)), t.c.mac);
    return this.#addConstant(new AuthShared(share, mac), f.mul(d, e));
  }

  /** Opens a to every party without checking MACs yet (the value is recorded; trust it only after `check`). */
  async open(a: AuthShared): Promise<BigUint64Array> {
    this.#live();
    const x = this.#auth(a, 'a');
    return fromFieldCentred((await this.#open([x], 'spdz-open', false))[0], this.#p);
  }

  /** Opens a and runs the MAC check over everything opened so far: a checked result. */
  async output(a: AuthShared): Promise<BigUint64Array> {
    const v = await this.open(a);
    await this.check();
    return v;
  }

  /**
   * The MAC check on every value opened since the last check (see the file
   * comment). Four rounds. E_CRYPTO at every party when a MAC or the parties'
   * views disagree; the session is then over (E_STATE afterwards).
   */
  async check(): Promise<void> {
    this.#live();
    const ch = this.#ch, p = this.#p;
    // 1. A joint seed by commit-then-open.
    const seed = ch.rng.bytes(32);
    const seeds = await this.#commitOpen('seed', seed);
    const joint = new Uint8Array(32);
    for (const s of seeds.values()) for (let i = 0; i < 32; i++) joint[i] ^= s[i];
    // 2. σ_i = Σ r_k γ(a_k)_i − α_i · Σ r_k a_k.
    const total = this.unchecked;
    const r = new BigUint64Array(total);
    chacha20Keystream(joint, new Uint8Array(r.buffer));
    let a = 0n, gamma = 0n, k = 0;
    for (let v = 0; v < this.#opened.length; v++) {
      const ov = this.#opened[v], mv = this.#macs[v];
      for (let i = 0; i < ov.length; i++, k++) {
        const rk = r[k] % p;
        a = (a + rk * ov[i]) % p;
        gamma = (gamma + rk * mv[i]) % p;
      }
    }
    const sigma = (((gamma - this.#alpha * a) % p) + p) % p;
    // 3. Commit-then-open σ_i with the hash of this party's view; all views must agree and Σ σ_i = 0.
    const view = new Uint8Array(this.#view.copy().digest());
    const body = new Uint8Array(40);
    new DataView(body.buffer).setBigUint64(0, sigma, true);
    body.set(view, 8);
    const sigmas = await this.#commitOpen('sigma', body);
    let sum = 0n;
    const differ: number[] = [];
    for (const [j, b] of sigmas) {
      const s = new DataView(b.buffer, b.byteOffset, 8).getBigUint64(0, true);
      if (s >= p) this.#fail(`party ${j} sent a σ that is not a field element`, [j]);
      sum = (sum + s) % p;
      if (!b.subarray(8).every((x, i) => x === view[i])) differ.push(j);
    }
    if (differ.length > 0) this.#fail(`the parties' views of the opened values differ (${differ.map((j) => `party ${j}`).join(', ')})`, differ);
    if (sum !== 0n) this.#fail(`MAC check failed on ${total} opened values: an opened share was wrong`, []);
    this.#opened = [];
    this.#macs = [];
    this.#view = createHash('sha256');
  }

  #fail(message: string, parties: number[]): never {
    this.#failed = true;
    throw new ConfideError('E_CRYPTO', message, { field: 'mac', details: { parties } });
  }

  /**
   * Commit-then-open of `value` (≤ 64 bytes): SHA-256(domain ‖ label ‖ party
   * ‖ value ‖ 32-byte nonce) to every peer, then the value and nonce once
   * every commitment is in. Returns every party's value, its own included.
   */
  async #commitOpen(label: string, value: Uint8Array): Promise<Map<number, Uint8Array>> {
    const ch = this.#ch, peers = ch.peers(), me = this.mpc.index;
    const nonce = ch.rng.bytes(32);
    const digest = (j: number, v: Uint8Array, n: Uint8Array) => new Uint8Array(createHash('sha256').update(COMMIT_DOMAIN).update(label).update(new Uint8Array(new Uint32Array([j]).buffer)).update(v).update(n).digest());
    const r1 = ch.round();
    await Promise.all(peers.map((j) => ch.sendRaw(j, r1, { kind: `spdz-commit-${label}` }, [digest(me, value, nonce)])));
    const c = await ch.gather(peers, r1);
    ch.missing(peers.filter((j) => !c.has(j)), `MAC check (${label} commitments)`);
    const r2 = ch.round();
    await Promise.all(peers.map((j) => ch.sendRaw(j, r2, { kind: `spdz-open-${label}` }, [value, nonce])));
    const o = await ch.gather(peers, r2);
    ch.missing(peers.filter((j) => !o.has(j)), `MAC check (${label} openings)`);
    const out = new Map<number, Uint8Array>([[me, value]]);
    for (const j of peers) {
      const cm = c.get(j)!, om = o.get(j)!;
      const [d] = cm.payloads, [v, n] = om.payloads;
      if (cm.header.kind !== `spdz-commit-${label}` || om.header.kind !== `spdz-open-${label}` || !(d instanceof Uint8Array) || !(v instanceof Uint8Array) || !(n instanceof Uint8Array) || v.length !== value.length || n.length !== 32)
        throw new ConfideError('E_PROTOCOL', `party ${j} sent a malformed ${label} commitment or opening`, { field: 'round', details: { party: j } });
      const want = digest(j, v, n);
      if (d.length !== 32 || !d.every((x, i) => x === want[i])) this.#fail(`party ${j} opened a ${label} that does not match its commitment`, [j]);
      out.set(j, v);
    }
    return out;
  }
}
