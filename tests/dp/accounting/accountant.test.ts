import { describe, expect, it } from 'vitest';
import { ConfideError } from '../../../src/core/index.ts';
import {
  calibrateMaxSteps,
  calibrateNoiseMultiplier,
  deltaFor,
  discreteGaussianMechanism,
  epsilonFor,
  laplaceMechanism,
  type PrivacyEvent,
} from '../../../src/dp/index.ts';
import { confusionFailures } from '../../_battery.ts';

const gaussian = (sigma: number): PrivacyEvent => ({ type: 'gaussian', sigma });
const dpsgd = (sigma: number, steps: number, q: number): PrivacyEvent => ({
  type: 'self-composed',
  count: steps,
  event: { type: 'poisson-sampled', q, event: gaussian(sigma) },
});

describe('epsilonFor / deltaFor', () => {
  it('orders the methods as theory says: PLD (exact) <= zCDP <= RDP for one Gaussian', () => {
    const pld = epsilonFor(gaussian(1), 1e-5);
    const zcdp = epsilonFor(gaussian(1), 1e-5, { method: 'zcdp' });
    const rdp = epsilonFor(gaussian(1), 1e-5, { method: 'rdp' });
    expect(Math.abs(pld - 4.377178)).toBeLessThan(1e-3); // the exact Gaussian epsilon (Balle and Wang)
    expect(pld).toBeLessThanOrEqual(zcdp);
    expect(zcdp).toBeLessThanOrEqual(rdp);
    expect(rdp).toBeCloseTo(4.7285, 3);
  });

  it('gives the DP-SGD figures of the issue: PLD 6.767, RDP 7.33', () => {
    expect(Math.abs(epsilonFor(dpsgd(1.5, 2249, 0.04), 1e-5) - 6.76705)).toBeLessThan(1e-3);
    expect(epsilonFor(dpsgd(1.5, 2249, 0.04), 1e-5, { method: 'rdp' })).toBeCloseTo(7.3275, 3);
  });

  it('inverts: delta at the epsilon found is the delta asked, for PLD and RDP', () => {
    for (const method of ['pld', 'rdp'] as const) {
      const e = epsilonFor(dpsgd(1.1, 500, 0.01), 1e-6, { method });
      expect(deltaFor(dpsgd(1.1, 500, 0.01), e, { method })).toBeLessThanOrEqual(1e-6 * (1 + 1e-6));
    }
  });

  it('accounts the events that mechanisms return', () => {
    const lap = laplaceMechanism(1, { epsilon: 0.5, sensitivity: 1 });
    expect(epsilonFor(lap.event, 0, { method: 'basic' })).toBeLessThanOrEqual(0.5);
    expect(epsilonFor({ type: 'self-composed', count: 10, event: lap.event }, 1e-6)).toBeLessThan(5);
    const dg = discreteGaussianMechanism([1, 2, 3], { epsilon: 1, delta: 1e-6, sensitivity: 1 });
    expect(epsilonFor(dg.event, 1e-6, { method: 'zcdp' })).toBeLessThanOrEqual(1 + 1e-9);
  });

  it('basic composition refuses a delta below the sum of deltas', () => {
    expect(() => epsilonFor({ type: 'epsilon-delta', epsilon: 1, delta: 1e-5 }, 1e-6, { method: 'basic' })).toThrow(ConfideError);
    expect(epsilonFor({ type: 'self-composed', count: 3, event: { type: 'epsilon-delta', epsilon: 1, delta: 1e-6 } }, 3e-6, { method: 'basic' })).toBe(3);
  });

  it('passes the type-confusion battery', async () => {
    const fail = [
      ...(await confusionFailures('epsilonFor', epsilonFor, () => [gaussian(2), 1e-5, { method: 'rdp' }], { accept: { 1: ['fraction', '-0'], 2: ['undefined', 'object'] } })),
      ...(await confusionFailures('deltaFor', deltaFor, () => [gaussian(2), 1, { method: 'zcdp' }], { accept: { 1: ['fraction', '-0', 'huge'], 2: ['undefined', 'object'] } })),
    ];
    expect(fail).toEqual([]);
  });
});

describe('calibration round trips', () => {
  it('the calibrated sigma meets the target epsilon, tightly (PLD)', () => {
    const sigma = calibrateNoiseMultiplier({ epsilon: 2, delta: 1e-5, steps: 200, q: 0.02 });
    const eps = epsilonFor(dpsgd(sigma, 200, 0.02), 1e-5);
    expect(eps).toBeLessThanOrEqual(2);
    expect(eps).toBeGreaterThan(2 * (1 - 1e-3));
  }, 60_000);

  it('maxSteps is the largest count within budget (RDP)', () => {
    const steps = calibrateMaxSteps({ epsilon: 3, delta: 1e-5, sigma: 1.5, q: 0.04, method: 'rdp' });
    expect(epsilonFor(dpsgd(1.5, steps, 0.04), 1e-5, { method: 'rdp' })).toBeLessThanOrEqual(3);
    expect(epsilonFor(dpsgd(1.5, steps + 1, 0.04), 1e-5, { method: 'rdp' })).toBeGreaterThan(3);
  });
});
