/**
 * Calibration: round trips (the calibrated σ meets the target and is tight
 * to the stated tolerance; the step count is the largest that fits), the
 * Opacus calibration vectors of tests/vectors/rdp.json replayed on our RDP,
 * the three methods, extremes, refusals and the type-confusion battery.
 */
import { describe as group, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { maxSteps, noiseMultiplier, type CalibrationMethod } from '../../../src/dp/accounting/calibrate.ts';
import { rdpEpsilon, type RdpOptions } from '../../../src/dp/accounting/rdp.ts';
import { rhoToEpsilon } from '../../../src/dp/accounting/zcdp.ts';
import type { PrivacyEvent } from '../../../src/dp/accounting/events.ts';
import { ConfideError } from '../../../src/core/errors.ts';
import { confusionFailures, thrown } from '../../_battery.ts';


const dpsgd = (sigma: number, q: number, steps: number): PrivacyEvent => {
  const step: PrivacyEvent = q === 1 ? { type: 'gaussian', sigma } : { type: 'poisson-sampled', q, event: { type: 'gaussian', sigma } };
  return steps === 1 ? step : { type: 'self-composed', count: steps, event: step };
};

const rdpEps = (sigma: number, q: number, steps: number, delta: number, orders?: readonly number[], options?: RdpOptions) =>
  rdpEpsilon(dpsgd(sigma, q, steps), delta, orders, options).epsilon;

type OrderSpec = number | { range: [number, number]; add?: number; multiply?: number; divide?: number };
function parseOrders(spec: OrderSpec[]): number[] {
  const out: number[] = [];
  for (const s of spec) {
    if (typeof s === 'number') out.push(s);
    else for (let x = s.range[0]; x <= s.range[1]; x++) out.push((s.add ?? 0) + (x * (s.multiply ?? 1)) / (s.divide ?? 1));
  }
  return out;
}

group('noiseMultiplier round trips', () => {
  const cases: [number, number, number, number][] = [
    // epsilon, delta, steps, q
    [1, 1e-5, 1000, 0.01],
    [8, 1e-5, 2250, 0.04],
    [3, 1e-6, 1, 1],
    [0.5, 1e-10, 100, 1],
    [2, 1e-300, 10, 0.1],
    [1, 1e-5, 1e9, 1e-4],
    [1e3, 1e-5, 1, 1],
  ];
  for (const [epsilon, delta, steps, q] of cases) {
    it(`rdp: epsilon ${epsilon}, delta ${delta}, ${steps} steps, q = ${q}`, () => {
      const sigma = noiseMultiplier({ epsilon, delta, steps, q, method: 'rdp' });
      expect(Number.isFinite(sigma) && sigma > 0).toBe(true);
      const achieved = rdpEps(sigma, q, steps, delta);
      expect(achieved).toBeLessThanOrEqual(epsilon);
      expect(achieved).toBeGreaterThanOrEqual(epsilon * (1 - 1e-4));
      expect(rdpEps(sigma * (1 - 1.01e-6), q, steps, delta)).toBeGreaterThan(epsilon);
    });
  }

  it('zcdp: the calibrated sigma gives rho whose epsilon is the target', () => {
    for (const [epsilon, delta, steps] of [[1, 1e-5, 1], [4, 1e-9, 500], [0.1, 1e-300, 1e6]]) {
      const sigma = noiseMultiplier({ epsilon, delta, steps, method: 'zcdp' });
      const eps = (s: number) => rhoToEpsilon((0.5 * steps) / (s * s), delta);
      expect(eps(sigma)).toBeLessThanOrEqual(epsilon);
      expect(eps(sigma)).toBeGreaterThanOrEqual(epsilon * (1 - 1e-4));
      expect(eps(sigma * (1 - 1.01e-6))).toBeGreaterThan(epsilon);
    }
  });

  it('pld: the given epsilon function is called with the self-composed sampled Gaussian', () => {
    const seen: PrivacyEvent[] = [];
    const epsilonFor = (event: PrivacyEvent, delta: number) => {
      seen.push(event);
      return rdpEpsilon(event, delta).epsilon; // a stand-in for the PLD accountant
    };
    const viaPld = noiseMultiplier({ epsilon: 2, delta: 1e-5, steps: 300, q: 0.02, method: 'pld', epsilonFor });
    expect(viaPld).toBe(noiseMultiplier({ epsilon: 2, delta: 1e-5, steps: 300, q: 0.02, method: 'rdp' }));
    expect(seen[0]).toEqual({ type: 'self-composed', count: 300, event: { type: 'poisson-sampled', q: 0.02, event: { type: 'gaussian', sigma: 1 } } });
    expect(maxSteps({ epsilon: 2, delta: 1e-5, sigma: viaPld, q: 0.02, method: 'pld', epsilonFor })).toBe(300);
  });

  it('replays Opacus\'s get_noise_multiplier on our RDP and lands on its answers (tests/vectors/rdp.json)', () => {
    const V = JSON.parse(readFileSync(new URL('../../vectors/rdp.json', import.meta.url), 'utf8'));
    const vectors = V.vectors.filter((v: { kind: string }) => v.kind === 'opacus-noise-multiplier');
    expect(vectors.length).toBe(2);
    for (const v of vectors) {
      const orders = parseOrders(v.orders);
      const eps = (sigma: number) => rdpEps(sigma, v.q, v.steps, v.delta, orders, v.options);
      // opacus/accountants/utils.py get_noise_multiplier, epsilon_tolerance 0.01
      let sigmaLow = 0;
      let sigmaHigh = 10;
      let epsHigh = Infinity;
      while (epsHigh > v.epsilon) {
        sigmaHigh *= 2;
        epsHigh = eps(sigmaHigh);
      }
      while (v.epsilon - epsHigh > 0.01) {
        const sigma = (sigmaLow + sigmaHigh) / 2;
        const e = eps(sigma);
        if (e < v.epsilon) {
          sigmaHigh = sigma;
          epsHigh = e;
        } else sigmaLow = sigma;
      }
      expect(Math.abs(sigmaHigh - v.expected)).toBeLessThanOrEqual(v.atol);
      // ours is the exact threshold: at most Opacus's, and within its 0.01 epsilon tolerance
      const ours = noiseMultiplier({ epsilon: v.epsilon, delta: v.delta, steps: v.steps, q: v.q, method: 'rdp', orders, fractionalSeries: 'alternating' });
      expect(ours).toBeLessThanOrEqual(sigmaHigh);
      expect(eps(ours)).toBeLessThanOrEqual(v.epsilon);
      expect(eps(sigmaHigh)).toBeGreaterThan(v.epsilon - 0.01);
    }
  });
});

group('maxSteps', () => {
  it('is the largest step count within the budget', () => {
    const cases: [number, number, number, number, CalibrationMethod][] = [
      [7.33, 1e-5, 1.5, 0.04, 'rdp'],
      [3, 1e-6, 2, 0.001, 'rdp'],
      [1, 1e-5, 20, 1, 'zcdp'],
      [1, 1e-5, 20, 1, 'rdp'],
    ];
    for (const [epsilon, delta, sigma, q, method] of cases) {
      const steps = maxSteps({ epsilon, delta, sigma, q, method });
      expect(steps).toBeGreaterThan(0);
      const eps = (t: number) => (method === 'rdp' ? rdpEps(sigma, q, t, delta) : rhoToEpsilon((0.5 * t) / (sigma * sigma), delta));
      expect(eps(steps)).toBeLessThanOrEqual(epsilon);
      expect(eps(steps + 1)).toBeGreaterThan(epsilon);
    }
    // DP-SGD at 7.33: 2,250 steps fit (RDP gives 7.3293 there)
    expect(maxSteps({ epsilon: 7.33, delta: 1e-5, sigma: 1.5, q: 0.04, method: 'rdp' })).toBeGreaterThanOrEqual(2250);
  });

  it('0 when one step is already too much; E_OVERFLOW past 2^52 steps', () => {
    expect(maxSteps({ epsilon: 0.1, delta: 1e-5, sigma: 0.1, method: 'rdp' })).toBe(0);
    expect(thrown(() => maxSteps({ epsilon: 10, delta: 1e-5, sigma: 1e8, method: 'zcdp' })).code).toBe('E_OVERFLOW');
    expect(maxSteps({ epsilon: 10, delta: 1e-5, sigma: 1e6, method: 'zcdp' })).toBeGreaterThan(1e12);
  });
});

group('refusals and argument checks', () => {
  it('methods and their options', () => {
    expect(thrown(() => noiseMultiplier({ epsilon: 1, delta: 1e-5, steps: 10, q: 0.1, method: 'zcdp' })).code).toBe('E_UNSUPPORTED');
    expect(thrown(() => noiseMultiplier({ epsilon: 1, delta: 1e-5, steps: 10, method: 'pld' })).field).toBe('epsilonFor');
    expect(thrown(() => noiseMultiplier({ epsilon: 1, delta: 1e-5, steps: 10, method: 'rdp', epsilonFor: () => 1 })).field).toBe('epsilonFor');
    expect(thrown(() => noiseMultiplier({ epsilon: 1, delta: 1e-5, steps: 10, method: 'pld', epsilonFor: () => NaN })).field).toBe('epsilonFor');
    expect(thrown(() => noiseMultiplier({ epsilon: 1, delta: 1e-5, steps: 10, method: 'zcdp', orders: [2, 3] })).field).toBe('orders');
    expect(thrown(() => noiseMultiplier({ epsilon: 1, delta: 1e-5, steps: 10, method: 'rdp', sigma: 1 } as never)).code).toBe('E_BAD_INPUT');
    expect(thrown(() => noiseMultiplier({ epsilon: 1, delta: 1, steps: 10, method: 'rdp' })).field).toBe('delta');
    expect(thrown(() => noiseMultiplier(undefined as never)).code).toBe('E_BAD_INPUT');
    // δ larger than the chance of being sampled at all: no noise is needed
    const free = () => 0;
    expect(thrown(() => noiseMultiplier({ epsilon: 1, delta: 0.5, steps: 1, q: 0.1, method: 'pld', epsilonFor: free })).message).toMatch(/vanishing noise/);
    // a target no sigma below 2^64 reaches
    const never = () => Infinity;
    expect(thrown(() => noiseMultiplier({ epsilon: 1, delta: 1e-5, steps: 1, method: 'pld', epsilonFor: never })).code).toBe('E_OVERFLOW');
  });

  it('every public function passes the type-confusion battery', async () => {
    const nm = (epsilon: unknown, delta: unknown, steps: unknown, q: unknown, method: unknown) =>
      noiseMultiplier({ epsilon, delta, steps, q, method } as never);
    const ms = (epsilon: unknown, delta: unknown, sigma: unknown, q: unknown, method: unknown) =>
      maxSteps({ epsilon, delta, sigma, q, method } as never);
    const failures = [
      ...(await confusionFailures('noiseMultiplier', nm, () => [2, 1e-5, 10, 1, 'zcdp'], {
        accept: { 0: ['fraction', 'huge'], 1: ['fraction'], 3: ['undefined'] },
      })),
      ...(await confusionFailures('maxSteps', ms, () => [2, 1e-5, 3, 1, 'zcdp'], {
        accept: { 0: ['fraction', 'huge'], 1: ['fraction'], 2: ['fraction', 'huge'], 3: ['undefined'] },
      })),
      ...(await confusionFailures('noiseMultiplier(options)', noiseMultiplier, () => [{ epsilon: 2, delta: 1e-5, steps: 10, method: 'zcdp' }])),
      ...(await confusionFailures('maxSteps(options)', maxSteps, () => [{ epsilon: 2, delta: 1e-5, sigma: 3, method: 'zcdp' }])),
    ];
    expect(failures).toEqual([]);
  });
});
