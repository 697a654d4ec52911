import { formatAddress } from '../chain/address.ts';
import { toHex } from '../chain/hash.ts';
import type { BlockStore } from '../chain/store.ts';
import { listModels, resolveModel } from '../engine/modelRegistry.ts';
import type { RejectedDelta } from '../learning/rejectedDeltas.ts';
import type { RejectedDeltas } from '../learning/rejectedDeltas.ts';
import { RewardRecords } from '../learning/rewardRecords.ts';

export interface PolDeltasQuery {
  readonly model?: string | undefined;
  readonly expert?: string | undefined;
  readonly limit: number;
}

/** An accepted delta: the chain-B block, where it sits in its component's lineage, and its PoL record. */
export interface AcceptedDeltaView {
  readonly block: string;
  readonly model: string;
  readonly modelName: string;
  readonly expert: string;
  /** 1-based position in the component's lineage (as in GET /experts/:name). */
  readonly version: number;
  /** The version it was computed against. */
  readonly base: string | null;
  readonly miner: string;
  readonly time: number;
  /** From the reward record written with the block; null for a delta this node did not validate itself. */
  readonly improvement: number | null;
  readonly baseLoss: number | null;
  readonly newLoss: number | null;
  readonly bits: { readonly improvement: string; readonly baseLoss: string; readonly newLoss: string } | null;
}

export interface PolDeltas {
  readonly accepted: AcceptedDeltaView[];
  readonly rejected: RejectedDelta[];
}

/**
 * `GET /pol/deltas`: accepted deltas come from the chain (every `delta` version in the lineages, with the
 * reward record PoL validation wrote beside it), rejected ones from the node's own record (RejectedDeltas).
 * Both newest first.
 */
export function polDeltas(store: BlockStore, rejections: RejectedDeltas, q: PolDeltasQuery): PolDeltas {
  const models = q.model === undefined ? listModels(store) : [resolveModel(store, q.model)];
  const rewards = new RewardRecords(store);
  const accepted: (AcceptedDeltaView & { seq: number })[] = [];
  for (const m of models) {
    for (const c of m.meta.layout) {
      if (q.expert !== undefined && c.name !== q.expert) continue;
      const ids = store.lineage(m.id, c.name);
      for (const [i, id] of ids.entries()) {
        const h = store.header(id);
        if (h?.type !== 'delta') continue;
        const blockHex = toHex(id);
        const r = rewards.get(blockHex);
        const base = store.baseVersion(h);
        accepted.push({
          block: blockHex,
          model: m.idHex,
          modelName: m.meta.name,
          expert: c.name,
          version: i + 1,
          base: base === undefined ? null : toHex(base),
          miner: formatAddress(h.author),
          time: h.time,
          improvement: r?.improvement ?? null,
          baseLoss: r?.baseLoss ?? null,
          newLoss: r?.newLoss ?? null,
          bits: r === undefined ? null : { improvement: r.improvementBits, baseLoss: r.baseLossBits, newLoss: r.newLossBits },
          seq: store.positionOf(id) ?? 0,
        });
      }
    }
  }
  accepted.sort((a, b) => b.seq - a.seq);
  const model = q.model === undefined ? undefined : models[0]?.idHex;
  return {
    accepted: accepted.slice(0, q.limit).map(({ seq: _seq, ...v }) => v),
    rejected: rejections.list({ limit: q.limit, ...(model === undefined ? {} : { model }), ...(q.expert === undefined ? {} : { expert: q.expert }) }),
  };
}
