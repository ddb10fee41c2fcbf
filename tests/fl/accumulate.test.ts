/**
 * The streaming sum the coordinator uses for plain rounds (src/fl/_accumulate.ts):
 * whatever order updates arrive in, and whichever are missing, it equals to
 * the last bit the sum a strategy computes over the updates in the sample's
 * order, and a non-finite update leaves no trace in it.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { seededRng } from '../../src/core/index.ts';
import { UpdateSum } from '../../src/fl/_accumulate.ts';
import { fedAvg, type ClientUpdate, type Tensors } from '../../src/fl/index.ts';

const bits = (t: Tensors) => Object.fromEntries(Object.entries(t).map(([k, v]) => [k, Array.from(new Uint32Array(v.buffer.slice(v.byteOffset, v.byteOffset + v.byteLength)))]));

/** Values over 40 binades, so that float64 sums round and the order of addition shows. */
function spread(rng: ReturnType<typeof seededRng>, n: number): Float32Array {
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = (rng.bit() ? 1 : -1) * (rng.uniformInt(1 << 24) / (1 << 24)) * 2 ** (rng.uniformInt(40) - 20);
  return a;
}

/**
 * Four one-value updates whose float64 sum depends on the order: in this
 * order (4 + 2^-22) + 2^-51 + 2^-51 rounds both small terms away (ties to
 * even) and the mean 1 + 2^-24 rounds to 1 in float32; added smallest first
 * the sum is exact and the mean rounds up to 1 + 2^-23.
 */
const TIE = [4, 2 ** -22, 2 ** -51, 2 ** -51];

describe('UpdateSum', () => {
  it('gives the sum in the given order whatever the arrival order (an order that changes the bits)', () => {
    const global: Tensors = { w: new Float32Array(1) };
    const order = ['a', 'b', 'c', 'd'];
    const updates = TIE.map((x) => ({ delta: { w: Float32Array.of(x) }, examples: 1 }));
    const want = fedAvg().aggregate(global, updates);
    // The test can fail: the reverse order gives other bits.
    expect(bits(fedAvg().aggregate(global, [...updates].reverse()))).not.toEqual(bits(want));
    expect(want.w[0]).toBe(1);
    for (const arrival of [[3, 2, 1, 0], [1, 3, 0, 2], [0, 1, 2, 3], [2, 0, 3, 1]]) {
      const sum = new UpdateSum(global, order);
      for (const k of arrival) sum.add(order[k], updates[k].delta, 1, false);
      const res = sum.finish();
      expect(res.accepted).toEqual(order);
      expect(bits(fedAvg().aggregateSum!(global, res.sum, res.examples))).toEqual(bits(want));
    }
  });

  it('equals strategy.aggregate over the sorted present updates, for any arrival order and any missing ones (property)', () => {
    const rng = seededRng(7);
    const global: Tensors = { a: spread(rng, 50), b: spread(rng, 3) };
    const K = 7;
    const order = Array.from({ length: K }, (_, i) => `p${i}`);
    const updates: ClientUpdate[] = order.map(() => ({ delta: { a: spread(rng, 50), b: spread(rng, 3) }, examples: 1 + rng.uniformInt(1000) }));
    // Half the clients send their new weights instead of Δ: the sum uses fround(weights − global), as subtractTensors does.
    const sendsWeights = order.map((_, i) => i % 2 === 1);
    const sent = updates.map((u, i) => (sendsWeights[i] ? { a: u.delta.a.map((d, j) => d + global.a[j]), b: u.delta.b.map((d, j) => d + global.b[j]) } : u.delta));
    const asDelta = sent.map((t, i) => (sendsWeights[i] ? { a: t.a.map((x, j) => x - global.a[j]), b: t.b.map((x, j) => x - global.b[j]) } : t));
    fc.assert(
      fc.property(fc.shuffledSubarray(order.map((_, i) => i), { minLength: 1 }), fc.boolean(), (present, early) => {
        const sum = new UpdateSum(global, order, early ? new Float64Array(53).fill(7) : undefined);
        for (const i of present) sum.add(order[i], sent[i], updates[i].examples, sendsWeights[i]);
        const res = sum.finish();
        const sorted = [...present].sort((x, y) => x - y);
        expect(res.accepted).toEqual(sorted.map((i) => order[i]));
        expect(res.examples).toBe(sorted.reduce((n, i) => n + updates[i].examples, 0));
        const want = fedAvg().aggregate(global, sorted.map((i) => ({ delta: asDelta[i], examples: updates[i].examples })));
        expect(bits(fedAvg().aggregateSum!(global, res.sum, res.examples))).toEqual(bits(want));
      }),
      { numRuns: 60, seed: 11 },
    );
  });

  it('rejects a non-finite update, or weights whose difference overflows float32, and rebuilds the sum without it', () => {
    const global: Tensors = { w: Float32Array.of(0, -3e38) };
    const order = ['a', 'b', 'c', 'd'];
    const sum = new UpdateSum(global, order);
    sum.add('d', { w: Float32Array.of(2 ** -51, 1) }, 1, false);
    sum.add('a', { w: Float32Array.of(4, 1) }, 1, false);
    sum.add('b', { w: Float32Array.of(NaN, 1) }, 1, false);
    sum.add('c', { w: Float32Array.of(2 ** -51, 3e38) }, 1, true); // 3e38 − (−3e38) overflows float32
    sum.add('a', { w: Float32Array.of(1e9, 1) }, 1, false); // a second update from the same party is ignored
    sum.add('z', { w: Float32Array.of(1e9, 1) }, 1, false); // so is one from outside the sample
    const res = sum.finish();
    expect(res.accepted).toEqual(['a', 'd']);
    expect([...res.rejected.keys()]).toEqual(['b', 'c']);
    expect(res.rejected.get('b')).toMatch(/"tensors\.w\[0\]" expected a finite number, got NaN/);
    expect(res.rejected.get('c')).toMatch(/w\[1\].*overflows float32/);
    expect(res.examples).toBe(2);
    // Exactly the sum of a and d in order: no trace of b's or c's partial additions.
    expect(Array.from(res.sum)).toEqual([4 + 2 ** -51, 2]);
    sum.add('d', { w: Float32Array.of(1, 1) }, 1, false); // after finish: ignored
    expect(sum.finish().accepted).toEqual(['a', 'd']);
  });
});
