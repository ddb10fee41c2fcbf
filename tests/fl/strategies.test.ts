import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ConfideError } from '../../src/core/index.ts';
import {
  STRATEGY_NAMES,
  createStrategy,
  fedAdagrad,
  fedAdam,
  fedAvg,
  fedAvgM,
  fedMedian,
  fedProx,
  fedYogi,
  krum,
  strategyFromState,
  tensorsFromJson,
  tensorsToJson,
  trimmedMean,
  type ClientUpdate,
  type Strategy,
  type StrategyName,
  type Tensors,
} from '../../src/fl/index.ts';
import { confusionFailures, thrown } from '../_battery.ts';

const t = (...xs: number[]): Float32Array => Float32Array.from(xs);
const one = (x: number, examples = 1): ClientUpdate => ({ delta: { w: t(x) }, examples });
const zero = (): Tensors => ({ w: t(0) });

describe('mean-based strategies against hand-computed rounds', () => {
  it('FedAvg weights by examples: (1·[1,2] + 3·[3,6]) / 4 = [2.5, 5]', () => {
    const out = fedAvg().aggregate({ a: t(0, 0), b: t(10) }, [
      { delta: { a: t(1, 2), b: t(1) }, examples: 1 },
      { delta: { a: t(3, 6), b: t(-1) }, examples: 3 },
    ]);
    expect(Array.from(out.a)).toEqual([2.5, 5]);
    expect(Array.from(out.b)).toEqual([9.5]);
    expect(fedAvg({ serverLearningRate: 0.5 }).aggregate(zero(), [one(4)]).w[0]).toBe(2);
  });

  it('FedProx aggregates as FedAvg and sends μ to clients', () => {
    const s = fedProx({ mu: 0.01 });
    expect(s.fitConfig()).toEqual({ proximalMu: 0.01 });
    expect(s.aggregate(zero(), [one(1, 1), one(4, 2)]).w[0]).toBe(3);
    expect(fedAvg().fitConfig()).toEqual({});
  });

  it('FedAvgM: v ← βv + Δ, x ← x + ηv; two rounds of Δ = 1 with β = 0.9 give 1 then 2.9', () => {
    const s = fedAvgM();
    const x1 = s.aggregate(zero(), [one(1)]);
    expect(x1.w[0]).toBe(1);
    expect(s.aggregate(x1, [one(1)]).w[0]).toBeCloseTo(2.9, 6);
  });

  // Reddi et al. 2021, Algorithm 2, first round from v₋₁ = τ², m₋₁ = 0 with Δ = 1:
  // m = (1 - β1) = 0.1 and x = η m / (√v + τ).
  it('FedAdam: v = β2 τ² + (1 - β2) = 0.01000099, step = 0.1·0.1 / (√v + 1e-3) ≈ 0.0990051', () => {
    const v = 0.99 * 1e-6 + 0.01;
    const step = (0.1 * 0.1) / (Math.sqrt(v) + 1e-3);
    expect(step).toBeCloseTo(0.0990051, 6);
    expect(fedAdam().aggregate(zero(), [one(1)]).w[0]).toBe(Math.fround(step));
  });

  it('FedYogi: v = τ² - (1 - β2)·1·sign(τ² - 1) = 0.010001, step = 0.01·0.1 / (√v + 1e-3)', () => {
    const v = 1e-6 + 0.01;
    const step = (0.01 * 0.1) / (Math.sqrt(v) + 1e-3);
    expect(step).toBeCloseTo(0.0099005, 6);
    expect(fedYogi().aggregate(zero(), [one(1)]).w[0]).toBe(Math.fround(step));
  });

  it('FedAdagrad: v = τ² + 1, step = 0.1·0.1 / (√v + 1e-3) ≈ 0.00999', () => {
    const step = (0.1 * 0.1) / (Math.sqrt(1 + 1e-6) + 1e-3);
    expect(step).toBeCloseTo(0.00999, 5);
    expect(fedAdagrad().aggregate(zero(), [one(1)]).w[0]).toBe(Math.fround(step));
  });

  it('Yogi grows v more slowly than Adam when updates shrink (the sign term)', () => {
    // Round 1 Δ = 1, round 2 Δ = 0.1: Adam's v decays towards Δ², Yogi's v only moves by (1-β2)Δ² since v > Δ².
    const adam = fedAdam({ eta: 1 }), yogi = fedYogi({ eta: 1 });
    let xa = adam.aggregate(zero(), [one(1)]), xy = yogi.aggregate(zero(), [one(1)]);
    xa = adam.aggregate(xa, [one(0.1)]);
    xy = yogi.aggregate(xy, [one(0.1)]);
    const vAdam = 0.99 * (0.99 * 1e-6 + 0.01) + 0.01 * 0.01;
    const vYogi = 1e-6 + 0.01 + 0.01 * 0.01 * -Math.sign(1e-6 + 0.01 - 0.01);
    const m2 = 0.9 * 0.1 + 0.1 * 0.1;
    const x1a = Math.fround(0.1 / (Math.sqrt(0.99 * 1e-6 + 0.01) + 1e-3));
    const x1y = Math.fround(0.1 / (Math.sqrt(1e-6 + 0.01) + 1e-3));
    expect(xa.w[0]).toBeCloseTo(x1a + m2 / (Math.sqrt(vAdam) + 1e-3), 5);
    expect(xy.w[0]).toBeCloseTo(x1y + m2 / (Math.sqrt(vYogi) + 1e-3), 5);
  });
});

describe('robust strategies against hand-computed rounds', () => {
  it('FedMedian: coordinate-wise, mean of the middle two for an even count', () => {
    expect(fedMedian().aggregate(zero(), [one(1), one(2), one(100)]).w[0]).toBe(2);
    expect(fedMedian().aggregate(zero(), [one(1), one(2), one(3), one(100)]).w[0]).toBe(2.5);
    const out = fedMedian().aggregate({ a: t(0, 0) }, [
      { delta: { a: t(1, 30) }, examples: 1 },
      { delta: { a: t(2, 10) }, examples: 1 },
      { delta: { a: t(3, 20) }, examples: 1 },
    ]);
    expect(Array.from(out.a)).toEqual([2, 20]);
  });

  it('trimmed mean with β = 0.2 over 5 drops one from each end: mean(2, 3, 4) = 3', () => {
    expect(trimmedMean({ beta: 0.2 }).aggregate(zero(), [one(100), one(2), one(1), one(4), one(3)]).w[0]).toBe(3);
    expect(trimmedMean({ beta: 0 }).aggregate(zero(), [one(1), one(2), one(6)]).w[0]).toBe(3);
  });

  it('Krum (f = 1, 5 updates) scores by the 2 nearest others and picks 0.05', () => {
    // Scores: 0 → .0025 + .01; 0.1 → .0025 + .01; -0.1 → .01 + .0225; 0.05 → .0025 + .0025; 100 → huge.
    const out = krum({ f: 1 }).aggregate(zero(), [one(0), one(0.1), one(-0.1), one(0.05), one(100)]);
    expect(out.w[0]).toBe(Math.fround(0.05));
  });

  it('Krum refuses fewer than 2f + 3 updates', () => {
    const e = thrown(() => krum({ f: 1 }).aggregate(zero(), [one(0), one(1), one(2), one(3)]));
    expect(e.code).toBe('E_PROTOCOL');
  });
});

const vec = (d: number, lo: number, hi: number) =>
  fc.array(fc.float({ min: Math.fround(lo), max: Math.fround(hi), noNaN: true, noDefaultInfinity: true }), { minLength: d, maxLength: d });

describe('properties', () => {
  it('FedAvg of identical updates is that update', () => {
    fc.assert(
      fc.property(vec(4, -100, 100), fc.array(fc.integer({ min: 1, max: 1000 }), { minLength: 1, maxLength: 8 }), (d, ns) => {
        const out = fedAvg().aggregate({ w: new Float32Array(4) }, ns.map((n) => ({ delta: { w: Float32Array.from(d) }, examples: n })));
        for (let i = 0; i < 4; i++) expect(Math.abs(out.w[i] - d[i])).toBeLessThanOrEqual(Math.abs(d[i]) * 2 ** -22);
      }),
    );
  });

  it('median and trimmed mean stay within the honest range with one outlier', () => {
    fc.assert(
      fc.property(fc.array(vec(3, -1, 1), { minLength: 4, maxLength: 9 }), vec(3, -1e6, 1e6), fc.integer({ min: 0, max: 9 }), (honest, bad, at) => {
        const updates = honest.map((d) => ({ delta: { w: Float32Array.from(d) }, examples: 1 }));
        updates.splice(at % (updates.length + 1), 0, { delta: { w: Float32Array.from(bad) }, examples: 1 });
        const beta = 1 / updates.length + 1e-9; // trims exactly one from each end
        for (const s of [fedMedian(), trimmedMean({ beta })]) {
          const out = s.aggregate({ w: new Float32Array(3) }, updates);
          for (let i = 0; i < 3; i++) {
            const col = honest.map((d) => d[i]);
            expect(out.w[i]).toBeGreaterThanOrEqual(Math.min(...col));
            expect(out.w[i]).toBeLessThanOrEqual(Math.max(...col));
          }
        }
      }),
    );
  });

  it('Krum picks an honest update when f updates are far outliers', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 3 }),
        fc.integer({ min: 0, max: 3 }),
        fc.array(vec(3, -1, 1), { minLength: 12, maxLength: 12 }),
        vec(3, 1000, 1e5),
        fc.boolean(),
        (f, extra, pool, far, colluding) => {
          const honest = pool.slice(0, f + 3 + extra);
          const outliers = Array.from({ length: f }, (_, j) => (colluding ? far : far.map((x) => x * (j + 1))));
          const updates = [...outliers, ...honest].map((d) => ({ delta: { w: Float32Array.from(d) }, examples: 1 }));
          const out = krum({ f }).aggregate({ w: new Float32Array(3) }, updates);
          expect(honest.some((d) => d.every((x, i) => Math.fround(x) === out.w[i]))).toBe(true);
        },
      ),
    );
  });

  const options: Record<StrategyName, object | undefined> = {
    fedavg: undefined,
    fedavgm: { momentum: 0.5 },
    fedprox: { mu: 0.1 },
    fedadam: undefined,
    fedyogi: undefined,
    fedadagrad: undefined,
    fedmedian: undefined,
    'trimmed-mean': { beta: 0.25 },
    krum: { f: 0 },
  };

  it('serialise, restore and continue equals an uninterrupted run, bit for bit, for every strategy', () => {
    fc.assert(
      fc.property(fc.array(fc.array(vec(5, -2, 2), { minLength: 3, maxLength: 4 }), { minLength: 4, maxLength: 4 }), fc.integer({ min: 1, max: 3 }), (rounds, cut) => {
        for (const name of STRATEGY_NAMES) {
          const run = (s: Strategy, x: Tensors, from: number, to: number) => {
            for (let r = from; r < to; r++) x = s.aggregate(x, rounds[r].map((d, i) => ({ delta: { w: Float32Array.from(d) }, examples: i + 1 })));
            return x;
          };
          const x0 = { w: new Float32Array(5) };
          const whole = run(createStrategy(name, options[name]), x0, 0, 4);
          const first = createStrategy(name, options[name]);
          const mid = run(first, x0, 0, cut);
          const restored = strategyFromState(JSON.parse(JSON.stringify(first)));
          expect(restored.rounds).toBe(cut);
          const resumed = run(restored, tensorsFromJson(JSON.parse(JSON.stringify(tensorsToJson(mid))), 'x'), cut, 4);
          expect(Array.from(resumed.w), name).toEqual(Array.from(whole.w));
        }
      }),
      { numRuns: 30 },
    );
  });
});

describe('input checks', () => {
  it('refuses mismatched shapes, non-finite values and bad options with ConfideError', () => {
    expect(thrown(() => fedAvg().aggregate(zero(), [{ delta: { w: t(1, 2) }, examples: 1 }])).field).toBe('updates[0].delta.w');
    expect(thrown(() => fedAvg().aggregate(zero(), [{ delta: { v: t(1) }, examples: 1 }])).code).toBe('E_BAD_INPUT');
    expect(thrown(() => fedAvg().aggregate(zero(), [{ delta: { w: t(NaN) }, examples: 1 }])).field).toBe('updates[0].delta.w[0]');
    // The mean strategies check finiteness on the weighted sum; the culprit is still named, whichever update and sign.
    for (const bad of [NaN, Infinity, -Infinity])
      for (const strategy of [fedAvg(), fedAvgM(), fedAdam()])
        expect(thrown(() => strategy.aggregate({ w: t(0, 0) }, [{ delta: { w: t(1, 1) }, examples: 1 }, { delta: { w: t(0.5, bad) }, examples: 3 }, { delta: { w: t(2, 2) }, examples: 2 }])).field).toBe('updates[1].delta.w[1]');
    // +∞ and −∞ in two updates cancel to NaN in the sum: still refused, naming the first.
    expect(thrown(() => fedAvg().aggregate(zero(), [{ delta: { w: t(Infinity) }, examples: 1 }, { delta: { w: t(-Infinity) }, examples: 1 }])).field).toBe('updates[0].delta.w[0]');
    expect(thrown(() => fedAvg().aggregate(zero(), [one(1, 0)])).field).toBe('updates[0].examples');
    expect(thrown(() => fedAvg().aggregate(zero(), [])).field).toBe('updates');
    expect(thrown(() => trimmedMean({ beta: 0.5 })).field).toBe('beta');
    expect(thrown(() => fedAdam({ beta1: 1 })).field).toBe('beta1');
    expect(thrown(() => createStrategy('fedavg', { lr: 1 })).code).toBe('E_BAD_INPUT');
    expect(thrown(() => strategyFromState({ strategy: 'fedmedian', options: {}, rounds: 1, moments: { v: {} } })).code).toBe('E_BAD_INPUT');
  });

  it('passes the type-confusion battery', async () => {
    const failures = [
      ...(await confusionFailures('createStrategy', createStrategy, () => ['trimmed-mean', { beta: 0.1 }])),
      ...(await confusionFailures('aggregate', (g, u) => fedAvg().aggregate(g, u), () => [zero(), [one(1)]])),
      ...(await confusionFailures('aggregateSum', (g, x, n) => fedAdam().aggregateSum!(g, x, n), () => [zero(), Float64Array.of(2), 2])),
      ...(await confusionFailures('strategyFromState', strategyFromState, () => [fedAdam().toJSON()])),
      ...(await confusionFailures('tensorsFromJson', tensorsFromJson, () => [{ w: 'AACAPw==' }, 'x'], { accept: { 1: ['undefined', 'string'] } })),
    ];
    expect(failures).toEqual([]);
    expect(thrown(() => createStrategy('nope' as StrategyName)) instanceof ConfideError).toBe(true);
  });
});

describe('same bits as before streaming aggregation (69f9140)', () => {
  // Values over 40 binades (so float64 sums round), 7 updates of weights 1..1000, 3 rounds; the
  // SHA-256 of every round's model and of the final state, from the code as it was at 69f9140,
  // when the mean was summed over flattened float64 copies after the deadline.
  const KNOWN: Record<string, string> = {
    fedavg: '897a7dc350dbce7333c2ad4c6e73bc6a9ea530c8190eaf034d26614a989fceba',
    fedavgm: '8668f49bae13135140a74d2bd4b99f9af927120fa0475dbb98d61f1c49c53377',
    fedprox: 'ba05e657cc803c9e447012fa32a4586dbb74e9bfe58c03d3a1bfd694e18a89f9',
    fedadam: '69eead729facc15c0edf4c0970143a0e8ace55068840c166ab387590c2c7ff24',
    fedyogi: '9b28f8c1fc243459952bdf22acbee888233a824905dd418cc794af2f061e0962',
    fedadagrad: '5d4c874fe1e4db4595f775fd51aea47366147d02bc9cfdaa033ef3765bee6ba4',
  };
  const data = async () => {
    const { seededRng } = await import('../../src/core/index.ts');
    const rng = seededRng(42);
    const f = (n: number) => {
      const a = new Float32Array(n);
      for (let i = 0; i < n; i++) a[i] = (rng.uniformInt(2) ? 1 : -1) * (rng.uniformInt(1 << 24) / (1 << 24)) * 2 ** (rng.uniformInt(40) - 20);
      return a;
    };
    const global: Tensors = { a: f(3000), b: f(17) };
    const rounds: ClientUpdate[][] = [];
    for (let r = 0; r < 3; r++) rounds.push(Array.from({ length: 7 }, () => ({ delta: { a: f(3000), b: f(17) }, examples: 1 + rng.uniformInt(1000) })));
    return { global, rounds };
  };
  const options = (name: string) => (name === 'fedprox' ? { mu: 0.1, serverLearningRate: 0.7 } : name === 'fedavg' ? { serverLearningRate: 0.9 } : {});

  for (const name of Object.keys(KNOWN) as StrategyName[])
    it(`${name}: aggregate and aggregateSum (over the same sum) give the known bits`, async () => {
      const { createHash } = await import('node:crypto');
      const { global, rounds } = await data();
      const viaUpdates = createStrategy(name, options(name));
      const viaSum = createStrategy(name, options(name));
      const h = createHash('sha256');
      let x = global, y = global;
      for (const ups of rounds) {
        x = viaUpdates.aggregate(x, ups);
        // Σ n_k Δ_k in the updates' order, as the coordinator's streaming sum adds them.
        const sum = new Float64Array(3017);
        for (const u of ups) {
          for (let i = 0; i < 3000; i++) sum[i] += u.examples * u.delta.a[i];
          for (let i = 0; i < 17; i++) sum[3000 + i] += u.examples * u.delta.b[i];
        }
        y = viaSum.aggregateSum!(y, sum, ups.reduce((n, u) => n + u.examples, 0));
        h.update(new Uint8Array(x.a.buffer, x.a.byteOffset, x.a.byteLength)).update(new Uint8Array(x.b.buffer, x.b.byteOffset, x.b.byteLength));
        expect(Array.from(y.a)).toEqual(Array.from(x.a));
        expect(Array.from(y.b)).toEqual(Array.from(x.b));
      }
      h.update(JSON.stringify(viaUpdates.toJSON()));
      expect(h.digest('hex')).toBe(KNOWN[name]);
      expect(viaSum.toJSON()).toEqual(viaUpdates.toJSON());
    });

  it('aggregateSum refuses a sum of the wrong shape or with a non-finite value, and robust strategies have none', () => {
    expect(() => fedAvg().aggregateSum!(zero(), new Float64Array(2), 1)).toThrow(/"sum" expected a Float64Array of the model's 1 parameters/);
    expect(() => fedAvg().aggregateSum!(zero(), Float64Array.of(NaN), 1)).toThrow(/"sum\[0\]" expected a finite number/);
    expect(() => fedAvg().aggregateSum!(zero(), Float64Array.of(1), 0)).toThrow(ConfideError);
    expect(fedMedian().aggregateSum).toBeUndefined();
    expect(krum({ f: 1 }).aggregateSum).toBeUndefined();
  });
});

describe('tensor helpers', () => {
  it('compute and refuse as documented, and pass the type-confusion battery', async () => {
    const { atensors, cloneTensors, l2Norm, parameterCount, subtractTensors, zerosLike } = await import('../../src/fl/index.ts');
    const a = { w: t(3, 4), b: t(0) };
    expect(l2Norm(a)).toBe(5);
    expect(parameterCount(a)).toBe(3);
    expect(Array.from(subtractTensors(a, { w: t(1, 1), b: t(2) }).b)).toEqual([-2]);
    const c = cloneTensors(a);
    c.w[0] = 9;
    expect(a.w[0]).toBe(3);
    expect(Array.from(zerosLike(a).w)).toEqual([0, 0]);
    expect(thrown(() => atensors({}, 'x')).code).toBe('E_BAD_INPUT');
    const valid = () => [{ w: t(1, 2) }];
    const failures = [
      ...(await confusionFailures('cloneTensors', cloneTensors, valid)),
      ...(await confusionFailures('zerosLike', zerosLike, valid)),
      ...(await confusionFailures('l2Norm', l2Norm, valid)),
      ...(await confusionFailures('parameterCount', parameterCount, valid)),
      ...(await confusionFailures('tensorsToJson', tensorsToJson, valid)),
      ...(await confusionFailures('subtractTensors', subtractTensors, () => [{ w: t(1, 2) }, { w: t(0, 1) }])),
    ];
    expect(failures).toEqual([]);
  });
});
