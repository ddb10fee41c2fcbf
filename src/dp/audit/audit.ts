/**
 * Empirical lower bounds on ε: run the mechanism many times on two
 * neighbouring inputs, find an event E whose probability differs most between
 * them, and bound the privacy loss from below with exact binomial confidence
 * intervals. If the mechanism is (ε, δ)-DP then for every E,
 * P[M(x) ∈ E] <= e^ε P[M(x') ∈ E] + δ, so
 *
 *   ε >= ln((p̂₁,lower − δ) / p̂₀,upper)
 *
 * holds with the stated confidence when p̂₁,lower and p̂₀,upper are
 * Clopper–Pearson bounds (Jagielski, Ullman and Oprea, "Auditing
 * Differentially Private Machine Learning: How Private is Private SGD?",
 * NeurIPS 2020, §3). The event must not be chosen on the samples that
 * evaluate it: as in DP-Sniper (Bichsel, Steffen, Bogunovic and Vechev,
 * "DP-Sniper: Black-Box Discovery of Differential Privacy Violations using
 * Classifiers", IEEE S&P 2021, §5), the test is chosen on the first half of
 * the outputs and its bound computed on the second half only. Each
 * Clopper–Pearson end holds with probability 1 − α/2 (α = 1 − confidence),
 * so the bound holds with probability at least 1 − α by the union bound.
 *
 * An audit can only refute a claim, never prove one: `passed` means the
 * samples did not show a violation, not that the mechanism is private.
 */
import { aoptions, ainteger, anumber, apositive } from '../../core/assert.ts';
import { ConfideError, describe } from '../../core/errors.ts';
import { arng, systemRng, type Rng } from '../../core/random.ts';
import { clopperPearson } from './_beta.ts';
import {
  countIn,
  describeEvent,
  drawOutputs,
  setCandidates,
  split,
  thresholdCandidates,
  type AuditEvent,
  type Candidate,
} from './_events.ts';

export type { AuditEvent, Outcome } from './_events.ts';

/** Which events to search: thresholds, outcome sets, or chosen from the outputs ('auto'). */
export type AuditTestKind = 'auto' | 'threshold' | 'set';

export interface AuditOptions {
  /** The ε the mechanism claims (> 0). */
  claimedEpsilon: number;
  /** The δ it claims, in [0, 1); default 0. */
  delta?: number;
  /** Outputs drawn on each input (>= 100): half choose the test, half evaluate it. */
  samples: number;
  /** Confidence of the lower bound, in (0, 1); default 0.95. */
  confidence?: number;
  /** Randomness passed to the mechanism; default `systemRng()`. Seed it for a reproducible audit. */
  rng?: Rng;
  /**
   * 'threshold': output >= t or < t at the outputs' quantiles; 'set': sets of
   * outcomes ordered by likelihood ratio; 'auto' (default): 'set' for
   * booleans and for at most 64 distinct numbers, else 'threshold'.
   */
  test?: AuditTestKind;
}

/** The test an audit chose, and which input's probability it puts on top. */
export interface AuditTest {
  readonly event: AuditEvent;
  /** 0 or 1: the input x with P[M(x) ∈ E] in the numerator. */
  readonly numerator: 0 | 1;
  readonly description: string;
}

export interface AuditResult {
  /** ε lower bound at the stated confidence (0 when the samples show nothing). */
  readonly epsilonLowerBound: number;
  /** Point estimate ln((p̂_num − δ)/p̂_den) on the evaluation half (may be ±Infinity). */
  readonly epsilonEstimate: number;
  /** [lower, upper] for the privacy loss of the chosen event: ln((p_num − δ)/p_den), Clopper–Pearson ends. */
  readonly confidenceInterval: readonly [number, number];
  readonly test: AuditTest;
  /** On the evaluation half: how many outputs of each input fell in the event, out of `trials` each. */
  readonly counts: { readonly input0: number; readonly input1: number; readonly trials: number };
  /** The Clopper–Pearson intervals of the two probabilities, [input0, input1]. */
  readonly probabilityIntervals: readonly [readonly [number, number], readonly [number, number]];
  readonly claimedEpsilon: number;
  readonly delta: number;
  readonly confidence: number;
  /** False when the lower bound exceeds the claimed ε: the claim is refuted. */
  readonly passed: boolean;
}

const AUDIT_KEYS = ['claimedEpsilon', 'delta', 'samples', 'confidence', 'rng', 'test'] as const;
const MAX_SAMPLES = 1e8;
const AUTO_SET_LIMIT = 64;

/** A confidence level in (0, 1). */
export function aconfidence(v: unknown): number {
  anumber(v, 'confidence', 0, 1, true);
  if (v === 1) throw new ConfideError('E_BAD_INPUT', '"confidence" expected a finite number > 0 and < 1, got 1', { field: 'confidence' });
  return v as number;
}

/** A mechanism (a function) and a pair of inputs. */
export function amechanism(mechanism: unknown, inputs: unknown): void {
  if (typeof mechanism !== 'function')
    throw new ConfideError('E_BAD_INPUT', `"mechanism" expected a function (input, rng) => output, got ${describe(mechanism)}`, { field: 'mechanism' });
  if (!Array.isArray(inputs) || inputs.length !== 2)
    throw new ConfideError('E_BAD_INPUT', `"neighbouringInputs" expected an array of two inputs, got ${describe(inputs)}`, { field: 'neighbouringInputs' });
}

function lnRatio(num: number, den: number): number {
  if (num <= 0) return -Infinity;
  if (den <= 0) return Infinity;
  return Math.log(num) - Math.log(den);
}

/** ln((p_num,lower − δ)/p_den,upper) for counts out of n each. */
function lowerBound(kNum: number, kDen: number, n: number, delta: number, confidence: number): number {
  const lo = clopperPearson(kNum, n, confidence)[0];
  const up = clopperPearson(kDen, n, confidence)[1];
  return lnRatio(lo - delta, up);
}

/** The candidate events for outputs `a` (input 0) and `b` (input 1) of the training half. */
export function candidateEvents(a: Float64Array, b: Float64Array, boolean: boolean, kind: AuditTestKind): Candidate[] {
  if (kind === 'threshold') return thresholdCandidates(a, b);
  const sets = setCandidates(a, b, boolean);
  // One outcome only: the whole space, ratio 1, is the only event.
  if (sets && sets.length === 0) return [{ event: { kind: 'threshold', threshold: -Infinity, side: 'above' }, countA: a.length, countB: b.length }];
  if (kind === 'set') {
    if (!sets)
      throw new ConfideError('E_BAD_INPUT', '"test" is \'set\' but the outputs take too many distinct values; use \'threshold\' or project the output', { field: 'test' });
    return sets;
  }
  if (boolean || (sets && new Set([...a, ...b]).size <= AUTO_SET_LIMIT)) return sets!;
  return thresholdCandidates(a, b);
}

/**
 * Audits `mechanism` on two neighbouring inputs against a claimed (ε, δ):
 * draws `samples` outputs on each, chooses the event and direction with the
 * largest ε lower bound on the first half, and reports that event's bound on
 * the second half (see the module comment). `passed` is false when the bound
 * exceeds `claimedEpsilon`.
 *
 * The mechanism receives the audit's rng and must return a finite number, a
 * boolean, or a Release of one; project vector outputs to a scalar.
 */
export function auditMechanism<I>(
  mechanism: (input: I, rng: Rng) => unknown,
  neighbouringInputs: readonly [I, I],
  options: AuditOptions,
): AuditResult {
  amechanism(mechanism, neighbouringInputs);
  const o = (aoptions(options, 'options', AUDIT_KEYS) ?? {}) as Partial<AuditOptions>;
  const claimedEpsilon = apositive(o.claimedEpsilon, 'claimedEpsilon');
  const delta = o.delta === undefined ? 0 : anumber(o.delta, 'delta', 0, 1);
  if (delta === 1) throw new ConfideError('E_BAD_INPUT', '"delta" expected a number in [0, 1), got 1', { field: 'delta' });
  const samples = ainteger(o.samples, 'samples', 100, MAX_SAMPLES);
  const confidence = o.confidence === undefined ? 0.95 : aconfidence(o.confidence);
  const rng = o.rng === undefined ? systemRng() : arng(o.rng);
  const kind = o.test === undefined ? 'auto' : o.test;
  if (kind !== 'auto' && kind !== 'threshold' && kind !== 'set')
    throw new ConfideError('E_BAD_INPUT', `"test" expected 'auto', 'threshold' or 'set', got ${describe(kind)}`, { field: 'test' });

  const { a, b, boolean } = drawOutputs(mechanism, neighbouringInputs as readonly [I, I], samples, rng);
  const [trainA, testA] = split(a), [trainB, testB] = split(b);

  // Choose on the training half: the event and direction with the best lower bound there.
  const nTrain = trainA.length;
  let best: { event: AuditEvent; numerator: 0 | 1 } | undefined;
  let bestScore = -Infinity;
  for (const c of candidateEvents(trainA, trainB, boolean, kind)) {
    // Cheap screen before the exact bound: the point estimate must beat the best bound so far.
    for (const numerator of [0, 1] as const) {
      const kNum = numerator === 0 ? c.countA : c.countB, kDen = numerator === 0 ? c.countB : c.countA;
      if (kNum === 0 || lnRatio(kNum - delta * nTrain, kDen) <= bestScore) continue;
      const score = lowerBound(kNum, kDen, nTrain, delta, confidence);
      if (score > bestScore || best === undefined) {
        bestScore = score;
        best = { event: c.event, numerator };
      }
    }
  }
  best ??= { event: { kind: 'threshold', threshold: -Infinity, side: 'above' }, numerator: 1 }; // every output: ratio 1

  // Evaluate on the held-out half only.
  const n = testA.length;
  const k0 = countIn(testA, best.event), k1 = countIn(testB, best.event);
  const ci0 = clopperPearson(k0, n, confidence), ci1 = clopperPearson(k1, n, confidence);
  const [num, den] = best.numerator === 0 ? [ci0, ci1] : [ci1, ci0];
  const [kNum, kDen] = best.numerator === 0 ? [k0, k1] : [k1, k0];
  const raw = lnRatio(num[0] - delta, den[1]);
  const epsilonLowerBound = Math.max(0, raw);
  return {
    epsilonLowerBound,
    epsilonEstimate: lnRatio(kNum / n - delta, kDen / n),
    confidenceInterval: [epsilonLowerBound, Math.max(0, lnRatio(num[1] - delta, den[0]))],
    test: {
      event: best.event,
      numerator: best.numerator,
      description: `P[M(x${best.numerator}) ∈ E] vs P[M(x${1 - best.numerator}) ∈ E], E = ${describeEvent(best.event)}`,
    },
    counts: { input0: k0, input1: k1, trials: n },
    probabilityIntervals: [ci0, ci1],
    claimedEpsilon,
    delta,
    confidence,
    passed: !(epsilonLowerBound > claimedEpsilon),
  };
}
