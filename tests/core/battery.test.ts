/**
 * The type-confusion battery against every public function of core: each
 * hostile argument must produce a ConfideError, nothing else.
 */
import { describe, expect, it } from 'vitest';
import * as core from '../../src/core/index.ts';
import { confusionFailures, type BatteryOptions } from '../_battery.ts';

const { Z32, Z64, Fp61, SECRET_FIELD, FixedPoint } = core;
const fp32 = () => new FixedPoint({ bits: 32, fracBits: 8, bound: 10 });
const rng = () => core.seededRng(1);
const bigintOk: BatteryOptions = { accept: { 0: ['bigint'], 1: ['bigint'] } };

type Case = [string, (...a: any[]) => unknown, () => unknown[], BatteryOptions?];
const cases: Case[] = [
  ['seededRng', core.seededRng, () => [42], { accept: { 0: ['bigint'] } }],
  ['randomBytes', core.randomBytes, () => [4]],
  ['Rng.uniformInt', (b) => rng().uniformInt(b), () => [10]],
  ['Rng.uniformBigInt', (b) => rng().uniformBigInt(b), () => [10n], { accept: { 0: ['bigint'] } }],
  ['Rng.bits', (k) => rng().bits(k), () => [3]],
  ['Rng.bytes', (n) => rng().bytes(n), () => [4]],
  ['Rng.fill', (o) => rng().fill(o), () => [new Uint8Array(4)]],
  ['Rng.uniformRange', (lo, hi) => rng().uniformRange(lo, hi), () => [-3, 5], { accept: { 0: ['negative', 'bigint'], 1: ['negative'] } }],
  ['Rng.shuffle', (a) => rng().shuffle(a), () => [[1, 2, 3]], { accept: { 0: ['plain array'] } }],
  ['arng', core.arng, () => [rng()]],
  ['Z32.zeros', Z32.zeros, () => [4]],
  ['Z32.add', Z32.add, () => [new Uint32Array(4), new Uint32Array(4), new Uint32Array(4)], { accept: { 2: ['undefined'] } }],
  ['Z32.sub', Z32.sub, () => [new Uint32Array(4), new Uint32Array(4)]],
  ['Z32.neg', Z32.neg, () => [new Uint32Array(4), new Uint32Array(4)], { accept: { 1: ['undefined'] } }],
  ['Z32.mulScalar', Z32.mulScalar, () => [new Uint32Array(4), 3], { accept: { 1: ['negative', '-0'] } }],
  ['Z32.sum', Z32.sum, () => [[new Uint32Array(4), new Uint32Array(4)]]],
  ['Z32.toSigned', Z32.toSigned, () => [5]],
  ['Z32.fromSigned', Z32.fromSigned, () => [-5], { accept: { 0: ['negative'] } }],
  ['Z64.add', Z64.add, () => [new BigUint64Array(4), new BigUint64Array(4)]],
  ['Z64.mulScalar', Z64.mulScalar, () => [new BigUint64Array(4), 3n], { accept: { 1: ['bigint'] } }],
  ['Z64.sum', Z64.sum, () => [[new BigUint64Array(4)]]],
  ['Z64.toSigned', Z64.toSigned, () => [5n], { accept: { 0: ['bigint'] } }],
  ['ring', core.ring, () => [32]],
  ['PrimeField', (p) => new core.PrimeField(p), () => [7n], { accept: { 0: [] } }],
  ['isProbablePrime', core.isProbablePrime, () => [7n], { accept: { 0: ['bigint'] } }],
  ['SECRET_FIELD.add', (a, b) => SECRET_FIELD.add(a, b), () => [1n, 2n], bigintOk],
  ['SECRET_FIELD.mul', (a, b) => SECRET_FIELD.mul(a, b), () => [1n, 2n], bigintOk],
  ['SECRET_FIELD.inv', (a) => SECRET_FIELD.inv(a), () => [3n], bigintOk],
  ['SECRET_FIELD.pow', (a, e) => SECRET_FIELD.pow(a, e), () => [3n, 5n], bigintOk],
  ['SECRET_FIELD.toBytes', (a) => SECRET_FIELD.toBytes(a), () => [3n], bigintOk],
  ['SECRET_FIELD.fromBytes', (b) => SECRET_FIELD.fromBytes(b), () => [new Uint8Array(33)]],
  ['SECRET_FIELD.random', (r) => SECRET_FIELD.random(r), () => [rng()], { accept: { 0: ['undefined'] } }],
  ['secretToField', core.secretToField, () => [new Uint8Array(32)]],
  ['fieldToSecret', core.fieldToSecret, () => [3n], bigintOk],
  ['Fp61.add', Fp61.add, () => [new BigUint64Array(3), new BigUint64Array(3)]],
  ['Fp61.mul', Fp61.mul, () => [new BigUint64Array(3), new BigUint64Array(3)]],
  ['Fp61.mulScalar', Fp61.mulScalar, () => [new BigUint64Array(3), 2n], { accept: { 1: ['bigint'] } }],
  ['Fp61.random', Fp61.random, () => [3, rng()], { accept: { 1: ['undefined'] } }],
  ['FixedPoint', (bits, fracBits, bound) => new FixedPoint({ bits, fracBits, bound }), () => [32, 8, 10], { accept: { 2: ['fraction'] } }],
  ['FixedPoint options', (o) => new FixedPoint(o), () => [{ bits: 32, fracBits: 8, bound: 10 }]],
  ['FixedPoint.encode', (v, o) => fp32().encode(v, o), () => [new Float64Array(3), { rng: rng() }], { accept: { 1: ['undefined', 'object'] } }],
  ['FixedPoint.encode rng', (r) => fp32().encode(new Float32Array(3), { rng: r }), () => [rng()], { accept: { 0: ['undefined'] } }],
  ['FixedPoint.decode', (d) => fp32().decode(d), () => [new Uint32Array(3)]],
  ['FixedPoint.checkOverflow', (n, h) => fp32().checkOverflow(n, h), () => [3, 0], { accept: { 1: ['undefined', '-0', 'fraction'] } }],
  ['FixedPoint.maxParties', (h) => fp32().maxParties(h), () => [0], { accept: { 0: ['undefined', '-0', 'fraction', 'huge'] } }],
  ['addMask', core.addMask, () => [new Uint32Array(8), new Uint8Array(32), 1, { nonce: new Uint8Array(12) }], { accept: { 2: ['negative'], 3: ['undefined', 'object'] } }],
  ['addMask counter', (c) => core.addMask(new Uint32Array(8), new Uint8Array(32), 1, { counter: c }), () => [0], { accept: { 0: ['undefined'] } }],
  ['expandSeed', core.expandSeed, () => [new Uint8Array(32), 8, 64]],
  ['chacha20Keystream', core.chacha20Keystream, () => [new Uint8Array(32), new Uint8Array(70)]],
  ['encodeMessage', core.encodeMessage, () => [{ header: { a: 1 }, payloads: [new Uint32Array(2)] }]],
  ['decodeMessage', core.decodeMessage, () => [core.encodeMessage({ header: { a: 1 }, payloads: [] }), {}], { accept: { 1: ['undefined', 'object'] } }],
  ['arenaAlloc', (c, n) => core.arenaAlloc(c, n).free(), () => [Uint32Array, 4]],
];

describe('type-confusion battery (core)', () => {
  it.each(cases.map((c) => [c[0], c] as const))('%s', async (_name, [name, fn, args, opts]) => {
    expect(await confusionFailures(name, fn, args, opts)).toEqual([]);
  });
});
