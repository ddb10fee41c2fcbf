/**
 * `confide mpc`: joint statistics across parties, one process per party.
 *
 *   confide mpc deal --parties 3 --count 100000 --out DIR
 *       A trusted dealer (run by someone no party colludes with) writes
 *       DIR/triples-<i>.bin, one preprocessed triple store per party.
 *   confide mpc run --party i --parties host:port,host:port,... --input data.csv
 *       --stat mean:col,variance:col,corr:colA:colB --token HEX [--triples FILE|he]
 *
 * `--triples he` needs no dealer: the parties make the triples the
 * statistics need among themselves with BFV (confide/mpc heTriples) after
 * exchanging their metadata, and the session then runs additive sharing in
 * BFV's 45-bit plaintext field (so sums must stay below 2^43: the overflow
 * check refuses larger bound/fracBits/max-rows).
 *
 * `--mac` runs the statistics on a MAC'd session (SpdzSession: SPDZ-style
 * MACs, every opening checked before a result is printed; a wrong share from
 * any party is E_CRYPTO at every party). Its preprocessing comes from
 * `confide mpc deal --mac` (DIR/auth-<i>.bin, a trusted dealer as for
 * triples), passed as `--triples FILE`; after the metadata exchange every
 * party counts what the statistics need (spdzPreprocessing) and refuses
 * before the first statistic when its store is short.
 *
 * Topology: party 0 hosts the net server (the relay) at the first address of
 * --parties and is also a party; the others dial it. The remaining addresses
 * only set N (parties do not listen). Admission is by the shared --token;
 * party 0 then tells everyone the roster (which id is which index), so a
 * --roster id0,id1,... (ids from --seed) lets a party refuse a roster it did
 * not expect. Shares are sealed party to party, so the relay reads none.
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { join as joinPath } from 'node:path';
import { parseArgs } from 'node:util';
import { ConfideError } from '../core/errors.ts';
import { generateIdentity, identityFromSeed, join, serve, webSocketTransport, type Party, type PartyServer } from '../net/index.ts';
import {
  AuthStore,
  HE_TRIPLE_FIELD,
  MacDealer,
  MpcParty,
  SpdzSession,
  spdzPreprocessing,
  TripleStore,
  heTriples,
  TrustedDealer,
  jointCorrelation,
  jointCorrelationRows,
  jointHistogram,
  jointMean,
  jointSum,
  jointVariance,
  type SpdzUse,
  type StatOptions,
  type StatSession,
} from '../mpc/index.ts';
import { numberFlag } from './_flags.ts';

export const MPC_USAGE = `confide mpc run --party I --parties HOST:PORT,... --input FILE.csv --stat SPEC[,SPEC...] --token HEX
      [--triples FILE|he] [--sharing additive|shamir] [--threshold T] [--frac-bits F] [--bound B] [--max-rows R]
      [--timeout-ms MS] [--seed HEX] [--roster ID,...] [--mac] [--json]
    SPEC: sum:col | mean:col | variance:col | histogram:col:lo:hi:bins | corr:colA:colB | cov:colA:colB
    --mac: MAC-checked (SPDZ-style) session; --triples FILE is then an auth-<i>.bin from deal --mac
  confide mpc deal --parties N --count M --out DIR [--mac [--masks K]]`;

const ROUND_HELLO = 0, ROUND_ROSTER = 1, ROUND_DONE = 2, FIRST_MPC_ROUND = 10;

function fail(field: string, message: string): never {
  throw new ConfideError('E_BAD_INPUT', message, { field });
}

function intFlag(v: string | undefined, flag: string, dflt?: number): number {
  const n = numberFlag(v, flag) ?? dflt;
  if (n === undefined) fail(flag, `"--${flag}" is required`);
  if (!Number.isSafeInteger(n) || n < 0) fail(flag, `"--${flag}" expected a non-negative integer, got ${v}`);
  return n;
}

/** A numeric CSV with a header row; quoting is not supported (refused). */
export function readCsv(path: string): Map<string, Float64Array> {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (cause) {
    throw new ConfideError('E_IO', `cannot read ${path}`, { field: 'input', cause });
  }
  const lines = text.split(/\r?\n/).filter((l) => l.trim() !== '');
  if (lines.length === 0) fail('input', `${path} is empty`);
  if (text.includes('"')) fail('input', `${path}: quoted CSV fields are not supported`);
  const names = lines[0].split(',').map((s) => s.trim());
  if (new Set(names).size !== names.length || names.some((n) => n === '')) fail('input', `${path}: column names must be distinct and non-empty`);
  const cols = names.map(() => new Float64Array(lines.length - 1));
  for (let r = 1; r < lines.length; r++) {
    const cells = lines[r].split(',');
    if (cells.length !== names.length) fail('input', `${path}:${r + 1}: expected ${names.length} fields, got ${cells.length}`);
    cells.forEach((c, k) => {
      const v = Number(c);
      if (c.trim() === '' || !Number.isFinite(v)) fail('input', `${path}:${r + 1}: "${names[k]}" is not a number: ${JSON.stringify(c)}`);
      cols[k][r - 1] = v;
    });
  }
  return new Map(names.map((n, k) => [n, cols[k]]));
}

interface Stat {
  kind: 'sum' | 'mean' | 'variance' | 'histogram' | 'corr' | 'cov';
  spec: string;
  cols: string[];
  edges?: number[];
}

export function parseStats(s: string): Stat[] {
  const out: Stat[] = [];
  for (const spec of s.split(',').filter((x) => x !== '')) {
    const [kind, ...rest] = spec.split(':');
    if ((kind === 'sum' || kind === 'mean' || kind === 'variance') && rest.length === 1) out.push({ kind, spec, cols: rest });
    else if ((kind === 'corr' || kind === 'cov') && rest.length === 2) out.push({ kind, spec, cols: rest });
    else if (kind === 'histogram' && rest.length === 4) {
      const [col, lo, hi, bins] = rest;
      const a = Number(lo), b = Number(hi), k = Number(bins);
      if (!Number.isFinite(a) || !Number.isFinite(b) || !(b > a) || !Number.isSafeInteger(k) || k < 1 || k > 10_000) fail('stat', `"${spec}": expected histogram:col:lo:hi:bins with lo < hi and 1..10000 bins`);
      out.push({ kind, spec, cols: [col], edges: Array.from({ length: k + 1 }, (_, i) => a + ((b - a) * i) / k) });
    } else fail('stat', `"--stat" entry ${JSON.stringify(spec)} is not one of sum:col, mean:col, variance:col, histogram:col:lo:hi:bins, corr:a:b, cov:a:b`);
  }
  if (out.length === 0) fail('stat', '"--stat" is required');
  return out;
}

interface Meta {
  columns: string[];
  rows: number;
  stats: string;
}

/** Columns of a statistic held by exactly one party each, at different parties: the Beaver path. */
function beaverPath(st: Stat, metas: Meta[]): { ha: number[]; hb: number[]; both: boolean } {
  const holders = (col: string) => metas.map((m, j) => (m && m.columns.includes(col) ? j : -1)).filter((j) => j >= 0);
  const ha = holders(st.cols[0]), hb = holders(st.cols[1] ?? '');
  return { ha, hb, both: ha.length === hb.length && ha.every((j) => hb.includes(j)) };
}

/** Triples a statistic spends: the row count on the Beaver path, none otherwise. */
function beaverTriples(st: Stat, metas: Meta[]): number {
  if (st.kind !== 'corr' && st.kind !== 'cov') return 0;
  const { ha, hb, both } = beaverPath(st, metas);
  return !both && ha.length === 1 && hb.length === 1 ? metas[ha[0]].rows : 0;
}

/** What a statistic takes from a MAC'd store (see spdzPreprocessing), from the public metadata. */
function spdzUse(st: Stat, metas: Meta[]): SpdzUse | undefined {
  switch (st.kind) {
    case 'sum':
    case 'mean':
    case 'variance':
      return { stat: st.kind };
    case 'histogram':
      return { stat: 'histogram', bins: st.edges!.length - 1 };
    case 'corr':
    case 'cov': {
      const { ha, hb, both } = beaverPath(st, metas);
      if (both) return { stat: 'correlationRows' };
      // The statistic itself refuses shapes that are neither path.
      if (ha.length === 1 && hb.length === 1) return { stat: 'correlation', rows: metas[ha[0]].rows, xOwner: ha[0], yOwner: hb[0] };
      return undefined;
    }
  }
}

/** Runs one statistic; every party calls it with the same metadata in the same order. */
async function runStat(mpc: StatSession, index: number, st: Stat, data: Map<string, Float64Array>, metas: Meta[], opts: StatOptions): Promise<Record<string, unknown>> {
  const holders = (col: string) => metas.map((m, j) => (m && m.columns.includes(col) ? j : -1)).filter((j) => j >= 0);
  for (const c of st.cols) if (holders(c).length === 0) throw new ConfideError('E_BAD_INPUT', `"${st.spec}": no party has column ${c}`, { field: 'stat' });
  const mine = (c: string) => data.get(c);
  switch (st.kind) {
    case 'sum': {
      const r = await jointSum(mpc, mine(st.cols[0]), opts);
      return { stat: st.spec, value: r.sum, count: r.count };
    }
    case 'mean': {
      const r = await jointMean(mpc, mine(st.cols[0]), opts);
      return { stat: st.spec, value: r.mean, count: r.count };
    }
    case 'variance': {
      const r = await jointVariance(mpc, mine(st.cols[0]), opts);
      return { stat: st.spec, value: r.variance, mean: r.mean, count: r.count };
    }
    case 'histogram': {
      const counts = await jointHistogram(mpc, mine(st.cols[0]), st.edges!);
      return { stat: st.spec, edges: st.edges, counts };
    }
    case 'corr':
    case 'cov': {
      const [a, b] = st.cols;
      const { ha, hb, both } = beaverPath(st, metas);
      let r;
      if (both) r = await jointCorrelationRows(mpc, mine(a), mine(b), opts);
      else if (ha.length === 1 && hb.length === 1) {
        // Vertical partition: the same rows, one column at each party (needs Beaver triples).
        const rows = metas[ha[0]].rows;
        if (metas[hb[0]].rows !== rows) throw new ConfideError('E_BAD_INPUT', `"${st.spec}": party ${ha[0]} has ${rows} rows and party ${hb[0]} has ${metas[hb[0]].rows}; vertical partitions need the same rows`, { field: 'stat' });
        r = await jointCorrelation(mpc, ha[0], hb[0], index === ha[0] ? mine(a) : undefined, index === hb[0] ? mine(b) : undefined, rows, opts);
      } else throw new ConfideError('E_BAD_INPUT', `"${st.spec}": either every holder of ${a} holds ${b} (rows split between parties) or one party holds each`, { field: 'stat' });
      return { stat: st.spec, value: st.kind === 'corr' ? r.correlation : r.covariance, covariance: r.covariance, correlation: r.correlation, count: r.count };
    }
  }
}

async function coordinate(server: PartyServer, n: number, timeoutMs: number): Promise<void> {
  await server.waitForParties(n, { timeoutMs });
  const { messages } = await server.collect(ROUND_HELLO, { deadlineMs: timeoutMs });
  const roster: string[] = new Array(n).fill('');
  for (const [id, m] of messages) {
    const i = m.header.party;
    if (typeof i !== 'number' || !Number.isSafeInteger(i) || i < 0 || i >= n || roster[i] !== '') {
      server.drop(id, `claimed party index ${String(i)}`);
      continue;
    }
    roster[i] = id;
  }
  const missing = roster.map((r, i) => (r === '' ? i : -1)).filter((i) => i >= 0);
  await server.broadcast(ROUND_ROSTER, { header: { kind: 'mpc-roster', roster: roster.join(','), missing: missing.join(',') }, payloads: [] });
}

export async function mpcCommand(argv: string[]): Promise<number> {
  const [sub, ...rest] = argv;
  if (sub === 'deal') {
    const { values: f } = parseArgs({ args: rest, strict: true, options: { parties: { type: 'string' }, count: { type: 'string' }, out: { type: 'string' }, mac: { type: 'boolean', default: false }, masks: { type: 'string' } } });
    const n = intFlag(f.parties, 'parties');
    if (n < 2) fail('parties', '"--parties" expected at least 2');
    const count = intFlag(f.count, 'count');
    if (f.out === undefined) fail('out', '"--out" is required');
    if (f.masks !== undefined && !f.mac) fail('masks', '"--masks" goes with --mac');
    if (f.mac) {
      // MAC'd triples and, per owner, input masks (one per input value; see spdzPreprocessing for the counts).
      const masks = intFlag(f.masks, 'masks', count);
      if (count > 2 ** 26 || masks > 2 ** 26) fail('count', '"--count" and "--masks" expected at most 2^26 with --mac');
      mkdirSync(f.out, { recursive: true });
      const stores = new MacDealer(n).preprocess({ triples: count, masks });
      const files = stores.map((s, i) => {
        const path = joinPath(f.out!, `auth-${i}.bin`);
        writeFileSync(path, s.encode(), { mode: 0o600 });
        return path;
      });
      process.stdout.write(`${JSON.stringify({ type: 'dealt', mac: true, parties: n, count, masks, files, dealer: 'trusted: it knows the MAC key, every triple and every mask; it must not collude with any party' })}\n`);
      return 0;
    }
    mkdirSync(f.out, { recursive: true });
    const stores = new TrustedDealer(n).preprocess(count);
    const files = stores.map((s, i) => {
      const path = joinPath(f.out!, `triples-${i}.bin`);
      writeFileSync(path, s.encode(), { mode: 0o600 });
      return path;
    });
    process.stdout.write(`${JSON.stringify({ type: 'dealt', parties: n, count, files, dealer: 'trusted: it knows every triple; it must not collude with any party' })}\n`);
    return 0;
  }
  if (sub !== 'run') {
    process.stderr.write(`confide mpc: unknown sub-command ${JSON.stringify(sub ?? '')}\n\nusage:\n  ${MPC_USAGE}\n`);
    return 2;
  }
  const { values: f } = parseArgs({
    args: rest,
    strict: true,
    options: {
      party: { type: 'string' },
      parties: { type: 'string' },
      input: { type: 'string' },
      stat: { type: 'string' },
      token: { type: 'string' },
      triples: { type: 'string' },
      sharing: { type: 'string' },
      threshold: { type: 'string' },
      'frac-bits': { type: 'string' },
      bound: { type: 'string' },
      'max-rows': { type: 'string' },
      'timeout-ms': { type: 'string' },
      seed: { type: 'string' },
      roster: { type: 'string' },
      mac: { type: 'boolean', default: false },
      json: { type: 'boolean', default: false },
    },
  });
  const addresses = (f.parties ?? '').split(',').filter((s) => s !== '');
  if (addresses.length < 2) fail('parties', '"--parties" expected at least 2 host:port entries');
  const n = addresses.length;
  const index = intFlag(f.party, 'party');
  if (index >= n) fail('party', `"--party" expected 0..${n - 1}`);
  if (f.input === undefined) fail('input', '"--input" is required');
  const stats = parseStats(f.stat ?? '');
  const tokenHex = f.token ?? process.env.CONFIDE_MPC_TOKEN;
  if (tokenHex === undefined || !/^([0-9a-f]{2}){16,}$/i.test(tokenHex)) fail('token', '"--token" (or CONFIDE_MPC_TOKEN) expected at least 16 bytes of hex, shared by all parties');
  const token = new Uint8Array(Buffer.from(tokenHex, 'hex'));
  const timeoutMs = intFlag(f['timeout-ms'], 'timeout-ms', 60_000);
  const sharing = f.sharing ?? 'additive';
  if (sharing !== 'additive' && sharing !== 'shamir') fail('sharing', '"--sharing" expected additive or shamir');
  const opts: StatOptions = {
    ...(f['frac-bits'] !== undefined ? { fracBits: intFlag(f['frac-bits'], 'frac-bits') } : {}),
    ...(f.bound !== undefined ? { bound: numberFlag(f.bound, 'bound') } : {}),
    ...(f['max-rows'] !== undefined ? { maxRows: intFlag(f['max-rows'], 'max-rows') } : {}),
  };
  const data = readCsv(f.input);
  const rows = data.size === 0 ? 0 : [...data.values()][0].length;
  let store: TripleStore | undefined;
  let auth: AuthStore | undefined;
  const heMode = f.triples === 'he';
  if (heMode && sharing !== 'additive') fail('triples', '"--triples he" runs additive sharing (in the BFV plaintext field); drop --sharing');
  if (f.mac) {
    if (sharing !== 'additive') fail('sharing', '"--mac" runs on additive shares (every party is needed); drop --sharing');
    if (f.triples === undefined || heMode) fail('triples', '"--mac" needs --triples FILE, this party\'s auth-<i>.bin from "confide mpc deal --mac" (HE triples carry no MACs)');
    if (!existsSync(f.triples)) throw new ConfideError('E_IO', `no MAC'd store at ${f.triples}`, { field: 'triples' });
    auth = AuthStore.decode(new Uint8Array(readFileSync(f.triples)));
    if (auth.parties !== n || auth.party !== index)
      fail('triples', `"--triples" holds party ${auth.party} of ${auth.parties}'s MAC'd store; this is party ${index} of ${n}`);
  } else if (f.triples !== undefined && !heMode) {
    if (!existsSync(f.triples)) throw new ConfideError('E_IO', `no triple store at ${f.triples}`, { field: 'triples' });
    store = TripleStore.decode(new Uint8Array(readFileSync(f.triples)));
  }
  const identity = f.seed !== undefined ? identityFromSeed(new Uint8Array(Buffer.from(f.seed, 'hex'))) : generateIdentity();
  const out = (o: Record<string, unknown>) => process.stdout.write(`${f.json ? JSON.stringify(o) : Object.entries(o).map(([k, v]) => `${k}=${typeof v === 'object' ? JSON.stringify(v) : String(v)}`).join(' ')}\n`);

  let server: PartyServer | undefined;
  let coordinator: Promise<void> | undefined;
  let address = `ws://${addresses[0]}`;
  if (index === 0) {
    const [host, port] = splitHostPort(addresses[0]);
    server = await serve({ transport: webSocketTransport({ host, port }), identity: generateIdentity(), token });
    address = server.address;
    out({ type: 'listen', address: server.address, server: server.id });
    coordinator = coordinate(server, n, timeoutMs);
    coordinator.catch(() => {});
  }
  let net: Party | undefined;
  try {
    net = await join({ transport: webSocketTransport(), address, identity, token });
    out({ type: 'joined', party: index, id: net.id });
    await net.send(net.serverId, ROUND_HELLO, { header: { party: index }, payloads: [] });
    const r = await net.receive(ROUND_ROSTER, { from: net.serverId, timeoutMs: timeoutMs * 2 });
    const roster = String(r.header.roster).split(',');
    if (roster.length !== n || roster.some((id) => id === '') || roster[index] !== net.id)
      throw new ConfideError('E_PROTOCOL', `the coordinator's roster is incomplete or misplaces this party (missing: ${String(r.header.missing)})`, { field: 'parties' });
    if (f.roster !== undefined && f.roster !== roster.join(','))
      throw new ConfideError('E_PROTOCOL', 'the coordinator announced a roster other than --roster', { field: 'roster' });
    if (coordinator) await coordinator;
    // The roster's hash: binds the channel keys to this exact set and order of parties.
    const session = `confide-mpc-cli:${createHash('sha256').update(roster.join(',')).digest('hex')}`;
    let mpc = await MpcParty.start({
      net,
      parties: roster,
      sharing: heMode ? 'field' : sharing,
      ...(heMode ? { field: HE_TRIPLE_FIELD } : {}),
      ...(f.threshold !== undefined ? { threshold: intFlag(f.threshold, 'threshold') } : {}),
      ...(store !== undefined ? { triples: store } : {}),
      session,
      timeoutMs,
      firstRound: FIRST_MPC_ROUND,
    });
    out({ type: 'ready', party: index, sharing: heMode ? 'field' : sharing, parties: n, ...(auth !== undefined ? { mac: true } : {}) });
    // Public metadata: column names, row count, and the statistics (all parties must ask for the same).
    const meta: Meta = { columns: [...data.keys()], rows, stats: f.stat! };
    const metas = (await mpc.exchange(JSON.stringify(meta))).map((s) => (s === undefined ? undefined : (JSON.parse(s) as Meta))) as Meta[];
    for (let j = 0; j < n; j++)
      if (metas[j] !== undefined && metas[j].stats !== meta.stats)
        throw new ConfideError('E_PROTOCOL', `party ${j} asks for --stat ${JSON.stringify(metas[j].stats)}, this party for ${JSON.stringify(meta.stats)}`, { field: 'stat' });
    if (heMode) {
      // Dealer-free triples, as many as the Beaver-path statistics need (row counts are public metadata).
      const need = stats.reduce((k, st) => k + beaverTriples(st, metas), 0);
      if (need > 0) {
        const made = await heTriples(mpc, need);
        out({ type: 'triples', party: index, source: 'he', count: need });
        mpc = await MpcParty.start({ net, parties: roster, sharing: 'field', field: HE_TRIPLE_FIELD, triples: made, session, timeoutMs, firstRound: mpc.nextRound });
      }
    }
    let statSession: StatSession = mpc;
    if (auth !== undefined) {
      // Every party counts the same need from the same metadata, so a short store stops all of them here.
      const uses = stats.map((st) => spdzUse(st, metas)).filter((u) => u !== undefined);
      const need = spdzPreprocessing(n, uses);
      const short = need.masks.some((m, owner) => auth!.masksRemaining(owner) < m) || auth.triplesRemaining < need.triples;
      if (short)
        throw new ConfideError('E_STATE', `the MAC'd store is short: these statistics need ${need.triples} triples and input masks ${need.masks.join(',')} by party; it has ${auth.triplesRemaining} triples and masks ${need.masks.map((_, owner) => auth!.masksRemaining(owner)).join(',')} (deal with --count ${need.dealer.triples} --masks ${need.dealer.masks} or more)`, { field: 'triples', details: { need } });
      statSession = new SpdzSession(mpc, auth);
    }
    const results: Record<string, unknown>[] = [];
    try {
      for (const st of stats) {
        const res = await runStat(statSession, index, st, data, metas, opts);
        results.push(res);
        out({ type: 'result', party: index, ...res });
      }
    } finally {
      // Whatever was taken is spent: write back only the unused triples, so no triple opens twice across runs.
      if (store !== undefined && f.triples !== undefined) writeFileSync(f.triples, store.encode(), { mode: 0o600 });
      if (auth !== undefined && f.triples !== undefined) writeFileSync(f.triples, auth.encode(), { mode: 0o600 });
    }
    await net.send(net.serverId, ROUND_DONE, { header: { done: true }, payloads: [] });
    if (server) await server.collect(ROUND_DONE, { deadlineMs: timeoutMs });
    out({ type: 'done', party: index, dropped: mpc.dropped });
    return 0;
  } finally {
    await net?.close().catch(() => {});
    await server?.close().catch(() => {});
  }
}

function splitHostPort(s: string): [string, number] {
  const k = s.lastIndexOf(':');
  const port = Number(s.slice(k + 1));
  if (k <= 0 || !Number.isSafeInteger(port) || port < 0 || port > 65535) fail('parties', `"--parties" entry ${JSON.stringify(s)} expected host:port`);
  return [s.slice(0, k), port];
}
