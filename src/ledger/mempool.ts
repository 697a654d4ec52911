import type { TxReceipt } from './ledgerStore.ts';
import { gossipVerdictOf } from './precheck.ts';
import type { AnyTx } from './tx.ts';
import type { Hex32 } from './txTypes.ts';
import { BoundedSet } from '../boundedSet.ts';

/** What gossip does with a transaction the mempool was offered (docs/sync-protocol.md §9). */
export type MempoolVerdict = 'accept' | 'ignore' | 'reject';

export interface MempoolOptions {
  /** Hands an admitted transaction to the producer's next batch; settles once a block holds it or it was refused. */
  readonly submit: (tx: AnyTx) => Promise<TxReceipt>;
  /**
   * Checks a transaction against committed state and throws the rule's typed error (precheckTx). Optional: a
   * producer whose state is not readable synchronously (PostgreSQL) admits everything and lets the batch refuse.
   */
  readonly check?: ((tx: AnyTx, txId: Hex32) => void) | undefined;
  /** Transactions admitted and not yet settled (default 10,000); beyond it gossip is ignored, not queued. */
  readonly maxPending?: number;
  /** Ids of included transactions remembered, so a late duplicate costs a set look-up (default 65,536). */
  readonly maxRecent?: number;
}

export interface MempoolStats {
  /** Admitted and not yet settled. */
  readonly pending: number;
  readonly maxPending: number;
  readonly accepted: number;
  readonly included: number;
  /** Admitted, then refused by the batch (state moved between the check and the block). */
  readonly refused: number;
  readonly duplicates: number;
  readonly full: number;
  /** Refused by the check: gossip verdict ignore (state-dependent rules) or reject (stateless rules). */
  readonly ignored: number;
  readonly rejected: number;
}

/**
 * The ledger producer's pool of transactions that came from other nodes (gossip), on their way into its next
 * chain-C batch (docs/ledger.md §9.4). `offer` is synchronous (a gossip validator answers at once) and:
 *  - ignores a transaction already pending or recently included (dedup by tx id);
 *  - ignores it when `maxPending` transactions are pending (bounded: a flood waits at the sender, not here);
 *  - checks it against committed state: a stateless rule broken → reject (the forwarding peer is penalised),
 *    a state-dependent refusal (nonce, balance, hold, quota) → ignore, since the sender's view may lag;
 *  - otherwise admits it: the Ledger's batch applies it (and may still refuse it alone) and the block that holds
 *    it goes out by gossip, which is how the sending follower learns the outcome.
 */
export class Mempool {
  private readonly pending = new Set<string>();
  private readonly recent: BoundedSet;
  private readonly maxPending: number;
  private counts = { accepted: 0, included: 0, refused: 0, duplicates: 0, full: 0, ignored: 0, rejected: 0 };

  constructor(private readonly opts: MempoolOptions) {
    this.maxPending = opts.maxPending ?? 10_000;
    this.recent = new BoundedSet(opts.maxRecent ?? 65_536);
  }

  /** `txId`: the transaction's digest, hex with or without 0x (the gossip layer has already verified the signature). */
  offer(tx: AnyTx, txId: string): MempoolVerdict {
    const id = (txId.startsWith('0x') ? txId : `0x${txId}`).toLowerCase() as Hex32;
    if (this.pending.has(id) || this.recent.has(id)) {
      this.counts.duplicates++;
      return 'ignore';
    }
    if (this.pending.size >= this.maxPending) {
      this.counts.full++;
      return 'ignore';
    }
    try {
      this.opts.check?.(tx, id);
    } catch (err) {
      const v = gossipVerdictOf(err, tx);
      if (v === 'reject') this.counts.rejected++;
      else this.counts.ignored++;
      return v;
    }
    this.pending.add(id);
    this.counts.accepted++;
    this.opts.submit(tx).then(
      () => {
        this.pending.delete(id);
        this.recent.add(id);
        this.counts.included++;
      },
      () => {
        // Refused by the batch: forgotten, so the same transaction may be offered again once it can apply.
        this.pending.delete(id);
        this.counts.refused++;
      },
    );
    return 'accept';
  }

  has(txId: string): boolean {
    const id = (txId.startsWith('0x') ? txId : `0x${txId}`).toLowerCase();
    return this.pending.has(id);
  }

  stats(): MempoolStats {
    return { pending: this.pending.size, maxPending: this.maxPending, ...this.counts };
  }
}
