import { formatAddress, parseAddress } from '../chain/address.ts';
import type { BlockStore } from '../chain/store.ts';
import type { LedgerParams } from './params.ts';
import { paramsScheduleOf } from './paramsSchedule.ts';

export interface ParamsView {
  now: { activeFrom: number; block: string | null; params: Record<string, unknown> };
  upcoming: { activeFrom: number; block: string | null; params: Record<string, unknown> }[];
  refused: { block: string; reason: string }[];
}

/** The parameters in force now, the scheduled changes, and params blocks that were ignored (with why). */
export function paramsView(blocks: BlockStore, now = Date.now()): ParamsView {
  const schedule = paramsScheduleOf(blocks);
  const current = schedule.entryAt(now);
  return {
    now: { activeFrom: current.activeFrom, block: current.block, params: paramsJson(current.params) },
    upcoming: schedule.entries.filter((e) => e.activeFrom > now).map((e) => ({ activeFrom: e.activeFrom, block: e.block, params: paramsJson(e.params) })),
    refused: [...schedule.refused],
  };
}

/** Decimal strings for bigints and checksummed authorities: the JSON people and scripts read. */
export function paramsJson(p: LedgerParams): Record<string, unknown> {
  const checksummed = (a: string) => formatAddress(parseAddress(a));
  const view = { ...p, authorities: p.authorities.map(checksummed), producer: p.producer === null ? null : checksummed(p.producer) };
  return JSON.parse(JSON.stringify(view, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v))) as Record<string, unknown>;
}

