/**
 * Fixed-point codec between real vectors (Float32Array / Float64Array) and
 * ring vectors (Z_2^32 / Z_2^64) with an explicit scale 2^fracBits.
 *
 * - Values outside [-bound, bound] are clipped to it, and the count of clipped
 *   values is returned, never hidden.
 * - Rounding is stochastic and unbiased: x·scale rounds up with probability
 *   equal to its fractional part, with randomness from an Rng (the system CSPRNG
 *   by default), so sums of encoded values are unbiased estimates of true sums.
 * - `checkOverflow(parties)` tells a protocol before it starts whether the sum
 *   of `parties` encoded vectors fits the ring: parties · ⌈bound·scale⌉ (plus any
 *   headroom, e.g. for noise) must stay below 2^(bits-1).
 */
import { ainteger, anumber, aoneof, aoptions, atyped } from './assert.ts';
import { ConfideError } from './errors.ts';
import { arng, systemRng, type Rng } from './random.ts';
import { kernels } from './wasm/loader.ts';

export type FloatVector = Float32Array | Float64Array;

export interface FixedPointOptions {
  /** Ring width: 32 or 64 bits. */
  bits: 32 | 64;
  /** Fractional bits: the scale is 2^fracBits (0 to 52). */
  fracBits: number;
  /** Values are clipped to [-bound, bound]; bound > 0. */
  bound: number;
}

export interface Encoded<V> {
  data: V;
  /** How many input values lay outside [-bound, bound] and were clipped. */
  clipped: number;
}

type Vec<B extends 32 | 64> = B extends 32 ? Uint32Array : BigUint64Array;
const TWO_32 = 4294967296;
const NONCE = new Uint8Array(12);

export class FixedPoint<B extends 32 | 64 = 32 | 64> {
  readonly bits: B;
  readonly fracBits: number;
  readonly scale: number;
  readonly bound: number;
  /** The largest magnitude an encoded value can have: ⌈bound·scale⌉. */
  readonly maxEncoded: number;

  constructor(options: FixedPointOptions & { bits: B }) {
    aoptions(options, 'options', ['bits', 'fracBits', 'bound']);
    if (options === undefined) throw new ConfideError('E_BAD_INPUT', '"options" expected { bits, fracBits, bound }', { field: 'options' });
    this.bits = aoneof(options?.bits, 'bits', [32, 64] as const) as B;
    this.fracBits = ainteger(options.fracBits, 'fracBits', 0, 52);
    this.bound = anumber(options.bound, 'bound', 0, Number.MAX_VALUE, true);
    this.scale = 2 ** this.fracBits;
    this.maxEncoded = Math.ceil(this.bound * this.scale);
    // Encoding must be exact in float64 and fit one party's value in the ring.
    const limit = Math.min(2 ** 52, 2 ** (this.bits - 1) - 1);
    if (!(this.maxEncoded <= limit))
      throw new ConfideError(
        'E_OVERFLOW',
        `bound ${this.bound} at scale 2^${this.fracBits} needs ${Math.log2(this.maxEncoded).toFixed(1)} bits; ` +
          `the ${this.bits}-bit ring allows ${Math.log2(limit).toFixed(1)}`,
        { field: 'bound' },
      );
  }

  /**
   * Encodes `values` into the ring. Non-finite values are refused; values beyond
   * ±bound are clipped and counted. `rng` supplies rounding randomness.
   */
  encode(values: FloatVector, options: { rng?: Rng; out?: Vec<B> } = {}): Encoded<Vec<B>> {
    const input = atyped(values, 'values', Float32Array, Float64Array);
    aoptions(options, 'options', ['rng', 'out']);
    const rng = options.rng === undefined ? systemRng() : arng(options.rng);
    const Ctor = this.bits === 32 ? Uint32Array : BigUint64Array;
    let out: Vec<B>;
    if (options.out === undefined) out = new Ctor(input.length) as Vec<B>;
    else {
      out = atyped(options.out, 'out', Ctor) as Vec<B>;
      if (out.length !== input.length)
        throw new ConfideError('E_BAD_INPUT', `"out" expected length ${input.length}, got ${out.length}`, { field: 'out' });
    }
    const key = rng.bytes(32);
    const k = kernels();
    const r =
      this.bits === 32
        ? k.encode32(out as Uint32Array, input, this.scale, this.bound, key, NONCE)
        : k.encode64(out as BigUint64Array, input, this.scale, this.bound, key, NONCE);
    key.fill(0);
    if (r < 0) {
      const i = -r - 1;
      throw new ConfideError('E_BAD_INPUT', `"values[${i}]" expected a finite number, got ${input[i]}`, {
        field: `values[${i}]`,
      });
    }
    return { data: out, clipped: r };
  }

  /** Decodes ring elements (single values or sums) to reals: centred lift, then ÷ scale. */
  decode(data: Vec<B>, out?: Float64Array): Float64Array {
    const Ctor = this.bits === 32 ? Uint32Array : BigUint64Array;
    const v = atyped(data, 'data', Ctor);
    const o = out === undefined ? new Float64Array(v.length) : atyped(out, 'out', Float64Array);
    if (o.length !== v.length)
      throw new ConfideError('E_BAD_INPUT', `"out" expected length ${v.length}, got ${o.length}`, { field: 'out' });
    const inv = 1 / this.scale; // a power of two: exact
    if (v instanceof Uint32Array) {
      for (let i = 0; i < v.length; i++) o[i] = (v[i] | 0) * inv;
    } else {
      const w = new Uint32Array(v.buffer, v.byteOffset, v.length * 2);
      for (let i = 0; i < v.length; i++) o[i] = ((w[2 * i + 1] | 0) * TWO_32 + w[2 * i]) * inv;
    }
    return o;
  }

  /** The largest number of parties whose sum (with `headroom` extra magnitude per coordinate) fits. */
  maxParties(headroom = 0): number {
    anumber(headroom, 'headroom', 0);
    const half = 2 ** (this.bits - 1);
    return Math.max(0, Math.floor((half - 1 - headroom) / this.maxEncoded));
  }

  /**
   * Throws E_OVERFLOW unless `parties` encoded vectors, plus `headroom` extra
   * magnitude per coordinate (e.g. a noise bound), sum without wrapping.
   */
  checkOverflow(parties: number, headroom = 0): void {
    ainteger(parties, 'parties', 1);
    anumber(headroom, 'headroom', 0);
    const total = parties * this.maxEncoded + headroom;
    if (!(total < 2 ** (this.bits - 1)))
      throw new ConfideError(
        'E_OVERFLOW',
        `${parties} parties × bound ${this.bound} × scale 2^${this.fracBits}` +
          (headroom ? ` + headroom ${headroom}` : '') +
          ` reaches 2^${Math.log2(total).toFixed(2)}, over the ${this.bits}-bit ring's 2^${this.bits - 1}; ` +
          `lower the bound or fracBits, or use the 64-bit ring`,
        { field: 'parties', details: { parties, maxParties: this.maxParties(headroom) } },
      );
  }
}
