/**
 * `confide audit <mechanism>`: an empirical lower bound on a mechanism's ε
 * from samples on two neighbouring inputs (0 and the sensitivity), to check
 * a claim from the command line. It can refute a claim, never prove one.
 */
import { parseArgs } from 'node:util';
import { ConfideError } from '../core/errors.ts';
import { numberFlag } from './_flags.ts';
import { systemRng, type Rng } from '../core/random.ts';
import {
  auditMechanism,
  discreteGaussianMechanism,
  discreteLaplaceMechanism,
  gaussianMechanism,
  laplaceMechanism,
  randomizedResponse,
} from '../dp/index.ts';

export const AUDIT_USAGE = `confide audit <laplace|gaussian|discrete-laplace|discrete-gaussian|randomized-response>
        --epsilon E [--delta D] [--claim C] [--samples N] [--confidence L] [--json]
      Runs the mechanism with --epsilon (and --delta) on neighbouring inputs 0
      and 1, and prints a lower bound on its real epsilon; fails (exit 1) when
      the bound exceeds the claimed epsilon (default: --epsilon).`;

type Mechanism = (input: number, rng: Rng) => number | boolean;

function mechanismFor(name: string, epsilon: number, delta: number | undefined): Mechanism {
  const needDelta = () => {
    if (delta === undefined) throw new ConfideError('E_BAD_INPUT', `"--delta" is required for ${name}`, { field: 'delta' });
    return delta;
  };
  switch (name) {
    case 'laplace':
      return (x, rng) => laplaceMechanism(x, { epsilon, sensitivity: 1, rng }).value;
    case 'discrete-laplace':
      return (x, rng) => discreteLaplaceMechanism(x, { epsilon, sensitivity: 1, rng }).value;
    case 'gaussian': {
      const d = needDelta();
      return (x, rng) => gaussianMechanism(x, { epsilon, delta: d, sensitivity: 1, rng }).value;
    }
    case 'discrete-gaussian': {
      const d = needDelta();
      return (x, rng) => discreteGaussianMechanism(x, { epsilon, delta: d, sensitivity: 1, rng }).value;
    }
    case 'randomized-response':
      return (x, rng) => randomizedResponse(x === 1, { epsilon, rng }).value;
    default:
      throw new ConfideError('E_BAD_INPUT', `unknown mechanism ${JSON.stringify(name)}`, { field: 'mechanism' });
  }
}


export function auditCommand(argv: string[]): number {
  const [name, ...rest] = argv;
  const { values: v } = parseArgs({
    args: rest,
    options: {
      epsilon: { type: 'string' },
      delta: { type: 'string' },
      claim: { type: 'string' },
      samples: { type: 'string', default: '20000' },
      confidence: { type: 'string', default: '0.95' },
      json: { type: 'boolean', default: false },
    },
    strict: true,
  });
  if (name === undefined || name.startsWith('-')) throw new ConfideError('E_BAD_INPUT', `a mechanism is required\n${AUDIT_USAGE}`, { field: 'mechanism' });
  const epsilon = numberFlag(v.epsilon, 'epsilon');
  if (epsilon === undefined) throw new ConfideError('E_BAD_INPUT', '"--epsilon" is required', { field: 'epsilon' });
  const delta = numberFlag(v.delta, 'delta');
  const mechanism = mechanismFor(name, epsilon, delta);
  const result = auditMechanism(mechanism, [0, 1], {
    claimedEpsilon: numberFlag(v.claim, 'claim') ?? epsilon,
    delta: delta ?? 0,
    samples: numberFlag(v.samples, 'samples')!,
    confidence: numberFlag(v.confidence, 'confidence')!,
    rng: systemRng(),
  });
  if (v.json) process.stdout.write(`${JSON.stringify(result)}\n`);
  else
    process.stdout.write(
      `${name}: epsilon >= ${result.epsilonLowerBound.toFixed(4)} with confidence ${result.confidence} ` +
        `(estimate ${result.epsilonEstimate.toFixed(4)}; claim ${result.claimedEpsilon}): ${result.passed ? 'consistent with the claim' : 'CLAIM REFUTED'}\n` +
        `  test: ${result.test.description}\n`,
    );
  return result.passed ? 0 : 1;
}
