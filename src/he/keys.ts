/**
 * Key generation and key files. The public key bundle carries everything a
 * client needs (parameters, the aggregation plan, the public key), so a
 * client builds its context from the bundle alone; the secret key file
 * carries the same parameters and plan. Both are CFHE blobs (see _blob.ts).
 */
import { abytes } from '../core/assert.ts';
import { ConfideError } from '../core/errors.ts';
import type { HeaderValue } from '../core/codec.ts';
import { KIND_PUBLIC, KIND_SECRET, decodeBlob, encodeBlob, equalBytes, field, type BlobKind } from './_blob.ts';
import { SealScope, loadSeal, sealCall } from './_seal.ts';
import { acontext, contextSync, engineOf, type HeContext, type HeParams } from './context.ts';
import { aplan, type AggregationPlan } from './plan.ts';

export interface HeKeyPair {
  /** The public key bundle (parameters, plan, public key): give it to clients and the aggregator. */
  publicKey: Uint8Array;
  /** The secret key file: only the decryptor keeps it. */
  secretKey: Uint8Array;
}

function planHeader(plan: AggregationPlan): Record<string, HeaderValue> {
  const p = plan.params;
  return {
    scheme: p.scheme,
    n: p.polyModulusDegree,
    qBits: Uint8Array.from(p.coeffModulusBits),
    tBits: p.plainModulusBits ?? 0,
    scaleBits: p.scaleBits ?? 0,
    contributors: plan.contributors,
    bound: plan.bound,
    fracBits: plan.fracBits,
    freshNoiseBudget: plan.checks.freshNoiseBudget,
    seal: '4.1',
  };
}

function planFromHeader(h: Record<string, HeaderValue>, where: string): AggregationPlan {
  const scheme = field<string>(h, 'scheme', 'string', where);
  const params: HeParams = {
    scheme: scheme as HeParams['scheme'],
    polyModulusDegree: field<number>(h, 'n', 'number', where),
    coeffModulusBits: Array.from(field<Uint8Array>(h, 'qBits', 'bytes', where)),
  };
  if (scheme === 'bfv') params.plainModulusBits = field<number>(h, 'tBits', 'number', where);
  else params.scaleBits = field<number>(h, 'scaleBits', 'number', where);
  const plan = {
    params,
    contributors: field<number>(h, 'contributors', 'number', where),
    bound: field<number>(h, 'bound', 'number', where),
    fracBits: field<number>(h, 'fracBits', 'number', where),
    bytesPerValue: 0,
    checks: { rangeBitsNeeded: 0, rangeBits: 0, freshNoiseBudget: field<number>(h, 'freshNoiseBudget', 'number', where), noiseBudgetNeeded: 0 },
  };
  try {
    aplan(plan, where);
  } catch (e) {
    throw new ConfideError('E_DECODE', `"${where}" carries an invalid plan: ${(e as Error).message}`, { field: where, cause: e });
  }
  return plan;
}

/** Generates a key pair under `context` for `plan` (whose parameters must be the context's). */
export function generateKeys(context: HeContext, plan: AggregationPlan): HeKeyPair {
  const ctx = acontext(context);
  const pl = aplan(plan);
  if (JSON.stringify(pl.params) !== JSON.stringify(ctx.params))
    throw new ConfideError('E_BAD_INPUT', '"plan" was made for other parameters than the context', { field: 'plan' });
  const { seal, context: sctx } = engineOf(ctx);
  using s = new SealScope();
  return sealCall('generate keys', 'E_CRYPTO', () => {
    const keygen = s.own(new seal.KeyGenerator(sctx));
    const sk = s.own(keygen.secretKey());
    const pk = s.own(keygen.createPublicKey());
    const none = seal.ComprModeType.none;
    const header = planHeader(pl);
    const pkBytes = pk.saveToArray(none) as Uint8Array;
    const skBytes = sk.saveToArray(none) as Uint8Array;
    const keys = {
      publicKey: encodeBlob(KIND_PUBLIC, ctx.paramsHash, header, pkBytes),
      secretKey: encodeBlob(KIND_SECRET, ctx.paramsHash, header, skBytes),
    };
    skBytes.fill(0);
    return keys;
  });
}

/** A key file opened: its context (dispose it), its plan, and the SEAL key bytes. */
export interface OpenedKey {
  context: HeContext;
  plan: AggregationPlan;
  /** SEAL's serialisation of the key (internal use: load it into the context). */
  keyBytes: Uint8Array;
}

async function openKey(bytes: Uint8Array, fieldName: string, kind: BlobKind): Promise<OpenedKey> {
  abytes(bytes, fieldName);
  const blob = decodeBlob(bytes, fieldName, kind);
  const plan = planFromHeader(blob.header, fieldName);
  const seal = await loadSeal();
  const context = contextSync(seal, plan.params);
  if (!equalBytes(context.paramsHash, blob.paramsHash)) {
    context.dispose();
    throw new ConfideError('E_DECODE', `"${fieldName}" parameter hash does not match its parameters (corrupt, or made by another SEAL build)`, { field: fieldName });
  }
  return { context, plan: Object.freeze({ ...plan, bytesPerValue: context.bytesPerValue }), keyBytes: blob.seal };
}

/** Opens a public key bundle. The caller disposes `context`. */
export function openPublicKey(bundle: Uint8Array): Promise<OpenedKey> {
  return openKey(bundle, 'publicKey', KIND_PUBLIC);
}

/** Opens a secret key file. The caller disposes `context`. */
export function openSecretKey(secretKey: Uint8Array): Promise<OpenedKey> {
  return openKey(secretKey, 'secretKey', KIND_SECRET);
}

/** Checks that a key blob belongs to `context` and returns its SEAL bytes. */
export function keyBytesFor(context: HeContext, bytes: Uint8Array, fieldName: string, kind: BlobKind): Uint8Array {
  abytes(bytes, fieldName);
  return decodeBlob(bytes, fieldName, kind, context.paramsHash).seal;
}
