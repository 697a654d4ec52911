import type { Gemm } from '../gemm/types.ts';
import { fastExp } from './fastExp.ts';

/**
 * One SwiGLU expert (Mixtral w1 gate, w3 up, w2 down) on n gathered rows:
 * G = X·W1ᵀ, U = X·W3ᵀ, S = σ(G), A = silu(G) ⊙ U = G ⊙ S ⊙ U, Y = A·W2ᵀ. G, U, S and A are kept for the
 * backward pass (S saves recomputing the exponentials there).
 */
export function swigluForward(
  gemm: Gemm,
  X: Float32Array,
  W1: Float32Array,
  W3: Float32Array,
  W2: Float32Array,
  G: Float32Array,
  U: Float32Array,
  S: Float32Array,
  A: Float32Array,
  Y: Float32Array,
  n: number,
  D: number,
  I: number,
): void {
  gemm.sgemm(false, true, n, I, D, X, W1, G, false);
  gemm.sgemm(false, true, n, I, D, X, W3, U, false);
  const m = n * I;
  for (let i = 0; i < m; i++) {
    const g = G[i]!;
    const sig = 1 / (1 + fastExp(-g));
    S[i] = sig;
    A[i] = g * sig * U[i]!;
  }
  gemm.sgemm(false, true, n, D, I, A, W2, Y, false);
}

export interface SwigluGrads {
  readonly dW1: Float32Array | null;
  readonly dW3: Float32Array | null;
  readonly dW2: Float32Array | null;
}

/**
 * Backward of swigluForward. Consumes the saved activations: A becomes dA, G becomes dG, U becomes dU.
 * Weight gradients accumulate (+=); dX is overwritten (null: not needed).
 */
export function swigluBackward(
  gemm: Gemm,
  X: Float32Array,
  W1: Float32Array,
  W3: Float32Array,
  W2: Float32Array,
  G: Float32Array,
  U: Float32Array,
  S: Float32Array,
  A: Float32Array,
  dY: Float32Array,
  dX: Float32Array | null,
  grads: SwigluGrads,
  n: number,
  D: number,
  I: number,
): void {
  if (grads.dW2 !== null) gemm.sgemm(true, false, D, I, n, dY, A, grads.dW2, true);
  gemm.sgemm(false, false, n, I, D, dY, W2, A, false);
  const m = n * I;
  for (let i = 0; i < m; i++) {
    const g = G[i]!;
    const u = U[i]!;
    const da = A[i]!;
    const sig = S[i]!;
    G[i] = da * u * sig * (1 + g * (1 - sig));
    U[i] = da * g * sig;
  }
  if (grads.dW1 !== null) gemm.sgemm(true, false, I, D, n, G, X, grads.dW1, true);
  if (grads.dW3 !== null) gemm.sgemm(true, false, I, D, n, U, X, grads.dW3, true);
  if (dX !== null) {
    gemm.sgemm(false, false, n, D, I, G, W1, dX, false);
    gemm.sgemm(false, false, n, D, I, U, W3, dX, true);
  }
}
