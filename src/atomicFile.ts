import { closeSync, fsyncSync, openSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';

/**
 * Writes a small file so that a crash leaves the old file or the whole new one, never a torn one: a temporary
 * file beside it (same file system, so the rename is atomic), synced, then renamed over it. The temporary file
 * is removed if anything fails. For the node's own bookkeeping files (run file, peer key, peer scores, ledger
 * mode); the wallet keystore has its own asynchronous variant (src/wallet/walletStore.ts).
 */
export function writeFileAtomicSync(path: string, data: string | Uint8Array, opts: { readonly mode?: number } = {}): void {
  const tmp = join(dirname(path), `.${basename(path)}.${process.pid}.tmp`);
  try {
    const fd = openSync(tmp, 'w', opts.mode ?? 0o644);
    try {
      writeFileSync(fd, data);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, path);
  } catch (err) {
    rmSync(tmp, { force: true });
    throw err;
  }
}
