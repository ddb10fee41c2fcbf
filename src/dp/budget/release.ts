/**
 * Spend, then compute: the order every release must follow. The budget is
 * checked and the spend recorded before `compute` runs, so a refused release
 * never produces a value; the output's hash is then stored in the ledger's
 * `outputs` table, outside the hash chain (the chain is never rewritten).
 * If `compute` throws, the spend stands: the budget is charged for a release
 * that may have touched the data, which errs on the side of privacy.
 */
import { ConfideError, describe } from '../../core/errors.ts';
import { canonicalJson, sha256Hex } from './_canonical.ts';
import type { PrivacyLedger, Receipt, SpendArgs } from './ledger.ts';

/**
 * SHA-256 (hex) of an output: of the bytes for a Uint8Array, else of its
 * canonical JSON (sorted keys; bigints tagged; typed arrays as arrays).
 */
export function outputHash(value: unknown): string {
  if (value instanceof Uint8Array) return sha256Hex(value);
  return sha256Hex(canonicalJson(value, 'output'));
}

export interface Released<T> {
  readonly value: T;
  readonly receipt: Receipt;
  readonly outputHash: string;
}

export async function release<T>(
  ledger: PrivacyLedger,
  args: Omit<SpendArgs, 'outputHash'>,
  compute: (receipt: Receipt) => T | Promise<T>,
): Promise<Released<T>> {
  if (typeof ledger !== 'object' || ledger === null || typeof (ledger as { spend?: unknown }).spend !== 'function')
    throw new ConfideError('E_BAD_INPUT', `"ledger" expected a PrivacyLedger, got ${describe(ledger)}`, { field: 'ledger' });
  if (typeof compute !== 'function')
    throw new ConfideError('E_BAD_INPUT', `"compute" expected a function, got ${describe(compute)}`, { field: 'compute' });
  if (typeof args === 'object' && args !== null && 'outputHash' in args)
    throw new ConfideError('E_BAD_INPUT', '"args.outputHash" is computed by release(); leave it out', { field: 'args.outputHash' });
  const receipt = ledger.spend(args as SpendArgs);
  const value = await compute(receipt);
  const hash = outputHash(value);
  ledger.recordOutput(receipt.id, hash);
  return { value, receipt, outputHash: hash };
}
