import { describe, expect, it } from 'vitest';
import { seededRng } from '../../src/core/index.ts';
import { PrivacyLedger } from '../../src/dp/index.ts';
import { DpFedAvg, dpSecAggConfig, runCoordinator, type RoundMetrics, type Tensors } from '../../src/fl/index.ts';
import { distributedGaussianRho, encodedSensitivity, type SecAggConfig } from '../../src/secagg/index.ts';
import { startFederation } from './_federation.ts';
import { zQuantile } from '../_stats.ts';

const D = 2000; // parameters: w (D - 1) and b (1)
const C = 1;
const FRAC = 16;
const STEP = 2 ** -FRAC;

/** Client i's fixed update: client 0 inside the clip norm (norm 0.5), the others far outside (norm 3). */
function delta(i: number): Tensors {
  const rng = seededRng(500 + i);
  const v = Float64Array.from({ length: D }, () => rng.nextU32() / 2 ** 32 - 0.5);
  let n = 0;
  for (const x of v) n += x * x;
  const want = i === 0 ? 0.5 : 3;
  const s = want / Math.sqrt(n);
  return { w: Float32Array.from(v.subarray(0, D - 1), (x) => x * s), b: Float32Array.of(v[D - 1] * s) };
}

/** Σ clip(Δ_i, C), flattened in tensor order (w then b), computed from the float32 updates the clients send. */
function clippedSum(clients: number[]): Float64Array {
  const sum = new Float64Array(D);
  for (const i of clients) {
    const t = delta(i);
    const flat = Float64Array.from([...t.w, ...t.b]);
    let n = 0;
    for (const x of flat) n += x * x;
    const f = Math.min(1, C / Math.sqrt(n));
    for (let k = 0; k < D; k++) sum[k] += flat[k] * f;
  }
  return sum;
}

function config(clientVariance: number): SecAggConfig {
  return { length: D, bits: 64, fracBits: FRAC, bound: 8, threshold: 3, graph: 'complete', noise: { clientVariance, l2Norm: C } };
}

async function train(o: { clientVariance: number; rounds: number; budgetRho: number; silent?: number[] }) {
  const secagg = config(o.clientVariance);
  const { server } = await startFederation({ clients: 4, secagg, fixedDelta: (i) => delta(i), silent: o.silent ?? [] });
  const ledger = PrivacyLedger.open(':memory:');
  ledger.setBudget('mail', { rho: o.budgetRho }, { method: 'zcdp', principal: 'officer' });
  const history: RoundMetrics[] = [];
  const initialWeights = { w: new Float32Array(D - 1), b: new Float32Array(1) };
  const run = runCoordinator({
    server, initialWeights, strategy: new DpFedAvg({ noiseMultiplier: 1, clipNorm: C, expectedClients: 4 }), rounds: o.rounds, minClients: 4,
    roundDeadlineMs: o.silent?.length ? 4_000 : 20_000, evaluateEvery: 0, seed: 9, aggregation: 'secagg', secagg,
    dp: { ledger, dataset: 'mail', principal: 'coordinator' }, onRound: (m) => history.push(m),
  });
  return { run, server, ledger, history, secagg };
}

const flat = (t: Tensors) => Float64Array.from([...t.w, ...t.b]);

describe('DP-FedAvg with distributed noise through secure aggregation', () => {
  it('the released model is the clipped sum plus the clients\' noise over qN; each round spends zCDP for the survivors', { timeout: 60_000 }, async () => {
    // Least noise (σ = 1/2 grid step per client): the model is Σ clip(Δ_i)/qN to within a few grid steps.
    const quiet = await train({ clientVariance: 0.25, rounds: 1, budgetRho: 1e12 });
    const res = await quiet.run;
    await quiet.server.close();
    const want = clippedSum([0, 1, 2, 3]);
    const got = flat(res.weights);
    let worst = 0;
    for (let k = 0; k < D; k++) worst = Math.max(worst, Math.abs(got[k] * 4 - want[k]) / STEP);
    // Stochastic rounding onto the grid: < 1 step per client (4); the summed noise has σ = 1 step: 7σ bounds all
    // 2000 coordinates but with probability < 2000·2.6e-12; float32 storage of the model adds < 0.01 steps here.
    if (process.env.DEBUG_DP) console.log({ worst });
    expect(worst).toBeLessThan(4 + 7);
    expect(worst).toBeGreaterThan(0);
    const spends = quiet.ledger.history('mail').filter((h) => h.kind === 'spend');
    const rho = distributedGaussianRho({ clientVariance: 0.25, sensitivity: encodedSensitivity(quiet.secagg), survivors: 4, dimension: D });
    expect(spends.map((s) => [s.event, s.purpose])).toEqual([[{ type: 'zcdp', rho }, 'federated training round 1']]);
    expect(spends[0].query).toMatch(/distributed discrete Gaussian noise through secure aggregation/);
    expect(quiet.history[0]).toMatchObject({ sampled: 4, aggregated: 4, updated: true, privacy: { spent: rho, clipNorm: C } });

    // Real noise: the residual (model·qN − clipped sum) has variance 4σ² per coordinate (plus < 1 step² of rounding).
    const variance = 400 ** 2;
    const noisy = await train({ clientVariance: variance, rounds: 1, budgetRho: 1e12 });
    const out = flat((await noisy.run).weights);
    await noisy.server.close();
    let sum = 0, sq = 0;
    for (let k = 0; k < D; k++) {
      const e = (out[k] * 4 - want[k]) / STEP;
      sum += e;
      sq += e * e;
    }
    const total = 4 * variance;
    const z = zQuantile('1e-6');
    // Mean: |Σe|/D within z·√(total/D); variance: |s²/total − 1| within z·√(2/D) (chi-square, normal approximation), both at 1e-6.
    if (process.env.DEBUG_DP) console.log({ mean: sum / D, ratio: sq / D / total });
    expect(Math.abs(sum / D)).toBeLessThan(z * Math.sqrt(total / D));
    expect(Math.abs(sq / D / total - 1)).toBeLessThan(z * Math.sqrt(2 / D) + 1 / total);
  });

  it('a dropout lowers the credited noise: the round spends ρ for 3 survivors', { timeout: 60_000 }, async () => {
    const t = await train({ clientVariance: 100, rounds: 1, budgetRho: 1e12, silent: [3] });
    await t.run;
    await t.server.close();
    const [spend] = t.ledger.history('mail').filter((h) => h.kind === 'spend');
    const rho = distributedGaussianRho({ clientVariance: 100, sensitivity: encodedSensitivity(t.secagg), survivors: 3, dimension: D });
    expect(spend.event).toEqual({ type: 'zcdp', rho });
    expect(t.history[0]).toMatchObject({ sampled: 4, aggregated: 3, dropped: 1, updated: true });
  });

  it('stops with E_BUDGET_EXCEEDED before the round that would pass the budget (previewed, nothing spent or sent for it)', { timeout: 60_000 }, async () => {
    const variance = 1e6;
    const rho = distributedGaussianRho({ clientVariance: variance, sensitivity: encodedSensitivity(config(variance)), survivors: 4, dimension: D });
    const t = await train({ clientVariance: variance, rounds: 10, budgetRho: 2.5 * rho });
    await expect(t.run).rejects.toMatchObject({ code: 'E_BUDGET_EXCEEDED', message: expect.stringMatching(/training stops before round 3/) });
    await t.server.close();
    expect(t.history.length).toBe(2);
    expect(t.ledger.odometer('mail').releases).toBe(2);
    expect(t.ledger.odometer('mail').spent).toBeCloseTo(2 * rho, 12);
  });

  it('adaptive clipping through secure aggregation: the count bit rides as one more coordinate and moves C', { timeout: 60_000 }, async () => {
    // Every client is clipped at C = 0.05 (norms 0.5 and 3), so the noisy unclipped fraction is near 0 < γ = 0.5 and C grows.
    const strategy = new DpFedAvg({ noiseMultiplier: 1, clipNorm: 0.05, expectedClients: 4, adaptive: { countStddev: 0.2 } });
    const noise = strategy.distributedNoise(FRAC);
    expect(noise).toEqual({ clientVariance: 2 ** 32 / 4, countScale: 5 });
    const secagg = dpSecAggConfig({ parameters: D, threshold: 3, fracBits: FRAC, bits: 64, ...noise });
    expect(secagg).toMatchObject({ length: D + 1, bound: 5, noise: { l2Norm: Math.sqrt(26) } });
    const { server } = await startFederation({ clients: 4, secagg, fixedDelta: (i) => delta(i) });
    const ledger = PrivacyLedger.open(':memory:');
    ledger.setBudget('mail', { rho: 1e12 }, { method: 'zcdp', principal: 'officer' });
    const history: RoundMetrics[] = [];
    await runCoordinator({
      server, initialWeights: { w: new Float32Array(D - 1), b: new Float32Array(1) }, strategy, rounds: 2, minClients: 4, roundDeadlineMs: 20_000, evaluateEvery: 0,
      seed: 3, aggregation: 'secagg', secagg, dp: { ledger, dataset: 'mail', principal: 'coordinator' }, onRound: (m) => history.push(m),
    });
    await server.close();
    // b̃ = noisy count / 4 with noise σ_b = 0.2 clients: within ±7σ_b/4 of 0 at 1e-11; C·exp(0.2·(0.5 − b̃)) ∈ C·[1.03, 1.18].
    const ratio = history[1].privacy!.clipNorm / history[0].privacy!.clipNorm;
    expect(history[0].privacy!.clipNorm).toBe(0.05);
    expect(ratio).toBeGreaterThan(Math.exp(0.2 * (0.5 - 0.35)));
    expect(ratio).toBeLessThan(Math.exp(0.2 * (0.5 + 0.35)));
    // The event covers the count coordinate too: ρ for d + 1 coordinates at sensitivity √26·2^f + √(d + 1).
    const rho = distributedGaussianRho({ clientVariance: noise.clientVariance, sensitivity: encodedSensitivity(secagg), survivors: 4, dimension: D + 1 });
    expect(ledger.history('mail').filter((h) => h.kind === 'spend').map((h) => h.event)).toEqual([{ type: 'zcdp', rho }, { type: 'zcdp', rho }]);
  });

  it('refuses a config that does not fit the strategy (no noise, weights, a missing count coordinate, l2Norm below 1)', async () => {
    const { server, model } = await startFederation({ clients: 1 });
    const ledger = PrivacyLedger.open(':memory:');
    ledger.setBudget('mail', { rho: 1 }, { method: 'zcdp', principal: 'officer' });
    const c: SecAggConfig = { length: 9, bits: 64, fracBits: FRAC, bound: 8, threshold: 2, graph: 'complete', noise: { clientVariance: 1, l2Norm: 1 } };
    const base = { server, initialWeights: model.initialWeights(), rounds: 1, aggregation: 'secagg' as const, dp: { ledger, dataset: 'mail', principal: 'c' } };
    const dp = (o = {}) => new DpFedAvg({ noiseMultiplier: 1, clipNorm: 1, expectedClients: 2, ...o });
    await expect(runCoordinator({ ...base, strategy: dp({ adaptive: {} }), secagg: c })).rejects.toMatchObject({ field: 'secagg.length' });
    await expect(runCoordinator({ ...base, strategy: dp({ adaptive: {} }), secagg: { ...c, length: 10 } })).rejects.toMatchObject({ field: 'secagg.noise.l2Norm' });
    await expect(runCoordinator({ ...base, strategy: dp(), secagg: { ...c, noise: undefined } })).rejects.toMatchObject({ field: 'secagg.noise' });
    await expect(runCoordinator({ ...base, strategy: dp(), secagg: { ...c, noise: { clientVariance: 1, l2Norm: 0.5 } } })).rejects.toMatchObject({ field: 'secagg.noise.l2Norm' });
    await expect(runCoordinator({ ...base, strategy: dp(), secagg: { ...c, maxWeight: 1 } })).rejects.toMatchObject({ field: 'secagg.maxWeight' });
    expect(ledger.odometer('mail').releases).toBe(0);
    await server.close();
  });
});
