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
 */
import { astring } from '../core/assert.ts';
import { ConfideError, describe } from '../core/errors.ts';
import type { DatabaseSync } from 'node:sqlite';
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

/** A checkpoint file: `save` after each round, `latest` to resume. */
export class CheckpointStore {
  readonly path: string;
  #db: DatabaseSync | null;
  readonly #keep: number;

  private constructor(path: string, db: DatabaseSync, keep: number) {
    this.path = path;
    this.#db = db;
    this.#keep = keep;
  }

  /** Opens or creates the store at `path` (':memory:' for tests). Keeps the last `keep` rounds per run (default 2). */
  static open(path: string, options?: { keep?: number }): CheckpointStore {
    astring(path, 'path', 4096);
    if (path.length === 0) throw new ConfideError('E_BAD_INPUT', '"path" expected a file path, got ""', { field: 'path' });
    const keep = options?.keep ?? 2;
    if (!Number.isSafeInteger(keep) || keep < 1) throw new ConfideError('E_BAD_INPUT', `"keep" expected an integer >= 1, got ${describe(keep)}`, { field: 'keep' });
    const mod = process.getBuiltinModule?.('node:sqlite') as typeof import('node:sqlite') | undefined;
    if (mod === undefined) throw new ConfideError('E_UNSUPPORTED', 'checkpoints need node:sqlite (Node 22.13 or later)');
    let db: DatabaseSync;
    try {
      db = new mod.DatabaseSync(path);
      db.exec('PRAGMA busy_timeout = 10000');
      if (path !== ':memory:') db.exec('PRAGMA journal_mode = WAL');
      db.exec('PRAGMA synchronous = FULL');
      db.exec(`CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
        CREATE TABLE IF NOT EXISTS rounds (run TEXT NOT NULL, round INTEGER NOT NULL, names TEXT NOT NULL, weights BLOB NOT NULL,
          strategy TEXT NOT NULL, metrics TEXT NOT NULL, time TEXT NOT NULL, PRIMARY KEY (run, round));
        INSERT OR IGNORE INTO meta VALUES ('application', '${APPLICATION}'), ('schema', '${SCHEMA}');`);
    } catch (e) {
      throw io(`cannot open checkpoint store ${path}`, e);
    }
    const meta = Object.fromEntries((db.prepare('SELECT key, value FROM meta').all() as { key: string; value: string }[]).map((r) => [r.key, r.value]));
    if (meta.application !== APPLICATION || meta.schema !== SCHEMA) {
      db.close();
      throw io(`${path} is not a confide fl checkpoint store of schema ${SCHEMA}`);
    }
    return new CheckpointStore(path, db, keep);
  }

  #open(): DatabaseSync {
    if (this.#db === null) throw new ConfideError('E_STATE', 'checkpoint store is closed', { field: 'store' });
    return this.#db;
  }

  /** Writes round `round` of `run` and prunes old rounds, in one transaction. */
  save(run: string, round: number, weights: Tensors, strategy: unknown, metrics: unknown): void {
    astring(run, 'run', 200);
    if (!Number.isSafeInteger(round) || round < 0) throw new ConfideError('E_BAD_INPUT', `"round" expected an integer >= 0, got ${describe(round)}`, { field: 'round' });
    atensors(weights, 'weights');
    const { names, blob } = encodeWeights(weights);
    const strategyJson = JSON.stringify(strategy);
    const metricsJson = JSON.stringify(metrics);
    const db = this.#open();
    db.exec('BEGIN IMMEDIATE');
    try {
      db.prepare('INSERT OR REPLACE INTO rounds (run, round, names, weights, strategy, metrics, time) VALUES (?, ?, ?, ?, ?, ?, ?)').run(
        run, round, names, blob, strategyJson, metricsJson, new Date().toISOString(),
      );
      db.prepare('DELETE FROM rounds WHERE run = ? AND round <= ?').run(run, round - this.#keep);
      db.exec('COMMIT');
    } catch (e) {
      db.exec('ROLLBACK');
      throw io(`cannot write checkpoint round ${round}`, e);
    }
  }

  /** The latest checkpoint of `run`, or undefined when there is none. */
  latest(run: string): Checkpoint | undefined {
    astring(run, 'run', 200);
    const row = this.#open().prepare('SELECT * FROM rounds WHERE run = ? ORDER BY round DESC LIMIT 1').get(run) as
      | { run: string; round: number; names: string; weights: Uint8Array; strategy: string; metrics: string; time: string }
      | undefined;
    if (row === undefined) return undefined;
    return { run: row.run, round: Number(row.round), weights: decodeWeights(row.names, row.weights), strategy: JSON.parse(row.strategy), metrics: JSON.parse(row.metrics), time: row.time };
  }

  close(): void {
    this.#db?.close();
    this.#db = null;
  }
}
