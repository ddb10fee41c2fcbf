/**
 * The audit API: argument checks (the type-confusion battery and the bad
 * inputs named in the issue), determinism under a seeded generator, the
 * shapes of its results, and the coverage of its lower bound.
 */
import { describe, expect, it } from 'vitest';
import { seededRng, type Rng } from '../../../src/core/random.ts';
import { discreteLaplaceMechanism, randomizedResponse } from '../../../src/dp/index.ts';
import { auditMechanism, clopperPearson, statDpTest } from '../../../src/dp/audit/index.ts';
import { confusionFailures, thrown } from '../../_battery.ts';

const dlap = (x: number, rng: Rng) => discreteLaplaceMechanism(x, { epsilon: 1, sensitivity: 1, rng }).value;

describe('type-confusion battery', () => {
  it('auditMechanism: positional arguments', async () => {
    expect(await confusionFailures('auditMechanism', auditMechanism, () => [dlap, [0, 1], { claimedEpsilon: 1, samples: 200, rng: seededRng(1) }])).toEqual([]);
  });

  it('auditMechanism: every option', async () => {
    const f = (claimedEpsilon: unknown, samples: unknown, confidence: unknown, delta: unknown, rng: unknown, test: unknown) =>
      auditMechanism(dlap, [0, 1], { claimedEpsilon, samples, confidence, delta, rng, test } as never);
    const failures = await confusionFailures('auditMechanism options', f, () => [1, 200, 0.9, 0, seededRng(2), 'threshold'], {
      accept: {
        0: ['fraction', 'huge'],
        2: ['fraction', 'undefined'],
        3: ['-0', 'fraction', 'undefined'],
        4: ['undefined'],
        5: ['undefined'],
      },
    });
    expect(failures).toEqual([]);
  });

  it('statDpTest: positional arguments and options', async () => {
    expect(await confusionFailures('statDpTest', statDpTest, () => [dlap, [0, 1], { epsilon: 1, samples: 200, rng: seededRng(3) }])).toEqual([]);
    const f = (epsilon: unknown, samples: unknown, confidence: unknown, events: unknown, rng: unknown) =>
      statDpTest(dlap, [0, 1], { epsilon, samples, confidence, events, rng } as never);
    const failures = await confusionFailures('statDpTest options', f, () => [1, 200, 0.9, [{ kind: 'threshold', threshold: 1, side: 'above' }], seededRng(4)], {
      accept: { 0: ['fraction', 'huge'], 2: ['fraction', 'undefined'], 3: ['undefined'], 4: ['undefined'] },
    });
    expect(failures).toEqual([]);
  });

  it('clopperPearson', async () => {
    expect(await confusionFailures('clopperPearson', clopperPearson, () => [3, 10, 0.95], {
      accept: { 2: ['fraction', 'undefined'] },
    })).toEqual([]);
  });
});

describe('bad inputs are E_BAD_INPUT', () => {
  const base = { claimedEpsilon: 1, samples: 200, rng: seededRng(5) };
  it.each([
    ['samples < 100', { samples: 99 }, 'samples'],
    ['samples not an integer', { samples: 150.5 }, 'samples'],
    ['claimedEpsilon = 0', { claimedEpsilon: 0 }, 'claimedEpsilon'],
    ['claimedEpsilon < 0', { claimedEpsilon: -1 }, 'claimedEpsilon'],
    ['confidence = 0', { confidence: 0 }, 'confidence'],
    ['confidence = 1', { confidence: 1 }, 'confidence'],
    ['confidence > 1', { confidence: 1.5 }, 'confidence'],
    ['delta = 1', { delta: 1 }, 'delta'],
    ['delta < 0', { delta: -0.1 }, 'delta'],
    ['unknown test', { test: 'roc' }, 'test'],
    ['misspelt option', { epsilon: 1 }, 'options.epsilon'],
  ])('%s', (_, patch, field) => {
    const e = thrown(() => auditMechanism(dlap, [0, 1], { ...base, ...patch } as never));
    expect(e.code).toBe('E_BAD_INPUT');
    expect(e.field).toBe(field);
  });

  it('statDpTest: samples, epsilon, confidence, events', () => {
    for (const [patch, field] of [
      [{ samples: 99 }, 'samples'],
      [{ epsilon: 0 }, 'epsilon'],
      [{ confidence: 1 }, 'confidence'],
      [{ events: [] }, 'events'],
      [{ events: [{ kind: 'threshold', threshold: NaN, side: 'above' }] }, 'events[0]'],
      [{ events: [{ kind: 'set', outcomes: [{}] }] }, 'events[0]'],
    ] as const) {
      const options: Record<string, unknown> = { epsilon: 1, samples: 200, rng: seededRng(6), ...(patch as object) };
      const e = thrown(() => statDpTest(dlap, [0, 1], options as never));
      expect(e.code).toBe('E_BAD_INPUT');
      expect(e.field).toBe(field);
    }
  });

  it('outputs that are not scalars, or that change type, are refused with a hint to project', () => {
    const vec = thrown(() => auditMechanism(() => [1, 2], [0, 1], base));
    expect(vec.code).toBe('E_BAD_INPUT');
    expect(vec.field).toBe('mechanism');
    expect(vec.message).toMatch(/project/);
    let i = 0;
    expect(thrown(() => auditMechanism(() => (i++ % 2 ? 1 : true), [0, 1], base)).field).toBe('mechanism');
    expect(thrown(() => auditMechanism(() => NaN, [0, 1], base)).field).toBe('mechanism');
    expect(thrown(() => auditMechanism((_x: number, rng) => rng.nextU32(), [0, 1], { ...base, samples: 1000, test: 'set' })).field).toBe('test');
  });
});

describe('results', () => {
  it('are deterministic given a seeded rng', () => {
    const a = auditMechanism(dlap, [0, 1], { claimedEpsilon: 1, samples: 2000, rng: seededRng(7) });
    const b = auditMechanism(dlap, [0, 1], { claimedEpsilon: 1, samples: 2000, rng: seededRng(7) });
    expect(a).toEqual(b);
    const s = statDpTest(dlap, [0, 1], { epsilon: 1, samples: 2000, rng: seededRng(8) });
    expect(statDpTest(dlap, [0, 1], { epsilon: 1, samples: 2000, rng: seededRng(8) })).toEqual(s);
  });

  it('report a consistent test, counts and interval', () => {
    const r = auditMechanism(dlap, [0, 1], { claimedEpsilon: 1, samples: 4000, rng: seededRng(9), test: 'threshold' });
    expect(r.test.event.kind).toBe('threshold');
    expect(r.counts.trials).toBe(2000);
    expect(r.confidenceInterval[0]).toBe(r.epsilonLowerBound);
    expect(r.confidenceInterval[1]).toBeGreaterThanOrEqual(r.epsilonLowerBound);
    const [num, den] = r.test.numerator === 0 ? [r.counts.input0, r.counts.input1] : [r.counts.input1, r.counts.input0];
    expect(num).toBeGreaterThanOrEqual(den);
    expect(r.probabilityIntervals[0]).toEqual(clopperPearson(r.counts.input0, 2000, 0.95));
    expect(r.test.description).toMatch(/output (>=|<) /);
  });

  it('accept a Release as the output (read through its value)', () => {
    const r = auditMechanism((x: boolean, rng) => randomizedResponse(x, { epsilon: 1, rng }), [false, true], { claimedEpsilon: 1, samples: 2000, rng: seededRng(10) });
    expect(r.test.event.kind).toBe('set');
    expect(r.passed).toBe(true);
  });

  it('a mechanism that ignores its input shows nothing: bound 0, passes, p-value not small', () => {
    const r = auditMechanism((_x: number, rng) => rng.uniformInt(3), [0, 1], { claimedEpsilon: 0.01, samples: 4000, rng: seededRng(11) });
    expect(r.epsilonLowerBound).toBeLessThan(0.01);
    expect(r.passed).toBe(true);
    const c = auditMechanism(() => 7, [0, 1], { claimedEpsilon: 0.01, samples: 200, rng: seededRng(12) });
    expect(c.epsilonLowerBound).toBe(0);
    expect(statDpTest((_x: number, rng) => rng.uniformInt(3), [0, 1], { epsilon: 0.01, samples: 4000, rng: seededRng(13) }).rejected).toBe(false);
  });

  it('a deterministic, non-private mechanism gets the bound that n samples allow: ln((α/2)^{1/n} / (1 − (α/2)^{1/n}))', () => {
    const r = auditMechanism((x: number) => x, [0, 1], { claimedEpsilon: 1, samples: 2000, rng: seededRng(14) });
    const n = 1000, a2 = 0.025;
    expect(r.epsilonLowerBound).toBeCloseTo(Math.log(a2 ** (1 / n) / (1 - a2 ** (1 / n))), 9);
    expect(r.passed).toBe(false);
  });
});

describe('coverage of the lower bound', () => {
  it('over 200 seeded audits of randomized response at its exact ε, the bound exceeds ε at most as often as 1 − confidence allows', () => {
    // P[bound > ε] <= 0.05 by construction (Clopper–Pearson is conservative, so far less in practice).
    // Allow the 1e-4 binomial tail of Bin(200, 0.05): 23.
    let over = 0;
    for (let s = 0; s < 200; s++) {
      const r = auditMechanism((x: boolean, rng) => randomizedResponse(x, { epsilon: 1, rng }).value, [false, true], { claimedEpsilon: 1, samples: 2000, rng: seededRng(1000 + s) });
      if (r.epsilonLowerBound > 1) over++;
    }
    console.log(`coverage: ${over}/200 bounds above the true ε`);
    expect(over).toBeLessThanOrEqual(23);
  });
});
