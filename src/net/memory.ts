/**
 * The in-memory backend: links inside one process, for tests and simulations.
 * Frames are copied on send (as a wire would), delivered asynchronously in
 * order, and count against the sender's high-water mark until the receiver
 * takes them, so backpressure and pauses behave as over a socket.
 */
import { ConfideError } from '../core/errors.ts';
import { astring } from '../core/assert.ts';
import { concatPieces } from './_frame.ts';
import { HIGH_WATER_BYTES, type Link, type LinkHandlers, type Listener, type Transport } from './transport.ts';

class MemoryLink implements Link {
  readonly remote: string;
  peer: MemoryLink | undefined;
  #handlers: LinkHandlers | undefined;
  #inbox: Uint8Array[] = [];
  #inboxBytes = 0;
  #paused = false;
  #scheduled = false;
  #closed = false;
  #closeReason: string | undefined;
  #drainWaiters: (() => void)[] = [];

  constructor(remote: string) {
    this.remote = remote;
  }

  send(pieces: readonly Uint8Array[]): Promise<void> {
    const peer = this.peer;
    if (this.#closed || peer === undefined || peer.#closed) return Promise.resolve();
    // One copy, as a wire would make.
    const frame = concatPieces(pieces);
    peer.#inbox.push(frame);
    peer.#inboxBytes += frame.length;
    peer.#schedule();
    if (peer.#inboxBytes < HIGH_WATER_BYTES) return Promise.resolve();
    return new Promise((resolve) => peer.#drainWaiters.push(resolve));
  }

  setHandlers(handlers: LinkHandlers): void {
    this.#handlers = handlers;
    this.#schedule();
    if (this.#closed && this.#closeReason !== undefined) this.#notifyClose();
  }

  pause(): void {
    this.#paused = true;
  }

  resume(): void {
    this.#paused = false;
    this.#schedule();
  }

  close(reason: string): void {
    if (this.#closed) return;
    this.#end(reason);
    // The peer still receives what was sent before the close, then the close.
    const peer = this.peer;
    if (peer !== undefined && !peer.#closed) {
      peer.#pendingClose = reason;
      peer.#schedule();
    }
  }

  #pendingClose: string | undefined;

  #end(reason: string): void {
    this.#closed = true;
    this.#closeReason = reason;
    this.#inbox = [];
    this.#inboxBytes = 0;
    this.#releaseWaiters();
    setImmediate(() => this.#notifyClose());
  }

  #notified = false;
  #notifyClose(): void {
    if (this.#notified || this.#handlers === undefined) return;
    this.#notified = true;
    this.#handlers.close(this.#closeReason ?? 'closed');
  }

  #releaseWaiters(): void {
    const w = this.#drainWaiters;
    this.#drainWaiters = [];
    for (const r of w) r();
  }

  #schedule(): void {
    if (this.#scheduled || this.#handlers === undefined) return;
    this.#scheduled = true;
    setImmediate(() => this.#deliver());
  }

  #deliver(): void {
    this.#scheduled = false;
    const h = this.#handlers;
    if (h === undefined || this.#closed) return;
    // A bounded batch per turn, so one busy link cannot starve the event loop.
    let budget = 64;
    while (!this.#paused && this.#inbox.length > 0 && budget-- > 0 && !this.#closed) {
      const f = this.#inbox.shift()!;
      this.#inboxBytes -= f.length;
      h.frame(f);
    }
    if (this.#inboxBytes < HIGH_WATER_BYTES) this.#releaseWaiters();
    if (this.#closed) return;
    if (this.#inbox.length > 0) {
      if (!this.#paused) this.#schedule();
    } else if (this.#pendingClose !== undefined) {
      this.#end(this.#pendingClose);
    }
  }
}

/**
 * An in-process network: `listen` gives an address like `memory://1`, `dial`
 * connects to it. Each call makes an independent network.
 */
export function memoryTransport(): Transport {
  const listeners = new Map<string, (link: Link) => void>();
  let nextAddress = 1;
  let nextClient = 1;
  return {
    async listen(accept: (link: Link) => void): Promise<Listener> {
      const address = `memory://${nextAddress++}`;
      listeners.set(address, accept);
      return {
        address,
        async close() {
          listeners.delete(address);
        },
      };
    },
    async dial(address: string): Promise<Link> {
      astring(address, 'address');
      const accept = listeners.get(address);
      if (accept === undefined)
        throw new ConfideError('E_IO', `net: nothing listens at ${address}`, { field: 'address' });
      const client = new MemoryLink(address);
      const server = new MemoryLink(`memory-client-${nextClient++}`);
      client.peer = server;
      server.peer = client;
      accept(server);
      return client;
    },
  };
}
