import { z } from 'zod';
import { BlyanError } from '../errors.ts';

/** The MoE families we can import and run, by their Hugging Face `architectures[0]`. */
export const SUPPORTED_ARCHITECTURES = {
  MixtralForCausalLM: 'mixtral',
  Qwen2MoeForCausalLM: 'qwen2moe',
  OlmoeForCausalLM: 'olmoe',
} as const;
export type Architecture = keyof typeof SUPPORTED_ARCHITECTURES;
export type Family = (typeof SUPPORTED_ARCHITECTURES)[Architecture];

/**
 * Everything the engine needs to know about a model, normalised across families. Stored in the model's
 * meta block on chain A (with the original config.json beside it), so a node builds the model from chain data alone.
 */
export interface ModelConfig {
  readonly family: Family;
  readonly architecture: Architecture;
  readonly vocabSize: number;
  readonly hiddenSize: number;
  readonly numLayers: number;
  readonly numHeads: number;
  readonly numKvHeads: number;
  readonly headDim: number;
  readonly numExperts: number;
  readonly topK: number;
  /** Hidden size of each routed expert's SwiGLU. */
  readonly expertIntermediate: number;
  /** Qwen2-MoE: the always-on shared expert (gated by sigmoid(shared_expert_gate · x)); 0 when absent. */
  readonly sharedExpertIntermediate: number;
  /** Qwen2-MoE: hidden size of the dense MLP of layers that are not sparse. */
  readonly denseIntermediate: number;
  /** Per layer: true when the layer's MLP is a routed MoE block, false for a dense MLP (Qwen2-MoE only). */
  readonly sparseLayers: readonly boolean[];
  /** Renormalise the top-k routing probabilities to sum to 1 (Mixtral always; others per config). */
  readonly normTopkProb: boolean;
  readonly ropeTheta: number;
  readonly rmsNormEps: number;
  readonly maxPositions: number;
  /** Qwen2-MoE: q, k, v projections carry biases. */
  readonly qkvBias: boolean;
  /** OLMoE: RMSNorm over the whole q and k projections (q_norm, k_norm). */
  readonly qkNorm: boolean;
  /** OLMoE: clamp q, k, v to ±clipQkv when set. */
  readonly clipQkv: number | null;
  readonly tieWordEmbeddings: boolean;
  readonly bosTokenId: number | null;
  readonly eosTokenIds: readonly number[];
}

const positiveInt = z.number().int().positive();
const tokenId = z.number().int().nonnegative().nullable().optional();

const Common = z.object({
  architectures: z.array(z.string()).min(1),
  vocab_size: positiveInt,
  hidden_size: positiveInt,
  num_hidden_layers: positiveInt,
  num_attention_heads: positiveInt,
  num_key_value_heads: positiveInt.nullable().optional(),
  head_dim: positiveInt.nullable().optional(),
  num_experts_per_tok: positiveInt,
  rope_theta: z.number().positive(),
  rms_norm_eps: z.number().positive(),
  max_position_embeddings: positiveInt,
  hidden_act: z.literal('silu').default('silu'),
  tie_word_embeddings: z.boolean(),
  bos_token_id: tokenId,
  eos_token_id: z.union([z.number().int().nonnegative(), z.array(z.number().int().nonnegative())]).nullable().optional(),
  rope_scaling: z.null().optional(),
  sliding_window: z.number().int().positive().nullable().optional(),
  use_sliding_window: z.boolean().optional(),
});

const Mixtral = Common.extend({ num_local_experts: positiveInt, intermediate_size: positiveInt });
const Qwen2Moe = Common.extend({
  num_experts: positiveInt,
  moe_intermediate_size: positiveInt,
  shared_expert_intermediate_size: z.number().int().nonnegative(),
  intermediate_size: positiveInt,
  decoder_sparse_step: positiveInt,
  mlp_only_layers: z.array(z.number().int().nonnegative()).nullable().transform((v) => v ?? []),
  norm_topk_prob: z.boolean(),
});
const Olmoe = Common.extend({
  num_experts: positiveInt,
  intermediate_size: positiveInt,
  norm_topk_prob: z.boolean(),
  clip_qkv: z.number().positive().nullable().optional(),
  attention_bias: z.literal(false),
});

/**
 * The defaults of each family's configuration class in transformers v4.45, for keys a config.json leaves
 * out (save_pretrained writes them all; hand-made configs may not). `num_key_value_heads` absent takes the
 * family default; an explicit null means "as many as attention heads", as in the HF classes.
 */
const FAMILY_DEFAULTS: Record<Family, Record<string, unknown>> = {
  mixtral: {
    vocab_size: 32000, hidden_size: 4096, intermediate_size: 14336, num_hidden_layers: 32, num_attention_heads: 32,
    num_key_value_heads: 8, max_position_embeddings: 4096 * 32, rms_norm_eps: 1e-5, rope_theta: 1e6, num_experts_per_tok: 2,
    num_local_experts: 8, tie_word_embeddings: false, sliding_window: null,
  },
  qwen2moe: {
    vocab_size: 151936, hidden_size: 2048, intermediate_size: 5632, num_hidden_layers: 24, num_attention_heads: 16,
    num_key_value_heads: 16, max_position_embeddings: 32768, rms_norm_eps: 1e-6, rope_theta: 10000, tie_word_embeddings: false,
    use_sliding_window: false, sliding_window: 4096, decoder_sparse_step: 1, moe_intermediate_size: 1408,
    shared_expert_intermediate_size: 5632, num_experts_per_tok: 4, num_experts: 60, norm_topk_prob: false, mlp_only_layers: null,
  },
  olmoe: {
    vocab_size: 50304, hidden_size: 2048, intermediate_size: 2048, num_hidden_layers: 16, num_attention_heads: 16,
    num_key_value_heads: null, max_position_embeddings: 4096, rms_norm_eps: 1e-5, rope_theta: 10000, tie_word_embeddings: false,
    attention_bias: false, clip_qkv: null, num_experts_per_tok: 8, num_experts: 64, norm_topk_prob: false,
  },
};

function issue(err: z.ZodError): string {
  const i = err.issues[0];
  return i === undefined ? 'invalid' : `${i.path.join('.') || '(root)'}: ${i.message}`;
}

/** Parses a Hugging Face config.json into a ModelConfig, or explains what is unsupported. */
export function parseModelConfig(json: unknown): ModelConfig {
  const arch = z.object({ architectures: z.array(z.string()).min(1) }).safeParse(json);
  if (!arch.success) throw new BlyanError('MODEL_BAD_CONFIG', `config.json has no "architectures" list (${issue(arch.error)})`);
  const name = arch.data.architectures[0] as string;
  if (!(name in SUPPORTED_ARCHITECTURES)) {
    throw new BlyanError('MODEL_UNSUPPORTED', `architecture ${name} is not supported; supported: ${Object.keys(SUPPORTED_ARCHITECTURES).join(', ')}`, {
      architecture: name,
    });
  }
  const architecture = name as Architecture;
  const family = SUPPORTED_ARCHITECTURES[architecture];
  const schema = family === 'mixtral' ? Mixtral : family === 'qwen2moe' ? Qwen2Moe : Olmoe;
  const parsed = schema.safeParse({ ...FAMILY_DEFAULTS[family], ...(json as Record<string, unknown>) });
  if (!parsed.success) throw new BlyanError('MODEL_BAD_CONFIG', `config.json for ${architecture}: ${issue(parsed.error)}`);
  const c = parsed.data as z.infer<typeof Common> & Record<string, unknown>;
  const numHeads = c.num_attention_heads;
  const headDim = c.head_dim ?? c.hidden_size / numHeads;
  if (!Number.isInteger(headDim)) throw new BlyanError('MODEL_BAD_CONFIG', `hidden_size ${c.hidden_size} is not divisible by ${numHeads} heads`);
  const numKvHeads = c.num_key_value_heads ?? numHeads;
  if (numHeads % numKvHeads !== 0) throw new BlyanError('MODEL_BAD_CONFIG', `${numHeads} attention heads are not a multiple of ${numKvHeads} key/value heads`);
  const eos = c.eos_token_id;
  // A sliding window only changes attention once the context is longer than the window, so within
  // the window full attention is exact: cap the context there instead of approximating beyond it.
  const windowed = c.sliding_window !== null && c.sliding_window !== undefined && (family === 'mixtral' || c.use_sliding_window === true);
  const maxPositions = windowed ? Math.min(c.max_position_embeddings, c.sliding_window as number) : c.max_position_embeddings;
  const base = {
    family,
    architecture,
    vocabSize: c.vocab_size,
    hiddenSize: c.hidden_size,
    numLayers: c.num_hidden_layers,
    numHeads,
    numKvHeads,
    headDim,
    topK: c.num_experts_per_tok,
    ropeTheta: c.rope_theta,
    rmsNormEps: c.rms_norm_eps,
    maxPositions,
    tieWordEmbeddings: c.tie_word_embeddings,
    bosTokenId: c.bos_token_id ?? null,
    eosTokenIds: eos === null || eos === undefined ? [] : Array.isArray(eos) ? eos : [eos],
  };
  let cfg: ModelConfig;
  if (family === 'mixtral') {
    const m = parsed.data as z.infer<typeof Mixtral>;
    cfg = {
      ...base,
      numExperts: m.num_local_experts,
      expertIntermediate: m.intermediate_size,
      sharedExpertIntermediate: 0,
      denseIntermediate: 0,
      sparseLayers: Array.from({ length: m.num_hidden_layers }, () => true),
      normTopkProb: true,
      qkvBias: false,
      qkNorm: false,
      clipQkv: null,
    };
  } else if (family === 'qwen2moe') {
    const q = parsed.data as z.infer<typeof Qwen2Moe>;
    cfg = {
      ...base,
      numExperts: q.num_experts,
      expertIntermediate: q.moe_intermediate_size,
      sharedExpertIntermediate: q.shared_expert_intermediate_size,
      denseIntermediate: q.intermediate_size,
      // Qwen2MoeDecoderLayer: sparse unless listed in mlp_only_layers or off the decoder_sparse_step grid.
      sparseLayers: Array.from({ length: q.num_hidden_layers }, (_, l) => !q.mlp_only_layers.includes(l) && (l + 1) % q.decoder_sparse_step === 0),
      normTopkProb: q.norm_topk_prob,
      qkvBias: true,
      qkNorm: false,
      clipQkv: null,
    };
  } else {
    const o = parsed.data as z.infer<typeof Olmoe>;
    cfg = {
      ...base,
      numExperts: o.num_experts,
      expertIntermediate: o.intermediate_size,
      sharedExpertIntermediate: 0,
      denseIntermediate: 0,
      sparseLayers: Array.from({ length: o.num_hidden_layers }, () => true),
      normTopkProb: o.norm_topk_prob,
      qkvBias: false,
      qkNorm: true,
      clipQkv: o.clip_qkv ?? null,
    };
  }
  if (cfg.topK > cfg.numExperts) throw new BlyanError('MODEL_BAD_CONFIG', `top-k ${cfg.topK} exceeds the ${cfg.numExperts} experts`);
  return cfg;
}
