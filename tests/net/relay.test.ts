/**
 * The relaying server cannot forge or replay: a man in the middle on a
 * party's link (standing in for a malicious server, which controls exactly
 * those bytes) re-frames envelopes correctly but replays them, changes their
 * body or their round, or redirects them; the party refuses each with a
 * `reject` event and accepts only the genuine messages.
 */
import { describe, expect, it } from 'vitest';
import { FRAME_ENVELOPE, Reassembler, frameMessage } from '../../src/net/_frame.ts';
import { memoryTransport, type Link, type LinkHandlers, type Transport } from '../../src/net/index.ts';
import { eventually, of, session } from './_helpers.ts';

type Tamper = (envelope: Uint8Array) => Uint8Array[];

/**
 * Wraps the links it dials: each whole message from the server passes through
 * `tamper` (for envelopes), and what it returns is re-framed with fresh,
 * consistent message numbers, as a malicious server would send it.
 */
function mitm(inner: Transport, tamper: { fn: Tamper | undefined }): Transport {
  return {
    listen: (accept) => inner.listen(accept),
    async dial(address) {
      const link = await inner.dial(address);
      const r = new Reassembler({ chunkBytes: 4 << 20, maxMessageBytes: 1 << 30 });
      let next = 0;
      const wrapped: Link = {
        remote: link.remote,
        send: (f) => link.send(f),
        pause: () => link.pause(),
        resume: () => link.resume(),
        close: (reason) => link.close(reason),
        setHandlers(h: LinkHandlers) {
          link.setHandlers({
            close: (reason, violation) => h.close(reason, violation),
            frame(f) {
              const m = r.push(f);
              if (m === undefined) return;
              const out = m.type === FRAME_ENVELOPE && tamper.fn ? tamper.fn(m.bytes) : [m.bytes];
              for (const bytes of out) for (const frame of frameMessage(m.type, next++, bytes)) h.frame(frame);
            },
          });
        },
      };
      return wrapped;
    },
  };
}

describe('relayed messages through a hostile relay', () => {
  it('a party refuses replayed, altered and redirected envelopes and keeps the genuine ones', async () => {
    const tamper: { fn: Tamper | undefined } = { fn: undefined };
    const s = await session(3, { transport: mitm(memoryTransport(), tamper) });
    const [a, b, c] = s.parties;
    const evB = s.partyEvents[1];
    const send = (round: number, tag: string) => a.send(b.id, round, { header: { tag }, payloads: [new Int32Array([round])] });

    // Replay: the same envelope delivered twice.
    tamper.fn = (e) => [e, e];
    await send(1, 'replayed');
    expect((await b.receive(1, { timeoutMs: 5000 })).header.tag).toBe('replayed');
    await eventually(() => of(evB, 'reject').length === 1);
    expect(of(evB, 'reject')[0]).toMatchObject({ party: a.id, reason: expect.stringMatching(/replayed/) });

    // A changed payload byte, then a changed round: signatures fail.
    tamper.fn = (e) => {
      const x = e.slice();
      x[x.length - 1] ^= 1;
      return [x];
    };
    await send(2, 'altered');
    tamper.fn = (e) => {
      const x = e.slice();
      x[68] ^= 1; // round 3 -> 2
      return [x];
    };
    await send(3, 'moved');
    await eventually(() => of(evB, 'reject').length === 3);
    expect(of(evB, 'reject').slice(1).map((e) => e.reason)).toEqual(['bad envelope signature', 'bad envelope signature']);

    // An envelope for c, captured on c's link and also handed to b: refused as not addressed to b.
    let captured: Uint8Array | undefined;
    tamper.fn = (e) => {
      if (Buffer.from(e.subarray(120, 152)).toString('hex') === c.id) {
        captured = e;
        return [e];
      }
      return captured ? [captured, e] : [e];
    };
    await a.send(c.id, 4, { header: { tag: 'for c' }, payloads: [] });
    expect((await c.receive(4, { timeoutMs: 5000 })).header.tag).toBe('for c');
    await send(4, 'for b');
    expect((await b.receive(4, { timeoutMs: 5000 })).header.tag).toBe('for b');
    await eventually(() => of(evB, 'reject').length === 4);
    expect(of(evB, 'reject')[3].reason).toBe('envelope for another recipient');
    tamper.fn = undefined;

    // Nothing forged got through: b saw exactly one message in rounds 1-3.
    for (const round of [2, 3]) await expect(b.receive(round, { timeoutMs: 50 })).rejects.toThrow(/no message/);
    await expect(b.receive(1, { timeoutMs: 50 })).rejects.toThrow(/no message/);

    // Genuine traffic still flows after the refusals.
    await send(5, 'genuine');
    expect((await b.receive(5, { timeoutMs: 5000 })).header.tag).toBe('genuine');
    await s.close();
  });
});
