/**
 * Structured events. The library never writes to the console: a server or
 * party calls the `on` listener its caller passed, and the caller logs.
 * A listener that throws is ignored (its error cannot unwind the runtime).
 */
import type { PartyId } from './identity.ts';

export type NetEvent =
  /** A server started listening. */
  | { type: 'listen'; address: string }
  /** A party authenticated (server), or this party connected to the server (party); `resumed` on a reconnection. */
  | { type: 'join'; party: PartyId; resumed: boolean }
  /** A party's link ended; it may come back within the reconnection window. */
  | { type: 'disconnect'; party: PartyId; reason: string }
  /** A party is out of the session for good: a protocol violation, the window passed, it left, or the caller dropped it. */
  | { type: 'drop'; party: PartyId; reason: string }
  /** A connection or message was refused before reaching protocol code (unknown identity, bad signature at a party...). */
  | { type: 'reject'; remote: string; reason: string; party?: PartyId }
  | { type: 'round-start'; round: number; expected: PartyId[]; deadlineMs: number }
  /** `dropped`: expected parties whose message did not arrive by the deadline or who dropped. */
  | { type: 'round-end'; round: number; received: number; dropped: PartyId[] }
  /** One whole message in or out, counted in wire bytes (frame headers included). */
  | { type: 'bytes'; direction: 'in' | 'out'; party: PartyId; bytes: number }
  /** A message for a round that protocol code already closed; discarded. */
  | { type: 'late'; party: PartyId; round: number }
  /**
   * A relayed message the server could not deliver (recipient unknown, dropped, or its queue full); or, with
   * its round, a message its sender (party or server) lost with a broken link and no longer kept for resending.
   */
  | { type: 'undeliverable'; from: PartyId; to: PartyId; reason: string; round?: number };

export type NetListener = (event: NetEvent) => void;

export function emitter(on: NetListener | undefined): (event: NetEvent) => void {
  if (on === undefined) return () => {};
  return (event) => {
    try {
      on(event);
    } catch {
      // The caller's listener failed; the runtime carries on (see module doc).
    }
  };
}
