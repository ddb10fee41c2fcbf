/**
 * The statistics on a MAC'd session (SpdzSession): results equal plaintext
 * within the fixed-point bound and equal the semi-honest MpcParty results
 * (bit for bit on values of the 2^-10 grid, where encoding is exact); a
 * party that tampers with a share it opens (the output, or a Beaver d or e)
 * makes every party fail with E_CRYPTO and return nothing; a short AuthStore
 * is refused before the first round (E_STATE) and nothing is consumed;
 * `spdzPreprocessing` is the exact count (a store dealt with it ends empty);
 * the field's overflow bound is enforced; DP release works on the MAC'd path.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ConfideError } from '../../src/core/errors.ts';
import { Fp61 } from '../../src/core/field.ts';
import { seededRng } from '../../src/core/random.ts';
import { PrivacyLedger } from '../../src/dp/index.ts';
import {
  AuthShared,
  AuthStore,
  HE_TRIPLE_FIELD,
  MacDealer,
  MpcParty,
  Shared,
  SpdzSession,
  dotProduct,
  jointCorrelation,
  jointCorrelationRows,
  jointHistogram,
  jointMean,
  jointSum,
  jointVariance,
  matVec,
  openNoisy,
  spdzPreprocessing,
  type SpdzUse,
} from '../../src/mpc/index.ts';
import { CONFUSION_VALUES, confusionFailures } from '../_battery.ts';
import { netSession, runParties, values } from './_helpers.ts';

const P = Fp61.p;
const sum = (a: ArrayLike<number>) => Array.from(a).reduce((s, v) => s + v, 0);
/** Values on the 2^-10 grid in [-100, 100]: encoded exactly, so both session types see the same integers. */
const gridCol = (len: number) => fc.array(fc.integer({ min: -102_400, max: 102_400 }), { minLength: len, maxLength: len }).map((a) => Float64Array.from(a, (v) => v / 1024));

type Maker = (mpc: MpcParty, store: AuthStore, i: number) => SpdzSession;

/**
 * n MAC'd parties on one in-memory session, their stores dealt for `dealer`;
 * `program` runs at each. `make` builds party i's session (a cheater's subclass).
 */
async function macParties<T>(
  n: number,
  dealer: { triples: number; masks: number },
  program: (s: SpdzSession, i: number) => Promise<T>,
  options: { seed?: number; field?: typeof Fp61 | typeof HE_TRIPLE_FIELD; make?: Maker; timeoutMs?: number } = {},
): Promise<{ results: PromiseSettledResult<T>[]; stores: AuthStore[] }> {
  const net = await netSession(n);
  try {
    const parties = net.nets.map((p) => p.id);
    const rng = options.seed === undefined ? undefined : seededRng(options.seed);
    const stores = new MacDealer(n, { field: options.field, rng }).preprocess(dealer);
    const results = await Promise.allSettled(
      net.nets.map(async (netParty, i) => {
        const mpc = await MpcParty.start({ net: netParty, parties, timeoutMs: options.timeoutMs ?? 10_000 });
        const s = options.make ? options.make(mpc, stores[i], i) : new SpdzSession(mpc, stores[i]);
        return program(s, i);
      }),
    );
    return { results, stores };
  } finally {
    await net.close();
  }
}

/** A party that adds `delta` to element 0 of every share it opens at `output` (its MAC share untouched). */
function cheatAtOutput(cheater: number, delta: bigint): Maker {
  return (mpc, store, i) => {
    if (i !== cheater) return new SpdzSession(mpc, store);
    return new (class extends SpdzSession {
      override output(a: AuthShared): Promise<BigUint64Array> {
        const share = a.share.slice();
        share[0] = (share[0] + delta) % P;
        return super.output(new AuthShared(share, a.mac));
      }
    })(mpc, store);
  };
}

/** A party that shifts its share of the left factor before a Beaver product: d opens wrong. */
function cheatAtBeaver(cheater: number, delta: bigint, element: number): Maker {
  return (mpc, store, i) => {
    if (i !== cheater) return new SpdzSession(mpc, store);
    return new (class extends SpdzSession {
      override mul(a: AuthShared, b: AuthShared): Promise<AuthShared> {
        const share = a.share.slice();
        share[element % share.length] = (share[element % share.length] + delta) % P;
        return super.mul(new AuthShared(share, a.mac), b);
      }
    })(mpc, store);
  };
}

function expectAllCrypto(results: PromiseSettledResult<unknown>[]): void {
  for (const r of results) {
    expect(r.status).toBe('rejected');
    if (r.status === 'rejected') expect(r.reason).toMatchObject({ code: 'E_CRYPTO', field: 'mac' });
  }
}

describe('statistics on a MAC\'d session: honest runs', () => {
  it('sum, mean, variance, histogram and correlationRows equal plaintext and the MpcParty results (3 parties)', async () => {
    const uses: SpdzUse[] = [{ stat: 'sum' }, { stat: 'mean' }, { stat: 'variance' }, { stat: 'histogram', bins: 4 }, { stat: 'correlationRows' }];
    const need = spdzPreprocessing(3, uses);
    const edges = [-100, -10, 0, 10, 100];
    await fc.assert(
      fc.asyncProperty(fc.array(fc.tuple(gridCol(12), gridCol(12)), { minLength: 3, maxLength: 3 }), async (data) => {
        const program = async (s: SpdzSession | MpcParty, i: number) => ({
          sum: await jointSum(s, data[i][0]),
          mean: await jointMean(s, data[i][0]),
          variance: await jointVariance(s, data[i][0]),
          histogram: await jointHistogram(s, data[i][0], edges),
          rows: await jointCorrelationRows(s, data[i][0], data[i][1]),
        });
        const mac = await macParties(3, need.dealer, program);
        const plain = await runParties(3, program);
        const macs = values(mac.results), plains = values(plain.results);
        const all = data.flatMap((d) => Array.from(d[0])), ally = data.flatMap((d) => Array.from(d[1]));
        const m = sum(all) / all.length;
        const variance = sum(all.map((v) => v * v)) / all.length - m * m;
        const truthHist = [0, 1, 2, 3].map((k) => all.filter((v) => v >= edges[k] && (k === 3 ? v <= edges[4] : v < edges[k + 1])).length);
        const my = sum(ally) / ally.length;
        const cov = sum(all.map((v, k) => v * ally[k])) / all.length - m * my;
        for (const [k, r] of macs.entries()) {
          // Same integers in, same integers out: equal to the semi-honest results exactly.
          expect(r).toEqual(plains[k]);
          // Grid values are encoded exactly: only float rounding of the final division remains.
          expect(r.sum.sum).toBeCloseTo(sum(all), 6);
          expect(r.sum.count).toBe(36);
          expect(r.mean.mean).toBeCloseTo(m, 9);
          expect(r.variance.variance).toBeCloseTo(variance, 6);
          expect(r.histogram).toEqual(truthHist);
          expect(r.rows.covariance).toBeCloseTo(cov, 6);
        }
        // The count from spdzPreprocessing is exact: every mask of every owner is used.
        for (const st of mac.stores) {
          expect(st.triplesRemaining).toBe(0);
          for (let j = 0; j < 3; j++) expect(st.masksRemaining(j)).toBe(0);
        }
      }),
      { numRuns: 3 },
    );
  });

  it('correlation and dot product (columns at different parties) and matVec equal plaintext and the MpcParty results', async () => {
    const rows = 16;
    const uses: SpdzUse[] = [
      { stat: 'correlation', rows, xOwner: 0, yOwner: 2 },
      { stat: 'dotProduct', rows, xOwner: 2, yOwner: 1 },
      { stat: 'matVec', rows: 3, cols: 4, matrixOwner: 1, vectorOwner: 0 },
    ];
    const need = spdzPreprocessing(3, uses);
    expect(need.triples).toBe(16 + 16 + 12);
    expect(need.masks).toEqual([20 + 4, 20 + 12, 20 + 20]);
    await fc.assert(
      fc.asyncProperty(gridCol(rows), gridCol(rows), gridCol(12), gridCol(4), async (x, y, M, v) => {
        const program = async (s: SpdzSession | MpcParty, i: number) => ({
          corr: await jointCorrelation(s, 0, 2, i === 0 ? x : undefined, i === 2 ? y : undefined, rows),
          dot: await dotProduct(s, 2, 1, i === 2 ? y : undefined, i === 1 ? x : undefined, rows),
          mv: await matVec(s, 1, 0, i === 1 ? M : undefined, i === 0 ? v : undefined, 3, 4),
        });
        const mac = await macParties(3, need.dealer, program);
        const plain = await runParties(3, program, { triples: need.triples });
        const macs = values(mac.results), plains = values(plain.results);
        const mx = sum(x) / rows, my = sum(y) / rows;
        const dot = sum(Array.from(x, (a, k) => a * y[k]));
        const cov = dot / rows - mx * my;
        const vx = sum(Array.from(x, (a) => a * a)) / rows - mx * mx, vy = sum(Array.from(y, (a) => a * a)) / rows - my * my;
        for (const [k, r] of macs.entries()) {
          expect(r).toEqual(plains[k]);
          expect(r.corr.covariance).toBeCloseTo(cov, 6);
          expect(r.corr.meanX).toBeCloseTo(mx, 9);
          if (vx > 1 && vy > 1) expect(r.corr.correlation).toBeCloseTo(cov / Math.sqrt(vx * vy), 6);
          expect(r.dot).toBeCloseTo(dot, 6);
          for (let row = 0; row < 3; row++) expect(r.mv[row]).toBeCloseTo(sum([0, 1, 2, 3].map((c) => M[row * 4 + c] * v[c])), 6);
        }
        for (const st of mac.stores) {
          expect(st.triplesRemaining).toBe(0);
          for (let j = 0; j < 3; j++) expect(st.masksRemaining(j)).toBe(need.dealer.masks - need.masks[j]);
        }
      }),
      { numRuns: 2 },
    );
  });

  it('off-grid values: within the fixed-point bound of plaintext (stochastic rounding, 2^-10 per value)', async () => {
    const data = [0, 1, 2].map((p) => Float64Array.from({ length: 50 }, (_, k) => Math.sin(k * 7 + p) * 90));
    const { results } = await macParties(3, spdzPreprocessing(3, [{ stat: 'variance' }]).dealer, (s, i) => jointVariance(s, data[i]));
    const all = data.flatMap((d) => Array.from(d));
    const m = sum(all) / all.length;
    const variance = sum(all.map((v) => v * v)) / all.length - m * m;
    for (const r of values(results)) {
      expect(Math.abs(r.mean - m)).toBeLessThanOrEqual(2 ** -10);
      // Σx² moves by at most 2·bound·2^-10 + 2^-20 per value; the mean's square by 2·|mean|·2^-10 + 2^-20.
      expect(Math.abs(r.variance - variance)).toBeLessThanOrEqual(2 * 90 * 2 ** -10 + 2 * Math.abs(m) * 2 ** -10 + 2 ** -19);
    }
  });
});

describe('statistics on a MAC\'d session: tampering', () => {
  it('an error in an opened result share (mean, variance, histogram, matVec): every party gets E_CRYPTO and no value', async () => {
    const rng = seededRng(7);
    const data = [Float64Array.of(1, 2, 3), Float64Array.of(4, 5), Float64Array.of(6)];
    const cases: [SpdzUse, (s: SpdzSession, i: number) => Promise<unknown>][] = [
      [{ stat: 'mean' }, (s, i) => jointMean(s, data[i])],
      [{ stat: 'variance' }, (s, i) => jointVariance(s, data[i])],
      [{ stat: 'histogram', bins: 2 }, (s, i) => jointHistogram(s, data[i], [0, 3, 6])],
      [{ stat: 'matVec', rows: 2, cols: 2, matrixOwner: 0, vectorOwner: 2 }, (s, i) => matVec(s, 0, 2, i === 0 ? Float64Array.of(1, 2, 3, 4) : undefined, i === 2 ? Float64Array.of(1, -1) : undefined, 2, 2)],
    ];
    for (let seed = 0; seed < 12; seed++) {
      const [use, program] = cases[seed % cases.length];
      const delta = 1n + rng.uniformBigInt(P - 1n);
      const { results } = await macParties(3, spdzPreprocessing(3, [use]).dealer, program, { seed, make: cheatAtOutput(seed % 3, delta) });
      expectAllCrypto(results);
    }
  });

  it('an error in a Beaver opening during correlation, dot product or matVec: every party gets E_CRYPTO and no value', async () => {
    const rng = seededRng(8);
    const x = Float64Array.of(1, 2, 3, 4), y = Float64Array.of(-1, 0.5, 2, 8);
    const cases: [SpdzUse, (s: SpdzSession, i: number) => Promise<unknown>][] = [
      [{ stat: 'correlation', rows: 4, xOwner: 0, yOwner: 2 }, (s, i) => jointCorrelation(s, 0, 2, i === 0 ? x : undefined, i === 2 ? y : undefined, 4)],
      [{ stat: 'dotProduct', rows: 4, xOwner: 1, yOwner: 2 }, (s, i) => dotProduct(s, 1, 2, i === 1 ? x : undefined, i === 2 ? y : undefined, 4)],
      [{ stat: 'matVec', rows: 2, cols: 2, matrixOwner: 2, vectorOwner: 0 }, (s, i) => matVec(s, 2, 0, i === 2 ? x : undefined, i === 0 ? y.subarray(0, 2) : undefined, 2, 2)],
    ];
    for (let seed = 0; seed < 12; seed++) {
      const [use, program] = cases[seed % cases.length];
      const delta = 1n + rng.uniformBigInt(P - 1n);
      const { results } = await macParties(3, spdzPreprocessing(3, [use]).dealer, program, { seed: 50 + seed, make: cheatAtBeaver((seed + 1) % 3, delta, seed) });
      expectAllCrypto(results);
    }
  });

  it('after a failed check the session refuses further statistics (E_STATE)', async () => {
    const { results } = await macParties(3, spdzPreprocessing(3, [{ stat: 'mean' }, { stat: 'mean' }]).dealer, async (s, i) => {
      const col = Float64Array.of(i);
      try {
        return await jointMean(s, col);
      } catch (e) {
        await expect(jointMean(s, col)).rejects.toMatchObject({ code: 'E_STATE' });
        throw e;
      }
    }, { make: cheatAtOutput(1, 5n) });
    expectAllCrypto(results);
  });
});

describe('statistics on a MAC\'d session: preprocessing and bounds', () => {
  it('a store short of triples or masks is refused at every party before any round (E_STATE), and nothing is consumed', async () => {
    const need = spdzPreprocessing(3, [{ stat: 'correlation', rows: 8, xOwner: 0, yOwner: 1 }]);
    expect(need).toEqual({ triples: 8, masks: [12, 12, 0], dealer: { triples: 8, masks: 12 } });
    const x = new Float64Array(8).fill(1);
    const corr = (s: SpdzSession, i: number) => jointCorrelation(s, 0, 1, i === 0 ? x : undefined, i === 1 ? x : undefined, 8);
    for (const dealer of [{ triples: 7, masks: 12 }, { triples: 8, masks: 11 }]) {
      // A short timeout: a party that waited for a round would fail with E_PROTOCOL, not E_STATE.
      const { results, stores } = await macParties(3, dealer, corr, { timeoutMs: 2000 });
      for (const r of results) {
        expect(r.status).toBe('rejected');
        if (r.status === 'rejected') {
          expect(r.reason).toBeInstanceOf(ConfideError);
          expect(r.reason).toMatchObject({ code: 'E_STATE', field: 'store' });
          expect(r.reason.message).toMatch(/spdzPreprocessing/);
        }
      }
      for (const st of stores) {
        expect(st.triplesRemaining).toBe(dealer.triples);
        expect(st.masksRemaining(0)).toBe(dealer.masks);
      }
    }
    // Horizontal: two means need 4 masks per party; with 3, the second mean is refused after the first succeeds.
    const { results } = await macParties(3, { triples: 0, masks: 3 }, async (s, i) => {
      const first = await jointMean(s, Float64Array.of(i));
      await expect(jointMean(s, Float64Array.of(i))).rejects.toMatchObject({ code: 'E_STATE', field: 'store' });
      return first.mean;
    });
    for (const v of values(results)) expect(v).toBe(1);
  });

  it('spdzPreprocessing: the formula per statistic, several statistics add up, hostile arguments are refused', async () => {
    expect(spdzPreprocessing(4, [{ stat: 'mean' }])).toEqual({ triples: 0, masks: [2, 2, 2, 2], dealer: { triples: 0, masks: 2 } });
    expect(spdzPreprocessing(2, [{ stat: 'variance', dp: true }]).masks).toEqual([6, 6]);
    expect(spdzPreprocessing(2, [{ stat: 'histogram', bins: 10, dp: true }, { stat: 'sum' }]).masks).toEqual([22, 22]);
    expect(spdzPreprocessing(3, [{ stat: 'dotProduct', rows: 5, xOwner: 1, yOwner: 1 }]).masks).toEqual([0, 18, 0]);
    expect(spdzPreprocessing(3, [{ stat: 'matVec', rows: 4, cols: 3, matrixOwner: 2, vectorOwner: 0 }])).toEqual({ triples: 12, masks: [3, 0, 12], dealer: { triples: 12, masks: 12 } });
    expect(spdzPreprocessing(3, [])).toEqual({ triples: 0, masks: [0, 0, 0], dealer: { triples: 0, masks: 0 } });
    for (const bad of [{ stat: 'median' }, { stat: 'mean', rows: 'x' }, { stat: 'correlation', rows: 3, xOwner: 0 }, { stat: 'correlation', rows: 3, xOwner: 0, yOwner: 3 }, { stat: 'matVec', rows: 2 ** 20, cols: 2 ** 20, matrixOwner: 0, vectorOwner: 0 }, { stat: 'dotProduct', rows: 1, xOwner: 0, yOwner: 1, dp: true }, { stat: 'mean', dp: 1 }, { stat: 'mean', extra: 1 }])
      expect(() => spdzPreprocessing(2, [bad as SpdzUse])).toThrow(ConfideError);
    const failures = await confusionFailures('spdzPreprocessing', spdzPreprocessing, () => [3, [{ stat: 'histogram', bins: 3 }]]);
    expect(failures).toEqual([]);
  });

  it('the overflow check uses the field: refused (E_OVERFLOW) where Z_2^64 would accept, before any round', async () => {
    // 3 × 10^5 rows × (1000 · 2^12)² ≈ 2^62.1: under 2^63 (Z_2^64) but over 2^59 (Fp61).
    const opts = { fracBits: 12, bound: 1000, maxRows: 100_000 };
    const z = await runParties(3, (mpc, i) => jointVariance(mpc, Float64Array.of(i), opts));
    for (const r of values(z.results)) expect(r.mean).toBe(1);
    const { results } = await macParties(3, { triples: 0, masks: 3 }, (s, i) => jointVariance(s, Float64Array.of(i), opts), { timeoutMs: 2000 });
    for (const r of results) expect(r.status === 'rejected' && r.reason.code === 'E_OVERFLOW').toBe(true);
    // The 45-bit HE field allows 2^43: the defaults (2^58.1) are refused, small parameters pass.
    const he = await macParties(3, { triples: 0, masks: 6 }, async (s, i) => {
      await expect(jointVariance(s, Float64Array.of(i))).rejects.toMatchObject({ code: 'E_OVERFLOW' });
      return jointVariance(s, Float64Array.of(i, -i), { bound: 10, fracBits: 8, maxRows: 1000 });
    }, { field: HE_TRIPLE_FIELD });
    for (const r of values(he.results)) {
      expect(r.mean).toBe(0);
      expect(r.variance).toBeCloseTo(5 / 3, 9);
    }
  });
});

describe('DP release on a MAC\'d session', () => {
  function ledgers(n: number, gaussian = false): PrivacyLedger[] {
    const dir = mkdtempSync(join(tmpdir(), 'confide-mpc-spdz-dp-'));
    return Array.from({ length: n }, (_, i) => {
      const l = PrivacyLedger.open(join(dir, `p${i}.db`));
      if (gaussian) l.setBudget('rows', { rho: 3 }, { principal: 'officer' });
      else l.setBudget('rows', { epsilon: 3, delta: 0 }, { method: 'basic', principal: 'officer' });
      return l;
    });
  }

  it('histogram noise shares are MAC\'d inputs: the release carries three Laplace shares per bin and the spend is recorded', async () => {
    const bins = 300;
    const edges = Array.from({ length: bins + 1 }, (_, i) => i);
    const data = [0, 1, 2].map((p) => Float64Array.from({ length: 600 }, (_, i) => ((i * 7 + p * 13) % bins) + 0.5));
    const truth = new Array(bins).fill(0);
    for (const d of data) for (const v of d) truth[Math.floor(v)]++;
    const ls = ledgers(3);
    const dp = (i: number) => ({ ledger: ls[i], dataset: 'rows', principal: `party ${i}`, mechanism: 'laplace' as const, epsilon: 1, rng: seededRng(300 + i) });
    const need = spdzPreprocessing(3, [{ stat: 'histogram', bins, dp: true }]);
    expect(need.dealer.masks).toBe(2 * bins);
    const { results, stores } = await macParties(3, need.dealer, (s, i) => jointHistogram(s, data[i], edges, { dp: dp(i) }));
    const outs = values(results);
    expect(outs[1]).toEqual(outs[0]);
    expect(outs[2]).toEqual(outs[0]);
    for (const st of stores) expect(st.masksRemaining(0)).toBe(0);
    const noise = outs[0].map((v, k) => v - truth[k]);
    // Discrete Laplace with scale 1 (Δ = 1, ε = 1): variance 2e^-1/(1-e^-1)^2 ≈ 1.8395; three shares ≈ 5.52.
    const variance = 3 * ((2 * Math.exp(-1)) / (1 - Math.exp(-1)) ** 2);
    const mean = sum(noise) / bins;
    const sampleVar = sum(noise.map((v) => (v - mean) ** 2)) / (bins - 1);
    // Seeded: 5 standard errors for the mean; the sample variance within a factor 0.5 to 1.7 (Laplace tails).
    expect(Math.abs(mean)).toBeLessThan(5 * Math.sqrt(variance / bins));
    expect(sampleVar).toBeGreaterThan(variance * 0.5);
    expect(sampleVar).toBeLessThan(variance * 1.7);
    expect(noise.some((v) => v !== 0)).toBe(true);
    for (const l of ls) {
      expect(l.odometer('rows').spent).toBeCloseTo(1, 9);
      l.close();
    }
  });

  it('a mean with Gaussian noise shares; a party that tampers with the noisy opening makes every party fail (E_CRYPTO), after the spend', async () => {
    const ls = ledgers(3, true);
    const data = [Float64Array.of(10, 20), Float64Array.of(30), Float64Array.of(40, 50, 60)];
    const dp = (i: number) => ({ ledger: ls[i], dataset: 'rows', principal: `party ${i}`, mechanism: 'gaussian' as const, rho: 0.5, rng: seededRng(400 + i) });
    const dealer = spdzPreprocessing(3, [{ stat: 'mean', dp: true }]).dealer;
    const ok = await macParties(3, dealer, (s, i) => jointMean(s, data[i], { bound: 100, dp: dp(i) }));
    const outs = values(ok.results);
    for (const r of outs) {
      expect(r.mean).toBe(outs[0].mean);
      expect(r.receipt).toBeDefined();
    }
    // The count's noise: ρ/2 = 0.25 for it, σ² = 1/(2 · 0.25) = 2, each party adds ⌈2/3⌉ = 1, so variance 3 in all (10 is 5.8σ; seeded).
    expect(Math.abs(outs[0].count - 6)).toBeLessThanOrEqual(10);
    const spent = ls.map((l) => l.odometer('rows').spent);
    const bad = await macParties(3, dealer, (s, i) => jointMean(s, data[i], { bound: 100, dp: dp(i) }), { make: cheatAtOutput(2, 12_345n) });
    expectAllCrypto(bad.results);
    // The spend is committed before any share leaves, so a failed release still costs budget.
    ls.forEach((l, i) => expect(l.odometer('rows').spent).toBeGreaterThan(spent[i]));
    for (const l of ls) l.close();
  });
});

describe('openNoisy on a MAC\'d session', () => {
  it('refuses a vector of the wrong kind, or a store short of masks for the noise shares, before spending', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'confide-mpc-spdz-on-'));
    const ledger = PrivacyLedger.open(join(dir, 'p.db'));
    ledger.setBudget('rows', { epsilon: 3, delta: 0 }, { method: 'basic', principal: 'officer' });
    const dp = { ledger, dataset: 'rows', principal: 'p', mechanism: 'laplace' as const, epsilon: 1 };
    const s = await netSession(2);
    try {
      const parties = s.nets.map((p) => p.id);
      const stores = new MacDealer(2).preprocess({ triples: 0, masks: 2 });
      const [mpc] = await Promise.all(s.nets.map((net) => MpcParty.start({ net, parties, timeoutMs: 300 })));
      const spdz = new SpdzSession(mpc, stores[0]);
      await expect(openNoisy(spdz, new Shared('additive', new BigUint64Array(2)) as never, [1], 'joint', dp, 'q')).rejects.toMatchObject({ code: 'E_BAD_INPUT', field: 'a' });
      await expect(openNoisy(mpc, new AuthShared(new BigUint64Array(2), new BigUint64Array(2)) as never, [1], 'joint', dp, 'q')).rejects.toMatchObject({ code: 'E_BAD_INPUT', field: 'a' });
      await expect(openNoisy(spdz, new AuthShared(new BigUint64Array(3), new BigUint64Array(3)), [1], 'joint', dp, 'q')).rejects.toMatchObject({ code: 'E_STATE', field: 'store' });
      expect(ledger.odometer('rows').spent).toBe(0);
    } finally {
      await s.close();
      ledger.close();
    }
  });
});

describe('type confusion on a MAC\'d session', () => {
  /** Each argument replaced by each hostile value must reject with ConfideError within 500 ms (before any round). */
  async function refusedBeforeSending(name: string, fn: (...a: any[]) => Promise<unknown>, valid: () => unknown[], accept: Record<number, string[]> = {}): Promise<string[]> {
    const failures: string[] = [];
    for (let i = 0; i < valid().length; i++)
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

  it('the statistics refuse hostile arguments with a SpdzSession', async () => {
    const s = await netSession(2);
    try {
      const parties = s.nets.map((p) => p.id);
      const stores = new MacDealer(2).preprocess({ triples: 8, masks: 16 });
      const [mpc] = await Promise.all(s.nets.map((net) => MpcParty.start({ net, parties, timeoutMs: 5000 })));
      const a = new SpdzSession(mpc, stores[0]);
      const f = () => new Float64Array(4);
      const failures = [
        ...(await refusedBeforeSending('jointSum', jointSum, () => [a, f(), { fracBits: 40 }], { 2: ['undefined', 'object'] })),
        ...(await refusedBeforeSending('jointMean', jointMean, () => [a, f(), { bound: -1 }], { 2: ['undefined', 'object'] })),
        ...(await refusedBeforeSending('jointVariance', jointVariance, () => [a, f(), { maxRows: 0 }], { 2: ['undefined', 'object'] })),
        ...(await refusedBeforeSending('jointHistogram', jointHistogram, () => [a, f(), [2, 1]], { 2: ['plain array'] })),
        ...(await refusedBeforeSending('jointCorrelation', jointCorrelation, () => [a, 0, 1, f(), f(), 4], { 4: ['undefined'] })),
        ...(await refusedBeforeSending('jointCorrelationRows', jointCorrelationRows, () => [a, f(), undefined], { 1: ['undefined'] })),
        ...(await refusedBeforeSending('dotProduct', dotProduct, () => [a, 0, 1, f(), new Float64Array(3), 4], { 4: ['undefined'] })),
        ...(await refusedBeforeSending('matVec', matVec, () => [a, 0, 0, f(), f(), 2, 3])),
        // A store too small for the statistic: refused, whatever the other arguments.
        ...(await refusedBeforeSending('matVec (short store)', matVec, () => [a, 0, 0, new Float64Array(16), new Float64Array(4), 4, 4])),
      ];
      expect(failures).toEqual([]);
      // Nothing above reached a round: the store is untouched.
      expect(stores[0].triplesRemaining).toBe(8);
      expect(stores[0].masksRemaining(0)).toBe(16);
    } finally {
      await s.close();
    }
  });
});
