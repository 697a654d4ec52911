import { z } from 'zod';
import type { BlockStore } from '../chain/store.ts';
import { BlyanError } from '../errors.ts';
import { Ledger, type LedgerOptions } from './ledger.ts';
import type { LedgerStore } from './ledgerStore.ts';
import { ledgerParamsFor } from './params.ts';
import { PgLedgerStore } from './pgStore.ts';

/** Where a node keeps its ledger when it shares one with other processes (docs/ledger.md §9.2). */
export const LEDGER_URL_ENV = 'BLYAN_LEDGER_URL';

const PgUrl = z.string().max(2048).regex(/^postgres(ql)?:\/\/[^\s]+$/);

/** `--ledger-url`, else $BLYAN_LEDGER_URL, else undefined (the embedded LMDB ledger). */
export function ledgerUrlFrom(flag: string | undefined, env: NodeJS.ProcessEnv = process.env): string | undefined {
  const raw = flag ?? env[LEDGER_URL_ENV];
  if (raw === undefined || raw === '') return undefined;
  const parsed = PgUrl.safeParse(raw);
  if (!parsed.success) throw new BlyanError('BAD_ARGUMENT', `the ledger URL must be postgres://user@host:port/database, got "${raw.slice(0, 80)}"`);
  return parsed.data;
}

/**
 * A node's ledger: PostgreSQL when `url` is given, else the LMDB ledger inside the block store. The caller
 * closes it with closeLedger (the block store stays the caller's).
 */
export async function openLedger(blocks: BlockStore, opts: LedgerOptions & { readonly url?: string | undefined }): Promise<Ledger<LedgerStore>> {
  const { url, ...rest } = opts;
  if (url === undefined) return Ledger.open(blocks, rest);
  const store = await PgLedgerStore.open({ url, preset: blocks.preset, params: rest.params ?? ledgerParamsFor(blocks.preset) });
  return Ledger.over(store, blocks, rest);
}

export function closeLedger(ledger: Ledger<LedgerStore>): Promise<void> {
  ledger.stop();
  return ledger.store.close();
}
