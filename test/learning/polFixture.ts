/**
 * A small model on a temp `tiny` store with a validation set, for the Proof-of-Learning tests: a synthetic
 * Mixtral (2 layers, 4 experts, byte vocabulary) imported with src/engine/import, a dataset block on chain D,
 * and helpers to evaluate and to find an improving delta (SPSA: a gradient estimate from ± random directions).
 */
import { join } from 'node:path';
import * as dagCbor from '@ipld/dag-cbor';
import { createBlock } from '../../src/chain/block.ts';
import { fromHex, type Hash, sha256 } from '../../src/chain/hash.ts';
import { TINY } from '../../src/chain/presets.ts';
import { addressOf } from '../../src/chain/sign.ts';
import type { BlockStore } from '../../src/chain/store.ts';
import type { Block } from '../../src/chain/types.ts';
import { createDatasetBlock } from '../../src/datasets/datasetBlock.ts';
import { datasetLimits } from '../../src/datasets/limits.ts';
import { prefilter } from '../../src/datasets/prefilter.ts';
import { importCheckpoint } from '../../src/engine/import/importCheckpoint.ts';
import type { Kernels } from '../../src/engine/kernels/types.ts';
import type { ValidationSpec } from '../../src/engine/modelMeta.ts';
import type { ModelEntry } from '../../src/engine/modelRegistry.ts';
import type { F32Matrix } from '../../src/learning/delta.ts';
import { evaluate, withComponent } from '../../src/learning/evaluate.ts';
import { asComponentWeights, Lineage, lineageSource } from '../../src/learning/lineage.ts';
import { modelEntryOf } from '../../src/learning/pol.ts';
import { loadValidationSet } from '../../src/learning/polValidationSet.ts';
import type { PodlManifest } from '../../src/learning/podl.ts';
import { writeSynthCheckpoint } from '../helpers/synthCheckpoint.ts';
import { TEST_KEY } from '../helpers/fixtures.ts';

export const T0 = Date.UTC(2026, 1, 1);
export const COMPONENT = 'layer1.expert0';

export const TEXT = new TextEncoder().encode(
  Array.from({ length: 40 }, (_, i) => `Line ${i}: the quick brown fox jumps over the lazy dog while ${['ROMEO', 'JULIET', 'MERCUTIO'][i % 3]} speaks.\n`).join(''),
);

export function addDataset(store: BlockStore, content: Uint8Array, name: string, now = T0): Block {
  const pf = prefilter(content, { limits: datasetLimits('tiny') });
  return createDatasetBlock(store, { name, tier: 'gold', license: 'CC0-1.0', chunkSize: 1024, content: pf.content, report: pf.report }, TEST_KEY, { now }).block;
}

export interface PolSetup {
  readonly entry: ModelEntry;
  readonly dataset: Block;
  readonly otherDataset: Block;
  readonly original: Hash;
}

/** Imports the test model with a validation set over the first dataset; a second dataset exists too. */
export function setupModel(store: BlockStore, dir: string, overrides: Partial<ValidationSpec> = {}): PolSetup {
  const dataset = addDataset(store, TEXT, 'validation');
  const otherDataset = addDataset(store, new TextEncoder().encode(`${'Another text entirely, for training. '.repeat(60)}\n`), 'other', T0 + 1);
  const ckpt = join(dir, 'ckpt');
  writeSynthCheckpoint(ckpt, 'mixtral', {
    seed: 7,
    dtype: 'f32',
    layers: 2,
    hidden: 32,
    heads: 4,
    kvHeads: 2,
    experts: 4,
    topK: 2,
    intermediate: 48,
    vocab: 256,
    ropeTheta: 10000,
    eps: 1e-5,
    maxPositionEmbeddings: 64,
  });
  const validation: ValidationSpec = {
    dataset: Buffer.from(dataset.id).toString('hex'),
    offsets: [0, 97, 211, 333, 480, 601],
    batchSize: 4,
    context: 24,
    delta: '0.0005',
    deltaNormLimit: '8',
    tokenizer: 'bytes',
    ...overrides,
  };
  const summary = importCheckpoint(store, ckpt, { privateKey: TEST_KEY, name: 'pol-test', now: T0 + 2, validation });
  const entry = modelEntryOf(store, fromHex(summary.model, 32));
  return { entry, dataset, otherDataset, original: fromHex(summary.components[COMPONENT] as string, 32) };
}

/** Loss of the current model with `mats` substituted for the component (f32 value). */
export async function lossWith(store: BlockStore, entry: ModelEntry, kernels: Kernels, mats: readonly F32Matrix[] | null): Promise<number> {
  const vs = await loadValidationSet(store, entry);
  const base = lineageSource(store, entry);
  const source = mats === null ? base : withComponent(base, asComponentWeights(COMPONENT, new Uint8Array(32), mats));
  const r = await evaluate({ config: entry.meta.config, source, kernels, tokens: vs.tokens, offsets: vs.spec.offsets, context: vs.spec.context, batchSize: vs.spec.batchSize });
  return r.loss;
}

function rand(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296 - 0.5;
  };
}

export function add(mats: readonly F32Matrix[], dir: readonly Float32Array[], scale: number): F32Matrix[] {
  return mats.map((m, i) => ({ ...m, values: m.values.map((v, j) => Math.fround(v + scale * ((dir[i] as Float32Array)[j] as number))) }));
}

/**
 * A step that lowers the validation loss from the current version: SPSA gradient estimate over `dirs` random
 * ± directions, then a step of size `lr` against it. Returns the step direction (so its negation poisons).
 */
export async function improvingStep(store: BlockStore, entry: ModelEntry, kernels: Kernels, seed: number, dirs = 6, eps = 0.02): Promise<Float32Array[]> {
  const base = new Lineage(store).materialize(store.currentVersion(entry.id, COMPONENT) as Hash);
  const r = rand(seed);
  const grad = base.map((m) => new Float32Array(m.values.length));
  for (let k = 0; k < dirs; k++) {
    const d = base.map((m) => Float32Array.from({ length: m.values.length }, () => (r() > 0 ? 1 : -1)));
    const lp = await lossWith(store, entry, kernels, add(base, d, eps));
    const lm = await lossWith(store, entry, kernels, add(base, d, -eps));
    const g = (lp - lm) / (2 * eps);
    for (const [i, gi] of grad.entries()) for (let j = 0; j < gi.length; j++) gi[j] = (gi[j] as number) + (g * ((d[i] as Float32Array)[j] as number)) / dirs;
  }
  let norm = 0;
  for (const gi of grad) for (const v of gi) norm += v * v;
  norm = Math.sqrt(norm);
  return grad.map((gi) => gi.map((v) => -v / norm)); // unit step downhill
}

/** A delta block with an arbitrary payload (for malformed inputs): deps model, base, dataset. */
export function rawDeltaBlock(entry: ModelEntry, base: Block, dataset: Hash, payload: Uint8Array, opts: { key?: Uint8Array; time?: number; component?: string } = {}): Block {
  return createBlock(
    {
      chain: 'B',
      index: base.header.index + 1,
      prev: null,
      deps: [entry.id, base.id, dataset],
      type: 'delta',
      expert: opts.component ?? COMPONENT,
      layer: 1,
      time: opts.time ?? T0 + 10,
    },
    payload,
    opts.key ?? TEST_KEY,
    TINY,
  );
}

/** A delta payload around arbitrary delta bytes, with a manifest that matches unless overridden. */
export function payloadFor(entry: ModelEntry, base: Hash, dataset: Hash, delta: Uint8Array, overrides: Partial<PodlManifest> = {}, key = TEST_KEY): Uint8Array {
  const manifest: PodlManifest = {
    v: 1,
    model: entry.id,
    component: COMPONENT,
    base,
    dataset,
    shards: [0],
    steps: 1,
    lr: '0.01',
    seed: 1,
    trainLossBefore: '5.5',
    trainLossAfter: '5.4',
    deltaHash: sha256(delta),
    miner: addressOf(key),
    ...overrides,
  };
  // dag-cbor directly: encodeDeltaPayload would refuse a mismatching deltaHash, which some tests need.
  return dagCbor.encode({ manifest, delta });
}
