/**
 * A client's or decryptor's link to the coordinator: joins (retrying for the
 * rejoin window), reads the coordinator's instructions on net round 0, and,
 * when the coordinator goes away (closed or restarted from a checkpoint),
 * joins its next session.
 */
import { isConfideError } from '../core/errors.ts';
import { join, type JoinOptions, type Party, type Received } from '../net/index.ts';

export class CoordinatorLink {
  #party: Party;
  readonly #options: JoinOptions;
  readonly #rejoinMs: number;

  private constructor(party: Party, options: JoinOptions, rejoinMs: number) {
    this.#party = party;
    this.#options = options;
    this.#rejoinMs = rejoinMs;
  }

  /**
   * Joins with the join options among `o` (transport, address, identity,
   * serverId, token, on), retrying every 200 ms for `rejoinMs` (not after
   * E_BAD_INPUT: retrying will not help).
   */
  static async open(o: JoinOptions, rejoinMs: number): Promise<CoordinatorLink> {
    const options: JoinOptions = {
      transport: o.transport,
      address: o.address,
      identity: o.identity,
      ...(o.serverId ? { serverId: o.serverId } : {}),
      ...(o.token ? { token: o.token } : {}),
      ...(o.on ? { on: o.on } : {}),
    };
    return new CoordinatorLink(await joinWithin(options, rejoinMs), options, rejoinMs);
  }

  /** The current session's party (replaced after a rejoin). */
  get party(): Party {
    return this.#party;
  }

  /**
   * The next instruction from the coordinator; E_TIMEOUT after `idleMs` of
   * silence on a live link. After a lost link it joins the coordinator's next
   * session and calls `onRejoin` (per-session state is the caller's to reset).
   */
  async next(idleMs: number, onRejoin?: () => void): Promise<Received> {
    for (;;) {
      try {
        return await this.#party.receive(0, { from: this.#party.serverId, timeoutMs: idleMs });
      } catch (e) {
        if (isConfideError(e, 'E_TIMEOUT') && this.#party.connected) throw e;
        await this.#party.close().catch(() => {});
        this.#party = await joinWithin(this.#options, this.#rejoinMs);
        onRejoin?.();
      }
    }
  }

  async close(): Promise<void> {
    await this.#party.close().catch(() => {});
  }
}

async function joinWithin(options: JoinOptions, rejoinMs: number): Promise<Party> {
  const until = Date.now() + rejoinMs;
  for (;;) {
    try {
      return await join(options);
    } catch (e) {
      if (Date.now() > until || isConfideError(e, 'E_BAD_INPUT')) throw e;
      await new Promise((r) => setTimeout(r, 200));
    }
  }
}
