import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { seededRng } from '../../src/core/index.ts';
import { createContext, generateKeys, planAggregation } from '../../src/he/index.ts';
import { identityFromSeed } from '../../src/net/index.ts';

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

  it('trains with --aggregation he: a separate decryptor process holds the secret key', { timeout: 120_000 }, async () => {
    const dir = mkdtempSync(join(tmpdir(), 'confide-fl-cli-'));
    const shards = writeShards(dir, 3);
    const plan = await planAggregation({ contributors: 4, bound: 8 });
    {
      using ctx = await createContext(plan.params);
      const keys = generateKeys(ctx, plan);
      writeFileSync(join(dir, 'public.key'), keys.publicKey);
      writeFileSync(join(dir, 'secret.key'), keys.secretKey);
    }
    const seed = 'cd'.repeat(32);
    const decryptorId = identityFromSeed(new Uint8Array(Buffer.from(seed, 'hex'))).id;
    const server = start(['serve', '--rounds', '2', '--min-clients', '3', '--token', TOKEN, '--features', '256', '--aggregation', 'he', '--decryptor', decryptorId, '--he-public-key', join(dir, 'public.key'), '--deadline-ms', '30000']);
    const address = (await until(server.stderr, /listening on (ws:\/\/\S+),/))[1];
    const decryptor = start(['decrypt', '--server', address, '--token', TOKEN, '--seed', seed, '--public-key', join(dir, 'public.key'), '--secret-key', join(dir, 'secret.key'), '--min-contributors', '2']);
    const clients = shards.map((data) => start(['join', '--server', address, '--token', TOKEN, '--data', data, '--features', '256', '--decryptor', decryptorId]));
    const s = await server.done;
    const d = await decryptor.done;
    await Promise.all(clients.map((c) => c.done));
    expect(s.code, s.stderr).toBe(0);
    expect(s.stderr).toMatch(/round 2\/2: 3\/3 clients \(3 connected, 0 dropped\).*eval accuracy ([\d.]+)%/);
    expect(d.code, d.stderr).toBe(0);
    expect(d.stderr).toMatch(/round 1: decrypted the masked sum of 3 clients/);
    expect(d.stderr).toMatch(/completed after 2 decryptions \(0 refused\)/);
  });

  it('DP-FedAvg with distributed noise and adaptive clipping through --aggregation secagg, Poisson sampling, checkpoint in the ledger', { timeout: 60_000 }, async () => {
    const dir = mkdtempSync(join(tmpdir(), 'confide-fl-cli-'));
    const shards = writeShards(dir, 3);
    const ledger = join(dir, 'ledger.db');
    const server = start(['serve', '--rounds', '3', '--min-clients', '3', '--token', TOKEN, '--features', '256', '--aggregation', 'secagg', '--secagg-threshold', '2',
      '--sampling', 'poisson', '--fraction', '0.9', '--dp-epsilon', '1000', '--ledger', ledger, '--checkpoint', ledger, '--dataset', 'toy-mail', '--noise-multiplier', '0.5', '--adaptive-clip', '--deadline-ms', '20000']);
    const m = await until(server.stderr, /clients join with --secagg-threshold 2 --dp-noise (\d+) --dp-count-scale ([\d.]+)/);
    const address = (await until(server.stderr, /listening on (ws:\/\/\S+),/))[1];
    const clients = shards.map((data) => start(['join', '--server', address, '--token', TOKEN, '--data', data, '--features', '256', '--secagg-threshold', '2', '--dp-noise', m[1], '--dp-count-scale', m[2]]));
    const s = await server.done;
    await Promise.all(clients.map((c) => c.done));
    expect(s.code, s.stderr).toBe(0);
    expect(s.stderr).toMatch(/round 3\/3: .*ε [\d.]+\/1000/);
    const { PrivacyLedger } = await import('../../src/dp/index.ts');
    const l = PrivacyLedger.open(ledger, { create: false });
    const spends = l.history('toy-mail').filter((h) => h.kind === 'spend');
    l.close();
    // One zCDP spend per round that ran (a Poisson round with fewer than 2 clients is skipped, spending nothing).
    const ran = [...s.stderr.matchAll(/round \d\/3: (\d)\/(\d) clients/g)].filter((x) => Number(x[2]) >= 2).length;
    expect(spends.length).toBe(ran);
    expect(spends.every((x) => (x.event as { type: string }).type === 'zcdp')).toBe(true);
  });

  it('refuses unknown aggregation backends and missing flags', { timeout: 20_000 }, async () => {
    const r = await start(['serve', '--rounds', '1', '--min-clients', '1', '--token', TOKEN, '--aggregation', 'nope']).done;
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/E_BAD_INPUT.*--aggregation/);
    const h = await start(['serve', '--rounds', '1', '--min-clients', '1', '--token', TOKEN, '--aggregation', 'he']).done;
    expect(h.stderr).toMatch(/--decryptor/);
    const dpc = await start(['serve', '--rounds', '1', '--min-clients', '1', '--token', TOKEN, '--dp-epsilon', '1', '--ledger', 'a.db', '--dataset', 'd', '--checkpoint', 'b.db']).done;
    expect(dpc.stderr).toMatch(/checkpoint lives in the ledger/);
    expect((await start(['serve', '--token', TOKEN]).done).code).toBe(1);
    expect((await start(['nope']).done).code).toBe(2);
  });
});
