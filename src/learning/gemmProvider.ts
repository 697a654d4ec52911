import { loadGemm } from './gemm/index.ts';
import type { Gemm, LoadGemmOptions } from './gemm/types.ts';

/** The fastest Gemm available for training (native → wasm → js, BLYAN_KERNELS overrides). */
export function trainingGemm(opts: LoadGemmOptions = {}): Promise<Gemm> {
  return loadGemm(opts);
}
