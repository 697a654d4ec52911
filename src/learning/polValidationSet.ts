/**
 * The validation set a model's meta block names (docs/proof-of-learning.md, "The validation set"): the
 * dataset block's content from chain D, tokenised the way the spec says, plus the fixed windows.
 */
import { fromHex, type Hash } from '../chain/hash.ts';
import type { BlockStore } from '../chain/store.ts';
import { readDataset } from '../datasets/registry.ts';
import type { ValidationSpec } from '../engine/modelMeta.ts';
import type { ModelEntry } from '../engine/modelRegistry.ts';
import { loadTokenizer } from '../engine/tokenizer.ts';
import { BlyanError } from '../errors.ts';

/** The one call into src/datasets. */
function datasetContent(store: BlockStore, id: Hash): Uint8Array {
  return readDataset(store, id).content;
}

export interface ValidationSet {
  readonly spec: ValidationSpec;
  readonly dataset: Hash;
  readonly tokens: Int32Array;
  /** δ and the norm limit as numbers: δ rounded to f32 (losses are f32), the norm limit a double. */
  readonly delta32: number;
  readonly normLimit: number;
}

export function validationSpecOf(entry: ModelEntry): ValidationSpec {
  const spec = entry.meta.validation;
  if (spec === undefined) {
    throw new BlyanError('DELTA_NO_VALIDATION_SET', `model ${entry.meta.name} names no validation set in its meta block: it accepts no deltas`);
  }
  return spec;
}

export async function loadValidationSet(store: BlockStore, entry: ModelEntry): Promise<ValidationSet> {
  const spec = validationSpecOf(entry);
  const dataset = fromHex(spec.dataset, 32);
  const content = datasetContent(store, dataset);
  let tokens: Int32Array;
  if (spec.tokenizer === 'bytes') tokens = Int32Array.from(content);
  else {
    const tok = await loadTokenizer(store, entry);
    tokens = Int32Array.from(tok.encode(new TextDecoder('utf-8', { fatal: false }).decode(content)));
  }
  // Decimal strings parse exactly the same everywhere (ECMAScript's Number(string) is correctly rounded).
  return { spec, dataset, tokens, delta32: Math.fround(Number(spec.delta)), normLimit: Number(spec.deltaNormLimit) };
}
