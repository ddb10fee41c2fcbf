/**
 * The server (coordinator) of a session: authenticates parties, collects one
 * message per party and round under a deadline, sends and broadcasts, and
 * relays party-to-party envelopes it cannot forge. A party that breaks the
 * protocol is dropped with a reason; a party that goes silent is a dropout.
 * Neither is ever an exception in the caller's code.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { ainteger, aoptions, isBytes } from '../core/assert.ts';
import { decodeMessage, type DecodeLimits, type Message } from '../core/codec.ts';
import { ConfideError, describe, isConfideError } from '../core/errors.ts';
import { randomBytes } from '../core/random.ts';
import { Channel } from './_channel.ts';
import {
  FRAME_AUTH,
  FRAME_BYE,
  FRAME_ENVELOPE,
  FRAME_HELLO,
  FRAME_PING,
  FRAME_PONG,
  FRAME_WELCOME,
  decodeAck,
  encodeAck,
} from './_frame.ts';
import {
  ENVELOPE_HEADER_BYTES,
  KIND_MAC,
  SESSION_ID_BYTES,
  authTranscript,
  decodeAuth,
  decodeBye,
  encodeBye,
  encodeHello,
  encodeWelcome,
  parseEnvelope,
  prepareBody,
  sealMac,
  verifyEnvelope,
  verifyMacEnvelope,
  welcomeTranscript,
  type OpenedEnvelope,
  type PreparedBody,
  type TranscriptParts,
} from './_envelope.ts';
import { deriveKeys, ephemeral, type Ephemeral, type SessionKeys } from './_session.ts';
import { Inbox, type Received } from './_inbox.ts';
import { emitter, type NetEvent, type NetListener } from './events.ts';
import { aidentity, aparty, signBytes, toHex, verifyBytes, type Identity, type PartyId } from './identity.ts';
import type { Link, Listener, Transport } from './transport.ts';
import {
  DEFAULTS,
  HANDSHAKE_MAX_BYTES,
  StallClock,
  around,
  atimeout,
  atransport,
  bodyLimits,
  bytesEqual,
  wireBytes,
  type Limits,
} from './_common.ts';

export interface ServerOptions {
  transport: Transport;
  identity: Identity;
  /** Parties allowed to join (their ids). With `token` too, a party needs both. */
  allow?: readonly PartyId[];
  /** A shared enrolment token (at least 16 bytes): any party that proves it knows the token may join. */
  token?: Uint8Array;
  /** 16 bytes naming the session (default: fresh random bytes). */
  sessionId?: Uint8Array;
  /** Largest message a party may send, envelope included (default 64 MiB). */
  maxMessageBytes?: number;
  /** Most bytes of received, not yet collected messages the server holds per party (default 128 MiB). */
  maxBufferedBytes?: number;
  /** Most parties in the session (default 10,000). */
  maxParties?: number;
  /** Ping interval; a party silent for three intervals is disconnected (default 5,000 ms). */
  heartbeatMs?: number;
  /** Time a new connection has to authenticate (default 10,000 ms). */
  authTimeoutMs?: number;
  /** Most connections waiting to authenticate at once; more are closed at once with a `reject` event (default 1,024). */
  maxPendingConnections?: number;
  /** Time a disconnected party has to come back before it is dropped (default 30,000 ms). */
  reconnectWindowMs?: number;
  /** Receives structured events (join, drop, rounds, bytes...). */
  on?: NetListener;
}

const SERVER_KEYS = [
  'transport',
  'identity',
  'allow',
  'token',
  'sessionId',
  'maxMessageBytes',
  'maxBufferedBytes',
  'maxParties',
  'heartbeatMs',
  'authTimeoutMs',
  'maxPendingConnections',
  'reconnectWindowMs',
  'on',
];

/** What `collect` returns: at most one message per party, and who did not deliver. */
export interface RoundResult {
  messages: Map<PartyId, Received>;
  /** Expected parties with no message by the deadline (dropped, away, or slow). */
  dropped: PartyId[];
}

export interface CollectOptions {
  /** Milliseconds from the call until the round closes. */
  deadlineMs: number;
  /** Parties expected (default: every party in the session at the call). */
  from?: readonly PartyId[];
  /**
   * Called with each message as it is collected, in arrival order, while the
   * round is still open: a caller can work on one party's message while the
   * others are in flight (fl sums updates this way). If it throws, the round
   * is closed and `collect` rejects with that error.
   */
  onMessage?: (from: PartyId, message: Received) => void;
}

export interface ReceiveOptions {
  from?: PartyId;
  timeoutMs: number;
}

/** Something for a party's link: an envelope as parts (a relayed one), or a message to seal with the link's key when it goes out. */
type Outgoing = { parts: Uint8Array[] } | { round: number; seq: number; prepared: PreparedBody };

interface PartyState {
  id: PartyId;
  key: Uint8Array;
  channel: Channel | undefined;
  /** The session keys of `channel` (each connection has its own). */
  keys: SessionKeys | undefined;
  status: 'live' | 'away' | 'dropped';
  /** Highest sequence number accepted from the party. */
  lastSeq: number;
  awayTimer: ReturnType<typeof setTimeout> | undefined;
  /** What arrived for the party while it was away; MAC'd messages are sealed with the new link's key on delivery. */
  pending: Outgoing[];
  pendingBytes: number;
  /**
   * The server's own messages handed to the party's link, oldest first, kept
   * (within maxBufferedBytes) until a reconnection's AUTH says what arrived;
   * `prepared` is undefined once evicted. Bodies are shared with other
   * recipients of a broadcast, not copied.
   */
  sent: { round: number; seq: number; prepared: PreparedBody | undefined; bytes: number }[];
  sentBytes: number;
}

/** Most sent messages remembered per party (their numbers, for reporting a loss) beyond those whose bytes are kept. */
const MAX_SENT_RECORDS = 4096;

interface Conn {
  channel: Channel;
  challenge: Uint8Array;
  /** This connection's X25519 key pair, until the keys are derived (then forgotten: forward secrecy). */
  ephemeral: Ephemeral | undefined;
  party: PartyState | undefined;
  authTimer: ReturnType<typeof setTimeout>;
}

export class PartyServer {
  /** The server's party id (its public key). */
  readonly id: PartyId;
  readonly #sessionId: Uint8Array;
  readonly #identity: Identity;
  readonly #allow: Set<PartyId> | undefined;
  readonly #token: Uint8Array | undefined;
  readonly #limits: Limits;
  readonly #decodeLimits: DecodeLimits;
  readonly #maxParties: number;
  readonly #heartbeatMs: number;
  readonly #authTimeoutMs: number;
  readonly #maxPending: number;
  readonly #reconnectWindowMs: number;
  readonly #emit: (e: NetEvent) => void;
  readonly #parties = new Map<PartyId, PartyState>();
  readonly #inbox = new Inbox();
  readonly #conns = new Set<Conn>();
  /** Connections not yet authenticated. */
  #pending = 0;
  #listener: Listener | undefined;
  #heartbeat: ReturnType<typeof setInterval> | undefined;
  #stalls: StallClock;
  #seq = 0;
  /** Parties joined and not dropped. */
  #members = 0;
  #closed = false;

  /** Use `serve(options)`. */
  constructor(o: ServerOptions, secret: symbol) {
    if (secret !== CONSTRUCT) throw new ConfideError('E_STATE', 'net: use serve(options) to start a server');
    this.#identity = o.identity;
    this.id = o.identity.id;
    this.#sessionId = o.sessionId === undefined ? randomBytes(SESSION_ID_BYTES) : o.sessionId.slice();
    this.#allow = o.allow === undefined ? undefined : new Set(o.allow);
    this.#token = o.token?.slice();
    this.#limits = {
      maxMessageBytes: o.maxMessageBytes ?? DEFAULTS.maxMessageBytes,
      maxBufferedBytes: o.maxBufferedBytes ?? DEFAULTS.maxBufferedBytes,
    };
    this.#decodeLimits = bodyLimits(this.#limits.maxMessageBytes);
    this.#maxParties = o.maxParties ?? DEFAULTS.maxParties;
    this.#heartbeatMs = o.heartbeatMs ?? DEFAULTS.heartbeatMs;
    this.#authTimeoutMs = o.authTimeoutMs ?? DEFAULTS.authTimeoutMs;
    this.#maxPending = o.maxPendingConnections ?? DEFAULTS.maxPendingConnections;
    this.#reconnectWindowMs = o.reconnectWindowMs ?? DEFAULTS.reconnectWindowMs;
    this.#stalls = new StallClock(this.#heartbeatMs);
    this.#emit = emitter(o.on);
  }

  /** The address parties dial. */
  get address(): string {
    return this.#listener?.address ?? '';
  }

  /** The 16-byte session id (a copy). */
  get sessionId(): Uint8Array {
    return this.#sessionId.slice();
  }

  /** @internal Called once by `serve`. */
  async start(transport: Transport): Promise<void> {
    if (this.#listener !== undefined || this.#closed) throw new ConfideError('E_STATE', 'net: server already started', { field: 'server' });
    this.#listener = await transport.listen((link) => this.#accept(link));
    this.#heartbeat = setInterval(() => this.#beat(), this.#heartbeatMs);
    this.#heartbeat.unref?.();
    this.#emit({ type: 'listen', address: this.#listener.address });
  }

  /** Bytes of the server's messages to `party` kept for resending until the party acknowledges them (its heartbeats do; README, "Delivery"). */
  retainedBytes(party: PartyId): number {
    return this.#parties.get(aparty(party, 'party'))?.sentBytes ?? 0;
  }

  /** Parties in the session (joined and not dropped; some may be reconnecting). */
  parties(): PartyId[] {
    const out: PartyId[] = [];
    for (const p of this.#parties.values()) if (p.status !== 'dropped') out.push(p.id);
    return out;
  }

  /** Resolves with `parties()` once at least `count` parties are in the session; E_TIMEOUT after `timeoutMs`. */
  async waitForParties(count: number, options: { timeoutMs: number }): Promise<PartyId[]> {
    ainteger(count, 'count', 1, this.#maxParties);
    aoptions(options, 'options', ['timeoutMs']);
    const timeoutMs = atimeout(options?.timeoutMs, 'timeoutMs');
    this.#open();
    return new Promise((resolve, reject) => {
      const check = () => {
        if (this.#closed) return done(new ConfideError('E_STATE', 'net: server closed', { field: 'server' }));
        if (this.#members >= count) done(undefined, this.parties());
      };
      const timer = setTimeout(
        () => done(new ConfideError('E_TIMEOUT', `net: ${this.parties().length} of ${count} parties joined within ${timeoutMs} ms`, { field: 'timeoutMs' })),
        timeoutMs,
      );
      const unwatch = this.#inbox.watch(check);
      const done = (err?: ConfideError, ps?: PartyId[]) => {
        unwatch();
        clearTimeout(timer);
        if (err) reject(err);
        else resolve(ps!);
      };
      check();
    });
  }

  /**
   * Opens round `round` and collects one message from each expected party
   * until all have sent, dropped, or the deadline passes. The round is then
   * closed: later messages for it are discarded (a 'late' event).
   */
  async collect(round: number, options: CollectOptions): Promise<RoundResult> {
    around(round);
    aoptions(options, 'options', ['deadlineMs', 'from', 'onMessage']);
    const deadlineMs = atimeout(options?.deadlineMs, 'deadlineMs');
    const onMessage = options.onMessage;
    if (onMessage !== undefined && typeof onMessage !== 'function')
      throw new ConfideError('E_BAD_INPUT', `"onMessage" expected a function, got ${describe(onMessage)}`, { field: 'onMessage' });
    let expected: PartyId[];
    if (options.from === undefined) expected = this.parties();
    else {
      if (!Array.isArray(options.from)) throw new ConfideError('E_BAD_INPUT', `"from" expected an array of party ids, got ${describe(options.from)}`, { field: 'from' });
      expected = options.from.map((p, i) => aparty(p, `from[${i}]`));
    }
    this.#open();
    if (this.#inbox.isClosed(round)) throw new ConfideError('E_STATE', `net: round ${round} was already collected`, { field: 'round' });
    this.#emit({ type: 'round-start', round, expected: [...expected], deadlineMs });
    const messages = new Map<PartyId, Received>();
    return new Promise((resolve, reject) => {
      let finished = false;
      let failure: { error: unknown } | undefined;
      const finish = () => {
        if (finished) return;
        finished = true;
        unwatch();
        clearTimeout(timer);
        this.#inbox.closeRound(round);
        if (failure !== undefined) return reject(failure.error);
        if (this.#closed) return reject(new ConfideError('E_STATE', 'net: server closed during the round', { field: 'server' }));
        const dropped = expected.filter((p) => !messages.has(p));
        this.#emit({ type: 'round-end', round, received: messages.size, dropped });
        resolve({ messages, dropped });
      };
      const check = () => {
        if (this.#closed || finished) return finish();
        let waiting = 0;
        for (const p of expected) {
          if (messages.has(p)) continue;
          const m = this.#inbox.take(round, p);
          if (m !== undefined) {
            messages.set(p, m);
            if (onMessage !== undefined) {
              try {
                onMessage(p, m);
              } catch (error) {
                failure = { error };
                return finish();
              }
              // The callback may have closed the server or ended the round (e.g. by dropping a party).
              if (finished) return;
            }
          } else if (this.#parties.get(p)?.status !== 'dropped') waiting++;
        }
        if (waiting === 0) finish();
      };
      const timer = setTimeout(finish, deadlineMs);
      const unwatch = this.#inbox.watch(check);
      check();
    });
  }

  /** The next message for this server in `round` (from `from`, if given); E_TIMEOUT after `timeoutMs`. */
  async receive(round: number, options: ReceiveOptions): Promise<Received> {
    around(round);
    aoptions(options, 'options', ['from', 'timeoutMs']);
    const timeoutMs = atimeout(options?.timeoutMs, 'timeoutMs');
    const from = options.from === undefined ? undefined : aparty(options.from, 'from');
    this.#open();
    return this.#inbox.wait(round, from, timeoutMs);
  }

  /**
   * Sends a message to one party. Resolves true once it is handed to the
   * link (under backpressure) or queued for a party that is reconnecting,
   * false if the party is unknown or dropped (a dropout, not an error).
   */
  async send(to: PartyId, round: number, message: Message): Promise<boolean> {
    aparty(to, 'to');
    around(round);
    const prepared = prepareBody(message);
    this.#open();
    return this.#sendPrepared(to, round, prepared);
  }

  /**
   * Sends one message to many parties (default: every party in the session),
   * encoding the body once and authenticating it per recipient. Resolves with the parties it went to.
   */
  async broadcast(round: number, message: Message, options?: { to?: readonly PartyId[] }): Promise<PartyId[]> {
    around(round);
    aoptions(options, 'options', ['to']);
    let to: PartyId[];
    if (options?.to === undefined) to = this.parties();
    else {
      if (!Array.isArray(options.to)) throw new ConfideError('E_BAD_INPUT', `"to" expected an array of party ids, got ${describe(options.to)}`, { field: 'to' });
      to = options.to.map((p, i) => aparty(p, `to[${i}]`));
    }
    const prepared = prepareBody(message);
    this.#open();
    const sent = await Promise.all(to.map((p) => this.#sendPrepared(p, round, prepared)));
    return to.filter((_, i) => sent[i]);
  }

  /** Drops a party from the session (it is told why and cannot rejoin). */
  drop(party: PartyId, reason: string): void {
    aparty(party, 'party');
    if (typeof reason !== 'string') throw new ConfideError('E_BAD_INPUT', `"reason" expected a string, got ${describe(reason)}`, { field: 'reason' });
    const p = this.#parties.get(party);
    if (p !== undefined) this.#drop(p, reason, false);
  }

  /** Tells every party the session is over, stops listening and rejects pending waits (E_STATE). */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#heartbeat) clearInterval(this.#heartbeat);
    for (const c of this.#conns) {
      clearTimeout(c.authTimer);
      c.channel.close('server closed', false, { type: FRAME_BYE, bytes: encodeBye('server closed') });
    }
    for (const p of this.#parties.values()) if (p.awayTimer) clearTimeout(p.awayTimer);
    this.#inbox.fail(new ConfideError('E_STATE', 'net: server closed', { field: 'server' }));
    // Give farewells a moment to leave before the listener cuts the sockets.
    await new Promise((r) => setTimeout(r, 20));
    await this.#listener?.close();
  }

  #open(): void {
    if (this.#closed) throw new ConfideError('E_STATE', 'net: server closed', { field: 'server' });
  }

  async #sendPrepared(to: PartyId, round: number, prepared: PreparedBody): Promise<boolean> {
    const p = this.#parties.get(to);
    if (p === undefined || p.status === 'dropped') return false;
    return this.#deliver(p, { round, seq: ++this.#seq, prepared }, this.id);
  }

  /**
   * Hands an envelope to a party's link (sealing the server's own messages
   * with that link's key, at once, so key and link always match), or queues
   * it while the party reconnects.
   */
  #deliver(p: PartyState, out: Outgoing, from: PartyId): Promise<boolean> | boolean {
    let n = 0;
    if ('parts' in out) for (const part of out.parts) n += part.length;
    else n = ENVELOPE_HEADER_BYTES + out.prepared.body.length;
    if (p.status === 'live' && p.channel !== undefined && p.keys !== undefined) {
      const env =
        'parts' in out
          ? out.parts
          : sealMac(p.keys, { round: out.round, sessionId: this.#sessionId, from: this.#identity.publicKey, to: p.key, seq: out.seq }, out.prepared);
      this.#emit({ type: 'bytes', direction: 'out', party: p.id, bytes: wireBytes(n) });
      if (!('parts' in out)) this.#remember(p, out, n);
      return p.channel.send(FRAME_ENVELOPE, env).then(() => true);
    }
    if (p.status === 'away' && p.pendingBytes + n <= this.#limits.maxBufferedBytes) {
      p.pending.push(out);
      p.pendingBytes += n;
      return true;
    }
    this.#emit({ type: 'undeliverable', from, to: p.id, reason: p.status === 'away' ? 'queue for a reconnecting party is full' : 'recipient dropped' });
    return false;
  }

  /** Forgets the kept messages the party has accepted (sequence numbers up to `ack`). */
  #forget(p: PartyState, ack: number): void {
    let i = 0;
    while (i < p.sent.length && p.sent[i].seq <= ack) i++;
    if (i === 0) return;
    for (const s of p.sent.slice(0, i)) if (s.prepared !== undefined) p.sentBytes -= s.bytes;
    p.sent.splice(0, i);
  }

  /** Keeps one of the server's own messages for resending after the party reconnects, within maxBufferedBytes. */
  #remember(p: PartyState, out: { round: number; seq: number; prepared: PreparedBody }, bytes: number): void {
    p.sent.push({ round: out.round, seq: out.seq, prepared: out.prepared, bytes });
    p.sentBytes += bytes;
    for (let i = 0; p.sentBytes > this.#limits.maxBufferedBytes && i < p.sent.length - 1; i++) {
      const old = p.sent[i];
      if (old.prepared === undefined) continue;
      old.prepared = undefined;
      p.sentBytes -= old.bytes;
    }
    if (p.sent.length > MAX_SENT_RECORDS)
      for (const old of p.sent.splice(0, p.sent.length - MAX_SENT_RECORDS)) if (old.prepared !== undefined) p.sentBytes -= old.bytes;
  }

  #accept(link: Link): void {
    if (this.#closed) {
      link.close('server closed');
      return;
    }
    if (this.#pending >= this.#maxPending) {
      // Refused before any work (no key pair, no challenge): a flood of connections costs sockets only.
      const reason = `too many connections waiting to authenticate (maxPendingConnections = ${this.#maxPending})`;
      link.close(reason);
      this.#emit({ type: 'reject', remote: link.remote, reason });
      return;
    }
    this.#pending++;
    const conn: Conn = {
      channel: undefined as unknown as Channel,
      challenge: randomBytes(32),
      ephemeral: ephemeral(),
      party: undefined,
      authTimer: undefined as unknown as ReturnType<typeof setTimeout>,
    };
    conn.channel = new Channel(link, HANDSHAKE_MAX_BYTES, {
      message: (type, bytes) => (conn.party ? this.#onPartyMessage(conn.party, conn.channel, type, bytes) : this.#onAuth(conn, type, bytes)),
      close: (reason, violation) => {
        clearTimeout(conn.authTimer);
        this.#conns.delete(conn);
        if (conn.party === undefined) this.#pending--;
        if (conn.party !== undefined) {
          if (conn.party.channel === conn.channel) this.#lost(conn.party, reason, violation);
        } else if (!this.#closed) this.#emit({ type: 'reject', remote: link.remote, reason });
      },
      farewell: (reason) => ({ type: FRAME_BYE, bytes: encodeBye(reason) }),
    });
    this.#conns.add(conn);
    conn.authTimer = setTimeout(() => this.#refuse(conn, `no authentication within ${this.#authTimeoutMs} ms`), this.#authTimeoutMs);
    conn.authTimer.unref?.();
    void conn.channel.send(
      FRAME_HELLO,
      encodeHello({ sessionId: this.#sessionId, serverKey: this.#identity.publicKey, challenge: conn.challenge, ephemeral: conn.ephemeral!.publicKey }),
    );
  }

  #refuse(conn: Conn, reason: string): void {
    conn.channel.close(reason, true, { type: FRAME_BYE, bytes: encodeBye(reason) });
  }

  #onAuth(conn: Conn, type: number, bytes: Uint8Array): void {
    if (type !== FRAME_AUTH) return this.#refuse(conn, `expected an authentication message, got frame type ${type}`);
    let auth;
    try {
      auth = decodeAuth(bytes);
    } catch (e) {
      return this.#refuse(conn, `malformed authentication: ${isConfideError(e) ? e.message : 'undecodable'}`);
    }
    const id = toHex(auth.publicKey);
    const own = conn.ephemeral!;
    const parts: TranscriptParts = {
      sessionId: this.#sessionId,
      serverKey: this.#identity.publicKey,
      challenge: conn.challenge,
      serverEphemeral: own.publicKey,
      clientKey: auth.publicKey,
      clientNonce: auth.nonce,
      clientEphemeral: auth.ephemeral,
    };
    const t = authTranscript(parts);
    if (!verifyBytes(auth.publicKey, t, auth.signature)) return this.#refuse(conn, `bad signature on the challenge from ${id}`);
    if (this.#allow !== undefined && !this.#allow.has(id)) return this.#refuse(conn, `identity ${id} is not on the allow-list`);
    if (this.#token !== undefined) {
      const proof = createHmac('sha256', this.#token).update(t).digest();
      if (auth.tokenProof.length !== 32 || !timingSafeEqual(proof, auth.tokenProof)) return this.#refuse(conn, `identity ${id} did not prove the enrolment token`);
    }
    let p = this.#parties.get(id);
    if (p?.status === 'dropped') return this.#refuse(conn, `identity ${id} was dropped from this session`);
    if (p === undefined && this.#members >= this.#maxParties) return this.#refuse(conn, `session full (${this.#maxParties} parties)`);
    const keys = deriveKeys(own, auth.ephemeral, this.#sessionId, auth.publicKey, own.publicKey, auth.ephemeral, 'server');
    conn.ephemeral = undefined;
    if (keys === undefined) return this.#refuse(conn, `identity ${id} sent an unusable key-agreement key`);
    clearTimeout(conn.authTimer);
    this.#pending--;
    const resumed = p !== undefined;
    if (p === undefined) {
      p = { id, key: auth.publicKey.slice(), channel: undefined, keys: undefined, status: 'live', lastSeq: 0, awayTimer: undefined, pending: [], pendingBytes: 0, sent: [], sentBytes: 0 };
      this.#parties.set(id, p);
      this.#members++;
    }
    const old = p.channel;
    p.channel = conn.channel;
    p.keys = keys;
    p.status = 'live';
    if (p.awayTimer) clearTimeout(p.awayTimer);
    p.awayTimer = undefined;
    old?.close('replaced by a new connection of the same party', false, { type: FRAME_BYE, bytes: encodeBye('replaced by a new connection of the same party') });
    conn.party = p;
    conn.channel.setMaxMessageBytes(this.#limits.maxMessageBytes);
    const signature = signBytes(this.#identity, welcomeTranscript(parts));
    void conn.channel.send(FRAME_WELCOME, encodeWelcome({ signature, lastSeq: p.lastSeq, resumed }));
    // What the old link may have lost (sent after what the party says it received), then what was queued
    // while it was away: in sequence order, each sealed with the new link's key.
    const again: Outgoing[] = [];
    for (const s of p.sent) {
      if (s.seq <= auth.received) continue;
      if (s.prepared !== undefined) again.push({ round: s.round, seq: s.seq, prepared: s.prepared });
      else this.#emit({ type: 'undeliverable', from: this.id, to: id, round: s.round, reason: `sent before a lost link and no longer kept for resending (sequence ${s.seq}; more than maxBufferedBytes were sent since)` });
    }
    p.sent = [];
    p.sentBytes = 0;
    const pending = p.pending;
    p.pending = [];
    p.pendingBytes = 0;
    for (const env of again) void this.#deliver(p, env, this.id);
    for (const env of pending) void this.#deliver(p, env, this.id);
    this.#emit({ type: 'join', party: id, resumed });
    this.#inbox.notify();
  }

  #onPartyMessage(p: PartyState, ch: Channel, type: number, bytes: Uint8Array): void | Promise<void> {
    if (p.channel !== ch || p.status === 'dropped') return;
    switch (type) {
      case FRAME_ENVELOPE:
        return this.#onEnvelope(p, bytes);
      case FRAME_PING:
      case FRAME_PONG: {
        let ack: number | undefined;
        try {
          ack = decodeAck(bytes);
        } catch (e) {
          return this.#drop(p, (e as Error).message.replace(/^net: /, ''), true);
        }
        // The party has the server's messages up to `ack`: no need to keep them for resending.
        if (ack !== undefined) this.#forget(p, ack);
        if (type === FRAME_PING) void ch.send(FRAME_PONG, encodeAck(p.lastSeq));
        return;
      }
      case FRAME_BYE:
        this.#drop(p, `left: ${decodeBye(bytes)}`, false, false);
        return;
      default:
        this.#drop(p, `unexpected frame type ${type} after authentication`, true);
    }
  }

  #onEnvelope(p: PartyState, bytes: Uint8Array): void | Promise<void> {
    let env: OpenedEnvelope;
    try {
      env = parseEnvelope(bytes);
    } catch (e) {
      return this.#drop(p, isConfideError(e) ? e.message : 'malformed envelope', true);
    }
    if (!bytesEqual(env.from, p.key)) return this.#drop(p, 'envelope sender is not the authenticated identity', true);
    if (!bytesEqual(env.sessionId, this.#sessionId)) return this.#drop(p, 'envelope for another session', true);
    if (env.seq <= p.lastSeq) return this.#drop(p, `replayed or reordered envelope: sequence ${env.seq} after ${p.lastSeq}`, true);
    // Messages for the server carry the link's MAC; messages for another party its sender's signature, which the recipient checks too.
    const forServer = bytesEqual(env.to, this.#identity.publicKey);
    if (forServer !== (env.kind === KIND_MAC))
      return this.#drop(p, forServer ? 'envelope for the server is not MAC\'d' : 'relayed envelope is not signed', true);
    if (forServer ? !verifyMacEnvelope(env, p.keys!) : !verifyEnvelope(env)) return this.#drop(p, forServer ? 'bad envelope MAC' : 'bad envelope signature', true);
    let body: Message;
    try {
      body = decodeMessage(env.body, this.#decodeLimits);
    } catch (e) {
      return this.#drop(p, `undecodable envelope body: ${isConfideError(e) ? e.message : 'malformed'}`, true);
    }
    p.lastSeq = env.seq;
    this.#emit({ type: 'bytes', direction: 'in', party: p.id, bytes: wireBytes(bytes.length) });
    const to = toHex(env.to);
    if (forServer) {
      if (this.#inbox.bytesFrom(p.id) + bytes.length > this.#limits.maxBufferedBytes)
        return this.#drop(p, `more than maxBufferedBytes = ${this.#limits.maxBufferedBytes} of uncollected messages`, true);
      const ok = this.#inbox.push({ from: p.id, to, round: env.round, seq: env.seq, header: body.header, payloads: body.payloads }, bytes.length);
      if (!ok) this.#emit({ type: 'late', party: p.id, round: env.round });
      return;
    }
    const target = this.#parties.get(to);
    if (target === undefined || target.status === 'dropped') {
      this.#emit({ type: 'undeliverable', from: p.id, to, reason: target === undefined ? 'unknown recipient' : 'recipient dropped' });
      return;
    }
    const r = this.#deliver(target, { parts: [bytes] }, p.id);
    if (typeof r !== 'boolean') return r.then(() => undefined);
  }

  /** The link of a party ended. A violation drops it; anything else gives it the reconnection window. */
  #lost(p: PartyState, reason: string, violation: boolean): void {
    if (p.status === 'dropped') return;
    p.channel = undefined;
    p.keys = undefined;
    if (violation || this.#closed) {
      this.#drop(p, reason, violation);
      return;
    }
    p.status = 'away';
    this.#emit({ type: 'disconnect', party: p.id, reason });
    p.awayTimer = setTimeout(() => this.#drop(p, `did not reconnect within ${this.#reconnectWindowMs} ms (${reason})`, false), this.#reconnectWindowMs);
    p.awayTimer.unref?.();
    this.#inbox.notify();
  }

  #drop(p: PartyState, reason: string, violation: boolean, tell = true): void {
    if (p.status === 'dropped') return;
    p.status = 'dropped';
    this.#members--;
    if (p.awayTimer) clearTimeout(p.awayTimer);
    p.awayTimer = undefined;
    p.pending = [];
    p.pendingBytes = 0;
    p.sent = [];
    p.sentBytes = 0;
    // A party that broke the protocol contributes nothing, not even what it sent before.
    if (violation) this.#inbox.forget(p.id);
    const ch = p.channel;
    p.channel = undefined;
    p.keys = undefined;
    if (ch !== undefined) ch.close(reason, violation, tell ? { type: FRAME_BYE, bytes: encodeBye(reason) } : undefined);
    this.#emit({ type: 'drop', party: p.id, reason });
    this.#inbox.notify();
  }

  #beat(): void {
    const now = performance.now();
    // A party is not blamed for this process's own stalls (a blocked event loop reads nothing).
    const since = this.#stalls.tick(now);
    const limit = 3 * this.#heartbeatMs;
    const silent: PartyState[] = [];
    for (const p of this.#parties.values()) {
      const ch = p.channel;
      if (p.status !== 'live' || ch === undefined) continue;
      if (now - Math.max(ch.lastSeen, since) > limit) silent.push(p);
      else void ch.send(FRAME_PING, encodeAck(p.lastSeq));
    }
    if (silent.length === 0) return;
    // Frames that arrived meanwhile are read in the poll phase, after the timers: decide a turn later.
    setImmediate(() => {
      const at = performance.now();
      for (const p of silent) {
        const ch = p.channel;
        if (p.status !== 'live' || ch === undefined) continue;
        const quiet = at - Math.max(ch.lastSeen, this.#stalls.awakeSince);
        if (quiet > limit) ch.close(`no heartbeat for ${Math.round(quiet)} ms`);
      }
    });
  }
}

const CONSTRUCT = Symbol('PartyServer');

/** Starts a server on `options.transport` and resolves once it listens. */
export async function serve(options: ServerOptions): Promise<PartyServer> {
  const o = aoptions(options, 'options', SERVER_KEYS);
  if (o === undefined) throw new ConfideError('E_BAD_INPUT', '"options" expected { transport, identity, allow | token, ... }', { field: 'options' });
  const transport = atransport(o.transport);
  aidentity(o.identity, 'identity');
  if (o.allow === undefined && o.token === undefined)
    throw new ConfideError('E_BAD_INPUT', '"allow" or "token" is required: a server admits only listed identities or token holders', { field: 'allow' });
  if (o.allow !== undefined) {
    if (!Array.isArray(o.allow)) throw new ConfideError('E_BAD_INPUT', `"allow" expected an array of party ids, got ${describe(o.allow)}`, { field: 'allow' });
    o.allow.forEach((p, i) => aparty(p, `allow[${i}]`));
  }
  if (o.token !== undefined && (!isBytes(o.token) || o.token.length < 16))
    throw new ConfideError('E_BAD_INPUT', `"token" expected a Uint8Array of at least 16 bytes, got ${describe(o.token)}`, { field: 'token' });
  if (o.sessionId !== undefined && (!isBytes(o.sessionId) || o.sessionId.length !== SESSION_ID_BYTES))
    throw new ConfideError('E_BAD_INPUT', `"sessionId" expected a Uint8Array of ${SESSION_ID_BYTES} bytes, got ${describe(o.sessionId)}`, { field: 'sessionId' });
  if (o.maxMessageBytes !== undefined) ainteger(o.maxMessageBytes, 'maxMessageBytes', ENVELOPE_HEADER_BYTES + 16, 0xffffffff);
  if (o.maxBufferedBytes !== undefined) ainteger(o.maxBufferedBytes, 'maxBufferedBytes', 1);
  if (o.maxParties !== undefined) ainteger(o.maxParties, 'maxParties', 1);
  if (o.heartbeatMs !== undefined) atimeout(o.heartbeatMs, 'heartbeatMs');
  if (o.authTimeoutMs !== undefined) atimeout(o.authTimeoutMs, 'authTimeoutMs');
  if (o.maxPendingConnections !== undefined) ainteger(o.maxPendingConnections, 'maxPendingConnections', 1);
  if (o.reconnectWindowMs !== undefined) ainteger(o.reconnectWindowMs, 'reconnectWindowMs', 0, 2 ** 31 - 1);
  if (o.on !== undefined && typeof o.on !== 'function') throw new ConfideError('E_BAD_INPUT', `"on" expected a function, got ${describe(o.on)}`, { field: 'on' });
  const server = new PartyServer(o, CONSTRUCT);
  await server.start(transport);
  return server;
}

