import { describe, expect, it } from 'vitest';
import { ConfideError } from '../../src/core/index.ts';
import { identityFromSeed, join } from '../../src/net/index.ts';
import { PrivacyLedger } from '../../src/dp/index.ts';
import { DpFedAvg, LogisticRegression, fedAvg, fedProx, runCoordinator, type RoundMetrics, type Strategy } from '../../src/fl/index.ts';
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

describe('plain rounds sum the updates as they arrive (streaming)', () => {
  /**
   * Eight raw parties answer the fit instruction at staggered times, in the
   * reverse of the sample's (sorted) order: four honest ones (coordinate 0
   * carries values whose float64 sum depends on the order of addition), one
   * silent, one after the deadline, one with a NaN, one whose weights minus
   * the global model overflow float32. The model must equal, bit for bit,
   * FedAvg over the four honest updates in sorted order, as before streaming.
   */
  async function round(strategy: Strategy) {
    const { memoryTransport, serve } = await import('../../src/net/index.ts');
    const transport = memoryTransport();
    const ids = Array.from({ length: 8 }, (_, i) => identityFromSeed(new Uint8Array(32).fill(40 + i)));
    const drops: string[] = [];
    const server = await serve({ transport, identity: identityFromSeed(new Uint8Array(32).fill(201)), allow: ids.map((x) => x.id), on: (e) => void (e.type === 'drop' && drops.push(e.reason)) });
    const sorted = ids.map((x) => x.id).sort();
    const rank = (id: string) => sorted.indexOf(id);
    const global = { w: Float32Array.of(0, -3e38, 0.25) };
    // By rank in the sample: 0-3 honest (Δ of 2^-51, 2^-51, 2^-22, 4 at coordinate 0; the smallest first in the
    // sample's order, so adding them as they arrive, largest first, would give other bits), 4 silent, 5 late, 6 NaN, 7 overflow.
    const TIE = [2 ** -51, 2 ** -51, 2 ** -22, 4];
    const honest = (k: number) => Float32Array.of(TIE[k], k + 1, (k - 1.5) / 1024);
    const parties = await Promise.all(ids.map((identity) => join({ transport, address: server.address, identity, serverId: server.id })));
    const late = new Promise<void>((resolve) => {
      for (const party of parties) {
        const k = rank(party.id);
        void (async () => {
          const m = await party.receive(0, { from: server.id, timeoutMs: 10_000 });
          if (m.header.kind !== 'fit' || k === 4) return;
          // Reverse order: rank 0 (first in the sample) answers last among the honest.
          await new Promise((r) => setTimeout(r, k === 5 ? 900 : 40 * (4 - Math.min(k, 4))));
          const w = k < 4 ? honest(k) : k === 6 ? Float32Array.of(NaN, 0, 0) : k === 7 ? Float32Array.of(0, 3e38, 0) : Float32Array.of(1, 1, 1);
          await party.send(server.id, 1, { header: { kind: 'fit-result', round: 1, names: 'w', examples: 1, delta: k !== 7 }, payloads: [w] });
          if (k === 5) resolve();
        })().catch(() => {});
      }
    });
    await server.waitForParties(8, { timeoutMs: 5_000 });
    const res = await runCoordinator({ server, initialWeights: global, strategy, rounds: 1, minClients: 8, roundDeadlineMs: 600, evaluateEvery: 0, seed: 1 });
    await late;
    await new Promise((r) => setTimeout(r, 20));
    await Promise.all(parties.map((p) => p.close()));
    await server.close();
    return { res, drops, expected: fedAvg().aggregate(global, [0, 1, 2, 3].map((k) => ({ delta: { w: honest(k) }, examples: 1 }))), reversed: fedAvg().aggregate(global, [3, 2, 1, 0].map((k) => ({ delta: { w: honest(k) }, examples: 1 }))) };
  }

  it('gives the model of FedAvg over the on-time, finite updates in sorted order, bit for bit, with dropouts, a late and two bad updates', async () => {
    const { res, drops, expected, reversed } = await round(fedAvg());
    // Arrival order would have given other bits: the test can tell.
    expect(Array.from(reversed.w)).not.toEqual(Array.from(expected.w));
    expect(Array.from(res.weights.w)).toEqual(Array.from(expected.w));
    expect(res.history.map((m) => [m.sampled, m.aggregated, m.dropped, m.updated])).toEqual([[8, 4, 4, true]]);
    expect(drops.filter((d) => d.startsWith('fl:')).sort()).toEqual(['fl: "tensors.w[0]" expected a finite number, got NaN', 'fl: the update (weights − global) of "tensors.w[1]" overflows float32']);
  });

  it('a strategy without aggregateSum gets the same model from the updates after the deadline', async () => {
    const inner = fedAvg();
    const batch: Strategy = { name: 'fedavg', get rounds() { return inner.rounds; }, fitConfig: () => ({}), toJSON: () => inner.toJSON(), aggregate: (g, u) => inner.aggregate(g, u) };
    const { res, drops, expected } = await round(batch);
    expect(Array.from(res.weights.w)).toEqual(Array.from(expected.w));
    expect(res.history.map((m) => [m.sampled, m.aggregated, m.dropped, m.updated])).toEqual([[8, 4, 4, true]]);
    expect(drops.filter((d) => d.startsWith('fl:')).sort()).toEqual(['fl: "tensors.w[0]" expected a finite number, got NaN', 'fl: the update (weights − global) overflows float32']);
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
