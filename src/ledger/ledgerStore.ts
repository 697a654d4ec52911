import type { LedgerParams } from './params.ts';
import type { Account, Hold, LedgerDiff, LedgerReader, Posting } from './state.ts';
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

/**
 * Where ledger state lives. Reads are synchronous (applyBlock is pure over a LedgerReader); `write`
 * commits one block's diff and must be atomic with the block itself (LMDB: inside the block store's
 * write transaction, see lmdbStore.ts).
 */
export interface LedgerStore extends LedgerReader {
  readonly params: LedgerParams;
  /** Chain C index of the last applied block; −1 before the ledger genesis. */
  height(): number;
  write(diff: LedgerDiff, idempotency?: readonly IdempotencyRecord[]): void;
  idempotency(key: string): IdempotencyRecord | undefined;
  /** Postings that debit or credit `addr`, newest first. */
  history(addr: Hex20, limit?: number): Posting[];
  accounts(): Iterable<[Hex20, Account]>;
  holds(): Iterable<Hold>;
  quotaEntries(): Iterable<[string, number]>;
  paidRewards(): Iterable<string>;
  /** Every posting ever written, in chain order. */
  postings(): Iterable<Posting>;
  /** Runs `fn` in one atomic write transaction. */
  transaction<T>(fn: () => T): T;
}
