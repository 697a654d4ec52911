import type { Param } from './params.ts';

export interface AdamWOptions {
  readonly lr: number;
  readonly beta1?: number;
  readonly beta2?: number;
  readonly eps?: number;
  readonly weightDecay?: number;
}

/**
 * AdamW with PyTorch's semantics (torch.optim.AdamW, foreach=False): decoupled weight decay
 * p ← p·(1 − lr·wd), then m ← β1·m + (1−β1)·g, v ← β2·v + (1−β2)·g², and
 * p ← p − (lr / (1−β1^t)) · m / (√v / √(1−β2^t) + eps). State exists only for the parameters given.
 */
export class AdamW {
  readonly lr: number;
  readonly beta1: number;
  readonly beta2: number;
  readonly eps: number;
  readonly weightDecay: number;
  private readonly m: Float32Array[];
  private readonly v: Float32Array[];
  step = 0;

  constructor(
    readonly params: readonly Param[],
    opts: AdamWOptions,
  ) {
    this.lr = opts.lr;
    this.beta1 = opts.beta1 ?? 0.9;
    this.beta2 = opts.beta2 ?? 0.999;
    this.eps = opts.eps ?? 1e-8;
    this.weightDecay = opts.weightDecay ?? 0.01;
    this.m = params.map((p) => new Float32Array(p.data.length));
    this.v = params.map((p) => new Float32Array(p.data.length));
  }

  update(): void {
    this.step++;
    const { lr, beta1: b1, beta2: b2, eps } = this;
    const decay = 1 - lr * this.weightDecay;
    const bc1 = 1 - b1 ** this.step;
    const bc2 = 1 - b2 ** this.step;
    const stepSize = lr / bc1;
    const bc2Sqrt = Math.sqrt(bc2);
    for (const [i, p] of this.params.entries()) {
      const m = this.m[i]!;
      const v = this.v[i]!;
      const w = p.data;
      const g = p.grad;
      for (let j = 0; j < w.length; j++) {
        const gj = g[j]!;
        const mj = b1 * m[j]! + (1 - b1) * gj;
        const vj = b2 * v[j]! + (1 - b2) * gj * gj;
        m[j] = mj;
        v[j] = vj;
        w[j] = w[j]! * decay - (stepSize * mj) / (Math.sqrt(vj) / bc2Sqrt + eps);
      }
    }
  }
}
