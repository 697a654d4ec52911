import { BlyanError } from '../../errors.ts';
import { equalBytes, type Hash, sha256, toHex } from '../hash.ts';
import type { AppendItem, BlockStore } from '../store.ts';
import { malformed } from './errors.ts';
import { readHashed } from './payload.ts';
import { withSource } from './source.ts';
import type { ArchiveProgress, ImportOptions, ImportResult } from './types.ts';
import { type ImportPlan, type PayloadSpan, verifyPass } from './verify.ts';

/*
 * Import is two passes over the file. Pass 1 (verify.ts) streams every section, checks every CID,
 * decodes and verifies every block (standalone and contextual rules) and every payload (hash and tile
 * root, tile by tile, never holding a payload); it keeps only the block records. Pass 2 re-reads the
 * payloads that the store lacks, re-hashes them (the file may have changed in between) and hands
 * everything to one `appendBatch` call: a single LMDB transaction, so the store gets all new blocks or
 * none.
 */

/** Payloads smaller than this are read in groups during pass 2. */
const SMALL_GROUP_BYTES = 1024 * 1024;

/**
 * Imports an archive (a file path, or the archive's bytes) into the store: verifies everything first
 * (pass 1, streaming), then re-reads the payloads the store lacks and adds every new block in one
 * atomic `appendBatch` (pass 2). Blocks the store already has are skipped. Any failure throws a
 * BlyanError naming the block and the rule, and leaves the store untouched.
 */
export async function importArchive(store: BlockStore, input: string | Uint8Array, opts: ImportOptions = {}): Promise<ImportResult> {
  const now = opts.now ?? Date.now();
  const plan = await withSource(input, async (src) => {
    const total = 2 * src.size;
    return verifyPass(store, src, now, (done) => opts.onProgress?.(done, total));
  });
  const total = 2 * plan.size;
  if (plan.newBlocks.length === 0) {
    opts.onProgress?.(total, total);
    return { added: 0, skipped: plan.skipped, blocks: plan.blocks, bytes: plan.size };
  }

  const bytes = await readPayloads(input, plan, opts.onProgress);

  const items: AppendItem[] = plan.newBlocks.map((block) => ({ block, payload: bytes.get(toHex(block.header.payloadHash)) }));
  try {
    store.appendBatch(items, { verified: true, now });
  } catch (err) {
    // Everything was verified against the store as it was in pass 1; only a concurrent change to the
    // store (another import, sync) can make the commit fail. appendBatch is atomic: nothing was written.
    if (!(err instanceof BlyanError)) throw err;
    throw new BlyanError(err.code, `archive import not committed (did the store change while the archive was being verified?): ${err.message}`, err.data, { cause: err });
  }
  opts.onProgress?.(total, total);
  return { added: plan.newBlocks.length, skipped: plan.skipped, blocks: plan.blocks, bytes: plan.size };
}

/**
 * Pass 2: the payloads the store lacks, by hex payload hash. They are all held until the single
 * appendBatch (docs/archive.md, "Limits and memory"); each is re-hashed, since the file may have changed since
 * pass 1. Progress covers up to 90 % of the second half of `2 × plan.size`.
 */
async function readPayloads(input: string | Uint8Array, plan: ImportPlan, onProgress: ArchiveProgress | undefined): Promise<Map<string, Uint8Array>> {
  const total = 2 * plan.size;
  return withSource(input, async (src) => {
    if (src.size !== plan.size) throw malformed(`archive changed between the verify and write passes (size ${plan.size} → ${src.size})`);
    const out = new Map<string, Uint8Array>();
    let need = 0;
    for (const p of plan.payloads.values()) need += p.length;
    let done = 0;
    const accept = (key: string, p: PayloadSpan, buf: Uint8Array, hash: Hash) => {
      if (!equalBytes(hash, p.hash)) {
        throw new BlyanError('ARCHIVE_CID_MISMATCH', `payload ${key} at byte ${p.position} changed between the verify and write passes`, {
          block: { payload: key, offset: p.position },
        });
      }
      out.set(key, buf);
      done += buf.byteLength;
      onProgress?.(plan.size + Math.floor((done / need) * plan.size * 0.9), total);
    };
    const list = [...plan.payloads.entries()].sort((a, b) => a[1].position - b[1].position);
    for (let i = 0; i < list.length; ) {
      const [key, p] = list[i] as [string, PayloadSpan];
      if (src.view !== undefined || p.length >= SMALL_GROUP_BYTES) {
        const { buf, hash } = await readHashed(src, p.position, p.length);
        accept(key, p, buf, hash);
        i++;
        continue;
      }
      // Small payloads close together: one read for the group, each payload a view on it.
      let j = i + 1;
      while (j < list.length) {
        const q = (list[j] as [string, PayloadSpan])[1];
        if (q.length >= SMALL_GROUP_BYTES || q.position + q.length - p.position > SMALL_GROUP_BYTES) break;
        j++;
      }
      const last = (list[j - 1] as [string, PayloadSpan])[1];
      const span = last.position + last.length - p.position;
      const group = new Uint8Array(Buffer.allocUnsafeSlow(span).buffer, 0, span);
      await src.read(group, span, p.position);
      for (let k = i; k < j; k++) {
        const [qk, q] = list[k] as [string, PayloadSpan];
        const view = group.subarray(q.position - p.position, q.position - p.position + q.length);
        accept(qk, q, view, sha256(view));
      }
      i = j;
    }
    return out;
  });
}
