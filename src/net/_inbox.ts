/**
 * Received messages waiting for protocol code, by round, with per-sender byte
 * accounting (the server's limit on what one peer can make it hold) and
 * waiters with deadlines.
 */
import { ConfideError } from '../core/errors.ts';
import type { HeaderValue, Payload } from '../core/codec.ts';
import type { PartyId } from './identity.ts';

/** A verified message as protocol code sees it. */
export interface Received {
  /** The sender (authenticated: its signature, or the link's MAC, was checked). */
  from: PartyId;
  /** The recipient (this endpoint). */
  to: PartyId;
  round: number;
  /** The sender's sequence number (strictly increasing per sender and session). */
  seq: number;
  header: Record<string, HeaderValue>;
  payloads: Payload[];
}

interface Entry {
  msg: Received;
  size: number;
}

interface Waiter {
  round: number;
  from: PartyId | undefined;
  resolve(r: Received): void;
  reject(e: unknown): void;
  timer: ReturnType<typeof setTimeout> | undefined;
}

export class Inbox {
  #byRound = new Map<number, Entry[]>();
  #bytesFrom = new Map<PartyId, number>();
  #closedRounds = new Set<number>();
  #waiters: Waiter[] = [];
  #watchers = new Set<() => void>();
  #failure: ConfideError | undefined;

  bytesFrom(party: PartyId): number {
    return this.#bytesFrom.get(party) ?? 0;
  }

  isClosed(round: number): boolean {
    return this.#closedRounds.has(round);
  }

  /** Files a message; false when its round is already closed (a late message, discarded). */
  push(msg: Received, size: number): boolean {
    if (this.#closedRounds.has(msg.round)) return false;
    for (let i = 0; i < this.#waiters.length; i++) {
      const w = this.#waiters[i];
      if (w.round === msg.round && (w.from === undefined || w.from === msg.from)) {
        this.#waiters.splice(i, 1);
        if (w.timer) clearTimeout(w.timer);
        w.resolve(msg);
        return true;
      }
    }
    let list = this.#byRound.get(msg.round);
    if (list === undefined) this.#byRound.set(msg.round, (list = []));
    list.push({ msg, size });
    this.#bytesFrom.set(msg.from, this.bytesFrom(msg.from) + size);
    this.notify();
    return true;
  }

  /** Removes and returns the first message of `round` (from `from`, if given). */
  take(round: number, from?: PartyId): Received | undefined {
    const list = this.#byRound.get(round);
    if (list === undefined) return undefined;
    const i = from === undefined ? 0 : list.findIndex((e) => e.msg.from === from);
    if (i < 0 || i >= list.length) return undefined;
    const [e] = list.splice(i, 1);
    if (list.length === 0) this.#byRound.delete(round);
    this.#bytesFrom.set(e.msg.from, this.bytesFrom(e.msg.from) - e.size);
    return e.msg;
  }

  /** The next message of `round` (from `from`, if given); E_TIMEOUT after `timeoutMs`. */
  wait(round: number, from: PartyId | undefined, timeoutMs: number): Promise<Received> {
    if (this.#failure) return Promise.reject(this.#failure);
    const now = this.take(round, from);
    if (now !== undefined) return Promise.resolve(now);
    return new Promise<Received>((resolve, reject) => {
      const w: Waiter = { round, from, resolve, reject, timer: undefined };
      w.timer = setTimeout(() => {
        const i = this.#waiters.indexOf(w);
        if (i >= 0) this.#waiters.splice(i, 1);
        reject(
          new ConfideError('E_TIMEOUT', `net: no message for round ${round}${from ? ` from ${from.slice(0, 16)}…` : ''} within ${timeoutMs} ms`, {
            field: 'timeoutMs',
            details: { round, from },
          }),
        );
      }, timeoutMs);
      this.#waiters.push(w);
    });
  }

  /** Discards what is left of a round; later messages for it are refused as late. */
  closeRound(round: number): void {
    this.#closedRounds.add(round);
    const list = this.#byRound.get(round);
    if (list === undefined) return;
    this.#byRound.delete(round);
    for (const e of list) this.#bytesFrom.set(e.msg.from, this.bytesFrom(e.msg.from) - e.size);
  }

  /** Drops everything a party sent that has not been taken. */
  forget(party: PartyId): void {
    for (const [round, list] of this.#byRound) {
      const kept = list.filter((e) => e.msg.from !== party);
      if (kept.length === 0) this.#byRound.delete(round);
      else this.#byRound.set(round, kept);
    }
    this.#bytesFrom.delete(party);
  }

  /** Calls `fn` whenever a message arrives or `notify` is called, until the returned function is called. */
  watch(fn: () => void): () => void {
    this.#watchers.add(fn);
    return () => this.#watchers.delete(fn);
  }

  notify(): void {
    for (const fn of [...this.#watchers]) fn();
  }

  /** Rejects every waiter and every later wait with `err` (the endpoint closed). */
  fail(err: ConfideError): void {
    this.#failure = err;
    const w = this.#waiters;
    this.#waiters = [];
    for (const x of w) {
      if (x.timer) clearTimeout(x.timer);
      x.reject(err);
    }
    this.notify();
  }
}
