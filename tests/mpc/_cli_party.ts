/**
 * One `confide mpc` party in a child process (tests/mpc/fixtures/cli.ts),
 * its JSON output lines collected; `listen` resolves with party 0's relay
 * address.
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { createInterface } from 'node:readline';

export const MPC_CLI = join(import.meta.dirname, 'fixtures/cli.ts');

export function startParty(args: string[]) {
  const child = spawn(process.execPath, [MPC_CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  const lines: Record<string, unknown>[] = [];
  let stderr = '';
  child.stderr.on('data', (d) => (stderr += d));
  const rl = createInterface({ input: child.stdout });
  const listen = new Promise<string>((resolve) => {
    rl.on('line', (l) => {
      const o = JSON.parse(l) as Record<string, unknown>;
      lines.push(o);
      if (o.type === 'listen') resolve(String(o.address));
    });
  });
  const exit = new Promise<number>((resolve) => child.on('exit', (code) => resolve(code ?? -1)));
  return { lines, listen, exit, stderr: () => stderr, kill: () => child.kill('SIGKILL') };
}
