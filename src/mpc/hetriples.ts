/**
 * Dealer-free Beaver triples from node-seal BFV (confide/he), for additive
 * sharing in BFV's plaintext field F_t (`sharing: 'field'`, field
 * HE_TRIPLE_FIELD). Each party i draws a_i, b_i uniform in F_t; the triple is
 * a = Σ a_i, b = Σ b_i, c = a·b, and c = Σ_i a_i b_i + Σ_{i≠j} a_i b_j. Each
 * cross term is a two-party product (the shape of SPDZ's and Overdrive's
 * LowGear preprocessing, Keller, Orsini and Scholl, EUROCRYPT 2018, §4, here
 * semi-honest and without their zero-knowledge proofs):
 *
 *   1. i → every j: its fresh BFV public key and Enc_i(a_i) (slot-packed,
 *      8192 triples per ciphertext).
 *   2. j → i: Enc_i(a_i) ⊙ b_j + Enc_i(r_ji) with flooding noise, r_ji uniform
 *      in F_t; j keeps −r_ji.
 *   3. i decrypts a_i b_j + r_ji. Its share of c is
 *      c_i = a_i b_i + Σ_j (a_i b_j + r_ji) − Σ_j r_ij.
 *
 * Two rounds for the whole batch. Semi-honest security: j's reply hides b_j
 * from i up to statistical distance 2^-sigma per ciphertext (noise flooding,
 * see he's residues.ts for the bound), a_i is hidden from j by IND-CPA
 * (RLWE), and what i decrypts is masked by the uniform r_ji. Any coalition of
 * up to N − 1 parties learns nothing about the others' a, b, c shares beyond
 * what they imply. Every party must be present (E_PROTOCOL otherwise).
 */
import { aoptions, ainteger } from '../core/assert.ts';
import { ConfideError, describe } from '../core/errors.ts';
import { PrimeField } from '../core/field.ts';
import { createHash } from 'node:crypto';
import { HeContext, createContext, productFlooding, ResidueDecryptor, ResidueEncryptor, type HeParams } from '../he/index.ts';
import { vectorField } from './_vfield.ts';
import { TripleStore } from './beaver.ts';
import { MpcParty, channelOf } from './party.ts';

/**
 * BFV parameters of the triples: n = 8192 (8192 triples per ciphertext),
 * q = 3 × 60-bit data primes (+ a 38-bit special prime; 218 bits, the most
 * n = 8192 allows at 128-bit security), t = PlainModulus.Batching(8192, 45).
 * The data modulus leaves 6 bits of headroom after 2^-40 flooding.
 */
export const HE_TRIPLE_PARAMS: Readonly<HeParams> = Object.freeze({
  scheme: 'bfv',
  polyModulusDegree: 8192,
  coeffModulusBits: Object.freeze([60, 60, 60, 38]),
  plainModulusBits: 45,
});

/** t = 2^45 − 475135 = 35184371613697, the prime SEAL picks (≡ 1 mod 2^14, so it batches). */
export const HE_TRIPLE_PRIME = 35184371613697n;

/** The field of HE triples: a `field`-sharing session over it consumes them. */
export const HE_TRIPLE_FIELD = new PrimeField(HE_TRIPLE_PRIME);

export interface HeTripleOptions {
  /** Statistical security of the flooding: distance ≤ 2^-sigma per ciphertext. Default 40. */
  sigma?: number;
  /** Triples per pair of rounds (bounds memory); default 65,536 (8 ciphertexts). */
  batch?: number;
  /**
   * A context under HE_TRIPLE_PARAMS (he's `createContext`) that the caller
   * owns and reuses: building one takes about 0.3 s, which otherwise every
   * call pays (and disposes again).
   */
  context?: HeContext;
}

/**
 * Generates `count` triples with every party of `mpc`'s session (all must
 * call it with the same count, in the same place of their programs) and
 * returns this party's TripleStore over HE_TRIPLE_FIELD. Start a
 * `sharing: 'field'` session with `field: HE_TRIPLE_FIELD` and these
 * triples (its `firstRound` at `mpc.nextRound` when it shares the net
 * session) to multiply with them.
 */
export async function heTriples(mpc: MpcParty, count: number, options?: HeTripleOptions): Promise<TripleStore> {
  if (!(mpc instanceof MpcParty)) throw new ConfideError('E_BAD_INPUT', `"mpc" expected an MpcParty, got ${describe(mpc)}`, { field: 'mpc' });
  ainteger(count, 'count', 1, 2 ** 27);
  aoptions(options, 'options', ['sigma', 'batch', 'context']);
  const sigma = ainteger(options?.sigma ?? 40, 'sigma', 20, 80);
  const batch = ainteger(options?.batch ?? 65_536, 'batch', 1, 2 ** 24);
  if (mpc.sharing === 'shamir') throw new ConfideError('E_STATE', 'HE triples are additive shares: run them on an additive or field session', { field: 'mpc' });
  const ch = channelOf(mpc);
  const f = vectorField(HE_TRIPLE_FIELD);
  const rng = ch.rng;
  const given = options?.context;
  if (given !== undefined && (!(given instanceof HeContext) || given.disposed || JSON.stringify(given.params) !== JSON.stringify(HE_TRIPLE_PARAMS)))
    throw new ConfideError('E_BAD_INPUT', `"context" expected a live HeContext under HE_TRIPLE_PARAMS, got ${describe(given)}`, { field: 'context' });
  const ctx = given ?? (await createContext(HE_TRIPLE_PARAMS));
  try {
    if (ctx.plainModulus !== HE_TRIPLE_PRIME) throw new ConfideError('E_INTERNAL', `SEAL chose t = ${ctx.plainModulus}, not ${HE_TRIPLE_PRIME}`);
    const { floodBits } = productFlooding(ctx, sigma);
    const a = f.random(count, rng), b = f.random(count, rng), c = f.mul(a, b);
    using me = ResidueDecryptor.generate(ctx);
    const peers = ch.peers();
    const keys = new Map<number, Uint8Array>([[mpc.index, me.publicKey]]);
    const encryptors = new Map<number, ResidueEncryptor>();
    try {
      for (let off = 0; off < count; off += batch) {
        const m = Math.min(batch, count - off);
        const sub = (v: BigUint64Array) => v.subarray(off, off + m);
        // Round 1: my public key (first batch only) and Enc(a_i).
        const r1 = ch.round();
        const mine = me.encrypt(sub(a));
        const head = off === 0 ? [me.publicKey] : [];
        await Promise.all(peers.map((j) => ch.sendRaw(j, r1, { kind: 'mpc-he-a', length: m, chunks: mine.length }, [...head, ...mine])));
        const got = await ch.gather(peers, r1);
        ch.missing(peers.filter((j) => !got.has(j)), 'HE triples (encrypted a)');
        // Round 2: my replies Enc_j(a_j ⊙ b_i + r_ij); I keep −r_ij.
        const r2 = ch.round();
        const replies: Promise<void>[] = [];
        for (const j of peers) {
          const msg = got.get(j)!;
          const chunks = chunksOf(j, msg, 'mpc-he-a', m, off === 0 ? 1 : 0);
          if (off === 0) {
            keys.set(j, chunks[0]);
            encryptors.set(j, wrap(j, () => new ResidueEncryptor(ctx, chunks[0])));
          }
          const r = f.random(m, rng);
          const reply = wrap(j, () => encryptors.get(j)!.multiplyAdd(off === 0 ? chunks.slice(1) : chunks, sub(b), r, { floodBits, rng }));
          f.sub(sub(c), r, sub(c));
          replies.push(ch.sendRaw(j, r2, { kind: 'mpc-he-b', length: m, chunks: reply.length }, reply));
        }
        await Promise.all(replies);
        const back = await ch.gather(peers, r2);
        ch.missing(peers.filter((j) => !back.has(j)), 'HE triples (products)');
        for (const j of peers) {
          const u = wrap(j, () => me.decrypt(chunksOf(j, back.get(j)!, 'mpc-he-b', m, 0)));
          f.add(sub(c), u, sub(c));
        }
      }
    } finally {
      for (const e of encryptors.values()) e.dispose();
    }
    // The store id binds every party's key: parties of other runs cannot mix their triples.
    const h = createHash('sha256').update('confide/mpc/he-triples/v1\0');
    for (let j = 0; j < mpc.parties.length; j++) h.update(keys.get(j)!);
    return new TripleStore(new Uint8Array(h.digest()).subarray(0, 16), mpc.index, mpc.parties.length, a, b, c, HE_TRIPLE_FIELD);
  } finally {
    if (given === undefined) ctx.dispose();
  }
}

/** The ciphertext chunks of a peer's message (after `extra` leading payloads kept in the result). */
function chunksOf(j: number, m: { header: Record<string, unknown>; payloads: unknown[] }, kind: string, length: number, extra: number): Uint8Array[] {
  if (m.header.kind !== kind || m.header.length !== length || !m.payloads.every((p) => p instanceof Uint8Array) || m.payloads.length !== extra + Math.ceil(length / HE_TRIPLE_PARAMS.polyModulusDegree))
    throw new ConfideError('E_PROTOCOL', `party ${j} sent ${describe(m.header.kind)} with ${m.payloads.length} payloads where ${kind} for ${length} triples was due`, { field: 'round', details: { party: j } });
  return m.payloads as Uint8Array[];
}

/** Runs `fn` on a peer's bytes; a failure is that peer's protocol violation. */
function wrap<T>(j: number, fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    if (e instanceof ConfideError && (e.code === 'E_INTERNAL' || e.code === 'E_STATE')) throw e;
    throw new ConfideError('E_PROTOCOL', `party ${j} sent HE data that does not work: ${(e as Error).message}`, { field: 'round', details: { party: j }, cause: e });
  }
}

