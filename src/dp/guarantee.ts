/**
 * What a release costs. Every mechanism returns, beside its output, its
 * guarantee as a typed value and the event that produced it, so a release can
 * be recorded in the ledger and composed by the accountant without hand
 * conversion.
 *
 * - `Guarantee` is the mechanism's own privacy statement for one release
 *   (neighbouring datasets as the caller's sensitivity defines them).
 * - `PrivacyEvent` (accounting/events.ts) names the mechanism and its exact
 *   parameters; an accountant (PLD, RDP, zCDP) computes tighter compositions
 *   from events than from guarantees, so both are kept.
 */
import type { PrivacyEvent } from './accounting/events.ts';
export type Guarantee =
  | { readonly kind: 'pure'; readonly epsilon: number }
  | { readonly kind: 'approx'; readonly epsilon: number; readonly delta: number }
  | { readonly kind: 'zcdp'; readonly rho: number };

export type { PrivacyEvent } from './accounting/events.ts';

export function pure(epsilon: number): Guarantee {
  return { kind: 'pure', epsilon };
}

export function approx(epsilon: number, delta: number): Guarantee {
  return delta === 0 ? { kind: 'pure', epsilon } : { kind: 'approx', epsilon, delta };
}

export function zcdp(rho: number): Guarantee {
  return { kind: 'zcdp', rho };
}

/** A released value with its cost and its error bars. */
export interface Release<T> {
  readonly value: T;
  readonly guarantee: Guarantee;
  readonly event: PrivacyEvent;
  /**
   * The error bar at confidence `level`, in the mechanism's own terms:
   * - additive noise (Laplace, Gaussian and their discrete forms): the
   *   half-width m with P(|output - input| <= m) >= level for each coordinate;
   * - selection (exponential mechanism, permute-and-flip, top-k): the utility
   *   loss u_max - u_chosen that is exceeded with probability at most 1 - level;
   * - randomized response: 0 while the truth is reported with probability
   *   >= level, else the largest possible error (k - 1).
   */
  margin(level: number): number;
}
