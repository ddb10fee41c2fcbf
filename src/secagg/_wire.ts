/**
 * Messages of the secure aggregation protocol, one codec message per step,
 * and the checks on what arrives from a peer. Anything malformed becomes an
 * E_PROTOCOL error naming the field; callers decide whether that drops a
 * client (server) or aborts the round (client).
 *
 * Clients are named by their index in the round's sorted participant list.
 * Fixed-size records (keys, signatures, ciphertexts, shares) are packed into
 * one Uint8Array payload each.
 */
import type { Message, Payload } from '../core/codec.ts';
import { ConfideError } from '../core/errors.ts';
import { SECRET_FIELD } from '../core/field.ts';
import { KEY_BYTES, SIGNATURE_BYTES, TAG_BYTES } from './_crypto.ts';

export const PROTOCOL = 'confide/secagg/v1';

/**
 * Net rounds per aggregation round: round r uses net rounds 8r + p for the
 * phases p = 1 .. 5. In net round 8r + p the server sends each client the
 * input of phase p (round 8r + 1: the announcement) and collects the phase's
 * answers; an abort goes out on the round the clients wait on next.
 */
export const ROUND_STRIDE = 8;
export const PHASE = { advertise: 1, share: 2, masked: 3, consistency: 4, unmask: 5 } as const;
export type Phase = 'advertise' | 'share' | 'masked' | 'consistency' | 'unmask';
export const PHASES: readonly Phase[] = ['advertise', 'share', 'masked', 'consistency', 'unmask'];
export const MAX_ROUND = Math.floor((2 ** 32 - 1) / ROUND_STRIDE) - 1;

/** AdvertiseKeys record: c_pk ‖ s_pk ‖ signature. */
export const ADVERTISE_BYTES = 2 * KEY_BYTES + SIGNATURE_BYTES;
/** Field element bytes of a share. */
export const SHARE_BYTES = SECRET_FIELD.bytes;
/** Share plaintext: sender u32 ‖ recipient u32 ‖ share of s_sk ‖ share of b. */
export const SHARE_PLAINTEXT_BYTES = 8 + 2 * SHARE_BYTES;
export const SHARE_CIPHERTEXT_BYTES = SHARE_PLAINTEXT_BYTES + TAG_BYTES;

export const SHARE_KIND_B = 0;
export const SHARE_KIND_S = 1;

export function protocolError(message: string, field: string): ConfideError {
  return new ConfideError('E_PROTOCOL', `secagg: ${message}`, { field });
}

/** The message's kind; an 'abort' from the server becomes an E_PROTOCOL error. */
export function expectKind(m: Message, kind: string): void {
  const k = m?.header?.kind;
  if (k === 'abort') throw protocolError(`the server aborted the round: ${String(m.header.reason ?? 'no reason given')}`, 'round');
  if (k !== kind) throw protocolError(`expected a "${kind}" message, got ${JSON.stringify(String(k))}`, 'kind');
}

export function headerBytes(m: Message, key: string, length: number): Uint8Array {
  const v = m.header[key];
  if (!(v instanceof Uint8Array) || v.length !== length) throw protocolError(`header "${key}" expected ${length} bytes`, key);
  return v;
}

export function headerInt(m: Message, key: string, max: number): number {
  const v = m.header[key];
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0 || v > max) throw protocolError(`header "${key}" expected an integer in [0, ${max}]`, key);
  return v;
}

export function payloadCount(m: Message, n: number): void {
  if (!Array.isArray(m.payloads) || m.payloads.length !== n) throw protocolError(`expected ${n} payloads, got ${m.payloads?.length}`, 'payloads');
}

export function bytesPayload(m: Message, i: number, record: number, count?: number): Uint8Array {
  const p = m.payloads[i];
  if (!(p instanceof Uint8Array) || p.length % record !== 0 || (count !== undefined && p.length !== record * count))
    throw protocolError(`payload ${i} expected ${count ?? 'whole'} records of ${record} bytes`, `payloads[${i}]`);
  return p;
}

/**
 * Indices (Uint32Array), strictly increasing, each below n. Strict order rules
 * out duplicates, so no client can be counted twice.
 */
export function indexPayload(m: Message, i: number, n: number): Uint32Array {
  const p = m.payloads[i];
  if (!(p instanceof Uint32Array)) throw protocolError(`payload ${i} expected a Uint32Array of client indices`, `payloads[${i}]`);
  for (let j = 0; j < p.length; j++)
    if (p[j] >= n || (j > 0 && p[j] <= p[j - 1])) throw protocolError(`payload ${i} expected strictly increasing client indices below ${n}`, `payloads[${i}]`);
  return p;
}

export function message(kind: string, payloads: Payload[] = [], header: Record<string, number | string | Uint8Array> = {}): Message {
  return { header: { kind, ...header }, payloads };
}

export function abortMessage(reason: string): Message {
  return { header: { kind: 'abort', reason: reason.slice(0, 500) }, payloads: [] };
}

/** The 32-byte identity key of client i from the packed participant list. */
export function keyAt(participants: Uint8Array, i: number): Uint8Array {
  return participants.subarray(i * KEY_BYTES, (i + 1) * KEY_BYTES);
}

/** Shamir points: client i holds x = i + 1. */
export function pointOf(i: number): number {
  return i + 1;
}
