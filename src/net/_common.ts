/** Defaults and argument checks shared by the server and the party. */
import { ainteger } from '../core/assert.ts';
import type { DecodeLimits } from '../core/codec.ts';
import { ConfideError, describe } from '../core/errors.ts';
import { CHUNK_BYTES, FRAME_HEADER_BYTES, chunkCount } from './_frame.ts';
import { ENVELOPE_HEADER_BYTES } from './_envelope.ts';
import type { Transport } from './transport.ts';

export const DEFAULTS = {
  maxMessageBytes: 64 * 1024 * 1024,
  maxBufferedBytes: 128 * 1024 * 1024,
  maxParties: 10_000,
  heartbeatMs: 5_000,
  authTimeoutMs: 10_000,
  maxPendingConnections: 1024,
  reconnectWindowMs: 30_000,
  connectTimeoutMs: 10_000,
} as const;

/** Largest message before authentication (hello, auth, welcome, bye are a few hundred bytes). */
export const HANDSHAKE_MAX_BYTES = 4096;

export interface Limits {
  maxMessageBytes: number;
  maxBufferedBytes: number;
}

/** What the codec may accept inside an envelope of at most `maxMessageBytes`. */
export function bodyLimits(maxMessageBytes: number): DecodeLimits {
  const body = Math.max(0, maxMessageBytes - ENVELOPE_HEADER_BYTES);
  return { maxBytes: body, maxHeaderBytes: Math.min(body, 64 * 1024), maxPayloads: 1024, maxPayloadBytes: body };
}

/** Bytes on the wire for a message of `n` bytes: the message plus one frame header per chunk. */
export function wireBytes(n: number): number {
  return n + FRAME_HEADER_BYTES * chunkCount(n, CHUNK_BYTES);
}

export function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let d = 0;
  for (let i = 0; i < a.length; i++) d |= a[i] ^ b[i];
  return d === 0;
}

export function around(round: unknown): number {
  return ainteger(round, 'round', 0, 0xffffffff);
}

/** A timeout or deadline in ms: an integer in [1, 2^31 - 1] (setTimeout's range). */
export function atimeout(v: unknown, field: string): number {
  return ainteger(v, field, 1, 2 ** 31 - 1);
}

export function atransport(v: unknown): Transport {
  const t = v as Partial<Transport> | null;
  if (typeof t !== 'object' || t === null || typeof t.listen !== 'function' || typeof t.dial !== 'function')
    throw new ConfideError('E_BAD_INPUT', `"transport" expected a Transport (memoryTransport() or webSocketTransport()), got ${describe(v)}`, {
      field: 'transport',
    });
  return t as Transport;
}

/**
 * Heartbeat bookkeeping that does not blame a peer for this process's own
 * stalls. A heartbeat timer that fires much later than scheduled means the
 * event loop was blocked (a long synchronous computation, a GC pause, a
 * starved CPU): frames from peers may be sitting unread in the socket, so
 * silence is counted only from the moment the loop came back.
 */
export class StallClock {
  readonly #intervalMs: number;
  #lastTick = performance.now();
  #awakeSince = performance.now();

  constructor(intervalMs: number) {
    this.#intervalMs = intervalMs;
  }

  /** Called on every heartbeat tick; returns the instant from which a peer's silence may be counted. */
  tick(now: number): number {
    // Timers run late by milliseconds under load; half an interval late is this process stalling.
    if (now - this.#lastTick > 1.5 * this.#intervalMs) this.#awakeSince = now;
    this.#lastTick = now;
    return this.#awakeSince;
  }

  /** The instant from which silence may be counted, as of the last tick. */
  get awakeSince(): number {
    return this.#awakeSince;
  }
}
