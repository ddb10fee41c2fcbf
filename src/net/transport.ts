/**
 * The transport contract: what a backend (in-memory, WebSocket) provides to
 * the party runtime. A backend moves opaque frames in order over links and
 * reports when a link ends; framing, identity, signatures, rounds and limits
 * live above it, so the same protocol code runs on every backend.
 */

/** Handlers a link calls; set once, right after the link is made. */
export interface LinkHandlers {
  /** One frame, in the order sent. The array may be a view into a larger buffer. */
  frame(frame: Uint8Array): void;
  /**
   * The link ended (either side closed it, or the connection failed). Called
   * once. `violation` is true when the backend itself caught the peer
   * breaking its protocol (e.g. an over-long or text WebSocket message).
   */
  close(reason: string, violation?: boolean): void;
}

/** One ordered, reliable, bidirectional channel of frames to one peer. */
export interface Link {
  /** Where the peer is (an address for logs; not an identity). */
  readonly remote: string;
  /**
   * Sends one frame, given as pieces whose concatenation is the frame (so
   * large payloads are never copied just to prepend a header). The pieces
   * must not be modified afterwards. The returned promise settles once the
   * link has room for more (its unsent bytes are below the backend's
   * high-water mark), so a sender that awaits it never buffers without
   * bound. Frames sent after the link closed are discarded.
   */
  send(frame: readonly Uint8Array[]): Promise<void>;
  setHandlers(handlers: LinkHandlers): void;
  /** Stops delivering frames until `resume` (the peer's sends then back up). */
  pause(): void;
  resume(): void;
  /** Ends the link; the peer sees `reason` where the backend can carry it. */
  close(reason: string): void;
  /**
   * Optional: the largest frame the backend should accept from the peer from
   * now on, so that an unauthenticated peer cannot make it buffer a large
   * frame before the runtime sees it. A larger frame ends the link as a violation.
   */
  setMaxFrameBytes?(bytes: number): void;
}

/** A running listener. */
export interface Listener {
  /** The address clients pass to `Transport.dial` (e.g. `ws://127.0.0.1:40123`). */
  readonly address: string;
  close(): Promise<void>;
}

export interface Transport {
  /** Server side: accepts links until the listener is closed. */
  listen(accept: (link: Link) => void): Promise<Listener>;
  /** Client side: opens a link to a listener's address. */
  dial(address: string): Promise<Link>;
}

/** Unsent bytes per link above which `Link.send` waits (both backends). */
export const HIGH_WATER_BYTES = 8 * 1024 * 1024;
