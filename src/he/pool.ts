/**
 * Aggregation on more cores: a pool of worker threads, each with its own
 * node-seal instance (its own WASM heap, capped at 4 GB like the main
 * thread's) and one `Accumulator`. Incoming vectors go to the worker with
 * the fewest vectors queued; at the end the workers' partial sums are added
 * on the calling thread. Homomorphic addition is associative and
 * commutative (BFV: exact addition of ciphertexts mod q), so the result is
 * the same sum a single `Accumulator` would give.
 *
 * The bytes of each vector are transferred to the worker (the ArrayBuffers
 * under the chunks are detached in the caller: no copy), except buffers
 * Node marks untransferable (its Buffer pool), which are copied, and
 * SharedArrayBuffers, which are shared.
 *
 * The worker loads this very module, as a .ts file under Node's type
 * stripping or as the bundled chunk in dist/, and the module's last
 * statement starts the worker's loop (the same scheme as
 * `collectStats({ threads })` in src/dp/stats/collect.ts).
 */
import { isMarkedAsUntransferable, parentPort, type Worker } from 'node:worker_threads';
import { selfWorkerData, startSelfWorker } from '../core/_worker.ts';
import { ainteger, aoptions, atyped } from '../core/assert.ts';
import { ConfideError, describe, type ConfideErrorCode } from '../core/errors.ts';
import { KIND_CIPHERTEXT, decodeBlob, equalBytes, field } from './_blob.ts';
import { loadSeal } from './_seal.ts';
import { acontext, contextSync, engineOf, type HeContext, type HeParams } from './context.ts';
import { Accumulator, type EncryptedVector } from './vector.ts';

const POOL_MARK = 'confide:he/AggregatorPool';
/** Most worker threads a pool may start. */
const MAX_WORKERS = 256;
/** How long close() waits for a worker to free its SEAL objects before terminating it. */
const CLOSE_GRACE_MS = 5000;

interface PoolTask {
  mark: typeof POOL_MARK;
  params: HeParams;
  paramsHash: Uint8Array;
}

interface ErrorJson {
  code: ConfideErrorCode;
  message: string;
  field?: string;
}

/** One chunk as a window into one of the transferred buffers. */
interface Part {
  b: number;
  offset: number;
  length: number;
}

type Request =
  | { op: 'add'; id: number; buffers: ArrayBufferLike[]; parts: Part[] }
  | { op: 'result'; id: number }
  | { op: 'close'; id: number };

type Reply =
  | { ready: true }
  | { id: number; ok: true; contributors: number }
  | { id: number; sum: EncryptedVector | null }
  | { id: number; closed: true }
  | { id?: number; error: ErrorJson };

function errorJson(e: unknown): ErrorJson {
  const err = e instanceof ConfideError ? e : new ConfideError('E_INTERNAL', String((e as Error)?.message ?? e));
  return { code: err.code, message: err.message, ...(err.field !== undefined ? { field: err.field } : {}) };
}

function errorFrom(j: ErrorJson): ConfideError {
  return new ConfideError(j.code, j.message, j.field === undefined ? {} : { field: j.field });
}

export interface AggregatorPoolOptions {
  /** Worker threads, each with its own SEAL context and accumulator (1 to 256). */
  workers: number;
}

interface Slot {
  worker: Worker;
  /** Requests sent and not yet answered. */
  queued: number;
  /** Vectors this worker has added. */
  contributors: number;
  exited: boolean;
}

interface Waiter {
  slot: Slot;
  resolve: (r: Reply) => void;
  reject: (e: ConfideError) => void;
}

/**
 * A streaming sum spread over worker threads. Like `Accumulator`: `add`
 * takes whole vectors (all or nothing; a refused vector rejects its own
 * promise and leaves the pool working), `result` gives the sum of every
 * vector added. The first vector given to `add` fixes the length; later ones
 * of another length are refused.
 *
 * `add` resolves when the vector is in a worker's sum, so several adds may
 * be in flight at once (that is what makes the pool fast); `pending` says
 * how many, for callers that bound their own memory.
 */
export class AggregatorPool implements AsyncDisposable {
  /** The context the pool was opened on: its parameters, and where the partial sums are added. */
  readonly context: HeContext;
  readonly workers: number;
  readonly #slots: Slot[];
  readonly #waiters = new Map<number, Waiter>();
  readonly #inFlight = new Set<Promise<unknown>>();
  #nextId = 1;
  #length = 0;
  #contributors = 0;
  #closed = false;
  #closing = false;
  #failure: ConfideError | undefined;

  private constructor(context: HeContext, slots: Slot[]) {
    this.context = context;
    this.#slots = slots;
    this.workers = slots.length;
    for (const s of slots) {
      s.worker.on('message', (m: Reply) => this.#reply(m));
      s.worker.on('error', (e) => this.#fail(new ConfideError('E_INTERNAL', `an aggregation worker failed: ${e.message}`, { cause: e })));
      s.worker.on('exit', (code) => {
        s.exited = true;
        if (!this.#closing) this.#fail(new ConfideError('E_INTERNAL', `an aggregation worker exited (code ${code}) while the pool was open`));
      });
      s.worker.unref(); // referenced only while it owes an answer (#send)
    }
  }

  /**
   * Starts `workers` threads, each building a SEAL context for the
   * parameters of `context`, and resolves once all are ready.
   */
  static async open(context: HeContext, options: AggregatorPoolOptions): Promise<AggregatorPool> {
    const ctx = acontext(context);
    const o = aoptions(options, 'options', ['workers']);
    if (o === undefined) throw new ConfideError('E_BAD_INPUT', '"options" expected { workers }', { field: 'options' });
    const n = ainteger(o.workers, 'options.workers', 1, MAX_WORKERS);
    const task: PoolTask = { mark: POOL_MARK, params: { ...ctx.params, coeffModulusBits: [...ctx.params.coeffModulusBits] }, paramsHash: ctx.paramsHash };
    const slots: Slot[] = [];
    const ready = (worker: Worker) =>
      new Promise<void>((resolve, reject) => {
        const onMessage = (m: Reply) => {
          off();
          if ('ready' in m) resolve();
          else reject('error' in m ? errorFrom(m.error) : new ConfideError('E_INTERNAL', 'an aggregation worker answered before it was ready'));
        };
        const onError = (e: Error) => (off(), reject(new ConfideError('E_INTERNAL', `an aggregation worker failed to start: ${e.message}`, { cause: e })));
        const onExit = (code: number) => (off(), reject(new ConfideError('E_INTERNAL', `an aggregation worker exited (code ${code}) while starting`)));
        const off = () => worker.off('message', onMessage).off('error', onError).off('exit', onExit);
        worker.on('message', onMessage).on('error', onError).on('exit', onExit);
      });
    const starting: Promise<void>[] = [];
    try {
      for (let i = 0; i < n; i++) {
        // The worker imports this module, whose last statement runs the worker's loop.
        const worker = startSelfWorker(import.meta.url, POOL_MARK, task);
        slots.push({ worker, queued: 0, contributors: 0, exited: false });
        starting.push(ready(worker));
      }
      const results = await Promise.allSettled(starting);
      const failed = results.find((r) => r.status === 'rejected');
      if (failed) throw failed.reason;
    } catch (e) {
      await Promise.all(slots.map((s) => s.worker.terminate()));
      throw e instanceof ConfideError ? e : new ConfideError('E_INTERNAL', `the aggregation pool did not start: ${(e as Error)?.message ?? e}`, { cause: e });
    }
    return new AggregatorPool(ctx, slots);
  }

  /** Vectors (or sums) in the pool's sum so far. */
  get contributors(): number {
    return this.#contributors;
  }

  /** Length of the vectors summed (0 before the first add). */
  get length(): number {
    return this.#length;
  }

  /** Vectors handed to `add` whose promise has not settled yet. */
  get pending(): number {
    return this.#inFlight.size;
  }

  get closed(): boolean {
    return this.#closed;
  }

  #check(): void {
    if (this.#failure) throw this.#failure;
    if (this.#closing) throw new ConfideError('E_STATE', 'the AggregatorPool has been closed');
  }

  #reply(m: Reply): void {
    if (!('id' in m) || m.id === undefined) return;
    const w = this.#waiters.get(m.id);
    if (!w) return;
    this.#waiters.delete(m.id);
    w.slot.queued--;
    if (w.slot.queued === 0) w.slot.worker.unref();
    if ('error' in m) w.reject(errorFrom(m.error));
    else w.resolve(m);
  }

  /** Sends a request to a worker; resolves with its answer. */
  #send(slot: Slot, req: Request, transfer: ArrayBuffer[] = []): Promise<Reply> {
    return new Promise<Reply>((resolve, reject) => {
      if (slot.exited) {
        reject(this.#failure ?? new ConfideError('E_STATE', 'the AggregatorPool has been closed'));
        return;
      }
      try {
        slot.worker.postMessage(req, transfer);
      } catch (e) {
        reject(new ConfideError('E_BAD_INPUT', `the vector cannot be handed to a worker: ${(e as Error).message}`, { field: 'vector', cause: e }));
        return;
      }
      this.#waiters.set(req.id, { slot, resolve, reject });
      if (slot.queued++ === 0) slot.worker.ref();
    });
  }

  /** A worker died: nothing it held can be trusted to be in the sum; the pool stops. */
  #fail(e: ConfideError): void {
    if (this.#failure || this.#closing) return;
    this.#failure = e;
    this.#closing = this.#closed = true;
    for (const w of this.#waiters.values()) w.reject(e);
    this.#waiters.clear();
    for (const s of this.#slots) void s.worker.terminate();
  }

  /**
   * Adds one encrypted vector (an EncryptedVector, or its chunks) in one of
   * the workers: all or nothing. The chunks' ArrayBuffers are transferred
   * (detached here). Rejects with the worker's ConfideError (E_DECODE for
   * bytes SEAL does not load, ...) when the vector is refused; the pool goes
   * on.
   */
  add(vector: EncryptedVector | readonly Uint8Array[]): Promise<void> {
    const p = this.#add(vector);
    this.#inFlight.add(p);
    const settled = () => this.#inFlight.delete(p);
    p.then(settled, settled);
    return p;
  }

  async #add(vector: EncryptedVector | readonly Uint8Array[]): Promise<void> {
    this.#check();
    engineOf(this.context);
    const chunks = Array.isArray(vector) ? vector : (vector as EncryptedVector | null)?.chunks;
    if (!Array.isArray(chunks) || chunks.length === 0)
      throw new ConfideError('E_BAD_INPUT', `"vector" expected an EncryptedVector or an array of ciphertext chunks, got ${describe(vector)}`, { field: 'vector' });
    const views = chunks.map((c, i) => atyped(c, `vector[${i}]`, Uint8Array));
    // The length is read here (one header) so that every worker sums vectors of one length;
    // the worker checks everything else.
    const length = field<number>(decodeBlob(views[0], 'vector[0]', KIND_CIPHERTEXT, this.context.paramsHash).header, 'length', 'number', 'vector[0]');
    if (this.#length !== 0 && length !== this.#length)
      throw new ConfideError('E_BAD_INPUT', `"vector" has ${length} values; the sum so far has ${this.#length}`, { field: 'vector' });
    this.#length = length;

    const buffers: ArrayBufferLike[] = [];
    const transfer: ArrayBuffer[] = [];
    const index = new Map<ArrayBufferLike, number>();
    const parts: Part[] = views.map((v, i) => {
      let buf: ArrayBufferLike = v.buffer;
      let offset = v.byteOffset;
      // A detached buffer has length 0 (ES2024 `detached`, not in this lib's types).
      if (buf instanceof ArrayBuffer && (buf as { detached?: boolean }).detached === true)
        throw new ConfideError('E_BAD_INPUT', `"vector[${i}]" is detached (its bytes were transferred already)`, { field: `vector[${i}]` });
      if (buf instanceof ArrayBuffer && isMarkedAsUntransferable(buf)) {
        // Node's Buffer pool: copying is the only way to hand these bytes over.
        buf = v.slice().buffer;
        offset = 0;
      }
      let b = index.get(buf);
      if (b === undefined) {
        b = buffers.push(buf) - 1;
        index.set(buf, b);
        if (buf instanceof ArrayBuffer) transfer.push(buf);
      }
      return { b, offset, length: v.length };
    });

    let slot = this.#slots[0];
    for (const s of this.#slots) if (s.queued < slot.queued) slot = s;
    const r = (await this.#send(slot, { op: 'add', id: this.#nextId++, buffers, parts }, transfer)) as { contributors: number };
    slot.contributors += r.contributors;
    this.#contributors += r.contributors;
  }

  /**
   * The sum of every vector added, once the adds in flight have settled:
   * the workers' partial sums (serialised, transferred back) added on this
   * thread. The pool keeps its sums; more vectors may be added afterwards.
   */
  async result(): Promise<EncryptedVector> {
    this.#check();
    await Promise.allSettled([...this.#inFlight]);
    this.#check();
    const partials = await Promise.all(
      this.#slots.filter((s) => s.contributors > 0).map((s) => this.#send(s, { op: 'result', id: this.#nextId++ })),
    );
    using total = new Accumulator(this.context);
    for (const r of partials) {
      const sum = (r as { sum: EncryptedVector | null }).sum;
      if (sum !== null) total.add(sum);
    }
    if (total.contributors === 0) throw new ConfideError('E_STATE', 'the AggregatorPool is empty');
    this.#contributors = total.contributors;
    return total.result();
  }

  /**
   * Lets the adds in flight finish, has every worker delete its SEAL
   * objects, and terminates the workers. Idempotent.
   */
  async close(): Promise<void> {
    if (this.#closing) {
      await Promise.all(this.#slots.map((s) => (s.exited ? undefined : s.worker.terminate())));
      return;
    }
    await Promise.allSettled([...this.#inFlight]);
    if (this.#closing) return this.close(); // a worker failed meanwhile
    this.#closing = true;
    const closing = this.#slots.map(async (s) => {
      if (s.exited) return;
      const grace = new Promise<void>((resolve) => setTimeout(resolve, CLOSE_GRACE_MS).unref());
      await Promise.race([this.#send(s, { op: 'close', id: this.#nextId++ }).catch(() => undefined), grace]);
    });
    await Promise.all(closing);
    this.#closed = true;
    for (const w of this.#waiters.values()) w.reject(new ConfideError('E_STATE', 'the AggregatorPool has been closed'));
    this.#waiters.clear();
    await Promise.all(this.#slots.map((s) => s.worker.terminate()));
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}

// ---------------------------------------------------------------------------
// The worker side.

async function runPoolWorker(task: PoolTask): Promise<void> {
  const port = parentPort!;
  let context: HeContext;
  let acc: Accumulator;
  try {
    context = contextSync(await loadSeal(), task.params);
    if (!equalBytes(context.paramsHash, task.paramsHash)) {
      context.dispose();
      throw new ConfideError('E_UNSUPPORTED', 'the worker built other parameters than the pool (another SEAL build?)', { field: 'context' });
    }
    acc = new Accumulator(context);
  } catch (e) {
    port.postMessage({ error: errorJson(e) } satisfies Reply);
    return;
  }
  port.postMessage({ ready: true } satisfies Reply);
  port.on('message', (m: Request) => {
    try {
      if (m.op === 'add') {
        const before = acc.contributors;
        acc.add(m.parts.map((p) => new Uint8Array(m.buffers[p.b], p.offset, p.length)));
        port.postMessage({ id: m.id, ok: true, contributors: acc.contributors - before } satisfies Reply);
      } else if (m.op === 'result') {
        const sum = acc.contributors === 0 ? null : acc.result();
        port.postMessage({ id: m.id, sum } satisfies Reply, sum === null ? [] : sum.chunks.map((c) => c.buffer as ArrayBuffer));
      } else if (m.op === 'close') {
        acc.dispose();
        context.dispose();
        port.postMessage({ id: m.id, closed: true } satisfies Reply);
        port.close();
      }
    } catch (e) {
      port.postMessage({ id: m.id, error: errorJson(e) } satisfies Reply);
    }
  });
}

// A worker started by AggregatorPool.open imports this module with its task
// in workerData. Nothing happens on the main thread or in other workers.
const poolTask = selfWorkerData<PoolTask>(POOL_MARK);
if (poolTask) void runPoolWorker(poolTask);
