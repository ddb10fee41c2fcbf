import { describe, expect, it } from 'vitest';
import { ConfideError } from '../../src/core/index.ts';
import { identityFromSeed, join } from '../../src/net/index.ts';
import { PrivacyLedger } from '../../src/dp/index.ts';
import { DpFedAvg, LogisticRegression, fedAvg, fedProx, runCoordinator, type RoundMetrics } from '../../src/fl/index.ts';
import { clientData, FEATURES, startFederation } from './_federation.ts';

describe('runCoordinator over the in-memory runtime', () => {
  it('trains non-IID clients with sampling and evaluation rounds to the accuracy of centralised training', async () => {
    const { server, clients, model } = await startFederation({ clients: 6 });
    const history: RoundMetrics[] = [];
    const res = await runCoordinator({
      server, initialWeights: model.initialWeights(), strategy: fedAvg(), rounds: 8,
      minClients: 3, minAvailable: 6, fraction: 0.5, roundDeadlineMs: 5_000, evaluateEvery: 4, seed: 1,
      onRound: (m) => history.push(m),
    });
    const summaries = await Promise.all(clients);
    await server.close();
    expect(history.map((m) => m.round)).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    expect(history.every((m) => m.sampled === 3 && m.aggregated === 3 && m.dropped === 0 && m.available === 6)).toBe(true);
    expect(history.filter((m) => m.evaluation).map((m) => m.round)).toEqual([4, 8]);
    expect(history[7].evaluation!.examples).toBe(6 * 40);
    // Centralised training on the union of the clients' data, same model and epochs budget.
    const all = Array.from({ length: 6 }, (_, i) => clientData(i));
    const central = new LogisticRegression({ features: FEATURES });
    const fit = central.fit(central.initialWeights(), all.flatMap((d) => d.train), { epochs: 8, learningRate: 0.5, rng: (await import('../../src/core/index.ts')).seededRng(2) });
    const centralAcc = central.evaluate(fit.weights, all.flatMap((d) => d.test)).accuracy;
    expect(history[7].evaluation!.accuracy).toBeGreaterThan(centralAcc - 0.05);
    expect(summaries.every((s) => typeof s === 'object' && (s as { reason: string }).reason === 'completed')).toBe(true);
    expect(res.startedAt).toBe(1);
    expect(history[0].trainLoss).toBeGreaterThan(history[7].trainLoss!);
  });

  it('tolerates a silent client (deadline) and drops one that sends malformed tensors; sends FedProx μ', async () => {
    const rogue = identityFromSeed(new Uint8Array(32).fill(99));
    const { server, model, transport } = await startFederation({ clients: 3, silent: [1], allowExtra: [rogue.id] });
    // A fourth, raw party that answers the fit instruction with a tensor of the wrong length.
    const party = await join({ transport, address: server.address, identity: rogue, serverId: server.id });
    const seen: unknown[] = [];
    void (async () => {
      const m = await party.receive(0, { from: server.id, timeoutMs: 10_000 });
      seen.push(JSON.parse(m.header.config as string));
      await party.send(server.id, 1, { header: { kind: 'fit-result', round: 1, names: 'w\nb', examples: 5, delta: true }, payloads: [new Float32Array(3), new Float32Array(1)] });
    })().catch(() => {});
    await server.waitForParties(4, { timeoutMs: 5_000 });
    const res = await runCoordinator({ server, initialWeights: model.initialWeights(), strategy: fedProx({ mu: 0.1 }), rounds: 2, minClients: 3, roundDeadlineMs: 500, evaluateEvery: 0, seed: 2 });
    await party.close();
    await server.close();
    expect(seen).toEqual([{ proximalMu: 0.1 }]);
    // Round 1: four sampled, the silent one misses the deadline, the rogue is dropped. Round 2: three left in the session.
    expect(res.history.map((m) => [m.sampled, m.aggregated, m.dropped])).toEqual([[4, 2, 2], [3, 2, 1]]);
    expect(res.history.every((m) => m.updated)).toBe(true);
  });

  it('DP-FedAvg: records every round in the ledger and stops with E_BUDGET_EXCEEDED before overspending', async () => {
    const { server, model } = await startFederation({ clients: 4 });
    const ledger = PrivacyLedger.open(':memory:');
    ledger.setBudget('mail', { epsilon: 6, delta: 1e-5 }, { method: 'rdp', principal: 'officer' });
    const history: RoundMetrics[] = [];
    const run = runCoordinator({
      server, initialWeights: model.initialWeights(), strategy: new DpFedAvg({ noiseMultiplier: 2, clipNorm: 1, expectedClients: 4, adaptive: { countStddev: 2 } }), rounds: 50,
      minClients: 4, roundDeadlineMs: 5_000, evaluateEvery: 0, seed: 3, dp: { ledger, dataset: 'mail', principal: 'coordinator' }, onRound: (m) => history.push(m),
    });
    await expect(run).rejects.toMatchObject({ code: 'E_BUDGET_EXCEEDED' });
    await server.close();
    expect(history.length).toBeGreaterThan(1);
    expect(history.length).toBeLessThan(50);
    expect(ledger.odometer('mail').releases).toBe(history.length);
    expect(history.at(-1)!.privacy!.spent).toBeLessThanOrEqual(6);
    expect(history[0].privacy!.clipNorm).toBe(1);
  });
});

describe('input checks', () => {
  it('runCoordinator and runClient pass the type-confusion battery', async () => {
    const { confusionFailures } = await import('../_battery.ts');
    const { runClient } = await import('../../src/fl/index.ts');
    const { server, model, clients } = await startFederation({ clients: 1 });
    const valid = () => [{ server, initialWeights: model.initialWeights(), strategy: fedAvg(), rounds: 1, roundDeadlineMs: 5_000, evaluateEvery: 0 }];
    const failures = await confusionFailures('runCoordinator', runCoordinator, valid);
    await Promise.all(clients);
    await server.close();
    expect(failures).toEqual([]);
    // runClient's valid call needs a coordinator (exercised above); every confused options value is refused up front.
    const { CONFUSION_VALUES } = await import('../_battery.ts');
    for (const [label, make] of CONFUSION_VALUES) await expect(runClient(make() as never), label).rejects.toBeInstanceOf(ConfideError);
    await expect(runClient({ fit: 1 } as never)).rejects.toMatchObject({ field: 'fit' });
  });
});
