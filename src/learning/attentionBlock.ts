import type { Gemm } from './gemm/types.ts';
import { attentionBackward, attentionForward } from './ops/attention.ts';
import { linearBackward, linearForward } from './ops/linear.ts';
import { rmsNormBackward, rmsNormForward } from './ops/rmsnorm.ts';
import { mergeHeads, type RopeTable, splitHeads } from './ops/rope.ts';
import type { LayerParams } from './params.ts';

/** Scratch that every layer's attention shares (nothing in it survives from forward to backward). */
export class AttentionScratch {
  /** token-major [N, D] */
  readonly tok: Float32Array;
  readonly tok2: Float32Array;
  readonly tok3: Float32Array;
  /** head-major [B, H, T, hd] */
  readonly heads: Float32Array;
  readonly dQh: Float32Array;
  readonly dKh: Float32Array;
  readonly dVh: Float32Array;
  /** [B·H, T, T] */
  readonly dP: Float32Array;

  constructor(tokens: number, D: number, heads: number, context: number) {
    const nd = tokens * D;
    this.tok = new Float32Array(nd);
    this.tok2 = new Float32Array(nd);
    this.tok3 = new Float32Array(nd);
    this.heads = new Float32Array(nd);
    this.dQh = new Float32Array(nd);
    this.dKh = new Float32Array(nd);
    this.dVh = new Float32Array(nd);
    this.dP = new Float32Array(tokens * heads * context);
  }
}

/**
 * The attention half of a pre-norm decoder layer, x_mid = x + o(attn(rope(q(n)), rope(k(n)), v(n))) with
 * n = RMSNorm(x), and its backward. Holds the activations the backward pass needs, sized for `tokens`.
 */
export class AttentionBlock {
  private readonly h: Float32Array;
  private readonly rinv: Float32Array;
  private readonly Qh: Float32Array;
  private readonly Kh: Float32Array;
  private readonly Vh: Float32Array;
  private readonly P: Float32Array;
  private readonly att: Float32Array;
  private B = 0;
  private T = 0;

  constructor(
    private readonly w: LayerParams,
    private readonly gemm: Gemm,
    private readonly rope: RopeTable,
    private readonly s: AttentionScratch,
    tokens: number,
    private readonly D: number,
    private readonly heads: number,
    private readonly eps: number,
  ) {
    const nd = tokens * D;
    this.h = new Float32Array(nd);
    this.rinv = new Float32Array(tokens);
    this.Qh = new Float32Array(nd);
    this.Kh = new Float32Array(nd);
    this.Vh = new Float32Array(nd);
    this.P = new Float32Array(tokens * heads * rope.context);
    this.att = new Float32Array(nd);
  }

  /** out = x + attention(x), for B sequences of T tokens. */
  forward(x: Float32Array, out: Float32Array, B: number, T: number): void {
    this.B = B;
    this.T = T;
    const { w, gemm, s, D, heads } = this;
    const n = B * T;
    const hd = D / heads;
    rmsNormForward(x, w.inputNorm.data, this.h, this.rinv, n, D, this.eps);
    linearForward(gemm, this.h, w.q.data, s.tok, n, D, D);
    splitHeads(s.tok, this.Qh, B, T, heads, hd, this.rope);
    linearForward(gemm, this.h, w.k.data, s.tok, n, D, D);
    splitHeads(s.tok, this.Kh, B, T, heads, hd, this.rope);
    linearForward(gemm, this.h, w.v.data, s.tok, n, D, D);
    splitHeads(s.tok, this.Vh, B, T, heads, hd, null);
    attentionForward(gemm, this.Qh, this.Kh, this.Vh, this.P, s.heads, B * heads, T, hd);
    mergeHeads(s.heads, this.att, B, T, heads, hd, null);
    linearForward(gemm, this.att, w.o.data, s.tok, n, D, D);
    const m = n * D;
    for (let i = 0; i < m; i++) out[i] = x[i]! + s.tok[i]!;
  }

  /**
   * dx holds dLoss/d out on entry (the residual passes it through unchanged) and gains the attention
   * path's share. With needDx false only the weight gradients are computed (nothing below trains).
   */
  backward(x: Float32Array, dx: Float32Array, needDx: boolean): void {
    const { w, gemm, s, D, heads, B, T } = this;
    const n = B * T;
    const hd = D / heads;
    const g = (p: { trainable: boolean; grad: Float32Array }): Float32Array | null => (p.trainable ? p.grad : null);
    // s.tok = dAtt (token-major)
    linearBackward(gemm, this.att, w.o.data, dx, s.tok, g(w.o), n, D, D, false);
    splitHeads(s.tok, s.heads, B, T, heads, hd, null);
    const anyQkv = needDx || w.q.trainable || w.k.trainable || w.v.trainable || w.inputNorm.trainable;
    if (!anyQkv) return;
    attentionBackward(gemm, this.Qh, this.Kh, this.Vh, this.P, s.heads, s.dP, s.dQh, s.dKh, s.dVh, B * heads, T, hd);
    mergeHeads(s.dQh, s.tok, B, T, heads, hd, this.rope);
    mergeHeads(s.dKh, s.tok2, B, T, heads, hd, this.rope);
    mergeHeads(s.dVh, s.tok3, B, T, heads, hd, null);
    const needDh = needDx || w.inputNorm.trainable;
    // dh accumulates into s.heads (free again after attentionBackward).
    const dh = s.heads;
    linearBackward(gemm, this.h, w.q.data, s.tok, needDh ? dh : null, g(w.q), n, D, D, false);
    linearBackward(gemm, this.h, w.k.data, s.tok2, needDh ? dh : null, g(w.k), n, D, D, true);
    linearBackward(gemm, this.h, w.v.data, s.tok3, needDh ? dh : null, g(w.v), n, D, D, true);
    if (needDh) rmsNormBackward(x, w.inputNorm.data, this.rinv, dh, dx, g(w.inputNorm), n, D);
  }
}
