/**
 * confide/dp: differential privacy with noise that is secure on real
 * computers. Exact integer samplers (no floating-point value ever decides a
 * random outcome), mechanisms that return their guarantee beside their output,
 * and Gaussian calibration. Accounting, the budget ledger and bounded
 * aggregations over rows and corpora build on these.
 */
export { arational, type Rational, type RationalLike } from './rational.ts';
export {
  BernoulliExp,
  DiscreteGaussian,
  DiscreteLaplace,
  bernoulli,
  bernoulliExp,
  discreteGaussian,
  discreteGaussianSampler,
  discreteLaplace,
  discreteLaplaceSampler,
  geometric,
  geometricExp,
} from './samplers.ts';
export { approx, pure, zcdp, type Guarantee, type Release } from './guarantee.ts';
export {
  discreteGaussianMechanism,
  discreteLaplaceMechanism,
  gaussianMechanism,
  geometricMechanism,
  laplaceMechanism,
  type DiscreteGaussianOptions,
  type DiscreteLaplaceOptions,
  type GaussianOptions,
  type LaplaceOptions,
  type NoiseDescription,
  type NoisyRelease,
  type RealInput,
} from './mechanisms.ts';
export {
  analyticGaussianSigma,
  classicGaussianSigma,
  discreteGaussianDelta,
  gaussianDelta,
  gaussianEpsilon,
  gaussianRho,
  logNormalCdf,
  normalCdf,
} from './calibration.ts';
export {
  exponentialMechanism,
  permuteAndFlip,
  reportNoisyMax,
  topK,
  type ExponentialMechanismOptions,
  type PermuteAndFlipOptions,
  type TopKOptions,
} from './selection.ts';
export {
  estimateFrequencies,
  estimateProportion,
  kRandomizedResponse,
  randomizedResponse,
  type FrequencyEstimate,
  type ProportionEstimate,
  type RandomizedResponseOptions,
} from './randomized_response.ts';
export { AboveThreshold, NumericSparse, type AboveThresholdOptions, type NumericSparseOptions } from './sparse_vector.ts';
export * from './accounting/index.ts';
export * from './budget/index.ts';
export { auditMechanism, clopperPearson, statDpTest } from './audit/index.ts';
export * from './stats/index.ts';
