import type pg from 'pg';
import { encodeRecord } from '../chain/encoding.ts';
import type { BatchPlan } from './ledgerStore.ts';
import { holdToJson } from './stateCodec.ts';

/**
 * Writes one block, its diff and its idempotency records inside the caller's transaction, as ONE statement
 * (data-modifying CTEs over unnest arrays): one round trip whatever the batch size, where a statement per table
 * and per row would make the ledger's write lock wait on the network. The tables are independent, so the CTEs
 * cannot see or conflict with each other. Rewards, postings, blocks and idempotency keys are inserted, never
 * upserted: their primary keys are the last line of defence against paying a reward, writing a block height or
 * using a key twice. With `prevHeight`, ledger_meta moves to the new head only if it is still at prevHeight;
 * the result says whether it did.
 */
const WRITE_SQL = `
WITH blk AS (
  INSERT INTO ledger_blocks (idx, id, record, payload) VALUES ($1, $2, $3, $4)
), acc AS (
  INSERT INTO ledger_accounts (addr, balance, nonce, stake, rewards)
  SELECT * FROM unnest($5::text[], $6::numeric[], $7::numeric[], $8::numeric[], $9::numeric[])
  ON CONFLICT (addr) DO UPDATE SET balance = EXCLUDED.balance, nonce = EXCLUDED.nonce, stake = EXCLUDED.stake, rewards = EXCLUDED.rewards
), hld AS (
  INSERT INTO ledger_holds (quote_id, user_addr, provider, state, hold)
  SELECT * FROM unnest($10::text[], $11::text[], $12::text[], $13::text[], $14::text[])
  ON CONFLICT (quote_id) DO UPDATE SET state = EXCLUDED.state, hold = EXCLUDED.hold
), quo AS (
  INSERT INTO ledger_quotas (addr, day, used) SELECT * FROM unnest($15::text[], $16::int[], $17::int[])
  ON CONFLICT (addr, day) DO UPDATE SET used = EXCLUDED.used
), rew AS (
  INSERT INTO ledger_rewards_paid (key, block) SELECT k, $1 FROM unnest($18::text[]) AS k
), pst AS (
  INSERT INTO ledger_postings (block, seq, tx, tx_id, kind, from_addr, to_addr, amount, time)
  SELECT * FROM unnest($19::int[], $20::int[], $21::int[], $22::text[], $23::text[], $24::text[], $25::text[], $26::numeric[], $27::bigint[])
), idm AS (
  INSERT INTO ledger_idempotency (key, record, block) SELECT k, r, $1 FROM unnest($28::text[], $29::text[]) AS t(k, r)
)
`;

export async function writePlan(c: pg.ClientBase, plan: BatchPlan, prevHeight?: number): Promise<boolean> {
  const { block, payload, diff, idempotency } = plan;
  const accounts = [...diff.accounts];
  const holds = [...diff.holds.values()];
  const quotas = [...diff.quotas].map(([key, used]) => {
    const slash = key.lastIndexOf('/');
    return { addr: key.slice(0, slash), day: Number(key.slice(slash + 1)), used };
  });
  const ps = diff.postings;
  const params: unknown[] = [
    block.header.index,
    Buffer.from(block.id),
    Buffer.from(encodeRecord(block)),
    Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength),
    accounts.map(([a]) => a),
    accounts.map(([, acc]) => acc.balance.toString()),
    accounts.map(([, acc]) => acc.nonce.toString()),
    accounts.map(([, acc]) => acc.stake.toString()),
    accounts.map(([, acc]) => acc.rewards.toString()),
    holds.map((h) => h.quoteId),
    holds.map((h) => h.user),
    holds.map((h) => h.provider),
    holds.map((h) => h.state),
    holds.map(holdToJson),
    quotas.map((r) => r.addr),
    quotas.map((r) => r.day),
    quotas.map((r) => r.used),
    [...diff.rewardsPaid],
    ps.map((p) => p.block),
    ps.map((p) => p.seq),
    ps.map((p) => p.tx),
    ps.map((p) => p.txId),
    ps.map((p) => p.kind),
    ps.map((p) => p.from),
    ps.map((p) => p.to),
    ps.map((p) => p.amount.toString()),
    ps.map((p) => p.time),
    idempotency.map((r) => r.key),
    idempotency.map((r) => JSON.stringify(r)),
  ];
  if (prevHeight === undefined) {
    await c.query(`${WRITE_SQL} SELECT 1`, params);
    return true;
  }
  const r = await c.query(`${WRITE_SQL} UPDATE ledger_meta SET height = $1, head_id = $2, head_time = $30 WHERE id = 1 AND height = $31`, [
    ...params,
    block.header.time,
    prevHeight,
  ]);
  return r.rowCount === 1;
}
