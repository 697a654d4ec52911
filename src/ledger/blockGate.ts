import { toHex } from '../chain/hash.ts';
import type { Block } from '../chain/types.ts';
import { BlyanError, isBlyanError } from '../errors.ts';
import { checkLedgerBlock } from './blockRules.ts';
import { LayeredState } from './layeredState.ts';
import type { LedgerParams } from './params.ts';
import type { LedgerDiff, LedgerReader } from './state.ts';

/**
 * The ledger's gate on chain-C blocks arriving from the network (gossip, sync): every block of an append batch
 * is checked against the ledger state at its parent before the batch is stored (docs/ledger.md §9.4).
 *
 * Ordering. The block store may be ahead of the ledger (blocks stored but not yet caught up: catch-up is lazy),
 * and a sync batch holds many consecutive blocks. So the state at a block's parent is the committed state plus
 * the dry-run diffs of every chain-C block from the ledger's height + 1 up to that parent, in index order: the
 * stored ones first, then the batch's own. Nothing is written: the block store keeps the blocks, and catch-up
 * applies them (the diffs computed here can be handed to it, see `remember`). So an honest chain syncs in any
 * batch sizes, and an invalid block is refused whatever else arrived with it.
 */
export interface IncomingBlock {
  readonly block: Block;
  /** Absent when the payload is empty or already stored. */
  readonly payload?: Uint8Array | undefined;
}

export interface GateSource {
  /** The committed ledger state and the chain-C index it is at. */
  readonly state: LedgerReader;
  readonly height: number;
  /** A chain-C block this node already stores (index ≤ the head the batch extends), with its payload. */
  readonly stored: (index: number) => { readonly block: Block; readonly payload: Uint8Array };
  /** A stored payload by hash (a batch item may leave out a payload the store already holds). */
  readonly payloadOf: (payloadHash: Uint8Array) => Uint8Array | undefined;
  /** The ledger parameters in force at block time t (chain A). */
  readonly paramsAt: (t: number) => LedgerParams;
  /** A diff computed earlier for this block under these very parameters, if kept. */
  readonly known?: (block: Block, p: LedgerParams) => LedgerDiff | undefined;
  readonly remember?: (block: Block, p: LedgerParams, diff: LedgerDiff) => void;
}

/**
 * Checks the chain-C blocks among `items` (already in chain order and past the chain rules). Throws
 * LEDGER_NOT_PRODUCER or LEDGER_BLOCK_INVALID for the first batch block that breaks a ledger rule, and
 * STORE_CORRUPT when a block this node stored earlier does not apply (not the sender's fault: the ledger is
 * stuck at that block whatever arrives).
 */
export function checkIncoming(items: readonly IncomingBlock[], src: GateSource): void {
  const incoming = items.filter((it) => it.block.header.chain === 'C').sort((a, b) => a.block.header.index - b.block.header.index);
  const first = incoming[0];
  if (first === undefined) return;
  const start = first.block.header.index;
  if (src.height >= start) {
    throw new BlyanError('STORE_CORRUPT', `the ledger is at C:${src.height} but the block store is still to receive C:${start}`, { height: src.height, block: start });
  }
  const state = new LayeredState(src.state);
  const step = (block: Block, payload: Uint8Array): void => {
    const p = src.paramsAt(block.header.time);
    const known = src.known?.(block, p);
    const diff = known ?? checkLedgerBlock(state, block.header, payload, p);
    if (known === undefined) src.remember?.(block, p, diff);
    state.push(diff);
  };
  for (let i = src.height + 1; i < start; i++) {
    const { block, payload } = src.stored(i);
    try {
      step(block, payload);
    } catch (err) {
      if (!isBlyanError(err)) throw err;
      throw new BlyanError('STORE_CORRUPT', `C:${i}, stored earlier, does not apply (${err.message}); the ledger stops there`, { block: i }, { cause: err });
    }
  }
  // Within the batch the chain rules made the indexes consecutive; a payload left out is stored or earlier in the batch.
  const staged = new Map<string, Uint8Array>();
  for (const { block, payload } of incoming) {
    const h = block.header;
    const key = toHex(h.payloadHash);
    if (payload !== undefined) staged.set(key, payload);
    const bytes = h.payloadSize === 0 ? new Uint8Array(0) : (payload ?? staged.get(key) ?? src.payloadOf(h.payloadHash));
    if (bytes === undefined) throw new BlyanError('BLOCK_PAYLOAD_MISSING', `C:${h.index} arrived without its payload`);
    step(block, bytes);
  }
}
