/**
 * A client process for bench/fl.bench.ts, case "round 10 clients 1M params":
 *
 *   node bench/_fl_client.ts INDEX AGGREGATION FL_ADDRESS RAW_ADDRESS TOKEN_HEX [DECRYPTOR_ID]
 *   node bench/_fl_client.ts decryptor FL_ADDRESS TOKEN_HEX SEED_HEX KEY_DIR
 *
 * The same process serves both sides of the comparison:
 * - ours: `runClient` over `webSocketTransport()` to the coordinator at
 *   FL_ADDRESS, with a trivial `fit` that returns this client's fixed update
 *   (`clientDelta(INDEX)`), so a round measures the round machinery, not training;
 * - raw transfer: two bare `ws` connections to RAW_ADDRESS, one whose client
 *   frames are masked as `ws` does by default and one with the all-zero mask,
 *   each answering every binary message (the model) with the same update's bytes.
 * It prints "ready" once the bare sockets are open (the coordinator waits for
 * the FL join itself) and exits when the coordinator says done and the bench
 * sends "stop" on both bare sockets.
 *
 * With aggregation 'he' one more process is the decryptor (fl `runDecryptor`):
 * it holds the secret key (read from KEY_DIR/secret.key, written by the bench)
 * and its identity comes from SEED_HEX; the clients pin its party id.
 */
import { WebSocket } from 'ws';
import type { Tensors } from '../src/fl/index.ts';
import type { SecAggConfig } from '../src/secagg/index.ts';

/** Client processes (BENCH_FL_CLIENTS overrides it, for profiling one client alone). */
export const CLIENTS = Number(process.env.BENCH_FL_CLIENTS ?? 10);
/** 2^20 float32 parameters (4 MiB), one tensor: the size the issue names (BENCH_FL_PARAMS overrides it, for debugging only). */
export const PARAMS = Number(process.env.BENCH_FL_PARAMS ?? 1 << 20);

/**
 * Both sides pin this secure-aggregation config. Every update coordinate is a
 * multiple of 2^-16 within ±0.08 and every weight is 1, so the fixed-point sum
 * is exact and the check can compare to the float mean tightly.
 */
export const SECAGG: SecAggConfig = { length: PARAMS, bits: 32, fracBits: 16, bound: 1, threshold: 7, graph: 'complete', maxWeight: 1 };

/** Client i's update: (i + 1)·(h(k) mod 1024 − 512)·2^-16, h a multiplicative hash of the index k. */
export function clientDelta(i: number): Float32Array {
  const d = new Float32Array(PARAMS);
  for (let k = 0; k < PARAMS; k++) d[k] = ((i + 1) * ((Math.imul(k, 0x9e3779b1) >>> 22) - 512)) / 65536;
  return d;
}

async function decryptorMain(): Promise<void> {
  const [flAddress, tokenHex, seedHex, keyDir] = process.argv.slice(3);
  const { readFileSync } = await import('node:fs');
  const { runDecryptor } = await import('../src/fl/index.ts');
  const { identityFromSeed, webSocketTransport } = await import('../src/net/index.ts');
  process.stdout.write('ready\n');
  await runDecryptor({
    transport: webSocketTransport(),
    address: flAddress,
    identity: identityFromSeed(new Uint8Array(Buffer.from(seedHex, 'hex'))),
    token: new Uint8Array(Buffer.from(tokenHex, 'hex')),
    publicKey: new Uint8Array(readFileSync(`${keyDir}/public.key`)),
    secretKey: new Uint8Array(readFileSync(`${keyDir}/secret.key`)),
    minContributors: CLIENTS,
    ...(process.env.BENCH_FL_DEBUG ? { onRound: (e: unknown) => process.stderr.write(`[decryptor] ${JSON.stringify(e)}\n`) } : {}),
  });
}

async function main(): Promise<void> {
  if (process.argv[2] === 'decryptor') return decryptorMain();
  const [indexArg, aggregation, flAddress, rawAddress, tokenHex, decryptorId] = process.argv.slice(2);
  const index = Number(indexArg);
  const { runClient } = await import('../src/fl/index.ts');
  const { generateIdentity, webSocketTransport } = await import('../src/net/index.ts');
  const delta = clientDelta(index);
  const update: Tensors = { w: delta };

  // Two bare sockets: frames masked as ws masks by default, and with the all-zero mask as confide's transport sends
  // on loopback (like for like). Each answers every binary message (the model) with the update's bytes.
  const bytes = new Uint8Array(delta.buffer);
  // BENCH_FL_MARK=1: a line on stdout after each exchange, to tell them apart in --trace-gc output (BENCH_FL_CHILD_LOG).
  const mark = process.env.BENCH_FL_MARK === '1';
  const sockets = await Promise.all(
    (['masked', 'zero'] as const).map(async (kind) => {
      const ws = new WebSocket(rawAddress, { perMessageDeflate: false, maxPayload: 64 << 20, ...(kind === 'zero' ? { generateMask: (mask: Buffer) => void mask.fill(0) } : {}) });
      await new Promise((resolve, reject) => {
        ws.once('open', resolve);
        ws.once('error', reject);
      });
      return { ws, kind };
    }),
  );
  const rawDone = Promise.all(
    sockets.map(
      ({ ws, kind }) =>
        new Promise<void>((resolve) => {
          ws.on('message', (msg, isBinary) => {
            if (!isBinary && msg.toString() === 'stop') {
              ws.close();
              resolve();
            } else {
              ws.send(bytes, { binary: true });
              if (mark) process.stdout.write(`mark raw ${kind}\n`);
            }
          });
          // The bench maps sockets to clients by this hello, to check the bytes it receives.
          ws.send(`client ${index} ${kind}`);
        }),
    ),
  );
  process.stdout.write('ready\n');

  const serving = runClient({
    transport: webSocketTransport(),
    address: flAddress,
    identity: generateIdentity(),
    token: new Uint8Array(Buffer.from(tokenHex, 'hex')),
    // Trivial local training: the fixed update, one example (equal FedAvg weights).
    fit: () => (process.env.BENCH_FL_SILENT === String(index) ? new Promise<never>(() => {}) : { delta: update, examples: 1 }),
    ...(aggregation === 'secagg' ? { secagg: SECAGG } : {}),
    ...(aggregation === 'he' ? { he: { decryptor: decryptorId } } : {}),
    ...(process.env.BENCH_FL_DEBUG ? { onRound: (e: unknown) => process.stderr.write(`[client ${index}] ${JSON.stringify(e)}\n`) } : mark ? { onRound: () => void process.stdout.write('mark ours\n') } : {}),
  });
  try {
    await serving;
  } catch (e) {
    // The coordinator went away (e.g. the bench abandoned a failed case): one line, not a stack.
    process.stderr.write(`fl bench client ${index}: ${(e as Error).message}\n`);
    process.exit(1);
  }
  await rawDone;
}

if (process.argv[1] === import.meta.filename) await main();
