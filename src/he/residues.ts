/**
 * BFV on raw slot residues (values in [0, t), no fixed-point codec), for
 * protocols built on he: confide/mpc's dealer-free Beaver triples, where
 * party A sends Enc(a) under its own key and party B returns
 * Enc(a) ⊙ b + Enc(r) with flooding noise, which A decrypts to a ⊙ b + r.
 *
 * - `ResidueDecryptor.generate(context)` makes a fresh key pair; it encrypts
 *   (with the secret key: SEAL's seeded symmetric encryption, half the bytes
 *   of a public-key ciphertext and less noise) and decrypts, and hands out
 *   `publicKey` (a CFHE public key blob) for the other side.
 * - `ResidueEncryptor(context, publicKey)` encrypts under someone else's
 *   key and computes `multiplyAdd`: the slot-wise product of their
 *   ciphertext with a plaintext vector, plus a fresh encryption of an
 *   addend, plus noise flooding on the result (below).
 * - `productFlooding(context, sigma)` gives the flooding width for
 *   statistical distance 2^-sigma and checks that decryption stays correct.
 *
 * Noise flooding (circuit privacy; Gentry 2009, §21 "smudging"; the
 * argument SPDZ's and Overdrive's LowGear preprocessing make for their
 * two-party products, Keller, Orsini and Scholl 2018, §4.1). After
 * c' = c ⊙ B + Enc_pk(r), decryption gives Δ·(a ⊙ b + r) + v' with
 * v' = v·B + ε·B + v_r: v the fresh noise of A's ciphertext, ε the rounding
 * of Δ·a (|ε| ≤ 1/2), B the centred plaintext polynomial of b (|B_j| ≤ t/2,
 * SEAL lifts plaintext coefficients centred for multiply_plain), v_r the
 * fresh noise of Enc_pk(r). SEAL 4.1 samples errors from a centred binomial
 * with |e| ≤ 21 and secrets and u ternary, so a public-key encryption has
 * |v_j| ≤ 21·n + 21·n + 21 (e·u, e2·s, e1) (a symmetric one, |v_j| ≤ 21:
 * the bound below covers both), and
 *   |v'_j| ≤ B_v' = n·(t/2)·(42n + 21.5) + 42n + 21   (worst case, every coefficient).
 * v' depends on b, so it would leak b to A, who holds the secret key. B adds
 * E with coefficients uniform in [−2^f, 2^f) to c0'; the statistical
 * distance between E and E + v' is at most n·B_v' / 2^(f+1), which
 * `productFlooding` makes ≤ 2^-sigma. c1' = c1 ⊙ B + (pk1·u + e2) is an RLWE
 * sample under the fresh u, so it hides c1 ⊙ B. Decryption stays correct
 * while 2^f + B_v' + t < q/(2t) (q the data modulus); `productFlooding`
 * refuses parameters without that headroom (E_OVERFLOW).
 */
import { aoptions, ainteger, atyped } from '../core/assert.ts';
import { ConfideError } from '../core/errors.ts';
import { arng, systemRng, type Rng } from '../core/random.ts';
import { fieldParams, kernels } from '../core/wasm/loader.ts';
import { KIND_CIPHERTEXT, KIND_PUBLIC, decodeBlob, encodeBlob } from './_blob.ts';
import { SealScope, free, sealCall } from './_seal.ts';
import { acontext, engineOf, type HeContext } from './context.ts';
import { chunkBlob, loadCiphertext, parseVector } from './vector.ts';
import type * as S from 'node-seal';

/** The flooding width for one product, and the decryption headroom left. */
export interface ProductFlooding {
  /** f: flooding noise is uniform in [−2^f, 2^f) on each coefficient. */
  floodBits: number;
  /** log2 of the worst-case noise B_v' the flooding hides. */
  noiseBits: number;
  /** log2(q / 2t) − log2(2^f + B_v' + t): bits of headroom before decryption fails (> 0). */
  marginBits: number;
  /** The statistical distance bound per ciphertext is 2^-sigma. */
  sigma: number;
}

const SEAL_ERROR_BOUND = 21n; // SEAL 4.1 centred binomial noise: |e| ≤ 21

function log2big(x: bigint): number {
  const s = x.toString(2).length;
  if (s <= 52) return Math.log2(Number(x));
  return s - 52 + Math.log2(Number(x >> BigInt(s - 52)));
}

function requireBfv(ctx: HeContext): void {
  if (ctx.params.scheme !== 'bfv') throw new ConfideError('E_UNSUPPORTED', 'residue arithmetic is BFV only', { field: 'context' });
}

/** Flooding parameters for `multiplyAdd` under `context` at statistical distance 2^-sigma (default 40). */
export function productFlooding(context: HeContext, sigma = 40): ProductFlooding {
  const ctx = acontext(context);
  requireBfv(ctx);
  ainteger(sigma, 'sigma', 1, 128);
  const n = BigInt(ctx.params.polyModulusDegree);
  const t = ctx.plainModulus;
  const q = ctx.coeffModulus.slice(0, -1).reduce((a, b) => a * b, 1n);
  const fresh = 2n * SEAL_ERROR_BOUND * n + SEAL_ERROR_BOUND;
  // n·(t/2)·(fresh + 1/2), kept in integers: n·t·(2·fresh + 1)/4, rounded up.
  const bound = (n * t * (2n * fresh + 1n) + 3n) / 4n + fresh;
  // n·B / 2^(f+1) ≤ 2^-sigma ⇔ f ≥ log2(n·B) + sigma − 1.
  const floodBits = Math.ceil(log2big(n * bound)) + sigma - 1;
  const marginBits = log2big(q / (2n * t)) - log2big((1n << BigInt(floodBits)) + bound + t);
  if (!(marginBits > 0))
    throw new ConfideError('E_OVERFLOW', `flooding at 2^-${sigma} needs 2^${floodBits} of noise; the data modulus leaves only 2^${log2big(q / (2n * t)).toFixed(1)} (use more coefficient-modulus bits or a smaller plain modulus)`, {
      field: 'context',
      details: { floodBits, sigma },
    });
  return { floodBits, noiseBits: log2big(bound), marginBits, sigma };
}

function residueVector(ctx: HeContext, v: unknown, field: string): BigUint64Array {
  const a = atyped(v, field, BigUint64Array);
  const t = ctx.plainModulus;
  // The first element not below t, by core's fieldCheck kernel (a BigInt comparison per element cost more than encoding).
  const i = kernels().fieldCheck(a, fieldParams(t));
  if (i >= 0) throw new ConfideError('E_BAD_INPUT', `"${field}[${i}]" expected a residue below t = ${t}`, { field: `${field}[${i}]` });
  return a;
}

/**
 * Batches residues into `pt` slot by slot, one CFHE chunk per ciphertext that
 * `encryptOne` makes from `pt` (public-key or seeded symmetric).
 */
function encryptChunks(ctx: HeContext, values: unknown, pt: S.Plaintext, encryptOne: () => Uint8Array): Uint8Array[] {
  const v = residueVector(ctx, values, 'values');
  if (v.length < 1) throw new ConfideError('E_BAD_INPUT', '"values" expected at least one residue', { field: 'values' });
  const { batch } = engineOf(ctx);
  const slots = ctx.slots;
  const out: Uint8Array[] = [];
  for (let i = 0, off = 0; off < v.length; i++, off += slots) {
    const part = v.subarray(off, Math.min(off + slots, v.length));
    const bytes = sealCall('encrypt residues', 'E_CRYPTO', () => {
      batch!.encode(part, pt);
      return encryptOne();
    });
    out.push(chunkBlob(ctx, bytes, i, part.length, v.length, 1));
  }
  return out;
}

/** Encrypts residues under a public key, and computes flooded products on ciphertexts under it. */
export class ResidueEncryptor implements Disposable {
  readonly context: HeContext;
  readonly #pk: S.PublicKey;
  readonly #encryptor: S.Encryptor;
  readonly #pt: S.Plaintext;
  readonly #ct: S.Ciphertext;
  readonly #fresh: S.Ciphertext;
  #disposed = false;

  /** `publicKey`: a CFHE public key blob under `context` (ResidueDecryptor's `publicKey`). */
  constructor(context: HeContext, publicKey: Uint8Array) {
    this.context = acontext(context);
    requireBfv(this.context);
    const blob = decodeBlob(atyped(publicKey, 'publicKey', Uint8Array), 'publicKey', KIND_PUBLIC, this.context.paramsHash);
    const { seal, context: sctx } = engineOf(this.context);
    using s = new SealScope();
    this.#pk = s.own(new seal.PublicKey());
    sealCall('load the public key', 'E_DECODE', () => this.#pk.loadFromArray(sctx, blob.seal), 'publicKey');
    this.#encryptor = s.own(sealCall('make an encryptor', 'E_CRYPTO', () => new seal.Encryptor(sctx, this.#pk)));
    this.#pt = s.own(new seal.Plaintext());
    this.#ct = s.own(new seal.Ciphertext());
    this.#fresh = s.own(new seal.Ciphertext());
    s.release();
  }

  #check(): void {
    if (this.#disposed) throw new ConfideError('E_STATE', 'the ResidueEncryptor has been disposed');
    engineOf(this.context);
  }

  /** Public-key encryption of residues in [0, t): ⌈length / slots⌉ CFHE ciphertext chunks. */
  encrypt(values: BigUint64Array): Uint8Array[] {
    this.#check();
    const none = engineOf(this.context).seal.ComprModeType.none;
    return encryptChunks(this.context, values, this.#pt, () => {
      this.#encryptor.encrypt(this.#pt, this.#ct);
      return this.#ct.saveToArray(none) as Uint8Array;
    });
  }

  /**
   * For each chunk of `ciphertext` (under this encryptor's key): c ⊙ factor +
   * Enc(addend) + (E, 0), E uniform in [−2^floodBits, 2^floodBits) per
   * coefficient (see the file comment and `productFlooding`). Decrypts to
   * (a ⊙ factor + addend) mod t and, with floodBits from productFlooding,
   * its distribution depends on factor only through that value, up to
   * statistical distance 2^-sigma per chunk.
   */
  multiplyAdd(ciphertext: readonly Uint8Array[], factor: BigUint64Array, addend: BigUint64Array, options: { floodBits: number; rng?: Rng }): Uint8Array[] {
    this.#check();
    const chunks = parseVector(this.context, ciphertext, 'ciphertext');
    const length = chunks[0].length;
    const b = residueVector(this.context, factor, 'factor');
    const r = residueVector(this.context, addend, 'addend');
    if (b.length !== length || r.length !== length)
      throw new ConfideError('E_BAD_INPUT', `"factor" and "addend" expected ${length} residues (the ciphertext's length)`, { field: 'factor' });
    aoptions(options, 'options', ['floodBits', 'rng']);
    if (options === undefined) throw new ConfideError('E_BAD_INPUT', '"options" expected { floodBits }', { field: 'options' });
    const q = this.context.coeffModulus.slice(0, -1);
    const f = ainteger(options.floodBits, 'options.floodBits', 0, log2big(q.reduce((x, y) => x * y, 1n)) - 2);
    const rng = options.rng === undefined ? systemRng() : arng(options.rng, 'options.rng');
    const { seal, batch, evaluator } = engineOf(this.context);
    const none = seal.ComprModeType.none;
    const slots = this.context.slots;
    const n = this.context.params.polyModulusDegree;
    const out: Uint8Array[] = [];
    using s = new SealScope();
    const pb = s.own(new seal.Plaintext());
    for (const c of chunks) {
      const off = c.index * slots;
      loadCiphertext(this.context, this.#ct, c.blob.seal, `ciphertext[${c.index}]`);
      const bytes = sealCall('multiply by a plaintext', 'E_CRYPTO', () => {
        batch!.encode(b.subarray(off, off + c.count), pb);
        evaluator.multiplyPlainInplace(this.#ct, pb);
        batch!.encode(r.subarray(off, off + c.count), this.#pt);
        this.#encryptor.encrypt(this.#pt, this.#fresh);
        evaluator.addInplace(this.#ct, this.#fresh);
        return (this.#ct.saveToArray(none) as Uint8Array).slice();
      });
      floodC0(bytes, n, q, f, rng);
      out.push(chunkBlob(this.context, bytes, c.index, c.count, length, 1));
    }
    return out;
  }

  dispose(): void {
    if (this.#disposed) return;
    this.#disposed = true;
    free(this.#pt, this.#ct, this.#fresh, this.#encryptor, this.#pk);
  }

  [Symbol.dispose](): void {
    this.dispose();
  }
}

/**
 * Adds E (uniform in [−2^f, 2^f) per coefficient) to c0 of a serialised,
 * uncompressed size-2 BFV ciphertext in place. SEAL writes the ciphertext's
 * data last, as size × L × n little-endian u64 residues, polynomial 0 (c0)
 * first and, within it, prime by prime (RNS, coefficient form for BFV). The
 * tests check it: after flooding, decryption is still exact and SEAL's noise
 * budget drops to the headroom `productFlooding` predicts.
 * Exported for its known-answer test against the BigInt loop it replaced
 * (not part of he's index).
 */
export function floodC0(bytes: Uint8Array, n: number, q: readonly bigint[], f: number, rng: Rng): void {
  const L = q.length;
  const tail = bytes.length - 2 * L * n * 8;
  if (tail < 16) throw new ConfideError('E_INTERNAL', 'unexpected SEAL ciphertext layout');
  // c0's residues, copied out to aligned memory and back (cheaper than a DataView per element).
  const c0 = new BigUint64Array(bytes.slice(tail, tail + L * n * 8).buffer);
  // X uniform in [0, 2^(f+1)) from ⌈(f+1)/64⌉ random words per coefficient; E = X − 2^f.
  const words = Math.ceil((f + 1) / 64);
  const rnd = new BigUint64Array(words * n);
  rng.fill(new Uint8Array(rnd.buffer));
  // X in 32-bit limbs x_0 .. x_(2·words − 1) (the top word cut to f + 1 − 64(words − 1) bits):
  // each limb is below every q_k, so X mod q_k = Σ x_i · (2^(32i) mod q_k) runs on core's
  // field kernels, and c0 + E mod q_k = c0 + (X mod q_k) − (2^f mod q_k), the same residue
  // as reducing the signed E itself.
  const r32 = new Uint32Array(rnd.buffer);
  const limbs: BigUint64Array[] = [];
  for (let i = 0; i < 2 * words; i++) {
    const bits = Math.max(0, Math.min(32, f + 1 - 32 * i));
    if (bits === 0) break;
    const mask = bits === 32 ? 0xffffffff : 2 ** bits - 1;
    const limb = new BigUint64Array(n);
    const l32 = new Uint32Array(limb.buffer);
    for (let j = 0; j < n; j++) l32[2 * j] = (r32[2 * words * j + i] & mask) >>> 0;
    limbs.push(limb);
  }
  const k = kernels();
  const acc = new BigUint64Array(n), term = new BigUint64Array(n), shift = new BigUint64Array(n);
  for (let kq = 0; kq < L; kq++) {
    const qk = q[kq], fp = fieldParams(qk);
    acc.set(limbs[0]);
    for (let i = 1; i < limbs.length; i++) {
      k.fieldMulScalar(term, limbs[i], (1n << BigInt(32 * i)) % qk, fp);
      k.fieldAdd(acc, acc, term, fp);
    }
    shift.fill((1n << BigInt(f)) % qk);
    k.fieldSub(acc, acc, shift, fp);
    const c = c0.subarray(kq * n, (kq + 1) * n);
    k.fieldAdd(c, c, acc, fp);
  }
  bytes.set(new Uint8Array(c0.buffer), tail);
  rnd.fill(0n);
  r32.fill(0);
  for (const l of limbs) l.fill(0n);
  acc.fill(0n);
  term.fill(0n);
}

/** A fresh BFV key pair on residues: encrypts, decrypts, and publishes its public key. */
export class ResidueDecryptor implements Disposable {
  readonly context: HeContext;
  /** The CFHE public key blob to hand to the other party. */
  readonly publicKey: Uint8Array;
  readonly #sk: S.SecretKey;
  readonly #pk: S.PublicKey;
  readonly #decryptor: S.Decryptor;
  readonly #encryptor: S.Encryptor;
  readonly #ct: S.Ciphertext;
  readonly #pt: S.Plaintext;
  #disposed = false;

  private constructor(context: HeContext, sk: S.SecretKey, pk: S.PublicKey, decryptor: S.Decryptor, encryptor: S.Encryptor, publicKey: Uint8Array) {
    this.context = context;
    this.#sk = sk;
    this.#pk = pk;
    this.#decryptor = decryptor;
    this.#encryptor = encryptor;
    this.publicKey = publicKey;
    const { seal } = engineOf(context);
    this.#ct = new seal.Ciphertext();
    this.#pt = new seal.Plaintext();
  }

  /** A fresh key pair under `context` (BFV). */
  static generate(context: HeContext): ResidueDecryptor {
    const ctx = acontext(context);
    requireBfv(ctx);
    const { seal, context: sctx } = engineOf(ctx);
    using s = new SealScope();
    const keygen = s.own(sealCall('make a key generator', 'E_CRYPTO', () => new seal.KeyGenerator(sctx)));
    const sk = s.own(sealCall('generate a secret key', 'E_CRYPTO', () => keygen.secretKey()));
    const pk = s.own(sealCall('generate a public key', 'E_CRYPTO', () => keygen.createPublicKey()));
    const decryptor = s.own(sealCall('make a decryptor', 'E_CRYPTO', () => new seal.Decryptor(sctx, sk)));
    const encryptor = s.own(sealCall('make an encryptor', 'E_CRYPTO', () => new seal.Encryptor(sctx, pk, sk)));
    const pkBytes = sealCall('serialise the public key', 'E_CRYPTO', () => pk.saveToArray(seal.ComprModeType.none) as Uint8Array);
    const blob = encodeBlob(KIND_PUBLIC, ctx.paramsHash, { residues: true }, pkBytes);
    const d = new ResidueDecryptor(ctx, sk, pk, decryptor, encryptor, blob);
    s.release();
    free(keygen);
    return d;
  }

  #check(): void {
    if (this.#disposed) throw new ConfideError('E_STATE', 'the ResidueDecryptor has been disposed');
    engineOf(this.context);
  }

  /** Seeded symmetric encryption of residues under this key pair (half the bytes of a public-key ciphertext). */
  encrypt(values: BigUint64Array): Uint8Array[] {
    this.#check();
    const none = engineOf(this.context).seal.ComprModeType.none;
    return encryptChunks(this.context, values, this.#pt, () => {
      const ser = this.#encryptor.encryptSymmetricSerializable(this.#pt);
      try {
        return ser.saveToArray(none) as Uint8Array;
      } finally {
        ser.delete();
      }
    });
  }

  /**
   * Decrypts chunks to residues in [0, t). A chunk with no noise budget left
   * is E_OVERFLOW (measured on the first chunk, as VectorDecryptor does).
   */
  decrypt(ciphertext: readonly Uint8Array[]): BigUint64Array {
    this.#check();
    const chunks = parseVector(this.context, ciphertext, 'ciphertext');
    const { batch } = engineOf(this.context);
    const out = new BigUint64Array(chunks[0].length);
    const slots = this.context.slots;
    for (const c of chunks) {
      loadCiphertext(this.context, this.#ct, c.blob.seal, `ciphertext[${c.index}]`);
      const v = sealCall('decrypt', 'E_CRYPTO', () => {
        if (c.index === 0 && this.#decryptor.invariantNoiseBudget(this.#ct) <= 0)
          throw new ConfideError('E_OVERFLOW', 'the ciphertext has no noise budget left: it would decrypt to garbage', { field: 'ciphertext' });
        this.#decryptor.decrypt(this.#ct, this.#pt);
        return batch!.decodeBigUint64(this.#pt) as BigUint64Array;
      });
      out.set(v.subarray(0, c.count), c.index * slots);
    }
    return out;
  }

  /** The invariant noise budget (bits) of one chunk: a diagnostic. */
  noiseBudget(chunk: Uint8Array): number {
    this.#check();
    const blob = decodeBlob(atyped(chunk, 'chunk', Uint8Array), 'chunk', KIND_CIPHERTEXT, this.context.paramsHash);
    loadCiphertext(this.context, this.#ct, blob.seal, 'chunk');
    return sealCall('measure noise', 'E_CRYPTO', () => this.#decryptor.invariantNoiseBudget(this.#ct));
  }

  dispose(): void {
    if (this.#disposed) return;
    this.#disposed = true;
    free(this.#ct, this.#pt, this.#encryptor, this.#decryptor, this.#pk, this.#sk);
  }

  [Symbol.dispose](): void {
    this.dispose();
  }
}
