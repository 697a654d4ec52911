/**
 * Picks the training GEMM: native addon → WebAssembly SIMD → plain JS, the first that loads (types.ts).
 * Unlike the engine kernels, implementations may differ in the last bits (fused multiply-add, block
 * order); each is deterministic and independent of its thread count.
 *
 *   BLYAN_KERNELS=native|wasm|js   force one implementation (it is an error if it cannot load)
 *   BLYAN_THREADS=n                threads per call (capped at the number of cores)
 */
import { resolveThreads } from '../../engine/kernels/index.ts';
import { BlyanError } from '../../errors.ts';
import { JsGemm } from './jsGemm.ts';
import { gemmAddonLoadError, NativeGemm } from './native.ts';
import type { Gemm, GemmName, LoadGemmOptions } from './types.ts';
import { gemmWasmLoadError, WasmGemm } from './wasm.ts';

export type { Gemm, GemmName, LoadGemmOptions } from './types.ts';

const NAMES: readonly GemmName[] = ['native', 'wasm', 'js'];

function isName(v: string | undefined): v is GemmName {
  return v !== undefined && (NAMES as readonly string[]).includes(v);
}

function tryLoad(name: GemmName, threads: number): Gemm | string {
  try {
    if (name === 'native') return NativeGemm.create({ threads }) ?? `native addon not built or not loadable (${gemmAddonLoadError()})`;
    if (name === 'wasm') return WasmGemm.create() ?? `wasm gemm not built (${gemmWasmLoadError()})`;
    return new JsGemm();
  } catch (err) {
    return `${name}: ${err instanceof Error ? err.message : String(err)}`;
  }
}

export async function loadGemm(opts: LoadGemmOptions = {}): Promise<Gemm> {
  const threads = resolveThreads(opts.threads);
  const forced = process.env['BLYAN_KERNELS'];
  if (forced !== undefined && forced !== '') {
    if (!isName(forced)) throw new BlyanError('BAD_ARGUMENT', `BLYAN_KERNELS must be one of ${NAMES.join(', ')}, got "${forced}"`);
    const g = tryLoad(forced, threads);
    if (typeof g === 'string') throw new BlyanError('ENGINE_BAD_INPUT', `BLYAN_KERNELS=${forced} cannot be used: ${g}`);
    return g;
  }
  const order = opts.prefer === undefined ? NAMES : [opts.prefer, ...NAMES.filter((n) => n !== opts.prefer)];
  const reasons: string[] = [];
  for (const name of order) {
    const g = tryLoad(name, threads);
    if (typeof g !== 'string') return g;
    reasons.push(g);
  }
  throw new BlyanError('ENGINE_BAD_INPUT', `no gemm could be loaded: ${reasons.join('; ')}`);
}
