import type { Hex20 } from './systemAccounts.ts';
import type { Hex32 } from './txTypes.ts';

/** One account's ledger state. System accounts have the same shape. */
export interface Account {
  readonly balance: bigint;
  /** The smallest nonce the next transaction may use (replay protection: nonces only go up). */
  readonly nonce: bigint;
  /** BLY this account has staked (held by the stake vault). */
  readonly stake: bigint;
  /** Everything ever paid to this account as rewards (drives the trust level). */
  readonly rewards: bigint;
}

export const EMPTY_ACCOUNT: Account = { balance: 0n, nonce: 0n, stake: 0n, rewards: 0n };

export type HoldState = 'authorized' | 'credited' | 'released' | 'refunded';

/** A query payment after Authorize (docs/ledger.md §7). Keyed by quote id, which is also its idempotency key. */
export interface Hold {
  readonly quoteId: Hex32;
  readonly user: Hex20;
  readonly provider: Hex20;
  readonly maxTokens: bigint;
  /** What Authorize moved to escrow (0 for a free-tier request). */
  readonly amount: bigint;
  readonly expiresAt: bigint;
  readonly state: HoldState;
  readonly free: boolean;
  readonly tokensUsed: bigint;
  /** Captured fee (before the burn), the burned part, what the provider was credited, and refunds so far. */
  readonly charged: bigint;
  readonly burned: bigint;
  readonly credited: bigint;
  readonly refunded: bigint;
  /** Tx ids (EIP-712 digests) that moved this hold, for idempotent retries. */
  readonly authorizeTx: Hex32;
  readonly settleTx: Hex32 | null;
}

/** Read access to committed ledger state: what applying a block needs. Implemented by every LedgerStore. */
export interface LedgerReader {
  account(addr: Hex20): Account | undefined;
  hold(quoteId: Hex32): Hold | undefined;
  /** Free-tier requests used by `addr` on UTC day `day`. */
  quotaUsed(addr: Hex20, day: number): number;
  /** Whether a reward with this key (docs/ledger.md §8) was already paid. */
  rewardPaid(key: string): boolean;
}

export type PostingKind =
  | 'genesis'
  | 'transfer'
  | 'stake'
  | 'unstake'
  | 'authorize'
  | 'capture'
  | 'burn'
  | 'release'
  | 'refund'
  | 'grant'
  | 'delta-reward'
  | 'usage-reward'
  | 'validator-reward';

/** One double-entry line: `amount` leaves `from` (debit) and reaches `to` (credit). */
export interface Posting {
  /** Chain C index of the block, and the posting's position in it. */
  readonly block: number;
  readonly seq: number;
  /** Index of the transaction in the batch; −1 for the genesis issuance. */
  readonly tx: number;
  readonly txId: Hex32 | null;
  readonly kind: PostingKind;
  readonly from: Hex20;
  readonly to: Hex20;
  readonly amount: bigint;
  readonly time: number;
}

/** What one block changed: the new values of everything it touched, and its postings. */
export interface LedgerDiff {
  readonly block: number;
  readonly accounts: ReadonlyMap<Hex20, Account>;
  readonly holds: ReadonlyMap<Hex32, Hold>;
  readonly quotas: ReadonlyMap<string, number>;
  readonly rewardsPaid: ReadonlySet<string>;
  readonly postings: readonly Posting[];
  /** Ids of the block's transactions, in order. */
  readonly txIds: readonly Hex32[];
}

export function quotaKey(addr: Hex20, day: number): string {
  return `${addr}/${day}`;
}
