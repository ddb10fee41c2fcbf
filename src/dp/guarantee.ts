/**
 * What a release costs. Every mechanism returns, beside its output, its
 * guarantee as a typed value and the event that produced it, so a release can
 * be recorded in the ledger and composed by the accountant without hand
 * conversion.
 *
 * - `Guarantee` is the mechanism's own privacy statement for one release
 *   (neighbouring datasets as the caller's sensitivity defines them).
 * - `PrivacyEvent` names the mechanism and its exact parameters; an
 *   accountant (PLD, RDP, zCDP) computes tighter compositions from events than
 *   from guarantees, so both are kept.
 */
export type Guarantee =
  | { readonly kind: 'pure'; readonly epsilon: number }
  | { readonly kind: 'approx'; readonly epsilon: number; readonly delta: number }
  | { readonly kind: 'zcdp'; readonly rho: number };

export type PrivacyEvent =
  /** Laplace noise with this scale for this L1 sensitivity (continuous or on a grid). */
  | { readonly mechanism: 'laplace'; readonly scale: number; readonly sensitivity: number }
  /** Discrete Laplace noise with this scale for this integer L1 sensitivity. */
  | { readonly mechanism: 'discrete-laplace'; readonly scale: number; readonly sensitivity: number }
  /** Gaussian noise with this standard deviation for this L2 sensitivity. */
  | { readonly mechanism: 'gaussian'; readonly sigma: number; readonly sensitivity: number }
  /** Discrete Gaussian noise N_Z(0, σ²) for this integer L2 sensitivity. */
  | { readonly mechanism: 'discrete-gaussian'; readonly sigma: number; readonly sensitivity: number }
  /** k-ary randomized response with this epsilon (k = 2: binary). */
  | { readonly mechanism: 'randomized-response'; readonly epsilon: number; readonly k: number }
  /** Any mechanism known only by its pure-DP epsilon (exponential mechanism, sparse vector, ...). */
  | { readonly mechanism: 'pure'; readonly name: string; readonly epsilon: number }
  /** Independent events composed (in any order). */
  | { readonly mechanism: 'composition'; readonly events: readonly PrivacyEvent[] }
  /** The same event `count` times. */
  | { readonly mechanism: 'self-composition'; readonly event: PrivacyEvent; readonly count: number };

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
