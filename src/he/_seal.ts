/**
 * The one door to node-seal. The WASM module is imported on first use (the
 * other modules never pay for it), and every call into SEAL goes through
 * `sealCall`, which turns SEAL's `WebAssembly.Exception` (whose message is an
 * array such as `['std::invalid_argument', 'encryption parameters are not
 * valid for batching']`) into a `ConfideError` with a code.
 */
import type { MainModule } from 'node-seal';
import { ConfideError, type ConfideErrorCode } from '../core/errors.ts';

export type Seal = MainModule;

let loading: Promise<Seal> | undefined;

/** Loads node-seal once per process (or worker). */
export function loadSeal(): Promise<Seal> {
  loading ??= (async () => {
    if (typeof WebAssembly !== 'object')
      throw new ConfideError('E_UNSUPPORTED', 'the he module needs WebAssembly');
    try {
      const mod = await import('node-seal');
      return await mod.default();
    } catch (e) {
      loading = undefined;
      throw new ConfideError(
        'E_UNSUPPORTED',
        `node-seal could not be loaded (it needs Node 22 or later): ${sealMessage(e)}`,
        { cause: e },
      );
    }
  })();
  return loading;
}

/** The text of a SEAL exception, or of any other thrown value. */
export function sealMessage(e: unknown): string {
  const m = (e as { message?: unknown } | null)?.message;
  if (Array.isArray(m)) return m.map(String).join(': ');
  if (typeof m === 'string') return m;
  return String(e);
}

/**
 * Runs `fn`; a SEAL (or embind) failure becomes a ConfideError with `code`
 * and the operation's name. ConfideErrors pass through unchanged.
 */
export function sealCall<T>(what: string, code: ConfideErrorCode, fn: () => T, field?: string): T {
  try {
    return fn();
  } catch (e) {
    throw wrapSealError(e, what, code, field);
  }
}

export function wrapSealError(e: unknown, what: string, code: ConfideErrorCode, field?: string): ConfideError {
  if (e instanceof ConfideError) return e;
  const options = field === undefined ? { cause: e } : { cause: e, field };
  return new ConfideError(code, `SEAL refused to ${what}: ${sealMessage(e)}`, options);
}

/** Anything with node-seal's `delete()`. */
export interface Deletable {
  delete(): void;
  isDeleted(): boolean;
}

/** Deletes SEAL objects that are still alive (idempotent). */
export function free(...objects: (Deletable | undefined)[]): void {
  for (const o of objects) if (o !== undefined && !o.isDeleted()) o.delete();
}

/** A scope that deletes every SEAL object it was handed when it ends (`using`). */
export class SealScope implements Disposable {
  readonly #objects: Deletable[] = [];
  /** Registers `o` for deletion at the end of the scope and returns it. */
  own<T extends Deletable>(o: T): T {
    this.#objects.push(o);
    return o;
  }
  /** Keeps everything registered so far alive (ownership passes to the caller). */
  release(): void {
    this.#objects.length = 0;
  }
  [Symbol.dispose](): void {
    for (let i = this.#objects.length - 1; i >= 0; i--) free(this.#objects[i]);
    this.#objects.length = 0;
  }
}
