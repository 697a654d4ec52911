import type { Preset } from '../chain/presets.ts';
import type { Block } from '../chain/types.ts';
import type { LedgerParams } from './params.ts';
import type { Account, Hold, LedgerDiff, Posting } from './state.ts';
import type { StateKeys } from './storeKeys.ts';
import type { LedgerSnapshot } from './storeSnapshot.ts';
import type { Hex20 } from './systemAccounts.ts';
import type { Hex32, TxKind } from './txTypes.ts';

/** What a submitted transaction produced; a retry with the same idempotency key gets this same object back. */
export interface TxReceipt {
  readonly txId: Hex32;
  readonly kind: TxKind;
  readonly from: Hex20;
  /** Chain C index and id (hex) of the block that holds the transaction, and its position in the batch. */
  readonly block: number;
  readonly blockId: string;
  readonly index: number;
}

/** Node-local (not consensus) record: which request an idempotency key was first used for, and its result. */
export interface IdempotencyRecord {
  readonly key: string;
  readonly kind: TxKind;
  readonly from: Hex20;
  readonly receipt: TxReceipt;
}

/** A chain-C block as a store keeps it. */
export interface ChainEntry {
  readonly block: Block;
  readonly payload: Uint8Array;
}

/** One block to commit: the block, its payload, the state it produces and the idempotency records of its txs. */
export interface BatchPlan {
  readonly block: Block;
  readonly payload: Uint8Array;
  readonly diff: LedgerDiff;
  readonly idempotency: readonly IdempotencyRecord[];
}

/** Everything a store holds, read as one consistent snapshot (the audit reads this). */
export interface LedgerView {
  /** Chain C index of the last applied block. */
  readonly height: number;
  /** C:0 … C:height, in order: the blocks the state was computed from. */
  chain(): AsyncIterable<ChainEntry>;
  accounts(): AsyncIterable<[Hex20, Account]>;
  holds(): AsyncIterable<Hold>;
  quotas(): AsyncIterable<[string, number]>;
  paidRewards(): AsyncIterable<string>;
  /** Every posting, in chain order. */
  postings(): AsyncIterable<Posting>;
}

/**
 * Where ledger state (and, for PostgreSQL, chain C itself) lives. Two implementations pass the same
 * compliance suite (test/ledger/compliance.ts): LmdbLedgerStore (embedded, default: a side database of the
 * block store) and PgLedgerStore (several node processes on one ledger). docs/ledger.md §9 has the protocol.
 *
 * The interface is asynchronous (PostgreSQL is); applying transactions is not: the Ledger names the keys a
 * batch can touch, the store loads them as a LedgerSnapshot, and the pure applyTx runs over that.
 */
export interface LedgerStore {
  readonly kind: 'lmdb' | 'postgres';
  readonly preset: Preset;
  readonly params: LedgerParams;
  /** A consistent read of `keys` and the head it is at (for queries; it takes no lock). */
  load(keys: StateKeys): Promise<LedgerSnapshot>;
  /**
   * Commits at most one block on the current head, atomically with its diff and idempotency records. Under the
   * store's write lock it loads `keys`, calls `build` (synchronous; called once) on that snapshot, and writes what
   * build returns, or nothing when it returns undefined. Resolves true when a block was written. Because the
   * snapshot is read under the lock, another writer cannot commit in between: the block always extends the head.
   * Throws StaleHeadError if the head moved anyway (a writer that ignored the protocol); the caller may retry.
   */
  writeBatch(keys: StateKeys, build: (snap: LedgerSnapshot) => BatchPlan | undefined): Promise<boolean>;
  /** Postings that debit or credit `addr`, newest first. */
  historyOf(addr: Hex20, limit: number): Promise<Posting[]>;
  /** Chain-C blocks from index `from` (inclusive), at most `limit` of them, in order. */
  chainFrom(from: number, limit: number): Promise<ChainEntry[]>;
  /** Runs `fn` over one consistent, read-only view of everything stored. */
  withView<T>(fn: (view: LedgerView) => Promise<T>): Promise<T>;
  close(): Promise<void>;
}

/** The head moved between the snapshot and the write: nothing was written, the batch can be rebuilt. */
export class StaleHeadError extends Error {
  constructor(why: string) {
    super(`chain C head moved under the batch: ${why}`);
    this.name = 'StaleHeadError';
  }
}
