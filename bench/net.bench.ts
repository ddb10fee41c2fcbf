/**
 * net: the party runtime on loopback, against bare `ws` in the same run.
 *
 * 1. `1M f32 from 10 processes`: 10 client processes each send one
 *    2^20-entry Float32Array (4 MiB) to one server. Time from the server's
 *    go-signal to the last vector received. Ours: authenticated parties,
 *    envelopes MAC'd with the link's session keys (AES-256-GCM tags),
 *    framing, verification and decoding at the server, one round
 *    `broadcast` + `collect`. Anchor
 *    `raw ws`: the same bytes as one binary message over bare `ws`, no
 *    framing, signing or checks.
 * 2. `1000 clients join`: seconds for 1,000 concurrent clients (opened from
 *    two other processes) to be admitted by one server process. Ours: the
 *    Ed25519 challenge-response against an allow-list, with an X25519 key
 *    agreement for the session keys. Anchor `raw ws`:
 *    1,000 bare WebSocket connections.
 *
 * Case 1 is a harness `runs` case (ours and the anchor interleaved, a GC
 * before each run), after extra warm-up exchanges so that the sender
 * processes' send paths are compiled. Case 2 needs a fresh server and fresh
 * client processes for every sample, set up outside the timed span, so it
 * computes its figures itself (`figures`), alternating ours and the anchor.
 *
 * Run with `npm run bench -- net`.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { WebSocketServer, type WebSocket } from 'ws';
import { generateIdentity, identityFromSeed, identitySeed, serve, webSocketTransport } from '../src/net/index.ts';
import { runSuite, type CaseFactory } from './_harness.ts';

const SENDERS = 10;
const JOINERS = 1000;
const JOIN_PROCESSES = 2;
const RUNS = Number(process.env.BENCH_NET_RUNS ?? 20);
const JOIN_RUNS = Math.max(3, Math.ceil(RUNS / 2));
// Each sender process runs its own JIT; a few exchanges leave its send path half-warm.
const WARMUP = 8;
const fixture = (name: string) => new URL(`../tests/net/fixtures/${name}`, import.meta.url).pathname;

interface Proc {
  child: ChildProcess;
  lines: string[];
  waitFor(line: string): Promise<void>;
}

function start(script: string, args: string[]): Proc {
  const child = spawn(process.execPath, [fixture(script), ...args], { stdio: ['pipe', 'pipe', 'inherit'] });
  const lines: string[] = [];
  const waiters: { line: string; resolve(): void }[] = [];
  let buf = '';
  child.stdout!.on('data', (d: Buffer) => {
    buf += d.toString();
    let i;
    while ((i = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, i);
      buf = buf.slice(i + 1);
      lines.push(line);
      for (const w of waiters.filter((x) => x.line === line)) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve();
      }
    }
  });
  return {
    child,
    lines,
    waitFor: (line) => (lines.includes(line) ? Promise.resolve() : new Promise<void>((resolve) => waiters.push({ line, resolve }))),
  };
}

const exited = (p: Proc) => (p.child.exitCode !== null ? Promise.resolve() : new Promise<void>((r) => p.child.once('exit', () => r())));

/** A set-up case: `iterate` times one exchange (ms); `stop` tears it down. */
interface Running {
  iterate(): Promise<number>;
  stop(): Promise<void>;
}

/** Ours: 10 authenticated sender processes, one round per iteration. */
async function oursSenders(): Promise<Running> {
  const ids = Array.from({ length: SENDERS }, () => generateIdentity());
  const server = await serve({ transport: webSocketTransport(), identity: generateIdentity(), allow: ids.map((i) => i.id) });
  const procs = ids.map((id) => start('bench_sender.ts', ['ours', server.address, Buffer.from(identitySeed(id)).toString('hex'), server.id]));
  await Promise.all(procs.map((p) => p.waitFor('ready')));
  let round = 0;
  return {
    async iterate() {
      round++;
      const t0 = performance.now();
      await server.broadcast(round, { header: { go: true }, payloads: [] });
      const r = await server.collect(round, { deadlineMs: 600_000 });
      const t = performance.now() - t0;
      if (r.messages.size !== SENDERS) throw new Error(`ours: ${r.messages.size} of ${SENDERS} vectors arrived`);
      for (const m of r.messages.values()) if ((m.payloads[0] as Float32Array).length !== 1 << 20) throw new Error('ours: wrong vector length');
      return t;
    },
    async stop() {
      await server.broadcast(round + 1, { header: { stop: true }, payloads: [] });
      await Promise.all(procs.map(exited));
      await server.close();
    },
  };
}

/** Anchor: the same bytes over bare ws (frames masked as RFC 6455 says, or with the zero mask confide's transport uses on loopback and TLS). */
async function rawSenders(mode: 'raw' | 'raw-zero-mask'): Promise<Running> {
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, perMessageDeflate: false, maxPayload: 64 << 20 });
  await new Promise<void>((r) => wss.once('listening', () => r()));
  const address = `ws://127.0.0.1:${(wss.address() as { port: number }).port}`;
  const sockets: WebSocket[] = [];
  let received = 0;
  let onAll: (() => void) | undefined;
  wss.on('connection', (ws) => {
    sockets.push(ws);
    ws.on('message', (data: Buffer) => {
      if (data.length !== 4 << 20) throw new Error('raw: wrong vector length');
      if (++received === SENDERS) onAll?.();
    });
  });
  const procs = Array.from({ length: SENDERS }, () => start('bench_sender.ts', [mode, address]));
  await Promise.all(procs.map((p) => p.waitFor('ready')));
  while (sockets.length < SENDERS) await new Promise((r) => setTimeout(r, 5));
  return {
    async iterate() {
      received = 0;
      const all = new Promise<void>((r) => (onAll = r));
      const t0 = performance.now();
      for (const ws of sockets) ws.send(new Uint8Array([1]), { binary: true });
      await all;
      return performance.now() - t0;
    },
    async stop() {
      for (const ws of sockets) ws.send('stop');
      await Promise.all(procs.map(exited));
      await new Promise<void>((r) => wss.close(() => r()));
    },
  };
}

/**
 * Runs ours and the anchor in alternation, iteration by iteration, so that
 * load from anything else on the machine falls on both alike.
 */
async function alternate(ours: () => Promise<number>, anchor: () => Promise<number>, iterations: number, warmup: number): Promise<[number[], number[]]> {
  // As the harness does between tasks: collect the previous iteration's garbage so it is not charged to the next.
  const gc = (globalThis as { gc?: () => void }).gc ?? (() => {});
  for (let i = 0; i < warmup; i++) {
    await anchor();
    await ours();
  }
  const a: number[] = [];
  const o: number[] = [];
  for (let i = 0; i < iterations; i++) {
    gc();
    a.push(await anchor());
    gc();
    o.push(await ours());
  }
  return [o, a];
}

function seedOf(master: string, i: number): Uint8Array {
  return new Uint8Array(createHash('sha256').update(Buffer.from(master, 'hex')).update(String(i)).digest());
}

/** One join iteration: fresh server, JOIN_PROCESSES processes opening JOINERS connections at once. */
async function joinOnce(mode: 'ours' | 'raw'): Promise<number> {
  const master = Buffer.from(generateIdentity().publicKey).toString('hex');
  const per = JOINERS / JOIN_PROCESSES;
  let address: string;
  let count: () => number;
  let close: () => Promise<void>;
  if (mode === 'ours') {
    const allow = Array.from({ length: JOINERS }, (_, i) => identityFromSeed(seedOf(master, i)).id);
    let n = 0;
    const server = await serve({
      transport: webSocketTransport(),
      identity: generateIdentity(),
      allow,
      authTimeoutMs: 120_000,
      on: (e) => void (e.type === 'join' && n++),
    });
    address = server.address;
    count = () => n;
    close = () => server.close();
  } else {
    const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, perMessageDeflate: false, backlog: 2048 });
    await new Promise<void>((r) => wss.once('listening', () => r()));
    address = `ws://127.0.0.1:${(wss.address() as { port: number }).port}`;
    let n = 0;
    wss.on('connection', () => n++);
    count = () => n;
    close = () =>
      new Promise<void>((r) => {
        for (const c of wss.clients) c.terminate();
        wss.close(() => r());
      });
  }
  const procs = Array.from({ length: JOIN_PROCESSES }, (_, k) => start('bench_joiner.ts', [mode, address, master, String(k * per), String(per)]));
  await Promise.all(procs.map((p) => p.waitFor('ready')));
  const t0 = performance.now();
  for (const p of procs) p.child.stdin!.write('go\n');
  while (count() < JOINERS) await new Promise((r) => setImmediate(r));
  const t = performance.now() - t0;
  await Promise.all(procs.map((p) => p.waitFor('joined')));
  for (const p of procs) p.child.stdin!.end();
  await Promise.all(procs.map(exited));
  await close();
  return t;
}

const exchange: CaseFactory = async () => {
  const raw = await rawSenders('raw');
  const rawZero = await rawSenders('raw-zero-mask');
  const ours = await oursSenders();
  for (let i = 0; i < WARMUP; i++) {
    await raw.iterate();
    await rawZero.iterate();
    await ours.iterate();
  }
  return {
    name: '1M f32 from 10 processes',
    unit: 'ms',
    better: 'lower',
    runs: RUNS,
    ours: () => ours.iterate(),
    anchors: { 'raw ws': () => raw.iterate(), 'raw ws, zero mask': () => rawZero.iterate() },
    notes:
      'go-signal to all 10 vectors received; ours: Ed25519-authenticated parties, envelopes with session-key GMAC tags (AES-256-GCM), 16-byte frame headers, one frame per 4 MiB vector, verification and decoding at the server, client frames with the zero mask (loopback); raw ws: the same 4 MiB per client as one bare binary message, masked with a random key as ws does by default; raw ws, zero mask: the same with ws\'s generateMask returning zeros, the like-for-like anchor',
    dispose: () => void Promise.all([ours.stop(), raw.stop(), rawZero.stop()]),
  };
};

const joins: CaseFactory = () => ({
  name: '1000 clients join',
  unit: 'ms',
  better: 'lower',
  ours: { unavailable: 'figures computed by the case' },
  anchors: { 'raw ws (no auth)': { unavailable: 'figures computed by the case' } },
  async figures() {
    const [o, a] = await alternate(() => joinOnce('ours'), () => joinOnce('raw'), JOIN_RUNS, 1);
    const mean = (xs: number[]) => xs.reduce((x, y) => x + y, 0) / xs.length;
    return { ours: mean(o), 'raw ws (no auth)': mean(a) };
  },
  notes: `mean of ${JOIN_RUNS} runs, each with a fresh server and ${JOIN_PROCESSES} fresh client processes, timed from the go-signal to the last admission; ours: Ed25519 challenge-response against a 1,000-key allow-list and X25519 session keys; the anchor only opens WebSocket connections`,
});

await runSuite('net', [exchange, joins], {
  targets: { '1M f32 from 10 processes': 'ours within 1.25x of raw ws (ratio >= 0.8), against the zero-mask anchor too' },
});
