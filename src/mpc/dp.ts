/**
 * Differentially private release of an opened MPC statistic: each party adds
 * its own noise share to its share before opening, after spending from its
 * own PrivacyLedger (`release` in confide/dp: the spend is recorded before
 * anything leaves the party, so a refused spend opens nothing).
 *
 * - `laplace`: every party adds a full discrete Laplace sample of scale Δ₁/ε
 *   per coordinate (Canonne, Kamath and Steinke 2020 sampler). Each party's
 *   noise alone makes the release ε-DP, so the guarantee holds against any
 *   coalition of the other parties; the price is N times the variance.
 * - `gaussian`: every party adds a discrete Gaussian of variance σ²/h, with
 *   σ² = Δ₂²/(2ρ) and h = N − colluders the parties trusted not to collude;
 *   the sum of the h honest shares is ρ'-zCDP with ρ' from the distributed
 *   discrete Gaussian bound (Kairouz, Liu and Steinke 2021, as in secagg),
 *   slightly above ρ; ρ' is what the ledger is charged.
 *
 * Sensitivities are in encoded units (the statistic's fixed-point scale) for
 * adding or removing one row. With several coordinates of different
 * sensitivity (`split`), the budget is divided evenly between them
 * (sequential composition); with `joint`, one mechanism covers the vector
 * with its L1 (Laplace) or L2 (Gaussian) sensitivity.
 *
 * On a MAC'd session (SpdzSession) a party cannot add noise to its share
 * alone (its MAC share would no longer match): each party inputs its noise
 * vector as a MAC'd value (one more input round, masks from its store), the
 * noise sharings are added to the statistic, and the sum is released by the
 * checked `output`. A party that drops or changes another's noise is caught
 * by the MAC check like any wrong opening; the size of a party's own noise
 * is not checked (MACs authenticate values, not their distribution), which
 * is what `colluders` (Gaussian) or the per-party full noise (Laplace)
 * already allows for.
 */
import { aoptions, anumber, ainteger, astring } from '../core/assert.ts';
import { ConfideError, describe } from '../core/errors.ts';
import { arng, systemRng, type Rng } from '../core/random.ts';
import { PrivacyLedger, discreteGaussianSampler, discreteLaplaceSampler, release, type PrivacyEvent, type Receipt } from '../dp/index.ts';
import { distributedGaussianRho } from '../secagg/index.ts';
import { MpcParty, Shared } from './party.ts';
import { AuthShared, SpdzSession } from './spdz.ts';

export interface MpcDpOptions {
  ledger: PrivacyLedger;
  dataset: string;
  principal: string;
  purpose?: string;
  mechanism: 'laplace' | 'gaussian';
  /** Laplace: ε of the whole release. */
  epsilon?: number;
  /** Gaussian: target ρ (zCDP) of the whole release. */
  rho?: number;
  /** Gaussian: how many parties may collude (their noise is not counted); default 0. */
  colluders?: number;
  rng?: Rng;
}

const DP_KEYS = ['ledger', 'dataset', 'principal', 'purpose', 'mechanism', 'epsilon', 'rho', 'colluders', 'rng'];

export interface NoisyOpened {
  values: BigUint64Array;
  receipt: Receipt;
  event: PrivacyEvent;
}

export function checkDp(dp: unknown, parties: number): MpcDpOptions {
  const o = aoptions(dp as MpcDpOptions, 'dp', DP_KEYS);
  if (o === undefined) throw new ConfideError('E_BAD_INPUT', '"dp" expected options', { field: 'dp' });
  if (!(o.ledger instanceof PrivacyLedger)) throw new ConfideError('E_BAD_INPUT', `"dp.ledger" expected a PrivacyLedger, got ${describe(o.ledger)}`, { field: 'dp.ledger' });
  astring(o.dataset, 'dp.dataset', 1024);
  astring(o.principal, 'dp.principal', 1024);
  if (o.purpose !== undefined) astring(o.purpose, 'dp.purpose', 4096);
  if (o.mechanism === 'laplace') anumber(o.epsilon, 'dp.epsilon', 0, 100, true);
  else if (o.mechanism === 'gaussian') {
    anumber(o.rho, 'dp.rho', 0, 100, true);
    ainteger(o.colluders ?? 0, 'dp.colluders', 0, parties - 1);
  } else throw new ConfideError('E_BAD_INPUT', `"dp.mechanism" expected 'laplace' or 'gaussian', got ${describe(o.mechanism)}`, { field: 'dp.mechanism' });
  if (o.rng !== undefined) arng(o.rng, 'dp.rng');
  return o;
}

/**
 * Spends, then opens `a` with this party's noise share added. `sensitivity`
 * gives each coordinate's sensitivity (integers ≥ 1, encoded units) for
 * `split`, or one entry for the whole vector for `joint`. On a SpdzSession
 * (with `a` an AuthShared) the noise shares are MAC'd inputs and the release
 * is the checked `output` (see the file comment); a failed check is
 * E_CRYPTO, after the spend, with no value.
 */
export async function openNoisy(mpc: MpcParty, a: Shared, sensitivity: readonly number[], mode: 'split' | 'joint', dpOptions: MpcDpOptions, query: string): Promise<NoisyOpened>;
export async function openNoisy(session: SpdzSession, a: AuthShared, sensitivity: readonly number[], mode: 'split' | 'joint', dpOptions: MpcDpOptions, query: string): Promise<NoisyOpened>;
export async function openNoisy(mpc: MpcParty | SpdzSession, a: Shared | AuthShared, sensitivity: readonly number[], mode: 'split' | 'joint', dpOptions: MpcDpOptions, query: string): Promise<NoisyOpened> {
  const mac = mpc instanceof SpdzSession;
  if (!mac && !(mpc instanceof MpcParty)) throw new ConfideError('E_BAD_INPUT', `"mpc" expected an MpcParty or a SpdzSession, got ${describe(mpc)}`, { field: 'mpc' });
  // Checked before the spend, so that a wrong argument costs no budget.
  if (mac ? !(a instanceof AuthShared) : !(a instanceof Shared)) throw new ConfideError('E_BAD_INPUT', `"a" expected ${mac ? 'an AuthShared' : 'a Shared vector'}, got ${describe(a)}`, { field: 'a' });
  if (!Array.isArray(sensitivity)) throw new ConfideError('E_BAD_INPUT', `"sensitivity" expected an array of integers, got ${describe(sensitivity)}`, { field: 'sensitivity' });
  if (mode !== 'split' && mode !== 'joint') throw new ConfideError('E_BAD_INPUT', `"mode" expected 'split' or 'joint', got ${describe(mode)}`, { field: 'mode' });
  astring(query, 'query', 4096);
  const parties = mac ? mpc.mpc.parties.length : mpc.parties.length;
  const dp = checkDp(dpOptions, parties);
  const n = a.length;
  if (mac)
    for (let owner = 0; owner < parties; owner++)
      if (mpc.store.masksRemaining(owner) < n)
        throw new ConfideError('E_STATE', `the store has ${mpc.store.masksRemaining(owner)} input masks for party ${owner}, ${n} needed for the noise shares`, { field: 'store', details: { owner, need: n, have: mpc.store.masksRemaining(owner) } });
  const groups = mode === 'joint' ? [{ coords: Array.from({ length: n }, (_, i) => i), delta: sensitivity[0] }] : sensitivity.map((d, i) => ({ coords: [i], delta: d }));
  if (mode === 'split' && sensitivity.length !== n) throw new ConfideError('E_INTERNAL', 'one sensitivity per coordinate expected');
  for (const g of groups) ainteger(g.delta, 'sensitivity', 1);
  const k = groups.length;
  const rng = dp.rng ?? systemRng();
  const noise = new BigUint64Array(n);
  const events: PrivacyEvent[] = [];
  for (const g of groups) {
    if (dp.mechanism === 'laplace') {
      const eps = dp.epsilon! / k;
      const scale = g.delta / eps;
      const s = discreteLaplaceSampler(scale);
      for (const i of g.coords) noise[i] = BigInt.asUintN(64, BigInt(s.sample(rng)));
      events.push({ type: 'discrete-laplace', a: 1 / scale, sensitivity: g.delta });
    } else {
      const honest = parties - (dp.colluders ?? 0);
      const sigma2 = (g.delta * g.delta) / (2 * (dp.rho! / k));
      const v = Math.ceil(sigma2 / honest);
      const s = discreteGaussianSampler(v);
      for (const i of g.coords) noise[i] = BigInt.asUintN(64, BigInt(s.sample(rng)));
      events.push({ type: 'zcdp', rho: distributedGaussianRho({ clientVariance: v, sensitivity: g.delta, survivors: honest, dimension: g.coords.length }) });
    }
  }
  const event: PrivacyEvent = events.length === 1 ? events[0] : { type: 'composed', events };
  const r = await release(
    dp.ledger,
    { dataset: dp.dataset, event, principal: dp.principal, purpose: dp.purpose ?? `MPC release with ${dp.mechanism} noise shares from ${parties} parties${mac ? ' (MAC-checked)' : ''}`, query },
    async () => {
      if (!mac) return (mpc as MpcParty).open(a as Shared, noise);
      const s = mpc as SpdzSession;
      return s.output(s.add(a as AuthShared, s.sum(await s.inputAll(noise))));
    },
  );
  return { values: r.value, receipt: r.receipt, event };
}
