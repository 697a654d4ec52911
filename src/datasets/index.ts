/** The dataset chain (D): the public API other modules use. */
export {
  buildDatasetBlock,
  buildDatasetPayload,
  createDatasetBlock,
  type CreatedDataset,
  DATASET_FORMAT,
  DATASET_TIERS,
  type DatasetDraft,
  type DatasetMeta,
  type DatasetPayload,
  type DatasetTier,
  decodeDatasetPayload,
  encodeDatasetPayload,
} from './datasetBlock.ts';
export { DATASET_LIMITS, type DatasetLimits, datasetLimits } from './limits.ts';
export { type PrefilterOptions, type PrefilterResult, prefilter } from './prefilter.ts';
export { type DatasetRejection, rejectionError } from './rejection.ts';
export { L0_RULES, type L0Report, type PiiMode } from './report.ts';
export { type DatasetEntry, listDatasets, readDataset, resolveDataset } from './registry.ts';
export { type Shard, type ShardedDataset, shardBytes, shardFor, shardSeed } from './sharding.ts';
