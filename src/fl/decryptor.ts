/**
 * The HE decryptor of a federated training run (aggregation: 'he'): the one
 * party that holds the secret key. It joins the coordinator's server like a
 * client, but never trains: for each round the coordinator names, it runs
 * src/he's decryptor role once (publish the signed public key bundle,
 * decrypt one *masked* aggregate of at least `minContributors` distinct
 * clients, answer with residues that are uniform in Z_t), so it never sees a
 * client's ciphertext alone, nor the sum in the clear. The coordinator (src/he's
 * aggregator) has no secret key. They must not collude (src/fl/README.md,
 * "Threat model").
 *
 * Instruction (net round 0, coordinator → decryptor):
 *   { kind: 'he-decrypt-round', round: r, heRound, timeoutMs }   run src/he's decryptor at base round heRound
 *   { kind: 'done', reason }                                      stop
 * A round number is decrypted at most once per coordinator session (a
 * restarted coordinator is a new session and may redo its last round).
 */
import { ainteger, aoptions, atyped } from '../core/assert.ts';
import { ConfideError, describe, isConfideError } from '../core/errors.ts';
import { runDecryptor as runHeDecryptor } from '../he/index.ts';
import type { Identity, NetListener, PartyId, Transport } from '../net/index.ts';
import { CoordinatorLink } from './_link.ts';

export interface DecryptorOptions {
  transport: Transport;
  address: string;
  /** The decryptor's identity: its party id is what clients pin, and it signs the key bundle. */
  identity: Identity;
  serverId?: PartyId;
  token?: Uint8Array;
  /** The key pair (he `generateKeys`); the public bundle is also given to the coordinator. */
  publicKey: Uint8Array;
  secretKey: Uint8Array;
  /** K: an aggregate of fewer distinct contributors is refused. */
  minContributors: number;
  /** Longest wait for the coordinator's next instruction (default 600,000 ms). */
  idleTimeoutMs?: number;
  /** How long to keep trying to (re)join a coordinator (default 60,000 ms). */
  rejoinWindowMs?: number;
  on?: NetListener;
  /** Called after each round's request: how many contributors, and why it was refused, if it was. */
  onRound?: (event: { round: number; contributors: number; refused?: string }) => void;
}

export interface DecryptorSummary {
  /** Aggregates decrypted, and requests refused. */
  readonly decrypted: number;
  readonly refused: number;
  readonly reason: string;
}

const KEYS = ['transport', 'address', 'identity', 'serverId', 'token', 'publicKey', 'secretKey', 'minContributors', 'idleTimeoutMs', 'rejoinWindowMs', 'on', 'onRound'];

/** Serves the coordinator's decryption rounds until it says 'done'. */
export async function runDecryptor(options: DecryptorOptions): Promise<DecryptorSummary> {
  aoptions(options, 'options', KEYS);
  if (typeof options !== 'object' || options === null) throw new ConfideError('E_BAD_INPUT', '"options" expected decryptor options', { field: 'options' });
  const publicKey = atyped(options.publicKey, 'publicKey', Uint8Array);
  const secretKey = atyped(options.secretKey, 'secretKey', Uint8Array);
  const K = ainteger(options.minContributors, 'minContributors', 1, 2 ** 32 - 1);
  const idle = options.idleTimeoutMs === undefined ? 600_000 : ainteger(options.idleTimeoutMs, 'idleTimeoutMs', 1, 2 ** 31 - 1);
  const rejoin = options.rejoinWindowMs === undefined ? 60_000 : ainteger(options.rejoinWindowMs, 'rejoinWindowMs', 0, 2 ** 31 - 1);
  if (options.onRound !== undefined && typeof options.onRound !== 'function') throw new ConfideError('E_BAD_INPUT', `"onRound" expected a function, got ${describe(options.onRound)}`, { field: 'onRound' });
  let decrypted = 0, refused = 0;
  const link = await CoordinatorLink.open(options, rejoin);
  // Rounds decrypted in the current coordinator session (a new session starts afresh).
  let done = new Set<number>();
  try {
    for (;;) {
      const m = await link.next(idle, () => (done = new Set()));
      const party = link.party;
      const h = m.header;
      if (h.kind === 'done') return { decrypted, refused, reason: typeof h.reason === 'string' ? h.reason : 'done' };
      if (h.kind !== 'he-decrypt-round') continue;
      const round = h.round, heRound = h.heRound, timeoutMs = h.timeoutMs;
      if (typeof round !== 'number' || !Number.isSafeInteger(round) || round < 1 || done.has(round) ||
        typeof heRound !== 'number' || !Number.isSafeInteger(heRound) || heRound < 1 || heRound > 2 ** 32 - 7 ||
        typeof timeoutMs !== 'number' || !Number.isSafeInteger(timeoutMs) || timeoutMs < 1) {
        // A repeated round (two sums of one round could differ in one client) or a malformed instruction: no keys, no decryption.
        refused++;
        options.onRound?.({ round: typeof round === 'number' ? round : -1, contributors: 0, refused: done.has(round as number) ? 'round already decrypted' : 'malformed instruction' });
        continue;
      }
      done.add(round);
      try {
        const req = await runHeDecryptor({ party, identity: options.identity, publicKey, secretKey, minContributors: K, timeoutMs: Math.min(timeoutMs, 2 ** 31 - 1), round: heRound });
        if (req.refused === undefined) decrypted++;
        else refused++;
        options.onRound?.({ round, contributors: req.contributors, ...(req.refused === undefined ? {} : { refused: req.refused }) });
      } catch (e) {
        // The coordinator went quiet in the middle of the round: nothing was decrypted.
        if (!isConfideError(e) || (e.code !== 'E_TIMEOUT' && e.code !== 'E_PROTOCOL')) throw e;
        refused++;
        options.onRound?.({ round, contributors: 0, refused: e.message });
      }
    }
  } finally {
    await link.close();
  }
}
