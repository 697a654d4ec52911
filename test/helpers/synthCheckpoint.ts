/**
 * Synthetic Hugging Face MoE checkpoints (config.json + model.safetensors) for the three families the
 * engine imports, laid out exactly as transformers v4.45 saves them: the config keys of
 * MixtralConfig / Qwen2MoeConfig / OlmoeConfig (serialised like `PretrainedConfig.to_json_string`:
 * sorted keys, indent 2, Python float spelling), and every tensor name of the family's modeling code
 * (modeling_mixtral.py, modeling_qwen2_moe.py, modeling_olmoe.py).
 *
 * Weights are seeded pseudo-random normals scaled to keep activations of order 1
 * (N(0, 1/√fan_in) for projections, 1 + N(0, 0.1) for norms), so an f32 engine and a float64 reference
 * agree to ~1e-6 and routing decisions have visible margins.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { f32ArrayToBf16 } from '../../src/tensor/dtypes.ts';
import { type SafetensorsInput, writeSafetensors } from '../../src/tensor/safetensors.ts';

export type SynthFamily = 'mixtral' | 'qwen2moe' | 'olmoe';

export interface SynthOptions {
  seed: number;
  dtype: 'f32' | 'bf16';
  layers: number;
  hidden: number;
  heads: number;
  kvHeads: number;
  experts: number;
  topK: number;
  /** Routed expert hidden size (Mixtral / OLMoE `intermediate_size`, Qwen2-MoE `moe_intermediate_size`). */
  intermediate: number;
  /** Qwen2-MoE `shared_expert_intermediate_size` (default 2 × intermediate). */
  sharedIntermediate?: number;
  /** Qwen2-MoE `intermediate_size`: the dense MLP of non-sparse layers (default 2 × intermediate). */
  denseIntermediate?: number;
  /** Qwen2-MoE (default 1). */
  decoderSparseStep?: number;
  /** Qwen2-MoE (default []). */
  mlpOnlyLayers?: number[];
  /** Qwen2-MoE / OLMoE (default false; Mixtral always renormalises and has no such key). */
  normTopkProb?: boolean;
  /** OLMoE (default null). */
  clipQkv?: number | null;
  vocab: number;
  ropeTheta: number;
  eps: number;
  /** Default 4096. */
  maxPositionEmbeddings?: number;
  /** Default false: lm_head.weight is a separate tensor. When true it is left out, as save_pretrained does. */
  tieWordEmbeddings?: boolean;
}

export const ARCHITECTURE: Readonly<Record<SynthFamily, string>> = {
  mixtral: 'MixtralForCausalLM',
  qwen2moe: 'Qwen2MoeForCausalLM',
  olmoe: 'OlmoeForCausalLM',
};

// ---------------------------------------------------------------------------------------------------
// Python-style JSON (json.dumps(obj, indent=2, sort_keys=True) + "\n"), which is what HF writes.

/** A number Python holds as a float: written "1e-05", "1000000.0", "0.0". */
export class PyFloat {
  constructor(readonly value: number) {}
}

/** repr() of a Python float. */
export function pyFloatRepr(x: number): string {
  if (Number.isNaN(x)) return 'NaN';
  if (!Number.isFinite(x)) return x > 0 ? 'Infinity' : '-Infinity';
  if (x === 0) return Object.is(x, -0) ? '-0.0' : '0.0';
  const sign = x < 0 ? '-' : '';
  const [mant, expText] = Math.abs(x).toExponential().split('e') as [string, string];
  const exp = Number(expText);
  const digits = mant.replace('.', '');
  if (exp < -4 || exp >= 16) {
    const m = digits.length > 1 ? `${digits[0]}.${digits.slice(1)}` : digits;
    return `${sign}${m}e${exp < 0 ? '-' : '+'}${String(Math.abs(exp)).padStart(2, '0')}`;
  }
  if (exp >= 0) {
    if (digits.length <= exp + 1) return `${sign}${digits.padEnd(exp + 1, '0')}.0`;
    return `${sign}${digits.slice(0, exp + 1)}.${digits.slice(exp + 1)}`;
  }
  return `${sign}0.${'0'.repeat(-exp - 1)}${digits}`;
}

export type PyJson = null | boolean | number | string | PyFloat | PyJson[] | { [key: string]: PyJson };

export function pyJsonDumps(value: PyJson, level = 0): string {
  const pad = (n: number) => '  '.repeat(n);
  if (value === null) return 'null';
  if (value instanceof PyFloat) return pyFloatRepr(value.value);
  if (typeof value === 'boolean') return value ? 'true' : 'false';
  if (typeof value === 'number') {
    if (!Number.isInteger(value)) throw new Error(`${value}: wrap non-integers in PyFloat`);
    return String(value);
  }
  if (typeof value === 'string') return JSON.stringify(value).replace(/[\u007f-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
  if (Array.isArray(value)) {
    if (value.length === 0) return '[]';
    return `[\n${value.map((v) => pad(level + 1) + pyJsonDumps(v, level + 1)).join(',\n')}\n${pad(level)}]`;
  }
  const keys = Object.keys(value).sort();
  if (keys.length === 0) return '{}';
  return `{\n${keys.map((k) => `${pad(level + 1)}${JSON.stringify(k)}: ${pyJsonDumps(value[k] as PyJson, level + 1)}`).join(',\n')}\n${pad(level)}}`;
}

// ---------------------------------------------------------------------------------------------------
// config.json

/** The config dict save_pretrained writes for this family (transformers v4.45, use_diff=True). */
export function synthConfig(family: SynthFamily, o: SynthOptions): Record<string, PyJson> {
  const common: Record<string, PyJson> = {
    architectures: [ARCHITECTURE[family]],
    attention_dropout: new PyFloat(0),
    hidden_act: 'silu',
    hidden_size: o.hidden,
    initializer_range: new PyFloat(0.02),
    max_position_embeddings: o.maxPositionEmbeddings ?? 4096,
    num_attention_heads: o.heads,
    num_experts_per_tok: o.topK,
    num_hidden_layers: o.layers,
    num_key_value_heads: o.kvHeads,
    output_router_logits: false,
    rms_norm_eps: new PyFloat(o.eps),
    rope_theta: new PyFloat(o.ropeTheta),
    tie_word_embeddings: o.tieWordEmbeddings ?? false,
    torch_dtype: o.dtype === 'f32' ? 'float32' : 'bfloat16',
    transformers_version: '4.45.0',
    use_cache: true,
    vocab_size: o.vocab,
  };
  if (family === 'mixtral') {
    return {
      ...common,
      bos_token_id: 1,
      eos_token_id: 2,
      intermediate_size: o.intermediate,
      model_type: 'mixtral',
      num_local_experts: o.experts,
      router_aux_loss_coef: new PyFloat(0.001),
      router_jitter_noise: new PyFloat(0),
      sliding_window: null,
    };
  }
  if (family === 'qwen2moe') {
    return {
      ...common,
      bos_token_id: 1,
      eos_token_id: 2,
      decoder_sparse_step: o.decoderSparseStep ?? 1,
      intermediate_size: o.denseIntermediate ?? 2 * o.intermediate,
      max_window_layers: o.layers,
      mlp_only_layers: o.mlpOnlyLayers ?? [],
      model_type: 'qwen2_moe',
      moe_intermediate_size: o.intermediate,
      norm_topk_prob: o.normTopkProb ?? false,
      num_experts: o.experts,
      rope_scaling: null,
      router_aux_loss_coef: new PyFloat(0.001),
      shared_expert_intermediate_size: o.sharedIntermediate ?? 2 * o.intermediate,
      sliding_window: 4096,
      use_sliding_window: false,
    };
  }
  return {
    ...common,
    attention_bias: false,
    clip_qkv: o.clipQkv === undefined || o.clipQkv === null ? null : new PyFloat(o.clipQkv),
    eos_token_id: 2,
    intermediate_size: o.intermediate,
    model_type: 'olmoe',
    norm_topk_prob: o.normTopkProb ?? false,
    num_experts: o.experts,
    pad_token_id: 1,
    rope_scaling: null,
    router_aux_loss_coef: new PyFloat(0.01),
  };
}

// ---------------------------------------------------------------------------------------------------
// tensors

/** FNV-1a of a string, to give every tensor its own random stream (independent of the others' order). */
function fnv1a(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h;
}

/** mulberry32 uniform [0,1) + Box–Muller normals. */
function normals(seed: number, name: string, n: number): Float64Array {
  let a = (Math.imul(seed >>> 0, 0x9e3779b1) ^ fnv1a(name)) >>> 0;
  const uniform = (): number => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const out = new Float64Array(n);
  for (let i = 0; i < n; i += 2) {
    const u1 = 1 - uniform();
    const u2 = uniform();
    const r = Math.sqrt(-2 * Math.log(u1));
    out[i] = r * Math.cos(2 * Math.PI * u2);
    if (i + 1 < n) out[i + 1] = r * Math.sin(2 * Math.PI * u2);
  }
  return out;
}

export interface SynthTensor {
  name: string;
  shape: number[];
  /** f32 values (already rounded to bf16 when the checkpoint is bf16). */
  values: Float32Array;
}

/** Every tensor of the family's HF modeling code for these options, in no particular order. */
export function synthTensors(family: SynthFamily, o: SynthOptions): SynthTensor[] {
  const H = o.hidden;
  const headDim = H / o.heads;
  if (!Number.isInteger(headDim)) throw new Error('hidden must be divisible by heads');
  const qDim = o.heads * headDim;
  const kvDim = o.kvHeads * headDim;
  const out: SynthTensor[] = [];
  const add = (name: string, shape: number[], kind: 'matrix' | 'norm' | 'bias' | 'embed', scale = 1): void => {
    const n = shape.reduce((a, b) => a * b, 1);
    const z = normals(o.seed, name, n);
    const fanIn = shape[shape.length - 1] as number;
    const values = new Float32Array(n);
    for (let i = 0; i < n; i++) {
      const g = z[i] as number;
      values[i] = kind === 'norm' ? 1 + 0.1 * g : kind === 'bias' ? 0.2 * g : kind === 'embed' ? g : (scale * g) / Math.sqrt(fanIn);
    }
    out.push({ name, shape, values: o.dtype === 'bf16' ? roundBf16(values) : values });
  };
  const swiglu = (prefix: string, I: number, names: { gate: string; up: string; down: string }): void => {
    add(`${prefix}.${names.gate}.weight`, [I, H], 'matrix');
    add(`${prefix}.${names.up}.weight`, [I, H], 'matrix');
    add(`${prefix}.${names.down}.weight`, [H, I], 'matrix');
  };
  const hfMlp = { gate: 'gate_proj', up: 'up_proj', down: 'down_proj' };

  add('model.embed_tokens.weight', [o.vocab, H], 'embed');
  for (let l = 0; l < o.layers; l++) {
    const p = `model.layers.${l}`;
    add(`${p}.input_layernorm.weight`, [H], 'norm');
    add(`${p}.post_attention_layernorm.weight`, [H], 'norm');
    add(`${p}.self_attn.q_proj.weight`, [qDim, H], 'matrix');
    add(`${p}.self_attn.k_proj.weight`, [kvDim, H], 'matrix');
    add(`${p}.self_attn.v_proj.weight`, [kvDim, H], 'matrix');
    add(`${p}.self_attn.o_proj.weight`, [H, qDim], 'matrix');
    if (family === 'qwen2moe') {
      add(`${p}.self_attn.q_proj.bias`, [qDim], 'bias');
      add(`${p}.self_attn.k_proj.bias`, [kvDim], 'bias');
      add(`${p}.self_attn.v_proj.bias`, [kvDim], 'bias');
    }
    if (family === 'olmoe') {
      add(`${p}.self_attn.q_norm.weight`, [qDim], 'norm');
      add(`${p}.self_attn.k_norm.weight`, [kvDim], 'norm');
    }
    if (family === 'mixtral') {
      add(`${p}.block_sparse_moe.gate.weight`, [o.experts, H], 'matrix', 1.5);
      for (let e = 0; e < o.experts; e++) swiglu(`${p}.block_sparse_moe.experts.${e}`, o.intermediate, { gate: 'w1', up: 'w3', down: 'w2' });
      continue;
    }
    const sparse =
      family === 'olmoe' || (!(o.mlpOnlyLayers ?? []).includes(l) && o.experts > 0 && (l + 1) % (o.decoderSparseStep ?? 1) === 0);
    if (!sparse) {
      swiglu(`${p}.mlp`, o.denseIntermediate ?? 2 * o.intermediate, hfMlp);
      continue;
    }
    add(`${p}.mlp.gate.weight`, [o.experts, H], 'matrix', 1.5);
    for (let e = 0; e < o.experts; e++) swiglu(`${p}.mlp.experts.${e}`, o.intermediate, hfMlp);
    if (family === 'qwen2moe') {
      swiglu(`${p}.mlp.shared_expert`, o.sharedIntermediate ?? 2 * o.intermediate, hfMlp);
      add(`${p}.mlp.shared_expert_gate.weight`, [1, H], 'matrix');
    }
  }
  add('model.norm.weight', [H], 'norm');
  if (o.tieWordEmbeddings !== true) add('lm_head.weight', [o.vocab, H], 'matrix');
  return out;
}

function roundBf16(values: Float32Array): Float32Array {
  const bits = f32ArrayToBf16(values);
  const out = new Float32Array(bits.length);
  const u = new Uint32Array(out.buffer);
  for (let i = 0; i < bits.length; i++) u[i] = (bits[i] as number) << 16;
  return out;
}

/** The tensors as safetensors input in the checkpoint's dtype. */
export function toSafetensorsInput(tensors: readonly SynthTensor[], dtype: 'f32' | 'bf16'): SafetensorsInput[] {
  return tensors.map((t) => {
    const data = dtype === 'f32' ? t.values : f32ArrayToBf16(t.values);
    return { name: t.name, dtype, shape: t.shape, data: new Uint8Array(data.buffer, data.byteOffset, data.byteLength) };
  });
}

export interface SynthCheckpoint {
  readonly dir: string;
  /** What config.json holds, parsed. */
  readonly config: Record<string, unknown>;
  readonly tensorNames: string[];
}

/** Writes config.json and model.safetensors (header metadata {"format":"pt"}, as safetensors.torch writes) into dir. */
export function writeSynthCheckpoint(dir: string, family: SynthFamily, opts: SynthOptions): SynthCheckpoint {
  mkdirSync(dir, { recursive: true });
  const configText = `${pyJsonDumps(synthConfig(family, opts))}\n`;
  writeFileSync(join(dir, 'config.json'), configText);
  const tensors = synthTensors(family, opts);
  writeSafetensors(join(dir, 'model.safetensors'), toSafetensorsInput(tensors, opts.dtype), { format: 'pt' });
  return { dir, config: JSON.parse(configText) as Record<string, unknown>, tensorNames: tensors.map((t) => t.name) };
}
