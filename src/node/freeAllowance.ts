import type { Database } from 'lmdb';
import type { BlockStore } from '../chain/store.ts';
import { dayOf } from '../ledger/freeTier.ts';

/**
 * The node's own free tier for requests that carry no signed payment: a daily request count per
 * identity (`ip:…`, `addr:…`, `key:…`), kept in an LMDB side database so a restart does not reset it.
 * Check and count are one synchronous LMDB transaction, so concurrent requests cannot overrun the quota.
 * (Signed free quotes, amount 0, are the ledger's free tier and are counted on chain C instead.)
 */
export class FreeAllowance {
  private readonly db: Database<Buffer, string>;

  constructor(store: BlockStore) {
    this.db = store.sideDb('allowance');
  }

  used(identity: string, now: number): number {
    const v = this.db.get(`${dayOf(now)}/${identity}`);
    return v === undefined ? 0 : Number(Buffer.from(v).toString('utf8'));
  }

  /** Counts one request if fewer than `quota` were made today; returns whether it was counted. */
  take(identity: string, quota: number, now: number): boolean {
    const key = `${dayOf(now)}/${identity}`;
    return this.db.transactionSync(() => {
      const v = this.db.get(key);
      const used = v === undefined ? 0 : Number(Buffer.from(v).toString('utf8'));
      if (used >= quota) return false;
      this.db.putSync(key, Buffer.from(String(used + 1)));
      return true;
    });
  }

  /** Gives back a request that produced no answer (a failed answer is never charged, not even to the quota). */
  giveBack(identity: string, day: number): void {
    const key = `${day}/${identity}`;
    this.db.transactionSync(() => {
      const v = this.db.get(key);
      const used = v === undefined ? 0 : Number(Buffer.from(v).toString('utf8'));
      if (used > 0) this.db.putSync(key, Buffer.from(String(used - 1)));
    });
  }
}
