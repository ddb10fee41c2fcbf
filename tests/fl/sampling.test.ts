import { describe, expect, it } from 'vitest';
import { PrivacyLedger } from '../../src/dp/index.ts';
import { DpFedAvg, fedAvg, runCoordinator, type RoundMetrics } from '../../src/fl/index.ts';
import { zQuantile } from '../_stats.ts';
import { startFederation } from './_federation.ts';

const zero = () => ({ w: new Float32Array(8), b: new Float32Array(1) });

describe('Poisson client sampling', () => {
  it('per-round sample sizes are Binomial(N, q): mean and variance within their 1e-6 bounds', { timeout: 120_000 }, async () => {
    const N = 10, q = 0.3, R = 300;
    const { server, model } = await startFederation({ clients: N, fixedDelta: () => zero() });
    const history: RoundMetrics[] = [];
    await runCoordinator({
      server, initialWeights: model.initialWeights(), strategy: fedAvg(), rounds: R, minAvailable: N, fraction: q, sampling: 'poisson',
      roundDeadlineMs: 5_000, evaluateEvery: 0, seed: 21, onRound: (m) => history.push(m),
    });
    await server.close();
    const sizes = history.map((m) => m.sampled);
    expect(sizes.length).toBe(R);
    expect(history.every((m) => m.aggregated === m.sampled && m.available === N)).toBe(true);
    const mean = sizes.reduce((a, b) => a + b, 0) / R;
    const variance = sizes.reduce((a, b) => a + (b - mean) ** 2, 0) / (R - 1);
    const mu = N * q, s2 = N * q * (1 - q);
    const z = zQuantile('1e-6');
    // Mean of R i.i.d. binomials: normal with variance s2/R.
    expect(Math.abs(mean - mu)).toBeLessThan(z * Math.sqrt(s2 / R));
    // Sample variance: its standard error is √((μ4 − s2²(R−3)/(R−1))/R), with the binomial's fourth central moment
    // μ4 = Nq(1−q)(1 + 3(N−2)q(1−q)).
    const mu4 = N * q * (1 - q) * (1 + 3 * (N - 2) * q * (1 - q));
    expect(Math.abs(variance - s2)).toBeLessThan(z * Math.sqrt((mu4 - (s2 * s2 * (R - 3)) / (R - 1)) / R));
    // Not a fixed-size sample in disguise: sizes vary across rounds.
    expect(new Set(sizes).size).toBeGreaterThan(3);
  });

  it('DP-FedAvg tells the accountant: a poisson-sampled event with q = fraction (fixed sampling: the unsampled event); the strategy must agree', { timeout: 60_000 }, async () => {
    const { server, model } = await startFederation({ clients: 6 });
    const ledger = PrivacyLedger.open(':memory:');
    ledger.setBudget('mail', { epsilon: 100, delta: 1e-5 }, { method: 'rdp', principal: 'officer' });
    const base = { server, initialWeights: model.initialWeights(), rounds: 3, minAvailable: 6, roundDeadlineMs: 5_000, evaluateEvery: 0, seed: 5, dp: { ledger, dataset: 'mail', principal: 'coordinator' } };
    const opts = { noiseMultiplier: 1, clipNorm: 1, expectedClients: 3 };
    // The strategy's stated sampling must be the coordinator's.
    await expect(runCoordinator({ ...base, strategy: new DpFedAvg(opts), fraction: 0.5, sampling: 'poisson' })).rejects.toMatchObject({ field: 'strategy.sampling' });
    await expect(runCoordinator({ ...base, strategy: new DpFedAvg({ ...opts, sampling: { type: 'poisson', q: 0.5 } }), fraction: 0.5 })).rejects.toMatchObject({ field: 'strategy.sampling' });
    expect(ledger.odometer('mail').releases).toBe(0);
    const poisson = await runCoordinator({ ...base, strategy: new DpFedAvg({ ...opts, sampling: { type: 'poisson', q: 0.5 } }), fraction: 0.5, sampling: 'poisson' });
    const R = 2 ** 14;
    const inner = { type: 'discrete-gaussian', sigma: R, sensitivity: R };
    let spends = ledger.history('mail').filter((h) => h.kind === 'spend');
    expect(spends.map((s) => s.event)).toEqual([1, 2, 3].map(() => ({ type: 'poisson-sampled', q: 0.5, event: inner })));
    const spent = poisson.history.map((m) => m.privacy!.spent);
    expect(spent[0]).toBeLessThan(spent[1]);
    expect(spent[1]).toBeLessThan(spent[2]);
    expect(spent[2]).toBe(ledger.odometer('mail').spent);
    const fixed = PrivacyLedger.open(':memory:');
    fixed.setBudget('mail', { epsilon: 100, delta: 1e-5 }, { method: 'rdp', principal: 'officer' });
    const { server: s2, model: m2 } = await startFederation({ clients: 6 });
    await runCoordinator({ ...base, server: s2, initialWeights: m2.initialWeights(), rounds: 1, dp: { ledger: fixed, dataset: 'mail', principal: 'coordinator' }, strategy: new DpFedAvg({ ...opts, sampling: { type: 'fixed', population: 6, clients: 3 } }), fraction: 0.5 });
    spends = fixed.history('mail').filter((h) => h.kind === 'spend');
    expect(spends.map((s) => s.event)).toEqual([inner]);
    // Amplification is credited: the sampled rounds cost less than one unsampled round each.
    expect(ledger.odometer('mail').spent).toBeLessThan(3 * fixed.odometer('mail').spent);
    await server.close();
    await s2.close();
  });
});
