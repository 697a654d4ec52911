import type { Gemm } from '../gemm/types.ts';

/** Y[n, out] = X[n, in] · Wᵀ, W stored [out, in] (Hugging Face / PyTorch nn.Linear, no bias). */
export function linearForward(gemm: Gemm, X: Float32Array, W: Float32Array, Y: Float32Array, n: number, inF: number, outF: number): void {
  gemm.sgemm(false, true, n, outF, inF, X, W, Y, false);
}

/**
 * dX (=, or += with accumulateDx) dY · W and dW += dYᵀ · X. Pass null to skip either (a frozen weight,
 * or an input whose gradient nobody needs).
 */
export function linearBackward(
  gemm: Gemm,
  X: Float32Array,
  W: Float32Array,
  dY: Float32Array,
  dX: Float32Array | null,
  dW: Float32Array | null,
  n: number,
  inF: number,
  outF: number,
  accumulateDx: boolean,
): void {
  if (dW !== null) gemm.sgemm(true, false, outF, inF, n, dY, X, dW, true);
  if (dX !== null) gemm.sgemm(false, false, n, inF, outF, dY, W, dX, accumulateDx);
}
