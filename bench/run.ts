/**
 * `npm run bench [-- suite...]`: runs every bench/*.bench.ts (or the named
 * ones), one after another, each in its own Node process so that one suite's
 * JIT and GC state does not disturb the next. Each suite prints its table and
 * writes bench/results/<suite>.json.
 *
 * Peers (@noble/ciphers, ...) live in bench/thirdparty with their own
 * package.json and lockfile; they are installed here on first use with the npm
 * that runs this script.
 */
import { spawnSync, type SpawnSyncOptions } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const benchDir = fileURLToPath(new URL('.', import.meta.url));
const thirdparty = fileURLToPath(new URL('./thirdparty/', import.meta.url));
const SUFFIX = '.bench.ts';

function installPeers(): void {
  if (existsSync(new URL('./thirdparty/node_modules/', import.meta.url))) return;
  const args = ['ci', '--prefix', thirdparty, '--no-audit', '--no-fund'];
  // Use the npm that runs this script: npm_execpath is its CLI script (a .js
  // file run by node) or, for some clients, an executable.
  const npm = process.env.npm_execpath;
  const opts: SpawnSyncOptions = { stdio: 'inherit' };
  console.error(`installing benchmark peers: npm ${args.join(' ')}`);
  const r = npm
    ? /\.[cm]?js$/.test(npm)
      ? spawnSync(process.execPath, [npm, ...args], opts)
      : spawnSync(npm, args, opts)
    : spawnSync(process.platform === 'win32' ? 'npm.cmd' : 'npm', args, { ...opts, shell: process.platform === 'win32' });
  if (r.status !== 0) {
    console.error(`installing benchmark peers failed (${r.error ? r.error.message : `exit ${r.status}`})`);
    process.exit(1);
  }
}

const available = readdirSync(benchDir)
  .filter((f) => f.endsWith(SUFFIX))
  .map((f) => f.slice(0, -SUFFIX.length))
  .sort();
const wanted = process.argv.slice(2);
const unknown = wanted.filter((s) => !available.includes(s));
if (unknown.length > 0) {
  console.error(`unknown suite ${unknown.join(', ')}; the suites are: ${available.join(', ')}`);
  process.exit(2);
}
const suites = wanted.length > 0 ? wanted : available;

installPeers();

const failed: string[] = [];
for (const suite of suites) {
  const file = fileURLToPath(new URL(`./${suite}${SUFFIX}`, import.meta.url));
  const r = spawnSync(process.execPath, ['--expose-gc', file], { stdio: 'inherit' });
  if (r.status !== 0) {
    failed.push(suite);
    console.error(`suite ${suite} failed (${r.error ? r.error.message : r.signal ?? `exit ${r.status}`})`);
  }
  console.log('');
}
if (failed.length > 0) {
  console.error(`failed suites: ${failed.join(', ')}`);
  process.exitCode = 1;
}
