/** `confide secagg simulate`, called as the CLI calls it (secaggCommand), output captured. */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { isConfideError } from '../../src/core/errors.ts';
import { secaggCommand } from '../../src/cli/_secagg.ts';

function capture() {
  let out = '';
  let err = '';
  vi.spyOn(process.stdout, 'write').mockImplementation((s) => ((out += String(s)), true));
  vi.spyOn(process.stderr, 'write').mockImplementation((s) => ((err += String(s)), true));
  return { out: () => out, err: () => err };
}

afterEach(() => vi.restoreAllMocks());

describe('confide secagg simulate', () => {
  it('runs the issue\'s command line and reports timings per role and step, and exactness', async () => {
    const io = capture();
    const code = await secaggCommand(['simulate', '--clients', '20', '--length', '1000', '--dropout', '0.1', '--graph', 'complete', '--json']);
    expect(code).toBe(0);
    const r = JSON.parse(io.out());
    expect(r).toMatchObject({ clients: 20, length: 1000, graph: 'complete', dropped: 2, survivors: 18, exact: true });
    for (const step of ['advertise', 'share', 'masked', 'consistency', 'unmask']) {
      expect(r.timings.server[step]).toBeGreaterThanOrEqual(0);
      expect(r.timings.client[step]).toBeGreaterThan(0);
    }
    expect(r.timings.server.total).toBeGreaterThan(0);
    expect(r.timings.wall).toBeGreaterThan(0);
  });

  it('runs SecAgg+ with a Harary graph and prints a table', async () => {
    const io = capture();
    const code = await secaggCommand(['simulate', '--clients', '60', '--length', '200', '--dropout', '0.05', '--graph', 'harary', '--seed', '3']);
    expect(code).toBe(0);
    expect(io.out()).toMatch(/harary graph \(degree \d+\)/);
    expect(io.out()).toContain('exact: yes');
    expect(io.out()).toMatch(/unmask\s+\d/);
  });

  it('reports a failed round (too many dropouts for the threshold) with exit code 1', async () => {
    const io = capture();
    const code = await secaggCommand(['simulate', '--clients', '10', '--length', '10', '--dropout', '0.6', '--drop-before', 'unmask', '--json']);
    const r = JSON.parse(io.out());
    // 6 of 10 leave before unmasking; the threshold was lowered to the 4 that stay, so the round still succeeds.
    expect(code).toBe(r.exact ? 0 : 1);
    expect(r.threshold).toBe(4);
  });

  it('refuses bad flags with E_BAD_INPUT and unknown sub-commands with exit code 2', async () => {
    const io = capture();
    for (const args of [['simulate', '--length', '10'], ['simulate', '--clients', 'x', '--length', '10'], ['simulate', '--clients', '10', '--length', '10', '--graph', 'ring'], ['simulate', '--clients', '10', '--length', '10', '--dropout', '2']]) {
      const e = await secaggCommand(args).catch((x: unknown) => x);
      expect(isConfideError(e, 'E_BAD_INPUT'), args.join(' ')).toBe(true);
    }
    expect(await secaggCommand(['nonsense'])).toBe(2);
    expect(io.err()).toContain('unknown sub-command');
  });
});
