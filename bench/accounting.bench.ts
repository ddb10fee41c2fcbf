/**
 * accounting: the privacy accountants on the DP-SGD workload
 * (σ 1.5, Poisson sampling q 0.04, δ 1e-5). There is no JavaScript peer to
 * time beside ours; the reference is Google's dp_accounting (Python, numpy
 * and scipy FFTs), which takes about 0.5 s for the PLD case at
 * discretization 1e-4 on these machines (issue 4). That figure comes from a
 * different run, so it is printed as a note and as an unavailable anchor,
 * never as a ratio.
 *
 * Run with `npm run bench -- accounting`.
 */
import type { PrivacyEvent } from '../src/dp/accounting/events.ts';
import { pldEpsilon } from '../src/dp/accounting/pld.ts';
import { runSuite, type CaseFactory } from './_harness.ts';

const dpsgd = (count: number): PrivacyEvent => ({
  type: 'self-composed',
  count,
  event: { type: 'poisson-sampled', q: 0.04, event: { type: 'gaussian', sigma: 1.5 } },
});

const DELTA = 1e-5;
const PLD_EXPECTED = 6.76705; // dp_accounting, discretization 1e-4
const RDP_EXPECTED = 7.32911117143; // Opacus tests/accountants_test.py (its own orders)

const pldCase: CaseFactory = () => {
  const event = dpsgd(2249);
  return {
    name: 'pld dp-sgd 2249 steps',
    // The harness reports 'lower' cases in ms or us only.
    unit: 'ms',
    better: 'lower',
    ours: pldEpsilon.bind(null, event, DELTA, undefined),
    anchors: {
      'dp_accounting (Python)': { unavailable: 'no JavaScript peer; dp_accounting takes about 500 ms for this case on these machines (issue 4)' },
    },
    check() {
      const e = pldEpsilon(event, DELTA);
      if (!(Math.abs(e - PLD_EXPECTED) <= 1e-3)) throw new Error(`epsilon ${e}, dp_accounting gives ${PLD_EXPECTED}`);
    },
    notes:
      'ours: pldEpsilon at delta 1e-5, discretization 1e-4 (connect-the-dots PMFs for both adjacencies, one FFT power each, ' +
      'epsilon checked within 1e-3 of dp_accounting\'s 6.76705); reference: dp_accounting PLDAccountant about 500 ms; target 250 ms',
  };
};

/** The RDP accountant is another engineer's file; time it when it is there. */
async function rdpCase(): Promise<CaseFactory | null> {
  let rdpEpsilon: ((event: PrivacyEvent, delta: number) => { epsilon: number }) | undefined;
  try {
    ({ rdpEpsilon } = (await import('../src/dp/accounting/rdp.ts')) as { rdpEpsilon?: typeof rdpEpsilon });
  } catch {
    return null;
  }
  if (typeof rdpEpsilon !== 'function') return null;
  const rdp = rdpEpsilon;
  return () => {
    const event = dpsgd(2250);
    return {
      name: 'rdp dp-sgd 2250 steps',
      unit: 'ms',
      better: 'lower',
      ours: rdp.bind(null, event, DELTA),
      anchors: {
        'Opacus / dp_accounting RDP (Python)': { unavailable: 'no JavaScript peer' },
      },
      check() {
        const e = rdp(event, DELTA).epsilon;
        if (!(Math.abs(e - RDP_EXPECTED) <= 1e-3)) throw new Error(`epsilon ${e}, Opacus gives ${RDP_EXPECTED}`);
      },
      notes: 'ours: rdpEpsilon at delta 1e-5 with dp_accounting\'s default orders (epsilon within 1e-3 of Opacus\'s 7.32911)',
    };
  };
}

const cases: CaseFactory[] = [pldCase];
const rdp = await rdpCase();
if (rdp) cases.push(rdp);
await runSuite('accounting', cases, {});
