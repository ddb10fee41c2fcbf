import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { seededRng } from '../../src/core/index.ts';

const cli = join(import.meta.dirname, 'fixtures', 'fl_cli.ts');
const TOKEN = 'ab'.repeat(16);

function start(args: string[]): { done: Promise<{ code: number | null; stderr: string }>; stderr: () => string } {
  const child = spawn(process.execPath, [cli, ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  return { done: new Promise((resolve) => child.on('close', (code) => resolve({ code, stderr: err }))), stderr: () => err };
}

async function until(f: () => string, re: RegExp, ms = 20_000): Promise<RegExpExecArray> {
  const t = Date.now();
  for (;;) {
    const m = re.exec(f());
    if (m) return m;
    if (Date.now() - t > ms) throw new Error(`timed out waiting for ${re}: ${f()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Toy mail: spam words vs ham words, one JSONL file per client, each client mostly one class (non-IID). */
function writeShards(dir: string, clients: number): string[] {
  const rng = seededRng(9);
  const spam = ['win', 'cash', 'free', 'offer', 'viagra', 'prize', 'click', 'now'];
  const ham = ['meeting', 'report', 'lunch', 'project', 'review', 'notes', 'team', 'schedule'];
  const pick = (ws: string[]) => Array.from({ length: 6 }, () => ws[rng.uniformInt(ws.length)]).join(' ');
  return Array.from({ length: clients }, (_, i) => {
    const lines = Array.from({ length: 60 }, () => {
      const isSpam = rng.nextU32() / 2 ** 32 < (i % 2 === 0 ? 0.85 : 0.15);
      return JSON.stringify({ text: pick(isSpam ? spam : ham), label: isSpam ? 1 : 0 });
    });
    const path = join(dir, `client-${i}.jsonl`);
    writeFileSync(path, lines.join('\n') + '\n');
    return path;
  });
}

describe('confide fl serve / join over WebSocket', () => {
  it('trains three client processes, with progress per round on stderr, and with DP stops at the budget', { timeout: 60_000 }, async () => {
    const dir = mkdtempSync(join(tmpdir(), 'confide-fl-cli-'));
    const shards = writeShards(dir, 3);
    const out = join(dir, 'model.json');
    const server = start(['serve', '--rounds', '3', '--min-clients', '3', '--token', TOKEN, '--features', '256', '--out', out, '--deadline-ms', '20000']);
    const address = (await until(server.stderr, /listening on (ws:\/\/\S+),/))[1];
    const clients = shards.map((data) => start(['join', '--server', address, '--token', TOKEN, '--data', data, '--features', '256']));
    const s = await server.done;
    const cs = await Promise.all(clients.map((c) => c.done));
    expect(s.code, s.stderr).toBe(0);
    expect(s.stderr).toMatch(/round 1\/3: 3\/3 clients \(3 connected, 0 dropped\)/);
    const acc = Number(/round 3\/3: .*eval accuracy ([\d.]+)%/.exec(s.stderr)![1]);
    expect(acc).toBeGreaterThan(90);
    expect(cs.every((c) => c.code === 0 && /completed after 3 fits/.test(c.stderr))).toBe(true);
    const model = JSON.parse(readFileSync(out, 'utf8'));
    expect(model.history.length).toBe(3);

    // DP: a budget for about two rounds; the run ends with E_BUDGET_EXCEEDED (exit 3) and the ledger holds the spent rounds.
    const ledger = join(dir, 'ledger.db');
    const dpServer = start(['serve', '--rounds', '20', '--min-clients', '3', '--token', TOKEN, '--features', '256', '--deadline-ms', '20000',
      '--dp-epsilon', '8', '--ledger', ledger, '--dataset', 'toy-mail', '--noise-multiplier', '1.5', '--clip-norm', '1']);
    const dpAddress = (await until(dpServer.stderr, /listening on (ws:\/\/\S+),/))[1];
    const dpClients = shards.map((data) => start(['join', '--server', dpAddress, '--token', TOKEN, '--data', data, '--features', '256']));
    const d = await dpServer.done;
    await Promise.all(dpClients.map((c) => c.done));
    expect(d.code, d.stderr).toBe(3);
    expect(d.stderr).toMatch(/E_BUDGET_EXCEEDED: training stops before round \d+/);
    expect(d.stderr).toMatch(/round 1\/20: .*ε [\d.]+\/8/);
  });

  it('trains with --aggregation secagg', { timeout: 60_000 }, async () => {
    const dir = mkdtempSync(join(tmpdir(), 'confide-fl-cli-'));
    const shards = writeShards(dir, 3);
    const server = start(['serve', '--rounds', '2', '--min-clients', '3', '--token', TOKEN, '--features', '256', '--aggregation', 'secagg', '--secagg-threshold', '2']);
    const address = (await until(server.stderr, /listening on (ws:\/\/\S+),/))[1];
    const clients = shards.map((data) => start(['join', '--server', address, '--token', TOKEN, '--data', data, '--features', '256', '--secagg-threshold', '2']));
    const s = await server.done;
    await Promise.all(clients.map((c) => c.done));
    expect(s.code, s.stderr).toBe(0);
    expect(s.stderr).toMatch(/round 2\/2: 3\/3 clients \(3 connected, 0 dropped\).*eval accuracy/);
  });

  it('refuses unknown aggregation backends and missing flags', { timeout: 20_000 }, async () => {
    const r = await start(['serve', '--rounds', '1', '--min-clients', '1', '--token', TOKEN, '--aggregation', 'he']).done;
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/E_UNSUPPORTED/);
    expect((await start(['serve', '--token', TOKEN]).done).code).toBe(1);
    expect((await start(['nope']).done).code).toBe(2);
  });
});
