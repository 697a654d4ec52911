import { dayOf } from './freeTier.ts';
import { deltaRewardKey, usageRewardKey, validatorRewardKey } from './rewards.ts';
import { type Hex20, SYSTEM } from './systemAccounts.ts';
import type { AnyTx } from './tx.ts';
import type { Hex32 } from './txTypes.ts';

/**
 * Every piece of ledger state a batch can read, named before the batch is applied, so an asynchronous store
 * (PostgreSQL) can load it in a few queries and the pure, synchronous applyTx runs over that snapshot.
 *
 * Accounts of a hold's user and provider are not known until the hold is read (Capture, Release and Refund
 * name only the quote id): stores add them when they load the holds (see LedgerSnapshot.accountsLoaded).
 * Free-tier counters are loaded for every day from `quotaFromDay` on: the block time is max(now, head time) ≥ now,
 * so a batch never counts against an earlier day.
 */
export interface StateKeys {
  readonly accounts: ReadonlySet<Hex20>;
  readonly holds: ReadonlySet<Hex32>;
  readonly quotaAddrs: ReadonlySet<Hex20>;
  readonly quotaFromDay: number;
  readonly rewards: ReadonlySet<string>;
  readonly idempotency: ReadonlySet<string>;
}

/** A mutable StateKeys under construction. */
export class KeySet implements StateKeys {
  readonly accounts = new Set<Hex20>(Object.values(SYSTEM));
  readonly holds = new Set<Hex32>();
  readonly quotaAddrs = new Set<Hex20>();
  readonly rewards = new Set<string>();
  readonly idempotency = new Set<string>();
  readonly quotaFromDay: number;

  /** `now` is the producer's clock reading for the batch (ms); the block time will be at least this. */
  constructor(now: number) {
    this.quotaFromDay = dayOf(now);
  }

  /** What one transaction can read, whatever its outcome (rules T4–T6 and its kind's rules). */
  addTx(tx: AnyTx): this {
    this.accounts.add(tx.message.from);
    switch (tx.kind) {
      case 'Transfer':
      case 'Grant':
        this.accounts.add(tx.message.to);
        break;
      case 'Authorize':
        this.accounts.add(tx.message.provider);
        this.holds.add(tx.message.quoteId);
        this.quotaAddrs.add(tx.message.from);
        break;
      case 'Capture':
      case 'Release':
      case 'Refund':
        this.holds.add(tx.message.quoteId);
        break;
      case 'DeltaReward':
        this.accounts.add(tx.message.miner);
        this.rewards.add(deltaRewardKey(tx.message));
        break;
      case 'UsageReward':
        this.accounts.add(tx.message.host);
        this.rewards.add(usageRewardKey(tx.message));
        break;
      case 'ValidatorReward':
        for (const v of tx.message.validators) this.accounts.add(v);
        this.rewards.add(validatorRewardKey(tx.message));
        break;
      case 'Stake':
      case 'Unstake':
        break;
    }
    return this;
  }
}
