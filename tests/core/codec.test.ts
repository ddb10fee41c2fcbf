import { describe as group, expect, it } from 'vitest';
import fc from 'fast-check';
import { readFileSync } from 'node:fs';
import {
  CODEC_VERSION,
  decodeMessage,
  encodedLength,
  encodeMessage,
  encodeMessageInto,
  type DecodeLimits,
  type HeaderValue,
  type Message,
  type Payload,
} from '../../src/core/codec.ts';
import { ConfideError, isConfideError } from '../../src/core/errors.ts';
import { confusionFailures } from '../_battery.ts';

// ---------- helpers ----------

function hex(b: Uint8Array): string {
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex');
}

function fromHex(s: string): Uint8Array {
  const clean = s.replace(/\s+/g, '');
  return new Uint8Array(Buffer.from(clean, 'hex'));
}

function kindOf(v: unknown): string {
  return Object.prototype.toString.call(v).slice(8, -1);
}

/** A comparable form: exact number bits (-0, NaN payloads), dtype and raw bytes. */
function normalize(m: Message): unknown {
  const header = Object.keys(m.header)
    .sort()
    .map((k) => {
      const v = m.header[k];
      if (typeof v === 'number') return [k, 'number', Object.is(v, -0) ? '-0' : String(v)];
      if (typeof v === 'bigint') return [k, 'bigint', String(v)];
      if (typeof v === 'string') return [k, 'string', v];
      if (typeof v === 'boolean') return [k, 'boolean', v];
      return [k, kindOf(v), hex(v)];
    });
  const payloads = m.payloads.map((p) => [
    kindOf(p),
    hex(new Uint8Array(p.buffer, p.byteOffset, p.byteLength)),
  ]);
  return { header, payloads };
}

function catchError(fn: () => unknown): unknown {
  try {
    fn();
  } catch (e) {
    return e;
  }
  throw new Error('expected a throw');
}

function expectCode(fn: () => unknown, code: 'E_DECODE' | 'E_BAD_INPUT', field?: string): ConfideError {
  const e = catchError(fn);
  if (!isConfideError(e, code)) throw new Error(`expected ConfideError ${code}, got ${String(e)}`, { cause: e });
  if (field !== undefined) expect(e.field).toBe(field);
  return e;
}

/**
 * The contract for untrusted bytes: decode returns a message whose canonical
 * encoding is exactly the input, or throws E_DECODE. Nothing else.
 */
function decodeOrReject(bytes: Uint8Array, limits?: DecodeLimits): boolean {
  let m: Message;
  try {
    m = decodeMessage(bytes, limits);
  } catch (e) {
    if (!isConfideError(e, 'E_DECODE')) throw new Error(`non-E_DECODE failure: ${String(e)}`, { cause: e });
    return false;
  }
  expect(hex(encodeMessage(m))).toBe(hex(bytes));
  return true;
}

/** Prefix with consistent lengths around hand-written header and table+data hex. */
function buildFrame(headerHex: string, count: number, restHex = ''): Uint8Array {
  const h = fromHex(headerHex);
  const r = fromHex(restHex);
  const out = new Uint8Array(16 + h.length + r.length);
  const dv = new DataView(out.buffer);
  out.set([0x43, 0x46, 1, 0]);
  dv.setUint32(4, h.length, true);
  dv.setUint32(8, count, true);
  dv.setUint32(12, out.length, true);
  out.set(h, 16);
  out.set(r, 16 + h.length);
  return out;
}

const CTORS = {
  Uint8Array,
  Int8Array,
  Uint16Array,
  Int16Array,
  Uint32Array,
  Int32Array,
  Float32Array,
  Float64Array,
  BigInt64Array,
  BigUint64Array,
} as const;
type DtypeName = keyof typeof CTORS;

function sampleOf(name: DtypeName): Payload {
  switch (name) {
    case 'BigInt64Array':
      return new BigInt64Array([0n, -1n, -(2n ** 63n), 2n ** 63n - 1n, 12345678901234n]);
    case 'BigUint64Array':
      return new BigUint64Array([0n, 1n, 2n ** 64n - 1n, 2n ** 63n]);
    case 'Float32Array':
      return new Float32Array([0, -0, 1.5, -3.25e10, NaN, Infinity, -Infinity, 1e-40]);
    case 'Float64Array':
      return new Float64Array([0, -0, Math.PI, -1e308, NaN, Infinity, -Infinity, 5e-324]);
    default:
      return new CTORS[name]([0, 1, 2, 127, 255, -1, -128, 65535, 2 ** 31, -(2 ** 31)]);
  }
}

const VALID: Message = {
  header: {
    who: 'é',
    ok: true,
    raw: new Uint8Array([0xab]),
    pi: 1.5,
    neg: -1n,
    id: 7n,
  },
  payloads: [new Uint16Array([1, 0x0203]), new Float64Array(0), new Int8Array([-1])],
};
const VALID_FRAME = encodeMessage(VALID);

// ---------- round trips ----------

group('round trip', () => {
  it('has version 1', () => {
    expect(CODEC_VERSION).toBe(1);
    expect(VALID_FRAME[2]).toBe(1);
  });

  for (const name of Object.keys(CTORS) as DtypeName[]) {
    it(`${name}: values and empty`, () => {
      const full = sampleOf(name);
      const empty = new CTORS[name](0);
      const m = decodeMessage(encodeMessage({ header: {}, payloads: [full, empty, full] }));
      expect(m.payloads.map(kindOf)).toEqual([name, name, name]);
      expect(m.payloads[0]).toEqual(full);
      expect(m.payloads[1].length).toBe(0);
      expect(normalize(m)).toEqual(normalize({ header: {}, payloads: [full, empty, full] }));
    });
  }

  it('encodes only the bytes of subarray views, at any byteOffset', () => {
    const buf = new ArrayBuffer(64);
    new Uint8Array(buf).forEach((_, i, a) => (a[i] = i + 1));
    const views: Payload[] = [
      new Uint8Array(buf, 3, 5),
      new Int8Array(buf, 7, 1),
      new Uint16Array(buf, 2, 3),
      new Int32Array(buf, 12, 2),
      new Float64Array(buf, 8, 2),
      new BigUint64Array(buf, 56, 1),
      new Uint8Array(buf, 64, 0),
      new Uint8Array(Buffer.from('hello world').subarray(3)),
    ];
    const frame = encodeMessage({ header: {}, payloads: views });
    expect(frame.length).toBe(encodedLength({ header: {}, payloads: views }));
    const m = decodeMessage(frame);
    expect(m.payloads.length).toBe(views.length);
    m.payloads.forEach((p, i) => {
      expect(kindOf(p)).toBe(kindOf(views[i]));
      expect(Array.from(p as ArrayLike<number | bigint>)).toEqual(Array.from(views[i] as ArrayLike<number | bigint>));
    });
  });

  it('keeps every header value type, boundaries included', () => {
    const header: Record<string, HeaderValue> = {
      zero: 0,
      negZero: -0,
      maxSafe: Number.MAX_SAFE_INTEGER,
      minSafe: Number.MIN_SAFE_INTEGER,
      big: 1.7976931348623157e308,
      tiny: 5e-324,
      frac: -0.1,
      b0: 0n,
      bMax: 2n ** 64n - 1n,
      bMin: -(2n ** 63n),
      bNeg1: -1n,
      b63: 2n ** 63n,
      empty: '',
      bom: '\uFEFFleading BOM kept',
      astral: 'a😀\u{10FFFF}\u0000z',
      t: true,
      f: false,
      noBytes: new Uint8Array(0),
      someBytes: new Uint8Array([0, 255, 7]),
      buffer: Buffer.from([1, 2, 3]),
      ['k'.repeat(255)]: 'longest key',
      ['é'.repeat(127) + 'x']: 'longest key in 2-byte chars',
    };
    const m = decodeMessage(encodeMessage({ header, payloads: [] }));
    expect(normalize(m)).toEqual(normalize({ header, payloads: [] }));
    expect(Object.is(m.header.negZero, -0)).toBe(true);
    expect(kindOf(m.header.buffer)).toBe('Uint8Array');
  });

  it('treats __proto__ and other prototype names as plain keys', () => {
    const header = JSON.parse('{"__proto__": "x", "constructor": 1, "toString": true}') as Record<
      string,
      HeaderValue
    >;
    const m = decodeMessage(encodeMessage({ header, payloads: [] }));
    expect(Object.getPrototypeOf(m.header)).toBe(null);
    expect(Object.keys(m.header)).toEqual(['__proto__', 'constructor', 'toString']);
    expect(m.header['__proto__']).toBe('x');
    // a decoded header (null prototype) encodes again
    expect(hex(encodeMessage(m))).toBe(hex(encodeMessage({ header, payloads: [] })));
  });

  it('preserves NaN bit patterns in float payloads', () => {
    const f64 = new Float64Array(2);
    const f32 = new Float32Array(2);
    new Uint8Array(f64.buffer).set(fromHex('0100000000000ff7 ffffffffffffffff'));
    new Uint8Array(f32.buffer).set(fromHex('0100807f ffffffff'));
    const m = decodeMessage(encodeMessage({ header: {}, payloads: [f64, f32] }));
    expect(hex(new Uint8Array(m.payloads[0].buffer, m.payloads[0].byteOffset, 16))).toBe(
      '0100000000000ff7ffffffffffffffff',
    );
    expect(hex(new Uint8Array(m.payloads[1].buffer, m.payloads[1].byteOffset, 8))).toBe('0100807fffffffff');
  });
});

// ---------- canonical encoding and known answers ----------

group('canonical encoding', () => {
  it('does not depend on key insertion order', () => {
    const a = encodeMessage({ header: { x: 1, a: 'b', m: true }, payloads: [] });
    const b = encodeMessage({ header: { m: true, x: 1, a: 'b' }, payloads: [] });
    const c = encodeMessage({ header: Object.assign(Object.create(null), { a: 'b', m: true, x: 1 }), payloads: [] });
    expect(hex(a)).toBe(hex(b));
    expect(hex(a)).toBe(hex(c));
  });

  it('sorts keys by UTF-8 bytes, not UTF-16 code units', () => {
    // JS sort puts U+10000 (surrogates D800 DC00) before U+E000; UTF-8 bytes put it after.
    const header = { '\u{10000}': 1, '\uE000': 2, b: 3, ab: 4, a: 5, Z: 6 };
    const m = decodeMessage(encodeMessage({ header, payloads: [] }));
    expect(Object.keys(m.header)).toEqual(['Z', 'a', 'ab', 'b', '\uE000', '\u{10000}']);
  });

  it('encodedLength is exact', () => {
    expect(encodedLength(VALID)).toBe(VALID_FRAME.length);
    expect(encodedLength({ header: {}, payloads: [] })).toBe(16);
  });

  const file = JSON.parse(readFileSync(new URL('../vectors/codec.json', import.meta.url), 'utf8')) as {
    source: string;
    vectors: {
      name: string;
      message: {
        header: Record<string, Record<string, string | number | boolean>>;
        payloads: { dtype: DtypeName; values: string[] }[];
      };
      frame: { hex: string; what: string }[];
    }[];
  };

  it('vector file names its source', () => {
    expect(file.source).toMatch(/src\/core\/codec\.ts/);
  });

  for (const v of file.vectors) {
    it(`known answer: ${v.name}`, () => {
      const header: Record<string, HeaderValue> = {};
      for (const [k, typed] of Object.entries(v.message.header)) {
        const [type, raw] = Object.entries(typed)[0];
        header[k] =
          type === 'bigint' ? BigInt(raw as string) : type === 'bytes' ? fromHex(raw as string) : (raw as HeaderValue);
      }
      const payloads = v.message.payloads.map((p) =>
        p.dtype.startsWith('Big')
          ? new CTORS[p.dtype](p.values.length).map((_, i) => BigInt(p.values[i]) as never)
          : new CTORS[p.dtype](p.values.map(Number) as never),
      ) as Payload[];
      const expected = v.frame.map((part) => part.hex.replace(/\s+/g, '')).join('');
      const msg = { header, payloads };
      expect(hex(encodeMessage(msg))).toBe(expected);
      expect(encodedLength(msg)).toBe(expected.length / 2);
      expect(normalize(decodeMessage(fromHex(expected)))).toEqual(normalize(msg));
    });
  }
});

// ---------- zero copy ----------

group('zero-copy decode', () => {
  const all = (Object.keys(CTORS) as DtypeName[]).map(sampleOf);

  it('returns views into an aligned input', () => {
    const frame = encodeMessage({ header: {}, payloads: all });
    const m = decodeMessage(frame);
    for (const p of m.payloads) expect(p.buffer).toBe(frame.buffer);
    // a view aliases the input
    (m.payloads[0] as Uint8Array)[0] = 99;
    expect(decodeMessage(frame).payloads[0][0]).toBe(99);
  });

  it('copies payloads whose element alignment the input offset breaks', () => {
    const frame = encodeMessage({ header: {}, payloads: all });
    for (const offset of [1, 2, 3, 4, 5]) {
      const buf = new ArrayBuffer(frame.length + 8);
      const input = new Uint8Array(buf, offset, frame.length);
      input.set(frame);
      const m = decodeMessage(input);
      expect(normalize(m)).toEqual(normalize({ header: {}, payloads: all }));
      m.payloads.forEach((p) => {
        const size = p.BYTES_PER_ELEMENT;
        expect(p.buffer === buf).toBe(offset % size === 0);
        expect(p.byteOffset % size).toBe(0);
      });
    }
  });

  it('decodes a Node Buffer from the shared pool', () => {
    const frame = encodeMessage(VALID);
    const pooled = Buffer.from(frame); // small Buffers come from the pool at some offset
    expect(normalize(decodeMessage(pooled))).toEqual(normalize(VALID));
  });
});

// ---------- property tests ----------

const keyArb = fc.oneof(
  fc.string({ unit: 'binary', minLength: 1, maxLength: 10 }),
  fc.string({ unit: 'binary-ascii', minLength: 1, maxLength: 4 }),
  fc.constantFrom('__proto__', 'constructor', 'k'.repeat(255), '\uE000', '\u{10000}'),
);
const valueArb: fc.Arbitrary<HeaderValue> = fc.oneof(
  fc.double({ noNaN: true, noDefaultInfinity: true }),
  fc.integer(),
  fc.constantFrom(0, -0, Number.MAX_SAFE_INTEGER, Number.MIN_SAFE_INTEGER),
  fc.bigInt({ min: -(2n ** 63n), max: 2n ** 64n - 1n }),
  fc.string({ unit: 'binary', maxLength: 20 }),
  fc.boolean(),
  fc.uint8Array({ maxLength: 20 }),
);
const maybeSub = <T extends Payload>(arb: fc.Arbitrary<T>): fc.Arbitrary<Payload> =>
  fc.tuple(arb, fc.boolean()).map(([a, sub]) => (sub && a.length > 0 ? (a.subarray(1) as Payload) : a));
const payloadArb: fc.Arbitrary<Payload> = fc.oneof(
  maybeSub(fc.uint8Array({ maxLength: 20 })),
  maybeSub(fc.int8Array({ maxLength: 20 })),
  maybeSub(fc.uint16Array({ maxLength: 10 })),
  maybeSub(fc.int16Array({ maxLength: 10 })),
  maybeSub(fc.uint32Array({ maxLength: 10 })),
  maybeSub(fc.int32Array({ maxLength: 10 })),
  maybeSub(fc.float32Array({ maxLength: 10 })),
  maybeSub(fc.float64Array({ maxLength: 10 })),
  maybeSub(fc.bigInt64Array({ maxLength: 5 })),
  maybeSub(fc.bigUint64Array({ maxLength: 5 })),
);
const messageArb: fc.Arbitrary<Message> = fc.record({
  header: fc.dictionary(keyArb, valueArb, { maxKeys: 8 }),
  payloads: fc.array(payloadArb, { maxLength: 6 }),
});

group('property: round trip', () => {
  it('decode(encode(m)) equals m, and re-encoding gives the same bytes', () => {
    fc.assert(
      fc.property(messageArb, (m) => {
        const frame = encodeMessage(m);
        expect(frame.length).toBe(encodedLength(m));
        const back = decodeMessage(frame);
        expect(normalize(back)).toEqual(normalize(m));
        expect(hex(encodeMessage(back))).toBe(hex(frame));
      }),
      { numRuns: 500 },
    );
  });

  it('the header key order never changes the bytes', () => {
    fc.assert(
      fc.property(messageArb, fc.infiniteStream(fc.double()), (m, noise) => {
        const it = noise[Symbol.iterator]();
        const keys = Object.keys(m.header).sort(() => (it.next().value as number) - 0.5);
        const shuffled: Record<string, HeaderValue> = Object.create(null);
        for (const k of keys) shuffled[k] = m.header[k];
        expect(hex(encodeMessage({ header: shuffled, payloads: m.payloads }))).toBe(hex(encodeMessage(m)));
      }),
      { numRuns: 200 },
    );
  });
});

// ---------- hostile input ----------

group('hostile input', () => {
  it('rejects every truncation of a valid frame', () => {
    for (let k = 0; k < VALID_FRAME.length; k++) {
      expectCode(() => decodeMessage(VALID_FRAME.subarray(0, k)), 'E_DECODE');
      // and with the length field patched to match, so the structure checks fire
      if (k >= 16) {
        const cut = VALID_FRAME.slice(0, k);
        new DataView(cut.buffer).setUint32(12, k, true);
        expectCode(() => decodeMessage(cut), 'E_DECODE');
      }
    }
  });

  it('random bytes decode canonically or throw E_DECODE', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), (b) => {
        decodeOrReject(b);
      }),
      { numRuns: 3000 },
    );
  });

  it('random bytes behind a consistent prefix decode canonically or throw E_DECODE', () => {
    let decoded = 0;
    fc.assert(
      fc.property(fc.nat(40), fc.nat(4), fc.uint8Array({ maxLength: 120 }), (h, p, rest) => {
        const f = new Uint8Array(16 + rest.length);
        f.set(rest, 16);
        f.set([0x43, 0x46, 1, 0]);
        const dv = new DataView(f.buffer);
        dv.setUint32(4, Math.min(h, rest.length), true);
        dv.setUint32(8, p, true);
        dv.setUint32(12, f.length, true);
        if (decodeOrReject(f)) decoded++;
      }),
      { numRuns: 3000 },
    );
    expect(decoded).toBeGreaterThan(0); // some inputs (empty header, no payloads) are valid
  });

  it('every single-bit flip and byte overwrite of a valid frame decodes canonically or throws E_DECODE', () => {
    const frames = [VALID_FRAME, ...fc.sample(messageArb, { numRuns: 20, seed: 42 }).map(encodeMessage)];
    let accepted = 0;
    let rejected = 0;
    for (const frame of frames) {
      for (let i = 0; i < frame.length; i++) {
        for (const mutate of [1, 2, 4, 8, 16, 32, 64, 128].map((bit) => (x: number) => x ^ bit).concat([
          () => 0,
          () => 0xff,
        ])) {
          const f = frame.slice();
          f[i] = mutate(f[i]);
          if (f[i] === frame[i]) continue;
          if (decodeOrReject(f)) accepted++;
          else rejected++;
        }
      }
    }
    // both outcomes occur: payload bytes are data, structure bytes are checked
    expect(accepted).toBeGreaterThan(0);
    expect(rejected).toBeGreaterThan(0);
  });

  it('random mutations of random valid frames decode canonically or throw E_DECODE', () => {
    fc.assert(
      fc.property(messageArb, fc.array(fc.tuple(fc.nat(), fc.nat(255)), { minLength: 1, maxLength: 4 }), (m, edits) => {
        const f = encodeMessage(m);
        for (const [i, b] of edits) f[i % f.length] = b;
        decodeOrReject(f);
      }),
      { numRuns: 1000 },
    );
  });

  it('fails fast on huge claimed lengths without allocating', () => {
    const open: DecodeLimits = {
      maxBytes: Number.MAX_SAFE_INTEGER,
      maxHeaderBytes: Number.MAX_SAFE_INTEGER,
      maxPayloads: Number.MAX_SAFE_INTEGER,
      maxPayloadBytes: Number.MAX_SAFE_INTEGER,
    };
    const prefix = (h: number, p: number, t: number): Uint8Array => {
      const f = new Uint8Array(16);
      f.set([0x43, 0x46, 1, 0]);
      const dv = new DataView(f.buffer);
      dv.setUint32(4, h, true);
      dv.setUint32(8, p, true);
      dv.setUint32(12, t, true);
      return f;
    };
    // a 24-byte frame whose one table entry claims a 4 GiB Uint8Array
    const bigPayload = buildFrame('', 1, '01000000 ffffffff');
    const cases: [Uint8Array, string][] = [
      [prefix(0, 0, 0xffffffff), 'frameLength'],
      [prefix(0xffffffff, 0, 16), 'headerLength'],
      [prefix(0, 0xffffffff, 16), 'payloadCount'],
      [prefix(0xfffffff0, 0xfffffff0, 16), 'headerLength'],
      [bigPayload, 'payloads[0]'],
      [prefix(0, 0xffffffff, 0xffffffff).subarray(0, 12), 'frameLength'],
    ];
    const before = process.memoryUsage().arrayBuffers;
    for (const [frame, field] of cases) {
      expectCode(() => decodeMessage(frame, open), 'E_DECODE', field);
      expectCode(() => decodeMessage(frame), 'E_DECODE', field);
    }
    expect(process.memoryUsage().arrayBuffers - before).toBeLessThan(1 << 20);
  });

  it('enforces each limit at its boundary', () => {
    const m: Message = {
      header: { a: 'x'.repeat(100) },
      payloads: [new Uint8Array(300), new Float64Array(10), new Int8Array(1)],
    };
    const f = encodeMessage(m);
    const headerBytes = new DataView(f.buffer).getUint32(4, true);
    expect(headerBytes).toBe(1 + 1 + 1 + 4 + 100);
    const cases: [keyof DecodeLimits, number, string][] = [
      ['maxBytes', f.length, 'frameLength'],
      ['maxHeaderBytes', headerBytes, 'headerLength'],
      ['maxPayloads', 3, 'payloadCount'],
      ['maxPayloadBytes', 300, 'payloads[0]'],
    ];
    for (const [name, exact, field] of cases) {
      expect(normalize(decodeMessage(f, { [name]: exact }))).toEqual(normalize(m));
      const e = expectCode(() => decodeMessage(f, { [name]: exact - 1 }), 'E_DECODE', field);
      expect(e.message).toContain(name);
    }
    // defaults: 1025 payloads are refused, 1024 accepted
    const many = (n: number) => encodeMessage({ header: {}, payloads: Array.from({ length: n }, () => new Uint8Array(0)) });
    expect(decodeMessage(many(1024)).payloads.length).toBe(1024);
    expectCode(() => decodeMessage(many(1025)), 'E_DECODE', 'payloadCount');
    expect(decodeMessage(many(1025), { maxPayloads: 2000 }).payloads.length).toBe(1025);
    // default header limit 64 KiB
    const bigHeader = encodeMessage({ header: { s: 'x'.repeat(65536) }, payloads: [] });
    expectCode(() => decodeMessage(bigHeader), 'E_DECODE', 'headerLength');
  });

  it('names an unsupported version', () => {
    const f = VALID_FRAME.slice();
    f[2] = 2;
    const e = expectCode(() => decodeMessage(f), 'E_DECODE', 'version');
    expect(e.message).toMatch(/version 2/);
    f[2] = 0;
    expectCode(() => decodeMessage(f), 'E_DECODE', 'version');
  });

  it('rejects bad magic and nonzero flags', () => {
    const f = VALID_FRAME.slice();
    f[0] = 0x44;
    expectCode(() => decodeMessage(f), 'E_DECODE', 'magic');
    const g = VALID_FRAME.slice();
    g[3] = 1;
    expectCode(() => decodeMessage(g), 'E_DECODE', 'flags');
  });

  it('rejects trailing garbage, with or without a patched length', () => {
    const f = new Uint8Array(VALID_FRAME.length + 1);
    f.set(VALID_FRAME);
    const e = expectCode(() => decodeMessage(f), 'E_DECODE', 'frameLength');
    expect(e.message).toMatch(/trailing/);
    new DataView(f.buffer).setUint32(12, f.length, true);
    expectCode(() => decodeMessage(f), 'E_DECODE', 'frameLength');
    // also after the table when there are no payloads
    expectCode(() => decodeMessage(buildFrame('', 0, '00')), 'E_DECODE', 'frameLength');
  });

  const malformed: [string, Uint8Array, string][] = [
    ['unsorted keys', buildFrame('0162 0501 0161 0501', 0), 'header'],
    ['duplicate keys', buildFrame('0161 0501 0161 0501', 0), 'header'],
    ['key of length 0', buildFrame('00 0501', 0), 'header'],
    ['key with an invalid UTF-8 byte', buildFrame('01ff 0501', 0), 'header'],
    ['key with an overlong UTF-8 encoding', buildFrame('02c080 0501', 0), 'header'],
    ['key with a UTF-8 surrogate', buildFrame('03eda080 0501', 0), 'header'],
    ['key running past the header', buildFrame('0561 0501', 0), 'header'],
    ['unknown header tag 0', buildFrame('0161 00', 0), 'header.a'],
    ['unknown header tag 7', buildFrame('0161 07', 0), 'header.a'],
    ['bool byte 2', buildFrame('0161 0502', 0), 'header.a'],
    ['NaN header number', buildFrame('0161 01 000000000000f87f', 0), 'header.a'],
    ['Infinity header number', buildFrame('0161 01 000000000000f07f', 0), 'header.a'],
    ['truncated f64', buildFrame('0161 01 0000', 0), 'header.a'],
    ['non-negative i64 (must be u64)', buildFrame('0161 03 0000000000000000', 0), 'header.a'],
    ['string longer than the header', buildFrame('0161 04 05000000 6869', 0), 'header.a'],
    ['string with invalid UTF-8', buildFrame('0161 04 01000000 ff', 0), 'header.a'],
    ['bytes longer than the header', buildFrame('0161 06 ffffffff', 0), 'header.a'],
    ['unknown dtype 0', buildFrame('', 1, '00000000 00000000'), 'payloads[0]'],
    ['unknown dtype 11', buildFrame('', 1, '0b000000 00000000'), 'payloads[0]'],
    ['nonzero reserved table byte', buildFrame('', 1, '01000100 00000000'), 'payloads[0]'],
    ['Uint16 payload of 3 bytes', buildFrame('', 1, '03000000 03000000 000000'), 'payloads[0]'],
    ['Float64 payload of 12 bytes', buildFrame('', 1, '08000000 0c000000' + '00'.repeat(12)), 'payloads[0]'],
    ['nonzero alignment padding', buildFrame('0161 0501', 1, '01000000 01000000 00000100 ff'), 'payloads[0]'],
    ['payload data past the end', buildFrame('', 1, '01000000 02000000 ff'), 'payloads[0]'],
    ['table past the end', buildFrame('', 2, '01000000 00000000'), 'payloadCount'],
  ];
  for (const [what, frame, field] of malformed) {
    it(`rejects ${what}`, () => {
      expectCode(() => decodeMessage(frame), 'E_DECODE', field);
    });
  }

  it('accepts the hand-built well-formed counterparts', () => {
    expect(decodeMessage(buildFrame('0161 0501 0162 0500', 0)).header).toEqual({ a: true, b: false });
    const m = decodeMessage(buildFrame('0161 0501', 1, '01000000 01000000 00000000 ff'));
    expect(Array.from(m.payloads[0] as Uint8Array)).toEqual([255]);
  });

  it('rejects a non-Uint8Array argument and bad limits as E_BAD_INPUT', () => {
    const ab = VALID_FRAME.buffer;
    for (const bad of [null, undefined, 'CF', [0x43], ab, new DataView(ab), new Uint16Array(8), new Int8Array(ab), { length: 16 }, Object.create(Uint8Array.prototype)])
      expectCode(() => decodeMessage(bad as Uint8Array), 'E_BAD_INPUT', 'bytes');
    for (const limits of [null, 5, [], { maxBytes: -1 }, { maxBytes: 1.5 }, { maxPayloads: NaN }, { maxHeaderBytes: Infinity }, { maxPayloadBytes: 10n }])
      expectCode(() => decodeMessage(VALID_FRAME, limits as DecodeLimits), 'E_BAD_INPUT');
  });
});

// ---------- encode input checks ----------

group('encode rejects bad input with E_BAD_INPUT', () => {
  const ok = (header: Record<string, unknown>, payloads: unknown[] = []) => ({ header, payloads }) as unknown as Message;
  const detached = new Float64Array(4);
  structuredClone(detached.buffer, { transfer: [detached.buffer] });
  const cases: [string, unknown, string][] = [
    ['null message', null, 'msg'],
    ['number message', 3, 'msg'],
    ['null header', { header: null, payloads: [] }, 'header'],
    ['missing header', { payloads: [] }, 'header'],
    ['array header', { header: [1], payloads: [] }, 'header'],
    ['Map header', { header: new Map(), payloads: [] }, 'header'],
    ['class instance header', { header: new (class H {})(), payloads: [] }, 'header'],
    ['symbol key', ok({ [Symbol('s')]: 1 }), 'header'],
    ['NaN header number', ok({ x: NaN }), 'header.x'],
    ['Infinity header number', ok({ x: Infinity }), 'header.x'],
    ['-Infinity header number', ok({ x: -Infinity }), 'header.x'],
    ['bigint 2^64', ok({ x: 2n ** 64n }), 'header.x'],
    ['bigint -(2^63)-1', ok({ x: -(2n ** 63n) - 1n }), 'header.x'],
    ['undefined value', ok({ x: undefined }), 'header.x'],
    ['null value', ok({ x: null }), 'header.x'],
    ['object value', ok({ x: {} }), 'header.x'],
    ['array value', ok({ x: [1] }), 'header.x'],
    ['function value', ok({ x: () => 1 }), 'header.x'],
    ['symbol value', ok({ x: Symbol('v') }), 'header.x'],
    ['Uint16Array value', ok({ x: new Uint16Array(1) }), 'header.x'],
    ['fake Uint8Array value', ok({ x: Object.create(Uint8Array.prototype) }), 'header.x'],
    ['lone surrogate in a string value', ok({ x: 'a\uD800b' }), 'header.x'],
    ['empty key', ok({ '': 1 }), 'header'],
    ['key of 256 bytes', ok({ ['k'.repeat(256)]: 1 }), 'header'],
    ['key of 256 UTF-8 bytes in 128 chars', ok({ ['é'.repeat(128)]: 1 }), 'header'],
    ['key with a lone surrogate', ok({ '\uDC00': 1 }), 'header'],
    ['payloads not an array', { header: {}, payloads: new Uint8Array(2) }, 'payloads'],
    ['missing payloads', { header: {} }, 'payloads'],
    ['DataView payload', ok({}, [new DataView(new ArrayBuffer(8))]), 'payloads[0]'],
    ['plain array payload', ok({}, [[1, 2, 3]]), 'payloads[0]'],
    ['{} pretending to be a Uint8Array', ok({}, [{ constructor: Uint8Array, buffer: new ArrayBuffer(4), byteLength: 4, length: 4 }]), 'payloads[0]'],
    ['object with Uint8Array prototype', ok({}, [Object.create(Uint8Array.prototype)]), 'payloads[0]'],
    ['Uint8ClampedArray payload', ok({}, [new Uint8ClampedArray(2)]), 'payloads[0]'],
    ['ArrayBuffer payload', ok({}, [new ArrayBuffer(8)]), 'payloads[0]'],
    ['null payload', ok({}, [new Uint8Array(1), null]), 'payloads[1]'],
    ['hole in payloads', ok({}, [, new Uint8Array(1)]), 'payloads[0]'],
    ['detached payload', ok({}, [detached]), 'payloads[0]'],
  ];
  const F16 = (globalThis as { Float16Array?: new (n: number) => unknown }).Float16Array;
  if (F16) cases.push(['Float16Array payload', ok({}, [new F16(2)]), 'payloads[0]']);

  for (const [what, msg, field] of cases) {
    it(`rejects ${what}`, () => {
      expectCode(() => encodeMessage(msg as Message), 'E_BAD_INPUT', field);
      expectCode(() => encodedLength(msg as Message), 'E_BAD_INPUT', field);
    });
  }

  it('accepts the boundary values next to the rejected ones', () => {
    const m = ok(
      { a: 2n ** 64n - 1n, b: -(2n ** 63n), ['k'.repeat(255)]: 1, ['é'.repeat(127)]: 'x', s: 'a\uD800\uDC00b' },
      [Buffer.from([1]), new Uint8Array(0)],
    );
    expect(normalize(decodeMessage(encodeMessage(m)))).toEqual(normalize(m));
  });
});

// ---------- encoding into a caller's buffer ----------

group('encodeMessageInto', () => {
  it('writes exactly the bytes of encodeMessage at the offset, every byte, and nothing around them (property)', () => {
    fc.assert(
      fc.property(messageArb, fc.nat(24), fc.nat(8), (m, offset, tail) => {
        const want = encodeMessage(m);
        // Pre-filled with 0xa5: padding and reserved bytes must be written, not assumed zero.
        const out = new Uint8Array(offset + want.length + tail).fill(0xa5);
        expect(encodeMessageInto(m, out, offset)).toBe(want.length);
        expect(hex(out.subarray(offset, offset + want.length))).toBe(hex(want));
        expect(out.subarray(0, offset).every((b) => b === 0xa5)).toBe(true);
        expect(out.subarray(offset + want.length).every((b) => b === 0xa5)).toBe(true);
      }),
      { numRuns: 300 },
    );
  });

  it('at an 8-aligned offset the payloads decode as views of the caller buffer', () => {
    const m = { header: { k: 'v' }, payloads: [new Uint8Array(3).fill(1), new Float64Array([1.5, 2.5])] };
    const out = new Uint8Array(16 + encodedLength(m));
    encodeMessageInto(m, out, 16);
    const back = decodeMessage(out.subarray(16));
    expect(back.payloads[1].buffer).toBe(out.buffer);
    expect(Array.from(back.payloads[1] as Float64Array)).toEqual([1.5, 2.5]);
  });

  it('refuses a buffer that is too small or an offset past its end, before writing anything', () => {
    const m = { header: { a: 1 }, payloads: [new Uint32Array(4)] };
    const n = encodedLength(m);
    const out = new Uint8Array(n + 3).fill(7);
    expectCode(() => encodeMessageInto(m, out, 4), 'E_BAD_INPUT', 'out');
    expectCode(() => encodeMessageInto(m, out, n + 4), 'E_BAD_INPUT', 'offset');
    expect(out.every((b) => b === 7)).toBe(true);
    expectCode(() => encodeMessageInto({ header: { x: NaN }, payloads: [] }, out, 0), 'E_BAD_INPUT', 'header.x');
    expect(out.every((b) => b === 7)).toBe(true);
  });

  it('passes the type-confusion battery', async () => {
    const m = () => ({ header: { a: 1 }, payloads: [new Uint32Array(2)] });
    expect(await confusionFailures('encodeMessageInto', encodeMessageInto, () => [m(), new Uint8Array(64), 8])).toEqual([]);
  });
});
