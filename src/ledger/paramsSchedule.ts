import type { Preset } from '../chain/presets.ts';
import type { BlockStore } from '../chain/store.ts';
import { toHex } from '../chain/hash.ts';
import { isBlyanError } from '../errors.ts';
import { type LedgerParams, ledgerParamsFor } from './params.ts';
import { applyParamsChange, decodeParamsChange } from './paramsBlock.ts';
import { type Hex20, hexAddress } from './systemAccounts.ts';

/**
 * Which economic parameters are in force at a given block time (docs/ledger.md §6.1). The preset's are in
 * force from genesis; a chain-A `params` block replaces them from its `activeFrom` on, if
 *   P1  its payload decodes strictly (paramsBlock.ts),
 *   P2  its author is an authority in force at the block's own time (counting only earlier params blocks),
 *   P3  activeFrom ≥ block time + the network's notice (so every node has the block before it applies).
 * A params block that breaks a rule is ignored, not fatal: anyone may append to chain A, so ignoring is what
 * keeps a stranger's block from changing anything. The parameters at time t are those of the valid change
 * with the greatest activeFrom ≤ t (ties: the later block). Pure over chain A's blocks.
 */
export const PARAMS_NOTICE_MS: Readonly<Record<Preset['name'], number>> = { tiny: 0, devnet: 60_000 };

export interface ParamsBlockInfo {
  readonly index: number;
  readonly time: number;
  readonly author: Hex20;
  readonly id: string;
  readonly payload: Uint8Array;
}

export interface ScheduledParams {
  readonly activeFrom: number;
  readonly block: string | null;
  readonly params: LedgerParams;
}

export interface RefusedParams {
  readonly block: string;
  readonly reason: string;
}

export class ParamsSchedule {
  /** Valid changes, ordered by (activeFrom, A index); the first is the preset's, from time 0. */
  readonly entries: readonly ScheduledParams[];
  readonly refused: readonly RefusedParams[];

  constructor(
    readonly base: LedgerParams,
    blocks: readonly ParamsBlockInfo[],
    noticeMs: number,
  ) {
    const entries: (ScheduledParams & { index: number })[] = [{ activeFrom: 0, block: null, params: base, index: -1 }];
    const refused: RefusedParams[] = [];
    const inForce = (t: number) => pick(entries, t).params;
    for (const b of [...blocks].sort((x, y) => x.index - y.index)) {
      try {
        const change = decodeParamsChange(b.payload);
        if (!inForce(b.time).authorities.includes(b.author)) throw new Error(`its author ${b.author} is not a ledger authority at ${new Date(b.time).toISOString()} (rule P2)`);
        if (change.activeFrom < b.time + noticeMs) throw new Error(`activeFrom must be at least ${noticeMs} ms after the block's time (rule P3)`);
        entries.push({ activeFrom: change.activeFrom, block: b.id, params: applyParamsChange(base, change), index: b.index });
      } catch (err) {
        refused.push({ block: b.id, reason: isBlyanError(err) || err instanceof Error ? err.message : String(err) });
      }
    }
    this.entries = entries.sort((x, y) => x.activeFrom - y.activeFrom || x.index - y.index);
    this.refused = refused;
  }

  /** The parameters for a chain-C block (or a quote) at time `t`. */
  at(t: number): LedgerParams {
    return pick(this.entries, t).params;
  }

  /** The entry in force at `t` (which block set it, since when). */
  entryAt(t: number): ScheduledParams {
    return pick(this.entries, t);
  }
}

function pick<T extends { activeFrom: number }>(entries: readonly T[], t: number): T {
  let best = entries[0] as T;
  for (const e of entries) if (e.activeFrom <= t && e.activeFrom >= best.activeFrom) best = e;
  return best;
}

const cache = new WeakMap<BlockStore, { seq: number; base: LedgerParams; schedule: ParamsSchedule }>();

/** The schedule of a block store's network, rebuilt when chain A grows (checked on disk: other processes append too). */
export function paramsScheduleOf(blocks: BlockStore, base: LedgerParams = ledgerParamsFor(blocks.preset)): ParamsSchedule {
  const seq = blocks.lastSeqOnDisk('A');
  const hit = cache.get(blocks);
  if (hit !== undefined && hit.seq === seq && hit.base === base) return hit.schedule;
  const infos: ParamsBlockInfo[] = [];
  for (const { block } of blocks.iterate('A')) {
    if (block.header.type !== 'params') continue;
    const payload = blocks.getPayload(block.header.payloadHash);
    infos.push({ index: block.header.index, time: block.header.time, author: hexAddress(block.header.author), id: toHex(block.id), payload: payload === undefined ? new Uint8Array(0) : Uint8Array.from(payload) });
  }
  const schedule = new ParamsSchedule(base, infos, PARAMS_NOTICE_MS[blocks.preset.name]);
  cache.set(blocks, { seq, base, schedule });
  return schedule;
}

/** A schedule with no changes: the preset's parameters forever (stores opened without a block store). */
export function fixedSchedule(p: LedgerParams): ParamsSchedule {
  return new ParamsSchedule(p, [], 0);
}
