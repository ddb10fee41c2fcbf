/**
 * Link framing: how one protocol message is cut into frames (one frame = one
 * WebSocket binary message, or one in-memory delivery) and put back together,
 * with the limits that keep a hostile peer from exhausting memory. The format
 * is normative and described in src/net/README.md ("Frames").
 *
 * ```
 * offset size field
 *      0    2 magic 0x43 0x4e ("CN")
 *      2    1 protocol version u8 = 2
 *      3    1 message type u8 (FRAME_* below)
 *      4    4 message number u32, per link and direction: 0, 1, 2, ...
 *      8    4 chunk index u32 within the message: 0, 1, 2, ...
 *     12    4 message length u32 (bytes of the whole message)
 *     16  ...  chunk data: a message of at most CHUNK_BYTES + CHUNK_SLACK_BYTES
 *             is one chunk (a 0-byte message is one empty chunk); a longer one
 *             is cut into chunks of exactly CHUNK_BYTES, the last carrying
 *             the remainder
 * ```
 *
 * The slack lets a 4 MiB tensor travel with its envelope and codec headers
 * (a few hundred bytes) in one frame instead of a full chunk and a tiny tail:
 * a one-frame message is used in place by the receiver, while two chunks cost
 * it a copy of the whole message (2.3 ms per 4 MiB here, measured).
 *
 * Chunks of one message are sent back to back (a sender never interleaves two
 * messages), so the receiver holds at most one partial message per link.
 */
import { ConfideError } from '../core/errors.ts';

export const NET_VERSION = 2;
/** Chunk size of the wire format (4 MiB). */
export const CHUNK_BYTES = 4 * 1024 * 1024;
/** How far past CHUNK_BYTES a message may go and still travel as one frame (64 KiB: chunk / 64). */
export const CHUNK_SLACK_BYTES = CHUNK_BYTES / 64;
export const FRAME_HEADER_BYTES = 16;

export const FRAME_HELLO = 1;
export const FRAME_AUTH = 2;
export const FRAME_WELCOME = 3;
export const FRAME_ENVELOPE = 4;
export const FRAME_PING = 5;
export const FRAME_PONG = 6;
export const FRAME_BYE = 7;
const MAX_TYPE = 7;

const MAGIC_0 = 0x43; // 'C'
const MAGIC_1 = 0x4e; // 'N'
const U32_MAX = 0xffffffff;

/**
 * A heartbeat's body: empty, or the highest sequence number the sender has
 * accepted from the receiver (8 bytes, big-endian), so the receiver can stop
 * keeping what it sent up to there for resending (README, "Delivery").
 */
export function encodeAck(seq: number): Uint8Array {
  const b = new Uint8Array(8);
  new DataView(b.buffer).setBigUint64(0, BigInt(seq));
  return b;
}

/** The acknowledged sequence number of a heartbeat body (undefined when empty); a frameError when malformed. */
export function decodeAck(body: Uint8Array): number | undefined {
  if (body.length === 0) return undefined;
  if (body.length !== 8) throw frameError(`heartbeat frame with a ${body.length}-byte body (0 or 8 expected)`);
  const v = new DataView(body.buffer, body.byteOffset, 8).getBigUint64(0);
  if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw frameError('heartbeat acknowledgement beyond 2^53 - 1');
  return Number(v);
}

/** A framing violation by the peer; the link is closed with this reason. */
export function frameError(reason: string, details?: Record<string, unknown>): ConfideError {
  return new ConfideError('E_PROTOCOL', `net: ${reason}`, { field: 'frame', details });
}

/** Largest one-frame message for a chunk size (CHUNK_BYTES + CHUNK_SLACK_BYTES on the wire). */
export function maxChunkData(chunkBytes: number): number {
  return chunkBytes + Math.floor(chunkBytes / 64);
}

/** Number of frames a message of `total` bytes travels in. */
export function chunkCount(total: number, chunkBytes: number): number {
  return total <= maxChunkData(chunkBytes) ? 1 : Math.ceil(total / chunkBytes);
}

/** Bytes chunk `index` of a `total`-byte message carries. */
function chunkLength(total: number, index: number, count: number, chunkBytes: number): number {
  return count === 1 ? total : Math.min(chunkBytes, total - index * chunkBytes);
}

function writeHeader(h: Uint8Array, type: number, messageNo: number, index: number, total: number): void {
  const dv = new DataView(h.buffer, h.byteOffset, FRAME_HEADER_BYTES);
  h[0] = MAGIC_0;
  h[1] = MAGIC_1;
  h[2] = NET_VERSION;
  h[3] = type;
  dv.setUint32(4, messageNo >>> 0, true);
  dv.setUint32(8, index, true);
  dv.setUint32(12, total, true);
}

/**
 * A message written after FRAME_HEADER_BYTES of room in a buffer the sender
 * owns (`buffer` = room + message): its first frame header is written into
 * the room, so that frame goes out as one view, without a copy.
 */
export interface Headroomed {
  readonly headroom: Uint8Array;
}

/** Frames of a message laid out with headroom; like framePieces otherwise. Writes the first header into the room. */
export function frameHeadroomed(type: number, messageNo: number, m: Headroomed, chunkBytes = CHUNK_BYTES): Uint8Array[][] {
  const buf = m.headroom;
  const total = buf.length - FRAME_HEADER_BYTES;
  if (total > U32_MAX) throw new ConfideError('E_BAD_INPUT', `net: message of ${total} bytes exceeds 2^32 - 1`, { field: 'message' });
  const count = chunkCount(total, chunkBytes);
  writeHeader(buf, type, messageNo, 0, total);
  const frames: Uint8Array[][] = [[buf.subarray(0, FRAME_HEADER_BYTES + chunkLength(total, 0, count, chunkBytes))]];
  for (let i = 1; i < count; i++) {
    const h = new Uint8Array(FRAME_HEADER_BYTES);
    writeHeader(h, type, messageNo, i, total);
    const at = FRAME_HEADER_BYTES + i * chunkBytes;
    frames.push([h, buf.subarray(at, at + chunkLength(total, i, count, chunkBytes))]);
  }
  return frames;
}

/**
 * Frames of a message given as parts after FRAME_HEADER_BYTES of room at the
 * start of the first part (`gathered[0]`). A one-frame message is the parts
 * themselves, its header written into the room, so a backend that writes a
 * frame's pieces one after another sends it without a copy; a longer one is
 * cut like framePieces.
 */
export function frameGathered(type: number, messageNo: number, gathered: readonly Uint8Array[], chunkBytes = CHUNK_BYTES): Uint8Array[][] {
  let total = -FRAME_HEADER_BYTES;
  for (const p of gathered) total += p.length;
  if (chunkCount(total, chunkBytes) > 1) return framePieces(type, messageNo, [gathered[0].subarray(FRAME_HEADER_BYTES), ...gathered.slice(1)], chunkBytes);
  writeHeader(gathered[0], type, messageNo, 0, total);
  return [[...gathered]];
}

/**
 * Cuts one message, given as parts whose concatenation is the message, into
 * frames. Each frame is a list of pieces (a fresh 16-byte header, then views
 * of the parts) whose concatenation is the frame on the wire: nothing is
 * copied, so a backend can write the pieces straight to its socket.
 */
export function framePieces(type: number, messageNo: number, parts: readonly Uint8Array[], chunkBytes = CHUNK_BYTES): Uint8Array[][] {
  let total = 0;
  for (const p of parts) total += p.length;
  if (total > U32_MAX) throw new ConfideError('E_BAD_INPUT', `net: message of ${total} bytes exceeds 2^32 - 1`, { field: 'message' });
  const count = chunkCount(total, chunkBytes);
  const frames: Uint8Array[][] = new Array<Uint8Array[]>(count);
  let part = 0;
  let at = 0; // offset in parts[part]
  for (let i = 0; i < count; i++) {
    const h = new Uint8Array(FRAME_HEADER_BYTES);
    writeHeader(h, type, messageNo, i, total);
    const pieces: Uint8Array[] = [h];
    let need = chunkLength(total, i, count, chunkBytes);
    while (need > 0) {
      const p = parts[part];
      const take = Math.min(need, p.length - at);
      if (take > 0) pieces.push(p.subarray(at, at + take));
      at += take;
      need -= take;
      if (at === p.length) {
        part++;
        at = 0;
      }
    }
    frames[i] = pieces;
  }
  return frames;
}

/** Concatenates pieces into one buffer (for backends without scatter-gather writes, and tests). */
export function concatPieces(pieces: readonly Uint8Array[]): Uint8Array {
  if (pieces.length === 1) return pieces[0].slice();
  let n = 0;
  for (const p of pieces) n += p.length;
  // Large frames skip the zero fill (the pieces cover every byte) and get their own buffer.
  const out = n < 65536 ? new Uint8Array(n) : new Uint8Array(Buffer.allocUnsafeSlow(n).buffer, 0, n);
  let pos = 0;
  for (const p of pieces) {
    out.set(p, pos);
    pos += p.length;
  }
  return out;
}

/** Cuts one message into frames, each one fresh contiguous buffer. */
export function frameMessage(type: number, messageNo: number, message: Uint8Array, chunkBytes = CHUNK_BYTES): Uint8Array[] {
  return framePieces(type, messageNo, [message], chunkBytes).map(concatPieces);
}

export interface ReassemblyLimits {
  /** Largest message, in bytes; checked on the first chunk, before anything is kept. */
  maxMessageBytes: number;
  /** Chunk size the peer must use (CHUNK_BYTES on the wire; smaller in tests). */
  chunkBytes: number;
}

/** A whole message put back together: its type and bytes (8-aligned in their buffer, so payloads decode as views). */
export interface Reassembled {
  type: number;
  bytes: Uint8Array;
}

/**
 * Puts frames from one link back into messages. `push` returns a message
 * when its last chunk arrives, else undefined, and throws E_PROTOCOL on any
 * violation (bad magic, version or type, out-of-order chunk or message number,
 * wrong chunk length, a message over the limit). Chunks are kept as received
 * until the message is complete, so memory grows with bytes actually received,
 * never with a length a peer merely declares; `bufferedBytes` reports it.
 */
export class Reassembler {
  readonly #limits: ReassemblyLimits;
  #nextMessageNo = 0;
  #type = 0;
  #total = 0;
  #nextChunk = 0;
  #received = 0;
  #chunks: Uint8Array[] = [];

  constructor(limits: ReassemblyLimits) {
    this.#limits = { ...limits };
  }

  /** Changes the largest message accepted from the next message on. */
  setMaxMessageBytes(n: number): void {
    this.#limits.maxMessageBytes = n;
  }

  /** Bytes held for the message in progress. */
  get bufferedBytes(): number {
    return this.#received;
  }

  push(frame: Uint8Array): Reassembled | undefined {
    const n = frame.length;
    if (n < FRAME_HEADER_BYTES) throw frameError(`truncated frame: ${n} bytes, the header needs ${FRAME_HEADER_BYTES}`);
    if (frame[0] !== MAGIC_0 || frame[1] !== MAGIC_1) throw frameError('bad frame magic');
    if (frame[2] !== NET_VERSION)
      throw frameError(`unsupported protocol version ${frame[2]}; this build speaks ${NET_VERSION}`, { version: frame[2] });
    const type = frame[3];
    if (type < 1 || type > MAX_TYPE) throw frameError(`unknown frame type ${type}`);
    const dv = new DataView(frame.buffer, frame.byteOffset, n);
    const messageNo = dv.getUint32(4, true);
    const index = dv.getUint32(8, true);
    const total = dv.getUint32(12, true);
    const dataLen = n - FRAME_HEADER_BYTES;
    const { chunkBytes, maxMessageBytes } = this.#limits;

    if (this.#nextChunk === 0) {
      // First chunk of a new message.
      if (messageNo !== this.#nextMessageNo)
        throw frameError(`message number ${messageNo} out of order, expected ${this.#nextMessageNo}`);
      if (index !== 0) throw frameError(`message ${messageNo} starts at chunk ${index}, expected 0`);
      if (total > maxMessageBytes)
        throw frameError(`message of ${total} bytes exceeds the limit of ${maxMessageBytes}`, { bytes: total });
      this.#type = type;
      this.#total = total;
    } else if (messageNo !== this.#nextMessageNo || type !== this.#type || total !== this.#total) {
      throw frameError(`frame of message ${messageNo} interleaved with unfinished message ${this.#nextMessageNo}`);
    } else if (index !== this.#nextChunk) {
      throw frameError(`chunk ${index} out of order, expected ${this.#nextChunk}`);
    }
    const expected = chunkLength(total, index, chunkCount(total, chunkBytes), chunkBytes);
    if (dataLen !== expected)
      throw frameError(`chunk ${index} of a ${total}-byte message carries ${dataLen} bytes, expected ${expected}`);

    const data = frame.subarray(FRAME_HEADER_BYTES);
    if (index === 0 && dataLen === total && (frame.byteOffset + FRAME_HEADER_BYTES) % 8 === 0) {
      // A one-chunk message already 8-aligned in its buffer is used in place.
      this.#nextMessageNo = (this.#nextMessageNo + 1) >>> 0;
      return { type, bytes: data };
    }
    if (this.#received + dataLen < total) {
      this.#chunks.push(data);
      this.#received += dataLen;
      this.#nextChunk++;
      return undefined;
    }
    // Last chunk: one copy into a fresh buffer, so the message starts at offset
    // 0 of its own ArrayBuffer (payload views then line up with their element
    // size). Not zero-filled first: the chunks cover every byte.
    const slow = Buffer.allocUnsafeSlow(total);
    const bytes = new Uint8Array(slow.buffer, slow.byteOffset, total);
    let pos = 0;
    for (const c of this.#chunks) {
      bytes.set(c, pos);
      pos += c.length;
    }
    bytes.set(data, pos);
    this.#chunks = [];
    this.#received = 0;
    this.#nextChunk = 0;
    this.#nextMessageNo = (this.#nextMessageNo + 1) >>> 0;
    return { type, bytes };
  }
}
