/**
 * Model state as named Float32Array tensors: any model whose parameters are
 * a fixed set of float arrays can be trained, and the tensors travel raw over
 * the party runtime. Arithmetic here accumulates in Float64 and rounds once
 * to Float32 at the end, so the order of clients changes a result by at most
 * one rounding of the final value.
 */
import { astring } from '../core/assert.ts';
import { ConfideError, describe } from '../core/errors.ts';

/** A model's parameters (or an update to them): tensor name → values. */
export type Tensors = Record<string, Float32Array>;

/** Longest tensor name accepted (names travel in message headers and JSON). */
const MAX_NAME = 200;

function bad(field: string, expected: string, got: unknown): never {
  throw new ConfideError('E_BAD_INPUT', `"${field}" expected ${expected}, got ${describe(got)}`, { field });
}

/**
 * Checks that `v` is a non-empty record of finite Float32Arrays and returns
 * it typed. With `like`, the names and lengths must match `like`'s exactly.
 */
export function atensors(v: unknown, field: string, like?: Tensors): Tensors {
  const o = atensorShape(v, field, like);
  for (const name of Object.keys(o)) {
    const t = o[name];
    if (!allFinite(t)) {
      let i = 0;
      while (Number.isFinite(t[i])) i++;
      bad(`${field}.${name}[${i}]`, 'a finite number', t[i]);
    }
  }
  return o;
}

/** `atensors` without the finiteness check: a record of Float32Arrays (shaped like `like`, when given). */
export function atensorShape(v: unknown, field: string, like?: Tensors): Tensors {
  if (typeof v !== 'object' || v === null || Array.isArray(v) || ArrayBuffer.isView(v)) bad(field, 'a record of Float32Array tensors', v);
  const o = v as Record<string, unknown>;
  const names = Object.keys(o);
  if (names.length === 0) bad(field, 'at least one tensor', v);
  for (const name of names) {
    if (name.length === 0 || name.length > MAX_NAME) bad(`${field}`, `tensor names of 1 to ${MAX_NAME} chars`, name);
    const t = o[name];
    if (!(t instanceof Float32Array)) bad(`${field}.${name}`, 'a Float32Array', t);
  }
  if (like !== undefined) {
    const want = Object.keys(like);
    if (want.length !== names.length) bad(field, `the tensors ${want.join(', ')}`, `${names.length} tensors (${names.join(', ')})`);
    for (const name of want) {
      const t = o[name];
      if (!(t instanceof Float32Array)) bad(`${field}.${name}`, 'a Float32Array', t);
      if (t.length !== like[name].length) bad(`${field}.${name}`, `length ${like[name].length}`, `length ${t.length}`);
    }
  }
  return o as Tensors;
}

/**
 * True when every value is finite. One pass without a branch per element
 * (x·0 is 0 for finite x and NaN for ±Infinity and NaN, and NaN sticks in the
 * sum); the index of the culprit is looked for only on failure.
 */
function allFinite(t: Float32Array): boolean {
  let s = 0;
  for (let i = 0; i < t.length; i++) s += t[i] * 0;
  return s === 0;
}

/** A deep copy. */
export function cloneTensors(t: Tensors): Tensors {
  atensors(t, 't');
  const out: Tensors = {};
  for (const name of Object.keys(t)) out[name] = t[name].slice();
  return out;
}

/** Zeros with the shape of `like`. */
export function zerosLike(like: Tensors): Tensors {
  atensors(like, 'like');
  const out: Tensors = {};
  for (const name of Object.keys(like)) out[name] = new Float32Array(like[name].length);
  return out;
}

/** a - b, tensor by tensor (the update a client sends: local weights minus global). */
export function subtractTensors(a: Tensors, b: Tensors): Tensors {
  atensors(a, 'a');
  atensors(b, 'b', a);
  const out: Tensors = {};
  for (const name of Object.keys(a)) {
    const x = a[name], y = b[name], z = new Float32Array(x.length);
    for (let i = 0; i < x.length; i++) z[i] = x[i] - y[i];
    out[name] = z;
  }
  return out;
}

/** The L2 norm over all tensors together. */
export function l2Norm(t: Tensors): number {
  atensors(t, 't');
  let s = 0;
  for (const name of Object.keys(t)) {
    const x = t[name];
    for (let i = 0; i < x.length; i++) s += x[i] * x[i];
  }
  return Math.sqrt(s);
}

/** Total number of parameters. */
export function parameterCount(t: Tensors): number {
  atensors(t, 't');
  let n = 0;
  for (const name of Object.keys(t)) n += t[name].length;
  return n;
}

/** The tensors laid end to end in name order of `like` (Float64 for accumulation). */
export function flatten(t: Tensors, names: readonly string[]): Float64Array {
  let n = 0;
  for (const name of names) n += t[name].length;
  const out = new Float64Array(n);
  let off = 0;
  for (const name of names) {
    // Float32 → Float64 is exact; the engine's typed-array copy converts without a JS loop.
    out.set(t[name], off);
    off += t[name].length;
  }
  return out;
}

/** The inverse of `flatten`, rounding to Float32. */
export function unflatten(v: Float64Array, like: Tensors): Tensors {
  const out: Tensors = {};
  let off = 0;
  for (const name of Object.keys(like)) {
    const n = like[name].length;
    // Rounds each value to nearest float32, as Float32Array.from does, without an iterator.
    const x = new Float32Array(n);
    x.set(v.subarray(off, off + n));
    out[name] = x;
    off += n;
  }
  if (off !== v.length) throw new ConfideError('E_INTERNAL', `flat vector of ${v.length} for ${off} parameters`);
  return out;
}

// ---------------------------------------------------------------------------
// JSON form: every tensor as base64 of its little-endian bytes, so a restore
// gives back the exact same floats (decimal text would round-trip too, but at
// three times the size).

/** JSON form of tensors: name → base64 of little-endian float32 bytes. */
export type TensorsJson = Record<string, string>;

const LITTLE_ENDIAN = new Uint8Array(Uint32Array.of(1).buffer)[0] === 1;

function bytesOf(x: Float32Array): Uint8Array {
  const b = new Uint8Array(x.buffer, x.byteOffset, x.byteLength).slice();
  if (!LITTLE_ENDIAN) for (let i = 0; i < b.length; i += 4) b.subarray(i, i + 4).reverse();
  return b;
}

export function tensorsToJson(t: Tensors): TensorsJson {
  atensors(t, 't');
  const out: TensorsJson = {};
  for (const name of Object.keys(t)) out[name] = Buffer.from(bytesOf(t[name])).toString('base64');
  return out;
}

export function tensorsFromJson(v: unknown, field = 'tensors'): Tensors {
  astring(field, 'field', MAX_NAME);
  if (typeof v !== 'object' || v === null || Array.isArray(v)) bad(field, 'an object of base64 tensors', v);
  const out: Tensors = {};
  for (const [name, s] of Object.entries(v as Record<string, unknown>)) {
    if (typeof s !== 'string' || !/^[A-Za-z0-9+/]*={0,2}$/.test(s)) bad(`${field}.${name}`, 'a base64 string', s);
    const b = new Uint8Array(Buffer.from(s, 'base64'));
    if (b.length % 4 !== 0) throw new ConfideError('E_DECODE', `"${field}.${name}" is ${b.length} bytes, not a whole number of float32s`, { field: `${field}.${name}` });
    if (!LITTLE_ENDIAN) for (let i = 0; i < b.length; i += 4) b.subarray(i, i + 4).reverse();
    out[name] = new Float32Array(b.buffer, b.byteOffset, b.length / 4);
  }
  return atensors(out, field);
}
