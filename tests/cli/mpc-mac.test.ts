/**
 * `confide mpc deal --mac` and `confide mpc run --mac`, three processes over
 * WebSocket on loopback: the MAC'd session computes mean, variance, a
 * histogram and a cross-party correlation equal to plaintext, and each
 * party's store file keeps exactly what the statistics did not use; a store
 * too small for the statistics stops every party before the first statistic
 * (E_STATE), with no result printed and the files unchanged; bad flag
 * combinations are refused before any connection.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { MPC_CLI, startParty } from '../mpc/_cli_party.ts';
import { mpcCommand } from '../../src/cli/_mpc.ts';
import { isConfideError } from '../../src/core/errors.ts';
import { seededRng } from '../../src/core/random.ts';
import { AuthStore, spdzPreprocessing } from '../../src/mpc/index.ts';



/** Three parties, party 0 hosting the relay; returns each party's output lines and exit code. */
async function runThree(dir: string, stat: string, token: string) {
  const args = (i: number, first: string) => ['run', '--mac', '--party', String(i), '--parties', `${first},p1:0,p2:0`, '--input', join(dir, `p${i}.csv`), '--stat', stat, '--token', token, '--triples', join(dir, `auth-${i}.bin`), '--timeout-ms', '20000', '--json'];
  const p0 = startParty(args(0, '127.0.0.1:0'));
  const hostPort = (await p0.listen).replace(/^wss?:\/\//, '');
  const p1 = startParty(args(1, hostPort)), p2 = startParty(args(2, hostPort));
  const codes = await Promise.all([p0.exit, p1.exit, p2.exit]);
  return { parties: [p0, p1, p2], codes };
}

const load = (dir: string, i: number) => AuthStore.decode(new Uint8Array(readFileSync(join(dir, `auth-${i}.bin`))));

describe('confide mpc run --mac, 3 processes', () => {
  const rng = seededRng(31);
  const u = () => rng.uniformInt(1_000_000) / 1_000_000;
  const rows0 = 40, rows1 = 25;
  const age0 = Array.from({ length: rows0 }, () => Math.round(20 + 50 * u()));
  const x = Array.from({ length: rows0 }, () => 10 * u());
  const y = x.map((v) => 3 - v + 4 * u());
  const age1 = Array.from({ length: rows1 }, () => Math.round(30 + 40 * u()));
  const files = (dir: string) => {
    writeFileSync(join(dir, 'p0.csv'), `age,x\n${age0.map((a, i) => `${a},${x[i]}`).join('\n')}\n`);
    writeFileSync(join(dir, 'p1.csv'), `age\n${age1.join('\n')}\n`);
    writeFileSync(join(dir, 'p2.csv'), `y\n${y.join('\n')}\n`);
  };
  const stat = 'mean:age,variance:age,histogram:age:0:100:4,corr:x:y';
  // What these statistics take: 2 + 3 + 4 masks per party; corr (x at party 0, y at party 2): 40 triples, 44 masks each.
  const need = spdzPreprocessing(3, [{ stat: 'mean' }, { stat: 'variance' }, { stat: 'histogram', bins: 4 }, { stat: 'correlation', rows: rows0, xOwner: 0, yOwner: 2 }]);

  it('mean, variance, histogram and cross-party correlation match plaintext; the stores keep what was not used', async () => {
    expect(need.triples).toBe(40);
    expect(need.masks).toEqual([53, 9, 53]);
    const dir = mkdtempSync(join(tmpdir(), 'confide-mpc-mac-'));
    files(dir);
    const deal = spawnSync(process.execPath, [MPC_CLI, 'deal', '--mac', '--parties', '3', '--count', '50', '--masks', '60', '--out', dir], { encoding: 'utf8' });
    expect(deal.status, deal.stderr).toBe(0);
    expect(JSON.parse(deal.stdout)).toMatchObject({ type: 'dealt', mac: true, count: 50, masks: 60 });

    const { parties, codes } = await runThree(dir, stat, 'd4'.repeat(16));
    expect(codes, parties.map((p) => p.stderr()).join('\n')).toEqual([0, 0, 0]);
    const ages = [...age0, ...age1];
    const mean = ages.reduce((s, v) => s + v, 0) / ages.length;
    const variance = ages.reduce((s, v) => s + v * v, 0) / ages.length - mean * mean;
    const mx = x.reduce((s, v) => s + v, 0) / rows0, my = y.reduce((s, v) => s + v, 0) / rows0;
    const cov = x.reduce((s, v, i) => s + v * y[i], 0) / rows0 - mx * my;
    const vx = x.reduce((s, v) => s + v * v, 0) / rows0 - mx * mx, vy = y.reduce((s, v) => s + v * v, 0) / rows0 - my * my;
    const hist = [0, 1, 2, 3].map((k) => ages.filter((a) => a >= 25 * k && (k === 3 ? a <= 100 : a < 25 * (k + 1))).length);
    for (const p of parties) {
      expect(p.lines.find((l) => l.type === 'ready')).toMatchObject({ mac: true });
      const r = Object.fromEntries(p.lines.filter((l) => l.type === 'result').map((l) => [l.stat, l]));
      expect(r['mean:age'].count).toBe(65);
      // Integers are encoded exactly; x and y carry stochastic rounding of 2^-10 per value.
      expect(r['mean:age'].value as number).toBeCloseTo(mean, 9);
      expect(r['variance:age'].value as number).toBeCloseTo(variance, 6);
      expect(r['histogram:age:0:100:4'].counts).toEqual(hist);
      expect(Math.abs((r['corr:x:y'].value as number) - cov / Math.sqrt(vx * vy))).toBeLessThan(1e-3);
    }
    for (let i = 0; i < 3; i++) {
      const st = load(dir, i);
      expect(st.triplesRemaining).toBe(50 - need.triples);
      expect([0, 1, 2].map((o) => st.masksRemaining(o))).toEqual(need.masks.map((m) => 60 - m));
    }
  }, 120_000);

  it('a store short of masks stops every party before the first statistic (E_STATE), files unchanged', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'confide-mpc-mac-short-'));
    files(dir);
    // Enough triples, one mask fewer than parties 0 and 2 need.
    const deal = spawnSync(process.execPath, [MPC_CLI, 'deal', '--mac', '--parties', '3', '--count', '40', '--masks', String(need.dealer.masks - 1), '--out', dir], { encoding: 'utf8' });
    expect(deal.status, deal.stderr).toBe(0);
    const { parties, codes } = await runThree(dir, stat, 'e5'.repeat(16));
    expect(codes).toEqual([1, 1, 1]);
    for (const p of parties) {
      expect(p.stderr()).toMatch(/^E_STATE: the MAC'd store is short/);
      expect(p.stderr()).toContain(`--count ${need.dealer.triples} --masks ${need.dealer.masks}`);
      expect(p.lines.some((l) => l.type === 'result')).toBe(false);
    }
    for (let i = 0; i < 3; i++) {
      const st = load(dir, i);
      expect(st.triplesRemaining).toBe(40);
      expect(st.masksRemaining(0)).toBe(need.dealer.masks - 1);
    }
  }, 120_000);

  it('refuses --mac with shamir, with he triples, without a store, or with another party\'s store, before any connection', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'confide-mpc-mac-flags-'));
    files(dir);
    expect(spawnSync(process.execPath, [MPC_CLI, 'deal', '--mac', '--parties', '3', '--count', '1', '--out', dir]).status).toBe(0);
    const code = (p: Promise<unknown>) => p.then(() => 'ok', (e) => (isConfideError(e) ? e.code : String(e)));
    const base = ['run', '--mac', '--party', '1', '--parties', '127.0.0.1:1,b:0,c:0', '--input', join(dir, 'p1.csv'), '--stat', 'mean:age', '--token', 'ab'.repeat(16)];
    expect(await code(mpcCommand([...base, '--sharing', 'shamir', '--triples', join(dir, 'auth-1.bin')]))).toBe('E_BAD_INPUT');
    expect(await code(mpcCommand([...base, '--triples', 'he']))).toBe('E_BAD_INPUT');
    expect(await code(mpcCommand(base))).toBe('E_BAD_INPUT');
    expect(await code(mpcCommand([...base, '--triples', join(dir, 'auth-2.bin')]))).toBe('E_BAD_INPUT');
    expect(await code(mpcCommand([...base, '--triples', join(dir, 'nothing.bin')]))).toBe('E_IO');
    expect(await code(mpcCommand([...base, '--triples', join(dir, 'p1.csv')]))).toBe('E_DECODE');
    expect(await code(mpcCommand(['deal', '--parties', '3', '--count', '1', '--masks', '4', '--out', dir]))).toBe('E_BAD_INPUT');
  });
});
