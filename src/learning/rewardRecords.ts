/**
 * What accepted deltas leave behind beside the chain, in the store's `learning` side database, written in
 * the same LMDB transaction as the delta block (BlockStore.appendBatch `alsoWrite`), so a crash never keeps
 * one without the other:
 *   reward/<block id hex>     → JSON RewardRecord: what the ledger pays the miner (src/ledger reads it)
 *   manifest/<sha256 hex>     → block id: a manifest already accepted (replay, rule P3)
 *   delta/<sha256 hex>        → block id: delta bytes already accepted (replay, rule P3)
 */
import type { Hash } from '../chain/hash.ts';
import { toHex } from '../chain/hash.ts';
import type { BlockStore } from '../chain/store.ts';

export interface RewardRecord {
  /** Miner address (0x hex), who is paid. */
  readonly miner: string;
  /** Model meta block id (hex). */
  readonly model: string;
  readonly component: string;
  /** The accepted delta block id (hex). */
  readonly block: string;
  /** Loss improvement (base − new) and both losses, as f32 values and their bits (8 hex digits). */
  readonly improvement: number;
  readonly improvementBits: string;
  readonly baseLoss: number;
  readonly baseLossBits: string;
  readonly newLoss: number;
  readonly newLossBits: string;
  /** The delta block's time (ms). */
  readonly time: number;
}

export class RewardRecords {
  constructor(private readonly store: BlockStore) {}

  private get db() {
    return this.store.sideDb('learning');
  }

  /** Has a delta with this manifest hash or these delta bytes been accepted? Returns the block id (hex). */
  acceptedBy(kind: 'manifest' | 'delta', hash: Hash): string | undefined {
    const v = this.db.getBinary(`${kind}/${toHex(hash)}`);
    return v === undefined ? undefined : Buffer.from(v).toString('utf8');
  }

  /** Writes the record and the replay index; call inside BlockStore.appendBatch's `alsoWrite`. */
  putSync(record: RewardRecord, manifestHash: Hash, deltaHash: Hash): void {
    const db = this.db;
    db.putSync(`reward/${record.block}`, Buffer.from(JSON.stringify(record)));
    db.putSync(`manifest/${toHex(manifestHash)}`, Buffer.from(record.block));
    db.putSync(`delta/${toHex(deltaHash)}`, Buffer.from(record.block));
  }

  get(blockHex: string): RewardRecord | undefined {
    const v = this.db.getBinary(`reward/${blockHex}`);
    return v === undefined ? undefined : (JSON.parse(Buffer.from(v).toString('utf8')) as RewardRecord);
  }

  /** Every reward record, ordered by block id. */
  list(): RewardRecord[] {
    const out: RewardRecord[] = [];
    for (const { value } of this.db.getRange({ start: 'reward/', end: 'reward0' })) out.push(JSON.parse(Buffer.from(value).toString('utf8')) as RewardRecord);
    return out;
  }
}
