/** Command-line flag helpers shared by the sub-commands. */
import { ConfideError } from '../core/errors.ts';

/** A numeric flag, or undefined when absent; anything but a finite number is E_BAD_INPUT. */
export function numberFlag(v: string | undefined, flag: string): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (v.trim() === '' || !Number.isFinite(n))
    throw new ConfideError('E_BAD_INPUT', `"--${flag}" expected a number, got ${JSON.stringify(v)}`, { field: flag });
  return n;
}
