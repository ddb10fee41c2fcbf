import { describe, expect, it } from 'vitest';
import { seededRng } from '../../src/core/index.ts';
import { LogisticRegression, Mlp, hashedBagOfWords, l2Norm, subtractTensors, type Example } from '../../src/fl/index.ts';
import { confusionFailures, thrown } from '../_battery.ts';

describe('hashedBagOfWords', () => {
  it('is deterministic, case-insensitive, sorted, distinct and unit-norm', () => {
    const a = hashedBagOfWords('Buy cheap VIEGRA now, buy NOW!', 1 << 12);
    const b = hashedBagOfWords('buy cheap viegra now buy now', 1 << 12);
    expect(Array.from(a.indices)).toEqual(Array.from(b.indices));
    expect(Array.from(a.values)).toEqual(Array.from(b.values));
    expect(a.indices.length).toBe(4); // buy, cheap, viegra, now (no collisions at 4096 buckets)
    for (let k = 1; k < a.indices.length; k++) expect(a.indices[k]).toBeGreaterThan(a.indices[k - 1]);
    let sq = 0;
    for (const v of a.values) sq += v * v;
    expect(sq).toBeCloseTo(1, 6);
    // "buy" and "now" appear twice: weight log(3) against log(2) for the others, before normalising.
    const mags = Array.from(a.values, Math.abs).sort();
    expect(mags[3] / mags[0]).toBeCloseTo(Math.log(3) / Math.log(2), 5);
    expect(hashedBagOfWords('', 16).indices.length).toBe(0);
  });

  it('passes the type-confusion battery', async () => {
    expect(await confusionFailures('hashedBagOfWords', hashedBagOfWords, () => ['hello world', 64], { accept: { 0: ['string'] } })).toEqual([]);
  });
});

describe('LogisticRegression', () => {
  it('one full-batch SGD step matches the hand-computed gradient', () => {
    // x = [1, 2], y = 1, w = 0, b = 0: p = 1/2, p - y = -1/2, ∇w = [-0.5, -1], ∇b = -0.5.
    const lr = new LogisticRegression({ features: 2 });
    const r = lr.fit(lr.initialWeights(), [{ x: Float32Array.of(1, 2), y: 1 }], { learningRate: 0.1, rng: seededRng(1) });
    expect(Array.from(r.weights.w)).toEqual([Math.fround(0.05), Math.fround(0.1)]);
    expect(r.weights.b[0]).toBe(Math.fround(0.05));
    expect(r.metrics.loss).toBeCloseTo(Math.log(2), 12);
    expect(r.examples).toBe(1);
  });

  it('learns a separable problem from dense and from sparse hashed text', () => {
    const rng = seededRng(7);
    const u = () => rng.nextU32() / 2 ** 32 - 0.5;
    const dense: Example[] = Array.from({ length: 400 }, () => {
      const x = Float32Array.of(u(), u(), u());
      return { x, y: x[0] + 2 * x[1] - x[2] > 0 ? 1 : 0 };
    });
    const lr = new LogisticRegression({ features: 3 });
    const fit = lr.fit(lr.initialWeights(), dense, { epochs: 30, learningRate: 1, rng });
    expect(lr.evaluate(fit.weights, dense).accuracy).toBeGreaterThan(0.95);

    const spam = ['win cash now', 'cheap pills online', 'free money win', 'cash prize claim now'];
    const ham = ['meeting at noon', 'see the report attached', 'lunch tomorrow with the team', 'notes from the meeting'];
    const D = 1 << 10;
    const text: Example[] = [...spam.map((s) => ({ x: hashedBagOfWords(s, D), y: 1 })), ...ham.map((s) => ({ x: hashedBagOfWords(s, D), y: 0 }))];
    const tl = new LogisticRegression({ features: D });
    const tf = tl.fit(tl.initialWeights(), text, { epochs: 50, learningRate: 1, batchSize: 4, rng });
    expect(tl.evaluate(tf.weights, text).accuracy).toBe(1);
    expect(tl.evaluate(tf.weights, [{ x: hashedBagOfWords('win free cash', D), y: 1 }]).accuracy).toBe(1);
  });

  it('FedProx μ keeps local training closer to the starting weights', () => {
    const data: Example[] = Array.from({ length: 100 }, (_, i) => ({ x: Float32Array.of(i % 2 ? 1 : -1, 0.5), y: i % 2 }));
    const lr = new LogisticRegression({ features: 2 });
    const start = lr.initialWeights();
    const far = lr.fit(start, data, { epochs: 20, learningRate: 0.5, rng: seededRng(1) });
    const near = lr.fit(start, data, { epochs: 20, learningRate: 0.5, proximalMu: 1, rng: seededRng(1) });
    expect(l2Norm(subtractTensors(near.weights, start))).toBeLessThan(0.7 * l2Norm(subtractTensors(far.weights, start)));
  });

  it('refuses bad examples and passes the type-confusion battery', async () => {
    const lr = new LogisticRegression({ features: 2 });
    expect(thrown(() => lr.fit(lr.initialWeights(), [{ x: Float32Array.of(1), y: 1 }])).field).toBe('examples[0].x');
    expect(thrown(() => lr.fit(lr.initialWeights(), [{ x: Float32Array.of(1, 2), y: 2 }])).field).toBe('examples[0].y');
    expect(thrown(() => lr.fit(lr.initialWeights(), [{ x: { indices: Uint32Array.of(5), values: Float32Array.of(1) }, y: 1 }])).code).toBe('E_BAD_INPUT');
    const failures = [
      ...(await confusionFailures('LogisticRegression', (o) => new LogisticRegression(o), () => [{ features: 4 }])),
      ...(await confusionFailures('fit', (w, e, o) => lr.fit(w, e, o), () => [lr.initialWeights(), [{ x: Float32Array.of(1, 2), y: 1 }], { epochs: 1 }], { accept: { 2: ['undefined', 'object'] } })),
      ...(await confusionFailures('evaluate', (w, e) => lr.evaluate(w, e), () => [lr.initialWeights(), [{ x: Float32Array.of(1, 2), y: 1 }]])),
    ];
    expect(failures).toEqual([]);
  });
});

describe('Mlp', () => {
  it('has the gradient of its loss (central finite differences)', () => {
    const mlp = new Mlp({ inputs: 3, hidden: 4, classes: 3 });
    const w = mlp.initialWeights(seededRng(11));
    const data: Example[] = [
      { x: Float32Array.of(0.5, -1, 2), y: 2 },
      { x: Float32Array.of(-0.3, 0.8, 0.1), y: 0 },
    ];
    const { gradient } = mlp.lossAndGradient(w, data);
    for (const name of Object.keys(w))
      for (let i = 0; i < w[name].length; i++) {
        const h = 1e-2, orig = w[name][i];
        w[name][i] = orig + h;
        const up = mlp.lossAndGradient(w, data).loss;
        w[name][i] = orig - h;
        const down = mlp.lossAndGradient(w, data).loss;
        w[name][i] = orig;
        expect(Math.abs((up - down) / (2 * h) - gradient[name][i]), `${name}[${i}]`).toBeLessThan(2e-3);
      }
  });

  it('skips zero inputs without changing a value (mostly-zero inputs take the sparse path)', () => {
    // 8 inputs, 2 nonzero per example (< half): the sparse path; a zero input must get exactly no w1 gradient.
    const mlp = new Mlp({ inputs: 8, hidden: 5, classes: 3 });
    const w = mlp.initialWeights(seededRng(12));
    const sparse: Example[] = [
      { x: Float32Array.of(0, 0.7, 0, 0, 0, -1.2, 0, 0), y: 1 },
      { x: Float32Array.of(0.4, 0, 0, 0, 0, 0, 0, 2), y: 2 },
    ];
    const { gradient } = mlp.lossAndGradient(w, sparse);
    for (let j = 0; j < 5; j++)
      for (const i of [2, 3, 4, 6]) expect(gradient.w1[j * 8 + i], `w1[${j}][${i}]`).toBe(0);
    // Central finite differences, as for dense inputs.
    for (const name of Object.keys(w))
      for (let i = 0; i < w[name].length; i++) {
        const h = 1e-2, orig = w[name][i];
        w[name][i] = orig + h;
        const up = mlp.lossAndGradient(w, sparse).loss;
        w[name][i] = orig - h;
        const down = mlp.lossAndGradient(w, sparse).loss;
        w[name][i] = orig;
        expect(Math.abs((up - down) / (2 * h) - gradient[name][i]), `${name}[${i}]`).toBeLessThan(2e-3);
      }
    // The same examples with tiny values instead of zeros go the dense way; the results must agree to within those values.
    const dense = sparse.map(({ x, y }) => ({ x: (x as Float32Array).map((v) => (v === 0 ? 1e-30 : v)), y }));
    const a = mlp.fit(w, sparse, { epochs: 3, learningRate: 0.3, batchSize: 1, rng: seededRng(2) });
    const b = mlp.fit(w, dense, { epochs: 3, learningRate: 0.3, batchSize: 1, rng: seededRng(2) });
    for (const name of Object.keys(w)) for (let i = 0; i < w[name].length; i++) expect(a.weights[name][i]).toBeCloseTo(b.weights[name][i], 6);
    expect(mlp.evaluate(a.weights, sparse)).toEqual(mlp.evaluate(b.weights, sparse));
  });

  it('learns XOR, which no linear model can', () => {
    const mlp = new Mlp({ inputs: 2, hidden: 8, classes: 2 });
    const xor: Example[] = [
      [0, 0, 0],
      [0, 1, 1],
      [1, 0, 1],
      [1, 1, 0],
    ].map(([a, b, y]) => ({ x: Float32Array.of(a, b), y }));
    const fit = mlp.fit(mlp.initialWeights(seededRng(5)), xor, { epochs: 2000, learningRate: 0.5, batchSize: 4, rng: seededRng(6) });
    expect(mlp.evaluate(fit.weights, xor).accuracy).toBe(1);
    expect(thrown(() => mlp.fit(fit.weights, [{ x: { indices: Uint32Array.of(0), values: Float32Array.of(1) }, y: 0 }])).code).toBe('E_BAD_INPUT');
  });

  it('passes the type-confusion battery', async () => {
    const mlp = new Mlp({ inputs: 2, hidden: 2, classes: 2 });
    const failures = [
      ...(await confusionFailures('Mlp', (o) => new Mlp(o), () => [{ inputs: 2, hidden: 3, classes: 2 }])),
      ...(await confusionFailures('Mlp.fit', (w, e) => mlp.fit(w, e), () => [mlp.initialWeights(seededRng(1)), [{ x: Float32Array.of(1, 2), y: 1 }]])),
    ];
    expect(failures).toEqual([]);
  });
});
