/**
 * One pass over a corpus: read rows (reader.ts), bound each unit's
 * contribution (bounding.ts) and add the bounded contributions into exact
 * per-group state (partial.ts). Memory holds the groups and, while reading,
 * O(L0·Linf) per privacy unit; with `shard` a run keeps only the units of one
 * shard, so n runs (on one machine or many) each hold 1/n of the units, and
 * `mergePartials` adds their states.
 */
import { parentPort } from 'node:worker_threads';
import { selfWorkerData, startSelfWorker } from '../../core/_worker.ts';
import { ainteger, aobject, aoptions } from '../../core/assert.ts';
import { ConfideError } from '../../core/errors.ts';
import { arng, systemRng, type Rng } from '../../core/random.ts';
import { ContributionBounder, unitShard } from './bounding.ts';
import { accumulator, emptyPartial, mergePartials, partialFromJson, partialToJson, type StatsPartial } from './partial.ts';
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
  /**
   * Worker threads (default 1). Each thread reads the whole input and keeps
   * the units of its own sub-shard, so the parsing is repeated but the
   * bounding and the unit state are split; the partials are merged at the
   * end. Worth it when there are idle cores. Not with stdin, nor with `rng`.
   */
  threads?: number;
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
  aoptions(options, 'options', ['format', 'shard', 'onProgress', 'stdin', 'threads', 'rng']);
  const q: NormalizedQuery = normalizeQuery(query);
  let shard: StatsPartial['shard'] = null;
  if (options.shard !== undefined) {
    const s = aobject(options.shard, 'shard');
    const count = ainteger(s.count, 'shard.count', 1, 1 << 20);
    shard = { index: ainteger(s.index, 'shard.index', 0, count - 1), count };
  }
  const threads = options.threads === undefined ? 1 : ainteger(options.threads, 'threads', 1, 64);
  if (threads > 1) {
    if (!Array.isArray(inputs) || inputs.includes('-'))
      throw new ConfideError('E_BAD_INPUT', '"threads" needs inputs that every thread can read: files or directories, not stdin (-)', { field: 'threads' });
    if (options.rng !== undefined || options.stdin !== undefined)
      throw new ConfideError('E_BAD_INPUT', '"threads" draws from each thread\'s own CSPRNG: leave out rng and stdin', { field: 'threads' });
    return collectInThreads(inputs, query, { format: options.format, shard, threads, onProgress: options.onProgress });
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

// ---------------------------------------------------------------------------
// Threads: sub-shards of the units, one per worker, merged at the end.

const WORKER_MARK = 'confide:collectStats';

interface WorkerTask {
  mark: typeof WORKER_MARK;
  inputs: readonly string[];
  query: StatsQuery;
  format: CorpusFormat | undefined;
  shard: { index: number; count: number };
}

type WorkerReply = { progress: ReadProgress } | { partial: object } | { error: { code: string; message: string; field?: string } };

/**
 * Sub-shard j of t inside shard i of n is shard i + n·j of n·t: unitShard's
 * hash mod n·t is congruent to the hash mod n, so the sub-shards split shard
 * i exactly.
 */
async function collectInThreads(
  inputs: readonly string[],
  query: StatsQuery,
  o: { format: CorpusFormat | undefined; shard: StatsPartial['shard']; threads: number; onProgress: ((p: ReadProgress) => void) | undefined },
): Promise<StatsPartial> {
  const outer = o.shard ?? { index: 0, count: 1 };
  const progress: ReadProgress[] = [];
  const run = (j: number) =>
    new Promise<StatsPartial>((resolve, reject) => {
      const task: WorkerTask = { mark: WORKER_MARK, inputs: [...inputs], query, format: o.format, shard: { index: outer.index + outer.count * j, count: outer.count * o.threads } };
      // The worker imports this very module, whose last statement runs the task.
      const worker = startSelfWorker(import.meta.url, WORKER_MARK, task);
      let done = false;
      worker.on('message', (m: WorkerReply) => {
        if ('progress' in m) {
          progress[j] = m.progress;
          if (o.onProgress && progress.filter(Boolean).length === o.threads)
            // Every thread reads everything: the input is as far along as the slowest thread.
            o.onProgress(progress.reduce((a, b) => (a.bytes <= b.bytes ? a : b)));
        } else if ('partial' in m) {
          done = true;
          resolve(partialFromJson(m.partial));
        } else {
          done = true;
          reject(new ConfideError(m.error.code as 'E_IO', m.error.message, { field: m.error.field }));
        }
      });
      worker.on('error', (e) => reject(new ConfideError('E_INTERNAL', `statistics worker failed: ${e.message}`, { cause: e })));
      worker.on('exit', (code) => {
        if (!done) reject(new ConfideError('E_INTERNAL', `statistics worker exited with code ${code} before its result`));
      });
    });
  const parts = await Promise.all(Array.from({ length: o.threads }, (_, j) => run(j)));
  return { ...mergePartials(parts), shard: o.shard };
}

async function runWorkerTask(task: WorkerTask): Promise<void> {
  const port = parentPort!;
  try {
    const partial = await collectStats(task.inputs, task.query, {
      ...(task.format !== undefined ? { format: task.format } : {}),
      shard: task.shard,
      onProgress: (p) => port.postMessage({ progress: p } satisfies WorkerReply),
    });
    port.postMessage({ partial: partialToJson(partial) } satisfies WorkerReply);
  } catch (e) {
    const err = e instanceof ConfideError ? e : new ConfideError('E_INTERNAL', String((e as Error)?.message ?? e));
    port.postMessage({ error: { code: err.code, message: err.message, ...(err.field ? { field: err.field } : {}) } } satisfies WorkerReply);
  }
}

// The worker side of `threads`: a worker started by collectInThreads imports
// this module with its task in workerData. Nothing happens on the main thread.
const workerTask = selfWorkerData<WorkerTask>(WORKER_MARK);
if (workerTask) void runWorkerTask(workerTask);
