import { describe, expect, it } from 'vitest';
import { fedAvg, fedMedian, runCoordinator } from '../../src/fl/index.ts';
import type { SecAggConfig } from '../../src/secagg/index.ts';
import { FEATURES, startFederation } from './_federation.ts';

const config: SecAggConfig = { length: FEATURES + 1, bits: 32, fracBits: 16, bound: 8, threshold: 3, graph: 'complete', maxWeight: 1 };

async function train(aggregation: 'plain' | 'secagg', silent: number[] = []) {
  const { server, model } = await startFederation({ clients: 4, secagg: config, silent });
  const res = await runCoordinator({
    server, initialWeights: model.initialWeights(), strategy: fedAvg(), rounds: 3, minClients: 4, roundDeadlineMs: silent.length ? 1_500 : 20_000,
    evaluateEvery: 0, seed: 4, aggregation, maxExamples: 1000, ...(aggregation === 'secagg' ? { secagg: config } : {}),
  });
  await server.close();
  return res;
}

describe('secure aggregation backend', () => {
  it('gives the plain result up to fixed-point rounding, while the coordinator sees only the sum', { timeout: 30_000 }, async () => {
    const plain = await train('plain');
    const secure = await train('secagg');
    expect(secure.history.map((m) => [m.sampled, m.aggregated, m.dropped])).toEqual([[4, 4, 0], [4, 4, 0], [4, 4, 0]]);
    expect(secure.history[0].trainLoss).toBeUndefined(); // per-client losses are not sent with secure aggregation
    let maxDiff = 0;
    for (const name of ['w', 'b']) for (let i = 0; i < plain.weights[name].length; i++) maxDiff = Math.max(maxDiff, Math.abs(plain.weights[name][i] - secure.weights[name][i]));
    expect(maxDiff).toBeGreaterThan(0); // fixed point really was used
    expect(maxDiff).toBeLessThan(1e-3);
  });

  it('tolerates a client that drops out before sending anything', { timeout: 30_000 }, async () => {
    const secure = await train('secagg', [2]);
    // The silent client stays connected, so it is sampled and lost again every round.
    expect(secure.history.map((m) => [m.sampled, m.aggregated, m.dropped, m.updated])).toEqual([
      [4, 3, 1, true],
      [4, 3, 1, true],
      [4, 3, 1, true],
    ]);
  });

  it('refuses robust strategies and a config of the wrong length', async () => {
    const { server, model } = await startFederation({ clients: 1 });
    const base = { server, initialWeights: model.initialWeights(), rounds: 1, aggregation: 'secagg' as const, secagg: config };
    await expect(runCoordinator({ ...base, strategy: fedMedian() })).rejects.toMatchObject({ field: 'strategy' });
    await expect(runCoordinator({ ...base, strategy: fedAvg(), secagg: { ...config, length: 3 } })).rejects.toMatchObject({ field: 'secagg.length' });
    await server.close();
  });
});
