/**
 * Three processes, one per party, over WebSocket on loopback: each reads its
 * own CSV (the others never see it) and together they compute the mean and
 * variance of a column whose rows are split between two parties and the
 * correlation between columns held by two different parties (Beaver triples
 * from a dealer's store). Results match plaintext; the stores shrink by the
 * triples used.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { MPC_CLI, startParty } from './_cli_party.ts';
import { TripleStore } from '../../src/mpc/index.ts';
import { seededRng } from '../../src/core/random.ts';



describe('confide mpc run, 3 processes', () => {
  it('joint mean, variance and cross-party correlation from separate CSV files match plaintext', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'confide-mpc-'));
    const rng = seededRng(11);
    const u = () => rng.uniformInt(1_000_000) / 1_000_000;
    const rows0 = 40, rows1 = 30;
    const age0 = Array.from({ length: rows0 }, () => Math.round(20 + 50 * u()));
    const x = Array.from({ length: rows0 }, () => 10 * u());
    const y = x.map((v) => 2 * v + 5 * u()); // correlated with x, held by party 2
    const age1 = Array.from({ length: rows1 }, () => Math.round(30 + 40 * u()));
    writeFileSync(join(dir, 'p0.csv'), `age,x\n${age0.map((a, i) => `${a},${x[i]}`).join('\n')}\n`);
    writeFileSync(join(dir, 'p1.csv'), `age\n${age1.join('\n')}\n`);
    writeFileSync(join(dir, 'p2.csv'), `y\n${y.join('\n')}\n`);
    const deal = spawnSync(process.execPath, [MPC_CLI, 'deal', '--parties', '3', '--count', '100', '--out', dir], { encoding: 'utf8' });
    expect(deal.status, deal.stderr).toBe(0);

    const token = 'a1'.repeat(16);
    const stat = 'mean:age,variance:age,corr:x:y';
    const common = (i: number, first: string) => ['run', '--party', String(i), '--parties', `${first},p1:0,p2:0`, '--input', join(dir, `p${i}.csv`), '--stat', stat, '--token', token, '--triples', join(dir, `triples-${i}.bin`), '--timeout-ms', '30000', '--json'];
    const p0 = startParty(common(0, '127.0.0.1:0'));
    const address = await p0.listen;
    const hostPort = address.replace(/^wss?:\/\//, '');
    const p1 = startParty(common(1, hostPort)), p2 = startParty(common(2, hostPort));
    const codes = await Promise.all([p0.exit, p1.exit, p2.exit]);
    expect(codes, [p0.stderr(), p1.stderr(), p2.stderr()].join('\n')).toEqual([0, 0, 0]);

    const ages = [...age0, ...age1];
    const mean = ages.reduce((s, v) => s + v, 0) / ages.length;
    const variance = ages.reduce((s, v) => s + v * v, 0) / ages.length - mean * mean;
    const mx = x.reduce((s, v) => s + v, 0) / rows0, my = y.reduce((s, v) => s + v, 0) / rows0;
    const cov = x.reduce((s, v, i) => s + v * y[i], 0) / rows0 - mx * my;
    const vx = x.reduce((s, v) => s + v * v, 0) / rows0 - mx * mx, vy = y.reduce((s, v) => s + v * v, 0) / rows0 - my * my;
    const corr = cov / Math.sqrt(vx * vy);
    for (const p of [p0, p1, p2]) {
      const r = Object.fromEntries(p.lines.filter((l) => l.type === 'result').map((l) => [l.stat, l]));
      expect(r['mean:age'].count).toBe(70);
      expect(Math.abs((r['mean:age'].value as number) - mean)).toBeLessThan(1e-3);
      expect(Math.abs((r['variance:age'].value as number) - variance)).toBeLessThan(1e-2);
      expect(Math.abs((r['corr:x:y'].value as number) - corr)).toBeLessThan(1e-3);
    }
    // Each party spent 40 triples (one per row of Σxy); the files keep only the unused 60.
    for (let i = 0; i < 3; i++) expect(TripleStore.decode(new Uint8Array(readFileSync(join(dir, `triples-${i}.bin`)))).capacity).toBe(60);
  }, 120_000);
});

describe('confide mpc run --triples he, 3 processes', () => {
  it('makes its own triples with BFV (no dealer) and computes a cross-party correlation', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'confide-mpc-he-'));
    const rng = seededRng(12);
    const u = () => rng.uniformInt(1_000_000) / 1_000_000;
    const rows = 50;
    const x = Array.from({ length: rows }, () => 10 * u());
    const y = x.map((v) => 5 - v + 3 * u());
    writeFileSync(join(dir, 'p0.csv'), `x\n${x.join('\n')}\n`);
    writeFileSync(join(dir, 'p1.csv'), `z\n1\n2\n`);
    writeFileSync(join(dir, 'p2.csv'), `y\n${y.join('\n')}\n`);
    const token = 'c3'.repeat(16);
    // The BFV field is 45 bits: bound, fracBits and maxRows small enough for sums below 2^43.
    const common = (i: number, first: string) => ['run', '--party', String(i), '--parties', `${first},p1:0,p2:0`, '--input', join(dir, `p${i}.csv`), '--stat', 'corr:x:y,sum:z', '--token', token, '--triples', 'he', '--bound', '100', '--frac-bits', '8', '--max-rows', '1000', '--timeout-ms', '30000', '--json'];
    const p0 = startParty(common(0, '127.0.0.1:0'));
    const hostPort = (await p0.listen).replace(/^wss?:\/\//, '');
    const p1 = startParty(common(1, hostPort)), p2 = startParty(common(2, hostPort));
    const codes = await Promise.all([p0.exit, p1.exit, p2.exit]);
    expect(codes, [p0.stderr(), p1.stderr(), p2.stderr()].join('\n')).toEqual([0, 0, 0]);
    const mx = x.reduce((s, v) => s + v, 0) / rows, my = y.reduce((s, v) => s + v, 0) / rows;
    const cov = x.reduce((s, v, i) => s + v * y[i], 0) / rows - mx * my;
    const vx = x.reduce((s, v) => s + v * v, 0) / rows - mx * mx, vy = y.reduce((s, v) => s + v * v, 0) / rows - my * my;
    for (const p of [p0, p1, p2]) {
      expect(p.lines.find((l) => l.type === 'triples')).toMatchObject({ source: 'he', count: rows });
      const r = Object.fromEntries(p.lines.filter((l) => l.type === 'result').map((l) => [l.stat, l]));
      expect(Math.abs((r['corr:x:y'].value as number) - cov / Math.sqrt(vx * vy))).toBeLessThan(1e-2);
      expect(r['sum:z'].value).toBeCloseTo(3, 2);
    }
  }, 120_000);
});

describe('confide mpc run --sharing shamir, 5 processes', () => {
  it('survives a party killed as the input round starts', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'confide-mpc-shamir-'));
    const rows = [0, 1, 2, 3, 4].map((p) => Array.from({ length: 10 }, (_, i) => p * 10 + i));
    rows.forEach((r, p) => writeFileSync(join(dir, `p${p}.csv`), `v\n${r.join('\n')}\n`));
    const token = 'b2'.repeat(16);
    const args = (i: number, first: string) => ['run', '--party', String(i), '--parties', `${first},b:0,c:0,d:0,e:0`, '--input', join(dir, `p${i}.csv`), '--stat', 'mean:v,sum:v', '--token', token, '--sharing', 'shamir', '--timeout-ms', '4000', '--json'];
    const p0 = startParty(args(0, '127.0.0.1:0'));
    const hostPort = (await p0.listen).replace(/^wss?:\/\//, '');
    const others = [1, 2, 3, 4].map((i) => startParty(args(i, hostPort)));
    const victim = others[2]; // party 3
    // Kill party 3 once its session is up, as the input round begins.
    let exited = false;
    void victim.exit.then(() => (exited = true));
    await new Promise<void>((resolve) => {
      const timer = setInterval(() => {
        if (exited || victim.lines.some((l) => l.type === 'ready')) {
          clearInterval(timer);
          victim.kill();
          resolve();
        }
      }, 5);
    });
    const codes = await Promise.all([p0.exit, ...others.map((o) => o.exit)]);
    expect(victim.lines.some((l) => l.type === 'ready')).toBe(true);
    expect(codes[3]).not.toBe(0);
    expect(codes.filter((_, i) => i !== 3), [p0.stderr(), ...others.map((o) => o.stderr())].join('\n')).toEqual([0, 0, 0, 0]);
    const sum = (ps: number[]) => ps.flatMap((p) => rows[p]).reduce((s, v) => s + v, 0);
    for (const p of [p0, others[0], others[1], others[3]]) {
      const r = Object.fromEntries(p.lines.filter((l) => l.type === 'result').map((l) => [l.stat, l]));
      const done = p.lines.find((l) => l.type === 'done')!;
      expect(done.dropped).toEqual([3]);
      // Party 3's rows count only if every survivor received its shares before it died.
      const withIt = r['sum:v'].count === 50;
      expect(r['sum:v'].count).toBe(withIt ? 50 : 40);
      expect(r['sum:v'].value as number).toBeCloseTo(sum(withIt ? [0, 1, 2, 3, 4] : [0, 1, 2, 4]), 6);
    }
  }, 120_000);
});
