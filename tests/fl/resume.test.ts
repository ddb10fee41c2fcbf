import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CheckpointStore, fedAdam } from '../../src/fl/index.ts';
import { thrown } from '../_battery.ts';

const fixture = join(import.meta.dirname, 'fixtures', 'federation_run.ts');
const ROUNDS = 6;

function runToEnd(mode: string, checkpoint: string, ledger: string): { weights: string; start: number } {
  const r = spawnSync(process.execPath, [fixture, mode, checkpoint, ledger, String(ROUNDS)], { encoding: 'utf8', timeout: 60_000 });
  if (r.status !== 0) throw new Error(`fixture failed: ${r.stderr}`);
  return { weights: r.stdout, start: Number(/start (\d+)/.exec(r.stderr)![1]) };
}

/** Starts the fixture and SIGKILLs it as soon as it reports round `after`. */
function runAndKill(mode: string, checkpoint: string, ledger: string, after: number): Promise<string | null> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [fixture, mode, checkpoint, ledger, String(ROUNDS)], { stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    child.stderr.on('data', (d: Buffer) => {
      err += d.toString();
      if (err.includes(`round ${after}\n`)) child.kill('SIGKILL');
    });
    child.on('exit', (_code, signal) => resolve(signal));
  });
}

describe('checkpoint and resume', () => {
  for (const mode of ['fedadam', 'dp']) {
    it(`a coordinator killed with SIGKILL resumes at the next round with the uninterrupted result (${mode})`, { timeout: 60_000 }, async () => {
      const dir = mkdtempSync(join(tmpdir(), 'confide-fl-'));
      const whole = runToEnd(mode, join(dir, 'a.db'), join(dir, 'a-ledger.db'));
      expect(whole.start).toBe(1);
      expect(await runAndKill(mode, join(dir, 'b.db'), join(dir, 'b-ledger.db'), 3)).toBe('SIGKILL');
      const saved = CheckpointStore.open(join(dir, 'b.db'));
      const at = saved.latest('default')!.round;
      saved.close();
      expect(at).toBeGreaterThanOrEqual(3);
      expect(at).toBeLessThan(ROUNDS);
      const resumed = runToEnd(mode, join(dir, 'b.db'), join(dir, 'b-ledger.db'));
      expect(resumed.start).toBe(at + 1);
      expect(resumed.weights).toBe(whole.weights);
    });
  }
});

describe('CheckpointStore', () => {
  it('keeps the last rounds, restores weights bit for bit, and refuses a foreign file', () => {
    const dir = mkdtempSync(join(tmpdir(), 'confide-fl-'));
    const s = CheckpointStore.open(join(dir, 'c.db'), { keep: 2 });
    const w = { a: Float32Array.of(1.5, -0, Math.fround(Math.PI)), b: Float32Array.of(7) };
    for (let r = 1; r <= 4; r++) s.save('run', r, w, fedAdam().toJSON(), { round: r });
    const last = s.latest('run')!;
    expect(last.round).toBe(4);
    expect(Array.from(last.weights.a)).toEqual(Array.from(w.a));
    expect(Object.is(last.weights.a[1], -0)).toBe(true);
    expect(last.strategy).toEqual(fedAdam().toJSON());
    expect(s.latest('other')).toBeUndefined();
    s.close();
    const ledgerLike = join(dir, 'x.db');
    spawnSync(process.execPath, ['-e', `const {DatabaseSync}=require('node:sqlite');const d=new DatabaseSync(${JSON.stringify(ledgerLike)});d.exec("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT); INSERT INTO meta VALUES ('application','other')");`]);
    expect(thrown(() => CheckpointStore.open(ledgerLike)).code).toBe('E_IO');
  });
});
