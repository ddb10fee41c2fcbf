/**
 * The he wrapper in one process: parameter checks, encryption of vectors into
 * chunks and back, the streaming sum (exact for BFV, within CKKS precision),
 * masking, seeded symmetric encryption, serialisation headers, SEAL error
 * wrapping, the type-confusion battery, and flat memory over 10,000 additions.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { ConfideError } from '../../src/core/errors.ts';
import { FixedPoint } from '../../src/core/fixedpoint.ts';
import { seededRng } from '../../src/core/random.ts';
import * as he from '../../src/he/index.ts';
import { loadSeal, sealCall } from '../../src/he/_seal.ts';
import { confusionFailures } from '../_battery.ts';
import { useHeKeys } from './_keys.ts';

async function rejects(p: Promise<unknown>, code: string): Promise<ConfideError> {
  try {
    await p;
  } catch (e) {
    expect(e).toBeInstanceOf(ConfideError);
    expect((e as ConfideError).code).toBe(code);
    return e as ConfideError;
  }
  throw new Error(`expected ${code}, nothing was thrown`);
}

function throwsCode(fn: () => unknown, code: string): ConfideError {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(ConfideError);
    expect((e as ConfideError).code, (e as Error).message).toBe(code);
    return e as ConfideError;
  }
  throw new Error(`expected ${code}, nothing was thrown`);
}

let plan: he.AggregationPlan;
let ctx: he.HeContext;
let keys: he.HeKeyPair;
let enc: he.VectorEncryptor;
let dec: he.VectorDecryptor;

const fixture = useHeKeys({ contributors: 10_000, bound: 4, fracBits: 8 });
beforeAll(() => void ({ plan, ctx, keys, enc, dec } = fixture));

describe('parameters and the chooser', () => {
  it('the default plan is the BFV preset of DESIGN.md with 16 bytes a value', async () => {
    const p = await he.planAggregation({ contributors: 100, bound: 1 });
    expect(p.params).toEqual(he.BFV_AGGREGATION);
    expect(p.bytesPerValue).toBe(16);
    // 100 · ⌈2^f⌉ must stay below 2^28: f = 21 is the most that fits.
    expect(p.fracBits).toBe(21);
    expect(p.checks.noiseBudgetNeeded).toBe(Math.ceil(Math.log2(101)) + 4);
    expect(p.checks.freshNoiseBudget).toBeGreaterThanOrEqual(p.checks.noiseBudgetNeeded);
  });

  it('raises t when the range needs it and refuses what no parameters can hold', async () => {
    const p = await he.planAggregation({ contributors: 1000, bound: 1e6, fracBits: 16 });
    // 1000 · 2^36 needs a t of at least 48 bits, beyond the preset's 30.
    expect(p.params.plainModulusBits!).toBeGreaterThan(30);
    expect(1000 * Math.ceil(1e6 * 2 ** 16)).toBeLessThan(2 ** (p.params.plainModulusBits! - 2));
    await rejects(he.planAggregation({ contributors: 1000, bound: 1e9, fracBits: 30 }), 'E_OVERFLOW');
    // Fixed parameters that cannot take the sum: the range check names the bound.
    const e = await rejects(he.planAggregation({ contributors: 100, bound: 1e4, fracBits: 20, params: he.BFV_AGGREGATION }), 'E_OVERFLOW');
    expect(e.field).toBe('bound');
  });

  it('refuses a noise budget that K additions would exhaust', async () => {
    // t of 44 bits under a 60-bit data modulus leaves about 8 bits of fresh budget.
    const params = { ...he.BFV_AGGREGATION, plainModulusBits: 44 };
    const e = await rejects(he.planAggregation({ contributors: 100_000, bound: 1, fracBits: 8, params }), 'E_OVERFLOW');
    expect(e.message).toMatch(/noise budget/);
  });

  it('CKKS preset: 32 bytes a value, range checked against the data modulus', async () => {
    const p = await he.planAggregation({ contributors: 100, bound: 10, scheme: 'ckks' });
    expect(p.params).toEqual(he.CKKS_AGGREGATION);
    expect(p.bytesPerValue).toBe(32);
    await rejects(he.planAggregation({ contributors: 1e6, bound: 1e6, scheme: 'ckks', params: he.CKKS_AGGREGATION }), 'E_OVERFLOW');
  });

  it('SEAL-level refusals become ConfideErrors: no batching, too many bits', async () => {
    await rejects(he.createContext({ ...he.BFV_AGGREGATION, coeffModulusBits: [60, 60, 60, 60] }), 'E_BAD_INPUT');
    await rejects(he.createContext({ ...he.BFV_AGGREGATION, plainModulusBits: 8 }), 'E_BAD_INPUT');
    await rejects(he.createContext({ ...he.BFV_AGGREGATION, scaleBits: 40 }), 'E_BAD_INPUT');
    // A raw SEAL exception (WebAssembly.Exception with an array message) is wrapped with a code.
    const seal = await loadSeal();
    const e = throwsCode(() => sealCall('make a batch encoder', 'E_BAD_INPUT', () => {
      const parms = new seal.EncryptionParameters(seal.SchemeType.bfv);
      parms.setPolyModulusDegree(8192);
      parms.setCoeffModulus(seal.CoeffModulus.Create(8192, Int32Array.from([60, 60])));
      parms.setPlainModulus(new seal.Modulus(65536n));
      const c = new seal.SEALContext(parms, true, seal.SecLevelType.tc128);
      try {
        return new seal.BatchEncoder(c);
      } finally {
        c.delete();
        parms.delete();
      }
    }), 'E_BAD_INPUT');
    expect(e.message).toMatch(/not valid for batching/);
    expect((e.cause as object).constructor.name).toBe('Exception'); // WebAssembly.Exception
  });
});

describe('vectors', () => {
  it('BFV: a vector spanning several ciphertexts round-trips within one quantum, clipping counted', () => {
    const n = 2 * ctx.slots + 5;
    const v = new Float64Array(n);
    for (let i = 0; i < n; i++) v[i] = ((i * 7919) % 1000) / 100 - 5; // [-5, 5): some beyond ±4
    const e = enc.encrypt(v, { rng: seededRng(1) });
    expect(e.chunks.length).toBe(3);
    expect(e.clipped).toBe(v.filter((x) => Math.abs(x) > 4).length);
    const r = dec.decrypt(e);
    expect(r.length).toBe(n);
    for (let i = 0; i < n; i++) expect(Math.abs(r[i] - Math.max(-4, Math.min(4, v[i])))).toBeLessThan(2 ** -8 + 1e-12);
  });

  it('BFV: the sum decrypts to exactly the sum of the fixed-point encodings (Float32 input too)', () => {
    const fp = new FixedPoint({ bits: 64, fracBits: plan.fracBits, bound: plan.bound });
    using acc = new he.Accumulator(ctx);
    const exact = new Float64Array(1000);
    for (let c = 0; c < 6; c++) {
      const v = new Float32Array(1000).map((_, i) => Math.sin(i + c) * 3);
      // The same rounding randomness for the encryptor and the reference encoding.
      const e = enc.encrypt(v, { rng: seededRng(c) });
      const ref = fp.decode(fp.encode(v, { rng: seededRng(c) }).data);
      for (let i = 0; i < 1000; i++) exact[i] += ref[i];
      acc.add(e);
    }
    expect(acc.contributors).toBe(6);
    expect(Array.from(dec.decrypt(acc.result()))).toEqual(Array.from(exact));
  });

  it('masking: the decryptor sees uniform residues; unmasking recovers the exact sum', () => {
    using acc = new he.Accumulator(ctx);
    const v = Float64Array.from({ length: 50 }, (_, i) => (i % 2 ? 0.5 : -0.25));
    acc.add(enc.encrypt(v));
    acc.add(enc.encrypt(v));
    const masked = acc.masked(enc, { rng: seededRng(7) });
    expect(masked.vector.contributors).toBe(2);
    const residues = dec.decryptResidues(masked.vector);
    // What the decryptor decrypts is not the sum (mod t): the sum has only two values.
    const plainSum = dec.decryptResidues(acc.result());
    expect(new Set(Array.from(residues)).size).toBeGreaterThan(40);
    expect(Array.from(residues)).not.toEqual(Array.from(plainSum));
    expect(Array.from(masked.unmask(residues))).toEqual(Array.from(v, (x) => 2 * x));
    throwsCode(() => masked.unmask(new BigUint64Array(3)), 'E_BAD_INPUT');
  });

  it('seeded symmetric encryption halves the bytes and decrypts the same', async () => {
    using senc = await he.VectorEncryptor.open(keys.secretKey);
    expect(senc.symmetric).toBe(true);
    const v = Float64Array.from([1.5, -2.25, 3]);
    const pub = enc.encrypt(v);
    const sym = senc.encrypt(v);
    expect(sym.chunks[0].length).toBeLessThan(0.55 * pub.chunks[0].length);
    expect(Array.from(dec.decrypt(sym))).toEqual([1.5, -2.25, 3]);
    using acc = new he.Accumulator(ctx);
    acc.add(sym);
    acc.add(pub);
    expect(Array.from(dec.decrypt(acc.result()))).toEqual([3, -4.5, 6]);
  });

  it('CKKS: sums within a tolerance set by the scale', async () => {
    const p = await he.planAggregation({ contributors: 50, bound: 100, scheme: 'ckks' });
    using c = await he.createContext(p.params);
    const k = he.generateKeys(c, p);
    using e = he.createEncryptor(c, p, k.publicKey);
    using d = await he.VectorDecryptor.open(k.secretKey);
    using acc = new he.Accumulator(c);
    const n = c.slots + 10;
    const truth = new Float64Array(n);
    for (let j = 0; j < 5; j++) {
      const v = Float64Array.from({ length: n }, (_, i) => Math.cos(i * (j + 1)) * 90);
      for (let i = 0; i < n; i++) truth[i] += v[i];
      acc.add(e.encrypt(v));
    }
    const r = d.decrypt(acc.result());
    let worst = 0;
    for (let i = 0; i < n; i++) worst = Math.max(worst, Math.abs(r[i] - truth[i]));
    // Encoding error is about 2^-40 · n per value; 1e-4 is far above five of them.
    expect(worst).toBeLessThan(1e-4);
    throwsCode(() => acc.masked(e), 'E_UNSUPPORTED');
  });
});

describe('serialisation', () => {
  it('a ciphertext under other parameters, a corrupt header, a new version or SEAL garbage is refused', async () => {
    const good = enc.encrypt(Float64Array.from([1, 2, 3]));
    const p2 = await he.planAggregation({ contributors: 10, bound: 4, fracBits: 8, params: { ...he.BFV_AGGREGATION, plainModulusBits: 31 } });
    using c2 = await he.createContext(p2.params);
    const k2 = he.generateKeys(c2, p2);
    using e2 = he.createEncryptor(c2, p2, k2.publicKey);
    using acc = new he.Accumulator(ctx);
    throwsCode(() => acc.add(e2.encrypt(Float64Array.from([1, 2, 3]))), 'E_BAD_INPUT');
    const mutate = (at: number, value: number) => {
      const b = good.chunks[0].slice();
      b[at] = value;
      return [b];
    };
    throwsCode(() => acc.add(mutate(0, 0)), 'E_DECODE'); // magic
    expect(throwsCode(() => acc.add(mutate(4, 2)), 'E_DECODE').message).toMatch(/version 2/);
    throwsCode(() => acc.add(mutate(5, 1)), 'E_DECODE'); // kind
    // SEAL's own header inside: a different SEAL version is named.
    const sealAt = good.chunks[0].length - 131185;
    expect(throwsCode(() => acc.add(mutate(sealAt + 4, 0)), 'E_DECODE').message).toMatch(/SEAL 4\.0/);
    // Corrupt polynomial data deep inside: SEAL's own check, wrapped.
    const deep = good.chunks[0].slice();
    deep.fill(0xff, deep.length - 64);
    throwsCode(() => acc.add([deep]), 'E_DECODE');
    // A missing chunk, or chunks of two vectors.
    const two = enc.encrypt(new Float64Array(ctx.slots + 1));
    throwsCode(() => acc.add([two.chunks[1]]), 'E_DECODE');
    throwsCode(() => acc.add([two.chunks[0], good.chunks[0]]), 'E_DECODE');
    expect(acc.contributors).toBe(0);
  });

  it('a vector that fails half way is taken back out of the sum', () => {
    using acc = new he.Accumulator(ctx);
    const n = ctx.slots + 3;
    acc.add(enc.encrypt(new Float64Array(n).fill(1)));
    const bad = enc.encrypt(new Float64Array(n).fill(2));
    const corrupt = bad.chunks[1].slice();
    corrupt.fill(0xff, corrupt.length - 64);
    throwsCode(() => acc.add([bad.chunks[0], corrupt]), 'E_DECODE');
    expect(acc.contributors).toBe(1);
    expect(dec.decrypt(acc.result()).every((x) => x === 1)).toBe(true);
  });

  it('key files carry the plan; a flipped parameter hash is refused', async () => {
    const opened = await he.openPublicKey(keys.publicKey);
    try {
      expect(opened.plan.params).toEqual(plan.params);
      expect(opened.plan.fracBits).toBe(plan.fracBits);
      expect(opened.plan.contributors).toBe(plan.contributors);
    } finally {
      opened.context.dispose();
    }
    const flipped = keys.publicKey.slice();
    flipped[8] ^= 1;
    await rejects(he.openPublicKey(flipped), 'E_DECODE');
    await rejects(he.openPublicKey(keys.secretKey), 'E_DECODE');
  });

  it('disposed objects refuse use', async () => {
    const c = await he.createContext(plan.params);
    c.dispose();
    c.dispose();
    throwsCode(() => new he.Accumulator(c), 'E_STATE');
    const e = await he.VectorEncryptor.open(keys.publicKey);
    e.dispose();
    throwsCode(() => e.encrypt(new Float64Array(1)), 'E_STATE');
  });
});

describe('type confusion', () => {
  it('every public entry point answers hostile arguments with ConfideError', async () => {
    const failures = [
      ...(await confusionFailures('planAggregation', (k, b, f) => he.planAggregation({ contributors: k, bound: b, fracBits: f }), () => [10, 1, 8], { accept: { 1: ['fraction'], 2: ['undefined'] } })),
      ...(await confusionFailures('createContext', (p) => he.createContext(p), () => [he.BFV_AGGREGATION])),
      ...(await confusionFailures('generateKeys', (c, p) => he.generateKeys(c, p), () => [ctx, plan])),
      ...(await confusionFailures('openPublicKey', (b) => he.openPublicKey(b).then((o) => o.context.dispose()), () => [keys.publicKey])),
      ...(await confusionFailures('encrypt', (v, o) => enc.encrypt(v, o), () => [new Float64Array(3), undefined], { accept: { 1: ['undefined', 'object'] } })),
      ...(await confusionFailures('Accumulator.add', (v) => new he.Accumulator(ctx).add(v), () => [enc.encrypt(new Float64Array(2))])),
      ...(await confusionFailures('decrypt', (v) => dec.decrypt(v), () => [enc.encrypt(new Float64Array(2))])),
      ...(await confusionFailures('createEncryptor', (c, p, k) => he.createEncryptor(c, p, k).dispose(), () => [ctx, plan, keys.publicKey])),
    ];
    expect(failures).toEqual([]);
  });
});

describe('memory', () => {
  it('aggregates 10,000 ciphertexts with flat memory', () => {
    // Ten distinct encrypted vectors of one chunk each, each added 1,000 times.
    const vectors = Array.from({ length: 10 }, (_, j) => enc.encrypt(Float64Array.from({ length: 100 }, (_, i) => ((i + j) % 8) / 4 - 1)));
    const expected = new Float64Array(100);
    for (const v of vectors) {
      const d = dec.decrypt(v);
      for (let i = 0; i < 100; i++) expected[i] += 1000 * d[i];
    }
    using acc = new he.Accumulator(ctx);
    const bytesOne = vectors[0].chunks[0].length;
    let before = 0;
    for (let k = 0; k < 10_000; k++) {
      acc.add(vectors[k % 10]);
      if (k === 499) before = process.memoryUsage().rss; // after warm-up: WASM heap grown, JIT settled
    }
    const growth = process.memoryUsage().rss - before;
    // Holding the 9,500 later ciphertexts would take 9,500 × 131 kB ≈ 1.2 GB; the bound is 64 MiB.
    expect(9500 * bytesOne).toBeGreaterThan(1e9);
    expect(growth).toBeLessThan(64 * 2 ** 20);
    expect(acc.contributors).toBe(10_000);
    expect(Array.from(dec.decrypt(acc.result()))).toEqual(Array.from(expected));
  });
});
