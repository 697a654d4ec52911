import { BlyanError } from '../errors.ts';

/**
 * Shape of a Mixtral-style MoE transformer the trainer builds: pre-norm RMSNorm, RoPE ("rotate_half"),
 * multi-head attention without biases (as many kv heads as heads), a softmax router with top-k
 * renormalised weights, SwiGLU experts (w1 gate, w3 up, w2 down), untied lm_head.
 */
export interface MoeShape {
  readonly vocab: number;
  readonly dModel: number;
  readonly layers: number;
  readonly heads: number;
  readonly headDim: number;
  readonly experts: number;
  readonly topK: number;
  /** Hidden size of each expert's SwiGLU (Mixtral intermediate_size). */
  readonly hidden: number;
  /** Longest sequence the model is trained on (and max_position_embeddings on export). */
  readonly context: number;
  readonly ropeTheta: number;
  readonly eps: number;
  /** Weight of the load-balancing loss added to the cross-entropy (Mixtral router_aux_loss_coef). */
  readonly auxCoef: number;
}

export function checkShape(s: MoeShape): MoeShape {
  const ints: (keyof MoeShape)[] = ['vocab', 'dModel', 'layers', 'heads', 'headDim', 'experts', 'topK', 'hidden', 'context'];
  for (const k of ints) {
    const v = s[k];
    if (!Number.isSafeInteger(v) || v <= 0) throw new BlyanError('BAD_ARGUMENT', `model shape: ${k} must be a whole number > 0, got ${v}`);
  }
  if (s.heads * s.headDim !== s.dModel) throw new BlyanError('BAD_ARGUMENT', `model shape: heads × headDim (${s.heads}×${s.headDim}) must equal dModel ${s.dModel}`);
  if (s.headDim % 2 !== 0) throw new BlyanError('BAD_ARGUMENT', `model shape: headDim ${s.headDim} must be even for RoPE`);
  if (s.topK > s.experts) throw new BlyanError('BAD_ARGUMENT', `model shape: top-k ${s.topK} exceeds ${s.experts} experts`);
  return s;
}
