import type { Database } from 'lmdb';
import type { BlockStore } from '../chain/store.ts';
import type { ExpertRef } from './chat.ts';

export interface UsageRow {
  readonly model: string;
  readonly expert: string;
  readonly usage: number;
}

/**
 * How many tokens each expert helped produce on this node (one count per token per routed expert), kept
 * in an LMDB side database so the numbers survive restarts. This is the node's own observation, the input
 * to usage rewards (src/ledger/rewards.ts) and to `/experts/top`; it is not chain data.
 */
export class ExpertUsage {
  private readonly db: Database<Buffer, string>;
  private readonly counts = new Map<string, number>();

  constructor(store: BlockStore) {
    this.db = store.sideDb('usage');
    for (const { key, value } of this.db.getRange({})) this.counts.set(key, Number(Buffer.from(value).toString('utf8')));
  }

  /** Records the experts behind every token of one answer: experts[token][layer][k]. */
  record(modelHash: string, experts: readonly (readonly (readonly ExpertRef[])[])[]): void {
    const add = new Map<string, number>();
    for (const token of experts) for (const layer of token) for (const e of layer) add.set(e.expert, (add.get(e.expert) ?? 0) + 1);
    if (add.size === 0) return;
    this.db.transactionSync(() => {
      for (const [expert, n] of add) {
        const key = `${modelHash}/${expert}`;
        const v = (this.counts.get(key) ?? 0) + n;
        this.counts.set(key, v);
        this.db.putSync(key, Buffer.from(String(v)));
      }
    });
  }

  of(modelHash: string, expert: string): number {
    return this.counts.get(`${modelHash}/${expert}`) ?? 0;
  }

  /** The most used experts, most first (ties by name). */
  top(limit: number, modelHash?: string): UsageRow[] {
    const rows: UsageRow[] = [];
    for (const [key, usage] of this.counts) {
      const slash = key.indexOf('/');
      const model = key.slice(0, slash);
      if (modelHash === undefined || model === modelHash) rows.push({ model, expert: key.slice(slash + 1), usage });
    }
    rows.sort((a, b) => b.usage - a.usage || a.expert.localeCompare(b.expert));
    return rows.slice(0, limit);
  }
}
