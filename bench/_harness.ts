/**
 * The shared harness of confide's benchmark suites. A suite (`bench/<module>.bench.ts`)
 * lists its cases; each case times "ours" and its anchors (node:crypto, a
 * peer library, the JS twin...) in the same process and run, then the harness
 * prints one table with every anchor's ratio beside ours and writes
 * `bench/results/<suite>.json` in the shape every suite shares:
 *
 *   { suite, node, cpu, cases: [{ name, unit, better, ours, anchors: { [name]: figure } }] }
 *
 * plus extra fields (date, machine, backend, per-figure stats, ratios, checks).
 * A figure is null when that implementation could not run here; `unavailable`
 * says why.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import { pathToFileURL } from 'node:url';
import { Bench, type Task } from 'tinybench';

/**
 * A function timed once per iteration, or the reason it cannot run here.
 *
 * Prefer `fn.bind(thisArg, ...args)` to an arrow for JS code: an arrow made
 * for one task is a monomorphic call site, and V8's mid tier (Maglev) inlines
 * the callee into it, which can run the callee's hot loop several times
 * slower for seconds until Turbofan takes over (seen on the JS twin of add:
 * 5.5 ms instead of 1.1 ms per call). A bound function has no JS call site of
 * its own, so the callee is optimized as it would be on its own. Use an arrow
 * only where arguments change per call (e.g. re-reading an arena vector's `view`).
 */
export type Runner = (() => unknown) | { unavailable: string };

export interface CaseSpec {
  name: string;
  unit: string;
  better: 'higher' | 'lower';
  /**
   * For 'higher' cases: units of work one call does (e.g. MB processed);
   * the figure is work / mean seconds. For 'lower' cases leave it out: the
   * figure is the mean time of one call in `unit` ('ms' or 'us').
   */
  work?: number;
  ours: Runner;
  anchors: Record<string, Runner>;
  /** Checks that ours and the anchors compute the same thing; throws if not. */
  check?: () => void;
  /** What the reader needs to know to compare the figures fairly. */
  notes?: string;
  /** Releases what the case allocated (e.g. WASM arena vectors). */
  dispose?: () => void;
  /**
   * For calls that take seconds or return promises (a pass over a 1 GB file):
   * time each runner this many times after one warm-up call, interleaving
   * ours and the anchors so that machine noise falls on all of them alike.
   */
  runs?: number;
  /**
   * For figures that are not times (peak RSS): computes every figure itself,
   * keyed 'ours' and by anchor name; the runners are then not timed.
   */
  figures?: () => Promise<Record<string, number>>;
}

/** Builds a case just before it runs, so that only one case's buffers are live at a time. */
export type CaseFactory = () => CaseSpec | Promise<CaseSpec>;

export interface Stats {
  /** Mean time of one call; the figure comes from it. */
  meanMs: number;
  /** Median and fastest call, to tell a slow tail from a slow kernel. */
  p50Ms: number;
  minMs: number;
  /** Relative margin of error of the mean, in percent (95%). */
  rme: number;
  samples: number;
}

export interface CaseResult {
  name: string;
  unit: string;
  better: 'higher' | 'lower';
  ours: number | null;
  anchors: Record<string, number | null>;
  /** ours vs each anchor, > 1 when ours is better (ours/anchor for 'higher', anchor/ours for 'lower'). */
  ratios: Record<string, number | null>;
  stats: Record<string, Stats>;
  unavailable?: Record<string, string>;
  check: 'ok' | 'skipped' | string;
  notes?: string;
}

export interface SuiteResult {
  suite: string;
  node: string;
  cpu: string;
  date: string;
  machine: { platform: string; arch: string; cores: number; memoryGiB: number; v8: string };
  settings: { timeMs: number; warmupMs: number; minIterations: number };
  [extra: string]: unknown;
  cases: CaseResult[];
}

export const OURS = 'ours';

/** ms per task; BENCH_TIME_MS shortens it for a smoke run (figures are then less stable). */
const TIME_MS = positiveEnv('BENCH_TIME_MS', 2000);
const WARMUP_MS = positiveEnv('BENCH_WARMUP_MS', Math.min(1000, TIME_MS));
const MIN_ITERATIONS = 10;

function positiveEnv(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const v = Number(raw);
  if (!Number.isFinite(v) || v <= 0) throw new Error(`${name} expected a positive number of ms, got ${raw}`);
  return v;
}

const gc = (globalThis as { gc?: () => void }).gc;

/**
 * Loads a peer from bench/thirdparty/node_modules (never from the library's
 * own dependencies). Throws with a hint when the peers are not installed.
 */
export async function peer<T>(specifier: string): Promise<T> {
  const req = createRequire(new URL('./thirdparty/package.json', import.meta.url));
  let path: string;
  try {
    path = req.resolve(specifier);
  } catch (e) {
    throw new Error(`${specifier} is not installed in bench/thirdparty (npm run bench installs it)`, { cause: e });
  }
  return (await import(pathToFileURL(path).href)) as T;
}

function describe(e: unknown): string {
  return e instanceof Error ? `${e.name}: ${e.message}` : String(e);
}

function figure(spec: CaseSpec, meanMs: number): number {
  if (spec.better === 'higher') return spec.work! / (meanMs / 1000);
  if (spec.unit === 'ms') return meanMs;
  if (spec.unit === 'us') return meanMs * 1000;
  throw new Error(`case "${spec.name}": unit ${spec.unit} for 'lower' is not ms or us`);
}

export function ratio(better: 'higher' | 'lower', ours: number | null, anchor: number | null): number | null {
  if (ours === null || anchor === null || ours <= 0 || anchor <= 0) return null;
  return better === 'higher' ? ours / anchor : anchor / ours;
}

async function runCase(factory: CaseFactory): Promise<CaseResult> {
  const spec = await factory();
  try {
    if (spec.better === 'higher' && !(spec.work !== undefined && spec.work > 0))
      throw new Error(`case "${spec.name}": a 'higher' case needs work > 0`);
    let check: CaseResult['check'] = 'skipped';
    if (spec.check) {
      try {
        spec.check();
        check = 'ok';
      } catch (e) {
        check = `failed: ${describe(e)}`;
      }
    }
    if (spec.figures) return await figuresCase(spec, check);
    if (spec.runs !== undefined) return await timedCase(spec, check);
    const bench = new Bench({
      name: spec.name,
      time: TIME_MS,
      warmupTime: WARMUP_MS,
      iterations: MIN_ITERATIONS,
      warmupIterations: 3,
      throws: false,
      // Collect the garbage of the previous task so it is not charged to this one.
      setup: () => gc?.(),
    });
    const unavailable: Record<string, string> = {};
    const runners: [string, Runner][] = [[OURS, spec.ours], ...Object.entries(spec.anchors)];
    for (const [name, r] of runners) {
      // Every kernel here writes into a typed array, so the JIT cannot drop the call as dead code.
      if (typeof r === 'function') bench.add(name, r);
      else unavailable[name] = r.unavailable;
    }
    process.stderr.write(`  ${spec.name} ...`);
    bench.runSync();
    process.stderr.write(' done\n');
    const stats: Record<string, Stats> = {};
    const value = (name: string): number | null => {
      if (name in unavailable) return null;
      const task = bench.getTask(name) as Task;
      const res = task.result;
      if (res.state !== 'completed') {
        unavailable[name] = res.state === 'errored' ? `threw ${describe(res.error)}` : `task ${res.state}`;
        return null;
      }
      const l = res.latency;
      stats[name] = { meanMs: l.mean, p50Ms: l.p50, minMs: l.min, rme: l.rme, samples: l.samplesCount };
      return figure(spec, res.latency.mean);
    };
    const figures: Record<string, number | null> = { [OURS]: value(OURS) };
    for (const name of Object.keys(spec.anchors)) figures[name] = value(name);
    return result(spec, check, figures, stats, unavailable);
  } finally {
    spec.dispose?.();
  }
}

function result(spec: CaseSpec, check: CaseResult['check'], figures: Record<string, number | null>, stats: Record<string, Stats>, unavailable: Record<string, string>): CaseResult {
  const anchors: Record<string, number | null> = {};
  const ratios: Record<string, number | null> = {};
  for (const name of Object.keys(spec.anchors)) {
    anchors[name] = figures[name] ?? null;
    ratios[name] = ratio(spec.better, figures[OURS] ?? null, anchors[name]);
  }
  return {
    name: spec.name,
    unit: spec.unit,
    better: spec.better,
    ours: figures[OURS] ?? null,
    anchors,
    ratios,
    stats,
    ...(Object.keys(unavailable).length ? { unavailable } : {}),
    check,
    ...(spec.notes ? { notes: spec.notes } : {}),
  };
}

async function figuresCase(spec: CaseSpec, check: CaseResult['check']): Promise<CaseResult> {
  process.stderr.write(`  ${spec.name} ...`);
  const figures = await spec.figures!();
  process.stderr.write(' done\n');
  return result(spec, check, figures, {}, {});
}

/** Student's t quantile (two-sided 95%) for small samples, as tinybench reports rme. */
function t95(df: number): number {
  const table = [12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228];
  return df >= 1 && df <= table.length ? table[df - 1] : 1.96;
}

async function timedCase(spec: CaseSpec, check: CaseResult['check']): Promise<CaseResult> {
  const runners: [string, Runner][] = [[OURS, spec.ours], ...Object.entries(spec.anchors)];
  const unavailable: Record<string, string> = {};
  const samples: Record<string, number[]> = {};
  for (const [name, r] of runners) if (typeof r !== 'function') unavailable[name] = r.unavailable;
  const live = runners.filter(([name]) => !(name in unavailable)) as [string, () => unknown][];
  process.stderr.write(`  ${spec.name} ...`);
  for (let i = -1; i < spec.runs!; i++) {
    for (const [name, fn] of live) {
      if (name in unavailable) continue;
      gc?.();
      const t0 = performance.now();
      try {
        await fn();
      } catch (e) {
        unavailable[name] = `threw ${describe(e)}`;
        continue;
      }
      if (i >= 0) (samples[name] ??= []).push(performance.now() - t0);
    }
  }
  process.stderr.write(' done\n');
  const stats: Record<string, Stats> = {};
  const figures: Record<string, number | null> = {};
  for (const [name] of live) {
    const xs = samples[name];
    if (name in unavailable || !xs) continue;
    const sorted = [...xs].sort((a, b) => a - b);
    const mean = xs.reduce((a, b) => a + b, 0) / xs.length;
    const sd = xs.length > 1 ? Math.sqrt(xs.reduce((a, b) => a + (b - mean) ** 2, 0) / (xs.length - 1)) : 0;
    stats[name] = {
      meanMs: mean,
      p50Ms: sorted[sorted.length >> 1],
      minMs: sorted[0],
      rme: xs.length > 1 ? ((t95(xs.length - 1) * sd) / Math.sqrt(xs.length) / mean) * 100 : 0,
      samples: xs.length,
    };
    figures[name] = figure(spec, mean);
  }
  return result(spec, check, figures, stats, unavailable);
}

const fmtFigure = (v: number | null) =>
  v === null ? 'n/a' : v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v.toFixed(2);
const fmtRatio = (r: number | null) => (r === null ? 'n/a' : `${r.toFixed(2)}x`);
const fmtRme = (s: Stats | undefined) => (s ? `±${s.rme.toFixed(1)}%` : '');

/** The table a suite prints: one row per anchor, ours beside it, and their ratio. */
export function formatTable(result: SuiteResult): string {
  const rows: string[][] = [['case', 'unit', 'ours', '', 'anchor', 'figure', '', 'ours vs anchor']];
  for (const c of result.cases) {
    const names = Object.keys(c.anchors);
    if (names.length === 0) rows.push([c.name, `${c.unit}${c.better === 'lower' ? ' (lower=better)' : ''}`, fmtFigure(c.ours), fmtRme(c.stats[OURS]), '-', '', '', '']);
    names.forEach((a, i) => {
      rows.push([
        i === 0 ? c.name : '',
        i === 0 ? `${c.unit}${c.better === 'lower' ? ' (lower=better)' : ''}` : '',
        i === 0 ? fmtFigure(c.ours) : '',
        i === 0 ? fmtRme(c.stats[OURS]) : '',
        a,
        fmtFigure(c.anchors[a]),
        fmtRme(c.stats[a]),
        fmtRatio(c.ratios[a]),
      ]);
    });
  }
  const width = rows[0].map((_, j) => Math.max(...rows.map((r) => r[j].length)));
  const right = new Set([2, 3, 5, 6, 7]);
  const line = (r: string[]) =>
    r.map((s, j) => (right.has(j) ? s.padStart(width[j]) : s.padEnd(width[j]))).join('  ').trimEnd();
  const out = [
    `suite ${result.suite}: node ${result.node}, ${result.cpu} (${result.machine.cores} cores), ${result.date}`,
    line(rows[0]),
    line(width.map((w) => '-'.repeat(w))),
    ...rows.slice(1).map(line),
  ];
  const foot: string[] = [];
  for (const c of result.cases) {
    if (c.check !== 'ok' && c.check !== 'skipped') foot.push(`! ${c.name}: check ${c.check}`);
    for (const [n, why] of Object.entries(c.unavailable ?? {})) foot.push(`- ${c.name} / ${n}: n/a, ${why}`);
    if (c.notes) foot.push(`* ${c.name}: ${c.notes}`);
  }
  out.push('ratios above 1 mean ours is better; ± is the 95% margin of error of the mean time');
  const checked = result.cases.filter((c) => c.check === 'ok').map((c) => c.name);
  if (checked.length) out.push(`outputs agree with the anchors' before timing: ${checked.join(', ')}`);
  return [...out, ...foot].join('\n');
}

/**
 * Runs a suite's cases one after another, prints its table and writes
 * bench/results/<suite>.json. Sets a non-zero exit code when a check fails.
 */
export async function runSuite(suite: string, cases: CaseFactory[], extra: Record<string, unknown> = {}): Promise<SuiteResult> {
  const result: SuiteResult = {
    suite,
    node: process.version,
    cpu: os.cpus()[0]?.model ?? 'unknown',
    date: new Date().toISOString(),
    machine: {
      platform: process.platform,
      arch: process.arch,
      cores: os.availableParallelism(),
      memoryGiB: Math.round(os.totalmem() / 2 ** 30),
      v8: process.versions.v8,
    },
    settings: { timeMs: TIME_MS, warmupMs: WARMUP_MS, minIterations: MIN_ITERATIONS },
    ...extra,
    cases: [],
  };
  process.stderr.write(`suite ${suite}${gc ? '' : ' (run with --expose-gc for a GC between tasks)'}\n`);
  for (const factory of cases) result.cases.push(await runCase(factory));
  const dir = new URL('./results/', import.meta.url);
  mkdirSync(dir, { recursive: true });
  const file = new URL(`${suite}.json`, dir);
  writeFileSync(file, JSON.stringify(result, null, 2) + '\n');
  console.log(formatTable(result));
  console.log(`wrote ${file.pathname}`);
  if (result.cases.some((c) => c.check !== 'ok' && c.check !== 'skipped')) process.exitCode = 1;
  return result;
}
