/**
 * A framed channel over one link: whole messages out (chunked, one message at
 * a time, each chunk awaiting the link's backpressure) and whole messages in
 * (reassembled under limits). A framing violation ends the channel with the
 * violation as its reason; the owner decides what that means for the party.
 */
import { isConfideError } from '../core/errors.ts';
import { CHUNK_BYTES, FRAME_HEADER_BYTES, Reassembler, frameGathered, frameHeadroomed, framePieces, maxChunkData, type Headroomed } from './_frame.ts';

/** A message as parts after FRAME_HEADER_BYTES of room in the first (see frameGathered); the caller hands the first part over. */
export interface GatheredParts {
  readonly gathered: readonly Uint8Array[];
}
import type { Link } from './transport.ts';

/** How long a farewell message may take before the link is cut anyway. */
const BYE_GRACE_MS = 1000;

export interface ChannelHandlers {
  /**
   * One whole message. If it returns a promise, the link is paused until it
   * settles, so a handler that waits (relaying to a slow reader) slows the
   * sender instead of queueing its frames here.
   */
  message(type: number, bytes: Uint8Array): void | Promise<void>;
  /** The channel ended: the peer closed, the link failed, or the peer broke the framing. Called once. */
  close(reason: string, violation: boolean): void;
  /** The message to send the peer before cutting the link on a framing violation. */
  farewell?(reason: string): { type: number; bytes: Uint8Array };
}

export class Channel {
  readonly link: Link;
  readonly #reassembler: Reassembler;
  readonly #handlers: ChannelHandlers;
  #queue: Uint8Array[] = [];
  #draining = false;
  #nextMessageNo = 0;
  #sendTail: Promise<void> = Promise.resolve();
  #closed = false;
  #linkClosed = false;
  /** Time (ms, performance.now) of the last frame received. */
  lastSeen = performance.now();
  bytesIn = 0;
  bytesOut = 0;

  constructor(link: Link, maxMessageBytes: number, handlers: ChannelHandlers, chunkBytes = CHUNK_BYTES) {
    this.link = link;
    this.#handlers = handlers;
    this.#reassembler = new Reassembler({ maxMessageBytes, chunkBytes });
    this.#chunkBytes = chunkBytes;
    link.setMaxFrameBytes?.(FRAME_HEADER_BYTES + Math.min(maxMessageBytes, maxChunkData(chunkBytes)));
    link.setHandlers({
      frame: (f) => this.#onFrame(f),
      close: (reason, violation) => {
        this.#linkClosed = true;
        this.#end(reason, violation === true);
      },
    });
  }

  readonly #chunkBytes: number;

  get closed(): boolean {
    return this.#closed;
  }

  /** Raises or lowers the largest message accepted (e.g. after authentication). */
  setMaxMessageBytes(n: number): void {
    this.#reassembler.setMaxMessageBytes(n);
    this.link.setMaxFrameBytes?.(FRAME_HEADER_BYTES + Math.min(n, maxChunkData(this.#chunkBytes)));
  }

  /** Bytes held for a partly received message. */
  get bufferedBytes(): number {
    return this.#reassembler.bufferedBytes;
  }

  /**
   * Queues one message; resolves when its last chunk has been accepted by the
   * link (under backpressure). Messages go out in call order, never interleaved.
   * A `Headroomed` message is framed in its own buffer (the caller hands it over),
   * a `GatheredParts` one in the room of its first part.
   */
  send(type: number, parts: Uint8Array | readonly Uint8Array[] | Headroomed | GatheredParts): Promise<void> {
    return this.#enqueue(type, parts, false);
  }

  #enqueue(type: number, parts: Uint8Array | readonly Uint8Array[] | Headroomed | GatheredParts, closing: boolean): Promise<void> {
    const no = this.#nextMessageNo;
    this.#nextMessageNo = (no + 1) >>> 0;
    const run = async () => {
      // After close, only the farewell message still goes out.
      if (this.#linkClosed || (this.#closed && !closing)) return;
      const frames =
        parts instanceof Uint8Array
          ? framePieces(type, no, [parts], this.#chunkBytes)
          : 'headroom' in parts
            ? frameHeadroomed(type, no, parts, this.#chunkBytes)
            : 'gathered' in parts
              ? frameGathered(type, no, parts.gathered, this.#chunkBytes)
              : framePieces(type, no, parts, this.#chunkBytes);
      for (const f of frames) {
        if (this.#linkClosed) return;
        for (const p of f) this.bytesOut += p.length;
        await this.link.send(f);
      }
    };
    const p = this.#sendTail.then(run);
    this.#sendTail = p.catch(() => {});
    return p;
  }

  /**
   * Ends the channel at once for incoming frames. With `bye`, that message is
   * sent first (best effort: the link is cut after BYE_GRACE_MS even if a
   * peer that does not read keeps it queued).
   */
  close(reason: string, violation = false, bye?: { type: number; bytes: Uint8Array }): void {
    if (this.#closed) return;
    this.#end(reason, violation);
    if (bye === undefined) {
      this.#closeLink(reason);
      return;
    }
    const timer = setTimeout(() => this.#closeLink(reason), BYE_GRACE_MS);
    timer.unref?.();
    void this.#enqueue(bye.type, bye.bytes, true).finally(() => {
      clearTimeout(timer);
      this.#closeLink(reason);
    });
  }

  #closeLink(reason: string): void {
    if (this.#linkClosed) return;
    this.#linkClosed = true;
    this.link.close(reason);
  }

  #end(reason: string, violation: boolean): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#queue = [];
    this.#handlers.close(reason, violation);
  }

  #onFrame(frame: Uint8Array): void {
    if (this.#closed) return;
    this.lastSeen = performance.now();
    this.bytesIn += frame.length;
    this.#queue.push(frame);
    if (!this.#draining) void this.#drain();
  }

  async #drain(): Promise<void> {
    this.#draining = true;
    try {
      while (this.#queue.length > 0 && !this.#closed) {
        const frame = this.#queue.shift()!;
        let msg;
        try {
          msg = this.#reassembler.push(frame);
        } catch (e) {
          const reason = isConfideError(e) ? e.message : 'malformed frame';
          this.close(reason, true, this.#handlers.farewell?.(reason));
          return;
        }
        if (msg === undefined) continue;
        const r = this.#handlers.message(msg.type, msg.bytes);
        if (r !== undefined) {
          this.link.pause();
          try {
            await r;
          } finally {
            this.link.resume();
          }
        }
      }
    } finally {
      this.#draining = false;
    }
  }
}
