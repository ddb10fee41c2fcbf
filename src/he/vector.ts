/**
 * Vectors in and out of ciphertexts, and the streaming sum.
 *
 * - `VectorEncryptor` turns a Float32Array/Float64Array into as many
 *   ciphertexts as it needs (n values each for BFV, n/2 for CKKS). BFV goes
 *   through the core fixed-point codec (clipping to ±bound counted, stochastic
 *   rounding from the CSPRNG), so the integer sum decodes exactly to the sum of
 *   the encoded values. With a secret key it uses SEAL's seeded symmetric
 *   encryption, which sends a seed instead of the uniform half of each
 *   ciphertext (about half the bytes).
 * - `Accumulator` adds vectors one at a time into one running ciphertext per
 *   chunk, so memory holds one accumulator and the vector being added, never
 *   all contributions; a vector that fails half way is subtracted back out,
 *   so an aggregate counts whole vectors only.
 * - `VectorDecryptor` decrypts and decodes, refusing a ciphertext whose noise
 *   budget is exhausted (it would decrypt to garbage).
 */
import { aoptions, atyped } from '../core/assert.ts';
import { ConfideError, describe } from '../core/errors.ts';
import { FixedPoint, type FloatVector } from '../core/fixedpoint.ts';
import { arng, systemRng, type Rng } from '../core/random.ts';
import { KIND_CIPHERTEXT, KIND_PUBLIC, KIND_SECRET, decodeBlob, encodeBlob, field, type Blob } from './_blob.ts';
import { SealScope, free, sealCall, wrapSealError } from './_seal.ts';
import { acontext, engineOf, type HeContext } from './context.ts';
import { keyBytesFor, openPublicKey, openSecretKey } from './keys.ts';
import { aplan, type AggregationPlan } from './plan.ts';
import type * as S from 'node-seal';

/** A vector as ciphertexts: chunk i carries values [i·slots, min(length, (i+1)·slots)). */
export interface EncryptedVector {
  /** Number of values. */
  length: number;
  /** CFHE ciphertext blobs in chunk order. */
  chunks: Uint8Array[];
  /** How many vectors were summed into it (1 for a fresh encryption). */
  contributors: number;
  /** Values clipped to ±bound while encoding (0 for sums). */
  clipped: number;
}

/** Most values in one vector (2^31 - 1: a Float64Array of that size is 16 GiB). */
const MAX_LENGTH = 2 ** 31 - 1;

export function chunkBlob(ctx: HeContext, seal: Uint8Array, index: number, count: number, length: number, contributors: number): Uint8Array {
  return encodeBlob(KIND_CIPHERTEXT, ctx.paramsHash, { i: index, count, length, contributors }, seal);
}

export interface ParsedChunk {
  blob: Blob;
  index: number;
  count: number;
  length: number;
  contributors: number;
}

function parseChunk(ctx: HeContext, bytes: unknown, where: string): ParsedChunk {
  const b = atyped(bytes, where, Uint8Array);
  const blob = decodeBlob(b, where, KIND_CIPHERTEXT, ctx.paramsHash);
  const h = blob.header;
  const index = field<number>(h, 'i', 'number', where);
  const count = field<number>(h, 'count', 'number', where);
  const length = field<number>(h, 'length', 'number', where);
  const contributors = field<number>(h, 'contributors', 'number', where);
  if (
    !Number.isSafeInteger(length) || length < 1 || length > MAX_LENGTH ||
    !Number.isSafeInteger(index) || index < 0 || index * ctx.slots >= length ||
    count !== Math.min(ctx.slots, length - index * ctx.slots) ||
    !Number.isSafeInteger(contributors) || contributors < 1 || contributors > 2 ** 32 - 1
  )
    throw new ConfideError('E_DECODE', `"${where}" has inconsistent chunk fields (i ${index}, count ${count}, length ${length}, contributors ${contributors})`, { field: where });
  return { blob, index, count, length, contributors };
}

/** Parses and orders the chunks of one vector; every index from 0 must be present once. */
export function parseVector(ctx: HeContext, v: unknown, where: string): ParsedChunk[] {
  const chunks = Array.isArray(v) ? v : (v as EncryptedVector | null)?.chunks;
  if (!Array.isArray(chunks) || chunks.length === 0)
    throw new ConfideError('E_BAD_INPUT', `"${where}" expected an EncryptedVector or an array of ciphertext chunks, got ${describe(v)}`, { field: where });
  const parsed = chunks.map((c, i) => parseChunk(ctx, c, `${where}[${i}]`));
  const { length, contributors } = parsed[0];
  const need = Math.ceil(length / ctx.slots);
  if (parsed.length !== need)
    throw new ConfideError('E_DECODE', `"${where}" has ${parsed.length} chunks; a vector of ${length} values needs ${need}`, { field: where });
  parsed.sort((a, b) => a.index - b.index);
  for (let i = 0; i < parsed.length; i++)
    if (parsed[i].index !== i || parsed[i].length !== length || parsed[i].contributors !== contributors)
      throw new ConfideError('E_DECODE', `"${where}" chunks do not form one vector (index ${parsed[i].index} at position ${i})`, { field: where });
  return parsed;
}

/** Loads SEAL bytes into `ct` and checks it is a fresh-shaped ciphertext of this context. */
export function loadCiphertext(ctx: HeContext, ct: S.Ciphertext, bytes: Uint8Array, where: string): void {
  const { context, firstParmsId: b } = engineOf(ctx);
  try {
    ct.loadFromArray(context, bytes);
  } catch (e) {
    throw wrapSealError(e, `load ${where}`, 'E_DECODE', where);
  }
  const pid = ct.parmsId();
  const a = pid.values() as BigUint64Array;
  pid.delete();
  const ckks = ctx.params.scheme === 'ckks';
  let reason = '';
  if (a[0] !== b[0] || a[1] !== b[1] || a[2] !== b[2] || a[3] !== b[3]) reason = 'it is not at the first data level';
  else if (ct.size() !== 2) reason = `it has ${ct.size()} polynomials, not 2`;
  else if (ct.isTransparent()) reason = 'it is transparent (no encryption)';
  else if (ct.isNttForm() !== ckks) reason = 'its NTT form is wrong for the scheme';
  else if (ckks && ct.scale() !== 2 ** ctx.params.scaleBits!) reason = `its scale is ${ct.scale()}, not 2^${ctx.params.scaleBits}`;
  if (reason) throw new ConfideError('E_DECODE', `"${where}" is refused: ${reason}`, { field: where });
}

/** Longest stretch of encryption work between two turns of the event loop in `encryptAsync`. */
const YIELD_MS = 20;

export interface EncryptOptions {
  /** Randomness for the fixed-point rounding (default: the system CSPRNG). SEAL draws its own encryption randomness. */
  rng?: Rng;
}

/**
 * Encrypts vectors under a public key bundle (any client) or a secret key
 * (seeded symmetric encryption: smaller ciphertexts, for the key holder).
 */
export class VectorEncryptor implements Disposable {
  readonly context: HeContext;
  readonly plan: AggregationPlan;
  /** True when encrypting with the secret key (seeded symmetric ciphertexts). */
  readonly symmetric: boolean;
  readonly #ownsContext: boolean;
  readonly #encryptor: S.Encryptor;
  readonly #key: S.PublicKey | S.SecretKey;
  readonly #derived: S.PublicKey | undefined;
  readonly #pt: S.Plaintext;
  readonly #ct: S.Ciphertext;
  readonly #fixed: FixedPoint<64> | undefined;
  #disposed = false;

  /** Use `VectorEncryptor.open(key)` or `createEncryptor(context, plan, key)`. */
  constructor(context: HeContext, plan: AggregationPlan, key: Uint8Array, ownsContext = false) {
    this.context = acontext(context);
    this.plan = aplan(plan);
    if (JSON.stringify(this.plan.params) !== JSON.stringify(this.context.params))
      throw new ConfideError('E_BAD_INPUT', '"plan" was made for other parameters than the context', { field: 'plan' });
    const k = atyped(key, 'key', Uint8Array);
    this.symmetric = k[5] === KIND_SECRET;
    const keyBytes = keyBytesFor(this.context, k, 'key', this.symmetric ? KIND_SECRET : KIND_PUBLIC);
    const { seal, context: sctx } = engineOf(this.context);
    using s = new SealScope();
    this.#key = s.own(this.symmetric ? new seal.SecretKey() : new seal.PublicKey());
    sealCall('load the key', 'E_DECODE', () => this.#key.loadFromArray(sctx, keyBytes), 'key');
    if (this.symmetric) {
      // node-seal's Encryptor takes a public key with the secret one; derive it (a keygen, once).
      const keygen = s.own(sealCall('derive the public key', 'E_CRYPTO', () => new seal.KeyGenerator(sctx, this.#key as S.SecretKey)));
      this.#derived = s.own(sealCall('derive the public key', 'E_CRYPTO', () => keygen.createPublicKey()));
      this.#encryptor = s.own(sealCall('make an encryptor', 'E_CRYPTO', () => new seal.Encryptor(sctx, this.#derived!, this.#key as S.SecretKey)));
      keygen.delete();
    } else {
      this.#encryptor = s.own(sealCall('make an encryptor', 'E_CRYPTO', () => new seal.Encryptor(sctx, this.#key as S.PublicKey)));
    }
    this.#pt = s.own(new seal.Plaintext());
    this.#ct = s.own(new seal.Ciphertext());
    if (this.plan.params.scheme === 'bfv') this.#fixed = new FixedPoint({ bits: 64, fracBits: this.plan.fracBits, bound: this.plan.bound });
    this.#ownsContext = ownsContext;
    s.release(); // everything was made: the encryptor owns it now
  }

  /** Opens a public key bundle or a secret key file with its own context (disposed with the encryptor). */
  static async open(key: Uint8Array): Promise<VectorEncryptor> {
    const k = atyped(key, 'key', Uint8Array);
    const opened = k[5] === KIND_SECRET ? await openSecretKey(k) : await openPublicKey(k);
    try {
      return new VectorEncryptor(opened.context, opened.plan, k, true);
    } catch (e) {
      opened.context.dispose();
      throw e;
    }
  }

  #check(): void {
    if (this.#disposed) throw new ConfideError('E_STATE', 'the VectorEncryptor has been disposed');
    engineOf(this.context);
  }

  /** Encodes and encrypts `values` (clipped to ±bound, counted). */
  encrypt(values: FloatVector, options?: EncryptOptions): EncryptedVector {
    const steps = this.#encryptSteps(values, options);
    for (;;) {
      const r = steps.next();
      if (r.done) return r.value;
    }
  }

  /**
   * As `encrypt`, but gives the event loop a turn about every `YIELD_MS` of
   * work between ciphertexts, so that a process encrypting a long vector
   * (seconds for a million values) still answers heartbeats and reads its
   * sockets. The result is the same as `encrypt`'s.
   */
  async encryptAsync(values: FloatVector, options?: EncryptOptions): Promise<EncryptedVector> {
    const steps = this.#encryptSteps(values, options);
    let since = performance.now();
    for (;;) {
      const r = steps.next();
      if (r.done) return r.value;
      if (performance.now() - since >= YIELD_MS) {
        // setImmediate runs after the poll phase: pending I/O (a ping, a frame) is handled first.
        await new Promise((resolve) => setImmediate(resolve));
        since = performance.now();
      }
    }
  }

  /** The work of `encrypt`, pausing (yield) after each ciphertext; returns the encrypted vector. */
  *#encryptSteps(values: FloatVector, options?: EncryptOptions): Generator<void, EncryptedVector, void> {
    this.#check();
    const input = atyped(values, 'values', Float32Array, Float64Array);
    aoptions(options, 'options', ['rng']);
    const rng = options?.rng === undefined ? systemRng() : arng(options.rng, 'options.rng');
    if (input.length < 1 || input.length > MAX_LENGTH)
      throw new ConfideError('E_BAD_INPUT', `"values" expected 1 to ${MAX_LENGTH} values, got ${input.length}`, { field: 'values' });
    const { batch, ckks } = engineOf(this.context);
    const slots = this.context.slots;
    const chunks: Uint8Array[] = [];
    let clipped: number;
    if (this.#fixed) {
      const enc = this.#fixed.encode(input, { rng });
      clipped = enc.clipped;
      // Two's complement in 64 bits read as signed: the batch encoder maps negatives to t - |v|.
      const signed = new BigInt64Array(enc.data.buffer, enc.data.byteOffset, enc.data.length);
      for (let i = 0, off = 0; off < input.length; i++, off += slots) {
        const part = signed.subarray(off, Math.min(off + slots, input.length));
        this.#check(); // disposed while paused (encryptAsync)
        sealCall('encode a chunk', 'E_CRYPTO', () => batch!.encode(part, this.#pt));
        chunks.push(chunkBlob(this.context, this.#encryptOne(), i, part.length, input.length, 1));
        yield;
      }
    } else {
      clipped = 0;
      const bound = this.plan.bound;
      const buf = new Float64Array(Math.min(slots, input.length));
      const scale = 2 ** this.plan.fracBits;
      for (let i = 0, off = 0; off < input.length; i++, off += slots) {
        const n = Math.min(slots, input.length - off);
        const part = n === buf.length ? buf : buf.subarray(0, n);
        for (let j = 0; j < n; j++) {
          const x = input[off + j];
          if (!Number.isFinite(x))
            throw new ConfideError('E_BAD_INPUT', `"values[${off + j}]" expected a finite number, got ${x}`, { field: `values[${off + j}]` });
          if (x > bound) (part[j] = bound), clipped++;
          else if (x < -bound) (part[j] = -bound), clipped++;
          else part[j] = x;
        }
        this.#check(); // disposed while paused (encryptAsync)
        sealCall('encode a chunk', 'E_CRYPTO', () => ckks!.encode(part, scale, this.#pt));
        chunks.push(chunkBlob(this.context, this.#encryptOne(), i, n, input.length, 1));
        yield;
      }
    }
    return { length: input.length, chunks, contributors: 1, clipped };
  }

  /** Encrypts raw BFV slot values in [0, t) (the aggregator's mask); internal. */
  encryptResidues(values: BigUint64Array, index: number, length: number): Uint8Array {
    this.#check();
    const { batch } = engineOf(this.context);
    sealCall('encode a mask', 'E_CRYPTO', () => batch!.encode(values, this.#pt));
    return chunkBlob(this.context, this.#encryptOne(), index, Math.min(this.context.slots, length - index * this.context.slots), length, 1);
  }

  #encryptOne(): Uint8Array {
    const { seal } = engineOf(this.context);
    const none = seal.ComprModeType.none;
    return sealCall('encrypt', 'E_CRYPTO', () => {
      if (this.symmetric) {
        const ser = this.#encryptor.encryptSymmetricSerializable(this.#pt);
        try {
          return ser.saveToArray(none) as Uint8Array;
        } finally {
          ser.delete();
        }
      }
      this.#encryptor.encrypt(this.#pt, this.#ct);
      return this.#ct.saveToArray(none) as Uint8Array;
    });
  }

  dispose(): void {
    if (this.#disposed) return;
    this.#disposed = true;
    free(this.#pt, this.#ct, this.#encryptor, this.#key, this.#derived);
    if (this.#ownsContext) this.context.dispose();
  }

  [Symbol.dispose](): void {
    this.dispose();
  }
}

/** An encryptor on an existing context (which the caller keeps and disposes). */
export function createEncryptor(context: HeContext, plan: AggregationPlan, key: Uint8Array): VectorEncryptor {
  return new VectorEncryptor(context, plan, key);
}

/**
 * The streaming sum: one running ciphertext per chunk. `add` takes whole
 * vectors; each is checked (parameters, shape, level) and added, or, on any
 * failure, left out entirely.
 */
export class Accumulator implements Disposable {
  readonly context: HeContext;
  #sums: S.Ciphertext[] = [];
  readonly #tmp: S.Ciphertext;
  #length = 0;
  #contributors = 0;
  #disposed = false;

  constructor(context: HeContext) {
    this.context = acontext(context);
    const { seal } = engineOf(this.context);
    this.#tmp = new seal.Ciphertext();
  }

  /** Vectors (or sums of vectors) added so far. */
  get contributors(): number {
    return this.#contributors;
  }

  /** Length of the vectors summed (0 before the first). */
  get length(): number {
    return this.#length;
  }

  #check(): void {
    if (this.#disposed) throw new ConfideError('E_STATE', 'the Accumulator has been disposed');
    engineOf(this.context);
  }

  /** Adds one encrypted vector (an EncryptedVector, or its chunks); all or nothing. */
  add(vector: EncryptedVector | readonly Uint8Array[]): void {
    this.#check();
    const parsed = parseVector(this.context, vector, 'vector');
    const { length, contributors } = parsed[0];
    if (this.#length !== 0 && length !== this.#length)
      throw new ConfideError('E_BAD_INPUT', `"vector" has ${length} values; the sum so far has ${this.#length}`, { field: 'vector' });
    const { seal, evaluator } = engineOf(this.context);
    if (this.#length === 0) {
      const sums: S.Ciphertext[] = [];
      try {
        for (const c of parsed) {
          const ct = new seal.Ciphertext();
          sums.push(ct);
          loadCiphertext(this.context, ct, c.blob.seal, `vector[${c.index}]`);
        }
      } catch (e) {
        free(...sums);
        throw e;
      }
      this.#sums = sums;
      this.#length = length;
    } else {
      let done = 0;
      try {
        for (; done < parsed.length; done++) {
          loadCiphertext(this.context, this.#tmp, parsed[done].blob.seal, `vector[${done}]`);
          sealCall('add a ciphertext', 'E_CRYPTO', () => evaluator.addInplace(this.#sums[done], this.#tmp));
        }
      } catch (e) {
        // Take the chunks already added back out, so the sum counts whole vectors only.
        for (let i = 0; i < done; i++) {
          this.#tmp.loadFromArray(engineOf(this.context).context, parsed[i].blob.seal);
          evaluator.subInplace(this.#sums[i], this.#tmp);
        }
        throw e;
      }
    }
    this.#contributors += contributors;
  }

  /** The sum so far as an EncryptedVector (its chunks record the number of contributors). */
  result(): EncryptedVector {
    this.#check();
    if (this.#contributors === 0) throw new ConfideError('E_STATE', 'the Accumulator is empty');
    const { seal } = engineOf(this.context);
    const none = seal.ComprModeType.none;
    const chunks = this.#sums.map((ct, i) =>
      chunkBlob(this.context, sealCall('serialise the sum', 'E_CRYPTO', () => ct.saveToArray(none) as Uint8Array), i, Math.min(this.context.slots, this.#length - i * this.context.slots), this.#length, this.#contributors),
    );
    return { length: this.#length, chunks, contributors: this.#contributors, clipped: 0 };
  }

  /**
   * The sum plus a fresh encryption of a uniform mask in Z_t (BFV): what the
   * aggregator sends for decryption. The decryptor learns only sum + mask,
   * which is uniform; `unmask` turns the decrypted residues into the sum.
   * The mask is encrypted under the public key, which also re-randomises the
   * ciphertext the decryptor sees.
   */
  masked(encryptor: VectorEncryptor, options?: { rng?: Rng }): MaskedAggregate {
    this.#check();
    if (!(encryptor instanceof VectorEncryptor) || encryptor.context.paramsHash.join() !== this.context.paramsHash.join())
      throw new ConfideError('E_BAD_INPUT', '"encryptor" expected a VectorEncryptor under the same parameters', { field: 'encryptor' });
    aoptions(options, 'options', ['rng']);
    if (this.context.params.scheme !== 'bfv')
      throw new ConfideError('E_UNSUPPORTED', 'masked decryption is for BFV: a CKKS sum cannot be hidden by a mask that fits its modulus (see the he README)');
    if (this.#contributors === 0) throw new ConfideError('E_STATE', 'the Accumulator is empty');
    const rng = options?.rng === undefined ? systemRng() : arng(options.rng, 'options.rng');
    const t = Number(this.context.plainModulus);
    const slots = this.context.slots;
    const mask = new Float64Array(this.#length);
    const { evaluator } = engineOf(this.context);
    const sum = this.result();
    const residues = new BigUint64Array(slots);
    const chunks: Uint8Array[] = [];
    using s = new SealScope();
    const acc = s.own(new (engineOf(this.context).seal.Ciphertext)());
    const none = engineOf(this.context).seal.ComprModeType.none;
    for (let i = 0; i < sum.chunks.length; i++) {
      const off = i * slots;
      const n = Math.min(slots, this.#length - off);
      residues.fill(0n);
      for (let j = 0; j < n; j++) {
        const r = rng.uniformInt(t);
        mask[off + j] = r;
        residues[j] = BigInt(r);
      }
      const maskBlob = encryptor.encryptResidues(residues, i, this.#length);
      loadCiphertext(this.context, acc, decodeBlob(maskBlob, 'mask', KIND_CIPHERTEXT).seal, 'mask');
      sealCall('add the mask', 'E_CRYPTO', () => evaluator.addInplace(acc, this.#sums[i]));
      chunks.push(chunkBlob(this.context, sealCall('serialise', 'E_CRYPTO', () => acc.saveToArray(none) as Uint8Array), i, n, this.#length, this.#contributors));
    }
    return new MaskedAggregate({ length: this.#length, chunks, contributors: this.#contributors, clipped: 0 }, mask, t, 2 ** encryptor.plan.fracBits);
  }

  dispose(): void {
    if (this.#disposed) return;
    this.#disposed = true;
    free(this.#tmp, ...this.#sums);
    this.#sums = [];
  }

  [Symbol.dispose](): void {
    this.dispose();
  }
}

/** A masked aggregate: send `vector` to the decryptor, pass its answer to `unmask`. */
export class MaskedAggregate {
  readonly vector: EncryptedVector;
  readonly #mask: Float64Array;
  readonly #t: number;
  readonly #scale: number;
  constructor(vector: EncryptedVector, mask: Float64Array, t: number, scale: number) {
    this.vector = vector;
    this.#mask = mask;
    this.#t = t;
    this.#scale = scale;
  }

  /** Removes the mask from decrypted residues (mod t) and decodes the sum. */
  unmask(residues: BigUint64Array): Float64Array {
    const r = atyped(residues, 'residues', BigUint64Array);
    if (r.length !== this.#mask.length)
      throw new ConfideError('E_BAD_INPUT', `"residues" expected ${this.#mask.length} values, got ${r.length}`, { field: 'residues' });
    const t = this.#t;
    const half = t / 2;
    const inv = 1 / this.#scale;
    const w = new Uint32Array(r.buffer, r.byteOffset, r.length * 2);
    const out = new Float64Array(r.length);
    for (let i = 0; i < r.length; i++) {
      const x = w[2 * i + 1] * 4294967296 + w[2 * i];
      if (!(x < t)) throw new ConfideError('E_DECODE', `"residues[${i}]" is not below t`, { field: `residues[${i}]` });
      let d = x - this.#mask[i];
      if (d < 0) d += t;
      out[i] = (d > half ? d - t : d) * inv;
    }
    return out;
  }
}

/** Decrypts vectors and sums; holds the secret key. */
export class VectorDecryptor implements Disposable {
  readonly context: HeContext;
  readonly plan: AggregationPlan;
  readonly #ownsContext: boolean;
  readonly #sk: S.SecretKey;
  readonly #decryptor: S.Decryptor;
  readonly #ct: S.Ciphertext;
  readonly #pt: S.Plaintext;
  #disposed = false;

  constructor(context: HeContext, plan: AggregationPlan, secretKey: Uint8Array, ownsContext = false) {
    this.context = acontext(context);
    this.plan = aplan(plan);
    const bytes = keyBytesFor(this.context, secretKey, 'secretKey', KIND_SECRET);
    const { seal, context: sctx } = engineOf(this.context);
    using s = new SealScope();
    this.#sk = s.own(new seal.SecretKey());
    sealCall('load the secret key', 'E_DECODE', () => this.#sk.loadFromArray(sctx, bytes), 'secretKey');
    this.#decryptor = s.own(sealCall('make a decryptor', 'E_CRYPTO', () => new seal.Decryptor(sctx, this.#sk)));
    this.#ct = s.own(new seal.Ciphertext());
    this.#pt = s.own(new seal.Plaintext());
    this.#ownsContext = ownsContext;
    s.release();
  }

  static async open(secretKey: Uint8Array): Promise<VectorDecryptor> {
    const opened = await openSecretKey(atyped(secretKey, 'secretKey', Uint8Array));
    try {
      return new VectorDecryptor(opened.context, opened.plan, secretKey, true);
    } catch (e) {
      opened.context.dispose();
      throw e;
    }
  }

  #check(): void {
    if (this.#disposed) throw new ConfideError('E_STATE', 'the VectorDecryptor has been disposed');
    engineOf(this.context);
  }

  #parse(vector: unknown): ParsedChunk[] {
    this.#check();
    const parsed = parseVector(this.context, vector, 'vector');
    if (parsed[0].contributors > this.plan.contributors)
      throw new ConfideError('E_OVERFLOW', `the sum has ${parsed[0].contributors} contributors; the plan is sized for ${this.plan.contributors}`, { field: 'vector' });
    return parsed;
  }

  /**
   * Decrypts one chunk into the plaintext buffer, refusing an exhausted noise
   * budget (BFV). The budget is measured on the first chunk of a vector only:
   * every chunk of a vector or a sum went through the same encryptions and
   * additions, so their noise is alike, and the measurement costs as much as
   * the decryption itself (it doubled the time of decrypting 1M values). What
   * it guards against, parameters too small for the work done (node-seal
   * #132), shows in the first chunk as in any.
   */
  #decryptChunk(c: ParsedChunk): void {
    loadCiphertext(this.context, this.#ct, c.blob.seal, `vector[${c.index}]`);
    const bfv = this.context.params.scheme === 'bfv';
    sealCall('decrypt', 'E_CRYPTO', () => {
      if (bfv && c.index === 0 && this.#decryptor.invariantNoiseBudget(this.#ct) <= 0)
        throw new ConfideError('E_OVERFLOW', `chunk ${c.index} has no noise budget left: it would decrypt to garbage`, { field: 'vector' });
      this.#decryptor.decrypt(this.#ct, this.#pt);
    });
  }

  /** Decrypts and decodes a vector or a sum. */
  decrypt(vector: EncryptedVector | readonly Uint8Array[]): Float64Array {
    const parsed = this.#parse(vector);
    const { batch, ckks } = engineOf(this.context);
    const out = new Float64Array(parsed[0].length);
    const slots = this.context.slots;
    const inv = 1 / 2 ** this.plan.fracBits;
    for (const c of parsed) {
      this.#decryptChunk(c);
      const dst = out.subarray(c.index * slots, c.index * slots + c.count);
      if (batch) {
        // Centred residues: the sum itself, as the plan keeps it below t/2.
        const v = sealCall('decode', 'E_CRYPTO', () => batch.decodeBigInt64(this.#pt) as BigInt64Array);
        for (let j = 0; j < c.count; j++) dst[j] = Number(v[j]) * inv;
      } else {
        const v = sealCall('decode', 'E_CRYPTO', () => ckks!.decodeFloat64(this.#pt) as Float64Array);
        dst.set(v.subarray(0, c.count));
      }
    }
    return out;
  }

  /** BFV: decrypts to raw residues in [0, t) without decoding (for masked aggregates). */
  decryptResidues(vector: EncryptedVector | readonly Uint8Array[]): BigUint64Array {
    const parsed = this.#parse(vector);
    const { batch } = engineOf(this.context);
    if (!batch) throw new ConfideError('E_UNSUPPORTED', 'residues are for BFV');
    const out = new BigUint64Array(parsed[0].length);
    const slots = this.context.slots;
    for (const c of parsed) {
      this.#decryptChunk(c);
      const v = sealCall('decode', 'E_CRYPTO', () => batch.decodeBigUint64(this.#pt) as BigUint64Array);
      out.set(v.subarray(0, c.count), c.index * slots);
    }
    return out;
  }

  /** The invariant noise budget (bits) of each chunk, BFV only: a diagnostic, not a guarantee. */
  noiseBudget(vector: EncryptedVector | readonly Uint8Array[]): number[] {
    this.#check();
    if (this.context.params.scheme !== 'bfv') throw new ConfideError('E_UNSUPPORTED', 'the noise budget is a BFV notion');
    const parsed = parseVector(this.context, vector, 'vector');
    return parsed.map((c) => {
      loadCiphertext(this.context, this.#ct, c.blob.seal, `vector[${c.index}]`);
      return sealCall('measure noise', 'E_CRYPTO', () => this.#decryptor.invariantNoiseBudget(this.#ct));
    });
  }

  dispose(): void {
    if (this.#disposed) return;
    this.#disposed = true;
    free(this.#ct, this.#pt, this.#decryptor, this.#sk);
    if (this.#ownsContext) this.context.dispose();
  }

  [Symbol.dispose](): void {
    this.dispose();
  }
}
