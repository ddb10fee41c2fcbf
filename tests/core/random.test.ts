import { describe, expect, it } from 'vitest';
import { nodeKeystream } from '../_keystream.ts';
import { ConfideError, Rng, randomBytes, seededRng, systemRng } from '../../src/core/index.ts';
import { chiSquare, chiSquareCritical } from '../_stats.ts';

const ZERO_NONCE = new Uint8Array(12);

describe('seededRng', () => {
  it('is the ChaCha20 keystream of its seed (checked against node:crypto)', () => {
    const seed = new Uint8Array(32).map((_, i) => i * 7 + 1);
    const rng = seededRng(seed);
    const got = rng.bytes(64 * 70); // crosses a pool refill (4 KiB)
    expect(Buffer.from(got).equals(nodeKeystream(seed, ZERO_NONCE, 0, 64 * 70))).toBe(true);
  });

  it('encodes integer seeds little-endian, and is reproducible', () => {
    const a = seededRng(42).bytes(100);
    const b = seededRng(42n).bytes(100);
    const key = new Uint8Array(32);
    key[0] = 42;
    expect(a).toEqual(b);
    expect(a).toEqual(seededRng(key).bytes(100));
    expect(seededRng(43).bytes(100)).not.toEqual(a);
  });

  it('copies its seed so later edits do not change the stream', () => {
    const seed = new Uint8Array(32);
    const r = seededRng(seed);
    seed[0] = 1;
    expect(r.bytes(32)).toEqual(seededRng(0).bytes(32));
  });

  it('refuses bad seeds', () => {
    for (const bad of [new Uint8Array(31), -1, 1.5, NaN, 2n ** 256n, -1n, 'seed', null, new Uint16Array(16)])
      expect(() => seededRng(bad as never)).toThrow(ConfideError);
  });
});

describe('systemRng', () => {
  it('is shared, cryptographic and never repeats', () => {
    expect(systemRng()).toBe(systemRng());
    expect(systemRng().kind).toBe('system');
    const a = randomBytes(32), b = randomBytes(32);
    expect(a).not.toEqual(b);
    expect(systemRng()).toBeInstanceOf(Rng);
  });

  it('serves requests larger than one getRandomValues call', () => {
    const big = systemRng().bytes(200_000);
    // Each byte value appears; an unfilled tail would be all zeros.
    expect(big.subarray(199_000).some((x) => x !== 0)).toBe(true);
  });
});

describe('uniform draws (chi-square at alpha = 1e-6, seeded)', () => {
  it('fill handles lengths that are not multiples of 4', () => {
    const r1 = seededRng(5), r2 = seededRng(5);
    const whole = r1.bytes(8);
    const part = r2.bytes(7);
    expect(part).toEqual(whole.subarray(0, 7));
  });

  it.each([2, 3, 7, 10, 1000])('uniformInt(%i) is uniform', (bound) => {
    const rng = seededRng(bound);
    const n = bound * 2000;
    const counts = new Float64Array(bound);
    for (let i = 0; i < n; i++) counts[rng.uniformInt(bound)]++;
    const expected = new Float64Array(bound).fill(n / bound);
    expect(chiSquare(counts, expected)).toBeLessThan(chiSquareCritical(Math.max(bound - 1, 3), '1e-6'));
  });

  it('uniformInt has no modulo bias for bounds near 2^32', () => {
    // With x mod bound, bound = 3·2^30 would put [0, 2^30) at twice the weight.
    const bound = 3 * 2 ** 30;
    const rng = seededRng(99);
    const n = 60_000;
    const thirds = new Float64Array(3);
    for (let i = 0; i < n; i++) thirds[Math.floor(rng.uniformInt(bound) / 2 ** 30)]++;
    expect(chiSquare(thirds, [n / 3, n / 3, n / 3])).toBeLessThan(chiSquareCritical(3, '1e-6'));
  });

  it('uniformInt reaches bounds up to 2^53', () => {
    const rng = seededRng(7);
    const bound = 2 ** 53;
    let high = 0;
    for (let i = 0; i < 2000; i++) {
      const x = rng.uniformInt(bound);
      expect(Number.isSafeInteger(x) && x >= 0 && x < bound).toBe(true);
      if (x >= 2 ** 52) high++;
    }
    expect(high).toBeGreaterThan(850);
    expect(high).toBeLessThan(1150);
    const odd = 3 * 2 ** 50 + 1;
    for (let i = 0; i < 1000; i++) expect(rng.uniformInt(odd)).toBeLessThan(odd);
  });

  it('uniformBigInt is in range and uniform', () => {
    const rng = seededRng(3);
    const p = (1n << 256n) + 297n;
    for (let i = 0; i < 200; i++) {
      const x = rng.uniformBigInt(p);
      expect(x >= 0n && x < p).toBe(true);
    }
    const counts = new Float64Array(5);
    for (let i = 0; i < 10_000; i++) counts[Number(rng.uniformBigInt(5n))]++;
    expect(chiSquare(counts, new Float64Array(5).fill(2000))).toBeLessThan(chiSquareCritical(4, '1e-6'));
    expect(rng.uniformBigInt(1n)).toBe(0n);
  });

  it('bits(k) covers [0, 2^k)', () => {
    const rng = seededRng(11);
    expect(rng.bits(0)).toBe(0);
    const counts = new Float64Array(16);
    for (let i = 0; i < 16_000; i++) counts[rng.bits(4)]++;
    expect(chiSquare(counts, new Float64Array(16).fill(1000))).toBeLessThan(chiSquareCritical(15, '1e-6'));
    for (let i = 0; i < 100; i++) expect(rng.bits(32)).toBeLessThan(2 ** 32);
  });

  it('shuffle is a uniform permutation', () => {
    const rng = seededRng(13);
    const counts = new Map<string, number>();
    const n = 24_000;
    for (let i = 0; i < n; i++) {
      const k = rng.shuffle([0, 1, 2, 3]).join('');
      counts.set(k, (counts.get(k) ?? 0) + 1);
    }
    expect(counts.size).toBe(24);
    expect(chiSquare([...counts.values()], new Float64Array(24).fill(n / 24))).toBeLessThan(
      chiSquareCritical(23, '1e-6'),
    );
  });

  it('refuses bad bounds', () => {
    const rng = seededRng(1);
    for (const bad of [0, -1, 1.5, NaN, Infinity, 2 ** 53 + 2, 1n])
      expect(() => rng.uniformInt(bad as never)).toThrow(ConfideError);
    for (const bad of [0n, -5n, 3]) expect(() => rng.uniformBigInt(bad as never)).toThrow(ConfideError);
    for (const bad of [-1, 33, 1.5]) expect(() => rng.bits(bad)).toThrow(ConfideError);
    expect(() => rng.uniformRange(5, 4)).toThrow(ConfideError);
    expect(rng.uniformRange(-3, -3)).toBe(-3);
  });
});
