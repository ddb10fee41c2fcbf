import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { PrivacyLedger } from '../../../src/dp/budget/index.ts';
import { confusionFailures, thrown } from '../../_battery.ts';

const dir = mkdtempSync(join(tmpdir(), 'confide-ledger-tx-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;
const fresh = () => join(dir, `ledger-${n++}.db`);
const event = { type: 'epsilon-delta', epsilon: 0.125 } as const;
const spendArgs = (query: string) => ({ dataset: 'd', event, principal: 'alice', purpose: 'a test', query });

function opened(): PrivacyLedger {
  const ledger = PrivacyLedger.open(fresh());
  ledger.setBudget('d', { epsilon: 1, delta: 0 }, { method: 'basic', principal: 'officer' });
  return ledger;
}

describe('PrivacyLedger.transaction', () => {
  it('commits spends and the caller\'s own table together; the chain still verifies', () => {
    using ledger = opened();
    const receipts = ledger.transaction((db) => {
      db.exec('CREATE TABLE IF NOT EXISTS mine (k TEXT PRIMARY KEY, v TEXT)');
      const a = ledger.spend(spendArgs('one'));
      const b = ledger.spend(spendArgs('two'));
      db.prepare('INSERT INTO mine VALUES (?, ?)').run('state', 'after two spends');
      return [a, b];
    });
    expect(receipts.map((r) => r.spent)).toEqual([0.125, 0.25]);
    expect(ledger.odometer('d').releases).toBe(2);
    const row = ledger.transaction((db) => db.prepare('SELECT v FROM mine WHERE k = ?').get('state') as { v: string });
    expect(row.v).toBe('after two spends');
    expect(ledger.verify().ok).toBe(true);
    // Another connection sees the committed state.
    using other = PrivacyLedger.open(ledger.path, { create: false });
    expect(other.odometer('d').releases).toBe(2);
  });

  it('rolls back the spends and the caller\'s writes when the callback throws', () => {
    using ledger = opened();
    ledger.transaction((db) => db.exec('CREATE TABLE mine (k TEXT PRIMARY KEY, v TEXT)'));
    const head = ledger.head();
    expect(() =>
      ledger.transaction((db) => {
        ledger.spend(spendArgs('doomed'));
        db.prepare('INSERT INTO mine VALUES (?, ?)').run('state', 'doomed');
        throw new Error('killed between spend and checkpoint');
      }),
    ).toThrow(/killed between spend and checkpoint/);
    expect(ledger.odometer('d').releases).toBe(0);
    expect(ledger.head()).toBe(head);
    expect(ledger.transaction((db) => db.prepare('SELECT COUNT(*) AS c FROM mine').get() as { c: number }).c).toBe(0);
    // A refused spend inside a transaction rolls it back too.
    for (let i = 0; i < 8; i++) ledger.spend(spendArgs(`s${i}`));
    const e = thrown(() => ledger.transaction((db) => {
      db.prepare('INSERT INTO mine VALUES (?, ?)').run('x', 'y');
      ledger.spend(spendArgs('over'));
    }));
    expect(e.code).toBe('E_BUDGET_EXCEEDED');
    expect(ledger.transaction((db) => db.prepare('SELECT COUNT(*) AS c FROM mine').get() as { c: number }).c).toBe(0);
    expect(ledger.verify().ok).toBe(true);
  });

  it('refuses an async callback (rolled back), joins nested calls, and passes the type-confusion battery', async () => {
    using ledger = opened();
    const e = thrown(() => ledger.transaction(async () => ledger.spend(spendArgs('async'))));
    expect(e.code).toBe('E_BAD_INPUT');
    expect(ledger.odometer('d').releases).toBe(0);
    ledger.transaction(() => ledger.transaction(() => ledger.spend(spendArgs('nested'))));
    expect(ledger.odometer('d').releases).toBe(1);
    // After a failed transaction, ordinary spends work again (not stuck "inside").
    expect(() => ledger.transaction(() => { throw new Error('x'); })).toThrow();
    ledger.spend(spendArgs('after'));
    expect(ledger.odometer('d').releases).toBe(2);
    expect(await confusionFailures('transaction', (fn) => ledger.transaction(fn), () => [() => 1])).toEqual([]);
  });
});
