/**
 * Parties on an in-memory net session computing joint statistics, against
 * plaintext on random inputs, for 3 and 5 parties; a party dropping during
 * input is survived under Shamir and fails with E_PROTOCOL under additive sharing.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { isConfideError } from '../../src/core/errors.ts';
import { jointCorrelation, jointHistogram, jointMean, jointSum, jointVariance, dotProduct, matVec } from '../../src/mpc/index.ts';
import { runParties, values } from './_helpers.ts';

const col = (len: number) => fc.array(fc.double({ min: -100, max: 100, noNaN: true }), { minLength: len, maxLength: len }).map((a) => Float64Array.from(a));
const sum = (a: ArrayLike<number>) => Array.from(a).reduce((s, v) => s + v, 0);

describe('horizontal statistics', () => {
  it('sum, mean and variance over 3 and 5 parties match plaintext (random inputs)', async () => {
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(3, 5), fc.array(col(20), { minLength: 5, maxLength: 5 }), async (n, cols) => {
        const data = cols.slice(0, n);
        const all = data.flatMap((c) => Array.from(c));
        const { results } = await runParties(n, async (mpc, i) => ({
          sum: await jointSum(mpc, data[i]),
          v: await jointVariance(mpc, data[i]),
        }));
        const mean = sum(all) / all.length;
        const variance = sum(all.map((x) => x * x)) / all.length - mean * mean;
        for (const r of values(results)) {
          // Stochastic rounding: each value is within 2^-10 of its encoding.
          expect(Math.abs(r.sum.sum - sum(all))).toBeLessThanOrEqual(all.length * 2 ** -10);
          expect(r.sum.count).toBe(all.length);
          expect(Math.abs(r.v.mean - mean)).toBeLessThanOrEqual(2 ** -10);
          expect(Math.abs(r.v.variance - variance)).toBeLessThanOrEqual(1e-6 + 3 * 100 * 2 ** -10);
        }
      }),
      { numRuns: 4 },
    );
  });

  it('histogram counts match plaintext, and a party without the column contributes nothing', async () => {
    const data = [Float64Array.of(0.5, 1.5, 2.5, 9), undefined, Float64Array.of(1, 1, 3, -1)];
    const { results } = await runParties(3, (mpc, i) => jointHistogram(mpc, data[i], [0, 1, 2, 3]));
    for (const h of values(results)) expect(h).toEqual([1, 3, 2]);
    const m = await runParties(3, (mpc, i) => jointMean(mpc, data[i]));
    for (const r of values(m.results)) expect(r.count).toBe(8);
  });
});

describe('vertical statistics (Beaver multiplication)', () => {
  it('correlation, dot product and matrix-vector product between parties match plaintext', async () => {
    await fc.assert(
      fc.asyncProperty(col(30), col(30), async (x, y) => {
        const { results } = await runParties(
          3,
          async (mpc, i) => ({
            corr: await jointCorrelation(mpc, 0, 2, i === 0 ? x : undefined, i === 2 ? y : undefined, 30),
            dot: await dotProduct(mpc, 2, 1, i === 2 ? y : undefined, i === 1 ? x : undefined, 30),
          }),
          { triples: 60 },
        );
        const mx = sum(x) / 30, my = sum(y) / 30;
        const cov = sum(Array.from(x, (v, k) => v * y[k])) / 30 - mx * my;
        const vx = sum(Array.from(x, (v) => v * v)) / 30 - mx * mx, vy = sum(Array.from(y, (v) => v * v)) / 30 - my * my;
        for (const r of values(results)) {
          expect(Math.abs(r.corr.covariance - cov)).toBeLessThanOrEqual(0.5);
          if (vx > 1 && vy > 1) expect(Math.abs(r.corr.correlation - cov / Math.sqrt(vx * vy))).toBeLessThanOrEqual(0.01);
          expect(Math.abs(r.dot - sum(Array.from(x, (v, k) => v * y[k])))).toBeLessThanOrEqual(30 * 0.25);
        }
      }),
      { numRuns: 3 },
    );
    const M = Float64Array.of(1, 2, 3, 4, 5, 6), v = Float64Array.of(0.5, -1, 2);
    const { results } = await runParties(5, (mpc, i) => matVec(mpc, 3, 1, i === 3 ? M : undefined, i === 1 ? v : undefined, 2, 3), { triples: 6 });
    for (const r of values(results)) {
      expect(r[0]).toBeCloseTo(4.5, 2);
      expect(r[1]).toBeCloseTo(9, 2);
    }
  });

  it('running out of triples is E_STATE, not a reuse', async () => {
    const { results } = await runParties(2, (mpc, i) => dotProduct(mpc, 0, 1, i === 0 ? new Float64Array(5) : undefined, i === 1 ? new Float64Array(5) : undefined, 5), { triples: 4 });
    for (const r of results) expect(r.status === 'rejected' && isConfideError(r.reason, 'E_STATE')).toBe(true);
  });
});

describe('a party dropping during input', () => {
  const data = [1, 2, 3, 4, 5].map((k) => Float64Array.of(k, k * 10));
  it('Shamir survives: the other parties get the sum of their own inputs', async () => {
    const { results } = await runParties(5, async (mpc, i) => ({ s: await jointSum(mpc, data[i]), dropped: mpc.dropped }), { sharing: 'shamir', skip: [2], timeoutMs: 3000 });
    results.forEach((r, i) => {
      if (i === 2) return;
      if (r.status === 'rejected') throw r.reason;
      expect(r.value.s.sum).toBeCloseTo(sum([1, 2, 4, 5].flatMap((k) => [k, k * 10])), 6);
      expect(r.value.dropped).toEqual([2]);
    });
  });
  it('additive sharing fails cleanly with E_PROTOCOL', async () => {
    const { results } = await runParties(3, (mpc, i) => jointSum(mpc, data[i]), { skip: [1], timeoutMs: 3000 });
    for (const i of [0, 2]) {
      const r = results[i];
      expect(r.status).toBe('rejected');
      if (r.status === 'rejected') {
        expect(r.reason.code).toBe('E_PROTOCOL');
        expect(r.reason.details).toMatchObject({ missing: [1], step: 'input' });
      }
    }
  });
});
