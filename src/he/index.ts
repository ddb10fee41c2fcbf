/**
 * confide/he: homomorphic aggregation with Microsoft SEAL (node-seal 7).
 * BFV (exact, through the core fixed-point codec) and CKKS (approximate)
 * presets, a parameter chooser that checks the plaintext range and the noise
 * budget before anything runs, vector encryption into as many ciphertexts as
 * needed, a streaming sum with flat memory, versioned serialisation bound to
 * the parameters, and the three roles (clients, an aggregator without the
 * secret key, a decryptor that decrypts only masked aggregates of at least K
 * contributors) over the party runtime. node-seal is loaded on first use.
 * See src/he/README.md for parameters, formats and the threat model.
 */
export {
  BFV_AGGREGATION,
  CKKS_AGGREGATION,
  HeContext,
  aparams,
  createContext,
  type ContextInfo,
  type HeParams,
  type Scheme,
} from './context.ts';
export { planAggregation, type AggregationPlan, type PlanChecks, type PlanOptions } from './plan.ts';
export { generateKeys, openPublicKey, openSecretKey, type HeKeyPair, type OpenedKey } from './keys.ts';
export {
  Accumulator,
  MaskedAggregate,
  VectorDecryptor,
  VectorEncryptor,
  createEncryptor,
  type EncryptOptions,
  type EncryptedVector,
} from './vector.ts';
export { AggregatorPool, type AggregatorPoolOptions } from './pool.ts';
export { ResidueDecryptor, ResidueEncryptor, productFlooding, type ProductFlooding } from './residues.ts';
export { BLOB_VERSION } from './_blob.ts';
export {
  runAggregator,
  runClient,
  runDecryptor,
  signKeyBundle,
  verifyKeyBundle,
  type AggregateResult,
  type AggregatorOptions,
  type ClientOptions,
  type ClientResult,
  type DecryptRequest,
  type DecryptorOptions,
  type HeEvent,
} from './roles.ts';
