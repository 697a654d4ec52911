import type { Hash } from '../chain/hash.ts';
import { BlyanError } from '../errors.ts';
import type { IdempotencyRecord } from './ledgerStore.ts';
import { type Account, type Hold, type LedgerReader, quotaKey } from './state.ts';
import type { StateKeys } from './storeKeys.ts';
import type { Hex20 } from './systemAccounts.ts';
import type { Hex32 } from './txTypes.ts';

/** The chain-C head a snapshot was read at: the next block extends it. */
export interface LedgerHead {
  /** Chain C index of the last applied block (0 = the genesis). */
  readonly height: number;
  readonly id: Hash;
  readonly time: number;
}

/** Rows a store read for a StateKeys; absent keys simply have no entry. */
export interface SnapshotRows {
  readonly accounts: ReadonlyMap<Hex20, Account>;
  readonly holds: ReadonlyMap<Hex32, Hold>;
  /** Keyed by quotaKey(addr, day). */
  readonly quotas: ReadonlyMap<string, number>;
  readonly rewardsPaid: ReadonlySet<string>;
  readonly idempotency: ReadonlyMap<string, IdempotencyRecord>;
}

/**
 * Committed state restricted to the keys a batch named, as one consistent read at `head`. A read of a key
 * that was not loaded throws instead of answering "absent": an absent account would be re-created with a zero
 * balance and written back, silently destroying funds, so a key the batch forgot to name must be a loud bug.
 */
export class LedgerSnapshot implements LedgerReader {
  /** The named accounts plus the user and provider of every loaded hold. */
  readonly accountsLoaded: ReadonlySet<Hex20>;

  constructor(
    readonly head: LedgerHead,
    readonly keys: StateKeys,
    private readonly rows: SnapshotRows,
  ) {
    const loaded = new Set(keys.accounts);
    for (const h of rows.holds.values()) {
      loaded.add(h.user);
      loaded.add(h.provider);
    }
    this.accountsLoaded = loaded;
  }

  account(addr: Hex20): Account | undefined {
    if (!this.accountsLoaded.has(addr)) notLoaded('account', addr);
    return this.rows.accounts.get(addr);
  }

  hold(quoteId: Hex32): Hold | undefined {
    if (!this.keys.holds.has(quoteId)) notLoaded('hold', quoteId);
    return this.rows.holds.get(quoteId);
  }

  quotaUsed(addr: Hex20, day: number): number {
    if (!this.keys.quotaAddrs.has(addr) || day < this.keys.quotaFromDay) notLoaded('free-tier counter', `${addr}/${day}`);
    return this.rows.quotas.get(quotaKey(addr, day)) ?? 0;
  }

  rewardPaid(key: string): boolean {
    if (!this.keys.rewards.has(key)) notLoaded('paid reward', key);
    return this.rows.rewardsPaid.has(key);
  }

  idempotency(key: string): IdempotencyRecord | undefined {
    if (!this.keys.idempotency.has(key)) notLoaded('idempotency record', key);
    return this.rows.idempotency.get(key);
  }
}

function notLoaded(what: string, key: string): never {
  throw new BlyanError('STORE_CORRUPT', `ledger snapshot read a ${what} it did not load (${key.slice(0, 100)}): the batch's key set is incomplete`, { key });
}

/** Accounts a snapshot must load: the named ones and the parties of the holds it found. */
export function accountsToLoad(keys: StateKeys, holds: Iterable<Hold>): Set<Hex20> {
  const out = new Set(keys.accounts);
  for (const h of holds) {
    out.add(h.user);
    out.add(h.provider);
  }
  return out;
}
