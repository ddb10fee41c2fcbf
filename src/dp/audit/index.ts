/**
 * confide/dp/audit: empirical privacy audits. `auditMechanism` bounds ε from
 * below with Clopper–Pearson intervals on a held-out threshold or set test
 * (Jagielski et al. 2020; DP-Sniper, Bichsel et al. 2021); `statDpTest` is
 * the hypothesis test of StatDP (Ding et al. 2018). Both can refute a privacy
 * claim, never prove one.
 */
import { ainteger } from '../../core/assert.ts';
import { clopperPearson as cp } from './_beta.ts';
import { aconfidence } from './audit.ts';

export {
  auditMechanism,
  type AuditEvent,
  type AuditOptions,
  type AuditResult,
  type AuditTest,
  type AuditTestKind,
  type Outcome,
} from './audit.ts';
export { statDpTest, type StatDpOptions, type StatDpResult } from './statdp.ts';

/**
 * The exact (Clopper–Pearson) two-sided interval for a binomial proportion
 * after `successes` in `trials`, at `confidence` (default 0.95).
 */
export function clopperPearson(successes: number, trials: number, confidence = 0.95): [number, number] {
  ainteger(trials, 'trials', 1);
  ainteger(successes, 'successes', 0, trials);
  return cp(successes, trials, aconfidence(confidence));
}
