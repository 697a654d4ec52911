import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { importArchive } from '../chain/archive/index.ts';
import type { BlockStore } from '../chain/store.ts';
import { listModels } from '../engine/modelRegistry.ts';

/**
 * The devnet ships with a model (assets/devnet-model.car, made by scripts/make-devnet-model.ts): the
 * tinyshakespeare dataset on chain D and a small char-level MoE on chains A and B whose meta block names its
 * validation set, so a fresh node can chat and mine at once. The archive is verified block by block like
 * any other import; on other networks, or when the chain already has a model, nothing happens.
 */
export const DEVNET_MODEL_ARCHIVE = resolve(import.meta.dirname, '../../assets/devnet-model.car');

export async function installShippedModel(store: BlockStore, onProgress?: (done: number, total: number) => void): Promise<{ installed: boolean; blocks: number }> {
  if (store.preset.name !== 'devnet' || listModels(store).length > 0 || !existsSync(DEVNET_MODEL_ARCHIVE)) return { installed: false, blocks: 0 };
  const r = await importArchive(store, DEVNET_MODEL_ARCHIVE, onProgress === undefined ? {} : { onProgress });
  return { installed: r.added > 0, blocks: r.added };
}
