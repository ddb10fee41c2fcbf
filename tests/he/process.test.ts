/**
 * Three kinds of processes over WebSocket on loopback, each a `confide he`
 * role: one aggregator (serving on port 0), one decryptor and three clients,
 * with their own Ed25519 identities. They aggregate real vectors; the
 * decryptor reports that it decrypted one aggregate of three contributors.
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { describe, expect, it } from 'vitest';

const main = join(import.meta.dirname, '../../src/cli/main.ts');

interface Proc {
  lines: Record<string, unknown>[];
  stderr: string;
  done: Promise<number | null>;
  next(pred: (o: Record<string, unknown>) => boolean): Promise<Record<string, unknown>>;
}

function start(args: string[]): Proc {
  const child = spawn(process.execPath, [main, 'he', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  const lines: Record<string, unknown>[] = [];
  const waiters: { pred: (o: Record<string, unknown>) => boolean; resolve: (o: Record<string, unknown>) => void }[] = [];
  const p: Proc = {
    lines,
    stderr: '',
    done: new Promise((resolve) => child.on('close', resolve)),
    next: (pred) =>
      new Promise((resolve) => {
        const hit = lines.find(pred);
        if (hit) resolve(hit);
        else waiters.push({ pred, resolve });
      }),
  };
  child.stderr.on('data', (d) => (p.stderr += d));
  createInterface({ input: child.stdout }).on('line', (l) => {
    const o = JSON.parse(l) as Record<string, unknown>;
    lines.push(o);
    for (const w of waiters.splice(0)) (w.pred(o) ? w.resolve(o) : waiters.push(w));
  });
  return p;
}

const identity = () => JSON.parse(spawnSync(process.execPath, [main, 'he', 'identity'], { encoding: 'utf8' }).stdout) as { id: string; seed: string };

describe('aggregator, decryptor and clients as separate processes', () => {
  it('aggregate three real vectors over WebSocket', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'confide-he-proc-'));
    const keygen = spawnSync(process.execPath, [main, 'he', 'keygen', '--contributors', '8', '--bound', '10', '--frac-bits', '16', '--out', dir], { encoding: 'utf8' });
    expect(keygen.status, keygen.stderr).toBe(0);
    const [agg, dec, ...clients] = Array.from({ length: 5 }, identity);
    const n = 9000; // two ciphertexts a vector
    const vectors = clients.map((_, i) => Float64Array.from({ length: n }, (_, k) => ((k * (i + 3)) % 2001) / 100 - 10));
    vectors.forEach((v, i) => writeFileSync(join(dir, `v${i}.f64`), new Uint8Array(v.buffer)));

    const aggregator = start(['aggregator', '--seed', agg.seed, '--decryptor', dec.id, '--clients', clients.map((c) => c.id).join(','), '--min', '3', '--port', '0', '--deadline-ms', '30000', '--out', join(dir, 'sum.json')]);
    const listen = await aggregator.next((o) => o.type === 'listen');
    const address = String(listen.address);
    expect(address).toMatch(/^ws:\/\/127\.0\.0\.1:\d+/);
    const decryptor = start(['decryptor', '--address', address, '--server-id', agg.id, '--seed', dec.seed, '--public-key', join(dir, 'public.key'), '--secret-key', join(dir, 'secret.key'), '--min', '3']);
    const clientProcs = clients.map((c, i) => start(['client', '--address', address, '--server-id', agg.id, '--seed', c.seed, '--decryptor', dec.id, '--in', join(dir, `v${i}.f64`)]));

    const codes = await Promise.all([aggregator.done, decryptor.done, ...clientProcs.map((p) => p.done)]);
    for (const p of [aggregator, decryptor, ...clientProcs]) expect(p.stderr).toBe('');
    expect(codes).toEqual([0, 0, 0, 0, 0]);

    const done = aggregator.lines.find((o) => o.type === 'done')!;
    expect((done.contributors as string[]).sort()).toEqual(clients.map((c) => c.id).sort());
    const sum = (await import('node:fs')).readFileSync(join(dir, 'sum.json'), 'utf8');
    const got = JSON.parse(sum) as number[];
    expect(got).toHaveLength(n);
    for (let k = 0; k < n; k++) {
      const exact = vectors[0][k] + vectors[1][k] + vectors[2][k];
      // Three stochastic roundings of at most one quantum (2^-16) each.
      expect(Math.abs(got[k] - exact)).toBeLessThanOrEqual(3 * 2 ** -16);
    }
    // Every client got the same sum back; the decryptor decrypted one aggregate of 3 and nothing else.
    for (const p of clientProcs) expect((p.lines.find((o) => o.type === 'done')!.sum as number[])).toEqual(got);
    const requests = decryptor.lines.filter((o) => o.type === 'decrypt-request');
    expect(requests).toEqual([{ type: 'decrypt-request', contributors: 3 }]);
    expect(decryptor.lines.find((o) => o.type === 'done')).toEqual({ type: 'done', contributors: 3, refused: null });
  });
});
