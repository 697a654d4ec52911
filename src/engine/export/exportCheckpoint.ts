import { existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { BlockStore } from '../../chain/store.ts';
import { BlyanError } from '../../errors.ts';
import { type SafetensorsInput, writeSafetensors } from '../../tensor/safetensors.ts';
import { decodeTensorBlock } from '../../tensor/tensorBlock.ts';
import type { ModelEntry } from '../modelRegistry.ts';
import { tokenizerFiles } from '../tokenizer.ts';

export interface ExportResult {
  readonly files: string[];
  readonly tensors: number;
  readonly bytes: number;
}

/**
 * Writes the current version of every component back as a Hugging Face checkpoint: config.json byte
 * for byte, one model.safetensors with every tensor under its original name and dtype, bit-identical
 * to what was imported (plus tokenizer.json when the model has one).
 */
export function exportCheckpoint(store: BlockStore, entry: ModelEntry, dir: string): ExportResult {
  if (existsSync(dir) && readdirSync(dir).length > 0) {
    throw new BlyanError('BAD_ARGUMENT', `${dir} is not empty: export into a new or empty directory`);
  }
  mkdirSync(dir, { recursive: true });
  const tensors: SafetensorsInput[] = [];
  let bytes = 0;
  for (const component of entry.meta.layout) {
    const id = store.currentVersion(entry.id, component.name);
    const block = id === undefined ? undefined : store.getBlock(id);
    const payload = block === undefined ? undefined : store.getPayload(block.header.payloadHash);
    if (payload === undefined) throw new BlyanError('MODEL_MISSING_TENSOR', `component ${component.name} is missing from the store`);
    const tb = decodeTensorBlock(payload);
    for (const t of component.tensors) {
      const view = tb.get(t.key);
      tensors.push({ name: t.hf, dtype: view.dtype, shape: view.shape, data: view.data });
      bytes += view.data.byteLength;
    }
  }
  const files = ['config.json', 'model.safetensors'];
  writeFileSync(join(dir, 'config.json'), entry.meta.hfConfig);
  const position = entry.meta.safetensorsMetadataPosition;
  writeSafetensors(join(dir, 'model.safetensors'), tensors, entry.meta.safetensorsMetadata ?? undefined, position === null ? {} : { metadataPosition: position });
  const tok = tokenizerFiles(store, entry);
  if (tok !== null) {
    writeFileSync(join(dir, 'tokenizer.json'), tok['tokenizer.json']);
    files.push('tokenizer.json');
    if (tok['tokenizer_config.json'] !== null) {
      writeFileSync(join(dir, 'tokenizer_config.json'), tok['tokenizer_config.json']);
      files.push('tokenizer_config.json');
    }
  }
  return { files, tensors: tensors.length, bytes };
}
