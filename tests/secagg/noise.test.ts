/**
 * Distributed discrete Gaussian noise: calibration, the guarantee for the
 * actual survivors spent from the ledger before anything is unmasked, a
 * refused spend that reveals nothing, and the noise's variance in the sum.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { isConfideError } from '../../src/core/errors.ts';
import { seededRng } from '../../src/core/random.ts';
import { PrivacyLedger, epsilonFor } from '../../src/dp/index.ts';
import {
  calibrateDistributedNoise,
  distributedGaussianRho,
  encodedSensitivity,
  runSecAggClient,
  runSecAggServer,
  type Phase,
  type SecAggConfig,
} from '../../src/secagg/index.ts';
import { network, type Net } from './_helpers.ts';

let net: Net | undefined;
afterEach(async () => {
  await net?.close();
  net = undefined;
});

const N = 12;
const L = 10_000;

function noisyConfig(clientVariance: number): SecAggConfig {
  return { length: L, bits: 64, fracBits: 6, bound: 4, threshold: 7, graph: 'complete', noise: { clientVariance, l2Norm: 20 } };
}

async function round(net: Net, config: SecAggConfig, xs: Float64Array[], drops: (Phase | undefined)[], ledger: PrivacyLedger) {
  const clients = net.parties.map((p, i) =>
    runSecAggClient(p, { identity: net.identities[i], config, input: xs[i], rng: seededRng(1000 + i), timeoutMs: 20_000, ...(drops[i] ? { dropBefore: drops[i] } : {}) }).catch((e: unknown) => ({ error: e })),
  );
  try {
    return { result: await runSecAggServer(net.server, { config, deadlineMs: 20_000, privacy: { ledger, dataset: 'fleet', principal: 'test' } }), clients: await Promise.all(clients) };
  } catch (error) {
    return { error, clients: await Promise.all(clients) };
  }
}

describe('distributed discrete Gaussian', () => {
  it('calibrates for the expected survivors; fewer survivors give a larger ρ', () => {
    const opts = { rho: 0.5, l2Norm: 20, length: L, fracBits: 6, clients: 100, dropoutRate: 0.1 };
    const v = calibrateDistributedNoise(opts);
    const config = noisyConfig(v);
    const at = (m: number) => distributedGaussianRho({ clientVariance: v, sensitivity: encodedSensitivity(config), survivors: m, dimension: L });
    expect(at(90)).toBeLessThanOrEqual(0.5);
    expect(at(90)).toBeGreaterThan(0.5 * (1 - 1e-6));
    expect(at(60)).toBeCloseTo((0.5 * 90) / 60, 3);
    // With colluding clients allowed for, more noise per client.
    expect(calibrateDistributedNoise({ ...opts, corruptFraction: 0.2 })).toBeGreaterThan(v);
    // (ε, δ) targets go through the zCDP conversion.
    const w = calibrateDistributedNoise({ epsilon: 1, delta: 1e-6, l2Norm: 20, length: L, fracBits: 6, clients: 100, dropoutRate: 0.1 });
    const rho = at.call(null, 90) * (v / w);
    expect(epsilonFor({ type: 'zcdp', rho }, 1e-6, { method: 'zcdp' })).toBeLessThanOrEqual(1 + 1e-6);
  });

  it('spends the guarantee of the actual survivors and the sum carries their noise', async () => {
    net = await network(N);
    const variance = calibrateDistributedNoise({ rho: 2, l2Norm: 20, length: L, fracBits: 6, clients: N, dropoutRate: 0.25 });
    const config = noisyConfig(variance);
    const ledger = PrivacyLedger.open(':memory:');
    ledger.setBudget('fleet', { rho: 10 }, { principal: 'officer' });
    const xs = Array.from({ length: N }, (_, i) => Float64Array.from({ length: L }, (_, k) => ((i + k) % 7) / 8));
    const drops: (Phase | undefined)[] = [undefined, 'share', 'masked', 'masked', 'advertise', 'unmask'];
    const r = await round(net, config, xs, drops, ledger);
    expect(r.error).toBeUndefined();
    const survivors = N - 4;
    expect(r.result!.survivors).toHaveLength(survivors);
    const rho = distributedGaussianRho({ clientVariance: variance, sensitivity: encodedSensitivity(config), survivors, dimension: L });
    expect(r.result!.privacy!.rho).toBe(rho);
    expect(rho).toBeGreaterThan(2 * 1.1); // 4 of 12 dropped before masking, not the expected 3: less noise, weaker guarantee
    expect(ledger.odometer('fleet').spent).toBeCloseTo(rho, 12);
    expect(ledger.history('fleet').at(-1)!.event).toEqual({ type: 'zcdp', rho });
    // The noise in the sum: (values - true sum)·scale has variance survivors·σ² per coordinate.
    // With L = 10^4 coordinates the sample variance has relative sd √(2/L) ≈ 1.4%; 6 sd ≈ 8.5% (seeded, cannot flake).
    const scale = 2 ** 6;
    let s2 = 0;
    for (let k = 0; k < L; k++) {
      let truth = 0;
      for (let i = 0; i < N; i++) if (drops[i] === undefined || drops[i] === 'unmask') truth += xs[i][k];
      const e = (r.result!.values[k] - truth) * scale;
      s2 += e * e;
    }
    expect(s2 / L / (survivors * variance)).toBeGreaterThan(1 - 0.085 - 2 / (survivors * variance));
    expect(s2 / L / (survivors * variance)).toBeLessThan(1 + 0.085 + 2 / (survivors * variance));
  });

  it('a spend the budget refuses aborts the round before any share is asked for', async () => {
    net = await network(N);
    const config = noisyConfig(calibrateDistributedNoise({ rho: 1, l2Norm: 20, length: L, fracBits: 6, clients: N, dropoutRate: 0 }));
    const ledger = PrivacyLedger.open(':memory:');
    ledger.setBudget('fleet', { rho: 0.5 }, { principal: 'officer' });
    const xs = Array.from({ length: N }, () => new Float64Array(L));
    const r = await round(net, config, xs, [], ledger);
    expect(isConfideError(r.error, 'E_BUDGET_EXCEEDED')).toBe(true);
    expect(ledger.odometer('fleet').releases).toBe(0);
    // The spend comes before the survivor set goes out: every client got the abort instead, none signed or sent a share.
    for (const c of r.clients) expect('error' in c && isConfideError(c.error, 'E_PROTOCOL') && /budget/i.test((c.error as Error).message)).toBe(true);
  });
});
