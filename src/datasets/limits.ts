import type { PresetName } from '../chain/presets.ts';

/**
 * Dataset limits per preset (docs/datasets.md §5). They are node policy for the L0 pre-filter and
 * the payload decoder, not block rules: a dataset block must also fit the preset's maxPayloadBytes
 * (rule S5), which these sizes leave ample room for.
 */
export interface DatasetLimits {
  /** Smallest content accepted by L0, in bytes. */
  readonly minBytes: number;
  /** Largest content accepted by L0 (before and after redaction), in bytes. */
  readonly maxBytes: number;
  /** Size of the hashed chunks a dataset is cut into; the unit of sharding. */
  readonly chunkSize: number;
}

/** Chunks are at least this large and at most this large, whatever the preset (decoder bounds). */
export const MIN_CHUNK_SIZE = 1024;
export const MAX_CHUNK_SIZE = 16 * 1024 * 1024;
/** Upper bound on the chunk count a payload may list (decoder bound). */
export const MAX_CHUNKS = 1 << 20;
/** Name: 1 … 200 characters; license: an SPDX expression of at most 200 characters. */
export const MAX_DATASET_NAME = 200;
export const MAX_LICENSE_LENGTH = 200;

export const DATASET_LIMITS: Readonly<Record<PresetName, DatasetLimits>> = {
  tiny: { minBytes: 256, maxBytes: 16 * 1024 * 1024, chunkSize: 64 * 1024 },
  devnet: { minBytes: 256, maxBytes: 256 * 1024 * 1024, chunkSize: 64 * 1024 },
};

export function datasetLimits(preset: PresetName): DatasetLimits {
  return DATASET_LIMITS[preset];
}
