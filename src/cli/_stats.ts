/**
 * `confide stats`: DP statistics over corpora from the command line. Reads
 * the inputs in one streaming pass, bounds each unit's contribution, spends
 * from the ledger, releases per group, and prints a table, JSON or CSV
 * (optionally an HTML report). `--partial` writes a shard's exact state
 * instead of releasing; `confide stats merge` releases from such partials.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { ConfideError } from '../core/errors.ts';
import {
  PrivacyLedger,
  collectStats,
  mergePartials,
  partialFromJson,
  partialToJson,
  releaseStats,
  type Aggregation,
  type StatsPartial,
  type StatsQuery,
  type StatsRelease,
} from '../dp/index.ts';
import type { CorpusFormat, ReadProgress } from '../dp/stats/reader.ts';
import { numberFlag } from './_flags.ts';
import { renderStatsReport } from './_stats_report.ts';

export const STATS_USAGE = `confide stats <input...> --unit F --group-by F [aggregations] --epsilon E [--delta D] [options]
      DP statistics per group over JSONL, CSV, JSON, text or e-mail files,
      directories and - (stdin), gzip or not. Aggregations: --count, --units
      (distinct units), --sum F, --mean F, --variance F, --quantiles F
      [--ranks 0.25,0.5,0.75], --histogram F --buckets e0,e1,...; value
      aggregations need --bounds LO:HI. Bounding: --max-groups-per-unit N (1),
      --max-rows-per-group N (1). Groups: selected privately (needs --delta;
      --selection truncated-geometric|laplace|gaussian|weighted-gaussian), or
      --groups a,b,...|@FILE (public list), or --group-buckets e0,e1,... for a
      numeric field. --noise laplace|gaussian, --top K, --level 0.95,
      --format table|json|csv, --html report.html, --input-format
      jsonl|csv|json|text|email, --progress, --threads N, --ledger L.db --dataset D
      [--principal P --purpose T]. --partial out.json [--shard i/n] writes
      the exact bounded state of this shard instead of releasing.
  confide stats merge <partial.json...> --epsilon E [--delta D] [release options] [--assume-disjoint-units]
      Adds shard partials and releases once.`;

const OPTIONS = {
  unit: { type: 'string' },
  'group-by': { type: 'string' },
  'group-buckets': { type: 'string' },
  count: { type: 'boolean', default: false },
  units: { type: 'boolean', default: false },
  sum: { type: 'string' },
  mean: { type: 'string' },
  variance: { type: 'string' },
  quantiles: { type: 'string' },
  ranks: { type: 'string' },
  histogram: { type: 'string' },
  buckets: { type: 'string' },
  bounds: { type: 'string' },
  'max-groups-per-unit': { type: 'string' },
  'max-rows-per-group': { type: 'string' },
  groups: { type: 'string' },
  epsilon: { type: 'string' },
  delta: { type: 'string' },
  noise: { type: 'string' },
  selection: { type: 'string' },
  top: { type: 'string' },
  level: { type: 'string' },
  format: { type: 'string', default: 'table' },
  html: { type: 'string' },
  'input-format': { type: 'string' },
  progress: { type: 'boolean', default: false },
  threads: { type: 'string' },
  ledger: { type: 'string' },
  dataset: { type: 'string' },
  principal: { type: 'string' },
  purpose: { type: 'string' },
  partial: { type: 'string' },
  shard: { type: 'string' },
  'assume-disjoint-units': { type: 'boolean', default: false },
} as const;

type Values = ReturnType<typeof parseArgs<{ options: typeof OPTIONS; allowPositionals: true }>>['values'];

function bad(flag: string, message: string): never {
  throw new ConfideError('E_BAD_INPUT', message, { field: flag });
}

function numberList(v: string | undefined, flag: string): number[] | undefined {
  if (v === undefined) return undefined;
  return v.split(',').map((s, i) => numberFlag(s.trim(), `${flag}[${i}]`)!);
}

function readList(v: string, flag: string): string[] {
  if (!v.startsWith('@')) return v.split(',').map((s) => s.trim()).filter((s) => s !== '');
  try {
    return readFileSync(v.slice(1), 'utf8').split(/\r?\n/).map((s) => s.trim()).filter((s) => s !== '');
  } catch (e) {
    throw new ConfideError('E_IO', `cannot read ${v.slice(1)}: ${(e as Error).message}`, { field: flag, cause: e });
  }
}

/** The query the flags describe. */
export function queryFromFlags(v: Values): StatsQuery {
  if (!v.unit) bad('unit', '"--unit" is required: the field naming the privacy unit (user, sender, author, document)');
  if (!v['group-by']) bad('group-by', '"--group-by" is required: the field whose value is a row\'s group');
  const aggregations: Aggregation[] = [];
  if (v.count) aggregations.push('count');
  if (v.units) aggregations.push('units');
  const valueFlags = ['sum', 'mean', 'variance', 'quantiles', 'histogram'] as const;
  let value: string | undefined;
  for (const f of valueFlags) {
    const field = v[f];
    if (field === undefined) continue;
    if (value !== undefined && field !== value) bad(f, `one value field per run: --${f} ${field} differs from ${value}`);
    value = field;
    aggregations.push(f);
  }
  if (aggregations.length === 0) bad('count', 'no aggregation asked: give --count, --units, --sum F, --mean F, --variance F, --quantiles F or --histogram F');
  let bounds: [number, number] | undefined;
  if (v.bounds !== undefined) {
    const m = /^\s*(-?[^:]+):(-?[^:]+)\s*$/.exec(v.bounds);
    if (!m) bad('bounds', `"--bounds" expected LO:HI, got ${JSON.stringify(v.bounds)}`);
    bounds = [numberFlag(m[1], 'bounds')!, numberFlag(m[2], 'bounds')!];
  } else if (value !== undefined) bad('bounds', `"--bounds LO:HI" is required for --${aggregations.find((a) => valueFlags.includes(a as never))}: values are clamped into it`);
  return {
    unit: v.unit,
    groupBy: v['group-by'],
    aggregations,
    ...(value !== undefined ? { value, bounds } : {}),
    ...(v['group-buckets'] !== undefined ? { groupBuckets: numberList(v['group-buckets'], 'group-buckets') } : {}),
    ...(v.ranks !== undefined ? { quantiles: numberList(v.ranks, 'ranks') } : {}),
    ...(v.buckets !== undefined ? { buckets: numberList(v.buckets, 'buckets') } : {}),
    ...(v['max-groups-per-unit'] !== undefined ? { maxGroupsPerUnit: numberFlag(v['max-groups-per-unit'], 'max-groups-per-unit') } : {}),
    ...(v['max-rows-per-group'] !== undefined ? { maxRowsPerGroup: numberFlag(v['max-rows-per-group'], 'max-rows-per-group') } : {}),
    ...(v.groups !== undefined ? { publicGroups: readList(v.groups, 'groups') } : {}),
  };
}

function parseShard(v: string | undefined): { index: number; count: number } | undefined {
  if (v === undefined) return undefined;
  const m = /^(\d+)\/(\d+)$/.exec(v.trim());
  if (!m || Number(m[1]) >= Number(m[2])) bad('shard', `"--shard" expected i/n with 0 <= i < n, got ${JSON.stringify(v)}`);
  return { index: Number(m[1]), count: Number(m[2]) };
}

/** Progress on stderr: rows/s, MB/s, elapsed; on a TTY, or when asked. */
function progressPrinter(force: boolean): ((p: ReadProgress) => void) | undefined {
  if (!force && !process.stderr.isTTY) return undefined;
  const tty = process.stderr.isTTY;
  return (p) => {
    const s = p.elapsedMs / 1000;
    const line = `read ${p.records} rows, ${(p.bytes / 1e6).toFixed(1)} MB in ${s.toFixed(1)} s (${s > 0 ? Math.round(p.records / s) : 0} rows/s, ${s > 0 ? (p.bytes / 1e6 / s).toFixed(1) : 0} MB/s)`;
    process.stderr.write(tty ? `\r${line}\x1b[K` : `${line}\n`);
  };
}

function openLedger(v: Values): { ledger: PrivacyLedger; dataset: string; note: string } {
  if (v.ledger === undefined) {
    // No ledger named: this release alone, recorded in memory, so the command
    // still spends before it releases; a real deployment names its ledger.
    const ledger = PrivacyLedger.open(':memory:');
    const dataset = v.dataset ?? 'stats';
    const epsilon = numberFlag(v.epsilon, 'epsilon') ?? 0;
    if (!(epsilon > 0)) bad('epsilon', '"--epsilon" is required: the privacy budget of this release');
    ledger.setBudget(dataset, { epsilon, delta: numberFlag(v.delta, 'delta') ?? 0 }, { method: 'basic', principal: 'confide stats', purpose: 'this run only (no --ledger)' });
    return { ledger, dataset, note: 'in-memory ledger (no --ledger given)' };
  }
  if (!v.dataset) bad('dataset', '"--dataset" is required with --ledger: the dataset whose budget this release spends');
  return { ledger: PrivacyLedger.open(v.ledger, { create: false }), dataset: v.dataset, note: v.ledger };
}

async function release(partial: StatsPartial, v: Values, inputs: string[]): Promise<StatsRelease> {
  if (v.epsilon === undefined) bad('epsilon', '"--epsilon" is required: the privacy budget of this release');
  const { ledger, dataset } = openLedger(v);
  try {
    return await releaseStats(partial, {
      epsilon: numberFlag(v.epsilon, 'epsilon')!,
      ...(v.delta !== undefined ? { delta: numberFlag(v.delta, 'delta') } : {}),
      ...(v.noise !== undefined ? { noise: v.noise as 'laplace' } : {}),
      ...(v.selection !== undefined ? { selection: v.selection as 'laplace' } : {}),
      ...(v.top !== undefined ? { top: numberFlag(v.top, 'top') } : {}),
      ...(v.level !== undefined ? { level: numberFlag(v.level, 'level') } : {}),
      ledger,
      dataset,
      principal: v.principal ?? 'confide stats',
      purpose: v.purpose ?? 'DP statistics',
      note: `inputs ${inputs.join(' ').slice(0, 500)}`,
    });
  } finally {
    ledger.close();
  }
}

export async function statsCommand(argv: string[]): Promise<number> {
  const { values: v, positionals } = parseArgs({ args: argv, options: OPTIONS, allowPositionals: true, strict: true });
  const format = v.format;
  if (format !== 'table' && format !== 'json' && format !== 'csv') bad('format', `"--format" expected table, json or csv, got ${JSON.stringify(format)}`);
  let partial: StatsPartial;
  let inputs: string[];
  if (positionals[0] === 'merge') {
    inputs = positionals.slice(1);
    if (inputs.length === 0) bad('partials', 'confide stats merge: give the partial files to merge');
    const parts = inputs.map((f) => {
      let text: string;
      try {
        text = readFileSync(f, 'utf8');
      } catch (e) {
        throw new ConfideError('E_IO', `cannot read ${f}: ${(e as Error).message}`, { field: 'partials', cause: e });
      }
      let json: unknown;
      try {
        json = JSON.parse(text);
      } catch (e) {
        throw new ConfideError('E_DECODE', `${f} is not JSON: ${(e as Error).message}`, { field: 'partials', cause: e });
      }
      return partialFromJson(json);
    });
    partial = mergePartials(parts, { assumeDisjointUnits: v['assume-disjoint-units'] });
  } else {
    inputs = positionals;
    if (inputs.length === 0) bad('inputs', 'confide stats: give the input files or directories (- for stdin)');
    const query = queryFromFlags(v);
    const shard = parseShard(v.shard);
    if (shard && v.partial === undefined) bad('shard', '"--shard" makes a partial: give --partial out.json too');
    const progress = progressPrinter(v.progress);
    partial = await collectStats(inputs, query, {
      ...(v['input-format'] !== undefined ? { format: v['input-format'] as CorpusFormat } : {}),
      ...(shard ? { shard } : {}),
      ...(progress ? { onProgress: progress } : {}),
      ...(v.threads !== undefined ? { threads: numberFlag(v.threads, 'threads') } : {}),
    });
    if (progress && process.stderr.isTTY) process.stderr.write('\n');
    if (v.partial !== undefined) {
      try {
        // Exact statistics of the data: readable by the owner only.
        writeFileSync(v.partial, `${JSON.stringify(partialToJson(partial))}\n`, { mode: 0o600 });
      } catch (e) {
        throw new ConfideError('E_IO', `cannot write ${v.partial}: ${(e as Error).message}`, { field: 'partial', cause: e });
      }
      const line = `partial state of ${partial.groups.size} groups from ${partial.input.records} records written to ${v.partial} (exact, not private: keep it with the data)`;
      process.stdout.write(format === 'json' ? `${JSON.stringify({ partial: v.partial, groups: partial.groups.size, records: partial.input.records })}\n` : `${line}\n`);
      return 0;
    }
  }
  const r = await release(partial, v, inputs);
  if (v.html !== undefined) {
    try {
      writeFileSync(v.html, renderStatsReport({ title: 'DP statistics', sections: [{ title: `${r.query.aggregations.join(', ')} by ${r.query.groupBy}`, release: r }] }));
    } catch (e) {
      throw new ConfideError('E_IO', `cannot write ${v.html}: ${(e as Error).message}`, { field: 'html', cause: e });
    }
  }
  process.stdout.write(format === 'json' ? `${JSON.stringify(statsJson(r), null, 2)}\n` : format === 'csv' ? statsCsv(r) : statsTable(r, v.html));
  return 0;
}

/** The JSON a script reads: released groups with intervals, what was dropped, and what was spent. */
export function statsJson(r: StatsRelease): object {
  return {
    groups: r.groups,
    released: r.released,
    dropped_lines: r.input.malformed,
    malformed_samples: r.input.samples.slice(0, 20),
    clamped: r.bounding.clamped,
    bounding: r.bounding,
    input: { records: r.input.records, files: r.input.files, bytes: r.input.bytes, skipped_files: r.input.skippedFiles.length },
    selection: r.selection,
    measurements: r.measurements,
    spent: {
      dataset: r.receipt.dataset,
      record: r.receipt.id,
      guarantee: r.guarantee,
      event: r.event,
      [`${r.receipt.unit}_spent_total`]: r.receipt.spent,
      budget: r.receipt.budget,
      remaining: r.receipt.remaining,
      method: r.receipt.method,
    },
    output_hash: r.outputHash,
  };
}

const COLUMNS = ['count', 'units', 'sum', 'mean', 'variance'] as const;

function csvField(x: unknown): string {
  const s = x === undefined || x === null ? '' : String(x);
  return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

export function statsCsv(r: StatsRelease): string {
  const cols = COLUMNS.filter((c) => r.query.aggregations.includes(c));
  const head = ['key'];
  for (const c of cols) head.push(c, ...(c === 'variance' ? [] : [`${c}_lo`, `${c}_hi`]));
  const ranks = r.query.quantiles.map(String);
  for (const q of ranks) head.push(`q${q}`);
  const b = r.query.buckets;
  if (b) for (let i = 0; i + 1 < b.length; i++) head.push(`hist[${b[i]},${b[i + 1]})`);
  const lines = [head.map(csvField).join(',')];
  for (const g of r.groups) {
    const row: unknown[] = [g.key];
    for (const c of cols) {
      row.push(g[c]);
      if (c !== 'variance') row.push(g.ci[c]?.[0], g.ci[c]?.[1]);
    }
    for (const q of ranks) row.push(g.quantiles?.[q]);
    if (b) row.push(...(g.histogram ?? []));
    lines.push(row.map(csvField).join(','));
  }
  return `${lines.join('\r\n')}\r\n`;
}

function num(x: number | undefined, digits = 0): string {
  return x === undefined ? '' : x.toFixed(digits);
}

export function statsTable(r: StatsRelease, html?: string): string {
  const out: string[] = [];
  const q = r.query;
  const digits = (c: string) => (c === 'count' || c === 'units' ? 0 : 2);
  const cols = COLUMNS.filter((c) => q.aggregations.includes(c));
  const ranks = q.quantiles.map(String);
  const header = ['group', ...cols.map((c) => (c === 'variance' ? c : `${c} ± ${Math.round((r.groups[0]?.ci.level ?? 0.95) * 100)}%`)), ...ranks.map((x) => `q${x}`)];
  const rows = r.groups.map((g) => [
    g.key,
    ...cols.map((c) => {
      const v = g[c], ci = c === 'variance' ? undefined : g.ci[c];
      return v === undefined ? '' : ci ? `${num(v, digits(c))} [${num(ci[0], digits(c))}, ${num(ci[1], digits(c))}]` : num(v, 2);
    }),
    ...ranks.map((x) => num(g.quantiles?.[x], 2)),
  ]);
  const widths = header.map((h, i) => Math.min(60, Math.max(h.length, ...rows.map((row) => row[i].length))));
  const line = (cells: string[]) => cells.map((c, i) => (i === 0 ? c.slice(0, 60).padEnd(widths[i]) : c.padStart(widths[i]))).join('  ');
  out.push(line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line));
  if (q.buckets && r.groups.length > 0) {
    out.push('', `histograms of ${q.value} (each bucket ± ${r.groups[0].ci.histogram})`);
    for (const g of r.groups) out.push(`  ${g.key.slice(0, 40).padEnd(40)} ${(g.histogram ?? []).join(' ')}`);
  }
  out.push('');
  const sel = r.selection;
  out.push(
    `${r.groups.length} groups shown of ${r.released} released` +
      (sel
        ? `; groups selected privately (${sel.strategy}): a group needs about ${sel.unitsFor50} units to appear half the time, ${sel.unitsFor95} for 95%`
        : `; public groups (no selection)`),
  );
  out.push(
    `read ${r.input.records} records from ${r.input.files} files (${(r.input.bytes / 1e6).toFixed(1)} MB); ` +
      `${r.input.malformed} malformed records dropped${r.input.skippedFiles.length ? `, ${r.input.skippedFiles.length} files of unknown type skipped` : ''}`,
  );
  for (const s of r.input.samples.slice(0, 5)) out.push(`  ${s.file}:${s.line}: ${s.reason}`);
  const b = r.bounding;
  out.push(
    `bounding (unit ${q.unit}, at most ${q.maxGroupsPerUnit} groups and ${q.maxRowsPerGroup} rows per group): ${b.units} units, ${b.rows} rows; ` +
      `dropped ${b.rowsOverGroupLimit} rows over the group limit and ${b.rowsOverRowLimit} over the row limit` +
      (q.publicGroups && !q.groupBuckets ? `, ${b.rowsOutsideGroups} outside the listed groups` : '') +
      (q.value !== null ? `; ${b.clamped} values clamped to [${q.bounds![0]}, ${q.bounds![1]}]` : ''),
  );
  const g = r.guarantee;
  out.push(
    `spent ${g.kind === 'approx' ? `ε = ${g.epsilon}, δ = ${g.delta}` : g.kind === 'pure' ? `ε = ${g.epsilon}` : JSON.stringify(g)} on ${r.receipt.dataset} ` +
      `(ledger record #${r.receipt.id}; ${r.receipt.unit} spent ${r.receipt.spent.toPrecision(4)} of ${r.receipt.budget}, ${r.receipt.remaining.toPrecision(4)} left)`,
  );
  out.push('the table is differentially private (intervals cover the noise, not the bias of bounding); the lines after it describe the input for its owner and are not.');
  if (html) out.push(`report: ${html}`);
  return `${out.join('\n')}\n`;
}
