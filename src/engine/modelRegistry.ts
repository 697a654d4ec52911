import { type Hash, toHex } from '../chain/hash.ts';
import type { BlockStore } from '../chain/store.ts';
import type { Block } from '../chain/types.ts';
import { BlyanError } from '../errors.ts';
import { decodeModelMeta, type ModelMeta } from './modelMeta.ts';

export interface ModelEntry {
  readonly id: Hash;
  readonly idHex: string;
  readonly block: Block;
  readonly meta: ModelMeta;
}

const cache = new WeakMap<BlockStore, { seq: number; models: ModelEntry[] }>();

/** Every model on chain A, oldest first. Cached until chain A grows (checked on disk, so imports by other processes show). */
export function listModels(store: BlockStore): ModelEntry[] {
  const seq = store.lastSeqOnDisk('A');
  const hit = cache.get(store);
  if (hit !== undefined && hit.seq === seq) return [...hit.models];
  const models = scanModels(store);
  cache.set(store, { seq, models });
  return [...models];
}

function scanModels(store: BlockStore): ModelEntry[] {
  const out: ModelEntry[] = [];
  for (const { block } of store.iterate('A')) {
    if (block.header.type !== 'model') continue;
    const payload = store.getPayload(block.header.payloadHash);
    if (payload === undefined) continue;
    out.push({ id: block.id, idHex: toHex(block.id), block, meta: decodeModelMeta(payload) });
  }
  return out;
}

/** `--model NAME|HASH` (a unique hash prefix of ≥ 8 digits works too); optional when one model exists. */
export function resolveModel(store: BlockStore, ref?: string): ModelEntry {
  const models = listModels(store);
  if (models.length === 0) throw new BlyanError('MODEL_NOT_FOUND', 'no model on this chain yet: import one with `blyan import DIR`');
  if (ref === undefined || ref === '') {
    if (models.length === 1) return models[0] as ModelEntry;
    throw new BlyanError('MODEL_AMBIGUOUS', `${models.length} models on this chain: pass --model NAME or HASH (see \`blyan model list\`)`);
  }
  const clean = ref.toLowerCase().replace(/^0x/, '');
  const byHash = /^[0-9a-f]{8,64}$/.test(clean) ? models.filter((m) => m.idHex.startsWith(clean)) : [];
  const matches = byHash.length > 0 ? byHash : models.filter((m) => m.meta.name === ref);
  if (matches.length === 0) throw new BlyanError('MODEL_NOT_FOUND', `no model named or hashed "${ref}" (see \`blyan model list\`)`);
  if (matches.length > 1) {
    // Several imports under one name: the newest is the one people mean.
    if (byHash.length === 0) return matches[matches.length - 1] as ModelEntry;
    throw new BlyanError('MODEL_AMBIGUOUS', `"${ref}" matches ${matches.length} models; give more hash digits`);
  }
  return matches[0] as ModelEntry;
}
