import { existsSync, readFileSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { createBlock } from '../../chain/block.ts';
import { sha256, toHex } from '../../chain/hash.ts';
import type { AppendItem, BlockStore } from '../../chain/store.ts';
import type { Block } from '../../chain/types.ts';
import { BlyanError } from '../../errors.ts';
import { type CheckpointTensorInfo, openCheckpoint } from '../../tensor/safetensors.ts';
import { encodeTensorBlock } from '../../tensor/tensorBlock.ts';
import { type ModelConfig, parseModelConfig } from '../modelConfig.ts';
import { encodeModelMeta, type ModelMeta, type ValidationSpec } from '../modelMeta.ts';
import { listModels } from '../modelRegistry.ts';
import { encodeTokenizerFiles } from '../tokenizer.ts';
import { type ComponentSpec, modelLayout } from './layout.ts';

export interface ImportOptions {
  /** Model name shown in `model list`; defaults to the directory name. */
  readonly name?: string;
  readonly privateKey: Uint8Array;
  readonly now?: number;
  readonly onProgress?: (done: number, total: number, component: string) => void;
  /** The Proof-of-Learning validation set written into the meta block (docs/proof-of-learning.md). */
  readonly validation?: ValidationSpec;
}

export interface ImportSummary {
  readonly model: string;
  readonly name: string;
  readonly family: string;
  readonly architecture: string;
  /** Blocks that make up the model, by kind (whether new or already present). */
  readonly blocks: { readonly meta: 1; readonly base: number; readonly router: number; readonly expert: number };
  /** Blocks this import actually wrote (0 when re-importing the same checkpoint). */
  readonly written: number;
  readonly payloadBytes: number;
  readonly components: Record<string, string>;
}

/** Tensors a checkpoint may carry that are derived, not learned, and are not part of the model. */
const IGNORABLE = /\.rotary_emb\.inv_freq$/;

/**
 * Imports a Hugging Face MoE checkpoint as blocks: one meta block on chain A, then one chain-B block per
 * component (embeddings, each layer's attention, router, experts, head, tokenizer). Everything is
 * checked against config.json before a single block is built, and all blocks go into the store in one
 * atomic batch, so a bad file leaves the chain unchanged. Re-importing the same checkpoint finds the
 * existing blocks (same meta payload, same component payloads) and writes nothing.
 */
export function importCheckpoint(store: BlockStore, dir: string, opts: ImportOptions): ImportSummary {
  const root = resolve(dir);
  const configPath = join(root, 'config.json');
  if (!existsSync(configPath)) throw new BlyanError('MODEL_BAD_CONFIG', `${root} has no config.json: is it a Hugging Face checkpoint directory?`);
  const hfConfig = readFileSync(configPath, 'utf8');
  let configJson: unknown;
  try {
    configJson = JSON.parse(hfConfig);
  } catch (err) {
    throw new BlyanError('MODEL_BAD_CONFIG', `config.json is not valid JSON: ${(err as Error).message}`);
  }
  const config = parseModelConfig(configJson);
  const layout = modelLayout(config);
  const ckpt = openCheckpoint(root);
  try {
    checkTensors(layout, ckpt.tensors);
    const tokenizerPath = join(root, 'tokenizer.json');
    const tokenizer = existsSync(tokenizerPath) ? readFileSync(tokenizerPath) : null;
    const tokenizerConfigPath = join(root, 'tokenizer_config.json');
    const tokenizerConfig = tokenizer !== null && existsSync(tokenizerConfigPath) ? readFileSync(tokenizerConfigPath) : null;
    const meta: ModelMeta = {
      format: 'blyan-model/v1',
      name: opts.name ?? basename(root),
      config,
      hfConfig,
      safetensorsMetadata: ckpt.metadata ?? null,
      safetensorsMetadataPosition: metadataPosition(ckpt.files[0]?.metadataPosition ?? null),
      layout: layout.map((c) => ({
        ...c,
        tensors: c.tensors.map((t) => ({ ...t, dtype: (ckpt.tensors.get(t.hf) as { dtype: string }).dtype })),
      })),
      tokenizer: tokenizer === null ? null : { sha256: toHex(sha256(tokenizer)), size: tokenizer.byteLength },
      ...(opts.validation === undefined ? {} : { validation: opts.validation }),
    };
    const metaPayload = encodeModelMeta(meta);
    const now = opts.now ?? Date.now();
    const items: AppendItem[] = [];

    // The same checkpoint imported before has a meta block with exactly this payload.
    const metaHash = toHex(sha256(metaPayload));
    const existing = listModels(store).find((m) => toHex(m.block.header.payloadHash) === metaHash);
    let metaBlock: Block;
    if (existing !== undefined) metaBlock = existing.block;
    else {
      const head = store.headOf('A');
      if (head === undefined) throw new BlyanError('STORE_NOT_INITIALISED', 'chain A has no genesis');
      metaBlock = createBlock(
        { chain: 'A', index: head.header.index + 1, prev: head.id, deps: [], type: 'model', time: Math.max(now, head.header.time) },
        metaPayload,
        opts.privateKey,
        store.preset,
      );
      items.push({ block: metaBlock, payload: metaPayload });
    }

    const components: Record<string, string> = {};
    const counts = { meta: 1 as const, base: 0, router: 0, expert: 0 };
    let payloadBytes = metaPayload.byteLength;
    const all: { spec: Pick<ComponentSpec, 'name' | 'type' | 'layer'>; payload: () => Uint8Array }[] = layout.map((spec) => ({
      spec,
      payload: () =>
        encodeTensorBlock(
          spec.tensors.map((t) => {
            const info = ckpt.tensors.get(t.hf) as CheckpointTensorInfo;
            return { name: t.key, dtype: info.dtype, shape: info.shape, data: ckpt.read(t.hf) };
          }),
        ),
    }));
    if (tokenizer !== null) {
      const files = { 'tokenizer.json': new Uint8Array(tokenizer), 'tokenizer_config.json': tokenizerConfig === null ? null : new Uint8Array(tokenizerConfig) };
      all.push({ spec: { name: 'tokenizer', type: 'base', layer: null }, payload: () => encodeTokenizerFiles(files) });
    }

    all.forEach(({ spec, payload: build }, i) => {
      const payload = build();
      payloadBytes += payload.byteLength;
      counts[spec.type]++;
      const payloadHash = sha256(payload);
      const current = existing === undefined ? undefined : store.currentVersion(existing.id, spec.name);
      const currentBlock = current === undefined ? undefined : store.getBlock(current);
      if (currentBlock !== undefined && Buffer.compare(currentBlock.header.payloadHash, payloadHash) === 0) {
        components[spec.name] = toHex(currentBlock.id);
      } else {
        const block = createBlock(
          {
            chain: 'B',
            index: 0,
            prev: null,
            deps: [metaBlock.id],
            type: spec.type,
            expert: spec.name,
            layer: spec.layer,
            time: now,
          },
          payload,
          opts.privateKey,
          store.preset,
        );
        items.push({ block, payload });
        components[spec.name] = toHex(block.id);
      }
      opts.onProgress?.(i + 1, all.length, spec.name);
    });
    if (items.length > 0) store.appendBatch(items, { now });
    return {
      model: toHex(metaBlock.id),
      name: meta.name,
      family: config.family,
      architecture: config.architecture,
      blocks: counts,
      written: items.length,
      payloadBytes,
      components,
    };
  } finally {
    ckpt.close();
  }
}

function metadataPosition(p: 'first' | 'last' | 'middle' | null): 'first' | 'last' | null {
  return p === 'first' || p === 'last' ? p : null;
}

/** Every tensor the layout needs exists with the shape config.json implies; nothing unknown is left over. */
function checkTensors(layout: readonly ComponentSpec[], tensors: ReadonlyMap<string, { dtype: string; shape: readonly number[] }>): void {
  const wanted = new Set<string>();
  for (const c of layout) {
    for (const t of c.tensors) {
      wanted.add(t.hf);
      const info = tensors.get(t.hf);
      if (info === undefined) throw new BlyanError('MODEL_MISSING_TENSOR', `checkpoint lacks ${t.hf}, which config.json implies`, { tensor: t.hf });
      if (info.shape.length !== t.shape.length || info.shape.some((d, i) => d !== t.shape[i])) {
        throw new BlyanError(
          'MODEL_SHAPE_MISMATCH',
          `${t.hf} has shape [${info.shape.join(', ')}] but config.json implies [${t.shape.join(', ')}]`,
          { tensor: t.hf },
        );
      }
    }
  }
  const extra = [...tensors.keys()].filter((n) => !wanted.has(n) && !IGNORABLE.test(n));
  if (extra.length > 0) {
    throw new BlyanError('MODEL_BAD_CONFIG', `checkpoint has ${extra.length} tensor(s) this architecture does not use, e.g. ${extra.slice(0, 3).join(', ')}`);
  }
}

export type { ModelConfig };
