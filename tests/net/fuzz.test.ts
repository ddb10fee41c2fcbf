/**
 * Fuzzing an authenticated session on the in-memory backend (fast, seeded):
 * authenticated attackers send valid envelopes with one random mutation (a
 * flipped bit anywhere in the frame, a truncation, an extension, a replay, a
 * duplicated frame). Every mutation must get the attacker dropped with a
 * reason; the server never throws, and an honest party's round completes.
 */
import { describe, expect, it } from 'vitest';
import { seededRng } from '../../src/core/random.ts';
import { sealMacEnvelope } from '../../src/net/_envelope.ts';
import { FRAME_ENVELOPE, frameMessage } from '../../src/net/_frame.ts';
import { generateIdentity, join, memoryTransport, serve, type NetEvent } from '../../src/net/index.ts';
import { eventually, of, rawParty } from './_helpers.ts';

const rng = seededRng(77);

describe('fuzzing an authenticated session', () => {
  it('every single mutation of a valid envelope frame gets the sender dropped; honest rounds complete', async () => {
    const N = 100;
    const transport = memoryTransport();
    const attackers = Array.from({ length: N }, () => generateIdentity());
    const honest = generateIdentity();
    const events: NetEvent[] = [];
    const server = await serve({ transport, identity: generateIdentity(), allow: [honest.id, ...attackers.map((a) => a.id)], on: (e) => events.push(e) });
    const party = await join({ transport, address: server.address, identity: honest });
    const serverKey = new Uint8Array(Buffer.from(server.id, 'hex'));
    const kinds: string[] = [];
    // Flips of every bit of the frame's type byte and of its number, index and length fields first, then anywhere.
    const flips = [24, 25, 26, 27, 31, 32, 64, 96, 100, 0, 8, 16];
    for (let i = 0; i < N; i++) {
      const a = attackers[i];
      const raw = await rawParty(transport, server.address, a);
      const env = sealMacEnvelope(raw.keys, { round: 1, sessionId: raw.hello.sessionId, from: a.publicKey, to: serverKey, seq: 1 }, {
        header: { i },
        payloads: [rng.bytes(rng.uniformInt(300))],
      });
      const [frame] = frameMessage(FRAME_ENVELOPE, raw.nextNo(), env);
      const kind = ['flip', 'truncate', 'extend', 'replay', 'duplicate-frame'][i % 5];
      kinds.push(kind);
      if (kind === 'flip') {
        const f = frame.slice();
        const bit = flips.shift() ?? rng.uniformInt(f.length * 8);
        f[bit >> 3] ^= 1 << (bit & 7);
        await raw.sendFrame(f);
      } else if (kind === 'truncate') {
        await raw.sendFrame(frame.subarray(0, rng.uniformInt(frame.length)));
      } else if (kind === 'extend') {
        const f = new Uint8Array(frame.length + 1 + rng.uniformInt(16));
        f.set(frame);
        await raw.sendFrame(f);
      } else if (kind === 'replay') {
        // The same envelope again, correctly framed: only the sequence number gives it away.
        await raw.sendFrame(frame);
        await raw.sendFrame(frameMessage(FRAME_ENVELOPE, raw.nextNo(), env)[0]);
      } else {
        await raw.sendFrame(frame);
        await raw.sendFrame(frame);
      }
      await eventually(() => of(events, 'drop').some((e) => e.party === a.id));
      await eventually(() => raw.closed);
    }
    const reasons = of(events, 'drop').map((e) => e.reason);
    expect(reasons).toHaveLength(N);
    for (const r of reasons) expect(r.length).toBeGreaterThan(5);
    // The honest party is still in, and its round completes with only its message.
    expect(server.parties()).toEqual([party.id]);
    await party.send(party.serverId, 1, { header: { ok: true }, payloads: [] });
    const result = await server.collect(1, { deadlineMs: 5000 });
    expect([...result.messages.keys()]).toEqual([party.id]);
    expect(kinds.filter((k) => k === 'flip')).toHaveLength(N / 5);
    await party.close();
    await server.close();
  });
});
