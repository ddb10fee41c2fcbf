import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { seededRng } from '../../src/core/index.ts';
import { PrivacyLedger } from '../../src/dp/index.ts';
import { CheckpointStore, fedAdam } from '../../src/fl/index.ts';
import { thrown } from '../_battery.ts';

const fixture = join(import.meta.dirname, 'fixtures', 'federation_run.ts');
const ROUNDS = 6;

function runToEnd(mode: string, checkpoint: string, ledger: string): { weights: string; start: number } {
  const r = spawnSync(process.execPath, [fixture, mode, checkpoint, ledger, String(ROUNDS)], { encoding: 'utf8', timeout: 60_000 });
  if (r.status !== 0) throw new Error(`fixture failed: ${r.stderr}`);
  return { weights: r.stdout, start: Number(/start (\d+)/.exec(r.stderr)![1]) };
}

/** Starts the fixture and SIGKILLs it `delayMs` after it prints `line` (or lets it kill itself, with `extra`). Resolves with the signal. */
function runAndKill(mode: string, checkpoint: string, ledger: string, line: string, delayMs = 0, extra: string[] = []): Promise<string | null> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [fixture, mode, checkpoint, ledger, String(ROUNDS), ...extra], { stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    let armed = false;
    child.stderr.on('data', (d: Buffer) => {
      err += d.toString();
      if (!armed && err.includes(`${line}\n`)) {
        armed = true;
        setTimeout(() => child.kill('SIGKILL'), delayMs);
      }
    });
    child.on('exit', (_code, signal) => resolve(signal));
  });
}

/** The DP run's durable state: the latest checkpointed round and the ledger's spends. */
function dpState(path: string): { round: number; spends: number; verified: boolean } {
  const ledger = PrivacyLedger.open(path, { create: false });
  try {
    const round = CheckpointStore.inLedger(ledger).latest('default')?.round ?? 0;
    return { round, spends: ledger.odometer('mail').releases, verified: ledger.verify().ok };
  } finally {
    ledger.close();
  }
}

describe('checkpoint and resume', () => {
  for (const mode of ['fedadam', 'dp']) {
    it(`a coordinator killed with SIGKILL resumes at the next round with the uninterrupted result (${mode})`, { timeout: 60_000 }, async () => {
      const dir = mkdtempSync(join(tmpdir(), 'confide-fl-'));
      const whole = runToEnd(mode, join(dir, 'a.db'), join(dir, 'a-ledger.db'));
      expect(whole.start).toBe(1);
      expect(await runAndKill(mode, join(dir, 'b.db'), join(dir, 'b-ledger.db'), 'round 3')).toBe('SIGKILL');
      let at: number;
      if (mode === 'dp') {
        const s = dpState(join(dir, 'b-ledger.db'));
        at = s.round;
        expect(s.spends).toBe(at);
      } else {
        const saved = CheckpointStore.open(join(dir, 'b.db'));
        at = saved.latest('default')!.round;
        saved.close();
      }
      expect(at).toBeGreaterThanOrEqual(3);
      expect(at).toBeLessThan(ROUNDS);
      const resumed = runToEnd(mode, join(dir, 'b.db'), join(dir, 'b-ledger.db'));
      expect(resumed.start).toBe(at + 1);
      expect(resumed.weights).toBe(whole.weights);
      if (mode === 'dp') expect(dpState(join(dir, 'b-ledger.db'))).toEqual({ round: ROUNDS, spends: ROUNDS, verified: true });
    });
  }

  it('DP-FedAvg killed at random instants (and inside a spend\'s transaction): spends always equal the checkpointed rounds; the result equals an uninterrupted run', { timeout: 120_000 }, async () => {
    const dir = mkdtempSync(join(tmpdir(), 'confide-fl-'));
    const whole = runToEnd('dp', '', join(dir, 'whole.db'));
    const path = join(dir, 'killed.db');
    // Killed inside round 2's spend transaction (after the INSERT, before COMMIT): neither the spend nor the model of round 2 exists.
    expect(await runAndKill('dp', '', path, 'never', 0, ['2'])).toBe('SIGKILL');
    expect(dpState(path)).toEqual({ round: 1, spends: 1, verified: true });
    // Then killed at random instants (seeded, so the test is reproducible); each resumes where the last commit left it.
    const rng = seededRng(11);
    // A round takes some tens of ms here, so delays under 100 ms land inside rounds 1 to 4 of what is left.
    for (let k = 0; k < 5; k++) {
      const delay = rng.nextU32() % 100;
      await runAndKill('dp', '', path, 'ready', delay);
      const s = dpState(path);
      if (process.env.DEBUG_RESUME) console.log(delay, s);
      expect(s.spends).toBe(s.round);
      expect(s.verified).toBe(true);
    }
    const resumed = runToEnd('dp', '', path);
    expect(resumed.weights).toBe(whole.weights);
    expect(dpState(path)).toEqual({ round: ROUNDS, spends: ROUNDS, verified: true });
  });

  it('refuses a DP checkpoint in another file than the ledger (the round\'s spend and checkpoint must commit together)', async () => {
    const { runCoordinator, DpFedAvg } = await import('../../src/fl/index.ts');
    const { startFederation } = await import('./_federation.ts');
    const { server, model } = await startFederation({ clients: 1 });
    const ledger = PrivacyLedger.open(':memory:');
    ledger.setBudget('mail', { epsilon: 10, delta: 1e-5 }, { method: 'rdp', principal: 'officer' });
    await expect(runCoordinator({
      server, initialWeights: model.initialWeights(), strategy: new DpFedAvg({ noiseMultiplier: 1, clipNorm: 1, expectedClients: 1 }), rounds: 1,
      dp: { ledger, dataset: 'mail', principal: 'c' }, checkpoint: join(mkdtempSync(join(tmpdir(), 'confide-fl-')), 'other.db'),
    })).rejects.toMatchObject({ field: 'checkpoint' });
    await server.close();
  });
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
    s.saveMetrics('run', 4, { round: 4, evaluated: true });
    expect(s.latest('run')!.metrics).toEqual({ round: 4, evaluated: true });
    s.close();
    const ledgerLike = join(dir, 'x.db');
    spawnSync(process.execPath, ['-e', `const {DatabaseSync}=require('node:sqlite');const d=new DatabaseSync(${JSON.stringify(ledgerLike)});d.exec("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT); INSERT INTO meta VALUES ('application','other')");`]);
    expect(thrown(() => CheckpointStore.open(ledgerLike)).code).toBe('E_IO');
  });

  it('inLedger: the tables live in the ledger\'s database, a save joins an open ledger transaction and rolls back with it', () => {
    const ledger = PrivacyLedger.open(join(mkdtempSync(join(tmpdir(), 'confide-fl-')), 'l.db'));
    ledger.setBudget('mail', { epsilon: 1, delta: 0 }, { method: 'basic', principal: 'officer' });
    const s = CheckpointStore.inLedger(ledger);
    const w = { a: Float32Array.of(1, 2) };
    s.save('run', 1, w, { s: 1 }, {});
    expect(() => ledger.transaction(() => {
      ledger.spend({ dataset: 'mail', event: { type: 'epsilon-delta', epsilon: 0.5 }, principal: 'p', purpose: 'round 2', query: 'q' });
      s.save('run', 2, w, { s: 2 }, {});
      throw new Error('killed before commit');
    })).toThrow('killed before commit');
    expect(s.latest('run')!.round).toBe(1);
    expect(ledger.odometer('mail').releases).toBe(0);
    ledger.transaction(() => {
      ledger.spend({ dataset: 'mail', event: { type: 'epsilon-delta', epsilon: 0.5 }, principal: 'p', purpose: 'round 2', query: 'q' });
      s.save('run', 2, w, { s: 2 }, {});
    });
    expect(s.latest('run')!.round).toBe(2);
    expect(ledger.odometer('mail').releases).toBe(1);
    expect(ledger.verify().ok).toBe(true);
    s.close();
    expect(ledger.closed).toBe(false);
    ledger.close();
    expect(thrown(() => s.latest('run')).code).toBe('E_STATE');
  });

  it('inLedger, save and saveMetrics pass the type-confusion battery', async () => {
    const { confusionFailures } = await import('../_battery.ts');
    const ledger = PrivacyLedger.open(':memory:');
    const s = CheckpointStore.inLedger(ledger);
    const failures = [
      ...(await confusionFailures('inLedger', (l) => CheckpointStore.inLedger(l), () => [ledger])),
      ...(await confusionFailures('save', (run, round, w) => s.save(run, round, w, {}, {}), () => ['run', 1, { a: Float32Array.of(1) }], { accept: { 0: ['string'] } })),
      ...(await confusionFailures('saveMetrics', (run, round) => s.saveMetrics(run, round, {}), () => ['run', 1], { accept: { 0: ['string'] } })),
    ];
    expect(failures).toEqual([]);
    ledger.close();
  });
});
