import type { ChainView } from '../../chain/dag.ts';
import { type Hash, toHex } from '../../chain/hash.ts';
import type { BlockStore } from '../../chain/store.ts';
import type { Block, BlockHeader, LinearChain } from '../../chain/types.ts';

/**
 * The store plus the headers this sync round has verified but not yet appended (their payloads are
 * still coming), as a ChainView: the contextual rules of src/chain/dag.ts run against it unchanged.
 */
export class SyncView implements ChainView {
  private readonly pending = new Map<string, BlockHeader>();
  private readonly pendingHeads = new Map<LinearChain, { id: Hash; header: BlockHeader }>();

  constructor(readonly store: BlockStore) {}

  header(id: Hash): BlockHeader | undefined {
    return this.pending.get(toHex(id)) ?? this.store.header(id);
  }

  head(chain: LinearChain): { id: Hash; header: BlockHeader } | undefined {
    return this.pendingHeads.get(chain) ?? this.store.head(chain);
  }

  has(id: Hash): boolean {
    return this.pending.has(toHex(id)) || this.store.has(id);
  }

  /** Index the next block of a linear chain must have. */
  nextIndex(chain: LinearChain): number {
    const h = this.head(chain);
    return h === undefined ? 0 : h.header.index + 1;
  }

  add(block: Block): void {
    this.pending.set(toHex(block.id), block.header);
    if (block.header.chain !== 'B') this.pendingHeads.set(block.header.chain, { id: block.id, header: block.header });
  }
}
