/**
 * fl: one federated-averaging round on loopback, against moving the same
 * bytes over bare `ws` in the same run and between the same processes.
 *
 * `round 10 clients 1M params, <aggregation>`: 10 client processes
 * (bench/_fl_client.ts) joined over `webSocketTransport()` to a coordinator
 * in this process; a model of 2^20 float32 parameters (4 MiB). Ours: one
 * round of `runCoordinator` (sample all 10, send the model, collect, aggregate
 * with FedAvg), for `plain`, `secagg` and `he` aggregation (`he` with an 11th
 * process as the decryptor, which holds the secret key). The clients' `fit` is trivial (it returns a fixed
 * update), so the figure is the round machinery: encoding, MACs, framing,
 * transfer, checks, masking or encryption, aggregation. Anchor `raw transfer`:
 * the bench sends the 4 MiB model to each of the same 10 processes over a
 * bare `ws` socket and each answers with its 4 MiB update; time until all 10
 * answers are in (no framing, signing, checks or aggregation). The clients'
 * frames are masked as `ws` masks by default (in JS here: bufferutil is not
 * installed). Anchor `raw transfer, zero mask`: the same over a second bare
 * socket per process whose client frames carry the all-zero mask, as
 * confide's transport sends on loopback and over wss: like for like.
 *
 * How a round is timed: the coordinator runs continuously, but the bench
 * holds it at the start of each round (it is given the party server behind a
 * proxy whose round-start `waitForParties` waits for a ticket). Ours = hand
 * out a ticket, wait for the round's `onRound`. So the harness's `runs` mode
 * can interleave one round with one raw exchange, and machine noise falls on
 * both alike.
 *
 * Check before timing: the warm-up rounds run with a strategy that
 * wraps `fedAvg()` and compares every new model with the old one plus the
 * exact mean of the 10 known updates; the raw anchor's first exchange checks
 * that each process answered with its update's bytes.
 *
 * If a warm-up round loses an update, ours is marked unavailable with the
 * reason and the check fails, instead of every timed round waiting out its
 * deadline. (This was first seen with HE on a busy machine: a client blocked
 * for seconds encrypting took the server for lost and its update never
 * arrived. net now discounts its own stalls and resends across a
 * reconnection, and HE encryption yields, so the guard should not fire.)
 *
 * Run with `npm run bench -- fl`; BENCH_FL_RUNS sets the timed rounds per case
 * (default 10), BENCH_FL_HE_RUNS those of the HE case (default 4: an HE round
 * takes seconds). For development: BENCH_FL_ONLY=he (a subset),
 * BENCH_FL_DEBUG=1 (progress and link events on stderr), BENCH_FL_PARAMS
 * (another model size), BENCH_FL_DEADLINE_MS, BENCH_FL_SILENT=i (client i never
 * answers: exercises the lost-update path), BENCH_FL_CHILD_ARGS (node flags for
 * the client processes, e.g. --cpu-prof), BENCH_FL_CHILD_LOG (a directory for what the clients print, e.g. with --trace-gc), BENCH_FL_CLIENTS (another number of clients, e.g. 1 to profile a client alone; CPU per round of the clients and of this process is in the notes).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { appendFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { WebSocketServer, type WebSocket } from 'ws';
import { fedAvg, runCoordinator, type ClientUpdate, type RoundMetrics, type Strategy, type Tensors } from '../src/fl/index.ts';
import { createContext, generateKeys, planAggregation } from '../src/he/index.ts';
import { generateIdentity, identityFromSeed, serve, webSocketTransport, type PartyServer } from '../src/net/index.ts';
import { CLIENTS, PARAMS, SECAGG, clientDelta } from './_fl_client.ts';
import { runSuite, type CaseFactory, type CaseSpec } from './_harness.ts';

const RUNS = Number(process.env.BENCH_FL_RUNS ?? 10);
// An HE round takes seconds (each client encrypts 1M values); fewer of them keep the suite to a few minutes.
const HE_RUNS = Number(process.env.BENCH_FL_HE_RUNS ?? Math.min(RUNS, 4));
// Rounds before timing (all checked): they warm the JITs of all 11 processes.
const WARMUP = 3;
const HE_WARMUP = 1;
const DEADLINE_MS = Number(process.env.BENCH_FL_DEADLINE_MS ?? 120_000);
const debug = process.env.BENCH_FL_DEBUG ? (s: string) => process.stderr.write(`[fl bench ${(performance.now() / 1000).toFixed(1)} s] ${s}\n`) : () => {};
const CLIENT_SCRIPT = new URL('./_fl_client.ts', import.meta.url).pathname;
// BENCH_FL_CHILD_ARGS='--cpu-prof --cpu-prof-dir=DIR' profiles the client processes (NODE_OPTIONS refuses --cpu-prof).
const CHILD_ARGS = process.env.BENCH_FL_CHILD_ARGS?.split(' ').filter(Boolean) ?? [];

type Aggregation = 'plain' | 'secagg' | 'he';

/** CPU time (ms, all threads, user + system) of a process from /proc (Linux; 10 ms ticks), NaN elsewhere. */
function procCpuMs(pid: number | undefined): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name (which may hold spaces): utime and stime are the 12th and 13th.
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(f[11]) + Number(f[12])) * 10;
  } catch {
    return NaN;
  }
}

/**
 * CPU per call of a runner: the client processes' (read from /proc) and this
 * process's (the coordinator for ours, the bare server for the anchors),
 * summed over the calls after the first; reported in the case's notes.
 */
function cpuMeter(children: () => readonly ChildProcess[]) {
  const acc = new Map<string, { calls: number; clients: number; self: number }>();
  return {
    wrap(name: string, fn: () => Promise<void>): () => Promise<void> {
      let first = true;
      return async () => {
        const pids = children().map((c) => c.pid);
        const c0 = pids.reduce<number>((s, p) => s + procCpuMs(p), 0);
        const s0 = process.cpuUsage();
        await fn();
        const s1 = process.cpuUsage(s0);
        const c1 = pids.reduce<number>((s, p) => s + procCpuMs(p), 0);
        if (first) return void (first = false);
        const a = acc.get(name) ?? { calls: 0, clients: 0, self: 0 };
        a.calls++;
        a.clients += c1 - c0;
        a.self += (s1.user + s1.system) / 1000;
        acc.set(name, a);
      };
    },
    summary(): string {
      const parts = [...acc].map(([name, a]) => `${name} ${(a.clients / a.calls).toFixed(0)} + ${(a.self / a.calls).toFixed(0)}`);
      return parts.length ? `CPU ms per round, clients together + coordinator (or bare server): ${parts.join('; ')}` : '';
    },
  };
}

/** The mean of the clients' updates, computed exactly (float64) once: what every round must add. */
function expectedMean(): Float64Array {
  const mean = new Float64Array(PARAMS);
  for (let i = 0; i < CLIENTS; i++) {
    const d = clientDelta(i);
    for (let k = 0; k < PARAMS; k++) mean[k] += d[k];
  }
  for (let k = 0; k < PARAMS; k++) mean[k] /= CLIENTS;
  return mean;
}

function waitLine(child: ChildProcess, line: string): Promise<void> {
  return new Promise((resolve, reject) => {
    let buf = '';
    const onData = (d: Buffer) => {
      buf += d.toString();
      if (buf.split('\n').includes(line)) {
        child.stdout!.off('data', onData);
        resolve();
      }
    };
    child.stdout!.on('data', onData);
    child.once('exit', (code) => reject(new Error(`client exited (${code}) before "${line}"`)));
  });
}

const exited = (c: ChildProcess) => (c.exitCode !== null || c.signalCode !== null ? Promise.resolve() : new Promise<void>((r) => c.once('exit', () => r())));

/** Teardown of the previous case, awaited before the next one starts (the harness does not await dispose). */
let teardown: Promise<void> = Promise.resolve();

/** A FedAvg strategy that, while `verify` is on, checks every aggregate against global + the exact mean. */
function checkingFedAvg(mean: Float64Array, tolerance: number): { strategy: Strategy; state: { verify: boolean; checked: number; worst: number; error?: string } } {
  const inner = fedAvg();
  const state: { verify: boolean; checked: number; worst: number; error?: string } = { verify: true, checked: 0, worst: 0 };
  const strategy: Strategy = {
    get name() {
      return inner.name;
    },
    get rounds() {
      return inner.rounds;
    },
    fitConfig: () => inner.fitConfig(),
    toJSON: () => inner.toJSON(),
    aggregate(global: Tensors, updates: readonly ClientUpdate[]): Tensors {
      return verified(global, inner.aggregate(global, updates));
    },
    // Plain rounds hand the strategy the sum of the updates, added as they arrived (what is timed).
    aggregateSum(global: Tensors, sum: Float64Array, examples: number): Tensors {
      return verified(global, inner.aggregateSum!(global, sum, examples));
    },
  };
  function verified(global: Tensors, out: Tensors): Tensors {
    if (state.verify) {
      const g = global.w, o = out.w;
      for (let k = 0; k < PARAMS; k++) {
        const err = Math.abs(o[k] - g[k] - mean[k]);
        if (err > state.worst) state.worst = err;
      }
      if (!(state.worst <= tolerance)) state.error ??= `aggregate differs from global + mean by ${state.worst} (> ${tolerance})`;
      state.checked++;
    }
    return out;
  }
  return { strategy, state };
}

/** HE keys for the case, written where the decryptor process reads them; the decryptor's identity seed. */
async function heKeys() {
  const plan = await planAggregation({ contributors: CLIENTS, bound: 1 });
  using ctx = await createContext(plan.params);
  const { publicKey, secretKey } = generateKeys(ctx, plan);
  const dir = mkdtempSync(join(tmpdir(), 'confide-bench-fl-'));
  writeFileSync(join(dir, 'public.key'), publicKey, { mode: 0o600 });
  writeFileSync(join(dir, 'secret.key'), secretKey, { mode: 0o600 });
  const seed = randomBytes(32);
  return { plan, publicKey, dir, seedHex: seed.toString('hex'), decryptor: identityFromSeed(new Uint8Array(seed)) };
}

function roundCase(aggregation: Aggregation, mean: () => Float64Array): CaseFactory {
  return async (): Promise<CaseSpec> => {
    const name = `round ${CLIENTS} clients ${PARAMS === 1 << 20 ? "1M" : PARAMS} params, ${aggregation}`;
    // HE: keys sized for sums of 10 vectors within ±1 (the updates are within ±0.08, the weight is 1).
    const he = aggregation === 'he' ? await heKeys() : undefined;
    const notes = `ms per round (sample all 10, send the 4 MiB model, collect, FedAvg); clients' fit is trivial (returns a fixed update, 1 example), so this measures the round machinery, not training; ${
      aggregation === 'secagg' ? `SecAgg (complete graph, threshold ${SECAGG.threshold}, 32-bit ring, 16 fractional bits); ` : ''
    }${
      he ? `BFV n=${he.plan.params.polyModulusDegree}, ${he.plan.bytesPerValue.toFixed(1)} bytes a value uploaded, ${he.plan.fracBits} fractional bits, a decryptor process (11th) with the secret key; ` : ''
    }raw transfer: the same processes, bare ws, server → each client the 4 MiB model, each client → server its 4 MiB update, client frames masked as ws does by default; raw transfer, zero mask: the same with the all-zero mask (as confide's transport on loopback), like for like`;
    await teardown;
    const runs = aggregation === 'he' ? HE_RUNS : RUNS;
    const warmup = aggregation === 'he' ? HE_WARMUP : WARMUP;
    const token = randomBytes(32);
    const linkEvents: string[] = [];
    const server = await serve({
      transport: webSocketTransport({ host: '127.0.0.1', port: 0 }),
      identity: generateIdentity(),
      token,
      on: (e) => {
        // Lost links are counted: a resumed link can lose a message in flight, which spoils a round.
        // A client leaving at the case's teardown ("left: ...") is not a lost link.
        if (e.type === 'disconnect' || (e.type === 'drop' && !e.reason.startsWith('left:'))) linkEvents.push(`${e.type}: ${e.reason}`);
        if (e.type !== 'bytes') debug(JSON.stringify(e));
      },
    });

    // The raw anchors' server: sockets in client order (each says hello with its index and kind), one of each kind per process.
    const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, perMessageDeflate: false, maxPayload: 64 << 20 });
    await new Promise<void>((r) => wss.once('listening', () => r()));
    const rawAddress = `ws://127.0.0.1:${(wss.address() as { port: number }).port}`;
    const raw = { masked: rawExchange(), zero: rawExchange() };
    wss.on('connection', (ws) => {
      let into: RawExchange | undefined;
      let index = -1;
      ws.on('message', (data: Buffer, isBinary) => {
        if (!isBinary) {
          const [, i, kind] = data.toString().split(' ');
          index = Number(i);
          into = kind === 'zero' ? raw.zero : raw.masked;
          into.sockets[index] = ws;
          return;
        }
        into!.replies[index] = data;
        if (++into!.received === CLIENTS) into!.onAll?.();
      });
    });
    const model = new Uint8Array(PARAMS * 4);
    const rawRound = async (x: RawExchange): Promise<void> => {
      x.received = 0;
      const all = new Promise<void>((r) => (x.onAll = r));
      for (const ws of x.sockets) ws.send(model, { binary: true });
      await all;
    };

    const children = Array.from({ length: CLIENTS }, (_, i) =>
      spawn(process.execPath, [...CHILD_ARGS, CLIENT_SCRIPT, String(i), aggregation, server.address, rawAddress, token.toString('hex'), ...(he ? [he.decryptor.id] : [])], { stdio: ['ignore', 'pipe', 'inherit'] }),
    );
    if (he) children.push(spawn(process.execPath, [...CHILD_ARGS, CLIENT_SCRIPT, 'decryptor', server.address, token.toString('hex'), he.seedHex, he.dir], { stdio: ['ignore', 'pipe', 'inherit'] }));
    await Promise.all(children.map((c) => waitLine(c, 'ready')));
    // BENCH_FL_CHILD_LOG=DIR keeps what each client prints after "ready" (e.g. --trace-gc lines) in DIR/client-<i>.log.
    if (process.env.BENCH_FL_CHILD_LOG) children.forEach((c, i) => c.stdout!.on('data', (d: Buffer) => appendFileSync(join(process.env.BENCH_FL_CHILD_LOG!, `client-${i}.log`), d)));
    debug('processes ready');
    while (raw.masked.sockets.filter(Boolean).length < CLIENTS || raw.zero.sockets.filter(Boolean).length < CLIENTS) await new Promise((r) => setTimeout(r, 5));
    await server.waitForParties(children.length, { timeoutMs: 120_000 });
    debug(`${children.length} parties joined`);

    // Gate: the coordinator's round-start waitForParties waits for a ticket.
    let tickets = 0;
    let atRoundStart = true;
    let wake: (() => void) | undefined;
    let roundDone: (() => void) | undefined;
    const gated = new Proxy(server, {
      get(target, key) {
        const v = Reflect.get(target, key, target) as unknown;
        if (key === 'waitForParties')
          return async (...args: Parameters<PartyServer['waitForParties']>) => {
            if (atRoundStart) {
              atRoundStart = false;
              debug(`coordinator at round start, ${tickets} tickets`);
              while (tickets === 0) await new Promise<void>((r) => (wake = r));
              tickets--;
            }
            return target.waitForParties(...args);
          };
        return typeof v === 'function' ? v.bind(target) : v;
      },
    });
    // Fixed-point sums are exact here (updates on the grid 2^-16, weights 1; see SECAGG, and HE plans >= 16
    // fractional bits); what is left is float32 rounding of |x| < 2^4.
    const { strategy, state } = checkingFedAvg(mean(), 2 ** -18);
    const rounds = warmup + runs + 1; // the harness makes one warm-up call, then `runs`
    const history: RoundMetrics[] = [];
    const coordinator = runCoordinator({
      server: gated,
      initialWeights: { w: new Float32Array(PARAMS) },
      strategy,
      rounds,
      minClients: CLIENTS,
      evaluateEvery: 0,
      // Long enough for an HE round on a busy machine; a lost update then costs one deadline, not a hang.
      roundDeadlineMs: DEADLINE_MS,
      // Every client reports 1 example; with secagg its weight is then maxWeight = 1.
      maxExamples: 1,
      ...(aggregation === 'secagg' ? { aggregation: 'secagg' as const, secagg: SECAGG } : {}),
      ...(he ? { aggregation: 'he' as const, he: { decryptor: he.decryptor.id, publicKey: he.publicKey } } : {}),
      onRound: (m) => {
        debug(`round ${m.round}: ${m.aggregated} aggregated, ${m.seconds.toFixed(2)} s`);
        history.push(m);
        atRoundStart = true;
        roundDone?.();
      },
    });
    const failed = new Promise<never>((_, reject) => coordinator.then(() => reject(new Error('the coordinator finished early')), reject));
    failed.catch(() => {});
    const round = async (): Promise<void> => {
      const done = new Promise<void>((r) => (roundDone = r));
      tickets++;
      wake?.();
      await Promise.race([done, failed]);
    };

    for (let i = 0; i < warmup; i++) {
      await round();
      await rawRound(raw.masked);
      await rawRound(raw.zero);
    }
    state.verify = false;
    const broken = history.find((m) => m.aggregated !== CLIENTS || !m.updated);
    // A warm-up round that lost updates would make every timed round wait out its deadline: time only the anchor.
    const why = broken && `warm-up round ${broken.round} aggregated ${broken.aggregated} of ${CLIENTS} updates${linkEvents.length ? `; the server saw ${linkEvents.length} lost links (${[...new Set(linkEvents)].slice(0, 3).join('; ')})` : ''}`;
    const expected = clientDelta(0);
    const rawError = [...raw.masked.replies, ...raw.zero.replies]
      .map((r, j) => {
        const i = j % CLIENTS;
        if (r === undefined || r.length !== PARAMS * 4) return `client ${i}: ${r?.length} bytes`;
        const got = new Float32Array(r.buffer, r.byteOffset, PARAMS);
        for (let k = 0; k < PARAMS; k += 997) if (got[k] !== expected[k] * (i + 1)) return `client ${i}: wrong update bytes at ${k}`;
        return undefined;
      })
      .find((e) => e !== undefined);

    const cpu = cpuMeter(() => children);
    return {
      name,
      unit: 'ms',
      better: 'lower',
      runs,
      ours: why ? { unavailable: why } : cpu.wrap('ours', round),
      anchors: { 'raw transfer': cpu.wrap('raw', rawRound.bind(null, raw.masked)), 'raw transfer, zero mask': cpu.wrap('raw zero mask', rawRound.bind(null, raw.zero)) },
      check() {
        if (state.error) throw new Error(state.error);
        if (state.checked < 1) throw new Error('no aggregate was checked');
        const bad = history.find((m) => m.aggregated !== CLIENTS || !m.updated);
        if (bad) throw new Error(`round ${bad.round}: ${bad.aggregated} of ${CLIENTS} updates aggregated`);
        if (rawError) throw new Error(`raw transfer: ${rawError}`);
      },
      // Read after the timed rounds, so the CPU figures are in.
      get notes() {
        const cpuNote = cpu.summary();
        return `${linkEvents.length && !why ? `${notes}; ${linkEvents.length} links were lost and resumed during the case` : notes}${cpuNote ? `; ${cpuNote}` : ''}`;
      },
      dispose() {
        teardown = (async () => {
          // An abandoned coordinator waits at the gate: closing the server ends it.
          const closing = why ? server.close() : undefined;
          if (why) {
            tickets = Infinity;
            wake?.();
          }
          // Bounded waits: a case that went wrong must not hang the suite.
          const within = (p: Promise<unknown>, ms: number) => Promise.race([p, new Promise((r) => setTimeout(r, ms).unref())]);
          await within(coordinator.catch(() => {}), 30_000);
          for (const ws of [...raw.masked.sockets, ...raw.zero.sockets]) ws.send('stop');
          await within(Promise.all(children.map(exited)), 30_000);
          for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill();
          await Promise.all(children.map(exited));
          await within(closing ?? server.close(), 30_000);
          await new Promise<void>((r) => wss.close(() => r()));
          if (he) rmSync(he.dir, { recursive: true, force: true });
        })();
      },
    };
  };
}

/** One raw anchor's sockets (by client index) and the replies of its last exchange. */
interface RawExchange {
  sockets: WebSocket[];
  replies: (Buffer | undefined)[];
  received: number;
  onAll: (() => void) | undefined;
}

function rawExchange(): RawExchange {
  return { sockets: [], replies: [], received: 0, onAll: undefined };
}

let meanCache: Float64Array | undefined;
const mean = () => (meanCache ??= expectedMean());

// BENCH_FL_ONLY=he (comma-separated) runs only those aggregations, for development; results/fl.json then holds only them.
const only = process.env.BENCH_FL_ONLY?.split(',');
const aggregations = (['plain', 'secagg', 'he'] as const).filter((a) => only === undefined || only.includes(a));
await runSuite('fl', aggregations.map((a) => roundCase(a, mean)), {
  targets: { 'round 10 clients 1M params, plain': 'within 1.5x of raw transfer (ratio >= 0.67)', 'round 10 clients 1M params, secagg': 'within 3x of raw transfer (ratio >= 0.33)' },
});
await teardown;
