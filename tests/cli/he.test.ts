/**
 * `confide he` file-based commands as a user runs them: identity, keygen,
 * encrypt, aggregate, decrypt, and refusals (wrong key, corrupt file, bad flags).
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';

const main = join(import.meta.dirname, '../../src/cli/main.ts');
const run = (args: string[]) => spawnSync(process.execPath, [main, ...args], { encoding: 'utf8' });

let dir: string;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'confide-cli-he-'));
});

describe('confide he', () => {
  it('identity prints an id and a seed', () => {
    const r = run(['he', 'identity']);
    expect(r.status, r.stderr).toBe(0);
    const o = JSON.parse(r.stdout);
    expect(o.id).toMatch(/^[0-9a-f]{64}$/);
    expect(o.seed).toMatch(/^[0-9a-f]{64}$/);
  });

  it('keygen, encrypt three files (JSON, .f64, .f32), aggregate and decrypt give the sum', () => {
    const k = run(['he', 'keygen', '--contributors', '10', '--bound', '100', '--frac-bits', '8', '--out', join(dir, 'keys')]);
    expect(k.status, k.stderr).toBe(0);
    expect(JSON.parse(k.stdout).plan.params.plainModulusBits).toBe(30);
    const a = [1.5, -2.25, 100, 7];
    writeFileSync(join(dir, 'a.json'), JSON.stringify(a));
    writeFileSync(join(dir, 'b.f64'), new Uint8Array(Float64Array.from([0.5, 0.25, -50, 1]).buffer));
    writeFileSync(join(dir, 'c.f32'), new Uint8Array(Float32Array.from([1, 1, 1, 500]).buffer)); // 500 is clipped to 100
    for (const [inp, out] of [['a.json', 'a.ct'], ['b.f64', 'b.ct'], ['c.f32', 'c.ct']]) {
      const e = run(['he', 'encrypt', '--key', join(dir, 'keys/public.key'), '--in', join(dir, inp), '--out', join(dir, out)]);
      expect(e.status, e.stderr).toBe(0);
      expect(JSON.parse(e.stdout).ciphertexts).toBe(1);
      if (inp === 'c.f32') expect(JSON.parse(e.stdout).clipped).toBe(1);
    }
    const s = run(['he', 'aggregate', '--key', join(dir, 'keys/public.key'), '--out', join(dir, 'sum.ct'), join(dir, 'a.ct'), join(dir, 'b.ct'), join(dir, 'c.ct')]);
    expect(s.status, s.stderr).toBe(0);
    expect(JSON.parse(s.stdout).contributors).toBe(3);
    const d = run(['he', 'decrypt', '--key', join(dir, 'keys/secret.key'), '--in', join(dir, 'sum.ct')]);
    expect(d.status, d.stderr).toBe(0);
    expect(JSON.parse(d.stdout)).toEqual([3, -1, 51, 108]);
  });

  it('refuses a public key for decryption, a corrupt ciphertext and unknown flags, with codes', () => {
    const d = run(['he', 'decrypt', '--key', join(dir, 'keys/public.key'), '--in', join(dir, 'sum.ct')]);
    expect(d.status).toBe(2);
    expect(d.stderr).toMatch(/E_DECODE: "secretKey" is a public key bundle/);
    const bytes = readFileSync(join(dir, 'a.ct'));
    writeFileSync(join(dir, 'cut.ct'), bytes.subarray(0, bytes.length - 10));
    const c = run(['he', 'aggregate', '--key', join(dir, 'keys/public.key'), '--out', join(dir, 'x.ct'), join(dir, 'cut.ct')]);
    expect(c.status).toBe(2);
    expect(c.stderr).toMatch(/E_DECODE: .*truncated/);
    expect(run(['he', 'keygen', '--contributors', '10', '--bound', 'x', '--out', dir]).stderr).toMatch(/E_BAD_INPUT/);
    expect(run(['he', 'encrypt', '--nonsense']).status).toBe(2);
    const u = run(['he', 'frobnicate']);
    expect(u.status).toBe(2);
    expect(u.stderr).toContain('unknown sub-command');
    expect(run(['help']).stdout).toContain('confide he keygen');
  });
});
