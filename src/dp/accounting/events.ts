/**
 * The event model of privacy accounting (after Google's dp_accounting): a
 * release is described by what it did, not by a number, so each accountant
 * (PLD, RDP, zCDP) can compose it as tightly as it knows how. Mechanisms
 * return their event beside their output; the ledger stores it; the CLI
 * reads it as JSON in exactly this shape.
 *
 * Grammar (JSON):
 *
 *   event := { "type": "gaussian", "sigma": σ [, "sensitivity": Δ = 1] }
 *          | { "type": "laplace", "b": b [, "sensitivity": Δ = 1] }
 *          | { "type": "discrete-laplace", "a": a, "sensitivity": Δ }         P(x) ∝ exp(-a|x|), integer Δ
 *          | { "type": "discrete-gaussian", "sigma": σ, "sensitivity": Δ }    N_Z(0, σ²), integer Δ
 *          | { "type": "randomized-response", "p": p, "k": k }               with probability p a uniform bucket, else the truth
 *          | { "type": "epsilon-delta", "epsilon": ε [, "delta": δ = 0] [, "name": mechanism] }   known only by its guarantee
 *          | { "type": "zcdp", "rho": ρ }                                      known only by its ρ-zCDP guarantee
 *          | { "type": "poisson-sampled", "q": q, "event": event }             each record kept independently with probability q
 *          | { "type": "sampled-without-replacement", "n": n, "m": m, "event": event }   m of n records, uniformly
 *          | { "type": "self-composed", "count": c, "event": event }
 *          | { "type": "composed", "events": [event, ...] }
 *
 * Noise parameters are absolute, beside the sensitivity they were calibrated
 * for: a Gaussian event with σ and Δ is the mechanism x + N(0, σ²) on a query
 * of L2 sensitivity Δ, so what matters to the accountant is σ/Δ (the noise
 * multiplier). A discrete Laplace event's a is per unit of the integer
 * sensitivity: noise ∝ exp(-a|x|) against shifts of Δ.
 *
 * Neighbouring datasets: add or remove one record, as in dp_accounting, for
 * every event except randomized response and sampling without replacement,
 * whose guarantees (like dp_accounting's) are for replacing one record. A
 * composition that includes them states each part for its own relation, as
 * dp_accounting's does (an add-or-remove guarantee implies replace-one at
 * twice the cost, not the converse); the ledger records which events were
 * composed, so an auditor can see the mix.
 */
import { ConfideError, describe } from '../../core/errors.ts';

export type PrivacyEvent =
  | { readonly type: 'gaussian'; readonly sigma: number; readonly sensitivity?: number }
  | { readonly type: 'laplace'; readonly b: number; readonly sensitivity?: number }
  | { readonly type: 'discrete-laplace'; readonly a: number; readonly sensitivity: number }
  | { readonly type: 'discrete-gaussian'; readonly sigma: number; readonly sensitivity: number }
  | { readonly type: 'randomized-response'; readonly p: number; readonly k: number }
  | { readonly type: 'epsilon-delta'; readonly epsilon: number; readonly delta?: number; readonly name?: string }
  | { readonly type: 'zcdp'; readonly rho: number }
  | { readonly type: 'poisson-sampled'; readonly q: number; readonly event: PrivacyEvent }
  | { readonly type: 'sampled-without-replacement'; readonly n: number; readonly m: number; readonly event: PrivacyEvent }
  | { readonly type: 'self-composed'; readonly count: number; readonly event: PrivacyEvent }
  | { readonly type: 'composed'; readonly events: readonly PrivacyEvent[] };

export type PrivacyEventType = PrivacyEvent['type'];

const MAX_DEPTH = 64;

function bad(path: string, expected: string, got: unknown): never {
  throw new ConfideError('E_BAD_INPUT', `"${path}" expected ${expected}, got ${describe(got)}`, { field: path });
}

function num(o: Record<string, unknown>, key: string, path: string, check: (x: number) => boolean, expected: string, optional = false): void {
  const v = o[key];
  if (optional && v === undefined) return;
  if (typeof v !== 'number' || !Number.isFinite(v) || !check(v)) bad(`${path}.${key}`, expected, v);
}

const KEYS: Record<PrivacyEventType, readonly string[]> = {
  gaussian: ['sigma', 'sensitivity'],
  laplace: ['b', 'sensitivity'],
  'discrete-laplace': ['a', 'sensitivity'],
  'discrete-gaussian': ['sigma', 'sensitivity'],
  'randomized-response': ['p', 'k'],
  'epsilon-delta': ['epsilon', 'delta', 'name'],
  zcdp: ['rho'],
  'poisson-sampled': ['q', 'event'],
  'sampled-without-replacement': ['n', 'm', 'event'],
  'self-composed': ['count', 'event'],
  composed: ['events'],
};

const positive = (x: number) => x > 0;
const positiveInteger = (x: number) => Number.isSafeInteger(x) && x >= 1;

/**
 * Checks that `v` is a well-formed event (as parsed JSON or as built in code)
 * and returns it typed. Every malformed part is an E_BAD_INPUT naming its path.
 */
export function aevent(v: unknown, path = 'event', depth = 0): PrivacyEvent {
  if (depth > MAX_DEPTH) bad(path, `nesting of at most ${MAX_DEPTH} levels`, v);
  if (typeof v !== 'object' || v === null || Array.isArray(v)) bad(path, 'an event object', v);
  const o = v as Record<string, unknown>;
  const type = o.type as PrivacyEventType;
  if (typeof type !== 'string' || !Object.hasOwn(KEYS, type))
    bad(`${path}.type`, `one of ${Object.keys(KEYS).join(', ')}`, o.type);
  for (const k of Object.keys(o))
    if (k !== 'type' && !KEYS[type].includes(k)) bad(`${path}.${k}`, `no such field on a ${type} event (fields: ${KEYS[type].join(', ')})`, o[k]);
  switch (type) {
    case 'gaussian':
      num(o, 'sigma', path, positive, 'a number > 0');
      num(o, 'sensitivity', path, positive, 'a number > 0', true);
      break;
    case 'laplace':
      num(o, 'b', path, positive, 'a number > 0');
      num(o, 'sensitivity', path, positive, 'a number > 0', true);
      break;
    case 'discrete-laplace':
      num(o, 'a', path, positive, 'a number > 0');
      num(o, 'sensitivity', path, positiveInteger, 'an integer >= 1');
      break;
    case 'discrete-gaussian':
      num(o, 'sigma', path, positive, 'a number > 0');
      num(o, 'sensitivity', path, positiveInteger, 'an integer >= 1');
      break;
    case 'randomized-response':
      num(o, 'p', path, (x) => x > 0 && x <= 1, 'a probability in (0, 1]');
      num(o, 'k', path, (x) => positiveInteger(x) && x >= 2, 'an integer >= 2');
      break;
    case 'epsilon-delta':
      num(o, 'epsilon', path, (x) => x >= 0, 'a number >= 0');
      num(o, 'delta', path, (x) => x >= 0 && x < 1, 'a number in [0, 1)', true);
      if (o.name !== undefined && (typeof o.name !== 'string' || o.name.length > 200)) bad(`${path}.name`, 'a string of at most 200 chars', o.name);
      break;
    case 'zcdp':
      num(o, 'rho', path, (x) => x >= 0, 'a number >= 0');
      break;
    case 'poisson-sampled':
      num(o, 'q', path, (x) => x >= 0 && x <= 1, 'a probability in [0, 1]');
      aevent(o.event, `${path}.event`, depth + 1);
      break;
    case 'sampled-without-replacement':
      num(o, 'n', path, positiveInteger, 'an integer >= 1');
      num(o, 'm', path, (x) => Number.isSafeInteger(x) && x >= 0 && x <= (o.n as number), 'an integer in [0, n]');
      aevent(o.event, `${path}.event`, depth + 1);
      break;
    case 'self-composed':
      num(o, 'count', path, (x) => Number.isSafeInteger(x) && x >= 0, 'an integer >= 0');
      aevent(o.event, `${path}.event`, depth + 1);
      break;
    case 'composed': {
      const events = o.events;
      if (!Array.isArray(events)) bad(`${path}.events`, 'an array of events', events);
      events.forEach((e, i) => aevent(e, `${path}.events[${i}]`, depth + 1));
      break;
    }
  }
  return v as PrivacyEvent;
}

/** Parses event JSON (as the CLI and the ledger store it). */
export function parseEvent(json: string): PrivacyEvent {
  if (typeof json !== 'string') bad('event', 'a JSON string', json);
  let v: unknown;
  try {
    v = JSON.parse(json);
  } catch (e) {
    throw new ConfideError('E_BAD_INPUT', `"event" is not valid JSON: ${(e as Error).message}`, { field: 'event', cause: e });
  }
  return aevent(v);
}

/** The events in order, with compositions flattened and self-compositions counted (for reports). */
export function describeEvent(e: PrivacyEvent): string {
  switch (e.type) {
    case 'gaussian':
      return `Gaussian(σ=${e.sigma}${e.sensitivity !== undefined ? `, Δ=${e.sensitivity}` : ''})`;
    case 'laplace':
      return `Laplace(b=${e.b}${e.sensitivity !== undefined ? `, Δ=${e.sensitivity}` : ''})`;
    case 'discrete-laplace':
      return `DiscreteLaplace(a=${e.a}, Δ=${e.sensitivity})`;
    case 'discrete-gaussian':
      return `DiscreteGaussian(σ=${e.sigma}, Δ=${e.sensitivity})`;
    case 'randomized-response':
      return `RandomizedResponse(p=${e.p}, k=${e.k})`;
    case 'epsilon-delta':
      return `${e.name ?? ''}(ε=${e.epsilon}, δ=${e.delta ?? 0})`;
    case 'zcdp':
      return `zCDP(ρ=${e.rho})`;
    case 'poisson-sampled':
      return `PoissonSampled(q=${e.q}, ${describeEvent(e.event)})`;
    case 'sampled-without-replacement':
      return `SampledWithoutReplacement(${e.m} of ${e.n}, ${describeEvent(e.event)})`;
    case 'self-composed':
      return `${e.count} × ${describeEvent(e.event)}`;
    case 'composed':
      return `[${e.events.map(describeEvent).join(', ')}]`;
  }
}
