#!/usr/bin/env node
/**
 * The `confide` command. `confide run` is the main job on embedded defaults;
 * each module adds its own sub-commands (stats, budget, audit, he, secagg, mpc, fl).
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { parseArgs } from 'node:util';
import { ConfideError, isConfideError } from '../core/errors.ts';
import { numberFlag } from './_flags.ts';
import { kernelInfo } from '../core/wasm/loader.ts';
import { deltaFor, describeEvent, epsilonFor, parseEvent, type AccountingMethod } from '../dp/index.ts';
import { AUDIT_USAGE, auditCommand } from './_audit.ts';
import { BUDGET_USAGE, budgetCommand } from './_budget.ts';
import { runCorpusReport, type CorpusReport } from './_corpus_report.ts';
import { STATS_USAGE, statsCommand, statsJson, statsTable } from './_stats.ts';
import { HE_USAGE, heCommand } from './_he.ts';
import { SECAGG_USAGE, secaggCommand } from './_secagg.ts';
import { MPC_USAGE, mpcCommand } from './_mpc.ts';
import { FL_USAGE, flCommand } from './_fl.ts';
import type { RoundMetrics } from '../fl/index.ts';
import type { FederatedDemo } from './_fl_demo.ts';

function readFile(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (e) {
    throw new ConfideError('E_IO', `cannot read ${path}: ${(e as Error).message}`, { field: 'event', cause: e });
  }
}

const USAGE = () => `confide: privacy-preserving computation

usage:
  confide run [--corpus DIR] [--out DIR] [--epsilon E] [--delta D] [--ledger L.db --dataset D] [--no-fl] [--json]
      The main job: a DP composition report of a mailbox archive (default:
      the SpamAssassin corpus) with the sender address as privacy unit:
      sender domains (selected privately), hour of day, message length.
      Each of the three releases spends ε (default 1) from the ledger
      (default out/ledger.db, budget ε = 30, δ = 1e-5 when new) before it is
      drawn; the HTML report goes to out/report.html. Then, on the default
      corpus (unless --no-fl), a short federated spam-filter training: 4
      client processes (\`confide fl join\`), 3 rounds, secure aggregation
      with distributed DP noise, spent on ledger dataset
      spamassassin/fl-clients (budget ε = 8, δ = 1e-5 when new; the unit is
      a client) and drawn in the same report.
  ${STATS_USAGE.replace(/\n/g, '\n  ')}
  confide accountant --event JSON|@FILE|- (--delta D | --epsilon E)
                     [--method pld|rdp|zcdp|basic] [--discretization X] [--json]
      The privacy cost of an event (see the event grammar in the README):
      epsilon at a delta, or delta at an epsilon. --json prints {"epsilon": ...}
      or {"delta": ...}. PLD by default.
  confide info [--json]      kernel backend and platform
  ${BUDGET_USAGE.replace(/\n/g, '\n  ')}
  ${AUDIT_USAGE}
  ${HE_USAGE}
  ${SECAGG_USAGE.replace(/\n/g, '\n  ')}
  ${MPC_USAGE.replace(/\n/g, '\n  ')}
  ${FL_USAGE.replace(/\n/g, '\n  ')}
  confide help | --help
  confide version | --version
`;

function printCorpusReport(r: CorpusReport): void {
  const out: string[] = [`confide run: DP composition report of ${r.corpus}`, ''];
  for (const s of r.sections) out.push(`== ${s.title}`, statsTable(s.release));
  if (r.federatedSkipped) out.push(`== Federated spam filter: not run: ${r.federatedSkipped}`, '');
  const f = r.federated;
  if (f)
    out.push(
      `== Federated spam filter: ${f.clients} client processes, secure aggregation, distributed DP (z = ${f.noiseMultiplier}, C = ${f.clipNorm})`,
      ...(f.rounds.length > 0 ? [`${f.rounds.length} rounds; held-out accuracy ${(f.accuracy * 100).toFixed(1)}% (centralised without DP: ${(f.centralised * 100).toFixed(1)}%)`] : []),
      ...(f.stopped ? [`stopped: ${f.stopped}`] : []),
      `ledger dataset ${f.dataset}: ε ${f.spent.toFixed(2)} of ${f.budget.epsilon} at δ ${f.budget.delta}`,
      '',
    );
  out.push(`report: ${r.reportPath}`, `ledger: ${r.ledgerPath} (see \`confide budget status --ledger ${r.ledgerPath}\`)`);
  process.stdout.write(`${out.join('\n')}\n`);
}

/** The federated part of `confide run --json`: what was released and spent (the shard sizes are the data owners', as in the report). */
function federatedJson(f: FederatedDemo): object {
  return {
    dataset: f.dataset,
    clients: f.clients,
    noiseMultiplier: f.noiseMultiplier,
    clipNorm: f.clipNorm,
    rounds: f.rounds.map((m) => ({ round: m.round, aggregated: m.aggregated, accuracy: m.evaluation?.accuracy, epsilon: m.privacy?.spent })),
    accuracy: f.accuracy,
    centralised: f.centralised,
    spent: f.spent,
    budget: f.budget,
    ...(f.stopped ? { stopped: f.stopped } : {}),
  };
}

async function main(argv: string[]): Promise<number> {
  const [cmd = 'help', ...rest] = argv;
  switch (cmd) {
    case 'run': {
      const { values } = parseArgs({
        args: rest,
        options: {
          corpus: { type: 'string' },
          out: { type: 'string' },
          epsilon: { type: 'string' },
          delta: { type: 'string' },
          ledger: { type: 'string' },
          dataset: { type: 'string' },
          'no-fl': { type: 'boolean', default: false },
          json: { type: 'boolean', default: false },
        },
        strict: true,
      });
      const report = await runCorpusReport({
        // The federated part's clients run this same CLI: `<this script> fl join ...`.
        ...(values['no-fl'] ? {} : { federated: { cli: process.argv[1], onRound: (m: RoundMetrics) => process.stderr.write(`confide run: federated round ${m.round}: ${m.aggregated} clients${m.evaluation ? `, accuracy ${(m.evaluation.accuracy * 100).toFixed(1)}%` : ''}${m.privacy ? `, ε ${m.privacy.spent.toFixed(2)}` : ''}, ${m.seconds.toFixed(1)} s\n`) } }),
        ...(values.corpus !== undefined ? { corpus: values.corpus } : {}),
        ...(values.out !== undefined ? { out: values.out } : {}),
        ...(values.ledger !== undefined ? { ledger: values.ledger } : {}),
        ...(values.dataset !== undefined ? { dataset: values.dataset } : {}),
        ...(values.epsilon !== undefined ? { epsilon: numberFlag(values.epsilon, 'epsilon') } : {}),
        ...(values.delta !== undefined ? { delta: numberFlag(values.delta, 'delta') } : {}),
      });
      if (values.json)
        process.stdout.write(
          `${JSON.stringify(
            {
              corpus: report.corpus,
              report: report.reportPath,
              ledger: report.ledgerPath,
              sections: report.sections.map((s) => ({ title: s.title, ...statsJson(s.release) })),
              ...(report.federated ? { federated: federatedJson(report.federated) } : {}),
              ...(report.federatedSkipped ? { federatedSkipped: report.federatedSkipped } : {}),
            },
            null,
            2,
          )}\n`,
        );
      else printCorpusReport(report);
      return 0;
    }
    case 'stats':
      return statsCommand(rest);
    case 'he':
      return heCommand(rest);
    case 'secagg':
      return secaggCommand(rest);
    case 'mpc':
      return mpcCommand(rest);
    case 'fl':
      return flCommand(rest);
    case 'budget':
      return budgetCommand(rest);
    case 'audit':
      return auditCommand(rest);
    case 'accountant': {
      const { values } = parseArgs({
        args: rest,
        options: {
          event: { type: 'string' },
          delta: { type: 'string' },
          epsilon: { type: 'string' },
          method: { type: 'string', default: 'pld' },
          discretization: { type: 'string' },
          json: { type: 'boolean', default: false },
        },
        strict: true,
      });
      if (values.event === undefined)
        throw new ConfideError('E_BAD_INPUT', '"--event" is required: event JSON, @file, or - for standard input', { field: 'event' });
      const text =
        values.event === '-' ? readFileSync(0, 'utf8') : values.event.startsWith('@') ? readFile(values.event.slice(1)) : values.event;
      const event = parseEvent(text);
      const delta = numberFlag(values.delta, 'delta'), epsilon = numberFlag(values.epsilon, 'epsilon');
      if ((delta === undefined) === (epsilon === undefined))
        throw new ConfideError('E_BAD_INPUT', 'give exactly one of --delta (to get epsilon) or --epsilon (to get delta)', { field: 'delta' });
      const options = { method: values.method as AccountingMethod, discretization: numberFlag(values.discretization, 'discretization') };
      if (delta !== undefined) {
        const eps = epsilonFor(event, delta, options);
        process.stdout.write(values.json ? `${JSON.stringify({ epsilon: eps })}\n` : `epsilon = ${eps} at delta = ${delta} (${options.method}): ${describeEvent(event)}\n`);
      } else {
        const d = deltaFor(event, epsilon!, options);
        process.stdout.write(values.json ? `${JSON.stringify({ delta: d })}\n` : `delta = ${d} at epsilon = ${epsilon} (${options.method}): ${describeEvent(event)}\n`);
      }
      return 0;
    }
    case 'info': {
      const info = { confide: version(), node: process.version, platform: `${process.platform}-${process.arch}`, kernels: kernelInfo() };
      process.stdout.write(rest.includes('--json') ? `${JSON.stringify(info, null, 2)}\n` : `${Object.entries(info).map(([k, v]) => `${k}: ${typeof v === 'object' ? JSON.stringify(v) : v}`).join('\n')}\n`);
      return 0;
    }
    case 'version':
    case '--version':
      process.stdout.write(`${version()}\n`);
      return 0;
    case 'help':
    case '--help':
    case '-h':
      process.stdout.write(USAGE());
      return 0;
    default:
      process.stderr.write(`confide: unknown command ${JSON.stringify(cmd)}\n\n${USAGE()}`);
      return 2;
  }
}

function version(): string {
  // src/cli/main.ts and dist/cli/main.js both sit two levels below package.json.
  const pkg = createRequire(import.meta.url)('../../package.json') as { version: string };
  return pkg.version;
}

try {
  process.exitCode = await main(process.argv.slice(2));
} catch (e) {
  if (isConfideError(e)) {
    process.stderr.write(`confide: ${e.code}: ${e.message}\n`);
    process.exitCode = 2;
  } else if (e instanceof TypeError && (e as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) {
    process.stderr.write(`confide: ${e.message}\n\n${USAGE()}`);
    process.exitCode = 2;
  } else throw e;
}
