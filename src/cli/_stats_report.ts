/**
 * The HTML report of DP statistics: per released table, a horizontal bar chart
 * of the groups with their confidence intervals as whiskers, the table itself,
 * and what the release spent. Self-contained: no scripts, fonts or images;
 * the charts are inline SVG.
 */
import type { GroupRelease, StatsRelease } from '../dp/index.ts';

export interface ReportSection {
  title: string;
  /** One sentence on what the chart answers. */
  caption?: string;
  release: StatsRelease;
}

const esc = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
const MAX_BARS = 60;

function fmt(x: number): string {
  if (!Number.isFinite(x)) return String(x);
  return Math.abs(x) >= 100 ? x.toFixed(0) : x.toPrecision(3).replace(/\.?0+$/, '');
}

/** The measure a chart shows: count, else units, else sum, else mean. */
function measureOf(r: StatsRelease): 'count' | 'units' | 'sum' | 'mean' | null {
  for (const m of ['count', 'units', 'sum', 'mean'] as const) if (r.groups.some((g) => g[m] !== undefined)) return m;
  return null;
}

function chart(r: StatsRelease, measure: 'count' | 'units' | 'sum' | 'mean'): string {
  const groups = r.groups.slice(0, MAX_BARS);
  const value = (g: GroupRelease) => g[measure] ?? 0;
  const ci = (g: GroupRelease) => g.ci[measure] ?? [value(g), value(g)];
  const lo = Math.min(0, ...groups.map((g) => ci(g)[0]));
  const hi = Math.max(1e-9, ...groups.map((g) => ci(g)[1]));
  const W = 760, LABEL = 220, RIGHT = 80, ROW = 20, TOP = 28;
  const H = TOP + groups.length * ROW + 24;
  const x = (v: number) => LABEL + ((v - lo) / (hi - lo)) * (W - LABEL - RIGHT);
  const bars = groups.map((g, i) => {
    const y = TOP + i * ROW;
    const v = value(g), [a, b] = ci(g);
    const x0 = x(Math.min(0, v)), x1 = x(Math.max(0, v));
    return `<g class="group"><title>${esc(g.key)}: ${fmt(v)} (${Math.round(g.ci.level * 100)}% interval ${fmt(a)} to ${fmt(b)})</title>
  <text x="${LABEL - 6}" y="${y + 14}" text-anchor="end" font-size="12">${esc(g.key.length > 32 ? `${g.key.slice(0, 31)}…` : g.key)}</text>
  <rect class="bar" x="${x0.toFixed(1)}" y="${y + 3}" width="${Math.max(0.5, x1 - x0).toFixed(1)}" height="${ROW - 6}" fill="#1f6feb"/>
  <line class="ci" x1="${x(a).toFixed(1)}" y1="${y + ROW / 2}" x2="${x(b).toFixed(1)}" y2="${y + ROW / 2}" stroke="#111" stroke-width="1.5"/>
  <line x1="${x(a).toFixed(1)}" y1="${y + 5}" x2="${x(a).toFixed(1)}" y2="${y + ROW - 5}" stroke="#111"/>
  <line x1="${x(b).toFixed(1)}" y1="${y + 5}" x2="${x(b).toFixed(1)}" y2="${y + ROW - 5}" stroke="#111"/>
  <text x="${W - RIGHT + 6}" y="${y + 14}" font-size="12">${fmt(v)}</text></g>`;
  });
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" role="img" aria-label="${esc(measure)} per group" font-family="sans-serif">
<rect x="0" y="0" width="${W}" height="${H}" fill="#fff"/>
<text x="${LABEL}" y="16" font-size="12">${esc(measure)} per group, with ${Math.round((groups[0]?.ci.level ?? 0.95) * 100)}% intervals</text>
<line x1="${x(0).toFixed(1)}" y1="${TOP - 4}" x2="${x(0).toFixed(1)}" y2="${H - 20}" stroke="#999"/>
${bars.join('\n')}
</svg>`;
}

function table(r: StatsRelease): string {
  const cols = (['count', 'units', 'sum', 'mean', 'variance'] as const).filter((c) => r.groups.some((g) => g[c] !== undefined));
  const ranks = r.query.quantiles.map(String);
  const head = ['group', ...cols, ...ranks.map((q) => `q${q}`)].map((h) => `<th>${esc(h)}</th>`).join('');
  const rows = r.groups
    .map((g) => {
      const cells = cols.map((c) => {
        const ci = c === 'variance' ? undefined : g.ci[c];
        return `<td>${g[c] === undefined ? '' : fmt(g[c]!)}${ci ? ` <small>[${fmt(ci[0])}, ${fmt(ci[1])}]</small>` : ''}</td>`;
      });
      return `<tr><td>${esc(g.key)}</td>${cells.join('')}${ranks.map((q) => `<td>${g.quantiles?.[q] === undefined ? '' : fmt(g.quantiles[q])}</td>`).join('')}</tr>`;
    })
    .join('\n');
  return `<table><thead><tr>${head}</tr></thead><tbody>${rows}</tbody></table>`;
}

function section(s: ReportSection): string {
  const r = s.release, q = r.query, b = r.bounding, g = r.guarantee;
  const measure = measureOf(r);
  const spent = g.kind === 'approx' ? `ε = ${g.epsilon}, δ = ${g.delta}` : g.kind === 'pure' ? `ε = ${g.epsilon}` : `ρ = ${g.rho}`;
  const selection = r.selection
    ? `Groups were selected privately (${esc(r.selection.strategy)}): a group needs about ${r.selection.unitsFor50} distinct ${esc(q.unit)} values to appear half the time and ${r.selection.unitsFor95} to appear 95% of the time, so small groups are absent by design.`
    : 'The groups were fixed in advance (no selection).';
  return `<section><h2>${esc(s.title)}</h2>
${s.caption ? `<p>${esc(s.caption)}</p>` : ''}
<p>Privacy unit <code>${esc(q.unit)}</code>; each unit counts in at most ${q.maxGroupsPerUnit} groups with at most ${q.maxRowsPerGroup} rows each${q.bounds ? `; ${esc(q.value!)} clamped to [${q.bounds[0]}, ${q.bounds[1]}]` : ''}. Spent ${spent} (ledger ${esc(r.receipt.dataset)} record #${r.receipt.id}). ${selection}
${r.groups.length < r.released ? ` Showing the top ${r.groups.length} of ${r.released} released groups.` : ''}</p>
${measure && r.groups.length > 0 ? chart(r, measure) : '<p>No group was released.</p>'}
${r.groups.length > 0 ? table(r) : ''}
<p class="diagnostics">For the data owner, not private: ${r.input.records} records read, ${r.input.malformed} malformed, ${b.rowsOverGroupLimit + b.rowsOverRowLimit} rows dropped by bounding, ${b.clamped} values clamped.</p>
</section>`;
}

/** `appendix`: further sections, already rendered by trusted code that escapes its text. */
export function renderStatsReport(report: { title: string; intro?: string; sections: readonly ReportSection[]; appendix?: readonly string[] }): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${esc(report.title)}</title>
<style>body{font-family:sans-serif;margin:2em;color:#222;max-width:60em}table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:3px 8px;font-size:13px;text-align:right}td:first-child{text-align:left}small{color:#666}.diagnostics{color:#666;font-size:13px}</style></head>
<body><h1>${esc(report.title)}</h1>
${report.intro ? `<p>${esc(report.intro)}</p>` : ''}
<p>Every number below is released with differential privacy. Intervals cover the added noise at the stated level; they do not cover the bias that contribution bounding and clamping introduce.</p>
${report.sections.map(section).join('\n')}
${(report.appendix ?? []).join('\n')}
<p class="diagnostics">Generated ${new Date().toISOString()} by confide.</p>
</body></html>
`;
}
