import { CheckedGemm } from './checkedGemm.ts';

/** Plain-JS reference implementation of Gemm (slow; the oracle of the fast ones and the last fallback). */
export class JsGemm extends CheckedGemm {
  readonly name = 'js' as const;
  readonly threads = 1;

  async close(): Promise<void> {}

  protected override run(
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
    for (let i = 0; i < count; i++) product(transA, transB, M, N, K, A, i * strideA, B, i * strideB, C, i * strideC, accumulate);
  }
}

/** One product with A, B, C starting at element offsets a0, b0, c0; sums in float64, rounded once. */
function product(
  transA: boolean,
  transB: boolean,
  M: number,
  N: number,
  K: number,
  A: Float32Array,
  a0: number,
  B: Float32Array,
  b0: number,
  C: Float32Array,
  c0: number,
  accumulate: boolean,
): void {
  const row = new Float64Array(N);
  for (let i = 0; i < M; i++) {
    row.fill(0);
    for (let k = 0; k < K; k++) {
      const a = transA ? (A[a0 + k * M + i] as number) : (A[a0 + i * K + k] as number);
      if (transB) for (let j = 0; j < N; j++) row[j] = (row[j] as number) + a * (B[b0 + j * K + k] as number);
      else {
        const off = b0 + k * N;
        for (let j = 0; j < N; j++) row[j] = (row[j] as number) + a * (B[off + j] as number);
      }
    }
    const off = c0 + i * N;
    if (accumulate) for (let j = 0; j < N; j++) C[off + j] = (C[off + j] as number) + (row[j] as number);
    else for (let j = 0; j < N; j++) C[off + j] = row[j] as number;
  }
}
