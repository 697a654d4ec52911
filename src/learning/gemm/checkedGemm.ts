import { checkSgemm, checkSgemmBatch } from './check.ts';
import type { Gemm, GemmName } from './types.ts';

/**
 * The part every Gemm shares: each call is checked (check.ts) before any memory is touched, and sgemm is
 * the batch of one with zero strides. Implementations supply only `run`, which may assume valid arguments.
 */
export abstract class CheckedGemm implements Gemm {
  abstract readonly name: GemmName;
  abstract readonly threads: number;

  sgemm(transA: boolean, transB: boolean, M: number, N: number, K: number, A: Float32Array, B: Float32Array, C: Float32Array, accumulate: boolean): void {
    checkSgemm(transA, transB, M, N, K, A, B, C, accumulate);
    this.run(1, transA, transB, M, N, K, A, 0, B, 0, C, 0, accumulate);
  }

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
  ): void {
    checkSgemmBatch(count, transA, transB, M, N, K, A, strideA, B, strideB, C, strideC, accumulate);
    this.run(count, transA, transB, M, N, K, A, strideA, B, strideB, C, strideC, accumulate);
  }

  abstract close(): Promise<void>;

  /** `count` products; matrix i of A, B and C starts at element i·stride. Arguments are already checked. */
  protected abstract run(
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
}
