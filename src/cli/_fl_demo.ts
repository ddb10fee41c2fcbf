/**
 * The main job's second part (`confide run`, `npm start`): a short federated
 * training of a spam filter on the SpamAssassin corpus, with secure
 * aggregation and distributed DP, spent in the same ledger as the composition
 * report and drawn in the same HTML report.
 *
 * This process coordinates; each client is its own process running
 * `confide fl join` on a shard of the corpus written to a private temporary
 * directory (non-IID: a client holds mostly one corpus group). Clients clip
 * their updates and add their share of discrete Gaussian noise before masking
 * (DP-FedAvg through src/secagg, Kairouz, Liu and Steinke 2021), so the
 * coordinator only ever sees the noisy sum. The privacy unit is a client (a
 * mailbox), which is not the composition report's unit (a sender): the
 * training is spent on its own dataset entry of the ledger.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfideError, isConfideError } from '../core/errors.ts';
import { seededRng, type Rng } from '../core/random.ts';
import type { PrivacyLedger } from '../dp/index.ts';
import { readCorpus } from '../dp/stats/reader.ts';
import { DpFedAvg, LogisticRegression, hashedBagOfWords, runCoordinator, type Example, type RoundMetrics } from '../fl/index.ts';
import { generateIdentity, serve, webSocketTransport } from '../net/index.ts';
import { flSecAggConfig } from './_fl.ts';

export interface FederatedDemoOptions {
  /** The CLI entry script the client processes run (`<cli> fl join ...`). */
  cli: string;
  /** The SpamAssassin package's data directory. */
  corpus: string;
  /** The report's ledger, open; the training is spent on `dataset`. */
  ledger: PrivacyLedger;
  /** Ledger dataset of the training (default 'spamassassin/fl-clients'; created with `budget` when absent). */
  dataset?: string;
  budget?: { epsilon: number; delta: number };
  clients?: number;
  rounds?: number;
  /** Hashed bag-of-words dimension (default 4096). */
  features?: number;
  /** DP-FedAvg's noise multiplier z and clip norm C (defaults 1.2 and 1). */
  noiseMultiplier?: number;
  clipNorm?: number;
  /** Shuffles and splits the corpus (default: a fixed seed, so every run trains on the same split). */
  rng?: Rng;
  onRound?: (m: RoundMetrics) => void;
}

export interface FederatedDemo {
  readonly dataset: string;
  readonly clients: number;
  readonly shards: readonly { readonly messages: number; readonly group: string; readonly fromGroup: number; readonly spam: number }[];
  readonly test: number;
  readonly rounds: readonly RoundMetrics[];
  /** Accuracy of the final federated model on the held-out messages. */
  readonly accuracy: number;
  /** The same model trained centrally on the union of the shards, without DP (context, not released). */
  readonly centralised: number;
  readonly noiseMultiplier: number;
  readonly clipNorm: number;
  /** ε spent on the dataset after the run, at the budget's δ, and the budget. */
  readonly spent: number;
  readonly budget: { readonly epsilon: number; readonly delta: number };
  /** Why training did not run or stopped early (the budget), when it did. */
  readonly stopped?: string;
}

export const FEDERATED_DATASET = 'spamassassin/fl-clients';

const label = (group: string) => (/spam/.test(group) ? 1 : 0);

export async function runFederatedDemo(o: FederatedDemoOptions): Promise<FederatedDemo> {
  const dataset = o.dataset ?? FEDERATED_DATASET;
  const budget = o.budget ?? { epsilon: 8, delta: 1e-5 };
  const clients = o.clients ?? 4, rounds = o.rounds ?? 3, features = o.features ?? 4096;
  const z = o.noiseMultiplier ?? 1.2, clipNorm = o.clipNorm ?? 1;
  const epochs = 3, learningRate = 1;
  const rng = o.rng ?? seededRng(2026);

  // The corpus's JSON files carry { group, text } (the .txt copies are skipped).
  const messages: { group: string; text: string }[] = [];
  await readCorpus([o.corpus], {
    onRecord: (r) => {
      if (typeof r.group !== 'string' || typeof r.text !== 'string') return 'not a { group, text } JSON message';
      messages.push({ group: r.group, text: r.text });
    },
  });
  if (messages.length < 10 * clients) throw new ConfideError('E_BAD_INPUT', `${o.corpus}: ${messages.length} labelled messages, too few for ${clients} clients`, { field: 'corpus' });
  rng.shuffle(messages);
  const testSize = Math.floor(messages.length / 5);
  const test = messages.slice(0, testSize), train = messages.slice(testSize);
  const groups = [...new Set(messages.map((m) => m.group))].sort();
  // Non-IID: client i takes 80% of its messages from group i mod |groups|.
  const shards: { group: string; text: string }[][] = Array.from({ length: clients }, () => []);
  for (const m of train) {
    const preferring = shards.map((_, i) => i).filter((i) => groups[i % groups.length] === m.group);
    const i = preferring.length > 0 && rng.nextU32() < 0.8 * 2 ** 32 ? preferring[rng.uniformInt(preferring.length)] : rng.uniformInt(clients);
    shards[i].push(m);
  }

  const model = new LogisticRegression({ features });
  const testExamples: Example[] = test.map((m) => ({ x: hashedBagOfWords(m.text, features), y: label(m.group) }));
  const central = model.fit(model.initialWeights(), train.map((m) => ({ x: hashedBagOfWords(m.text, features), y: label(m.group) })), { epochs: rounds * epochs, learningRate, rng });
  const centralised = model.evaluate(central.weights, testExamples).accuracy;

  const { ledger } = o;
  if (!ledger.datasets().some((d) => d.dataset === dataset))
    ledger.setBudget(dataset, budget, { method: 'rdp', principal: 'confide run', purpose: 'federated spam-filter training; the privacy unit is a client (mailbox)' });
  const strategy = new DpFedAvg({ noiseMultiplier: z, clipNorm, expectedClients: clients });
  const noise = strategy.distributedNoise(16);
  const threshold = Math.max(2, Math.ceil((2 * clients) / 3));
  const secagg = flSecAggConfig(features, threshold, { clientVariance: Math.ceil(noise.clientVariance) });
  const shardSummary = shards.map((s, i) => ({
    messages: s.length,
    group: groups[i % groups.length],
    fromGroup: s.filter((m) => m.group === groups[i % groups.length]).length,
    spam: s.filter((m) => label(m.group) === 1).length,
  }));

  const tmp = mkdtempSync(join(tmpdir(), 'confide-run-fl-'));
  const token = randomBytes(32);
  const server = await serve({ transport: webSocketTransport({ host: '127.0.0.1', port: 0 }), identity: generateIdentity(), token });
  const children: Promise<{ code: number | null; stderr: string }>[] = [];
  const history: RoundMetrics[] = [];
  let weights = model.initialWeights();
  let stopped: string | undefined;
  try {
    const paths = shards.map((s, i) => {
      const p = join(tmp, `client-${i}.jsonl`);
      writeFileSync(p, s.map((m) => JSON.stringify({ text: m.text, label: label(m.group) })).join('\n') + '\n', { mode: 0o600 });
      return p;
    });
    for (const p of paths) {
      const args = [o.cli, 'fl', 'join', '--server', server.address, '--server-id', server.id, '--token', token.toString('hex'), '--data', p,
        '--features', String(features), '--epochs', String(epochs), '--learning-rate', String(learningRate), '--test-fraction', '0.2',
        '--secagg-threshold', String(threshold), '--dp-noise', String(secagg.noise!.clientVariance)];
      const child = spawn(process.execPath, [...process.execArgv, ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
      let stderr = '';
      child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr = (stderr + d).slice(-4000)));
      children.push(new Promise((resolve) => child.on('exit', (code) => resolve({ code, stderr }))));
    }
    try {
      const res = await runCoordinator({
        server, initialWeights: weights, strategy, rounds, minClients: clients, roundDeadlineMs: 120_000, waitForClientsMs: 120_000, evaluateEvery: 1,
        aggregation: 'secagg', secagg, checkpoint: ledger.path, run: `confide run ${new Date().toISOString()}`,
        dp: { ledger, dataset, principal: 'confide run' },
        onRound: (m) => {
          history.push(m);
          o.onRound?.(m);
        },
      });
      weights = res.weights;
    } catch (e) {
      if (!isConfideError(e, 'E_BUDGET_EXCEEDED')) throw e;
      stopped = e.message;
    }
  } finally {
    await server.close();
    const ended = await Promise.all(children);
    rmSync(tmp, { recursive: true, force: true });
    const failed = ended.find((c) => c.code !== 0);
    if (failed && stopped === undefined)
      throw new ConfideError('E_PROTOCOL', `a federated client process exited with code ${failed.code}: ${failed.stderr.trim().split('\n').slice(-3).join(' | ')}`, { field: 'fl' });
  }
  const odometer = ledger.odometer(dataset);
  return {
    dataset, clients, shards: shardSummary, test: test.length, rounds: history,
    accuracy: model.evaluate(weights, testExamples).accuracy, centralised,
    noiseMultiplier: z, clipNorm, spent: odometer.spent, budget: { epsilon: odometer.budget, delta: odometer.delta ?? budget.delta },
    ...(stopped === undefined ? {} : { stopped }),
  };
}

const esc = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
const pct = (x: number) => `${(x * 100).toFixed(1)}%`;

/** Accuracy per round as an inline SVG line (clients' held-out parts), with the final and centralised accuracies as reference lines. */
function accuracyChart(d: FederatedDemo): string {
  const pts = d.rounds.filter((m) => m.evaluation).map((m) => [m.round, m.evaluation!.accuracy] as const);
  const W = 520, H = 220, L = 48, R = 150, T = 16, B = 32;
  const n = Math.max(1, d.rounds.length);
  const x = (r: number) => L + (n === 1 ? 0.5 : (r - 1) / (n - 1)) * (W - L - R);
  const y = (a: number) => T + (1 - a) * (H - T - B);
  const grid = [0, 0.25, 0.5, 0.75, 1].map((a) => `<line x1="${L}" x2="${W - R}" y1="${y(a)}" y2="${y(a)}" stroke="#eee"/><text x="${L - 6}" y="${y(a) + 4}" text-anchor="end" font-size="11">${a * 100}%</text>`);
  const ref = (a: number, text: string, colour: string) =>
    `<line x1="${L}" x2="${W - R}" y1="${y(a).toFixed(1)}" y2="${y(a).toFixed(1)}" stroke="${colour}" stroke-dasharray="4 3"/><text x="${W - R + 6}" y="${(y(a) + 4).toFixed(1)}" font-size="11" fill="${colour}">${esc(text)}</text>`;
  const line = pts.map(([r, a]) => `${x(r).toFixed(1)},${y(a).toFixed(1)}`).join(' ');
  const dots = pts.map(([r, a]) => `<circle class="point" cx="${x(r).toFixed(1)}" cy="${y(a).toFixed(1)}" r="3" fill="#1f6feb"><title>round ${r}: ${pct(a)}</title></circle>`);
  const ticks = d.rounds.map((m) => `<text x="${x(m.round).toFixed(1)}" y="${H - B + 16}" text-anchor="middle" font-size="11">${m.round}</text>`);
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" role="img" aria-label="accuracy per round" font-family="sans-serif">
<rect x="0" y="0" width="${W}" height="${H}" fill="#fff"/>
${grid.join('\n')}
${ref(d.centralised, `centralised ${pct(d.centralised)}`, '#888')}
${ref(d.accuracy, `final model ${pct(d.accuracy)}`, '#2da44e')}
${pts.length > 1 ? `<polyline points="${line}" fill="none" stroke="#1f6feb" stroke-width="2"/>` : ''}
${dots.join('\n')}
${ticks.join('\n')}
<text x="${(L + W - R) / 2}" y="${H - 4}" text-anchor="middle" font-size="11">round</text>
</svg>`;
}

/** The report's section on the federated training (trusted HTML; every text is escaped). */
export function renderFederatedSection(d: FederatedDemo): string {
  const rows = d.rounds
    .map((m) => `<tr><td>${m.round}</td><td>${m.aggregated}/${m.sampled}</td><td>${m.evaluation ? pct(m.evaluation.accuracy) : ''}</td><td>${m.privacy ? m.privacy.spent.toFixed(2) : ''}</td><td>${m.seconds.toFixed(1)} s</td></tr>`)
    .join('\n');
  const shards = d.shards.map((s, i) => `client ${i + 1}: ${s.messages} messages, ${s.fromGroup} from ${esc(s.group)}, ${s.spam} spam`).join('; ');
  return `<section><h2>Federated training: a spam filter with secure aggregation and DP</h2>
<p>${d.clients} client processes each held a shard of the corpus (non-IID: most of a client's messages come from one corpus group) and trained a hashed bag-of-words logistic regression locally. The coordinator learned only the sum of their clipped updates, each client having added its share of discrete Gaussian noise before masking (DP-FedAvg with distributed noise through secure aggregation; noise multiplier ${d.noiseMultiplier}, clip norm ${d.clipNorm}). The privacy unit is a client. Ledger dataset <code>${esc(d.dataset)}</code>: ε = ${d.spent.toFixed(2)} spent of ${d.budget.epsilon} at δ = ${d.budget.delta}.</p>
${d.stopped ? `<p><strong>Training stopped:</strong> ${esc(d.stopped)}</p>` : ''}
${d.rounds.length > 0 ? accuracyChart(d) : ''}
<table><thead><tr><th>round</th><th>clients aggregated</th><th>accuracy (clients' held-out parts)</th><th>ε spent</th><th>time</th></tr></thead><tbody>${rows}</tbody></table>
<p>${d.rounds.length === 0 ? 'No round fitted the budget, so no model was trained in this run.' : `Final model on ${d.test} held-out messages: ${pct(d.accuracy)}.`} For context, not released: the same model trained centrally on the union of the shards without DP reaches ${pct(d.centralised)}. Client-level DP with ${d.clients} clients is costly in accuracy; it improves with many clients per round. The per-round accuracies are the clients' own evaluations, sent to the coordinator in the clear (not DP).</p>
<p class="diagnostics">For the data owners, not private: ${esc(shards)}.</p>
</section>`;
}
