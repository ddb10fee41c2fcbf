/**
 * A StatDP-style hypothesis test for pure ε-DP: Ding, Wang, Wang, Zhang and
 * Kifer, "Detecting Violations of Differential Privacy", CCS 2018, §4.
 *
 * For an event E with p₀ = P[M(x) ∈ E] and p₁ = P[M(x') ∈ E], ε-DP requires
 * p₀ <= e^ε p₁; the null hypothesis is exactly that. With c₀ ~ Bin(n, p₀) and
 * c₁ ~ Bin(n, p₁) from n runs on each input, thin c₀ by keeping each hit with
 * probability e^−ε: c̃₀ ~ Bin(n, p₀e^−ε). On the boundary of the null,
 * p₀e^−ε = p₁, c̃₀ and c₁ are i.i.d. binomials, so given c̃₀ + c₁ = s the count
 * c̃₀ is Hypergeometric(2n, n, s) (Fisher's exact test, §4.1); a large c̃₀ is
 * evidence against the null, and inside the null it is only less likely. The
 * p-value P[Hyp >= c̃₀] depends on the thinning draw, so, as StatDP does
 * (§4.2; 200 draws in its `test_statistics`), it is averaged over thinning draws. (An average of p-values
 * is not itself a p-value in the strict sense; twice it is, by Markov's
 * inequality. `pValue` is the average, as in the paper; `rejected` compares
 * it with α = 1 − confidence.)
 *
 * As in StatDP's event selector (§5), the event is chosen on a first batch
 * of outputs (smallest p-value, thinning by its expectation) and tested on a
 * fresh second batch. Unlike StatDP, which orients the test after counting
 * (the larger count on top) and reports both orientations, the orientation
 * is also fixed on the first batch, so the one p-value reported is not
 * biased by that choice.
 */
import { aoptions, ainteger, apositive } from '../../core/assert.ts';
import { ConfideError, describe } from '../../core/errors.ts';
import { arng, systemRng, type Rng } from '../../core/random.ts';
import { logGamma } from './_beta.ts';
import { aconfidence, amechanism, candidateEvents, type AuditTestKind } from './audit.ts';
import { countIn, drawOutputs, split, type AuditEvent, type Candidate } from './_events.ts';

export interface StatDpOptions {
  /** The pure ε under test (> 0). */
  epsilon: number;
  /** Outputs drawn on each input (>= 100): half select the event, half test it. */
  samples: number;
  /** 1 − the significance level; default 0.95. */
  confidence?: number;
  rng?: Rng;
  /** Candidate events; by default thresholds or outcome sets as `auditMechanism` searches them. */
  events?: readonly AuditEvent[];
  /** Which events to generate when `events` is not given (as in `auditMechanism`). */
  test?: AuditTestKind;
}

export interface StatDpResult {
  /** The average p-value over thinning draws (Ding et al. §4.2). */
  readonly pValue: number;
  /** The event tested. */
  readonly event: AuditEvent;
  /** 0 or 1: the null is P[M(x_numerator) ∈ E] <= e^ε P[M(x_other) ∈ E]. */
  readonly numerator: 0 | 1;
  /** On the test half: hits of each input in the event, out of `trials` each. */
  readonly counts: { readonly input0: number; readonly input1: number; readonly trials: number };
  /** True when pValue < 1 − confidence: the samples refute ε-DP. */
  readonly rejected: boolean;
}

const STATDP_KEYS = ['epsilon', 'samples', 'confidence', 'rng', 'events', 'test'] as const;
/** Thinning draws averaged per p-value: 200, as in StatDP's `test_statistics` (statdp/hypotest.py). */
const THINNING_DRAWS = 200;
const MAX_SAMPLES = 1e8;

/** ln C(n, k). */
function lnChoose(n: number, k: number): number {
  return logGamma(n + 1) - logGamma(k + 1) - logGamma(n - k + 1);
}

/**
 * P[X >= x] for X ~ Hypergeometric(population 2n, n marked, s drawn): sums the
 * pmf upward from x with the ratio pmf(j+1)/pmf(j) = (n−j)(s−j)/((j+1)(n−s+j+1)).
 */
export function hypergeometricSf(x: number, n: number, s: number): number {
  const lo = Math.max(0, s - n), hi = Math.min(s, n);
  if (x <= lo) return 1;
  if (x > hi) return 0;
  let term = Math.exp(lnChoose(n, x) + lnChoose(n, s - x) - lnChoose(2 * n, s));
  let sum = 0;
  for (let j = x; j <= hi; j++) {
    sum += term;
    const next = (term * (n - j) * (s - j)) / ((j + 1) * (n - s + j + 1));
    if (next < sum * 1e-17 && next < term) break; // past the mode: the rest is negligible
    term = next;
  }
  return Math.min(1, sum);
}

/** Binomial(k, p) by k Bernoulli draws from 32-bit uniforms (the audit's own randomness, not a mechanism's). */
function binomial(k: number, p: number, rng: Rng): number {
  const cut = p * 4294967296;
  let c = 0;
  for (let i = 0; i < k; i++) c += rng.nextU32() < cut ? 1 : 0;
  return c;
}

function aevents(v: unknown): readonly AuditEvent[] {
  if (!Array.isArray(v) || v.length < 1)
    throw new ConfideError('E_BAD_INPUT', `"events" expected a non-empty array of events, got ${describe(v)}`, { field: 'events' });
  v.forEach((e: unknown, i) => {
    const ev = e as Record<string, unknown> | null;
    const ok =
      typeof ev === 'object' && ev !== null &&
      ((ev.kind === 'threshold' && typeof ev.threshold === 'number' && !Number.isNaN(ev.threshold) && (ev.side === 'above' || ev.side === 'below')) ||
        (ev.kind === 'set' && Array.isArray(ev.outcomes) &&
          ev.outcomes.every((o: unknown) => typeof o === 'boolean' || (typeof o === 'number' && Number.isFinite(o)))));
    if (!ok)
      throw new ConfideError('E_BAD_INPUT', `"events[${i}]" expected { kind: 'threshold', threshold, side } or { kind: 'set', outcomes }, got ${describe(e)}`, { field: `events[${i}]` });
  });
  return v as readonly AuditEvent[];
}

/**
 * Tests H0: "the mechanism is ε-DP" on two neighbouring inputs with the
 * thinned Fisher exact test of Ding et al. 2018 (see the module comment).
 */
export function statDpTest<I>(
  mechanism: (input: I, rng: Rng) => unknown,
  neighbouringInputs: readonly [I, I],
  options: StatDpOptions,
): StatDpResult {
  amechanism(mechanism, neighbouringInputs);
  const o = (aoptions(options, 'options', STATDP_KEYS) ?? {}) as Partial<StatDpOptions>;
  const epsilon = apositive(o.epsilon, 'epsilon');
  const samples = ainteger(o.samples, 'samples', 100, MAX_SAMPLES);
  const confidence = o.confidence === undefined ? 0.95 : aconfidence(o.confidence);
  const rng = o.rng === undefined ? systemRng() : arng(o.rng);
  const events = o.events === undefined ? undefined : aevents(o.events);
  const kind = o.test === undefined ? 'auto' : o.test;
  if (kind !== 'auto' && kind !== 'threshold' && kind !== 'set')
    throw new ConfideError('E_BAD_INPUT', `"test" expected 'auto', 'threshold' or 'set', got ${describe(kind)}`, { field: 'test' });

  const { a, b, boolean } = drawOutputs(mechanism, neighbouringInputs as readonly [I, I], samples, rng);
  const [trainA, testA] = split(a), [trainB, testB] = split(b);
  const keep = Math.exp(-epsilon);

  // Select: the smallest p-value on the first half, thinning by its expectation.
  const candidates: Candidate[] = events
    ? events.map((event) => ({ event, countA: countIn(trainA, event), countB: countIn(trainB, event) }))
    : candidateEvents(trainA, trainB, boolean, kind);
  const nTrain = trainA.length;
  let best: { event: AuditEvent; numerator: 0 | 1 } = { event: candidates[0].event, numerator: 0 };
  let bestP = Infinity;
  for (const c of candidates) {
    for (const numerator of [0, 1] as const) {
      const [kNum, kDen] = numerator === 0 ? [c.countA, c.countB] : [c.countB, c.countA];
      const thinned = Math.round(kNum * keep);
      if (thinned <= kDen) continue; // no evidence against H0 in this direction
      const p = hypergeometricSf(thinned, nTrain, thinned + kDen);
      if (p < bestP) {
        bestP = p;
        best = { event: c.event, numerator };
      }
    }
  }

  // Test on the second half, averaging the p-value over thinning draws.
  const n = testA.length;
  const k0 = countIn(testA, best.event), k1 = countIn(testB, best.event);
  const [kNum, kDen] = best.numerator === 0 ? [k0, k1] : [k1, k0];
  let total = 0;
  for (let i = 0; i < THINNING_DRAWS; i++) {
    const thinned = binomial(kNum, keep, rng);
    total += hypergeometricSf(thinned, n, thinned + kDen);
  }
  const pValue = total / THINNING_DRAWS;
  return {
    pValue,
    event: best.event,
    numerator: best.numerator,
    counts: { input0: k0, input1: k1, trials: n },
    rejected: pValue < 1 - confidence,
  };
}
