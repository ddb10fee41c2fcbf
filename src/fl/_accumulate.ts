/**
 * Streaming FedAvg accumulation: Σ n_k Δ_k over the updates of a round,
 * added as they arrive rather than after the deadline, so that when the last
 * update is in, little work is left (see README.md, "Coordinator").
 *
 * Determinism. Float64 addition is not associative, so the sum depends on
 * the order the updates are added in. Updates are therefore added in a fixed
 * order (the sample's, sorted by party id, as the coordinator did when it
 * summed after the deadline), not in arrival order: an update that arrives
 * before its predecessors waits in a reorder buffer (a reference to the
 * received message, not a copy) and is added as soon as they are in or known
 * missing. The result is the same to the last bit whatever the arrival
 * order, and the same as `strategy.aggregate` over the updates in sorted order.
 */
import { describe } from '../core/errors.ts';
import type { Tensors } from './tensors.ts';

/**
 * out[off + i] += w·d[i] for the values of one tensor; false when a value of
 * `d` is not finite (x·0 is 0 for finite x and NaN otherwise, and NaN sticks).
 * One monomorphic loop (a closure around it runs several times slower).
 */
function accumulate(out: Float64Array, off: number, d: Float32Array, w: number): boolean {
  let s = 0;
  for (let i = 0; i < d.length; i++) {
    const x = d[i];
    s += x * 0;
    out[off + i] += w * x;
  }
  return s === 0;
}

/**
 * out[off + i] += w·fround(x[i] − g[i]): the update of a client that sent its
 * weights, rounded to float32 as `subtractTensors` would, without the copy.
 * False when a difference is not finite (it can overflow float32 even when
 * both are finite).
 */
function accumulateDifference(out: Float64Array, off: number, x: Float32Array, g: Float32Array, w: number): boolean {
  let s = 0;
  for (let i = 0; i < x.length; i++) {
    const d = Math.fround(x[i] - g[i]);
    s += d * 0;
    out[off + i] += w * d;
  }
  return s === 0;
}

/** Adds w·Δ, tensor by tensor in `names` order, to the flat `out`; false when Δ has a non-finite value (out is then spoilt). */
export function accumulateTensors(out: Float64Array, names: readonly string[], delta: Tensors, w: number, global?: Tensors): boolean {
  let ok = true, off = 0;
  for (const name of names) {
    const d = delta[name];
    ok = (global === undefined ? accumulate(out, off, d, w) : accumulateDifference(out, off, d, global[name], w)) && ok;
    off += d.length;
  }
  return ok;
}

interface Pending {
  tensors: Tensors;
  examples: number;
  /** True when `tensors` are the client's new weights (Δ = tensors − global), false when they are Δ. */
  weights: boolean;
}

/**
 * Σ n_k Δ_k and Σ n_k over one round's updates, added in the order of
 * `order` (the sampled parties) whatever order they arrive in. Updates must
 * be shaped like the global model (the caller checks names and lengths);
 * finiteness is checked while adding: an update with a non-finite value (or
 * whose difference from the global model overflows float32) is rejected, and
 * the sum is rebuilt from the accepted updates (the rare path), so it never
 * holds a trace of it.
 */
export class UpdateSum {
  readonly #global: Tensors;
  readonly #names: string[];
  readonly #order: readonly string[];
  readonly #index: Map<string, number>;
  readonly #slots: (Pending | undefined)[];
  readonly #sum: Float64Array;
  /** Position in `order` of the next update to add. */
  #next = 0;
  #examples = 0;
  readonly #accepted: { key: string; update: Pending }[] = [];
  readonly #rejected = new Map<string, string>();
  #finished = false;

  /** `scratch`, when given, is zeroed and used for the sum (a coordinator reuses one across rounds). */
  constructor(global: Tensors, order: readonly string[], scratch?: Float64Array) {
    this.#global = global;
    this.#names = Object.keys(global);
    let n = 0;
    for (const name of this.#names) n += global[name].length;
    if (scratch !== undefined && scratch.length === n) {
      scratch.fill(0);
      this.#sum = scratch;
    } else this.#sum = new Float64Array(n);
    this.#order = [...order];
    this.#index = new Map(order.map((k, i) => [k, i]));
    this.#slots = new Array<Pending | undefined>(order.length).fill(undefined);
  }

  /** Offers `key`'s update; added now if every earlier one in the order is in, else when they are (or at `finish`). */
  add(key: string, tensors: Tensors, examples: number, weights: boolean): void {
    const i = this.#index.get(key);
    if (this.#finished || i === undefined || i < this.#next || this.#slots[i] !== undefined) return;
    this.#slots[i] = { tensors, examples, weights };
    while (this.#next < this.#slots.length && this.#slots[this.#next] !== undefined) this.#take(this.#next++);
  }

  /**
   * Adds what is still waiting (in order, skipping parties that sent nothing)
   * and returns the sum, Σ n_k, the keys added (in order) and the keys
   * rejected with why.
   */
  finish(): { sum: Float64Array; examples: number; accepted: string[]; rejected: Map<string, string> } {
    if (!this.#finished) {
      this.#finished = true;
      for (; this.#next < this.#slots.length; this.#next++) if (this.#slots[this.#next] !== undefined) this.#take(this.#next);
    }
    return { sum: this.#sum, examples: this.#examples, accepted: this.#accepted.map((a) => a.key), rejected: this.#rejected };
  }

  #take(i: number): void {
    const u = this.#slots[i]!;
    // The reorder buffer lets go of the message; `accepted` keeps it only for the rare rebuild.
    this.#slots[i] = undefined;
    const key = this.#order[i];
    if (this.#addTo(this.#sum, u)) {
      this.#examples += u.examples;
      this.#accepted.push({ key, update: u });
      return;
    }
    this.#rejected.set(key, this.#reason(u));
    // The sum holds part of the bad update: rebuild it from the accepted ones, in the same order.
    this.#sum.fill(0);
    for (const a of this.#accepted) this.#addTo(this.#sum, a.update);
  }

  #addTo(sum: Float64Array, u: Pending): boolean {
    return accumulateTensors(sum, this.#names, u.tensors, u.examples, u.weights ? this.#global : undefined);
  }

  #reason(u: Pending): string {
    for (const name of this.#names) {
      const t = u.tensors[name], g = this.#global[name];
      for (let i = 0; i < t.length; i++) {
        if (!Number.isFinite(t[i])) return `"tensors.${name}[${i}]" expected a finite number, got ${describe(t[i])}`;
        if (u.weights && !Number.isFinite(Math.fround(t[i] - g[i]))) return `the update (weights − global) of "tensors.${name}[${i}]" overflows float32`;
      }
    }
    return 'non-finite update';
  }
}
