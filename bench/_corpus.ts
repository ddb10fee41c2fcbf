/**
 * A synthetic training-corpus manifest for the statistics benchmark: JSONL rows
 * such as
 *
 *   {"user":"u123","domain":"news-17.example","tokens":834,"ts":"2026-03-01T12:34:56Z","lang":"en","text":"..."}
 *
 * with the skew of real web corpora: domains Zipf-distributed (a few sites
 * contribute most documents, as in the WebText and C4 composition tables),
 * per-user activity heavy-tailed (Zipf over users, each user writing mostly
 * to a few home domains), token counts log-normal. Deterministic from the
 * seed (ChaCha20 via seededRng).
 *
 * `flood` is the correctness case of the benchmark: one unit writes `rows`
 * rows to a group that no other unit touches, so DP partition selection must
 * never release that group.
 *
 *   npm exec -- node bench/_corpus.ts out.jsonl 1GB [--units N] [--groups N] [--seed N] [--flood unit:group:rows]
 */
import { createWriteStream } from 'node:fs';
import { once } from 'node:events';
import { pathToFileURL } from 'node:url';
import { ainteger, aoptions, astring } from '../src/core/assert.ts';
import { ConfideError } from '../src/core/errors.ts';
import { seededRng, type Rng } from '../src/core/random.ts';

export interface CorpusOptions {
  /** Distinct users (privacy units), default 100,000. */
  units?: number;
  /** Distinct domains (groups), default 2,000. */
  groups?: number;
  seed?: number;
  flood?: { unit: string; group: string; rows: number };
}

const CATEGORIES = ['news', 'blog', 'forum', 'shop', 'wiki', 'docs', 'code', 'social'];
const LANGS: readonly [string, number][] = [
  ['en', 0.62], ['de', 0.07], ['fr', 0.06], ['es', 0.06], ['ja', 0.05], ['zh', 0.05], ['ru', 0.04], ['pt', 0.03], ['it', 0.02],
];
const TS0 = Date.UTC(2026, 2, 1); // 2026-03-01
const TS_SPAN_S = 31 * 24 * 3600;
/** Rows are written in chunks of about this many UTF-16 units. */
const CHUNK_CHARS = 1 << 20;

export function domainName(k: number): string {
  return `${CATEGORIES[k % CATEGORIES.length]}-${k}.example`;
}

/** Cumulative weights of Zipf(s) over n ranks, for inverse-CDF draws by binary search. */
function zipfCdf(n: number, s: number): Float64Array {
  const c = new Float64Array(n);
  let t = 0;
  for (let k = 0; k < n; k++) c[k] = t += 1 / (k + 1) ** s;
  for (let k = 0; k < n; k++) c[k] /= t;
  return c;
}

function search(cdf: Float64Array, u: number): number {
  let lo = 0, hi = cdf.length - 1;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (cdf[mid] < u) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** A uniform double in (0, 1) from 32 random bits (ample for a benchmark's shape). */
function unit(rng: Rng): number {
  return (rng.nextU32() + 0.5) / 4294967296;
}

/** A fixed integer hash (the murmur3 finalizer), for per-user properties that must not use up draws. */
function mix(x: number): number {
  x = Math.imul(x ^ (x >>> 16), 0x85ebca6b);
  x = Math.imul(x ^ (x >>> 13), 0xc2b2ae35);
  return (x ^ (x >>> 16)) >>> 0;
}

/** A vocabulary of pseudo-words from syllables, with a few non-ASCII words so the reader's UTF-8 path is exercised. */
function vocabulary(rng: Rng): string[] {
  const syl = ['ka', 'lo', 'mi', 'ren', 'to', 'sa', 'vel', 'dor', 'an', 'ti', 'qu', 'es', 'ba', 'nor', 'pe', 'lu', 'xi', 'om'];
  const words = ['the', 'of', 'and', 'to', 'in', 'a', 'is', 'that', 'for', 'it', 'café', 'naïve', 'Zürich', '東京', 'данные', 'λόγος', 'straße', '😀'];
  while (words.length < 4000) {
    let w = '';
    for (let n = 1 + rng.uniformInt(4); n > 0; n--) w += syl[rng.uniformInt(syl.length)];
    words.push(w);
  }
  return words;
}

function parseSize(s: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*(B|KB|MB|GB|KiB|MiB|GiB)?$/i.exec(s.trim());
  if (!m) throw new ConfideError('E_BAD_INPUT', `"size" expected e.g. 100MB or 1GB, got ${JSON.stringify(s)}`, { field: 'size' });
  const unitName = (m[2] ?? 'B').toLowerCase();
  const mult: Record<string, number> = { b: 1, kb: 1e3, mb: 1e6, gb: 1e9, kib: 1024, mib: 1024 ** 2, gib: 1024 ** 3 };
  return Math.round(Number(m[1]) * mult[unitName]);
}

/**
 * Writes rows to `path` until at least `targetBytes` bytes are written (the
 * last row may overshoot by one row). With `flood`, exactly `flood.rows` of
 * the rows are the flooding unit's, spread through the file.
 */
export async function generateCorpus(path: string, targetBytes: number, options: CorpusOptions = {}): Promise<{ rows: number; bytes: number }> {
  astring(path, 'path');
  ainteger(targetBytes, 'targetBytes', 1);
  aoptions(options, 'options', ['units', 'groups', 'seed', 'flood']);
  const units = ainteger(options.units ?? 100_000, 'units', 1, 1e9);
  const groups = ainteger(options.groups ?? 2_000, 'groups', 1, 1e7);
  const rng = seededRng(ainteger(options.seed ?? 1, 'seed'));
  const flood = options.flood;
  if (flood !== undefined) {
    aoptions(flood, 'flood', ['unit', 'group', 'rows']);
    astring(flood.unit, 'flood.unit');
    astring(flood.group, 'flood.group');
    ainteger(flood.rows, 'flood.rows', 1);
    const m = /^[a-z]+-(\d+)\.example$/.exec(flood.group);
    if (m && Number(m[1]) < groups && domainName(Number(m[1])) === flood.group)
      throw new ConfideError('E_BAD_INPUT', `"flood.group" ${flood.group} is one of the generated domains; a flood group must be private to its unit`, { field: 'flood.group' });
  }
  const domainCdf = zipfCdf(groups, 1.1);
  const userCdf = zipfCdf(units, 1.0);
  const langCdf = new Float64Array(LANGS.length);
  LANGS.reduce((t, [, p], i) => (langCdf[i] = t + p), 0);
  for (let i = 0; i < langCdf.length; i++) langCdf[i] /= langCdf[langCdf.length - 1];
  const words = vocabulary(rng);
  // Words by a 2^16-entry inverse-CDF table (two draws per random word): the text is most of the
  // generator's work, and a table lookup is several times faster than a binary search.
  const wordCdf = zipfCdf(words.length, 1.0);
  const wordTable: string[] = [];
  for (let i = 0; i < 65536; i++) wordTable.push(words[search(wordCdf, (i + 0.5) / 65536)]);
  // Per-user home domains: where a user writes 80% of the time (the rest anywhere, by popularity).
  const home = (user: number, j: number) => search(domainCdf, (mix(user * 4 + j + 1) + 0.5) / 4294967296);

  const floodRow = flood === undefined ? '' : `{"user":${JSON.stringify(flood.unit)},"domain":${JSON.stringify(flood.group)},"tokens":`;
  // Flood rows are placed with probability rows / (expected total rows); any left over go at the end.
  const expectedRows = Math.max(1, targetBytes / 330);
  const floodP = flood === undefined ? 0 : Math.min(1, flood.rows / expectedRows);
  let floodLeft = flood?.rows ?? 0;

  const out = createWriteStream(path, { highWaterMark: 4 << 20 });
  const failed = once(out, 'error').then(([e]) => {
    throw new ConfideError('E_IO', `cannot write ${path}: ${(e as Error).message}`, { field: 'path', cause: e });
  });
  failed.catch(() => {});
  let rows = 0, bytes = 0;
  // Rows collect in an array joined once per chunk: appending to one growing string builds a rope
  // that V8 flattens on write, which cost more than generating the rows.
  let parts: string[] = [];
  let pending = 0;
  const flush = async () => {
    const chunk = Buffer.from(parts.join(''));
    bytes += chunk.length;
    parts = [];
    pending = 0;
    if (!out.write(chunk)) await Promise.race([once(out, 'drain'), failed]);
  };
  const add = (row: string) => {
    parts.push(row);
    pending += row.length;
  };
  const tokensText = (tokens: number) => {
    const n = Math.min(60, 3 + (tokens >> 5));
    let text = wordTable[rng.nextU32() & 0xffff];
    for (let w = 1; w < n; w += 2) {
      const r = rng.nextU32();
      text += ' ' + wordTable[r & 0xffff];
      if (w + 1 < n) text += ' ' + wordTable[r >>> 16];
    }
    return text;
  };
  const tail = (tokens: number) => {
    const ts = new Date(TS0 + 1000 * Math.floor(unit(rng) * TS_SPAN_S)).toISOString();
    const lang = LANGS[search(langCdf, unit(rng))][0];
    return `${tokens},"ts":"${ts.slice(0, 19)}Z","lang":"${lang}","text":"${tokensText(tokens)}"}\n`;
  };
  while (bytes + pending < targetBytes || floodLeft > 0) {
    const done = bytes + pending >= targetBytes;
    if (floodLeft > 0 && (done || unit(rng) < floodP)) {
      add(floodRow + tail(1 + rng.uniformInt(2000)));
      floodLeft--;
    } else if (!done) {
      const user = search(userCdf, unit(rng));
      const r = unit(rng);
      const domain = r < 0.8 ? home(user, Math.floor(r * 3.75)) : search(domainCdf, unit(rng));
      // Log-normal tokens (median 600, σ = 1) by Box-Muller.
      const z = Math.sqrt(-2 * Math.log(unit(rng))) * Math.cos(2 * Math.PI * unit(rng));
      const tokens = Math.max(1, Math.min(200_000, Math.round(600 * Math.exp(z))));
      add(`{"user":"u${user}","domain":"${domainName(domain)}","tokens":` + tail(tokens));
    }
    rows++;
    if (pending >= CHUNK_CHARS) await flush();
  }
  if (pending !== 0) await flush();
  out.end();
  await Promise.race([once(out, 'finish'), failed]);
  return { rows, bytes };
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const [path, size, ...rest] = process.argv.slice(2);
  if (!path || !size) {
    console.error('usage: node bench/_corpus.ts OUT.jsonl SIZE (e.g. 1GB) [--units N] [--groups N] [--seed N] [--flood unit:group:rows]');
    process.exit(2);
  }
  const options: CorpusOptions = {};
  for (let i = 0; i < rest.length; i += 2) {
    const [flag, value] = [rest[i], rest[i + 1]];
    if (flag === '--units') options.units = Number(value);
    else if (flag === '--groups') options.groups = Number(value);
    else if (flag === '--seed') options.seed = Number(value);
    else if (flag === '--flood') {
      const [unitName, group, n] = (value ?? '').split(':');
      options.flood = { unit: unitName, group, rows: Number(n) };
    } else {
      console.error(`unknown flag ${flag}`);
      process.exit(2);
    }
  }
  const t0 = performance.now();
  const r = await generateCorpus(path, parseSize(size), options);
  const s = (performance.now() - t0) / 1000;
  console.log(`${path}: ${r.rows} rows, ${r.bytes} bytes in ${s.toFixed(1)} s (${(r.bytes / 1e6 / s).toFixed(0)} MB/s)`);
}
