/**
 * `confide run`, the main job, as a user runs it: the DP composition report
 * of the SpamAssassin corpus, checked against the exact answers.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { seededRng } from '../../src/core/index.ts';
import { PrivacyLedger, collectStats } from '../../src/dp/index.ts';
import { DEFAULT_BUDGET, defaultCorpus, runCorpusReport } from '../../src/cli/_corpus_report.ts';
import { zQuantile } from '../_stats.ts';

const main = join(import.meta.dirname, '../../src/cli/main.ts');
const run = (...args: string[]) => spawnSync(process.execPath, [main, ...args], { encoding: 'utf8' });
const tmp = (prefix: string) => mkdtempSync(join(tmpdir(), prefix));

/** Largest k with P(Binomial(n, p) >= k) > alpha: more misses than this has probability <= alpha. */
function binomialUpper(n: number, p: number, alpha: number): number {
  let tail = 1, pmf = (1 - p) ** n;
  for (let k = 0; k <= n; k++) {
    tail -= pmf; // tail = P(X > k)
    if (tail <= alpha) return k;
    pmf *= ((n - k) / (k + 1)) * (p / (1 - p));
  }
  return n;
}

describe('confide run', () => {
  it('releases each value within its 95% interval of the exact bounded answer, at the stated rate', async () => {
    const out = tmp('confide-run-');
    const r = await runCorpusReport({ out, rng: seededRng(11) });
    expect(r.sections.map((s) => s.release.query.groupBy)).toEqual(['sender_domain', 'hour', 'body_bytes']);
    let intervals = 0, misses = 0;
    for (const { release, partial } of r.sections) {
      expect(partial.input.records).toBeGreaterThan(5900);
      for (const g of release.groups) {
        const exact = partial.groups.get(g.key);
        for (const m of ['count', 'units'] as const) {
          if (g[m] === undefined) continue;
          const truth = exact ? exact[m] : 0;
          intervals++;
          if (!(g.ci[m]![0] <= truth && truth <= g.ci[m]![1])) misses++;
        }
      }
    }
    expect(intervals).toBeGreaterThan(35);
    expect(misses).toBeLessThanOrEqual(binomialUpper(intervals, 0.05, 1e-6));
    // The hours and length buckets are public: all of them, in order.
    expect(r.sections[1].release.groups.map((g) => g.key)).toEqual(Array.from({ length: 24 }, (_, h) => String(h)));
    expect(r.sections[2].release.groups.map((g) => g.key)).toEqual(['<256', '[256, 1024)', '[1024, 4096)', '[4096, 16384)', '[16384, 65536)', '>=65536']);
    // Only domains with enough senders appear, and the big ones do.
    const domains = r.sections[0].release.groups.map((g) => g.key);
    expect(domains).toContain('hotmail.com');
    for (const d of domains) expect(r.sections[0].partial.groups.get(d)!.units).toBeGreaterThan(10);
    const html = readFileSync(r.reportPath, 'utf8');
    expect(html).toContain('<svg');
    expect(html).toContain('hotmail.com');
    const ledger = PrivacyLedger.open(r.ledgerPath, { create: false });
    try {
      expect(ledger.history('spamassassin').filter((x) => x.kind === 'spend')).toHaveLength(3);
      expect(ledger.verify().ok).toBe(true);
    } finally {
      ledger.close();
    }
  }, 120_000);

  it('counts hours exactly as an independent reading of the Date headers does, when no cap binds', async () => {
    const corpus = defaultCorpus();
    const expected = new Map<string, number>();
    let undated = 0;
    for (const f of readdirSync(corpus, { recursive: true }).map(String)) {
      if (!f.includes('/') || !f.endsWith('.json')) continue;
      const text = (JSON.parse(readFileSync(join(corpus, f), 'utf8')) as { text: string }).text;
      const head = text.split(/\r?\n\r?\n/)[0].replace(/\r?\n[ \t]+/g, ' ');
      const date = /^date:[ \t]*(.*)$/im.exec(head)?.[1];
      const t = date === undefined ? NaN : Date.parse(date);
      const from = /^from:.*$/im.exec(head)?.[0] ?? '';
      if (!/@/.test(from)) continue; // no sender address: no privacy unit, counted as malformed by the engine
      if (Number.isNaN(t)) undated++;
      else expected.set(String(new Date(t).getUTCHours()), (expected.get(String(new Date(t).getUTCHours())) ?? 0) + 1);
    }
    const p = await collectStats([corpus], { unit: 'sender', groupBy: 'hour', aggregations: ['count'], maxGroupsPerUnit: 24, maxRowsPerGroup: 100_000 }, { format: 'email', rng: seededRng(1) });
    expect(p.bounding.rowsOverGroupLimit + p.bounding.rowsOverRowLimit).toBe(0);
    const got = new Map([...p.groups].map(([k, g]) => [k, g.count]));
    expect(got).toEqual(expected);
    expect(undated).toBeGreaterThan(0);
  }, 120_000);

  it('publishes only DP values in its JSON, with what was dropped and spent', () => {
    const out = tmp('confide-run-json-');
    const r = run('run', '--json', '--out', out, '--epsilon', '0.5');
    expect(r.status, r.stderr).toBe(0);
    const report = JSON.parse(r.stdout);
    expect(report.sections).toHaveLength(3);
    for (const s of report.sections) {
      expect(Object.keys(s)).toEqual(expect.arrayContaining(['groups', 'dropped_lines', 'clamped', 'spent']));
      expect(s.spent.guarantee.epsilon).toBe(0.5);
      for (const g of s.groups) expect(Object.keys(g).every((k) => ['key', 'count', 'units', 'ci'].includes(k))).toBe(true);
    }
    expect(JSON.stringify(report)).not.toMatch(/"partial"|"exact"/);
    // The federated part: per round what was aggregated, evaluated and spent; no shard sizes.
    expect(report.federated.dataset).toBe('spamassassin/fl-clients');
    expect(report.federated.rounds.map((m: { round: number }) => m.round)).toEqual([1, 2, 3]);
    expect(report.federated.spent).toBeLessThanOrEqual(report.federated.budget.epsilon);
    expect(JSON.stringify(report.federated)).not.toMatch(/shards|messages/);
    expect(existsSync(join(out, 'report.html'))).toBe(true);
  }, 180_000);

  it('checks the whole report against the ledger first: refused with nothing spent or released', () => {
    const dir = tmp('confide-run-ledger-');
    const db = join(dir, 'l.db');
    const set = run('budget', 'set', '--ledger', db, '--dataset', 'mail', '--epsilon', '2.5', '--delta', '1e-5', '--method', 'basic', '--principal', 'officer');
    expect(set.status, set.stderr).toBe(0);
    const refused = run('run', '--json', '--out', dir, '--ledger', db, '--dataset', 'mail');
    expect(refused.status).toBe(2);
    expect(refused.stderr).toContain('E_BUDGET_EXCEEDED');
    expect(refused.stdout).toBe('');
    const ok = run('run', '--json', '--out', dir, '--ledger', db, '--dataset', 'mail', '--epsilon', '0.8');
    expect(ok.status, ok.stderr).toBe(0);
    // The officer's ledger has no budget for the federated training: it is skipped, not given one.
    expect(JSON.parse(ok.stdout).federatedSkipped).toContain('spamassassin/fl-clients has no budget');
    const history = JSON.parse(run('budget', 'history', '--ledger', db, '--json').stdout);
    expect(history.filter((h: { kind: string }) => h.kind === 'spend')).toHaveLength(3);
    for (const h of history.filter((x: { kind: string }) => x.kind === 'spend')) expect(h.laterOutputHash).toMatch(/^[0-9a-f]{64}$/);
  }, 120_000);

  it('prints the tables a person reads and where the report is', () => {
    const out = tmp('confide-run-table-');
    const r = run('run', '--out', out, '--no-fl');
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).not.toContain('Federated');
    expect(r.stdout).toContain('Who writes: messages per sender domain');
    expect(r.stdout).toContain('When: messages per hour of day (UTC)');
    expect(r.stdout).toContain(`report: ${join(out, 'report.html')}`);
    expect(DEFAULT_BUDGET.epsilon).toBeGreaterThan(3);
  }, 120_000);

  it('refuses bad input with a code and exit status 2', () => {
    const missing = run('run', '--corpus', '/nonexistent/confide', '--out', tmp('confide-run-bad-'));
    expect(missing.status).toBe(2);
    expect(missing.stderr).toContain('E_IO');
    expect(run('run', '--nope').status).toBe(2);
    const eps = run('run', '--epsilon', '0', '--out', tmp('confide-run-bad-'));
    expect(eps.status).toBe(2);
    expect(eps.stderr).toContain('"epsilon"');
    const noLedger = run('run', '--ledger', '/nonexistent/l.db', '--out', tmp('confide-run-bad-'));
    expect(noLedger.status).toBe(2);
    expect(noLedger.stderr).toContain('E_IO');
  }, 60_000);
});

describe('confide accountant', () => {
  const DPSGD = '{"type":"self-composed","count":2249,"event":{"type":"poisson-sampled","q":0.04,"event":{"type":"gaussian","sigma":1.5}}}';

  it('prints epsilon for a delta (PLD by default), as JSON', () => {
    const r = run('accountant', '--event', DPSGD, '--delta', '1e-5', '--method', 'pld', '--json');
    expect(r.status, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout);
    expect(Object.keys(out)).toEqual(['epsilon']);
    expect(Math.abs(out.epsilon - 6.76705)).toBeLessThan(1e-3); // dp_accounting, discretisation 1e-4
  }, 60_000);

  it('prints delta for an epsilon, by each method, from a file or standard input', () => {
    const dir = mkdtempSync(join(tmpdir(), 'confide-event-'));
    writeFileSync(join(dir, 'e.json'), '{"type":"self-composed","count":3,"event":{"type":"gaussian","sigma":1.7320508075688772}}');
    const pld = JSON.parse(run('accountant', '--event', `@${join(dir, 'e.json')}`, '--epsilon', '1', '--json').stdout);
    expect(Math.abs(pld.delta - 0.126936)).toBeLessThan(1e-5); // dp_accounting pld_privacy_accountant_test
    const piped = spawnSync(process.execPath, [main, 'accountant', '--event', '-', '--delta', '1e-5', '--method', 'zcdp', '--json'], {
      input: '{"type":"gaussian","sigma":1}',
      encoding: 'utf8',
    });
    expect(JSON.parse(piped.stdout).epsilon).toBeGreaterThan(4.377178);
    const rdp = JSON.parse(run('accountant', '--event', '{"type":"gaussian","sigma":1}', '--delta', '1e-5', '--method', 'rdp', '--json').stdout);
    expect(rdp.epsilon).toBeCloseTo(4.7285, 3);
    const text = run('accountant', '--event', '{"type":"laplace","b":2}', '--delta', '0', '--method', 'basic');
    expect(text.stdout).toContain('epsilon = 0.5');
  }, 60_000);

  it('refuses malformed events and arguments with exit status 2', () => {
    for (const args of [
      ['--event', '{"type":"gaussian"}', '--delta', '1e-5'],
      ['--event', 'nope', '--delta', '1e-5'],
      ['--event', '{"type":"gaussian","sigma":1}'],
      ['--event', '{"type":"gaussian","sigma":1}', '--delta', '1e-5', '--epsilon', '1'],
      ['--event', '{"type":"gaussian","sigma":1}', '--delta', '1e-5', '--method', 'magic'],
      ['--event', '@/nonexistent/file', '--delta', '1e-5'],
      ['--delta', '1e-5'],
    ]) {
      const r = run('accountant', ...args);
      expect(r.status, args.join(' ')).toBe(2);
      expect(r.stderr).toMatch(/E_(BAD_INPUT|IO|UNSUPPORTED)/);
    }
  });
});
