import { equalBytes, type Hash, toHex } from '../chain/hash.ts';
import type { BlockStore } from '../chain/store.ts';
import type { Block } from '../chain/types.ts';
import { BlyanError } from '../errors.ts';
import { type DatasetMeta, decodeDatasetPayload, metaOf } from './datasetBlock.ts';

/** Reading datasets back from chain D. */

export interface DatasetEntry {
  readonly id: Hash;
  readonly idHex: string;
  /** Height on chain D. */
  readonly index: number;
  readonly block: Block;
  readonly meta: DatasetMeta;
}

/** One dataset block's metadata and content. Throws DATASET_NOT_FOUND or DATASET_MALFORMED. */
export function readDataset(store: BlockStore, id: Hash): { meta: DatasetMeta; content: Uint8Array } {
  const block = store.getBlock(id);
  if (block === undefined || block.header.chain !== 'D' || block.header.type !== 'dataset') {
    throw new BlyanError('DATASET_NOT_FOUND', `no dataset block ${toHex(id)} on chain D`, { id: toHex(id) });
  }
  const payload = store.getPayload(block.header.payloadHash);
  if (payload === undefined) {
    throw new BlyanError('DATASET_NOT_FOUND', `dataset block ${toHex(id)} is known but its payload is not stored here`, { id: toHex(id) });
  }
  const decoded = decodeDatasetPayload(payload);
  const { content } = decoded;
  return { meta: metaOf(decoded), content };
}

/**
 * Every usable dataset on chain D, oldest first. Each payload is read and fully checked (the content is
 * hashed, then dropped). Block rules do not look inside payloads, so a peer can publish a dataset block
 * whose payload is malformed: such blocks are skipped here (readDataset reports them) and passed to
 * `onMalformed` when given.
 */
export function listDatasets(store: BlockStore, onMalformed?: (id: Hash, err: BlyanError) => void): DatasetEntry[] {
  const out: DatasetEntry[] = [];
  for (const { block } of store.iterate('D')) {
    if (block.header.type !== 'dataset') continue;
    let meta: DatasetMeta;
    try {
      meta = readDataset(store, block.id).meta;
    } catch (err) {
      if (!(err instanceof BlyanError) || (err.code !== 'DATASET_MALFORMED' && err.code !== 'DATASET_NOT_FOUND')) throw err;
      onMalformed?.(block.id, err);
      continue;
    }
    out.push({ id: block.id, idHex: toHex(block.id), index: block.header.index, block, meta });
  }
  return out;
}

/** Rule U1's look-up: is a dataset with this content hash already on chain D? */
export function hasDatasetContent(entries: readonly DatasetEntry[], contentSha256: Hash): boolean {
  return entries.some((e) => equalBytes(e.meta.sha256, contentSha256));
}

/**
 * `ID` as people type it: a block hash (64 hex digits, optional 0x), a unique hash prefix of at least
 * 8 digits, `D:N` (height on chain D), or a dataset name (the newest of that name).
 */
export function resolveDataset(store: BlockStore, ref: string): DatasetEntry {
  const entries = listDatasets(store);
  const height = /^[Dd]:(\d+)$/.exec(ref);
  if (height !== null) {
    const index = Number(height[1]);
    const hit = entries.find((e) => e.index === index);
    if (hit === undefined) throw new BlyanError('DATASET_NOT_FOUND', `there is no dataset at D:${index}`);
    return hit;
  }
  const clean = ref.toLowerCase().replace(/^0x/, '');
  if (/^[0-9a-f]{8,64}$/.test(clean)) {
    const byHash = entries.filter((e) => e.idHex.startsWith(clean));
    if (byHash.length === 1) return byHash[0] as DatasetEntry;
    if (byHash.length > 1) throw new BlyanError('BAD_ARGUMENT', `"${ref}" matches ${byHash.length} datasets; give more digits`);
  }
  const byName = entries.filter((e) => e.meta.name === ref);
  const newest = byName.at(-1);
  if (newest === undefined) throw new BlyanError('DATASET_NOT_FOUND', `no dataset named or hashed "${ref}" (see \`blyan dataset list\`)`);
  return newest;
}
