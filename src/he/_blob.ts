/**
 * The serialisation container of every he object that leaves a process (keys,
 * ciphertexts). SEAL's own bytes are wrapped in a header that says what they
 * are, which format version wrote them, and which parameters they belong to,
 * so that a ciphertext is never loaded under the wrong parameters (where SEAL
 * may accept it and decrypt garbage) and a version change fails loudly
 * instead of deep inside SEAL (s0l0ist/node-seal#71).
 *
 * Format, version 1 (normative; integers little-endian):
 *
 * ```
 * offset size field
 *      0    4 magic "CFHE" (0x43 0x46 0x48 0x45)
 *      4    1 format version = 1
 *      5    1 kind: 1 public key bundle, 2 secret key, 3 ciphertext
 *      6    2 reserved, zero
 *      8   32 parameter hash: SHA-256 of the canonical parameter encoding
 *     40  ... one core codec message (src/core/codec.ts): kind-specific
 *             header fields, and the SEAL serialisation as its last payload
 * ```
 *
 * The SEAL serialisation starts with SEAL's own 16-byte header (magic 0xA15E,
 * header size 16, SEAL major and minor version, compression mode, reserved,
 * total size u64); it is checked here before SEAL sees the bytes: the SEAL
 * version must be the one loaded, compression must be none, and the size must
 * equal the payload length.
 */
import { createHash } from 'node:crypto';
import { decodeMessage, encodeMessage, type HeaderValue, type Message, type Payload } from '../core/codec.ts';
import { ConfideError } from '../core/errors.ts';

export const BLOB_VERSION = 1;
export const BLOB_HEADER_BYTES = 40;
export const KIND_PUBLIC = 1;
export const KIND_SECRET = 2;
export const KIND_CIPHERTEXT = 3;
export type BlobKind = typeof KIND_PUBLIC | typeof KIND_SECRET | typeof KIND_CIPHERTEXT;

const MAGIC = [0x43, 0x46, 0x48, 0x45];
const KIND_NAMES = ['', 'public key bundle', 'secret key', 'ciphertext'];
/** The SEAL version node-seal 7.0.0 carries (4.1.2); bytes from another major.minor are refused. */
export const SEAL_MAJOR = 4;
export const SEAL_MINOR = 1;
const SEAL_MAGIC = 0xa15e;

export interface Blob {
  kind: BlobKind;
  paramsHash: Uint8Array;
  header: Record<string, HeaderValue>;
  /** The SEAL serialisation (a view into the input). */
  seal: Uint8Array;
  /** Other payloads before the SEAL bytes. */
  extra: Payload[];
}

export function sha256(...parts: Uint8Array[]): Uint8Array {
  const h = createHash('sha256');
  for (const p of parts) h.update(p);
  return new Uint8Array(h.digest());
}

export function encodeBlob(
  kind: BlobKind,
  paramsHash: Uint8Array,
  header: Record<string, HeaderValue>,
  seal: Uint8Array,
  extra: Payload[] = [],
): Uint8Array {
  const body = encodeMessage({ header, payloads: [...extra, seal] });
  const out = new Uint8Array(BLOB_HEADER_BYTES + body.length);
  out.set(MAGIC, 0);
  out[4] = BLOB_VERSION;
  out[5] = kind;
  out.set(paramsHash, 8);
  out.set(body, BLOB_HEADER_BYTES);
  return out;
}

function bad(field: string, message: string): never {
  throw new ConfideError('E_DECODE', message, { field });
}

/**
 * Parses a blob of the expected kind; with `paramsHash`, refuses one made
 * under other parameters. Throws E_DECODE on anything malformed.
 */
export function decodeBlob(bytes: Uint8Array, field: string, kind: BlobKind, paramsHash?: Uint8Array): Blob {
  if (bytes.length < BLOB_HEADER_BYTES || MAGIC.some((b, i) => bytes[i] !== b))
    bad(field, `"${field}" is not a confide he object (no CFHE header)`);
  if (bytes[4] !== BLOB_VERSION)
    bad(field, `"${field}" has he format version ${bytes[4]}; this confide reads version ${BLOB_VERSION}`);
  if (bytes[5] !== kind)
    bad(field, `"${field}" is a ${KIND_NAMES[bytes[5]] ?? `kind ${bytes[5]}`}, expected a ${KIND_NAMES[kind]}`);
  if (bytes[6] !== 0 || bytes[7] !== 0) bad(field, `"${field}" has nonzero reserved bytes`);
  const hash = bytes.subarray(8, 40);
  if (paramsHash !== undefined && !equalBytes(hash, paramsHash))
    throw new ConfideError('E_BAD_INPUT', `"${field}" was made under other encryption parameters (parameter hash differs)`, { field });
  let msg: Message;
  try {
    msg = decodeMessage(bytes.subarray(BLOB_HEADER_BYTES), { maxBytes: 1 << 30, maxPayloadBytes: 1 << 30, maxPayloads: 4 });
  } catch (e) {
    throw new ConfideError('E_DECODE', `"${field}" body does not decode: ${(e as Error).message}`, { field, cause: e });
  }
  const last = msg.payloads[msg.payloads.length - 1];
  if (!(last instanceof Uint8Array)) bad(field, `"${field}" carries no SEAL bytes`);
  checkSealHeader(last, field);
  return { kind, paramsHash: hash.slice(), header: msg.header, seal: last, extra: msg.payloads.slice(0, -1) };
}

/** Checks SEAL's own serialisation header (native/src/seal/serialization.h). */
export function checkSealHeader(b: Uint8Array, field: string): void {
  if (b.length < 16) bad(field, `"${field}" SEAL bytes are shorter than SEAL's header`);
  const dv = new DataView(b.buffer, b.byteOffset, b.length);
  if (dv.getUint16(0, true) !== SEAL_MAGIC || b[2] !== 16) bad(field, `"${field}" SEAL bytes have no SEAL header`);
  if (b[3] !== SEAL_MAJOR || b[4] !== SEAL_MINOR)
    bad(field, `"${field}" was written by SEAL ${b[3]}.${b[4]}; this build loads SEAL ${SEAL_MAJOR}.${SEAL_MINOR} (re-encrypt under the new version)`);
  if (b[5] !== 0) bad(field, `"${field}" SEAL bytes are compressed (mode ${b[5]}); only uncompressed bytes are accepted`);
  if (dv.getBigUint64(8, true) !== BigInt(b.length)) bad(field, `"${field}" SEAL size field disagrees with its length`);
}

export function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let d = 0;
  for (let i = 0; i < a.length; i++) d |= a[i] ^ b[i];
  return d === 0;
}

/** Reads a header field of the expected type or throws E_DECODE. */
export function field<T extends HeaderValue>(
  h: Record<string, HeaderValue>,
  key: string,
  type: 'number' | 'bigint' | 'string' | 'boolean' | 'bytes',
  where: string,
): T {
  const v = h[key];
  const ok = type === 'bytes' ? v instanceof Uint8Array : typeof v === type;
  if (!ok) bad(where, `"${where}" lacks a ${type} field "${key}"`);
  return v as T;
}
