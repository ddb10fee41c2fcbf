/**
 * The committed kernels are what the AssemblyScript source builds to, and the
 * check that CI runs catches a stale generated file.
 */
import { spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const root = join(import.meta.dirname, '../..');
const GENERATED = 'src/core/wasm/kernels.generated.ts';

function build(dir: string, ...args: string[]) {
  return spawnSync(process.execPath, [join(dir, 'wasm/build.ts'), ...args], { cwd: dir, encoding: 'utf8' });
}

describe('wasm build', () => {
  it('the committed generated file is fresh', () => {
    const r = build(root, '--check');
    expect(r.status, r.stderr).toBe(0);
  }, 60_000);

  it('--check fails on a stale file and passes after a rebuild; output is deterministic', () => {
    const dir = mkdtempSync(join(tmpdir(), 'confide-wasm-'));
    cpSync(join(root, 'wasm'), join(dir, 'wasm'), { recursive: true });
    mkdirSync(join(dir, 'src/core/wasm'), { recursive: true });
    symlinkSync(join(root, 'node_modules'), join(dir, 'node_modules'));
    const committed = readFileSync(join(root, GENERATED), 'utf8');
    // Flip one base64 character.
    const i = committed.indexOf("'") + 40;
    const stale = committed.slice(0, i) + (committed[i] === 'A' ? 'B' : 'A') + committed.slice(i + 1);
    writeFileSync(join(dir, GENERATED), stale);
    const bad = build(dir, '--check');
    expect(bad.status).toBe(1);
    expect(bad.stderr).toContain('is stale: run npm run build:wasm');
    expect(build(dir).status).toBe(0);
    expect(readFileSync(join(dir, GENERATED), 'utf8')).toBe(committed);
    expect(build(dir, '--check').status).toBe(0);
  }, 60_000);
});
