/**
 * Built-in trainers for the examples: binary logistic regression (dense or
 * sparse features, e.g. hashed bag-of-words for text) and a one-hidden-layer
 * MLP with softmax output, both trained by minibatch SGD in plain TypeScript
 * on Float32Array weights. Both take the FedProx proximal term: with
 * `proximalMu` = μ, local training minimises f(w) + (μ/2)‖w − w_t‖² where w_t
 * are the weights it started from (Li et al., MLSys 2020, eq. 2), which adds
 * μ(w − w_t) to every gradient.
 */
import { ainteger, anumber, aoptions } from '../core/assert.ts';
import { ConfideError, describe } from '../core/errors.ts';
import { arng, systemRng, type Rng } from '../core/random.ts';
import { atensors, cloneTensors, type Tensors } from './tensors.ts';

/** A sparse feature vector: parallel arrays of indices and values. */
export interface SparseVector {
  readonly indices: Uint32Array;
  readonly values: Float32Array;
}

export type Features = Float32Array | SparseVector;

export interface Example {
  readonly x: Features;
  /** The class: 0 or 1 for logistic regression, 0..classes-1 for the MLP. */
  readonly y: number;
}

export interface TrainOptions {
  /** Passes over the local data (default 1). */
  epochs?: number;
  /** SGD step size (default 0.1). */
  learningRate?: number;
  /** Minibatch size (default 32). */
  batchSize?: number;
  /** L2 weight decay λ (adds λw to the gradient; default 0). */
  l2?: number;
  /** FedProx μ: adds μ(w − w_start) to the gradient (default 0). */
  proximalMu?: number;
  /** Shuffles the data each epoch (default systemRng(); seeded only in tests). */
  rng?: Rng;
}

export interface FitResult {
  readonly weights: Tensors;
  readonly examples: number;
  readonly metrics: { readonly loss: number };
}

export interface EvaluateResult {
  readonly loss: number;
  readonly accuracy: number;
  readonly examples: number;
}

// ---------------------------------------------------------------------------
// Hashed bag of words (the hashing trick, Weinberger et al., ICML 2009)

const TOKEN = /[\p{L}\p{N}][\p{L}\p{N}'$_-]*/gu;

/** FNV-1a over UTF-16 code units: fast, stable across runs and machines. */
function fnv1a(s: string, seed: number): number {
  let h = (0x811c9dc5 ^ seed) >>> 0;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h;
}

/**
 * Lower-cased word tokens hashed into `dimensions` buckets with a hashed sign
 * (so collisions cancel in expectation), log(1 + count) weights, scaled to
 * unit L2 norm. Indices come out sorted and distinct.
 */
export function hashedBagOfWords(text: string, dimensions: number): SparseVector {
  if (typeof text !== 'string') throw new ConfideError('E_BAD_INPUT', `"text" expected a string, got ${describe(text)}`, { field: 'text' });
  ainteger(dimensions, 'dimensions', 1, 2 ** 30);
  const counts = new Map<number, number>();
  for (const m of text.toLowerCase().matchAll(TOKEN)) {
    const tok = m[0];
    const h = fnv1a(tok, 0);
    const sign = fnv1a(tok, 0x9e3779b9) & 1 ? 1 : -1;
    const i = h % dimensions;
    counts.set(i, (counts.get(i) ?? 0) + sign);
  }
  const indices = Uint32Array.from([...counts.keys()].filter((i) => counts.get(i) !== 0)).sort();
  const values = new Float32Array(indices.length);
  let sq = 0;
  indices.forEach((i, k) => {
    const c = counts.get(i)!;
    values[k] = Math.sign(c) * Math.log1p(Math.abs(c));
    sq += values[k] * values[k];
  });
  const norm = Math.sqrt(sq);
  if (norm > 0) for (let k = 0; k < values.length; k++) values[k] /= norm;
  return { indices, values };
}

// ---------------------------------------------------------------------------
// Shared pieces

interface Resolved {
  epochs: number;
  learningRate: number;
  batchSize: number;
  l2: number;
  proximalMu: number;
  rng: Rng;
}

function resolveTrain(options: TrainOptions | undefined): Resolved {
  aoptions(options, 'options', ['epochs', 'learningRate', 'batchSize', 'l2', 'proximalMu', 'rng']);
  const o = options ?? {};
  return {
    epochs: o.epochs === undefined ? 1 : ainteger(o.epochs, 'epochs', 1, 10_000),
    learningRate: o.learningRate === undefined ? 0.1 : anumber(o.learningRate, 'learningRate', 0, 1e3, true),
    batchSize: o.batchSize === undefined ? 32 : ainteger(o.batchSize, 'batchSize', 1, 2 ** 24),
    l2: o.l2 === undefined ? 0 : anumber(o.l2, 'l2', 0, 1e3),
    proximalMu: o.proximalMu === undefined ? 0 : anumber(o.proximalMu, 'proximalMu', 0, 1e6),
    rng: o.rng === undefined ? systemRng() : arng(o.rng, 'rng'),
  };
}

function isSparse(x: Features): x is SparseVector {
  return !(x instanceof Float32Array);
}

function aexamples(v: unknown, dims: number, classes: number, allowEmpty: boolean): Example[] {
  if (!Array.isArray(v) || (!allowEmpty && v.length === 0))
    throw new ConfideError('E_BAD_INPUT', `"examples" expected ${allowEmpty ? 'an' : 'a non-empty'} array of { x, y }, got ${describe(v)}`, { field: 'examples' });
  for (let k = 0; k < v.length; k++) {
    const e = v[k] as Example;
    if (typeof e !== 'object' || e === null) throw new ConfideError('E_BAD_INPUT', `"examples[${k}]" expected { x, y }, got ${describe(e)}`, { field: `examples[${k}]` });
    ainteger(e.y, `examples[${k}].y`, 0, classes - 1);
    const x = e.x;
    if (x instanceof Float32Array) {
      if (x.length !== dims) throw new ConfideError('E_BAD_INPUT', `"examples[${k}].x" expected ${dims} features, got ${x.length}`, { field: `examples[${k}].x` });
    } else if (typeof x === 'object' && x !== null && (x as SparseVector).indices instanceof Uint32Array && (x as SparseVector).values instanceof Float32Array) {
      const s = x as SparseVector;
      if (s.indices.length !== s.values.length) throw new ConfideError('E_BAD_INPUT', `"examples[${k}].x" has ${s.indices.length} indices and ${s.values.length} values`, { field: `examples[${k}].x` });
      for (const i of s.indices) if (i >= dims) throw new ConfideError('E_BAD_INPUT', `"examples[${k}].x" has index ${i} >= ${dims}`, { field: `examples[${k}].x` });
    } else throw new ConfideError('E_BAD_INPUT', `"examples[${k}].x" expected a Float32Array or { indices: Uint32Array, values: Float32Array }, got ${describe(x)}`, { field: `examples[${k}].x` });
  }
  return v as Example[];
}

/** Adds the proximal and weight-decay terms to `grad` (already averaged over the batch). */
function regularise(grad: Float32Array, w: Float32Array, start: Float32Array, o: Resolved): void {
  if (o.l2 === 0 && o.proximalMu === 0) return;
  for (let i = 0; i < grad.length; i++) grad[i] += o.l2 * w[i] + o.proximalMu * (w[i] - start[i]);
}

function batches(n: number, o: Resolved): Uint32Array[] {
  const order = o.rng.shuffle(Array.from({ length: n }, (_, i) => i));
  const out: Uint32Array[] = [];
  for (let i = 0; i < n; i += o.batchSize) out.push(Uint32Array.from(order.slice(i, i + o.batchSize)));
  return out;
}

// ---------------------------------------------------------------------------
// Logistic regression

/** Binary logistic regression: p(y = 1 | x) = σ(w·x + b). Tensors: `w` (features), `b` (1). */
export class LogisticRegression {
  readonly features: number;

  constructor(options: { features: number }) {
    aoptions(options, 'options', ['features']);
    this.features = ainteger(options?.features, 'features', 1, 2 ** 26);
  }

  /** Zeros: logistic loss is convex, so no symmetry needs breaking. */
  initialWeights(): Tensors {
    return { w: new Float32Array(this.features), b: new Float32Array(1) };
  }

  #logit(w: Float32Array, b: number, x: Features): number {
    let z = b;
    if (isSparse(x)) for (let k = 0; k < x.indices.length; k++) z += w[x.indices[k]] * x.values[k];
    else for (let i = 0; i < x.length; i++) z += w[i] * x[i];
    return z;
  }

  fit(weights: Tensors, examples: readonly Example[], options?: TrainOptions): FitResult {
    const like = this.initialWeights();
    atensors(weights, 'weights', like);
    aexamples(examples, this.features, 2, false);
    const o = resolveTrain(options);
    const out = cloneTensors(weights);
    const w = out.w, b = out.b, start = weights.w, startB = weights.b;
    const grad = new Float32Array(this.features);
    let lossSum = 0, seen = 0;
    for (let epoch = 0; epoch < o.epochs; epoch++) {
      for (const batch of batches(examples.length, o)) {
        grad.fill(0);
        let gb = 0;
        const touched = new Set<number>();
        for (const k of batch) {
          const { x, y } = examples[k];
          const z = this.#logit(w, b[0], x);
          const p = 1 / (1 + Math.exp(-z));
          // log(1 + e^{-z}) for y = 1, log(1 + e^{z}) for y = 0, computed stably.
          const m = y === 1 ? -z : z;
          lossSum += m > 0 ? m + Math.log1p(Math.exp(-m)) : Math.log1p(Math.exp(m));
          seen++;
          const r = p - y;
          gb += r;
          if (isSparse(x))
            for (let j = 0; j < x.indices.length; j++) {
              grad[x.indices[j]] += r * x.values[j];
              touched.add(x.indices[j]);
            }
          else for (let i = 0; i < x.length; i++) grad[i] += r * x[i];
        }
        const scale = o.learningRate / batch.length;
        if (o.l2 === 0 && o.proximalMu === 0 && touched.size > 0) {
          // Sparse data without regularisation: only the touched coordinates move.
          for (const i of touched) w[i] -= scale * grad[i];
        } else {
          for (let i = 0; i < grad.length; i++) grad[i] /= batch.length;
          regularise(grad, w, start, o);
          for (let i = 0; i < w.length; i++) w[i] -= o.learningRate * grad[i];
        }
        b[0] -= o.learningRate * (gb / batch.length + o.proximalMu * (b[0] - startB[0]));
      }
    }
    return { weights: out, examples: examples.length, metrics: { loss: lossSum / seen } };
  }

  evaluate(weights: Tensors, examples: readonly Example[]): EvaluateResult {
    atensors(weights, 'weights', this.initialWeights());
    aexamples(examples, this.features, 2, true);
    let loss = 0, correct = 0;
    for (const { x, y } of examples) {
      const z = this.#logit(weights.w, weights.b[0], x);
      const m = y === 1 ? -z : z;
      loss += m > 0 ? m + Math.log1p(Math.exp(-m)) : Math.log1p(Math.exp(m));
      if ((z > 0 ? 1 : 0) === y) correct++;
    }
    const n = examples.length;
    return { loss: n ? loss / n : 0, accuracy: n ? correct / n : 0, examples: n };
  }
}

// ---------------------------------------------------------------------------
// MLP

/**
 * One hidden ReLU layer and a softmax output, cross-entropy loss. Tensors:
 * `w1` (hidden × inputs, row-major), `b1` (hidden), `w2` (classes × hidden), `b2` (classes).
 * Dense inputs only.
 */
export class Mlp {
  readonly inputs: number;
  readonly hidden: number;
  readonly classes: number;

  constructor(options: { inputs: number; hidden: number; classes: number }) {
    aoptions(options, 'options', ['inputs', 'hidden', 'classes']);
    this.inputs = ainteger(options?.inputs, 'inputs', 1, 2 ** 20);
    this.hidden = ainteger(options.hidden, 'hidden', 1, 2 ** 16);
    this.classes = ainteger(options.classes, 'classes', 2, 2 ** 16);
    if (this.inputs * this.hidden > 2 ** 28) throw new ConfideError('E_BAD_INPUT', `"hidden" × "inputs" = ${this.inputs * this.hidden} is over 2^28 weights`, { field: 'hidden' });
  }

  #shape(): Tensors {
    return {
      w1: new Float32Array(this.hidden * this.inputs),
      b1: new Float32Array(this.hidden),
      w2: new Float32Array(this.classes * this.hidden),
      b2: new Float32Array(this.classes),
    };
  }

  /**
   * He initialisation (uniform with variance 2/fan_in) from `rng`; the
   * coordinator draws it once and sends it to every client.
   */
  initialWeights(rng: Rng = systemRng()): Tensors {
    arng(rng, 'rng');
    const t = this.#shape();
    const fill = (a: Float32Array, fanIn: number) => {
      const limit = Math.sqrt(6 / fanIn);
      for (let i = 0; i < a.length; i++) a[i] = (rng.nextU32() / 2 ** 32 * 2 - 1) * limit;
    };
    fill(t.w1, this.inputs);
    fill(t.w2, this.hidden);
    return t;
  }

  /**
   * Writes the indices of the nonzero inputs of `x` into `nz` and returns how
   * many there are, or -1 when at least half are nonzero (then the dense loops
   * are faster). A zero input adds exactly ±0 to every first-layer sum and
   * gradient, so skipping it changes no value (images such as MNIST are about
   * 80% zero pixels, which makes the first layer about 5 times cheaper).
   */
  #nonzero(x: Float32Array, nz: Uint32Array): number {
    let n = 0;
    for (let i = 0; i < x.length; i++) if (x[i] !== 0) nz[n++] = i;
    return 2 * n < x.length ? n : -1;
  }

  /** Forward pass: hidden activations into `h`, softmax probabilities into `p`; `nz`/`n` from #nonzero. */
  #forward(t: Tensors, x: Float32Array, h: Float32Array, p: Float64Array, nz: Uint32Array, n: number): void {
    const { w1, b1, w2, b2 } = t;
    const I = this.inputs, H = this.hidden, C = this.classes;
    for (let j = 0; j < H; j++) {
      let s = b1[j];
      const row = j * I;
      if (n < 0) for (let i = 0; i < I; i++) s += w1[row + i] * x[i];
      else
        for (let q = 0; q < n; q++) {
          const i = nz[q];
          s += w1[row + i] * x[i];
        }
      h[j] = s > 0 ? s : 0;
    }
    let max = -Infinity;
    for (let c = 0; c < C; c++) {
      let s = b2[c];
      const row = c * H;
      for (let j = 0; j < H; j++) s += w2[row + j] * h[j];
      p[c] = s;
      if (s > max) max = s;
    }
    let z = 0;
    for (let c = 0; c < C; c++) z += p[c] = Math.exp(p[c] - max);
    for (let c = 0; c < C; c++) p[c] /= z;
  }

  #dense(examples: readonly Example[]): void {
    examples.forEach((e, k) => {
      if (!(e.x instanceof Float32Array)) throw new ConfideError('E_BAD_INPUT', `"examples[${k}].x": the MLP takes dense Float32Array features`, { field: `examples[${k}].x` });
    });
  }

  /** Mean cross-entropy loss and its gradient over `examples` (used by fit, and by tests for a finite-difference check). */
  lossAndGradient(weights: Tensors, examples: readonly Example[]): { loss: number; gradient: Tensors } {
    atensors(weights, 'weights', this.#shape());
    aexamples(examples, this.inputs, this.classes, false);
    this.#dense(examples);
    const g = this.#shape();
    const loss = this.#accumulate(weights, examples, Uint32Array.from(examples.keys()), g);
    for (const name of Object.keys(g)) for (let i = 0; i < g[name].length; i++) g[name][i] /= examples.length;
    return { loss: loss / examples.length, gradient: g };
  }

  /** Adds the summed gradient of `batch` into `g`; returns the summed loss. */
  #accumulate(t: Tensors, examples: readonly Example[], batch: Uint32Array, g: Tensors): number {
    const I = this.inputs, H = this.hidden, C = this.classes;
    const h = new Float32Array(H), p = new Float64Array(C), dh = new Float64Array(H), nz = new Uint32Array(I);
    let loss = 0;
    for (const k of batch) {
      const x = examples[k].x as Float32Array, y = examples[k].y;
      const n = this.#nonzero(x, nz);
      this.#forward(t, x, h, p, nz, n);
      loss -= Math.log(Math.max(p[y], 1e-300));
      dh.fill(0);
      for (let c = 0; c < C; c++) {
        const d = p[c] - (c === y ? 1 : 0);
        g.b2[c] += d;
        const row = c * H;
        for (let j = 0; j < H; j++) {
          g.w2[row + j] += d * h[j];
          dh[j] += d * t.w2[row + j];
        }
      }
      for (let j = 0; j < H; j++) {
        if (h[j] <= 0) continue;
        const d = dh[j];
        g.b1[j] += d;
        const row = j * I;
        if (n < 0) for (let i = 0; i < I; i++) g.w1[row + i] += d * x[i];
        else
          for (let q = 0; q < n; q++) {
            const i = nz[q];
            g.w1[row + i] += d * x[i];
          }
      }
    }
    return loss;
  }

  fit(weights: Tensors, examples: readonly Example[], options?: TrainOptions): FitResult {
    atensors(weights, 'weights', this.#shape());
    aexamples(examples, this.inputs, this.classes, false);
    this.#dense(examples);
    const o = resolveTrain(options);
    const out = cloneTensors(weights);
    const g = this.#shape();
    let lossSum = 0;
    for (let epoch = 0; epoch < o.epochs; epoch++)
      for (const batch of batches(examples.length, o)) {
        for (const name of Object.keys(g)) g[name].fill(0);
        lossSum += this.#accumulate(out, examples, batch, g);
        for (const name of Object.keys(g)) {
          const grad = g[name], w = out[name];
          for (let i = 0; i < grad.length; i++) grad[i] /= batch.length;
          regularise(grad, w, weights[name], o);
          for (let i = 0; i < w.length; i++) w[i] -= o.learningRate * grad[i];
        }
      }
    return { weights: out, examples: examples.length, metrics: { loss: lossSum / (examples.length * o.epochs) } };
  }

  evaluate(weights: Tensors, examples: readonly Example[]): EvaluateResult {
    atensors(weights, 'weights', this.#shape());
    aexamples(examples, this.inputs, this.classes, true);
    this.#dense(examples);
    const h = new Float32Array(this.hidden), p = new Float64Array(this.classes), nz = new Uint32Array(this.inputs);
    let loss = 0, correct = 0;
    for (const { x, y } of examples) {
      this.#forward(weights, x as Float32Array, h, p, nz, this.#nonzero(x as Float32Array, nz));
      loss -= Math.log(Math.max(p[y], 1e-300));
      let best = 0;
      for (let c = 1; c < this.classes; c++) if (p[c] > p[best]) best = c;
      if (best === y) correct++;
    }
    const n = examples.length;
    return { loss: n ? loss / n : 0, accuracy: n ? correct / n : 0, examples: n };
  }
}
