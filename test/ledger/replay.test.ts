import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { exportArchive, importArchive } from '../../src/chain/archive/index.ts';
import { createBlock } from '../../src/chain/block.ts';
import { TINY } from '../../src/chain/presets.ts';
import { BlockStore } from '../../src/chain/store.ts';
import { isBlyanError } from '../../src/errors.ts';
import { applyBlock } from '../../src/ledger/apply.ts';
import { auditLedger } from '../../src/ledger/audit.ts';
import { Ledger } from '../../src/ledger/ledger.ts';
import type { LmdbLedgerStore } from '../../src/ledger/lmdbStore.ts';
import { MemoryLedgerState, nextState } from '../../src/ledger/memoryState.ts';
import { accountToJson } from '../../src/ledger/stateCodec.ts';
import { encodeBatch } from '../../src/ledger/txCodec.ts';
import { tempDir } from '../helpers/fixtures.ts';
import { bly, freshLedger, fund, PARAMS, sign, T0, user } from './helpers.ts';

const alice = user('alice');
const bob = user('bob');

test('a chain imported from an archive replays to the same ledger state; the audit passes', async () => {
  const env = freshLedger();
  const { dir: dir2, cleanup: cleanup2 } = tempDir('blyan-ledger-import-');
  try {
    await fund(env.ledger, alice.addr, bly(3));
    await env.ledger.submit(sign(alice, 'Transfer', { to: bob.addr, amount: bly(1), nonce: 0n }));
    await env.ledger.submit(sign(alice, 'Stake', { amount: bly(1), nonce: 1n }));
    const car = join(dir2, 'c.car');
    await exportArchive(env.store, car);
    const { store: other } = BlockStore.init(join(dir2, 'node'), TINY);
    try {
      await importArchive(other, car);
      const ledger2 = Ledger.open(other);
      for (const u of [alice, bob]) {
        assert.equal(accountToJson(ledger2.store.account(u.addr) ?? { balance: -1n, nonce: 0n, stake: 0n, rewards: 0n }), accountToJson(env.ledger.store.account(u.addr) ?? { balance: -2n, nonce: 0n, stake: 0n, rewards: 0n }));
      }
      assert.equal((await auditLedger(other, ledger2.store)).transactions, 3);
      await assert.rejects(ledger2.submit(sign(alice, 'Transfer', { to: bob.addr, amount: 1n, nonce: 2n })), (e) => isBlyanError(e, 'BAD_ARGUMENT'), 'read-only without a producer key');
    } finally {
      await other.close();
    }
  } finally {
    await env.close();
    cleanup2();
  }
});

test('the audit catches tampered state, and an invalid txbatch block is refused when the ledger catches up', async () => {
  const env = freshLedger();
  try {
    await fund(env.ledger, alice.addr, bly(3));
    const store = env.ledger.store as LmdbLedgerStore;
    const acc = store.account(alice.addr);
    assert.ok(acc !== undefined);
    // Tamper: give alice one more unit behind the ledger's back.
    store.transaction(() => env.store.sideDb('ledger').putSync(`a/${alice.addr}`, Buffer.from(accountToJson({ ...acc, balance: acc.balance + 1n }))));
    await assert.rejects(auditLedger(env.store, store), (e) => isBlyanError(e, 'LEDGER_AUDIT_FAILED') && e.data.rule === 'A4');
    store.transaction(() => env.store.sideDb('ledger').putSync(`a/${alice.addr}`, Buffer.from(accountToJson(acc))));
    await auditLedger(env.store, store);

    // A block that spends more than alice has, appended without the ledger (as a raw sync could): refused on catch-up.
    const head = env.store.headOf('C');
    assert.ok(head !== undefined);
    const payload = encodeBatch([sign(alice, 'Transfer', { to: bob.addr, amount: bly(4), nonce: 0n })]);
    const block = createBlock({ chain: 'C', index: head.header.index + 1, prev: head.id, deps: [], type: 'txbatch', time: T0 }, payload, bob.key, TINY);
    env.store.append(block, payload);
    assert.throws(() => Ledger.open(env.store), (e) => isBlyanError(e, 'LEDGER_BLOCK_INVALID') && e.data.rule === 'LEDGER_INSUFFICIENT_FUNDS' && e.data.tx === 0);
  } finally {
    await env.close();
  }
});

test('nextState is pure: (state, block) → a new state, the input unchanged', () => {
  const s0 = nextState(new MemoryLedgerState(), { chain: 'C', index: 0, type: 'genesis', time: T0 }, new Uint8Array(0), PARAMS);
  const before = JSON.stringify([...s0.accounts].map(([k, v]) => [k, accountToJson(v)]));
  const payload = encodeBatch([sign(user('authority-less'), 'Grant', { to: alice.addr, amount: 1n, nonce: 0n })]);
  assert.throws(() => nextState(s0, { chain: 'C', index: 1, type: 'txbatch', time: T0 }, payload, PARAMS), (e) => isBlyanError(e, 'LEDGER_NOT_AUTHORIZED'));
  assert.equal(JSON.stringify([...s0.accounts].map(([k, v]) => [k, accountToJson(v)])), before);
  assert.throws(() => applyBlock(s0, { chain: 'C', index: 1, type: 'txbatch', time: T0 }, new Uint8Array([0xa0]), PARAMS), (e) => isBlyanError(e, 'LEDGER_BAD_BATCH'));
});
