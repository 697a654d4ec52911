import type { BlockStore } from '../chain/store.ts';
import { loadKernels } from '../engine/kernels/index.ts';
import type { Kernels } from '../engine/kernels/types.ts';
import { lineageSource } from '../learning/lineage.ts';
import { type ModelEntry, resolveModel } from '../engine/modelRegistry.ts';
import { MoeModel } from '../engine/moe.ts';
import { BlyanError } from '../errors.ts';
import { resolveDataDir } from './dataDir.ts';
import { openStore } from './openStore.ts';

export interface EngineOptions {
  data?: string;
  model?: string;
  cacheMb?: string;
  threads?: string;
}

export interface EngineContext {
  readonly store: BlockStore;
  readonly entry: ModelEntry;
  readonly model: MoeModel;
  readonly kernels: Kernels;
  close(): Promise<void>;
}

export const DEFAULT_CACHE_MB = 2048;

export function parsePositiveInt(text: string | undefined, what: string, fallback: number): number {
  if (text === undefined) return fallback;
  const n = Number(text);
  if (!Number.isSafeInteger(n) || n <= 0) throw new BlyanError('BAD_ARGUMENT', `${what} must be a whole number > 0, got "${text}"`);
  return n;
}

/** Opens the store, finds the model and builds the engine on the best available kernels. */
export async function openEngine(opts: EngineOptions): Promise<EngineContext> {
  const store = openStore(resolveDataDir(opts.data));
  try {
    const entry = resolveModel(store, opts.model);
    const cacheMb = parsePositiveInt(opts.cacheMb, '--cache-mb', DEFAULT_CACHE_MB);
    const threads = opts.threads === undefined ? undefined : parsePositiveInt(opts.threads, '--threads', 1);
    const kernels = await loadKernels(threads === undefined ? {} : { threads });
    const source = lineageSource(store, entry);
    // Warm the map in the background while the base weights load; close() waits for it.
    const warming = source.warm().catch(() => undefined);
    const model = await MoeModel.load(entry.meta.config, source, kernels, { cacheBytes: cacheMb * 1024 * 1024 });
    return {
      store,
      entry,
      model,
      kernels,
      async close() {
        await warming;
        await kernels.close();
        await store.close();
      },
    };
  } catch (err) {
    await store.close();
    throw err;
  }
}

/** "1,2,3" → [1, 2, 3]. */
export function parseIds(text: string): number[] {
  const parts = text.split(',').map((s) => s.trim());
  if (parts.length === 0 || parts.some((p) => !/^\d+$/.test(p))) {
    throw new BlyanError('BAD_ARGUMENT', `--ids must be comma-separated token ids like 1,2,3, got "${text.slice(0, 60)}"`);
  }
  return parts.map(Number);
}
