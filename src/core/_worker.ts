/**
 * Worker threads that run the module that starts them, from source and from
 * dist alike. A module passes its own `import.meta.url` and a mark; the
 * worker imports that module (a .ts file under Node's type stripping, or the
 * bundled chunk in dist), and the module's last statement, guarded by
 * `selfWorkerData(mark)`, runs the worker's side. Used by the stats threads
 * (src/dp/stats/collect.ts), the HE aggregator pool (src/he/pool.ts) and
 * secure aggregation's mask workers (src/secagg/_unmask.ts).
 */
import { Worker, isMainThread, workerData } from 'node:worker_threads';

/** Starts a worker that imports `moduleUrl` with `{ ...data, mark }` as its workerData. */
export function startSelfWorker(moduleUrl: string, mark: string, data: object = {}): Worker {
  return new Worker(`import(${JSON.stringify(moduleUrl)});`, { eval: true, workerData: { ...data, mark } });
}

/** In a worker started by `startSelfWorker` with `mark`: its workerData; anywhere else (the main thread, other workers): undefined. */
export function selfWorkerData<T extends { mark: string }>(mark: string): T | undefined {
  if (isMainThread) return undefined;
  const d = workerData as Partial<T> | null;
  return d?.mark === mark ? (d as T) : undefined;
}
