import * as dagCbor from '@ipld/dag-cbor';
import { decodeUntrustedCbor } from '../cborBounds.ts';
import { Tokenizer } from '@huggingface/tokenizers';
import type { BlockStore } from '../chain/store.ts';
import { BlyanError } from '../errors.ts';
import type { ModelEntry } from './modelRegistry.ts';

/** The `tokenizer` component's payload: the checkpoint's tokenizer files, byte for byte. */
export interface TokenizerFiles {
  readonly 'tokenizer.json': Uint8Array;
  readonly 'tokenizer_config.json': Uint8Array | null;
}

export function encodeTokenizerFiles(files: TokenizerFiles): Uint8Array {
  return dagCbor.encode(files);
}

export function tokenizerFiles(store: BlockStore, entry: ModelEntry): TokenizerFiles | null {
  if (entry.meta.tokenizer === null) return null;
  const id = store.currentVersion(entry.id, 'tokenizer');
  const block = id === undefined ? undefined : store.getBlock(id);
  const payload = block === undefined ? undefined : store.getPayload(block.header.payloadHash);
  if (payload === undefined) throw new BlyanError('MODEL_MISSING_TENSOR', `model ${entry.meta.name} names a tokenizer but its block is missing`);
  const v = decodeUntrustedCbor(payload) as Record<string, unknown>;
  const json = v['tokenizer.json'];
  const cfg = v['tokenizer_config.json'];
  if (!(json instanceof Uint8Array) || !(cfg === null || cfg instanceof Uint8Array)) {
    throw new BlyanError('MODEL_BAD_CONFIG', `tokenizer block of ${entry.meta.name} is malformed`);
  }
  return { 'tokenizer.json': json, 'tokenizer_config.json': cfg };
}

export interface TextCodec {
  encode(text: string): number[];
  decode(ids: readonly number[]): string;
}

/** The model's Hugging Face tokenizer (tokenizer.json) through @huggingface/tokenizers. */
export async function loadTokenizer(store: BlockStore, entry: ModelEntry): Promise<TextCodec> {
  const files = tokenizerFiles(store, entry);
  if (files === null) {
    throw new BlyanError('ENGINE_BAD_INPUT', `model ${entry.meta.name} has no tokenizer: pass token ids with --ids`);
  }
  const text = new TextDecoder();
  const json: unknown = JSON.parse(text.decode(files['tokenizer.json']));
  const cfg: unknown = files['tokenizer_config.json'] === null ? {} : JSON.parse(text.decode(files['tokenizer_config.json']));
  const tok = new Tokenizer(json as never, cfg as never);
  return {
    encode: (s) => tok.encode(s).ids,
    decode: (ids) => tok.decode([...ids]),
  };
}
