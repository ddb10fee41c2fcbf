/**
 * Three kinds of processes over WebSocket on loopback, each a `confide he`
 * role: one aggregator (serving on port 0, summing in two worker threads),
 * one decryptor and three clients, with their own Ed25519 identities. They
 * aggregate real vectors; the decryptor records what it was asked, which
 * shows it received one masked aggregate of three contributors and no
 * client's ciphertext. Then decryptor processes facing a rogue aggregator
 * (this test process, serving over WebSocket) refuse to decrypt one client's
 * ciphertext passed off as an aggregate.
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { describe, expect, it } from 'vitest';
import * as he from '../../src/he/index.ts';
import { KIND_CIPHERTEXT, decodeBlob } from '../../src/he/_blob.ts';
import { generateIdentity, identitySeed, serve, webSocketTransport } from '../../src/net/index.ts';

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

interface AskedRecord {
  from: string;
  contributors: number;
  ids: string[];
  chunks: string[];
  refused: string | null;
  residues: string[] | null;
}

const readRecord = (path: string) => JSON.parse(readFileSync(path, 'utf8')) as AskedRecord;

describe('aggregator, decryptor and clients as separate processes', () => {
  it('aggregate three real vectors over WebSocket', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'confide-he-proc-'));
    const keygen = spawnSync(process.execPath, [main, 'he', 'keygen', '--contributors', '8', '--bound', '10', '--frac-bits', '16', '--out', dir], { encoding: 'utf8' });
    expect(keygen.status, keygen.stderr).toBe(0);
    const [agg, dec, ...clients] = Array.from({ length: 5 }, identity);
    const n = 9000; // two ciphertexts a vector
    const vectors = clients.map((_, i) => Float64Array.from({ length: n }, (_, k) => ((k * (i + 3)) % 2001) / 100 - 10));
    vectors.forEach((v, i) => writeFileSync(join(dir, `v${i}.f64`), new Uint8Array(v.buffer)));

    const aggregator = start(['aggregator', '--seed', agg.seed, '--decryptor', dec.id, '--clients', clients.map((c) => c.id).join(','), '--min', '3', '--port', '0', '--deadline-ms', '30000', '--workers', '2', '--out', join(dir, 'sum.json')]);
    const listen = await aggregator.next((o) => o.type === 'listen');
    const address = String(listen.address);
    expect(address).toMatch(/^ws:\/\/127\.0\.0\.1:\d+/);
    const decryptor = start(['decryptor', '--address', address, '--server-id', agg.id, '--seed', dec.seed, '--public-key', join(dir, 'public.key'), '--secret-key', join(dir, 'secret.key'), '--min', '3', '--record', join(dir, 'asked.json')]);
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

    // What the decryptor received: one vector's worth of ciphertexts (2, not the
    // clients' 3 × 2), each saying it sums 3 contributors, from the aggregator.
    const asked = readRecord(join(dir, 'asked.json'));
    expect(asked.from).toBe(agg.id);
    expect(asked.ids.sort()).toEqual(clients.map((c) => c.id).sort());
    const chunks = asked.chunks.map((h) => new Uint8Array(Buffer.from(h, 'hex')));
    expect(chunks).toHaveLength(2);
    for (const c of chunks) expect(decodeBlob(c, 'chunk', KIND_CIPHERTEXT).header.contributors).toBe(3);
    // Decrypted here with the secret key: the record is what it decrypted, and that is
    // neither any client's vector nor the sum but the sum under a uniform mask.
    using sk = await he.VectorDecryptor.open(new Uint8Array(readFileSync(join(dir, 'secret.key'))));
    const residues = sk.decryptResidues(chunks);
    expect(Array.from(residues, String)).toEqual(asked.residues);
    const t = Number(sk.context.plainModulus);
    const mod = (x: number) => ((x % t) + t) % t;
    const scale = 2 ** 16;
    for (const v of vectors) {
      // A client's value v encodes to ⌊v·2^16⌋ or ⌈v·2^16⌉ (stochastic rounding).
      let hits = 0;
      for (let k = 0; k < n; k++) {
        const r = Number(residues[k]);
        if (r === mod(Math.floor(v[k] * scale)) || r === mod(Math.ceil(v[k] * scale))) hits++;
      }
      expect(hits).toBeLessThan(5); // a uniform mask lands on one of two residues with probability 2/t
    }
    let nearSum = 0;
    for (let k = 0; k < n; k++) {
      const d = mod(Number(residues[k]) - Math.round(got[k] * scale));
      if (d <= 3 || d >= t - 3) nearSum++;
    }
    expect(nearSum).toBeLessThan(5);
  });

  it('decryptor processes refuse a rogue aggregator: fewer than K contributors, a repeated contributor, a count the ciphertext contradicts', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'confide-he-rogue-'));
    const keygen = spawnSync(process.execPath, [main, 'he', 'keygen', '--contributors', '8', '--bound', '10', '--frac-bits', '16', '--out', dir], { encoding: 'utf8' });
    expect(keygen.status, keygen.stderr).toBe(0);
    // The rogue aggregator is this process: a net server over WebSocket with three decryptors allowed.
    const rogue = generateIdentity();
    const decryptors = [generateIdentity(), generateIdentity(), generateIdentity()];
    const [c0, c1, c2] = [generateIdentity(), generateIdentity(), generateIdentity()].map((c) => Buffer.from(c.id, 'hex'));
    const server = await serve({ transport: webSocketTransport({ host: '127.0.0.1', port: 0 }), identity: rogue, allow: decryptors.map((d) => d.id) });
    try {
      const procs = decryptors.map((d, i) =>
        start(['decryptor', '--address', server.address, '--server-id', server.id, '--seed', Buffer.from(identitySeed(d)).toString('hex'),
          '--public-key', join(dir, 'public.key'), '--secret-key', join(dir, 'secret.key'), '--min', '3', '--record', join(dir, `asked${i}.json`), '--timeout-ms', '30000']),
      );
      const bundles = await Promise.all(decryptors.map((d) => server.receive(1, { from: d.id, timeoutMs: 30_000 })));
      using enc = await he.VectorEncryptor.open(bundles[0].payloads[0] as Uint8Array);
      // One client's ciphertext, which the rogue wants decrypted.
      const single = enc.encrypt(Float64Array.from({ length: 100 }, (_, k) => k / 10));
      const asks = [
        { contributors: 1, ids: [c0] },
        { contributors: 3, ids: [c0, c0, c1] },
        { contributors: 3, ids: [c0, c1, c2] },
      ];
      await Promise.all(decryptors.map((d, i) =>
        server.send(d.id, 4, { header: { kind: 'he-decrypt', contributors: asks[i].contributors }, payloads: [Buffer.concat(asks[i].ids), ...single.chunks] }),
      ));
      const replies = await Promise.all(decryptors.map((d) => server.receive(5, { from: d.id, timeoutMs: 30_000 })));
      const reasons = [/at least 3/, /repeats a party/, /disagree on the number of contributors/];
      replies.forEach((r, i) => {
        expect(r.header.kind).toBe('he-residues');
        expect(r.header.ok).toBe(false);
        expect(r.header.reason).toMatch(reasons[i]);
        expect(r.payloads).toEqual([]); // nothing decrypted comes back
      });
      const codes = await Promise.all(procs.map((p) => p.done));
      expect(codes).toEqual([3, 3, 3]);
      procs.forEach((p, i) => {
        expect(p.stderr).toBe('');
        expect(p.lines.find((o) => o.type === 'done')!.refused).toMatch(reasons[i]);
        const asked = readRecord(join(dir, `asked${i}.json`));
        expect(asked.from).toBe(server.id);
        expect(asked.refused).toMatch(reasons[i]);
        expect(asked.residues).toBeNull(); // it did not even decrypt
      });
    } finally {
      await server.close();
    }
  });
});
