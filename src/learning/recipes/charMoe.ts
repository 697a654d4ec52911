import type { MoeShape } from '../config.ts';

/**
 * The `char-moe` recipe: a char-level Mixtral-shaped MoE on tinyshakespeare, matched against a PyTorch
 * reference run on the same hyper-parameters (val loss ≈ 1.87 at step 250, 1.71 at 500, 1.58 at 1000).
 */
export const CHAR_MOE = {
  name: 'char-moe',
  layers: 4,
  heads: 4,
  dModel: 128,
  context: 128,
  experts: 8,
  topK: 2,
  hidden: 256,
  ropeTheta: 10000,
  eps: 1e-5,
  auxCoef: 0.01,
  initStd: 0.02,
  lr: 1e-3,
  beta1: 0.9,
  beta2: 0.999,
  adamEps: 1e-8,
  weightDecay: 0.01,
  clip: 1.0,
  batch: 32,
  trainFraction: 0.9,
  evalBatches: 16,
  /** PyTorch's val losses at these steps, for reports. */
  pytorch: { 250: 1.87, 500: 1.71, 1000: 1.58 } as Readonly<Record<number, number>>,
  pytorchTokensPerSecond: 8841,
} as const;

export function charMoeShape(vocab: number): MoeShape {
  const r = CHAR_MOE;
  return {
    vocab,
    dModel: r.dModel,
    layers: r.layers,
    heads: r.heads,
    headDim: r.dModel / r.heads,
    experts: r.experts,
    topK: r.topK,
    hidden: r.hidden,
    context: r.context,
    ropeTheta: r.ropeTheta,
    eps: r.eps,
    auxCoef: r.auxCoef,
  };
}
