/**
 * confide/secagg: secure aggregation of long vectors from many clients that
 * may drop out (Bonawitz et al. CCS 2017), with the sparse SecAgg+ graph
 * (Bell et al. CCS 2020) and distributed discrete Gaussian noise (Kairouz,
 * Liu and Steinke 2021). The server learns the sum of the surviving clients'
 * vectors and who survived, nothing else. See src/secagg/README.md for the
 * protocol, the threat model and the parameters.
 */
export { SecAggClient, runSecAggClient, type SecAggClientOptions, type RunClientOptions, type ClientOutcome } from './client.ts';
export { SecAggServer, runSecAggServer, type SecAggServerOptions, type SecAggOutput, type SecAggResult, type RunServerOptions, type LedgerOptions } from './server.ts';
export { checkRound, configDigest, type NoiseConfig, type SecAggConfig } from './config.ts';
export { completeGraph, hararyGraph, secaggParameters, type ParameterOptions, type SecAggGraph, type SecAggParameters } from './graph.ts';
export { shamirReconstruct, shamirShare, type Share } from './shamir.ts';
export {
  calibrateDistributedNoise,
  distributedGaussianRho,
  encodedSensitivity,
  klsTau,
  rhoForEpsilon,
  type CalibrateOptions,
  type RhoOptions,
} from './noise.ts';
export { PHASES, ROUND_STRIDE, type Phase } from './_wire.ts';
export { simulateSecAgg, type SimulateOptions, type SimulationReport } from './simulate.ts';
