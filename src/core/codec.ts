/**
 * Binary codec for protocol messages: a small header of scalar fields plus raw
 * typed-array payloads. The party runtime chunks, signs and sends these frames,
 * and decodes frames from peers, so decoding must survive hostile bytes.
 *
 * # Format, version 1 (normative)
 *
 * All integers are little-endian. Offsets are from the first byte of the frame.
 *
 * ```
 * offset  size  field
 *      0     2  magic: 0x43 0x46 ("CF")
 *      2     1  version u8 = 1
 *      3     1  flags u8 = 0 (any other value is rejected)
 *      4     4  H: header byte length u32
 *      8     4  P: payload count u32
 *     12     4  T: total frame length u32, equal to the byte count of the frame
 *     16     H  header entries
 *   16+H   8*P  payload table, one 8-byte entry per payload
 *           ... payload data, each payload preceded by 0..7 zero bytes
 * ```
 *
 * Header entry:
 *
 * ```
 *   key length u8 (1..255) | key (UTF-8) | type tag u8 | value
 *
 *   tag  type     value                                   JS value
 *     1  f64      8 bytes IEEE 754 binary64, finite       number (NaN, ±Infinity rejected)
 *     2  u64      8 bytes unsigned                        bigint in [0, 2^64)
 *     3  i64      8 bytes two's complement, negative      bigint in [-(2^63), 0)
 *     4  string   length u32 | UTF-8 bytes                string
 *     5  bool     1 byte: 0 or 1                          boolean
 *     6  bytes    length u32 | raw bytes                  Uint8Array
 * ```
 *
 * Entries are sorted by the bytes of their UTF-8 keys (unsigned lexicographic
 * order, which is also Unicode code point order), keys are unique, and the
 * entries fill exactly H bytes.
 *
 * Payload table entry: dtype tag u8 | three zero bytes | byte length u32.
 *
 * ```
 *   tag  dtype          tag  dtype
 *     1  Uint8Array       6  Int32Array
 *     2  Int8Array        7  Float32Array
 *     3  Uint16Array      8  Float64Array
 *     4  Int16Array       9  BigInt64Array
 *     5  Uint32Array     10  BigUint64Array
 * ```
 *
 * The byte length is a multiple of the element size. Payload data follow the
 * table in table order; each payload's data start at the first offset that is
 * a multiple of 8 and not before the end of the previous payload (or of the
 * table), the gap being zero bytes. The frame ends at the last payload's last
 * byte (after the table when P = 0). Elements are stored little-endian.
 *
 * The encoding is canonical: every message has exactly one encoding, and the
 * decoder accepts only that one (sorted unique keys, the tag a value requires,
 * zero padding and reserved bytes, no trailing bytes). So equal messages give
 * equal bytes, which signatures need, and `encodeMessage(decodeMessage(b))`
 * returns `b` for every `b` that decodes.
 *
 * # What decode returns
 *
 * The header is an object with a null prototype, so a peer's `__proto__` key
 * is plain data. Header byte values are copies. Payloads are views into the
 * input's buffer when their start is aligned to their element size there
 * (always for 1-byte dtypes); otherwise copies. A view aliases the input:
 * writes to one show in the other.
 */
import { ConfideError, describe } from './errors.ts';
import { ainteger, aoptions } from './assert.ts';

export const CODEC_VERSION = 1;

/** number: a finite float64 (safe integers included); bigint: in [-(2^63), 2^64). */
export type HeaderValue = number | bigint | string | boolean | Uint8Array;

export type Payload =
  | Uint8Array
  | Int8Array
  | Uint16Array
  | Int16Array
  | Uint32Array
  | Int32Array
  | Float32Array
  | Float64Array
  | BigInt64Array
  | BigUint64Array;

export interface Message {
  header: Record<string, HeaderValue>;
  payloads: Payload[];
}

/** Bounds the decoder enforces before it trusts any length. */
export interface DecodeLimits {
  /** Largest whole frame, in bytes. Default 64 MiB. */
  maxBytes?: number;
  /** Largest header section (H), in bytes. Default 64 KiB. */
  maxHeaderBytes?: number;
  /** Most payloads in one frame. Default 1024. */
  maxPayloads?: number;
  /** Largest single payload, in bytes. Default 64 MiB. */
  maxPayloadBytes?: number;
}

const DEFAULT_LIMITS: Required<DecodeLimits> = {
  maxBytes: 64 * 1024 * 1024,
  maxHeaderBytes: 64 * 1024,
  maxPayloads: 1024,
  maxPayloadBytes: 64 * 1024 * 1024,
};

const MAGIC_0 = 0x43; // 'C'
const MAGIC_1 = 0x46; // 'F'
const PREFIX_BYTES = 16;
const TABLE_ENTRY_BYTES = 8;
const MAX_KEY_BYTES = 255;
const U32_MAX = 0xffffffff;

const TAG_F64 = 1;
const TAG_U64 = 2;
const TAG_I64 = 3;
const TAG_STRING = 4;
const TAG_BOOL = 5;
const TAG_BYTES = 6;

const I64_MIN = -(1n << 63n);
const U64_END = 1n << 64n;

type PayloadCtor = new (buffer: ArrayBufferLike, byteOffset: number, length: number) => Payload;

interface Dtype {
  readonly tag: number;
  readonly name: string;
  readonly ctor: PayloadCtor;
  readonly size: number;
}

const DTYPE_LIST: readonly Dtype[] = [
  { tag: 1, name: 'Uint8Array', ctor: Uint8Array, size: 1 },
  { tag: 2, name: 'Int8Array', ctor: Int8Array, size: 1 },
  { tag: 3, name: 'Uint16Array', ctor: Uint16Array, size: 2 },
  { tag: 4, name: 'Int16Array', ctor: Int16Array, size: 2 },
  { tag: 5, name: 'Uint32Array', ctor: Uint32Array, size: 4 },
  { tag: 6, name: 'Int32Array', ctor: Int32Array, size: 4 },
  { tag: 7, name: 'Float32Array', ctor: Float32Array, size: 4 },
  { tag: 8, name: 'Float64Array', ctor: Float64Array, size: 8 },
  { tag: 9, name: 'BigInt64Array', ctor: BigInt64Array, size: 8 },
  { tag: 10, name: 'BigUint64Array', ctor: BigUint64Array, size: 8 },
];
const DTYPE_BY_TAG: readonly (Dtype | undefined)[] = DTYPE_LIST.reduce<(Dtype | undefined)[]>(
  (a, d) => ((a[d.tag] = d), a),
  [],
);
const DTYPE_BY_NAME = new Map(DTYPE_LIST.map((d) => [d.name, d]));
const DTYPE_NAMES = DTYPE_LIST.map((d) => d.name).join(', ');

// The %TypedArray%.prototype getters read internal slots, so they identify real
// typed arrays (across realms too) and cannot be fooled by look-alike objects,
// overridden `constructor`s or subclass getters. `toStringTag` returns the
// array's kind, or undefined for anything that is not a typed array.
const TYPED_ARRAY_PROTO = Object.getPrototypeOf(Uint8Array.prototype) as object;
function intrinsicGetter(key: PropertyKey): (this: unknown) => unknown {
  return Object.getOwnPropertyDescriptor(TYPED_ARRAY_PROTO, key)!.get as (this: unknown) => unknown;
}
const taKind = intrinsicGetter(Symbol.toStringTag) as (this: unknown) => string | undefined;
const taBuffer = intrinsicGetter('buffer') as (this: unknown) => ArrayBufferLike;
const taByteOffset = intrinsicGetter('byteOffset') as (this: unknown) => number;
const taByteLength = intrinsicGetter('byteLength') as (this: unknown) => number;

const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
const utf8Encoder = new TextEncoder();
const utf8Decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

function badInput(field: string, expected: string, got: unknown): never {
  throw new ConfideError('E_BAD_INPUT', `"${field}" expected ${expected}, got ${describe(got)}`, {
    field,
  });
}

function corrupt(field: string, offset: number, what: string): never {
  throw new ConfideError('E_DECODE', `codec: ${what} (frame offset ${offset})`, {
    field,
    details: { offset },
  });
}

/** First multiple of 8 at or after `pos` (exact for any safe integer). */
function align8(pos: number): number {
  const r = pos % 8;
  return r === 0 ? pos : pos + 8 - r;
}

/**
 * UTF-8 byte length of a string, or -1 if it holds a lone surrogate (which
 * TextEncoder would silently replace, breaking the round trip).
 */
function utf8Length(s: string): number {
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) n += 1;
    else if (c < 0x800) n += 2;
    else if (c < 0xd800 || c > 0xdfff) n += 3;
    else if (c <= 0xdbff && i + 1 < s.length) {
      const d = s.charCodeAt(i + 1);
      if (d < 0xdc00 || d > 0xdfff) return -1;
      n += 4;
      i++;
    } else return -1;
  }
  return n;
}

/**
 * Orders well-formed strings by code point, which is the order of their UTF-8
 * bytes. UTF-16 order differs only where a surrogate pair (a code point above
 * U+FFFF) meets a unit in U+E000..U+FFFF.
 */
function compareCodePoints(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const x = a.charCodeAt(i);
    const y = b.charCodeAt(i);
    if (x === y) continue;
    const xs = x >= 0xd800 && x <= 0xdfff;
    const ys = y >= 0xd800 && y <= 0xdfff;
    if (xs !== ys) return xs ? 1 : -1;
    return x - y;
  }
  return a.length - b.length;
}

/** A Uint8Array over exactly the bytes of a real typed array, or undefined if detached. */
function bytesOf(v: unknown): Uint8Array | undefined {
  try {
    return new Uint8Array(taBuffer.call(v), taByteOffset.call(v), taByteLength.call(v));
  } catch {
    return undefined; // detached buffer
  }
}

interface HeaderEntry {
  key: string;
  keyBytes: number;
  tag: number;
  value: HeaderValue;
  /** For strings, the UTF-8 byte length; for bytes, the snapshot view. */
  strBytes: number;
  raw: Uint8Array | undefined;
}

interface PayloadEntry {
  dtype: Dtype;
  bytes: Uint8Array;
}

interface Plan {
  entries: HeaderEntry[];
  headerBytes: number;
  payloads: PayloadEntry[];
  total: number;
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  if (typeof v !== 'object' || v === null) return false;
  const proto = Object.getPrototypeOf(v) as object | null;
  // null prototype, or some realm's Object.prototype (whose own prototype is null)
  return proto === null || Object.getPrototypeOf(proto) === null;
}

/** Validates a message, reading each user value once, and sizes its encoding. */
function plan(msg: Message): Plan {
  if (typeof msg !== 'object' || msg === null) badInput('msg', 'an object { header, payloads }', msg);
  const header: unknown = msg.header;
  const payloads: unknown = msg.payloads;
  if (!isPlainObject(header)) badInput('header', 'a plain object', header);
  if (Object.getOwnPropertySymbols(header).length > 0)
    badInput('header', 'string keys only', Object.getOwnPropertySymbols(header)[0]);
  if (!Array.isArray(payloads)) badInput('payloads', 'an array of typed arrays', payloads);

  const keys = Object.keys(header);
  const entries: HeaderEntry[] = [];
  let headerBytes = 0;
  for (const key of keys) {
    const keyBytes = utf8Length(key);
    if (keyBytes < 1 || keyBytes > MAX_KEY_BYTES)
      throw new ConfideError(
        'E_BAD_INPUT',
        keyBytes < 0
          ? `"header" key ${describe(key)} is not well-formed Unicode (lone surrogate)`
          : `"header" key ${describe(key)} is ${keyBytes} UTF-8 bytes; keys are 1..${MAX_KEY_BYTES}`,
        { field: 'header' },
      );
    const field = `header.${key}`;
    const value: unknown = header[key];
    let tag: number;
    let size: number;
    let strBytes = 0;
    let raw: Uint8Array | undefined;
    switch (typeof value) {
      case 'number':
        if (!Number.isFinite(value)) badInput(field, 'a finite number', value);
        tag = TAG_F64;
        size = 8;
        break;
      case 'bigint':
        if (value < I64_MIN || value >= U64_END) badInput(field, 'a bigint in [-(2^63), 2^64)', value);
        tag = value < 0n ? TAG_I64 : TAG_U64;
        size = 8;
        break;
      case 'string':
        strBytes = utf8Length(value);
        if (strBytes < 0) badInput(field, 'a well-formed string (no lone surrogates)', value);
        tag = TAG_STRING;
        size = 4 + strBytes;
        break;
      case 'boolean':
        tag = TAG_BOOL;
        size = 1;
        break;
      default:
        if (taKind.call(value) !== 'Uint8Array')
          badInput(field, 'a number, bigint, string, boolean or Uint8Array', value);
        raw = bytesOf(value);
        if (raw === undefined) badInput(field, 'a Uint8Array on a live buffer', 'a detached buffer');
        tag = TAG_BYTES;
        size = 4 + raw.length;
    }
    entries.push({ key, keyBytes, tag, value: value as HeaderValue, strBytes, raw });
    headerBytes += 1 + keyBytes + 1 + size;
  }
  entries.sort((a, b) => compareCodePoints(a.key, b.key));

  const count = payloads.length;
  const planned: PayloadEntry[] = [];
  let pos = PREFIX_BYTES + headerBytes + TABLE_ENTRY_BYTES * count;
  for (let i = 0; i < count; i++) {
    const p: unknown = payloads[i];
    const kind = taKind.call(p);
    const dtype = kind === undefined ? undefined : DTYPE_BY_NAME.get(kind);
    if (dtype === undefined) badInput(`payloads[${i}]`, `one of ${DTYPE_NAMES}`, p);
    const bytes = bytesOf(p);
    if (bytes === undefined) badInput(`payloads[${i}]`, 'a typed array on a live buffer', 'a detached buffer');
    planned.push({ dtype, bytes });
    pos = align8(pos) + bytes.length;
  }
  if (pos > U32_MAX)
    throw new ConfideError(
      'E_BAD_INPUT',
      `"msg" would encode to ${pos} bytes; a frame holds at most ${U32_MAX} (chunk the data)`,
      { field: 'msg' },
    );
  return { entries, headerBytes, payloads: planned, total: pos };
}

/** The exact length `encodeMessage(msg)` will have; validates like it, without encoding. */
export function encodedLength(msg: Message): number {
  return plan(msg).total;
}

/** Encodes a message into one new Uint8Array (format above). Throws E_BAD_INPUT on bad input. */
export function encodeMessage(msg: Message): Uint8Array {
  const p = plan(msg);
  const out = new Uint8Array(p.total);
  write(p, out, 0);
  return out;
}

/**
 * Encodes a message into `out` from byte `offset` on, writing every byte of
 * the encoding (padding included, so `out` need not be zeroed), and returns
 * the number of bytes written (`encodedLength(msg)`). Lets a caller put the
 * encoding straight into a larger buffer (e.g. after a transport header)
 * instead of copying it there. Payload alignment is relative to the start of
 * the encoding, so a decoder gets views only if `offset` keeps it 8-aligned
 * in the buffer it decodes from. Throws E_BAD_INPUT on a bad message or when
 * it does not fit, before writing anything.
 */
export function encodeMessageInto(msg: Message, out: Uint8Array, offset: number): number {
  if (taKind.call(out) !== 'Uint8Array') badInput('out', 'a Uint8Array', out);
  const room = taByteLength.call(out) as number;
  ainteger(offset, 'offset', 0, room);
  const p = plan(msg);
  if (room - offset < p.total)
    throw new ConfideError('E_BAD_INPUT', `"out" has ${room - offset} bytes from offset ${offset}; the message needs ${p.total}`, { field: 'out' });
  write(p, out, offset);
  return p.total;
}

/** Writes a planned message at `at` in `buf` (which has room), every byte included. */
function write(p: Plan, buf: Uint8Array, at: number): void {
  const out = buf.subarray(at, at + p.total);
  const dv = new DataView(out.buffer, out.byteOffset, out.byteLength);
  out[0] = MAGIC_0;
  out[1] = MAGIC_1;
  out[2] = CODEC_VERSION;
  out[3] = 0;
  dv.setUint32(4, p.headerBytes, true);
  dv.setUint32(8, p.payloads.length, true);
  dv.setUint32(12, p.total, true);

  let pos = PREFIX_BYTES;
  for (const e of p.entries) {
    out[pos] = e.keyBytes;
    utf8Encoder.encodeInto(e.key, out.subarray(pos + 1, pos + 1 + e.keyBytes));
    pos += 1 + e.keyBytes;
    out[pos++] = e.tag;
    switch (e.tag) {
      case TAG_F64:
        dv.setFloat64(pos, e.value as number, true);
        pos += 8;
        break;
      case TAG_U64:
        dv.setBigUint64(pos, e.value as bigint, true);
        pos += 8;
        break;
      case TAG_I64:
        dv.setBigInt64(pos, e.value as bigint, true);
        pos += 8;
        break;
      case TAG_STRING:
        dv.setUint32(pos, e.strBytes, true);
        utf8Encoder.encodeInto(e.value as string, out.subarray(pos + 4, pos + 4 + e.strBytes));
        pos += 4 + e.strBytes;
        break;
      case TAG_BOOL:
        out[pos++] = e.value ? 1 : 0;
        break;
      default: {
        const raw = e.raw!;
        dv.setUint32(pos, raw.length, true);
        out.set(raw, pos + 4);
        pos += 4 + raw.length;
      }
    }
  }

  let data = pos + TABLE_ENTRY_BYTES * p.payloads.length;
  for (const { dtype, bytes } of p.payloads) {
    out[pos] = dtype.tag;
    out[pos + 1] = out[pos + 2] = out[pos + 3] = 0;
    dv.setUint32(pos + 4, bytes.length, true);
    pos += TABLE_ENTRY_BYTES;
    const start = align8(data);
    out.fill(0, data, start);
    out.set(bytes, start);
    if (!LITTLE_ENDIAN && dtype.size > 1) swapBytes(out.subarray(start, start + bytes.length), dtype.size);
    data = start + bytes.length;
  }
}

/** Reverses each `size`-byte element in place; only big-endian hosts need it. */
function swapBytes(b: Uint8Array, size: number): void {
  for (let i = 0; i < b.length; i += size) b.subarray(i, i + size).reverse();
}

function readLimits(limits: DecodeLimits | undefined): Required<DecodeLimits> {
  if (limits === undefined) return DEFAULT_LIMITS;
  aoptions(limits, 'limits', ['maxBytes', 'maxHeaderBytes', 'maxPayloads', 'maxPayloadBytes']);
  const pick = (name: keyof DecodeLimits): number => {
    const v: unknown = limits[name];
    return v === undefined ? DEFAULT_LIMITS[name] : ainteger(v, `limits.${name}`);
  };
  return {
    maxBytes: pick('maxBytes'),
    maxHeaderBytes: pick('maxHeaderBytes'),
    maxPayloads: pick('maxPayloads'),
    maxPayloadBytes: pick('maxPayloadBytes'),
  };
}

/**
 * Decodes one frame. Checks every length against the bytes present and against
 * `limits` before allocating; any malformed input throws E_DECODE with the
 * offending field and offset. A non-Uint8Array argument or bad limits are the
 * caller's mistake: E_BAD_INPUT.
 */
export function decodeMessage(bytes: Uint8Array, limits?: DecodeLimits): Message {
  // Limits first: they are the only user values read, so no user code runs
  // between measuring `bytes` and using the measurement.
  const lim = readLimits(limits);
  if (taKind.call(bytes) !== 'Uint8Array') badInput('bytes', 'a Uint8Array', bytes);
  const n = taByteLength.call(bytes);
  if (n > lim.maxBytes)
    corrupt('frameLength', 0, `frame of ${n} bytes exceeds limits.maxBytes = ${lim.maxBytes}`);
  if (n < PREFIX_BYTES)
    corrupt('frameLength', n, `truncated: ${n} bytes, the fixed prefix needs ${PREFIX_BYTES}`);
  const buf = taBuffer.call(bytes);
  const base = taByteOffset.call(bytes);
  const u8 = new Uint8Array(buf, base, n);
  const dv = new DataView(buf, base, n);

  if (u8[0] !== MAGIC_0 || u8[1] !== MAGIC_1)
    corrupt('magic', 0, `bad magic 0x${hex2(u8[0])} 0x${hex2(u8[1])}, expected 0x43 0x46 ("CF")`);
  if (u8[2] !== CODEC_VERSION)
    corrupt('version', 2, `unsupported codec version ${u8[2]}; this build reads version ${CODEC_VERSION}`);
  if (u8[3] !== 0) corrupt('flags', 3, `flags 0x${hex2(u8[3])} are not defined in version ${CODEC_VERSION}; expected 0`);
  const headerLen = dv.getUint32(4, true);
  const count = dv.getUint32(8, true);
  const total = dv.getUint32(12, true);
  if (total > n) corrupt('frameLength', 12, `truncated: frame declares ${total} bytes but ${n} are present`);
  if (total < n) corrupt('frameLength', total, `${n - total} trailing bytes after the declared ${total}-byte frame`);
  if (headerLen > lim.maxHeaderBytes)
    corrupt('headerLength', 4, `header of ${headerLen} bytes exceeds limits.maxHeaderBytes = ${lim.maxHeaderBytes}`);
  if (count > lim.maxPayloads)
    corrupt('payloadCount', 8, `${count} payloads exceed limits.maxPayloads = ${lim.maxPayloads}`);
  const headerEnd = PREFIX_BYTES + headerLen;
  if (headerEnd > total)
    corrupt('headerLength', 4, `header of ${headerLen} bytes runs past the end of the ${total}-byte frame`);
  const tableEnd = headerEnd + TABLE_ENTRY_BYTES * count;
  if (tableEnd > total)
    corrupt('payloadCount', 8, `table of ${count} payloads runs past the end of the ${total}-byte frame`);

  const header = decodeHeader(u8, dv, headerEnd);

  // Validate the whole table and all padding before building any view or copy.
  // `count` entries fit in the frame, so this array is bounded by the input size.
  const starts: number[] = new Array<number>(count);
  let pos = tableEnd;
  for (let i = 0; i < count; i++) {
    const e = headerEnd + TABLE_ENTRY_BYTES * i;
    const field = `payloads[${i}]`;
    const dtype = DTYPE_BY_TAG[u8[e]];
    if (dtype === undefined) corrupt(field, e, `unknown payload dtype tag ${u8[e]}`);
    if ((u8[e + 1] | u8[e + 2] | u8[e + 3]) !== 0)
      corrupt(field, e + 1, 'reserved bytes of a payload table entry are not zero');
    const len = dv.getUint32(e + 4, true);
    if (len % dtype.size !== 0)
      corrupt(field, e + 4, `${dtype.name} payload of ${len} bytes is not a multiple of ${dtype.size}`);
    if (len > lim.maxPayloadBytes)
      corrupt(field, e + 4, `payload of ${len} bytes exceeds limits.maxPayloadBytes = ${lim.maxPayloadBytes}`);
    const start = align8(pos);
    if (start + len > total)
      corrupt(field, e + 4, `payload of ${len} bytes at offset ${start} runs past the end of the ${total}-byte frame`);
    for (let k = pos; k < start; k++) if (u8[k] !== 0) corrupt(field, k, 'nonzero alignment padding');
    starts[i] = start;
    pos = start + len;
  }
  if (pos !== total) corrupt('frameLength', pos, `${total - pos} bytes after the last payload`);

  const payloads: Payload[] = new Array<Payload>(count);
  for (let i = 0; i < count; i++) {
    const e = headerEnd + TABLE_ENTRY_BYTES * i;
    const dtype = DTYPE_BY_TAG[u8[e]]!;
    const len = dv.getUint32(e + 4, true);
    const start = starts[i];
    if (LITTLE_ENDIAN && (base + start) % dtype.size === 0) {
      payloads[i] = new dtype.ctor(buf, base + start, len / dtype.size);
    } else {
      const copy = new Uint8Array(len);
      copy.set(u8.subarray(start, start + len));
      if (!LITTLE_ENDIAN && dtype.size > 1) swapBytes(copy, dtype.size);
      payloads[i] = new dtype.ctor(copy.buffer, 0, len / dtype.size);
    }
  }
  return { header, payloads };
}

function hex2(b: number): string {
  return b.toString(16).padStart(2, '0');
}

/** Unsigned lexicographic comparison of u8[a, a+al) with u8[b, b+bl). */
function compareBytes(u8: Uint8Array, a: number, al: number, b: number, bl: number): number {
  const m = Math.min(al, bl);
  for (let i = 0; i < m; i++) {
    const d = u8[a + i] - u8[b + i];
    if (d !== 0) return d;
  }
  return al - bl;
}

function decodeHeader(u8: Uint8Array, dv: DataView, end: number): Record<string, HeaderValue> {
  const header = Object.create(null) as Record<string, HeaderValue>;
  let pos = PREFIX_BYTES;
  let prevKey = -1;
  let prevKeyLen = 0;
  while (pos < end) {
    const keyLen = u8[pos];
    if (keyLen === 0) corrupt('header', pos, 'header key of length 0 (keys are 1..255 bytes)');
    const keyAt = pos + 1;
    // the key and the type tag after it
    if (keyAt + keyLen + 1 > end)
      corrupt('header', pos, `header key of ${keyLen} bytes and its type tag run past the header end at ${end}`);
    if (prevKey >= 0 && compareBytes(u8, prevKey, prevKeyLen, keyAt, keyLen) >= 0)
      corrupt('header', keyAt, 'header keys are not in strictly increasing byte order (duplicate or unsorted key)');
    let key: string;
    try {
      key = utf8Decoder.decode(u8.subarray(keyAt, keyAt + keyLen));
    } catch {
      corrupt('header', keyAt, 'header key is not valid UTF-8');
    }
    prevKey = keyAt;
    prevKeyLen = keyLen;
    const field = `header.${key}`;
    const tagAt = keyAt + keyLen;
    const tag = u8[tagAt];
    pos = tagAt + 1;
    const need = (k: number, what: string): void => {
      if (pos + k > end) corrupt(field, pos, `${what} needs ${k} bytes but the header ends at ${end}`);
    };
    let value: HeaderValue;
    switch (tag) {
      case TAG_F64: {
        need(8, 'f64 value');
        const x = dv.getFloat64(pos, true);
        if (!Number.isFinite(x)) corrupt(field, pos, `header number is ${x}; only finite numbers are allowed`);
        value = x;
        pos += 8;
        break;
      }
      case TAG_U64:
        need(8, 'u64 value');
        value = dv.getBigUint64(pos, true);
        pos += 8;
        break;
      case TAG_I64: {
        need(8, 'i64 value');
        const x = dv.getBigInt64(pos, true);
        if (x >= 0n) corrupt(field, pos, `non-canonical bigint: ${x} is not negative, so it must use tag ${TAG_U64}`);
        value = x;
        pos += 8;
        break;
      }
      case TAG_STRING: {
        need(4, 'string length');
        const len = dv.getUint32(pos, true);
        pos += 4;
        need(len, 'string value');
        try {
          value = utf8Decoder.decode(u8.subarray(pos, pos + len));
        } catch {
          corrupt(field, pos, 'header string is not valid UTF-8');
        }
        pos += len;
        break;
      }
      case TAG_BOOL: {
        need(1, 'bool value');
        const b = u8[pos];
        if (b > 1) corrupt(field, pos, `bool byte is ${b}; expected 0 or 1`);
        value = b === 1;
        pos += 1;
        break;
      }
      case TAG_BYTES: {
        need(4, 'bytes length');
        const len = dv.getUint32(pos, true);
        pos += 4;
        need(len, 'bytes value');
        const copy = new Uint8Array(len);
        copy.set(u8.subarray(pos, pos + len));
        value = copy;
        pos += len;
        break;
      }
      default:
        corrupt(field, tagAt, `unknown header type tag ${tag}`);
    }
    header[key] = value;
  }
  return header;
}
