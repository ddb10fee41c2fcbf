/**
 * `confide fl serve` and `confide fl join`: federated training of a hashed
 * bag-of-words logistic regression over WebSocket, one coordinator and many
 * client processes. Progress goes to stderr, one line per round.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { ConfideError } from '../core/errors.ts';
import { systemRng } from '../core/random.ts';
import { PrivacyLedger } from '../dp/index.ts';
import { readCorpus } from '../dp/stats/reader.ts';
import {
  DpFedAvg,
  LogisticRegression,
  STRATEGY_NAMES,
  createStrategy,
  hashedBagOfWords,
  runClient,
  runCoordinator,
  runDecryptor,
  dpSecAggConfig,
  tensorsToJson,
  type Example,
  type RoundMetrics,
  type StrategyName,
} from '../fl/index.ts';
import { generateIdentity, identityFromSeed, serve, webSocketTransport } from '../net/index.ts';
import type { SecAggConfig } from '../secagg/index.ts';
import { numberFlag } from './_flags.ts';

export const FL_USAGE = `confide fl serve --rounds N --min-clients K --token HEX [--fraction F] [--sampling fixed|poisson] [--strategy NAME]
                [--aggregation plain|secagg|he] [--secagg-threshold T] [--decryptor ID --he-public-key FILE]
                [--host H] [--port P] [--features D] [--deadline-ms MS] [--checkpoint FILE] [--identity-seed HEX] [--out MODEL.json]
                [--dp-epsilon E --ledger FILE --dataset NAME [--dp-delta D] [--noise-multiplier Z]
                 [--clip-norm C] [--adaptive-clip] [--population N] [--dp-noise V] [--corrupt-fraction F]]
      Coordinates federated training of a hashed bag-of-words logistic
      regression (D features, default 4096). Strategies: ${STRATEGY_NAMES.join(', ')}.
      --sampling poisson: each connected client joins a round with probability F.
      --aggregation secagg: clients send masked updates (src/secagg); he: clients
      encrypt under the decryptor's key (confide he keygen / confide he identity)
      and the coordinator sums ciphertexts; the decryptor runs confide fl decrypt.
      With --dp-epsilon: DP-FedAvg, every round spent through the ledger; training
      stops before the budget would be exceeded. Central noise with plain
      aggregation; with secagg the clients add distributed discrete Gaussian noise
      of variance V (default (Z·2^16)²/qN, printed) and join with the same
      --dp-noise V (and --dp-count-scale K with --adaptive-clip, printed).
      qN uses N = --population (default --min-clients).
      --checkpoint resumes a killed run; with DP it must be the --ledger file (the
      round's spend and checkpoint commit in one transaction).
confide fl join --server ws://HOST:PORT --token HEX --data FILE.jsonl [--server-id ID]
                [--features D] [--epochs E] [--learning-rate LR] [--test-fraction F] [--secagg-threshold T]
                [--dp-noise V [--dp-count-scale K]] [--decryptor ID]
      With --secagg-threshold the client takes part in secure aggregation (the
      coordinator must use the same threshold and features; with DP also the same
      --dp-noise and --dp-count-scale). With --decryptor it takes part in homomorphic
      aggregation, encrypting only under keys signed by that party. Trains on local
      JSONL records { "text": ..., "label": 0|1 } and sends only model updates.
confide fl decrypt --server ws://HOST:PORT --token HEX --seed HEX --public-key FILE --secret-key FILE --min-contributors K [--server-id ID]
      The HE decryptor (the only holder of the secret key; --seed from confide he
      identity, whose id clients pin): decrypts one masked aggregate of at least K
      clients per round, until the coordinator is done.`;

function integerFlag(v: string | undefined, flag: string): number | undefined {
  const n = numberFlag(v, flag);
  if (n !== undefined && !Number.isSafeInteger(n)) throw new ConfideError('E_BAD_INPUT', `"--${flag}" expected an integer, got ${JSON.stringify(v)}`, { field: flag });
  return n;
}

function hexFlag(v: string | undefined, flag: string, minBytes: number): Uint8Array {
  if (v === undefined || !/^([0-9a-f]{2})+$/i.test(v) || v.length / 2 < minBytes)
    throw new ConfideError('E_BAD_INPUT', `"--${flag}" expected at least ${minBytes} bytes as hex`, { field: flag });
  return new Uint8Array(Buffer.from(v, 'hex'));
}

/**
 * The secure-aggregation config both sides derive from the flags (clients pin
 * it; src/secagg refuses a coordinator that uses another): logistic
 * regression's D + 1 parameters, updates clipped to ±8 per coordinate, 16
 * fractional bits in Z_2^32; without DP, weights (example counts scaled to
 * [0, 1]); with DP (fl's dpSecAggConfig), each client's update normalised by
 * the round's clip norm and noised with discrete Gaussian noise of variance V
 * (encoded units), plus the count bit worth K with adaptive clipping, no
 * weights (every client counts once: DP-FedAvg's fixed denominator).
 */
export function flSecAggConfig(features: number, threshold: number, dp?: { clientVariance: number; countScale?: number }): SecAggConfig {
  if (dp !== undefined) return dpSecAggConfig({ parameters: features + 1, threshold, fracBits: 16, ...dp });
  return { length: features + 1, bits: 32, fracBits: 16, bound: 8, threshold, graph: 'complete', maxWeight: 1 };
}

function readFile(path: string | undefined, flag: string): Uint8Array {
  if (path === undefined) throw new ConfideError('E_BAD_INPUT', `"--${flag}" is required`, { field: flag });
  try {
    return new Uint8Array(readFileSync(path));
  } catch (e) {
    throw new ConfideError('E_IO', `cannot read --${flag} ${path}: ${(e as Error).message}`, { field: flag, cause: e });
  }
}

function partyFlag(v: string | undefined, flag: string): string {
  if (v === undefined || !/^[0-9a-f]{64}$/.test(v)) throw new ConfideError('E_BAD_INPUT', `"--${flag}" expected a party id (64 lowercase hex digits)`, { field: flag });
  return v;
}

function progress(m: RoundMetrics, rounds: number): string {
  const parts = [`round ${m.round}/${rounds}: ${m.aggregated}/${m.sampled} clients (${m.available} connected, ${m.dropped} dropped)`];
  if (m.trainLoss !== undefined) parts.push(`train loss ${m.trainLoss.toFixed(4)}`);
  if (m.evaluation) parts.push(`eval accuracy ${(m.evaluation.accuracy * 100).toFixed(2)}% on ${m.evaluation.examples}`);
  if (m.privacy) parts.push(`ε ${m.privacy.spent.toFixed(3)}/${m.privacy.budget} (C = ${m.privacy.clipNorm.toPrecision(3)})`);
  if (!m.updated) parts.push('model unchanged (too few updates)');
  parts.push(`${m.seconds.toFixed(2)} s`);
  return parts.join(', ');
}

async function serveCommand(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    strict: true,
    options: {
      rounds: { type: 'string' },
      'min-clients': { type: 'string' },
      fraction: { type: 'string' },
      strategy: { type: 'string', default: 'fedavg' },
      aggregation: { type: 'string', default: 'plain' },
      host: { type: 'string', default: '127.0.0.1' },
      port: { type: 'string', default: '0' },
      features: { type: 'string', default: '4096' },
      'deadline-ms': { type: 'string', default: '120000' },
      token: { type: 'string' },
      checkpoint: { type: 'string' },
      'identity-seed': { type: 'string' },
      out: { type: 'string' },
      'dp-epsilon': { type: 'string' },
      'dp-delta': { type: 'string', default: '1e-5' },
      'noise-multiplier': { type: 'string', default: '1' },
      'clip-norm': { type: 'string', default: '1' },
      'adaptive-clip': { type: 'boolean', default: false },
      ledger: { type: 'string' },
      dataset: { type: 'string' },
      'secagg-threshold': { type: 'string' },
      sampling: { type: 'string', default: 'fixed' },
      population: { type: 'string' },
      'dp-noise': { type: 'string' },
      'corrupt-fraction': { type: 'string' },
      decryptor: { type: 'string' },
      'he-public-key': { type: 'string' },
    },
  });
  const aggregation = values.aggregation;
  if (aggregation !== 'plain' && aggregation !== 'secagg' && aggregation !== 'he')
    throw new ConfideError('E_BAD_INPUT', `"--aggregation" expected plain, secagg or he, got ${JSON.stringify(aggregation)}`, { field: 'aggregation' });
  const sampling = values.sampling;
  if (sampling !== 'fixed' && sampling !== 'poisson') throw new ConfideError('E_BAD_INPUT', `"--sampling" expected fixed or poisson, got ${JSON.stringify(sampling)}`, { field: 'sampling' });
  const rounds = integerFlag(values.rounds, 'rounds');
  const minClients = integerFlag(values['min-clients'], 'min-clients');
  if (rounds === undefined || minClients === undefined) throw new ConfideError('E_BAD_INPUT', '--rounds and --min-clients are required', { field: 'rounds' });
  const token = hexFlag(values.token, 'token', 16);
  const fraction = numberFlag(values.fraction, 'fraction') ?? 1;
  const features = integerFlag(values.features, 'features')!;
  const model = new LogisticRegression({ features });
  const threshold = integerFlag(values['secagg-threshold'], 'secagg-threshold') ?? Math.ceil((2 * minClients) / 3);
  const identity = values['identity-seed'] ? identityFromSeed(hexFlag(values['identity-seed'], 'identity-seed', 32).subarray(0, 32)) : generateIdentity();
  const he = aggregation === 'he' ? { decryptor: partyFlag(values.decryptor, 'decryptor'), publicKey: readFile(values['he-public-key'], 'he-public-key') } : undefined;
  let ledger: PrivacyLedger | undefined;
  let strategy;
  let secagg: SecAggConfig | undefined;
  const epsilon = numberFlag(values['dp-epsilon'], 'dp-epsilon');
  if (epsilon !== undefined) {
    if (!values.ledger || !values.dataset) throw new ConfideError('E_BAD_INPUT', '--dp-epsilon needs --ledger and --dataset', { field: 'ledger' });
    if (values.strategy !== 'fedavg') throw new ConfideError('E_BAD_INPUT', 'DP-FedAvg averages with FedAvg; leave --strategy at fedavg', { field: 'strategy' });
    if (values.checkpoint !== undefined && values.checkpoint !== values.ledger)
      throw new ConfideError('E_BAD_INPUT', 'with --dp-epsilon the checkpoint lives in the ledger: give --checkpoint the --ledger file (a round\'s spend and checkpoint commit together)', { field: 'checkpoint' });
    ledger = PrivacyLedger.open(values.ledger);
    if (!ledger.datasets().some((d) => d.dataset === values.dataset))
      ledger.setBudget(values.dataset, { epsilon, delta: numberFlag(values['dp-delta'], 'dp-delta')! }, { method: 'rdp', principal: 'confide fl serve', purpose: 'federated training' });
    const population = integerFlag(values.population, 'population') ?? minClients;
    // qN, McMahan et al. 2018's fixed denominator: the expected clients a round.
    const expectedClients = sampling === 'poisson' ? fraction * population : Math.max(minClients, Math.ceil(fraction * population));
    const z = numberFlag(values['noise-multiplier'], 'noise-multiplier')!;
    const clipNorm = numberFlag(values['clip-norm'], 'clip-norm')!;
    strategy = new DpFedAvg({
      noiseMultiplier: z,
      clipNorm,
      expectedClients,
      ...(sampling === 'poisson' ? { sampling: { type: 'poisson' as const, q: fraction } } : {}),
      ...(values['adaptive-clip'] ? { adaptive: {} } : {}),
    });
    if (aggregation === 'secagg') {
      // Distributed noise: the qN expected clients' variances add up to (z·2^16)² in normalised units (z·C in the model's).
      const noise = strategy.distributedNoise(16);
      const clientVariance = numberFlag(values['dp-noise'], 'dp-noise') ?? Math.ceil(noise.clientVariance);
      const dpNoise = { clientVariance, ...(noise.countScale === undefined ? {} : { countScale: noise.countScale }) };
      secagg = flSecAggConfig(features, threshold, dpNoise);
      process.stderr.write(`fl serve: distributed DP noise: clients join with --secagg-threshold ${threshold} --dp-noise ${clientVariance}${noise.countScale === undefined ? '' : ` --dp-count-scale ${noise.countScale}`}\n`);
    }
  } else {
    strategy = createStrategy(values.strategy as StrategyName, values.strategy === 'fedprox' ? { mu: 0.01 } : values.strategy === 'krum' ? { f: 1 } : values.strategy === 'trimmed-mean' ? { beta: 0.1 } : undefined);
    if (aggregation === 'secagg') secagg = flSecAggConfig(features, threshold);
  }
  const corruptFraction = numberFlag(values['corrupt-fraction'], 'corrupt-fraction');
  const server = await serve({ transport: webSocketTransport({ host: values.host, port: integerFlag(values.port, 'port')! }), identity, token });
  process.stderr.write(`fl serve: listening on ${server.address}, server id ${server.id}\n`);
  try {
    const res = await runCoordinator({
      server,
      initialWeights: model.initialWeights(),
      strategy,
      rounds,
      minClients,
      fraction,
      sampling,
      roundDeadlineMs: integerFlag(values['deadline-ms'], 'deadline-ms')!,
      evaluateEvery: 1,
      ...(secagg ? { aggregation: 'secagg' as const, secagg } : {}),
      ...(he ? { aggregation: 'he' as const, he } : {}),
      ...(values.checkpoint ? { checkpoint: values.checkpoint } : {}),
      ...(ledger ? { dp: { ledger, dataset: values.dataset!, principal: 'confide fl serve', ...(corruptFraction === undefined ? {} : { corruptFraction }) } } : {}),
      onRound: (m) => process.stderr.write(`${progress(m, rounds)}\n`),
    });
    if (res.startedAt > 1) process.stderr.write(`fl serve: resumed at round ${res.startedAt}\n`);
    if (values.out) writeFileSync(values.out, JSON.stringify({ model: 'logistic-regression', features, weights: tensorsToJson(res.weights), history: res.history }));
    return 0;
  } finally {
    await server.close();
    ledger?.close();
  }
}

/** JSONL records { text, label } → hashed examples; a deterministic split by line into train and test. */
async function readExamples(path: string, features: number, testFraction: number): Promise<{ train: Example[]; test: Example[] }> {
  const train: Example[] = [], test: Example[] = [];
  let k = 0;
  await readCorpus([path], {
    format: 'jsonl',
    onRecord: (r) => {
      if (typeof r.text !== 'string') return 'no string "text" field';
      const y = r.label === 1 || r.label === true || r.label === 'spam' ? 1 : r.label === 0 || r.label === false || r.label === 'ham' ? 0 : -1;
      if (y < 0) return '"label" is not 0/1';
      const e = { x: hashedBagOfWords(r.text, features), y };
      // Every ⌈1/f⌉-th record is held out: stable across runs, no randomness needed.
      if (testFraction > 0 && k++ % Math.round(1 / testFraction) === 0) test.push(e);
      else train.push(e);
    },
  });
  return { train, test };
}

async function joinCommand(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    strict: true,
    options: {
      server: { type: 'string' },
      token: { type: 'string' },
      'server-id': { type: 'string' },
      data: { type: 'string' },
      features: { type: 'string', default: '4096' },
      epochs: { type: 'string', default: '1' },
      'learning-rate': { type: 'string', default: '0.5' },
      'test-fraction': { type: 'string', default: '0.2' },
      'secagg-threshold': { type: 'string' },
      'dp-noise': { type: 'string' },
      'dp-count-scale': { type: 'string' },
      decryptor: { type: 'string' },
    },
  });
  if (!values.server || !values.data) throw new ConfideError('E_BAD_INPUT', '--server and --data are required', { field: 'server' });
  const token = hexFlag(values.token, 'token', 16);
  const features = integerFlag(values.features, 'features')!;
  const testFraction = numberFlag(values['test-fraction'], 'test-fraction')!;
  if (!(testFraction >= 0 && testFraction < 1)) throw new ConfideError('E_BAD_INPUT', '"--test-fraction" expected a number in [0, 1)', { field: 'test-fraction' });
  let secagg: SecAggConfig | undefined;
  if (values['secagg-threshold'] !== undefined) {
    const threshold = integerFlag(values['secagg-threshold'], 'secagg-threshold')!;
    const clientVariance = numberFlag(values['dp-noise'], 'dp-noise');
    const countScale = numberFlag(values['dp-count-scale'], 'dp-count-scale');
    if (countScale !== undefined && clientVariance === undefined) throw new ConfideError('E_BAD_INPUT', '--dp-count-scale goes with --dp-noise (the values confide fl serve printed)', { field: 'dp-count-scale' });
    secagg = flSecAggConfig(features, threshold, clientVariance === undefined ? undefined : { clientVariance, ...(countScale === undefined ? {} : { countScale }) });
  } else if (values['dp-noise'] !== undefined) throw new ConfideError('E_BAD_INPUT', '--dp-noise needs --secagg-threshold (distributed noise goes through secure aggregation)', { field: 'dp-noise' });
  const { train, test } = await readExamples(values.data, features, testFraction);
  if (train.length === 0) throw new ConfideError('E_BAD_INPUT', `no training records in ${values.data}`, { field: 'data' });
  const model = new LogisticRegression({ features });
  const epochs = integerFlag(values.epochs, 'epochs')!;
  const learningRate = numberFlag(values['learning-rate'], 'learning-rate')!;
  process.stderr.write(`fl join: ${train.length} training and ${test.length} test records\n`);
  const rng = systemRng();
  const summary = await runClient({
    transport: webSocketTransport(),
    address: values.server,
    identity: generateIdentity(),
    token,
    ...(values['server-id'] ? { serverId: values['server-id'] } : {}),
    fit: (weights, config) => {
      const r = model.fit(weights, train, { epochs, learningRate, rng, proximalMu: typeof config.proximalMu === 'number' ? config.proximalMu : 0 });
      return { weights: r.weights, examples: r.examples, loss: r.metrics.loss };
    },
    evaluate: (weights) => model.evaluate(weights, test),
    ...(secagg ? { secagg } : {}),
    ...(values.decryptor !== undefined ? { he: { decryptor: partyFlag(values.decryptor, 'decryptor') } } : {}),
    onRound: (e) => process.stderr.write(`fl join: round ${e.round} ${e.kind}${e.failed ? ' (secure round failed)' : ''}\n`),
  });
  process.stderr.write(`fl join: ${summary.reason} after ${summary.fitted} fits\n`);
  return 0;
}

async function decryptCommand(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    strict: true,
    options: {
      server: { type: 'string' },
      token: { type: 'string' },
      'server-id': { type: 'string' },
      seed: { type: 'string' },
      'public-key': { type: 'string' },
      'secret-key': { type: 'string' },
      'min-contributors': { type: 'string' },
    },
  });
  if (!values.server) throw new ConfideError('E_BAD_INPUT', '--server is required', { field: 'server' });
  const token = hexFlag(values.token, 'token', 16);
  const identity = identityFromSeed(hexFlag(values.seed, 'seed', 32).subarray(0, 32));
  const minContributors = integerFlag(values['min-contributors'], 'min-contributors');
  if (minContributors === undefined) throw new ConfideError('E_BAD_INPUT', '--min-contributors is required', { field: 'min-contributors' });
  process.stderr.write(`fl decrypt: decryptor ${identity.id}\n`);
  const summary = await runDecryptor({
    transport: webSocketTransport(),
    address: values.server,
    identity,
    token,
    ...(values['server-id'] ? { serverId: values['server-id'] } : {}),
    publicKey: readFile(values['public-key'], 'public-key'),
    secretKey: readFile(values['secret-key'], 'secret-key'),
    minContributors,
    onRound: (e) => process.stderr.write(`fl decrypt: round ${e.round}: ${e.refused === undefined ? `decrypted the masked sum of ${e.contributors} clients` : `refused (${e.refused})`}\n`),
  });
  process.stderr.write(`fl decrypt: ${summary.reason} after ${summary.decrypted} decryptions (${summary.refused} refused)\n`);
  return 0;
}

export async function flCommand(argv: string[]): Promise<number> {
  const [sub, ...rest] = argv;
  try {
    if (sub === 'serve') return await serveCommand(rest);
    if (sub === 'join') return await joinCommand(rest);
    if (sub === 'decrypt') return await decryptCommand(rest);
  } catch (e) {
    if (e instanceof ConfideError) {
      process.stderr.write(`confide fl ${sub}: ${e.code}: ${e.message}\n`);
      return e.code === 'E_BUDGET_EXCEEDED' ? 3 : 1;
    }
    if ((e as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) {
      process.stderr.write(`confide fl ${sub}: ${(e as Error).message}\n\nusage:\n  ${FL_USAGE}\n`);
      return 2;
    }
    throw e;
  }
  process.stderr.write(`confide fl: unknown sub-command ${JSON.stringify(sub ?? '')}\n\nusage:\n  ${FL_USAGE}\n`);
  return 2;
}

