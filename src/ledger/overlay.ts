import { BlyanError } from '../errors.ts';
import { addBounded } from './amount.ts';
import { type Account, EMPTY_ACCOUNT, type Hold, type LedgerDiff, type LedgerReader, type Posting, type PostingKind, quotaKey } from './state.ts';
import { type Hex20, SYSTEM } from './systemAccounts.ts';
import type { Hex32 } from './txTypes.ts';

type Undo = () => void;

/**
 * Committed state plus the changes of the block being applied. Reads fall through to the base; writes
 * stay here. Each transaction runs between begin() and commit()/rollback(): a transaction that fails
 * leaves no trace, so the producer can drop it and keep the rest of the batch.
 */
export class StateOverlay implements LedgerReader {
  private readonly accounts = new Map<Hex20, Account>();
  private readonly holds = new Map<Hex32, Hold>();
  private readonly quotas = new Map<string, number>();
  private readonly paid = new Set<string>();
  private readonly postings: Posting[] = [];
  private readonly txIds: Hex32[] = [];
  private undo: Undo[] | null = null;
  private txIndex = -1;
  private txId: Hex32 | null = null;

  constructor(
    private readonly base: LedgerReader,
    readonly block: number,
    readonly time: number,
  ) {}

  // ---- LedgerReader ----
  account(addr: Hex20): Account | undefined {
    return this.accounts.get(addr) ?? this.base.account(addr);
  }
  hold(quoteId: Hex32): Hold | undefined {
    return this.holds.get(quoteId) ?? this.base.hold(quoteId);
  }
  quotaUsed(addr: Hex20, day: number): number {
    return this.quotas.get(quotaKey(addr, day)) ?? this.base.quotaUsed(addr, day);
  }
  rewardPaid(key: string): boolean {
    return this.paid.has(key) || this.base.rewardPaid(key);
  }

  // ---- transactions ----
  begin(index: number, id: Hex32 | null): void {
    this.undo = [];
    this.txIndex = index;
    this.txId = id;
  }

  commit(): void {
    if (this.txId !== null) this.txIds.push(this.txId);
    this.undo = null;
  }

  rollback(): void {
    const log = this.undo ?? [];
    for (let i = log.length - 1; i >= 0; i--) (log[i] as Undo)();
    this.undo = null;
  }

  private remember<K, V>(map: Map<K, V>, key: K): void {
    if (this.undo === null) return;
    const had = map.has(key);
    const prev = map.get(key);
    this.undo.push(had ? () => map.set(key, prev as V) : () => map.delete(key));
  }

  // ---- writes ----
  getAccount(addr: Hex20): Account {
    return this.account(addr) ?? EMPTY_ACCOUNT;
  }

  setAccount(addr: Hex20, acc: Account): void {
    this.remember(this.accounts, addr);
    this.accounts.set(addr, acc);
  }

  setHold(h: Hold): void {
    this.remember(this.holds, h.quoteId);
    this.holds.set(h.quoteId, h);
  }

  setQuota(addr: Hex20, day: number, used: number): void {
    const key = quotaKey(addr, day);
    this.remember(this.quotas, key);
    this.quotas.set(key, used);
  }

  markPaid(key: string): void {
    if (this.undo !== null && !this.paid.has(key)) this.undo.push(() => this.paid.delete(key));
    this.paid.add(key);
  }

  /** One double-entry posting. Only the issuance account may go below zero (rule P2). */
  post(kind: PostingKind, from: Hex20, to: Hex20, amount: bigint): void {
    if (amount === 0n) return;
    if (amount < 0n) throw new BlyanError('LEDGER_BAD_AMOUNT', 'a posting amount must be positive');
    const src = this.getAccount(from);
    if (from !== SYSTEM.issuance && src.balance < amount) {
      throw new BlyanError('LEDGER_INSUFFICIENT_FUNDS', `${from} has ${src.balance} units; ${amount} needed`, {
        account: from,
        balance: src.balance.toString(),
        needed: amount.toString(),
      });
    }
    this.setAccount(from, { ...src, balance: src.balance - amount });
    const dst = this.getAccount(to);
    this.setAccount(to, { ...dst, balance: addBounded(dst.balance, amount) });
    const posting: Posting = { block: this.block, seq: this.postings.length, tx: this.txIndex, txId: this.txId, kind, from, to, amount, time: this.time };
    if (this.undo !== null) this.undo.push(() => void this.postings.pop());
    this.postings.push(posting);
  }

  diff(): LedgerDiff {
    return {
      block: this.block,
      accounts: this.accounts,
      holds: this.holds,
      quotas: this.quotas,
      rewardsPaid: this.paid,
      postings: this.postings,
      txIds: this.txIds,
    };
  }
}
