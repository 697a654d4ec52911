import * as dagCbor from '@ipld/dag-cbor';
import { decodeUntrustedCbor } from '../cborBounds.ts';
import { z } from 'zod';
import { BlyanError } from '../errors.ts';
import type { ComponentSpec } from './import/layout.ts';
import { type ModelConfig, parseModelConfig } from './modelConfig.ts';

/**
 * The payload of a model's meta block (chain A, type "model"): everything needed to rebuild, run and
 * export the model from chain data alone. Encoded as DAG-CBOR like every hashed structure.
 */
export interface ModelMeta {
  readonly format: 'blyan-model/v1';
  readonly name: string;
  readonly config: ModelConfig;
  /** The checkpoint's config.json, byte for byte, so export reproduces it exactly. */
  readonly hfConfig: string;
  /** The safetensors `__metadata__` map of the checkpoint ({"format": "pt"} for PyTorch). */
  readonly safetensorsMetadata: Readonly<Record<string, string>> | null;
  /** Where `__metadata__` sat in the safetensors header (writers differ), so export can match the file. */
  readonly safetensorsMetadataPosition: 'first' | 'last' | null;
  /** Component → tensors, with the dtype each tensor is stored in. */
  readonly layout: readonly (ComponentSpec & { readonly tensors: readonly (ComponentSpec['tensors'][number] & { readonly dtype: string })[] })[];
  /** SHA-256 (hex) and size of tokenizer.json when the checkpoint has one (stored as the `tokenizer` component). */
  readonly tokenizer: { readonly sha256: string; readonly size: number } | null;
  /** The public validation set of Proof-of-Learning (docs/proof-of-learning.md); absent: no deltas accepted. */
  readonly validation?: ValidationSpec;
}

/**
 * Where and how validators measure a delta (docs/proof-of-learning.md, "The validation set"). Numbers that
 * decide acceptance are decimal strings, never floats, so the meta block encodes canonically.
 */
export interface ValidationSpec {
  /** Dataset block (chain D) id, hex. */
  readonly dataset: string;
  /** Token offsets of the windows; window i is tokens [offsets[i], offsets[i] + context + 1). */
  readonly offsets: readonly number[];
  /** Windows per forward batch (does not change the loss, only memory and speed). */
  readonly batchSize: number;
  /** Input tokens per window. */
  readonly context: number;
  /** δ: the minimum loss improvement, a decimal string such as "0.001". */
  readonly delta: string;
  /** Largest accepted L2 norm of a delta's values, a decimal string. */
  readonly deltaNormLimit: string;
  /** How the dataset text becomes token ids: the model's tokenizer component, or one token per byte. */
  readonly tokenizer: 'model' | 'bytes';
}

const TensorSpec = z.object({ key: z.string(), hf: z.string(), shape: z.array(z.number().int().nonnegative()), dtype: z.string() });
const Component = z.object({
  name: z.string(),
  type: z.enum(['base', 'router', 'expert']),
  layer: z.number().int().nonnegative().nullable(),
  tensors: z.array(TensorSpec),
});
const Decimal = z.string().regex(/^(0|[1-9][0-9]{0,15})(\.[0-9]{1,12})?$/, 'must be a non-negative decimal string like "0.001"');
const Validation = z.strictObject({
  dataset: z.string().regex(/^[0-9a-f]{64}$/),
  offsets: z.array(z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER)).min(1).max(65536),
  batchSize: z.number().int().min(1).max(4096),
  context: z.number().int().min(1).max(1 << 20),
  delta: Decimal,
  deltaNormLimit: Decimal,
  tokenizer: z.enum(['model', 'bytes']),
});
const Meta = z.object({
  format: z.literal('blyan-model/v1'),
  name: z.string().min(1).max(200),
  config: z.record(z.string(), z.unknown()),
  hfConfig: z.string(),
  safetensorsMetadata: z.record(z.string(), z.string()).nullable(),
  safetensorsMetadataPosition: z.enum(['first', 'last']).nullable(),
  layout: z.array(Component),
  tokenizer: z.object({ sha256: z.string().regex(/^[0-9a-f]{64}$/), size: z.number().int().nonnegative() }).nullable(),
  validation: Validation.optional(),
});

export function encodeModelMeta(meta: ModelMeta): Uint8Array {
  return dagCbor.encode(meta);
}

export function decodeModelMeta(payload: Uint8Array): ModelMeta {
  let value: unknown;
  try {
    value = decodeUntrustedCbor(payload);
  } catch (err) {
    throw new BlyanError('MODEL_BAD_CONFIG', `model meta block is not valid DAG-CBOR: ${(err as Error).message}`);
  }
  const parsed = Meta.safeParse(value);
  if (!parsed.success) {
    const i = parsed.error.issues[0];
    throw new BlyanError('MODEL_BAD_CONFIG', `model meta block is malformed at ${i?.path.join('.') ?? '?'}: ${i?.message ?? ''}`);
  }
  // The engine trusts only what it derives itself: the config is re-parsed from the verbatim config.json
  // and must equal the normalised copy stored beside it (which is there for people and explorers).
  let hf: unknown;
  try {
    hf = JSON.parse(parsed.data.hfConfig);
  } catch {
    throw new BlyanError('MODEL_BAD_CONFIG', 'model meta block carries a config.json that is not JSON');
  }
  const config = parseModelConfig(hf);
  if (!equalJson(dagCbor.encode(config), dagCbor.encode(parsed.data.config))) {
    throw new BlyanError('MODEL_BAD_CONFIG', 'model meta block: the stored config does not match its config.json');
  }
  return { ...parsed.data, config } as ModelMeta;
}

function equalJson(a: Uint8Array, b: Uint8Array): boolean {
  return Buffer.compare(a, b) === 0;
}
