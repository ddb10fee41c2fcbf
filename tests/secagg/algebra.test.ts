/** Shamir sharing, the graphs and the parameter chooser: properties, and the type-confusion battery. */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ConfideError, isConfideError } from '../../src/core/errors.ts';
import { SECRET_FIELD } from '../../src/core/field.ts';
import { seededRng } from '../../src/core/random.ts';
import { generateIdentity } from '../../src/net/index.ts';
import {
  SecAggClient,
  SecAggServer,
  calibrateDistributedNoise,
  completeGraph,
  distributedGaussianRho,
  hararyGraph,
  secaggParameters,
  shamirReconstruct,
  shamirShare,
  type SecAggConfig,
} from '../../src/secagg/index.ts';
import { lagrangeAtZero } from '../../src/secagg/shamir.ts';
import { confusionFailures } from '../_battery.ts';

const bytes32 = fc.uint8Array({ minLength: 32, maxLength: 32 });

describe('Shamir sharing over p = 2^256 + 297', () => {
  it('any t of n shares recover the secret', () => {
    fc.assert(
      fc.property(bytes32, fc.integer({ min: 1, max: 12 }), fc.integer({ min: 0, max: 8 }), fc.integer(), (secret, t, extra, seed) => {
        const n = t + extra;
        const rng = seededRng(seed >>> 0);
        const shares = shamirShare(secret, t, Array.from({ length: n }, (_, i) => 3 * i + 1), rng);
        const subset = rng.shuffle([...shares]).slice(0, t);
        expect(Buffer.from(shamirReconstruct(subset, t))).toEqual(Buffer.from(secret));
      }),
      { numRuns: 200 },
    );
  });

  it('t - 1 shares are consistent with every secret (each one fits some polynomial of degree t - 1)', () => {
    fc.assert(
      fc.property(bytes32, bytes32, fc.integer({ min: 2, max: 8 }), (secret, other, t) => {
        const shares = shamirShare(secret, t, Array.from({ length: t }, (_, i) => i + 1), seededRng(1));
        const known = shares.slice(0, t - 1);
        // A share at a new point exists that makes `other` the secret: the t - 1 shares say nothing about it.
        const xs = known.map((s) => s.x);
        const lam = (x0: number) => {
          // λ_j for interpolation at 0 over xs ∪ {x0}, for j = x0.
          let num = 1n;
          let den = 1n;
          for (const x of xs) {
            num = SECRET_FIELD.mul(num, BigInt(x));
            den = SECRET_FIELD.mul(den, SECRET_FIELD.create(BigInt(x - x0)));
          }
          return SECRET_FIELD.div(num, den);
        };
        const partial = shamirReconstructRaw([...known, { x: 1000, y: 0n }], t);
        const target = BigInt('0x' + Buffer.from(other).reverse().toString('hex'));
        const y = SECRET_FIELD.div(SECRET_FIELD.sub(target, partial), lam(1000));
        const got = shamirReconstruct([...known, { x: 1000, y }], t);
        expect(Buffer.from(got)).toEqual(Buffer.from(other));
      }),
      { numRuns: 50 },
    );
  });

  it('fewer than t shares, repeated points and inconsistent shares are refused', () => {
    const shares = shamirShare(new Uint8Array(32).fill(9), 3, [1, 2, 3, 4]);
    expect(isConfideError(thrown(() => shamirReconstruct(shares.slice(0, 2), 3)), 'E_PROTOCOL')).toBe(true);
    expect(isConfideError(thrown(() => shamirReconstruct([shares[0], shares[0], shares[1]], 3)), 'E_BAD_INPUT')).toBe(true);
    expect(isConfideError(thrown(() => shamirShare(new Uint8Array(32), 2, [1, 1])), 'E_BAD_INPUT')).toBe(true);
  });

  it('Lagrange coefficients at 0 interpolate every polynomial of degree < t: Σ λ_i x_i^k = [k = 0] mod p, for small and 32-bit points', () => {
    // Small points multiply many factors per BigInt step, 32-bit ones force a step per factor, mixed sets both.
    const point = fc.oneof(fc.integer({ min: 1, max: 600 }), fc.integer({ min: 1, max: 2 ** 32 - 1 }));
    const P = SECRET_FIELD.p;
    fc.assert(
      fc.property(fc.uniqueArray(point, { minLength: 1, maxLength: 40 }), (xs) => {
        const lambdas = lagrangeAtZero(xs);
        for (let k = 0; k < xs.length; k++) {
          let s = 0n;
          xs.forEach((x, i) => (s += lambdas[i] * ((BigInt(x) ** BigInt(k)) % P)));
          expect(s % P).toBe(k === 0 ? 1n : 0n);
        }
      }),
      { numRuns: 60 },
    );
    const xs = Array.from({ length: 251 }, (_, i) => i + 1);
    const secret = new Uint8Array(32).map((_, i) => 255 - i);
    expect(Buffer.from(shamirReconstruct(shamirShare(secret, 251, xs), 251))).toEqual(Buffer.from(secret));
  });
});

/** Interpolation at 0 without the 256-bit check (for the consistency property above). */
function shamirReconstructRaw(shares: { x: number; y: bigint }[], t: number): bigint {
  let s = 0n;
  for (let i = 0; i < t; i++) {
    let num = 1n;
    let den = 1n;
    for (let j = 0; j < t; j++) {
      if (j === i) continue;
      num = SECRET_FIELD.mul(num, BigInt(shares[j].x));
      den = SECRET_FIELD.mul(den, SECRET_FIELD.create(BigInt(shares[j].x - shares[i].x)));
    }
    s = SECRET_FIELD.add(s, SECRET_FIELD.mul(shares[i].y, SECRET_FIELD.div(num, den)));
  }
  return s;
}

function thrown(fn: () => unknown): unknown {
  try {
    fn();
  } catch (e) {
    return e;
  }
  return undefined;
}

describe('graphs', () => {
  it('the Harary graph is k-regular, symmetric, consistent and connected', () => {
    fc.assert(
      fc.property(fc.integer({ min: 5, max: 200 }), fc.integer({ min: 1, max: 20 }), bytes32, (n, half, seed) => {
        const k = 2 * half;
        const g = hararyGraph(n, k, seed);
        const deg = k >= n - 1 ? n - 1 : k;
        const seen = new Set([0]);
        const queue = [0];
        for (let i = 0; i < n; i++) {
          const nb = g.neighbours(i);
          expect(nb).toHaveLength(deg);
          expect(new Set(nb).size).toBe(deg);
          for (const j of nb) {
            expect(j).not.toBe(i);
            expect(g.adjacent(i, j)).toBe(true);
            expect(g.neighbours(j)).toContain(i);
          }
        }
        while (queue.length) for (const j of g.neighbours(queue.pop()!)) if (!seen.has(j)) (seen.add(j), queue.push(j));
        expect(seen.size).toBe(n);
        // Same seed, same graph: clients rebuild the server's.
        expect(hararyGraph(n, k, seed).neighbours(n - 1)).toEqual(g.neighbours(n - 1));
      }),
      { numRuns: 100 },
    );
  });

  it('the chooser meets its three bounds and gives k = O(log n)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 10, max: 5000 }), fc.double({ min: 0, max: 0.3, noNaN: true }), fc.double({ min: 0, max: 0.2, noNaN: true }), (n, d, g) => {
        let p;
        try {
          p = secaggParameters({ clients: n, dropoutRate: d, corruptFraction: g });
        } catch (e) {
          expect(isConfideError(e, 'E_BAD_INPUT')).toBe(true);
          return;
        }
        expect(p.log2Failure.correctness).toBeLessThanOrEqual(-20);
        expect(p.log2Failure.sharePrivacy).toBeLessThanOrEqual(-40);
        expect(p.log2Failure.disconnection).toBeLessThanOrEqual(-40);
        expect(p.threshold).toBeGreaterThanOrEqual(1);
        expect(p.threshold).toBeLessThanOrEqual(p.degree + 1);
        if (p.graph === 'harary') expect(p.degree % 2).toBe(0);
      }),
      { numRuns: 200 },
    );
    const big = secaggParameters({ clients: 100_000, dropoutRate: 0.1, corruptFraction: 0.05 });
    expect(big.graph).toBe('harary');
    expect(big.degree).toBeLessThan(20 * Math.log2(100_000));
  });
});

describe('type-confusion battery', () => {
  const config: SecAggConfig = { length: 4, bits: 32, fracBits: 0, bound: 10, threshold: 2, graph: 'complete' };
  const id = generateIdentity();
  const other = generateIdentity();
  const cases: [string, (...a: any[]) => unknown, () => unknown[], Record<number, string[]>?][] = [
    ['shamirShare', shamirShare, () => [new Uint8Array(32), 2, [1, 2, 3]], { 2: ['plain array'] }],
    ['shamirReconstruct', shamirReconstruct, () => [shamirShare(new Uint8Array(32), 2, [1, 2], seededRng(1)), 2]],
    ['completeGraph', completeGraph, () => [5]],
    ['hararyGraph', hararyGraph, () => [10, 4, new Uint8Array(32)]],
    ['secaggParameters', secaggParameters, () => [{ clients: 100, dropoutRate: 0.1, corruptFraction: 0.1 }]],
    ['distributedGaussianRho', distributedGaussianRho, () => [{ clientVariance: 100, sensitivity: 10, survivors: 5, dimension: 3 }]],
    ['calibrateDistributedNoise', calibrateDistributedNoise, () => [{ rho: 0.5, l2Norm: 1, length: 10, fracBits: 8, clients: 20, dropoutRate: 0.1 }]],
    ['new SecAggClient', (o: any) => new SecAggClient(o), () => [{ identity: id, sessionId: new Uint8Array(16), round: 0, config, input: new Float64Array(4) }]],
    ['new SecAggServer', (o: any) => new SecAggServer(o), () => [{ sessionId: new Uint8Array(16), round: 0, config, participants: [id.id, other.id] }]],
  ];
  for (const [name, fn, args, accept] of cases)
    it(name, async () => {
      expect(await confusionFailures(name, fn, args, accept ? { accept } : {})).toEqual([]);
    });

  it('nested fields of the config are checked too', () => {
    for (const bad of [{ ...config, graph: { degree: 3 } }, { ...config, bits: 16 }, { ...config, threshold: 0.5 }, { ...config, extra: 1 }, { ...config, noise: { clientVariance: -1, l2Norm: 1 } }])
      expect(thrown(() => new SecAggServer({ sessionId: new Uint8Array(16), round: 0, config: bad as never, participants: [id.id, other.id] }))).toBeInstanceOf(ConfideError);
  });
});

describe('type-confusion battery of the net drivers', () => {
  // Their valid calls run whole rounds (tests/secagg/protocol.test.ts); here each
  // argument in turn is replaced by every confusion value, and each call must
  // reject with a ConfideError before anything goes on the wire.
  it('runSecAggClient and runSecAggServer', async () => {
    const { network } = await import('./_helpers.ts');
    const { CONFUSION_VALUES } = await import('../_battery.ts');
    const { runSecAggClient, runSecAggServer } = await import('../../src/secagg/index.ts');
    const net = await network(2);
    const config: SecAggConfig = { length: 4, bits: 32, fracBits: 0, bound: 10, threshold: 2, graph: 'complete' };
    const failures: string[] = [];
    const calls: [string, (a: unknown, b: unknown) => Promise<unknown>, () => unknown[]][] = [
      ['runSecAggClient', (a, b) => runSecAggClient(a as never, b as never), () => [net.parties[0], { identity: net.identities[0], config, input: new Float64Array(4), timeoutMs: 50 }]],
      ['runSecAggServer', (a, b) => runSecAggServer(a as never, b as never), () => [net.server, { config, deadlineMs: 50 }]],
    ];
    for (const [name, fn, valid] of calls)
      for (let i = 0; i < 2; i++)
        for (const [label, make] of CONFUSION_VALUES) {
          const args = valid();
          args[i] = make();
          try {
            await fn(args[0], args[1]);
            failures.push(`${name} arg ${i} = ${label}: returned`);
          } catch (e) {
            if (!(e instanceof ConfideError)) failures.push(`${name} arg ${i} = ${label}: threw ${String(e)}`);
          }
        }
    await net.close();
    expect(failures).toEqual([]);
  });
});
