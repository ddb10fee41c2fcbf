/**
 * The privacy budget ledger: per-dataset budgets, an atomic check-and-spend
 * that is a privacy filter across processes, an odometer, and a
 * tamper-evident hash chain of every release (see ledger.ts for which
 * accounting methods are valid filters for adaptively chosen releases).
 */
export {
  LEDGER_SCHEMA_VERSION,
  PrivacyLedger,
  type Budget,
  type DatasetBudget,
  type LedgerRecord,
  type Odometer,
  type OpenOptions,
  type ProblemKind,
  type Receipt,
  type SetBudgetOptions,
  type SpendArgs,
  type VerifyResult,
} from './ledger.ts';
export { outputHash, release, type Released } from './release.ts';
