import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

/**
 * LMDB mallocs a buffer the size of each large value it writes (its overflow pages) and frees it after the
 * commit. With glibc's defaults such a buffer comes from mmap or from heap memory that is trimmed back to the
 * kernel when freed, so each 16 MiB payload written costs 4096 page faults — measured as a third of a
 * joining node's CPU on a 2-core VM, and the main cause of run-to-run swings in sync speed
 * (docs/sync-protocol.md §11). These thresholds keep buffers up to 32 MiB in the heap and let up to 256 MiB of
 * freed memory stay there for the next commit.
 */
export const MMAP_THRESHOLD_BYTES = 32 * 1024 * 1024;
export const TRIM_THRESHOLD_BYTES = 256 * 1024 * 1024;

let applied: boolean | undefined;

/**
 * Applies the thresholds once per process (src/chain/store.ts calls it when it opens a store). No effect, and
 * false, without glibc or the `blyan_process` addon, when `$GLIBC_TUNABLES` already sets malloc tunables
 * (the operator's choice wins), or with `BLYAN_MALLOC_TUNING=0`.
 */
export function tuneMallocForLmdb(): boolean {
  if (applied !== undefined) return applied;
  applied = false;
  if (process.env.BLYAN_MALLOC_TUNING === '0' || (process.env.GLIBC_TUNABLES ?? '').includes('glibc.malloc.')) return applied;
  try {
    const path = fileURLToPath(new URL('../../build/Release/blyan_process.node', import.meta.url));
    const addon = createRequire(import.meta.url)(path) as { tuneMalloc: (mmapThreshold: number, trimThreshold: number) => boolean };
    applied = addon.tuneMalloc(MMAP_THRESHOLD_BYTES, TRIM_THRESHOLD_BYTES);
  } catch {
    // Not built (no C compiler at install) or another platform: LMDB works the same, only slower to write.
  }
  return applied;
}
