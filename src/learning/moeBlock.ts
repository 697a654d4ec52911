import type { Gemm } from './gemm/types.ts';
import { linearBackward, linearForward } from './ops/linear.ts';
import { rmsNormBackward, rmsNormForward } from './ops/rmsnorm.ts';
import { routerBackward, routerForward } from './ops/router.ts';
import { swigluBackward, swigluForward } from './ops/swiglu.ts';
import type { LayerParams, Param } from './params.ts';

/** Scratch every layer's MoE block shares. */
export class MoeScratch {
  /** [N·k, D] */
  readonly dYg: Float32Array;
  readonly dXg: Float32Array;
  /** [N, D] */
  readonly dh: Float32Array;
  /** [N, k] */
  readonly dTopW: Float32Array;
  /** [N, E] */
  readonly dProbs: Float32Array;
  readonly dLogits: Float32Array;

  constructor(tokens: number, D: number, E: number, k: number) {
    this.dYg = new Float32Array(tokens * k * D);
    this.dXg = new Float32Array(tokens * k * D);
    this.dh = new Float32Array(tokens * D);
    this.dTopW = new Float32Array(tokens * k);
    this.dProbs = new Float32Array(tokens * E);
    this.dLogits = new Float32Array(tokens * E);
  }
}

/**
 * The MoE half of a Mixtral decoder layer: out = x + Σ_slot w[t, slot] · expert_{idx[t, slot]}(n[t]) with
 * n = RMSNorm(x), routed by softmax top-k with renormalised weights. Tokens are gathered per expert
 * (in token then slot order) so each expert runs as three matrix products.
 */
export class MoeBlock {
  readonly probs: Float32Array;
  readonly topIdx: Int32Array;
  private readonly h: Float32Array;
  private readonly rinv: Float32Array;
  private readonly logits: Float32Array;
  private readonly topW: Float32Array;
  /** gathered row of (token t, slot) */
  private readonly rowOf: Int32Array;
  private readonly offsets: Int32Array;
  private readonly Xg: Float32Array;
  private readonly G: Float32Array;
  private readonly U: Float32Array;
  private readonly S: Float32Array;
  private readonly A: Float32Array;
  private readonly Yg: Float32Array;
  private n = 0;

  constructor(
    private readonly w: LayerParams,
    private readonly gemm: Gemm,
    private readonly s: MoeScratch,
    tokens: number,
    private readonly D: number,
    private readonly E: number,
    private readonly k: number,
    private readonly I: number,
    private readonly eps: number,
  ) {
    this.h = new Float32Array(tokens * D);
    this.rinv = new Float32Array(tokens);
    this.logits = new Float32Array(tokens * E);
    this.probs = new Float32Array(tokens * E);
    this.topIdx = new Int32Array(tokens * k);
    this.topW = new Float32Array(tokens * k);
    this.rowOf = new Int32Array(tokens * k);
    this.offsets = new Int32Array(E + 1);
    this.Xg = new Float32Array(tokens * k * D);
    this.G = new Float32Array(tokens * k * I);
    this.U = new Float32Array(tokens * k * I);
    this.S = new Float32Array(tokens * k * I);
    this.A = new Float32Array(tokens * k * I);
    this.Yg = new Float32Array(tokens * k * D);
  }

  forward(x: Float32Array, out: Float32Array, n: number): void {
    this.n = n;
    const { w, gemm, D, E, k, I } = this;
    rmsNormForward(x, w.postNorm.data, this.h, this.rinv, n, D, this.eps);
    linearForward(gemm, this.h, w.router.data, this.logits, n, D, E);
    routerForward(this.logits, this.probs, this.topIdx, this.topW, n, E, k);
    // Counting sort of (token, slot) pairs by expert.
    const off = this.offsets;
    off.fill(0);
    for (let i = 0; i < n * k; i++) off[this.topIdx[i]! + 1]!++;
    for (let e = 0; e < E; e++) off[e + 1] = off[e + 1]! + off[e]!;
    const fill = off.slice(0, E);
    const { h, Xg, rowOf, topIdx } = this;
    for (let i = 0; i < n * k; i++) {
      const e = topIdx[i]!;
      const row = fill[e]!++;
      rowOf[i] = row;
      const src = ((i / k) | 0) * D;
      const dst = row * D;
      for (let j = 0; j < D; j++) Xg[dst + j] = h[src + j]!;
    }
    for (let e = 0; e < E; e++) {
      const a = off[e]!;
      const m = off[e + 1]! - a;
      if (m === 0) continue;
      const ex = w.experts[e]!;
      swigluForward(
        gemm,
        this.Xg.subarray(a * D, (a + m) * D),
        ex.gate.data,
        ex.up.data,
        ex.down.data,
        this.G.subarray(a * I, (a + m) * I),
        this.U.subarray(a * I, (a + m) * I),
        this.S.subarray(a * I, (a + m) * I),
        this.A.subarray(a * I, (a + m) * I),
        this.Yg.subarray(a * D, (a + m) * D),
        m,
        D,
        I,
      );
    }
    const { topW, Yg } = this;
    for (let t = 0; t < n; t++) {
      const o = t * D;
      for (let j = 0; j < D; j++) out[o + j] = x[o + j]!;
      for (let slot = 0; slot < k; slot++) {
        const wt = topW[t * k + slot]!;
        const r = rowOf[t * k + slot]! * D;
        for (let j = 0; j < D; j++) out[o + j] = out[o + j]! + wt * Yg[r + j]!;
      }
    }
  }

  /**
   * dx holds dLoss/d out on entry and gains the MoE path's share. `auxGrad[e]` is d(coef·aux)/d probs[t, e].
   * With needDx false, nothing below this block trains: only this block's weight gradients are computed.
   */
  backward(x: Float32Array, dx: Float32Array, auxGrad: Float64Array, needDx: boolean): void {
    const { w, gemm, s, D, E, k, I, n } = this;
    const g = (p: Param): Float32Array | null => (p.trainable ? p.grad : null);
    const needDh = needDx || w.router.trainable || w.postNorm.trainable;
    const { rowOf, topW, Yg } = this;
    const { dYg, dTopW, dXg } = s;
    for (let t = 0; t < n; t++) {
      const o = t * D;
      for (let slot = 0; slot < k; slot++) {
        const i = t * k + slot;
        const r = rowOf[i]! * D;
        const wt = topW[i]!;
        let dot = 0;
        for (let j = 0; j < D; j++) {
          const d = dx[o + j]!;
          dot += d * Yg[r + j]!;
          dYg[r + j] = wt * d;
        }
        dTopW[i] = dot;
      }
    }
    const off = this.offsets;
    for (let e = 0; e < E; e++) {
      const a = off[e]!;
      const m = off[e + 1]! - a;
      const ex = w.experts[e]!;
      const trains = ex.gate.trainable || ex.up.trainable || ex.down.trainable;
      if (m === 0 || (!needDh && !trains)) continue;
      swigluBackward(
        gemm,
        this.Xg.subarray(a * D, (a + m) * D),
        ex.gate.data,
        ex.up.data,
        ex.down.data,
        this.G.subarray(a * I, (a + m) * I),
        this.U.subarray(a * I, (a + m) * I),
        this.S.subarray(a * I, (a + m) * I),
        this.A.subarray(a * I, (a + m) * I),
        s.dYg.subarray(a * D, (a + m) * D),
        needDh ? s.dXg.subarray(a * D, (a + m) * D) : null,
        { dW1: g(ex.gate), dW3: g(ex.up), dW2: g(ex.down) },
        m,
        D,
        I,
      );
    }
    if (!needDh) return;
    const dh = s.dh;
    for (let t = 0; t < n; t++) {
      const o = t * D;
      const r0 = rowOf[t * k]! * D;
      for (let j = 0; j < D; j++) dh[o + j] = dXg[r0 + j]!;
      for (let slot = 1; slot < k; slot++) {
        const r = rowOf[t * k + slot]! * D;
        for (let j = 0; j < D; j++) dh[o + j] = dh[o + j]! + dXg[r + j]!;
      }
    }
    const dProbs = s.dProbs;
    for (let t = 0; t < n; t++) for (let e = 0; e < E; e++) dProbs[t * E + e] = auxGrad[e]!;
    routerBackward(this.probs, this.topIdx, this.topW, s.dTopW, s.dProbs, s.dLogits, n, E, k);
    linearBackward(gemm, this.h, w.router.data, s.dLogits, dh, g(w.router), n, D, E, true);
    rmsNormBackward(x, w.postNorm.data, this.rinv, dh, dx, g(w.postNorm), n, D);
  }
}
