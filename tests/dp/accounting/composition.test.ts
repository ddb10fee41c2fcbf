/**
 * Basic and advanced composition and the (ε, δ) of event trees: formulas by
 * hand, agreement with the mechanisms' own guarantees (randomized response
 * in randomized_response.ts), amplification by subsampling, extremes,
 * refusals, and the type-confusion battery.
 */
import { describe as group, expect, it } from 'vitest';
import {
  advancedComposition,
  basicComposition,
  epsilonDeltaOf,
} from '../../../src/dp/accounting/composition.ts';
import type { PrivacyEvent } from '../../../src/dp/accounting/events.ts';
import { kRandomizedResponse, randomizedResponse } from '../../../src/dp/randomized_response.ts';
import { rdpEpsilon } from '../../../src/dp/accounting/rdp.ts';
import { ConfideError } from '../../../src/core/errors.ts';
import { seededRng } from '../../../src/core/random.ts';
import { confusionFailures, thrown } from '../../_battery.ts';


const close = (got: number, want: number, rtol: number) => expect(Math.abs(got - want)).toBeLessThanOrEqual(rtol * Math.abs(want));

group('basic composition', () => {
  it('adds epsilons and deltas, caps delta at 1, and the empty list is free', () => {
    expect(basicComposition([{ epsilon: 0.5, delta: 1e-6 }, { epsilon: 1, delta: 0 }, { epsilon: 0.25, delta: 2e-6 }])).toEqual({
      epsilon: 1.75,
      delta: 3e-6,
    });
    expect(basicComposition([])).toEqual({ epsilon: 0, delta: 0 });
    expect(basicComposition([{ epsilon: 1, delta: 0.7 }, { epsilon: 1, delta: 0.7 }]).delta).toBe(1);
  });

  it('an epsilon beyond the double range is an E_OVERFLOW; bad entries name their index', () => {
    expect(thrown(() => basicComposition([{ epsilon: 1e308, delta: 0 }, { epsilon: 1e308, delta: 0 }])).code).toBe('E_OVERFLOW');
    const err = thrown(() => basicComposition([{ epsilon: 1, delta: 0 }, { epsilon: 1, delta: 2 }]));
    expect(err.code).toBe('E_BAD_INPUT');
    expect(err.field).toBe('guarantees[1].delta');
    expect(thrown(() => basicComposition([{ epsilon: 1, delta: 0, rho: 1 } as never])).field).toBe('guarantees[0].rho');
  });
});

group('advanced composition (Dwork, Rothblum and Vadhan 2010)', () => {
  it('is sqrt(2k ln(1/δ′))·ε + kε(e^ε − 1) with delta kδ + δ′', () => {
    const r = advancedComposition({ epsilon: 0.1, delta: 1e-7 }, 100, 1e-5);
    close(r.epsilon, Math.sqrt(200 * Math.log(1e5)) * 0.1 + 100 * 0.1 * Math.expm1(0.1), 1e-15);
    close(r.delta, 100 * 1e-7 + 1e-5, 1e-15);
    // 0.1 × 10,000: advanced 10.3 against basic 1000
    const many = advancedComposition({ epsilon: 0.01, delta: 0 }, 10000, 1e-6);
    expect(many.epsilon).toBeLessThan(7);
    expect(many.epsilon).toBeGreaterThan(Math.sqrt(20000 * Math.log(1e6)) * 0.01);
  });

  it('never worse than basic composition, and robust at huge epsilon and k', () => {
    expect(advancedComposition({ epsilon: 2, delta: 0 }, 2, 1e-5).epsilon).toBe(4);
    expect(advancedComposition({ epsilon: 1e3, delta: 0 }, 10, 1e-5)).toEqual({ epsilon: 1e4, delta: 1e-5 });
    const big = advancedComposition({ epsilon: 1e-6, delta: 1e-12 }, 1e9, 1e-10);
    close(big.epsilon, Math.sqrt(2e9 * Math.log(1e10)) * 1e-6 + 1e9 * 1e-6 * Math.expm1(1e-6), 1e-12);
    close(big.delta, 1e9 * 1e-12 + 1e-10, 1e-12);
    expect(advancedComposition({ epsilon: 0, delta: 0.3 }, 5, 0.5).delta).toBe(1);
    expect(thrown(() => advancedComposition({ epsilon: 1e300, delta: 0 }, 1e9, 0.1)).code).toBe('E_OVERFLOW');
    expect(thrown(() => advancedComposition({ epsilon: 1, delta: 0 }, 3, 1)).code).toBe('E_BAD_INPUT');
    expect(thrown(() => advancedComposition({ epsilon: 1, delta: 0 }, 0, 0.1)).code).toBe('E_BAD_INPUT');
  });
});

group('the (epsilon, delta) of events', () => {
  it('mechanisms with a pure epsilon', () => {
    expect(epsilonDeltaOf({ type: 'laplace', b: 0.5 })).toEqual({ epsilon: 2, delta: 0 });
    expect(epsilonDeltaOf({ type: 'laplace', b: 3, sensitivity: 6 })).toEqual({ epsilon: 2, delta: 0 });
    expect(epsilonDeltaOf({ type: 'discrete-laplace', a: 0.25, sensitivity: 3 })).toEqual({ epsilon: 0.75, delta: 0 });
    expect(epsilonDeltaOf({ type: 'epsilon-delta', epsilon: 1 })).toEqual({ epsilon: 1, delta: 0 });
    expect(epsilonDeltaOf({ type: 'epsilon-delta', epsilon: 1, delta: 1e-9 })).toEqual({ epsilon: 1, delta: 1e-9 });
    expect(epsilonDeltaOf({ type: 'randomized-response', p: 1, k: 7 })).toEqual({ epsilon: 0, delta: 0 });
  });

  it('randomized response gives back the epsilon the mechanism was run with', () => {
    for (const epsilon of [0.1, 1, 3.5, 20]) {
      close(epsilonDeltaOf(randomizedResponse(true, { epsilon, rng: seededRng(1) }).event).epsilon, epsilon, 1e-12);
      close(epsilonDeltaOf(kRandomizedResponse(2, 5, { epsilon, rng: seededRng(2) }).event).epsilon, epsilon, 1e-12);
    }
  });

  it('compositions add; self-compositions multiply', () => {
    const laplaces: PrivacyEvent = { type: 'self-composed', count: 3, event: { type: 'laplace', b: 1 } };
    const tree: PrivacyEvent = {
      type: 'composed',
      events: [
        laplaces,
        { type: 'self-composed', count: 2, event: { type: 'laplace', b: 2 } },
        { type: 'epsilon-delta', epsilon: 0.5, delta: 1e-6 },
      ],
    };
    expect(epsilonDeltaOf(tree)).toEqual({ epsilon: 4.5, delta: 1e-6 });
    expect(epsilonDeltaOf({ type: 'composed', events: [] })).toEqual({ epsilon: 0, delta: 0 });
    expect(epsilonDeltaOf({ type: 'self-composed', count: 0, event: { type: 'laplace', b: 1e-300 } })).toEqual({ epsilon: 0, delta: 0 });
    expect(epsilonDeltaOf({ type: 'self-composed', count: 1e9, event: { type: 'epsilon-delta', epsilon: 1e-3, delta: 1e-12 } })).toEqual({
      epsilon: 1e6,
      delta: 1e-3,
    });
    // basic composition is never tighter than RDP for pure events (both valid; RDP uses the order ∞)
    const rdp = rdpEpsilon(laplaces, 0, [2, Infinity]).epsilon;
    expect(rdp).toBe(3);
  });

  it('subsampling amplifies: log(1 + q(e^ε − 1)), qδ (Balle, Barthe and Gaboardi 2018)', () => {
    const inner: PrivacyEvent = { type: 'epsilon-delta', epsilon: 1, delta: 1e-5 };
    const p = epsilonDeltaOf({ type: 'poisson-sampled', q: 0.1, event: inner });
    close(p.epsilon, Math.log(1 + 0.1 * (Math.E - 1)), 1e-15);
    close(p.delta, 1e-6, 1e-15);
    const w = epsilonDeltaOf({ type: 'sampled-without-replacement', n: 1000, m: 10, event: inner });
    close(w.epsilon, Math.log1p(0.01 * Math.expm1(1)), 1e-15);
    close(w.delta, 1e-7, 1e-15);
    // large epsilon: no overflow of e^ε
    close(epsilonDeltaOf({ type: 'poisson-sampled', q: 0.5, event: { type: 'epsilon-delta', epsilon: 1e3 } }).epsilon, 1e3 + Math.log(0.5), 1e-15);
    // tiny epsilon: no cancellation
    close(epsilonDeltaOf({ type: 'poisson-sampled', q: 0.01, event: { type: 'epsilon-delta', epsilon: 1e-12 } }).epsilon, 1e-14, 1e-9);
    expect(epsilonDeltaOf({ type: 'poisson-sampled', q: 0, event: { type: 'gaussian', sigma: 1 } })).toEqual({ epsilon: 0, delta: 0 });
    expect(epsilonDeltaOf({ type: 'poisson-sampled', q: 1, event: inner })).toEqual({ epsilon: 1, delta: 1e-5 });
  });

  it('events without a single (epsilon, delta) are E_UNSUPPORTED; overflow is E_OVERFLOW', () => {
    for (const e of [
      { type: 'gaussian', sigma: 1 },
      { type: 'discrete-gaussian', sigma: 1, sensitivity: 1 },
      { type: 'zcdp', rho: 0.1 },
      { type: 'composed', events: [{ type: 'laplace', b: 1 }, { type: 'poisson-sampled', q: 0.1, event: { type: 'gaussian', sigma: 1 } }] },
    ] as PrivacyEvent[]) {
      const err = thrown(() => epsilonDeltaOf(e));
      expect(err.code).toBe('E_UNSUPPORTED');
      expect(err.message).toMatch(/PLD, RDP or zCDP/);
    }
    expect(thrown(() => epsilonDeltaOf({ type: 'laplace', b: 1e-300, sensitivity: 1e10 })).code).toBe('E_OVERFLOW');
    expect(thrown(() => epsilonDeltaOf({ type: 'self-composed', count: 2 ** 53 - 1, event: { type: 'epsilon-delta', epsilon: 1e300 } })).code).toBe('E_OVERFLOW');
  });
});

group('argument checks', () => {
  it('every public function passes the type-confusion battery', async () => {
    const failures = [
      ...(await confusionFailures('basicComposition', basicComposition, () => [[{ epsilon: 1, delta: 1e-6 }]])),
      ...(await confusionFailures('advancedComposition', advancedComposition, () => [{ epsilon: 0.1, delta: 0 }, 10, 1e-5], {
        accept: { 2: ['fraction'] },
      })),
      ...(await confusionFailures('epsilonDeltaOf', epsilonDeltaOf, () => [{ type: 'laplace', b: 1 }])),
    ];
    expect(failures).toEqual([]);
    expect(thrown(() => basicComposition([1, 2, 3] as never)).field).toBe('guarantees[0]');
  });
});
