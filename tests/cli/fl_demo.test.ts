/**
 * `confide run`'s federated part: four `confide fl join` processes train with
 * secure aggregation and distributed DP, spent in the report's ledger; a
 * second run on the same ledger stops before the budget would be exceeded.
 */
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { seededRng } from '../../src/core/index.ts';
import { PrivacyLedger } from '../../src/dp/index.ts';
import { runCorpusReport } from '../../src/cli/_corpus_report.ts';

const cli = join(import.meta.dirname, '../../src/cli/main.ts');

describe('confide run: federated spam filter', () => {
  it('trains across four processes, spends each round in the report ledger, and stops at the budget on a rerun', async () => {
    const out = mkdtempSync(join(tmpdir(), 'confide-run-fl-'));
    const first = await runCorpusReport({ out, rng: seededRng(5), federated: { cli, rounds: 2 } });
    const f = first.federated!;
    expect(f.stopped).toBeUndefined();
    expect(f.rounds.map((m) => [m.round, m.sampled, m.aggregated, m.updated])).toEqual([[1, 4, 4, true], [2, 4, 4, true]]);
    // ε grows with each round and stays within the budget.
    expect(f.rounds[0].privacy!.spent).toBeGreaterThan(0);
    expect(f.rounds[1].privacy!.spent).toBeGreaterThan(f.rounds[0].privacy!.spent);
    expect(f.spent).toBe(f.rounds[1].privacy!.spent);
    expect(f.accuracy).toBeGreaterThanOrEqual(0);
    expect(f.accuracy).toBeLessThanOrEqual(1);
    const html = readFileSync(first.reportPath, 'utf8');
    expect(html).toContain('Federated training: a spam filter with secure aggregation and DP');
    expect(html.match(/class="point"/g)).toHaveLength(2);

    let ledger = PrivacyLedger.open(first.ledgerPath, { create: false });
    const spends = () => ledger.history('spamassassin/fl-clients').filter((r) => r.kind === 'spend');
    try {
      // One zCDP spend per round (secure aggregation's distributed discrete Gaussian, for the actual survivors).
      expect(spends().map((r) => r.event?.type)).toEqual(['zcdp', 'zcdp']);
      expect(ledger.verify().ok).toBe(true);
    } finally {
      ledger.close();
    }

    // ε after 3 rounds fits the budget of 8, after 4 it does not: the rerun trains one round and stops.
    const second = await runCorpusReport({ out, rng: seededRng(6), federated: { cli, rounds: 2 } });
    expect(second.federated!.rounds).toHaveLength(1);
    expect(second.federated!.stopped).toMatch(/training stops before round 2/);
    expect(second.federated!.spent).toBeLessThanOrEqual(8);
    expect(readFileSync(second.reportPath, 'utf8')).toContain('Training stopped:');
    ledger = PrivacyLedger.open(first.ledgerPath, { create: false });
    try {
      expect(spends()).toHaveLength(3);
      expect(ledger.verify().ok).toBe(true);
    } finally {
      ledger.close();
    }
  }, 240_000);
});
