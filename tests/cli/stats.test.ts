/**
 * `confide stats` as a user runs it: the issue's command line, every output
 * format, the ledger, shards and merge, stdin, and refusals.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { beforeAll, describe, expect, it } from 'vitest';

const main = join(import.meta.dirname, '../../src/cli/main.ts');
const run = (args: string[], input?: string | Buffer) => spawnSync(process.execPath, [main, ...args], { encoding: 'utf8', input });

let dir: string;
let corpus: string;
const rows: { user: string; domain: string; tokens: number }[] = [];

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'confide-cli-stats-'));
  // 2,000 users, 4 big domains (500 users each), one small domain of 3 users, and a flood.
  for (let i = 0; i < 2000; i++) for (let k = 0; k < 3; k++) rows.push({ user: `u${i}`, domain: `site${i % 4}.example`, tokens: 100 + i + k });
  for (let i = 0; i < 3; i++) rows.push({ user: `s${i}`, domain: 'tiny.example', tokens: 5 });
  for (let i = 0; i < 20_000; i++) rows.push({ user: 'mallory', domain: 'private.example', tokens: 20_000 });
  const lines = rows.map((r) => JSON.stringify(r));
  lines.splice(100, 0, '{"user": "broken"', '[1,2,3]');
  corpus = join(dir, 'corpus.jsonl');
  writeFileSync(corpus, `${lines.join('\n')}\n`);
});

const ISSUE = ['--unit', 'user', '--group-by', 'domain', '--count', '--sum', 'tokens', '--bounds', '0:10000', '--epsilon', '1', '--delta', '1e-6', '--max-groups-per-unit', '4', '--max-rows-per-group', '1', '--top', '50'];

describe('confide stats', () => {
  it('answers the issue\'s command as JSON: groups with intervals, dropped lines, clamped values, the spend', () => {
    const r = run(['stats', corpus, ...ISSUE, '--format', 'json']);
    expect(r.status, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout);
    const keys = out.groups.map((g: { key: string }) => g.key).sort();
    expect(keys).toEqual(['site0.example', 'site1.example', 'site2.example', 'site3.example']);
    for (const g of out.groups) {
      expect(Object.keys(g).sort()).toEqual(['ci', 'count', 'key', 'sum']);
      expect(g.ci.level).toBe(0.95);
      expect(g.ci.count[0]).toBeLessThan(g.ci.count[1]);
      expect(g.ci.sum[0]).toBeLessThan(g.ci.sum[1]);
    }
    expect(out.dropped_lines).toBe(2);
    expect(out.clamped).toBe(1); // mallory's one kept row (20,000 > 10,000)
    expect(out.spent).toMatchObject({ dataset: 'stats', guarantee: { kind: 'approx', epsilon: 1, delta: 1e-6 } });
    expect(out.malformed_samples.map((s: { line: number }) => s.line)).toEqual([101, 102]);
  });

  it('prints a table, and CSV with a header and intervals', () => {
    const t = run(['stats', corpus, ...ISSUE]);
    expect(t.status, t.stderr).toBe(0);
    expect(t.stdout).toMatch(/^group\s+count ± 95%\s+sum ± 95%/);
    expect(t.stdout).toContain('2 malformed');
    const c = run(['stats', corpus, ...ISSUE, '--format', 'csv']);
    expect(c.status, c.stderr).toBe(0);
    const lines = c.stdout.trimEnd().split('\r\n');
    expect(lines[0]).toBe('key,count,count_lo,count_hi,sum,sum_lo,sum_hi');
    expect(lines).toHaveLength(5);
    for (const l of lines.slice(1)) expect(l.split(',').slice(1).every((x) => Number.isFinite(Number(x)))).toBe(true);
  });

  it('spends from a named ledger and is refused, with nothing printed, when the budget is gone', () => {
    const db = join(dir, 'ledger.db');
    const set = run(['budget', 'set', '--ledger', db, '--dataset', 'web', '--epsilon', '1.5', '--delta', '1e-5', '--method', 'basic', '--principal', 'officer']);
    expect(set.status, set.stderr).toBe(0);
    const first = run(['stats', corpus, ...ISSUE, '--ledger', db, '--dataset', 'web', '--format', 'json']);
    expect(first.status, first.stderr).toBe(0);
    expect(JSON.parse(first.stdout).spent).toMatchObject({ dataset: 'web', record: 2, remaining: 0.5 });
    const second = run(['stats', corpus, ...ISSUE, '--ledger', db, '--dataset', 'web', '--format', 'json']);
    expect(second.status).toBe(2);
    expect(second.stderr).toContain('E_BUDGET_EXCEEDED');
    expect(second.stdout).toBe('');
    const history = JSON.parse(run(['budget', 'history', '--ledger', db, '--json']).stdout);
    expect(history.map((h: { kind: string }) => h.kind)).toEqual(['budget', 'spend']);
    expect(run(['stats', corpus, ...ISSUE, '--ledger', db, '--dataset', 'nobudget']).stderr).toContain('E_STATE');
  });

  it('writes shard partials and releases their merge once', () => {
    const q = ['--unit', 'user', '--group-by', 'domain', '--count', '--units'];
    const parts = [0, 1, 2].map((i) => {
      const p = join(dir, `part${i}.json`);
      const r = run(['stats', corpus, ...q, '--shard', `${i}/3`, '--partial', p]);
      expect(r.status, r.stderr).toBe(0);
      expect(r.stdout).toContain('not private');
      return p;
    });
    const m = run(['stats', 'merge', ...parts, '--epsilon', '1', '--delta', '1e-6', '--format', 'json']);
    expect(m.status, m.stderr).toBe(0);
    const out = JSON.parse(m.stdout);
    expect(out.input.records).toBe(rows.length); // each shard reads everything and reports its own units' records
    expect(out.dropped_lines).toBe(2); // once, from shard 0
    expect(out.bounding.units).toBe(2000 + 3 + 1);
    expect(out.groups.map((g: { key: string }) => g.key).sort()).toEqual(['site0.example', 'site1.example', 'site2.example', 'site3.example']);
    // A partial of the whole input cannot be merged with a shard: a unit could count twice.
    const whole = join(dir, 'whole.json');
    expect(run(['stats', corpus, ...q, '--partial', whole]).status).toBe(0);
    const refused = run(['stats', 'merge', whole, parts[0], '--epsilon', '1', '--delta', '1e-6']);
    expect(refused.status).toBe(2);
    expect(refused.stderr).toMatch(/disjoint/);
    expect(run(['stats', 'merge', parts[0], parts[0], '--epsilon', '1', '--delta', '1e-6']).stderr).toMatch(/shard 0\/3/);
    writeFileSync(join(dir, 'junk.json'), '{"format":"something else"}');
    expect(run(['stats', 'merge', join(dir, 'junk.json'), '--epsilon', '1', '--delta', '1e-6']).stderr).toContain('E_DECODE');
  });

  it('reads gzip from standard input, and reports progress when asked', () => {
    const text = rows.slice(0, 1200).map((r) => JSON.stringify(r)).join('\n');
    const r = run(['stats', '-', '--unit', 'user', '--group-by', 'domain', '--count', '--groups', 'site0.example,site1.example', '--epsilon', '1', '--format', 'json', '--progress'], gzipSync(text));
    expect(r.status, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout);
    expect(out.groups.map((g: { key: string }) => g.key)).toEqual(['site0.example', 'site1.example']);
    expect(out.input.records).toBe(1200);
    expect(out.selection).toBeNull();
    expect(r.stderr).toMatch(/read 1200 rows, [\d.]+ MB in [\d.]+ s \(\d+ rows\/s, [\d.]+ MB\/s\)/);
  });

  it('writes an HTML report with a bar chart and intervals', () => {
    const html = join(dir, 'report.html');
    const r = run(['stats', corpus, ...ISSUE, '--html', html]);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toContain(`report: ${html}`);
    const page = readFileSync(html, 'utf8');
    expect(page.match(/<rect class="bar"/g)).toHaveLength(4);
    expect(page.match(/<line class="ci"/g)).toHaveLength(4);
    expect(page).not.toContain('<script');
    expect(page).not.toContain('private.example');
  });

  it('computes means, quantiles and histograms', () => {
    const r = run(['stats', corpus, '--unit', 'user', '--group-by', 'domain', '--groups', 'site0.example', '--mean', 'tokens', '--quantiles', 'tokens', '--ranks', '0.5', '--histogram', 'tokens', '--buckets', '0,1000,2000,4000', '--bounds', '0:4000', '--max-rows-per-group', '3', '--epsilon', '50', '--format', 'json']);
    expect(r.status, r.stderr).toBe(0);
    const [g] = JSON.parse(r.stdout).groups;
    const mine = rows.filter((x) => x.domain === 'site0.example').map((x) => x.tokens).sort((a, b) => a - b);
    const mean = mine.reduce((a, b) => a + b, 0) / mine.length;
    expect(Math.abs(g.mean - mean)).toBeLessThan(20);
    expect(Math.abs(g.quantiles['0.5'] - mine[mine.length >> 1])).toBeLessThan(40);
    expect(g.histogram).toHaveLength(3);
    expect(g.histogram.reduce((a: number, b: number) => a + b, 0)).toBeGreaterThan(mine.length - 60);
  });

  it('refuses bad command lines with a code and exit status 2', () => {
    const bad = (args: string[], re: RegExp) => {
      const r = run(['stats', ...args]);
      expect(r.status, args.join(' ')).toBe(2);
      expect(r.stderr).toMatch(re);
      expect(r.stdout).toBe('');
    };
    bad([corpus, '--group-by', 'domain', '--count', '--epsilon', '1'], /--unit/);
    bad([corpus, '--unit', 'user', '--group-by', 'domain', '--sum', 'tokens', '--epsilon', '1', '--delta', '1e-6'], /--bounds/);
    bad([corpus, '--unit', 'user', '--group-by', 'domain', '--sum', 'tokens', '--mean', 'other', '--bounds', '0:1', '--epsilon', '1'], /one value field/);
    bad([corpus, '--unit', 'user', '--group-by', 'domain', '--count', '--epsilon', '1'], /delta/);
    bad([corpus, '--unit', 'user', '--group-by', 'domain', '--count', '--delta', '1e-6'], /--epsilon/);
    bad([corpus, ...ISSUE, '--format', 'xml'], /--format/);
    bad([corpus, ...ISSUE, '--shard', '1/2'], /--partial/);
    bad([corpus, ...ISSUE, '--shard', '2/2', '--partial', join(dir, 'x.json')], /--shard/);
    bad([join(dir, 'missing.jsonl'), ...ISSUE], /E_IO/);
    bad([corpus, ...ISSUE, '--bounds', '5:1'], /lower < upper/);
    bad([], /input/);
  });
});
