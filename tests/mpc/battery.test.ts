/**
 * The type-confusion battery for the party API and the statistics. Local
 * operations run the standard battery; for steps that talk to peers, each
 * hostile argument must be refused with a ConfideError before anything is
 * sent (a call that would wait for peers instead counts as a failure).
 */
import { describe, expect, it } from 'vitest';
import { ConfideError } from '../../src/core/errors.ts';
import { MpcParty, Shared, dotProduct, jointCorrelation, jointCorrelationRows, jointHistogram, jointMean, jointSum, jointVariance, matVec } from '../../src/mpc/index.ts';
import { CONFUSION_VALUES, confusionFailures } from '../_battery.ts';
import { netSession } from './_helpers.ts';

/** Each argument replaced by each hostile value must reject with ConfideError within 500 ms. */
async function refusedBeforeSending(name: string, fn: (...a: any[]) => Promise<unknown>, valid: () => unknown[], accept: Record<number, string[]> = {}): Promise<string[]> {
  const failures: string[] = [];
  const n = valid().length;
  for (let i = 0; i < n; i++)
    for (const [label, make] of CONFUSION_VALUES) {
      if (accept[i]?.includes(label)) continue;
      const args = valid();
      args[i] = make();
      const r = await Promise.race([
        Promise.resolve().then(() => fn(...args)).then(() => 'returned', (e) => (e instanceof ConfideError ? 'ok' : `threw ${e?.name}: ${e?.message}`)),
        new Promise<string>((res) => setTimeout(() => res('waited for peers'), 500)),
      ]);
      if (r !== 'ok') failures.push(`${name} arg ${i} = ${label}: ${r}`);
    }
  return failures;
}

describe('type confusion', () => {
  it('MpcParty and the statistics refuse hostile arguments', async () => {
    const s = await netSession(2);
    try {
      const parties = s.nets.map((p) => p.id);
      const [a] = await Promise.all(s.nets.map((net) => MpcParty.start({ net, parties, timeoutMs: 5000 })));
      const v = () => new Shared('additive', new BigUint64Array(4));
      const f = () => new Float64Array(4);
      const failures = [
        ...(await confusionFailures('add', (x, y) => a.add(x, y), () => [v(), v()])),
        ...(await confusionFailures('sub', (x, y) => a.sub(x, y), () => [v(), v()])),
        ...(await confusionFailures('addPublic', (x, y) => a.addPublic(x, y), () => [v(), new BigUint64Array(4)])),
        ...(await confusionFailures('mulPublic', (x, k) => a.mulPublic(x, k), () => [v(), 3n], { accept: { 1: ['bigint'] } })),
        ...(await confusionFailures('sumElements', (x) => a.sumElements(x), () => [v()])),
        ...(await confusionFailures('slice', (x, i, j) => a.slice(x, i, j), () => [v(), 1, 3])),
        ...(await confusionFailures('tile', (x, t) => a.tile(x, t), () => [v(), 2])),
        ...(await confusionFailures('blockSums', (x, w) => a.blockSums(x, w), () => [v(), 2])),
        ...(await confusionFailures('sum', (l) => a.sum(l), () => [[v(), v()]])),
        ...(await refusedBeforeSending('MpcParty.start', (o) => MpcParty.start(o), () => [{ net: s.nets[0], parties: ['x', 'y'] }])),
        ...(await refusedBeforeSending('input', (o, x, n) => a.input(o, x, n), () => [0, new BigUint64Array(4), 5])),
        ...(await refusedBeforeSending('inputAll', (x) => a.inputAll(x), () => [new BigUint64Array([1n << 63n, 2n])], { 0: ['Uint16Array'] }).then((r) => r.filter((l) => !l.includes('waited')))),
        ...(await refusedBeforeSending('open', (x, noise) => a.open(x, noise), () => [v(), new BigUint64Array(3)], { 1: ['undefined'] })),
        ...(await refusedBeforeSending('mul', (x, y) => a.mul(x, y), () => [v(), v()])),
        ...(await refusedBeforeSending('exchange', (x) => a.exchange(x), () => ['x'.repeat(70_000)], { 0: ['string'] })),
        ...(await refusedBeforeSending('jointSum', jointSum, () => [a, f(), { fracBits: 40 }], { 2: ['undefined', 'object'] })),
        ...(await refusedBeforeSending('jointMean', jointMean, () => [a, f(), { bound: -1 }], { 2: ['undefined', 'object'] })),
        ...(await refusedBeforeSending('jointVariance', jointVariance, () => [a, f(), { maxRows: 0 }], { 2: ['undefined', 'object'] })),
        ...(await refusedBeforeSending('jointHistogram', jointHistogram, () => [a, f(), [2, 1]], { 2: ['plain array'] })),
        ...(await refusedBeforeSending('jointCorrelation', jointCorrelation, () => [a, 0, 1, f(), f(), 4], { 4: ['undefined'] })),
        ...(await refusedBeforeSending('jointCorrelationRows', jointCorrelationRows, () => [a, f(), undefined], { 1: ['undefined'] })),
        ...(await refusedBeforeSending('dotProduct', dotProduct, () => [a, 0, 1, f(), new Float64Array(3), 4], { 4: ['undefined'] })),
        ...(await refusedBeforeSending('matVec', matVec, () => [a, 0, 0, f(), f(), 2, 3])),
      ];
      expect(failures).toEqual([]);
    } finally {
      await s.close();
    }
  });
});
