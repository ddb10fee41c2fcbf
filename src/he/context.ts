/**
 * Encryption parameters, their presets, and the SEAL context built from them.
 *
 * A `HeContext` owns the node-seal objects every operation needs (the
 * SEALContext, the encoder, the evaluator) and deletes them on `dispose()` /
 * `using`; node-seal objects have no finalizer, so nothing here is left to
 * the garbage collector.
 */
import { ainteger, aoneof, aoptions } from '../core/assert.ts';
import { encodeMessage } from '../core/codec.ts';
import { ConfideError, describe } from '../core/errors.ts';
import { sha256 } from './_blob.ts';
import { free, loadSeal, sealCall, type Seal } from './_seal.ts';
import type * as S from 'node-seal';

export type Scheme = 'bfv' | 'ckks';

export interface HeParams {
  scheme: Scheme;
  /** Ring dimension n: 4096, 8192, 16384 or 32768. */
  polyModulusDegree: number;
  /** Bit sizes of the coefficient-modulus primes; the last is SEAL's special (key-switching) prime. */
  coeffModulusBits: readonly number[];
  /** BFV: t = PlainModulus.Batching(n, plainModulusBits), a prime ≡ 1 mod 2n. */
  plainModulusBits?: number;
  /** CKKS: encoding scale 2^scaleBits. */
  scaleBits?: number;
}

/** BFV aggregation default (DESIGN.md): n = 8192, q = [60, 60], t = Batching(8192, 30); 16 bytes a value, exact. */
export const BFV_AGGREGATION: Readonly<HeParams> = Object.freeze({
  scheme: 'bfv',
  polyModulusDegree: 8192,
  coeffModulusBits: Object.freeze([60, 60]),
  plainModulusBits: 30,
});

/** CKKS aggregation preset: n = 8192, q = [60, 60], scale 2^40; 4096 slots, 32 bytes a value, approximate. */
export const CKKS_AGGREGATION: Readonly<HeParams> = Object.freeze({
  scheme: 'ckks',
  polyModulusDegree: 8192,
  coeffModulusBits: Object.freeze([60, 60]),
  scaleBits: 40,
});

const DEGREES = [4096, 8192, 16384, 32768];
/** SEAL's CoeffModulus.MaxBitCount(n, tc128): the largest total modulus at 128-bit security (HE standard). */
const MAX_BITS: Record<number, number> = { 4096: 109, 8192: 218, 16384: 438, 32768: 881 };

/** Checks a parameter object and returns a normalised copy. */
export function aparams(v: unknown, field = 'params'): HeParams {
  const p = v as HeParams;
  aoptions(p, field, ['scheme', 'polyModulusDegree', 'coeffModulusBits', 'plainModulusBits', 'scaleBits']);
  if (p === undefined) throw new ConfideError('E_BAD_INPUT', `"${field}" expected encryption parameters, got undefined`, { field });
  const scheme = aoneof(p.scheme, `${field}.scheme`, ['bfv', 'ckks'] as const);
  const n = aoneof(p.polyModulusDegree, `${field}.polyModulusDegree`, DEGREES);
  const bits = p.coeffModulusBits;
  if (!Array.isArray(bits) || bits.length < 2 || bits.length > 16)
    throw new ConfideError('E_BAD_INPUT', `"${field}.coeffModulusBits" expected an array of 2 to 16 bit sizes, got ${describe(bits)}`, {
      field: `${field}.coeffModulusBits`,
    });
  let total = 0;
  for (let i = 0; i < bits.length; i++) total += ainteger(bits[i], `${field}.coeffModulusBits[${i}]`, 20, 60);
  if (total > MAX_BITS[n])
    throw new ConfideError(
      'E_BAD_INPUT',
      `"${field}.coeffModulusBits" total ${total} bits exceeds ${MAX_BITS[n]}, the most n = ${n} allows at 128-bit security`,
      { field: `${field}.coeffModulusBits` },
    );
  const dataBits = total - bits[bits.length - 1];
  const out: HeParams = { scheme, polyModulusDegree: n, coeffModulusBits: Object.freeze([...bits]) };
  if (scheme === 'bfv') {
    if (p.scaleBits !== undefined)
      throw new ConfideError('E_BAD_INPUT', `"${field}.scaleBits" applies to CKKS only`, { field: `${field}.scaleBits` });
    // t must exceed 2n (a prime ≡ 1 mod 2n) and stay below the data modulus with room for noise;
    // at most 52 bits so that every centred value is exact in float64.
    const minT = Math.log2(2 * n) + 2;
    out.plainModulusBits = ainteger(p.plainModulusBits, `${field}.plainModulusBits`, minT, Math.min(52, dataBits - 10));
  } else {
    if (p.plainModulusBits !== undefined)
      throw new ConfideError('E_BAD_INPUT', `"${field}.plainModulusBits" applies to BFV only`, { field: `${field}.plainModulusBits` });
    out.scaleBits = ainteger(p.scaleBits, `${field}.scaleBits`, 20, dataBits - 2);
  }
  return Object.freeze(out);
}

/** What the caller can read about a context; SEAL objects stay inside. */
export interface ContextInfo {
  params: Readonly<HeParams>;
  /** SHA-256 of the canonical encoding of the parameters (the primes SEAL chose included). */
  paramsHash: Uint8Array;
  /** Values one ciphertext carries: n for BFV, n/2 for CKKS. */
  slots: number;
  /** BFV plain modulus t (0n for CKKS). */
  plainModulus: bigint;
  /** The primes of the coefficient modulus, special prime last. */
  coeffModulus: readonly bigint[];
  /** Bits of the modulus ciphertexts live under (all primes but the special one). */
  dataBits: number;
  /** Bytes of one serialised ciphertext (public-key encryption, uncompressed) per value. */
  bytesPerValue: number;
}

/** The SEAL objects behind a context: for the he module's own files. */
export interface Engine {
  seal: Seal;
  context: S.SEALContext;
  evaluator: S.Evaluator;
  batch: S.BatchEncoder | undefined;
  ckks: S.CKKSEncoder | undefined;
  /** The first data level's parms id (4 words): every ciphertext we accept is at it. */
  firstParmsId: BigUint64Array;
}

const engines = new WeakMap<HeContext, Engine>();

export function engineOf(ctx: HeContext): Engine {
  const e = engines.get(ctx);
  if (e === undefined || ctx.disposed)
    throw new ConfideError('E_STATE', 'the HeContext has been disposed', { field: 'context' });
  return e;
}

/** Checks a HeContext argument. */
export function acontext(v: unknown, field = 'context'): HeContext {
  if (!(v instanceof HeContext))
    throw new ConfideError('E_BAD_INPUT', `"${field}" expected a HeContext (createContext()), got ${describe(v)}`, { field });
  engineOf(v);
  return v;
}

export class HeContext implements ContextInfo, Disposable {
  readonly params: Readonly<HeParams>;
  readonly paramsHash: Uint8Array;
  readonly slots: number;
  readonly plainModulus: bigint;
  readonly coeffModulus: readonly bigint[];
  readonly dataBits: number;
  readonly bytesPerValue: number;
  #disposed = false;

  /** Use `createContext(params)`. */
  constructor(params: HeParams, engine: Engine, token: symbol) {
    if (token !== CONSTRUCT) throw new ConfideError('E_STATE', 'use createContext(params) to make a HeContext');
    this.params = params;
    engines.set(this, engine);
    const data = engine.context.firstContextData();
    const key = engine.context.keyContextData();
    try {
      const primes = engine.seal.jsArrayFromVecModulus(key.parms().coeffModulus()) as bigint[];
      this.coeffModulus = Object.freeze(primes.slice());
      this.plainModulus = params.scheme === 'bfv' ? data.parms().plainModulus().value() : 0n;
      this.dataBits = data.totalCoeffModulusBitCount();
    } finally {
      free(data, key);
    }
    this.slots = params.scheme === 'bfv' ? params.polyModulusDegree : params.polyModulusDegree / 2;
    const dataPrimes = params.coeffModulusBits.length - 1;
    this.bytesPerValue = (2 * params.polyModulusDegree * dataPrimes * 8) / this.slots;
    this.paramsHash = paramsHash(params, this.coeffModulus, this.plainModulus);
  }

  get disposed(): boolean {
    return this.#disposed;
  }

  /** Deletes the SEAL objects; the context is unusable afterwards. Idempotent. */
  dispose(): void {
    if (this.#disposed) return;
    const e = engines.get(this);
    this.#disposed = true;
    if (e) free(e.batch, e.ckks, e.evaluator, e.context);
  }

  [Symbol.dispose](): void {
    this.dispose();
  }
}

const CONSTRUCT = Symbol('HeContext');

/** The hash that binds keys and ciphertexts to one parameter set. */
function paramsHash(p: HeParams, primes: readonly bigint[], t: bigint): Uint8Array {
  const q = new BigUint64Array(primes);
  const body = encodeMessage({
    header: {
      scheme: p.scheme,
      n: p.polyModulusDegree,
      t,
      scaleBits: p.scaleBits ?? 0,
    },
    payloads: [q],
  });
  return sha256(new TextEncoder().encode('confide/he/v1/params\0'), body);
}

/**
 * Builds the SEAL context for `params` and refuses parameters that SEAL
 * accepts but that would not work for aggregation: BFV without batching
 * support (the BatchEncoder would fail later) or a context whose
 * `parametersSet()` is false (wrong primes, insecure sizes).
 */
export async function createContext(params: HeParams): Promise<HeContext> {
  const p = aparams(params);
  const seal = await loadSeal();
  return contextSync(seal, p);
}

export function contextSync(seal: Seal, p: HeParams): HeContext {
  const scheme = p.scheme === 'bfv' ? seal.SchemeType.bfv : seal.SchemeType.ckks;
  const parms = sealCall('create encryption parameters', 'E_BAD_INPUT', () => new seal.EncryptionParameters(scheme), 'params');
  let coeff: S.VectorModulus | undefined;
  let plain: S.Modulus | undefined;
  let context: S.SEALContext | undefined;
  let evaluator: S.Evaluator | undefined;
  let batch: S.BatchEncoder | undefined;
  let ckks: S.CKKSEncoder | undefined;
  try {
    sealCall('set the parameters', 'E_BAD_INPUT', () => {
      parms.setPolyModulusDegree(p.polyModulusDegree);
      coeff = seal.CoeffModulus.Create(p.polyModulusDegree, Int32Array.from(p.coeffModulusBits));
      parms.setCoeffModulus(coeff);
      if (p.scheme === 'bfv') {
        plain = seal.PlainModulus.Batching(p.polyModulusDegree, p.plainModulusBits!);
        parms.setPlainModulus(plain);
      }
    }, 'params');
    const ctx = sealCall('build a context', 'E_BAD_INPUT', () => new seal.SEALContext(parms, true, seal.SecLevelType.tc128), 'params');
    context = ctx;
    const data = ctx.firstContextData();
    const q = data.qualifiers();
    try {
      if (!ctx.parametersSet() || !q.parametersSet())
        throw new ConfideError('E_BAD_INPUT', `SEAL does not accept these parameters: ${describe(p)}`, { field: 'params' });
      if (p.scheme === 'bfv' && !q.usingBatching)
        throw new ConfideError('E_BAD_INPUT', 'the plain modulus does not support batching (t must be a prime ≡ 1 mod 2n)', { field: 'params.plainModulusBits' });
    } finally {
      free(q, data);
    }
    evaluator = sealCall('make an evaluator', 'E_CRYPTO', () => new seal.Evaluator(ctx));
    if (p.scheme === 'bfv') batch = sealCall('make a batch encoder', 'E_BAD_INPUT', () => new seal.BatchEncoder(ctx), 'params');
    else ckks = sealCall('make a CKKS encoder', 'E_BAD_INPUT', () => new seal.CKKSEncoder(ctx), 'params');
    const first = ctx.firstParmsId();
    const firstParmsId = (first.values() as BigUint64Array).slice();
    first.delete();
    const he = new HeContext(p, { seal, context: ctx, evaluator, batch, ckks, firstParmsId }, CONSTRUCT);
    context = evaluator = batch = ckks = undefined; // owned by the HeContext now
    return he;
  } finally {
    free(parms, coeff, plain, batch, ckks, evaluator, context);
  }
}
