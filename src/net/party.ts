/**
 * A party's side of a session: authenticate to the server, send signed
 * envelopes to the server or (relayed) to another party, await messages per
 * round, and reconnect with the same identity after a lost link.
 */
import { ainteger, aoptions, isBytes } from '../core/assert.ts';
import { decodeMessage, encodedLength, type DecodeLimits, type Message } from '../core/codec.ts';
import { ConfideError, describe, isConfideError } from '../core/errors.ts';
import { Channel } from './_channel.ts';
import { DEFAULTS, HANDSHAKE_MAX_BYTES, StallClock, around, atimeout, atransport, bodyLimits, bytesEqual, wireBytes } from './_common.ts';
import {
  answerHello,
  decodeBye,
  decodeHello,
  decodeWelcome,
  encodeBye,
  ENVELOPE_HEADER_BYTES,
  KIND_MAC,
  parseEnvelope,
  prepareBody,
  joinGathered,
  retagMacHeadroomed,
  sealMacGathered,
  sealMacHeadroomed,
  type Gathered,
  sealSigned,
  verifyEnvelope,
  verifyMacEnvelope,
  welcomeTranscript,
  type Answer,
  type Hello,
  type OpenedEnvelope,
} from './_envelope.ts';
import type { SessionKeys } from './_session.ts';
import type { Headroomed } from './_frame.ts';
import { FRAME_AUTH, FRAME_BYE, FRAME_ENVELOPE, FRAME_HELLO, FRAME_PING, FRAME_PONG, FRAME_WELCOME, decodeAck, encodeAck } from './_frame.ts';
import { Inbox, type Received } from './_inbox.ts';
import { emitter, type NetEvent, type NetListener } from './events.ts';
import { aidentity, aparty, partyKey, toHex, verifyBytes, type Identity, type PartyId } from './identity.ts';
import type { Transport } from './transport.ts';

export interface JoinOptions {
  transport: Transport;
  /** The server's address (`PartyServer.address`). */
  address: string;
  identity: Identity;
  /** The server's party id; when given, a server that cannot prove this identity is refused. */
  serverId?: PartyId;
  /** The session's enrolment token, when the server admits by token. */
  token?: Uint8Array;
  /** Largest message accepted from the server, envelope included (default 64 MiB). */
  maxMessageBytes?: number;
  /** Most bytes of received, not yet taken messages held, and of sent messages kept for resending after a reconnection (default 128 MiB). */
  maxBufferedBytes?: number;
  /** A server silent for three intervals is taken as lost (default 5,000 ms; match the server's). */
  heartbeatMs?: number;
  /** Time to connect and authenticate (default 10,000 ms). */
  connectTimeoutMs?: number;
  /** How long to keep trying to reconnect after a lost link (default 30,000 ms; 0: never). */
  reconnectWindowMs?: number;
  on?: NetListener;
}

const JOIN_KEYS = [
  'transport',
  'address',
  'identity',
  'serverId',
  'token',
  'maxMessageBytes',
  'maxBufferedBytes',
  'heartbeatMs',
  'connectTimeoutMs',
  'reconnectWindowMs',
  'on',
];

/** A refusal by the server: retrying will not help. */
class Refused extends ConfideError {}

/**
 * A sent envelope kept for resending after a reconnection: MAC'd ones (to the
 * server) are re-tagged with the new link's key, signed ones (relayed) go as
 * they are. `env` is undefined once evicted (over the byte bound).
 */
interface Sent {
  seq: number;
  to: PartyId;
  round: number;
  bytes: number;
  env: Headroomed | Gathered | Uint8Array[] | undefined;
}

/** Most sent envelopes remembered (their numbers, for reporting a loss) beyond those whose bytes are kept. */
const MAX_SENT_RECORDS = 4096;

export class Party {
  readonly id: PartyId;
  readonly #o: JoinOptions;
  readonly #identity: Identity;
  readonly #emit: (e: NetEvent) => void;
  readonly #inbox = new Inbox();
  readonly #decodeLimits: DecodeLimits;
  readonly #maxMessageBytes: number;
  readonly #maxBufferedBytes: number;
  readonly #heartbeatMs: number;
  readonly #reconnectWindowMs: number;
  readonly #connectTimeoutMs: number;
  readonly #lastSeen = new Map<PartyId, number>();
  #hello: Hello | undefined;
  #channel: Channel | undefined;
  /** The session keys of `#channel` (each connection has its own). */
  #keys: SessionKeys | undefined;
  #seq = 0;
  #closed: ConfideError | undefined;
  #readyWaiters: { resolve(): void; reject(e: unknown): void }[] = [];
  #heartbeat: ReturnType<typeof setInterval> | undefined;
  #stalls: StallClock;
  /** What was sent in this session and not yet known to have reached the server, oldest first. */
  #sent: Sent[] = [];
  #sentBytes = 0;

  /** Use `join(options)`. */
  constructor(o: JoinOptions, secret: symbol) {
    if (secret !== CONSTRUCT) throw new ConfideError('E_STATE', 'net: use join(options) to join a session');
    this.#o = o;
    this.#identity = o.identity;
    this.id = o.identity.id;
    this.#emit = emitter(o.on);
    this.#maxMessageBytes = o.maxMessageBytes ?? DEFAULTS.maxMessageBytes;
    this.#maxBufferedBytes = o.maxBufferedBytes ?? DEFAULTS.maxBufferedBytes;
    this.#decodeLimits = bodyLimits(this.#maxMessageBytes);
    this.#heartbeatMs = o.heartbeatMs ?? DEFAULTS.heartbeatMs;
    this.#reconnectWindowMs = o.reconnectWindowMs ?? DEFAULTS.reconnectWindowMs;
    this.#connectTimeoutMs = o.connectTimeoutMs ?? DEFAULTS.connectTimeoutMs;
    this.#stalls = new StallClock(this.#heartbeatMs);
  }

  /** Bytes of sent messages kept for resending until the server acknowledges them (its heartbeats do; README, "Delivery"). */
  get retainedBytes(): number {
    return this.#sentBytes;
  }

  /** The server's party id (send to it with `send(party.serverId, ...)`). */
  get serverId(): PartyId {
    return toHex(this.#hello!.serverKey);
  }

  get sessionId(): Uint8Array {
    return this.#hello!.sessionId.slice();
  }

  /** True while a link to the server is up. */
  get connected(): boolean {
    return this.#channel !== undefined && !this.#channel.closed;
  }

  /** @internal Called once by `join`. */
  async start(): Promise<void> {
    if (this.#hello !== undefined || this.#closed) throw new ConfideError('E_STATE', 'net: party already started', { field: 'party' });
    await this.#connect();
    this.#heartbeat = setInterval(() => this.#beat(), this.#heartbeatMs);
    this.#heartbeat.unref?.();
  }

  /**
   * Sends a message to the server (MAC'd with the link's session key) or,
   * relayed by it, to another party (signed with this party's key, end to
   * end). Resolves once it is handed to the link under backpressure; while
   * the party is reconnecting it waits for the link. Rejects with E_STATE
   * once the party is closed or dropped.
   *
   * With `{ lend: true }`, a message to the server goes out from its
   * payloads where they are instead of a copy (the same bytes and tag): the
   * payloads are read while the message is written to the link, and again if
   * it is resent after a reconnection (until the server acknowledges it, at
   * its next heartbeat), so the caller must not change them meanwhile. For
   * large payloads that the caller keeps unchanged anyway (a model update);
   * not for memory that is reused at once (e.g. a WASM scratch buffer).
   */
  async send(to: PartyId, round: number, message: Message, options?: { lend?: boolean }): Promise<void> {
    const key = partyKey(aparty(to, 'to'));
    around(round);
    const lend = aoptions(options, 'options', ['lend'])?.lend;
    if (lend !== undefined && typeof lend !== 'boolean') throw new ConfideError('E_BAD_INPUT', `"options.lend" expected a boolean, got ${describe(lend)}`, { field: 'options.lend' });
    const toServer = to === this.serverId;
    // Validates the message (E_BAD_INPUT); a relayed one is encoded (and hashed) now, once.
    const prepared = toServer ? undefined : prepareBody(message);
    const bodyBytes = prepared === undefined ? encodedLength(message) : prepared.body.length;
    if (ENVELOPE_HEADER_BYTES + bodyBytes > this.#maxMessageBytes)
      throw new ConfideError('E_BAD_INPUT', `"message" encodes to ${ENVELOPE_HEADER_BYTES + bodyBytes} bytes, above maxMessageBytes = ${this.#maxMessageBytes}`, {
        field: 'message',
      });
    this.#open();
    // The link can be lost between the wake-up and this turn: wait for the next one then.
    while (this.#channel === undefined || this.#channel.closed || this.#keys === undefined) await this.#ready();
    // Numbered, sealed and queued on the link in one step: sequence numbers go
    // out in order, and a MAC'd envelope always carries the key of the link it travels on.
    const fields = { round, sessionId: this.#hello!.sessionId, from: this.#identity.publicKey, to: key, seq: ++this.#seq };
    const env =
      prepared !== undefined
        ? sealSigned(this.#identity, fields, prepared)
        : ((lend === true ? sealMacGathered(this.#keys, fields, message, bodyBytes) : undefined) ?? sealMacHeadroomed(this.#keys, fields, message, bodyBytes));
    this.#remember({ seq: fields.seq, to, round, bytes: ENVELOPE_HEADER_BYTES + bodyBytes, env });
    this.#emit({ type: 'bytes', direction: 'out', party: to, bytes: wireBytes(ENVELOPE_HEADER_BYTES + bodyBytes) });
    // A link lost before the server has it loses nothing: the envelope is kept and resent after the
    // reconnection, unless the server's welcome says it arrived (README, "Delivery").
    await this.#channel.send(FRAME_ENVELOPE, env);
  }

  /** Keeps a sent envelope for resending, within maxBufferedBytes (the oldest bytes go first). */
  #remember(s: Sent): void {
    this.#sent.push(s);
    this.#sentBytes += s.bytes;
    for (let i = 0; this.#sentBytes > this.#maxBufferedBytes && i < this.#sent.length - 1; i++) {
      const old = this.#sent[i];
      if (old.env === undefined) continue;
      old.env = undefined;
      this.#sentBytes -= old.bytes;
    }
    if (this.#sent.length > MAX_SENT_RECORDS)
      for (const old of this.#sent.splice(0, this.#sent.length - MAX_SENT_RECORDS)) if (old.env !== undefined) this.#sentBytes -= old.bytes;
  }

  /** Forgets the kept envelopes the server has accepted (sequence numbers up to `ack`). */
  #forget(ack: number): void {
    let i = 0;
    while (i < this.#sent.length && this.#sent[i].seq <= ack) i++;
    if (i === 0) return;
    for (const s of this.#sent.slice(0, i)) if (s.env !== undefined) this.#sentBytes -= s.bytes;
    this.#sent.splice(0, i);
  }

  /**
   * After a reconnection: forgets what the server says it has (everything up
   * to `lastSeq`, its welcome's) and queues the rest on the new link, in
   * order, before anything new. An envelope whose bytes were no longer kept
   * is reported (an `undeliverable` event with its round): the protocol above
   * must treat it as lost.
   */
  #resend(ch: Channel, keys: SessionKeys, lastSeq: number): void {
    this.#forget(lastSeq);
    for (const s of this.#sent) {
      if (s.env === undefined) {
        this.#emit({ type: 'undeliverable', from: this.id, to: s.to, round: s.round, reason: `sent before a lost link and no longer kept for resending (sequence ${s.seq}; more than maxBufferedBytes were sent since)` });
        continue;
      }
      // The copy is kept in its place: it is what the next reconnection would re-tag.
      // A lent (gathered) envelope is copied now, from what its payloads hold.
      if ('gathered' in s.env) s.env = retagMacHeadroomed(keys, s.seq, joinGathered(s.env));
      else if ('headroom' in s.env) s.env = retagMacHeadroomed(keys, s.seq, s.env);
      void ch.send(FRAME_ENVELOPE, s.env);
    }
    this.#sent = this.#sent.filter((s) => s.env !== undefined);
  }

  /** The next message for this party in `round` (from `from`, if given); E_TIMEOUT after `timeoutMs`. */
  async receive(round: number, options: { from?: PartyId; timeoutMs: number }): Promise<Received> {
    around(round);
    aoptions(options, 'options', ['from', 'timeoutMs']);
    const timeoutMs = atimeout(options?.timeoutMs, 'timeoutMs');
    const from = options.from === undefined ? undefined : aparty(options.from, 'from');
    this.#open();
    return this.#inbox.wait(round, from, timeoutMs);
  }

  /** Leaves the session: tells the server, closes the link, rejects pending waits (E_STATE). */
  async close(): Promise<void> {
    if (this.#closed) return;
    const ch = this.#channel;
    this.#channel = undefined;
    if (ch !== undefined) ch.close('party closed', false, { type: FRAME_BYE, bytes: encodeBye('party closed') });
    this.#terminate('party closed');
  }

  #open(): void {
    if (this.#closed) throw this.#closed;
  }

  #ready(): Promise<void> {
    if (this.#closed) return Promise.reject(this.#closed);
    if (this.connected) return Promise.resolve();
    return new Promise((resolve, reject) => this.#readyWaiters.push({ resolve, reject }));
  }

  #terminate(reason: string): void {
    if (this.#closed) return;
    this.#closed = new ConfideError('E_STATE', `net: party closed: ${reason}`, { field: 'party' });
    if (this.#heartbeat) clearInterval(this.#heartbeat);
    const w = this.#readyWaiters;
    this.#readyWaiters = [];
    for (const x of w) x.reject(this.#closed);
    this.#inbox.fail(this.#closed);
    const ch = this.#channel;
    this.#channel = undefined;
    ch?.close(reason);
  }

  /** Dials, authenticates, and installs the new channel; rejects on failure (Refused when the server said no). */
  async #connect(): Promise<void> {
    const link = await this.#o.transport.dial(this.#o.address);
    await new Promise<void>((resolve, reject) => {
      let stage: 'hello' | 'welcome' | 'ready' = 'hello';
      let answer: Answer;
      let hello: Hello;
      const fail = (e: ConfideError) => {
        clearTimeout(timer);
        reject(e);
        ch.close(e.message, true);
      };
      const timer = setTimeout(
        () => fail(new ConfideError('E_TIMEOUT', `net: no session with ${this.#o.address} within ${this.#connectTimeoutMs} ms`, { field: 'connectTimeoutMs' })),
        this.#connectTimeoutMs,
      );
      timer.unref?.();
      const ch: Channel = new Channel(link, HANDSHAKE_MAX_BYTES, {
        message: (type, bytes) => {
          if (stage === 'ready') return this.#onMessage(ch, type, bytes);
          if (type === FRAME_BYE) return fail(new Refused('E_PROTOCOL', `net: server refused: ${decodeBye(bytes)}`, { field: 'identity' }));
          try {
            if (stage === 'hello') {
              if (type !== FRAME_HELLO) throw new ConfideError('E_PROTOCOL', `net: expected the server's challenge, got frame type ${type}`);
              hello = decodeHello(bytes);
              const sid = toHex(hello.serverKey);
              if (this.#o.serverId !== undefined && sid !== this.#o.serverId)
                throw new Refused('E_CRYPTO', `net: server identity ${sid} is not the expected ${this.#o.serverId}`, { field: 'serverId' });
              if (this.#hello !== undefined && (!bytesEqual(this.#hello.serverKey, hello.serverKey) || !bytesEqual(this.#hello.sessionId, hello.sessionId)))
                throw new Refused('E_PROTOCOL', 'net: the server at this address runs another session now', { field: 'address' });
              // On a reconnection, what arrived from the server: it resends what came after (README, "Delivery").
              // A first connection wants nothing an earlier process with this identity was sent.
              const received = this.#hello === undefined ? Number.MAX_SAFE_INTEGER : (this.#lastSeen.get(toHex(this.#hello.serverKey)) ?? 0);
              answer = answerHello(this.#identity, hello, this.#o.token, received);
              if (answer.keys === undefined) throw new Refused('E_CRYPTO', 'net: the server sent an unusable key-agreement key', { field: 'serverId' });
              void ch.send(FRAME_AUTH, answer.auth);
              stage = 'welcome';
              return;
            }
            if (type !== FRAME_WELCOME) throw new ConfideError('E_PROTOCOL', `net: expected the server's welcome, got frame type ${type}`);
            const w = decodeWelcome(bytes);
            if (!verifyBytes(hello.serverKey, welcomeTranscript(answer.parts), w.signature)) throw new Refused('E_CRYPTO', 'net: the server failed to prove its identity', { field: 'serverId' });
            clearTimeout(timer);
            stage = 'ready';
            const resumed = this.#hello !== undefined;
            this.#hello = hello;
            // A party restarted with the same identity continues after what the server saw.
            if (w.lastSeq > this.#seq) this.#seq = w.lastSeq;
            ch.setMaxMessageBytes(this.#maxMessageBytes);
            this.#channel = ch;
            this.#keys = answer.keys;
            this.#resend(ch, answer.keys!, w.lastSeq);
            this.#emit({ type: 'join', party: this.serverId, resumed });
            resolve();
            const waiters = this.#readyWaiters;
            this.#readyWaiters = [];
            for (const x of waiters) x.resolve();
          } catch (e) {
            fail(isConfideError(e) ? e : new ConfideError('E_PROTOCOL', 'net: malformed handshake', { cause: e }));
          }
        },
        close: (reason) => {
          if (stage !== 'ready') {
            clearTimeout(timer);
            reject(new ConfideError('E_IO', `net: connection to ${this.#o.address} ended during the handshake: ${reason}`, { field: 'address' }));
            return;
          }
          this.#lost(ch, reason);
        },
      });
    });
  }

  #onMessage(ch: Channel, type: number, bytes: Uint8Array): void {
    // A replaced link's leftovers: its key is gone, and its messages with it.
    if (ch !== this.#channel) return;
    switch (type) {
      case FRAME_ENVELOPE:
        return this.#onEnvelope(bytes);
      case FRAME_PING:
      case FRAME_PONG: {
        let ack: number | undefined;
        try {
          ack = decodeAck(bytes);
        } catch (e) {
          return ch.close(`${(e as Error).message} from the server`, true);
        }
        // The server has everything up to `ack`: no need to keep it for resending.
        if (ack !== undefined) this.#forget(ack);
        if (type === FRAME_PING) void ch.send(FRAME_PONG, encodeAck(this.#lastSeen.get(this.serverId) ?? 0));
        return;
      }
      case FRAME_BYE: {
        const reason = decodeBye(bytes);
        this.#emit({ type: 'drop', party: this.id, reason });
        this.#terminate(`the server ended the session: ${reason}`);
        return;
      }
      default:
        ch.close(`unexpected frame type ${type} from the server`, true);
    }
  }

  #reject(reason: string, party?: PartyId): void {
    this.#emit({ type: 'reject', remote: this.#o.address, reason, ...(party ? { party } : {}) });
  }

  #onEnvelope(bytes: Uint8Array): void {
    let env: OpenedEnvelope;
    try {
      env = parseEnvelope(bytes);
    } catch (e) {
      return this.#reject(isConfideError(e) ? e.message : 'malformed envelope');
    }
    const from = toHex(env.from);
    // The server relays; it cannot forge a sender's signature or replay a sequence number.
    if (!bytesEqual(env.to, this.#identity.publicKey)) return this.#reject('envelope for another recipient', from);
    if (!bytesEqual(env.sessionId, this.#hello!.sessionId)) return this.#reject('envelope for another session', from);
    const last = this.#lastSeen.get(from) ?? 0;
    if (env.seq <= last) return this.#reject(`replayed or reordered envelope: sequence ${env.seq} after ${last}`, from);
    // Only the server MACs (with this link's key); every other sender signs.
    const fromServer = bytesEqual(env.from, this.#hello!.serverKey);
    if (fromServer !== (env.kind === KIND_MAC)) return this.#reject(fromServer ? 'envelope from the server is not MAC\'d' : 'relayed envelope is not signed', from);
    if (fromServer ? !verifyMacEnvelope(env, this.#keys!) : !verifyEnvelope(env)) return this.#reject(fromServer ? 'bad envelope MAC' : 'bad envelope signature', from);
    let body: Message;
    try {
      body = decodeMessage(env.body, this.#decodeLimits);
    } catch (e) {
      return this.#reject(`undecodable envelope body: ${isConfideError(e) ? e.message : 'malformed'}`, from);
    }
    this.#lastSeen.set(from, env.seq);
    this.#emit({ type: 'bytes', direction: 'in', party: from, bytes: wireBytes(bytes.length) });
    if (this.#inbox.bytesFrom(from) + bytes.length > this.#maxBufferedBytes)
      return this.#reject(`more than maxBufferedBytes = ${this.#maxBufferedBytes} of messages not yet received from this sender`, from);
    const ok = this.#inbox.push({ from, to: this.id, round: env.round, seq: env.seq, header: body.header, payloads: body.payloads }, bytes.length);
    if (!ok) this.#emit({ type: 'late', party: from, round: env.round });
  }

  #lost(ch: Channel, reason: string): void {
    if (this.#closed || ch !== this.#channel) return;
    this.#channel = undefined;
    this.#keys = undefined;
    this.#emit({ type: 'disconnect', party: this.serverId, reason });
    if (this.#reconnectWindowMs === 0) return this.#terminate(`lost the server: ${reason}`);
    void this.#reconnect(reason);
  }

  async #reconnect(reason: string): Promise<void> {
    const until = performance.now() + this.#reconnectWindowMs;
    let delay = 50;
    while (!this.#closed) {
      try {
        await this.#connect();
        return;
      } catch (e) {
        if (e instanceof Refused) return this.#terminate(e.message);
      }
      if (performance.now() + delay > until) break;
      await new Promise((r) => setTimeout(r, delay));
      delay = Math.min(2 * delay, 1000);
    }
    this.#terminate(`could not reconnect within ${this.#reconnectWindowMs} ms (${reason})`);
  }

  #beat(): void {
    this.#stalls.tick(performance.now());
    const ch = this.#channel;
    if (ch === undefined || ch.closed || !this.#silent(ch)) return;
    // Frames that arrived while this process was busy are read in the poll phase, after the timers:
    // decide after one turn of the event loop, on what has been read by then.
    setImmediate(() => {
      if (ch !== this.#channel || ch.closed) return;
      const silent = this.#silent(ch);
      if (silent) ch.close(`server silent for ${Math.round(silent)} ms`);
    });
  }

  /** How long the server has been silent, if longer than three heartbeats (this process's own stalls not counted), else 0. */
  #silent(ch: Channel): number {
    const silent = performance.now() - Math.max(ch.lastSeen, this.#stalls.awakeSince);
    return silent > 3 * this.#heartbeatMs ? silent : 0;
  }
}

const CONSTRUCT = Symbol('Party');

/** Connects to a server, authenticates, and resolves with the party once admitted. */
export async function join(options: JoinOptions): Promise<Party> {
  const o = aoptions(options, 'options', JOIN_KEYS);
  if (o === undefined) throw new ConfideError('E_BAD_INPUT', '"options" expected { transport, address, identity, ... }', { field: 'options' });
  atransport(o.transport);
  if (typeof o.address !== 'string' || o.address.length === 0)
    throw new ConfideError('E_BAD_INPUT', `"address" expected a server address, got ${describe(o.address)}`, { field: 'address' });
  aidentity(o.identity, 'identity');
  if (o.serverId !== undefined) aparty(o.serverId, 'serverId');
  if (o.token !== undefined && (!isBytes(o.token) || o.token.length < 16))
    throw new ConfideError('E_BAD_INPUT', `"token" expected a Uint8Array of at least 16 bytes, got ${describe(o.token)}`, { field: 'token' });
  if (o.maxMessageBytes !== undefined) ainteger(o.maxMessageBytes, 'maxMessageBytes', ENVELOPE_HEADER_BYTES + 16, 0xffffffff);
  if (o.maxBufferedBytes !== undefined) ainteger(o.maxBufferedBytes, 'maxBufferedBytes', 1);
  if (o.heartbeatMs !== undefined) atimeout(o.heartbeatMs, 'heartbeatMs');
  if (o.connectTimeoutMs !== undefined) atimeout(o.connectTimeoutMs, 'connectTimeoutMs');
  if (o.reconnectWindowMs !== undefined) ainteger(o.reconnectWindowMs, 'reconnectWindowMs', 0, 2 ** 31 - 1);
  if (o.on !== undefined && typeof o.on !== 'function') throw new ConfideError('E_BAD_INPUT', `"on" expected a function, got ${describe(o.on)}`, { field: 'on' });
  const party = new Party(o, CONSTRUCT);
  await party.start();
  return party;
}
