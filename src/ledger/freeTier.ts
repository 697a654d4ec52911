import { BlyanError } from '../errors.ts';
import type { StateOverlay } from './overlay.ts';
import { DAY_MS, type LedgerParams, type TrustLevel } from './params.ts';
import type { Account } from './state.ts';
import type { Hex20 } from './systemAccounts.ts';

/**
 * Free tier (docs/ledger.md §7.3): a request authorized with amount 0 is free while the user's daily
 * quota lasts. The quota depends on the trust level and resets at 00:00 UTC (day = ⌊block time / 86,400,000⌋).
 * The count is ledger state, changed by the same transaction as the hold: check and charge are one step.
 */
export function trustLevelOf(acc: Account | undefined, p: LedgerParams): TrustLevel {
  if (acc === undefined) return 'new';
  const f = p.freeTier;
  if (acc.stake >= f.trustedStake || acc.rewards >= f.trustedRewards) return 'trusted';
  if (acc.rewards > 0n) return 'contributor';
  if (acc.nonce >= f.activeNonce || acc.stake > 0n) return 'active';
  return 'new';
}

export function dayOf(timeMs: number): number {
  return Math.floor(timeMs / DAY_MS);
}

export function freeQuotaLeft(o: Pick<StateOverlay, 'account' | 'quotaUsed'>, addr: Hex20, timeMs: number, p: LedgerParams): number {
  const quota = p.freeTier.dailyQuota[trustLevelOf(o.account(addr), p)];
  return Math.max(0, quota - o.quotaUsed(addr, dayOf(timeMs)));
}

/** Counts one free request, or throws LEDGER_FREE_QUOTA_EXCEEDED. */
export function useFreeQuota(o: StateOverlay, addr: Hex20, p: LedgerParams): void {
  const level = trustLevelOf(o.account(addr), p);
  const quota = p.freeTier.dailyQuota[level];
  const day = dayOf(o.time);
  const used = o.quotaUsed(addr, day);
  if (used >= quota) {
    throw new BlyanError('LEDGER_FREE_QUOTA_EXCEEDED', `${addr} has used its ${quota} free requests for today (trust level ${level}); pay for the request or wait for 00:00 UTC`, {
      level,
      quota,
    });
  }
  o.setQuota(addr, day, used + 1);
}
