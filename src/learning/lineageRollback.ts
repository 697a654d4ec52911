/**
 * Rollback (docs/proof-of-learning.md, "Rollback"): restores an earlier version of a component as a NEW
 * `snapshot` block whose deps name the model and the current version, so history is kept and the parameter
 * index moves forward to the restored weights. A full earlier version keeps its exact payload bytes (and
 * dtype); a delta version is materialised as f32.
 */
import { createBlock } from '../chain/block.ts';
import { equalBytes, type Hash, toHex } from '../chain/hash.ts';
import type { Preset } from '../chain/presets.ts';
import type { BlockStore } from '../chain/store.ts';
import type { Block } from '../chain/types.ts';
import type { ModelEntry } from '../engine/modelRegistry.ts';
import { BlyanError } from '../errors.ts';
import { encodeComponent, Lineage } from './lineage.ts';

export interface RollbackInput {
  readonly store: BlockStore;
  readonly model: ModelEntry;
  readonly component: string;
  /** The version to restore: a block id in the component's lineage. */
  readonly to: Hash;
  readonly signer: Uint8Array;
  readonly time?: number;
  readonly preset?: Preset;
}

export interface RollbackResult {
  readonly block: Block;
  /** The version that was current before. */
  readonly from: Hash;
  readonly to: Hash;
}

export function rollbackComponent(input: RollbackInput): RollbackResult {
  const { store, model, component, to } = input;
  const versions = store.lineage(model.id, component);
  if (!versions.some((v) => equalBytes(v, to))) {
    throw new BlyanError('NOT_FOUND', `${toHex(to).slice(0, 16)}… is not a version of ${component} (see \`blyan chain list --chain B\`)`, { component });
  }
  const from = versions.at(-1) as Hash;
  if (equalBytes(from, to)) throw new BlyanError('BAD_ARGUMENT', `${toHex(to).slice(0, 16)}… is already the current version of ${component}`);
  const fromHeader = store.header(from);
  const toBlock = store.getBlock(to);
  if (fromHeader === undefined || toBlock === undefined) throw new BlyanError('STORE_CORRUPT', `lineage of ${component} names a missing block`);
  const stored = toBlock.header.type === 'delta' ? undefined : store.getPayload(toBlock.header.payloadHash);
  const payload = stored ?? encodeComponent(new Lineage(store).materialize(to));
  const block = createBlock(
    {
      chain: 'B',
      index: fromHeader.index + 1,
      prev: null,
      deps: [model.id, from],
      type: 'snapshot',
      expert: component,
      layer: fromHeader.layer,
      time: Math.max(input.time ?? Date.now(), fromHeader.time),
    },
    payload,
    input.signer,
    input.preset ?? store.preset,
  );
  store.append(block, payload, input.time === undefined ? {} : { now: input.time });
  return { block, from, to };
}
