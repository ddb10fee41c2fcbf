/**
 * confide/core: errors, argument checks, randomness, ring and field
 * arithmetic, the fixed-point codec, the ChaCha20 PRG, the binary message
 * codec, and the WASM kernel runtime that the other modules build on.
 */
export { ConfideError, isConfideError, type ConfideErrorCode, type ConfideErrorOptions } from './errors.ts';
export {
  abigint,
  aboolean,
  abytes,
  ainteger,
  anumber,
  aobject,
  aoneof,
  aoptions,
  apositive,
  asameLength,
  astring,
  atyped,
  isBytes,
} from './assert.ts';
export { Rng, arng, randomBytes, seededRng, systemRng } from './random.ts';
export { Z32, Z64, ring, type Ring, type RingVector } from './ring.ts';
export { Fp61, PrimeField, SECRET_FIELD, fieldToSecret, isProbablePrime, secretToField } from './field.ts';
export { FixedPoint, type Encoded, type FixedPointOptions, type FloatVector } from './fixedpoint.ts';
export { NONCE_BYTES, SEED_BYTES, addMask, chacha20Keystream, expandSeed, type PrgOptions } from './prg.ts';
export {
  CODEC_VERSION,
  decodeMessage,
  encodeMessage,
  encodedLength,
  type DecodeLimits,
  type HeaderValue,
  type Message,
  type Payload,
} from './codec.ts';
export { ArenaVector, arenaAlloc, kernelInfo, type KernelInfo } from './wasm/loader.ts';
