/**
 * Materialising component versions (docs/proof-of-learning.md, "Lineage"): a `delta` version's weights are
 * the last full version (`expert`, `base`, `router` or `snapshot` block) before it with every delta since
 * applied in order (applyDelta: one f32 addition per element, so every node gets the same bits). Results are
 * cached by version id, so materialising delta n+1 reuses delta n.
 */
import { baseVersionOf } from '../chain/dag.ts';
import { type Hash, toHex } from '../chain/hash.ts';
import type { BlockStore } from '../chain/store.ts';
import type { Block } from '../chain/types.ts';
import type { ComponentWeights } from '../engine/expertSource.ts';
import { LocalExpertSource } from '../engine/localSource.ts';
import type { ModelEntry } from '../engine/modelRegistry.ts';
import { BlyanError } from '../errors.ts';
import { toFloat32 } from '../tensor/tensor.ts';
import { decodeTensorBlock, encodeTensorBlock, type TensorBlock } from '../tensor/tensorBlock.ts';
import { applyDelta, decodeDelta, type F32Matrix } from './delta.ts';
import { decodeDeltaPayload } from './podl.ts';

/** A component's tensors as f32 matrices, in the TensorBlock's order (rank-1 tensors become 1 × n). */
export function componentMatrices(tb: TensorBlock): F32Matrix[] {
  return tb.tensors.map((t) => {
    const cols = t.shape[t.shape.length - 1] ?? 1;
    const values = toFloat32(t);
    return { name: t.name, rows: cols === 0 ? 0 : values.length / cols, cols, values };
  });
}

/** Full weights as a TensorBlock payload of f32 tensors (what a snapshot block carries). */
export function encodeComponent(mats: readonly F32Matrix[]): Uint8Array {
  return encodeTensorBlock(
    mats.map((m) => ({ name: m.name, dtype: 'f32', shape: [m.rows, m.cols], data: new Uint8Array(m.values.buffer, m.values.byteOffset, m.values.byteLength) })),
  );
}

/** The engine's view of materialised weights (f32 tensors over our arrays). */
export function asComponentWeights(name: string, id: Hash, mats: readonly F32Matrix[]): ComponentWeights {
  const byName = new Map(mats.map((m) => [m.name, m]));
  return {
    name,
    block: toHex(id),
    bytes: mats.reduce((a, m) => a + m.values.byteLength, 0),
    tensor(key) {
      const m = byName.get(key);
      if (m === undefined) throw new BlyanError('TENSOR_NOT_FOUND', `component ${name} has no tensor ${key}`, { tensor: key });
      return { name: key, dtype: 'f32', shape: [m.rows, m.cols], data: new Uint8Array(m.values.buffer, m.values.byteOffset, m.values.byteLength) };
    },
  };
}

const FULL_TYPES = new Set(['expert', 'base', 'router', 'snapshot']);

/** Materialises versions of components from one store; bounded LRU cache of results by version id. */
export class Lineage {
  private readonly cache = new Map<string, F32Matrix[]>();

  constructor(
    private readonly store: BlockStore,
    readonly maxEntries = 16,
  ) {}

  /** The weights of version `id` (any component version block). Never modify the result. */
  materialize(id: Hash): F32Matrix[] {
    const chain: Block[] = [];
    let cur = id;
    let mats: F32Matrix[] | undefined;
    // Walk back to a cached or full version, at most once per block of the lineage.
    for (;;) {
      const hit = this.cache.get(toHex(cur));
      if (hit !== undefined) {
        mats = hit;
        break;
      }
      const block = this.store.getBlock(cur);
      if (block === undefined) throw new BlyanError('STORE_CORRUPT', `lineage names a missing block ${toHex(cur)}`);
      const payload = this.payloadOf(block);
      if (FULL_TYPES.has(block.header.type)) {
        mats = componentMatrices(decodeTensorBlock(payload));
        this.remember(block.id, mats);
        break;
      }
      if (block.header.type !== 'delta') throw new BlyanError('STORE_CORRUPT', `${toHex(cur)} is a ${block.header.type} block, not a component version`);
      chain.push(block);
      const base = baseVersionOf(block.header, this.store);
      if (base === undefined) throw new BlyanError('STORE_CORRUPT', `delta ${toHex(cur)} names no base version`);
      cur = base;
    }
    for (const block of chain.reverse()) {
      const { delta } = decodeDeltaPayload(this.payloadOf(block));
      mats = applyDelta(mats, decodeDelta(delta));
      this.remember(block.id, mats);
    }
    return mats;
  }

  /** How many deltas separate `id` from the last full version (0 for a full version). */
  deltasSinceFull(id: Hash): number {
    let n = 0;
    let cur: Hash | undefined = id;
    while (cur !== undefined) {
      const h = this.store.header(cur);
      if (h === undefined || h.type !== 'delta') return n;
      n++;
      cur = baseVersionOf(h, this.store);
    }
    return n;
  }

  /** A DeltaResolver for LocalExpertSource. */
  resolver(): (name: string, block: Block) => ComponentWeights {
    return (name, block) => asComponentWeights(name, block.id, this.materialize(block.id));
  }

  private payloadOf(block: Block): Uint8Array {
    const p = this.store.getPayload(block.header.payloadHash);
    if (p === undefined) throw new BlyanError('BLOCK_PAYLOAD_MISSING', `payload of ${toHex(block.id)} is not stored here`);
    return p;
  }

  private remember(id: Hash, mats: F32Matrix[]): void {
    const key = toHex(id);
    this.cache.delete(key);
    this.cache.set(key, mats);
    while (this.cache.size > this.maxEntries) this.cache.delete(this.cache.keys().next().value as string);
  }
}

/** The engine's local source with lineage resolution: what a node and the CLI should use. */
export function lineageSource(store: BlockStore, entry: ModelEntry, lineage = new Lineage(store)): LocalExpertSource {
  return new LocalExpertSource(store, entry, lineage.resolver());
}
