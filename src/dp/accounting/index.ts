/**
 * Privacy accounting: the event model, the accountants (PLD, RDP, zCDP,
 * basic and advanced composition), calibration of noise and steps, and one
 * entry point (`epsilonFor`, `deltaFor`) that picks an accountant by name.
 */
export { aevent, describeEvent, parseEvent, type PrivacyEvent, type PrivacyEventType } from './events.ts';
export {
  ACCOUNTING_METHODS,
  calibrateMaxSteps,
  calibrateNoiseMultiplier,
  deltaFor,
  epsilonFor,
  type AccountingMethod,
  type AccountingOptions,
} from './accountant.ts';
export { DEFAULT_DISCRETIZATION, PrivacyLossDistribution, pldDelta, pldEpsilon, type PldOptions } from './pld.ts';
export { DEFAULT_RDP_ORDERS, rdpCurve, rdpDelta, rdpEpsilon, rdpToDelta, rdpToEpsilon } from './rdp.ts';
export { rhoToDelta, rhoToEpsilon, zcdpDelta, zcdpEpsilon, zcdpRho } from './zcdp.ts';
export { advancedComposition, basicComposition, epsilonDeltaOf, type EpsilonDelta } from './composition.ts';
export { maxSteps, noiseMultiplier, type MaxStepsOptions, type NoiseMultiplierOptions } from './calibrate.ts';
