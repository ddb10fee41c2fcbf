/**
 * Radix-2 fast Fourier transforms on Float64Arrays, for composing privacy
 * loss distributions (pld.ts). Internal: lengths are powers of two and are
 * checked by the caller.
 *
 * - `fft`: iterative, in-place, decimation in time (Cooley–Tukey), real and
 *   imaginary parts in separate arrays; unnormalised in both directions.
 * - `rfft` / `irfft`: the transform of a real sequence of length n through a
 *   complex transform of length n/2 (even samples as the real part, odd
 *   samples as the imaginary part, then one butterfly pass to separate them),
 *   which halves the work; `irfft` includes the 1/n.
 *
 * Twiddle factors are computed with Math.cos/Math.sin on the first octant
 * only and the rest by exact symmetries, so each is within an ulp; a shorter
 * transform reads a longer table with a stride. The table for the largest
 * length up to 2^20 asked for so far is kept. Rounding error of a length-n
 * transform is then at most about (log2 n)·7u times the norm of the input
 * (Higham, Accuracy and Stability of Numerical Algorithms, 2nd ed., §24.1),
 * and each output is within (log2 n)·7u·‖x‖₁ of exact; pld.ts carries these
 * bounds through every composition.
 */

interface Twiddles {
  readonly length: number;
  readonly cos: Float64Array;
  readonly sin: Float64Array;
}

/** Tables up to this length are kept between calls (2 × 4 MiB); longer ones are rebuilt. */
const CACHED_LENGTH = 2 ** 20;
let cached: Twiddles = { length: 0, cos: new Float64Array(0), sin: new Float64Array(0) };

/** cos and sin of 2πk/N for k < N/2 with N >= n, shared by every length that divides N. */
function twiddles(n: number): Twiddles {
  if (n <= cached.length) return cached;
  const half = n >> 1;
  const c = new Float64Array(Math.max(half, 1));
  const s = new Float64Array(Math.max(half, 1));
  const eighth = n >> 3;
  const quarter = n >> 2;
  const step = (2 * Math.PI) / n;
  // First octant directly; the other three of the half circle by symmetry,
  // which keeps cos(π/2) = 0 and sin(π) = 0 exact.
  for (let k = 0; k <= eighth; k++) {
    c[k] = Math.cos(k * step);
    s[k] = Math.sin(k * step);
  }
  for (let k = eighth + 1; k <= quarter && k < half; k++) {
    c[k] = s[quarter - k];
    s[k] = c[quarter - k];
  }
  for (let k = quarter + 1; k < half; k++) {
    c[k] = -c[half - k];
    s[k] = s[half - k];
  }
  if (n === 2) {
    c[0] = 1;
    s[0] = 0;
  }
  const table = { length: n, cos: c, sin: s };
  if (n <= CACHED_LENGTH) cached = table;
  return table;
}

/** The smallest power of two >= n (n >= 1). */
export function nextPow2(n: number): number {
  let p = 1;
  while (p < n) p *= 2;
  return p;
}

/**
 * In-place complex FFT of length n = re.length (a power of two):
 * X_k = Σ_j x_j e^{∓2πijk/n}, minus sign when `inverse` is false. No scaling.
 */
export function fft(re: Float64Array, im: Float64Array, inverse: boolean, table?: Twiddles): void {
  const n = re.length;
  if (n <= 1) return;
  const tw = table && table.length >= n ? table : twiddles(n);
  const cos = tw.cos;
  const sin = tw.sin;
  const stride = tw.length / n;
  // Bit-reversal permutation.
  for (let i = 1, j = 0; i < n; i++) {
    let bit = n >> 1;
    for (; j & bit; bit >>= 1) j ^= bit;
    j ^= bit;
    if (i < j) {
      const tr = re[i];
      re[i] = re[j];
      re[j] = tr;
      const ti = im[i];
      im[i] = im[j];
      im[j] = ti;
    }
  }
  // Length-2 butterflies need no multiplication.
  for (let a = 0; a < n; a += 2) {
    const br = re[a + 1], bi = im[a + 1];
    re[a + 1] = re[a] - br;
    im[a + 1] = im[a] - bi;
    re[a] += br;
    im[a] += bi;
  }
  // Length-4 butterflies: the twiddles are 1 and ∓i.
  if (n >= 4) {
    for (let a = 0; a < n; a += 4) {
      // j = 0
      let br = re[a + 2], bi = im[a + 2];
      re[a + 2] = re[a] - br;
      im[a + 2] = im[a] - bi;
      re[a] += br;
      im[a] += bi;
      // j = 1: multiply by -i (forward) or +i (inverse)
      const r3 = re[a + 3], i3 = im[a + 3];
      br = inverse ? -i3 : i3;
      bi = inverse ? r3 : -r3;
      re[a + 3] = re[a + 1] - br;
      im[a + 3] = im[a + 1] - bi;
      re[a + 1] += br;
      im[a + 1] += bi;
    }
  }
  const sign = inverse ? 1 : -1;
  for (let size = 8; size <= n; size <<= 1) {
    const half = size >> 1;
    const tstep = (n / size) * stride;
    for (let start = 0; start < n; start += size) {
      for (let j = 0, t = 0; j < half; j++, t += tstep) {
        const wr = cos[t];
        const wi = sign * sin[t];
        const a = start + j;
        const b = a + half;
        const xr = re[b], xi = im[b];
        const br = xr * wr - xi * wi;
        const bi = xr * wi + xi * wr;
        re[b] = re[a] - br;
        im[b] = im[a] - bi;
        re[a] += br;
        im[a] += bi;
      }
    }
  }
}

/**
 * The DFT of the real sequence x (zero-padded to length n, a power of two
 * >= 2): bins 0..n/2 as two arrays of length n/2 + 1; the others are the
 * conjugates of these.
 */
export function rfft(x: Float64Array, n: number): [Float64Array, Float64Array] {
  const h = n >> 1;
  const zr = new Float64Array(h);
  const zi = new Float64Array(h);
  const len = Math.min(x.length, n);
  for (let j = 0; j < len; j++) {
    if (j & 1) zi[j >> 1] = x[j];
    else zr[j >> 1] = x[j];
  }
  const t = twiddles(n);
  fft(zr, zi, false, t);
  const cos = t.cos;
  const sin = t.sin;
  const stride = t.length / n;
  const outR = new Float64Array(h + 1);
  const outI = new Float64Array(h + 1);
  // X_k = E_k + e^{-2πik/n}·O_k with E = (Z_k + conj Z_{h-k})/2, O = (Z_k - conj Z_{h-k})/(2i).
  outR[0] = zr[0] + zi[0];
  outI[0] = 0;
  outR[h] = zr[0] - zi[0];
  outI[h] = 0;
  for (let k = 1; k < h; k++) {
    const m = h - k;
    const er = 0.5 * (zr[k] + zr[m]);
    const ei = 0.5 * (zi[k] - zi[m]);
    const or = 0.5 * (zi[k] + zi[m]);
    const oi = -0.5 * (zr[k] - zr[m]);
    const wr = cos[k * stride];
    const wi = -sin[k * stride];
    outR[k] = er + wr * or - wi * oi;
    outI[k] = ei + wr * oi + wi * or;
  }
  return [outR, outI];
}

/**
 * The real sequence of length n whose DFT has bins 0..n/2 equal to (re, im)
 * (the inverse of `rfft`, including the factor 1/n). The imaginary parts of
 * bins 0 and n/2 are ignored.
 */
export function irfft(re: Float64Array, im: Float64Array, n: number): Float64Array {
  const h = n >> 1;
  const t = twiddles(n);
  const cos = t.cos;
  const sin = t.sin;
  const stride = t.length / n;
  const zr = new Float64Array(h);
  const zi = new Float64Array(h);
  // Z_k = E_k + i·O_k with E = (X_k + conj X_{h-k})/2, O = (X_k - conj X_{h-k})/2 · e^{+2πik/n}.
  {
    const er = 0.5 * (re[0] + re[h]);
    const or = 0.5 * (re[0] - re[h]);
    zr[0] = er;
    zi[0] = or;
  }
  for (let k = 1; k < h; k++) {
    const m = h - k;
    const er = 0.5 * (re[k] + re[m]);
    const ei = 0.5 * (im[k] - im[m]);
    const dr = 0.5 * (re[k] - re[m]);
    const di = 0.5 * (im[k] + im[m]);
    const wr = cos[k * stride];
    const wi = sin[k * stride];
    const or = dr * wr - di * wi;
    const oi = dr * wi + di * wr;
    zr[k] = er - oi;
    zi[k] = ei + or;
  }
  fft(zr, zi, true, t);
  const out = new Float64Array(n);
  const scale = 1 / h;
  for (let j = 0; j < h; j++) {
    out[2 * j] = zr[j] * scale;
    out[2 * j + 1] = zi[j] * scale;
  }
  return out;
}

/** Linear convolution of two real sequences (length a.length + b.length - 1) by FFT. */
export function convolve(a: Float64Array, b: Float64Array): Float64Array {
  const len = a.length + b.length - 1;
  const n = Math.max(2, nextPow2(len));
  const [ar, ai] = rfft(a, n);
  const [br, bi] = rfft(b, n);
  for (let k = 0; k < ar.length; k++) {
    const r = ar[k] * br[k] - ai[k] * bi[k];
    ai[k] = ar[k] * bi[k] + ai[k] * br[k];
    ar[k] = r;
  }
  return irfft(ar, ai, n).subarray(0, len);
}

/**
 * Bins `bins` of the DFT of the real sequence x zero-padded to length n,
 * each summed directly with Neumaier's compensated summation and twiddles
 * from the table: within about 5u·‖x‖₁ of exact, where the FFT guarantees
 * only (log₂ n)·7u·‖x‖₁. pld.ts uses this for the few bins that a
 * self-composition raises to a large power.
 */
export function dftBins(x: Float64Array, n: number, bins: ArrayLike<number>): [Float64Array, Float64Array] {
  const t = twiddles(n);
  const cos = t.cos;
  const sin = t.sin;
  const stride = t.length / n;
  const half = n >> 1;
  const outR = new Float64Array(bins.length);
  const outI = new Float64Array(bins.length);
  const len = Math.min(x.length, n);
  for (let b = 0; b < bins.length; b++) {
    const k = bins[b];
    let sr = 0, cr = 0, si = 0, ci = 0;
    let m = 0; // j·k mod n
    for (let j = 0; j < len; j++) {
      const v = x[j];
      if (v !== 0) {
        let c: number;
        let s: number;
        if (m < half) {
          c = cos[m * stride];
          s = sin[m * stride];
        } else {
          c = -cos[(m - half) * stride];
          s = -sin[(m - half) * stride];
        }
        const tr = v * c;
        const ti = -v * s;
        let t = sr + tr;
        cr += Math.abs(sr) >= Math.abs(tr) ? sr - t + tr : tr - t + sr;
        sr = t;
        t = si + ti;
        ci += Math.abs(si) >= Math.abs(ti) ? si - t + ti : ti - t + si;
        si = t;
      }
      m += k;
      if (m >= n) m -= n;
    }
    outR[b] = sr + cr;
    outI[b] = si + ci;
  }
  return [outR, outI];
}
