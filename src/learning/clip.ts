import type { Param } from './params.ts';

/**
 * torch.nn.utils.clip_grad_norm_: the global L2 norm of all gradients (summed in f64, in parameter
 * order); when it exceeds maxNorm every gradient is scaled by maxNorm / (norm + 1e-6). Returns the norm
 * before clipping.
 */
export function clipGradNorm(params: readonly Param[], maxNorm: number): number {
  let ss = 0;
  for (const p of params) {
    const g = p.grad;
    for (let j = 0; j < g.length; j++) ss += g[j]! * g[j]!;
  }
  const norm = Math.sqrt(ss);
  const coef = maxNorm / (norm + 1e-6);
  if (coef < 1) {
    for (const p of params) {
      const g = p.grad;
      for (let j = 0; j < g.length; j++) g[j] = g[j]! * coef;
    }
  }
  return norm;
}
