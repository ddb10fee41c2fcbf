/**
 * The mask work of secure aggregation (Bonawitz et al. CCS 2017, section 4),
 * shared by the server and the client because it is the same computation:
 *
 * - the server, at unmasking, removes each survivor's self mask PRG(b_u) and,
 *   for every dropped client v and survivor w, the pairwise mask w added:
 *   it redoes the agreement X25519(s_v^SK, s_w^PK), derives the pair's seed
 *   and subtracts (or adds) the mask;
 * - a client, for its masked input, adds its own self mask and, for each
 *   neighbour w, the pairwise mask from X25519(s_u^SK, s_w^PK). Seen from
 *   the dropped client v's side, "remove what w added" and "add what v would
 *   have added" are the same mask with the same sign, so one routine serves
 *   both (the sign rule is in `regenerateInto`).
 *
 * Every mask is independent of the others, so the work is split between the
 * calling thread and worker threads, each summing its masks into its own
 * vector; the vectors are added at the end (the ring is commutative, so the
 * sum does not depend on the split). Each thread sums into a vector in WASM
 * memory, where the mask kernels run in place (a plain vector is staged in
 * and out of WASM memory for every mask: measured about 10% more CPU per mask
 * at 400 KB and 4 MiB in the best runs, within the noise of a loaded machine
 * in others).
 *
 * The calling thread blocks on a shared flag (Atomics.wait) until the workers
 * are done, after doing its own part: the state machines are synchronous. A
 * worker that fails to start, fails, or is too slow leaves its part to the
 * calling thread: the result never depends on the threads. Workers live in a
 * small pool that outlives one round (starting one costs about as much as a
 * few hundred masks of 10K words), is started ahead of the heavy step
 * (`warmWorkers`), and never keeps the process alive. A worker gets only what
 * its part needs: the reconstructed keys of the dropped clients whose pairs
 * it regenerates (or the client's own mask key) and the self-mask seeds of
 * its part, and wipes them when done.
 */
import { parentPort, type Worker } from 'node:worker_threads';
import { selfWorkerData, startSelfWorker } from '../core/_worker.ts';
import { addMask } from '../core/prg.ts';
import { Z32, Z64, type RingVector } from '../core/ring.ts';
import { arenaAlloc, wasmKernels, wipeAndDetach, type ArenaVector } from '../core/wasm/loader.ts';
import { agree, hkdf, KEY_BYTES, SIGNATURE_BYTES, transcript, verifyWith, x25519Public, x25519PrivateKey } from './_crypto.ts';
import { PROTOCOL, protocolError } from './_wire.ts';
import { createCipheriv, type KeyObject } from 'node:crypto';

/**
 * The masks to add, packed so that a part crosses to a worker in one
 * structured clone. Pair j is client `dropped[owner[j]]` (whose mask secret
 * key is `secretKeys[32 owner[j]..]`) with client `peer[j]`; both are indices
 * into the round's participants, whose identity keys are `ids` and whose
 * advertised mask keys are `maskKeys` (32 bytes each; only the peers' are
 * read). The peer adds +PRG(s_uv) when its index is above the owner's, -PRG
 * otherwise; `regenerateInto` adds the opposite (the server removing the
 * peer's mask, or equally the owner adding its own). `selfSeeds` (32 bytes
 * each, optional) are self-mask seeds added with sign `selfSign` (default -1:
 * the server removes them).
 */
export interface PairJobs {
  secretKeys: Uint8Array;
  dropped: Uint32Array;
  owner: Uint32Array;
  peer: Uint32Array;
  ids: Uint8Array;
  maskKeys: Uint8Array;
  selfSeeds?: Uint8Array;
  selfSign?: 1 | -1;
}

const at = (list: Uint8Array, i: number) => list.subarray(i * KEY_BYTES, (i + 1) * KEY_BYTES);

/**
 * A ring vector in WASM memory that masks are added into (in ordinary memory
 * when the JS kernels run). Free it when done: arena memory is not collected.
 */
export class MaskSum {
  readonly bits: 32 | 64;
  readonly length: number;
  #acc: ArenaVector<Uint32Array> | ArenaVector<BigUint64Array>;
  #scratch: ArenaVector<Uint32Array> | ArenaVector<BigUint64Array> | undefined;
  #keystream: ArenaVector<Uint32Array> | undefined;

  constructor(bits: 32 | 64, length: number) {
    this.bits = bits;
    this.length = length;
    this.#acc = bits === 32 ? arenaAlloc(Uint32Array, length) : arenaAlloc(BigUint64Array, length);
  }

  /** The current view (re-read after anything that may grow WASM memory). */
  get view(): RingVector {
    return this.#acc.view;
  }

  /** this += y, with the WASM add kernel (y is copied in first: a memcpy, far cheaper than a JS loop). */
  add(y: RingVector): void {
    this.#scratch ??= this.bits === 32 ? arenaAlloc(Uint32Array, this.length) : arenaAlloc(BigUint64Array, this.length);
    const s = this.#scratch.view;
    (s as Uint32Array).set(y as Uint32Array);
    const v = this.view;
    if (this.bits === 32) Z32.add(v as Uint32Array, s as Uint32Array, v as Uint32Array);
    else Z64.add(v as BigUint64Array, s as BigUint64Array, v as BigUint64Array);
  }

  /**
   * this ±= PRG(seed): exactly `addMask(view, seed, sign)` (core/prg.ts: ChaCha20 under the 256-bit
   * seed, block counter 0, all-zero nonce; element i is keystream word i, or words 2i and 2i + 1 as a
   * little-endian u64), with OpenSSL's keystream added chunk by chunk by the WASM add kernel, and
   * each chunk OpenSSL returns wiped and freed at once (`release`). Without the WASM kernels, addMask.
   */
  mask(seed: Uint8Array, sign: 1 | -1): void {
    const k = wasmKernels();
    if (k === null || seed.length !== 32) {
      addMask(this.view, seed, sign);
      return;
    }
    this.#keystream ??= arenaAlloc(Uint32Array, KEYSTREAM_WORDS);
    const wide = this.bits === 64;
    const per = wide ? KEYSTREAM_WORDS / 2 : KEYSTREAM_WORDS;
    const cipher = createCipheriv('chacha20', seed, CHACHA_IV);
    try {
      for (let i = 0; i < this.length; i += per) {
        const n = Math.min(per, this.length - i);
        const chunk = cipher.update(ZEROS.subarray(0, n * (wide ? 8 : 4)));
        const ks = this.#keystream.view;
        new Uint8Array(ks.buffer, ks.byteOffset, chunk.length).set(chunk);
        wipeAndDetach(chunk);
        if (wide) {
          const v = (this.view as BigUint64Array).subarray(i, i + n);
          const b = new BigUint64Array(ks.buffer, ks.byteOffset, n);
          if (sign === 1) k.add64(v, v, b);
          else k.sub64(v, v, b);
        } else {
          const v = (this.view as Uint32Array).subarray(i, i + n);
          const b = ks.subarray(0, n);
          if (sign === 1) k.add32(v, v, b);
          else k.sub32(v, v, b);
        }
      }
    } finally {
      cipher.final();
    }
  }

  /** Copies the sum out to `out` (same type and length). */
  copyTo(out: RingVector): void {
    (out as Uint32Array).set(this.view as Uint32Array);
  }

  free(): void {
    this.#acc.free();
    this.#scratch?.free();
    this.#keystream?.view.fill(0); // no keystream left behind in WASM memory
    this.#keystream?.free();
  }
}

/** Keystream words per OpenSSL call (256 KiB, as core's native mask path). */
const KEYSTREAM_WORDS = 1 << 16;
/** Block counter 0 ‖ all-zero nonce, in OpenSSL's 16-byte ChaCha20 IV: the stream `addMask` uses. */
const CHACHA_IV = new Uint8Array(16);
const ZEROS = new Uint8Array(4 * KEYSTREAM_WORDS);

/**
 * Adds the masks of units [from, to) of `jobs` into `sum`: units below the
 * number of self seeds are self masks, the rest pairs. Returns the index of a
 * pair whose agreement failed (a low-order key), or -1.
 */
export function regenerateInto(sum: MaskSum, jobs: PairJobs, from: number, to: number, sessionId: Uint8Array, round: number): number {
  const selves = selfCount(jobs);
  const selfSign = jobs.selfSign ?? -1;
  for (let j = from; j < Math.min(to, selves); j++) {
    const seed = at(jobs.selfSeeds!, j);
    sum.mask(seed, selfSign);
  }
  const keys = new Map<number, KeyObject>();
  // A peer's key meets every dropped client: one KeyObject per peer, not per pair.
  const peers = new Map<number, KeyObject>();
  // The HKDF info of every pair is label ‖ round ‖ low id ‖ high id (the client's pairSeed transcript): the
  // prefix is built once and the two identities written in place.
  const prefix = transcript(`${PROTOCOL}/pair-mask`, round);
  const info = new Uint8Array(prefix.length + 2 * KEY_BYTES);
  info.set(prefix);
  for (let u = Math.max(from, selves); u < to; u++) {
    const j = u - selves;
    const o = jobs.owner[j];
    let sk = keys.get(o);
    if (sk === undefined) keys.set(o, (sk = x25519PrivateKey(at(jobs.secretKeys, o))));
    const v = jobs.dropped[o];
    const w = jobs.peer[j];
    let pk = peers.get(w);
    if (pk === undefined) peers.set(w, (pk = x25519Public(at(jobs.maskKeys, w))));
    const secret = agree(sk, pk);
    if (secret === undefined) return j;
    info.set(at(jobs.ids, Math.min(v, w)), prefix.length);
    info.set(at(jobs.ids, Math.max(v, w)), prefix.length + KEY_BYTES);
    const seed = hkdf(secret, sessionId, info);
    // w added +PRG when its index is above v's; remove what it added (= add what v adds).
    sum.mask(seed, w > v ? -1 : 1);
    seed.fill(0);
    secret.fill(0);
  }
  return -1;
}

function selfCount(jobs: PairJobs): number {
  return jobs.selfSeeds === undefined ? 0 : jobs.selfSeeds.length / KEY_BYTES;
}

/**
 * The units [from, to) of `jobs` as a job of their own, holding only the
 * secrets they need (the owners' keys of its pairs, its self seeds).
 */
export function partOf(jobs: PairJobs, from: number, to: number): PairJobs {
  const selves = selfCount(jobs);
  const sf = Math.min(from, selves), st = Math.min(to, selves);
  const pf = Math.max(from, selves) - selves, pt = Math.max(to, selves) - selves;
  const local = new Map<number, number>();
  const owner = new Uint32Array(Math.max(0, pt - pf));
  for (let j = pf; j < pt; j++) {
    const o = jobs.owner[j];
    let l = local.get(o);
    if (l === undefined) local.set(o, (l = local.size));
    owner[j - pf] = l;
  }
  const secretKeys = new Uint8Array(local.size * KEY_BYTES);
  const dropped = new Uint32Array(local.size);
  for (const [o, l] of local) {
    secretKeys.set(at(jobs.secretKeys, o), l * KEY_BYTES);
    dropped[l] = jobs.dropped[o];
  }
  return {
    secretKeys,
    dropped,
    owner,
    peer: jobs.peer.slice(pf, Math.max(pf, pt)),
    ids: jobs.ids,
    maskKeys: jobs.maskKeys,
    selfSeeds: (jobs.selfSeeds ?? new Uint8Array(0)).slice(sf * KEY_BYTES, st * KEY_BYTES),
    selfSign: jobs.selfSign ?? -1,
  };
}

function wipe(jobs: PairJobs): void {
  jobs.secretKeys.fill(0);
  jobs.selfSeeds?.fill(0);
}

const WORKER_MARK = 'confide/secagg/mask-worker';
// Flag states in the shared Int32Array.
// A worker's share is sent as a few chunks, each a task of its own with a
// flag: PENDING until the worker starts it (RUNNING) or the calling thread
// takes it back (TAKEN). The calling thread, done with its own part, takes
// back the worker's chunks from the last one down while they are still
// pending (the worker runs them in order), so a worker that is late (still
// starting up, or not scheduled on a busy machine) costs at most one chunk of
// waiting; the worker always gets the chance to do its first chunk. The
// compare-and-swap on a flag decides which thread does a chunk, exactly once.
const PENDING = 0;
const DONE = 1;
const FAILED = 2;
const RUNNING = 3;
const TAKEN = 4;

/**
 * The state of a task once the calling thread is done with its own part: it
 * gives the worker `graceMs` to start the task (a worker started ahead is
 * ready long before; one still loading gets the time to finish), then takes
 * the task back if it has not started, else waits for it to finish
 * (RUNNING on time-out).
 */
function settle(flag: Int32Array, graceMs: number): number {
  Atomics.wait(flag, 0, PENDING, graceMs);
  if (Atomics.compareExchange(flag, 0, PENDING, TAKEN) === PENDING) return TAKEN;
  Atomics.wait(flag, 0, RUNNING, WORKER_WAIT_MS);
  return Atomics.load(flag, 0);
}

/** How long a worker may take to start its first chunk: at least a second, or twice the calling thread's own part. */
function graceFor(ownMs: number): number {
  return Math.max(1000, 2 * ownMs);
}

/** Chunks a worker's share is cut into (fewer when it has fewer units). */
const CHUNKS = 8;
/** Each mask chunk returns a whole vector: their outputs for one worker stay within this many bytes (or one vector). */
const CHUNK_OUTPUT_BYTES = 64 * 2 ** 20;

/** [from, to) cut into at most `most` consecutive ranges of about equal size. */
function chunksOf(from: number, to: number, most = CHUNKS): [number, number][] {
  const n = Math.max(1, Math.min(most, to - from));
  return Array.from({ length: n }, (_, c) => [from + Math.round((c * (to - from)) / n), from + Math.round(((c + 1) * (to - from)) / n)]);
}

/**
 * Settles one worker's chunks once the calling thread is done with its own
 * part: takes back the pending ones from the last down to the second, then
 * settles the rest in order; `take(c)` consumes a chunk the worker did,
 * `here(c)` does a chunk on this thread. Returns whether the worker did any
 * and whether it is still usable.
 */
function settleChunks(worker: Worker | undefined, flags: Int32Array[], grace: number, take: (c: number) => void, here: (c: number) => void): { did: boolean; usable: boolean } {
  let last = flags.length - 1;
  for (; last >= 1; last--) {
    if (Atomics.compareExchange(flags[last], 0, PENDING, TAKEN) !== PENDING) break;
    here(last);
  }
  let did = false;
  let usable = worker !== undefined;
  for (let c = 0; c <= last; c++) {
    const state = !usable ? (Atomics.compareExchange(flags[c], 0, PENDING, TAKEN), Atomics.load(flags[c], 0)) : settle(flags[c], c === 0 ? grace : 0);
    if (state === DONE) {
      take(c);
      did = true;
      continue;
    }
    if (state === RUNNING || (state !== FAILED && state !== TAKEN)) {
      // Too slow: stop it; what it has not finished is done here.
      usable = false;
      void worker?.terminate();
    }
    here(c);
  }
  return { did, usable };
}
/** How long the calling thread waits for a worker before doing its part itself. */
const WORKER_WAIT_MS = 120_000;
/** At most this many workers per thread that uses them. */
const MAX_WORKERS = 8;

interface WorkerTask {
  kind: 'masks';
  jobs: PairJobs;
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

/** Idle workers of this thread, reused from round to round. */
const pool: Worker[] = [];
/** Settles when a worker has loaded this module and listens for tasks (or has failed to). */
const ready = new WeakMap<Worker, Promise<void>>();

function startWorker(): Worker | undefined {
  try {
    const worker = startSelfWorker(import.meta.url, WORKER_MARK);
    worker.unref();
    // A worker that dies leaves the pool; its task, if any, reports FAILED through its flag or times out.
    const drop = () => {
      const i = pool.indexOf(worker);
      if (i >= 0) pool.splice(i, 1);
    };
    worker.on('error', drop);
    worker.on('exit', drop);
    ready.set(worker, new Promise<void>((resolve) => {
      worker.once('message', () => resolve());
      worker.once('error', () => resolve());
      worker.once('exit', () => resolve());
    }));
    return worker;
  } catch {
    return undefined;
  }
}

/**
 * Starts worker threads ahead of the heavy step so that their start-up
 * (loading the module and compiling the WASM kernels) overlaps the wait for
 * the clients. `threads` counts the caller's thread too.
 */
export function warmWorkers(threads: number): void {
  const want = Math.min(MAX_WORKERS, threads - 1);
  while (pool.length < want) {
    const w = startWorker();
    if (w === undefined) return;
    pool.push(w);
  }
}

/** Stops every idle worker (they are started again when needed). */
export async function stopWorkers(): Promise<void> {
  await Promise.all(pool.splice(0).map((w) => w.terminate()));
}

/** Settles once every idle worker is ready for tasks (for tests, and callers that can wait); resolves to their number. */
export async function workersReady(): Promise<number> {
  await Promise.all(pool.map((w) => ready.get(w)));
  return pool.length;
}

/** Split points of `units` (self masks first, then pairs) into `parts` of about equal cost. */
function split(jobs: PairJobs, length: number, parts: number): number[] {
  const selves = selfCount(jobs);
  const units = selves + jobs.peer.length;
  // A pair costs its mask plus an agreement, HKDF and two KeyObjects at worst: about 12K mask words' worth.
  const pairCost = length + 12_000;
  const total = selves * length + jobs.peer.length * pairCost;
  const bounds = [0];
  for (let k = 1; k < parts; k++) {
    const target = (k * total) / parts;
    // Units before the cut cost about `target`.
    const u = target <= selves * length ? Math.round(target / length) : selves + Math.round((target - selves * length) / pairCost);
    bounds.push(Math.min(units, Math.max(bounds[k - 1], u)));
  }
  bounds.push(units);
  return bounds;
}

/**
 * vec ±= every unit's mask, with `threads` threads in all (the caller's
 * included). Returns how many parts worker threads did (the rest ran here).
 * Throws E_PROTOCOL when an agreement fails.
 */
export function regenerate(vec: RingVector, jobs: PairJobs, sessionId: Uint8Array, round: number, threads: number): number {
  const units = selfCount(jobs) + jobs.peer.length;
  const bits = vec instanceof BigUint64Array ? 64 : 32;
  const parts = Math.max(1, Math.min(threads, units, MAX_WORKERS + 1));
  const bounds = split(jobs, vec.length, parts);
  if (parts > 1) warmWorkers(parts);
  const shares: { worker: Worker | undefined; chunks: { task: WorkerTask; from: number; to: number }[] }[] = [];
  for (let k = 1; k < parts; k++) {
    const worker = pool.shift();
    const chunks = chunksOf(bounds[k], bounds[k + 1], Math.floor(CHUNK_OUTPUT_BYTES / (vec.length * (bits / 8)))).map(([from, to]) => {
      const part = partOf(jobs, from, to);
      const task: WorkerTask = { kind: 'masks', jobs: part, sessionId, round, bits, length: vec.length, out: new SharedArrayBuffer(vec.length * (bits / 8)), flag: new SharedArrayBuffer(4) };
      try {
        worker?.postMessage(task);
      } catch {
        // Not sent: the chunk stays pending and is taken back.
      } finally {
        wipe(part); // the worker has its own copy (postMessage clones synchronously)
      }
      return { task, from, to };
    });
    shares.push({ worker, chunks });
  }
  let byWorkers = 0;
  const fail = (j: number) => protocolError(`no agreement between clients ${jobs.dropped[jobs.owner[j]]} and ${jobs.peer[j]}`, 'unmask');
  const sum = new MaskSum(bits, vec.length);
  try {
    sum.add(vec);
    const t0 = performance.now();
    const here = (from: number, to: number) => {
      const bad = regenerateInto(sum, jobs, from, to, sessionId, round);
      if (bad >= 0) throw fail(bad);
    };
    here(bounds[0], bounds[1]);
    const grace = graceFor(performance.now() - t0);
    while (shares.length > 0) {
      const { worker, chunks } = shares[0];
      const { did, usable } = settleChunks(
        worker,
        chunks.map((c) => new Int32Array(c.task.flag)),
        grace,
        (c) => sum.add(vectorOn(chunks[c].task.out, bits, vec.length)),
        (c) => here(chunks[c].from, chunks[c].to),
      );
      shares.shift();
      if (did) byWorkers++;
      if (usable) pool.push(worker!);
    }
    sum.copyTo(vec);
  } finally {
    sum.free();
    // After a failure: the chunks not started yet are taken back (their workers skip them and wipe
    // what they were sent), and the workers go back to the pool.
    for (const { worker, chunks } of shares) {
      for (const c of chunks) Atomics.compareExchange(new Int32Array(c.task.flag), 0, PENDING, TAKEN);
      if (worker !== undefined) pool.push(worker);
    }
  }
  return byWorkers;
}

/**
 * Ed25519 signatures to check: item k is signature `sigs[64k..]` by the raw
 * key `keys[32k..]` over `data[offsets[k]..offsets[k + 1])`.
 */
export interface Signed {
  keys: Uint8Array;
  sigs: Uint8Array;
  data: Uint8Array;
  offsets: Uint32Array;
}

interface VerifyTask {
  kind: 'verify';
  signed: Signed;
  from: number;
  to: number;
  out: SharedArrayBuffer;
  flag: SharedArrayBuffer;
}

/** Below this many signatures per extra thread, handing them over costs more than it saves (about 110 µs each). */
const MIN_SIGNATURES_PER_THREAD = 64;

function verifyRange(signed: Signed, from: number, to: number, out: Uint8Array, base: number): void {
  const { keys, sigs, data, offsets } = signed;
  for (let k = from; k < to; k++)
    out[k - base] = verifyWith(keys.subarray(k * KEY_BYTES, (k + 1) * KEY_BYTES), data.subarray(offsets[k], offsets[k + 1]), sigs.subarray(k * SIGNATURE_BYTES, (k + 1) * SIGNATURE_BYTES)) ? 1 : 0;
}

/** Packs (key, data, signature) triples for `verifyMany`. */
export function signedBatch(items: readonly { key: Uint8Array; data: Uint8Array; sig: Uint8Array }[]): Signed {
  const keys = new Uint8Array(items.length * KEY_BYTES);
  const sigs = new Uint8Array(items.length * SIGNATURE_BYTES);
  const offsets = new Uint32Array(items.length + 1);
  let n = 0;
  items.forEach((it, k) => {
    offsets[k] = n;
    n += it.data.length;
  });
  offsets[items.length] = n;
  const data = new Uint8Array(n);
  items.forEach((it, k) => {
    if (it.key.length === KEY_BYTES) keys.set(it.key, k * KEY_BYTES);
    if (it.sig.length === SIGNATURE_BYTES) sigs.set(it.sig, k * SIGNATURE_BYTES);
    data.set(it.data, offsets[k]);
  });
  return { keys, sigs, data, offsets };
}

/**
 * Verifies every signature of `signed`, with up to `threads` threads (the
 * caller's included); ok[k] is 1 when signature k is valid. Signatures and
 * keys are public, so any thread may check any of them; a worker that fails
 * or is slow leaves its part to the calling thread.
 */
export function verifyMany(signed: Signed, threads: number): Uint8Array {
  const m = signed.offsets.length - 1;
  const ok = new Uint8Array(m);
  // Only workers already running: starting one here would cost more than the checks.
  const parts = Math.max(1, Math.min(threads, pool.length + 1, Math.floor(m / MIN_SIGNATURES_PER_THREAD)));
  const bounds = Array.from({ length: parts + 1 }, (_, k) => Math.round((k * m) / parts));
  const shares: { worker: Worker | undefined; chunks: VerifyTask[] }[] = [];
  for (let k = 1; k < parts; k++) {
    const worker = pool.shift();
    const chunks = chunksOf(bounds[k], bounds[k + 1]).map(([from, to]) => {
      const task: VerifyTask = { kind: 'verify', signed, from, to, out: new SharedArrayBuffer(to - from), flag: new SharedArrayBuffer(4) };
      try {
        worker?.postMessage(task);
      } catch {
        // Not sent: the chunk stays pending and is taken back.
      }
      return task;
    });
    shares.push({ worker, chunks });
  }
  const t0 = performance.now();
  verifyRange(signed, bounds[0], bounds[1], ok, 0);
  const grace = graceFor(performance.now() - t0);
  for (const { worker, chunks } of shares) {
    const { usable } = settleChunks(
      worker,
      chunks.map((t) => new Int32Array(t.flag)),
      grace,
      (c) => ok.set(new Uint8Array(chunks[c].out), chunks[c].from),
      (c) => verifyRange(signed, chunks[c].from, chunks[c].to, ok.subarray(chunks[c].from), chunks[c].from),
    );
    if (usable) pool.push(worker!);
  }
  return ok;
}

function runVerifyTask(task: VerifyTask): void {
  const flag = new Int32Array(task.flag);
  if (Atomics.compareExchange(flag, 0, PENDING, RUNNING) !== PENDING) return; // taken back
  Atomics.notify(flag, 0);
  let state = FAILED;
  try {
    verifyRange(task.signed, task.from, task.to, new Uint8Array(task.out), task.from);
    state = DONE;
  } finally {
    Atomics.store(flag, 0, state);
    Atomics.notify(flag, 0);
  }
}

function runWorkerTask(task: WorkerTask): void {
  const flag = new Int32Array(task.flag);
  if (Atomics.compareExchange(flag, 0, PENDING, RUNNING) !== PENDING) {
    wipe(task.jobs); // taken back by the calling thread
    return;
  }
  Atomics.notify(flag, 0);
  let state = FAILED;
  let sum: MaskSum | undefined;
  try {
    sum = new MaskSum(task.bits, task.length);
    if (regenerateInto(sum, task.jobs, 0, selfCount(task.jobs) + task.jobs.peer.length, task.sessionId, task.round) < 0) {
      sum.copyTo(vectorOn(task.out, task.bits, task.length));
      state = DONE;
    }
  } catch {
    state = FAILED;
  } finally {
    sum?.free();
    wipe(task.jobs); // this thread's copy of the secrets
    Atomics.store(flag, 0, state);
    Atomics.notify(flag, 0);
  }
}

// The worker side: a worker started above imports this module with the mark
// in workerData and then runs each task it is sent. Nothing happens on the
// main thread or in other workers.
if (selfWorkerData(WORKER_MARK)) {
  parentPort?.on('message', (task: WorkerTask | VerifyTask) => (task.kind === 'verify' ? runVerifyTask(task) : runWorkerTask(task)));
  parentPort?.postMessage('ready');
}
