import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { afterAll, describe, expect, it } from 'vitest';
import { isConfideError } from '../../../src/core/errors.ts';
import { epsilonFor, type PrivacyEvent } from '../../../src/dp/accounting/index.ts';
import { PrivacyLedger, outputHash, release } from '../../../src/dp/budget/index.ts';
import { confusionFailures, thrown } from '../../_battery.ts';

const dir = mkdtempSync(join(tmpdir(), 'confide-ledger-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;
const fresh = () => join(dir, `ledger-${n++}.db`);
const worker = join(import.meta.dirname, '_worker.ts');

const spendArgs = (dataset: string, event: PrivacyEvent, query = 'a query') => ({ dataset, event, principal: 'alice', purpose: 'a test', query });
const small = { type: 'epsilon-delta', epsilon: 0.125 } as const;

function run(args: string[]): Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string; kill: () => void }> {
  const child = spawn(process.execPath, [worker, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => (stdout += d));
  child.stderr.on('data', (d) => (stderr += d));
  return new Promise((resolve) => child.on('exit', (code, signal) => resolve({ code, signal, stdout, stderr, kill: () => child.kill('SIGKILL') })));
}

describe('budget enforcement', () => {
  it('spends until refused; a refused spend records nothing', () => {
    using ledger = PrivacyLedger.open(fresh());
    ledger.setBudget('d', { epsilon: 1, delta: 0 }, { method: 'basic', principal: 'officer' });
    for (let i = 0; i < 8; i++) ledger.spend(spendArgs('d', small));
    const head = ledger.head();
    const e = thrown(() => ledger.spend(spendArgs('d', small)));
    expect(e.code).toBe('E_BUDGET_EXCEEDED');
    expect(e.details).toMatchObject({ spent: 1, requested: 1.125, remaining: 0, budget: 1 });
    expect(ledger.head()).toBe(head);
    expect(ledger.history('d').filter((r) => r.kind === 'spend')).toHaveLength(8);
    expect(ledger.odometer('d')).toMatchObject({ spent: 1, remaining: 0, releases: 8 });
    // Raising the budget is itself a chained record and lets spending go on.
    ledger.setBudget('d', { epsilon: 1.125, delta: 0 }, { method: 'basic', principal: 'officer', purpose: 'approved extra query' });
    expect(ledger.spend(spendArgs('d', small)).remaining).toBe(0);
    expect(ledger.verify()).toMatchObject({ ok: true, records: 11 });
  });

  it('preview() tells what a spend would bring the odometer to, and records nothing', async () => {
    using ledger = PrivacyLedger.open(fresh());
    ledger.setBudget('d', { epsilon: 1, delta: 0 }, { method: 'basic', principal: 'officer' });
    ledger.spend(spendArgs('d', small));
    const head = ledger.head();
    expect(ledger.preview('d', { type: 'composed', events: [small, small] })).toMatchObject({ spent: 0.375, remaining: 0.625, releases: 2, fits: true });
    expect(ledger.preview('d', { type: 'epsilon-delta', epsilon: 0.9 })).toMatchObject({ fits: false, remaining: 0 });
    expect(ledger.head()).toBe(head);
    expect(ledger.odometer('d').spent).toBe(0.125);
    expect(thrown(() => ledger.preview('nobody', small)).code).toBe('E_STATE');
    expect(await confusionFailures('preview', (d, e) => ledger.preview(d as string, e as PrivacyEvent), () => ['d', small], { accept: { 0: ['string'] } })).toEqual([]);
  });

  it('100 Gaussian releases (σ = 50) cost what PLD says for the composition, not 100× one', () => {
    using ledger = PrivacyLedger.open(fresh());
    const delta = 1e-5;
    ledger.setBudget('census', { epsilon: 0.8, delta }, { principal: 'officer' });
    const event = { type: 'gaussian', sigma: 50 } as const;
    let receipt;
    for (let i = 0; i < 100; i++) receipt = ledger.spend(spendArgs('census', event, `query ${i}`));
    const composed = epsilonFor({ type: 'self-composed', count: 100, event }, delta);
    const one = epsilonFor(event, delta);
    expect(receipt!.epsilonSpent).toBeCloseTo(composed, 9);
    expect(receipt!.deltaBudget).toBe(delta);
    expect(ledger.odometer('census').spent).toBeCloseTo(composed, 9);
    expect(100 * one).toBeGreaterThan(5 * composed); // what naive summing would have charged
    expect(ledger.history('census')[1]!.guarantee).toEqual({ kind: 'approx', epsilon: one, delta });
    // The rest of the budget buys exactly what PLD allows.
    let more = 0;
    for (;;) {
      try {
        ledger.spend(spendArgs('census', event));
        more++;
      } catch (e) {
        expect(isConfideError(e, 'E_BUDGET_EXCEEDED')).toBe(true);
        break;
      }
    }
    expect(epsilonFor({ type: 'self-composed', count: 100 + more, event }, delta)).toBeLessThanOrEqual(0.8);
    expect(epsilonFor({ type: 'self-composed', count: 101 + more, event }, delta)).toBeGreaterThan(0.8);
  });

  it('a ρ budget composes by zCDP', () => {
    using ledger = PrivacyLedger.open(fresh());
    ledger.setBudget('z', { rho: 1 }, { principal: 'officer' });
    const r = ledger.spend(spendArgs('z', { type: 'gaussian', sigma: 1 })); // ρ = 1/2
    expect(r).toMatchObject({ unit: 'rho', rhoSpent: 0.5, remaining: 0.5, method: 'zcdp' });
    ledger.spend(spendArgs('z', { type: 'zcdp', rho: 0.5 }));
    expect(thrown(() => ledger.spend(spendArgs('z', { type: 'zcdp', rho: 1e-9 }))).code).toBe('E_BUDGET_EXCEEDED');
    expect(ledger.odometer('z')).toMatchObject({ spent: 1, remaining: 0, releases: 2 });
    expect(thrown(() => ledger.setBudget('z', { rho: 1 }, { method: 'pld', principal: 'x' })).code).toBe('E_BAD_INPUT');
  });

  it('rdp and zcdp datasets charge their accountant\'s ε for the composition', () => {
    using ledger = PrivacyLedger.open(fresh());
    const events: PrivacyEvent[] = [
      { type: 'gaussian', sigma: 4 },
      { type: 'laplace', b: 10 },
      { type: 'gaussian', sigma: 8, sensitivity: 2 },
    ];
    for (const method of ['rdp', 'zcdp'] as const) {
      ledger.setBudget(method, { epsilon: 3, delta: 1e-6 }, { method, principal: 'officer' });
      let r;
      for (const e of events) r = ledger.spend(spendArgs(method, e));
      expect(r!.epsilonSpent).toBe(epsilonFor({ type: 'composed', events }, 1e-6, { method }));
      expect(r!.method).toBe(method);
    }
  });

  it('basic accounting refuses once the deltas pass the budget δ', () => {
    using ledger = PrivacyLedger.open(fresh());
    ledger.setBudget('b', { epsilon: 10, delta: 1e-6 }, { method: 'basic', principal: 'officer' });
    ledger.spend(spendArgs('b', { type: 'epsilon-delta', epsilon: 0.1, delta: 1e-6 }));
    expect(thrown(() => ledger.spend(spendArgs('b', { type: 'epsilon-delta', epsilon: 0.1, delta: 1e-7 }))).code).toBe('E_BUDGET_EXCEEDED');
    expect(ledger.odometer('b').releases).toBe(1);
  });

  it('states: unknown dataset, unsupported event, closed ledger', () => {
    const ledger = PrivacyLedger.open(fresh());
    expect(thrown(() => ledger.spend(spendArgs('nope', small))).code).toBe('E_STATE');
    ledger.setBudget('p', { epsilon: 1, delta: 1e-6 }, { principal: 'officer' });
    expect(thrown(() => ledger.spend(spendArgs('p', { type: 'zcdp', rho: 0.01 }))).code).toBe('E_UNSUPPORTED');
    expect(ledger.history()).toHaveLength(1);
    expect(ledger.datasets()).toEqual([{ dataset: 'p', method: 'pld', unit: 'epsilon', epsilon: 1, delta: 1e-6 }]);
    ledger.close();
    ledger.close();
    expect(thrown(() => ledger.odometer('p')).code).toBe('E_STATE');
  });
});

describe('release()', () => {
  it('spends before computing, then records the output hash outside the chain', async () => {
    using ledger = PrivacyLedger.open(fresh());
    ledger.setBudget('d', { epsilon: 0.2, delta: 0 }, { method: 'basic', principal: 'officer' });
    let computed = 0;
    const r = await release(ledger, spendArgs('d', small), (receipt) => {
      computed++;
      expect(ledger.odometer('d').releases).toBe(1); // the spend is committed before the value exists
      return { mean: 41.5, id: receipt.id };
    });
    expect(r.outputHash).toBe(outputHash({ id: r.receipt.id, mean: 41.5 }));
    const head = ledger.head();
    const rec = ledger.history('d').find((x) => x.id === r.receipt.id)!;
    expect(rec.laterOutputHash).toBe(r.outputHash);
    expect(rec.outputHash).toBeNull();
    expect(head).toBe(r.receipt.hash);
    await expect(release(ledger, spendArgs('d', small), () => computed++)).rejects.toMatchObject({ code: 'E_BUDGET_EXCEEDED' });
    expect(computed).toBe(1);
    expect(thrown(() => ledger.recordOutput(r.receipt.id, r.outputHash)).code).toBe('E_STATE');
    expect(thrown(() => ledger.recordOutput(1, r.outputHash)).code).toBe('E_STATE'); // a budget record
    expect(ledger.verify().ok).toBe(true);
  });

  it('spend() accepts an output hash that already exists, inside the chain', () => {
    using ledger = PrivacyLedger.open(fresh());
    ledger.setBudget('d', { epsilon: 1, delta: 0 }, { method: 'basic', principal: 'officer' });
    const h = outputHash(new Uint8Array([1, 2, 3]));
    const r = ledger.spend({ ...spendArgs('d', small), outputHash: h, guarantee: { kind: 'pure', epsilon: 0.125 } });
    expect(ledger.history('d')[1]).toMatchObject({ id: r.id, outputHash: h, guarantee: { kind: 'pure', epsilon: 0.125 } });
  });
});

describe('concurrency and crashes', () => {
  it('8 processes spending in parallel never exceed the budget together', async () => {
    const path = fresh();
    {
      using ledger = PrivacyLedger.open(path);
      ledger.setBudget('shared', { epsilon: 6, delta: 0 }, { method: 'basic', principal: 'officer' });
    }
    const results = await Promise.all(Array.from({ length: 8 }, () => run(['spend', path, 'shared'])));
    for (const r of results) {
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
      expect(JSON.parse(r.stdout).ok).toBeGreaterThanOrEqual(0);
    }
    const total = results.reduce((s, r) => s + JSON.parse(r.stdout).ok, 0);
    // What one process alone fits into the same budget.
    using alone = PrivacyLedger.open(':memory:');
    alone.setBudget('shared', { epsilon: 6, delta: 0 }, { method: 'basic', principal: 'officer' });
    let single = 0;
    while (!thrownOrNull(() => alone.spend(spendArgs('shared', small)))) single++;
    expect(single).toBe(48);
    using ledger = PrivacyLedger.open(path, { create: false });
    const spends = ledger.history('shared').filter((r) => r.kind === 'spend');
    expect(spends).toHaveLength(total);
    expect(total).toBe(single);
    expect(epsilonFor({ type: 'composed', events: spends.map((s) => s.event!) }, 0, { method: 'basic' })).toBeLessThanOrEqual(6);
    expect(ledger.verify()).toMatchObject({ ok: true, records: total + 1 });
  });

  it('a process killed with SIGKILL inside a spend leaves the ledger consistent', async () => {
    const path = fresh();
    const marker = join(dir, `marker-${n}`);
    {
      using ledger = PrivacyLedger.open(path);
      ledger.setBudget('k', { epsilon: 1, delta: 0 }, { method: 'basic', principal: 'officer' });
      for (let i = 0; i < 3; i++) ledger.spend(spendArgs('k', small, `before ${i}`));
    }
    const child = spawn(process.execPath, [worker, 'hang', path, 'k', marker], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += d));
    const exited = new Promise<NodeJS.Signals | null>((resolve) => child.on('exit', (_code, signal) => resolve(signal)));
    for (let i = 0; i < 3000 && !existsSync(marker); i++) {
      if (child.exitCode !== null) break;
      await new Promise((r) => setTimeout(r, 10));
    }
    expect(stderr).toBe('');
    expect(existsSync(marker)).toBe(true); // the child is inside the transaction, the record INSERTed
    child.kill('SIGKILL');
    expect(await exited).toBe('SIGKILL');
    using ledger = PrivacyLedger.open(path, { create: false });
    expect(ledger.verify()).toEqual({ ok: true, records: 4, problems: [] });
    const history = ledger.history('k');
    expect(history.map((r) => r.query)).toEqual(['', 'before 0', 'before 1', 'before 2']);
    expect(history.some((r) => r.principal === 'doomed')).toBe(false);
    // The lock died with the process: spending goes on.
    expect(ledger.spend(spendArgs('k', small, 'after')).id).toBe(5);
    expect(ledger.verify().ok).toBe(true);
  });
});

function thrownOrNull(fn: () => unknown): unknown {
  try {
    fn();
    return null;
  } catch (e) {
    return e;
  }
}

describe('verify()', () => {
  function tampered(sql: (db: DatabaseSync) => void) {
    const path = fresh();
    {
      using ledger = PrivacyLedger.open(path);
      ledger.setBudget('d', { epsilon: 5, delta: 0 }, { method: 'basic', principal: 'officer' });
      for (let i = 0; i < 6; i++) ledger.spend(spendArgs('d', small, `query ${i}`)); // ids 2..7
      expect(ledger.verify().ok).toBe(true);
    }
    const db = new DatabaseSync(path);
    sql(db);
    db.close();
    using ledger = PrivacyLedger.open(path, { create: false });
    return ledger.verify();
  }

  it('names an edited record', () => {
    expect(tampered((db) => db.exec("UPDATE records SET purpose = 'nothing to see' WHERE id = 4")).problems).toEqual([
      { id: 4, kind: 'edited', message: expect.stringContaining('record 4') },
    ]);
    // Raising one's own budget by hand is an edit too.
    const r = tampered((db) => db.exec(`UPDATE records SET budget = replace(budget, '"epsilon":5', '"epsilon":50') WHERE id = 1`));
    expect(r.problems.map((p) => [p.id, p.kind])).toEqual([[1, 'edited']]);
  });

  it('names a deleted record, in the middle or at the end', () => {
    expect(tampered((db) => db.exec('DELETE FROM records WHERE id = 4')).problems).toEqual([
      { id: 4, kind: 'deleted', message: expect.stringContaining('record 4 is missing') },
    ]);
    expect(tampered((db) => db.exec('DELETE FROM records WHERE id = 7')).problems.map((p) => [p.id, p.kind])).toEqual([[7, 'deleted']]);
  });

  it('names a reordered record (two rows swapped)', () => {
    const cols = 'dataset, kind, event, guarantee, budget, principal, purpose, query, time, output_hash, prev_hash, hash';
    const r = tampered((db) => {
      const a = db.prepare(`SELECT ${cols} FROM records WHERE id = 3`).get() as Record<string, never>;
      const b = db.prepare(`SELECT ${cols} FROM records WHERE id = 4`).get() as Record<string, never>;
      const set = db.prepare(`UPDATE records SET ${cols.split(', ').map((c) => `${c} = ?`).join(', ')} WHERE id = ?`);
      set.run(...cols.split(', ').map((c) => b[c]), 3);
      set.run(...cols.split(', ').map((c) => a[c]), 4);
    });
    expect(r.ok).toBe(false);
    expect(r.problems).toEqual([{ id: 3, kind: 'reordered', message: expect.stringContaining('record 4') }]);
  });

  it('names an inserted record', () => {
    const r = tampered((db) =>
      db.exec(`INSERT INTO records (dataset, kind, event, guarantee, budget, principal, purpose, query, time, output_hash, prev_hash, hash)
               SELECT dataset, kind, event, guarantee, budget, principal, purpose, 'forged', time, output_hash, prev_hash, hash FROM records WHERE id = 5`),
    );
    expect(r.problems.map((p) => [p.id, p.kind])).toEqual([
      [8, 'edited'],
      [8, 'inserted'],
    ]);
  });
});

describe('files and inputs', () => {
  it('a corrupt, foreign, missing or future-version file is E_IO', () => {
    const junk = fresh();
    writeFileSync(junk, Buffer.alloc(4096, 0x5a));
    expect(thrown(() => PrivacyLedger.open(junk)).code).toBe('E_IO');
    const foreign = fresh();
    const db = new DatabaseSync(foreign);
    db.exec('CREATE TABLE people (name TEXT)');
    db.close();
    expect(thrown(() => PrivacyLedger.open(foreign)).code).toBe('E_IO');
    expect(thrown(() => PrivacyLedger.open(fresh(), { create: false })).code).toBe('E_IO');
    const future = fresh();
    PrivacyLedger.open(future).close();
    const raw = new DatabaseSync(future);
    raw.exec("UPDATE meta SET value = '99' WHERE key = 'schema_version'");
    raw.close();
    const e = thrown(() => PrivacyLedger.open(future));
    expect(e.code).toBe('E_IO');
    expect(e.message).toContain('version "99"');
  });

  it('the type-confusion battery', async () => {
    using ledger = PrivacyLedger.open(fresh());
    ledger.setBudget('d', { epsilon: 1e6, delta: 0 }, { method: 'basic', principal: 'officer' });
    const hex = 'ab'.repeat(32);
    const failures = [
      ...(await confusionFailures('open', (p, o) => PrivacyLedger.open(p, o).close(), () => [fresh(), { create: true }], { accept: { 0: ['string'], 1: ['undefined', 'object'] } })),
      ...(await confusionFailures(
        'setBudget',
        (d, epsilon, delta, method, principal) => ledger.setBudget(d, { epsilon, delta }, { method, principal }),
        () => ['d', 1e6, 0, 'basic', 'officer'],
        { accept: { 0: ['string'], 1: ['fraction', 'huge'], 2: ['fraction', '-0'], 3: ['undefined'], 4: ['string'] } },
      )),
      ...(await confusionFailures('setBudget(rho)', (d, rho) => ledger.setBudget(d, { rho }, { principal: 'x' }), () => ['r', 1], { accept: { 0: ['string'], 1: ['fraction', 'huge'] } })),
      ...(await confusionFailures(
        'spend',
        (dataset, event, principal, purpose, query, guarantee, h) => ledger.spend({ dataset, event, principal, purpose, query, guarantee, outputHash: h }),
        () => ['d', { type: 'epsilon-delta', epsilon: 0.001 }, 'p', 'why', 'what', { kind: 'pure', epsilon: 0.001 }, hex],
        { accept: { 0: ['string'], 2: ['string'], 3: ['string'], 4: ['string'], 5: ['undefined'], 6: ['undefined'] } },
      )),
      ...(await confusionFailures('spend(args)', (a) => ledger.spend(a), () => [spendArgs('d', small)])),
      ...(await confusionFailures('recordOutput', (id, h) => ledger.recordOutput(id, h), () => [ledger.spend(spendArgs('d', small)).id, hex])),
      ...(await confusionFailures('odometer', (d) => ledger.odometer(d), () => ['d'])),
      ...(await confusionFailures('history', (d) => ledger.history(d), () => ['d'], { accept: { 0: ['string', 'undefined'] } })),
      ...(await confusionFailures('release', (l, a, f) => release(l, a, f), () => [ledger, spendArgs('d', small), () => 1])),
      ...(await confusionFailures('outputHash', (v) => outputHash(v), () => [1], {
        accept: { 0: ['-0', 'negative', 'fraction', 'huge', 'bigint', 'fake Uint8Array', 'Uint16Array', 'plain array', 'null', 'string', 'object', 'boolean'] },
      })),
    ];
    expect(failures).toEqual([]);
    expect(ledger.verify().ok).toBe(true);
  });
});
