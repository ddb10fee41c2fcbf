/** `confide mpc` argument handling: statistic specs, CSV parsing, refusals before any network. */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { mpcCommand, parseStats, readCsv } from '../../src/cli/_mpc.ts';
import { isConfideError } from '../../src/core/errors.ts';

const code = async (p: Promise<unknown>) => p.then(() => 'ok', (e) => (isConfideError(e) ? e.code : String(e)));

describe('confide mpc arguments', () => {
  it('parses statistic specs and refuses malformed ones', () => {
    const s = parseStats('mean:age,variance:age,corr:x:y,histogram:age:0:100:4');
    expect(s.map((x) => x.kind)).toEqual(['mean', 'variance', 'corr', 'histogram']);
    expect(s[3].edges).toEqual([0, 25, 50, 75, 100]);
    for (const bad of ['', 'median:age', 'corr:x', 'histogram:age:5:1:3', 'mean:a:b'])
      expect(() => parseStats(bad)).toThrow(expect.objectContaining({ code: 'E_BAD_INPUT' }));
  });

  it('reads numeric CSV columns and refuses ragged, quoted or non-numeric files', () => {
    const dir = mkdtempSync(join(tmpdir(), 'confide-mpc-cli-'));
    const f = (name: string, text: string) => {
      writeFileSync(join(dir, name), text);
      return join(dir, name);
    };
    const cols = readCsv(f('ok.csv', 'a,b\n1,2.5\n-3,4\n'));
    expect(Array.from(cols.get('a')!)).toEqual([1, -3]);
    expect(Array.from(cols.get('b')!)).toEqual([2.5, 4]);
    for (const text of ['a,b\n1\n', 'a\n"1"\n', 'a\nx\n', 'a,a\n1,2\n', 'a\n\n1,\n'])
      expect(() => readCsv(f('bad.csv', text))).toThrow(expect.objectContaining({ code: 'E_BAD_INPUT' }));
    expect(() => readCsv(join(dir, 'missing.csv'))).toThrow(expect.objectContaining({ code: 'E_IO' }));
  });

  it('refuses bad flags before opening any connection', async () => {
    expect(await mpcCommand(['frobnicate'])).toBe(2);
    expect(await code(mpcCommand(['run', '--party', '0', '--parties', '127.0.0.1:0', '--input', 'x.csv', '--stat', 'mean:a', '--token', 'ab'.repeat(16)]))).toBe('E_BAD_INPUT');
    expect(await code(mpcCommand(['run', '--party', '3', '--parties', 'a:1,b:2', '--input', 'x.csv', '--stat', 'mean:a', '--token', 'ab'.repeat(16)]))).toBe('E_BAD_INPUT');
    expect(await code(mpcCommand(['run', '--party', '0', '--parties', 'a:1,b:2', '--input', 'x.csv', '--stat', 'mean:a', '--token', 'short']))).toBe('E_BAD_INPUT');
    expect(await code(mpcCommand(['deal', '--parties', '1', '--count', '5', '--out', tmpdir()]))).toBe('E_BAD_INPUT');
  });
});
