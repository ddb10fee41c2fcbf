/**
 * A whole round in one process, for sizing deployments (`confide secagg
 * simulate`) and for benchmarks: a server and n clients with their own
 * identities on the in-memory net transport (so every message is framed,
 * signed and verified as over WebSocket), a chosen fraction of clients
 * leaving before a chosen step, and timings per role and step. All parties
 * share this process's cores, so wall time is the sum of everyone's work;
 * the per-role timings count each party's own computation only.
 */
import { ainteger, anumber, aoneof, aoptions } from '../core/assert.ts';
import { ConfideError, isConfideError } from '../core/errors.ts';
import { seededRng, systemRng } from '../core/random.ts';
import { generateIdentity, join, memoryTransport, serve, type Party } from '../net/index.ts';
import { runSecAggClient, type ClientOutcome } from './client.ts';
import type { SecAggConfig } from './config.ts';
import { secaggParameters } from './graph.ts';
import { runSecAggServer, type SecAggResult } from './server.ts';
import { PHASES, type Phase } from './_wire.ts';

export interface SimulateOptions {
  clients: number;
  length: number;
  /** Fraction of clients that leave, in [0, 0.9]. */
  dropout: number;
  graph: 'complete' | 'harary';
  /** The step the leaving clients skip (default 'masked': after sharing keys, the costliest case for the server). */
  dropBefore?: Phase;
  /** Fraction of clients assumed to collude with the server, for the Harary parameters (default 0.1). */
  corruptFraction?: number;
  /** Ring width (default 32). */
  bits?: 32 | 64;
  /** Seed for the inputs and for who drops (default: random). */
  seed?: number;
}

export interface SimulationReport {
  clients: number;
  length: number;
  graph: 'complete' | 'harary';
  degree: number;
  threshold: number;
  dropBefore: Phase;
  /** Clients that left. */
  dropped: number;
  /** Clients whose inputs are in the sum. */
  survivors: number;
  /** True when the server's sum equals the sum of the survivors' inputs, coordinate by coordinate. */
  exact: boolean;
  /** Set when the round failed (e.g. too many dropouts for the threshold). */
  error?: string;
  /** Milliseconds: server computation per step and in all; clients' per step (mean over clients that ran it) and per client in all. */
  timings: {
    server: Record<Phase, number> & { total: number };
    client: Record<Phase, number> & { meanTotal: number; maxTotal: number };
    /** Wall time of the round (every party shares this process). */
    wall: number;
  };
}

// Every party computes on this process's cores in turn, so a step takes as
// long as all clients' work together and the event loop is busy for long
// stretches: deadlines only catch hangs, and heartbeats must not take a busy
// process for a dead link (a lost link would lose the messages in flight).
const DEADLINE_MS = 60 * 60 * 1000;
const HEARTBEAT_MS = 20 * 60 * 1000;

/** Runs one round in process and reports what happened and how long each role computed. */
export async function simulateSecAgg(options: SimulateOptions): Promise<SimulationReport> {
  aoptions(options, 'options', ['clients', 'length', 'dropout', 'graph', 'dropBefore', 'corruptFraction', 'bits', 'seed']);
  if (options === undefined) throw new ConfideError('E_BAD_INPUT', '"options" expected { clients, length, dropout, graph }', { field: 'options' });
  const n = ainteger(options.clients, 'clients', 3, 10_000);
  const length = ainteger(options.length, 'length', 1, 2 ** 24);
  const dropout = anumber(options.dropout, 'dropout', 0, 0.9);
  const graphKind = aoneof(options.graph, 'graph', ['complete', 'harary'] as const);
  const dropBefore = options.dropBefore === undefined ? 'masked' : aoneof(options.dropBefore, 'dropBefore', PHASES);
  const corrupt = options.corruptFraction === undefined ? 0.1 : anumber(options.corruptFraction, 'corruptFraction', 0, 0.5);
  const bits = options.bits === undefined ? 32 : aoneof(options.bits, 'bits', [32, 64] as const);
  const seed = options.seed === undefined ? systemRng().nextU32() : ainteger(options.seed, 'seed', 0, 2 ** 32 - 1);
  const leaving = Math.round(n * dropout);
  let degree = n - 1;
  let threshold: number;
  if (graphKind === 'complete') {
    // A majority threshold, lowered if needed so that the survivors can still unmask.
    threshold = Math.min(Math.floor(n / 2) + 1, n - leaving);
  } else {
    const p = secaggParameters({ clients: n, dropoutRate: Math.max(dropout, 0.01), corruptFraction: corrupt });
    degree = p.degree;
    threshold = p.threshold;
  }
  if (threshold < 1) throw new ConfideError('E_BAD_INPUT', `dropout ${dropout} leaves no client to unmask`, { field: 'dropout' });
  // Integer inputs within ±1000 at scale 2^0: encoding is exact, so the sum can be checked exactly.
  const config: SecAggConfig = {
    length,
    bits,
    fracBits: 0,
    bound: 1000,
    threshold,
    graph: degree >= n - 1 ? 'complete' : { degree },
  };
  const rng = seededRng(seed);
  const drops = new Set(rng.shuffle(Array.from({ length: n }, (_, i) => i)).slice(0, leaving));
  const transport = memoryTransport();
  const ids = Array.from({ length: n }, () => generateIdentity());
  const server = await serve({ transport, identity: generateIdentity(), allow: ids.map((i) => i.id), maxBufferedBytes: 2 ** 31 - 1, heartbeatMs: HEARTBEAT_MS });
  const parties: Party[] = [];
  try {
    for (const identity of ids) parties.push(await join({ transport, address: server.address, identity, maxBufferedBytes: 2 ** 31 - 1, heartbeatMs: HEARTBEAT_MS }));
    const expected = new Float64Array(length);
    const inputs = ids.map((_, i) => {
      const x = new Float64Array(length);
      for (let k = 0; k < length; k++) x[k] = rng.uniformInt(2001) - 1000;
      const inSum = !drops.has(i) || PHASES.indexOf(dropBefore) > PHASES.indexOf('masked');
      if (inSum) for (let k = 0; k < length; k++) expected[k] += x[k];
      return x;
    });
    const t0 = performance.now();
    const clientRuns = parties.map((p, i) =>
      runSecAggClient(p, { identity: ids[i], config, input: inputs[i], timeoutMs: DEADLINE_MS, ...(drops.has(i) ? { dropBefore } : {}) }).catch((e: unknown) => e),
    );
    let result: SecAggResult | undefined;
    let error: string | undefined;
    try {
      result = await runSecAggServer(server, { config, participants: ids.map((i) => i.id), deadlineMs: DEADLINE_MS });
    } catch (e) {
      error = isConfideError(e) ? `${e.code}: ${e.message}` : String(e);
    }
    const outcomes = await Promise.all(clientRuns);
    const wall = performance.now() - t0;
    const client = { advertise: 0, share: 0, masked: 0, consistency: 0, unmask: 0, meanTotal: 0, maxTotal: 0 };
    const ran = { advertise: 0, share: 0, masked: 0, consistency: 0, unmask: 0 };
    let completed = 0;
    for (const o of outcomes) {
      if (!(typeof o === 'object' && o !== null && 'timings' in o)) continue;
      const t = (o as ClientOutcome).timings;
      let total = 0;
      for (const p of PHASES) if (t[p] !== undefined) {
        client[p] += t[p]!;
        ran[p]++;
        total += t[p]!;
      }
      if ((o as ClientOutcome).status === 'done') {
        client.meanTotal += total;
        client.maxTotal = Math.max(client.maxTotal, total);
        completed++;
      }
    }
    for (const p of PHASES) client[p] = ran[p] ? client[p] / ran[p] : 0;
    client.meanTotal = completed ? client.meanTotal / completed : 0;
    const st = result?.timings ?? { advertise: 0, share: 0, masked: 0, consistency: 0, unmask: 0 };
    const serverTimes = { ...st, total: PHASES.reduce((s, p) => s + st[p], 0) };
    const exact = result !== undefined && result.values.every((v, k) => v === expected[k]);
    return {
      clients: n,
      length,
      graph: config.graph === 'complete' ? 'complete' : 'harary',
      degree,
      threshold,
      dropBefore,
      dropped: leaving,
      survivors: result?.survivors.length ?? 0,
      exact,
      ...(error === undefined ? {} : { error }),
      timings: { server: serverTimes, client, wall },
    };
  } finally {
    await Promise.all(parties.map((p) => p.close()));
    await server.close();
  }
}
