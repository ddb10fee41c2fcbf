/**
 * Loads the WASM kernels synchronously and lazily (no top-level await: the
 * first call that needs a kernel compiles the embedded module). SIMD support
 * is detected with `WebAssembly.validate`; without WebAssembly or SIMD, or with
 * `CONFIDE_WASM=0`, the JS twins run instead and compute the same results.
 *
 * Memory: JS owns the module's linear memory. A fixed region at the bottom
 * holds kernel parameters and staging buffers; above it, `arenaAlloc` hands out
 * vectors that protocols keep in WASM memory so hot loops never copy across
 * the boundary. Operands outside WASM memory are streamed through the staging
 * buffers for compute-bound kernels (ChaCha20, masks, encoding, and the MPC
 * products, Beaver combination and prime-field arithmetic, whose JS twins
 * cost several times the copies).
 */
import { ConfideError } from '../errors.ts';
import { FIELD_MONT, FIELD_SMALL, LAPLACE_DONE, type FieldParams, type Kernels, type LaplaceParams, type LaplaceRun } from './_kernels.ts';
import { jsKernels } from './_twins.ts';
import { KERNELS_WASM_BASE64 } from './kernels.generated.ts';

interface Exports {
  memory: WebAssembly.Memory;
  heapBase(): number;
  scratchSize(): number;
  chacha20(key: number, nonce: number, counter: number, out: number, nBlocks: number): void;
  mask_u32(vec: number, len: number, key: number, nonce: number, counter: number, sub: number, scratch: number): void;
  mask_u64(vec: number, len: number, key: number, nonce: number, counter: number, sub: number, scratch: number): void;
  add_u32(out: number, a: number, b: number, len: number): void;
  sub_u32(out: number, a: number, b: number, len: number): void;
  add_u64(out: number, a: number, b: number, len: number): void;
  sub_u64(out: number, a: number, b: number, len: number): void;
  neg_u32(out: number, a: number, len: number): void;
  neg_u64(out: number, a: number, len: number): void;
  mul_u32(out: number, a: number, len: number, k: number): void;
  mul_u64(out: number, a: number, len: number, k: bigint): void;
  encode_f32_u32: EncodeFn;
  encode_f64_u32: EncodeFn;
  encode_f32_u64: EncodeFn;
  encode_f64_u64: EncodeFn;
  laplace_i32: LaplaceFn;
  laplace_f64: LaplaceFn;
  mul_z64(out: number, a: number, b: number, len: number): void;
  muladd_z64(out: number, a: number, b: number, len: number): void;
  beaver_z64(out: number, c: number, d: number, e: number, a: number, b: number, len: number, first: number): void;
  fcheck(a: number, len: number, p: bigint): number;
  fadd(out: number, a: number, b: number, len: number, p: bigint): void;
  fsub(out: number, a: number, b: number, len: number, p: bigint): void;
  fmul(out: number, a: number, b: number, len: number, kind: number, p: bigint, pinv: bigint, r2: bigint, pinvF: number): void;
  fmulk(out: number, a: number, len: number, k: bigint, kind: number, p: bigint, pinv: bigint, pinvF: number): void;
}
type EncodeFn = (
  out: number, input: number, len: number, scale: number, bound: number,
  key: number, nonce: number, counter: number, scratch: number,
) => number;

type LaplaceFn = (
  out: number, len: number, t: number, s: number, e1: number, p0: number, p1: number,
  key: number, nonce: number, state: number, scratch: number,
) => void;

const PAGE = 65536;
/** Bytes of the discrete Laplace state struct (layout in wasm/assembly/kernels.ts). */
const LAPLACE_STATE = 48;
const ALIGN = 16;
/** Staging buffer size: a multiple of 64 bytes, so chunk boundaries fall on ChaCha20 blocks. */
const STAGE = 256 * 1024;
/**
 * u64 elements per operand per chunk when the MPC kernels stage operands:
 * six slots of 64 KiB (five inputs and the output of the Beaver combination)
 * fit in the two adjacent staging buffers.
 */
const SLOT = 8192;
/**
 * Below this many elements the word-based JS twins of the MPC kernels beat
 * setting up a staged call (measured crossover: 64 to 128 elements).
 */
const STAGED_MIN = 64;

/**
 * Wipes a keystream chunk returned by node:crypto and frees its memory now
 * (detaching its ArrayBuffer) instead of leaving it to the garbage collector.
 * Freed at once, the block is reused by the next call, hot in cache; left to
 * the collector, every chunk is fresh memory (page faults), and 400 KB per
 * mask of external memory brought mark-compact collections every 160 masks or
 * so (secagg: 500 masks of 100K words took about 65 ms of CPU instead of 160
 * to 180 ms). Only a buffer that owns its whole ArrayBuffer is detached (never
 * a slice of Node's buffer pool); any other is only wiped.
 */
export function wipeAndDetach(chunk: Uint8Array): void {
  chunk.fill(0);
  const b = chunk.buffer as ArrayBuffer & { transfer?: (length: number) => ArrayBuffer };
  if (chunk.byteOffset !== 0 || b.byteLength !== chunk.byteLength || typeof b.transfer !== 'function') return;
  try {
    b.transfer(0);
  } catch {
    // Not detachable: the collector frees it.
  }
}

/** Below this many keystream words the fused kernel wins over setting up an OpenSSL cipher. */
const NATIVE_MIN_WORDS = 4096;

type NodeCrypto = typeof import('node:crypto');
/**
 * OpenSSL's ChaCha20 through node:crypto, where it exists. Its AVX2 code
 * expands keystream about twice as fast as 128-bit WASM SIMD, which more
 * than pays for copying the keystream into WASM memory (measured in
 * bench/core.bench.ts), so long masks use it and the fused kernel serves
 * short ones and platforms without node:crypto. Loaded without a static
 * import so that browsers never see `node:crypto`.
 */
const nodeCrypto: NodeCrypto | undefined = (() => {
  try {
    const p = (globalThis as { process?: { getBuiltinModule?: (id: string) => unknown } }).process;
    return p?.getBuiltinModule?.('node:crypto') as NodeCrypto | undefined;
  } catch {
    return undefined;
  }
})();
const ZEROS = new Uint8Array(STAGE);

// (module (func (result v128) i32.const 0 i8x16.splat i8x16.popcnt)): validates only with SIMD.
const SIMD_PROBE = new Uint8Array([
  0, 97, 115, 109, 1, 0, 0, 0, 1, 5, 1, 96, 0, 1, 123, 3, 2, 1, 0, 10, 10, 1, 8, 0, 65, 0, 253, 15,
  253, 98, 11,
]);

function decodeBase64(s: string): Uint8Array<ArrayBuffer> {
  const bin = atob(s);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

const align = (n: number) => (n + ALIGN - 1) & ~(ALIGN - 1);

/** First-fit allocator over [start, end) of linear memory with coalescing free list. */
class Heap {
  /** Sorted, non-adjacent free blocks. */
  readonly #free: { start: number; end: number }[] = [];
  readonly #sizes = new Map<number, number>();
  readonly #memory: WebAssembly.Memory;
  constructor(memory: WebAssembly.Memory, start: number) {
    this.#memory = memory;
    const end = memory.buffer.byteLength;
    if (end > start) this.#free.push({ start, end });
  }
  get used(): number {
    let n = 0;
    for (const s of this.#sizes.values()) n += s;
    return n;
  }
  alloc(bytes: number): number {
    const size = Math.max(ALIGN, align(bytes));
    for (let i = 0; i < this.#free.length; i++) {
      const b = this.#free[i];
      if (b.end - b.start >= size) {
        const p = b.start;
        b.start += size;
        if (b.start === b.end) this.#free.splice(i, 1);
        this.#sizes.set(p, size);
        return p;
      }
    }
    // Grow: extend the last free block if it touches the end of memory.
    const oldEnd = this.#memory.buffer.byteLength;
    const last = this.#free.at(-1);
    const tail = last && last.end === oldEnd ? last.end - last.start : 0;
    const pages = Math.ceil((size - tail) / PAGE);
    try {
      this.#memory.grow(pages);
    } catch (e) {
      throw new ConfideError('E_UNSUPPORTED', `WASM memory cannot grow by ${pages} pages`, { cause: e });
    }
    const newEnd = this.#memory.buffer.byteLength;
    if (last && last.end === oldEnd) last.end = newEnd;
    else this.#free.push({ start: oldEnd, end: newEnd });
    return this.alloc(bytes);
  }
  free(p: number): void {
    const size = this.#sizes.get(p);
    if (size === undefined) throw new ConfideError('E_STATE', `no arena allocation at ${p}`);
    this.#sizes.delete(p);
    const blk = { start: p, end: p + size };
    let i = 0;
    while (i < this.#free.length && this.#free[i].start < p) i++;
    this.#free.splice(i, 0, blk);
    // Coalesce with the next and the previous block.
    const next = this.#free[i + 1];
    if (next && next.start === blk.end) {
      blk.end = next.end;
      this.#free.splice(i + 1, 1);
    }
    const prev = this.#free[i - 1];
    if (prev && prev.end === blk.start) {
      prev.end = blk.end;
      this.#free.splice(i, 1);
    }
  }
}

class WasmRuntime implements Kernels {
  readonly backend = 'wasm-simd' as const;
  readonly x: Exports;
  readonly heap: Heap;
  readonly #key: number;
  readonly #nonce: number;
  readonly #scratch: number;
  readonly #stageA: number;
  readonly #stageB: number;
  readonly #laplaceState: number;
  #u8!: Uint8Array;
  #dv!: DataView;

  constructor(x: Exports) {
    this.x = x;
    let p = align(x.heapBase());
    this.#key = p;
    this.#nonce = p + 32;
    p += 64;
    this.#scratch = p;
    p += align(x.scratchSize());
    this.#laplaceState = p;
    p += align(LAPLACE_STATE);
    this.#stageA = p;
    this.#stageB = p + STAGE;
    p += 2 * STAGE;
    const need = p + PAGE - x.memory.buffer.byteLength;
    if (need > 0) x.memory.grow(Math.ceil(need / PAGE));
    this.heap = new Heap(x.memory, p);
  }

  /** Current byte view of memory (re-made after growth). */
  get u8(): Uint8Array {
    const buf = this.x.memory.buffer;
    if (this.#u8?.buffer !== buf) this.#u8 = new Uint8Array(buf);
    return this.#u8;
  }

  get dv(): DataView {
    const buf = this.x.memory.buffer;
    if (this.#dv?.buffer !== buf) this.#dv = new DataView(buf);
    return this.#dv;
  }

  holds(v: ArrayBufferView): boolean {
    return v.buffer === this.x.memory.buffer;
  }

  #params(key: Uint8Array, nonce: Uint8Array): void {
    const m = this.u8;
    m.set(key, this.#key);
    m.set(nonce, this.#nonce);
  }

  /** Copies `bytes` bytes of `v` starting at byte `off` into staging buffer A and returns its address. */
  #stageIn(v: ArrayBufferView, off: number, bytes: number, at: number): void {
    this.u8.set(new Uint8Array(v.buffer, v.byteOffset + off, bytes), at);
  }
  #stageOut(v: ArrayBufferView, off: number, bytes: number, at: number): void {
    new Uint8Array(v.buffer, v.byteOffset + off, bytes).set(this.u8.subarray(at, at + bytes));
  }

  chacha20(key: Uint8Array, nonce: Uint8Array, counter: number, out: Uint32Array): void {
    this.#params(key, nonce);
    const blocks = out.length >>> 4;
    if (this.holds(out)) return this.x.chacha20(this.#key, this.#nonce, counter, out.byteOffset, blocks);
    const per = STAGE / 64;
    for (let b = 0; b < blocks; b += per) {
      const n = Math.min(per, blocks - b);
      this.x.chacha20(this.#key, this.#nonce, (counter + b) >>> 0, this.#stageA, n);
      this.#stageOut(out, b * 64, n * 64, this.#stageA);
    }
  }

  #mask(
    fn: Exports['mask_u32'],
    vec: Uint32Array | BigUint64Array,
    wordsPerElement: number,
    key: Uint8Array,
    nonce: Uint8Array,
    counter: number,
    subtract: boolean,
  ): void {
    const words = vec.length * wordsPerElement;
    // node:crypto carries a wrapped block counter into the nonce; RFC 8439 wraps. Avoid the difference.
    if (nodeCrypto && words >= NATIVE_MIN_WORDS && counter + Math.ceil(words / 16) <= 2 ** 32)
      return this.#maskNative(nodeCrypto, vec, wordsPerElement, key, nonce, counter, subtract);
    this.#params(key, nonce);
    const sub = subtract ? 1 : 0;
    if (this.holds(vec))
      return fn(vec.byteOffset, vec.length, this.#key, this.#nonce, counter, sub, this.#scratch);
    const per = STAGE / (4 * wordsPerElement); // elements per chunk; 64-byte multiple
    for (let i = 0; i < vec.length; i += per) {
      const n = Math.min(per, vec.length - i);
      const bytes = n * 4 * wordsPerElement;
      this.#stageIn(vec, i * 4 * wordsPerElement, bytes, this.#stageA);
      const ctr = (counter + (i * wordsPerElement) / 16) >>> 0;
      fn(this.#stageA, n, this.#key, this.#nonce, ctr, sub, this.#scratch);
      this.#stageOut(vec, i * 4 * wordsPerElement, bytes, this.#stageA);
    }
  }
  /** vec ±= OpenSSL keystream, added by the WASM add/sub kernels chunk by chunk in staging memory. */
  #maskNative(
    c: NodeCrypto,
    vec: Uint32Array | BigUint64Array,
    wordsPerElement: number,
    key: Uint8Array,
    nonce: Uint8Array,
    counter: number,
    subtract: boolean,
  ): void {
    const iv = new Uint8Array(16);
    new DataView(iv.buffer).setUint32(0, counter, true);
    iv.set(nonce, 4);
    const cipher = c.createCipheriv('chacha20', key, iv);
    const x = this.x;
    const wide = wordsPerElement === 2;
    const op = wide ? (subtract ? x.sub_u64 : x.add_u64) : subtract ? x.sub_u32 : x.add_u32;
    const inPlace = this.holds(vec);
    const elemBytes = 4 * wordsPerElement;
    const per = STAGE / elemBytes;
    try {
      for (let i = 0; i < vec.length; i += per) {
        const n = Math.min(per, vec.length - i);
        const bytes = n * elemBytes;
        const chunk = cipher.update(ZEROS.subarray(0, bytes));
        this.u8.set(chunk, this.#stageB);
        wipeAndDetach(chunk);
        if (inPlace) {
          const p = vec.byteOffset + i * elemBytes;
          op(p, p, this.#stageB, n);
        } else {
          this.#stageIn(vec, i * elemBytes, bytes, this.#stageA);
          op(this.#stageA, this.#stageA, this.#stageB, n);
          this.#stageOut(vec, i * elemBytes, bytes, this.#stageA);
        }
      }
    } finally {
      cipher.final();
      this.u8.fill(0, this.#stageB, this.#stageB + STAGE); // no keystream left behind
    }
  }

  mask32(vec: Uint32Array, key: Uint8Array, nonce: Uint8Array, counter: number, subtract: boolean): void {
    this.#mask(this.x.mask_u32, vec, 1, key, nonce, counter, subtract);
  }
  mask64(vec: BigUint64Array, key: Uint8Array, nonce: Uint8Array, counter: number, subtract: boolean): void {
    this.#mask(this.x.mask_u64, vec, 2, key, nonce, counter, subtract);
  }

  /** A memory-bound kernel: WASM when every operand is in WASM memory, else the JS twin. */
  #elementwise<V extends Uint32Array | BigUint64Array>(
    wasm: (out: number, a: number, b: number, len: number) => void,
    twin: (out: V, a: V, b: V) => void,
    out: V,
    a: V,
    b: V,
  ): void {
    if (this.holds(out) && this.holds(a) && this.holds(b)) wasm(out.byteOffset, a.byteOffset, b.byteOffset, out.length);
    else twin(out, a, b);
  }
  #unary<V extends Uint32Array | BigUint64Array, K>(
    wasm: (out: number, a: number, len: number, k: K) => void,
    twin: (out: V, a: V, k: K) => void,
    out: V,
    a: V,
    k: K,
  ): void {
    if (this.holds(out) && this.holds(a)) wasm(out.byteOffset, a.byteOffset, out.length, k);
    else twin(out, a, k);
  }

  add32(out: Uint32Array, a: Uint32Array, b: Uint32Array): void {
    this.#elementwise(this.x.add_u32, jsKernels.add32, out, a, b);
  }
  sub32(out: Uint32Array, a: Uint32Array, b: Uint32Array): void {
    this.#elementwise(this.x.sub_u32, jsKernels.sub32, out, a, b);
  }
  add64(out: BigUint64Array, a: BigUint64Array, b: BigUint64Array): void {
    this.#elementwise(this.x.add_u64, jsKernels.add64, out, a, b);
  }
  sub64(out: BigUint64Array, a: BigUint64Array, b: BigUint64Array): void {
    this.#elementwise(this.x.sub_u64, jsKernels.sub64, out, a, b);
  }
  neg32(out: Uint32Array, a: Uint32Array): void {
    this.#unary(this.x.neg_u32, jsKernels.neg32, out, a, undefined);
  }
  neg64(out: BigUint64Array, a: BigUint64Array): void {
    this.#unary(this.x.neg_u64, jsKernels.neg64, out, a, undefined);
  }
  mul32(out: Uint32Array, a: Uint32Array, k: number): void {
    this.#unary(this.x.mul_u32, jsKernels.mul32, out, a, k);
  }
  mul64(out: BigUint64Array, a: BigUint64Array, k: bigint): void {
    this.#unary(this.x.mul_u64, jsKernels.mul64, out, a, k);
  }

  /**
   * Runs a compute-bound u64 kernel over `out` in chunks of SLOT elements:
   * operands in WASM memory are passed where they are; the others are copied
   * into staging slots, and a staged output is copied back after each chunk
   * (first copied in when `readsOut`, for accumulating kernels). Exact
   * aliasing of `out` with an input is safe either way: each chunk reads its
   * inputs before it writes.
   */
  #staged(
    out: BigUint64Array,
    ins: readonly BigUint64Array[],
    readsOut: boolean,
    run: (out: number, ptrs: readonly number[], len: number) => void,
  ): void {
    const len = out.length;
    const outHeld = this.holds(out);
    const held = ins.map((v) => this.holds(v));
    if (outHeld && held.every(Boolean)) return run(out.byteOffset, ins.map((v) => v.byteOffset), len);
    const ptrs = new Array<number>(ins.length).fill(0);
    const outSlot = this.#stageA + ins.length * SLOT * 8;
    for (let i = 0; i < len; i += SLOT) {
      const n = Math.min(SLOT, len - i), off = i * 8, bytes = n * 8;
      for (let k = 0; k < ins.length; k++) {
        const v = ins[k];
        if (held[k]) ptrs[k] = v.byteOffset + off;
        else {
          ptrs[k] = this.#stageA + k * SLOT * 8;
          this.#stageIn(v, off, bytes, ptrs[k]);
        }
      }
      if (outHeld) run(out.byteOffset + off, ptrs, n);
      else {
        if (readsOut) this.#stageIn(out, off, bytes, outSlot);
        run(outSlot, ptrs, n);
        this.#stageOut(out, off, bytes, outSlot);
      }
    }
  }

  /** A vector too short to be worth staging, with an operand outside WASM memory: the twin runs. */
  #short(...vs: BigUint64Array[]): boolean {
    if (vs[0].length >= STAGED_MIN) return false;
    for (const v of vs) if (!this.holds(v)) return true;
    return false;
  }

  mulv64(out: BigUint64Array, a: BigUint64Array, b: BigUint64Array): void {
    if (this.#short(out, a, b)) return jsKernels.mulv64(out, a, b);
    const f = this.x.mul_z64;
    this.#staged(out, [a, b], false, (o, [pa, pb], n) => f(o, pa, pb, n));
  }
  mulAddv64(out: BigUint64Array, a: BigUint64Array, b: BigUint64Array): void {
    if (this.#short(out, a, b)) return jsKernels.mulAddv64(out, a, b);
    const f = this.x.muladd_z64;
    this.#staged(out, [a, b], true, (o, [pa, pb], n) => f(o, pa, pb, n));
  }
  beaver64(out: BigUint64Array, c: BigUint64Array, d: BigUint64Array, e: BigUint64Array, a: BigUint64Array, b: BigUint64Array, first: boolean): void {
    if (this.#short(out, c, d, e, a, b)) return jsKernels.beaver64(out, c, d, e, a, b, first);
    const f = this.x.beaver_z64, fst = first ? 1 : 0;
    this.#staged(out, [c, d, e, a, b], false, (o, [pc, pd, pe, pa, pb], n) => f(o, pc, pd, pe, pa, pb, n, fst));
  }
  // Additions mod p are memory-bound in WASM, but their twins branch on random data (about
  // 11 ns an element against 3 for staging and the kernel), so they are staged too.
  fieldAdd(out: BigUint64Array, a: BigUint64Array, b: BigUint64Array, fp: FieldParams): void {
    if (this.#short(out, a, b)) return jsKernels.fieldAdd(out, a, b, fp);
    const f = this.x.fadd, p = fp.p;
    this.#staged(out, [a, b], false, (o, [pa, pb], n) => f(o, pa, pb, n, p));
  }
  fieldSub(out: BigUint64Array, a: BigUint64Array, b: BigUint64Array, fp: FieldParams): void {
    if (this.#short(out, a, b)) return jsKernels.fieldSub(out, a, b, fp);
    const f = this.x.fsub, p = fp.p;
    this.#staged(out, [a, b], false, (o, [pa, pb], n) => f(o, pa, pb, n, p));
  }
  fieldCheck(a: BigUint64Array, fp: FieldParams): number {
    if (this.#short(a)) return jsKernels.fieldCheck(a, fp);
    const p = fp.p;
    if (this.holds(a)) return this.x.fcheck(a.byteOffset, a.length, p);
    for (let i = 0; i < a.length; i += SLOT) {
      const n = Math.min(SLOT, a.length - i);
      this.#stageIn(a, i * 8, n * 8, this.#stageA);
      const r = this.x.fcheck(this.#stageA, n, p);
      if (r >= 0) return i + r;
    }
    return -1;
  }
  fieldMul(out: BigUint64Array, a: BigUint64Array, b: BigUint64Array, fp: FieldParams): void {
    // The BigInt twins (Fp61, Montgomery primes) lose even on short vectors.
    if (fp.kind === FIELD_SMALL && this.#short(out, a, b)) return jsKernels.fieldMul(out, a, b, fp);
    const f = this.x.fmul, { kind, p, pinv, r2, pinvF } = fp;
    this.#staged(out, [a, b], false, (o, [pa, pb], n) => f(o, pa, pb, n, kind, p, pinv, r2, pinvF));
  }
  fieldMulScalar(out: BigUint64Array, a: BigUint64Array, k: bigint, fp: FieldParams): void {
    if (fp.kind === FIELD_SMALL && this.#short(out, a)) return jsKernels.fieldMulScalar(out, a, k, fp);
    const f = this.x.fmulk, { kind, p, pinv, pinvF } = fp;
    // Montgomery form of k (k·R mod p): one Montgomery product by it is a product by k.
    const kk = kind === FIELD_MONT ? (k * fp.r1) % p : k;
    this.#staged(out, [a], false, (o, [pa], n) => f(o, pa, n, kk, kind, p, pinv, pinvF));
  }

  #encode(
    out: Uint32Array | BigUint64Array,
    input: Float32Array | Float64Array,
    scale: number,
    bound: number,
    key: Uint8Array,
    nonce: Uint8Array,
  ): number {
    this.#params(key, nonce);
    const x = this.x;
    const wide = out instanceof BigUint64Array;
    const f64 = input instanceof Float64Array;
    const fn = wide ? (f64 ? x.encode_f64_u64 : x.encode_f32_u64) : f64 ? x.encode_f64_u32 : x.encode_f32_u32;
    if (this.holds(out) && this.holds(input))
      return fn(out.byteOffset, input.byteOffset, out.length, scale, bound, this.#key, this.#nonce, 0, this.#scratch);
    const inSize = input.BYTES_PER_ELEMENT, outSize = out.BYTES_PER_ELEMENT;
    const per = STAGE / 8; // elements per chunk: fits either width, a multiple of 16
    let clipped = 0;
    for (let i = 0; i < out.length; i += per) {
      const n = Math.min(per, out.length - i);
      this.#stageIn(input, i * inSize, n * inSize, this.#stageA);
      const r = fn(this.#stageB, this.#stageA, n, scale, bound, this.#key, this.#nonce, i / 16, this.#scratch);
      if (r < 0) return r - i; // -(i + j + 1)
      clipped += r;
      this.#stageOut(out, i * outSize, n * outSize, this.#stageB);
    }
    return clipped;
  }
  encode32(out: Uint32Array, input: Float32Array | Float64Array, scale: number, bound: number, key: Uint8Array, nonce: Uint8Array): number {
    return this.#encode(out, input, scale, bound, key, nonce);
  }
  encode64(out: BigUint64Array, input: Float32Array | Float64Array, scale: number, bound: number, key: Uint8Array, nonce: Uint8Array): number {
    return this.#encode(out, input, scale, bound, key, nonce);
  }

  /**
   * Runs the kernel on out[from..from+len) at address `at` (out itself, or staging buffer A
   * standing for out[from..]): run.index and the positions are translated to and from the struct.
   */
  #laplaceCall(fn: LaplaceFn, at: number, from: number, len: number, params: LaplaceParams, run: LaplaceRun): void {
    const st = this.#laplaceState, dv = this.dv;
    dv.setUint32(st, run.index - from, true);
    dv.setUint32(st + 8, run.pos % 2 ** 32, true);
    dv.setUint32(st + 12, Math.floor(run.pos / 2 ** 32), true);
    dv.setUint32(st + 16, run.limit % 2 ** 32, true);
    dv.setUint32(st + 20, Math.floor(run.limit / 2 ** 32), true);
    fn(at, len, params.t, params.s, params.e1, params.p0.byteOffset, params.p1.byteOffset, this.#key, this.#nonce, st, this.#scratch);
    run.index = from + dv.getUint32(st, true);
    run.status = dv.getUint32(st + 4, true);
    run.pos = dv.getUint32(st + 8, true) + dv.getUint32(st + 12, true) * 2 ** 32;
    run.phase = dv.getUint32(st + 24, true);
    run.u = dv.getUint32(st + 28, true);
    run.v = dv.getUint32(st + 32, true);
    run.digit = dv.getUint32(st + 36, true);
  }

  laplace(out: Int32Array | Float64Array, params: LaplaceParams, key: Uint8Array, run: LaplaceRun): void {
    // The tables are made once per sampler, so they must already be in WASM memory (arenaAlloc).
    if (!this.holds(params.p0) || !this.holds(params.p1))
      throw new ConfideError('E_STATE', 'discrete Laplace tables must live in WASM memory (arenaAlloc)', { field: 'params' });
    this.#params(key, NONCE_ZERO);
    const fn = out instanceof Int32Array ? this.x.laplace_i32 : this.x.laplace_f64;
    if (this.holds(out)) return this.#laplaceCall(fn, out.byteOffset, 0, out.length, params, run);
    const size = out.BYTES_PER_ELEMENT, per = STAGE / size;
    do {
      const from = run.index, len = Math.min(per, out.length - from);
      this.#laplaceCall(fn, this.#stageA, from, len, params, run);
      this.#stageOut(out, from * size, (run.index - from) * size, this.#stageA);
    } while (run.status === LAPLACE_DONE && run.index < out.length);
  }
}

const NONCE_ZERO = new Uint8Array(12);

let runtime: WasmRuntime | null | undefined;
let loadError: unknown;

function wasmDisabled(): boolean {
  const env = (globalThis as { process?: { env?: Record<string, string | undefined> } }).process?.env;
  const v = env?.CONFIDE_WASM;
  return v === '0' || v === 'false' || v === 'off';
}

function load(): WasmRuntime | null {
  if (runtime !== undefined) return runtime;
  runtime = null;
  if (wasmDisabled() || typeof WebAssembly !== 'object') return runtime;
  try {
    if (!WebAssembly.validate(SIMD_PROBE)) return runtime;
    const module = new WebAssembly.Module(decodeBase64(KERNELS_WASM_BASE64));
    const instance = new WebAssembly.Instance(module, {
      env: {
        abort() {
          throw new ConfideError('E_INTERNAL', 'WASM kernel aborted');
        },
      },
    });
    runtime = new WasmRuntime(instance.exports as unknown as Exports);
  } catch (e) {
    // A platform that cannot compile the module (e.g. a browser main thread
    // limiting synchronous compilation) runs the JS twins instead.
    loadError = e;
  }
  return runtime;
}

/** The kernels for compute-bound work: WASM when available, else the JS twins. */
export function kernels(): Kernels {
  return load() ?? jsKernels;
}

/**
 * The kernels for memory-bound work on these vectors: WASM only when all of
 * them already live in WASM memory, since copying would cost more than it saves.
 */
export function kernelsFor(vectors: readonly ArrayBufferView[]): Kernels {
  const r = load();
  if (r === null) return jsKernels;
  for (const v of vectors) if (!r.holds(v)) return jsKernels;
  return r;
}

export { jsKernels };
export {
  FIELD_MONT,
  FIELD_P61,
  FIELD_SMALL,
  fieldParams,
  type FieldParams,
  LAPLACE_DONE,
  LAPLACE_EXHAUSTED,
  LAPLACE_RANGE,
  LAPLACE_STOP,
  PHASE_E1,
  PHASE_GEOMETRIC,
  PHASE_P0,
  PHASE_P1,
  type Kernels,
  type LaplaceParams,
  type LaplaceRun,
} from './_kernels.ts';

/** The WASM kernels themselves, or null when they are unavailable (for tests and benchmarks). */
export function wasmKernels(): Kernels | null {
  return load();
}

export interface KernelInfo {
  backend: 'wasm-simd' | 'js';
  /** Why WASM is not used, when it is not. */
  reason?: string;
  /** Bytes of WASM memory (0 for the JS backend). */
  memoryBytes: number;
  /** Bytes held by live arena vectors. */
  arenaBytes: number;
}

/** Which backend runs the kernels, and why; for logs and audit reports. */
export function kernelInfo(): KernelInfo {
  const r = load();
  if (r) return { backend: 'wasm-simd', memoryBytes: r.x.memory.buffer.byteLength, arenaBytes: r.heap.used };
  const reason = wasmDisabled()
    ? 'CONFIDE_WASM=0'
    : typeof WebAssembly !== 'object'
      ? 'no WebAssembly'
      : loadError
        ? `WASM module failed to load: ${String(loadError)}`
        : 'no WASM SIMD';
  return { backend: 'js', reason, memoryBytes: 0, arenaBytes: 0 };
}

type ArenaArray = Uint8Array | Uint32Array | Int32Array | Float32Array | Float64Array | BigUint64Array | BigInt64Array;
type ArenaCtor<T extends ArenaArray> = {
  new (buffer: ArrayBufferLike, byteOffset: number, length: number): T;
  new (length: number): T;
  readonly BYTES_PER_ELEMENT: number;
  readonly name: string;
};

/**
 * A vector that lives in WASM memory (or in ordinary memory when the JS
 * backend runs). Read `view` when you need it rather than keeping it: the
 * memory may grow, which replaces the underlying buffer. Free it with
 * `free()` or a `using` declaration; it is not garbage collected.
 */
export class ArenaVector<T extends ArenaArray> {
  readonly length: number;
  readonly #ctor: ArenaCtor<T>;
  readonly #rt: WasmRuntime | null;
  #ptr: number;
  #view: T;

  constructor(ctor: ArenaCtor<T>, length: number, rt: WasmRuntime | null) {
    this.#ctor = ctor;
    this.length = length;
    this.#rt = rt;
    if (rt) {
      this.#ptr = rt.heap.alloc(length * ctor.BYTES_PER_ELEMENT);
      // Freed regions are reused: zero the bytes (fill(0) would fail on BigInt arrays).
      new Uint8Array(rt.x.memory.buffer, this.#ptr, length * ctor.BYTES_PER_ELEMENT).fill(0);
      this.#view = new ctor(rt.x.memory.buffer, this.#ptr, length);
    } else {
      this.#ptr = 0;
      this.#view = new ctor(length);
    }
  }

  /** A typed-array view of the vector (valid until the next allocation that grows memory). */
  get view(): T {
    if (this.#ptr < 0) throw new ConfideError('E_STATE', 'arena vector used after free');
    const rt = this.#rt;
    if (rt && this.#view.buffer !== rt.x.memory.buffer)
      this.#view = new this.#ctor(rt.x.memory.buffer, this.#ptr, this.length);
    return this.#view;
  }

  get freed(): boolean {
    return this.#ptr < 0;
  }

  free(): void {
    if (this.#ptr < 0) return;
    if (this.#rt) this.#rt.heap.free(this.#ptr);
    this.#ptr = -1;
  }

  [Symbol.dispose](): void {
    this.free();
  }
}

/** Allocates a zeroed vector in WASM memory (ordinary memory on the JS backend). */
const ARENA_TYPES: readonly unknown[] = [
  Uint8Array, Uint32Array, Int32Array, Float32Array, Float64Array, BigUint64Array, BigInt64Array,
];

export function arenaAlloc<T extends ArenaArray>(ctor: ArenaCtor<T>, length: number): ArenaVector<T> {
  if (!ARENA_TYPES.includes(ctor))
    throw new ConfideError(
      'E_BAD_INPUT',
      `"ctor" expected one of ${ARENA_TYPES.map((c) => (c as { name: string }).name).join(', ')}`,
      { field: 'ctor' },
    );
  if (!Number.isSafeInteger(length) || length < 0 || length > 2 ** 29 || Object.is(length, -0))
    throw new ConfideError('E_BAD_INPUT', `"length" expected an integer in [0, ${2 ** 29}], got ${String(length)}`, {
      field: 'length',
    });
  return new ArenaVector(ctor, length, load());
}
