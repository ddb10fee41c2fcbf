/**
 * confide/fl: federated averaging. Model state as named Float32Array tensors,
 * server strategies whose state serialises to JSON, DP-FedAvg with the
 * privacy ledger, and built-in trainers. See README.md.
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
  type AdaptiveClippingOptions,
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
export { runCoordinator, type CoordinatorOptions, type CoordinatorResult, type RoundMetrics } from './coordinator.ts';
export { runClient, type ClientEvaluateResult, type ClientFitResult, type ClientOptions, type ClientSummary } from './client.ts';
