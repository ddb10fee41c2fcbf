/**
 * `confide secagg simulate`: one secure aggregation round in this process
 * (server and clients on the in-memory net), to size a deployment: timings
 * per role and step, and whether the sum came out exact.
 */
import { parseArgs } from 'node:util';
import { ConfideError } from '../core/errors.ts';
import { PHASES, simulateSecAgg, type Phase, type SimulationReport } from '../secagg/index.ts';
import { numberFlag } from './_flags.ts';

export const SECAGG_USAGE = `confide secagg simulate --clients N --length L [--dropout F] [--graph complete|harary]
                        [--drop-before STEP] [--corrupt F] [--bits 32|64] [--seed S] [--json]
      One secure aggregation round (Bonawitz et al. 2017; SecAgg+ with
      --graph harary) run in this process over the in-memory transport: a
      fraction F (default 0.1) of the clients leave before STEP (default
      masked). Prints per-step computation time of the server and of a mean
      client, the wall time, and whether the sum was exact.`;

function integerFlag(v: string | undefined, flag: string): number | undefined {
  const n = numberFlag(v, flag);
  if (n !== undefined && !Number.isSafeInteger(n)) throw new ConfideError('E_BAD_INPUT', `"--${flag}" expected an integer, got ${JSON.stringify(v)}`, { field: flag });
  return n;
}

function table(r: SimulationReport): string {
  const ms = (x: number) => (x >= 1000 ? `${(x / 1000).toFixed(2)} s` : `${x.toFixed(1)} ms`);
  const lines = [
    `secagg simulate: ${r.clients} clients, ${r.length} coordinates, ${r.graph} graph (degree ${r.degree}), threshold ${r.threshold}`,
    `${r.dropped} clients left before ${r.dropBefore}; ${r.survivors} in the sum; exact: ${r.exact ? 'yes' : 'no'}${r.error ? ` (${r.error})` : ''}`,
    '',
    'step          server      mean client',
  ];
  for (const p of PHASES) lines.push(`${p.padEnd(13)} ${ms(r.timings.server[p]).padStart(10)}  ${ms(r.timings.client[p]).padStart(12)}`);
  lines.push(`${'total'.padEnd(13)} ${ms(r.timings.server.total).padStart(10)}  ${ms(r.timings.client.meanTotal).padStart(12)}  (slowest client ${ms(r.timings.client.maxTotal)})`);
  lines.push('', `wall time ${ms(r.timings.wall)} (every party shares this process, so wall time is everyone's work together)`);
  return lines.join('\n');
}

export async function secaggCommand(argv: string[]): Promise<number> {
  const [sub, ...rest] = argv;
  if (sub !== 'simulate') {
    process.stderr.write(`confide secagg: unknown sub-command ${JSON.stringify(sub ?? '')}\n\nusage:\n  ${SECAGG_USAGE}\n`);
    return 2;
  }
  const { values } = parseArgs({
    args: rest,
    strict: true,
    options: {
      clients: { type: 'string' },
      length: { type: 'string' },
      dropout: { type: 'string' },
      graph: { type: 'string' },
      'drop-before': { type: 'string' },
      corrupt: { type: 'string' },
      bits: { type: 'string' },
      seed: { type: 'string' },
      json: { type: 'boolean', default: false },
    },
  });
  const clients = integerFlag(values.clients, 'clients');
  const length = integerFlag(values.length, 'length');
  if (clients === undefined || length === undefined) throw new ConfideError('E_BAD_INPUT', '"--clients" and "--length" are required', { field: clients === undefined ? 'clients' : 'length' });
  const graph = values.graph ?? 'complete';
  if (graph !== 'complete' && graph !== 'harary') throw new ConfideError('E_BAD_INPUT', `"--graph" expected complete or harary, got ${JSON.stringify(graph)}`, { field: 'graph' });
  const corrupt = numberFlag(values.corrupt, 'corrupt');
  const bits = integerFlag(values.bits, 'bits');
  const seed = integerFlag(values.seed, 'seed');
  const report = await simulateSecAgg({
    clients,
    length,
    dropout: numberFlag(values.dropout, 'dropout') ?? 0.1,
    graph,
    ...(values['drop-before'] === undefined ? {} : { dropBefore: values['drop-before'] as Phase }),
    ...(corrupt === undefined ? {} : { corruptFraction: corrupt }),
    ...(bits === undefined ? {} : { bits: bits as 32 | 64 }),
    ...(seed === undefined ? {} : { seed }),
  });
  process.stdout.write(values.json ? `${JSON.stringify(report)}\n` : `${table(report)}\n`);
  return report.exact ? 0 : 1;
}
