/**
 * The discrete Laplace kernel behind `DiscreteLaplace.fill`: the WASM kernel
 * equals its JS twin bit for bit, stops included (fast-check, with tables
 * rigged so that ties and the other stops happen); the stop-and-resume
 * orchestration reproduces `sample()` word for word on a scripted stream full
 * of ties; the tables are exact; and fill, through either backend, has the
 * exact pmf (chi-square at 1e-6, mean and variance at z = 4.75, seeded).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ConfideError, Rng, seededRng } from '../../src/core/index.ts';
import {
  LAPLACE_DONE,
  LAPLACE_EXHAUSTED,
  LAPLACE_RANGE,
  LAPLACE_STOP,
  PHASE_E1,
  PHASE_GEOMETRIC,
  PHASE_P0,
  PHASE_P1,
  arenaAlloc,
  jsKernels,
  kernelInfo,
  wasmKernels,
  type Kernels,
  type LaplaceParams,
  type LaplaceRun,
} from '../../src/core/wasm/loader.ts';
import { laplaceTwin, type BlockSource } from '../../src/core/wasm/_twins.ts';
import { DiscreteLaplace, expNegFloor, laplaceKernelFill, type LaplaceWordStream } from '../../src/dp/samplers.ts';
import { chiSquare, chiSquareCritical, zQuantile } from '../_stats.ts';

const wasm = wasmKernels();
const E1 = Number(expNegFloor(1n, 1n, 32));
const LIMIT = 2 ** 36 - 2 ** 24;
const NONCE0 = new Uint8Array(12);

/** The exact parameters a sampler hands to the kernels (captured from a zero-length run). */
function exactParams(dl: DiscreteLaplace): LaplaceParams {
  let captured: LaplaceParams | undefined;
  const stream = (): LaplaceWordStream => ({
    run(_out, params, run) {
      captured = params;
      run.status = LAPLACE_DONE;
    },
    word: () => 0,
  });
  laplaceKernelFill(dl, new Int32Array(0), seededRng(0), { kernels: jsKernels, stream });
  return captured as LaplaceParams;
}

const paramCache = new Map<string, LaplaceParams>();
function paramsFor(t: number, s: number): LaplaceParams {
  let p = paramCache.get(`${t}`);
  if (!p) {
    p = exactParams(new DiscreteLaplace({ num: t, den: 1 }));
    paramCache.set(`${t}`, p);
  }
  return { ...p, s };
}

/** Keystream word `pos` under key (nonce 0), straight from the JS block function. */
function keystreamWord(key: Uint8Array, pos: number): number {
  const block = new Uint32Array(16);
  jsKernels.chacha20(key, NONCE0, Math.floor(pos / 16), block);
  return block[pos % 16];
}

const newRun = (index: number, pos: number, limit: number): LaplaceRun => ({ index, pos, limit, status: -1, phase: -1, u: -1, v: -1, digit: -1 });
const bytesOf = (v: ArrayBufferView) => Buffer.from(v.buffer, v.byteOffset, v.byteLength);

describe.runIf(wasm)('discrete Laplace fill into WASM memory', () => {
  // First in the file, so that WASM memory has no free block the tables could reuse.
  it('writes the arena vector even when copying the tables in grows memory (detaching the view)', () => {
    using v = arenaAlloc(Int32Array, 300_000);
    const dl = new DiscreteLaplace(1e6);
    const before = kernelInfo().memoryBytes;
    dl.fill(v.view, seededRng(6));
    expect(kernelInfo().memoryBytes).toBeGreaterThan(before);
    expect(v.view).toEqual(laplaceKernelFill(dl, new Int32Array(300_000), seededRng(6)));
    expect(v.view.some((x) => x !== 0)).toBe(true);
  });
});

describe.runIf(wasm)('discrete Laplace kernel: WASM equals the JS twin', () => {
  const w = wasm as Kernels;
  const scales = [1, 2, 10, 1000, 65535, 65536, 65537, 1e6, 2 ** 31];

  it('bit for bit, with every stop (tie on p0, p1 or e1, long geometric run, range, exhausted) and resumption', () => {
    const seen = new Set<string>();
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 32, maxLength: 32 }),
        fc.constantFrom(...scales),
        fc.constantFrom(1, 3, 7),
        fc.oneof(fc.integer({ min: 0, max: 300 }), fc.constantFrom(0, 1, 63, 64, 65, 65535, 65536, 65537), fc.integer({ min: 0, max: 100_000 })),
        fc.boolean(), // Int32Array (else Float64Array)
        fc.boolean(), // output in WASM memory (else staged)
        fc.oneof(fc.integer({ min: 0, max: 200 }), fc.constant(2 ** 32 - 70), fc.integer({ min: 0, max: 2 ** 35 })),
        fc.constantFrom('none', 'p0', 'p1', 'e1', 'geometric', 'limit'),
        fc.integer({ min: 0, max: 2 ** 20 }).map((k) => k / 2 ** 20), // where the run starts in out
        fc.integer({ min: 0, max: 2 ** 20 }).map((k) => k / 2 ** 20), // which word the rigged table ties with
        (key, t, s, len, int32, inArena, pos0, rig, where, at) => {
          const exact = paramsFor(t, s);
          const p0 = exact.p0.slice(), p1 = exact.p1.slice();
          let e1 = E1, limit = LIMIT;
          // Rig a table so that a keystream word the run reads ties with it wherever it is compared.
          const start = Math.floor(where * len);
          let j = pos0 + Math.floor(at * (5 * (len - start) + 10));
          const rigged = (jj: number): LaplaceParams => {
            const r = { t, s, e1, p0: p0.slice(), p1: p1.slice() };
            if (rig === 'p0') r.p0.fill(keystreamWord(key, jj), 1);
            if (rig === 'p1') r.p1.fill(keystreamWord(key, jj), 1);
            if (rig === 'e1') r.e1 = keystreamWord(key, jj);
            return r;
          };
          if (rig === 'p0' || rig === 'p1' || rig === 'e1') {
            // A random word is compared with the rigged table only sometimes: find one that is
            // (any j will do if none is found). Words in [2^30, 3·2^30) keep every coin's
            // probability between 1/4 and 3/4, so that the rigged runs stay short.
            const phase = { p0: PHASE_P0, p1: PHASE_P1, e1: PHASE_E1 }[rig];
            for (let jj = j; jj < j + 300 && start < len; jj++) {
              const word = keystreamWord(key, jj);
              if (word < 2 ** 30 || word >= 3 * 2 ** 30) continue;
              const probe = newRun(0, pos0, jj + 1);
              jsKernels.laplace(new Float64Array(Math.min(64, len - start)), rigged(jj), key, probe);
              if (probe.status === LAPLACE_STOP && probe.phase === phase) {
                j = jj;
                break;
              }
            }
            const r = rigged(j);
            e1 = r.e1;
            p0.set(r.p0);
            p1.set(r.p1);
          }
          if (rig === 'geometric') e1 = 0xffffffff; // every other word is a success
          if (rig === 'limit') limit = j;
          using a0 = arenaAlloc(Uint32Array, p0.length), a1 = arenaAlloc(Uint32Array, p1.length);
          a0.view.set(p0);
          a1.view.set(p1);
          const Out = int32 ? Int32Array : Float64Array;
          using arena = arenaAlloc(Out as Float64ArrayConstructor, inArena ? len : 0);
          const outW = inArena ? arena.view : new Out(len), outJ = new Out(len);
          const pJ: LaplaceParams = { t, s, e1, p0, p1 };
          const rw = newRun(start, pos0, limit), rj = newRun(start, pos0, limit);
          // A rigged e1 makes every sample a 2^20-word geometric run: a few of those suffice.
          for (let step = 0, steps = rig === 'geometric' ? 3 : 40; step < steps; step++) {
            w.laplace(outW, { t, s, e1, p0: a0.view, p1: a1.view }, key, rw);
            jsKernels.laplace(outJ, pJ, key, rj);
            expect(rw).toEqual(rj);
            seen.add(rj.status === LAPLACE_STOP ? `stop${rj.phase}` : `status${rj.status}`);
            if (rj.status === LAPLACE_DONE) break;
            // Resume as the sampler would after finishing (or rekeying): the next sample, or a new limit.
            if (rj.status === LAPLACE_EXHAUSTED) rw.limit = rj.limit = rj.pos + 1 + step * 1000;
            else rw.index = ++rj.index;
          }
          expect(bytesOf(outW).equals(bytesOf(outJ))).toBe(true);
        },
      ),
      {
        numRuns: 200,
        // Random runs reach every stop only most of the time (a range stop needs scale 2^31 and
        // Int32Array output): these runs, one per stop, make the coverage check below certain.
        examples: (['none', 'p0', 'p1', 'e1', 'geometric', 'limit'] as const).map((rig) => {
          const range = rig === 'none';
          const example: [Uint8Array<ArrayBuffer>, number, 1, number, boolean, boolean, number, typeof rig, number, number] = [
            new Uint8Array(32).fill(7), range ? 2 ** 31 : 1e6, 1, 1000, range, false, 0, rig, 0, rig === 'limit' ? 0.5 : 0,
          ];
          return example;
        }),
      },
    );
    for (const s of [`status${LAPLACE_DONE}`, `status${LAPLACE_RANGE}`, `status${LAPLACE_EXHAUSTED}`, ...[PHASE_P0, PHASE_P1, PHASE_E1, PHASE_GEOMETRIC].map((p) => `stop${p}`)])
      expect(seen).toContain(s);
  });

  it('fill through WASM equals fill through the twin for the same key, any scale and length', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 32, maxLength: 32 }),
        fc.constantFrom(...scales),
        fc.constantFrom(1, 3, 7),
        fc.oneof(fc.integer({ min: 0, max: 300 }), fc.integer({ min: 0, max: 100_000 })),
        fc.boolean(),
        (key, t, s, len, int32) => {
          const dl = new DiscreteLaplace({ num: t, den: s });
          const Out = int32 && t <= 1e6 ? Int32Array : Float64Array; // 2^31 would overflow an Int32Array
          const a = laplaceKernelFill(dl, new Out(len), seededRng(1), { kernels: w, key });
          const b = laplaceKernelFill(dl, new Out(len), seededRng(1), { kernels: jsKernels, key });
          expect(bytesOf(a).equals(bytesOf(b))).toBe(true);
        },
      ),
      { numRuns: 60 },
    );
  });

  it('fill draws its key from the rng, and both backends rekey alike when the stream runs out', () => {
    const dl = new DiscreteLaplace({ num: 10, den: 3 });
    const viaFill = dl.fill(new Int32Array(5000), seededRng(8));
    expect(laplaceKernelFill(dl, new Int32Array(5000), seededRng(8), { kernels: w })).toEqual(viaFill);
    expect(laplaceKernelFill(dl, new Int32Array(5000), seededRng(8), { kernels: jsKernels })).toEqual(viaFill);
    // Explicit first key and start position: the same as running the kernel there.
    const key = seededRng(9).bytes(32);
    const direct = new Int32Array(3000);
    const run = newRun(0, 12345, LIMIT);
    jsKernels.laplace(direct, exactParams(dl), key, run);
    expect(run.status).toBe(LAPLACE_DONE);
    expect(laplaceKernelFill(dl, new Int32Array(3000), seededRng(1), { kernels: w, key, pos: 12345 })).toEqual(direct);
    // A new key, drawn from the rng, whenever an attempt would start at word 1000 or later.
    const rng = seededRng(10);
    const want = new Int32Array(20_000);
    const r = newRun(0, 0, 1000);
    let keys = 0;
    for (; r.index < want.length; keys++) {
      r.pos = 0;
      jsKernels.laplace(want, exactParams(dl), rng.bytes(32), r);
      expect([LAPLACE_DONE, LAPLACE_EXHAUSTED]).toContain(r.status);
    }
    expect(keys).toBeGreaterThan(50);
    expect(laplaceKernelFill(dl, new Int32Array(20_000), seededRng(10), { kernels: w, limit: 1000 })).toEqual(want);
    expect(laplaceKernelFill(dl, new Int32Array(20_000), seededRng(10), { kernels: jsKernels, limit: 1000 })).toEqual(want);
  });
});

// ---------------------------------------------------------------------------
// The stop-and-resume orchestration against sample(), on scripted words

/** An Rng that replays a script of words by position. */
class ScriptRng extends Rng {
  readonly kind = 'scripted';
  readonly #script: (pos: number) => number;
  #pos = 0;
  constructor(script: (pos: number) => number) {
    super();
    this.#script = script;
  }
  protected refill(out: Uint32Array): void {
    for (let i = 0; i < out.length; i++) out[i] = this.#script(this.#pos++);
  }
}

/**
 * Words that tie often: drawn mostly from a pool holding a few values of U,
 * the table prefixes their digits are compared with, floor(2^32/e), and the
 * next two 32-bit blocks of each expansion (and their neighbours), so that
 * ties go on past the first further block. From `zerosAt`, 2^20 + 10 zero
 * words make the Bernoulli(exp(-1)) loop outrun the kernel's limit.
 */
function hostileScript(t: number, seed: number, length: number, zerosAt: number): (pos: number) => number {
  const rng = seededRng(seed);
  const block = (a: bigint, b: bigint, k: number) => Number((expNegFloor(a, b, k) >> BigInt(k - 32)) & 0xffffffffn);
  const pool: number[] = [];
  const expansion = (a: bigint, b: bigint) => {
    const b64 = block(a, b, 64);
    pool.push(block(a, b, 32), b64, (b64 + 1) >>> 0, (b64 - 1) >>> 0, block(a, b, 96));
  };
  expansion(1n, 1n);
  const split = t > 65536;
  for (let k = 0; k < 3; k++) {
    // With two digits, one U whose high digit is not 0.
    const u = split && k === 0 ? 65536 + rng.uniformInt(t - 65536) : 1 + rng.uniformInt(t - 1);
    pool.push(u);
    const d0 = split ? u & 0xffff : u;
    if (d0 !== 0) expansion(BigInt(d0), BigInt(t));
    if (split && u >>> 16 !== 0) expansion(BigInt(u >>> 16) * 65536n, BigInt(t));
  }
  const words = new Uint32Array(length);
  for (let i = 0; i < length; i++)
    words[i] = i >= zerosAt && i < zerosAt + 2 ** 20 + 10 ? 0 : rng.uniformInt(8) === 0 ? rng.nextU32() : pool[rng.uniformInt(pool.length)];
  return (pos) => {
    if (pos >= length) throw new Error('script too short');
    return words[pos];
  };
}

/** The twin over scripted words, counting the stops by phase. */
function scriptedStream(script: (pos: number) => number, stops: Map<number, number>): () => LaplaceWordStream {
  const source: BlockSource = (block, out) => {
    for (let i = 0; i < out.length; i++) out[i] = script(16 * block + i);
  };
  return () => ({
    run(out, params, run) {
      laplaceTwin(out, params, source, run);
      if (run.status === LAPLACE_STOP) stops.set(run.phase, (stops.get(run.phase) ?? 0) + 1);
    },
    word: script,
  });
}

describe('discrete Laplace kernel: stops resumed in JS give exactly what sample() gives', () => {
  it.each([
    ['10', 10, 1],
    ['10/3', 10, 3],
    ['65537/7 (two digits)', 65537, 7],
    ['10^6 (two digits)', 1e6, 1],
  ] as const)('scale %s, on a scripted stream full of ties', (_name, t, s) => {
    const n = 30_000;
    const script = hostileScript(t, t + s, 1_600_000, 120_000);
    const dl = new DiscreteLaplace({ num: t, den: s });
    const stops = new Map<number, number>();
    const got = laplaceKernelFill(dl, new Float64Array(n), seededRng(1), { stream: scriptedStream(script, stops) });
    const ref = new ScriptRng(script);
    const want = Float64Array.from({ length: n }, () => Number(dl.sample(ref)));
    expect(bytesOf(got).equals(bytesOf(want))).toBe(true);
    expect(stops.get(PHASE_P0) ?? 0).toBeGreaterThan(0);
    expect(stops.get(PHASE_E1) ?? 0).toBeGreaterThan(0);
    expect(stops.get(PHASE_GEOMETRIC)).toBe(1);
    if (t > 65536) expect(stops.get(PHASE_P1) ?? 0).toBeGreaterThan(0);
    expect(Math.max(...got.map(Math.abs))).toBeGreaterThanOrEqual(Math.floor((t * 2 ** 20) / s)); // the long run landed
  });

  it('an Int32Array fill fails at the first sample that does not fit, after writing the ones before', () => {
    const t = 2 ** 31;
    const script = hostileScript(t, 5, 200_000, 150_000);
    const dl = new DiscreteLaplace(t);
    const ref = new ScriptRng(script);
    const want: number[] = [];
    for (;;) {
      const y = Number(dl.sample(ref));
      if (y < -(2 ** 31) || y > 2 ** 31 - 1) break;
      want.push(y);
    }
    const out = new Int32Array(want.length + 100);
    let err: unknown;
    try {
      laplaceKernelFill(dl, out, seededRng(1), { stream: scriptedStream(script, new Map()) });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConfideError);
    expect((err as ConfideError).code).toBe('E_OVERFLOW');
    expect((err as ConfideError).message).toContain(`sample ${want.length} `);
    expect(Array.from(out.subarray(0, want.length))).toEqual(want);
  });

  it('the tables are the exact prefixes floor(2^32·exp(-γ))', () => {
    const rng = seededRng(3);
    for (const t of [7, 1000, 65536, 65537, 1e6, 2 ** 31 + 5]) {
      const { p0, p1 } = exactParams(new DiscreteLaplace(t));
      expect(p0.length).toBe(Math.min(t, 65536));
      expect(p1.length).toBe(t > 65536 ? Math.ceil(t / 65536) : 0);
      const check = (table: Uint32Array, step: bigint, i: number) => {
        if (i > 0) expect(table[i]).toBe(Number(expNegFloor(BigInt(i) * step, BigInt(t), 32)));
      };
      for (let k = 0; k < 200; k++) {
        check(p0, 1n, rng.uniformInt(p0.length));
        if (p1.length > 0) check(p1, 65536n, rng.uniformInt(p1.length));
      }
      for (const i of [1, 2, p0.length - 1]) check(p0, 1n, i);
      if (p1.length > 1) check(p1, 65536n, p1.length - 1);
    }
  });
});

// ---------------------------------------------------------------------------
// Statistics of fill, through each backend

/** P(X <= x) for the discrete Laplace with p = exp(-1/τ): P(x) = (1-p)/(1+p)·p^|x|. */
function cdf(p: number, x: number): number {
  return x >= 0 ? 1 - p ** (x + 1) / (1 + p) : p ** -x / (1 + p);
}

/** Chi-square over bins of (near) equal probability, edges at integer quantiles. */
function chiSquareBinned(xs: ArrayLike<number>, p: number, bins: number) {
  const logp = Math.log(p);
  // Upper edges e_k: the least integer with cdf >= k/bins, found from the closed form.
  const quantile = (q: number) => {
    let x = q < 1 / (1 + p) ? -Math.floor(Math.log(q * (1 + p)) / logp) : Math.ceil(Math.log((1 - q) * (1 + p)) / logp - 1);
    while (cdf(p, x - 1) >= q) x--;
    while (cdf(p, x) < q) x++;
    return x;
  };
  const edges = [...new Set(Array.from({ length: bins - 1 }, (_, k) => quantile((k + 1) / bins)))].sort((a, b) => a - b);
  const observed = new Float64Array(edges.length + 1);
  for (let i = 0; i < xs.length; i++) {
    let lo = 0, hi = edges.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (xs[i] <= edges[mid]) hi = mid;
      else lo = mid + 1;
    }
    observed[lo]++;
  }
  const expected = new Float64Array(edges.length + 1);
  let prev = 0;
  for (let k = 0; k <= edges.length; k++) {
    const c = k < edges.length ? cdf(p, edges[k]) : 1;
    expected[k] = (c - prev) * xs.length;
    prev = c;
  }
  return { stat: chiSquare(observed, expected), df: edges.length };
}

describe.each([
  ['default backend', undefined],
  ['JS twin (as with CONFIDE_WASM=0)', jsKernels],
  ...(wasm ? [['WASM', wasm] as const] : []),
] as const)('fill through the %s has the exact distribution', (_name, k) => {
  it.each([
    ['10', { num: 10, den: 1 }, {}],
    ['10/3', { num: 10, den: 3 }, {}],
    ['10^6', { num: 1e6, den: 1 }, {}],
    ['10/3, a new key every 1000 words', { num: 10, den: 3 }, { limit: 1000 }],
  ] as const)('scale %s: chi-square, mean and variance', (_n, scale, opts) => {
    const tau = scale.num / scale.den;
    const p = Math.exp(-1 / tau);
    const n = 400_000;
    const dl = new DiscreteLaplace(scale);
    const rng = seededRng(Math.round(tau * 7));
    const xs = k === undefined && !('limit' in opts) ? dl.fill(new Float64Array(n), rng) : laplaceKernelFill(dl, new Float64Array(n), rng, { kernels: k ?? undefined, ...opts });
    const variance = (2 * p) / (1 - p) ** 2;
    let mean = 0;
    for (let i = 0; i < n; i++) mean += xs[i];
    mean /= n;
    let v = 0, m4 = 0;
    for (let i = 0; i < n; i++) {
      const d = xs[i] - mean;
      v += d * d;
      m4 += d ** 4;
    }
    v /= n;
    m4 /= n;
    const z = zQuantile('1e-6');
    expect(Math.abs(mean)).toBeLessThan(z * Math.sqrt(variance / n));
    expect(Math.abs(v - variance)).toBeLessThan(z * Math.sqrt((m4 - variance * variance) / n));
    const { stat, df } = chiSquareBinned(xs, p, 60);
    expect(df).toBeGreaterThanOrEqual(8);
    expect(stat).toBeLessThan(chiSquareCritical(df, '1e-6'));
  });
});

describe('fill routing and arguments', () => {
  it('keeps short fills, BigInt64Array and large scales on the sample() path, and checks its rng', () => {
    const dl = new DiscreteLaplace(10);
    const r = seededRng(2);
    expect(dl.fill(new Int32Array(15), seededRng(2))).toEqual(Int32Array.from({ length: 15 }, () => Number(dl.sample(r))));
    expect(dl.fill(new Int32Array(16), seededRng(2))).toEqual(laplaceKernelFill(dl, new Int32Array(16), seededRng(2)));
    const r2 = seededRng(3);
    expect(dl.fill(new BigInt64Array(100), seededRng(3))).toEqual(BigInt64Array.from({ length: 100 }, () => BigInt(dl.sample(r2))));
    const big = new DiscreteLaplace(2 ** 40);
    const r3 = seededRng(4);
    expect(big.fill(new Float64Array(100), seededRng(4))).toEqual(Float64Array.from({ length: 100 }, () => Number(big.sample(r3))));
    expect(() => dl.fill(new Int32Array(100), {} as Rng)).toThrow(ConfideError);
    expect(() => laplaceKernelFill(big, new Float64Array(4), seededRng(1))).toThrow(ConfideError);
  });
});
