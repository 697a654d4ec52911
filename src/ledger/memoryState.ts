import type { LedgerParams } from './params.ts';
import { type LedgerBlock, applyBlock } from './apply.ts';
import { type Account, type Hold, type LedgerDiff, type LedgerReader, type Posting, quotaKey } from './state.ts';
import type { Hex20 } from './systemAccounts.ts';
import type { Hex32 } from './txTypes.ts';

/** Ledger state in plain maps: the reference for audits, property tests and replay. */
export class MemoryLedgerState implements LedgerReader {
  readonly accounts = new Map<Hex20, Account>();
  readonly holds = new Map<Hex32, Hold>();
  readonly quotas = new Map<string, number>();
  readonly paid = new Set<string>();
  readonly postings: Posting[] = [];
  /** Chain C index of the last applied block; −1 before genesis. */
  height = -1;

  account(addr: Hex20): Account | undefined {
    return this.accounts.get(addr);
  }
  hold(quoteId: Hex32): Hold | undefined {
    return this.holds.get(quoteId);
  }
  quotaUsed(addr: Hex20, day: number): number {
    return this.quotas.get(quotaKey(addr, day)) ?? 0;
  }
  rewardPaid(key: string): boolean {
    return this.paid.has(key);
  }

  /** Merges a diff in place (keepPostings: false saves memory when only balances matter). */
  merge(diff: LedgerDiff, keepPostings = true): this {
    for (const [k, v] of diff.accounts) this.accounts.set(k, v);
    for (const [k, v] of diff.holds) this.holds.set(k, v);
    for (const [k, v] of diff.quotas) this.quotas.set(k, v);
    for (const k of diff.rewardsPaid) this.paid.add(k);
    if (keepPostings) for (const p of diff.postings) this.postings.push(p);
    this.height = diff.block;
    return this;
  }

  clone(): MemoryLedgerState {
    const c = new MemoryLedgerState();
    for (const [k, v] of this.accounts) c.accounts.set(k, v);
    for (const [k, v] of this.holds) c.holds.set(k, v);
    for (const [k, v] of this.quotas) c.quotas.set(k, v);
    for (const k of this.paid) c.paid.add(k);
    c.postings.push(...this.postings);
    c.height = this.height;
    return c;
  }
}

/** The pure form: (state, block) → a new state; the input is not modified. */
export function nextState(state: MemoryLedgerState, header: LedgerBlock, payload: Uint8Array, p: LedgerParams): MemoryLedgerState {
  const diff = applyBlock(state, header, payload, p);
  return state.clone().merge(diff);
}
