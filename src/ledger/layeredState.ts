import { type Account, type Hold, type LedgerDiff, type LedgerReader, quotaKey } from './state.ts';
import type { Hex20 } from './systemAccounts.ts';
import type { Hex32 } from './txTypes.ts';

/**
 * Committed state plus the diffs of blocks not committed yet, newest last: the state at the tip of a run of
 * chain-C blocks checked in order (a sync batch, blocks stored but not yet caught up) without writing any of
 * them. Reads only; each diff holds the new values of what its block touched.
 */
export class LayeredState implements LedgerReader {
  private readonly diffs: LedgerDiff[] = [];

  constructor(private readonly base: LedgerReader) {}

  push(diff: LedgerDiff): void {
    this.diffs.push(diff);
  }

  private find<T>(get: (d: LedgerDiff) => T | undefined): T | undefined {
    for (let i = this.diffs.length - 1; i >= 0; i--) {
      const v = get(this.diffs[i] as LedgerDiff);
      if (v !== undefined) return v;
    }
    return undefined;
  }

  account(addr: Hex20): Account | undefined {
    return this.find((d) => d.accounts.get(addr)) ?? this.base.account(addr);
  }

  hold(quoteId: Hex32): Hold | undefined {
    return this.find((d) => d.holds.get(quoteId)) ?? this.base.hold(quoteId);
  }

  quotaUsed(addr: Hex20, day: number): number {
    return this.find((d) => d.quotas.get(quotaKey(addr, day))) ?? this.base.quotaUsed(addr, day);
  }

  rewardPaid(key: string): boolean {
    return this.diffs.some((d) => d.rewardsPaid.has(key)) || this.base.rewardPaid(key);
  }
}
