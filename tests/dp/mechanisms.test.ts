import { describe, expect, it } from 'vitest';
import { ConfideError, seededRng } from '../../src/core/index.ts';
import { analyticGaussianSigma, discreteGaussianDelta } from '../../src/dp/calibration.ts';
import {
  discreteGaussianMechanism,
  discreteLaplaceMechanism,
  gaussianMechanism,
  geometricMechanism,
  laplaceMechanism,
} from '../../src/dp/mechanisms.ts';
import { rhoToDelta as zcdpDelta } from '../../src/dp/accounting/zcdp.ts';
import { confusionFailures } from '../_battery.ts';
import { zQuantile } from '../_stats.ts';

const z = zQuantile('1e-6');

function isPowerOfTwo(g: number): boolean {
  return g > 0 && Math.log2(g) === Math.round(Math.log2(g));
}

/** Empirical coverage of `margin(level)` over many seeded releases, within a binomial tolerance. */
function coverage(run: (i: number) => { value: number; margin: number }, truth: number, n: number): number {
  let inside = 0;
  for (let i = 0; i < n; i++) {
    const { value, margin } = run(i);
    if (Math.abs(value - truth) <= margin) inside++;
  }
  return inside / n;
}

describe('discreteLaplaceMechanism (geometric mechanism)', () => {
  it('adds exact discrete Laplace noise of scale Δ/ε and states pure ε', () => {
    const rng = seededRng(1);
    const n = 50_000;
    let sum = 0, sq = 0;
    for (let i = 0; i < n; i++) {
      const r = discreteLaplaceMechanism(1000, { epsilon: 0.5, sensitivity: 2, rng });
      sum += r.value - 1000;
      sq += (r.value - 1000) ** 2;
    }
    const p = Math.exp(-0.25), variance = (2 * p) / (1 - p) ** 2;
    expect(Math.abs(sum / n)).toBeLessThan(z * Math.sqrt(variance / n));
    expect(Math.abs(sq / n / variance - 1)).toBeLessThan(0.05);
    const r = geometricMechanism([1, 2, 3], { epsilon: 1, sensitivity: 3 });
    expect(r.value).toHaveLength(3);
    expect(r.guarantee).toEqual({ kind: 'pure', epsilon: 1 });
    expect(r.event).toEqual({ type: 'discrete-laplace', a: 1 / 3, sensitivity: 3 });
    expect(r.noise).toEqual({ distribution: 'discrete-laplace', scale: 3, granularity: 1 });
  });

  it('margin(level) covers the true value at least `level` of the time', () => {
    const rng = seededRng(2);
    const n = 20_000;
    const cov = coverage((i) => {
      const r = discreteLaplaceMechanism(i, { epsilon: 0.3, sensitivity: 1, rng });
      return { value: r.value - i, margin: r.margin(0.9) };
    }, 0, n);
    expect(cov).toBeGreaterThanOrEqual(0.9 - z * Math.sqrt(0.09 / n));
  });

  it('refuses non-integer values and sensitivities', () => {
    expect(() => discreteLaplaceMechanism(1.5, { epsilon: 1, sensitivity: 1 })).toThrow(ConfideError);
    expect(() => discreteLaplaceMechanism(1, { epsilon: 1, sensitivity: 0.5 })).toThrow(ConfideError);
    expect(() => discreteLaplaceMechanism(1, { epsilon: 0, sensitivity: 1 })).toThrow(ConfideError);
    expect(() => discreteLaplaceMechanism(1, { epsilon: 1, sensitivity: 1, epsilonn: 1 } as never)).toThrow(ConfideError);
  });
});

describe('discreteGaussianMechanism', () => {
  it('calibrates to rho exactly: σ² = Δ²/(2ρ)', () => {
    const r = discreteGaussianMechanism(5, { rho: 0.125, sensitivity: 1 });
    expect(r.guarantee).toEqual({ kind: 'zcdp', rho: 0.125 });
    expect(r.noise.scale).toBeCloseTo(2, 12);
  });

  it('calibrates a scalar to (ε, δ) with the exact discrete δ, tightly', () => {
    const r = discreteGaussianMechanism(0, { epsilon: 1, delta: 1e-5, sensitivity: 1 });
    const sigma = r.noise.scale;
    expect(discreteGaussianDelta(sigma, 1, 1)).toBeLessThanOrEqual(1e-5);
    expect(discreteGaussianDelta(sigma * (1 - 1e-6), 1, 1)).toBeGreaterThan(1e-5 * (1 - 1e-3));
    expect(r.guarantee).toEqual({ kind: 'approx', epsilon: 1, delta: 1e-5 });
  });

  it('calibrates a vector through ρ-zCDP and the CKS20 conversion', () => {
    const r = discreteGaussianMechanism([1, 2, 3, 4], { epsilon: 1, delta: 1e-6, sensitivity: 2 });
    const sigma = r.noise.scale;
    expect(zcdpDelta(4 / (2 * sigma * sigma), 1)).toBeLessThanOrEqual(1e-6 * (1 + 1e-9));
    expect(r.value).toHaveLength(4);
  });

  it('takes sigma2 directly and has the right variance', () => {
    const rng = seededRng(3);
    const n = 40_000;
    let sq = 0;
    for (let i = 0; i < n; i++) sq += discreteGaussianMechanism(0, { sigma2: 9, sensitivity: 1, rng }).value ** 2;
    expect(Math.abs(sq / n / 9 - 1)).toBeLessThan(z * Math.sqrt(2 / n));
  });

  it('wants exactly one calibration', () => {
    expect(() => discreteGaussianMechanism(0, { sensitivity: 1 })).toThrow(ConfideError);
    expect(() => discreteGaussianMechanism(0, { sensitivity: 1, rho: 1, sigma2: 2 })).toThrow(ConfideError);
    expect(() => discreteGaussianMechanism(0, { sensitivity: 1, epsilon: 1 })).toThrow(ConfideError);
    expect(() => discreteGaussianMechanism(0, { sensitivity: 1, epsilon: 1, delta: 1 })).toThrow(ConfideError);
  });
});

describe('rhoToDelta (CKS20 Prop. 12), as the mechanisms use it', () => {
  it('is below the Bun–Steinke bound and decreasing in ε', () => {
    for (const rho of [0.01, 0.1, 1]) {
      let prev = 1;
      for (const eps of [0.5, 1, 2, 4, 8]) {
        const d = zcdpDelta(rho, eps);
        if (eps > rho) expect(d).toBeLessThanOrEqual(Math.exp(-((eps - rho) ** 2) / (4 * rho)) * (1 + 1e-9));
        expect(d).toBeLessThanOrEqual(prev);
        prev = d;
      }
    }
  });
});

describe('laplaceMechanism (reals on a power-of-two grid)', () => {
  it('outputs multiples of a power-of-two grid with the calibrated noise', () => {
    const rng = seededRng(4);
    const first = laplaceMechanism(Math.PI, { epsilon: 0.5, sensitivity: 1, rng });
    const scale = first.noise.scale;
    expect(scale).toBeGreaterThanOrEqual(2);
    expect(scale).toBeLessThan(2 * (1 + 2 ** -11));
    const n = 40_000;
    let sum = 0, sq = 0;
    const grids = new Set<number>();
    for (let i = 0; i < n; i++) {
      const v = laplaceMechanism(Math.PI, { epsilon: 0.5, sensitivity: 1, rng }).value;
      sum += v - Math.PI;
      sq += (v - Math.PI) ** 2;
      grids.add(v / 2 ** -12 - Math.round(v / 2 ** -12));
    }
    expect(grids).toEqual(new Set([0])); // every output a multiple of 2^-12 (the grid for Δ = 1)
    expect(Math.abs(sum / n)).toBeLessThan(z * Math.sqrt((2 * scale * scale) / n) + 2 ** -12);
    expect(Math.abs(sq / n / (2 * scale * scale) - 1)).toBeLessThan(0.06);
  });

  it('calibrates a vector to its L1 sensitivity, growing the grid sensitivity by one step per coordinate', () => {
    const r = laplaceMechanism(new Float64Array(1000).fill(0.5), { epsilon: 1, sensitivity: 4 });
    const scale = r.noise.scale;
    expect(scale).toBeGreaterThanOrEqual(4);
    expect(scale).toBeLessThan(4 * (1 + 2 ** -11));
    expect(r.value).toBeInstanceOf(Float64Array);
  });

  it('margin covers the true (unsnapped) value at the stated level', () => {
    const rng = seededRng(5);
    const n = 20_000;
    const cov = coverage(() => {
      const r = laplaceMechanism(0.123456789, { epsilon: 1, sensitivity: 1, rng });
      return { value: r.value, margin: r.margin(0.95) };
    }, 0.123456789, n);
    expect(cov).toBeGreaterThanOrEqual(0.95 - z * Math.sqrt(0.05 * 0.95 / n));
  });

  it('refuses values too large for the grid and nonsense parameters', () => {
    expect(() => laplaceMechanism(1e300, { epsilon: 1, sensitivity: 1 })).toThrow(ConfideError);
    expect(() => laplaceMechanism(NaN, { epsilon: 1, sensitivity: 1 })).toThrow(ConfideError);
    expect(() => laplaceMechanism([1, Infinity], { epsilon: 1, sensitivity: 1 })).toThrow(ConfideError);
    expect(() => laplaceMechanism(1, { epsilon: -1, sensitivity: 1 })).toThrow(ConfideError);
    expect(() => laplaceMechanism(1, { epsilon: 1, sensitivity: NaN })).toThrow(ConfideError);
    expect(() => laplaceMechanism(1, { epsilon: 1, sensitivity: 1 }).margin(1)).toThrow(ConfideError);
  });
});

describe('gaussianMechanism (reals on a power-of-two grid)', () => {
  it('uses at least the analytic σ, and classic is wider still', () => {
    const analytic = gaussianMechanism(1, { epsilon: 0.5, delta: 1e-5, sensitivity: 1 });
    const classic = gaussianMechanism(1, { epsilon: 0.5, delta: 1e-5, sensitivity: 1, calibration: 'classic' });
    const sa = analytic.noise.scale, sc = classic.noise.scale;
    const exact = analyticGaussianSigma(0.5, 1e-5, 1);
    expect(sa).toBeGreaterThanOrEqual(exact);
    expect(sa).toBeLessThan(exact * 1.01);
    expect(sc).toBeGreaterThan(sa);
    expect(analytic.guarantee).toEqual({ kind: 'approx', epsilon: 0.5, delta: 1e-5 });
    expect(() => gaussianMechanism(1, { epsilon: 2, delta: 1e-5, sensitivity: 1, calibration: 'classic' })).toThrow(ConfideError);
  });

  it('has the stated noise and margin coverage', () => {
    const rng = seededRng(6);
    const n = 20_000;
    let sq = 0, inside = 0, sigma = 0;
    for (let i = 0; i < n; i++) {
      const r = gaussianMechanism(10, { epsilon: 1, delta: 1e-6, sensitivity: 2, rng });
      sigma = r.noise.scale;
      sq += (r.value - 10) ** 2;
      if (Math.abs(r.value - 10) <= r.margin(0.9)) inside++;
    }
    expect(Math.abs(sq / n / (sigma * sigma) - 1)).toBeLessThan(z * Math.sqrt(2 / n) + 1e-3);
    expect(inside / n).toBeGreaterThanOrEqual(0.9 - z * Math.sqrt(0.09 / n));
  });

  it('releases a vector in one call', () => {
    const v = new Float32Array(500).map((_, i) => i / 10);
    const r = gaussianMechanism(v, { epsilon: 1, delta: 1e-5, sensitivity: 1 });
    expect(r.value).toHaveLength(500);
    let sq = 0;
    for (let i = 0; i < 500; i++) sq += (r.value[i] - v[i]) ** 2;
    const sigma = r.noise.scale;
    expect(sq / 500).toBeGreaterThan(sigma * sigma * 0.7);
    expect(sq / 500).toBeLessThan(sigma * sigma * 1.3);
  });
});

describe('mechanism arguments', () => {
  it('pass the type-confusion battery', async () => {
    const rng = () => seededRng(1);
    const fail = [
      ...(await confusionFailures('laplaceMechanism', (v, e, s, r) => laplaceMechanism(v, { epsilon: e, sensitivity: s, rng: r }), () => [1.5, 1, 1, rng()], {
        accept: { 0: ['-0', 'negative', 'fraction', 'huge', 'plain array', 'Float64Array'], 1: ['fraction', 'huge'], 2: ['fraction', 'huge'], 3: ['undefined'] },
      })),
      ...(await confusionFailures('gaussianMechanism', (v, e, d, s) => gaussianMechanism(v, { epsilon: e, delta: d, sensitivity: s }), () => [1.5, 1, 1e-5, 1], {
        accept: { 0: ['-0', 'negative', 'fraction', 'huge', 'plain array'], 1: ['fraction', 'huge'], 2: ['fraction'], 3: ['fraction', 'huge'] },
      })),
      ...(await confusionFailures('discreteLaplaceMechanism', (v, e, s) => discreteLaplaceMechanism(v, { epsilon: e, sensitivity: s }), () => [3, 1, 1], {
        accept: { 0: ['negative', 'plain array'], 1: ['fraction', 'huge'] },
      })),
      ...(await confusionFailures('discreteGaussianMechanism', (v, rho, s) => discreteGaussianMechanism(v, { rho, sensitivity: s }), () => [3, 1, 1], {
        accept: { 0: ['negative', 'plain array'], 1: ['fraction', 'huge'] },
      })),
      ...(await confusionFailures('options', (o) => laplaceMechanism(1, o), () => [{ epsilon: 1, sensitivity: 1 }])),
      ...(await confusionFailures('margin', (l) => laplaceMechanism(1, { epsilon: 1, sensitivity: 1 }).margin(l), () => [0.9], { accept: { 0: ['fraction'] } })),
    ];
    expect(fail).toEqual([]);
  });
});
