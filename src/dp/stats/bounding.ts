/**
 * Contribution bounding: the step that makes a sensitivity true. Each privacy
 * unit (user, sender, author, document) keeps at most L0 groups and at most
 * Linf rows in each, whatever the input holds; only then are rows aggregated.
 *
 * - L0: the unit's groups are chosen uniformly at random among its distinct
 *   groups (not the first seen). Every (unit, group) pair gets a priority from
 *   a hash keyed by a secret drawn for the run; the unit keeps the L0 groups of
 *   lowest priority (a bottom-k sample, as in PipelineDP's sampling of
 *   partitions). The priority of a pair is fixed, so a group evicted once is
 *   refused again later, and the kept set is a uniform L0-subset of the unit's
 *   distinct groups whatever the row order.
 * - Linf: within a kept group, a uniform sample of Linf of the unit's rows
 *   (reservoir sampling, Vitter's algorithm R).
 *
 * Privacy needs only the caps; the uniform choices keep the estimates free of
 * order effects. State is O(L0 · Linf) per unit while reading; `drain` hands
 * each unit's bounded contribution to the aggregator and frees it. For units
 * too many for one machine's memory, shard by unit (`unitShard`) and merge.
 */
import { aboolean, ainteger, aobject, aoptions } from '../../core/assert.ts';
import { arng, type Rng } from '../../core/random.ts';

/** One (unit, group) slot: its priority, the rows seen and the sampled values. */
interface Slot {
  /** Index into the bounder's interned groups. */
  group: number;
  priority: number;
  rows: number;
  /** Up to Linf sampled values (absent when the query needs no values). */
  values: number[] | null;
}

/** What bounding did, for the report: every dropped row is counted. */
export interface BoundingCounts {
  /** Rows offered to the bounder. */
  rows: number;
  /** Rows dropped because their group was not among the unit's L0 kept groups. */
  rowsOverGroupLimit: number;
  /** Rows dropped by the Linf cap within a kept group. */
  rowsOverRowLimit: number;
  units: number;
}

/** A unit's bounded contribution to one group. */
export interface Contribution {
  readonly group: string;
  /** Rows kept: min(rows, Linf). */
  readonly rows: number;
  /** The kept values (length = rows), or null when values are not tracked. */
  readonly values: readonly number[] | null;
}

/** MurmurHash3's finaliser: a bijection on 32-bit words with full avalanche. */
function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** A keyed 32-bit hash of a string's UTF-16 code units, finalised with full avalanche. */
function keyedHash(key: number, s: string): number {
  let h = key ^ Math.imul(s.length, 0x9e3779b1);
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
  return fmix32(h);
}

/**
 * A 53-bit priority for (unit, group) from their keyed hashes (the unit's is
 * computed once per unit): two finalised mixes of both. Not a cryptographic
 * PRF: it decides which of a unit's groups are kept, which the caps make
 * private whatever the choice; the secret key only keeps the choice unbiased.
 */
function priority(unitHash: number, groupHash: number, k1: number): number {
  const hi = fmix32(unitHash ^ Math.imul(groupHash, 0x27d4eb2f)) >>> 11; // 21 bits
  const lo = fmix32(groupHash ^ Math.imul(unitHash ^ k1, 0x2c1b3c6d) ^ hi);
  return hi * 4294967296 + lo;
}

/**
 * A stable shard of a unit (FNV-1a over the UTF-16 code units, unkeyed): every
 * run that uses the same `count` puts a unit in the same shard, so shards run
 * anywhere over the same input partition the units.
 */
export function unitShard(unit: string, count: number): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < unit.length; i++) h = Math.imul(h ^ unit.charCodeAt(i), 0x01000193);
  return fmix32(h) % count;
}

interface UnitState {
  /** The unit's keyed hash, computed once. */
  hash: number;
  slots: Slot[];
  /** Index of the slot of highest priority once all L0 slots are taken (-1 before). */
  worst: number;
}

function worstOf(slots: readonly Slot[]): number {
  let w = 0;
  for (let i = 1; i < slots.length; i++) if (slots[i].priority > slots[w].priority) w = i;
  return w;
}

export interface BounderOptions {
  maxGroupsPerUnit: number;
  maxRowsPerGroup: number;
  /** Track the sampled values (sums, means, quantiles); counts alone need none. */
  values: boolean;
  rng: Rng;
}

export class ContributionBounder {
  readonly #l0: number;
  readonly #linf: number;
  readonly #values: boolean;
  readonly #rng: Rng;
  readonly #k0: number;
  readonly #k1: number;
  #units = new Map<string, UnitState>();
  /** Groups interned once (a small map: one entry per group), so slots compare integers and reuse the group's hash. */
  #groupIds = new Map<string, number>();
  #groupNames: string[] = [];
  #groupHashes: number[] = [];
  #rows = 0;
  #overGroups = 0;
  #overRows = 0;

  constructor(options: BounderOptions) {
    aobject(options, 'options');
    aoptions(options, 'options', ['maxGroupsPerUnit', 'maxRowsPerGroup', 'values', 'rng']);
    this.#l0 = ainteger(options.maxGroupsPerUnit, 'maxGroupsPerUnit', 1);
    this.#linf = ainteger(options.maxRowsPerGroup, 'maxRowsPerGroup', 1);
    this.#values = aboolean(options.values, 'values');
    this.#rng = arng(options.rng, 'rng');
    this.#k0 = this.#rng.nextU32();
    this.#k1 = this.#rng.nextU32();
  }

  /** Offers one row. `value` is ignored unless values are tracked. */
  add(unit: string, group: string, value: number): void {
    this.#rows++;
    let gid = this.#groupIds.get(group);
    if (gid === undefined) {
      gid = this.#groupNames.length;
      this.#groupIds.set(group, gid);
      this.#groupNames.push(group);
      this.#groupHashes.push(keyedHash(this.#k1, group));
    }
    let state = this.#units.get(unit);
    if (state === undefined) this.#units.set(unit, (state = { hash: keyedHash(this.#k0, unit), slots: [], worst: -1 }));
    const slots = state.slots;
    for (let i = 0; i < slots.length; i++) {
      const s = slots[i];
      if (s.group === gid) {
        this.#addRow(s, value);
        return;
      }
    }
    const p = priority(state.hash, this.#groupHashes[gid], this.#k1);
    if (slots.length < this.#l0) {
      slots.push(this.#slot(gid, p, value));
      if (slots.length === this.#l0) state.worst = worstOf(slots);
      return;
    }
    const worst = slots[state.worst];
    if (p < worst.priority) {
      // The evicted group's kept rows now count as over the group limit (its
      // rows over Linf were counted when they came).
      this.#overGroups += Math.min(worst.rows, this.#linf);
      slots[state.worst] = this.#slot(gid, p, value);
      state.worst = worstOf(slots);
    } else this.#overGroups++;
  }

  #slot(group: number, p: number, value: number): Slot {
    return { group, priority: p, rows: 1, values: this.#values ? [value] : null };
  }

  #addRow(s: Slot, value: number): void {
    s.rows++;
    if (s.rows > this.#linf) this.#overRows++;
    if (s.values === null) return;
    if (s.values.length < this.#linf) s.values.push(value);
    else {
      // Algorithm R: the new row replaces a kept one with probability Linf/rows.
      const j = this.#rng.uniformInt(s.rows);
      if (j < this.#linf) s.values[j] = value;
    }
  }

  get counts(): BoundingCounts {
    return { rows: this.#rows, rowsOverGroupLimit: this.#overGroups, rowsOverRowLimit: this.#overRows, units: this.#units.size };
  }

  /**
   * Hands every unit's bounded contributions to `visit` (one call per unit,
   * with at most L0 contributions of at most Linf rows each) and forgets them.
   */
  drain(visit: (contributions: readonly Contribution[], unit: string) => void): void {
    const linf = this.#linf;
    for (const [unit, { slots }] of this.#units) {
      visit(slots.map((s) => ({ group: this.#groupNames[s.group], rows: Math.min(s.rows, linf), values: s.values })), unit);
    }
    this.#units = new Map();
    this.#groupIds = new Map();
    this.#groupNames = [];
    this.#groupHashes = [];
  }
}
