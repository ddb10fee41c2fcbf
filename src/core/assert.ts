/**
 * Argument checks in the style of noble's `abytes`/`anumber`: the fast path
 * does one or two comparisons and allocates nothing; a message is built only
 * when the check fails. Each throws `ConfideError('E_BAD_INPUT')` naming the field.
 */
import { ConfideError, describe } from './errors.ts';

function fail(field: string, expected: string, got: unknown): never {
  throw new ConfideError('E_BAD_INPUT', `"${field}" expected ${expected}, got ${describe(got)}`, {
    field,
  });
}

/** A finite number in [min, max] (bounds inclusive unless `exclusiveMin`). */
export function anumber(
  v: unknown,
  field: string,
  min = -Infinity,
  max = Infinity,
  exclusiveMin = false,
): number {
  if (
    typeof v !== 'number' ||
    !Number.isFinite(v) ||
    v > max ||
    (exclusiveMin ? v <= min : v < min)
  ) {
    let range = '';
    if (min !== -Infinity) range += exclusiveMin ? ` > ${min}` : ` >= ${min}`;
    if (max !== Infinity) range += `${range ? ' and' : ''} <= ${max}`;
    fail(field, `a finite number${range}`, v);
  }
  return v;
}

/** A finite number > 0. */
export function apositive(v: unknown, field: string): number {
  return anumber(v, field, 0, Infinity, true);
}

/** A safe integer in [min, max]; -0 is refused so that sign mistakes surface. */
export function ainteger(
  v: unknown,
  field: string,
  min = 0,
  max = Number.MAX_SAFE_INTEGER,
): number {
  if (!Number.isSafeInteger(v) || (v as number) < min || (v as number) > max || Object.is(v, -0))
    fail(field, `an integer in [${min}, ${max}]`, v);
  return v as number;
}

/** A bigint in [min, max] (either bound may be omitted). */
export function abigint(v: unknown, field: string, min?: bigint, max?: bigint): bigint {
  if (typeof v !== 'bigint' || (min !== undefined && v < min) || (max !== undefined && v > max)) {
    const range =
      min !== undefined && max !== undefined
        ? ` in [${min}, ${max}]`
        : min !== undefined
          ? ` >= ${min}`
          : max !== undefined
            ? ` <= ${max}`
            : '';
    fail(field, `a bigint${range}`, v);
  }
  return v;
}

export function aboolean(v: unknown, field: string): boolean {
  if (typeof v !== 'boolean') fail(field, 'a boolean', v);
  return v;
}

export function astring(v: unknown, field: string, maxLength = Number.MAX_SAFE_INTEGER): string {
  if (typeof v !== 'string' || v.length > maxLength)
    fail(field, maxLength === Number.MAX_SAFE_INTEGER ? 'a string' : `a string of at most ${maxLength} chars`, v);
  return v;
}

export function aoneof<T>(v: unknown, field: string, allowed: readonly T[]): T {
  if (!allowed.includes(v as T)) fail(field, `one of ${allowed.map(describe).join(', ')}`, v);
  return v as T;
}

/** True for real Uint8Arrays (Buffers included), also across realms. */
export function isBytes(v: unknown): v is Uint8Array {
  return (
    v instanceof Uint8Array || (ArrayBuffer.isView(v) && v.constructor.name === 'Uint8Array')
  );
}

/** A Uint8Array, of exactly `length` bytes when given. */
export function abytes(v: unknown, field: string, length?: number): Uint8Array {
  if (!isBytes(v) || (length !== undefined && v.length !== length))
    fail(field, length === undefined ? 'a Uint8Array' : `a Uint8Array of ${length} bytes`, v);
  return v;
}

type TypedArrayCtor =
  | Uint8ArrayConstructor
  | Int8ArrayConstructor
  | Uint16ArrayConstructor
  | Int16ArrayConstructor
  | Uint32ArrayConstructor
  | Int32ArrayConstructor
  | Float32ArrayConstructor
  | Float64ArrayConstructor
  | BigInt64ArrayConstructor
  | BigUint64ArrayConstructor;

/** An instance of exactly one of the given typed-array classes (not a look-alike). */
export function atyped<C extends TypedArrayCtor[]>(
  v: unknown,
  field: string,
  ...ctors: C
): InstanceType<C[number]> {
  if (ArrayBuffer.isView(v)) {
    for (const c of ctors)
      if (v instanceof c || v.constructor.name === c.name) return v as InstanceType<C[number]>;
  }
  return fail(field, ctors.map((c) => c.name).join(' or '), v);
}

/** Two views of equal length; names both fields in the message. */
export function asameLength(
  a: { length: number },
  b: { length: number },
  fieldA: string,
  fieldB: string,
): void {
  if (a.length !== b.length)
    throw new ConfideError(
      'E_BAD_INPUT',
      `"${fieldB}" expected length ${a.length} (the length of "${fieldA}"), got ${b.length}`,
      { field: fieldB },
    );
}

/**
 * An options bag: undefined (meaning defaults) or an object whose keys are all
 * in `keys`, so that a misspelt option fails instead of being ignored.
 */
export function aoptions<T extends object>(
  v: T | undefined,
  field: string,
  keys: readonly string[],
): T | undefined {
  if (v === undefined) return v;
  if (typeof v !== 'object' || v === null || Array.isArray(v) || ArrayBuffer.isView(v))
    fail(field, 'an options object or undefined', v);
  for (const k in v)
    if (!keys.includes(k))
      throw new ConfideError(
        'E_BAD_INPUT',
        `"${field}" has unknown option ${JSON.stringify(k)}; known: ${keys.join(', ')}`,
        { field: `${field}.${k}` },
      );
  return v;
}

/** A plain object (not null, not an array). */
export function aobject(v: unknown, field: string): Record<string, unknown> {
  if (typeof v !== 'object' || v === null || Array.isArray(v) || ArrayBuffer.isView(v))
    fail(field, 'an object', v);
  return v as Record<string, unknown>;
}
