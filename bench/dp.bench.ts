/**
 * dp: the exact samplers and a mechanism on a long vector, against the
 * insecure samplers most JavaScript code uses (inverse CDF and Box–Muller on
 * Math.random, rounded to integers). Those anchors are what the exact samplers
 * must not be much slower than; they are not safe to use (Mironov 2012).
 *
 * Run with `npm run bench -- dp`.
 */
import { systemRng } from '../src/core/index.ts';
import { laplaceMechanism } from '../src/dp/mechanisms.ts';
import { DiscreteGaussian, DiscreteLaplace } from '../src/dp/samplers.ts';
import { runSuite, type CaseFactory } from './_harness.ts';

const N = 2 ** 20;
const MSAMPLES = N / 1e6;
const VECTOR = 1_000_000;

/** Inverse-CDF Laplace on Math.random, rounded: the textbook sampler with the floating-point gaps. */
function insecureLaplace(out: Float64Array, scale: number): Float64Array {
  for (let i = 0; i < out.length; i++) {
    const u = Math.random() - 0.5;
    out[i] = Math.round(-scale * Math.sign(u) * Math.log(1 - 2 * Math.abs(u)));
  }
  return out;
}

/** Box–Muller on Math.random, rounded. */
function insecureGaussian(out: Float64Array, sigma: number): Float64Array {
  for (let i = 0; i < out.length; i += 2) {
    const r = Math.sqrt(-2 * Math.log(1 - Math.random()));
    const th = 2 * Math.PI * Math.random();
    out[i] = Math.round(sigma * r * Math.cos(th));
    if (i + 1 < out.length) out[i + 1] = Math.round(sigma * r * Math.sin(th));
  }
  return out;
}

function variance(xs: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < xs.length; i++) s += xs[i] * xs[i];
  return s / xs.length;
}

const laplace: CaseFactory = () => {
  const dl = new DiscreteLaplace(10);
  const rng = systemRng();
  const out = new Int32Array(N), anchor = new Float64Array(N);
  return {
    name: 'discrete laplace scale 10',
    unit: 'M samples/s',
    better: 'higher',
    work: MSAMPLES,
    ours: dl.fill.bind(dl, out, rng),
    anchors: { 'insecure inverse-cdf Math.random': insecureLaplace.bind(null, anchor, 10) },
    check() {
      const v = variance(dl.fill(out, rng)), w = dl.variance;
      if (Math.abs(v / w - 1) > 0.02) throw new Error(`variance ${v} vs exact ${w}`);
    },
    notes: 'ours: exact CKS20 sampler, system CSPRNG, into an Int32Array; anchor: rounded inverse-CDF Laplace from Math.random',
  };
};

const gaussian: CaseFactory = () => {
  const dg = new DiscreteGaussian(100);
  const rng = systemRng();
  const out = new Int32Array(N), anchor = new Float64Array(N);
  return {
    name: 'discrete gaussian sigma 10',
    unit: 'M samples/s',
    better: 'higher',
    work: MSAMPLES,
    ours: dg.fill.bind(dg, out, rng),
    anchors: { 'insecure box-muller Math.random': insecureGaussian.bind(null, anchor, 10) },
    check() {
      const v = variance(dg.fill(out, rng));
      if (Math.abs(v / 100 - 1) > 0.02) throw new Error(`variance ${v} vs 100`);
    },
    notes: 'ours: exact CKS20 sampler (sigma^2 = 100), system CSPRNG; anchor: rounded Box-Muller from Math.random',
  };
};

const mechanism: CaseFactory = () => {
  const values = new Float64Array(VECTOR).map((_, i) => Math.sin(i));
  const anchor = new Float64Array(VECTOR);
  const insecureMechanism = () => {
    for (let i = 0; i < VECTOR; i++) {
      const u = Math.random() - 0.5;
      anchor[i] = values[i] - 1 * Math.sign(u) * Math.log(1 - 2 * Math.abs(u));
    }
    return anchor;
  };
  const options = { epsilon: 1, sensitivity: 1 };
  return {
    name: 'laplace mechanism 1e6-vector',
    unit: 'vectors/s',
    better: 'higher',
    work: 1,
    ours: laplaceMechanism.bind(null, values, options),
    anchors: { 'insecure float laplace Math.random': insecureMechanism },
    check() {
      const r = laplaceMechanism(values, options);
      let s = 0;
      for (let i = 0; i < VECTOR; i++) s += (r.value[i] - values[i]) ** 2;
      const want = 2 * r.noise.scale ** 2;
      if (Math.abs(s / VECTOR / want - 1) > 0.02) throw new Error(`noise variance ${s / VECTOR} vs ${want}`);
    },
    notes: 'ours: laplaceMechanism (grid 2^k, exact discrete Laplace, L1 sensitivity 1 over the whole vector, epsilon 1); anchor: insecure float Laplace of the same per-coordinate scale Δ/ε = 1 added to each coordinate',
  };
};

await runSuite('dp', [laplace, gaussian, mechanism], {});
