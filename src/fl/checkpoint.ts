/**
 * Coordinator checkpoints in SQLite (node:sqlite): after each round, the
 * global model, the strategy's state (optimiser moments, clip norm) and the
 * round's metrics are written in ONE transaction, so a coordinator killed at
 * any instant finds either the previous round's checkpoint or this one's,
 * never a mix.
 *
 * Schema (version 1):
 *   meta(key TEXT PRIMARY KEY, value TEXT)          'application' = 'confide-fl-checkpoint', 'schema' = '1'
 *   rounds(run TEXT, round INTEGER, names TEXT, weights BLOB, strategy TEXT, metrics TEXT, time TEXT,
 *          PRIMARY KEY (run, round))
 * `names` is JSON [[name, length], ...] in model order; `weights` the float32
 * values of those tensors end to end, little-endian; `strategy` the
 * strategy's toJSON(); `metrics` the round's RoundMetrics as JSON. Only the
 * last `keep` rounds of a run are kept.
 *
 * `CheckpointStore.inLedger(ledger)` keeps the same two tables, named
 * `fl_checkpoint_meta` and `fl_checkpoint_rounds`, in the privacy ledger's
 * own database and writes through `ledger.transaction`, so that a DP round's
 * spend and its checkpoint commit in ONE transaction: a coordinator killed at
 * any instant has either spent the round and saved its model, or neither.
 */
import { ainteger, astring } from '../core/assert.ts';
import { ConfideError, describe } from '../core/errors.ts';
import type { DatabaseSync } from 'node:sqlite';
import type { PrivacyLedger } from '../dp/index.ts';
import { atensors, type Tensors } from './tensors.ts';

const APPLICATION = 'confide-fl-checkpoint';
const SCHEMA = '1';

export interface Checkpoint {
  readonly run: string;
  readonly round: number;
  readonly weights: Tensors;
  /** The strategy's toJSON() (parsed). */
  readonly strategy: unknown;
  readonly metrics: unknown;
  readonly time: string;
}

function io(message: string, cause?: unknown): ConfideError {
  return new ConfideError('E_IO', message, { field: 'path', ...(cause === undefined ? {} : { cause }) });
}

const LITTLE_ENDIAN = new Uint8Array(Uint32Array.of(1).buffer)[0] === 1;

function encodeWeights(t: Tensors): { names: string; blob: Uint8Array } {
  const names = Object.keys(t);
  let n = 0;
  for (const k of names) n += t[k].length;
  const all = new Float32Array(n);
  let off = 0;
  for (const k of names) {
    all.set(t[k], off);
    off += t[k].length;
  }
  const blob = new Uint8Array(all.buffer);
  if (!LITTLE_ENDIAN) for (let i = 0; i < blob.length; i += 4) blob.subarray(i, i + 4).reverse();
  return { names: JSON.stringify(names.map((k) => [k, t[k].length])), blob };
}

function decodeWeights(namesJson: string, blob: Uint8Array): Tensors {
  const names = JSON.parse(namesJson) as [string, number][];
  const b = Uint8Array.from(blob);
  if (!LITTLE_ENDIAN) for (let i = 0; i < b.length; i += 4) b.subarray(i, i + 4).reverse();
  const all = new Float32Array(b.buffer, 0, b.length >> 2);
  const out: Tensors = {};
  let off = 0;
  for (const [k, len] of names) {
    if (!Number.isSafeInteger(len) || len < 0 || off + len > all.length) throw new ConfideError('E_DECODE', `checkpoint tensor ${describe(k)} does not fit the stored weights`, { field: 'weights' });
    out[k] = all.slice(off, off + len);
    off += len;
  }
  if (off !== all.length) throw new ConfideError('E_DECODE', 'checkpoint weights are longer than their tensors', { field: 'weights' });
  return out;
}

interface Tables {
  meta: string;
  rounds: string;
}

const OWN_TABLES: Tables = { meta: 'meta', rounds: 'rounds' };
const LEDGER_TABLES: Tables = { meta: 'fl_checkpoint_meta', rounds: 'fl_checkpoint_rounds' };

function createTables(db: DatabaseSync, t: Tables): void {
  db.exec(`CREATE TABLE IF NOT EXISTS ${t.meta} (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    CREATE TABLE IF NOT EXISTS ${t.rounds} (run TEXT NOT NULL, round INTEGER NOT NULL, names TEXT NOT NULL, weights BLOB NOT NULL,
      strategy TEXT NOT NULL, metrics TEXT NOT NULL, time TEXT NOT NULL, PRIMARY KEY (run, round));
    INSERT OR IGNORE INTO ${t.meta} VALUES ('application', '${APPLICATION}'), ('schema', '${SCHEMA}');`);
}

function checkMeta(db: DatabaseSync, t: Tables): boolean {
  const meta = Object.fromEntries((db.prepare(`SELECT key, value FROM ${t.meta}`).all() as { key: string; value: string }[]).map((r) => [r.key, r.value]));
  return meta.application === APPLICATION && meta.schema === SCHEMA;
}

/** A checkpoint file (or the checkpoint tables in a privacy ledger): `save` after each round, `latest` to resume. */
export class CheckpointStore {
  readonly path: string;
  #db: DatabaseSync | null;
  readonly #ledger: PrivacyLedger | null;
  readonly #t: Tables;
  readonly #keep: number;

  private constructor(path: string, db: DatabaseSync | null, ledger: PrivacyLedger | null, keep: number) {
    this.path = path;
    this.#db = db;
    this.#ledger = ledger;
    this.#t = ledger === null ? OWN_TABLES : LEDGER_TABLES;
    this.#keep = keep;
  }

  static #keepOf(options: { keep?: number } | undefined): number {
    const keep = options?.keep ?? 2;
    if (!Number.isSafeInteger(keep) || keep < 1) throw new ConfideError('E_BAD_INPUT', `"keep" expected an integer >= 1, got ${describe(keep)}`, { field: 'keep' });
    return keep;
  }

  /** Opens or creates the store at `path` (':memory:' for tests). Keeps the last `keep` rounds per run (default 2). */
  static open(path: string, options?: { keep?: number }): CheckpointStore {
    astring(path, 'path', 4096);
    if (path.length === 0) throw new ConfideError('E_BAD_INPUT', '"path" expected a file path, got ""', { field: 'path' });
    const keep = CheckpointStore.#keepOf(options);
    const mod = process.getBuiltinModule?.('node:sqlite') as typeof import('node:sqlite') | undefined;
    if (mod === undefined) throw new ConfideError('E_UNSUPPORTED', 'checkpoints need node:sqlite (Node 22.13 or later)');
    let db: DatabaseSync;
    try {
      db = new mod.DatabaseSync(path);
      db.exec('PRAGMA busy_timeout = 10000');
      if (path !== ':memory:') db.exec('PRAGMA journal_mode = WAL');
      db.exec('PRAGMA synchronous = FULL');
      createTables(db, OWN_TABLES);
    } catch (e) {
      throw io(`cannot open checkpoint store ${path}`, e);
    }
    if (!checkMeta(db, OWN_TABLES)) {
      db.close();
      throw io(`${path} is not a confide fl checkpoint store of schema ${SCHEMA}`);
    }
    return new CheckpointStore(path, db, null, keep);
  }

  /**
   * The checkpoint tables inside `ledger`'s database (created on first use).
   * `save` then joins an open `ledger.transaction`, so a round's spend and
   * its checkpoint commit together. The ledger stays the caller's to close.
   */
  static inLedger(ledger: PrivacyLedger, options?: { keep?: number }): CheckpointStore {
    if (typeof ledger !== 'object' || ledger === null || typeof (ledger as PrivacyLedger).transaction !== 'function')
      throw new ConfideError('E_BAD_INPUT', `"ledger" expected a PrivacyLedger, got ${describe(ledger)}`, { field: 'ledger' });
    const keep = CheckpointStore.#keepOf(options);
    const ok = ledger.transaction((db) => {
      createTables(db, LEDGER_TABLES);
      return checkMeta(db, LEDGER_TABLES);
    });
    if (!ok) throw io(`${ledger.path} holds checkpoint tables of another schema than ${SCHEMA}`);
    return new CheckpointStore(ledger.path, null, ledger, keep);
  }

  /** Runs `fn` in a write transaction: the ledger's (joining one already open), or this file's own. */
  #write<T>(fn: (db: DatabaseSync) => T): T {
    if (this.#ledger !== null) {
      if (this.#ledger.closed) throw new ConfideError('E_STATE', 'checkpoint store is closed (its ledger is)', { field: 'store' });
      return this.#ledger.transaction(fn);
    }
    if (this.#db === null) throw new ConfideError('E_STATE', 'checkpoint store is closed', { field: 'store' });
    const db = this.#db;
    db.exec('BEGIN IMMEDIATE');
    try {
      const out = fn(db);
      db.exec('COMMIT');
      return out;
    } catch (e) {
      db.exec('ROLLBACK');
      throw e;
    }
  }

  /** Writes round `round` of `run` and prunes old rounds, in one transaction (the ledger's, when it is open). */
  save(run: string, round: number, weights: Tensors, strategy: unknown, metrics: unknown): void {
    astring(run, 'run', 200);
    ainteger(round, 'round', 0);
    atensors(weights, 'weights');
    const { names, blob } = encodeWeights(weights);
    const strategyJson = JSON.stringify(strategy);
    const metricsJson = JSON.stringify(metrics);
    try {
      this.#write((db) => {
        db.prepare(`INSERT OR REPLACE INTO ${this.#t.rounds} (run, round, names, weights, strategy, metrics, time) VALUES (?, ?, ?, ?, ?, ?, ?)`).run(
          run, round, names, blob, strategyJson, metricsJson, new Date().toISOString(),
        );
        db.prepare(`DELETE FROM ${this.#t.rounds} WHERE run = ? AND round <= ?`).run(run, round - this.#keep);
      });
    } catch (e) {
      if (e instanceof ConfideError) throw e;
      throw io(`cannot write checkpoint round ${round}`, e);
    }
  }

  /** Replaces the metrics of a saved round (e.g. with the evaluation that followed the commit); nothing when the round is not saved. */
  saveMetrics(run: string, round: number, metrics: unknown): void {
    astring(run, 'run', 200);
    ainteger(round, 'round', 0);
    const json = JSON.stringify(metrics);
    this.#write((db) => db.prepare(`UPDATE ${this.#t.rounds} SET metrics = ? WHERE run = ? AND round = ?`).run(json, run, round));
  }

  /** The latest checkpoint of `run`, or undefined when there is none. */
  latest(run: string): Checkpoint | undefined {
    astring(run, 'run', 200);
    const read = (db: DatabaseSync) =>
      db.prepare(`SELECT * FROM ${this.#t.rounds} WHERE run = ? ORDER BY round DESC LIMIT 1`).get(run) as
        | { run: string; round: number; names: string; weights: Uint8Array; strategy: string; metrics: string; time: string }
        | undefined;
    let row;
    if (this.#ledger !== null) row = this.#write(read);
    else if (this.#db === null) throw new ConfideError('E_STATE', 'checkpoint store is closed', { field: 'store' });
    else row = read(this.#db);
    if (row === undefined) return undefined;
    return { run: row.run, round: Number(row.round), weights: decodeWeights(row.names, row.weights), strategy: JSON.parse(row.strategy), metrics: JSON.parse(row.metrics), time: row.time };
  }

  /** Closes the file (a store in a ledger leaves the ledger open). */
  close(): void {
    this.#db?.close();
    this.#db = null;
  }
}
