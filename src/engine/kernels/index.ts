/**
 * Picks the kernels: native addon → WebAssembly SIMD → plain JS, the first that loads. All three give
 * bitwise identical results (types.ts), so the choice changes speed only.
 *
 *   BLYAN_KERNELS=native|wasm|js   force one implementation (it is an error if it cannot load)
 *   BLYAN_THREADS=n                threads per call (capped at the number of cores)
 */
import { availableParallelism } from 'node:os';
import { BlyanError } from '../../errors.ts';
import { JsKernels } from './js.ts';
import { addonLoadError, NativeKernels } from './native.ts';
import type { Kernels, KernelsName, LoadKernelsOptions } from './types.ts';
import { WasmKernels, wasmLoadError } from './wasm.ts';

export type { Kernels, KernelsName, LoadKernelsOptions, WeightDType, WeightMatrix } from './types.ts';

const NAMES: readonly KernelsName[] = ['native', 'wasm', 'js'];

function isName(v: string | undefined): v is KernelsName {
  return v !== undefined && (NAMES as readonly string[]).includes(v);
}

/** min(cores, opts.threads ?? BLYAN_THREADS ?? cores), at least 1. */
export function resolveThreads(requested?: number): number {
  const cores = Math.max(1, availableParallelism());
  const env = Number(process.env['BLYAN_THREADS']);
  const want = requested ?? (Number.isSafeInteger(env) && env > 0 ? env : cores);
  if (!Number.isSafeInteger(want) || want < 1) throw new BlyanError('BAD_ARGUMENT', `threads must be a whole number ≥ 1, got ${want}`);
  return Math.min(cores, want);
}

async function tryLoad(name: KernelsName, threads: number, opts: LoadKernelsOptions): Promise<Kernels | string> {
  try {
    if (name === 'native') return NativeKernels.create({ threads }) ?? `native addon not built or not loadable (${addonLoadError()})`;
    if (name === 'wasm') {
      const k = await WasmKernels.create({ threads, ...(opts.wasmCacheBytes === undefined ? {} : { cacheBytes: opts.wasmCacheBytes }) });
      return k ?? `wasm kernels not built (${wasmLoadError()})`;
    }
    return new JsKernels();
  } catch (err) {
    return `${name}: ${err instanceof Error ? err.message : String(err)}`;
  }
}

export async function loadKernels(opts: LoadKernelsOptions = {}): Promise<Kernels> {
  const threads = resolveThreads(opts.threads);
  const forced = process.env['BLYAN_KERNELS'];
  if (forced !== undefined && forced !== '') {
    if (!isName(forced)) throw new BlyanError('BAD_ARGUMENT', `BLYAN_KERNELS must be one of ${NAMES.join(', ')}, got "${forced}"`);
    const k = await tryLoad(forced, threads, opts);
    if (typeof k === 'string') throw new BlyanError('ENGINE_BAD_INPUT', `BLYAN_KERNELS=${forced} cannot be used: ${k}`);
    return k;
  }
  const order = opts.prefer === undefined ? NAMES : [opts.prefer, ...NAMES.filter((n) => n !== opts.prefer)];
  const reasons: string[] = [];
  for (const name of order) {
    const k = await tryLoad(name, threads, opts);
    if (typeof k !== 'string') return k;
    reasons.push(k);
  }
  throw new BlyanError('ENGINE_BAD_INPUT', `no kernels could be loaded: ${reasons.join('; ')}`);
}
