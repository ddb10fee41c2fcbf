/**
 * The one error class of confide. Every failure a caller can act on is a
 * `ConfideError` with a stable `code`; the message is for people, the code is
 * for programs. `field` names the offending argument or record when there is one.
 */
export type ConfideErrorCode =
  /** An argument has the wrong type, shape or range. */
  | 'E_BAD_INPUT'
  /** A value does not fit the ring, field or fixed-point range. */
  | 'E_OVERFLOW'
  /** A release would spend more privacy budget than is left. */
  | 'E_BUDGET_EXCEEDED'
  /** A peer broke the protocol, or too few parties remain. */
  | 'E_PROTOCOL'
  /** A deadline passed. */
  | 'E_TIMEOUT'
  /** Bytes from outside (a file, a peer) do not decode: bad version, length or tag. */
  | 'E_DECODE'
  /** A cryptographic check failed: signature, MAC, AEAD tag. */
  | 'E_CRYPTO'
  /** An object was used in a state that does not allow the call (freed, finished). */
  | 'E_STATE'
  /** The platform lacks something required (no CSPRNG, no WebAssembly). */
  | 'E_UNSUPPORTED'
  /** A ledger, file or database could not be read or written. */
  | 'E_IO'
  /** A bug in confide: an invariant that should hold did not. */
  | 'E_INTERNAL';

export interface ConfideErrorOptions {
  field?: string;
  cause?: unknown;
  details?: Record<string, unknown>;
}

export class ConfideError extends Error {
  override readonly name = 'ConfideError';
  readonly code: ConfideErrorCode;
  readonly field: string | undefined;
  readonly details: Record<string, unknown> | undefined;

  constructor(code: ConfideErrorCode, message: string, options: ConfideErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.field = options.field;
    this.details = options.details;
  }
}

export function isConfideError(e: unknown, code?: ConfideErrorCode): e is ConfideError {
  return e instanceof ConfideError && (code === undefined || e.code === code);
}

/** Renders a value for an error message without throwing or printing huge data. */
export function describe(v: unknown): string {
  if (v === null) return 'null';
  switch (typeof v) {
    case 'undefined':
      return 'undefined';
    case 'number':
      return Object.is(v, -0) ? '-0' : String(v);
    case 'bigint':
      return `${v}n`;
    case 'string':
      return JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}…` : v);
    case 'boolean':
      return String(v);
    case 'function':
      return 'function';
    case 'symbol':
      return v.toString();
  }
  if (Array.isArray(v)) return `Array(${v.length})`;
  if (ArrayBuffer.isView(v)) {
    const n = (v as { length?: number }).length ?? v.byteLength;
    return `${v.constructor.name}(${n})`;
  }
  const ctor = (v as object).constructor;
  return ctor && ctor.name && ctor.name !== 'Object' ? ctor.name : 'object';
}
