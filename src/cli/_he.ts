/**
 * `confide he`: homomorphic aggregation from the command line. File-based
 * (keygen, encrypt, aggregate, decrypt) and the three long-running roles
 * (aggregator, decryptor, client) over WebSocket. Progress and events go to
 * stdout as JSON lines for the roles; errors to stderr.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join as joinPath } from 'node:path';
import { parseArgs } from 'node:util';
import { ConfideError } from '../core/errors.ts';
import type { Identity } from '../net/index.ts';
import { numberFlag } from './_flags.ts';

export const HE_USAGE = `confide he identity
      A fresh Ed25519 party identity: prints {"id", "seed"} (keep the seed secret).
  confide he keygen --contributors K --bound B [--scheme bfv|ckks] [--frac-bits F] --out DIR
      Chooses and checks parameters for sums of up to K vectors with values in
      [-B, B], writes DIR/public.key (give to clients and the aggregator) and
      DIR/secret.key (the decryptor's), prints the plan as JSON.
  confide he encrypt --key public.key --in VALUES --out FILE
      VALUES: a JSON array of numbers, or raw little-endian .f64/.f32.
  confide he aggregate --key public.key --out SUM in1 in2 ...
      Streams the encrypted files into one sum (one file in memory at a time).
  confide he decrypt --key secret.key --in FILE [--out OUT.json]
      Prints (or writes) the decrypted vector as a JSON array.
  confide he aggregator --decryptor ID --clients ID,ID,... --min K --seed HEX [--host H] [--port P] [--deadline-ms MS] [--workers N] [--out SUM.json]
  confide he decryptor --address URL --server-id ID --seed HEX --public-key F --secret-key F --min K [--timeout-ms MS] [--record FILE]
  confide he client --address URL --server-id ID --seed HEX --decryptor ID --in VALUES [--timeout-ms MS]
      The three roles over WebSocket: the aggregator serves and prints its
      address as {"type":"listen","address",...}; the decryptor decrypts one
      masked aggregate of at least K contributors; clients encrypt and send.
      --workers N sums the contributions in N worker threads (default 1).
      --record FILE writes what the decryptor was asked (the ciphertexts as
      hex, the contributor ids, the residues it decrypted) for an audit.`;

function need<T>(v: T | undefined, flag: string): T {
  if (v === undefined) throw new ConfideError('E_BAD_INPUT', `"--${flag}" is required`, { field: flag });
  return v;
}

function read(path: string, flag: string): Uint8Array {
  try {
    return new Uint8Array(readFileSync(path));
  } catch (e) {
    throw new ConfideError('E_IO', `cannot read ${path}: ${(e as Error).message}`, { field: flag, cause: e });
  }
}

function write(path: string, data: Uint8Array | string, flag: string): void {
  try {
    writeFileSync(path, data);
  } catch (e) {
    throw new ConfideError('E_IO', `cannot write ${path}: ${(e as Error).message}`, { field: flag, cause: e });
  }
}

/** A vector from a JSON array or raw little-endian floats (.f64 / .f32). */
export function readValues(path: string): Float64Array | Float32Array {
  const bytes = read(path, 'in');
  if (path.endsWith('.f64') || path.endsWith('.f32')) {
    const size = path.endsWith('.f64') ? 8 : 4;
    if (bytes.length % size !== 0 || bytes.length === 0)
      throw new ConfideError('E_BAD_INPUT', `${path}: ${bytes.length} bytes is not a whole number of ${size}-byte floats`, { field: 'in' });
    const copy = bytes.slice().buffer;
    return size === 8 ? new Float64Array(copy) : new Float32Array(copy);
  }
  let v: unknown;
  try {
    v = JSON.parse(new TextDecoder().decode(bytes));
  } catch (e) {
    throw new ConfideError('E_BAD_INPUT', `${path}: not JSON: ${(e as Error).message}`, { field: 'in', cause: e });
  }
  if (!Array.isArray(v) || v.length === 0 || v.some((x) => typeof x !== 'number' || !Number.isFinite(x)))
    throw new ConfideError('E_BAD_INPUT', `${path}: expected a non-empty JSON array of finite numbers`, { field: 'in' });
  return Float64Array.from(v as number[]);
}

/**
 * Splits a file of concatenated CFHE blobs into its blobs: each is the
 * 40-byte CFHE header plus one codec message, whose total length is the u32
 * at offset 12 of the message.
 */
export function splitBlobs(bytes: Uint8Array, where: string): Uint8Array[] {
  const out: Uint8Array[] = [];
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.length);
  for (let off = 0; off < bytes.length; ) {
    if (off + 56 > bytes.length) throw new ConfideError('E_DECODE', `${where}: truncated ciphertext at byte ${off}`, { field: where });
    const len = 40 + dv.getUint32(off + 40 + 12, true);
    if (off + len > bytes.length) throw new ConfideError('E_DECODE', `${where}: truncated ciphertext at byte ${off}`, { field: where });
    out.push(bytes.subarray(off, off + len));
    off += len;
  }
  if (out.length === 0) throw new ConfideError('E_DECODE', `${where}: empty file`, { field: where });
  return out;
}

function concat(chunks: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(chunks.reduce((a, c) => a + c.length, 0));
  let off = 0;
  for (const c of chunks) {
    out.set(c, off);
    off += c.length;
  }
  return out;
}

// he and net load only when `confide he` runs, so other commands do not pay for them.
const load = async () => ({ he: await import('../he/index.ts'), net: await import('../net/index.ts') });

function identityFlag(identityFromSeed: (seed: Uint8Array) => Identity, seed: string | undefined): Identity {
  const s = need(seed, 'seed');
  if (!/^[0-9a-f]{64}$/.test(s)) throw new ConfideError('E_BAD_INPUT', '"--seed" expected 64 hex digits', { field: 'seed' });
  return identityFromSeed(new Uint8Array(Buffer.from(s, 'hex')));
}

function line(o: object): void {
  process.stdout.write(`${JSON.stringify(o, (_k, v) => (typeof v === 'bigint' ? v.toString() : v instanceof Uint8Array ? Buffer.from(v).toString('hex') : v))}\n`);
}

function intFlag(v: string | undefined, flag: string, fallback?: number): number {
  const n = numberFlag(v, flag) ?? fallback;
  if (n === undefined || !Number.isSafeInteger(n) || n < 0) throw new ConfideError('E_BAD_INPUT', `"--${flag}" expected a non-negative integer`, { field: flag });
  return n;
}

export async function heCommand(argv: string[]): Promise<number> {
  const [sub, ...rest] = argv;
  const { values: f, positionals } = parseArgs({
    args: rest,
    allowPositionals: sub === 'aggregate',
    strict: true,
    options: {
      contributors: { type: 'string' },
      bound: { type: 'string' },
      scheme: { type: 'string' },
      'frac-bits': { type: 'string' },
      out: { type: 'string' },
      key: { type: 'string' },
      in: { type: 'string' },
      decryptor: { type: 'string' },
      clients: { type: 'string' },
      min: { type: 'string' },
      seed: { type: 'string' },
      host: { type: 'string' },
      port: { type: 'string' },
      'deadline-ms': { type: 'string' },
      'timeout-ms': { type: 'string' },
      address: { type: 'string' },
      'server-id': { type: 'string' },
      'public-key': { type: 'string' },
      'secret-key': { type: 'string' },
      workers: { type: 'string' },
      record: { type: 'string' },
    },
  });
  const { he, net } = await load();
  const { generateIdentity, identityFromSeed, identitySeed, join, serve, webSocketTransport } = net;
  switch (sub) {
    case 'identity': {
      const id = generateIdentity();
      line({ id: id.id, seed: Buffer.from(identitySeed(id)).toString('hex') });
      return 0;
    }
    case 'keygen': {
      const scheme = f.scheme ?? 'bfv';
      if (scheme !== 'bfv' && scheme !== 'ckks') throw new ConfideError('E_BAD_INPUT', '"--scheme" expected bfv or ckks', { field: 'scheme' });
      const plan = await he.planAggregation({
        contributors: intFlag(need(f.contributors, 'contributors'), 'contributors'),
        bound: need(numberFlag(f.bound, 'bound'), 'bound'),
        scheme,
        ...(f['frac-bits'] !== undefined ? { fracBits: intFlag(f['frac-bits'], 'frac-bits') } : {}),
      });
      const dir = need(f.out, 'out');
      mkdirSync(dir, { recursive: true });
      using ctx = await he.createContext(plan.params);
      const keys = he.generateKeys(ctx, plan);
      write(joinPath(dir, 'public.key'), keys.publicKey, 'out');
      write(joinPath(dir, 'secret.key'), keys.secretKey, 'out');
      line({ plan, publicKey: joinPath(dir, 'public.key'), secretKey: joinPath(dir, 'secret.key') });
      return 0;
    }
    case 'encrypt': {
      using enc = await he.VectorEncryptor.open(read(need(f.key, 'key'), 'key'));
      const e = enc.encrypt(readValues(need(f.in, 'in')));
      write(need(f.out, 'out'), concat(e.chunks), 'out');
      line({ length: e.length, ciphertexts: e.chunks.length, clipped: e.clipped });
      return 0;
    }
    case 'aggregate': {
      if (positionals.length === 0) throw new ConfideError('E_BAD_INPUT', 'give the encrypted files to add', { field: 'in' });
      const opened = await he.openPublicKey(read(need(f.key, 'key'), 'key'));
      try {
        using acc = new he.Accumulator(opened.context);
        // One file in memory at a time.
        for (const path of positionals) acc.add(splitBlobs(read(path, 'in'), path));
        const sum = acc.result();
        write(need(f.out, 'out'), concat(sum.chunks), 'out');
        line({ length: sum.length, contributors: sum.contributors });
      } finally {
        opened.context.dispose();
      }
      return 0;
    }
    case 'decrypt': {
      using dec = await he.VectorDecryptor.open(read(need(f.key, 'key'), 'key'));
      const path = need(f.in, 'in');
      const v = dec.decrypt(splitBlobs(read(path, 'in'), path));
      const text = `${JSON.stringify(Array.from(v))}\n`;
      if (f.out !== undefined) write(f.out, text, 'out');
      else process.stdout.write(text);
      return 0;
    }
    case 'aggregator': {
      const identity = identityFlag(identityFromSeed, f.seed);
      const decryptor = need(f.decryptor, 'decryptor');
      const clients = need(f.clients, 'clients').split(',').filter((s) => s.length > 0);
      const server = await serve({
        transport: webSocketTransport({ host: f.host ?? '127.0.0.1', port: intFlag(f.port, 'port', 0) }),
        identity,
        allow: [decryptor, ...clients],
        on: (e) => {
          if (e.type !== 'bytes') line({ net: e });
        },
      });
      line({ type: 'listen', address: server.address, id: server.id });
      try {
        const r = await he.runAggregator({
          server,
          decryptor,
          clients,
          minContributors: intFlag(need(f.min, 'min'), 'min'),
          deadlineMs: intFlag(f['deadline-ms'], 'deadline-ms', 60_000),
          workers: intFlag(f.workers, 'workers', 1),
          on: (e) => line(e),
        });
        if (f.out !== undefined) write(f.out, `${JSON.stringify(Array.from(r.sum))}\n`, 'out');
        line({ type: 'done', contributors: r.contributors, dropped: r.dropped, refused: r.refused, ...(f.out === undefined ? { sum: Array.from(r.sum) } : { out: f.out }) });
      } finally {
        await server.close();
      }
      return 0;
    }
    case 'decryptor': {
      const identity = identityFlag(identityFromSeed, f.seed);
      const party = await join({ transport: webSocketTransport(), address: need(f.address, 'address'), identity, serverId: need(f['server-id'], 'server-id') });
      try {
        const req = await he.runDecryptor({
          party,
          identity,
          publicKey: read(need(f['public-key'], 'public-key'), 'public-key'),
          secretKey: read(need(f['secret-key'], 'secret-key'), 'secret-key'),
          minContributors: intFlag(need(f.min, 'min'), 'min'),
          timeoutMs: intFlag(f['timeout-ms'], 'timeout-ms', 60_000),
          on: (e) => line(e),
        });
        if (f.record !== undefined)
          write(f.record, `${JSON.stringify({
            from: req.from,
            contributors: req.contributors,
            ids: req.ids,
            chunks: req.chunks.map((c) => Buffer.from(c).toString('hex')),
            refused: req.refused ?? null,
            residues: req.residues === undefined ? null : Array.from(req.residues, String),
          })}\n`, 'record');
        line({ type: 'done', contributors: req.contributors, refused: req.refused ?? null });
        return req.refused === undefined ? 0 : 3;
      } finally {
        await party.close();
      }
    }
    case 'client': {
      const identity = identityFlag(identityFromSeed, f.seed);
      const party = await join({ transport: webSocketTransport(), address: need(f.address, 'address'), identity, serverId: need(f['server-id'], 'server-id') });
      try {
        const r = await he.runClient({
          party,
          decryptor: need(f.decryptor, 'decryptor'),
          values: readValues(need(f.in, 'in')),
          timeoutMs: intFlag(f['timeout-ms'], 'timeout-ms', 60_000),
        });
        line({ type: 'done', clipped: r.clipped, bytesSent: r.bytesSent, contributors: r.contributors, sum: r.sum ? Array.from(r.sum) : null });
      } finally {
        await party.close();
      }
      return 0;
    }
    default:
      process.stderr.write(`confide he: unknown sub-command ${JSON.stringify(sub ?? '')}\n\nusage:\n  ${HE_USAGE}\n`);
      return 2;
  }
}
