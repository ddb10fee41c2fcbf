/**
 * The three roles of homomorphic aggregation over the party runtime (net):
 *
 * - the **decryptor** holds the secret key; it publishes the public key
 *   bundle signed with its Ed25519 identity, and later decrypts one masked
 *   aggregate, only if the aggregator (the net server, whose envelope
 *   signature net checks) says at least K distinct clients are in it;
 * - the **aggregator** (the net server) has no secret key: it forwards the
 *   signed bundle, sums the clients' ciphertexts as they arrive (one
 *   accumulator, flat memory), adds an encryption of a uniform mask, has the
 *   decryptor decrypt that, removes the mask and so learns the sum;
 * - **clients** check the decryptor's signature on the bundle (so the
 *   aggregator cannot slip in a key of its own), encrypt their vector and send it.
 *
 * Rounds, from a base r (default 1):
 *
 * ```
 * r     decryptor → aggregator  kind 'he-keys'      signature; payload: public key bundle
 * r+1   aggregator → clients    kind 'he-keys'      the same, forwarded
 * r+2   client → aggregator     kind 'he-input'     payloads: ciphertext chunks (CFHE blobs)
 * r+3   aggregator → decryptor  kind 'he-decrypt'   contributors; payloads: contributor ids (32 bytes each), masked chunks
 * r+4   decryptor → aggregator  kind 'he-residues'  ok, reason; payload: residues (BigUint64Array)
 * r+5   aggregator → clients    kind 'he-result'    contributors; payload: the sum (Float64Array)
 * ```
 *
 * Threat model (src/he/README.md): semi-honest, aggregator and decryptor do
 * not collude.
 */
import { ainteger, aoptions, atyped } from '../core/assert.ts';
import { ConfideError, describe, isConfideError } from '../core/errors.ts';
import type { FloatVector } from '../core/fixedpoint.ts';
import { arng, type Rng } from '../core/random.ts';
import { signWithIdentity, verifySignature, type Identity, type Party, type PartyId, type PartyServer, type Received } from '../net/index.ts';
import { KIND_CIPHERTEXT, decodeBlob, sha256 } from './_blob.ts';
import { openPublicKey } from './keys.ts';
import { AggregatorPool } from './pool.ts';
import { Accumulator, VectorDecryptor, createEncryptor } from './vector.ts';

const KEYS_CONTEXT = new TextEncoder().encode('confide/he/v1/keys\0');
const HEX_ID = /^[0-9a-f]{64}$/;

function aparty(v: unknown, field: string): PartyId {
  if (typeof v !== 'string' || !HEX_ID.test(v))
    throw new ConfideError('E_BAD_INPUT', `"${field}" expected a party id (64 lowercase hex digits), got ${describe(v)}`, { field });
  return v;
}

function atimeout(v: unknown, field: string): number {
  return ainteger(v, field, 1, 2 ** 31 - 1);
}

function keysTranscript(bundle: Uint8Array): Uint8Array {
  return sha256(KEYS_CONTEXT, bundle);
}

/** Signs a public key bundle with the decryptor's Ed25519 identity. */
export function signKeyBundle(identity: Identity, bundle: Uint8Array): Uint8Array {
  if (typeof identity !== 'object' || identity === null || typeof (identity as Identity).privateKey !== 'object')
    throw new ConfideError('E_BAD_INPUT', `"identity" expected an Identity, got ${describe(identity)}`, { field: 'identity' });
  atyped(bundle, 'bundle', Uint8Array);
  return signWithIdentity(identity, keysTranscript(bundle));
}

/** True when `signature` is the decryptor's signature of `bundle`. */
export function verifyKeyBundle(decryptor: PartyId, bundle: Uint8Array, signature: Uint8Array): boolean {
  aparty(decryptor, 'decryptor');
  atyped(bundle, 'bundle', Uint8Array);
  atyped(signature, 'signature', Uint8Array);
  return verifySignature(new Uint8Array(Buffer.from(decryptor, 'hex')), keysTranscript(bundle), signature);
}

function bytesPayloads(m: Received, from: number, where: string): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (let i = from; i < m.payloads.length; i++) {
    const p = m.payloads[i];
    if (!(p instanceof Uint8Array)) throw new ConfideError('E_PROTOCOL', `${where}: payload ${i} is not bytes`, { field: where });
    out.push(p);
  }
  return out;
}

/** Events the roles report (the library never logs). */
export type HeEvent =
  | { type: 'keys'; decryptor: PartyId }
  | { type: 'contribution'; party: PartyId; contributors: number }
  | { type: 'refused'; party: PartyId; reason: string }
  | { type: 'decrypt-request'; contributors: number; refused: string | undefined }
  | { type: 'result'; contributors: number };

function emitter(on: unknown): (e: HeEvent) => void {
  if (on === undefined) return () => {};
  if (typeof on !== 'function') throw new ConfideError('E_BAD_INPUT', `"on" expected a function, got ${describe(on)}`, { field: 'on' });
  return (e) => {
    try {
      (on as (e: HeEvent) => void)(e);
    } catch {
      // A listener that throws must not break the protocol.
    }
  };
}

export interface AggregatorOptions {
  /** The net server the clients and the decryptor have joined. */
  server: PartyServer;
  decryptor: PartyId;
  /** The clients expected to contribute. */
  clients: readonly PartyId[];
  /** K: fewer contributions than this and the aggregation fails (the decryptor would refuse anyway). */
  minContributors: number;
  /** Time for each phase: the key bundle, the contributions, the decryption. */
  deadlineMs: number;
  /** First round number (default 1; the protocol uses six). */
  round?: number;
  /** Send the sum back to the contributors (default true). */
  shareResult?: boolean;
  /** Randomness for the mask (default: the system CSPRNG). */
  rng?: Rng;
  /**
   * Worker threads that sum the contributions (default 1: sum on this
   * thread). With more, an `AggregatorPool` spreads them over that many
   * SEAL contexts; the sum is the same.
   */
  workers?: number;
  on?: (e: HeEvent) => void;
}

export interface AggregateResult {
  sum: Float64Array;
  /** Clients whose vectors are in the sum. */
  contributors: PartyId[];
  /** Expected clients that sent nothing usable by the deadline. */
  dropped: PartyId[];
  /** Clients whose contribution was refused, with the reason (they were dropped from the session). */
  refused: { party: PartyId; reason: string }[];
}

const AGGREGATOR_KEYS = ['server', 'decryptor', 'clients', 'minContributors', 'deadlineMs', 'round', 'shareResult', 'rng', 'workers', 'on'];

/** Runs the aggregator's side of one aggregation. */
export async function runAggregator(options: AggregatorOptions): Promise<AggregateResult> {
  const o = aoptions(options, 'options', AGGREGATOR_KEYS);
  if (o === undefined) throw new ConfideError('E_BAD_INPUT', '"options" expected aggregator options', { field: 'options' });
  const server = o.server;
  if (typeof server !== 'object' || server === null || typeof (server as PartyServer).receive !== 'function')
    throw new ConfideError('E_BAD_INPUT', `"server" expected a PartyServer (net serve()), got ${describe(server)}`, { field: 'server' });
  const decryptor = aparty(o.decryptor, 'decryptor');
  if (!Array.isArray(o.clients) || o.clients.length === 0)
    throw new ConfideError('E_BAD_INPUT', `"clients" expected a non-empty array of party ids, got ${describe(o.clients)}`, { field: 'clients' });
  const clients = new Set(o.clients.map((c, i) => aparty(c, `clients[${i}]`)));
  const K = ainteger(o.minContributors, 'minContributors', 1, clients.size);
  const deadlineMs = atimeout(o.deadlineMs, 'deadlineMs');
  const r = o.round === undefined ? 1 : ainteger(o.round, 'round', 1, 2 ** 32 - 7);
  const rng = o.rng === undefined ? undefined : arng(o.rng, 'rng');
  const workers = o.workers === undefined ? 1 : ainteger(o.workers, 'workers', 1, 256);
  const emit = emitter(o.on);

  // r: the decryptor's signed bundle.
  const keys = await server.receive(r, { from: decryptor, timeoutMs: deadlineMs });
  const [bundle] = bytesPayloads(keys, 0, 'he-keys');
  const signature = keys.header.signature;
  if (keys.header.kind !== 'he-keys' || !(signature instanceof Uint8Array) || bundle === undefined || !verifyKeyBundle(decryptor, bundle, signature))
    throw new ConfideError('E_PROTOCOL', 'the decryptor sent no validly signed key bundle', { field: 'decryptor' });
  emit({ type: 'keys', decryptor });
  const opened = await openPublicKey(bundle);
  const { context, plan } = opened;
  let pool: AggregatorPool | undefined;
  try {
    using encryptor = createEncryptor(context, plan, bundle);
    using acc = new Accumulator(context);
    if (K > plan.contributors)
      throw new ConfideError('E_BAD_INPUT', `"minContributors" ${K} exceeds the ${plan.contributors} the keys' plan is sized for`, { field: 'minContributors' });
    if (workers > 1) pool = await AggregatorPool.open(context, { workers });
    // r+1: forward it to the clients.
    await server.broadcast(r + 1, { header: { kind: 'he-keys', signature }, payloads: [bundle] }, { to: [...clients] });

    // r+2: contributions, added as they arrive; nothing else is kept.
    const contributed: PartyId[] = [];
    const refused: { party: PartyId; reason: string }[] = [];
    const refuse = (party: PartyId, e: unknown) => {
      const reason = (e as Error).message;
      refused.push({ party, reason });
      server.drop(party, `he: contribution refused: ${reason}`);
      emit({ type: 'refused', party, reason });
    };
    // With a pool, contributions are added in the workers while more arrive.
    const adding = new Set<Promise<void>>();
    let broken: unknown; // the pool itself failed (a worker died): not the client's fault
    const waiting = new Set(clients);
    const end = Date.now() + deadlineMs;
    while (waiting.size > 0 && contributed.length + adding.size < plan.contributors) {
      const left = end - Date.now();
      if (left <= 0) break;
      let m: Received;
      try {
        m = await server.receive(r + 2, { timeoutMs: Math.min(left, 250) });
      } catch (e) {
        if (!isConfideError(e, 'E_TIMEOUT')) throw e;
        const present = new Set(server.parties());
        for (const p of waiting) if (!present.has(p)) waiting.delete(p);
        continue;
      }
      if (!waiting.has(m.from)) {
        // Not an expected client, or a second contribution: it is ignored, never added.
        emit({ type: 'refused', party: m.from, reason: 'unexpected contribution' });
        continue;
      }
      waiting.delete(m.from);
      const from = m.from;
      try {
        if (m.header.kind !== 'he-input') throw new ConfideError('E_PROTOCOL', `expected kind he-input, got ${describe(m.header.kind)}`);
        const chunks = bytesPayloads(m, 0, 'he-input');
        if (pool) {
          const p: Promise<void> = pool.add(chunks).then(
            () => {
              contributed.push(from);
              emit({ type: 'contribution', party: from, contributors: contributed.length });
            },
            (e: unknown) => {
              if (isConfideError(e, 'E_INTERNAL') || isConfideError(e, 'E_STATE')) broken ??= e;
              else refuse(from, e);
            },
          ).finally(() => adding.delete(p));
          adding.add(p);
        } else {
          acc.add(chunks);
          contributed.push(from);
          emit({ type: 'contribution', party: from, contributors: acc.contributors });
        }
      } catch (e) {
        refuse(from, e);
      }
    }
    await Promise.all([...adding]);
    if (broken !== undefined) throw broken;
    if (pool && contributed.length > 0) acc.add(await pool.result());
    const dropped = [...clients].filter((c) => !contributed.includes(c) && !refused.some((x) => x.party === c));
    if (contributed.length < K)
      throw new ConfideError('E_PROTOCOL', `only ${contributed.length} of the ${K} contributions needed arrived`, {
        field: 'minContributors',
        details: { contributors: contributed, dropped, refused },
      });

    // r+3: the masked sum to the decryptor, with who is in it.
    const masked = acc.masked(encryptor, rng === undefined ? undefined : { rng });
    const ids = new Uint8Array(32 * contributed.length);
    contributed.forEach((p, i) => ids.set(Buffer.from(p, 'hex'), 32 * i));
    const sent = await server.send(decryptor, r + 3, { header: { kind: 'he-decrypt', contributors: contributed.length }, payloads: [ids, ...masked.vector.chunks] });
    if (!sent) throw new ConfideError('E_PROTOCOL', 'the decryptor left before decryption', { field: 'decryptor' });

    // r+4: the residues, unmasked here.
    const reply = await server.receive(r + 4, { from: decryptor, timeoutMs: deadlineMs });
    if (reply.header.kind !== 'he-residues' || reply.header.ok !== true) {
      const reason = typeof reply.header.reason === 'string' ? reply.header.reason : 'no reason given';
      throw new ConfideError('E_PROTOCOL', `the decryptor refused: ${reason}`, { field: 'decryptor' });
    }
    const residues = reply.payloads[0];
    if (!(residues instanceof BigUint64Array)) throw new ConfideError('E_PROTOCOL', 'the decryptor sent no residues', { field: 'decryptor' });
    const sum = masked.unmask(residues);
    emit({ type: 'result', contributors: contributed.length });

    // r+5: the sum to the contributors.
    if (o.shareResult !== false)
      await server.broadcast(r + 5, { header: { kind: 'he-result', contributors: contributed.length }, payloads: [sum] }, { to: contributed });
    return { sum, contributors: contributed, dropped, refused };
  } finally {
    await pool?.close();
    context.dispose();
  }
}

/** What the decryptor is asked, as it arrives (for audits and tests). */
export interface DecryptRequest {
  from: PartyId;
  contributors: number;
  ids: PartyId[];
  /** The ciphertext chunks received (copies). */
  chunks: Uint8Array[];
  /** Why the decryptor refused, if it did. */
  refused: string | undefined;
  /** The residues it decrypted (sum + mask mod t), if it did. */
  residues: BigUint64Array | undefined;
}

export interface DecryptorOptions {
  /** This process's party, joined to the aggregator's server (pin `serverId`). */
  party: Party;
  /** The party's identity: it signs the key bundle. */
  identity: Identity;
  publicKey: Uint8Array;
  secretKey: Uint8Array;
  /** K: the fewest distinct contributors an aggregate must have to be decrypted. */
  minContributors: number;
  /** How long to wait for the decryption request. */
  timeoutMs: number;
  round?: number;
  /** Sees every request and the decryptor's answer (instrumentation). */
  onRequest?: (r: DecryptRequest) => void;
  on?: (e: HeEvent) => void;
}

const DECRYPTOR_KEYS = ['party', 'identity', 'publicKey', 'secretKey', 'minContributors', 'timeoutMs', 'round', 'onRequest', 'on'];

/**
 * Runs the decryptor's side: publish the signed key bundle, then decrypt
 * exactly one aggregate, and only one that the aggregator says has at least
 * K distinct contributors. Resolves with what it was asked.
 */
export async function runDecryptor(options: DecryptorOptions): Promise<DecryptRequest> {
  const o = aoptions(options, 'options', DECRYPTOR_KEYS);
  if (o === undefined) throw new ConfideError('E_BAD_INPUT', '"options" expected decryptor options', { field: 'options' });
  const party = o.party;
  if (typeof party !== 'object' || party === null || typeof (party as Party).receive !== 'function')
    throw new ConfideError('E_BAD_INPUT', `"party" expected a Party (net join()), got ${describe(party)}`, { field: 'party' });
  const publicKey = atyped(o.publicKey, 'publicKey', Uint8Array);
  const secretKey = atyped(o.secretKey, 'secretKey', Uint8Array);
  const K = ainteger(o.minContributors, 'minContributors', 1, 2 ** 32 - 1);
  const timeoutMs = atimeout(o.timeoutMs, 'timeoutMs');
  const r = o.round === undefined ? 1 : ainteger(o.round, 'round', 1, 2 ** 32 - 7);
  if (o.onRequest !== undefined && typeof o.onRequest !== 'function')
    throw new ConfideError('E_BAD_INPUT', `"onRequest" expected a function, got ${describe(o.onRequest)}`, { field: 'onRequest' });
  const emit = emitter(o.on);
  using decryptor = await VectorDecryptor.open(secretKey);
  if (K > decryptor.plan.contributors)
    throw new ConfideError('E_BAD_INPUT', `"minContributors" ${K} exceeds the ${decryptor.plan.contributors} the plan is sized for`, { field: 'minContributors' });
  const signature = signKeyBundle(o.identity, publicKey);
  await party.send(party.serverId, r, { header: { kind: 'he-keys', signature }, payloads: [publicKey] });

  // Net has checked that this came from the pinned aggregator and is signed by it.
  const m = await party.receive(r + 3, { from: party.serverId, timeoutMs });
  const request: DecryptRequest = { from: m.from, contributors: 0, ids: [], chunks: [], refused: undefined, residues: undefined };
  try {
    const contributors = m.header.contributors;
    const idBytes = m.payloads[0];
    if (m.header.kind !== 'he-decrypt' || typeof contributors !== 'number' || !(idBytes instanceof Uint8Array))
      throw new ConfideError('E_PROTOCOL', 'malformed decryption request');
    request.contributors = contributors;
    const chunks = bytesPayloads(m, 1, 'he-decrypt');
    request.chunks = chunks.map((c) => c.slice());
    if (idBytes.length !== 32 * contributors) throw new ConfideError('E_PROTOCOL', 'the contributor list does not match the count');
    for (let i = 0; i < contributors; i++) request.ids.push(Buffer.from(idBytes.subarray(32 * i, 32 * i + 32)).toString('hex'));
    if (new Set(request.ids).size !== contributors) throw new ConfideError('E_PROTOCOL', 'the contributor list repeats a party');
    if (contributors < K) throw new ConfideError('E_PROTOCOL', `the aggregate has ${contributors} contributors; at least ${K} are required`);
    if (chunks.length === 0) throw new ConfideError('E_PROTOCOL', 'the request carries no ciphertexts');
    // The chunks' own contributor count must agree with the signed header.
    if (decodeBlob(chunks[0], 'chunk', KIND_CIPHERTEXT).header.contributors !== contributors)
      throw new ConfideError('E_PROTOCOL', 'the ciphertexts and the request disagree on the number of contributors');
    request.residues = decryptor.decryptResidues(chunks);
  } catch (e) {
    request.refused = (e as Error).message;
  }
  emit({ type: 'decrypt-request', contributors: request.contributors, refused: request.refused });
  o.onRequest?.(request);
  if (request.refused !== undefined) {
    await party.send(party.serverId, r + 4, { header: { kind: 'he-residues', ok: false, reason: request.refused }, payloads: [] });
  } else {
    await party.send(party.serverId, r + 4, { header: { kind: 'he-residues', ok: true }, payloads: [request.residues!] });
  }
  return request;
}

export interface ClientOptions {
  /** This client's party, joined to the aggregator's server. */
  party: Party;
  /** The decryptor's party id: its signature on the key bundle is checked. */
  decryptor: PartyId;
  values: FloatVector;
  timeoutMs: number;
  round?: number;
  /** Wait for the sum the aggregator shares (default true). */
  waitForResult?: boolean;
  rng?: Rng;
}

export interface ClientResult {
  /** Values clipped to the plan's bound. */
  clipped: number;
  /** Bytes of ciphertext sent. */
  bytesSent: number;
  /** The sum, when the aggregator shared it. */
  sum: Float64Array | undefined;
  contributors: number | undefined;
}

const CLIENT_KEYS = ['party', 'decryptor', 'values', 'timeoutMs', 'round', 'waitForResult', 'rng'];

/** Runs a client: check the bundle's signature, encrypt, send, and (by default) receive the sum. */
export async function runClient(options: ClientOptions): Promise<ClientResult> {
  const o = aoptions(options, 'options', CLIENT_KEYS);
  if (o === undefined) throw new ConfideError('E_BAD_INPUT', '"options" expected client options', { field: 'options' });
  const party = o.party;
  if (typeof party !== 'object' || party === null || typeof (party as Party).receive !== 'function')
    throw new ConfideError('E_BAD_INPUT', `"party" expected a Party (net join()), got ${describe(party)}`, { field: 'party' });
  const decryptorId = aparty(o.decryptor, 'decryptor');
  const values = atyped(o.values, 'values', Float32Array, Float64Array);
  const timeoutMs = atimeout(o.timeoutMs, 'timeoutMs');
  const r = o.round === undefined ? 1 : ainteger(o.round, 'round', 1, 2 ** 32 - 7);
  const rng = o.rng === undefined ? undefined : arng(o.rng, 'rng');

  const keys = await party.receive(r + 1, { from: party.serverId, timeoutMs });
  const bundle = keys.payloads[0];
  const signature = keys.header.signature;
  if (keys.header.kind !== 'he-keys' || !(bundle instanceof Uint8Array) || !(signature instanceof Uint8Array) || !verifyKeyBundle(decryptorId, bundle, signature))
    throw new ConfideError('E_CRYPTO', 'the key bundle is not signed by the decryptor: refusing to encrypt under it', { field: 'decryptor' });
  const opened = await openPublicKey(bundle);
  let clipped: number;
  let bytesSent = 0;
  try {
    using encryptor = createEncryptor(opened.context, opened.plan, bundle);
    // Yields between ciphertexts: encrypting a long vector takes seconds, and the party must keep answering heartbeats.
    const e = await encryptor.encryptAsync(values, rng === undefined ? undefined : { rng });
    clipped = e.clipped;
    for (const c of e.chunks) bytesSent += c.length;
    await party.send(party.serverId, r + 2, { header: { kind: 'he-input', length: e.length }, payloads: e.chunks });
  } finally {
    opened.context.dispose();
  }
  if (o.waitForResult === false) return { clipped, bytesSent, sum: undefined, contributors: undefined };
  const res = await party.receive(r + 5, { from: party.serverId, timeoutMs });
  const sum = res.payloads[0];
  if (res.header.kind !== 'he-result' || !(sum instanceof Float64Array) || typeof res.header.contributors !== 'number')
    throw new ConfideError('E_PROTOCOL', 'the aggregator sent a malformed result', { field: 'party' });
  return { clipped, bytesSent, sum, contributors: res.header.contributors };
}
