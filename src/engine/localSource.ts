import { toHex } from '../chain/hash.ts';
import type { BlockStore } from '../chain/store.ts';
import type { Block } from '../chain/types.ts';
import { BlyanError } from '../errors.ts';
import { decodeTensorBlock } from '../tensor/tensorBlock.ts';
import type { ComponentWeights, ExpertSource } from './expertSource.ts';
import type { ModelEntry } from './modelRegistry.ts';

/** Weights of a component version stored as a delta: its base ⊕ the deltas since (docs/proof-of-learning.md). */
export type DeltaResolver = (name: string, block: Block) => ComponentWeights;

/**
 * Components straight from the local block store: the parameter index names the current version of
 * each component; its payload is a TensorBlock whose tensors are views on LMDB's memory map (for
 * payloads ≥ 16 MiB), so loading an expert copies nothing.
 */
export class LocalExpertSource implements ExpertSource {
  constructor(
    private readonly store: BlockStore,
    private readonly model: ModelEntry,
    /** Materialises versions stored as deltas (src/learning/lineage.ts); without it a delta version is an error. */
    private readonly resolveDelta?: DeltaResolver,
  ) {}

  /** Prefetches the payloads of every component of the model (see BlockStore.prefetchPayloads). */
  async warm(): Promise<void> {
    const hashes = [];
    for (const c of this.model.meta.layout) {
      const id = this.store.currentVersion(this.model.id, c.name);
      const block = id === undefined ? undefined : this.store.getBlock(id);
      if (block !== undefined) hashes.push(block.header.payloadHash);
    }
    await this.store.prefetchPayloads(hashes);
  }

  async load(name: string): Promise<ComponentWeights> {
    const id = this.store.currentVersion(this.model.id, name);
    if (id === undefined) {
      throw new BlyanError('MODEL_MISSING_TENSOR', `model ${this.model.meta.name} has no component ${name} on chain B`, { component: name });
    }
    const block = this.store.getBlock(id);
    if (block === undefined) throw new BlyanError('STORE_CORRUPT', `parameter index names a missing block for ${name}`);
    if (block.header.type === 'delta') {
      if (this.resolveDelta !== undefined) return this.resolveDelta(name, block);
      throw new BlyanError('MODEL_MISSING_TENSOR', `${name}'s current version is a delta; applying deltas needs the learning module`);
    }
    const payload = this.store.getPayload(block.header.payloadHash);
    if (payload === undefined) throw new BlyanError('BLOCK_PAYLOAD_MISSING', `payload of ${name} (${toHex(id)}) is not stored here`);
    const tb = decodeTensorBlock(payload);
    return { name, block: toHex(id), bytes: payload.byteLength, tensor: (key) => tb.get(key) };
  }
}
