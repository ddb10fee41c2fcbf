/**
 * The server's costliest work once clients drop (Bonawitz et al. CCS 2017,
 * section 4, Unmasking): for every dropped client v and every survivor w, the
 * server redoes the agreement X25519(s_v^SK, s_w^PK), derives the pair's seed
 * and removes the mask w added. Each pair is independent of the others, so
 * the pairs are split between the calling thread and worker threads, each
 * summing its masks into its own vector; the vectors are added at the end
 * (the ring is commutative, so the sum does not depend on the split).
 *
 * `SecAggServer.unmasked` is synchronous, so the calling thread blocks on a
 * shared flag (Atomics.wait) until the workers are done, after doing its own
 * part. A worker that fails to start or fails leaves its part to the calling
 * thread: the result never depends on the threads.
 */
import { createPrivateKey, type KeyObject } from 'node:crypto';
import { Worker, isMainThread, workerData } from 'node:worker_threads';
import { addMask } from '../core/prg.ts';
import { Z32, Z64, type RingVector } from '../core/ring.ts';
import { agree, hkdf, KEY_BYTES, transcript, x25519Public } from './_crypto.ts';
import { PROTOCOL, protocolError } from './_wire.ts';

// Same DER prefix as _crypto.ts (RFC 8410 PKCS#8 for X25519).
const X25519_PKCS8 = Buffer.from('302e020100300506032b656e04220420', 'hex');

/**
 * The pairs to regenerate, packed so that they cross to a worker in one
 * structured clone. Pair j is dropped client `dropped[owner[j]]` (whose
 * reconstructed mask key is `secretKeys[32 owner[j]..]`) with survivor
 * `peer[j]`; both are indices into the round's participants, whose identity
 * keys are `ids` and whose advertised mask keys are `maskKeys` (32 bytes
 * each). The survivor added +PRG(s_uv) when its index is above the dropped
 * client's, -PRG otherwise; the server removes exactly that.
 */
export interface PairJobs {
  secretKeys: Uint8Array;
  dropped: Uint32Array;
  owner: Uint32Array;
  peer: Uint32Array;
  ids: Uint8Array;
  maskKeys: Uint8Array;
}

/** HKDF seed of the pairwise mask; the same derivation as the client's pairSeed. */
function pairSeedOf(secret: Uint8Array, sessionId: Uint8Array, round: number, low: Uint8Array, high: Uint8Array): Uint8Array {
  return hkdf(secret, sessionId, transcript(`${PROTOCOL}/pair-mask`, round, low, high));
}

/** Adds the masks of pairs [from, to) of `jobs` into `vec`; returns the index of a failed agreement, or -1. */
export function regenerateInto(vec: RingVector, jobs: PairJobs, from: number, to: number, sessionId: Uint8Array, round: number): number {
  const keys = new Map<number, KeyObject>();
  // A survivor's key meets every dropped client: one KeyObject per survivor, not per pair.
  const peers = new Map<number, KeyObject>();
  const at = (list: Uint8Array, i: number) => list.subarray(i * KEY_BYTES, (i + 1) * KEY_BYTES);
  for (let j = from; j < to; j++) {
    const o = jobs.owner[j];
    let sk = keys.get(o);
    if (sk === undefined) {
      const der = Buffer.concat([X25519_PKCS8, at(jobs.secretKeys, o)]);
      keys.set(o, (sk = createPrivateKey({ key: der, format: 'der', type: 'pkcs8' })));
      der.fill(0);
    }
    const v = jobs.dropped[o];
    const w = jobs.peer[j];
    let pk = peers.get(w);
    if (pk === undefined) peers.set(w, (pk = x25519Public(at(jobs.maskKeys, w))));
    const secret = agree(sk, pk);
    if (secret === undefined) return j;
    const seed = v < w ? pairSeedOf(secret, sessionId, round, at(jobs.ids, v), at(jobs.ids, w)) : pairSeedOf(secret, sessionId, round, at(jobs.ids, w), at(jobs.ids, v));
    // w added +PRG when its index is above v's; remove what it added.
    addMask(vec, seed, w > v ? -1 : 1);
    seed.fill(0);
    secret.fill(0);
  }
  return -1;
}

const WORKER_MARK = 'confide/secagg/unmask-worker';
// Flag states in the shared Int32Array.
const PENDING = 0;
const DONE = 1;
const FAILED = 2;
/** How long the calling thread waits for a worker before doing its part itself. */
const WORKER_WAIT_MS = 120_000;

interface WorkerTask {
  mark: typeof WORKER_MARK;
  jobs: PairJobs;
  from: number;
  to: number;
  sessionId: Uint8Array;
  round: number;
  bits: 32 | 64;
  length: number;
  out: SharedArrayBuffer;
  flag: SharedArrayBuffer;
}

function vectorOn(buffer: ArrayBuffer | SharedArrayBuffer, bits: 32 | 64, length: number): RingVector {
  return (bits === 32 ? new Uint32Array(buffer, 0, length) : new BigUint64Array(buffer, 0, length)) as RingVector;
}

/**
 * vec ±= every pair's mask, with `threads` threads in all (the caller's
 * included). Returns how many parts worker threads did (the rest ran here).
 * Throws E_PROTOCOL when an agreement fails.
 */
export function regenerate(vec: RingVector, jobs: PairJobs, sessionId: Uint8Array, round: number, threads: number): number {
  const pairs = jobs.peer.length;
  const bits = vec instanceof BigUint64Array ? 64 : 32;
  const parts = Math.max(1, Math.min(threads, pairs));
  const bounds = Array.from({ length: parts + 1 }, (_, k) => Math.round((k * pairs) / parts));
  const started: { worker: Worker; task: WorkerTask }[] = [];
  for (let k = 1; k < parts; k++) {
    const task: WorkerTask = {
      mark: WORKER_MARK,
      jobs,
      from: bounds[k],
      to: bounds[k + 1],
      sessionId,
      round,
      bits,
      length: vec.length,
      out: new SharedArrayBuffer(vec.length * (bits / 8)),
      flag: new SharedArrayBuffer(4),
    };
    try {
      const worker = new Worker(`import(${JSON.stringify(import.meta.url)});`, { eval: true, workerData: task });
      worker.unref();
      // A worker's errors reach us through its flag; this only keeps them from being unhandled.
      worker.on('error', () => Atomics.store(new Int32Array(task.flag), 0, FAILED));
      started.push({ worker, task });
    } catch {
      started.push({ worker: undefined as never, task });
    }
  }
  let byWorkers = 0;
  const fail = (j: number) => protocolError(`no agreement between clients ${jobs.dropped[jobs.owner[j]]} and ${jobs.peer[j]}`, 'unmask');
  let bad = regenerateInto(vec, jobs, bounds[0], bounds[1], sessionId, round);
  if (bad >= 0) {
    for (const s of started) void s.worker?.terminate();
    throw fail(bad);
  }
  for (const { worker, task } of started) {
    const flag = new Int32Array(task.flag);
    if (worker !== undefined) Atomics.wait(flag, 0, PENDING, WORKER_WAIT_MS);
    const state = Atomics.load(flag, 0);
    if (state === DONE) {
      const ring = bits === 32 ? Z32 : Z64;
      byWorkers++;
      (ring.add as (a: RingVector, b: RingVector, o: RingVector) => RingVector)(vec, vectorOn(task.out, bits, vec.length), vec);
    } else {
      // The worker failed, did not start, or is too slow: its pairs are done here.
      void worker?.terminate();
      bad = regenerateInto(vec, jobs, task.from, task.to, sessionId, round);
      if (bad >= 0) {
        for (const s of started) void s.worker?.terminate();
        throw fail(bad);
      }
      continue;
    }
    void worker.terminate();
  }
  return byWorkers;
}

function runWorkerTask(task: WorkerTask): void {
  const flag = new Int32Array(task.flag);
  let state = FAILED;
  try {
    const out = vectorOn(task.out, task.bits, task.length);
    if (regenerateInto(out, task.jobs, task.from, task.to, task.sessionId, task.round) < 0) state = DONE;
  } finally {
    task.jobs.secretKeys.fill(0); // this thread's copy of the reconstructed keys
    Atomics.store(flag, 0, state);
    Atomics.notify(flag, 0);
  }
}

// The worker side of `regenerate`: a worker it starts imports this module
// with its task in workerData. Nothing happens on the main thread.
if (!isMainThread && (workerData as Partial<WorkerTask> | null)?.mark === WORKER_MARK) runWorkerTask(workerData as WorkerTask);
