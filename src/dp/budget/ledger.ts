/**
 * The privacy budget ledger: a durable, multi-process privacy filter with a
 * tamper-evident log of every release, stored in SQLite through `node:sqlite`.
 *
 * ## What a spend does
 *
 * `spend` runs in one `BEGIN IMMEDIATE` transaction (SQLite's write lock, so
 * two processes cannot both pass the check): it reads the dataset's budget
 * and every earlier release's event, composes them with the new event
 * (`{type: 'composed', events: [...prior, event]}`), asks the dataset's
 * accountant for the cost of the whole composition, and either refuses with
 * E_BUDGET_EXCEEDED (rolling back; nothing is recorded) or appends the record
 * and commits. The caller computes the noisy value only after `spend`
 * returned, so a refused release never exists.
 *
 * ## Filter validity: which methods are sound for adaptively chosen releases
 *
 * Stopping when the composed cost would pass the budget is a *privacy
 * filter* (Rogers, Roth, Ullman and Vadhan 2016, "Privacy Odometers and
 * Filters: Pay-as-you-Go Composition"). With fully adaptive composition —
 * the next event, its parameters and whether to release at all may depend on
 * earlier outputs (Whitehouse, Ramdas, Rogers and Wu, ICML 2023) — a
 * composition theorem for fixed parameters does not automatically give a
 * valid filter. Per method:
 *
 * - `basic` — valid. Σε_i ≤ ε and Σδ_i ≤ δ is a valid (ε, δ) filter for
 *   adaptively chosen parameters (Rogers et al. 2016, basic composition
 *   filter; it is the martingale argument of Whitehouse et al. 2023 with no
 *   concentration term).
 * - `zcdp` — valid. Halting when Σρ_i would exceed ρ gives ρ-zCDP for adaptive
 *   ρ_i: the Rényi filter of Feldman and Zrnic (NeurIPS 2021, "Individual
 *   Privacy Accounting via a Rényi Filter") holds at each order α with
 *   budget ρα, and ρ-zCDP is exactly that for every α; Whitehouse et al. 2023
 *   also give an (approximate) zCDP filter. For an (ε, δ) budget the ledger
 *   halts when the CKS20 conversion of Σρ_i passes ε at δ, which (the
 *   conversion being increasing in ρ) is the ρ filter with ρ* = the largest ρ
 *   whose conversion meets (ε, δ).
 * - `rdp` — valid at any one fixed order α (Feldman and Zrnic 2021). The
 *   ledger's cost is the RDP accountant's ε, the best conversion over a grid
 *   of orders, recomputed at each spend; halting when *every* order's budget
 *   is used up is the multi-order RDP filter of Lécuyer ("Practical Privacy
 *   Filters and Odometers with Rényi Differential Privacy", 2021), whose
 *   statement this code relies on and which we have not re-derived.
 * - `pld` (the default, because it is the tightest for a sequence fixed in
 *   advance) — valid when the sequence of events is pre-specified (the
 *   mechanisms may still be chosen adaptively, as long as each one's privacy
 *   loss distribution is fixed in advance: the usual adaptive composition
 *   theorem that PLD accounting implements). For events whose parameters are
 *   chosen adaptively, the natural PLD / f-DP filter — compose the exact
 *   privacy curves and stop when the target is crossed — is NOT valid in
 *   general: "f-Differential Privacy Filters: Validity and Approximate
 *   Solutions" (Honkela, Koskela, Tran, Räisä; arXiv 2602.06756, 2026)
 *   shows it can fail, and "Privacy Filters are Captured by Residues" (arXiv
 *   2602.15815, 2026) shows natural filters are free only for families of
 *   mechanisms that are totally ordered under composition (the natural
 *   (ε, δ) filter can fail under an adaptive adversary, though by at most
 *   polylogarithmic factors). A Gaussian-only ledger is such a family
 *   (Gaussian DP filters are valid: Smith and Thakurta 2022), but a general
 *   mix is not. So: pick `zcdp`, `rdp` or `basic` for a dataset whose
 *   releases are chosen adaptively; keep `pld` for pre-planned workloads.
 *   The method is a per-dataset setting (`setBudget`).
 *
 * ## Records and the hash chain
 *
 * Each record (a `spend` or a `budget` change) stores its fields and
 * `prev_hash`, the hash of the record before it; `hash` is SHA-256 over the
 * canonical JSON of all fields and `prev_hash`. `verify()` recomputes the
 * chain and names each edited, deleted, reordered or inserted record. A
 * chain is evidence against editing the past, not against someone who can
 * write the file and recompute every hash after their edit: publish `head()`
 * somewhere else (a ticket, a signed log) to anchor it.
 *
 * Output hashes: a spend precedes its output, so `spend` takes `outputHash`
 * only when the output already exists (e.g. a replay). Otherwise `release()`
 * (release.ts) spends, computes, then stores the output's hash in the
 * separate `outputs` table, which is NOT part of the chain (the chain never
 * changes after a record is written).
 */
import type { DatabaseSync } from 'node:sqlite';
import { aobject, aoneof, aoptions, anumber, astring } from '../../core/assert.ts';
import { ConfideError, describe, isConfideError } from '../../core/errors.ts';
import { ACCOUNTING_METHODS, epsilonFor, type AccountingMethod } from '../accounting/accountant.ts';
import { epsilonDeltaOf } from '../accounting/composition.ts';
import { aevent, type PrivacyEvent } from '../accounting/events.ts';
import { zcdpRho } from '../accounting/zcdp.ts';
import type { Guarantee } from '../guarantee.ts';
import { canonicalJson, sha256Hex } from './_canonical.ts';

/** The schema this code writes and reads. */
export const LEDGER_SCHEMA_VERSION = 1;
const APPLICATION = 'confide-privacy-ledger';
const GENESIS = '0'.repeat(64);
const MAX_TEXT = 10_000;

export type Budget =
  | { readonly epsilon: number; readonly delta: number }
  | { readonly rho: number };

export interface DatasetBudget {
  readonly dataset: string;
  readonly method: AccountingMethod;
  /** 'epsilon' for an (ε, δ) budget, 'rho' for a ρ-zCDP budget. */
  readonly unit: 'epsilon' | 'rho';
  readonly epsilon?: number;
  readonly delta?: number;
  readonly rho?: number;
}

export interface SpendArgs {
  readonly dataset: string;
  readonly event: PrivacyEvent;
  /** Who releases. */
  readonly principal: string;
  /** Why. */
  readonly purpose: string;
  /** What is computed, in words or SQL. */
  readonly query: string;
  /** The mechanism's own guarantee (Release.guarantee); computed by the accountant when omitted. */
  readonly guarantee?: Guarantee;
  /** A hash of the output, when it exists before the spend is recorded (hex, at most 128 chars). */
  readonly outputHash?: string;
}

export interface Receipt {
  readonly id: number;
  readonly dataset: string;
  readonly method: AccountingMethod;
  readonly unit: 'epsilon' | 'rho';
  /** The composed cost of every release so far, this one included, in `unit`. */
  readonly spent: number;
  readonly budget: number;
  readonly remaining: number;
  /** ε of the composition at the budget's δ (ε budgets only). */
  readonly epsilonSpent?: number;
  readonly deltaBudget?: number;
  /** ρ of the composition (ρ budgets only). */
  readonly rhoSpent?: number;
  readonly time: string;
  readonly hash: string;
}

export interface Odometer {
  readonly dataset: string;
  readonly method: AccountingMethod;
  readonly unit: 'epsilon' | 'rho';
  readonly spent: number;
  readonly budget: number;
  readonly remaining: number;
  readonly delta?: number;
  readonly releases: number;
}

export interface LedgerRecord {
  readonly id: number;
  readonly dataset: string;
  readonly kind: 'spend' | 'budget';
  readonly event: PrivacyEvent | null;
  readonly guarantee: Guarantee | null;
  readonly budget: DatasetBudget | null;
  readonly principal: string;
  readonly purpose: string;
  readonly query: string;
  readonly time: string;
  readonly outputHash: string | null;
  /** From the non-chained `outputs` table (recorded after the release by `release()`). */
  readonly laterOutputHash: string | null;
  readonly prevHash: string;
  readonly hash: string;
}

export type ProblemKind = 'edited' | 'reordered' | 'deleted' | 'inserted';

export interface VerifyResult {
  readonly ok: boolean;
  readonly records: number;
  readonly problems: ReadonlyArray<{ readonly id: number; readonly kind: ProblemKind; readonly message: string }>;
}

export interface OpenOptions {
  /** Create the file and schema when missing (default true). */
  create?: boolean;
}

export interface SetBudgetOptions {
  method?: AccountingMethod;
  principal: string;
  purpose?: string;
}

/** Test-only hooks (not exported from the module's index): run inside the spend transaction just before COMMIT. */
export const _hooks: { beforeCommit?: (id: number) => void } = {};

interface Row {
  id: number;
  dataset: string;
  kind: string;
  event: string | null;
  guarantee: string | null;
  budget: string | null;
  principal: string;
  purpose: string;
  query: string;
  time: string;
  output_hash: string | null;
  prev_hash: string;
  hash: string;
}

type SqliteModule = typeof import('node:sqlite');

function sqlite(): SqliteModule {
  const p = (globalThis as { process?: { getBuiltinModule?: (id: string) => unknown } }).process;
  let mod: SqliteModule | undefined;
  try {
    mod = p?.getBuiltinModule?.('node:sqlite') as SqliteModule | undefined;
  } catch {
    mod = undefined;
  }
  if (mod === undefined)
    throw new ConfideError('E_UNSUPPORTED', 'the privacy ledger needs node:sqlite (Node 22.13 or later)');
  return mod;
}

function io(message: string, cause?: unknown): ConfideError {
  return new ConfideError('E_IO', cause === undefined ? message : `${message}: ${(cause as Error)?.message ?? String(cause)}`, {
    field: 'ledger',
    cause,
  });
}

/** SQLite failures are E_IO; anything else unexpected is a bug (E_INTERNAL). */
function wrap(e: unknown, message: string): ConfideError {
  if (e instanceof ConfideError) return e;
  if ((e as { code?: unknown })?.code === 'ERR_SQLITE_ERROR' || e instanceof SyntaxError) return io(message, e);
  return new ConfideError('E_INTERNAL', `${message}: ${(e as Error)?.message ?? String(e)}`, { cause: e });
}

function atext(v: unknown, field: string): string {
  return astring(v, field, MAX_TEXT);
}

function adataset(v: unknown): string {
  const s = astring(v, 'dataset', 200);
  if (s.length === 0) throw new ConfideError('E_BAD_INPUT', '"dataset" expected a non-empty string, got ""', { field: 'dataset' });
  return s;
}

function ahash(v: unknown, field: string): string {
  if (typeof v !== 'string' || !/^[0-9a-f]{16,128}$/.test(v))
    throw new ConfideError('E_BAD_INPUT', `"${field}" expected a lowercase hex string of 16 to 128 digits, got ${describe(v)}`, { field });
  return v;
}

function aguarantee(v: unknown): Guarantee {
  const o = aobject(v, 'guarantee');
  const kind = aoneof(o.kind, 'guarantee.kind', ['pure', 'approx', 'zcdp'] as const);
  if (kind === 'pure') {
    aoptions(o, 'guarantee', ['kind', 'epsilon']);
    anumber(o.epsilon, 'guarantee.epsilon', 0);
  } else if (kind === 'approx') {
    aoptions(o, 'guarantee', ['kind', 'epsilon', 'delta']);
    anumber(o.epsilon, 'guarantee.epsilon', 0);
    anumber(o.delta, 'guarantee.delta', 0, 1);
  } else {
    aoptions(o, 'guarantee', ['kind', 'rho']);
    anumber(o.rho, 'guarantee.rho', 0);
  }
  return o as unknown as Guarantee;
}

/** The fields a record's hash covers, in canonical JSON, with the previous hash. */
function recordHash(r: Omit<Row, 'id' | 'hash'>): string {
  const body = canonicalJson({
    v: LEDGER_SCHEMA_VERSION,
    dataset: r.dataset,
    kind: r.kind,
    event: r.event,
    guarantee: r.guarantee,
    budget: r.budget,
    principal: r.principal,
    purpose: r.purpose,
    query: r.query,
    time: r.time,
    output_hash: r.output_hash,
    prev_hash: r.prev_hash,
  });
  return sha256Hex(body);
}

const SCHEMA = `
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) STRICT;
CREATE TABLE records (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  dataset TEXT NOT NULL,
  kind TEXT NOT NULL CHECK (kind IN ('spend', 'budget')),
  event TEXT,
  guarantee TEXT,
  budget TEXT,
  principal TEXT NOT NULL,
  purpose TEXT NOT NULL,
  query TEXT NOT NULL,
  time TEXT NOT NULL,
  output_hash TEXT,
  prev_hash TEXT NOT NULL,
  hash TEXT NOT NULL
);
CREATE INDEX records_dataset ON records (dataset, kind, id);
CREATE TABLE outputs (id INTEGER PRIMARY KEY, hash TEXT NOT NULL, time TEXT NOT NULL) STRICT;
`;

/** Cost of a composition under a dataset's budget, in the budget's unit. */
function costOf(b: DatasetBudget, event: PrivacyEvent): number {
  if (b.unit === 'rho') return zcdpRho(event);
  if (b.method === 'basic') {
    // Basic composition: refused (Infinity) once Σδ passes the budget's δ.
    const { epsilon, delta } = epsilonDeltaOf(event);
    return delta > b.delta! ? Infinity : epsilon;
  }
  return epsilonFor(event, b.delta!, { method: b.method });
}

function guaranteeOf(b: DatasetBudget, event: PrivacyEvent): Guarantee {
  if (b.unit === 'rho') return { kind: 'zcdp', rho: zcdpRho(event) };
  if (b.method === 'basic') {
    const { epsilon, delta } = epsilonDeltaOf(event);
    return delta === 0 ? { kind: 'pure', epsilon } : { kind: 'approx', epsilon, delta };
  }
  return { kind: 'approx', epsilon: epsilonFor(event, b.delta!, { method: b.method }), delta: b.delta! };
}

export class PrivacyLedger {
  readonly path: string;
  #db: DatabaseSync | null;
  #inTransaction = false;

  private constructor(path: string, db: DatabaseSync) {
    this.path = path;
    this.#db = db;
  }

  /**
   * Opens (and by default creates) the ledger at `path` (':memory:' for a
   * throwaway one). WAL journal, synchronous=FULL, a 10 s busy timeout.
   *
   * @throws E_IO when the file is not a confide ledger, has an unknown schema
   *   version, or cannot be opened; E_UNSUPPORTED without node:sqlite
   */
  static open(path: string, options?: OpenOptions): PrivacyLedger {
    astring(path, 'path', 4096);
    if (path.length === 0) throw new ConfideError('E_BAD_INPUT', '"path" expected a file path, got ""', { field: 'path' });
    aoptions(options, 'options', ['create']);
    const create = options?.create === undefined ? true : options.create;
    if (typeof create !== 'boolean') throw new ConfideError('E_BAD_INPUT', `"options.create" expected a boolean, got ${describe(create)}`, { field: 'options.create' });
    const { DatabaseSync } = sqlite();
    if (!create && path !== ':memory:') {
      const fs = (process.getBuiltinModule('node:fs') as typeof import('node:fs'));
      if (!fs.existsSync(path)) throw io(`no ledger at ${path} (pass { create: true } to create one)`);
    }
    let db: DatabaseSync;
    try {
      db = new DatabaseSync(path);
    } catch (e) {
      throw io(`cannot open ledger ${path}`, e);
    }
    try {
      db.exec('PRAGMA busy_timeout = 10000');
      const mode = db.prepare('PRAGMA journal_mode = WAL').get() as { journal_mode?: string } | undefined;
      if (path !== ':memory:' && mode?.journal_mode !== 'wal') throw io(`cannot switch ${path} to WAL mode (got ${mode?.journal_mode})`);
      db.exec('PRAGMA synchronous = FULL');
      db.exec('BEGIN IMMEDIATE');
      try {
        const tables = db.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").all() as { name: string }[];
        if (tables.length === 0) {
          if (!create) throw io(`${path} is empty, not a confide ledger`);
          db.exec(SCHEMA);
          const put = db.prepare('INSERT INTO meta (key, value) VALUES (?, ?)');
          put.run('application', APPLICATION);
          put.run('schema_version', String(LEDGER_SCHEMA_VERSION));
        } else {
          if (!tables.some((t) => t.name === 'meta')) throw io(`${path} is a SQLite database but not a confide ledger (no meta table)`);
          const meta = new Map(
            (db.prepare('SELECT key, value FROM meta').all() as { key: string; value: string }[]).map((r) => [r.key, r.value]),
          );
          if (meta.get('application') !== APPLICATION) throw io(`${path} is not a confide ledger (application ${describe(meta.get('application'))})`);
          if (meta.get('schema_version') !== String(LEDGER_SCHEMA_VERSION))
            throw io(`${path} has ledger schema version ${describe(meta.get('schema_version'))}; this confide reads version ${LEDGER_SCHEMA_VERSION}`);
        }
        db.exec('COMMIT');
      } catch (e) {
        if (db.isTransaction) db.exec('ROLLBACK');
        throw e;
      }
    } catch (e) {
      try {
        db.close();
      } catch {
        /* already failing */
      }
      if (isConfideError(e)) throw e;
      throw io(`cannot open ledger ${path}`, e);
    }
    return new PrivacyLedger(path, db);
  }

  #live(): DatabaseSync {
    if (this.#db === null) throw new ConfideError('E_STATE', 'the ledger is closed');
    return this.#db;
  }

  /** Runs `fn` in a BEGIN IMMEDIATE transaction; any throw rolls back. SQLite errors become E_IO. Inside `transaction()` it joins that one. */
  #write<T>(fn: (db: DatabaseSync) => T): T {
    const db = this.#live();
    if (this.#inTransaction) return fn(db);
    try {
      db.exec('BEGIN IMMEDIATE');
    } catch (e) {
      throw io('cannot lock the ledger for writing', e);
    }
    try {
      const out = fn(db);
      db.exec('COMMIT');
      return out;
    } catch (e) {
      if (db.isTransaction) db.exec('ROLLBACK');
      throw wrap(e, 'ledger write failed');
    }
  }

  /**
   * Runs `fn` inside ONE write transaction of the ledger's database and
   * commits when it returns: every `spend` (or other write) made through this
   * ledger while `fn` runs joins it, and so does whatever `fn` writes to its
   * own tables through `db`. If `fn` throws, everything rolls back, spends
   * included: nothing was spent. This is for a caller whose state must change
   * together with a spend, e.g. a training run's checkpoint (src/fl), so that
   * a process killed at any instant leaves both or neither.
   *
   * `fn` must be synchronous (a returned promise is refused and rolled back:
   * other code could otherwise write into the open transaction). `db` is for
   * the caller's own tables; it must not touch the ledger's `meta`, `records`
   * and `outputs` (edits to `records` break `verify()`). Nested calls join the
   * outer transaction.
   */
  transaction<T>(fn: (db: DatabaseSync) => T): T {
    if (typeof fn !== 'function') throw new ConfideError('E_BAD_INPUT', `"fn" expected a function, got ${describe(fn)}`, { field: 'fn' });
    if (this.#inTransaction) return fn(this.#live());
    return this.#write((db) => {
      this.#inTransaction = true;
      try {
        const out = fn(db);
        if (typeof (out as { then?: unknown } | null)?.then === 'function')
          throw new ConfideError('E_BAD_INPUT', '"fn" must be synchronous: a ledger transaction cannot stay open across an await', { field: 'fn' });
        return out;
      } finally {
        this.#inTransaction = false;
      }
    });
  }

  #read<T>(fn: (db: DatabaseSync) => T): T {
    const db = this.#live();
    try {
      return fn(db);
    } catch (e) {
      throw wrap(e, 'ledger read failed');
    }
  }

  #budgetOf(db: DatabaseSync, dataset: string): DatasetBudget | undefined {
    const row = db.prepare("SELECT budget FROM records WHERE dataset = ? AND kind = 'budget' ORDER BY id DESC LIMIT 1").get(dataset) as
      | { budget: string }
      | undefined;
    return row === undefined ? undefined : (JSON.parse(row.budget) as DatasetBudget);
  }

  #append(db: DatabaseSync, r: Omit<Row, 'id' | 'hash' | 'prev_hash'>): { id: number; hash: string } {
    const last = db.prepare('SELECT hash FROM records ORDER BY id DESC LIMIT 1').get() as { hash: string } | undefined;
    const full = { ...r, prev_hash: last?.hash ?? GENESIS };
    const hash = recordHash(full);
    const res = db
      .prepare(
        `INSERT INTO records (dataset, kind, event, guarantee, budget, principal, purpose, query, time, output_hash, prev_hash, hash)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      )
      .run(full.dataset, full.kind, full.event, full.guarantee, full.budget, full.principal, full.purpose, full.query, full.time, full.output_hash, full.prev_hash, hash);
    return { id: Number(res.lastInsertRowid), hash };
  }

  /**
   * Sets (creates, raises or lowers) a dataset's budget and its accounting
   * method, recorded in the chain as a 'budget' record. A ρ budget is
   * accounted by zCDP (the only method allowed with it). Lowering below what
   * is already spent is allowed: later spends are then refused.
   */
  setBudget(dataset: string, budget: Budget, options: SetBudgetOptions): DatasetBudget {
    adataset(dataset);
    const b = aobject(budget, 'budget');
    aoptions(options, 'options', ['method', 'principal', 'purpose']);
    aobject(options, 'options');
    const principal = atext(options.principal, 'options.principal');
    const purpose = options.purpose === undefined ? 'set budget' : atext(options.purpose, 'options.purpose');
    let value: DatasetBudget;
    if ('rho' in b) {
      aoptions(b, 'budget', ['rho']);
      const rho = anumber(b.rho, 'budget.rho', 0, Infinity, true);
      const method = aoneof(options.method === undefined ? 'zcdp' : options.method, 'options.method', ['zcdp'] as const);
      value = { dataset, method, unit: 'rho', rho };
    } else {
      aoptions(b, 'budget', ['epsilon', 'delta']);
      const epsilon = anumber(b.epsilon, 'budget.epsilon', 0, Infinity, true);
      const delta = anumber(b.delta, 'budget.delta', 0, 1);
      if (delta === 1) throw new ConfideError('E_BAD_INPUT', '"budget.delta" expected a number < 1, got 1', { field: 'budget.delta' });
      const method = aoneof(options.method === undefined ? 'pld' : options.method, 'options.method', ACCOUNTING_METHODS);
      value = { dataset, method, unit: 'epsilon', epsilon, delta };
    }
    this.#write((db) =>
      this.#append(db, {
        dataset,
        kind: 'budget',
        event: null,
        guarantee: null,
        budget: canonicalJson(value),
        principal,
        purpose,
        query: '',
        time: new Date().toISOString(),
        output_hash: null,
      }),
    );
    return value;
  }

  /**
   * Checks the budget and records the release, atomically, before the
   * release happens. Returns a receipt, or throws E_BUDGET_EXCEEDED (details:
   * spent, requested, remaining, budget) having recorded nothing.
   *
   * @throws E_STATE for a dataset without a budget; E_BAD_INPUT for a bad
   *   argument; E_UNSUPPORTED when the dataset's accountant cannot account
   *   the event (e.g. a zCDP event under PLD)
   */
  spend(args: SpendArgs): Receipt {
    const a = aobject(args, 'args');
    aoptions(a, 'args', ['dataset', 'event', 'principal', 'purpose', 'query', 'guarantee', 'outputHash']);
    const dataset = adataset(a.dataset);
    const event = aevent(a.event);
    const eventJson = canonicalJson(event, 'event');
    const principal = atext(a.principal, 'principal');
    const purpose = atext(a.purpose, 'purpose');
    const query = atext(a.query, 'query');
    const given = a.guarantee === undefined ? undefined : aguarantee(a.guarantee);
    const outputHash = a.outputHash === undefined ? null : ahash(a.outputHash, 'outputHash');
    return this.#write((db) => {
      const budget = this.#budgetOf(db, dataset);
      if (budget === undefined) throw new ConfideError('E_STATE', `dataset ${describe(dataset)} has no budget; call setBudget first`, { field: 'dataset' });
      const prior = (db.prepare("SELECT event FROM records WHERE dataset = ? AND kind = 'spend' ORDER BY id").all(dataset) as { event: string }[]).map(
        (r) => JSON.parse(r.event) as PrivacyEvent,
      );
      const limit = budget.unit === 'rho' ? budget.rho! : budget.epsilon!;
      const after = costOf(budget, { type: 'composed', events: [...prior, event] });
      if (!(after <= limit)) {
        const before = prior.length === 0 ? 0 : costOf(budget, { type: 'composed', events: prior });
        throw new ConfideError(
          'E_BUDGET_EXCEEDED',
          `dataset ${describe(dataset)}: this release would bring the ${budget.unit === 'rho' ? 'ρ' : 'ε'} spent from ${before} to ${after}, over the budget of ${limit} (${budget.method} accounting)`,
          { field: 'event', details: { dataset, method: budget.method, unit: budget.unit, spent: before, requested: after, remaining: Math.max(0, limit - before), budget: limit } },
        );
      }
      const guarantee = given ?? guaranteeOf(budget, event);
      const time = new Date().toISOString();
      const { id, hash } = this.#append(db, {
        dataset,
        kind: 'spend',
        event: eventJson,
        guarantee: canonicalJson(guarantee, 'guarantee'),
        budget: null,
        principal,
        purpose,
        query,
        time,
        output_hash: outputHash,
      });
      _hooks.beforeCommit?.(id);
      const common = { id, dataset, method: budget.method, unit: budget.unit, spent: after, budget: limit, remaining: Math.max(0, limit - after), time, hash };
      return budget.unit === 'rho' ? { ...common, rhoSpent: after } : { ...common, epsilonSpent: after, deltaBudget: budget.delta! };
    });
  }

  /**
   * Records the hash of a release's output after the fact, in the
   * `outputs` table (outside the chain). Once per spend record.
   */
  recordOutput(id: number, outputHash: string): void {
    if (!Number.isSafeInteger(id) || id < 1) throw new ConfideError('E_BAD_INPUT', `"id" expected a record id (an integer >= 1), got ${describe(id)}`, { field: 'id' });
    ahash(outputHash, 'outputHash');
    this.#write((db) => {
      const row = db.prepare('SELECT kind FROM records WHERE id = ?').get(id) as { kind: string } | undefined;
      if (row?.kind !== 'spend') throw new ConfideError('E_STATE', `record ${id} is not a spend`, { field: 'id' });
      if (db.prepare('SELECT 1 FROM outputs WHERE id = ?').get(id) !== undefined)
        throw new ConfideError('E_STATE', `record ${id} already has an output hash`, { field: 'id' });
      db.prepare('INSERT INTO outputs (id, hash, time) VALUES (?, ?, ?)').run(id, outputHash, new Date().toISOString());
    });
  }

  /**
   * What the odometer would read after `event`, without recording anything:
   * for a job of several releases to check that all of them fit before the
   * first is drawn. Advisory: only `spend` decides, in its own transaction.
   */
  preview(dataset: string, event: PrivacyEvent): Odometer & { readonly fits: boolean } {
    adataset(dataset);
    const reading = this.#reading(dataset, aevent(event));
    return { ...reading, fits: reading.spent <= reading.budget };
  }

  /** The budget, method and spend so far of a dataset. */
  odometer(dataset: string): Odometer {
    adataset(dataset);
    return this.#reading(dataset, null);
  }

  /** The odometer of `dataset`, with `extra` composed after its spends when given. */
  #reading(dataset: string, extra: PrivacyEvent | null): Odometer {
    return this.#read((db) => {
      const budget = this.#budgetOf(db, dataset);
      if (budget === undefined) throw new ConfideError('E_STATE', `dataset ${describe(dataset)} has no budget`, { field: 'dataset' });
      const events = (db.prepare("SELECT event FROM records WHERE dataset = ? AND kind = 'spend' ORDER BY id").all(dataset) as { event: string }[]).map(
        (r) => JSON.parse(r.event) as PrivacyEvent,
      );
      if (extra) events.push(extra);
      const limit = budget.unit === 'rho' ? budget.rho! : budget.epsilon!;
      const spent = events.length === 0 ? 0 : costOf(budget, { type: 'composed', events });
      return {
        dataset,
        method: budget.method,
        unit: budget.unit,
        spent,
        budget: limit,
        remaining: Math.max(0, limit - spent),
        ...(budget.unit === 'epsilon' ? { delta: budget.delta! } : {}),
        releases: events.length,
      };
    });
  }

  /** The datasets that have a budget, with their current budget. */
  datasets(): DatasetBudget[] {
    return this.#read((db) => {
      const rows = db
        .prepare("SELECT budget FROM records WHERE id IN (SELECT MAX(id) FROM records WHERE kind = 'budget' GROUP BY dataset) ORDER BY dataset")
        .all() as { budget: string }[];
      return rows.map((r) => JSON.parse(r.budget) as DatasetBudget);
    });
  }

  /** Every record in order, or those of one dataset. */
  history(dataset?: string): LedgerRecord[] {
    if (dataset !== undefined) adataset(dataset);
    return this.#read((db) => {
      const sql = `SELECT r.*, o.hash AS later FROM records r LEFT JOIN outputs o ON o.id = r.id ${dataset === undefined ? '' : 'WHERE r.dataset = ?'} ORDER BY r.id`;
      const rows = (dataset === undefined ? db.prepare(sql).all() : db.prepare(sql).all(dataset)) as unknown as (Row & { later: string | null })[];
      return rows.map((r) => ({
        id: r.id,
        dataset: r.dataset,
        kind: r.kind as 'spend' | 'budget',
        event: r.event === null ? null : (JSON.parse(r.event) as PrivacyEvent),
        guarantee: r.guarantee === null ? null : (JSON.parse(r.guarantee) as Guarantee),
        budget: r.budget === null ? null : (JSON.parse(r.budget) as DatasetBudget),
        principal: r.principal,
        purpose: r.purpose,
        query: r.query,
        time: r.time,
        outputHash: r.output_hash,
        laterOutputHash: r.later,
        prevHash: r.prev_hash,
        hash: r.hash,
      }));
    });
  }

  /** The hash of the last record (the chain's head): publish it elsewhere to anchor the chain. */
  head(): string {
    return this.#read((db) => (db.prepare('SELECT hash FROM records ORDER BY id DESC LIMIT 1').get() as { hash: string } | undefined)?.hash ?? GENESIS);
  }

  /**
   * Recomputes the hash chain and names every problem:
   * - edited: the record's hash does not match its content;
   * - deleted: a gap in the ids, the last records missing (the id counter is
   *   ahead of the last id), or a record whose predecessor's hash is nowhere;
   * - reordered: a record that links to a record stored after it;
   * - inserted: a second record claiming the same predecessor (a fork).
   */
  verify(): VerifyResult {
    return this.#read((db) => {
      const rows = db.prepare('SELECT * FROM records ORDER BY id').all() as unknown as Row[];
      const problems: { id: number; kind: ProblemKind; message: string }[] = [];
      const position = new Map<string, number>();
      rows.forEach((r, i) => {
        if (typeof r.hash === 'string' && !position.has(r.hash)) position.set(r.hash, i);
      });
      const claimed = new Map<string, number>();
      for (let i = 0; i < rows.length; i++) {
        const r = rows[i]!;
        let selfOk = false;
        try {
          selfOk = recordHash(r) === r.hash;
        } catch {
          selfOk = false;
        }
        if (!selfOk) problems.push({ id: r.id, kind: 'edited', message: `record ${r.id}: its content does not match its hash (edited)` });
        const prevId = i === 0 ? 0 : rows[i - 1]!.id;
        const expected = i === 0 ? GENESIS : rows[i - 1]!.hash;
        const other = claimed.get(r.prev_hash);
        if (other !== undefined) {
          problems.push({ id: r.id, kind: 'inserted', message: `record ${r.id} claims the same predecessor as record ${other} (inserted)` });
        } else if (r.id !== prevId + 1) {
          const missing = prevId + 1 === r.id - 1 ? `record ${prevId + 1} is` : `records ${prevId + 1} to ${r.id - 1} are`;
          problems.push({ id: prevId + 1, kind: 'deleted', message: `${missing} missing before record ${r.id} (deleted)` });
        } else if (r.prev_hash !== expected) {
          const j = position.get(r.prev_hash);
          if (j === undefined && r.prev_hash !== GENESIS)
            problems.push({ id: r.id, kind: 'deleted', message: `record ${r.id} follows a record that is no longer in the ledger (deleted)` });
          else if (j !== undefined && j > i)
            problems.push({ id: r.id, kind: 'reordered', message: `record ${r.id} comes before record ${rows[j]!.id}, its predecessor in the chain (reordered)` });
          else if (j === undefined)
            problems.push({ id: r.id, kind: 'reordered', message: `record ${r.id} claims to be the first record (reordered or inserted)` });
          // j < i: a consequence of a reordering reported where it starts.
        }
        claimed.set(r.prev_hash, r.id);
      }
      const seq = db.prepare("SELECT seq FROM sqlite_sequence WHERE name = 'records'").get() as { seq: number } | undefined;
      const lastId = rows.length === 0 ? 0 : rows[rows.length - 1]!.id;
      if (seq !== undefined && Number(seq.seq) > lastId) {
        const n = Number(seq.seq);
        problems.push({
          id: lastId + 1,
          kind: 'deleted',
          message: `${lastId + 1 === n ? `record ${n} is` : `records ${lastId + 1} to ${n} are`} missing at the end of the ledger (deleted)`,
        });
      }
      return { ok: problems.length === 0, records: rows.length, problems };
    });
  }

  get closed(): boolean {
    return this.#db === null;
  }

  close(): void {
    if (this.#db === null) return;
    const db = this.#db;
    this.#db = null;
    try {
      db.close();
    } catch (e) {
      throw io('cannot close the ledger', e);
    }
  }

  [Symbol.dispose](): void {
    this.close();
  }
}
