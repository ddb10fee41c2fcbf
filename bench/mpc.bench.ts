/**
 * mpc: secret-sharing MPC among 3 parties against jiff-mpc (JIFF 1.0.0) doing
 * the same work in the same run. Both run in this one process with every
 * party on loopback: ours over confide/net's WebSocket backend (the relay
 * in process, shares sealed with AES-GCM party to party), JIFF with its own
 * server (socket.io, in process on 127.0.0.1) and its default settings
 * (libsodium encryption, its default prime field Z_p, p = 16777729, about
 * 2^24, Shamir shares) and `crypto_provider: true`, so the JIFF server deals triples, as
 * our TrustedDealer does (ours dealt ahead, outside the timing). Sessions
 * (connections, key agreement) are set up once per case, outside the timing.
 *
 * Cases (ms, lower is better, unless stated):
 * 1. `3 parties sum 1000 inputs`: each party inputs a vector of 1,000 values;
 *    the element-wise sum is opened to all three.
 * 2. `2000 multiplications`: party 0 inputs x, party 1 inputs y (2,000 values
 *    each); x ⊙ y is computed (Beaver) and opened to all.
 * 3. `3 parties sum 1e6 values`: case 1 with 10^6 values per party (ours only:
 *    a 10,000-value JIFF array already stalls, see the note). The input
 *    vectors are built before the timing (they are the parties' data; building
 *    3 × 10^6 BigInts took about 0.2 s of each call before).
 * 4. `beaver multiplications` (multiplications per second, higher is better):
 *    3 parties multiply shared vectors of 10^6 with preprocessed triples:
 *    one round opening d and e over WebSocket; the anchor is the same
 *    algebra in one process without any transport.
 * 5. `HE triple generation` (triples per second, higher is better): 3 parties
 *    make 3 × 8192 Beaver triples without a dealer (heTriples: BFV, two-party
 *    products with 2^-40 noise flooding) over WebSocket; the anchors are the
 *    TrustedDealer dealing the same number in the same field (F_t, t the
 *    45-bit BFV plaintext prime) and in Z_2^64, in process.
 * 6. `Z_2^64 Beaver combine 1e6` (ms): one party's z = c + d⊙b + e⊙a + d⊙e
 *    on vectors of 10^6 in ordinary memory (as beaver.ts calls it), on the
 *    `beaver_z64` WASM kernel with its operands staged through WASM memory;
 *    the anchor is the loop on 32-bit words in JS it replaced (copied below).
 *    Case 7 is the same with every vector already in WASM memory (no staging).
 * 8. `field product 1e6, 45-bit HE field` (ms): a ⊙ b mod t, t the BFV
 *    plaintext prime of HE triples, through mpc's vector field (as beaver.ts,
 *    spdz.ts and hetriples.ts call it); the anchors are the BigInt loop it
 *    replaced and the kernel's JS twin (what runs without WebAssembly).
 * 9. `Fp61 product 1e6` (ms): Fp61.mul (argument checks included); the anchor
 *    is the BigInt loop it replaced.
 *
 * Run with `npm run bench -- mpc`; `BENCH_MPC_CASES=kernels` runs cases 6 to 9
 * only (no sessions, no peers) and writes bench/results/mpc-kernels.json;
 * `BENCH_MPC_CASES=triples` runs cases 4 and 5 only (bench/results/mpc-triples.json).
 */
import { createServer } from 'node:http';
import { TrustedDealer, TripleShare, MpcParty, beaverCombine, beaverMask, reconstructAdditive, shareAdditive, mulZ64, heTriples, HE_TRIPLE_FIELD, HE_TRIPLE_PARAMS, type Shared } from '../src/mpc/index.ts';
import { Z64 } from '../src/core/ring.ts';
import { Fp61 } from '../src/core/field.ts';
import { seededRng } from '../src/core/random.ts';
import { arenaAlloc, fieldParams, jsKernels } from '../src/core/wasm/loader.ts';
import { beaverCombine64 } from '../src/mpc/_z64.ts';
import { vectorField } from '../src/mpc/_vfield.ts';
import { generateIdentity, join, serve, webSocketTransport, type Party, type PartyServer } from '../src/net/index.ts';
import { createContext } from '../src/he/index.ts';
import { peer, runSuite, type CaseFactory } from './_harness.ts';

const N = 3;
const RUNS = Number(process.env.BENCH_MPC_RUNS ?? 3);
const JIFF_MUL_RUNS = Number(process.env.BENCH_MPC_JIFF_MUL_RUNS ?? 2);
const BEAVER_LEN = 1_000_000;
const HE_COUNT = 3 * 8192;

interface JiffShare {
  sadd(o: JiffShare): JiffShare;
  smult(o: JiffShare): JiffShare;
  open(): Promise<number>;
}
interface JiffClient {
  share_array(a: number[] | null, lengths?: number, threshold?: number, receivers?: number[], senders?: number[]): Promise<Record<number, JiffShare[]>>;
  disconnect(safe: boolean, free: boolean): void;
}
interface Jiff {
  JIFFServer: new (http: unknown, options: Record<string, unknown>) => unknown;
  JIFFClient: new (host: string, computation: string, options: Record<string, unknown>) => JiffClient;
}

const jiffModule = await peer<{ default: Jiff }>('jiff-mpc');
const jiff = jiffModule.default;

/** Three confide parties on a WebSocket relay on loopback, sessions started. */
async function oursSession(triples = 0): Promise<{ mpc: MpcParty[]; close(): Promise<void> }> {
  const ids = Array.from({ length: N }, () => generateIdentity());
  const server: PartyServer = await serve({ transport: webSocketTransport({ host: '127.0.0.1', port: 0 }), identity: generateIdentity(), allow: ids.map((i) => i.id) });
  const nets: Party[] = [];
  for (const identity of ids) nets.push(await join({ transport: webSocketTransport(), address: server.address, identity }));
  const stores = triples > 0 ? new TrustedDealer(N).preprocess(triples) : undefined;
  const mpc = await Promise.all(nets.map((net, i) => MpcParty.start({ net, parties: ids.map((x) => x.id), triples: stores?.[i] })));
  return {
    mpc,
    async close() {
      await Promise.all(nets.map((p) => p.close()));
      await server.close();
      // The stores hold their triples in WASM memory: give it back to the arena.
      stores?.forEach((s) => s.dispose());
    },
  };
}

/** Three JIFF clients and the JIFF server (its crypto provider on), in process on 127.0.0.1. */
async function jiffSession(computation: string): Promise<{ clients: JiffClient[]; close(): void }> {
  const http = createServer();
  new jiff.JIFFServer(http, { logs: false });
  await new Promise<void>((r) => http.listen(0, '127.0.0.1', r));
  const port = (http.address() as { port: number }).port;
  const log = console.log;
  console.log = () => {}; // JIFF prints "Connected!" per party
  const clients = await Promise.all(
    [1, 2, 3].map((id) => new Promise<JiffClient>((resolve) => {
      const c: JiffClient = new jiff.JIFFClient(`http://127.0.0.1:${port}`, computation, { party_count: N, party_id: id, crypto_provider: true, onConnect: () => resolve(c) });
    })),
  );
  console.log = log;
  return {
    clients,
    close() {
      for (const c of clients) c.disconnect(false, false);
      http.close();
    },
  };
}

const vec = (len: number, seed: number) => BigUint64Array.from({ length: len }, (_, i) => BigInt((i * 7 + seed * 13) % 1000));

async function oursSum(s: { mpc: MpcParty[] }, len: number, inputs?: BigUint64Array[]): Promise<BigUint64Array> {
  const out = await Promise.all(s.mpc.map(async (m, i) => m.open(m.sum(await m.inputAll(inputs?.[i] ?? vec(len, i))))));
  return out[0];
}

async function jiffSum(s: { clients: JiffClient[] }, len: number): Promise<number[]> {
  const out = await Promise.all(
    s.clients.map(async (c, k) => {
      const shares = await c.share_array(Array.from(vec(len, k), Number));
      const sums: Promise<number>[] = [];
      for (let i = 0; i < len; i++) sums.push(shares[1][i].sadd(shares[2][i]).sadd(shares[3][i]).open());
      return Promise.all(sums);
    }),
  );
  return out[0];
}

const expectedSum = (len: number) => Array.from({ length: len }, (_, i) => Number(vec(len, 0)[i] + vec(len, 1)[i] + vec(len, 2)[i]));

async function oursMul(s: { mpc: MpcParty[] }, len: number): Promise<BigUint64Array> {
  const out = await Promise.all(
    s.mpc.map(async (m, i) => {
      const x = await m.input(0, i === 0 ? vec(len, 0) : undefined, len);
      const y = await m.input(1, i === 1 ? vec(len, 1) : undefined, len);
      return m.open(await m.mul(x, y));
    }),
  );
  return out[0];
}

async function jiffMul(s: { clients: JiffClient[] }, len: number): Promise<number[]> {
  const out = await Promise.all(
    s.clients.map(async (c, k) => {
      const shares = await c.share_array(k < 2 ? Array.from(vec(len, k), Number) : null, len, undefined, [1, 2, 3], [1, 2]);
      const prods: Promise<number>[] = [];
      for (let i = 0; i < len; i++) prods.push(shares[1][i].smult(shares[2][i]).open());
      return Promise.all(prods);
    }),
  );
  return out[0];
}

function same(name: string, a: ArrayLike<number | bigint>, b: ArrayLike<number | bigint>): void {
  if (a.length !== b.length) throw new Error(`${name}: lengths ${a.length} and ${b.length}`);
  for (let i = 0; i < a.length; i++) if (Number(a[i]) !== Number(b[i])) throw new Error(`${name}: element ${i}: ${a[i]} vs ${b[i]}`);
}

/**
 * Waits until the event loop is idle (20 turns in a row under 1 ms each). JIFF
 * keeps working for a while after its opens resolve (socket.io and its own
 * messages); without this, that work would be timed as the next runner's.
 * Both runners end with it, so each pays for its own leftovers.
 */
async function quiesce(): Promise<void> {
  let calm = 0;
  while (calm < 20) {
    const t = performance.now();
    await new Promise((r) => setImmediate(r));
    calm = performance.now() - t < 1 ? calm + 1 : 0;
  }
}

let computation = 0;
/** Sessions of the previous case, closed before the next case is built (dispose cannot wait). */
let closing: Promise<unknown>[] = [];
async function settle(): Promise<void> {
  await Promise.allSettled(closing);
  closing = [];
  // Let JIFF's sockets finish closing before anything is timed.
  await new Promise((r) => setTimeout(r, 500));
}
const BEAVER_RUNS = Math.min(RUNS, 3);

const cases: CaseFactory[] = [
  async () => {
    await settle();
    const ours = await oursSession();
    const theirs = await jiffSession(`sum-${computation++}`);
    same('ours', await oursSum(ours, 1000), expectedSum(1000));
    same('jiff-mpc', await jiffSum(theirs, 1000), expectedSum(1000));
    return {
      name: '3 parties sum 1000 inputs',
      unit: 'ms',
      better: 'lower',
      runs: RUNS,
      ours: async () => {
        await oursSum(ours, 1000);
        await quiesce();
      },
      anchors: {
        'jiff-mpc': async () => {
          await jiffSum(theirs, 1000);
          await quiesce();
        },
      },
      notes: 'each party a vector of 1,000; the element-wise sum opened to all; sessions set up outside the timing; WebSocket (ours) and socket.io (JIFF) on loopback, one process; each run ends when the event loop is idle again (JIFF works on after its opens resolve)',
      dispose: () => {
        theirs.close();
        closing.push(ours.close());
      },
    };
  },
  async () => {
    await settle();
    const ours = await oursSession((RUNS + 2) * 2000);
    const theirs = await jiffSession(`mul-${computation++}`);
    // Check once before timing: both give x ⊙ y.
    const x = vec(2000, 0), y = vec(2000, 1), want = mulZ64(x, y);
    same('ours', await oursMul(ours, 2000), want);
    same('jiff-mpc', await jiffMul(theirs, 2000), want);
    return {
      name: '2000 multiplications',
      unit: 'ms',
      better: 'lower',
      runs: Math.min(RUNS, JIFF_MUL_RUNS),
      ours: async () => {
        await oursMul(ours, 2000);
        await quiesce();
      },
      anchors: {
        'jiff-mpc': async () => {
          await jiffMul(theirs, 2000);
          await quiesce();
        },
      },
      notes: 'party 0 inputs x, party 1 inputs y (2,000 each); x ⊙ y by Beaver triples (ours: preprocessed TrustedDealer store; JIFF: its server as crypto provider) and opened to all; input and opening timed too',
      dispose: () => {
        theirs.close();
        closing.push(ours.close());
      },
    };
  },
  async () => {
    await settle();
    const ours = await oursSession();
    same('ours', await oursSum(ours, 1000), expectedSum(1000));
    const inputs = [0, 1, 2].map((i) => vec(1_000_000, i));
    return {
      name: '3 parties sum 1e6 values',
      unit: 'ms',
      better: 'lower',
      runs: RUNS,
      ours: () => oursSum(ours, 1_000_000, inputs),
      anchors: { 'jiff-mpc': { unavailable: 'not run: JIFF share_array of 10,000 values already stalls (issue 9); 10^6 per party is out of reach' } },
      notes: 'each party a vector of 10^6 Z_2^64 values (built before the timing); input (a sealed ChaCha20 seed per peer) and opening (sealed shares to party 0, the sum back) over WebSocket on loopback',
      dispose: () => closing.push(ours.close()),
    };
  },
  async () => {
    await settle();
    const ours = await oursSession((BEAVER_RUNS + 1) * BEAVER_LEN);
    const rng = seededRng(1);
    const shares = await Promise.all(ours.mpc.map((m, i) => m.input(0, i === 0 ? vec(BEAVER_LEN, 0) : undefined, BEAVER_LEN)));
    // The in-process anchor: the same Beaver algebra for 3 parties without a transport.
    const dealer = new TrustedDealer(N, { rng });
    const xs = shareAdditive(vec(BEAVER_LEN, 0), N, { rng }), ys = shareAdditive(vec(BEAVER_LEN, 1), N, { rng });
    // One set of triples for the anchor, wrapped afresh per call: the anchor measures the
    // algebra only, so reusing its (never opened) triples across calls is harmless here.
    const base = dealer.triples(BEAVER_LEN);
    const localRun = () => {
      const t = base.map((s) => new TripleShare(s.a, s.b, s.c));
      const masks = xs.map((x, i) => beaverMask(x, ys[i], t[i]));
      const d = Z64.sum(masks.map((m) => m.d)), e = Z64.sum(masks.map((m) => m.e));
      return reconstructAdditive(t.map((ti, i) => beaverCombine(d, e, ti, i === 0)));
    };
    return {
      name: 'beaver multiplications',
      unit: 'mul/s',
      better: 'higher',
      work: BEAVER_LEN,
      runs: BEAVER_RUNS,
      ours: () => Promise.all(ours.mpc.map((m, i) => m.mul(shares[i] as Shared, shares[i] as Shared))),
      anchors: { 'same algebra, no transport': localRun },
      notes: '3 parties, shared vectors of 10^6, triples preprocessed (TrustedDealer store, held in WASM memory); ours: one round, d and e shares to party 0 and the opened d, e back, over WebSocket; the product stays shared (not opened); the anchor keeps its vectors in ordinary memory',
      dispose: () => closing.push(ours.close()),
    };
  },
  async () => {
    await settle();
    const ours = await oursSession();
    const count = HE_COUNT;
    // One BFV context for the three parties of this process (building one takes about 0.3 s).
    const context = await createContext(HE_TRIPLE_PARAMS);
    // Check once before timing: the triples multiply out.
    const stores = await Promise.all(ours.mpc.map((m) => heTriples(m, 8, { context })));
    const t = stores.map((st) => st.take(8));
    for (let k = 0; k < 8; k++) {
      const sum = (f: 'a' | 'b' | 'c') => t.reduce((s, x) => s + x[f][k], 0n) % HE_TRIPLE_FIELD.p;
      if ((sum('a') * sum('b')) % HE_TRIPLE_FIELD.p !== sum('c')) throw new Error(`HE triple ${k} is wrong`);
    }
    return {
      name: 'HE triple generation',
      unit: 'triples/s',
      better: 'higher',
      work: count,
      runs: Math.min(RUNS, 3),
      ours: () => Promise.all(ours.mpc.map((m) => heTriples(m, count, { context }))),
      anchors: {
        'TrustedDealer, same field': () => new TrustedDealer(N, { field: HE_TRIPLE_FIELD }).preprocess(count),
        'TrustedDealer, Z_2^64': () => new TrustedDealer(N).preprocess(count),
      },
      notes: `3 parties, ${count} triples (3 BFV ciphertexts of 8192 slots per party), no dealer: Enc(a_i) to each peer, flooded Enc(a_i)·b_j + Enc(r) back, over WebSocket on loopback, all three parties in this one process (their SEAL work runs one after another on one thread), one BFV context built before the timing; per call each party makes fresh keys; the anchors are a trusted dealer (it knows every triple) in process`,
      dispose: () => {
        context.dispose();
        closing.push(ours.close());
      },
    };
  },
];

// ---------------------------------------------------------------------------
// The MPC vector kernels against the loops they replaced (issue 9).

const KERNEL_LEN = 1_000_000;
const TWO_32 = 4294967296;
const words = (v: BigUint64Array) => new Uint32Array(v.buffer, v.byteOffset, v.length * 2);

/**
 * ANCHOR, not library code: src/mpc/_z64.ts's beaverCombine64 before the WASM
 * kernel (commit 69f9140), the Beaver combination on 32-bit words in JS.
 */
function previousBeaverCombine64(c: BigUint64Array, d: BigUint64Array, e: BigUint64Array, a: BigUint64Array, b: BigUint64Array, first: boolean, out: BigUint64Array): BigUint64Array {
  const C = words(c), D = words(d), E = words(e), A = words(a), B = words(b), Z = words(out);
  for (let i = 0; i < Z.length; i += 2) {
    const dl = D[i], dh = D[i + 1], el = E[i], eh = E[i + 1];
    let lo = C[i], hi = C[i + 1];
    let yl = B[i], yh = B[i + 1];
    if (first) {
      const s = yl + el;
      yl = s >>> 0;
      yh = (yh + eh + (s >= TWO_32 ? 1 : 0)) >>> 0;
    }
    lo += Math.imul(dl, yl) >>> 0;
    hi += previousMulhi(dl, yl) + Math.imul(dh, yl) + Math.imul(dl, yh);
    yl = A[i]; yh = A[i + 1];
    lo += Math.imul(el, yl) >>> 0;
    hi += previousMulhi(el, yl) + Math.imul(eh, yl) + Math.imul(el, yh);
    const carry = Math.floor(lo / TWO_32);
    Z[i] = lo >>> 0;
    Z[i + 1] = (hi + carry) >>> 0;
  }
  return out;
}

/** ANCHOR: the high 32 bits of a 32×32 product, from 16-bit halves (the old _z64.ts mulhi). */
function previousMulhi(x: number, y: number): number {
  const x0 = x & 0xffff, x1 = x >>> 16, y0 = y & 0xffff, y1 = y >>> 16;
  const m1 = x1 * y0, m2 = x0 * y1;
  const t = ((x0 * y0) >>> 16) + (m1 & 0xffff) + (m2 & 0xffff);
  return x1 * y1 + (m1 >>> 16) + (m2 >>> 16) + (t >>> 16);
}

/** ANCHOR: the BigInt product loop of _vfield.ts's bigintField and of Fp61.mul before the kernels. */
function previousBigIntMul(p: bigint, a: BigUint64Array, b: BigUint64Array, out: BigUint64Array): BigUint64Array {
  for (let i = 0; i < a.length; i++) out[i] = (a[i] * b[i]) % p;
  return out;
}

function uniformVector(n: number, bound: bigint, seed: number): BigUint64Array {
  const rng = seededRng(seed);
  const v = new BigUint64Array(n);
  if (bound === 1n << 64n) rng.fill(new Uint8Array(v.buffer));
  else for (let i = 0; i < n; i++) v[i] = rng.uniformBigInt(bound);
  return v;
}

function sameVector(name: string, got: BigUint64Array, want: BigUint64Array): void {
  if (got.length !== want.length) throw new Error(`${name}: lengths ${got.length} and ${want.length}`);
  for (let i = 0; i < want.length; i++) if (got[i] !== want[i]) throw new Error(`${name}: element ${i}: ${got[i]} vs ${want[i]}`);
}

const kernelCases: CaseFactory[] = [
  () => {
    const [a, b, c, d, e] = [1, 2, 3, 4, 5].map((s) => uniformVector(KERNEL_LEN, 1n << 64n, s));
    const out = new BigUint64Array(KERNEL_LEN), prev = new BigUint64Array(KERNEL_LEN);
    return {
      name: 'Z_2^64 Beaver combine 1e6',
      unit: 'ms',
      better: 'lower',
      ours: beaverCombine64.bind(null, c, d, e, a, b, true, out),
      anchors: { 'previous JS loop on 32-bit words': previousBeaverCombine64.bind(null, c, d, e, a, b, true, prev) },
      check: () => {
        beaverCombine64(c, d, e, a, b, true, out);
        previousBeaverCombine64(c, d, e, a, b, true, prev);
        sameVector('beaver combine', out, prev);
      },
      notes: 'first party (c + d⊙(b + e) + e⊙a), 6 vectors of 10^6 u64 in ordinary memory: ours copies the five operands into WASM memory and the result out, 8192 elements at a time',
    };
  },
  () => {
    const vs = [1, 2, 3, 4, 5].map((s) => uniformVector(KERNEL_LEN, 1n << 64n, s));
    const arena = [...vs, new BigUint64Array(KERNEL_LEN)].map((v) => {
      const h = arenaAlloc(BigUint64Array, KERNEL_LEN);
      h.view.set(v);
      return h;
    });
    const [a, b, c, d, e, out] = arena.map((h) => h.view);
    const prev = new BigUint64Array(KERNEL_LEN);
    return {
      name: 'Z_2^64 Beaver combine 1e6, operands in WASM memory',
      unit: 'ms',
      better: 'lower',
      ours: beaverCombine64.bind(null, c, d, e, a, b, true, out),
      anchors: { 'previous JS loop on 32-bit words': previousBeaverCombine64.bind(null, vs[2], vs[3], vs[4], vs[0], vs[1], true, prev) },
      check: () => {
        beaverCombine64(c, d, e, a, b, true, out);
        previousBeaverCombine64(vs[2], vs[3], vs[4], vs[0], vs[1], true, prev);
        sameVector('beaver combine', out, prev);
      },
      notes: 'as above with all six vectors in WASM memory (arenaAlloc): the kernel alone, what a caller keeping its triples there would get',
      dispose: () => arena.forEach((h) => h.free()),
    };
  },
  () => {
    const f = vectorField(HE_TRIPLE_FIELD), p = HE_TRIPLE_FIELD.p;
    const a = uniformVector(KERNEL_LEN, p, 6), b = uniformVector(KERNEL_LEN, p, 7);
    const out = new BigUint64Array(KERNEL_LEN), prev = new BigUint64Array(KERNEL_LEN);
    return {
      name: 'field product 1e6, 45-bit HE field',
      unit: 'ms',
      better: 'lower',
      ours: f.mul.bind(f, a, b, out),
      anchors: {
        'previous BigInt loop': previousBigIntMul.bind(null, p, a, b, prev),
        'JS twin (no WebAssembly)': jsKernels.fieldMul.bind(jsKernels, prev, a, b, fieldParams(p)),
      },
      check: () => {
        f.mul(a, b, out);
        previousBigIntMul(p, a, b, prev);
        sameVector('HE field product', out, prev);
        jsKernels.fieldMul(prev, a, b, fieldParams(p));
        sameVector('HE field product, JS twin', out, prev);
      },
      notes: `a ⊙ b mod t, t = ${p} (HE_TRIPLE_PRIME), vectors in ordinary memory; ours: quotient estimated in doubles, one correction, on the fmul WASM kernel with staging`,
    };
  },
  () => {
    const p = Fp61.p;
    const a = uniformVector(KERNEL_LEN, p, 8), b = uniformVector(KERNEL_LEN, p, 9);
    const out = new BigUint64Array(KERNEL_LEN), prev = new BigUint64Array(KERNEL_LEN);
    return {
      name: 'Fp61 product 1e6',
      unit: 'ms',
      better: 'lower',
      ours: Fp61.mul.bind(Fp61, a, b, out),
      anchors: { 'previous BigInt loop': previousBigIntMul.bind(null, p, a, b, prev) },
      check: () => {
        Fp61.mul(a, b, out);
        previousBigIntMul(p, a, b, prev);
        sameVector('Fp61 product', out, prev);
      },
      notes: 'Fp61.mul with its element checks (both operands below 2^61 - 1); ours: Mersenne folding of the 122-bit product on the fmul WASM kernel with staging',
    };
  },
];

if (process.env.BENCH_MPC_CASES === 'kernels') await runSuite('mpc-kernels', kernelCases);
else if (process.env.BENCH_MPC_CASES === 'triples') await runSuite('mpc-triples', [cases[3], cases[4]]);
else await runSuite('mpc', [...cases, ...kernelCases], { peers: { 'jiff-mpc': '1.0.0' } });
process.exit(process.exitCode ?? 0);
