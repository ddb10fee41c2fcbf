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
 */
import { ainteger, aoptions, atyped, abytes } from '../core/assert.ts';
import { ConfideError } from '../core/errors.ts';
import { decodeMessage, encodeMessage } from '../core/codec.ts';
import { arng, systemRng, type Rng } from '../core/random.ts';
import { beaverCombine64, mul64, randomZ64, sub64, words } from './_z64.ts';
import { shareAdditive } from './additive.ts';
import { vectorField, type FieldLike, type VectorField } from './_vfield.ts';
import { Fp61, PrimeField } from '../core/field.ts';

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

  /** A store of `capacity` triples per party, for the preprocessing model. */
  preprocess(capacity: number): TripleStore[] {
    const t = this.triples(capacity);
    const id = this.#rng.bytes(16);
    return t.map((s, i) => new TripleStore(id, i, this.parties, s.a, s.b, s.c, this.field));
  }

  /** `n` truncation pairs (r, r >> fracBits), one share per party; see fixed.ts. */
  truncationPairs(n: number, fracBits: number): TruncationPair[] {
    if (this.field !== undefined) throw new ConfideError('E_STATE', 'truncation pairs are for Z_2^64 (a dealer without "field")', { field: 'field' });
    ainteger(n, 'n', 0, 2 ** 27);
    ainteger(fracBits, 'fracBits', 1, 52);
    const r = randomZ64(n, this.#rng);
    const high = shiftRight64(r, fracBits, new BigUint64Array(n));
    const opt = { rng: this.#rng };
    const rs = shareAdditive(r, this.parties, opt), hs = shareAdditive(high, this.parties, opt);
    return rs.map((ri, i) => ({ r: ri, rHigh: hs[i], fracBits }));
  }
}

/** One party's share of (r, r >> fracBits) with r uniform in Z_2^64. */
export interface TruncationPair {
  readonly r: BigUint64Array;
  readonly rHigh: BigUint64Array;
  readonly fracBits: number;
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

const STORE_KIND = 'confide/mpc/triples/v1';

/**
 * One party's preprocessed triples. `take(n)` hands out the next n, each
 * exactly once; the store id and offset travel with the online messages so
 * that parties using different stores or positions fail with E_PROTOCOL
 * instead of computing garbage.
 */
export class TripleStore {
  readonly id: Uint8Array;
  readonly party: number;
  readonly parties: number;
  readonly #a: BigUint64Array;
  readonly #b: BigUint64Array;
  readonly #c: BigUint64Array;
  /** The triples' prime field; undefined for Z_2^64. */
  readonly field: FieldLike | undefined;
  #next = 0;

  constructor(id: Uint8Array, party: number, parties: number, a: BigUint64Array, b: BigUint64Array, c: BigUint64Array, field?: FieldLike) {
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
  }
  get capacity(): number {
    return this.#a.length;
  }
  get remaining(): number {
    return this.#a.length - this.#next;
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
    const s = this.#next;
    this.#next += n;
    return new TripleShare(this.#a.subarray(s, s + n), this.#b.subarray(s, s + n), this.#c.subarray(s, s + n), s, this.field);
  }

  /**
   * Bytes for a file: the store's unused part (what was taken is not written,
   * so a store reloaded from its own encoding cannot hand a triple out twice).
   */
  encode(): Uint8Array {
    const s = this.#next;
    return encodeMessage({
      header: { kind: STORE_KIND, id: this.id, party: this.party, parties: this.parties, offset: s, p: this.field === undefined ? '' : String(this.field.p) },
      payloads: [this.#a.slice(s), this.#b.slice(s), this.#c.slice(s)],
    });
  }

  static decode(bytes: Uint8Array): TripleStore {
    abytes(bytes, 'bytes');
    const m = decodeMessage(bytes, { maxBytes: 2 ** 31 - 1, maxPayloads: 3, maxPayloadBytes: 2 ** 31 - 1 });
    const h = m.header;
    if (h.kind !== STORE_KIND || m.payloads.length !== 3 || !m.payloads.every((p) => p instanceof BigUint64Array))
      throw new ConfideError('E_DECODE', 'not a confide triple store', { field: 'bytes' });
    const [a, b, c] = m.payloads as BigUint64Array[];
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
    // Copy out of the decode buffer so the store owns aligned memory.
    try {
      return new TripleStore(h.id.slice(), h.party, h.parties, a.slice(), b.slice(), c.slice(), field);
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

