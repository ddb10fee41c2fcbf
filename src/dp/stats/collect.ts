/**
 * One pass over a corpus: read rows (reader.ts), bound each unit's
 * contribution (bounding.ts) and add the bounded contributions into exact
 * per-group state (partial.ts). Memory holds the groups and, while reading,
 * O(L0·Linf) per privacy unit; with `shard` a run keeps only the units of one
 * shard, so n runs (on one machine or many) each hold 1/n of the units, and
 * `mergePartials` adds their states.
 */
import { ainteger, aobject, aoptions } from '../../core/assert.ts';
import { arng, systemRng, type Rng } from '../../core/random.ts';
import { ContributionBounder, unitShard } from './bounding.ts';
import { accumulator, emptyPartial, type StatsPartial } from './partial.ts';
import { bucketIndex, bucketLabels, normalizeQuery, type NormalizedQuery, type StatsQuery } from './query.ts';
import { readCorpus, type CorpusFormat, type Malformed, type ReadProgress } from './reader.ts';

export interface CollectOptions {
  /** The input format for every input (default: from each file's extension). */
  format?: CorpusFormat;
  /** Keep only the units of shard `index` of `count` (see unitShard). */
  shard?: { index: number; count: number };
  onProgress?: (p: ReadProgress) => void;
  /** Standard input, when an input is '-' (default process.stdin). */
  stdin?: NodeJS.ReadableStream;
  rng?: Rng;
}

function key(v: unknown): string | undefined {
  if (typeof v === 'string') return v;
  if (typeof v === 'number' && Number.isFinite(v)) return String(v);
  if (typeof v === 'boolean' || typeof v === 'bigint') return String(v);
  return undefined;
}

/** The type of a bad field, never its value: reasons are printed beside DP releases and must not quote the data. */
function kind(v: unknown): string {
  return v === null ? 'null' : Array.isArray(v) ? 'array' : typeof v === 'string' ? (v === '' ? 'empty string' : 'non-numeric string') : typeof v;
}

function numeric(v: unknown): number | undefined {
  if (typeof v === 'number') return Number.isFinite(v) ? v : undefined;
  if (typeof v === 'string' && v.trim() !== '') {
    const x = Number(v);
    return Number.isFinite(x) ? x : undefined;
  }
  return undefined;
}

/** Reads `inputs` and returns the exact bounded state of `query` over them (no noise: release it with releaseStats). */
export async function collectStats(inputs: readonly string[], query: StatsQuery, options: CollectOptions = {}): Promise<StatsPartial> {
  aoptions(options, 'options', ['format', 'shard', 'onProgress', 'stdin', 'rng']);
  const q: NormalizedQuery = normalizeQuery(query);
  let shard: StatsPartial['shard'] = null;
  if (options.shard !== undefined) {
    const s = aobject(options.shard, 'shard');
    const count = ainteger(s.count, 'shard.count', 1, 1 << 20);
    shard = { index: ainteger(s.index, 'shard.index', 0, count - 1), count };
  }
  const rng = options.rng === undefined ? systemRng() : arng(options.rng, 'rng');
  const partial = emptyPartial(q, shard);
  const bounder = new ContributionBounder({
    maxGroupsPerUnit: q.maxGroupsPerUnit,
    maxRowsPerGroup: q.maxRowsPerGroup,
    values: q.value !== null,
    rng,
  });
  const publicSet = q.publicGroups && !q.groupBuckets ? new Set(q.publicGroups) : null;
  const labels = q.groupBuckets ? bucketLabels(q.groupBuckets) : null;
  const { unit: unitField, groupBy, value: valueField } = q;
  // Under sharding every shard reads the same input: it reports only its own
  // units' records (and shard 0 the input-wide facts), so that merged shards
  // count each record, malformed line, file and byte once.
  let mine = 0, ownMalformed = 0;
  const ownSamples: Malformed[] = [];
  const own = (file: string, line: number, reason: string): string => {
    mine--;
    ownMalformed++;
    if (ownSamples.length < 100) ownSamples.push({ file, line, reason });
    return reason;
  };
  const summary = await readCorpus(inputs, {
    format: options.format,
    stdin: options.stdin,
    onProgress: options.onProgress,
    onRecord(record, file, line) {
      // The common types first, inline: this runs once per row.
      const u = record[unitField];
      const unit = typeof u === 'string' ? u : key(u);
      if (unit === undefined)
        // A record without a unit belongs to no shard: shard 0 reports it, so merged shards count it once.
        return shard && shard.index !== 0 ? undefined : `field "${unitField}" (privacy unit) is missing or not a string or number (got ${kind(record[unitField])})`;
      if (shard && unitShard(unit, shard.count) !== shard.index) return;
      mine++;
      let group: string | undefined;
      if (labels) {
        const x = numeric(record[groupBy]);
        if (x === undefined) return own(file, line, `field "${groupBy}" is missing or not a number (got ${kind(record[groupBy])})`);
        group = labels[bucketIndex(q.groupBuckets!, x) + 1];
      } else {
        const g = record[groupBy];
        group = typeof g === 'string' ? g : key(g);
        if (group === undefined) return own(file, line, `field "${groupBy}" (group) is missing or not a string or number (got ${kind(record[groupBy])})`);
      }
      let value = 0;
      if (valueField !== null) {
        const v = record[valueField];
        const x = typeof v === 'number' && v - v === 0 ? v : numeric(v);
        if (x === undefined) return own(file, line, `field "${valueField}" is missing or not a number (got ${kind(record[valueField])})`);
        value = x;
      }
      if (publicSet && !publicSet.has(group)) {
        partial.bounding.rowsOutsideGroups++;
        return;
      }
      bounder.add(unit, group, value);
    },
  });
  const first = shard === null || shard.index === 0;
  Object.assign(partial.input, {
    records: shard === null ? summary.records : mine,
    malformed: first ? summary.malformed : ownMalformed,
    samples: first ? [...summary.samples] : ownSamples,
    files: first ? summary.files : 0,
    skippedFiles: first ? [...summary.skippedFiles] : [],
    bytes: first ? summary.bytes : 0,
  });
  Object.assign(partial.bounding, bounder.counts);
  bounder.drain(accumulator(partial));
  return partial;
}
