/**
 * confide/fl: federated averaging. Model state as named Float32Array tensors,
 * server strategies whose state serialises to JSON, DP-FedAvg with the
 * privacy ledger (central, or distributed through secure aggregation),
 * plain, secure (secagg) and homomorphic (he) aggregation, and built-in
 * trainers. See README.md.
 */
export {
  atensors,
  cloneTensors,
  l2Norm,
  parameterCount,
  subtractTensors,
  tensorsFromJson,
  tensorsToJson,
  zerosLike,
  type Tensors,
  type TensorsJson,
} from './tensors.ts';
export {
  STRATEGY_NAMES,
  createStrategy,
  fedAdagrad,
  fedAdam,
  fedAvg,
  fedAvgM,
  fedMedian,
  fedProx,
  fedYogi,
  krum,
  strategyFromState,
  trimmedMean,
  type AdaptiveOptions,
  type ClientUpdate,
  type FedAvgMOptions,
  type FedAvgOptions,
  type FedProxOptions,
  type FitConfig,
  type KrumOptions,
  type Strategy,
  type StrategyName,
  type StrategyState,
  type TrimmedMeanOptions,
} from './strategies.ts';
export {
  DpFedAvg,
  dpSecAggConfig,
  type AdaptiveClippingOptions,
  type DpSecAggConfigOptions,
  type DpSumResult,
  type DpFedAvgOptions,
  type DpFedAvgState,
  type DpRoundOptions,
  type DpRoundResult,
  type RoundSampling,
} from './dp_fedavg.ts';
export {
  LogisticRegression,
  Mlp,
  hashedBagOfWords,
  type EvaluateResult,
  type Example,
  type Features,
  type FitResult,
  type SparseVector,
  type TrainOptions,
} from './trainers.ts';
export { CheckpointStore, type Checkpoint } from './checkpoint.ts';
export { HE_ROUND_BASE, SECAGG_ROUND_BASE, runCoordinator, type CoordinatorOptions, type CoordinatorResult, type HeAggregationOptions, type RoundMetrics } from './coordinator.ts';
export { runDecryptor, type DecryptorOptions, type DecryptorSummary } from './decryptor.ts';
export { runClient, type ClientEvaluateResult, type ClientFitResult, type ClientOptions, type ClientSummary } from './client.ts';
