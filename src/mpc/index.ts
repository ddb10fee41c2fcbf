/**
 * confide/mpc: secret-sharing MPC among a few parties for joint statistics.
 * Additive sharing over Z_2^64 and prime fields, Shamir t-of-n sharing,
 * Beaver-triple multiplication on vectors (trusted dealer, a preprocessing
 * store, or dealer-free triples from BFV), Shamir multiplication by degree
 * reduction, fixed-point reals with probabilistic truncation, and a party API
 * over confide/net. See src/mpc/README.md for the threat model per protocol.
 */
export { shareAdditive, reconstructAdditive, type AdditiveDomain, type AdditiveOptions } from './additive.ts';
export { shareShamir, reconstructShamir, lagrangeAtZero, type ShamirShare, type ShamirOptions } from './shamir.ts';
export {
  TrustedDealer,
  TripleStore,
  TripleShare,
  beaverMask,
  beaverCombine,
  mulZ64,
  shiftRight64,
  TruncationPair,
  type TruncationSpec,
} from './beaver.ts';
export {
  truncateMask,
  truncateFinish,
  truncationFailureProbability,
  truncationBounds,
  TRUNCATION_SIGMA_WRAP,
  TRUNCATION_SIGMA_HIDING,
  type TruncationOptions,
} from './fixed.ts';
export { MpcParty, Shared, type MpcPartyOptions, type Sharing, type TruncateOptions } from './party.ts';
export {
  jointSum,
  jointMean,
  jointVariance,
  jointHistogram,
  jointCorrelation,
  jointCorrelationRows,
  dotProduct,
  matVec,
  spdzPreprocessing,
  type SpdzNeed,
  type SpdzUse,
  type StatSession,
  type StatOptions,
  type SumResult,
  type CorrelationResult,
} from './stats.ts';
export { openNoisy, type MpcDpOptions, type NoisyOpened } from './dp.ts';
export { AuthShared, AuthStore, MacDealer, SpdzSession } from './spdz.ts';
export { heTriples, HE_TRIPLE_FIELD, HE_TRIPLE_PARAMS, HE_TRIPLE_PRIME, type HeTripleOptions } from './hetriples.ts';
