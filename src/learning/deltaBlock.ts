/**
 * Building a delta block (docs/proof-of-learning.md, "Delta blocks"): what the miner calls after training.
 * Computes the delta against the exact base version, compresses it, writes the PoDL manifest, signs and
 * mines the block; when the delta makes `preset.snapshotEvery` deltas since the last full version, also a
 * snapshot block of the result (rule P10), to be submitted together.
 */
import { createBlock } from '../chain/block.ts';
import { type Hash, sha256 } from '../chain/hash.ts';
import { addressOf } from '../chain/sign.ts';
import type { Preset } from '../chain/presets.ts';
import type { BlockStore } from '../chain/store.ts';
import type { Block } from '../chain/types.ts';
import type { ModelEntry } from '../engine/modelRegistry.ts';
import { BlyanError } from '../errors.ts';
import { applyDelta, type CompressOptions, decodeDelta, type DeltaSize, deltaSize, type F32Matrix, makeDelta } from './delta.ts';
import { encodeComponent, Lineage } from './lineage.ts';
import { decimalString, encodeDeltaPayload, type PodlManifest } from './podl.ts';

export interface ManifestFields {
  readonly dataset: Hash;
  readonly shards: readonly number[];
  readonly steps: number;
  readonly lr: number | string;
  readonly seed: number;
  readonly trainLossBefore: number | string;
  readonly trainLossAfter: number | string;
}

export interface BuildDeltaInput {
  readonly store: BlockStore;
  readonly model: ModelEntry;
  /** e.g. "layer1.expert3" */
  readonly component: string;
  /** The version trained from (default: the current version). */
  readonly base?: Hash;
  /** The trained tensors (all of the component's tensors, any order). */
  readonly newTensors: readonly F32Matrix[];
  readonly manifestFields: ManifestFields;
  /** The miner's private key (its address is the block author and the manifest's miner). */
  readonly signer: Uint8Array;
  readonly preset?: Preset;
  readonly compress?: CompressOptions;
  readonly time?: number;
  readonly lineage?: Lineage;
}

export interface BuiltDelta {
  readonly block: Block;
  readonly payload: Uint8Array;
  readonly size: DeltaSize;
  /** Present when this delta should carry a snapshot (submit both: validateDelta(ctx, block, payload, { snapshot })). */
  readonly snapshot?: { readonly block: Block; readonly payload: Uint8Array };
}

const dec = (v: number | string): string => (typeof v === 'string' ? v : decimalString(v));

export function buildDeltaBlock(input: BuildDeltaInput): BuiltDelta {
  const { store, model, component } = input;
  const preset = input.preset ?? store.preset;
  const spec = model.meta.layout.find((c) => c.name === component);
  if (spec === undefined || spec.type !== 'expert' || spec.layer === null) {
    throw new BlyanError('BAD_ARGUMENT', `${component} is not an expert of model ${model.meta.name}`);
  }
  const base = input.base ?? store.currentVersion(model.id, component);
  const baseHeader = base === undefined ? undefined : store.header(base);
  if (base === undefined || baseHeader === undefined) throw new BlyanError('NOT_FOUND', `no version of ${component} to build on`);
  const lineage = input.lineage ?? new Lineage(store);
  const baseMats = lineage.materialize(base);
  const ordered = baseMats.map((b) => input.newTensors.find((t) => t.name === b.name) ?? missing(b.name));
  const { bytes } = makeDelta(baseMats, ordered, input.compress ?? {});
  const manifest: PodlManifest = {
    v: 1,
    model: model.id,
    component,
    base,
    dataset: input.manifestFields.dataset,
    shards: [...input.manifestFields.shards],
    steps: input.manifestFields.steps,
    lr: dec(input.manifestFields.lr),
    seed: input.manifestFields.seed,
    trainLossBefore: dec(input.manifestFields.trainLossBefore),
    trainLossAfter: dec(input.manifestFields.trainLossAfter),
    deltaHash: sha256(bytes),
    miner: addressOf(input.signer),
  };
  const payload = encodeDeltaPayload({ manifest, delta: bytes });
  const time = input.time ?? Date.now();
  const block = createBlock(
    { chain: 'B', index: baseHeader.index + 1, prev: null, deps: [model.id, base, input.manifestFields.dataset], type: 'delta', expert: component, layer: spec.layer, time },
    payload,
    input.signer,
    preset,
  );
  const result = { block, payload, size: deltaSize(ordered, bytes) };
  if (lineage.deltasSinceFull(base) + 1 < preset.snapshotEvery) return result;
  const snapPayload = encodeComponent(applyDelta(baseMats, decodeDelta(bytes)));
  const snapBlock = createBlock(
    { chain: 'B', index: block.header.index + 1, prev: null, deps: [model.id, block.id], type: 'snapshot', expert: component, layer: spec.layer, time },
    snapPayload,
    input.signer,
    preset,
  );
  return { ...result, snapshot: { block: snapBlock, payload: snapPayload } };
}

function missing(name: string): never {
  throw new BlyanError('BAD_ARGUMENT', `the new tensors lack ${name}`);
}
