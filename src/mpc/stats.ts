/**
 * Joint statistics across the parties of a session (an MpcParty, or a
 * SpdzSession for MAC-checked results; see below). Every party
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
 * each party adds its share of the noise before opening (see dp.ts).
 *
 * Every statistic runs on either session type through one internal
 * `Engine` (the handful of steps the statistics take): an MpcParty
 * (semi-honest; as before) or a SpdzSession (MAC'd: inputs through dealt
 * masks, products with MAC'd triples, and the result released by `output`,
 * which runs the MAC check over every value opened since the last check, the
 * Beaver d and e included, and returns nothing unless it passes; E_CRYPTO
 * otherwise). On a SpdzSession the encoded integers are mapped centred into
 * the field (|v| < p/2) and the overflow check uses 2^(bits(p) − 2) in place
 * of 2^63, as for field sessions. `spdzPreprocessing` says how many MAC'd
 * triples and input masks a statistic takes; a MAC'd statistic checks its
 * store for them before its first round (E_STATE when short).
 */
import { aoptions, anumber, ainteger, atyped } from '../core/assert.ts';
import { ConfideError, describe } from '../core/errors.ts';
import { FixedPoint } from '../core/fixedpoint.ts';
import type { Receipt } from '../dp/index.ts';
import { MpcParty, Shared } from './party.ts';
import { checkDp, openNoisy, type MpcDpOptions, type NoisyOpened } from './dp.ts';
import { AuthShared, SpdzSession } from './spdz.ts';

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

/** The session a statistic runs on: semi-honest (MpcParty) or MAC'd (SpdzSession). */
export type StatSession = MpcParty | SpdzSession;

/** A shared vector of either session type; each engine only ever sees its own. */
type Vec = Shared | AuthShared;

/**
 * The steps the statistics take, over either session type. The MpcParty
 * engine calls exactly the methods the statistics called before the MAC'd
 * path existed, so its results and rounds are unchanged.
 */
interface Engine {
  readonly parties: number;
  readonly index: number;
  /** Centred values must stay below 2^limitBits: 63 in Z_2^64, bits(p) − 2 in a prime field (under p/2). */
  readonly limitBits: number;
  input(owner: number, values: BigUint64Array | undefined, length: number): Promise<Vec>;
  /** Every party inputs a vector of the same length; the sharing of their sum. */
  inputSum(values: BigUint64Array): Promise<Vec>;
  add(a: Vec, b: Vec): Vec;
  mul(a: Vec, b: Vec): Promise<Vec>;
  sumElements(a: Vec): Vec;
  tile(a: Vec, times: number): Vec;
  blockSums(a: Vec, width: number): Vec;
  concat(a: Vec, b: Vec): Vec;
  /** Opens a result; the MAC'd engine returns it only after the MAC check passes. */
  release(a: Vec): Promise<BigUint64Array>;
  releaseNoisy(a: Vec, sensitivity: number[], mode: 'split' | 'joint', dp: MpcDpOptions, query: string): Promise<NoisyOpened>;
  /** MAC'd engine: refuses (E_STATE) before any round when the store lacks `need`. */
  reserve(need: SpdzNeed): void;
}

const fieldLimit = (p: bigint) => p.toString(2).length - 2;

function engineOf(mpc: unknown): Engine {
  if (mpc instanceof MpcParty) {
    return {
      parties: mpc.parties.length,
      index: mpc.index,
      // Field and Shamir sessions wrap at p/2 (values are centred mod p), not at 2^63.
      limitBits: mpc.field === undefined ? 63 : fieldLimit(mpc.field.p),
      input: (owner, values, length) => mpc.input(owner, values, length),
      inputSum: async (values) => mpc.sum(await mpc.inputAll(values)),
      add: (a, b) => mpc.add(a as Shared, b as Shared),
      mul: (a, b) => mpc.mul(a as Shared, b as Shared),
      sumElements: (a) => mpc.sumElements(a as Shared),
      tile: (a, times) => mpc.tile(a as Shared, times),
      blockSums: (a, width) => mpc.blockSums(a as Shared, width),
      concat: (a, b) => {
        const all = new BigUint64Array(a.length + b.length);
        all.set(a.share, 0);
        all.set(b.share, a.length);
        return new Shared((a as Shared).sharing, all);
      },
      release: (a) => mpc.open(a as Shared),
      releaseNoisy: (a, sensitivity, mode, dp, query) => openNoisy(mpc, a as Shared, sensitivity, mode, dp, query),
      reserve: () => {},
    };
  }
  if (mpc instanceof SpdzSession) {
    const store = mpc.store;
    return {
      parties: mpc.mpc.parties.length,
      index: mpc.mpc.index,
      limitBits: fieldLimit(store.field.p),
      input: (owner, values, length) => mpc.input(owner, values, length),
      inputSum: async (values) => mpc.sum(await mpc.inputAll(values)),
      add: (a, b) => mpc.add(a as AuthShared, b as AuthShared),
      mul: (a, b) => mpc.mul(a as AuthShared, b as AuthShared),
      sumElements: (a) => mpc.sumElements(a as AuthShared),
      tile: (a, times) => mpc.tile(a as AuthShared, times),
      blockSums: (a, width) => mpc.blockSums(a as AuthShared, width),
      concat: (a, b) => {
        const x = a as AuthShared, y = b as AuthShared;
        const share = new BigUint64Array(x.length + y.length), mac = new BigUint64Array(x.length + y.length);
        share.set(x.share, 0);
        share.set(y.share, x.length);
        mac.set(x.mac, 0);
        mac.set(y.mac, x.length);
        return new AuthShared(share, mac);
      },
      release: (a) => mpc.output(a as AuthShared),
      releaseNoisy: (a, sensitivity, mode, dp, query) => openNoisy(mpc, a as AuthShared, sensitivity, mode, dp, query),
      reserve: (need) => {
        const short: string[] = [];
        if (store.triplesRemaining < need.triples) short.push(`${need.triples} MAC'd triples (${store.triplesRemaining} left)`);
        need.masks.forEach((m, owner) => {
          if (store.masksRemaining(owner) < m) short.push(`${m} input masks of party ${owner} (${store.masksRemaining(owner)} left)`);
        });
        if (short.length > 0)
          throw new ConfideError('E_STATE', `the AuthStore is short of preprocessing for this statistic: it needs ${short.join(', ')}; see spdzPreprocessing`, {
            field: 'store',
            details: { need, triplesLeft: store.triplesRemaining, masksLeft: need.masks.map((_, owner) => store.masksRemaining(owner)) },
          });
      },
    };
  }
  throw new ConfideError('E_BAD_INPUT', `"mpc" expected an MpcParty or a SpdzSession, got ${describe(mpc)}`, { field: 'mpc' });
}

/** MAC'd preprocessing a statistic takes: triples, and input masks per owner (index = party). */
export interface SpdzNeed {
  triples: number;
  masks: number[];
}

/** One statistic to preprocess for (`spdzPreprocessing`): its name and the shape of its inputs. */
export type SpdzUse =
  | { stat: 'sum' | 'mean' | 'variance'; dp?: boolean }
  | { stat: 'histogram'; bins: number; dp?: boolean }
  | { stat: 'correlationRows' }
  | { stat: 'correlation' | 'dotProduct'; rows: number; xOwner: number; yOwner: number }
  | { stat: 'matVec'; rows: number; cols: number; matrixOwner: number; vectorOwner: number };

// Every party inputs k values (its local aggregates), and k more (its noise share) under dp.
function horizontalNeed(parties: number, k: number, dp: boolean): SpdzNeed {
  return { triples: 0, masks: new Array(parties).fill(dp ? 2 * k : k) };
}
// Each owner inputs its column (rows) and its 4-slot moments vector; Σxy spends one triple per row.
function verticalNeed(parties: number, xOwner: number, yOwner: number, rows: number): SpdzNeed {
  const masks = new Array(parties).fill(0);
  masks[xOwner] += rows + 4;
  masks[yOwner] += rows + 4;
  return { triples: rows, masks };
}
// The matrix (rows·cols) and the vector (cols) are inputs; the tiled product spends rows·cols triples.
function matVecNeed(parties: number, matrixOwner: number, vectorOwner: number, rows: number, cols: number): SpdzNeed {
  const masks = new Array(parties).fill(0);
  masks[matrixOwner] += rows * cols;
  masks[vectorOwner] += cols;
  return { triples: rows * cols, masks };
}

/** The keys each statistic's use takes (others are refused, so a misplaced shape cannot be ignored). */
const USE_KEYS: Record<string, readonly string[]> = {
  sum: ['stat', 'dp'],
  mean: ['stat', 'dp'],
  variance: ['stat', 'dp'],
  histogram: ['stat', 'dp', 'bins'],
  correlationRows: ['stat'],
  correlation: ['stat', 'rows', 'xOwner', 'yOwner'],
  dotProduct: ['stat', 'rows', 'xOwner', 'yOwner'],
  matVec: ['stat', 'rows', 'cols', 'matrixOwner', 'vectorOwner'],
};

/**
 * The MAC'd triples and input masks that the given statistics take on a
 * SpdzSession of `parties` parties, run in any order on one AuthStore:
 * `triples`, `masks` per owner, and `dealer`, the arguments for
 * `MacDealer.preprocess` (which deals the same number of masks to every
 * owner: the largest). Per statistic (N parties, k = 2 for sum and mean, 3
 * for variance, `bins` for a histogram, 6 for correlationRows; doubled with
 * `dp`, for the noise shares):
 *
 * - sum, mean, variance, histogram, correlationRows: k masks per party, no triples;
 * - correlation, dotProduct: rows + 4 masks for each of xOwner and yOwner
 *   (2·rows + 8 when one party owns both), rows triples;
 * - matVec: rows·cols masks for matrixOwner, cols for vectorOwner, rows·cols triples.
 *
 * The MAC check itself takes no preprocessing. A statistic whose store is
 * short refuses before its first round with E_STATE (field 'store').
 */
export function spdzPreprocessing(parties: number, uses: readonly SpdzUse[]): SpdzNeed & { dealer: { triples: number; masks: number } } {
  const n = ainteger(parties, 'parties', 2, 1024);
  if (!Array.isArray(uses)) throw new ConfideError('E_BAD_INPUT', `"uses" expected an array of { stat, ... }, got ${describe(uses)}`, { field: 'uses' });
  const total: SpdzNeed = { triples: 0, masks: new Array(n).fill(0) };
  uses.forEach((use, k) => {
    const field = `uses[${k}]`;
    if (typeof use !== 'object' || use === null || Array.isArray(use)) throw new ConfideError('E_BAD_INPUT', `"${field}" expected { stat, ... }, got ${describe(use)}`, { field });
    const stat = (use as { stat?: unknown }).stat;
    if (typeof stat !== 'string' || !Object.hasOwn(USE_KEYS, stat))
      throw new ConfideError('E_BAD_INPUT', `"${field}.stat" expected one of ${Object.keys(USE_KEYS).join(', ')}; got ${describe(stat)}`, { field: `${field}.stat` });
    const u = aoptions(use as Record<string, unknown>, field, USE_KEYS[stat])!;
    const dp = u.dp ?? false;
    if (typeof dp !== 'boolean') throw new ConfideError('E_BAD_INPUT', `"${field}.dp" expected a boolean, got ${describe(dp)}`, { field: `${field}.dp` });
    const owner = (key: string) => ainteger(u[key], `${field}.${key}`, 0, n - 1);
    let need: SpdzNeed;
    switch (stat) {
      case 'sum':
      case 'mean':
        need = horizontalNeed(n, 2, dp);
        break;
      case 'variance':
        need = horizontalNeed(n, 3, dp);
        break;
      case 'histogram':
        need = horizontalNeed(n, ainteger(u.bins, `${field}.bins`, 1, 1 << 20), dp);
        break;
      case 'correlationRows':
        need = horizontalNeed(n, 6, false);
        break;
      case 'correlation':
      case 'dotProduct':
        need = verticalNeed(n, owner('xOwner'), owner('yOwner'), ainteger(u.rows, `${field}.rows`, 0, 2 ** 26));
        break;
      case 'matVec': {
        const rows = ainteger(u.rows, `${field}.rows`, 1, 2 ** 20), cols = ainteger(u.cols, `${field}.cols`, 1, 2 ** 20);
        if (rows * cols > 2 ** 26) throw new ConfideError('E_BAD_INPUT', `"${field}.rows" × "${field}.cols" expected at most 2^26`, { field: `${field}.rows` });
        need = matVecNeed(n, owner('matrixOwner'), owner('vectorOwner'), rows, cols);
        break;
      }
      default:
        throw new ConfideError('E_INTERNAL', `no preprocessing count for ${stat}`);
    }
    total.triples += need.triples;
    need.masks.forEach((m, j) => (total.masks[j] += m));
  });
  return { ...total, dealer: { triples: total.triples, masks: Math.max(...total.masks) } };
}

interface Codec {
  fp: FixedPoint<64>;
  f: number;
  maxRows: number;
}

function codec(e: Engine, options: StatOptions | undefined, squares: boolean): Codec {
  aoptions(options, 'options', STAT_KEYS);
  const f = ainteger(options?.fracBits ?? 10, 'fracBits', 0, 30);
  const bound = anumber(options?.bound ?? 1000, 'bound', 0, 2 ** 40, true);
  const maxRows = ainteger(options?.maxRows ?? 100_000, 'maxRows', 1, 2 ** 40);
  const fp = new FixedPoint({ bits: 64, fracBits: f, bound });
  if (options?.dp !== undefined) checkDp(options.dp, e.parties);
  // Sums of squares (or cross products) carry 2^(2f): N · maxRows · maxEncoded² must stay below 2^63
  // (2^(bits(p) − 2) in a prime field: a MAC'd session, or a field or Shamir MpcParty).
  const n = e.parties;
  const worst = squares ? n * maxRows * fp.maxEncoded * fp.maxEncoded : n * maxRows * fp.maxEncoded;
  const limitBits = e.limitBits;
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

async function horizontal(e: Engine, column: Float64Array | Float32Array | undefined, c: Codec, squares: boolean, dp: MpcDpOptions | undefined, query: string): Promise<Moments> {
  const k = squares ? 3 : 2;
  const local = new BigUint64Array(k);
  let clipped = 0;
  if (column !== undefined) {
    const enc = encodeColumn(c, column, 'column');
    clipped = enc.clipped;
    const [s1, s2] = localMoments(enc.data);
    local.set(squares ? [s1, s2, BigInt(enc.data.length)] : [s1, BigInt(enc.data.length)]);
  }
  let sensitivity: number[] | undefined;
  if (dp !== undefined) {
    const m = c.fp.maxEncoded;
    if (!Number.isSafeInteger(m * m)) throw new ConfideError('E_OVERFLOW', 'the sensitivity of Σx² exceeds 2^53 encoded units; lower bound or fracBits', { field: 'bound' });
    sensitivity = squares ? [m, m * m, 1] : [m, 1];
  }
  e.reserve(horizontalNeed(e.parties, k, dp !== undefined));
  const shared = await e.inputSum(local);
  let opened: BigUint64Array, receipt: Receipt | undefined;
  if (dp === undefined) opened = await e.release(shared);
  else {
    const r = await e.releaseNoisy(shared, sensitivity!, 'split', dp, query);
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
export async function jointSum(mpc: StatSession, column: Float64Array | Float32Array | undefined, options?: StatOptions): Promise<SumResult> {
  const e = engineOf(mpc);
  const c = codec(e, options, false);
  const r = await horizontal(e, column, c, false, options?.dp, 'joint sum and count');
  return { sum: r.s1, count: r.count, clipped: r.clipped, ...(r.receipt ? { receipt: r.receipt } : {}) };
}

export async function jointMean(mpc: StatSession, column: Float64Array | Float32Array | undefined, options?: StatOptions): Promise<{ mean: number; count: number; clipped: number; receipt?: Receipt }> {
  const e = engineOf(mpc);
  const c = codec(e, options, false);
  const r = await horizontal(e, column, c, false, options?.dp, 'joint mean (sum and count)');
  return { mean: r.s1 / needRows(r), count: r.count, clipped: r.clipped, ...(r.receipt ? { receipt: r.receipt } : {}) };
}

/** Mean and population variance (Σx²/n − mean²) of a horizontally partitioned column. */
export async function jointVariance(mpc: StatSession, column: Float64Array | Float32Array | undefined, options?: StatOptions): Promise<{ mean: number; variance: number; count: number; clipped: number; receipt?: Receipt }> {
  const e = engineOf(mpc);
  const c = codec(e, options, true);
  const r = await horizontal(e, column, c, true, options?.dp, 'joint variance (sum, sum of squares and count)');
  const n = needRows(r);
  const mean = r.s1 / n;
  return { mean, variance: Math.max(0, r.s2 / n - mean * mean), count: r.count, clipped: r.clipped, ...(r.receipt ? { receipt: r.receipt } : {}) };
}

/** Counts per bin [edges[k], edges[k+1]) (the last bin closed), summed over parties. */
export async function jointHistogram(mpc: StatSession, column: Float64Array | Float32Array | undefined, edges: readonly number[], options?: { dp?: MpcDpOptions }): Promise<number[]> {
  const e = engineOf(mpc);
  aoptions(options, 'options', ['dp']);
  if (options?.dp !== undefined) checkDp(options.dp, e.parties);
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
  e.reserve(horizontalNeed(e.parties, bins, options?.dp !== undefined));
  const shared = await e.inputSum(local);
  // Adding or removing one row moves one count by 1: L1 = L2 = 1, one mechanism for all bins.
  const opened = options?.dp === undefined ? await e.release(shared) : (await e.releaseNoisy(shared, [1], 'joint', options.dp, `joint histogram, ${bins} bins`)).values;
  return Array.from(opened, (v) => Number(BigInt.asIntN(64, v)));
}

async function vertical(e: Engine, xOwner: number, yOwner: number, x: Float64Array | Float32Array | undefined, y: Float64Array | Float32Array | undefined, rows: number, c: Codec): Promise<{ xs: Vec; ys: Vec; moments: Vec; clipped: number }> {
  ainteger(xOwner, 'xOwner', 0, e.parties - 1);
  ainteger(yOwner, 'yOwner', 0, e.parties - 1);
  ainteger(rows, 'rows', 0, c.maxRows);
  let clipped = 0;
  const mine = (owner: number, v: unknown, field: string): BigUint64Array | undefined => {
    if (e.index !== owner) {
      if (v !== undefined) throw new ConfideError('E_BAD_INPUT', `"${field}" is given by party ${owner} only`, { field });
      return undefined;
    }
    const enc = encodeColumn(c, v, field);
    if (enc.data.length !== rows) throw new ConfideError('E_BAD_INPUT', `"${field}" expected ${rows} rows, got ${enc.data.length}`, { field });
    clipped += enc.clipped;
    return enc.data;
  };
  const ex = mine(xOwner, x, 'x'), ey = mine(yOwner, y, 'y');
  e.reserve(verticalNeed(e.parties, xOwner, yOwner, rows));
  const xs = await e.input(xOwner, ex, rows);
  const ys = await e.input(yOwner, ey, rows);
  // Σx, Σx² (and Σy, Σy²) are local to their owner: shared directly, no triples spent.
  const mom = (enc: BigUint64Array | undefined, at: number) => {
    if (enc === undefined) return undefined;
    const [s1, s2] = localMoments(enc);
    const v = new BigUint64Array(4);
    v[at] = s1;
    v[at + 2] = s2;
    return v;
  };
  const mx = await e.input(xOwner, mom(ex, 0), 4);
  const my = await e.input(yOwner, mom(ey, 1), 4);
  return { xs, ys, moments: e.add(mx, my), clipped };
}

/** Σ x_i·y_i for columns of the same `rows` rows held by parties xOwner and yOwner. */
export async function dotProduct(mpc: StatSession, xOwner: number, yOwner: number, x: Float64Array | Float32Array | undefined, y: Float64Array | Float32Array | undefined, rows: number, options?: StatOptions): Promise<number> {
  noDp(options);
  const e = engineOf(mpc);
  const c = codec(e, options, true);
  const { xs, ys } = await vertical(e, xOwner, yOwner, x, y, rows, c);
  const opened = await e.release(e.sumElements(await e.mul(xs, ys)));
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
export async function jointCorrelation(mpc: StatSession, xOwner: number, yOwner: number, x: Float64Array | Float32Array | undefined, y: Float64Array | Float32Array | undefined, rows: number, options?: StatOptions): Promise<CorrelationResult> {
  noDp(options);
  const e = engineOf(mpc);
  const c = codec(e, options, true);
  if (rows === 0) throw new ConfideError('E_BAD_INPUT', '"rows" expected at least 1', { field: 'rows' });
  const { xs, ys, moments } = await vertical(e, xOwner, yOwner, x, y, rows, c);
  const sxy = e.sumElements(await e.mul(xs, ys));
  const o = await e.release(e.concat(moments, sxy));
  return fromMoments(o, rows, c.f);
}

/**
 * M·v for a rows×cols matrix M (row-major) held by matrixOwner and a vector v
 * of length cols held by vectorOwner; every party learns M·v only.
 */
export async function matVec(mpc: StatSession, matrixOwner: number, vectorOwner: number, matrix: Float64Array | Float32Array | undefined, vector: Float64Array | Float32Array | undefined, rows: number, cols: number, options?: StatOptions): Promise<Float64Array> {
  noDp(options);
  const e = engineOf(mpc);
  const c = codec(e, options, true);
  ainteger(matrixOwner, 'matrixOwner', 0, e.parties - 1);
  ainteger(vectorOwner, 'vectorOwner', 0, e.parties - 1);
  ainteger(rows, 'rows', 1, 2 ** 20);
  ainteger(cols, 'cols', 1, 2 ** 20);
  if (cols > c.maxRows) throw new ConfideError('E_BAD_INPUT', `"cols" expected at most maxRows (${c.maxRows}), the overflow check's bound on terms per sum`, { field: 'cols' });
  if (rows * cols > 2 ** 26) throw new ConfideError('E_BAD_INPUT', '"rows" × "cols" expected at most 2^26', { field: 'rows' });
  const own = (owner: number, v: unknown, field: string, len: number): BigUint64Array | undefined => {
    if (e.index !== owner) {
      if (v !== undefined) throw new ConfideError('E_BAD_INPUT', `"${field}" is given by party ${owner} only`, { field });
      return undefined;
    }
    const col = atyped(v, field, Float64Array, Float32Array);
    if (col.length !== len) throw new ConfideError('E_BAD_INPUT', `"${field}" expected length ${len}, got ${col.length}`, { field });
    return c.fp.encode(col).data as BigUint64Array;
  };
  const em = own(matrixOwner, matrix, 'matrix', rows * cols), ev = own(vectorOwner, vector, 'vector', cols);
  e.reserve(matVecNeed(e.parties, matrixOwner, vectorOwner, rows, cols));
  const ms = await e.input(matrixOwner, em, rows * cols);
  const vs = await e.input(vectorOwner, ev, cols);
  const opened = await e.release(e.blockSums(await e.mul(ms, e.tile(vs, rows)), cols));
  return Float64Array.from(opened, (v) => decode(v, 2 * c.f));
}

/**
 * Covariance and correlation of columns x and y when each party holds whole
 * rows of both (horizontal partition): every party shares its local Σx, Σy,
 * Σx², Σy², Σxy and row count; no multiplication is needed.
 */
export async function jointCorrelationRows(mpc: StatSession, x: Float64Array | Float32Array | undefined, y: Float64Array | Float32Array | undefined, options?: StatOptions): Promise<CorrelationResult> {
  noDp(options);
  const e = engineOf(mpc);
  const c = codec(e, options, true);
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
  e.reserve(horizontalNeed(e.parties, 6, false));
  const o = await e.release(await e.inputSum(local));
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
