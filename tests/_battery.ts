/**
 * The type-confusion battery (CONVENTIONS.md): every public function must
 * answer hostile arguments with a ConfideError, never a TypeError, a hang or
 * a garbage result. Modules call `confusionFailures` for each public function
 * with a list of valid arguments; each argument is replaced in turn by each
 * value below. A value that is valid in some position is listed in `accept`.
 */
import { ConfideError } from '../src/core/errors.ts';

const fakeBytes = { length: 32, byteLength: 32, BYTES_PER_ELEMENT: 1, 0: 1, constructor: { name: 'Uint8Array' } };

export const CONFUSION_VALUES: ReadonlyArray<readonly [string, () => unknown]> = [
  ['NaN', () => NaN],
  ['Infinity', () => Infinity],
  ['-Infinity', () => -Infinity],
  ['-0', () => -0],
  ['negative', () => -1],
  ['fraction', () => 0.5],
  ['huge', () => 2 ** 64],
  ['bigint', () => 1n],
  ['fake Uint8Array', () => ({ ...fakeBytes })],
  ['Uint16Array', () => new Uint16Array(32)],
  ['plain array', () => [1, 2, 3]],
  ['null', () => null],
  ['undefined', () => undefined],
  ['string', () => '1'],
  ['object', () => ({})],
  ['boolean', () => true],
  ['symbol', () => Symbol('confused')],
];

export type ConfusionName = (typeof CONFUSION_VALUES)[number][0];

export interface BatteryOptions {
  /** Per argument index, the confusion values that are valid there. */
  accept?: Record<number, readonly string[]>;
}

/**
 * Runs the battery and returns one line per argument/value pair that did not
 * throw a ConfideError (empty when the function is sound). The function is
 * first called with the valid arguments, which must succeed, so the battery
 * cannot pass vacuously.
 */
export async function confusionFailures(
  name: string,
  fn: (...args: any[]) => unknown,
  validArgs: () => unknown[],
  options: BatteryOptions = {},
): Promise<string[]> {
  const failures: string[] = [];
  try {
    await fn(...validArgs());
  } catch (e) {
    return [`${name}: the valid arguments throw ${String(e)}`];
  }
  const n = validArgs().length;
  for (let i = 0; i < n; i++) {
    for (const [label, make] of CONFUSION_VALUES) {
      if (options.accept?.[i]?.includes(label)) continue;
      const args = validArgs();
      args[i] = make();
      try {
        const r = await fn(...args);
        failures.push(`${name} arg ${i} = ${label}: returned ${typeof r}`);
      } catch (e) {
        if (!(e instanceof ConfideError))
          failures.push(`${name} arg ${i} = ${label}: threw ${(e as Error)?.name ?? typeof e}: ${(e as Error)?.message}`);
      }
    }
  }
  return failures;
}

/** The ConfideError that `fn` throws; fails the test if it throws anything else or nothing. */
export function thrown(fn: () => unknown): ConfideError {
  try {
    fn();
  } catch (e) {
    if (e instanceof ConfideError) return e;
    throw new Error(`expected a ConfideError, got ${String(e)}`);
  }
  throw new Error('expected a ConfideError, nothing was thrown');
}
