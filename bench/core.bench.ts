/**
 * core: the kernels every protocol leans on, on 2^20-entry vectors.
 *
 * 1. ChaCha20 keystream: the WASM kernel against node:crypto (OpenSSL),
 *    @noble/ciphers and the JS twin.
 * 2. Mask expansion (vector += PRG(seed)): the public `addMask` on an ordinary
 *    vector against the fused WASM kernel on a vector in WASM memory, the JS
 *    twin, and the keystream alone from node:crypto and @noble/ciphers (what
 *    a mask would cost before the add).
 * 3. Vector add in Z_2^32: `Z32.add` on WASM-memory vectors against the JS twin.
 * 4. Fixed-point encoding with stochastic rounding: the WASM kernel against the
 *    JS twin and the public `FixedPoint.encode`.
 *
 * Run with `npm run bench -- core`, or `node --expose-gc bench/core.bench.ts`.
 */
import { createCipheriv, randomBytes, randomFillSync } from 'node:crypto';
import { Z32, FixedPoint, addMask, arenaAlloc, chacha20Keystream, kernelInfo } from '../src/core/index.ts';
import { jsKernels, wasmKernels } from '../src/core/wasm/loader.ts';
import { peer, runSuite, type CaseFactory, type Runner } from './_harness.ts';

const N = 2 ** 20;
const BYTES = 4 * N; // 2^20 u32 words
const MB = BYTES / 1e6;
const MVALUES = N / 1e6;

const wasm = wasmKernels();
const info = kernelInfo();
const noWasm = { unavailable: `WASM kernels unavailable (${info.reason ?? 'unknown reason'})` };

type XorStream = (key: Uint8Array, nonce: Uint8Array, data: Uint8Array, output?: Uint8Array, counter?: number) => Uint8Array;
let nobleChacha20: XorStream | { unavailable: string };
try {
  nobleChacha20 = (await peer<{ chacha20: XorStream }>('@noble/ciphers/chacha.js')).chacha20;
} catch (e) {
  nobleChacha20 = { unavailable: e instanceof Error ? e.message : String(e) };
}

const bytes = (n: number) => new Uint8Array(randomBytes(n));
const zeros = new Uint8Array(BYTES);

/** node:crypto's chacha20 takes a 16-byte IV: the 32-bit block counter (little-endian), then the 12-byte nonce. */
function nodeIv(nonce: Uint8Array): Uint8Array {
  const iv = new Uint8Array(16);
  iv.set(nonce, 4);
  return iv;
}

/** 4 MiB of keystream from node:crypto: a fresh cipher each call, as ours is keyed per call. */
function nodeKeystream(key: Uint8Array, nonce: Uint8Array): Runner {
  const iv = nodeIv(nonce);
  return () => createCipheriv('chacha20', key, iv).update(zeros);
}

/** 4 MiB of keystream from @noble/ciphers (12-byte nonce, counter 0), into a reused output buffer. */
function nobleKeystream(key: Uint8Array, nonce: Uint8Array, out: Uint8Array): Runner {
  const f = nobleChacha20;
  if (typeof f !== 'function') return f;
  return f.bind(null, key, nonce, zeros, out, 0);
}

function assertEqualBytes(what: string, a: ArrayBufferView, b: ArrayBufferView): void {
  const x = Buffer.from(a.buffer, a.byteOffset, a.byteLength);
  const y = Buffer.from(b.buffer, b.byteOffset, b.byteLength);
  if (x.length !== y.length || !x.equals(y)) throw new Error(`${what} differs`);
}

const keystream: CaseFactory = () => {
  const key = bytes(32), nonce = bytes(12);
  const out = wasm ? arenaAlloc(Uint32Array, N) : null;
  const jsOut = new Uint32Array(N);
  const apiOut = new Uint8Array(BYTES);
  const nobleOut = new Uint8Array(BYTES);
  const node = nodeKeystream(key, nonce);
  const noble = nobleKeystream(key, nonce, nobleOut);
  return {
    name: 'chacha20 keystream',
    unit: 'MB/s',
    better: 'higher',
    work: MB,
    ours: wasm && out ? () => wasm.chacha20(key, nonce, 0, out.view) : noWasm,
    anchors: {
      'node:crypto': node,
      '@noble/ciphers': noble,
      'js twin': jsKernels.chacha20.bind(jsKernels, key, nonce, 0, jsOut),
      'public api (JS memory)': chacha20Keystream.bind(null, key, apiOut, { nonce }),
    },
    check() {
      const ref = createCipheriv('chacha20', key, nodeIv(nonce)).update(zeros);
      jsKernels.chacha20(key, nonce, 0, jsOut);
      assertEqualBytes('js twin keystream vs node:crypto', jsOut, ref);
      if (wasm && out) {
        wasm.chacha20(key, nonce, 0, out.view);
        assertEqualBytes('WASM keystream vs node:crypto', out.view, ref);
      }
      if (typeof noble === 'function') {
        noble();
        assertEqualBytes('@noble/ciphers keystream vs node:crypto', nobleOut, ref);
      }
      chacha20Keystream(key, apiOut, { nonce });
      assertEqualBytes('chacha20Keystream vs node:crypto', apiOut, ref);
    },
    notes:
      'ours writes into a vector in WASM memory; public api (JS memory) is chacha20Keystream into an ordinary ' +
      `Uint8Array (backend ${info.backend}); node:crypto allocates its output, @noble/ciphers reuses one`,
    dispose: () => out?.free(),
  };
};

/** The raw exports of the WASM module (for the fused mask kernel, which `mask32` may bypass). */
interface RawExports {
  scratchSize(): number;
  mask_u32(vec: number, len: number, key: number, nonce: number, counter: number, sub: number, scratch: number): void;
}
function rawExports(): RawExports | null {
  const x = (wasm as unknown as { x?: Partial<RawExports> } | null)?.x;
  return typeof x?.mask_u32 === 'function' && typeof x.scratchSize === 'function' ? (x as RawExports) : null;
}

/**
 * The fused kernel itself (keystream generated in registers and added into
 * the vector in one pass), called on its own export with key, nonce and
 * scratch in arena memory, since `wasmKernels().mask32` may route long
 * vectors elsewhere.
 */
function fusedMask(seed: Uint8Array, nonce: Uint8Array): { run: Runner; into(v: Uint32Array): void; free(): void } {
  const x = rawExports();
  if (!x) return { run: noWasm, into() {}, free() {} };
  const k = arenaAlloc(Uint8Array, 32), n = arenaAlloc(Uint8Array, 16), scratch = arenaAlloc(Uint8Array, x.scratchSize());
  k.view.set(seed);
  n.view.set(nonce);
  const into = (v: Uint32Array) => x.mask_u32(v.byteOffset, v.length, k.view.byteOffset, n.view.byteOffset, 0, 0, scratch.view.byteOffset);
  const vec = arenaAlloc(Uint32Array, N);
  return {
    run: () => into(vec.view),
    into,
    free() {
      for (const a of [vec, k, n, scratch]) a.free();
    },
  };
}

const mask: CaseFactory = () => {
  const seed = bytes(32), nonce = bytes(12);
  const vector = new Uint32Array(N);
  const jsVec = new Uint32Array(N);
  const arenaVec = wasm ? arenaAlloc(Uint32Array, N) : null;
  const fused = fusedMask(seed, nonce);
  const nobleOut = new Uint8Array(BYTES);
  return {
    name: 'mask expand+add u32',
    unit: 'MB/s',
    better: 'higher',
    work: MB,
    ours: addMask.bind(null, vector, seed, 1, { nonce }),
    anchors: {
      'js twin': jsKernels.mask32.bind(jsKernels, jsVec, seed, nonce, 0, false),
      'wasm fused': fused.run,
      'wasmKernels().mask32 (arena)':
        wasm && arenaVec ? () => wasm.mask32(arenaVec.view, seed, nonce, 0, false) : noWasm,
      'node:crypto keystream': nodeKeystream(seed, nonce),
      '@noble/ciphers keystream': nobleKeystream(seed, nonce, nobleOut),
    },
    check() {
      // On zero vectors a mask is the keystream itself.
      const ref = createCipheriv('chacha20', seed, nodeIv(nonce)).update(zeros);
      const v = new Uint32Array(N);
      addMask(v, seed, 1, { nonce });
      assertEqualBytes('addMask vs node:crypto keystream', v, ref);
      v.fill(0);
      jsKernels.mask32(v, seed, nonce, 0, false);
      assertEqualBytes('js twin mask vs node:crypto keystream', v, ref);
      if (wasm && arenaVec) {
        const t = arenaAlloc(Uint32Array, N);
        try {
          wasm.mask32(t.view, seed, nonce, 0, false);
          assertEqualBytes('wasmKernels().mask32 vs node:crypto keystream', t.view, ref);
          t.view.fill(0);
          fused.into(t.view);
          if (rawExports()) assertEqualBytes('fused WASM mask vs node:crypto keystream', t.view, ref);
        } finally {
          t.free();
        }
      }
    },
    notes:
      `ours is addMask on an ordinary Uint32Array (production path, backend ${info.backend}); wasm fused is the ` +
      'mask_u32 export on a vector in WASM memory; wasmKernels().mask32 (arena) is the runtime method on such a ' +
      'vector, whichever route it takes; the keystream anchors generate the mask only, without the add',
    dispose: () => {
      arenaVec?.free();
      fused.free();
    },
  };
};

const add: CaseFactory = () => {
  const a = arenaAlloc(Uint32Array, N), b = arenaAlloc(Uint32Array, N);
  randomFillSync(a.view);
  randomFillSync(b.view);
  const x = new Uint32Array(N), y = new Uint32Array(N);
  randomFillSync(x);
  randomFillSync(y);
  return {
    name: 'add u32',
    unit: 'MB/s',
    better: 'higher',
    work: MB,
    ours: wasm ? () => Z32.add(a.view, b.view, a.view) : noWasm,
    anchors: {
      'js twin': jsKernels.add32.bind(jsKernels, x, x, y),
    },
    check() {
      const a0 = a.view.slice(), expect = new Uint32Array(N);
      jsKernels.add32(expect, a0, b.view);
      Z32.add(a.view, b.view, a.view);
      assertEqualBytes('Z32.add vs js twin', a.view, expect);
    },
    notes: 'ours: a += b with both in WASM memory (arenaAlloc); js twin: x += y on ordinary Uint32Arrays; MB of one operand',
    dispose: () => {
      a.free();
      b.free();
    },
  };
};

const encode: CaseFactory = () => {
  const fp = new FixedPoint({ bits: 32, fracBits: 16, bound: 1 });
  const key = bytes(32), nonce = new Uint8Array(12);
  const input = new Float32Array(N);
  const raw = randomFillSync(new Uint32Array(N));
  for (let i = 0; i < N; i++) input[i] = (raw[i] / 2 ** 32) * 2 - 1; // [-1, 1)
  const out = new Uint32Array(N);
  const arenaIn = wasm ? arenaAlloc(Float32Array, N) : null;
  const arenaOut = wasm ? arenaAlloc(Uint32Array, N) : null;
  arenaIn?.view.set(input);
  return {
    name: 'fixed-point encode f32',
    unit: 'M values/s',
    better: 'higher',
    work: MVALUES,
    ours:
      wasm && arenaIn && arenaOut
        ? () => wasm.encode32(arenaOut.view, arenaIn.view, fp.scale, fp.bound, key, nonce)
        : noWasm,
    anchors: {
      'js twin': jsKernels.encode32.bind(jsKernels, out, input, fp.scale, fp.bound, key, nonce),
      'public api (JS memory)': fp.encode.bind(fp, input, {}),
    },
    check() {
      const clippedJs = jsKernels.encode32(out, input, fp.scale, fp.bound, key, nonce);
      if (wasm && arenaIn && arenaOut) {
        const clipped = wasm.encode32(arenaOut.view, arenaIn.view, fp.scale, fp.bound, key, nonce);
        if (clipped !== clippedJs) throw new Error(`clip count ${clipped} vs js twin ${clippedJs}`);
        assertEqualBytes('WASM encode vs js twin', arenaOut.view, out);
      }
      const { data } = fp.encode(input);
      for (let i = 0; i < N; i++)
        if (Math.abs((data[i] | 0) - input[i] * fp.scale) > 1) throw new Error(`FixedPoint.encode off at ${i}`);
    },
    notes:
      'FixedPoint({bits: 32, fracBits: 16, bound: 1}) on values in [-1, 1]; ours: in and out in WASM memory; ' +
      'public api: new output array and fresh rounding key per call',
    dispose: () => {
      arenaIn?.free();
      arenaOut?.free();
    },
  };
};

await runSuite('core', [keystream, mask, add, encode], {
  backend: info,
  vectorLength: N,
});
