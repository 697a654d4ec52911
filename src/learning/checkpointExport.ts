import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { modelLayout } from '../engine/import/layout.ts';
import { parseModelConfig } from '../engine/modelConfig.ts';
import { BlyanError } from '../errors.ts';
import { type SafetensorsInput, writeSafetensors } from '../tensor/safetensors.ts';
import { charTokenizerConfigJson, charTokenizerJson } from './charTokenizer.ts';
import type { CharVocab } from './charVocab.ts';
import type { MoeParams, Param } from './params.ts';

export interface ExportOptions {
  /** Character vocabulary: written as tokenizer.json (omitted: no tokenizer files). */
  readonly vocab?: CharVocab;
  /** max_position_embeddings (default: the trained context). */
  readonly maxPositions?: number;
}

/** A Mixtral config.json (transformers MixtralConfig keys) for the trainer's shape. */
export function mixtralConfigJson(params: MoeParams, maxPositions?: number): Record<string, unknown> {
  const s = params.shape;
  return {
    architectures: ['MixtralForCausalLM'],
    attention_dropout: 0.0,
    bos_token_id: null,
    eos_token_id: null,
    head_dim: s.headDim,
    hidden_act: 'silu',
    hidden_size: s.dModel,
    initializer_range: 0.02,
    intermediate_size: s.hidden,
    max_position_embeddings: maxPositions ?? s.context,
    model_type: 'mixtral',
    num_attention_heads: s.heads,
    num_experts_per_tok: s.topK,
    num_hidden_layers: s.layers,
    num_key_value_heads: s.heads,
    num_local_experts: s.experts,
    output_router_logits: false,
    rms_norm_eps: s.eps,
    rope_theta: s.ropeTheta,
    router_aux_loss_coef: s.auxCoef,
    router_jitter_noise: 0.0,
    sliding_window: null,
    tie_word_embeddings: false,
    torch_dtype: 'float32',
    use_cache: true,
    vocab_size: s.vocab,
  };
}

function bytesOf(p: Param): Uint8Array {
  return new Uint8Array(p.data.buffer, p.data.byteOffset, p.data.byteLength);
}

/** Every parameter under its Hugging Face Mixtral name (model.layers.L.block_sparse_moe.experts.E.w1.weight, …). */
export function hfTensors(params: MoeParams, config: Record<string, unknown>): SafetensorsInput[] {
  const byName = new Map(params.all.map((p) => [p.name, p]));
  const out: SafetensorsInput[] = [];
  for (const c of modelLayout(parseModelConfig(config))) {
    for (const t of c.tensors) {
      const p = byName.get(`${c.name}.${t.key}`);
      if (p === undefined) throw new BlyanError('MODEL_MISSING_TENSOR', `trainer has no parameter for ${t.hf}`, { tensor: t.hf });
      out.push({ name: t.hf, dtype: 'f32', shape: p.shape, data: bytesOf(p) });
    }
  }
  return out;
}

/**
 * Writes a Hugging Face Mixtral checkpoint of the trainer's weights into `dir` (created): config.json,
 * model.safetensors (f32, HF tensor names) and, with a vocabulary, tokenizer.json + tokenizer_config.json.
 * `blyan import DIR` puts it on chain; transformers loads it as MixtralForCausalLM.
 */
export function exportCharMoeCheckpoint(params: MoeParams, dir: string, opts: ExportOptions = {}): void {
  mkdirSync(dir, { recursive: true });
  const config = mixtralConfigJson(params, opts.maxPositions);
  writeFileSync(join(dir, 'config.json'), `${JSON.stringify(config, null, 2)}\n`);
  writeSafetensors(join(dir, 'model.safetensors'), hfTensors(params, config), { format: 'pt' });
  if (opts.vocab !== undefined) {
    writeFileSync(join(dir, 'tokenizer.json'), `${JSON.stringify(charTokenizerJson(opts.vocab), null, 2)}\n`);
    writeFileSync(join(dir, 'tokenizer_config.json'), `${JSON.stringify(charTokenizerConfigJson(), null, 2)}\n`);
  }
}
