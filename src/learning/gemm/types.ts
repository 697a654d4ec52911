/**
 * Dense f32 matrix products for training (forward and backward of every linear layer, attention scores).
 * Unlike the engine's inference kernels (src/engine/kernels, a canonical bit-exact dot product over stored
 * weights), training needs throughput on f32 activations in all three transpose patterns; results may differ
 * between instruction sets in the last bits, but never with the thread count or between runs on one machine
 * (threads split C into tiles, never a sum over K).
 *
 * All matrices are row-major Float32Arrays (views with any element offset are fine).
 *   op(A) is A (stored M×K) or, with transA, Aᵀ where A is stored K×M.
 *   op(B) is B (stored K×N) or, with transB, Bᵀ where B is stored N×K.
 *   C (M×N) = op(A)·op(B), or C += op(A)·op(B) when accumulate is true.
 * Leading dimensions are the stored row lengths (no padding). C must not overlap A or B.
 * Bad arguments (sizes that do not fit the arrays, non-integers, overlapping C) throw
 * BlyanError('ENGINE_BAD_INPUT') before any memory is touched.
 */
export interface Gemm {
  readonly name: 'native' | 'wasm' | 'js';
  /** Threads that share each call (the calling thread included). */
  readonly threads: number;
  sgemm(
    transA: boolean,
    transB: boolean,
    M: number,
    N: number,
    K: number,
    A: Float32Array,
    B: Float32Array,
    C: Float32Array,
    accumulate: boolean,
  ): void;
  /**
   * `count` independent products in one call (one thread wake-up), e.g. attention per batch × head:
   * product i reads A at element offset i·strideA, B at i·strideB and writes C at i·strideC (each matrix
   * stored densely as above). Strides of A and B may be 0 (the same matrix for every product); C's
   * matrices must not overlap (strideC ≥ M·N when count > 1).
   */
  sgemmBatch(
    count: number,
    transA: boolean,
    transB: boolean,
    M: number,
    N: number,
    K: number,
    A: Float32Array,
    strideA: number,
    B: Float32Array,
    strideB: number,
    C: Float32Array,
    strideC: number,
    accumulate: boolean,
  ): void;
  close(): Promise<void>;
}

export type GemmName = Gemm['name'];

export interface LoadGemmOptions {
  /** Try this implementation first (default: native → wasm → js). BLYAN_KERNELS overrides. */
  readonly prefer?: GemmName;
  /** Threads per call (default BLYAN_THREADS or the number of cores; capped at the cores). */
  readonly threads?: number;
}
