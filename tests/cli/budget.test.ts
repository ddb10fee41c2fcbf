/**
 * `confide budget` and `confide audit` as a privacy officer runs them.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { describe, expect, it } from 'vitest';

const main = join(import.meta.dirname, '../../src/cli/main.ts');
const run = (...args: string[]) => spawnSync(process.execPath, [main, ...args], { encoding: 'utf8' });
const EVENT = '{"type":"gaussian","sigma":20}';

describe('confide budget', () => {
  it('init, set, spend until refused, status, history, verify, report', () => {
    const db = join(mkdtempSync(join(tmpdir(), 'confide-ledger-')), 'l.db');
    expect(run('budget', 'init', '--ledger', db).status).toBe(0);
    const set = run('budget', 'set', '--ledger', db, '--dataset', 'mail', '--epsilon', '1', '--delta', '1e-6', '--principal', 'officer', '--json');
    expect(set.status, set.stderr).toBe(0);
    expect(JSON.parse(set.stdout)).toMatchObject({ dataset: 'mail', method: 'pld', epsilon: 1, delta: 1e-6 });
    let spent = 0, refused: ReturnType<typeof run> | undefined;
    for (let i = 0; i < 40 && !refused; i++) {
      const r = run('budget', 'spend', '--ledger', db, '--dataset', 'mail', '--event', EVENT, '--principal', 'alice', '--purpose', 'stats', '--query', `q${i}`, '--json');
      if (r.status === 0) spent++;
      else refused = r;
    }
    expect(spent).toBeGreaterThan(1);
    expect(refused?.status).toBe(2);
    expect(refused?.stderr).toContain('E_BUDGET_EXCEEDED');
    const status = JSON.parse(run('budget', 'status', '--ledger', db, '--json').stdout);
    expect(status[0].releases).toBe(spent);
    expect(status[0].spent).toBeLessThanOrEqual(1);
    const history = JSON.parse(run('budget', 'history', '--ledger', db, '--json').stdout);
    expect(history).toHaveLength(spent + 1); // the budget record, then the spends
    expect(run('budget', 'verify', '--ledger', db).stdout).toContain('ledger intact');
    const html = join(mkdtempSync(join(tmpdir(), 'confide-report-')), 'r.html');
    expect(run('budget', 'report', '--ledger', db, '--html', html).status).toBe(0);
    const page = readFileSync(html, 'utf8');
    expect(page).toContain('<svg');
    expect(page).not.toMatch(/<script|https?:\/\/(?!www\.w3\.org\/2000\/svg)/);
    const points = /<polyline class="spent"[^>]*points="([^"]*)"/.exec(page)![1].trim().split(' ');
    expect(points).toHaveLength(spent);
    // ε spent rises: y coordinates fall from one point to the next.
    const ys = points.map((p) => Number(p.split(',')[1]));
    for (let i = 1; i < ys.length; i++) expect(ys[i]).toBeLessThan(ys[i - 1]);
  }, 120_000);

  it('verify names an edited record and exits 1', () => {
    const db = join(mkdtempSync(join(tmpdir(), 'confide-ledger-')), 'l.db');
    run('budget', 'set', '--ledger', db, '--dataset', 'd', '--rho', '1', '--principal', 'officer');
    for (let i = 0; i < 3; i++)
      run('budget', 'spend', '--ledger', db, '--dataset', 'd', '--event', EVENT, '--principal', 'bob', '--purpose', 'p', '--query', `q${i}`);
    const sql = new DatabaseSync(db);
    sql.prepare("UPDATE records SET principal = 'mallory' WHERE id = 3").run();
    sql.close();
    const r = run('budget', 'verify', '--ledger', db);
    expect(r.status).toBe(1);
    expect(r.stdout).toContain('#3');
    expect(r.stdout).toContain('edited');
  }, 60_000);

  it('refuses bad input with exit status 2 and leaves the ledger unchanged', () => {
    const db = join(mkdtempSync(join(tmpdir(), 'confide-ledger-')), 'l.db');
    run('budget', 'set', '--ledger', db, '--dataset', 'd', '--epsilon', '1', '--delta', '1e-6', '--principal', 'o');
    for (const args of [
      ['spend', '--dataset', 'd', '--event', '{"type":"gaussian"}', '--principal', 'a', '--purpose', 'p', '--query', 'q'],
      ['spend', '--dataset', 'd', '--event', EVENT, '--principal', 'a', '--purpose', 'p'],
      ['spend', '--dataset', 'nope', '--event', EVENT, '--principal', 'a', '--purpose', 'p', '--query', 'q'],
      ['set', '--dataset', 'd', '--epsilon=-1', '--delta', '1e-6', '--principal', 'o'],
      ['set', '--dataset', 'd', '--epsilon', '1', '--principal', 'o'],
      ['frobnicate'],
    ]) {
      const r = run('budget', ...args, '--ledger', db);
      expect(r.status, args.join(' ')).toBe(2);
      expect(r.stderr).toMatch(/E_(BAD_INPUT|STATE)/);
    }
    expect(JSON.parse(run('budget', 'history', '--ledger', db, '--json').stdout)).toHaveLength(1);
    expect(run('budget', 'status', '--ledger', join(tmpdir(), 'confide-missing-ledger.db')).status).toBe(2);
  }, 60_000);
});

describe('confide audit', () => {
  it('finds the Laplace mechanism consistent with its claim and refutes a false claim', () => {
    const ok = run('audit', 'laplace', '--epsilon', '1', '--samples', '20000', '--json');
    expect(ok.status, ok.stderr).toBe(0);
    expect(JSON.parse(ok.stdout).epsilonLowerBound).toBeLessThanOrEqual(1);
    const bad = run('audit', 'laplace', '--epsilon', '2', '--claim', '1', '--samples', '20000');
    expect(bad.status).toBe(1);
    expect(bad.stdout).toContain('CLAIM REFUTED');
    expect(run('audit', 'gaussian', '--epsilon', '1').status).toBe(2);
    expect(run('audit', 'magic', '--epsilon', '1').status).toBe(2);
  }, 60_000);
});
