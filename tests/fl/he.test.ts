import { describe, expect, it } from 'vitest';
import { identityFromSeed } from '../../src/net/index.ts';
import { createContext, generateKeys, planAggregation } from '../../src/he/index.ts';
import { fedAvg, fedAvgM, fedMedian, runCoordinator, runDecryptor, type CoordinatorResult } from '../../src/fl/index.ts';
import { startFederation } from './_federation.ts';

const decryptorIdentity = identityFromSeed(new Uint8Array(32).fill(77));

/** Keys for sums of up to 8 vectors of values in [-4, 4]: the plan fixes the fixed-point scale 2^fracBits. */
async function keys() {
  const plan = await planAggregation({ contributors: 8, bound: 4 });
  using ctx = await createContext(plan.params);
  return { plan, ...generateKeys(ctx, plan) };
}

async function train(aggregation: 'plain' | 'he', k: Awaited<ReturnType<typeof keys>>, silent: number[] = [], strategy = fedAvg) {
  const { server, model, transport } = await startFederation({ clients: 4, silent, allowExtra: [decryptorIdentity.id], he: { decryptor: decryptorIdentity.id } });
  const requests: { round: number; contributors: number; refused?: string }[] = [];
  const decrypting = aggregation === 'he'
    ? runDecryptor({ transport, address: server.address, identity: decryptorIdentity, serverId: server.id, publicKey: k.publicKey, secretKey: k.secretKey, minContributors: 2, idleTimeoutMs: 30_000, onRound: (e) => requests.push(e) })
    : undefined;
  const res: CoordinatorResult = await runCoordinator({
    server, initialWeights: model.initialWeights(), strategy: strategy(), rounds: 3, minClients: 4, roundDeadlineMs: silent.length ? 4_000 : 20_000,
    evaluateEvery: 3, seed: 4, maxExamples: 1000, ...(aggregation === 'he' ? { aggregation, he: { decryptor: decryptorIdentity.id, publicKey: k.publicKey } } : {}),
  });
  const summary = await decrypting;
  await server.close();
  return { res, requests, summary };
}

describe('homomorphic aggregation backend', () => {
  it('gives the plain model up to the fixed-point resolution; the decryptor decrypts one masked aggregate a round; a dropout is tolerated', { timeout: 120_000 }, async () => {
    const k = await keys();
    const plain = await train('plain', k);
    const he = await train('he', k);
    expect(he.res.history.map((m) => [m.sampled, m.aggregated, m.dropped, m.updated])).toEqual([[4, 4, 0, true], [4, 4, 0, true], [4, 4, 0, true]]);
    expect(he.requests).toEqual([{ round: 1, contributors: 4 }, { round: 2, contributors: 4 }, { round: 3, contributors: 4 }]);
    expect(he.summary).toMatchObject({ decrypted: 3, refused: 0, reason: 'completed' });
    // Evaluation goes to the clients only, not to the decryptor.
    expect(he.res.history[2].evaluation!.clients).toBe(4);
    // Each client's w_i Δ_i and w_i are rounded to the grid 2^-fracBits (at most half a step each, stochastic rounding
    // up to one step); the mean Σ w_i Δ_i / Σ w_i of 4 clients then moves by at most 4·2^-f·(1 + max|Δ|)/Σ w_i per round.
    const step = 2 ** -k.plan.fracBits;
    let maxDiff = 0;
    for (const name of ['w', 'b']) for (let i = 0; i < plain.res.weights[name].length; i++) maxDiff = Math.max(maxDiff, Math.abs(plain.res.weights[name][i] - he.res.weights[name][i]));
    if (process.env.DEBUG_HE) console.log({ maxDiff, step, fracBits: k.plan.fracBits });
    expect(maxDiff).toBeGreaterThan(0); // fixed point really was used
    // Per round the mean N/D (N = Σ w_i Δ_i, D = Σ w_i = 4·0.12) is off by at most (|δN| + |mean|·|δD|)/D with
    // |δN|, |δD| < 4 steps (stochastic rounding moves each value by less than one step) and |mean| < 1 here:
    // under 8·step/0.48 ≈ 17 steps a round. Three rounds, with training amplifying a difference in the starting
    // model by a bounded factor, stay far below 100 steps; one step of the plain model is 2^-fracBits.
    expect(maxDiff).toBeLessThan(100 * step);

    const dropped = await train('he', k, [2]);
    expect(dropped.res.history.map((m) => [m.sampled, m.aggregated, m.dropped, m.updated])).toEqual([[4, 3, 1, true], [4, 3, 1, true], [4, 3, 1, true]]);
    expect(dropped.requests.map((r) => r.contributors)).toEqual([3, 3, 3]);
  });

  it('checks the plan before a round: a sample larger than the keys are sized for stops with E_OVERFLOW before anything is sent; robust strategies and DP are refused', { timeout: 60_000 }, async () => {
    const plan = await planAggregation({ contributors: 2, bound: 4 });
    using ctx = await createContext(plan.params);
    const small = generateKeys(ctx, plan);
    const { server, model, transport } = await startFederation({ clients: 3, allowExtra: [decryptorIdentity.id], he: { decryptor: decryptorIdentity.id } });
    const decrypting = runDecryptor({ transport, address: server.address, identity: decryptorIdentity, serverId: server.id, publicKey: small.publicKey, secretKey: small.secretKey, minContributors: 2, idleTimeoutMs: 30_000 });
    const base = { server, initialWeights: model.initialWeights(), rounds: 1, minClients: 3, aggregation: 'he' as const, he: { decryptor: decryptorIdentity.id, publicKey: small.publicKey } };
    await expect(runCoordinator({ ...base, strategy: fedMedian() })).rejects.toMatchObject({ field: 'strategy' });
    await expect(runCoordinator({ ...base, strategy: fedAvg(), he: { ...base.he, publicKey: new Uint8Array(10) } })).rejects.toMatchObject({ code: 'E_DECODE' });
    const { PrivacyLedger } = await import('../../src/dp/index.ts');
    const { DpFedAvg } = await import('../../src/fl/index.ts');
    const ledger = PrivacyLedger.open(':memory:');
    ledger.setBudget('mail', { epsilon: 10, delta: 1e-5 }, { method: 'rdp', principal: 'officer' });
    await expect(runCoordinator({ ...base, strategy: new DpFedAvg({ noiseMultiplier: 1, clipNorm: 1, expectedClients: 3 }), dp: { ledger, dataset: 'mail', principal: 'c' } })).rejects.toMatchObject({ code: 'E_UNSUPPORTED', field: 'aggregation' });
    await expect(runCoordinator({ ...base, strategy: fedAvg() })).rejects.toMatchObject({ code: 'E_OVERFLOW', field: 'he.publicKey' });
    expect(await decrypting).toMatchObject({ decrypted: 0, reason: 'coordinator stopped: E_OVERFLOW' });
    await server.close();
  });

  it('works with server momentum (any mean-based strategy)', { timeout: 120_000 }, async () => {
    const k = await keys();
    const plain = await train('plain', k, [], fedAvgM);
    const he = await train('he', k, [], fedAvgM);
    let maxDiff = 0;
    for (const name of ['w', 'b']) for (let i = 0; i < plain.res.weights[name].length; i++) maxDiff = Math.max(maxDiff, Math.abs(plain.res.weights[name][i] - he.res.weights[name][i]));
    expect(maxDiff).toBeLessThan(1e-3);
  });
});

describe('runDecryptor input checks', () => {
  it('refuses every confused options value up front (type-confusion battery)', async () => {
    const { CONFUSION_VALUES } = await import('../_battery.ts');
    const { ConfideError } = await import('../../src/core/index.ts');
    for (const [label, make] of CONFUSION_VALUES) await expect(runDecryptor(make() as never), label).rejects.toBeInstanceOf(ConfideError);
    const valid = { transport: {}, address: 'x', identity: decryptorIdentity, publicKey: new Uint8Array(1), secretKey: new Uint8Array(1), minContributors: 2 };
    for (const [label, make] of CONFUSION_VALUES) {
      for (const key of ['publicKey', 'secretKey', 'minContributors', 'idleTimeoutMs', 'onRound'] as const)
        await expect(runDecryptor({ ...valid, [key]: make() } as never), `${key} ${label}`).rejects.toBeInstanceOf(ConfideError);
    }
  });
});
