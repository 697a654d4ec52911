import type { BlockStore } from '../chain/store.ts';
import type { ComponentWeights, ExpertSource } from '../engine/expertSource.ts';
import type { ModelConfig } from '../engine/modelConfig.ts';
import type { ModelEntry } from '../engine/modelRegistry.ts';
import { BlyanError } from '../errors.ts';
import { toFloat32 } from '../tensor/tensor.ts';
import type { MoeShape } from './config.ts';
import { lineageSource } from './lineage.ts';
import { createParams, type MoeParams } from './params.ts';

export interface FromChainOptions {
  /** Load-balancing coefficient for fine-tuning (default 0.01, Mixtral's router_aux_loss_coef default). */
  readonly auxCoef?: number;
  /** Longest training sequence (default: the model's context, at most 128). */
  readonly context?: number;
}

/** The trainer's shape for a chain model, or MODEL_UNSUPPORTED when the trainer cannot train it. */
export function shapeFromModelConfig(c: ModelConfig, opts: FromChainOptions = {}): MoeShape {
  const unsupported = (why: string): never => {
    throw new BlyanError('MODEL_UNSUPPORTED', `the trainer handles Mixtral-shaped models only: ${why}`, { architecture: c.architecture });
  };
  if (c.family !== 'mixtral') unsupported(`${c.architecture} is not Mixtral`);
  if (c.numKvHeads !== c.numHeads) unsupported(`grouped-query attention (${c.numKvHeads} kv heads for ${c.numHeads}) is not implemented`);
  if (c.tieWordEmbeddings) unsupported('tied embeddings are not implemented');
  if (c.numHeads * c.headDim !== c.hiddenSize) unsupported('heads × head_dim must equal hidden_size');
  return {
    vocab: c.vocabSize,
    dModel: c.hiddenSize,
    layers: c.numLayers,
    heads: c.numHeads,
    headDim: c.headDim,
    experts: c.numExperts,
    topK: c.topK,
    hidden: c.expertIntermediate,
    context: Math.min(opts.context ?? 128, c.maxPositions),
    ropeTheta: c.ropeTheta,
    eps: c.rmsNormEps,
    auxCoef: opts.auxCoef ?? 0.01,
  };
}

/**
 * Trainer parameters holding a chain model's current weights, read through an ExpertSource (any dtype,
 * converted to f32). Every parameter starts trainable; use setTrainable to pick experts.
 */
export async function paramsFromSource(config: ModelConfig, source: ExpertSource, opts: FromChainOptions = {}): Promise<MoeParams> {
  const params = createParams(shapeFromModelConfig(config, opts));
  const loaded = new Map<string, ComponentWeights>();
  for (const p of params.all) {
    let c = loaded.get(p.component);
    if (c === undefined) {
      c = await source.load(p.component);
      loaded.set(p.component, c);
    }
    const v = toFloat32(c.tensor(p.key));
    if (v.length !== p.data.length) {
      throw new BlyanError('MODEL_SHAPE_MISMATCH', `${p.name} has ${v.length} values on chain, the trainer expects ${p.data.length}`, { tensor: p.name });
    }
    p.data.set(v);
  }
  return params;
}

/**
 * paramsFromSource over the local block store: the parameter index's current version of every component,
 * versions stored as deltas materialised through their lineage (lineage.ts).
 */
export function paramsFromChain(store: BlockStore, entry: ModelEntry, opts: FromChainOptions = {}): Promise<MoeParams> {
  return paramsFromSource(entry.meta.config, lineageSource(store, entry), opts);
}
