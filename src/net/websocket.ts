/**
 * The WebSocket backend: a `ws` server (over node:https when given a
 * certificate and key) and `ws` clients. One frame is one binary WebSocket
 * message; text messages are refused. Compression is off (tensors do not
 * compress, and per-message deflate is a memory-exhaustion vector).
 */
import { createServer as createHttpServer, type Server as HttpServer } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { WebSocket, WebSocketServer, type RawData } from 'ws';
import { aoptions, ainteger, astring, isBytes } from '../core/assert.ts';
import { ConfideError, describe } from '../core/errors.ts';
import { CHUNK_BYTES, FRAME_HEADER_BYTES, concatPieces, maxChunkData } from './_frame.ts';
import { HIGH_WATER_BYTES, type Link, type LinkHandlers, type Listener, type Transport } from './transport.ts';

/** A PEM string or its bytes. */
export type Pem = string | Uint8Array;

export interface WebSocketOptions {
  /** Interface the server binds (default '127.0.0.1'). */
  host?: string;
  /** Port the server binds (default 0: any free port; see `Listener.address`). */
  port?: number;
  /** Serve TLS (wss://) with this certificate chain and private key. */
  tls?: { cert: Pem; key: Pem };
  /** Certificates a client trusts for wss:// in addition to the system roots (e.g. a self-signed server certificate). */
  ca?: Pem;
}

const OPTION_KEYS = ['host', 'port', 'tls', 'ca'];
/** The largest WebSocket message: one frame header and the largest chunk. */
const MAX_WS_PAYLOAD = FRAME_HEADER_BYTES + maxChunkData(CHUNK_BYTES);
/** How long a closing socket may take before it is cut. */
const CLOSE_GRACE_MS = 2000;
/** Pieces shorter than this are joined before they go out; longer ones are written as they are. */
const JOIN_BELOW_BYTES = 64 * 1024;

/**
 * RFC 6455 (section 10.3) has clients mask what they send with a fresh
 * random key so that bytes chosen by untrusted script in a browser cannot be
 * taken for HTTP by a transparent proxy on the path. Over TLS no intermediary
 * reads the bytes, and on loopback there is none, so there a client sends
 * with the all-zero key (the frame is still flagged masked): `ws` then
 * neither copies nor XORs a 4 MiB frame at the client, nor XORs it at the
 * server. Elsewhere (ws:// to another host) frames are masked as usual.
 */
function maskingNeeded(address: string): boolean {
  let u: URL;
  try {
    u = new URL(address);
  } catch {
    return true;
  }
  if (u.protocol === 'wss:') return false;
  const host = u.hostname.replace(/^\[|\]$/g, '');
  return !(host === 'localhost' || host === '::1' || /^127\./.test(host));
}

const zeroMask = (mask: Uint8Array) => void mask.fill(0);

/** The parts of a `ws` socket that a gathered write uses (ws is pinned exactly; `gatheredWritable` checks them). */
interface WsInternals {
  _sender?: {
    _state?: number;
    _queue?: unknown[];
    _firstFragment?: boolean;
    _socket?: { cork(): void; uncork(): void; write(b: Uint8Array, cb?: (err?: Error | null) => void): boolean };
  };
}

/**
 * The socket under `ws`, when a frame may be written to it directly: the
 * sender is idle (no compression or blob read in progress, nothing queued,
 * not inside a fragmented message), so bytes written now follow everything
 * `ws` has written and nothing it writes later can come between them.
 */
function gatheredWritable(ws: WebSocket) {
  const s = (ws as unknown as WsInternals)._sender;
  const sock = s?._socket;
  if (s === undefined || sock === undefined || typeof sock.write !== 'function' || typeof sock.cork !== 'function') return undefined;
  if (s._state !== 0 || (s._queue !== undefined && s._queue.length !== 0) || s._firstFragment !== true) return undefined;
  return sock;
}

/**
 * The header of one final binary WebSocket frame of `n` payload bytes (RFC
 * 6455, section 5.2): unmasked from the server, flagged masked with the
 * all-zero key from a client that may skip masking (the key XORs nothing, so
 * the payload goes out as it is).
 */
export function wsFrameHeader(n: number, zeroMasked: boolean): Uint8Array {
  const lengthBytes = n < 126 ? 0 : n < 65536 ? 2 : 8;
  const h = new Uint8Array(2 + lengthBytes + (zeroMasked ? 4 : 0));
  h[0] = 0x82; // FIN, opcode 2 (binary)
  h[1] = (zeroMasked ? 0x80 : 0) | (lengthBytes === 0 ? n : lengthBytes === 2 ? 126 : 127);
  const dv = new DataView(h.buffer);
  if (lengthBytes === 2) dv.setUint16(2, n);
  else if (lengthBytes === 8) dv.setBigUint64(2, BigInt(n));
  // A masked frame's 4-byte key follows the length; here it is zero (already).
  return h;
}

/** Pieces with runs of small ones (under JOIN_BELOW_BYTES) joined, `first` (if any) before them all. */
function grouped(pieces: readonly Uint8Array[], first?: Uint8Array): Uint8Array[] {
  const groups: Uint8Array[] = [];
  let small: Uint8Array[] = first === undefined ? [] : [first];
  for (const p of pieces) {
    if (p.length < JOIN_BELOW_BYTES) small.push(p);
    else {
      if (small.length > 0) groups.push(small.length === 1 ? small[0] : concatPieces(small));
      small = [];
      groups.push(p);
    }
  }
  if (small.length > 0) groups.push(small.length === 1 ? small[0] : concatPieces(small));
  return groups;
}

function apem(v: unknown, field: string): string | Buffer {
  if (typeof v === 'string' && v.length > 0) return v;
  if (isBytes(v) && v.length > 0) return Buffer.from(v.buffer, v.byteOffset, v.length);
  throw new ConfideError('E_BAD_INPUT', `"${field}" expected a PEM string or Uint8Array, got ${describe(v)}`, { field });
}

function toBytes(data: RawData): Uint8Array | undefined {
  // binaryType 'nodebuffer' (the default) yields one Buffer per message.
  if (data instanceof Uint8Array) return new Uint8Array(data.buffer, data.byteOffset, data.length);
  return undefined;
}

class WsLink implements Link {
  readonly remote: string;
  readonly #ws: WebSocket;
  #handlers: LinkHandlers | undefined;
  #early: Uint8Array[] = [];
  #earlyClose: { reason: string; violation: boolean } | undefined;
  #outstanding = 0;
  #waiters: (() => void)[] = [];
  #closed = false;
  /** The server's end of the socket (its frames are not masked). */
  readonly #server: boolean;
  /** A client's end that masks with the all-zero key (loopback, TLS). */
  readonly #zeroMask: boolean;

  constructor(ws: WebSocket, remote: string, server: boolean, zeroMask = false) {
    this.#ws = ws;
    this.remote = remote;
    this.#server = server;
    this.#zeroMask = zeroMask;
    ws.on('message', (data: RawData, isBinary: boolean) => {
      const frame = isBinary ? toBytes(data) : undefined;
      if (frame === undefined) {
        // A text message cannot be a frame.
        this.close('text WebSocket message (frames are binary)', true);
        return;
      }
      if (this.#handlers && this.#early.length === 0) this.#handlers.frame(frame);
      else this.#early.push(frame);
    });
    ws.on('close', (code: number, reason: Buffer) => this.#ended(reason.length > 0 ? reason.toString('utf8') : `connection closed (code ${code})`, false));
    ws.on('error', (err: Error & { code?: string }) =>
      // ws names the peer's protocol violations WS_ERR_* (over-long message, bad opcode, bad masking...).
      this.#ended(`connection error: ${err.message}`, typeof err.code === 'string' && err.code.startsWith('WS_ERR_')),
    );
  }

  #ended(reason: string, violation: boolean): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#release();
    if (this.#handlers && this.#early.length === 0) this.#handlers.close(reason, violation);
    else this.#earlyClose = { reason, violation };
  }

  #release(): void {
    const w = this.#waiters;
    this.#waiters = [];
    for (const r of w) r();
  }

  send(pieces: readonly Uint8Array[]): Promise<void> {
    if (this.#closed || this.#ws.readyState !== WebSocket.OPEN) return Promise.resolve();
    let n = 0;
    for (const p of pieces) n += p.length;
    this.#outstanding += n;
    const done = () => {
      // Called once the bytes are handed to the socket (or the send failed).
      this.#outstanding -= n;
      if (this.#outstanding < HIGH_WATER_BYTES) this.#release();
    };
    // One frame is one WebSocket message. A frame of several pieces (a
    // broadcast's shared body behind its per-recipient headers; a gathered
    // envelope) goes out as one WebSocket frame whose header this writes,
    // straight to the socket: neither side copies it (ws would join the
    // pieces at the sender to send one frame, or at the receiver to join
    // fragments). A client masking with a random key (ws:// to another host)
    // must copy anyway, so it joins the pieces and lets ws mask them.
    const sock = pieces.length > 1 && (this.#server || this.#zeroMask) ? gatheredWritable(this.#ws) : undefined;
    if (sock !== undefined) {
      const groups = grouped(pieces, wsFrameHeader(n, !this.#server));
      const last = groups.length - 1;
      sock.cork();
      for (let i = 0; i <= last; i++) sock.write(groups[i], i === last ? () => done() : undefined);
      sock.uncork();
    } else if (pieces.length === 1 || !this.#server) this.#ws.send(pieces.length === 1 ? pieces[0] : concatPieces(pieces), { binary: true }, done);
    else {
      // The sender is busy (it never is with compression off): fragments, each piece once, which the receiver joins.
      const groups = grouped(pieces);
      const last = groups.length - 1;
      // ws calls each fragment's callback in order; the last one means the whole frame is handed over.
      for (let i = 0; i <= last; i++) this.#ws.send(groups[i], { binary: true, fin: i === last }, i === last ? done : undefined);
    }
    if (this.#outstanding < HIGH_WATER_BYTES) return Promise.resolve();
    return new Promise((resolve) => this.#waiters.push(resolve));
  }

  setHandlers(handlers: LinkHandlers): void {
    this.#handlers = handlers;
    if (this.#early.length === 0 && this.#earlyClose === undefined) return;
    // Frames that came before the handlers are delivered on the next turn (the
    // caller is still constructing), and frames arriving meanwhile queue behind them.
    setImmediate(() => {
      while (this.#early.length > 0) handlers.frame(this.#early.shift()!);
      if (this.#earlyClose !== undefined) handlers.close(this.#earlyClose.reason, this.#earlyClose.violation);
    });
  }

  setMaxFrameBytes(bytes: number): void {
    // ws 8 reads its per-socket limit from the receiver's _maxPayload on every
    // frame; it has no public setter, so this reaches in (ws is pinned exactly).
    const receiver = (this.#ws as unknown as { _receiver?: { _maxPayload?: number } })._receiver;
    if (receiver && typeof receiver._maxPayload === 'number') receiver._maxPayload = Math.min(bytes, MAX_WS_PAYLOAD);
  }

  pause(): void {
    if (!this.#closed) this.#ws.pause();
  }

  resume(): void {
    if (!this.#closed) this.#ws.resume();
  }

  close(reason: string, violation = false): void {
    if (this.#closed) return;
    const ws = this.#ws;
    // WebSocket close reasons are at most 123 bytes.
    const short = Buffer.from(reason, 'utf8').subarray(0, 120).toString('utf8').replace(/\uFFFD+$/, '');
    try {
      ws.close(4000, short);
    } catch {
      ws.terminate();
    }
    setTimeout(() => ws.terminate(), CLOSE_GRACE_MS).unref();
    this.#ended(reason, violation);
  }
}

/**
 * The WebSocket backend. The same object listens (server) and dials
 * (clients); give TLS material to serve wss://, and `ca` to a client that
 * must trust a self-signed server.
 */
export function webSocketTransport(options?: WebSocketOptions): Transport {
  const o = (aoptions(options, 'options', OPTION_KEYS) ?? {}) as WebSocketOptions;
  const host = o.host === undefined ? '127.0.0.1' : astring(o.host, 'host', 255);
  const port = o.port === undefined ? 0 : ainteger(o.port, 'port', 0, 65535);
  let tls: { cert: string | Buffer; key: string | Buffer } | undefined;
  if (o.tls !== undefined) {
    aoptions(o.tls, 'tls', ['cert', 'key']);
    tls = { cert: apem(o.tls.cert, 'tls.cert'), key: apem(o.tls.key, 'tls.key') };
  }
  const ca = o.ca === undefined ? undefined : apem(o.ca, 'ca');

  return {
    async listen(accept: (link: Link) => void): Promise<Listener> {
      const http: HttpServer = tls ? createHttpsServer({ cert: tls.cert, key: tls.key }) : createHttpServer();
      const wss = new WebSocketServer({ server: http, maxPayload: MAX_WS_PAYLOAD, perMessageDeflate: false, clientTracking: true });
      wss.on('connection', (ws, req) => {
        const remote = `${req.socket.remoteAddress ?? '?'}:${req.socket.remotePort ?? '?'}`;
        accept(new WsLink(ws, remote, true));
      });
      // Errors on the listening socket after start surface as closed links; never throw from here.
      wss.on('error', () => {});
      await new Promise<void>((resolve, reject) => {
        http.once('error', (e) => reject(new ConfideError('E_IO', `net: cannot listen on ${host}:${port}: ${e.message}`, { field: 'port', cause: e })));
        http.listen(port, host, () => resolve());
      });
      http.on('error', () => {});
      const addr = http.address() as AddressInfo;
      const shownHost = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address;
      const address = `${tls ? 'wss' : 'ws'}://${shownHost}:${addr.port}`;
      return {
        address,
        close: () =>
          new Promise<void>((resolve) => {
            for (const ws of wss.clients) ws.terminate();
            wss.close(() => http.close(() => resolve()));
            http.closeAllConnections?.();
          }),
      };
    },

    dial(address: string): Promise<Link> {
      astring(address, 'address');
      if (!/^wss?:\/\//.test(address))
        return Promise.reject(new ConfideError('E_BAD_INPUT', `"address" expected a ws:// or wss:// URL, got ${describe(address)}`, { field: 'address' }));
      return new Promise<Link>((resolve, reject) => {
        const masked = maskingNeeded(address);
        const ws = new WebSocket(address, { maxPayload: MAX_WS_PAYLOAD, perMessageDeflate: false, ...(ca ? { ca } : {}), ...(masked ? {} : { generateMask: zeroMask }) });
        // Attach the link at once so that no message between 'open' and the caller's handlers is lost.
        const link = new WsLink(ws, address, false, !masked);
        const onError = (e: Error) => {
          ws.off('open', onOpen);
          reject(new ConfideError('E_IO', `net: cannot connect to ${address}: ${e.message}`, { field: 'address', cause: e }));
        };
        const onOpen = () => {
          ws.off('error', onError);
          resolve(link);
        };
        ws.once('error', onError);
        ws.once('open', onOpen);
      });
    },
  };
}
