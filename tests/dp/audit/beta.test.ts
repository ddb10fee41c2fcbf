/**
 * The exact binomial machinery of the audit: ln Γ, the regularized
 * incomplete beta function, its inverse, Clopper–Pearson intervals and the
 * hypergeometric tail of StatDP, against closed forms and direct sums.
 */
import { describe, expect, it } from 'vitest';
import { betaQuantile, clopperPearson, logGamma, regularizedBeta } from '../../../src/dp/audit/_beta.ts';
import { hypergeometricSf } from '../../../src/dp/audit/statdp.ts';
import { clopperPearson as publicClopperPearson } from '../../../src/dp/audit/index.ts';

/** P[Bin(n, p) >= k] by direct summation in log space. */
function binomialSf(k: number, n: number, p: number): number {
  let s = 0;
  for (let j = k; j <= n; j++)
    s += Math.exp(logGamma(n + 1) - logGamma(j + 1) - logGamma(n - j + 1) + j * Math.log(p) + (n - j) * Math.log1p(-p));
  return s;
}

describe('logGamma', () => {
  it('matches Γ at known points', () => {
    // Γ(1/2) = √π; Γ(n) = (n − 1)!; Γ(3/2) = √π/2.
    expect(logGamma(0.5)).toBeCloseTo(0.5 * Math.log(Math.PI), 13);
    expect(logGamma(1.5)).toBeCloseTo(Math.log(Math.sqrt(Math.PI) / 2), 13);
    expect(logGamma(1)).toBeCloseTo(0, 14);
    expect(logGamma(2)).toBeCloseTo(0, 14);
    expect(logGamma(10)).toBeCloseTo(Math.log(362880), 12);
    let lf = 0;
    for (let i = 2; i < 171; i++) lf += Math.log(i);
    expect(Math.abs(logGamma(171) - lf) / lf).toBeLessThan(1e-14); // ln 170!
  });
});

describe('regularizedBeta', () => {
  it('matches closed forms', () => {
    // I_x(2, 3) = Σ_{j>=2} C(4, j) x^j (1 − x)^{4−j}: at 0.4, 0.3456 + 0.1536 + 0.0256.
    expect(regularizedBeta(0.4, 2, 3)).toBeCloseTo(0.5248, 14);
    for (const x of [1e-6, 0.01, 0.3, 0.5, 0.9, 0.999]) {
      expect(regularizedBeta(x, 3.5, 1)).toBeCloseTo(x ** 3.5, 13); // I_x(a, 1) = x^a
      expect(regularizedBeta(x, 1, 7)).toBeCloseTo(1 - (1 - x) ** 7, 13); // I_x(1, b) = 1 − (1 − x)^b
    }
    expect(regularizedBeta(0.5, 40.5, 40.5)).toBeCloseTo(0.5, 12); // symmetry
    expect(regularizedBeta(0, 2, 2)).toBe(0);
    expect(regularizedBeta(1, 2, 2)).toBe(1);
  });

  it('is the binomial tail: I_p(k, n − k + 1) = P[Bin(n, p) >= k], up to n = 20000', () => {
    for (const [n, k, p] of [
      [10, 3, 0.2],
      [1000, 10, 0.005],
      [1000, 500, 0.48],
      [20000, 1900, 0.1],
      [20000, 19990, 0.9995],
    ] as const) {
      const direct = binomialSf(k, n, p);
      expect(Math.abs(regularizedBeta(p, k, n - k + 1) - direct)).toBeLessThan(1e-11 + 1e-9 * direct);
    }
  });
});

describe('betaQuantile', () => {
  it('inverts closed forms', () => {
    for (const p of [1e-9, 0.025, 0.5, 0.975, 0.999999]) {
      expect(betaQuantile(p, 4, 1)).toBeCloseTo(p ** (1 / 4), 12); // I_x(a, 1) = x^a
      expect(betaQuantile(p, 1, 9)).toBeCloseTo(1 - (1 - p) ** (1 / 9), 10); // I_x(1, b) = 1 − (1 − x)^b
    }
    expect(betaQuantile(0.5, 12, 12)).toBeCloseTo(0.5, 13);
  });

  it('round-trips through regularizedBeta, tiny quantiles included', () => {
    for (const [a, b] of [[1, 50000], [3, 49998], [2500, 22501], [0.5, 0.5]] as const) {
      for (const p of [1e-6, 0.025, 0.5, 0.975]) {
        const x = betaQuantile(p, a, b);
        expect(Math.abs(regularizedBeta(x, a, b) - p)).toBeLessThan(1e-9 * Math.max(p, 1e-3));
      }
    }
  });
});

describe('clopperPearson', () => {
  it('0 successes: upper = 1 − (α/2)^{1/n}; n successes: lower = (α/2)^{1/n}', () => {
    for (const n of [1, 10, 100, 25000]) {
      for (const c of [0.9, 0.95, 0.99]) {
        const a2 = (1 - c) / 2;
        const [l0, u0] = clopperPearson(0, n, c);
        expect(l0).toBe(0);
        expect(u0).toBeCloseTo(1 - a2 ** (1 / n), 12);
        const [ln, un] = clopperPearson(n, n, c);
        expect(un).toBe(1);
        expect(ln).toBeCloseTo(a2 ** (1 / n), 12);
      }
    }
  });

  it('matches R binom.test (exact interval)', () => {
    // R 4.x: binom.test(5, 10)$conf.int = 0.1870860 0.8129140; binom.test(0, 10) upper 0.3084971;
    // binom.test(1, 20)$conf.int = 0.001265089 0.248732763.
    const [l, u] = clopperPearson(5, 10, 0.95);
    expect(l).toBeCloseTo(0.187086, 6);
    expect(u).toBeCloseTo(0.812914, 6);
    expect(clopperPearson(0, 10, 0.95)[1]).toBeCloseTo(0.3084971, 7);
    const [l1, u1] = clopperPearson(1, 20, 0.95);
    expect(l1).toBeCloseTo(0.001265089, 8);
    expect(u1).toBeCloseTo(0.248732763, 8);
  });

  it('each end is the exact binomial tail at α/2', () => {
    const n = 2000, k = 37, c = 0.95;
    const [l, u] = clopperPearson(k, n, c);
    expect(binomialSf(k, n, l)).toBeCloseTo(0.025, 9); // P[X >= k | p = lower] = α/2
    expect(1 - binomialSf(k + 1, n, u)).toBeCloseTo(0.025, 9); // P[X <= k | p = upper] = α/2
  });

  it('the public function checks its arguments', () => {
    expect(publicClopperPearson(5, 10)).toEqual(clopperPearson(5, 10, 0.95));
  });
});

describe('hypergeometricSf', () => {
  it('matches the direct sum of the pmf', () => {
    const choose = (n: number, k: number) => Math.exp(logGamma(n + 1) - logGamma(k + 1) - logGamma(n - k + 1));
    for (const [n, s] of [[10, 7], [50, 60], [200, 30]] as const) {
      for (let x = 0; x <= Math.min(s, n) + 1; x++) {
        let direct = 0;
        for (let j = Math.max(x, s - n); j <= Math.min(s, n); j++) direct += (choose(n, j) * choose(n, s - j)) / choose(2 * n, s);
        expect(Math.abs(hypergeometricSf(x, n, s) - Math.min(1, direct))).toBeLessThan(1e-12);
      }
    }
  });
});
