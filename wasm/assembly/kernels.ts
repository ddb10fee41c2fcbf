// WASM kernels for confide: ChaCha20 keystream (RFC 8439), fused PRG masking,
// ring arithmetic mod 2^32 / 2^64, and fixed-point encoding with stochastic rounding.
//
// Memory model: JS owns all allocation at or above heapBase() (rounded up to 16).
// Kernels never allocate: they only load and store through the pointers they are given.
// All pointers are 16-byte aligned; lengths are arbitrary.
//
// Built by wasm/build.ts into src/core/wasm/kernels.generated.ts.

// "expand 32-byte k"
const SIGMA0: i32 = 0x61707865;
const SIGMA1: i32 = 0x3320646e;
const SIGMA2: i32 = 0x79622d32;
const SIGMA3: i32 = 0x6b206574;

/** Bytes of scratch the mask and encode kernels need (passed as scratchPtr, 16-aligned). */
const SCRATCH_BYTES: u32 = 256;

// Output modes for the 4-block keystream generator (compile-time constants).
const MODE_STORE: i32 = 0; // dst[..] = keystream
const MODE_ADD32: i32 = 1; // dst u32 lanes += keystream words
const MODE_SUB32: i32 = 2; // dst u32 lanes -= keystream words
const MODE_ADD64: i32 = 3; // dst u64 lanes += keystream (bytes as LE u64)
const MODE_SUB64: i32 = 4; // dst u64 lanes -= keystream

export function heapBase(): usize {
  return __heap_base;
}

export function scratchSize(): u32 {
  return SCRATCH_BYTES;
}

// ---------------------------------------------------------------------------
// ChaCha20, 4 blocks in parallel: lane j of every vector belongs to block counter + j.

// Rotations. In V8 (x64), a byte shuffle for the 16-bit rotation and shifts for the
// others measured fastest (~4% over shifts for all four, ~6% over byte shuffles for
// both 16 and 8).
@inline function rotl16(x: v128): v128 {
  return i8x16.shuffle(x, x, 2, 3, 0, 1, 6, 7, 4, 5, 10, 11, 8, 9, 14, 15, 12, 13);
}

@inline function rotl8(x: v128): v128 {
  return v128.or(i32x4.shl(x, 8), i32x4.shr_u(x, 24));
}

@inline function rotl12(x: v128): v128 {
  return v128.or(i32x4.shl(x, 12), i32x4.shr_u(x, 20));
}

@inline function rotl7(x: v128): v128 {
  return v128.or(i32x4.shl(x, 7), i32x4.shr_u(x, 25));
}

/** Writes or combines one 16-byte row of keystream at p according to the mode. */
@inline function emit(mode: i32, p: usize, v: v128): void {
  if (mode == MODE_STORE) {
    v128.store(p, v);
  } else if (mode == MODE_ADD32) {
    v128.store(p, i32x4.add(v128.load(p), v));
  } else if (mode == MODE_SUB32) {
    v128.store(p, i32x4.sub(v128.load(p), v));
  } else if (mode == MODE_ADD64) {
    v128.store(p, i64x2.add(v128.load(p), v));
  } else {
    v128.store(p, i64x2.sub(v128.load(p), v));
  }
}

/**
 * Emits words 4q..4q+3 of each of the 4 blocks (a, b, c, d hold words 4q..4q+3,
 * one block per lane) to dst + 64*block + 16*q. Only blocks < nBlocks are emitted.
 */
@inline function emitGroup(mode: i32, dst: usize, nBlocks: u32, a: v128, b: v128, c: v128, d: v128): void {
  let t0 = i32x4.shuffle(a, b, 0, 4, 1, 5); // a0 b0 a1 b1
  let t1 = i32x4.shuffle(c, d, 0, 4, 1, 5); // c0 d0 c1 d1
  let t2 = i32x4.shuffle(a, b, 2, 6, 3, 7); // a2 b2 a3 b3
  let t3 = i32x4.shuffle(c, d, 2, 6, 3, 7); // c2 d2 c3 d3
  emit(mode, dst, i64x2.shuffle(t0, t1, 0, 2));
  if (nBlocks > 1) emit(mode, dst + 64, i64x2.shuffle(t0, t1, 1, 3));
  if (nBlocks > 2) emit(mode, dst + 128, i64x2.shuffle(t2, t3, 0, 2));
  if (nBlocks > 3) emit(mode, dst + 192, i64x2.shuffle(t2, t3, 1, 3));
}

/**
 * Generates ChaCha20 blocks counter .. counter+3 (counter wraps mod 2^32) and emits the
 * first nBlocks (1..4) of them, 256 bytes for 4, at dst according to mode.
 */
@inline function chacha4(mode: i32, keyPtr: usize, noncePtr: usize, counter: u32, dst: usize, nBlocks: u32): void {
  let x0 = i32x4.splat(SIGMA0);
  let x1 = i32x4.splat(SIGMA1);
  let x2 = i32x4.splat(SIGMA2);
  let x3 = i32x4.splat(SIGMA3);
  let x4 = v128.load32_splat(keyPtr, 0);
  let x5 = v128.load32_splat(keyPtr, 4);
  let x6 = v128.load32_splat(keyPtr, 8);
  let x7 = v128.load32_splat(keyPtr, 12);
  let x8 = v128.load32_splat(keyPtr, 16);
  let x9 = v128.load32_splat(keyPtr, 20);
  let x10 = v128.load32_splat(keyPtr, 24);
  let x11 = v128.load32_splat(keyPtr, 28);
  let ctr = i32x4.add(i32x4.splat(<i32>counter), i32x4(0, 1, 2, 3));
  let x12 = ctr;
  let x13 = v128.load32_splat(noncePtr, 0);
  let x14 = v128.load32_splat(noncePtr, 4);
  let x15 = v128.load32_splat(noncePtr, 8);
  for (let r = 0; r < 10; r++) {
      // column round
      x0 = i32x4.add(x0, x4); x1 = i32x4.add(x1, x5); x2 = i32x4.add(x2, x6); x3 = i32x4.add(x3, x7);
      x12 = rotl16(v128.xor(x12, x0)); x13 = rotl16(v128.xor(x13, x1)); x14 = rotl16(v128.xor(x14, x2)); x15 = rotl16(v128.xor(x15, x3));
      x8 = i32x4.add(x8, x12); x9 = i32x4.add(x9, x13); x10 = i32x4.add(x10, x14); x11 = i32x4.add(x11, x15);
      x4 = rotl12(v128.xor(x4, x8)); x5 = rotl12(v128.xor(x5, x9)); x6 = rotl12(v128.xor(x6, x10)); x7 = rotl12(v128.xor(x7, x11));
      x0 = i32x4.add(x0, x4); x1 = i32x4.add(x1, x5); x2 = i32x4.add(x2, x6); x3 = i32x4.add(x3, x7);
      x12 = rotl8(v128.xor(x12, x0)); x13 = rotl8(v128.xor(x13, x1)); x14 = rotl8(v128.xor(x14, x2)); x15 = rotl8(v128.xor(x15, x3));
      x8 = i32x4.add(x8, x12); x9 = i32x4.add(x9, x13); x10 = i32x4.add(x10, x14); x11 = i32x4.add(x11, x15);
      x4 = rotl7(v128.xor(x4, x8)); x5 = rotl7(v128.xor(x5, x9)); x6 = rotl7(v128.xor(x6, x10)); x7 = rotl7(v128.xor(x7, x11));
      // diagonal round
      x0 = i32x4.add(x0, x5); x1 = i32x4.add(x1, x6); x2 = i32x4.add(x2, x7); x3 = i32x4.add(x3, x4);
      x15 = rotl16(v128.xor(x15, x0)); x12 = rotl16(v128.xor(x12, x1)); x13 = rotl16(v128.xor(x13, x2)); x14 = rotl16(v128.xor(x14, x3));
      x10 = i32x4.add(x10, x15); x11 = i32x4.add(x11, x12); x8 = i32x4.add(x8, x13); x9 = i32x4.add(x9, x14);
      x5 = rotl12(v128.xor(x5, x10)); x6 = rotl12(v128.xor(x6, x11)); x7 = rotl12(v128.xor(x7, x8)); x4 = rotl12(v128.xor(x4, x9));
      x0 = i32x4.add(x0, x5); x1 = i32x4.add(x1, x6); x2 = i32x4.add(x2, x7); x3 = i32x4.add(x3, x4);
      x15 = rotl8(v128.xor(x15, x0)); x12 = rotl8(v128.xor(x12, x1)); x13 = rotl8(v128.xor(x13, x2)); x14 = rotl8(v128.xor(x14, x3));
      x10 = i32x4.add(x10, x15); x11 = i32x4.add(x11, x12); x8 = i32x4.add(x8, x13); x9 = i32x4.add(x9, x14);
      x5 = rotl7(v128.xor(x5, x10)); x6 = rotl7(v128.xor(x6, x11)); x7 = rotl7(v128.xor(x7, x8)); x4 = rotl7(v128.xor(x4, x9));
  }
  x0 = i32x4.add(x0, i32x4.splat(SIGMA0));
  x1 = i32x4.add(x1, i32x4.splat(SIGMA1));
  x2 = i32x4.add(x2, i32x4.splat(SIGMA2));
  x3 = i32x4.add(x3, i32x4.splat(SIGMA3));
  emitGroup(mode, dst, nBlocks, x0, x1, x2, x3);
  x4 = i32x4.add(x4, v128.load32_splat(keyPtr, 0));
  x5 = i32x4.add(x5, v128.load32_splat(keyPtr, 4));
  x6 = i32x4.add(x6, v128.load32_splat(keyPtr, 8));
  x7 = i32x4.add(x7, v128.load32_splat(keyPtr, 12));
  emitGroup(mode, dst + 16, nBlocks, x4, x5, x6, x7);
  x8 = i32x4.add(x8, v128.load32_splat(keyPtr, 16));
  x9 = i32x4.add(x9, v128.load32_splat(keyPtr, 20));
  x10 = i32x4.add(x10, v128.load32_splat(keyPtr, 24));
  x11 = i32x4.add(x11, v128.load32_splat(keyPtr, 28));
  emitGroup(mode, dst + 32, nBlocks, x8, x9, x10, x11);
  x12 = i32x4.add(x12, ctr);
  x13 = i32x4.add(x13, v128.load32_splat(noncePtr, 0));
  x14 = i32x4.add(x14, v128.load32_splat(noncePtr, 4));
  x15 = i32x4.add(x15, v128.load32_splat(noncePtr, 8));
  emitGroup(mode, dst + 48, nBlocks, x12, x13, x14, x15);
}

// One non-inlined specialisation per mode.
function ks4Store(keyPtr: usize, noncePtr: usize, counter: u32, dst: usize, nBlocks: u32): void {
  chacha4(MODE_STORE, keyPtr, noncePtr, counter, dst, nBlocks);
}
function ks4Add32(keyPtr: usize, noncePtr: usize, counter: u32, dst: usize): void {
  chacha4(MODE_ADD32, keyPtr, noncePtr, counter, dst, 4);
}
function ks4Sub32(keyPtr: usize, noncePtr: usize, counter: u32, dst: usize): void {
  chacha4(MODE_SUB32, keyPtr, noncePtr, counter, dst, 4);
}
function ks4Add64(keyPtr: usize, noncePtr: usize, counter: u32, dst: usize): void {
  chacha4(MODE_ADD64, keyPtr, noncePtr, counter, dst, 4);
}
function ks4Sub64(keyPtr: usize, noncePtr: usize, counter: u32, dst: usize): void {
  chacha4(MODE_SUB64, keyPtr, noncePtr, counter, dst, 4);
}

/**
 * Writes nBlocks * 64 bytes of ChaCha20 keystream, starting at block counter (mod 2^32), to
 * outPtr. A last group of 1-3 blocks is also computed 4-wide; only the wanted blocks are stored.
 */
export function chacha20(keyPtr: usize, noncePtr: usize, counter: u32, outPtr: usize, nBlocks: u32): void {
  while (nBlocks >= 4) {
    ks4Store(keyPtr, noncePtr, counter, outPtr, 4);
    counter += 4;
    outPtr += 256;
    nBlocks -= 4;
  }
  if (nBlocks > 0) ks4Store(keyPtr, noncePtr, counter, outPtr, nBlocks);
}

// ---------------------------------------------------------------------------
// Fused masking: vec +/-= keystream, 256 bytes of vector per 4 blocks.

@inline function maskImpl(wide: bool, sub: bool, vecPtr: usize, nBytes: usize, keyPtr: usize, noncePtr: usize, counter: u32, scratchPtr: usize): void {
  let p = vecPtr;
  let end = vecPtr + nBytes;
  let fullEnd = vecPtr + (nBytes & ~(<usize>255));
  while (p < fullEnd) {
    if (wide) {
      if (sub) ks4Sub64(keyPtr, noncePtr, counter, p);
      else ks4Add64(keyPtr, noncePtr, counter, p);
    } else {
      if (sub) ks4Sub32(keyPtr, noncePtr, counter, p);
      else ks4Add32(keyPtr, noncePtr, counter, p);
    }
    counter += 4;
    p += 256;
  }
  if (p < end) {
    // Tail (< 256 bytes): materialise up to 4 blocks in scratch, use only what is needed.
    let rem = <u32>(end - p);
    ks4Store(keyPtr, noncePtr, counter, scratchPtr, (rem + 63) >> 6);
    let k = scratchPtr;
    let vecEnd = p + (<usize>rem & ~(<usize>15));
    while (p < vecEnd) {
      let a = v128.load(p);
      let b = v128.load(k);
      if (wide) v128.store(p, sub ? i64x2.sub(a, b) : i64x2.add(a, b));
      else v128.store(p, sub ? i32x4.sub(a, b) : i32x4.add(a, b));
      p += 16;
      k += 16;
    }
    if (wide) {
      if (p < end) store<u64>(p, sub ? load<u64>(p) - load<u64>(k) : load<u64>(p) + load<u64>(k));
    } else {
      while (p < end) {
        store<u32>(p, sub ? load<u32>(p) - load<u32>(k) : load<u32>(p) + load<u32>(k));
        p += 4;
        k += 4;
      }
    }
  }
}

/** vec[i] = vec[i] +/- keystream word i (mod 2^32), keystream starting at block counter. */
export function mask_u32(vecPtr: usize, len: u32, keyPtr: usize, noncePtr: usize, counter: u32, subtract: i32, scratchPtr: usize): void {
  let nBytes = <usize>len << 2;
  if (subtract != 0) maskImpl(false, true, vecPtr, nBytes, keyPtr, noncePtr, counter, scratchPtr);
  else maskImpl(false, false, vecPtr, nBytes, keyPtr, noncePtr, counter, scratchPtr);
}

/** vec[i] = vec[i] +/- (ks[2i] | ks[2i+1] << 32) (mod 2^64), keystream starting at block counter. */
export function mask_u64(vecPtr: usize, len: u32, keyPtr: usize, noncePtr: usize, counter: u32, subtract: i32, scratchPtr: usize): void {
  let nBytes = <usize>len << 3;
  if (subtract != 0) maskImpl(true, true, vecPtr, nBytes, keyPtr, noncePtr, counter, scratchPtr);
  else maskImpl(true, false, vecPtr, nBytes, keyPtr, noncePtr, counter, scratchPtr);
}

// ---------------------------------------------------------------------------
// Ring arithmetic. out may alias a or b exactly (in place).

export function add_u32(outPtr: usize, aPtr: usize, bPtr: usize, len: u32): void {
  let n = <usize>len << 2;
  let vEnd = n & ~(<usize>15);
  let i: usize = 0;
  for (; i < vEnd; i += 16) v128.store(outPtr + i, i32x4.add(v128.load(aPtr + i), v128.load(bPtr + i)));
  for (; i < n; i += 4) store<u32>(outPtr + i, load<u32>(aPtr + i) + load<u32>(bPtr + i));
}

export function sub_u32(outPtr: usize, aPtr: usize, bPtr: usize, len: u32): void {
  let n = <usize>len << 2;
  let vEnd = n & ~(<usize>15);
  let i: usize = 0;
  for (; i < vEnd; i += 16) v128.store(outPtr + i, i32x4.sub(v128.load(aPtr + i), v128.load(bPtr + i)));
  for (; i < n; i += 4) store<u32>(outPtr + i, load<u32>(aPtr + i) - load<u32>(bPtr + i));
}

export function add_u64(outPtr: usize, aPtr: usize, bPtr: usize, len: u32): void {
  let n = <usize>len << 3;
  let vEnd = n & ~(<usize>15);
  let i: usize = 0;
  for (; i < vEnd; i += 16) v128.store(outPtr + i, i64x2.add(v128.load(aPtr + i), v128.load(bPtr + i)));
  if (i < n) store<u64>(outPtr + i, load<u64>(aPtr + i) + load<u64>(bPtr + i));
}

export function sub_u64(outPtr: usize, aPtr: usize, bPtr: usize, len: u32): void {
  let n = <usize>len << 3;
  let vEnd = n & ~(<usize>15);
  let i: usize = 0;
  for (; i < vEnd; i += 16) v128.store(outPtr + i, i64x2.sub(v128.load(aPtr + i), v128.load(bPtr + i)));
  if (i < n) store<u64>(outPtr + i, load<u64>(aPtr + i) - load<u64>(bPtr + i));
}

export function neg_u32(outPtr: usize, aPtr: usize, len: u32): void {
  let n = <usize>len << 2;
  let vEnd = n & ~(<usize>15);
  let i: usize = 0;
  for (; i < vEnd; i += 16) v128.store(outPtr + i, i32x4.neg(v128.load(aPtr + i)));
  for (; i < n; i += 4) store<u32>(outPtr + i, 0 - load<u32>(aPtr + i));
}

export function neg_u64(outPtr: usize, aPtr: usize, len: u32): void {
  let n = <usize>len << 3;
  let vEnd = n & ~(<usize>15);
  let i: usize = 0;
  for (; i < vEnd; i += 16) v128.store(outPtr + i, i64x2.neg(v128.load(aPtr + i)));
  if (i < n) store<u64>(outPtr + i, 0 - load<u64>(aPtr + i));
}

export function mul_u32(outPtr: usize, aPtr: usize, len: u32, k: u32): void {
  let n = <usize>len << 2;
  let vEnd = n & ~(<usize>15);
  let kv = i32x4.splat(<i32>k);
  let i: usize = 0;
  for (; i < vEnd; i += 16) v128.store(outPtr + i, i32x4.mul(v128.load(aPtr + i), kv));
  for (; i < n; i += 4) store<u32>(outPtr + i, load<u32>(aPtr + i) * k);
}

export function mul_u64(outPtr: usize, aPtr: usize, len: u32, k: u64): void {
  let n = <usize>len << 3;
  let vEnd = n & ~(<usize>15);
  let kv = i64x2.splat(<i64>k);
  let i: usize = 0;
  for (; i < vEnd; i += 16) v128.store(outPtr + i, i64x2.mul(v128.load(aPtr + i), kv));
  if (i < n) store<u64>(outPtr + i, load<u64>(aPtr + i) * k);
}

// ---------------------------------------------------------------------------
// Fixed-point encoding with stochastic rounding. Element i uses keystream word i of the
// ChaCha20 keystream (keyPtr/noncePtr) starting at block `counter` (0 for a whole vector;
// a caller encoding in chunks of 16k elements passes k so element i still gets word i).
// Returns the number of clipped elements, or -(i+1) if in[i] is NaN or infinite
// (i relative to this call).
//
// Per element: x = f64(in[i]); clip to [-bound, bound]; y = x * scale; fl = floor(y);
// up = f64(ks[i]) < (y - fl) * 2^32; v = i64(fl) + up, stored as u32(v) or u64(v).
// JS guarantees |bound * scale| < 2^52 and scale a power of two, so all of it is exact.
//
// The vector path does two elements at a time in f64x2, in chunks of 64 elements (one
// 4-block keystream batch). A chunk is first scanned for NaN or infinities (x - x is +0
// exactly when x is finite); a chunk holding one goes through the scalar loop, which
// returns at the exact index without writing past it.
// No SIMD instruction truncates f64 to i64, so with v = fl + up (exact, |v| <= 2^52) the
// vector path splits hi = floor(v / 2^32) and lo = v - hi * 2^32 (both exact, lo in
// [0, 2^32), |hi| <= 2^20): the two's complement of v is hi:lo. Adding 1.5 * 2^52 to an
// integer t with |t| < 2^51 gives a double whose low 32 mantissa bits are t mod 2^32.
// Clipping uses pmin/pmax (a clipped value differs from its input; -0 versus +0 at
// bound 0 cannot change the encoded integer).

const TWO32: f64 = 4294967296.0;
const TWO_M32: f64 = 1.0 / 4294967296.0;
const MAGIC: f64 = 6755399441055744.0; // 1.5 * 2^52

@inline function encodeImpl<TIn, TOut>(outPtr: usize, inPtr: usize, len: u32, scale: f64, bound: f64, keyPtr: usize, noncePtr: usize, counter: u32, scratchPtr: usize): i32 {
  let clipped: i32 = 0;
  let negBound = -bound;
  let boundV = f64x2.splat(bound);
  let negBoundV = f64x2.splat(negBound);
  let scaleV = f64x2.splat(scale);
  let clippedV = i64x2.splat(0); // each lane counts down by 1 per clip (compare masks are -1)
  let i: u32 = 0;
  while (i < len) {
    let n = len - i;
    if (n > 64) n = 64;
    ks4Store(keyPtr, noncePtr, counter, scratchPtr, (n + 15) >> 4);
    counter += 4;
    let pIn = inPtr + (<usize>i) * sizeof<TIn>();
    let pOut = outPtr + (<usize>i) * sizeof<TOut>();
    let pKs = scratchPtr;
    let pEnd = scratchPtr + ((<usize>n) << 2);
    let pPairEnd = scratchPtr + ((<usize>n & ~(<usize>1)) << 2);
    // Finiteness scan of the pairs (the odd last element is checked by the scalar loop).
    let bad = v128.splat<i64>(0);
    let q = pIn;
    let qEnd = pIn + ((<usize>n & ~(<usize>1)) * sizeof<TIn>());
    if (sizeof<TIn>() == 8) {
      while (q < qEnd) {
        let x = v128.load(q);
        bad = v128.or(bad, f64x2.sub(x, x));
        q += 16;
      }
    } else {
      let q4End = pIn + ((<usize>n & ~(<usize>3)) << 2);
      while (q < q4End) {
        let x = v128.load(q);
        bad = v128.or(bad, f32x4.sub(x, x));
        q += 16;
      }
      if (q < qEnd) {
        let x = v128.load64_zero(q);
        bad = v128.or(bad, f32x4.sub(x, x));
      }
    }
    if (!v128.any_true(bad)) {
      while (pKs < pPairEnd) {
        let x0: v128;
        if (sizeof<TIn>() == 8) x0 = v128.load(pIn);
        else x0 = f64x2.promote_low_f32x4(v128.load64_zero(pIn));
        let x = f64x2.pmin(boundV, f64x2.pmax(negBoundV, x0));
        clippedV = i64x2.add(clippedV, f64x2.ne(x, x0));
        let y = f64x2.mul(x, scaleV);
        let fl = f64x2.floor(y);
        let frac = f64x2.sub(y, fl);
        let r = f64x2.convert_low_i32x4_u(v128.load64_zero(pKs));
        let up = f64x2.lt(r, f64x2.mul(frac, f64x2.splat(TWO32)));
        let v = f64x2.add(fl, v128.and(up, f64x2.splat(1.0)));
        let hi = f64x2.floor(f64x2.mul(v, f64x2.splat(TWO_M32)));
        let lo = f64x2.sub(v, f64x2.mul(hi, f64x2.splat(TWO32)));
        let loBits = f64x2.add(lo, f64x2.splat(MAGIC)); // low dword of each lane = lo
        if (sizeof<TOut>() == 8) {
          let hiBits = f64x2.add(hi, f64x2.splat(MAGIC)); // low dword of each lane = hi
          v128.store(pOut, i32x4.shuffle(loBits, hiBits, 0, 4, 2, 6));
        } else {
          v128.store64_lane(pOut, i32x4.shuffle(loBits, loBits, 0, 2, 0, 2), 0);
        }
        pIn += 2 * sizeof<TIn>();
        pOut += 2 * sizeof<TOut>();
        pKs += 8;
      }
    }
    // Scalar: the odd last element of a chunk, or all of a chunk holding a non-finite value.
    while (pKs < pEnd) {
      let x = <f64>load<TIn>(pIn);
      if (x - x != 0) return -(<i32>(i + <u32>((pKs - scratchPtr) >> 2)) + 1); // NaN or +/-Infinity
      if (x > bound) {
        x = bound;
        clipped++;
      } else if (x < negBound) {
        x = negBound;
        clipped++;
      }
      let y = x * scale;
      let fl = floor<f64>(y);
      let frac = y - fl;
      let up = <i64>(<f64>load<u32>(pKs) < frac * TWO32);
      let v = <i64>fl + up;
      if (sizeof<TOut>() == 8) store<u64>(pOut, <u64>v);
      else store<u32>(pOut, <u32>v);
      pIn += sizeof<TIn>();
      pOut += sizeof<TOut>();
      pKs += 4;
    }
    i += n;
  }
  return clipped - <i32>(i64x2.extract_lane(clippedV, 0) + i64x2.extract_lane(clippedV, 1));
}

export function encode_f32_u32(outPtr: usize, inPtr: usize, len: u32, scale: f64, bound: f64, keyPtr: usize, noncePtr: usize, counter: u32, scratchPtr: usize): i32 {
  return encodeImpl<f32, u32>(outPtr, inPtr, len, scale, bound, keyPtr, noncePtr, counter, scratchPtr);
}

export function encode_f64_u32(outPtr: usize, inPtr: usize, len: u32, scale: f64, bound: f64, keyPtr: usize, noncePtr: usize, counter: u32, scratchPtr: usize): i32 {
  return encodeImpl<f64, u32>(outPtr, inPtr, len, scale, bound, keyPtr, noncePtr, counter, scratchPtr);
}

export function encode_f32_u64(outPtr: usize, inPtr: usize, len: u32, scale: f64, bound: f64, keyPtr: usize, noncePtr: usize, counter: u32, scratchPtr: usize): i32 {
  return encodeImpl<f32, u64>(outPtr, inPtr, len, scale, bound, keyPtr, noncePtr, counter, scratchPtr);
}

export function encode_f64_u64(outPtr: usize, inPtr: usize, len: u32, scale: f64, bound: f64, keyPtr: usize, noncePtr: usize, counter: u32, scratchPtr: usize): i32 {
  return encodeImpl<f64, u64>(outPtr, inPtr, len, scale, bound, keyPtr, noncePtr, counter, scratchPtr);
}

// ---------------------------------------------------------------------------
// Discrete Laplace (CKS20 algorithm 2), exact, over the ChaCha20 keystream (nonce 0):
// keystream word w is the w-th little-endian u32 from block 0. src/dp/samplers.ts holds
// the algorithm and the exactness argument; this kernel is its hot loop. Per attempt:
//
//   w = next word, redrawn while w > maxAccept      (maxAccept = 2^32 - 1 - 2^32 mod t)
//   u = w mod t; d0 = u (t <= 65536) or u & 0xffff, d1 = u >>> 16 (t > 65536)
//   for each nonzero digit d, table P: r = next word; r == P[d]: stop (tie); r > P[d]: reject
//   v = 0; loop { r = next word; r == e1: stop (tie); r > e1: break; v++; v == 2^20: stop }
//   y = floor((u + t*v) / s); b = next word & 1; b == 1 and y == 0: reject
//   out[i] = b ? -y : y                              (i32: outside the i32 range: stop)
//
// A rejected attempt starts again at the same index. A tie (probability 2^-32) needs further
// exact bits of exp(-gamma), which only JS computes, so the kernel stops there and leaves in
// the state struct what JS needs to finish that sample and call the kernel again:
//
//   offset 0  u32 index   in: first output index; out: index of the sample in progress
//   offset 4  u32 status  out: LAPLACE_*
//   offset 8  u64 pos     in: next keystream word; out: the word after the last one read
//   offset 16 u64 limit   in: no attempt starts at a word position >= limit
//   offset 24 u32 phase   out (LAPLACE_STOP): PHASE_*
//   offset 28 u32 u       out: the attempt's u
//   offset 32 u32 v       out: Bernoulli(exp(-1)) successes so far (PHASE_E1, PHASE_GEOMETRIC)
//   offset 36 u32 digit   out: the tied table digit (PHASE_P0, PHASE_P1)
//
// Requires 1 <= t < 2^32, 1 <= s < 2^20, p0 with min(t, 65536) entries, p1 with
// ceil(t / 65536) entries when t > 65536, limit <= 2^36 - 2^24 (block counters stay below
// 2^32 unless one attempt draws 2^24 words). With v < 2^20, u + t*v < 2^52: exact in f64 too.
// ks is 256 bytes of scratch holding keystream words pos & ~63 .. (pos & ~63) + 63.

const LAPLACE_DONE: u32 = 0; // out[index..len) filled
const LAPLACE_STOP: u32 = 1; // JS finishes sample `index` from phase, u, v, digit
const LAPLACE_RANGE: u32 = 2; // sample `index` does not fit an i32 (pos is after its sign word)
const LAPLACE_EXHAUSTED: u32 = 3; // an attempt would start at pos >= limit
const PHASE_P0: u32 = 0; // the tie was r == p0[digit]
const PHASE_P1: u32 = 1; // r == p1[digit]
const PHASE_E1: u32 = 2; // r == e1 after v successes
const PHASE_GEOMETRIC: u32 = 3; // v reached GEOMETRIC_MAX; the geometric loop goes on at pos
const GEOMETRIC_MAX: u32 = 1 << 20;

/** Keystream word `pos`, generating its 4-block chunk into ks when pos starts one. */
@inline function laplaceWord(keyPtr: usize, noncePtr: usize, ks: usize, pos: u64): u32 {
  let k = <usize>(<u32>pos & 63);
  if (k == 0) ks4Store(keyPtr, noncePtr, <u32>(pos >> 4), ks, 4);
  return load<u32>(ks + (k << 2));
}

@inline function laplaceState(st: usize, index: u32, status: u32, pos: u64, phase: u32, u: u32, v: u32, digit: u32): void {
  store<u32>(st, index, 0);
  store<u32>(st, status, 4);
  store<u64>(st, pos, 8);
  store<u32>(st, phase, 24);
  store<u32>(st, u, 28);
  store<u32>(st, v, 32);
  store<u32>(st, digit, 36);
}

@inline function laplaceImpl<T>(outPtr: usize, len: u32, t: u32, s: u32, e1: u32, p0: usize, p1: usize, keyPtr: usize, noncePtr: usize, st: usize, ks: usize): void {
  let i = load<u32>(st, 0);
  let pos = load<u64>(st, 8);
  let limit = load<u64>(st, 16);
  let maxAccept = <u32>(<u64>0xffffffff - (<u64>0x100000000 % <u64>t));
  let split = t > 65536;
  if ((<u32>pos & 63) != 0) ks4Store(keyPtr, noncePtr, <u32>(pos >> 4) & ~3, ks, 4);
  while (i < len) {
    if (pos >= limit) {
      laplaceState(st, i, LAPLACE_EXHAUSTED, pos, 0, 0, 0, 0);
      return;
    }
    let w = laplaceWord(keyPtr, noncePtr, ks, pos);
    pos++;
    while (w > maxAccept) {
      w = laplaceWord(keyPtr, noncePtr, ks, pos);
      pos++;
    }
    let u = w % t;
    let d = split ? u & 0xffff : u;
    if (d != 0) {
      let p = load<u32>(p0 + (<usize>d << 2));
      let r = laplaceWord(keyPtr, noncePtr, ks, pos);
      pos++;
      if (r == p) {
        laplaceState(st, i, LAPLACE_STOP, pos, PHASE_P0, u, 0, d);
        return;
      }
      if (r > p) continue;
    }
    if (split) {
      d = u >>> 16;
      if (d != 0) {
        let p = load<u32>(p1 + (<usize>d << 2));
        let r = laplaceWord(keyPtr, noncePtr, ks, pos);
        pos++;
        if (r == p) {
          laplaceState(st, i, LAPLACE_STOP, pos, PHASE_P1, u, 0, d);
          return;
        }
        if (r > p) continue;
      }
    }
    let v: u32 = 0;
    while (true) {
      let r = laplaceWord(keyPtr, noncePtr, ks, pos);
      pos++;
      if (r == e1) {
        laplaceState(st, i, LAPLACE_STOP, pos, PHASE_E1, u, v, 0);
        return;
      }
      if (r > e1) break;
      v++;
      if (v == GEOMETRIC_MAX) {
        laplaceState(st, i, LAPLACE_STOP, pos, PHASE_GEOMETRIC, u, v, 0);
        return;
      }
    }
    let x = <u64>u + <u64>t * <u64>v;
    let y = s == 1 ? x : x / <u64>s;
    let negative = (laplaceWord(keyPtr, noncePtr, ks, pos) & 1) != 0;
    pos++;
    if (negative && y == 0) continue; // so that 0 is not counted twice
    if (sizeof<T>() == 4) {
      if (y > (negative ? <u64>0x80000000 : <u64>0x7fffffff)) {
        laplaceState(st, i, LAPLACE_RANGE, pos, 0, u, v, 0);
        return;
      }
      store<i32>(outPtr + (<usize>i << 2), negative ? -<i32>y : <i32>y);
    } else {
      store<f64>(outPtr + (<usize>i << 3), negative ? -<f64>y : <f64>y);
    }
    i++;
  }
  laplaceState(st, i, LAPLACE_DONE, pos, 0, 0, 0, 0);
}

/** Discrete Laplace samples into out[index..len) (i32), from and to the state struct at st. */
export function laplace_i32(outPtr: usize, len: u32, t: u32, s: u32, e1: u32, p0: usize, p1: usize, keyPtr: usize, noncePtr: usize, st: usize, ks: usize): void {
  laplaceImpl<i32>(outPtr, len, t, s, e1, p0, p1, keyPtr, noncePtr, st, ks);
}

/** The same into f64 output. */
export function laplace_f64(outPtr: usize, len: u32, t: u32, s: u32, e1: u32, p0: usize, p1: usize, keyPtr: usize, noncePtr: usize, st: usize, ks: usize): void {
  laplaceImpl<f64>(outPtr, len, t, s, e1, p0, p1, keyPtr, noncePtr, st, ks);
}

// ---------------------------------------------------------------------------
// MPC vector arithmetic: element-wise products in Z_2^64 (the Beaver combination) and in
// prime fields F_p, p an odd prime below 2^64, elements canonical in [0, p).
// out may alias any operand exactly (element i is read before it is written).

// Two lanes at a time in i64x2 (V8 lowers i64x2.mul to 32-bit multiplies on x64, which still
// measured about 2x the scalar loop on data in cache, 1.2x on data in memory), scalar tail.

/** out[i] = a[i] * b[i] mod 2^64. */
export function mul_z64(outPtr: usize, aPtr: usize, bPtr: usize, len: u32): void {
  let n = <usize>len << 3;
  let vEnd = n & ~(<usize>15);
  let i: usize = 0;
  for (; i < vEnd; i += 16) v128.store(outPtr + i, i64x2.mul(v128.load(aPtr + i), v128.load(bPtr + i)));
  if (i < n) store<u64>(outPtr + i, load<u64>(aPtr + i) * load<u64>(bPtr + i));
}

/** out[i] += a[i] * b[i] mod 2^64. */
export function muladd_z64(outPtr: usize, aPtr: usize, bPtr: usize, len: u32): void {
  let n = <usize>len << 3;
  let vEnd = n & ~(<usize>15);
  let i: usize = 0;
  for (; i < vEnd; i += 16)
    v128.store(outPtr + i, i64x2.add(v128.load(outPtr + i), i64x2.mul(v128.load(aPtr + i), v128.load(bPtr + i))));
  if (i < n) store<u64>(outPtr + i, load<u64>(outPtr + i) + load<u64>(aPtr + i) * load<u64>(bPtr + i));
}

/**
 * The Beaver combination z = c + d*b + e*a (+ d*e at the first party) mod 2^64, at the
 * first party as c + d*(b + e) + e*a: two products per element either way.
 */
export function beaver_z64(outPtr: usize, cPtr: usize, dPtr: usize, ePtr: usize, aPtr: usize, bPtr: usize, len: u32, first: i32): void {
  let n = <usize>len << 3;
  let vEnd = n & ~(<usize>15);
  let i: usize = 0;
  if (first != 0) {
    for (; i < vEnd; i += 16) {
      let e = v128.load(ePtr + i);
      let db = i64x2.mul(v128.load(dPtr + i), i64x2.add(v128.load(bPtr + i), e));
      v128.store(outPtr + i, i64x2.add(i64x2.add(v128.load(cPtr + i), db), i64x2.mul(e, v128.load(aPtr + i))));
    }
    if (i < n) {
      let e = load<u64>(ePtr + i);
      store<u64>(outPtr + i, load<u64>(cPtr + i) + load<u64>(dPtr + i) * (load<u64>(bPtr + i) + e) + e * load<u64>(aPtr + i));
    }
  } else {
    for (; i < vEnd; i += 16) {
      let db = i64x2.mul(v128.load(dPtr + i), v128.load(bPtr + i));
      v128.store(outPtr + i, i64x2.add(i64x2.add(v128.load(cPtr + i), db), i64x2.mul(v128.load(ePtr + i), v128.load(aPtr + i))));
    }
    if (i < n) store<u64>(outPtr + i, load<u64>(cPtr + i) + load<u64>(dPtr + i) * load<u64>(bPtr + i) + load<u64>(ePtr + i) * load<u64>(aPtr + i));
  }
}

/** The index of the first element of a that is not below p, or -1. */
export function fcheck(aPtr: usize, len: u32, p: u64): i32 {
  let n = <usize>len << 3;
  let i: usize = 0;
  // Scan 4 at a time with one branch; find the exact index only when a block holds one.
  let n4 = n & ~(<usize>31);
  for (; i < n4; i += 32) {
    let bad = (load<u64>(aPtr + i) >= p) | (load<u64>(aPtr + i + 8) >= p) | (load<u64>(aPtr + i + 16) >= p) | (load<u64>(aPtr + i + 24) >= p);
    if (bad) break;
  }
  for (; i < n; i += 8) if (load<u64>(aPtr + i) >= p) return <i32>(i >> 3);
  return -1;
}

/** out[i] = a[i] + b[i] mod p (a + b may exceed 2^64 when p > 2^63: the carry says so). */
export function fadd(outPtr: usize, aPtr: usize, bPtr: usize, len: u32, p: u64): void {
  let n = <usize>len << 3;
  for (let i: usize = 0; i < n; i += 8) {
    let a = load<u64>(aPtr + i);
    let s = a + load<u64>(bPtr + i);
    store<u64>(outPtr + i, select<u64>(s - p, s, (s < a) | (s >= p))); // branch-free: random data mispredicts

  }
}

/** out[i] = a[i] - b[i] mod p. */
export function fsub(outPtr: usize, aPtr: usize, bPtr: usize, len: u32, p: u64): void {
  let n = <usize>len << 3;
  for (let i: usize = 0; i < n; i += 8) {
    let a = load<u64>(aPtr + i);
    let b = load<u64>(bPtr + i);
    store<u64>(outPtr + i, a - b + select<u64>(p, 0, a < b));
  }
}

/** High 64 bits of the 128-bit product a*b, from four 32x32 products (WASM has no mulhi). */
@inline function mulhi64(a: u64, b: u64): u64 {
  let a0 = a & 0xffffffff, a1 = a >> 32, b0 = b & 0xffffffff, b1 = b >> 32;
  let p00 = a0 * b0, p01 = a0 * b1, p10 = a1 * b0;
  let mid = (p00 >> 32) + (p01 & 0xffffffff) + (p10 & 0xffffffff); // < 3 * 2^32
  return a1 * b1 + (p01 >> 32) + (p10 >> 32) + (mid >> 32);
}

/**
 * Montgomery reduction of a*b with R = 2^64 (a*b < p*R): returns a*b*R^-1 mod p in [0, p).
 * With m = lo(ab) * p^-1 mod R, m*p and ab share their low word, so ab - m*p is exactly
 * (hi(ab) - hi(mp)) * R and lies in (-p*R, p*R): one conditional add of p.
 */
@inline function montmul(a: u64, b: u64, p: u64, pinv: u64): u64 {
  let hi = mulhi64(a, b);
  let m = (a * b) * pinv;
  let u = mulhi64(m, p);
  return hi >= u ? hi - u : hi - u + p;
}

/**
 * a*b mod (2^61 - 1) for a, b < 2^61: 2^64 = 8 * 2^61 = 8, so a*b = 8*hi + (lo >> 61) + (lo & p),
 * folded once more. With 29-bit high halves, mid = a0*b1 + a1*b0 + (a0*b0 >> 32) < 2^62 needs
 * no carry handling: hi = a1*b1 + (mid >> 32), lo = mid << 32 | (a0*b0 mod 2^32).
 */
@inline function mulp61(a: u64, b: u64): u64 {
  const P: u64 = 0x1fffffffffffffff;
  let a0 = a & 0xffffffff, a1 = a >> 32, b0 = b & 0xffffffff, b1 = b >> 32;
  let p00 = a0 * b0;
  let mid = a0 * b1 + a1 * b0 + (p00 >> 32);
  let hi = a1 * b1 + (mid >> 32);
  let lo = (mid << 32) | (p00 & 0xffffffff);
  let s = (hi << 3) + (lo >> 61) + (lo & P); // < 2^62 + 2^34
  s = (s & P) + (s >> 61); // <= p + 3
  return s >= P ? s - P : s;
}

/**
 * a*b mod p for p < 2^50 (FLOAT_MAX_BITS): the quotient is estimated in doubles. a, b < 2^50
 * are exact as doubles and the three roundings (a*b, * 1/p, 1/p itself) leave a relative
 * error below 2^-51, so the estimate of a*b/p < 2^50 is off by less than 1: q = trunc(.)
 * is floor(a*b/p) - 1, itself or + 1, and a*b - q*p (exact mod 2^64, its true value in
 * [-p, 2p)) needs at most one correction.
 */
@inline function mulsmall(a: u64, b: u64, p: u64, pinvF: f64): u64 {
  let q = <u64>(<i64>(<f64>a * <f64>b * pinvF));
  let r = <i64>(a * b - q * p);
  if (r < 0) r += <i64>p;
  else if (r >= <i64>p) r -= <i64>p;
  return <u64>r;
}

// Two lanes at a time: i64x2.extmul_{low,high}_i32x4_u are 32x32 -> 64 products (pmuludq on
// x64), so the four partial products of two u64 lanes take four instructions and two shuffles.

/** mulp61 on both u64 lanes. */
@inline function mulp61x2(a: v128, b: v128): v128 {
  const P: u64 = 0x1fffffffffffffff;
  let pv = i64x2.splat(<i64>P);
  let A = i32x4.shuffle(a, a, 0, 2, 1, 3); // a0 of each lane, then a1
  let B = i32x4.shuffle(b, b, 0, 2, 1, 3); // b0, then b1
  let Bs = i32x4.shuffle(b, b, 1, 3, 0, 2); // b1, then b0
  let p00 = i64x2.extmul_low_i32x4_u(A, B);
  let p11 = i64x2.extmul_high_i32x4_u(A, B);
  let mid = i64x2.add(i64x2.add(i64x2.extmul_low_i32x4_u(A, Bs), i64x2.extmul_high_i32x4_u(A, Bs)), i64x2.shr_u(p00, 32));
  let hi = i64x2.add(p11, i64x2.shr_u(mid, 32));
  let lo = v128.or(i64x2.shl(mid, 32), v128.and(p00, i64x2.splat(0xffffffff)));
  let s = i64x2.add(i64x2.add(i64x2.shl(hi, 3), i64x2.shr_u(lo, 61)), v128.and(lo, pv));
  s = i64x2.add(v128.and(s, pv), i64x2.shr_u(s, 61)); // <= p + 2 < 2^62: a signed compare is right
  return i64x2.sub(s, v128.and(i64x2.ge_s(s, pv), pv));
}

const E52: i64 = 0x4330000000000000; // the bits of 2^52 as a double
const TWO52: f64 = 4503599627370496.0;

/** A u64 lane below 2^52 as a double, exactly: the bits of 2^52 + x, minus 2^52. */
@inline function toF64x2(x: v128): v128 {
  return f64x2.sub(v128.or(x, i64x2.splat(E52)), f64x2.splat(TWO52));
}

/** mulsmall on both u64 lanes (fb: b as doubles, computed once for a scalar b). */
@inline function mulsmallx2(a: v128, b: v128, fb: v128, pv: v128, pinvV: v128): v128 {
  let qf = f64x2.trunc(f64x2.mul(f64x2.mul(toF64x2(a), fb), pinvV));
  // Back to integers: 0 <= q < 2^51, so 2^52 + q is exact and its low 52 bits are q.
  let q = v128.and(f64x2.add(qf, f64x2.splat(TWO52)), i64x2.splat(0x000fffffffffffff));
  let r = i64x2.sub(i64x2.mul(a, b), i64x2.mul(q, pv)); // in [-p, 2p)
  r = i64x2.add(r, v128.and(i64x2.lt_s(r, i64x2.splat(0)), pv));
  return i64x2.sub(r, v128.and(i64x2.ge_s(r, pv), pv));
}

/** Lanes (x0.lo, x1.lo, x0.hi, x1.hi): the layout the 32-bit products below take. */
@inline function halves(x: v128): v128 {
  return i32x4.shuffle(x, x, 0, 2, 1, 3);
}
/** Lanes (x0.hi, x1.hi, x0.lo, x1.lo). */
@inline function halvesSwapped(x: v128): v128 {
  return i32x4.shuffle(x, x, 1, 3, 0, 2);
}

/** montmul on both u64 lanes; B = halves(b), Bs = halvesSwapped(b), P and Ps the same of p. */
@inline function montmulx2(a: v128, B: v128, Bs: v128, pv: v128, P: v128, Ps: v128, pinvV: v128): v128 {
  let m32 = i64x2.splat(0xffffffff);
  let A = halves(a);
  let p00 = i64x2.extmul_low_i32x4_u(A, B), p11 = i64x2.extmul_high_i32x4_u(A, B);
  let p01 = i64x2.extmul_low_i32x4_u(A, Bs), p10 = i64x2.extmul_high_i32x4_u(A, Bs);
  let mid = i64x2.add(i64x2.add(i64x2.shr_u(p00, 32), v128.and(p01, m32)), v128.and(p10, m32));
  let hi = i64x2.add(i64x2.add(i64x2.add(p11, i64x2.shr_u(p01, 32)), i64x2.shr_u(p10, 32)), i64x2.shr_u(mid, 32));
  let lo = v128.or(i64x2.shl(mid, 32), v128.and(p00, m32));
  let M = halves(i64x2.mul(lo, pinvV));
  let q00 = i64x2.extmul_low_i32x4_u(M, P), q11 = i64x2.extmul_high_i32x4_u(M, P);
  let q01 = i64x2.extmul_low_i32x4_u(M, Ps), q10 = i64x2.extmul_high_i32x4_u(M, Ps);
  let qmid = i64x2.add(i64x2.add(i64x2.shr_u(q00, 32), v128.and(q01, m32)), v128.and(q10, m32));
  let u = i64x2.add(i64x2.add(i64x2.add(q11, i64x2.shr_u(q01, 32)), i64x2.shr_u(q10, 32)), i64x2.shr_u(qmid, 32));
  // hi < u unsigned: compare with the sign bits flipped.
  let sign = i64x2.splat(0x8000000000000000);
  let borrow = i64x2.lt_s(v128.xor(hi, sign), v128.xor(u, sign));
  return i64x2.add(i64x2.sub(hi, u), v128.and(borrow, pv));
}

// Which product a field uses (FieldParams.kind in src/core/wasm/_kernels.ts).
const FIELD_P61: i32 = 0;
const FIELD_SMALL: i32 = 1;
const FIELD_MONT: i32 = 2;

/**
 * out[i] = a[i] * b[i] mod p. kind FIELD_P61: p = 2^61 - 1; FIELD_SMALL: p < 2^50, pinvF =
 * 1/p; FIELD_MONT: any odd p, pinv = p^-1 mod 2^64, r2 = 2^128 mod p, and the product is
 * montmul(montmul(a, b), r2) = a*b*R^-1 * R^2 * R^-1.
 */
export function fmul(outPtr: usize, aPtr: usize, bPtr: usize, len: u32, kind: i32, p: u64, pinv: u64, r2: u64, pinvF: f64): void {
  let n = <usize>len << 3;
  if (kind == FIELD_P61) {
    let vEnd = n & ~(<usize>15);
    let i: usize = 0;
    for (; i < vEnd; i += 16) v128.store(outPtr + i, mulp61x2(v128.load(aPtr + i), v128.load(bPtr + i)));
    if (i < n) store<u64>(outPtr + i, mulp61(load<u64>(aPtr + i), load<u64>(bPtr + i)));
  } else if (kind == FIELD_SMALL) {
    let vEnd = n & ~(<usize>15);
    let pv = i64x2.splat(<i64>p), pinvV = f64x2.splat(pinvF);
    let i: usize = 0;
    for (; i < vEnd; i += 16) {
      let b = v128.load(bPtr + i);
      v128.store(outPtr + i, mulsmallx2(v128.load(aPtr + i), b, toF64x2(b), pv, pinvV));
    }
    if (i < n) store<u64>(outPtr + i, mulsmall(load<u64>(aPtr + i), load<u64>(bPtr + i), p, pinvF));
  } else {
    let vEnd = n & ~(<usize>15);
    let pv = i64x2.splat(<i64>p), P = halves(pv), Ps = halvesSwapped(pv), pinvV = i64x2.splat(<i64>pinv);
    let rv = i64x2.splat(<i64>r2), R = halves(rv), Rs = halvesSwapped(rv);
    let i: usize = 0;
    for (; i < vEnd; i += 16) {
      let b = v128.load(bPtr + i);
      let x = montmulx2(v128.load(aPtr + i), halves(b), halvesSwapped(b), pv, P, Ps, pinvV);
      v128.store(outPtr + i, montmulx2(x, R, Rs, pv, P, Ps, pinvV));
    }
    if (i < n) store<u64>(outPtr + i, montmul(montmul(load<u64>(aPtr + i), load<u64>(bPtr + i), p, pinv), r2, p, pinv));
  }
}

/**
 * out[i] = a[i] * k mod p, k in [0, p). For FIELD_MONT the caller passes k*R mod p as k,
 * so that one Montgomery product gives a*k.
 */
export function fmulk(outPtr: usize, aPtr: usize, len: u32, k: u64, kind: i32, p: u64, pinv: u64, pinvF: f64): void {
  let n = <usize>len << 3;
  if (kind == FIELD_P61) {
    let vEnd = n & ~(<usize>15);
    let kv = i64x2.splat(<i64>k);
    let i: usize = 0;
    for (; i < vEnd; i += 16) v128.store(outPtr + i, mulp61x2(v128.load(aPtr + i), kv));
    if (i < n) store<u64>(outPtr + i, mulp61(load<u64>(aPtr + i), k));
  } else if (kind == FIELD_SMALL) {
    let vEnd = n & ~(<usize>15);
    let pv = i64x2.splat(<i64>p), pinvV = f64x2.splat(pinvF);
    let kv = i64x2.splat(<i64>k), kf = f64x2.splat(<f64>k);
    let i: usize = 0;
    for (; i < vEnd; i += 16) v128.store(outPtr + i, mulsmallx2(v128.load(aPtr + i), kv, kf, pv, pinvV));
    if (i < n) store<u64>(outPtr + i, mulsmall(load<u64>(aPtr + i), k, p, pinvF));
  } else {
    let vEnd = n & ~(<usize>15);
    let pv = i64x2.splat(<i64>p), P = halves(pv), Ps = halvesSwapped(pv), pinvV = i64x2.splat(<i64>pinv);
    let kv = i64x2.splat(<i64>k), K = halves(kv), Ks = halvesSwapped(kv);
    let i: usize = 0;
    for (; i < vEnd; i += 16) v128.store(outPtr + i, montmulx2(v128.load(aPtr + i), K, Ks, pv, P, Ps, pinvV));
    if (i < n) store<u64>(outPtr + i, montmul(load<u64>(aPtr + i), k, p, pinv));
  }
}
