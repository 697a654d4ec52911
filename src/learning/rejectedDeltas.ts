/**
 * Deltas this node refused, with the reason: node-local, not chain data (a rejected block is never appended,
 * so there is nothing on chain to point at). Kept in the store's `learning` side database so they survive
 * restarts, beside the reward records of accepted deltas (rewardRecords.ts):
 *   rejected/<time ms, 15 digits>/<sequence, 6 digits> → JSON RejectedDelta
 * Keys sort by time, so the newest are a reverse range scan away. Only the newest MAX_KEPT are kept.
 */
import type { BlockStore } from '../chain/store.ts';

export interface RejectedDelta {
  /** The rule's code, e.g. DELTA_NO_IMPROVEMENT, DELTA_NORM_TOO_LARGE, DELTA_STALE_BASE. */
  readonly code: string;
  readonly message: string;
  /** Model meta block id (hex). */
  readonly model: string;
  /** The component, e.g. "layer1.expert2". */
  readonly expert: string;
  /** The refused block's id (hex), when one was built. */
  readonly block?: string;
  /** Who submitted it (0x address), when known. */
  readonly miner?: string;
  /** Where it came from: this node's own mining job, or (later) a block received from a peer. */
  readonly source: 'mine' | 'peer';
  readonly jobId?: string;
  /** When it was refused (ms since the epoch). */
  readonly time: number;
}

const PREFIX = 'rejected/';
const END = 'rejected0';
export const MAX_KEPT = 10_000;

export class RejectedDeltas {
  private seq = 0;

  constructor(private readonly store: BlockStore) {}

  private get db() {
    return this.store.sideDb('learning');
  }

  /** Records a refusal and drops the oldest records beyond MAX_KEPT. */
  add(r: RejectedDelta): void {
    const key = `${PREFIX}${String(r.time).padStart(15, '0')}/${String(this.seq++ % 1_000_000).padStart(6, '0')}`;
    const db = this.db;
    db.putSync(key, Buffer.from(JSON.stringify(r)));
    const stale = [...db.getKeys({ start: END, end: PREFIX, reverse: true, offset: MAX_KEPT })];
    for (const k of stale) db.removeSync(k);
  }

  /** Newest first, optionally for one model and/or component, at most `limit`. */
  list(filter: { readonly model?: string; readonly expert?: string; readonly limit: number }): RejectedDelta[] {
    const out: RejectedDelta[] = [];
    for (const { value } of this.db.getRange({ start: END, end: PREFIX, reverse: true })) {
      const r = JSON.parse(Buffer.from(value).toString('utf8')) as RejectedDelta;
      if (filter.model !== undefined && r.model !== filter.model) continue;
      if (filter.expert !== undefined && r.expert !== filter.expert) continue;
      out.push(r);
      if (out.length >= filter.limit) break;
    }
    return out;
  }
}
