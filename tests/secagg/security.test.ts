/**
 * What the server sees and what hostile messages get: the state machines
 * driven directly, so every message can be read and tampered with.
 */
import { describe, expect, it } from 'vitest';
import type { Message } from '../../src/core/codec.ts';
import { isConfideError } from '../../src/core/errors.ts';
import { addMask } from '../../src/core/prg.ts';
import { SECRET_FIELD } from '../../src/core/field.ts';
import { shamirReconstruct, type SecAggConfig } from '../../src/secagg/index.ts';
import { hkdf, transcript } from '../../src/secagg/_crypto.ts';
import { generateIdentity } from '../../src/net/index.ts';
import { drive, expectedSum, inputs } from './_helpers.ts';

const config: SecAggConfig = { length: 10_000, bits: 32, fracBits: 0, bound: 1e6, threshold: 6, graph: 'complete' };

/**
 * Chi-square statistic of the top 4 bits of 32-bit words (16 equiprobable
 * bins). Under uniformity it is χ²(15); P[χ²(15) > 80] < 1e-10 (Wilson–Hilferty
 * puts the 1 - 1e-10 quantile near 69), so a uniform vector fails with
 * probability below 1e-10 and a structured one (inputs below 2^20) fails surely.
 */
function chiSquareTop4(v: Uint32Array): number {
  const bins = new Array(16).fill(0);
  for (const x of v) bins[x >>> 28]++;
  const e = v.length / 16;
  return bins.reduce((s, o) => s + ((o - e) * (o - e)) / e, 0);
}

describe("the server's view", () => {
  const xs = inputs(10, 10_000, 21, 1000);
  const run = drive(config, xs);

  it('the round itself is exact', () => {
    expect(run.error).toBeUndefined();
    expect(Array.from(run.output!.values)).toEqual(Array.from(expectedSum(xs, () => true)));
  });

  it('masked vectors pass a uniformity test while the inputs fail it', () => {
    for (const [, m] of run.seen.masked) expect(chiSquareTop4(m.payloads[0] as Uint32Array)).toBeLessThan(80);
    const raw = Uint32Array.from(xs[0], (x) => x >>> 0);
    expect(chiSquareTop4(raw)).toBeGreaterThan(80);
  });

  it("removing a survivor's self mask (reconstructed from the shares the server legitimately gets) still leaves a uniform vector", () => {
    // Client 0 survived, so the server learns b_0 from the unmasking shares; its pairwise masks remain.
    const shares = [...run.seen.unmask].flatMap(([i, m]) => {
      const owners = m.payloads[0] as Uint32Array;
      const j = owners.indexOf(0);
      return j < 0 ? [] : [{ x: i + 1, y: SECRET_FIELD.fromBytes((m.payloads[2] as Uint8Array).subarray(j * 33, (j + 1) * 33)) }];
    });
    const b0 = shamirReconstruct(shares, config.threshold);
    const y = (run.seen.masked.get(0)!.payloads[0] as Uint32Array).slice();
    const me = Buffer.from(run.identities.map((i) => i.id).sort()[run.clients[0].index], 'hex');
    addMask(y, hkdf(b0, run.server.sessionId, transcript('confide/secagg/v1/self-mask', 0, me)), -1);
    for (let k = 0; k < y.length; k++) y[k] -= xs[0][k];
    expect(y.some((v) => v !== 0)).toBe(true);
    expect(chiSquareTop4(y)).toBeLessThan(80);
  });

  it('no message carries the input or a share in the clear, and each client reveals one share per peer', () => {
    const needle = Buffer.from(new Uint32Array(xs[3].subarray(0, 8).map((x) => x >>> 0)).buffer);
    for (const step of ['advertise', 'share', 'masked', 'consistency', 'unmask'] as const)
      for (const [, m] of run.seen[step]) for (const p of m.payloads) expect(Buffer.from(p.buffer, p.byteOffset, p.byteLength).indexOf(needle)).toBe(-1);
    for (const [, m] of run.seen.unmask) {
      const owners = Array.from(m.payloads[0] as Uint32Array);
      expect(new Set(owners).size).toBe(owners.length);
    }
  });
});

describe('hostile messages', () => {
  const small: SecAggConfig = { length: 16, bits: 32, fracBits: 0, bound: 1000, threshold: 4, graph: 'complete' };
  const xs = inputs(6, 16, 5);

  const excludedFor = (tamper: (step: string, i: number, m: Message) => Message | undefined) => {
    const r = drive(small, xs, { tamper: (s, i, m) => tamper(s, i, m) });
    expect(r.error).toBeUndefined();
    return r;
  };

  it('a mis-signed key advertisement excludes its sender; the round completes without it', () => {
    const r = excludedFor((step, i, m) => {
      if (step !== 'advertise' || i !== 2) return m;
      const rec = (m.payloads[0] as Uint8Array).slice();
      rec[100] ^= 1;
      return { header: m.header, payloads: [rec] };
    });
    expect(r.server.excluded.map((e) => e.reason)).toEqual([expect.stringContaining('not signed')]);
    expect(Array.from(r.output!.values)).toEqual(Array.from(expectedSum(xs, (i) => i !== 2)));
  });

  it('malformed masked inputs (wrong type, wrong length, extra payload) exclude their senders', () => {
    const r = drive({ ...small, threshold: 3 }, xs, { tamper: (step, i, m) => {
      if (step !== 'masked') return m;
      if (i === 0) return { header: m.header, payloads: [new Float64Array(16)] };
      if (i === 1) return { header: m.header, payloads: [new Uint32Array(15)] };
      if (i === 2) return { header: m.header, payloads: [m.payloads[0], new Uint8Array(1)] };
      return m;
    } });
    expect(r.error).toBeUndefined();
    expect(r.server.excluded).toHaveLength(3);
    expect(Array.from(r.output!.values)).toEqual(Array.from(expectedSum(xs, (i) => i > 2)));
  });

  it('a key advertisement replayed from another round, or another session, is refused', () => {
    const ids = drive(small, xs).identities;
    const sessionId = new Uint8Array(16).fill(3);
    const old = drive(small, xs, { identities: ids, sessionId, round: 0 });
    for (const [label, opts] of [['round', { round: 1, sessionId }], ['session', { round: 0, sessionId: new Uint8Array(16).fill(4) }]] as const) {
      const r = drive(small, xs, {
        identities: ids,
        ...opts,
        tamper: (step, i, m) => (step === 'advertise' && i === 4 ? old.seen.advertise.get(i)! : m),
      });
      expect(r.server.excluded.map((e) => e.party), label).toEqual([ids[4].id]);
    }
  });

  it('wrong kinds of unmasking shares (both shares of a survivor) are refused', () => {
    const r = excludedFor((step, i, m) => {
      if (step !== 'unmask' || i !== 5) return m;
      const kinds = (m.payloads[1] as Uint8Array).slice();
      kinds[0] = 1; // a mask-key share for a client that survived
      return { header: m.header, payloads: [m.payloads[0], kinds, m.payloads[2]] };
    });
    expect(r.server.excluded.map((e) => e.reason)).toEqual([expect.stringContaining('wrong kind')]);
  });

  it('a client refuses a second unmasking request (it never reveals both shares of a peer)', () => {
    const r = drive(small, xs);
    expect(r.error).toBeUndefined();
    const e = (() => {
      try {
        r.clients[0].unmask({ header: { kind: 'signatures' }, payloads: [new Uint32Array(0), new Uint8Array(0)] });
      } catch (err) {
        return err;
      }
    })();
    expect(isConfideError(e, 'E_STATE')).toBe(true);
  });

  const ids = Array.from({ length: 6 }, () => generateIdentity());
  const me0 = ids.map((i) => i.id).sort().indexOf(ids[0].id);
  const refusals: [string, (step: string, i: number, m: Message) => Message, string][] = [
    ['a survivor set without itself', (s, i, m) => (s === 'consistency' && i === 0 ? { header: m.header, payloads: [(m.payloads[0] as Uint32Array).filter((v) => v !== me0)] } : m), 'missing'],
    ['a neighbour key signed by someone else', (s, i, m) => {
      if (s !== 'share' || i !== 0) return m;
      const recs = (m.payloads[1] as Uint8Array).slice();
      recs[0] ^= 1;
      return { header: m.header, payloads: [m.payloads[0], recs] };
    }, 'not signed'],
    ['a forged signature on the survivor set', (s, i, m) => {
      if (s !== 'unmask' || i !== 0) return m;
      const sigs = (m.payloads[1] as Uint8Array).slice();
      sigs[5] ^= 1;
      return { header: m.header, payloads: [m.payloads[0], sigs] };
    }, 'did not sign'],
    ['an announcement with another config', (s, i, m) => (s === 'advertise' && i === 0 ? { header: { ...m.header, config: new Uint8Array(32) }, payloads: m.payloads } : m), 'config differs'],
    ['an abort', (s, i, m) => (s === 'masked' && i === 0 ? { header: { kind: 'abort', reason: 'test' }, payloads: [] } : m), 'aborted'],
  ];
  for (const [label, tamperIn, reason] of refusals)
    it(`a client refuses ${label} with E_PROTOCOL and answers nothing more`, () => {
      const r = drive(small, xs, { tamperIn, identities: ids });
      const e = r.clientErrors.get(0);
      expect(isConfideError(e, 'E_PROTOCOL')).toBe(true);
      expect((e as Error).message).toContain(reason);
      expect(r.clients[0].step).toBe('failed');
    });
});
