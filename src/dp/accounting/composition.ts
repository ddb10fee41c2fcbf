/**
 * Composition of (ε, δ) guarantees without looking inside the mechanisms:
 * basic composition (Dwork, McSherry, Nissim and Smith 2006; Dwork and Roth
 * 2014, Thm 3.16), advanced composition (Dwork, Rothblum and Vadhan 2010,
 * Thm III.3), and the (ε, δ) of an event tree by basic composition, with
 * amplification by subsampling (Balle, Barthe and Gaboardi 2018).
 *
 * These are the loosest accountants; they exist for audits that require
 * them and for events known only by their guarantee. For Gaussian and
 * subsampled mechanisms use the PLD, RDP or zCDP accountants.
 */
import { ainteger, anumber, aobject } from '../../core/assert.ts';
import { ConfideError, describe } from '../../core/errors.ts';
import { aevent, describeEvent, type PrivacyEvent } from './events.ts';

/** An (ε, δ)-DP guarantee. */
export interface EpsilonDelta {
  readonly epsilon: number;
  readonly delta: number;
}

function aguarantee(v: unknown, field: string): EpsilonDelta {
  const o = aobject(v, field);
  for (const k of Object.keys(o))
    if (k !== 'epsilon' && k !== 'delta')
      throw new ConfideError('E_BAD_INPUT', `"${field}" has unknown field ${JSON.stringify(k)}; known: epsilon, delta`, {
        field: `${field}.${k}`,
      });
  anumber(o.epsilon, `${field}.epsilon`, 0);
  anumber(o.delta, `${field}.delta`, 0, 1);
  return o as unknown as EpsilonDelta;
}

function finite(epsilon: number, what: string): number {
  if (!(epsilon < Infinity))
    throw new ConfideError('E_OVERFLOW', `${what}: the composed epsilon exceeds the range of a double`, { field: 'epsilon' });
  return epsilon;
}

/**
 * log(1 + q(e^ε − 1)): the ε of an ε-DP mechanism run on a q-subsample
 * (Li, Qardaji and Su 2012; BBG18 Thm 8 and 9). Computed without overflow
 * for large ε.
 */
function amplify(q: number, epsilon: number): number {
  if (q === 0 || epsilon === 0) return 0;
  if (epsilon <= 1) return Math.log1p(q * Math.expm1(epsilon));
  return epsilon + Math.log(q + (1 - q) * Math.exp(-epsilon));
}

function ofEvent(e: PrivacyEvent): { epsilon: number; delta: number } {
  switch (e.type) {
    case 'epsilon-delta':
      return { epsilon: e.epsilon, delta: e.delta ?? 0 };
    case 'laplace':
      return { epsilon: (e.sensitivity ?? 1) / e.b, delta: 0 };
    case 'discrete-laplace':
      return { epsilon: e.a * e.sensitivity, delta: 0 };
    case 'randomized-response':
      // max over outputs of P(out | x)/P(out | x') = (1 − p + p/k)/(p/k) (replace-one)
      return { epsilon: Math.log1p((e.k * (1 - e.p)) / e.p), delta: 0 };
    case 'gaussian':
    case 'discrete-gaussian':
    case 'zcdp':
      throw new ConfideError(
        'E_UNSUPPORTED',
        `basic composition needs an (epsilon, delta) per release, and ${describeEvent(e)} has a whole curve of them; account it with the PLD, RDP or zCDP accountant, or record its guarantee as an epsilon-delta event`,
        { field: 'event' },
      );
    case 'poisson-sampled': {
      // BBG18 Thm 8 (Poisson sampling, add-or-remove relation)
      if (e.q === 0) return { epsilon: 0, delta: 0 };
      const inner = ofEvent(e.event);
      return { epsilon: amplify(e.q, inner.epsilon), delta: e.q * inner.delta };
    }
    case 'sampled-without-replacement': {
      // BBG18 Thm 9 (sampling m of n without replacement, replace-one relation)
      if (e.m === 0) return { epsilon: 0, delta: 0 };
      const q = e.m / e.n;
      const inner = ofEvent(e.event);
      return { epsilon: amplify(q, inner.epsilon), delta: q * inner.delta };
    }
    case 'self-composed': {
      const inner = ofEvent(e.event);
      if (e.count === 0) return { epsilon: 0, delta: 0 };
      return { epsilon: e.count * inner.epsilon, delta: Math.min(1, e.count * inner.delta) };
    }
    case 'composed': {
      let epsilon = 0;
      let delta = 0;
      for (const sub of e.events) {
        const g = ofEvent(sub);
        epsilon += g.epsilon;
        delta += g.delta;
      }
      return { epsilon, delta: Math.min(1, delta) };
    }
  }
}

// ---------- public API ----------

/**
 * Basic composition: running mechanisms that are (ε_i, δ_i)-DP, adaptively,
 * is (Σ ε_i, Σ δ_i)-DP (Dwork and Roth 2014, Thm 3.16). δ is capped at 1.
 * The empty list gives (0, 0).
 *
 * @throws ConfideError E_OVERFLOW when the sum of epsilons is not finite
 */
export function basicComposition(guarantees: readonly EpsilonDelta[]): EpsilonDelta {
  if (!Array.isArray(guarantees)) throw new ConfideError('E_BAD_INPUT', `"guarantees" expected an array of {epsilon, delta}, got ${describe(guarantees)}`, { field: 'guarantees' });
  let epsilon = 0;
  let delta = 0;
  for (let i = 0; i < guarantees.length; i++) {
    const g = aguarantee(guarantees[i], `guarantees[${i}]`);
    epsilon += g.epsilon;
    delta += g.delta;
  }
  return { epsilon: finite(epsilon, 'basicComposition'), delta: Math.min(1, delta) };
}

/**
 * Advanced composition (Dwork, Rothblum and Vadhan 2010, Thm III.3): k
 * adaptive runs of an (ε, δ)-DP mechanism are (ε', kδ + δ')-DP with
 *   ε' = √(2k ln(1/δ')) ε + k ε (e^ε − 1).
 * Where basic composition gives a smaller ε (large ε or small k), its kε is
 * returned instead (it holds with kδ <= kδ + δ'), so the result is never worse
 * than basic composition. δ is capped at 1.
 *
 * @param guarantee the (ε, δ) of one run
 * @param k the number of runs, an integer >= 1
 * @param deltaPrime δ' in (0, 1)
 */
export function advancedComposition(guarantee: EpsilonDelta, k: number, deltaPrime: number): EpsilonDelta {
  const { epsilon, delta } = aguarantee(guarantee, 'guarantee');
  ainteger(k, 'k', 1);
  anumber(deltaPrime, 'deltaPrime', 0, 1, true);
  if (deltaPrime === 1) throw new ConfideError('E_BAD_INPUT', `"deltaPrime" expected a number < 1, got 1`, { field: 'deltaPrime' });
  const basic = finite(k * epsilon, 'advancedComposition');
  const advanced = Math.sqrt(2 * k * -Math.log(deltaPrime)) * epsilon + basic * Math.expm1(epsilon);
  return { epsilon: Math.min(basic, advanced), delta: Math.min(1, k * delta + deltaPrime) };
}

/**
 * The (ε, δ) of an event by basic composition:
 * - epsilon-delta: its (ε, δ); laplace: (Δ/b, 0); discrete-laplace: (aΔ, 0);
 *   randomized-response: (log(k/p − k + 1), 0);
 * - poisson-sampled with rate q: (log(1 + q(e^ε − 1)), qδ) of the inner
 *   event (BBG18 Thm 8, add-or-remove); sampled-without-replacement m of n:
 *   the same with q = m/n (BBG18 Thm 9, replace-one);
 * - self-composed: (count·ε, count·δ); composed: the sums (δ capped at 1).
 *
 * @throws ConfideError E_UNSUPPORTED for Gaussian, discrete-Gaussian and zCDP
 *   events, which have no single (ε, δ); E_OVERFLOW when ε is not finite
 */
export function epsilonDeltaOf(event: PrivacyEvent): EpsilonDelta {
  aevent(event);
  const g = ofEvent(event);
  return { epsilon: finite(g.epsilon, 'epsilonDeltaOf'), delta: g.delta };
}

