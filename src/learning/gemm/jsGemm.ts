import type { Gemm } from './types.ts';

/** Plain-JS reference implementation of Gemm (slow; the oracle of the fast ones and the last fallback). */
export class JsGemm implements Gemm {
  readonly name = 'js' as const;
  readonly threads = 1;

  sgemm(transA: boolean, transB: boolean, M: number, N: number, K: number, A: Float32Array, B: Float32Array, C: Float32Array, accumulate: boolean): void {
    const row = new Float64Array(N);
    for (let i = 0; i < M; i++) {
      row.fill(0);
      for (let k = 0; k < K; k++) {
        const a = transA ? (A[k * M + i] as number) : (A[i * K + k] as number);
        if (transB) for (let j = 0; j < N; j++) row[j] = (row[j] as number) + a * (B[j * K + k] as number);
        else {
          const off = k * N;
          for (let j = 0; j < N; j++) row[j] = (row[j] as number) + a * (B[off + j] as number);
        }
      }
      const off = i * N;
      if (accumulate) for (let j = 0; j < N; j++) C[off + j] = (C[off + j] as number) + (row[j] as number);
      else for (let j = 0; j < N; j++) C[off + j] = row[j] as number;
    }
  }

  async close(): Promise<void> {}
}
