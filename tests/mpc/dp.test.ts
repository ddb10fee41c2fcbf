/**
 * DP release: each party spends from its own ledger, then adds its noise
 * share before opening. The opened histogram carries the sum of three
 * discrete Laplace samples per bin (checked against its exact mean and
 * variance, seeded), the ledgers record the spend, and a party over budget
 * opens nothing (the others fail with E_PROTOCOL).
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { seededRng } from '../../src/core/random.ts';
import { PrivacyLedger } from '../../src/dp/index.ts';
import { jointHistogram, jointMean } from '../../src/mpc/index.ts';
import { runParties } from './_helpers.ts';

function ledgers(n: number, epsilon: number): PrivacyLedger[] {
  const dir = mkdtempSync(join(tmpdir(), 'confide-mpc-dp-'));
  return Array.from({ length: n }, (_, i) => {
    const l = PrivacyLedger.open(join(dir, `p${i}.db`));
    l.setBudget('rows', { epsilon, delta: 0 }, { method: 'basic', principal: 'officer' });
    return l;
  });
}

describe('DP release of MPC statistics', () => {
  it('histogram noise is the sum of each party\'s discrete Laplace share, and the spend is recorded', async () => {
    const bins = 400;
    const edges = Array.from({ length: bins + 1 }, (_, i) => i);
    const data = [0, 1, 2].map((p) => Float64Array.from({ length: 800 }, (_, i) => (i * 7 + p * 13) % bins + 0.5));
    const truth = new Array(bins).fill(0);
    for (const d of data) for (const v of d) truth[Math.floor(v)]++;
    const ls = ledgers(3, 1.5);
    const dp = (i: number) => ({ ledger: ls[i], dataset: 'rows', principal: `party ${i}`, mechanism: 'laplace' as const, epsilon: 1, rng: seededRng(100 + i) });
    const { results } = await runParties(3, (mpc, i) => jointHistogram(mpc, data[i], edges, { dp: dp(i) }));
    const outs = results.map((r) => {
      if (r.status === 'rejected') throw r.reason;
      return r.value;
    });
    expect(outs[1]).toEqual(outs[0]);
    const noise = outs[0].map((v, k) => v - truth[k]);
    // Discrete Laplace with scale 1: variance 2e^-1/(1-e^-1)^2 ≈ 1.8395; three shares: 5.5186.
    const variance = 3 * ((2 * Math.exp(-1)) / (1 - Math.exp(-1)) ** 2);
    const mean = noise.reduce((s, v) => s + v, 0) / bins;
    const sampleVar = noise.reduce((s, v) => s + (v - mean) ** 2, 0) / (bins - 1);
    expect(Math.abs(mean)).toBeLessThan(5 * Math.sqrt(variance / bins));
    expect(sampleVar).toBeGreaterThan(variance * 0.5);
    expect(sampleVar).toBeLessThan(variance * 1.7);
    for (const l of ls) expect(l.odometer('rows').spent).toBeCloseTo(1, 9);

    // A second ε = 1 release: party 0's budget is raised to 3 and it spends, parties 1 and 2 (budget 1.5)
    // refuse before sending anything, so party 0 cannot open (E_PROTOCOL) and learns nothing.
    ls[0].setBudget('rows', { epsilon: 3, delta: 0 }, { method: 'basic', principal: 'officer', purpose: 'second release' });
    const again = await runParties(3, (mpc, i) => jointMean(mpc, data[i], { bound: 500, dp: dp(i) }), { timeoutMs: 3000 });
    const codes = again.results.map((r) => (r.status === 'rejected' ? (r.reason as { code?: string }).code : 'ok'));
    expect(codes).toEqual(['E_PROTOCOL', 'E_BUDGET_EXCEEDED', 'E_BUDGET_EXCEEDED']);
    for (const l of ls) l.close();
  });

  it('Gaussian shares: three parties each add variance ⌈σ²/3⌉ and the ledger is charged the distributed ρ', async () => {
    const bins = 400;
    const edges = Array.from({ length: bins + 1 }, (_, i) => i);
    const data = [0, 1, 2].map((p) => Float64Array.from({ length: 400 }, (_, i) => (i * 3 + p) % bins + 0.5));
    const truth = new Array(bins).fill(0);
    for (const d of data) for (const v of d) truth[Math.floor(v)]++;
    const dir = mkdtempSync(join(tmpdir(), 'confide-mpc-dpg-'));
    const ls = [0, 1, 2].map((i) => {
      const l = PrivacyLedger.open(join(dir, `p${i}.db`));
      l.setBudget('rows', { rho: 1 }, { principal: 'officer' });
      return l;
    });
    // ρ = 1/18: σ² = 1/(2ρ) = 9 in all, so each party adds variance ⌈9/3⌉ = 3.
    const rho = 1 / 18;
    const { results } = await runParties(3, (mpc, i) =>
      jointHistogram(mpc, data[i], edges, { dp: { ledger: ls[i], dataset: 'rows', principal: `party ${i}`, mechanism: 'gaussian', rho, rng: seededRng(200 + i) } }),
    );
    const out = results.map((r) => {
      if (r.status === 'rejected') throw r.reason;
      return r.value;
    });
    const noise = out[0].map((v, k) => v - truth[k]);
    const mean = noise.reduce((a, b) => a + b, 0) / bins;
    const sampleVar = noise.reduce((a, b) => a + (b - mean) ** 2, 0) / (bins - 1);
    // A discrete Gaussian with σ² = 3 has variance within 1e-6 of 3; three shares: 9.
    expect(Math.abs(mean)).toBeLessThan(5 * Math.sqrt(9 / bins));
    expect(sampleVar).toBeGreaterThan(9 * 0.6);
    expect(sampleVar).toBeLessThan(9 * 1.5);
    for (const l of ls) {
      const spent = l.odometer('rows').spent;
      // The distributed bound is a little above the target ρ, never below.
      expect(spent).toBeGreaterThanOrEqual(rho);
      expect(spent).toBeLessThan(rho * 1.2);
      l.close();
    }
  });
});
