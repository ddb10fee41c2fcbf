/**
 * The parameter chooser. Parameters that pass SEAL's `parametersSet()` can
 * still decrypt garbage (s0l0ist/node-seal#132): the sum outgrows the plain
 * modulus and wraps, or the noise of many additions outgrows the budget.
 * `planAggregation` checks both before anything is encrypted:
 *
 * - **Plaintext range** (BFV): a value in [-bound, bound] encodes, at scale
 *   2^fracBits, to an integer of magnitude at most m = ⌈bound·2^fracBits⌉ (the
 *   core fixed-point codec); K of them sum to at most K·m, which must stay
 *   below t/2 so that the centred lift of the sum mod t is the sum itself.
 *   CKKS: K·bound·2^scaleBits must stay below q/4 (q the data modulus), so the
 *   sum cannot wrap mod q.
 * - **Noise** (BFV): the sum of K ciphertexts plus the aggregator's encrypted
 *   mask has noise at most K+1 times the largest fresh noise, i.e. it costs at
 *   most ⌈log2(K+1)⌉ bits of noise budget; the fresh budget is measured under
 *   real keys (the least of several encryptions) and must exceed that cost by
 *   `minNoiseBudget` bits (SEAL's invariant noise budget is an estimate, not
 *   a guarantee: microsoft/SEAL#742; the margin covers it).
 *
 * Without explicit parameters it tries, in order of bytes per value, the
 * aggregation preset (t of 30 bits, or more when the range needs it) and then
 * larger moduli, and returns the first that passes; without `fracBits` (BFV)
 * it uses the most fractional bits the chosen t allows (at least 16).
 */
import { ainteger, anumber, aoneof, aoptions } from '../core/assert.ts';
import { ConfideError } from '../core/errors.ts';
import { BFV_AGGREGATION, CKKS_AGGREGATION, aparams, contextSync, engineOf, type HeContext, type HeParams, type Scheme } from './context.ts';
import { SealScope, loadSeal, sealCall } from './_seal.ts';

export interface PlanOptions {
  /** K: the most vectors one aggregate sums (the plaintext range and noise are sized for it). */
  contributors: number;
  /** Values are clipped to [-bound, bound] before encryption (clipping is counted). */
  bound: number;
  /** 'bfv' (default: exact) or 'ckks' (approximate). */
  scheme?: Scheme;
  /** BFV: fixed-point fractional bits (scale 2^fracBits). Default: the most the plain modulus allows, at least 16. */
  fracBits?: number;
  /** Use exactly these parameters (checked, not tuned). */
  params?: HeParams;
  /** BFV: noise budget bits that must remain after the sum (default 4). */
  minNoiseBudget?: number;
}

export interface PlanChecks {
  /** BFV: bits of t needed for K·m < t/2; CKKS: bits the sum takes at scale (log2(K·bound) + scaleBits + 2). */
  rangeBitsNeeded: number;
  /** BFV: bits of t; CKKS: bits of the data modulus q. */
  rangeBits: number;
  /** BFV: the least fresh noise budget measured under real keys (bits); CKKS: 0. */
  freshNoiseBudget: number;
  /** BFV: ⌈log2(K+1)⌉ + minNoiseBudget; CKKS: 0. */
  noiseBudgetNeeded: number;
}

export interface AggregationPlan {
  readonly params: Readonly<HeParams>;
  readonly contributors: number;
  readonly bound: number;
  /** BFV: fixed-point fractional bits; CKKS: the scale's bits. */
  readonly fracBits: number;
  readonly bytesPerValue: number;
  readonly checks: Readonly<PlanChecks>;
}

const PLAN_KEYS = ['contributors', 'bound', 'scheme', 'fracBits', 'params', 'minNoiseBudget'];
const MIN_FRAC_BITS = 16;

/** BFV candidates after the preset, in order of bytes per value. */
const BFV_LADDER: ReadonlyArray<Pick<HeParams, 'polyModulusDegree' | 'coeffModulusBits'>> = [
  { polyModulusDegree: 8192, coeffModulusBits: [60, 60] },
  { polyModulusDegree: 8192, coeffModulusBits: [60, 60, 60] },
  { polyModulusDegree: 16384, coeffModulusBits: [60, 60, 60, 60] },
];
const CKKS_LADDER: ReadonlyArray<Pick<HeParams, 'polyModulusDegree' | 'coeffModulusBits'>> = [
  { polyModulusDegree: 8192, coeffModulusBits: [60, 60] },
  { polyModulusDegree: 8192, coeffModulusBits: [60, 60, 60] },
  { polyModulusDegree: 16384, coeffModulusBits: [60, 60, 60, 60] },
];

/** Chooses and checks parameters for summing `contributors` vectors bounded by `bound`. */
export async function planAggregation(options: PlanOptions): Promise<AggregationPlan> {
  aoptions(options, 'options', PLAN_KEYS);
  if (options === undefined) throw new ConfideError('E_BAD_INPUT', '"options" expected { contributors, bound }', { field: 'options' });
  const K = ainteger(options.contributors, 'contributors', 1, 2 ** 32 - 1);
  const bound = anumber(options.bound, 'bound', 0, 2 ** 40, true);
  const scheme = options.scheme === undefined ? (options.params?.scheme ?? 'bfv') : aoneof(options.scheme, 'scheme', ['bfv', 'ckks'] as const);
  const fixed = options.params === undefined ? undefined : aparams(options.params);
  if (fixed && fixed.scheme !== scheme)
    throw new ConfideError('E_BAD_INPUT', `"scheme" is ${scheme} but "params" are ${fixed.scheme}`, { field: 'scheme' });
  const fracBits = options.fracBits === undefined ? undefined : ainteger(options.fracBits, 'fracBits', 0, 52);
  if (fracBits !== undefined && scheme === 'ckks')
    throw new ConfideError('E_BAD_INPUT', '"fracBits" applies to BFV; CKKS uses params.scaleBits', { field: 'fracBits' });
  const margin = options.minNoiseBudget === undefined ? 4 : ainteger(options.minNoiseBudget, 'minNoiseBudget', 0, 60);
  const seal = await loadSeal();

  if (scheme === 'ckks') {
    const candidates = fixed ? [fixed] : CKKS_LADDER.map((c) => ({ ...c, scheme: 'ckks' as const, scaleBits: CKKS_AGGREGATION.scaleBits }));
    let last: PlanChecks | undefined;
    for (const c of candidates) {
      const p = aparams(c);
      const dataBits = p.coeffModulusBits.slice(0, -1).reduce((a, b) => a + b, 0);
      const need = Math.log2(K * bound) + p.scaleBits! + 2;
      last = { rangeBitsNeeded: need, rangeBits: dataBits, freshNoiseBudget: 0, noiseBudgetNeeded: 0 };
      if (need <= dataBits) {
        const slots = p.polyModulusDegree / 2;
        return freeze({ params: p, contributors: K, bound, fracBits: p.scaleBits!, bytesPerValue: (2 * p.polyModulusDegree * (p.coeffModulusBits.length - 1) * 8) / slots, checks: last });
      }
    }
    throw rangeError(K, bound, last!, 'ckks');
  }

  const bases = fixed ? [fixed] : BFV_LADDER.map((c) => ({ ...c, scheme: 'bfv' as const, plainModulusBits: BFV_AGGREGATION.plainModulusBits }));
  let last: PlanChecks | undefined;
  let lastReason: 'range' | 'noise' = 'range';
  for (const base of bases) {
    const f = fracBits ?? MIN_FRAC_BITS;
    const m = Math.ceil(bound * 2 ** f);
    // t is a prime of exactly b bits, so t ≥ 2^(b-1); K·m < t/2 holds when 2^(b-2) > K·m.
    const needBits = Math.floor(Math.log2(K * m)) + 3;
    const tBits = fixed ? fixed.plainModulusBits! : Math.max(base.plainModulusBits!, needBits);
    const dataBits = base.coeffModulusBits.slice(0, -1).reduce((a, b) => a + b, 0);
    if (tBits > Math.min(52, dataBits - 10)) {
      last = { rangeBitsNeeded: needBits, rangeBits: Math.min(52, dataBits - 10), freshNoiseBudget: 0, noiseBudgetNeeded: 0 };
      lastReason = 'range';
      continue;
    }
    const p = aparams({ ...base, plainModulusBits: tBits });
    using ctx = contextSync(seal, p);
    const t = Number(ctx.plainModulus);
    let chosenFrac = f;
    // The limit is 2^(b-2) ≤ t/2 rather than t/2 itself, so that a plan can be rechecked from t's bit count alone.
    const limit = Math.min(t / 2, 2 ** (tBits - 2));
    if (fracBits === undefined) while (chosenFrac < 52 && K * Math.ceil(bound * 2 ** (chosenFrac + 1)) < limit) chosenFrac++;
    const mChosen = Math.ceil(bound * 2 ** chosenFrac);
    if (!(K * mChosen < limit) || mChosen > 2 ** 52) {
      last = { rangeBitsNeeded: needBits, rangeBits: tBits, freshNoiseBudget: 0, noiseBudgetNeeded: 0 };
      lastReason = 'range';
      continue;
    }
    const fresh = measureFreshBudget(ctx);
    const needNoise = Math.ceil(Math.log2(K + 1)) + margin;
    last = { rangeBitsNeeded: Math.log2(2 * K * mChosen), rangeBits: tBits, freshNoiseBudget: fresh, noiseBudgetNeeded: needNoise };
    if (fresh < needNoise) {
      lastReason = 'noise';
      continue;
    }
    return freeze({ params: p, contributors: K, bound, fracBits: chosenFrac, bytesPerValue: ctx.bytesPerValue, checks: last });
  }
  if (lastReason === 'noise')
    throw new ConfideError(
      'E_OVERFLOW',
      `summing ${K} ciphertexts needs ${last!.noiseBudgetNeeded} bits of noise budget; the parameters give ${last!.freshNoiseBudget}` +
        (fixed ? '; use larger coefficient moduli or a smaller t' : ''),
      { field: 'contributors', details: { ...last } },
    );
  throw rangeError(K, bound, last!, 'bfv');
}

function rangeError(K: number, bound: number, c: PlanChecks, scheme: Scheme): ConfideError {
  return new ConfideError(
    'E_OVERFLOW',
    `the sum of ${K} values bounded by ${bound} needs ${c.rangeBitsNeeded.toFixed(1)} bits of ` +
      (scheme === 'bfv' ? 'plain modulus' : 'coefficient modulus') +
      `; the parameters give ${c.rangeBits}: lower the bound${scheme === 'bfv' ? ' or fracBits' : ''}, or aggregate fewer vectors per sum`,
    { field: 'bound', details: { ...c } },
  );
}

function freeze(p: AggregationPlan): AggregationPlan {
  Object.freeze(p.checks);
  return Object.freeze(p);
}

/** The least invariant noise budget of a few fresh public-key encryptions of random plaintexts. */
function measureFreshBudget(ctx: HeContext): number {
  const { seal, context, batch } = engineOf(ctx);
  using s = new SealScope();
  return sealCall('measure the noise budget', 'E_CRYPTO', () => {
    const keygen = s.own(new seal.KeyGenerator(context));
    const sk = s.own(keygen.secretKey());
    const pk = s.own(keygen.createPublicKey());
    const enc = s.own(new seal.Encryptor(context, pk));
    const dec = s.own(new seal.Decryptor(context, sk));
    const pt = s.own(new seal.Plaintext());
    const ct = s.own(new seal.Ciphertext());
    const values = new BigUint64Array(ctx.slots);
    const t = ctx.plainModulus;
    let least = Infinity;
    for (let round = 0; round < 3; round++) {
      // Deterministic spread of values over [0, t): noise does not depend on them much, but zero would flatter it.
      for (let i = 0; i < values.length; i++) values[i] = (BigInt(i * 2654435761 + round) * 40503n) % t;
      batch!.encode(values, pt);
      enc.encrypt(pt, ct);
      least = Math.min(least, dec.invariantNoiseBudget(ct));
    }
    return least;
  });
}

/** Checks a plan's own arithmetic (e.g. one read from a key bundle); noise was measured when it was made. */
export function aplan(v: unknown, field = 'plan'): AggregationPlan {
  const p = v as AggregationPlan;
  if (typeof p !== 'object' || p === null)
    throw new ConfideError('E_BAD_INPUT', `"${field}" expected an AggregationPlan (planAggregation())`, { field });
  const params = aparams(p.params, `${field}.params`);
  const K = ainteger(p.contributors, `${field}.contributors`, 1, 2 ** 32 - 1);
  const bound = anumber(p.bound, `${field}.bound`, 0, 2 ** 40, true);
  const fracBits = ainteger(p.fracBits, `${field}.fracBits`, 0, 52);
  if (params.scheme === 'ckks' && fracBits !== params.scaleBits)
    throw new ConfideError('E_BAD_INPUT', `"${field}.fracBits" must equal params.scaleBits for CKKS`, { field: `${field}.fracBits` });
  if (params.scheme === 'bfv' && !(K * Math.ceil(bound * 2 ** fracBits) < 2 ** (params.plainModulusBits! - 2)))
    throw new ConfideError('E_OVERFLOW', `"${field}" does not fit: ${K} × ⌈${bound}·2^${fracBits}⌉ reaches t/2`, { field: `${field}.bound` });
  return p;
}
