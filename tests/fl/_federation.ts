/** A small in-process federation for tests: non-IID logistic-regression clients over the in-memory transport. */
import { seededRng } from '../../src/core/index.ts';
import { identityFromSeed, memoryTransport, serve, type PartyServer, type Transport } from '../../src/net/index.ts';
import type { SecAggConfig } from '../../src/secagg/index.ts';
import { LogisticRegression, runClient, type Example, type Tensors } from '../../src/fl/index.ts';

export const FEATURES = 8;

/** Client i's data: labels from a fixed linear rule, but each client sees mostly one side (non-IID). */
export function clientData(i: number, n = 120): { train: Example[]; test: Example[] } {
  const rng = seededRng(1000 + i);
  const truth = Float32Array.from({ length: FEATURES }, (_, k) => (k % 3) - 1 + 0.5);
  const make = (): Example => {
    const x = Float32Array.from({ length: FEATURES }, () => rng.nextU32() / 2 ** 32 - 0.5);
    x[0] += i % 2 === 0 ? 0.3 : -0.3; // skew
    let z = 0;
    for (let k = 0; k < FEATURES; k++) z += truth[k] * x[k];
    return { x, y: z > 0 ? 1 : 0 };
  };
  return { train: Array.from({ length: n }, make), test: Array.from({ length: 40 }, make) };
}

export interface FederationOptions {
  clients: number;
  /** Client indices that never answer fit instructions (dropouts). */
  silent?: number[];
  /** Milliseconds each fit waits before training (to make rounds last). */
  slowMs?: number;
  /** The secure-aggregation config the clients pin. */
  secagg?: SecAggConfig;
  /** More party ids the server admits. */
  allowExtra?: string[];
  /** The HE decryptor the clients pin. */
  he?: { decryptor: string };
  /** Each client returns this fixed update instead of training (tests of the exact aggregate). */
  fixedDelta?: (i: number, round: number) => Tensors;
}

/** Starts a server and the clients; returns the server and a promise for the clients' end. */
export async function startFederation(o: FederationOptions): Promise<{ server: PartyServer; clients: Promise<unknown>[]; model: LogisticRegression; transport: Transport }> {
  const transport = memoryTransport();
  const ids = Array.from({ length: o.clients }, (_, i) => identityFromSeed(new Uint8Array(32).fill(i + 1)));
  const server = await serve({ transport, identity: identityFromSeed(new Uint8Array(32).fill(200)), allow: [...ids.map((x) => x.id), ...(o.allowExtra ?? [])] });
  const model = new LogisticRegression({ features: FEATURES });
  const clients = ids.map((identity, i) => {
      const { train, test } = clientData(i);
      return runClient({
        transport,
        address: server.address,
        identity,
        serverId: server.id,
        fit: async (weights: Tensors, config) => {
          if (o.silent?.includes(i)) return new Promise<never>(() => {}); // never answers
          if (o.slowMs) await new Promise((r) => setTimeout(r, o.slowMs));
          if (o.fixedDelta) return { delta: o.fixedDelta(i, config.round), examples: 10 };
          const r = model.fit(weights, train, { epochs: 2, learningRate: 0.5, rng: seededRng(i * 10_000 + config.round), proximalMu: Number(config.proximalMu ?? 0) });
          return { weights: r.weights, examples: r.examples, loss: r.metrics.loss };
        },
        evaluate: (weights) => model.evaluate(weights, test),
        idleTimeoutMs: 20_000,
        ...(o.secagg ? { secagg: o.secagg } : {}),
        ...(o.he ? { he: o.he } : {}),
      }).catch((e) => e);
    });
  return { server, clients, model, transport };
}
