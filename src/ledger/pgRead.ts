import type pg from 'pg';
import { decodeRecord } from '../chain/encoding.ts';
import { BlyanError } from '../errors.ts';
import type { ChainEntry, IdempotencyRecord } from './ledgerStore.ts';
import { type Account, type Hold, type Posting, type PostingKind, quotaKey } from './state.ts';
import { holdFromJson } from './stateCodec.ts';
import type { StateKeys } from './storeKeys.ts';
import { type LedgerHead, LedgerSnapshot } from './storeSnapshot.ts';
import type { Hex20 } from './systemAccounts.ts';
import type { Hex32 } from './txTypes.ts';

/** Row shapes and decoders of the PostgreSQL ledger (pgSchema.ts). numeric and bigint columns arrive as strings. */
export interface AccountRow {
  addr: string;
  balance: string;
  nonce: string;
  stake: string;
  rewards: string;
}
export interface PostingRow {
  block: number;
  seq: number;
  tx: number;
  tx_id: string | null;
  kind: string;
  from_addr: string;
  to_addr: string;
  amount: string;
  time: string;
}
export interface BlockRow {
  record: Buffer;
  payload: Buffer;
}

export const accountOf = (r: AccountRow): Account => ({ balance: BigInt(r.balance), nonce: BigInt(r.nonce), stake: BigInt(r.stake), rewards: BigInt(r.rewards) });

export const postingOf = (r: PostingRow): Posting => ({
  block: r.block,
  seq: r.seq,
  tx: r.tx,
  txId: r.tx_id as Hex32 | null,
  kind: r.kind as PostingKind,
  from: r.from_addr as Hex20,
  to: r.to_addr as Hex20,
  amount: BigInt(r.amount),
  time: Number(r.time),
});

export const chainEntryOf = (r: BlockRow): ChainEntry => ({ block: decodeRecord(new Uint8Array(r.record)), payload: new Uint8Array(r.payload) });

export const POSTING_COLUMNS = 'block, seq, tx, tx_id, kind, from_addr, to_addr, amount, time';

/** The head row; with `lock`, the row every writer locks first (the ledger's write lock). */
export async function readHead(c: pg.ClientBase, lock: boolean): Promise<LedgerHead> {
  const r = await c.query<{ height: number; head_id: Buffer; head_time: string }>(
    `SELECT height, head_id, head_time FROM ledger_meta WHERE id = 1${lock ? ' FOR UPDATE' : ''}`,
  );
  const row = r.rows[0];
  if (row === undefined) throw new BlyanError('STORE_NOT_INITIALISED', 'the PostgreSQL ledger has no genesis');
  return { height: row.height, id: new Uint8Array(row.head_id), time: Number(row.head_time) };
}

/**
 * One statement reads everything a snapshot needs (JSON aggregates; numerics as text, never as JSON numbers,
 * which would become floats): one round trip, and a single statement is one consistent snapshot by itself.
 * Accounts include the user and provider of every hold read.
 */
const LOAD_SQL = `
SELECT
  (SELECT json_build_array(height, encode(head_id, 'hex'), head_time::text) FROM ledger_meta WHERE id = 1) AS meta,
  (SELECT coalesce(json_agg(hold), '[]') FROM ledger_holds WHERE quote_id = ANY($1::text[])) AS holds,
  (SELECT coalesce(json_agg(json_build_array(addr, balance::text, nonce::text, stake::text, rewards::text)), '[]') FROM ledger_accounts
    WHERE addr = ANY($2::text[])
       OR addr IN (SELECT user_addr FROM ledger_holds WHERE quote_id = ANY($1::text[]) UNION SELECT provider FROM ledger_holds WHERE quote_id = ANY($1::text[]))) AS accounts,
  (SELECT coalesce(json_agg(json_build_array(addr, day, used)), '[]') FROM ledger_quotas WHERE addr = ANY($3::text[]) AND day >= $4) AS quotas,
  (SELECT coalesce(json_agg(key), '[]') FROM ledger_rewards_paid WHERE key = ANY($5::text[])) AS rewards,
  (SELECT coalesce(json_agg(record), '[]') FROM ledger_idempotency WHERE key = ANY($6::text[])) AS idempotency
`;

interface LoadRow {
  meta: [number, string, string] | null;
  holds: string[];
  accounts: [string, string, string, string, string][];
  quotas: [string, number, number][];
  rewards: string[];
  idempotency: string[];
}

/**
 * Reads the state `keys` names. Writers pass the head they read with readHead(lock = true) first, in the same
 * transaction: since every writer takes that lock before reading, nothing can commit between the lock and this
 * read. Queries pass no head and get the one this statement read.
 */
export async function loadSnapshot(c: pg.ClientBase, keys: StateKeys, lockedHead?: LedgerHead): Promise<LedgerSnapshot> {
  const r = await c.query<LoadRow>(LOAD_SQL, [[...keys.holds], [...keys.accounts], [...keys.quotaAddrs], keys.quotaFromDay, [...keys.rewards], [...keys.idempotency]]);
  const row = r.rows[0];
  if (row === undefined || row.meta === null) throw new BlyanError('STORE_NOT_INITIALISED', 'the PostgreSQL ledger has no genesis');
  const head = lockedHead ?? { height: row.meta[0], id: new Uint8Array(Buffer.from(row.meta[1], 'hex')), time: Number(row.meta[2]) };
  const holds = new Map<Hex32, Hold>();
  for (const text of row.holds) {
    const h = holdFromJson(text);
    holds.set(h.quoteId, h);
  }
  const accounts = new Map<Hex20, Account>();
  for (const [addr, balance, nonce, stake, rewards] of row.accounts) accounts.set(addr as Hex20, accountOf({ addr, balance, nonce, stake, rewards }));
  const quotas = new Map<string, number>();
  for (const [addr, day, used] of row.quotas) quotas.set(quotaKey(addr as Hex20, day), used);
  const idempotency = new Map<string, IdempotencyRecord>();
  for (const text of row.idempotency) {
    const rec = JSON.parse(text) as IdempotencyRecord;
    idempotency.set(rec.key, rec);
  }
  return new LedgerSnapshot(head, keys, { accounts, holds, quotas, rewardsPaid: new Set(row.rewards), idempotency });
}

let cursorSeq = 0;

/** Streams a query through a server-side cursor, `page` rows at a time (inside the caller's transaction). */
export async function* scan<R extends pg.QueryResultRow>(c: pg.ClientBase, sql: string, page = 1000): AsyncGenerator<R> {
  const name = `ledger_scan_${++cursorSeq}`;
  await c.query(`DECLARE ${name} NO SCROLL CURSOR FOR ${sql}`);
  try {
    for (;;) {
      const r = await c.query<R>(`FETCH ${page} FROM ${name}`);
      yield* r.rows;
      if (r.rows.length < page) return;
    }
  } finally {
    await c.query(`CLOSE ${name}`);
  }
}
