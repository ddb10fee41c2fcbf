/**
 * Joint statistics across the parties of an MpcParty session. Every party
 * calls the same function; a party that holds no data for a column passes
 * undefined. Reals are fixed point (core's FixedPoint, 64-bit ring, scale
 * 2^fracBits, values clipped to ±bound and the clipped count reported), and
 * sums are formed exactly in Z_2^64 from the encoded integers, so float
 * rounding never depends on the data's order.
 *
 * Horizontal statistics (sum, mean, variance, histogram: each party holds
 * some rows of a column) need only additions: each party shares its local
 * aggregates. Vertical ones (dot product, covariance, correlation,
 * matrix-vector product: columns of the same rows held by different parties)
 * multiply with Beaver triples and sum the products locally; the sum of
 * products carries scale 2^(2·fracBits) and is opened without truncation.
 *
 * Only the final statistic is opened (and the public row counts); with `dp`,
 * each party adds its share of the noise before opening (see `DpRelease`).
 */
import { aoptions, anumber, ainteger, atyped } from '../core/assert.ts';
import { ConfideError, describe } from '../core/errors.ts';
import { FixedPoint } from '../core/fixedpoint.ts';
import type { Receipt } from '../dp/index.ts';
import { MpcParty, Shared } from './party.ts';
import { checkDp, openNoisy, type MpcDpOptions } from './dp.ts';

export interface StatOptions {
  /** Fractional bits of the fixed-point encoding; default 10. */
  fracBits?: number;
  /** Values are clipped to [-bound, bound]; default 1,000. */
  bound?: number;
  /** A public upper bound on any party's row count, for the overflow check; default 100,000. */
  maxRows?: number;
  /**
   * Release through differential privacy (sum, mean, variance, histogram):
   * each party spends from its ledger and adds a noise share before opening.
   * See dp.ts for the mechanisms and who the guarantee holds against.
   */
  dp?: MpcDpOptions;
}

const STAT_KEYS = ['fracBits', 'bound', 'maxRows', 'dp'];

interface Codec {
  fp: FixedPoint<64>;
  f: number;
  maxRows: number;
}

function codec(mpc: MpcParty, options: StatOptions | undefined, squares: boolean): Codec {
  if (!(mpc instanceof MpcParty)) throw new ConfideError('E_BAD_INPUT', `"mpc" expected an MpcParty, got ${describe(mpc)}`, { field: 'mpc' });
  aoptions(options, 'options', STAT_KEYS);
  const f = ainteger(options?.fracBits ?? 10, 'fracBits', 0, 30);
  const bound = anumber(options?.bound ?? 1000, 'bound', 0, 2 ** 40, true);
  const maxRows = ainteger(options?.maxRows ?? 100_000, 'maxRows', 1, 2 ** 40);
  const fp = new FixedPoint({ bits: 64, fracBits: f, bound });
  if (options?.dp !== undefined) checkDp(options.dp, mpc.parties.length);
  // Sums of squares (or cross products) carry 2^(2f): N · maxRows · maxEncoded² must stay below 2^63.
  const n = mpc.parties.length;
  const worst = squares ? n * maxRows * fp.maxEncoded * fp.maxEncoded : n * maxRows * fp.maxEncoded;
  // Field and Shamir sessions wrap at p/2 (values are centred mod p), not at 2^63.
  const limitBits = mpc.field === undefined ? 63 : mpc.field.p.toString(2).length - 2;
  if (!(worst < 2 ** limitBits))
    throw new ConfideError(
      'E_OVERFLOW',
      `${n} parties × ${maxRows} rows × (bound ${bound} · 2^${f})${squares ? '²' : ''} reaches 2^${Math.log2(worst).toFixed(1)}, over 2^${limitBits}; lower bound, fracBits or maxRows`,
      { field: 'bound', details: { parties: n, maxRows, bound, fracBits: f } },
    );
  return { fp, f, maxRows };
}

function noDp(options: StatOptions | undefined): void {
  if (options?.dp !== undefined)
    throw new ConfideError('E_BAD_INPUT', '"dp" release is implemented for sum, mean, variance and histogram only', { field: 'dp' });
}

function encodeColumn(c: Codec, column: unknown, field: string): { data: BigUint64Array; clipped: number } {
  const col = atyped(column, field, Float64Array, Float32Array);
  if (col.length > c.maxRows)
    throw new ConfideError('E_BAD_INPUT', `"${field}" has ${col.length} rows, over maxRows ${c.maxRows}`, { field });
  const e = c.fp.encode(col);
  return { data: e.data as BigUint64Array, clipped: e.clipped };
}

/** Signed value of a Z_2^64 element ÷ 2^bits. */
function decode(v: bigint, bits: number): number {
  return Number(BigInt.asIntN(64, v)) / 2 ** bits;
}

/** Σ x and Σ x² of the encoded column, exactly, in Z_2^64. */
function localMoments(data: BigUint64Array): [bigint, bigint] {
  let s1 = 0n, s2 = 0n;
  for (let i = 0; i < data.length; i++) {
    const v = BigInt.asIntN(64, data[i]);
    s1 += v;
    s2 += v * v;
  }
  return [BigInt.asUintN(64, s1), BigInt.asUintN(64, s2)];
}

export interface SumResult {
  sum: number;
  /** The row count (noisy under `dp`). */
  count: number;
  /** Values this party clipped to ±bound (its own only; never shared). */
  clipped: number;
  /** The ledger's receipt, under `dp`. */
  receipt?: Receipt;
}

interface Moments {
  s1: number;
  s2: number;
  count: number;
  clipped: number;
  receipt?: Receipt;
}

async function horizontal(mpc: MpcParty, column: Float64Array | Float32Array | undefined, c: Codec, squares: boolean, dp: MpcDpOptions | undefined, query: string): Promise<Moments> {
  const k = squares ? 3 : 2;
  const local = new BigUint64Array(k);
  let clipped = 0;
  if (column !== undefined) {
    const e = encodeColumn(c, column, 'column');
    clipped = e.clipped;
    const [s1, s2] = localMoments(e.data);
    local.set(squares ? [s1, s2, BigInt(e.data.length)] : [s1, BigInt(e.data.length)]);
  }
  const shared = mpc.sum(await mpc.inputAll(local));
  let opened: BigUint64Array, receipt: Receipt | undefined;
  if (dp === undefined) opened = await mpc.open(shared);
  else {
    const m = c.fp.maxEncoded;
    if (!Number.isSafeInteger(m * m)) throw new ConfideError('E_OVERFLOW', 'the sensitivity of Σx² exceeds 2^53 encoded units; lower bound or fracBits', { field: 'bound' });
    const r = await openNoisy(mpc, shared, squares ? [m, m * m, 1] : [m, 1], 'split', dp, query);
    opened = r.values;
    receipt = r.receipt;
  }
  return {
    s1: decode(opened[0], c.f),
    s2: squares ? decode(opened[1], 2 * c.f) : 0,
    count: Number(BigInt.asIntN(64, opened[k - 1])),
    clipped,
    ...(receipt !== undefined ? { receipt } : {}),
  };
}

function needRows(r: Moments): number {
  if (r.receipt === undefined && r.count === 0) throw new ConfideError('E_BAD_INPUT', 'no party holds any row of the column', { field: 'column' });
  // A noisy count can reach 0 or below; divide by at least 1.
  return Math.max(1, r.count);
}

/** The sum of a column whose rows are spread over the parties. */
export async function jointSum(mpc: MpcParty, column: Float64Array | Float32Array | undefined, options?: StatOptions): Promise<SumResult> {
  const c = codec(mpc, options, false);
  const r = await horizontal(mpc, column, c, false, options?.dp, 'joint sum and count');
  return { sum: r.s1, count: r.count, clipped: r.clipped, ...(r.receipt ? { receipt: r.receipt } : {}) };
}

export async function jointMean(mpc: MpcParty, column: Float64Array | Float32Array | undefined, options?: StatOptions): Promise<{ mean: number; count: number; clipped: number; receipt?: Receipt }> {
  const c = codec(mpc, options, false);
  const r = await horizontal(mpc, column, c, false, options?.dp, 'joint mean (sum and count)');
  return { mean: r.s1 / needRows(r), count: r.count, clipped: r.clipped, ...(r.receipt ? { receipt: r.receipt } : {}) };
}

/** Mean and population variance (Σx²/n − mean²) of a horizontally partitioned column. */
export async function jointVariance(mpc: MpcParty, column: Float64Array | Float32Array | undefined, options?: StatOptions): Promise<{ mean: number; variance: number; count: number; clipped: number; receipt?: Receipt }> {
  const c = codec(mpc, options, true);
  const r = await horizontal(mpc, column, c, true, options?.dp, 'joint variance (sum, sum of squares and count)');
  const n = needRows(r);
  const mean = r.s1 / n;
  return { mean, variance: Math.max(0, r.s2 / n - mean * mean), count: r.count, clipped: r.clipped, ...(r.receipt ? { receipt: r.receipt } : {}) };
}

/** Counts per bin [edges[k], edges[k+1]) (the last bin closed), summed over parties. */
export async function jointHistogram(mpc: MpcParty, column: Float64Array | Float32Array | undefined, edges: readonly number[], options?: { dp?: MpcDpOptions }): Promise<number[]> {
  if (!(mpc instanceof MpcParty)) throw new ConfideError('E_BAD_INPUT', `"mpc" expected an MpcParty, got ${describe(mpc)}`, { field: 'mpc' });
  aoptions(options, 'options', ['dp']);
  if (options?.dp !== undefined) checkDp(options.dp, mpc.parties.length);
  if (!Array.isArray(edges) || edges.length < 2 || edges.length > 1 << 20)
    throw new ConfideError('E_BAD_INPUT', '"edges" expected an array of at least 2 increasing numbers', { field: 'edges' });
  for (let k = 0; k < edges.length; k++) {
    anumber(edges[k], `edges[${k}]`);
    if (k > 0 && !(edges[k] > edges[k - 1])) throw new ConfideError('E_BAD_INPUT', `"edges[${k}]" expected > edges[${k - 1}]`, { field: `edges[${k}]` });
  }
  const bins = edges.length - 1;
  const local = new BigUint64Array(bins);
  if (column !== undefined) {
    const col = atyped(column, 'column', Float64Array, Float32Array);
    for (let i = 0; i < col.length; i++) {
      const v = col[i];
      if (!Number.isFinite(v)) throw new ConfideError('E_BAD_INPUT', `"column[${i}]" expected a finite number, got ${v}`, { field: `column[${i}]` });
      if (v < edges[0] || v > edges[bins]) continue;
      let lo = 0, hi = bins; // binary search for the bin
      while (hi - lo > 1) { const mid = (lo + hi) >> 1; if (v >= edges[mid]) lo = mid; else hi = mid; }
      local[lo]++;
    }
  }
  const shared = mpc.sum(await mpc.inputAll(local));
  // Adding or removing one row moves one count by 1: L1 = L2 = 1, one mechanism for all bins.
  const opened = options?.dp === undefined ? await mpc.open(shared) : (await openNoisy(mpc, shared, [1], 'joint', options.dp, `joint histogram, ${bins} bins`)).values;
  return Array.from(opened, (v) => Number(BigInt.asIntN(64, v)));
}

async function vertical(mpc: MpcParty, xOwner: number, yOwner: number, x: Float64Array | Float32Array | undefined, y: Float64Array | Float32Array | undefined, rows: number, c: Codec): Promise<{ xs: Shared; ys: Shared; moments: Shared; clipped: number }> {
  ainteger(xOwner, 'xOwner', 0, mpc.parties.length - 1);
  ainteger(yOwner, 'yOwner', 0, mpc.parties.length - 1);
  ainteger(rows, 'rows', 0, c.maxRows);
  let clipped = 0;
  const mine = (owner: number, v: unknown, field: string): BigUint64Array | undefined => {
    if (mpc.index !== owner) {
      if (v !== undefined) throw new ConfideError('E_BAD_INPUT', `"${field}" is given by party ${owner} only`, { field });
      return undefined;
    }
    const e = encodeColumn(c, v, field);
    if (e.data.length !== rows) throw new ConfideError('E_BAD_INPUT', `"${field}" expected ${rows} rows, got ${e.data.length}`, { field });
    clipped += e.clipped;
    return e.data;
  };
  const ex = mine(xOwner, x, 'x'), ey = mine(yOwner, y, 'y');
  const xs = await mpc.input(xOwner, ex, rows);
  const ys = await mpc.input(yOwner, ey, rows);
  // Σx, Σx² (and Σy, Σy²) are local to their owner: shared directly, no triples spent.
  const mom = (e: BigUint64Array | undefined, at: number) => {
    if (e === undefined) return undefined;
    const [s1, s2] = localMoments(e);
    const v = new BigUint64Array(4);
    v[at] = s1;
    v[at + 2] = s2;
    return v;
  };
  const mx = await mpc.input(xOwner, mom(ex, 0), 4);
  const my = await mpc.input(yOwner, mom(ey, 1), 4);
  return { xs, ys, moments: mpc.add(mx, my), clipped };
}

/** Σ x_i·y_i for columns of the same `rows` rows held by parties xOwner and yOwner. */
export async function dotProduct(mpc: MpcParty, xOwner: number, yOwner: number, x: Float64Array | Float32Array | undefined, y: Float64Array | Float32Array | undefined, rows: number, options?: StatOptions): Promise<number> {
  noDp(options);
  const c = codec(mpc, options, true);
  const { xs, ys } = await vertical(mpc, xOwner, yOwner, x, y, rows, c);
  const opened = await mpc.open(mpc.sumElements(await mpc.mul(xs, ys)));
  return decode(opened[0], 2 * c.f);
}

export interface CorrelationResult {
  /** Population covariance. */
  covariance: number;
  /** Pearson correlation; NaN when a column is constant. */
  correlation: number;
  meanX: number;
  meanY: number;
  count: number;
}

/**
 * Covariance and Pearson correlation of column x (party xOwner) and column y
 * (party yOwner) over the same rows, in one Beaver round plus one opening of
 * five aggregates: Σx, Σy, Σx², Σy², Σxy (each owner shares its own Σ and
 * Σ², so only Σxy spends triples: `rows` of them). Only those five are opened.
 */
export async function jointCorrelation(mpc: MpcParty, xOwner: number, yOwner: number, x: Float64Array | Float32Array | undefined, y: Float64Array | Float32Array | undefined, rows: number, options?: StatOptions): Promise<CorrelationResult> {
  noDp(options);
  const c = codec(mpc, options, true);
  if (rows === 0) throw new ConfideError('E_BAD_INPUT', '"rows" expected at least 1', { field: 'rows' });
  const { xs, ys, moments } = await vertical(mpc, xOwner, yOwner, x, y, rows, c);
  const sxy = mpc.sumElements(await mpc.mul(xs, ys));
  const all = new BigUint64Array(5);
  all.set(moments.share, 0);
  all.set(sxy.share, 4);
  const o = await mpc.open(new Shared(moments.sharing, all));
  return fromMoments(o, rows, c.f);
}

/**
 * M·v for a rows×cols matrix M (row-major) held by matrixOwner and a vector v
 * of length cols held by vectorOwner; every party learns M·v only.
 */
export async function matVec(mpc: MpcParty, matrixOwner: number, vectorOwner: number, matrix: Float64Array | Float32Array | undefined, vector: Float64Array | Float32Array | undefined, rows: number, cols: number, options?: StatOptions): Promise<Float64Array> {
  noDp(options);
  const c = codec(mpc, options, true);
  ainteger(matrixOwner, 'matrixOwner', 0, mpc.parties.length - 1);
  ainteger(vectorOwner, 'vectorOwner', 0, mpc.parties.length - 1);
  ainteger(rows, 'rows', 1, 2 ** 20);
  ainteger(cols, 'cols', 1, 2 ** 20);
  if (cols > c.maxRows) throw new ConfideError('E_BAD_INPUT', `"cols" expected at most maxRows (${c.maxRows}), the overflow check's bound on terms per sum`, { field: 'cols' });
  if (rows * cols > 2 ** 26) throw new ConfideError('E_BAD_INPUT', '"rows" × "cols" expected at most 2^26', { field: 'rows' });
  const own = (owner: number, v: unknown, field: string, len: number): BigUint64Array | undefined => {
    if (mpc.index !== owner) {
      if (v !== undefined) throw new ConfideError('E_BAD_INPUT', `"${field}" is given by party ${owner} only`, { field });
      return undefined;
    }
    const col = atyped(v, field, Float64Array, Float32Array);
    if (col.length !== len) throw new ConfideError('E_BAD_INPUT', `"${field}" expected length ${len}, got ${col.length}`, { field });
    return c.fp.encode(col).data as BigUint64Array;
  };
  const em = own(matrixOwner, matrix, 'matrix', rows * cols), ev = own(vectorOwner, vector, 'vector', cols);
  const ms = await mpc.input(matrixOwner, em, rows * cols);
  const vs = await mpc.input(vectorOwner, ev, cols);
  const opened = await mpc.open(mpc.blockSums(await mpc.mul(ms, mpc.tile(vs, rows)), cols));
  return Float64Array.from(opened, (v) => decode(v, 2 * c.f));
}

/**
 * Covariance and correlation of columns x and y when each party holds whole
 * rows of both (horizontal partition): every party shares its local Σx, Σy,
 * Σx², Σy², Σxy and row count; no multiplication is needed.
 */
export async function jointCorrelationRows(mpc: MpcParty, x: Float64Array | Float32Array | undefined, y: Float64Array | Float32Array | undefined, options?: StatOptions): Promise<CorrelationResult> {
  noDp(options);
  const c = codec(mpc, options, true);
  if ((x === undefined) !== (y === undefined)) throw new ConfideError('E_BAD_INPUT', '"x" and "y" expected both or neither', { field: 'y' });
  const local = new BigUint64Array(6);
  if (x !== undefined) {
    const ex = encodeColumn(c, x, 'x').data, ey = encodeColumn(c, y, 'y').data;
    if (ex.length !== ey.length) throw new ConfideError('E_BAD_INPUT', `"y" expected ${ex.length} rows, got ${ey.length}`, { field: 'y' });
    const [sx, sxx] = localMoments(ex), [sy, syy] = localMoments(ey);
    let sxy = 0n;
    for (let i = 0; i < ex.length; i++) sxy += BigInt.asIntN(64, ex[i]) * BigInt.asIntN(64, ey[i]);
    local.set([sx, sy, sxx, syy, BigInt.asUintN(64, sxy), BigInt(ex.length)]);
  }
  const o = await mpc.open(mpc.sum(await mpc.inputAll(local)));
  const n = Number(BigInt.asIntN(64, o[5]));
  if (n === 0) throw new ConfideError('E_BAD_INPUT', 'no party holds any row of the columns', { field: 'x' });
  return fromMoments(o, n, c.f);
}

function fromMoments(o: BigUint64Array, n: number, f: number): CorrelationResult {
  const meanX = decode(o[0], f) / n, meanY = decode(o[1], f) / n;
  const varX = decode(o[2], 2 * f) / n - meanX * meanX;
  const varY = decode(o[3], 2 * f) / n - meanY * meanY;
  const cov = decode(o[4], 2 * f) / n - meanX * meanY;
  const correlation = varX > 0 && varY > 0 ? Math.max(-1, Math.min(1, cov / Math.sqrt(varX * varY))) : NaN;
  return { covariance: cov, correlation, meanX, meanY, count: n };
}
