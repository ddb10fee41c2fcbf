/**
 * Canonical serialisation and SHA-256 for the ledger's hash chain: JSON with
 * object keys sorted at every level, so that the same record always hashes
 * to the same bytes whatever order its fields were built in.
 */
import { ConfideError, describe } from '../../core/errors.ts';

type NodeCrypto = typeof import('node:crypto');

let crypto: NodeCrypto | undefined;

function nodeCrypto(): NodeCrypto {
  if (crypto === undefined) {
    const p = (globalThis as { process?: { getBuiltinModule?: (id: string) => unknown } }).process;
    crypto = p?.getBuiltinModule?.('node:crypto') as NodeCrypto | undefined;
    if (crypto === undefined) throw new ConfideError('E_UNSUPPORTED', 'the privacy ledger needs node:crypto (Node 22.13 or later)');
  }
  return crypto;
}

/**
 * JSON with sorted keys. Numbers must be finite; bigints are written as
 * decimal strings tagged `{"$bigint": "…"}`; typed arrays as arrays of their
 * elements (bigint elements as above). Anything else (functions, symbols,
 * undefined inside arrays) is refused with E_BAD_INPUT.
 */
export function canonicalJson(v: unknown, field = 'value', depth = 0): string {
  if (depth > 64) throw new ConfideError('E_BAD_INPUT', `"${field}" nests more than 64 levels`, { field });
  if (v === null) return 'null';
  switch (typeof v) {
    case 'number':
      if (!Number.isFinite(v)) throw new ConfideError('E_BAD_INPUT', `"${field}" expected finite numbers, got ${describe(v)}`, { field });
      return JSON.stringify(v);
    case 'string':
    case 'boolean':
      return JSON.stringify(v);
    case 'bigint':
      return `{"$bigint":${JSON.stringify(v.toString())}}`;
    case 'object': {
      if (ArrayBuffer.isView(v) && !(v instanceof DataView)) {
        const items = Array.from(v as unknown as ArrayLike<number | bigint>, (x) => canonicalJson(x, field, depth + 1));
        return `[${items.join(',')}]`;
      }
      if (Array.isArray(v)) return `[${v.map((x) => canonicalJson(x, field, depth + 1)).join(',')}]`;
      const proto = Object.getPrototypeOf(v);
      if (proto !== Object.prototype && proto !== null)
        throw new ConfideError('E_BAD_INPUT', `"${field}" expected plain data, got ${describe(v)}`, { field });
      const o = v as Record<string, unknown>;
      const keys = Object.keys(o).filter((k) => o[k] !== undefined).sort();
      return `{${keys.map((k) => `${JSON.stringify(k)}:${canonicalJson(o[k], field, depth + 1)}`).join(',')}}`;
    }
    default:
      throw new ConfideError('E_BAD_INPUT', `"${field}" expected plain data, got ${describe(v)}`, { field });
  }
}

/** SHA-256 of a UTF-8 string or of bytes, as lowercase hex. */
export function sha256Hex(data: string | Uint8Array): string {
  return nodeCrypto().createHash('sha256').update(data).digest('hex');
}
