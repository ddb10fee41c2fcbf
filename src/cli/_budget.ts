/**
 * `confide budget`: the privacy officer's view of a ledger. Every sub-command
 * takes `--ledger path.db` (default ./confide-ledger.db), prints for people by
 * default and JSON with `--json`.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { ConfideError } from '../core/errors.ts';
import { numberFlag } from './_flags.ts';
import {
  ACCOUNTING_METHODS,
  PrivacyLedger,
  epsilonFor,
  parseEvent,
  zcdpRho,
  type AccountingMethod,
  type Budget,
  type LedgerRecord,
  type PrivacyEvent,
} from '../dp/index.ts';

export const BUDGET_USAGE = `confide budget <command> [--ledger path.db] [--json]
  init                                   create the ledger file
  set     --dataset D (--epsilon E --delta D | --rho R) [--method pld|rdp|zcdp|basic] --principal P [--purpose T]
  spend   --dataset D --event JSON|@FILE|- --principal P --purpose T --query Q [--output-hash H]
  status  [--dataset D]                  spent and remaining per dataset (the odometer)
  history [--dataset D]                  every record of the chain
  verify                                 check the hash chain; exit 1 and name the records on tampering
  report  --html out.html                per dataset: remaining budget, ε spent over time, releases`;

const OPTIONS = {
  ledger: { type: 'string', default: './confide-ledger.db' },
  json: { type: 'boolean', default: false },
  dataset: { type: 'string' },
  epsilon: { type: 'string' },
  delta: { type: 'string' },
  rho: { type: 'string' },
  method: { type: 'string' },
  principal: { type: 'string' },
  purpose: { type: 'string' },
  query: { type: 'string' },
  event: { type: 'string' },
  'output-hash': { type: 'string' },
  html: { type: 'string' },
} as const;

function required(v: string | undefined, flag: string): string {
  if (v === undefined || v === '')
    throw new ConfideError('E_BAD_INPUT', `"--${flag}" is required`, { field: flag });
  return v;
}


function readEvent(spec: string): PrivacyEvent {
  if (spec === '-') return parseEvent(readFileSync(0, 'utf8'));
  if (spec.startsWith('@')) {
    try {
      return parseEvent(readFileSync(spec.slice(1), 'utf8'));
    } catch (e) {
      if (e instanceof ConfideError) throw e;
      throw new ConfideError('E_IO', `cannot read ${spec.slice(1)}: ${(e as Error).message}`, { field: 'event', cause: e });
    }
  }
  return parseEvent(spec);
}

const out = (s: string) => process.stdout.write(s.endsWith('\n') ? s : `${s}\n`);

export function budgetCommand(argv: string[]): number {
  const [sub, ...rest] = argv;
  const { values: v } = parseArgs({ args: rest, options: OPTIONS, strict: true });
  if (sub === undefined || sub === 'help' || sub === '--help') {
    out(BUDGET_USAGE);
    return 0;
  }
  const known = ['init', 'set', 'spend', 'status', 'history', 'verify', 'report'];
  if (!known.includes(sub))
    throw new ConfideError('E_BAD_INPUT', `unknown budget command ${JSON.stringify(sub)}; one of ${known.join(', ')}`, { field: 'command' });
  using ledger = PrivacyLedger.open(v.ledger, { create: sub === 'init' || sub === 'set' });
  switch (sub) {
    case 'init':
      out(v.json ? JSON.stringify({ ledger: v.ledger, records: ledger.history().length }) : `ledger ready at ${v.ledger}`);
      return 0;
    case 'set': {
      const epsilon = numberFlag(v.epsilon, 'epsilon'), delta = numberFlag(v.delta, 'delta'), rho = numberFlag(v.rho, 'rho');
      let budget: Budget;
      if (rho !== undefined && epsilon === undefined && delta === undefined) budget = { rho };
      else if (rho === undefined && epsilon !== undefined && delta !== undefined) budget = { epsilon, delta };
      else throw new ConfideError('E_BAD_INPUT', 'give --epsilon and --delta, or --rho', { field: 'epsilon' });
      const method = v.method === undefined ? undefined : (v.method as AccountingMethod);
      if (method !== undefined && !ACCOUNTING_METHODS.includes(method))
        throw new ConfideError('E_BAD_INPUT', `"--method" expected one of ${ACCOUNTING_METHODS.join(', ')}`, { field: 'method' });
      const b = ledger.setBudget(required(v.dataset, 'dataset'), budget, {
        method: method ?? (rho !== undefined ? 'zcdp' : undefined),
        principal: required(v.principal, 'principal'),
        purpose: v.purpose,
      });
      out(v.json ? JSON.stringify(b) : `budget of ${b.dataset}: ${b.unit === 'rho' ? `ρ = ${b.rho}` : `ε = ${b.epsilon}, δ = ${b.delta}`} (${b.method})`);
      return 0;
    }
    case 'spend': {
      const receipt = ledger.spend({
        dataset: required(v.dataset, 'dataset'),
        event: readEvent(required(v.event, 'event')),
        principal: required(v.principal, 'principal'),
        purpose: required(v.purpose, 'purpose'),
        query: required(v.query, 'query'),
        outputHash: v['output-hash'],
      });
      out(v.json ? JSON.stringify(receipt) : `spend #${receipt.id} on ${receipt.dataset}: ${receipt.unit} spent ${fmt(receipt.spent)} of ${receipt.budget}, ${fmt(receipt.remaining)} left`);
      return 0;
    }
    case 'status': {
      const names = v.dataset !== undefined ? [v.dataset] : ledger.datasets().map((d) => d.dataset);
      const rows = names.map((d) => ledger.odometer(d));
      if (v.json) out(JSON.stringify(rows));
      else if (rows.length === 0) out('no datasets');
      else for (const r of rows) out(`${r.dataset}: ${r.unit} spent ${fmt(r.spent)} of ${r.budget}${r.delta !== undefined ? ` (δ = ${r.delta})` : ''}, ${fmt(r.remaining)} left, ${r.releases} releases, ${r.method}`);
      return 0;
    }
    case 'history': {
      const records = ledger.history(v.dataset);
      if (v.json) out(JSON.stringify(records));
      else for (const r of records) out(`#${r.id} ${r.time} ${r.dataset} ${r.kind} by ${r.principal}: ${r.kind === 'spend' ? `${r.query} (${r.purpose})` : JSON.stringify(r.budget)}`);
      return 0;
    }
    case 'verify': {
      const result = ledger.verify();
      if (v.json) out(JSON.stringify(result));
      else if (result.ok) out(`ledger intact: ${result.records} records, head ${ledger.head()}`);
      else for (const p of result.problems) out(`record #${p.id} ${p.kind}: ${p.message}`);
      return result.ok ? 0 : 1;
    }
    case 'report': {
      const path = required(v.html, 'html');
      const html = renderReport(ledger, v.ledger);
      try {
        writeFileSync(path, html);
      } catch (e) {
        throw new ConfideError('E_IO', `cannot write ${path}: ${(e as Error).message}`, { field: 'html', cause: e });
      }
      out(v.json ? JSON.stringify({ html: path }) : `report written to ${path}`);
      return 0;
    }
  }
  return 2;
}

function fmt(x: number): string {
  return Number.isFinite(x) ? x.toPrecision(6).replace(/\.?0+$/, '') : String(x);
}

const esc = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

/** The composed cost after each spend of one dataset (what the odometer read then). */
export function spendCurve(ledger: PrivacyLedger, dataset: string): { time: string; spent: number; record: LedgerRecord }[] {
  const budget = ledger.datasets().find((d) => d.dataset === dataset);
  if (!budget) return [];
  const spends = ledger.history(dataset).filter((r) => r.kind === 'spend' && r.event);
  const events: PrivacyEvent[] = [];
  return spends.map((record) => {
    events.push(record.event!);
    const composed: PrivacyEvent = { type: 'composed', events: [...events] };
    const spent = budget.unit === 'rho' ? zcdpRho(composed) : epsilonFor(composed, budget.delta!, { method: budget.method });
    return { time: record.time, spent, record };
  });
}

/** A self-contained HTML report: no scripts, no external fonts or images; the plot is inline SVG. */
export function renderReport(ledger: PrivacyLedger, source: string): string {
  const sections = ledger.datasets().map((b) => {
    const o = ledger.odometer(b.dataset);
    const curve = spendCurve(ledger, b.dataset);
    const W = 640, H = 240, P = 40;
    const ymax = Math.max(o.budget, ...curve.map((c) => c.spent)) || 1;
    const x = (i: number) => P + (curve.length <= 1 ? (W - 2 * P) / 2 : (i * (W - 2 * P)) / (curve.length - 1));
    const y = (s: number) => H - P - (s / ymax) * (H - 2 * P);
    const points = curve.map((c, i) => `${x(i).toFixed(1)},${y(c.spent).toFixed(1)}`).join(' ');
    const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" role="img" aria-label="${b.unit} spent over time">
  <rect x="0" y="0" width="${W}" height="${H}" fill="#ffffff"/>
  <line x1="${P}" y1="${H - P}" x2="${W - P}" y2="${H - P}" stroke="#333"/>
  <line x1="${P}" y1="${P}" x2="${P}" y2="${H - P}" stroke="#333"/>
  <line class="budget" x1="${P}" y1="${y(o.budget).toFixed(1)}" x2="${W - P}" y2="${y(o.budget).toFixed(1)}" stroke="#c0392b" stroke-width="2" stroke-dasharray="6 4"/>
  <text x="${W - P}" y="${(y(o.budget) - 6).toFixed(1)}" text-anchor="end" font-family="sans-serif" font-size="12" fill="#c0392b">budget ${fmt(o.budget)}</text>
  <polyline class="spent" fill="none" stroke="#1f6feb" stroke-width="3" points="${points}"/>
  ${curve.map((c, i) => `<circle cx="${x(i).toFixed(1)}" cy="${y(c.spent).toFixed(1)}" r="4" fill="#1f6feb"><title>#${c.record.id} ${esc(c.time)}: ${fmt(c.spent)}</title></circle>`).join('\n  ')}
  <text x="${P}" y="${P - 10}" font-family="sans-serif" font-size="12">${b.unit === 'rho' ? 'ρ' : 'ε'} spent (${b.method}${b.unit === 'epsilon' ? `, δ = ${b.delta}` : ''})</text>
</svg>`;
    const rows = curve
      .map(
        (c) =>
          `<tr><td>${c.record.id}</td><td>${esc(c.time)}</td><td>${esc(c.record.principal)}</td><td>${esc(c.record.purpose)}</td><td>${esc(c.record.query)}</td><td>${fmt(c.spent)}</td></tr>`,
      )
      .join('\n');
    return `<section><h2>${esc(b.dataset)}</h2>
<p>Budget ${b.unit === 'rho' ? `ρ = ${fmt(o.budget)}` : `ε = ${fmt(o.budget)}, δ = ${b.delta}`} (${b.method}); spent ${fmt(o.spent)}; remaining <strong>${fmt(o.remaining)}</strong>; ${o.releases} releases.</p>
${svg}
<table><thead><tr><th>#</th><th>time</th><th>principal</th><th>purpose</th><th>query</th><th>${b.unit} spent after</th></tr></thead>
<tbody>${rows}</tbody></table></section>`;
  });
  const v = ledger.verify();
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>confide privacy budget report</title>
<style>body{font-family:sans-serif;margin:2em;color:#222}table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:4px 8px;font-size:13px}</style></head>
<body><h1>Privacy budget report</h1>
<p>Ledger ${esc(source)}: ${v.records} records, chain ${v.ok ? 'intact' : `<strong>BROKEN</strong> (${v.problems.length} problems)`}, head ${ledger.head()}; generated ${new Date().toISOString()}.</p>
${sections.join('\n') || '<p>No datasets.</p>'}
</body></html>
`;
}
