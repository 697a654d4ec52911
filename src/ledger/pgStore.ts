import pg from 'pg';
import type { Preset } from '../chain/presets.ts';
import { BlyanError } from '../errors.ts';
import { type BatchPlan, type ChainEntry, type LedgerStore, type LedgerView, StaleHeadError } from './ledgerStore.ts';
import { type LedgerParams, ledgerParamsFor } from './params.ts';
import { type AccountRow, type BlockRow, accountOf, chainEntryOf, loadSnapshot, POSTING_COLUMNS, type PostingRow, postingOf, readHead, scan } from './pgRead.ts';
import { ensureSchema } from './pgSchema.ts';
import { writePlan } from './pgWrite.ts';
import type { Posting } from './state.ts';
import { holdFromJson } from './stateCodec.ts';
import type { StateKeys } from './storeKeys.ts';
import type { LedgerSnapshot } from './storeSnapshot.ts';
import type { Hex20 } from './systemAccounts.ts';

export interface PgStoreOptions {
  /** postgres://user@host:port/database */
  readonly url: string;
  readonly preset: Preset;
  /** Defaults to the preset's; must be the same in every process sharing the database. */
  readonly params?: LedgerParams;
  /** Connections this process keeps (default 4: one writer, the rest for reads). */
  readonly poolSize?: number;
}

/**
 * The PostgreSQL LedgerStore: several node processes (API servers of one service node) share one ledger.
 *
 * Write protocol (writeBatch), one PostgreSQL transaction per chain-C block:
 *   BEGIN; SELECT … FROM ledger_meta FOR UPDATE   — the ledger's write lock, and the head to build on
 *   read the batch's keys                         — nobody can commit in between: they all wait for the lock
 *   build (pure apply in JavaScript)              — the block extends exactly this head
 *   INSERT block, upsert state, INSERT postings, idempotency; UPDATE ledger_meta … WHERE height = <read height>
 *   COMMIT
 * The snapshot is read under the lock rather than before it: a batch built on a stale head would have to be
 * rebuilt, and with several busy writers it would keep losing the race. A process that dies holding the lock
 * (SIGKILL) loses its connection, and PostgreSQL rolls its transaction back and frees the lock; one that
 * stalls inside a transaction is cut off by idle_in_transaction_session_timeout.
 */
export class PgLedgerStore implements LedgerStore {
  readonly kind = 'postgres';

  private constructor(
    private readonly pool: pg.Pool,
    readonly preset: Preset,
    readonly params: LedgerParams,
  ) {}

  /** Connects, creates the schema and the ledger genesis if the database is empty, and checks the network. */
  static async open(opts: PgStoreOptions): Promise<PgLedgerStore> {
    const pool = new pg.Pool({
      connectionString: opts.url,
      max: opts.poolSize ?? 4,
      options: '-c idle_in_transaction_session_timeout=60000',
    });
    // An idle connection the server drops must not crash the process: the pool replaces it on next use.
    pool.on('error', () => undefined);
    const params = opts.params ?? ledgerParamsFor(opts.preset);
    try {
      await ensureSchema(pool, opts.preset, params);
    } catch (err) {
      await pool.end();
      throw wrap(err);
    }
    return new PgLedgerStore(pool, opts.preset, params);
  }

  private async inTransaction<T>(begin: string, fn: (c: pg.PoolClient) => Promise<T>): Promise<T> {
    let c: pg.PoolClient;
    try {
      c = await this.pool.connect();
    } catch (err) {
      throw wrap(err);
    }
    let broken: Error | undefined;
    try {
      await c.query(begin);
      const out = await fn(c);
      await c.query('COMMIT');
      return out;
    } catch (err) {
      await c.query('ROLLBACK').catch((e: unknown) => {
        broken = e instanceof Error ? e : new Error(String(e));
      });
      throw wrap(err);
    } finally {
      // A connection that could not even roll back is destroyed, not reused.
      c.release(broken);
    }
  }

  /** One statement, so one consistent snapshot without a transaction. */
  async load(keys: StateKeys): Promise<LedgerSnapshot> {
    let c: pg.PoolClient;
    try {
      c = await this.pool.connect();
    } catch (err) {
      throw wrap(err);
    }
    try {
      return await loadSnapshot(c, keys);
    } catch (err) {
      throw wrap(err);
    } finally {
      c.release();
    }
  }

  writeBatch(keys: StateKeys, build: (snap: LedgerSnapshot) => BatchPlan | undefined): Promise<boolean> {
    return this.inTransaction('BEGIN', async (c) => {
      const snap = await loadSnapshot(c, keys, await readHead(c, true));
      const plan = build(snap);
      if (plan === undefined) return false;
      // The height guard cannot fail while every writer follows the protocol; if one did not, nothing lands.
      if (!(await writePlan(c, plan, snap.head.height))) throw new StaleHeadError(`ledger_meta is no longer at C:${snap.head.height}`);
      return true;
    });
  }

  async historyOf(addr: Hex20, limit: number): Promise<Posting[]> {
    // Two index scans (as debtor, as creditor) instead of one OR that would read every posting of the account.
    const r = await this.query<PostingRow>(
      `(SELECT ${POSTING_COLUMNS} FROM ledger_postings WHERE from_addr = $1 ORDER BY block DESC, seq DESC LIMIT $2)
       UNION
       (SELECT ${POSTING_COLUMNS} FROM ledger_postings WHERE to_addr = $1 ORDER BY block DESC, seq DESC LIMIT $2)
       ORDER BY block DESC, seq DESC LIMIT $2`,
      [addr, limit],
    );
    return r.rows.map(postingOf);
  }

  async chainFrom(from: number, limit: number): Promise<ChainEntry[]> {
    const r = await this.query<BlockRow>('SELECT record, payload FROM ledger_blocks WHERE idx >= $1 ORDER BY idx LIMIT $2', [from, limit]);
    return r.rows.map(chainEntryOf);
  }

  /** One REPEATABLE READ snapshot: the audit sees the chain and the state at the same height while others write. */
  withView<T>(fn: (view: LedgerView) => Promise<T>): Promise<T> {
    return this.inTransaction('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY', async (c) => {
      const head = await readHead(c, false);
      const view: LedgerView = {
        height: head.height,
        async *chain() {
          for await (const row of scan<BlockRow>(c, 'SELECT record, payload FROM ledger_blocks ORDER BY idx', 16)) yield chainEntryOf(row);
        },
        async *accounts() {
          for await (const row of scan<AccountRow>(c, 'SELECT addr, balance, nonce, stake, rewards FROM ledger_accounts ORDER BY addr')) {
            yield [row.addr as Hex20, accountOf(row)];
          }
        },
        async *holds() {
          for await (const row of scan<{ hold: string }>(c, 'SELECT hold FROM ledger_holds ORDER BY quote_id')) yield holdFromJson(row.hold);
        },
        async *quotas() {
          for await (const row of scan<{ addr: string; day: number; used: number }>(c, 'SELECT addr, day, used FROM ledger_quotas ORDER BY addr, day')) {
            yield [`${row.addr}/${row.day}`, row.used];
          }
        },
        async *paidRewards() {
          for await (const row of scan<{ key: string }>(c, 'SELECT key FROM ledger_rewards_paid ORDER BY key')) yield row.key;
        },
        async *postings() {
          for await (const row of scan<PostingRow>(c, `SELECT ${POSTING_COLUMNS} FROM ledger_postings ORDER BY block, seq`)) yield postingOf(row);
        },
      };
      return fn(view);
    });
  }

  private async query<R extends pg.QueryResultRow>(sql: string, params: unknown[]): Promise<pg.QueryResult<R>> {
    try {
      return await this.pool.query<R>(sql, params);
    } catch (err) {
      throw wrap(err);
    }
  }

  close(): Promise<void> {
    return this.pool.end();
  }
}

/**
 * PostgreSQL errors as typed errors. A duplicate block height or idempotency key means another writer got there
 * first (StaleHeadError: the Ledger rebuilds the batch, and then finds that writer's receipt); a broken
 * constraint on balances or amounts means state this node computed is wrong, which is never retried.
 */
function wrap(err: unknown): unknown {
  if (err instanceof pg.DatabaseError) {
    const code = err.code ?? '';
    if (code === '23505') return new StaleHeadError(`${err.message} (${err.constraint ?? ''})`);
    if (code === '23514') return new BlyanError('STORE_CORRUPT', `PostgreSQL ledger refused the write: ${err.message}`, { sqlState: code }, { cause: err });
    return new BlyanError('IO_ERROR', `PostgreSQL ledger: ${err.message}`, { sqlState: code }, { cause: err });
  }
  // Connection failures (ECONNREFUSED, "Connection terminated …"); anything else (a bug in build) passes unchanged.
  if (err instanceof Error && !(err instanceof BlyanError) && ('errno' in err || /connection|terminat|timeout/i.test(err.message))) {
    return new BlyanError('IO_ERROR', `PostgreSQL ledger: ${err.message}`, {}, { cause: err });
  }
  return err;
}
