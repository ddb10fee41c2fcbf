// A child process for the ledger tests. argv: <mode> <ledger path> [dataset] [marker path]
//   spend: spends { epsilon-delta ε = 0.125 } until refused; prints {"ok": n} on stdout.
//   hang:  starts one spend and stops inside its transaction (after the INSERT,
//          before COMMIT), having written the marker file, until killed.
import { writeFileSync } from 'node:fs';
import { isConfideError } from '../../../src/core/errors.ts';
import { _hooks, PrivacyLedger } from '../../../src/dp/budget/ledger.ts';

const [mode, path, dataset = 'shared', marker] = process.argv.slice(2);
const ledger = PrivacyLedger.open(path!, { create: false });
const event = { type: 'epsilon-delta', epsilon: 0.125 } as const;
if (mode === 'spend') {
  let ok = 0;
  for (;;) {
    try {
      ledger.spend({ dataset, event, principal: `pid ${process.pid}`, purpose: 'parallel test', query: `count #${ok}` });
      ok++;
    } catch (e) {
      if (isConfideError(e, 'E_BUDGET_EXCEEDED')) break;
      throw e;
    }
  }
  ledger.close();
  process.stdout.write(JSON.stringify({ ok }));
} else if (mode === 'hang') {
  _hooks.beforeCommit = () => {
    writeFileSync(marker!, 'inside');
    const wait = new Int32Array(new SharedArrayBuffer(4));
    for (;;) Atomics.wait(wait, 0, 0, 1000);
  };
  ledger.spend({ dataset, event, principal: 'doomed', purpose: 'SIGKILL test', query: 'never committed' });
} else {
  throw new Error(`unknown mode ${mode}`);
}
