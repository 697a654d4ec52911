import { equalBytes, toHex } from '../chain/hash.ts';
import type { AppendItem, BlockStore } from '../chain/store.ts';
import { BlyanError } from '../errors.ts';
import type { LedgerStore } from './ledgerStore.ts';

/**
 * With a PostgreSQL ledger, chain C is written to PostgreSQL (the store several processes share), not to any
 * one process's block store. This brings a block store's chain C up to the store's: each missing block is
 * appended through BlockStore.appendBatch without `verified`, so it passes every chain rule a block from a peer
 * would (PoW, signature, payload hash, index and prev). Returns the number of blocks appended.
 */
export async function importChain(
  store: LedgerStore,
  blocks: BlockStore,
  pageSize = 64,
  /** How a page is appended (the ledger marks its own appends, which its gate lets through). */
  append: (items: AppendItem[]) => void = (items) => blocks.appendBatch(items),
): Promise<number> {
  const head = blocks.headOf('C');
  if (head !== undefined) {
    const [same] = await store.chainFrom(head.header.index, 1);
    if (same !== undefined && !equalBytes(same.block.id, head.id)) {
      throw new BlyanError('STORE_CORRUPT', `the local chain C diverges from the ledger store's at C:${head.header.index} (${toHex(head.id)} ≠ ${toHex(same.block.id)})`, {
        index: head.header.index,
      });
    }
  }
  let imported = 0;
  for (;;) {
    const local = blocks.headOf('C');
    const page = await store.chainFrom(local === undefined ? 0 : local.header.index + 1, pageSize);
    if (page.length === 0) return imported;
    append(page.map((e) => ({ block: e.block, payload: e.payload })));
    imported += page.length;
  }
}
