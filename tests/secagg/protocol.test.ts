/**
 * The protocol in memory: real net parties and server on the in-memory
 * transport, 50 clients with vectors of 10^4, dropouts at every step, exact
 * sums; the threshold, overflow and weight rules; several rounds per session.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { isConfideError } from '../../src/core/errors.ts';
import { PHASES, hararyGraph, type Phase, type SecAggConfig } from '../../src/secagg/index.ts';
import { expectedSum, inputs, network, runRound, type Net } from './_helpers.ts';

let net: Net | undefined;
afterEach(async () => {
  await net?.close();
  net = undefined;
});

const N = 50;
const L = 10_000;

/** Two clients leave before each step: 10 dropouts in all. */
function dropsAtEveryStep(n: number): (Phase | undefined)[] {
  const drops: (Phase | undefined)[] = new Array(n).fill(undefined);
  PHASES.forEach((p, k) => {
    drops[3 * k + 1] = p;
    drops[3 * k + 2] = p;
  });
  return drops;
}

describe('secure aggregation in memory', () => {
  it('50 clients, 10^4 coordinates, complete graph, dropouts before every step: the exact sum of the survivors', async () => {
    net = await network(N);
    const config: SecAggConfig = { length: L, bits: 32, fracBits: 4, bound: 1000, threshold: 26, graph: 'complete' };
    const xs = inputs(N, L, 7);
    const drops = dropsAtEveryStep(N);
    const r = await runRound(net, config, xs, { drops });
    expect(r.error).toBeUndefined();
    // Clients that left before the masked input are out of the sum; those that left later are in it.
    const inSum = (i: number) => drops[i] === undefined || drops[i] === 'consistency' || drops[i] === 'unmask';
    expect(Array.from(r.result!.values)).toEqual(Array.from(expectedSum(xs, inSum)));
    expect(r.result!.survivors).toHaveLength(N - 6);
    expect(r.result!.weight).toBe(N - 6);
    for (const p of PHASES) expect(r.result!.dropped[p]).toHaveLength(2);
    expect(r.clients.filter((c) => 'status' in c && c.status === 'done')).toHaveLength(N - 10);
  });

  it('the SecAgg+ Harary graph gives the same exact sum with dropouts', async () => {
    net = await network(N);
    const config: SecAggConfig = { length: 2000, bits: 64, fracBits: 10, bound: 1000, threshold: 8, graph: { degree: 16 } };
    const xs = inputs(N, 2000, 8);
    const drops = dropsAtEveryStep(N);
    const r = await runRound(net, config, xs, { drops });
    expect(r.error).toBeUndefined();
    const inSum = (i: number) => drops[i] === undefined || drops[i] === 'consistency' || drops[i] === 'unmask';
    expect(Array.from(r.result!.values)).toEqual(Array.from(expectedSum(xs, inSum)));
    expect(r.result!.sum).toBeInstanceOf(BigUint64Array);
  });

  it('weighted aggregation carries the weight as an extra coordinate', async () => {
    net = await network(8);
    const config: SecAggConfig = { length: 50, bits: 64, fracBits: 8, bound: 1e6, threshold: 5, graph: 'complete', maxWeight: 10 };
    const xs = inputs(8, 50, 9);
    const weights = [1, 2, 3, 4, 5, 6, 7, 8];
    const r = await runRound(net, config, xs, { weights, drops: [undefined, 'masked'] });
    expect(r.error).toBeUndefined();
    const keep = (i: number) => i !== 1;
    expect(Array.from(r.result!.values)).toEqual(Array.from(expectedSum(xs, keep, weights)));
    expect(r.result!.weight).toBe(36 - 2);
  });

  it('runs several rounds in one session with fresh keys and masks', async () => {
    net = await network(6);
    const config: SecAggConfig = { length: 64, bits: 32, fracBits: 0, bound: 1000, threshold: 4, graph: 'complete' };
    for (const round of [0, 1, 5]) {
      const xs = inputs(6, 64, 100 + round);
      const r = await runRound(net, config, xs, { round });
      expect(r.error).toBeUndefined();
      expect(Array.from(r.result!.values)).toEqual(Array.from(expectedSum(xs, () => true)));
    }
  });

  for (const step of PHASES) {
    it(`below the threshold before ${step}, the round fails with E_PROTOCOL and nothing is unmasked`, async () => {
      net = await network(6);
      const config: SecAggConfig = { length: 32, bits: 32, fracBits: 0, bound: 100, threshold: 4, graph: 'complete' };
      const drops: (Phase | undefined)[] = [step, step, step, undefined, undefined, undefined];
      const r = await runRound(net, config, inputs(6, 32, 3), { drops });
      expect(isConfideError(r.error, 'E_PROTOCOL')).toBe(true);
      expect(r.result).toBeUndefined();
      // Every client still in the round got the abort (or a too-small set) and failed with E_PROTOCOL;
      // none but the dropouts got past: at most the survivors' shares went out, fewer than t per secret.
      for (let i = 3; i < 6; i++) {
        const c = r.clients[i];
        if (step === 'unmask') continue; // the last step: the clients answered, the server could not reconstruct
        expect('error' in c && isConfideError(c.error, 'E_PROTOCOL')).toBe(true);
      }
    });
  }

  it('a client whose neighbourhood falls below t is pruned and told at once; the rest still sum exactly', async () => {
    net = await network(16);
    const config: SecAggConfig = { length: 100, bits: 32, fracBits: 0, bound: 1000, threshold: 3, graph: { degree: 4 } };
    const seed = new Uint8Array(32).fill(11);
    const sorted = net.identities.map((i) => i.id).sort();
    const g = hararyGraph(16, 4, seed);
    const victim = net.identities.findIndex((i) => i.id === sorted[0]);
    // Three of the victim's four neighbours leave before advertising keys: it keeps 2 holders < t = 3.
    const gone = g.neighbours(0).slice(0, 3).map((j) => net!.identities.findIndex((i) => i.id === sorted[j]));
    const drops: (Phase | undefined)[] = new Array(16).fill(undefined);
    for (const i of gone) drops[i] = 'advertise';
    const xs = inputs(16, 100, 12);
    const r = await runRound(net, config, xs, { drops, server: { graphSeed: seed } });
    const v = r.clients[victim];
    expect('error' in v && isConfideError(v.error, 'E_PROTOCOL') && /excluded/.test((v.error as Error).message)).toBe(true);
    if (r.error === undefined) {
      const out = new Set(r.result!.dropped.advertise);
      expect(out.has(sorted[0])).toBe(true);
      const inSum = new Set(r.result!.survivors);
      expect(Array.from(r.result!.values)).toEqual(Array.from(expectedSum(xs, (i) => inSum.has(net!.identities[i].id))));
    } else expect(isConfideError(r.error, 'E_PROTOCOL')).toBe(true);
  });

  it('checks the overflow bound before the first message', async () => {
    net = await network(4);
    const config: SecAggConfig = { length: 8, bits: 32, fracBits: 16, bound: 20_000, threshold: 3, graph: 'complete' };
    const r = await runRound(net, config, inputs(4, 8, 1, 10));
    expect(isConfideError(r.error, 'E_OVERFLOW')).toBe(true);
    // The clients hear of it at once and refuse too.
    for (const c of r.clients) expect('error' in c && isConfideError(c.error, 'E_PROTOCOL')).toBe(true);
  });
});
