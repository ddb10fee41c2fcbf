#!/usr/bin/env node
/**
 * The `confide` command. `confide run` is the main job on embedded defaults;
 * later modules add their own sub-commands (budget, stats, fl, ...).
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
import { runMailbox, type MailboxReport } from './_mailbox.ts';

function readFile(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (e) {
    throw new ConfideError('E_IO', `cannot read ${path}: ${(e as Error).message}`, { field: 'event', cause: e });
  }
}

const USAGE = () => `confide: privacy-preserving computation

usage:
  confide run [--corpus DIR] [--epsilon E] [--delta D] [--ledger L.db --dataset D] [--frac-bits N] [--bound X] [--json]
      Joint mailbox statistics across parties (one sub-directory of DIR per
      party; default: the SpamAssassin corpus, 5 mailboxes). Each party's
      vector is fixed-point encoded and blinded with pairwise ChaCha20 masks;
      only the sum is revealed, and it is released with differential
      privacy (default ε = 1, δ = 1e-6 per message).
  confide accountant --event JSON|@FILE|- (--delta D | --epsilon E)
                     [--method pld|rdp|zcdp|basic] [--discretization X] [--json]
      The privacy cost of an event (see the event grammar in the README):
      epsilon at a delta, or delta at an epsilon. --json prints {"epsilon": ...}
      or {"delta": ...}. PLD by default.
  confide info [--json]      kernel backend and platform
  ${BUDGET_USAGE.replace(/\n/g, '\n  ')}
  ${AUDIT_USAGE}
  confide help | --help
  confide version | --version
`;

function bar(x: number, max: number, width = 30): string {
  return '█'.repeat(max > 0 ? Math.round((x / max) * width) : 0);
}

function printMailbox(r: MailboxReport): void {
  const out: string[] = [];
  const total = r.parties.reduce((s, p) => s + p.messages, 0);
  out.push(`confide run: joint mailbox statistics over ${r.parties.length} parties, ${total} messages`);
  out.push(`corpus ${r.corpus}`);
  for (const p of r.parties) out.push(`  party ${p.name.padEnd(12)} ${String(p.messages).padStart(6)} messages, ${p.clipped} values clipped`);
  if (r.unreadable.length) {
    out.push(`  ${r.unreadable.length} files unreadable:`);
    for (const u of r.unreadable.slice(0, 10)) out.push(`    ${u.file}: ${u.reason}`);
  }
  const get = (f: string) => r.release.values[f];
  const section = (title: string, prefix: string) => {
    const rows = r.schema.filter((f) => f.startsWith(prefix));
    const max = Math.max(...rows.map(get));
    out.push('', `${title}  (each ± ${r.release.margin95[rows[0]].toFixed(0)} at 95%)`);
    for (const f of rows) out.push(`  ${f.slice(prefix.length).padEnd(8)} ${get(f).toFixed(0).padStart(6)} ${bar(Math.max(0, get(f)), max)}`);
  };
  section('hour sent (UTC)', 'hour:');
  section('weekday', 'weekday:');
  section('body size (bytes)', 'body:');
  section('sender top-level domain', 'tld:');
  const msgs = get('messages');
  out.push('', `html ${get('html').toFixed(0)}, multipart ${get('multipart').toFixed(0)}, undated ${get('undated').toFixed(0)}, ` +
    `geometric-mean body ${(2 ** (get('log2-body-sum') / msgs) - 1).toFixed(0)} bytes`);
  out.push('', `aggregation: Z_2^${r.ring}, scale 2^${r.fracBits}, bound ±${r.bound}, kernels ${r.kernel}, ${r.millis.toFixed(0)} ms`);
  out.push(`check: aggregate = sum of clipped inputs within ${r.maxErrorQuanta.toFixed(2)} quanta (stochastic rounding, < ${r.parties.length} allowed); ` +
    `masked coordinates equal to the party's own: ${(r.unmaskedFraction * 100).toFixed(2)}%`);
  const g = r.release.guarantee;
  out.push(
    `released with differential privacy: ${g.kind === 'approx' ? `(ε = ${g.epsilon}, δ = ${g.delta})` : JSON.stringify(g)} per message; ` +
      `counts by the discrete Gaussian (σ = ${r.release.noise[0].scale.toFixed(2)}), ` +
      `log-size sum by the Laplace mechanism on a 2^k grid; the exact aggregate is never printed.`,
  );
  out.push(
    `ledger: spend #${r.receipt.id} on ${r.receipt.dataset} recorded before the noise was drawn; ` +
      `${r.receipt.unit} spent ${r.receipt.spent.toPrecision(4)} of ${r.receipt.budget}, hash ${r.receipt.hash.slice(0, 16)}…`,
  );
  out.push('not yet: key agreement and dropout recovery (secagg module).');
  process.stdout.write(`${out.join('\n')}\n`);
}


function main(argv: string[]): number {
  const [cmd = 'help', ...rest] = argv;
  switch (cmd) {
    case 'run': {
      const { values } = parseArgs({
        args: rest,
        options: {
          corpus: { type: 'string' },
          'frac-bits': { type: 'string' },
          bound: { type: 'string' },
          epsilon: { type: 'string' },
          delta: { type: 'string' },
          ledger: { type: 'string' },
          dataset: { type: 'string' },
          json: { type: 'boolean', default: false },
        },
        strict: true,
      });
      const report = runMailbox({
        ledger: values.ledger,
        dataset: values.dataset,
        corpus: values.corpus,
        fracBits: numberFlag(values['frac-bits'], 'frac-bits'),
        bound: numberFlag(values.bound, 'bound'),
        epsilon: numberFlag(values.epsilon, 'epsilon'),
        delta: numberFlag(values.delta, 'delta'),
      });
      const { exact: _exact, ...published } = report;
      if (values.json) process.stdout.write(`${JSON.stringify(published, null, 2)}\n`);
      else printMailbox(report);
      return report.maxErrorQuanta < report.parties.length && report.unmaskedFraction < 0.01 ? 0 : 1;
    }
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
  process.exitCode = main(process.argv.slice(2));
} catch (e) {
  if (isConfideError(e)) {
    process.stderr.write(`confide: ${e.code}: ${e.message}\n`);
    process.exitCode = 2;
  } else if (e instanceof TypeError && (e as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) {
    process.stderr.write(`confide: ${e.message}\n\n${USAGE()}`);
    process.exitCode = 2;
  } else throw e;
}
