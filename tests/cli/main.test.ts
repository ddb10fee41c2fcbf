/**
 * `confide run`, the main job, as a user runs it: on the SpamAssassin corpus
 * (5 mailboxes), and on a small corpus whose answer is known exactly.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { seededRng } from '../../src/core/index.ts';
import { defaultCorpus, localStatistics, parseEmail, runMailbox, SCHEMA } from '../../src/cli/_mailbox.ts';

const main = join(import.meta.dirname, '../../src/cli/main.ts');
const run = (...args: string[]) => spawnSync(process.execPath, [main, ...args], { encoding: 'utf8' });

function message(date: string, from: string, body: string, type = 'text/plain'): string {
  return `From: Someone <${from}>\nDate: ${date}\nSubject: hi\nContent-Type: ${type};\n  charset=us-ascii\n\n${body}`;
}

describe('confide run', () => {
  it('aggregates the SpamAssassin corpus: the aggregate equals the plaintext sums, masks hide every party', () => {
    const report = runMailbox({ rng: seededRng(1) });
    const at = (f: string) => report.exact[SCHEMA.indexOf(f)];
    expect(report.parties.map((p) => p.name)).toEqual(['easy-ham-1', 'easy-ham-2', 'hard-ham-1', 'spam-1', 'spam-2']);
    const files = readdirSync(defaultCorpus(), { recursive: true }).filter((f) => String(f).endsWith('.json') && String(f).includes('/'));
    expect(at('messages') + report.unreadable.length).toBe(files.length);
    expect(at('messages')).toBeGreaterThan(6000);
    const hours = SCHEMA.filter((f) => f.startsWith('hour:')).reduce((s, f) => s + at(f), 0);
    expect(hours + at('undated')).toBe(at('messages'));
    expect(report.maxErrorQuanta).toBeLessThan(report.parties.length);
    expect(report.unmaskedFraction).toBeLessThan(0.01);
    // The release is noisy, within its stated 95% margin almost everywhere (5 sigma bound per value).
    for (const f of SCHEMA) expect(Math.abs(report.release.values[f] - at(f))).toBeLessThan(report.release.margin95[f] * 3);
    expect(report.release.guarantee).toEqual({ kind: 'approx', epsilon: 1, delta: 1e-6 });
  }, 120_000);

  it('publishes only the DP release in its JSON, never the exact aggregate', () => {
    const r = run('run', '--json', '--epsilon', '0.5');
    expect(r.status, r.stderr).toBe(0);
    const report = JSON.parse(r.stdout);
    expect(report.exact).toBeUndefined();
    expect(report.totals).toBeUndefined();
    expect(Object.keys(report.release.values)).toEqual([...SCHEMA.filter((f) => f !== 'log2-body-sum'), 'log2-body-sum']);
    expect(report.release.guarantee.epsilon).toBe(0.5);
    expect(report.release.events.map((e: { type: string }) => e.type)).toEqual(['zcdp', 'discrete-laplace']);
  }, 120_000);

  it('spends from a ledger before releasing, and is refused at the limit with nothing released', () => {
    const db = join(mkdtempSync(join(tmpdir(), 'confide-run-ledger-')), 'l.db');
    const set = run('budget', 'set', '--ledger', db, '--dataset', 'mail', '--epsilon', '1.5', '--delta', '1e-6', '--method', 'basic', '--principal', 'officer');
    expect(set.status, set.stderr).toBe(0);
    const first = run('run', '--json', '--ledger', db, '--dataset', 'mail');
    expect(first.status, first.stderr).toBe(0);
    expect(JSON.parse(first.stdout).receipt).toMatchObject({ dataset: 'mail', spent: 1, remaining: 0.5 });
    const second = run('run', '--json', '--ledger', db, '--dataset', 'mail');
    expect(second.status).toBe(2);
    expect(second.stderr).toContain('E_BUDGET_EXCEEDED');
    expect(second.stdout).toBe('');
    const history = JSON.parse(run('budget', 'history', '--ledger', db, '--json').stdout);
    expect(history).toHaveLength(2);
    expect(history[1].laterOutputHash).toMatch(/^[0-9a-f]{64}$/);
  }, 120_000);

  it('prints the tables a person reads', () => {
    const r = run('run');
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toContain('joint mailbox statistics over 5 parties');
    expect(r.stdout).toContain('hour sent (UTC)');
    expect(r.stdout).toContain('sender top-level domain');
  }, 120_000);

  it('gets an exactly known answer on a hand-made corpus, and reports unreadable files', () => {
    const dir = mkdtempSync(join(tmpdir(), 'confide-corpus-'));
    mkdirSync(join(dir, 'alpha'));
    mkdirSync(join(dir, 'beta'));
    writeFileSync(join(dir, 'alpha', '1'), message('Mon, 2 Sep 2002 10:15:00 +0000', 'a@x.org', 'hello'));
    writeFileSync(join(dir, 'alpha', '2'), message('Tue, 3 Sep 2002 23:59:00 -0100', 'b@y.de', 'x'.repeat(3000), 'text/html'));
    writeFileSync(join(dir, 'beta', '1'), message('not a date', 'c@z.com', 'hi'));
    writeFileSync(join(dir, 'beta', 'junk.bin'), 'no headers here');
    const r = run('run', '--json', '--corpus', dir);
    expect(r.status, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout).unreadable).toEqual([{ file: join('beta', 'junk.bin'), reason: 'no header lines' }]);
    const report = runMailbox({ corpus: dir });
    const t = Object.fromEntries(SCHEMA.map((f, i) => [f, report.exact[i]]));
    expect(t.messages).toBe(3);
    expect(t['hour:10']).toBe(1);
    expect(t['hour:00']).toBe(1); // 23:59 at -0100 is 00:59 UTC
    expect(t['weekday:Mon']).toBe(1);
    expect(t['weekday:Wed']).toBe(1);
    expect(t.undated).toBe(1);
    expect(t['tld:org'] + t['tld:de'] + t['tld:com']).toBe(3);
    expect(t.html).toBe(1);
    expect(t['body:<4096']).toBe(1);
  });

  it('refuses bad input with a code and exit status 2', () => {
    const bad = run('run', '--bound', 'lots');
    expect(bad.status).toBe(2);
    expect(bad.stderr).toContain('E_BAD_INPUT');
    const missing = run('run', '--corpus', '/nonexistent/confide');
    expect(missing.status).toBe(2);
    expect(missing.stderr).toContain('E_IO');
    const one = mkdtempSync(join(tmpdir(), 'confide-one-'));
    mkdirSync(join(one, 'only'));
    writeFileSync(join(one, 'only', 'm'), message('Mon, 2 Sep 2002 10:15:00 +0000', 'a@x.org', 'hi'));
    const single = run('run', '--corpus', one);
    expect(single.status).toBe(2);
    expect(single.stderr).toContain('at least 2 parties');
    const overflow = run('run', '--frac-bits', '20', '--bound', '1000000');
    expect(overflow.status).toBe(2);
    expect(overflow.stderr).toContain('E_OVERFLOW');
    expect(run('run', '--nope').status).toBe(2);
    const eps = run('run', '--epsilon', '0');
    expect(eps.status).toBe(2);
    expect(eps.stderr).toContain('"epsilon"');
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

describe('mailbox parsing', () => {
  it('unfolds headers and measures the body in bytes', () => {
    const m = parseEmail('Subject: a\n  b\nFrom: x@y.org\n\nbody é', 'p');
    expect(m.headers.get('subject')).toBe('a b');
    expect(m.bodyBytes).toBe(7);
    const v = localStatistics([m], SCHEMA);
    expect(v[SCHEMA.indexOf('tld:org')]).toBe(1);
    expect(v[SCHEMA.indexOf('undated')]).toBe(1);
  });
});
