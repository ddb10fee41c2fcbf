/**
 * DP statistics over corpora: read rows in a stream, bound each privacy
 * unit's contribution, aggregate per group, select groups privately, add
 * noise once, and spend from the ledger first. `collectStats` makes the exact
 * bounded state of one run (or one shard), `mergePartials` adds shards,
 * `releaseStats` releases. See src/dp/README.md.
 */
export { AGGREGATIONS, bucketLabels, normalizeQuery, type Aggregation, type NormalizedQuery, type StatsQuery } from './query.ts';
export { ContributionBounder, unitShard, type BoundingCounts, type Contribution } from './bounding.ts';
export {
  mergePartials,
  partialFromJson,
  partialToJson,
  type GroupState,
  type InputSummary,
  type StatsPartial,
} from './partial.ts';
export { collectStats, type CollectOptions } from './collect.ts';
export {
  releaseStats,
  statsEvent,
  type GroupRelease,
  type Interval,
  type MeasurementInfo,
  type StatsNoise,
  type StatsRelease,
  type StatsReleaseOptions,
} from './release.ts';
export {
  PARTITION_SELECTION_STRATEGIES,
  partitionSelector,
  type PartitionSelectionStrategy,
  type PartitionSelector,
  type PartitionSelectorOptions,
} from './partition_selection.ts';
export {
  DEFAULT_BRANCHING_FACTOR,
  DEFAULT_TREE_HEIGHT,
  QUANTILE_TREE_ALPHA,
  QuantileTree,
  releaseQuantiles,
  type QuantileTreeJson,
  type QuantileTreeOptions,
  type QuantilesRelease,
  type ReleaseQuantilesOptions,
} from './quantiles.ts';
