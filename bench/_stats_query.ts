/** The query the stats suite times: the command line (count and sum of tokens per domain, per user). */
import type { StatsQuery } from '../src/dp/index.ts';

export const STATS_QUERY: StatsQuery = {
  unit: 'user',
  groupBy: 'domain',
  aggregations: ['count', 'sum'],
  value: 'tokens',
  bounds: [0, 10_000],
  maxGroupsPerUnit: 4,
  maxRowsPerGroup: 1,
};
