import type { ChainView } from '../dag.ts';
import { type Hash, toHex } from '../hash.ts';
import type { BlockStore } from '../store.ts';
import type { Block, BlockHeader, LinearChain } from '../types.ts';

/** Contextual view for pass 1: the store plus the archive's new blocks checked so far. */
export class ImportView implements ChainView {
  private readonly staged = new Map<string, BlockHeader>();
  private readonly heads = new Map<LinearChain, { id: Hash; header: BlockHeader }>();

  constructor(private readonly store: BlockStore) {}

  header(id: Hash): BlockHeader | undefined {
    return this.staged.get(toHex(id)) ?? this.store.header(id);
  }

  head(chain: LinearChain): { id: Hash; header: BlockHeader } | undefined {
    return this.heads.get(chain) ?? this.store.head(chain);
  }

  add(block: Block): void {
    this.staged.set(toHex(block.id), block.header);
    if (block.header.chain !== 'B') this.heads.set(block.header.chain, { id: block.id, header: block.header });
  }
}
