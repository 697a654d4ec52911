import type { Gemm } from '../gemm/types.ts';
import { fastExp } from './fastExp.ts';

/**
 * Causal softmax attention over head-major tensors: for each of `BH` (batch × head) blocks,
 * P = softmax(mask(Q·Kᵀ / √hd)) [T, T] and O = P·V [T, hd]. P is kept for the backward pass.
 */
export function attentionForward(gemm: Gemm, Q: Float32Array, K: Float32Array, V: Float32Array, P: Float32Array, O: Float32Array, BH: number, T: number, hd: number): void {
  const blk = T * hd;
  const TT = T * T;
  gemm.sgemmBatch(BH, false, true, T, T, hd, Q, blk, K, blk, P, TT, false);
  const scale = 1 / Math.sqrt(hd);
  for (let bh = 0; bh < BH; bh++) {
    for (let t = 0; t < T; t++) {
      const r = bh * TT + t * T;
      let max = Number.NEGATIVE_INFINITY;
      for (let j = 0; j <= t; j++) {
        const v = P[r + j]! * scale;
        if (v > max) max = v;
      }
      let sum = 0;
      for (let j = 0; j <= t; j++) {
        const e = fastExp(P[r + j]! * scale - max);
        P[r + j] = e;
        sum += e;
      }
      const inv = 1 / sum;
      for (let j = 0; j <= t; j++) P[r + j] = P[r + j]! * inv;
      for (let j = t + 1; j < T; j++) P[r + j] = 0;
    }
  }
  gemm.sgemmBatch(BH, false, false, T, hd, T, P, TT, V, blk, O, blk, false);
}

/**
 * Backward of attentionForward: dV = Pᵀ·dO, dP = dO·Vᵀ, dS = P ⊙ (dP − rowsum(P ⊙ dP)) / √hd,
 * dQ = dS·K, dK = dSᵀ·Q. `dP` is scratch of P's size.
 */
export function attentionBackward(
  gemm: Gemm,
  Q: Float32Array,
  K: Float32Array,
  V: Float32Array,
  P: Float32Array,
  dO: Float32Array,
  dP: Float32Array,
  dQ: Float32Array,
  dK: Float32Array,
  dV: Float32Array,
  BH: number,
  T: number,
  hd: number,
): void {
  const blk = T * hd;
  const TT = T * T;
  gemm.sgemmBatch(BH, true, false, T, hd, T, P, TT, dO, blk, dV, blk, false);
  gemm.sgemmBatch(BH, false, true, T, T, hd, dO, blk, V, blk, dP, TT, false);
  const scale = 1 / Math.sqrt(hd);
  for (let bh = 0; bh < BH; bh++) {
    for (let t = 0; t < T; t++) {
      const r = bh * TT + t * T;
      let dot = 0;
      for (let j = 0; j <= t; j++) dot += P[r + j]! * dP[r + j]!;
      for (let j = 0; j <= t; j++) dP[r + j] = P[r + j]! * (dP[r + j]! - dot) * scale;
      for (let j = t + 1; j < T; j++) dP[r + j] = 0;
    }
  }
  gemm.sgemmBatch(BH, false, false, T, hd, T, dP, TT, K, blk, dQ, blk, false);
  gemm.sgemmBatch(BH, true, false, T, hd, T, dP, TT, Q, blk, dK, blk, false);
}
