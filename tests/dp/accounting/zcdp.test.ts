/**
 * zCDP accountant: ρ of each event, the CKS20 conversion against the golden-
 * grid minimisation over α and against its own inverse, its place
 * between the exact Gaussian epsilon and the looser bounds, extreme
 * parameters, refusals, and the type-confusion battery.
 */
import { describe as group, expect, it } from 'vitest';
import fc from 'fast-check';
import { rhoToDelta, rhoToEpsilon, zcdpDelta, zcdpEpsilon, zcdpRho } from '../../../src/dp/accounting/zcdp.ts';
import { rdpEpsilon } from '../../../src/dp/accounting/rdp.ts';
import type { PrivacyEvent } from '../../../src/dp/accounting/events.ts';
import { gaussianEpsilon } from '../../../src/dp/calibration.ts';

/** CKS20 Prop. 12 minimised over a dense log grid of α: an independent, slightly pessimistic reference. */
function gridDelta(rho: number, eps: number): number {
  let best = Infinity;
  for (let i = 0; i <= 40_000; i++) {
    const a = 1 + 10 ** (-8 + (i / 40_000) * 14);
    const logd = (a - 1) * (a * rho - eps) - Math.log(a - 1) + a * Math.log1p(-1 / a);
    best = Math.min(best, logd);
  }
  return Math.min(1, Math.exp(best));
}
import { ConfideError } from '../../../src/core/errors.ts';
import { confusionFailures, thrown } from '../../_battery.ts';


const close = (got: number, want: number, rtol: number) => expect(Math.abs(got - want)).toBeLessThanOrEqual(rtol * Math.abs(want));

group('rho of events', () => {
  it('Gaussians are Δ²/(2σ²); pure ε-DP mechanisms are ε²/2; compositions add', () => {
    expect(zcdpRho({ type: 'gaussian', sigma: 2 })).toBe(0.125);
    expect(zcdpRho({ type: 'gaussian', sigma: 2, sensitivity: 3 })).toBe(1.125);
    expect(zcdpRho({ type: 'discrete-gaussian', sigma: 3, sensitivity: 2 })).toBeCloseTo(2 / 9, 15);
    expect(zcdpRho({ type: 'zcdp', rho: 0.3 })).toBe(0.3);
    expect(zcdpRho({ type: 'epsilon-delta', epsilon: 2 })).toBe(2);
    expect(zcdpRho({ type: 'laplace', b: 0.5 })).toBe(2);
    expect(zcdpRho({ type: 'discrete-laplace', a: 0.25, sensitivity: 4 })).toBe(0.5);
    const eps = Math.log(4 / 0.5 - 4 + 1);
    close(zcdpRho({ type: 'randomized-response', p: 0.5, k: 4 }), (eps * eps) / 2, 1e-15);
    expect(zcdpRho({ type: 'randomized-response', p: 1, k: 4 })).toBe(0);
    expect(
      zcdpRho({
        type: 'composed',
        events: [
          { type: 'self-composed', count: 1e9, event: { type: 'gaussian', sigma: 1e4 } },
          { type: 'zcdp', rho: 1 },
          { type: 'self-composed', count: 0, event: { type: 'gaussian', sigma: 1e-300 } },
        ],
      }),
    ).toBeCloseTo(6, 12);
    expect(zcdpRho({ type: 'composed', events: [] })).toBe(0);
  });

  it('trivial sampling is allowed; real sampling and δ > 0 are E_UNSUPPORTED', () => {
    const g: PrivacyEvent = { type: 'gaussian', sigma: 1 };
    expect(zcdpRho({ type: 'poisson-sampled', q: 1, event: g })).toBe(0.5);
    expect(zcdpRho({ type: 'poisson-sampled', q: 0, event: { type: 'epsilon-delta', epsilon: 1, delta: 0.1 } })).toBe(0);
    expect(zcdpRho({ type: 'sampled-without-replacement', n: 5, m: 5, event: g })).toBe(0.5);
    expect(zcdpRho({ type: 'sampled-without-replacement', n: 5, m: 0, event: g })).toBe(0);
    for (const e of [
      { type: 'poisson-sampled', q: 0.5, event: g },
      { type: 'sampled-without-replacement', n: 5, m: 2, event: g },
      { type: 'epsilon-delta', epsilon: 1, delta: 1e-9 },
    ] as PrivacyEvent[]) {
      const err = thrown(() => zcdpRho(e));
      expect(err.code).toBe('E_UNSUPPORTED');
      expect(err.message).toMatch(/zCDP accountant cannot account/);
    }
    expect(thrown(() => zcdpRho({ type: 'gaussian', sigma: 1e-200 })).code).toBe('E_OVERFLOW');
  });
});

group('the conversion of Canonne, Kamath and Steinke 2020', () => {
  it('one Gaussian, sigma = 1, delta = 1e-5: at least the exact 4.377178, and not above RDP', () => {
    const exact = gaussianEpsilon(1, 1e-5, 1);
    expect(exact).toBeCloseTo(4.377178, 6);
    const eps = zcdpEpsilon({ type: 'gaussian', sigma: 1 }, 1e-5);
    expect(eps).toBeGreaterThanOrEqual(exact);
    expect(eps).toBeLessThanOrEqual(rdpEpsilon({ type: 'gaussian', sigma: 1 }, 1e-5).epsilon);
    close(eps, 4.7284, 1e-4);
  });

  it('never below the exact Gaussian epsilon, never above the RDP one nor Bun and Steinke\'s ρ + 2√(ρ log 1/δ)', () => {
    for (const sigma of [0.3, 1, 4, 30, 1000]) {
      for (const delta of [0.1, 1e-5, 1e-12, 1e-100]) {
        const event: PrivacyEvent = { type: 'gaussian', sigma };
        const eps = zcdpEpsilon(event, delta);
        const rho = 0.5 / (sigma * sigma);
        expect(eps).toBeGreaterThanOrEqual(gaussianEpsilon(sigma, delta, 1) * (1 - 1e-12));
        expect(eps).toBeLessThanOrEqual(rdpEpsilon(event, delta).epsilon * (1 + 1e-12));
        expect(eps).toBeLessThanOrEqual(rho + 2 * Math.sqrt(rho * Math.log(1 / delta)));
      }
    }
  });

  it('agrees with a dense grid minimisation over α, and with mpmath near α = 1', () => {
    for (const rho of [1e-4, 0.01, 0.5, 2, 10]) {
      for (const eps of [0, 0.1, 1, 4.4, 20, 100]) {
        const ours = rhoToDelta(rho, eps);
        const grid = gridDelta(rho, eps);
        // The true infimum is at most any grid point, and the grid is fine enough to be within 1e-5.
        expect(ours).toBeLessThanOrEqual(grid * (1 + 1e-11) + 1e-300);
        if (grid > 1e-300) close(Math.log(ours), Math.log(grid), 1e-6); // on log δ: the grid is coarse in relative δ deep in the tail
      }
    }
    // ρ = 10, ε = 0: mpmath at 50 digits (bisection on the derivative) gives 0.99995462066401459238...
    close(rhoToDelta(10, 0), 0.99995462066401459238, 1e-15);
  });

  it('rhoToEpsilon inverts rhoToDelta, rounded up and tight', () => {
    fc.assert(
      fc.property(
        fc.double({ min: -12, max: 6, noNaN: true }),
        fc.double({ min: -300, max: -0.01, noNaN: true }),
        (logRho, logDelta) => {
          const rho = 10 ** logRho;
          const delta = 10 ** logDelta;
          const eps = rhoToEpsilon(rho, delta);
          expect(eps).toBeGreaterThanOrEqual(0);
          expect(Number.isFinite(eps)).toBe(true);
          expect(rhoToDelta(rho, eps)).toBeLessThanOrEqual(delta);
          if (eps > 0) expect(rhoToDelta(rho, eps * (1 - 1e-12) - 1e-300)).toBeGreaterThan(delta * (1 - 1e-9));
        },
      ),
      { numRuns: 200, seed: 12 },
    );
  });

  it('edges: ρ = 0, δ = 1, δ = 0, huge ε, tiny δ, huge ρ', () => {
    expect(rhoToDelta(0, 0)).toBe(0);
    expect(rhoToEpsilon(0, 1e-9)).toBe(0);
    expect(rhoToEpsilon(0.5, 1)).toBe(0);
    expect(thrown(() => rhoToEpsilon(0.5, 0)).code).toBe('E_UNSUPPORTED');
    expect(rhoToDelta(0.5, 1e3)).toBe(0);
    expect(rhoToDelta(1e6, 0)).toBe(1);
    const tiny = rhoToEpsilon(0.5, 1e-300);
    expect(tiny).toBeGreaterThan(30);
    expect(rhoToDelta(0.5, tiny)).toBeLessThanOrEqual(1e-300);
    const huge = zcdpEpsilon({ type: 'self-composed', count: 1e9, event: { type: 'gaussian', sigma: 0.5 } }, 1e-5);
    expect(huge).toBeGreaterThan(2e9);
    expect(Number.isFinite(huge)).toBe(true);
    expect(zcdpDelta({ type: 'self-composed', count: 1e9, event: { type: 'gaussian', sigma: 0.5 } }, 1e3)).toBe(1);
    expect(zcdpDelta({ type: 'gaussian', sigma: 1 }, 4.728386984943314)).toBeLessThanOrEqual(1e-5);
  });
});

group('argument checks', () => {
  it('every public function passes the type-confusion battery', async () => {
    const event = () => ({ type: 'self-composed', count: 3, event: { type: 'gaussian', sigma: 2 } });
    const failures = [
      ...(await confusionFailures('zcdpRho', zcdpRho, () => [event()])),
      ...(await confusionFailures('rhoToDelta', rhoToDelta, () => [0.5, 1], { accept: { 0: ['-0', 'fraction', 'huge'], 1: ['-0', 'fraction', 'huge'] } })),
      ...(await confusionFailures('rhoToEpsilon', rhoToEpsilon, () => [0.5, 1e-5], { accept: { 0: ['-0', 'fraction', 'huge'], 1: ['fraction'] } })),
      ...(await confusionFailures('zcdpEpsilon', zcdpEpsilon, () => [event(), 1e-5], { accept: { 1: ['fraction'] } })),
      ...(await confusionFailures('zcdpDelta', zcdpDelta, () => [event(), 1], { accept: { 1: ['-0', 'fraction', 'huge'] } })),
    ];
    expect(failures).toEqual([]);
  });
});
