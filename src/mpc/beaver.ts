/**
 * Beaver-triple multiplication on additively shared Z_2^64 vectors (Beaver,
 * CRYPTO 1991). With a triple c = a ⊙ b shared like x and y, the parties open
 * d = x - a and e = y - b (uniform, so they reveal nothing), and each holds
 * z_i = c_i + d ⊙ b_i + e ⊙ a_i, plus d ⊙ e at party 0: then Σ z_i = x ⊙ y.
 *
 * Triples come from a `TrustedDealer` (it knows every a, b, c: it must not
 * collude with any party, and it sees no input) either on demand or ahead of
 * time into one `TripleStore` per party, so that the online phase only opens
 * masked values. A triple is consumed exactly once: reusing one would reveal
 * x - x' from the two openings, so a second use is refused with E_STATE.
 *
 * Triples may also live in a prime field (Fp61 or a PrimeField below 2^64):
 * the same algebra mod p, for `sharing: 'field'` sessions and for the
 * dealer-free triples of hetriples.ts (which are born in BFV's plaintext field).
 *
 * The dealer also makes truncation pairs (r, ⌊r / 2^f⌋) for fixed-point
 * products (fixed.ts), on demand or into the same store, used once each.
 */
import { ainteger, aoptions, atyped, abytes } from '../core/assert.ts';
import { ConfideError, describe } from '../core/errors.ts';
import { decodeMessage, encodeMessage } from '../core/codec.ts';
import { arng, systemRng, type Rng } from '../core/random.ts';
import { beaverCombine64, mul64, randomZ64, sub64, words } from './_z64.ts';
import { shareAdditive } from './additive.ts';
import { vectorField, type FieldLike, type VectorField } from './_vfield.ts';
import { Fp61, PrimeField } from '../core/field.ts';
import { arenaAlloc, wasmKernels, type ArenaVector } from '../core/wasm/loader.ts';

/** One party's share of a vector of triples. */
export class TripleShare {
  readonly a: BigUint64Array;
  readonly b: BigUint64Array;
  readonly c: BigUint64Array;
  /** Where these triples start in their store (so parties can check they agree). */
  readonly offset: number;
  /** The prime field of the triples; undefined for Z_2^64. */
  readonly field: FieldLike | undefined;
  #used = false;

  constructor(a: BigUint64Array, b: BigUint64Array, c: BigUint64Array, offset = 0, field?: FieldLike) {
    atyped(a, 'a', BigUint64Array);
    atyped(b, 'b', BigUint64Array);
    atyped(c, 'c', BigUint64Array);
    if (a.length !== b.length || a.length !== c.length)
      throw new ConfideError('E_BAD_INPUT', '"b" and "c" expected the length of "a"', { field: 'b' });
    this.a = a;
    this.b = b;
    this.c = c;
    this.offset = ainteger(offset, 'offset');
    if (field !== undefined) vectorField(field, 'field');
    this.field = field;
  }
  get length(): number {
    return this.a.length;
  }
  get used(): boolean {
    return this.#used;
  }
  /** Marks the triples used; a second call is E_STATE. */
  consume(): void {
    if (this.#used) throw new ConfideError('E_STATE', `triples at offset ${this.offset} were already used; a triple must never open twice`, { field: 'triples' });
    this.#used = true;
  }
}

/**
 * A dealer that draws triples and hands out additive shares. TRUSTED: it
 * knows a, b and c, so a dealer that colludes with any party (or whose
 * messages a third party reads) lets them recover the other parties' inputs
 * from the opened d and e.
 */
export class TrustedDealer {
  /** A reminder in logs and reports: this source of triples is trusted. */
  readonly trusted = true;
  readonly parties: number;
  /** The triples' prime field; undefined for Z_2^64 (the default). */
  readonly field: FieldLike | undefined;
  readonly #rng: Rng;

  constructor(parties: number, options?: { rng?: Rng; field?: FieldLike }) {
    this.parties = ainteger(parties, 'parties', 2, 1 << 16);
    aoptions(options, 'options', ['rng', 'field']);
    this.#rng = options?.rng === undefined ? systemRng() : arng(options.rng);
    if (options?.field !== undefined) vectorField(options.field, 'field');
    this.field = options?.field;
  }

  /** `n` triples, one TripleShare per party. */
  triples(n: number, offset = 0): TripleShare[] {
    ainteger(n, 'n', 0, 2 ** 27);
    const opt = { rng: this.#rng, domain: this.field };
    let a: BigUint64Array, b: BigUint64Array, c: BigUint64Array;
    if (this.field === undefined) {
      a = randomZ64(n, this.#rng);
      b = randomZ64(n, this.#rng);
      c = mul64(a, b, new BigUint64Array(n));
    } else {
      const f = vectorField(this.field);
      a = f.random(n, this.#rng);
      b = f.random(n, this.#rng);
      c = f.mul(a, b);
    }
    const as = shareAdditive(a, this.parties, opt), bs = shareAdditive(b, this.parties, opt), cs = shareAdditive(c, this.parties, opt);
    return as.map((ai, i) => new TripleShare(ai, bs[i], cs[i], offset, this.field));
  }

  /**
   * A store of `capacity` triples per party, for the preprocessing model;
   * with `truncation`, also `count` truncation pairs for each listed
   * `fracBits` (what `MpcParty.truncate` takes before anything else).
   */
  preprocess(capacity: number, options?: { truncation?: TruncationSpec | readonly TruncationSpec[] }): TripleStore[] {
    ainteger(capacity, 'capacity', 0, 2 ** 27);
    aoptions(options, 'options', ['truncation']);
    const specs = truncationSpecs(options?.truncation);
    const t = this.triples(capacity);
    const pairs = specs.map((sp) => this.truncationPairs(sp.count, sp.fracBits));
    const id = this.#rng.bytes(16);
    return t.map((s, i) => new TripleStore(id, i, this.parties, s.a, s.b, s.c, this.field, pairs.map((p) => p[i])));
  }

  /**
   * `n` truncation pairs (r, ⌊r / 2^fracBits⌋), one TruncationPair per party;
   * see fixed.ts. In Z_2^64, r is uniform over the ring (width 64, ABY3); in
   * a prime field, r is uniform in [0, 2^w) with w = bits(p) − 2 (so that
   * x + 2^(k−1) + r < p for every k < w: Catrina and Saxena's TruncPr).
   */
  truncationPairs(n: number, fracBits: number): TruncationPair[] {
    ainteger(n, 'n', 0, 2 ** 27);
    const width = this.field === undefined ? 64 : dealerWidth(this.field.p);
    ainteger(fracBits, 'fracBits', 1, Math.min(62, width - 2));
    let r: BigUint64Array;
    if (this.field === undefined) r = randomZ64(n, this.#rng);
    else r = randomBelow2(n, width, this.#rng);
    const high = shiftRight64(r, fracBits, new BigUint64Array(n));
    const opt = { rng: this.#rng, domain: this.field };
    const rs = shareAdditive(r, this.parties, opt), hs = shareAdditive(high, this.parties, opt);
    return rs.map((ri, i) => new TruncationPair(ri, hs[i], fracBits, { width, field: this.field }));
  }
}

/** How many truncation pairs a dealer puts in each store, for one `fracBits`. */
export interface TruncationSpec {
  fracBits: number;
  count: number;
}

function truncationSpecs(v: unknown): TruncationSpec[] {
  if (v === undefined) return [];
  const list = (Array.isArray(v) ? v : [v]) as unknown[];
  if (list.length > MAX_PAIR_SECTIONS) throw new ConfideError('E_BAD_INPUT', `"truncation" expected at most ${MAX_PAIR_SECTIONS} entries`, { field: 'truncation' });
  const seen = new Set<number>();
  return list.map((x, i) => {
    const name = list === v ? `truncation[${i}]` : 'truncation';
    if (typeof x !== 'object' || x === null || Array.isArray(x) || ArrayBuffer.isView(x))
      throw new ConfideError('E_BAD_INPUT', `"${name}" expected { fracBits, count }`, { field: name });
    aoptions(x as TruncationSpec, name, ['fracBits', 'count']);
    const fracBits = ainteger((x as TruncationSpec).fracBits, `${name}.fracBits`, 1, 62);
    const count = ainteger((x as TruncationSpec).count, `${name}.count`, 0, 2 ** 27);
    if (seen.has(fracBits)) throw new ConfideError('E_BAD_INPUT', `"${name}.fracBits" ${fracBits} is listed twice`, { field: `${name}.fracBits` });
    seen.add(fracBits);
    return { fracBits, count };
  });
}

/** Bits of p. */
function bitLength(p: bigint): number {
  return p.toString(2).length;
}

/** The width of a field dealer's r: 2^w + 2^w ≤ 2^(bits(p) − 1) < p, so x' + r never wraps for x' < 2^w. */
export function dealerWidth(p: bigint): number {
  return bitLength(p) - 2;
}

/** n uniform integers in [0, 2^width), 1 <= width <= 64. */
export function randomBelow2(n: number, width: number, rng: Rng): BigUint64Array {
  const v = randomZ64(n, rng);
  if (width >= 64) return v;
  const z = words(v);
  const hiMask = width >= 32 ? 2 ** (width - 32) - 1 : 0, loMask = width >= 32 ? 0xffffffff : 2 ** width - 1;
  for (let i = 0; i < z.length; i += 2) {
    z[i] = (z[i] & loMask) >>> 0;
    z[i + 1] = (z[i + 1] & hiMask) >>> 0;
  }
  return v;
}

/**
 * One party's share of a vector of truncation pairs (r, ⌊r / 2^fracBits⌋),
 * additive (Z_2^64 or mod p) or Shamir. r is a sum of `terms` independent
 * draws, each uniform in [0, 2^width) (width 64 in Z_2^64: the whole ring);
 * rHigh shares the sum of the draws' ⌊draw / 2^fracBits⌋ (so for terms > 1
 * it is ⌊r / 2^fracBits⌋ minus at most terms − 1: fixed.ts bounds the error).
 * A pair must mask only once (two openings with the same r reveal x − x'):
 * `consume` refuses a second use with E_STATE.
 */
export class TruncationPair {
  readonly r: BigUint64Array;
  readonly rHigh: BigUint64Array;
  readonly fracBits: number;
  /** Each draw of r is uniform in [0, 2^width); 64 means uniform over Z_2^64. */
  readonly width: number;
  /** How many independent draws r sums: 1 from a dealer, the contributing parties when the parties make it. */
  readonly terms: number;
  /** The prime field of the shares; undefined for Z_2^64. */
  readonly field: FieldLike | undefined;
  /** Where these pairs start in their store or pool (so parties can check they agree). */
  readonly offset: number;
  #used = false;

  constructor(r: BigUint64Array, rHigh: BigUint64Array, fracBits: number, options?: { width?: number; terms?: number; field?: FieldLike; offset?: number }) {
    atyped(r, 'r', BigUint64Array);
    atyped(rHigh, 'rHigh', BigUint64Array);
    if (rHigh.length !== r.length) throw new ConfideError('E_BAD_INPUT', `"rHigh" expected length ${r.length} (the length of "r")`, { field: 'rHigh' });
    aoptions(options, 'options', ['width', 'terms', 'field', 'offset']);
    const field = options?.field;
    if (field !== undefined) vectorField(field, 'field').check(r, 'r');
    if (field !== undefined) vectorField(field).check(rHigh, 'rHigh');
    // In a field the draws must stay below p with room for x: at most bits(p) − 1 bits.
    const maxWidth = field === undefined ? 64 : bitLength(field.p) - 1;
    this.width = ainteger(options?.width ?? maxWidth, 'width', 2, maxWidth);
    this.fracBits = ainteger(fracBits, 'fracBits', 1, Math.min(62, this.width - 1));
    this.terms = ainteger(options?.terms ?? 1, 'terms', 1, 1 << 16);
    if (this.width === 64 && this.terms !== 1) throw new ConfideError('E_BAD_INPUT', '"terms" must be 1 for pairs uniform over Z_2^64 (width 64)', { field: 'terms' });
    this.offset = ainteger(options?.offset ?? 0, 'offset');
    this.r = r;
    this.rHigh = rHigh;
    this.field = field;
  }
  get length(): number {
    return this.r.length;
  }
  get used(): boolean {
    return this.#used;
  }
  /** Marks the pairs used; a second call is E_STATE. */
  consume(): void {
    if (this.#used) throw new ConfideError('E_STATE', `truncation pairs at offset ${this.offset} were already used; a pair must never mask twice`, { field: 'pair' });
    this.#used = true;
  }
  /** Elements [start, end) as fresh pairs (unused), sharing memory. */
  slice(start: number, end: number): TruncationPair {
    ainteger(start, 'start', 0, this.length);
    ainteger(end, 'end', start, this.length);
    return new TruncationPair(this.r.subarray(start, end), this.rHigh.subarray(start, end), this.fracBits, {
      width: this.width,
      terms: this.terms,
      field: this.field,
      offset: this.offset + start,
    });
  }
}

/** out = v >> s (logical) for 0 <= s <= 63, on words. */
export function shiftRight64(v: BigUint64Array, s: number, out: BigUint64Array): BigUint64Array {
  const x = words(v), z = words(out);
  for (let i = 0; i < z.length; i += 2) {
    const lo = x[i], hi = x[i + 1];
    if (s === 0) { z[i] = lo; z[i + 1] = hi; }
    else if (s < 32) { z[i] = ((lo >>> s) | (hi << (32 - s))) >>> 0; z[i + 1] = hi >>> s; }
    else { z[i] = hi >>> (s - 32); z[i + 1] = 0; }
  }
  return out;
}

/**
 * Triples a party has taken from its store for one Beaver product, read where
 * the store keeps them: `views()` gives a, b, c afresh each time (a view
 * into WASM memory goes stale when that memory grows), and the range is
 * handed out once, like `take`.
 */
export interface HeldTriples {
  readonly offset: number;
  readonly length: number;
  readonly field: FieldLike | undefined;
  views(): { a: BigUint64Array; b: BigUint64Array; c: BigUint64Array };
}

let reserveImpl: (store: TripleStore, n: number) => HeldTriples;
let holdImpl: (store: TripleStore) => void;

/** The next `n` triples of `store` for party.ts's Beaver product, in place (E_STATE when fewer remain). */
export function reserveTriples(store: TripleStore, n: number): HeldTriples {
  return reserveImpl(store, n);
}

/**
 * Moves the store's unused triples into WASM memory when it is worth it (at
 * least HELD_MIN of them, the WASM kernels running, within
 * HELD_BUDGET_BYTES): MpcParty.start does it for the store of a session, so
 * stores that are only dealt, written and read stay out of WASM memory.
 */
export function holdTriples(store: TripleStore): void {
  holdImpl(store);
}

const EMPTY = new BigUint64Array(0);
/** Stores below this many triples stay in ordinary memory (the staged kernels cost little there). */
export const HELD_MIN = 1024;
/**
 * At most this many bytes of triples live in WASM memory at once, over all
 * stores of the process (WebAssembly memory has 4 GiB at most and never
 * shrinks); stores beyond it stay in ordinary memory.
 */
export const HELD_BUDGET_BYTES = 2 ** 30;
let heldBytes = 0;

function releaseHeld(v: ArenaVector<BigUint64Array>): void {
  if (v.freed) return;
  heldBytes -= v.length * 8;
  v.view.fill(0n);
  v.free();
}

/** Returns the WASM memory of stores dropped without `dispose`. */
const heldStores = new FinalizationRegistry<ArenaVector<BigUint64Array>>(releaseHeld);

/** a ‖ b ‖ c copied into one arena vector, or undefined when they stay in ordinary memory. */
function holdInWasm(a: BigUint64Array, b: BigUint64Array, c: BigUint64Array): ArenaVector<BigUint64Array> | undefined {
  const n = a.length, bytes = 3 * n * 8;
  if (n < HELD_MIN || wasmKernels() === null || heldBytes + bytes > HELD_BUDGET_BYTES) return undefined;
  let v: ArenaVector<BigUint64Array>;
  try {
    v = arenaAlloc(BigUint64Array, 3 * n);
  } catch {
    return undefined; // WASM memory cannot grow that far: ordinary memory serves.
  }
  heldBytes += bytes;
  const view = v.view;
  view.set(a, 0);
  view.set(b, n);
  view.set(c, 2 * n);
  return v;
}

/** Stores without truncation pairs keep the v1 format, so older readers still load them. */
const STORE_KIND = 'confide/mpc/triples/v1';
/** v2: v1's header and payloads, then `pairs` ("fracBits:width:terms" per section, ';'-separated) and r, rHigh per section. */
const STORE_KIND_PAIRS = 'confide/mpc/triples/v2';
const MAX_PAIR_SECTIONS = 64;

interface PairSection {
  readonly r: BigUint64Array;
  readonly rHigh: BigUint64Array;
  readonly width: number;
  readonly terms: number;
  next: number;
}

/**
 * One party's preprocessed triples, and optionally truncation pairs for some
 * `fracBits`. `take(n)` and `takePairs(n, fracBits)` hand out the next n,
 * each exactly once; the store id and offset travel with the online messages
 * so that parties using different stores or positions fail with E_PROTOCOL
 * instead of computing garbage. A session started on the store moves its
 * unused triples into WASM memory (`inWasmMemory`), where the Beaver kernels
 * read them without copies; `dispose()` returns that memory.
 */
export class TripleStore {
  readonly id: Uint8Array;
  readonly party: number;
  readonly parties: number;
  #a: BigUint64Array;
  #b: BigUint64Array;
  #c: BigUint64Array;
  readonly #capacity: number;
  /** The unused a ‖ b ‖ c at the time the store moved them into WASM memory (see `inWasmMemory`). */
  #held: ArenaVector<BigUint64Array> | undefined;
  /** The store position of the first triple in `#held`, and how many it holds. */
  #heldFrom = 0;
  #heldLength = 0;
  #disposed = false;
  readonly #pairs = new Map<number, PairSection>();
  /** The triples' prime field; undefined for Z_2^64. */
  readonly field: FieldLike | undefined;
  #next = 0;

  static {
    reserveImpl = (store, n) => store.#reserve(n);
    holdImpl = (store) => store.#hold();
  }

  constructor(id: Uint8Array, party: number, parties: number, a: BigUint64Array, b: BigUint64Array, c: BigUint64Array, field?: FieldLike, pairs?: readonly TruncationPair[]) {
    this.id = abytes(id, 'id', 16);
    this.parties = ainteger(parties, 'parties', 2, 1 << 16);
    this.party = ainteger(party, 'party', 0, this.parties - 1);
    this.#a = atyped(a, 'a', BigUint64Array);
    this.#b = atyped(b, 'b', BigUint64Array);
    this.#c = atyped(c, 'c', BigUint64Array);
    if (b.length !== a.length || c.length !== a.length)
      throw new ConfideError('E_BAD_INPUT', '"b" and "c" expected the length of "a"', { field: 'b' });
    if (field !== undefined) {
      const f = vectorField(field, 'field');
      f.check(a, 'a');
      f.check(b, 'b');
      f.check(c, 'c');
    }
    this.field = field;
    this.#capacity = a.length;
    if (pairs !== undefined) {
      if (!Array.isArray(pairs) || pairs.length > MAX_PAIR_SECTIONS)
        throw new ConfideError('E_BAD_INPUT', `"pairs" expected an array of at most ${MAX_PAIR_SECTIONS} TruncationPair`, { field: 'pairs' });
      pairs.forEach((pr, i) => {
        if (!(pr instanceof TruncationPair)) throw new ConfideError('E_BAD_INPUT', `"pairs[${i}]" expected a TruncationPair, got ${describe(pr)}`, { field: `pairs[${i}]` });
        if (pr.field?.p !== field?.p) throw new ConfideError('E_BAD_INPUT', `"pairs[${i}]" are over another domain than the triples`, { field: `pairs[${i}]` });
        if (this.#pairs.has(pr.fracBits)) throw new ConfideError('E_BAD_INPUT', `"pairs[${i}]" repeats fracBits ${pr.fracBits}`, { field: `pairs[${i}]` });
        if (pr.used) throw new ConfideError('E_STATE', `"pairs[${i}]" were already used`, { field: `pairs[${i}]` });
        // The store now owns these pairs: mark the given object used so it cannot also mask on its own.
        pr.consume();
        this.#pairs.set(pr.fracBits, { r: pr.r, rHigh: pr.rHigh, width: pr.width, terms: pr.terms, next: 0 });
      });
    }
  }
  get capacity(): number {
    return this.#capacity;
  }
  get remaining(): number {
    return this.#capacity - this.#next;
  }
  /**
   * Whether the unused triples live in WASM memory (core's arena), where the
   * Beaver kernels read them in place. A session (`MpcParty.start`) moves
   * its store there when at least HELD_MIN triples remain, the WASM kernels
   * run and the stores held so far stay within HELD_BUDGET_BYTES; other
   * stores stay in ordinary memory. Either way the results are the same.
   */
  get inWasmMemory(): boolean {
    return this.#held !== undefined && !this.#disposed;
  }

  /**
   * Wipes the unused triples and pairs and returns the store's WASM memory to
   * the arena now (what `take` and `takePairs` handed out stays valid);
   * afterwards every use is E_STATE. A store that is dropped
   * without `dispose` returns its WASM memory when it is garbage collected.
   */
  dispose(): void {
    if (this.#disposed) return;
    this.#disposed = true;
    if (this.#held !== undefined) {
      heldStores.unregister(this);
      releaseHeld(this.#held);
      this.#held = undefined;
    } else {
      // Only what was never handed out: a TripleShare taken earlier shares this memory.
      const s = this.#next;
      this.#a.fill(0n, s);
      this.#b.fill(0n, s);
      this.#c.fill(0n, s);
    }
    this.#a = this.#b = this.#c = EMPTY;
    for (const sec of this.#pairs.values()) {
      sec.r.fill(0n, sec.next);
      sec.rHigh.fill(0n, sec.next);
    }
  }

  [Symbol.dispose](): void {
    this.dispose();
  }

  #live(): void {
    if (this.#disposed) throw new ConfideError('E_STATE', 'the triple store has been disposed', { field: 'triples' });
  }

  /** a, b, c over [s, s + n), where they live now (views into WASM memory are re-made after it grows). */
  #views(s: number, n: number): { a: BigUint64Array; b: BigUint64Array; c: BigUint64Array } {
    this.#live();
    if (this.#held === undefined) return { a: this.#a.subarray(s, s + n), b: this.#b.subarray(s, s + n), c: this.#c.subarray(s, s + n) };
    const v = this.#held.view, m = this.#heldLength, i = s - this.#heldFrom;
    return { a: v.subarray(i, i + n), b: v.subarray(m + i, m + i + n), c: v.subarray(2 * m + i, 2 * m + i + n) };
  }

  /** Moves the unused triples into WASM memory (holdTriples); the ordinary copies of them are wiped. */
  #hold(): void {
    if (this.#held !== undefined || this.#disposed) return;
    const s = this.#next;
    const held = holdInWasm(this.#a.subarray(s), this.#b.subarray(s), this.#c.subarray(s));
    if (held === undefined) return;
    this.#held = held;
    this.#heldFrom = s;
    this.#heldLength = this.#capacity - s;
    // Taken TripleShares keep their own references to the arrays; the unused part now lives in WASM memory only.
    this.#a.fill(0n, s);
    this.#b.fill(0n, s);
    this.#c.fill(0n, s);
    this.#a = this.#b = this.#c = EMPTY;
    heldStores.register(this, held, this);
  }

  /** Takes the next n triples for a Beaver product that reads them where they live (party.ts). */
  #reserve(n: number): HeldTriples {
    this.#live();
    if (n > this.remaining)
      throw new ConfideError('E_STATE', `the triple store has ${this.remaining} unused triples, ${n} requested; preprocess more`, {
        field: 'n',
        details: { remaining: this.remaining, requested: n },
      });
    const s = this.#next;
    this.#next += n;
    return { offset: s, length: n, field: this.field, views: () => this.#views(s, n) };
  }
  /** The position of the next unused triple. */
  get position(): number {
    return this.#next;
  }

  /** The next `n` triples; E_STATE when fewer remain (never wraps around to used ones). */
  take(n: number): TripleShare {
    ainteger(n, 'n', 0, 2 ** 30);
    if (n > this.remaining)
      throw new ConfideError('E_STATE', `the triple store has ${this.remaining} unused triples, ${n} requested; preprocess more`, {
        field: 'n',
        details: { remaining: this.remaining, requested: n },
      });
    this.#live();
    const s = this.#next;
    this.#next += n;
    const t = this.#views(s, n);
    // Triples in WASM memory are copied out: a view there would go stale when memory grows or the store is disposed.
    if (this.#held !== undefined) return new TripleShare(t.a.slice(), t.b.slice(), t.c.slice(), s, this.field);
    return new TripleShare(t.a, t.b, t.c, s, this.field);
  }

  /** The `fracBits` for which this store holds truncation pairs (used up or not), ascending. */
  get truncationFracBits(): number[] {
    return [...this.#pairs.keys()].sort((x, y) => x - y);
  }

  /** The unused truncation pairs for `fracBits`, with their width and terms; undefined when the store has none for it. */
  truncation(fracBits: number): { remaining: number; width: number; terms: number; position: number } | undefined {
    ainteger(fracBits, 'fracBits', 1, 62);
    const sec = this.#pairs.get(fracBits);
    return sec === undefined ? undefined : { remaining: sec.r.length - sec.next, width: sec.width, terms: sec.terms, position: sec.next };
  }

  /** The next `n` truncation pairs for `fracBits`; E_STATE when the store has fewer (or none for it). */
  takePairs(n: number, fracBits: number): TruncationPair {
    ainteger(n, 'n', 0, 2 ** 30);
    ainteger(fracBits, 'fracBits', 1, 62);
    this.#live();
    const sec = this.#pairs.get(fracBits);
    const left = sec === undefined ? 0 : sec.r.length - sec.next;
    if (sec === undefined || n > left)
      throw new ConfideError('E_STATE', `the triple store has ${left} unused truncation pairs for fracBits ${fracBits}, ${n} requested; preprocess more`, {
        field: 'n',
        details: { remaining: left, requested: n, fracBits },
      });
    const s = sec.next;
    sec.next += n;
    return new TruncationPair(sec.r.subarray(s, s + n), sec.rHigh.subarray(s, s + n), fracBits, { width: sec.width, terms: sec.terms, field: this.field, offset: s });
  }

  /**
   * Bytes for a file: the store's unused part (what was taken is not written,
   * so a store reloaded from its own encoding cannot hand a triple or a pair
   * out twice). Without truncation pairs the format is v1, as before.
   */
  encode(): Uint8Array {
    const s = this.#next;
    const header: Record<string, string | number | Uint8Array> = { kind: STORE_KIND, id: this.id, party: this.party, parties: this.parties, offset: s, p: this.field === undefined ? '' : String(this.field.p) };
    const t = this.#views(s, this.#capacity - s);
    const payloads: BigUint64Array[] = [t.a, t.b, t.c];
    if (this.#pairs.size > 0) {
      header.kind = STORE_KIND_PAIRS;
      const sections: string[] = [];
      for (const f of this.truncationFracBits) {
        const sec = this.#pairs.get(f)!;
        sections.push(`${f}:${sec.width}:${sec.terms}`);
        payloads.push(sec.r.slice(sec.next), sec.rHigh.slice(sec.next));
      }
      header.pairs = sections.join(';');
    }
    return encodeMessage({ header, payloads });
  }

  /** Loads a store written by `encode` (v1 without pairs, v2 with). */
  static decode(bytes: Uint8Array): TripleStore {
    abytes(bytes, 'bytes');
    const m = decodeMessage(bytes, { maxBytes: 2 ** 31 - 1, maxPayloads: 3 + 2 * MAX_PAIR_SECTIONS, maxPayloadBytes: 2 ** 31 - 1 });
    const h = m.header;
    const v2 = h.kind === STORE_KIND_PAIRS;
    if ((h.kind !== STORE_KIND && !v2) || (!v2 && m.payloads.length !== 3) || m.payloads.length < 3 || !m.payloads.every((p) => p instanceof BigUint64Array))
      throw new ConfideError('E_DECODE', 'not a confide triple store', { field: 'bytes' });
    const [a, b, c, ...rest] = m.payloads as BigUint64Array[];
    if (!(h.id instanceof Uint8Array) || typeof h.party !== 'number' || typeof h.parties !== 'number')
      throw new ConfideError('E_DECODE', 'triple store header is malformed', { field: 'bytes' });
    let field: FieldLike | undefined;
    if (typeof h.p === 'string' && h.p !== '') {
      if (!/^[0-9]{1,20}$/.test(h.p)) throw new ConfideError('E_DECODE', 'triple store field is malformed', { field: 'bytes' });
      const p = BigInt(h.p);
      try {
        field = p === Fp61.p ? Fp61 : new PrimeField(p);
      } catch (cause) {
        throw new ConfideError('E_DECODE', 'triple store field is not a prime', { field: 'bytes', cause });
      }
    }
    const sections: { f: number; width: number; terms: number }[] = [];
    if (v2) {
      if (typeof h.pairs !== 'string' || !/^[0-9]{1,2}:[0-9]{1,2}:[0-9]{1,5}(;[0-9]{1,2}:[0-9]{1,2}:[0-9]{1,5})*$/.test(h.pairs))
        throw new ConfideError('E_DECODE', 'triple store pair sections are malformed', { field: 'bytes' });
      for (const sec of h.pairs.split(';')) {
        const [f, width, terms] = sec.split(':').map(Number);
        sections.push({ f, width, terms });
      }
      if (rest.length !== 2 * sections.length) throw new ConfideError('E_DECODE', 'triple store pair sections do not match its payloads', { field: 'bytes' });
    }
    // Copy out of the decode buffer so the store owns aligned memory.
    try {
      const pairs = sections.map((s, k) => new TruncationPair(rest[2 * k].slice(), rest[2 * k + 1].slice(), s.f, { width: s.width, terms: s.terms, field }));
      return new TripleStore(h.id.slice(), h.party, h.parties, a.slice(), b.slice(), c.slice(), field, v2 ? pairs : undefined);
    } catch (cause) {
      throw new ConfideError('E_DECODE', `triple store does not load: ${(cause as Error).message}`, { field: 'bytes', cause });
    }
  }
}

/** Step 1 at each party: its shares of d = x - a and e = y - b, to be opened. Consumes the triples. */
export function beaverMask(x: BigUint64Array, y: BigUint64Array, triples: TripleShare): { d: BigUint64Array; e: BigUint64Array } {
  atyped(x, 'x', BigUint64Array);
  atyped(y, 'y', BigUint64Array);
  if (!(triples instanceof TripleShare)) throw new ConfideError('E_BAD_INPUT', '"triples" expected a TripleShare', { field: 'triples' });
  if (x.length !== triples.length || y.length !== triples.length)
    throw new ConfideError('E_BAD_INPUT', `"x" and "y" expected length ${triples.length} (the triples')`, { field: 'x' });
  if (triples.field !== undefined) {
    const f = vectorField(triples.field);
    f.check(x, 'x');
    f.check(y, 'y');
    triples.consume();
    return { d: f.sub(x, triples.a), e: f.sub(y, triples.b) };
  }
  triples.consume();
  return { d: sub64(x, triples.a, new BigUint64Array(x.length)), e: sub64(y, triples.b, new BigUint64Array(y.length)) };
}

/** z = c + d ⊙ b + e ⊙ a (+ d ⊙ e when `first`) mod p. */
export function beaverCombineField(f: VectorField, d: BigUint64Array, e: BigUint64Array, t: { a: BigUint64Array; b: BigUint64Array; c: BigUint64Array }, first: boolean): BigUint64Array {
  const z = f.mul(d, t.b);
  f.add(z, f.mul(e, t.a), z);
  f.add(z, t.c, z);
  if (first) f.add(z, f.mul(d, e), z);
  return z;
}

/**
 * Step 2, after d and e are opened: this party's share of x ⊙ y.
 * `first` is true at exactly one party (it adds the public d ⊙ e).
 */
export function beaverCombine(d: BigUint64Array, e: BigUint64Array, triples: TripleShare, first: boolean): BigUint64Array {
  atyped(d, 'd', BigUint64Array);
  atyped(e, 'e', BigUint64Array);
  if (!(triples instanceof TripleShare)) throw new ConfideError('E_BAD_INPUT', '"triples" expected a TripleShare', { field: 'triples' });
  if (typeof first !== 'boolean') throw new ConfideError('E_BAD_INPUT', '"first" expected a boolean', { field: 'first' });
  if (d.length !== triples.length || e.length !== triples.length)
    throw new ConfideError('E_BAD_INPUT', `"d" and "e" expected length ${triples.length}`, { field: 'd' });
  if (triples.field !== undefined) {
    const f = vectorField(triples.field);
    return beaverCombineField(f, f.check(d, 'd'), f.check(e, 'e'), triples, first);
  }
  return beaverCombine64(triples.c, d, e, triples.a, triples.b, first, new BigUint64Array(d.length));
}

/** x ⊙ y mod 2^64 in the clear (for tests and plaintext references). */
export function mulZ64(x: BigUint64Array, y: BigUint64Array): BigUint64Array {
  atyped(x, 'x', BigUint64Array);
  atyped(y, 'y', BigUint64Array);
  if (x.length !== y.length) throw new ConfideError('E_BAD_INPUT', `"y" expected length ${x.length}`, { field: 'y' });
  return mul64(x, y, new BigUint64Array(x.length));
}

