// PostgreSQL-only behaviour of the ledger store: the audit of the shared chain and state, network checks,
// the database's own guards, and the strict snapshot. (Shared behaviour is in compliance.pg.test.ts.)
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import pg from 'pg';
import { createBlock } from '../../src/chain/block.ts';
import { encodeRecord } from '../../src/chain/encoding.ts';
import { DEVNET, TINY } from '../../src/chain/presets.ts';
import { isBlyanError } from '../../src/errors.ts';
import { auditStore } from '../../src/ledger/audit.ts';
import { PgLedgerStore } from '../../src/ledger/pgStore.ts';
import { KeySet } from '../../src/ledger/storeKeys.ts';
import { SYSTEM } from '../../src/ledger/systemAccounts.ts';
import { encodeBatch } from '../../src/ledger/txCodec.ts';
import { type PgServer, startPostgres } from '../helpers/postgres.ts';
import { bly, fund, PARAMS, sign, T0, user } from './helpers.ts';
import { pgEnv } from './pgEnv.ts';

let server: PgServer | undefined;
const srv = (): PgServer => {
  if (server === undefined) throw new Error('the PostgreSQL test server did not start');
  return server;
};
before(async () => {
  server = await startPostgres();
});
after(() => server?.stop());

const alice = user('alice');
const bob = user('bob');

test('the audit of a PostgreSQL ledger catches tampered state (A4) and a block that does not extend the chain (A0)', async () => {
  const env = await pgEnv(srv)();
  try {
    const { ledger } = env;
    await fund(ledger, alice.addr, bly(3));
    await ledger.submit(sign(alice, 'Transfer', { to: bob.addr, amount: bly(1), nonce: 0n }));
    const report = await auditStore(ledger.store);
    assert.equal(report.transactions, 2);
    // Reach into the same database as the store to tamper behind its back.
    const c = new pg.Client({ connectionString: env.url });
    await c.connect();
    try {
      await c.query('UPDATE ledger_accounts SET balance = balance + 1 WHERE addr = $1', [bob.addr]);
      await assert.rejects(auditStore(ledger.store), (e) => isBlyanError(e, 'LEDGER_AUDIT_FAILED') && e.data.rule === 'A4');
      await c.query('UPDATE ledger_accounts SET balance = balance - 1 WHERE addr = $1', [bob.addr]);
      await auditStore(ledger.store);
      // The database refuses an overdraft even from a writer that skipped the rules.
      await assert.rejects(c.query('UPDATE ledger_accounts SET balance = -1 WHERE addr = $1', [bob.addr]), /ledger_no_overdraft/);
      // A forged block at the next height whose prev is not the head: the state audit alone would not see it.
      const [head] = await ledger.store.chainFrom(2, 1);
      assert.ok(head !== undefined);
      const payload = encodeBatch([sign(alice, 'Transfer', { to: bob.addr, amount: 1n, nonce: 1n })]);
      const forged = createBlock({ chain: 'C', index: 3, prev: head.block.header.prev, deps: [], type: 'txbatch', time: T0 }, payload, bob.key, TINY);
      await c.query('INSERT INTO ledger_blocks (idx, id, record, payload) VALUES (3, $1, $2, $3)', [Buffer.from(forged.id), Buffer.from(encodeRecord(forged)), Buffer.from(payload)]);
      await c.query('UPDATE ledger_meta SET height = 3');
      await assert.rejects(auditStore(ledger.store), (e) => isBlyanError(e, 'LEDGER_AUDIT_FAILED') && e.data.rule === 'A0');
    } finally {
      await c.end();
    }
  } finally {
    await env.close();
  }
});

test('a PostgreSQL ledger of one network refuses another network; reading a key a snapshot did not load is an error', async () => {
  const url = await srv().createDatabase('network_check');
  const store = await PgLedgerStore.open({ url, preset: TINY, params: PARAMS });
  try {
    await assert.rejects(PgLedgerStore.open({ url, preset: DEVNET }), (e) => isBlyanError(e, 'STORE_GENESIS_MISMATCH'));
    // Two processes opening an empty database at once create one genesis.
    const again = await Promise.all([PgLedgerStore.open({ url, preset: TINY, params: PARAMS }), PgLedgerStore.open({ url, preset: TINY, params: PARAMS })]);
    for (const s of again) await s.close();
    assert.equal((await store.chainFrom(0, 10)).length, 1);
    const snap = await store.load(new KeySet(T0));
    assert.equal(snap.head.height, 0);
    assert.equal(snap.account(SYSTEM.treasury)?.balance, PARAMS.genesis.treasury);
    assert.throws(() => snap.account(alice.addr), (e) => isBlyanError(e, 'STORE_CORRUPT'));
    assert.throws(() => snap.hold(`0x${'11'.repeat(32)}`), (e) => isBlyanError(e, 'STORE_CORRUPT'));
  } finally {
    await store.close();
  }
});

test('a guarded block store under a PostgreSQL ledger takes chain-C blocks from the database only (LEDGER_FOREIGN_BLOCK)', async () => {
  const env = await pgEnv(srv)();
  try {
    const { ledger } = env;
    const blocks = ledger.blocks;
    ledger.guardAppends();
    await fund(ledger, alice.addr, bly(3));
    assert.equal(await ledger.syncChain(), 1, 'the mirror takes the database’s block');
    const head = blocks.headOf('C');
    assert.equal(head?.header.index, 1);
    // A valid-looking block from elsewhere (a peer) at the next height: refused, nothing stored.
    const payload = encodeBatch([sign(alice, 'Transfer', { to: bob.addr, amount: bly(1), nonce: 0n })]);
    const foreign = createBlock({ chain: 'C', index: 2, prev: head?.id as Uint8Array, deps: [], type: 'txbatch', time: T0 }, payload, bob.key, TINY);
    assert.throws(() => blocks.appendBatch([{ block: foreign, payload }]), (e) => isBlyanError(e, 'LEDGER_FOREIGN_BLOCK') && /PostgreSQL/.test(e.message));
    assert.equal(blocks.has(foreign.id), false);
    assert.equal(blocks.headOf('C')?.header.index, 1);
    // The mirror keeps working.
    await ledger.submit(sign(alice, 'Transfer', { to: bob.addr, amount: bly(1), nonce: 0n }));
    assert.equal(await ledger.syncChain(), 1);
    assert.equal(blocks.headOf('C')?.header.index, 2);
    assert.notDeepEqual(blocks.headOf('C')?.id, foreign.id);
  } finally {
    await env.close();
  }
});

test('an unreachable PostgreSQL is a typed IO_ERROR', async () => {
  await assert.rejects(PgLedgerStore.open({ url: `postgresql://postgres@127.0.0.1:${srv().port}/no_such_db`, preset: TINY }), (e) => isBlyanError(e, 'IO_ERROR'));
});
