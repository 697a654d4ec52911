import type pg from 'pg';
import { genesisOf } from '../chain/genesis.ts';
import type { Preset } from '../chain/presets.ts';
import { BlyanError } from '../errors.ts';
import { applyGenesis } from './apply.ts';
import { MemoryLedgerState } from './memoryState.ts';
import type { LedgerParams } from './params.ts';
import { writePlan } from './pgWrite.ts';
import { SYSTEM } from './systemAccounts.ts';

/**
 * The PostgreSQL ledger schema (docs/ledger.md §9.2). Amounts are numeric(78,0) (uint256 fits; JavaScript reads
 * them as decimal strings and turns them into bigint, never a float). Chain C itself lives here too: several
 * node processes append to one chain, so the store they share is its source of truth.
 *
 * ledger_meta is the single row every writer locks (SELECT … FOR UPDATE) before it reads the state a block
 * builds on: that lock makes chain C linear and every check-and-charge atomic across processes.
 */
export const LEDGER_DDL = `
CREATE TABLE IF NOT EXISTS ledger_meta (
  id smallint PRIMARY KEY CHECK (id = 1),
  network text NOT NULL,
  genesis text NOT NULL,
  height integer NOT NULL,
  head_id bytea NOT NULL,
  head_time bigint NOT NULL
);
CREATE TABLE IF NOT EXISTS ledger_blocks (
  idx integer PRIMARY KEY,
  id bytea NOT NULL UNIQUE,
  record bytea NOT NULL,
  payload bytea NOT NULL
);
CREATE TABLE IF NOT EXISTS ledger_accounts (
  addr text PRIMARY KEY,
  balance numeric(78,0) NOT NULL,
  nonce numeric(20,0) NOT NULL,
  stake numeric(78,0) NOT NULL,
  rewards numeric(78,0) NOT NULL,
  CONSTRAINT ledger_no_overdraft CHECK (balance >= 0 OR addr = '${SYSTEM.issuance}')
);
CREATE TABLE IF NOT EXISTS ledger_holds (
  quote_id text PRIMARY KEY,
  user_addr text NOT NULL,
  provider text NOT NULL,
  state text NOT NULL,
  hold text NOT NULL
);
CREATE TABLE IF NOT EXISTS ledger_quotas (
  addr text NOT NULL,
  day integer NOT NULL,
  used integer NOT NULL,
  PRIMARY KEY (addr, day)
);
CREATE TABLE IF NOT EXISTS ledger_rewards_paid (
  key text PRIMARY KEY,
  block integer NOT NULL
);
CREATE TABLE IF NOT EXISTS ledger_postings (
  block integer NOT NULL,
  seq integer NOT NULL,
  tx integer NOT NULL,
  tx_id text,
  kind text NOT NULL,
  from_addr text NOT NULL,
  to_addr text NOT NULL,
  amount numeric(78,0) NOT NULL CHECK (amount > 0),
  time bigint NOT NULL,
  PRIMARY KEY (block, seq)
);
CREATE INDEX IF NOT EXISTS ledger_postings_from ON ledger_postings (from_addr, block, seq);
CREATE INDEX IF NOT EXISTS ledger_postings_to ON ledger_postings (to_addr, block, seq);
CREATE TABLE IF NOT EXISTS ledger_idempotency (
  key text PRIMARY KEY,
  record text NOT NULL,
  block integer NOT NULL
);
`;

/** Serialises schema creation across processes starting at once (CREATE TABLE IF NOT EXISTS is not race-free). */
const SCHEMA_LOCK = 0x626c79616e4c;

/** Creates the tables and the ledger genesis (C:0 and its issuance) once; refuses a database of another network. */
export async function ensureSchema(pool: pg.Pool, preset: Preset, params: LedgerParams): Promise<void> {
  const c = await pool.connect();
  try {
    await c.query('BEGIN');
    await c.query('SELECT pg_advisory_xact_lock($1)', [SCHEMA_LOCK]);
    await c.query(LEDGER_DDL);
    const meta = await c.query<{ network: string; genesis: string }>('SELECT network, genesis FROM ledger_meta WHERE id = 1');
    const row = meta.rows[0];
    if (row === undefined) {
      const { block, payload } = genesisOf(preset).c;
      const diff = applyGenesis(new MemoryLedgerState(), block.header.time, params);
      await writePlan(c, { block, payload, diff, idempotency: [] });
      await c.query('INSERT INTO ledger_meta (id, network, genesis, height, head_id, head_time) VALUES (1, $1, $2, 0, $3, $4)', [
        preset.network,
        preset.genesisId,
        Buffer.from(block.id),
        block.header.time,
      ]);
    } else if (row.network !== preset.network || row.genesis !== preset.genesisId) {
      throw new BlyanError('STORE_GENESIS_MISMATCH', `this PostgreSQL ledger belongs to ${row.network} (genesis ${row.genesis}), not ${preset.network}`, {
        stored: row.genesis,
        expected: preset.genesisId,
      });
    }
    await c.query('COMMIT');
  } catch (err) {
    await c.query('ROLLBACK').catch(() => undefined);
    throw err;
  } finally {
    c.release();
  }
}
