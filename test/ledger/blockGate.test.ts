// The ledger's gate on the block store (src/ledger/blockGate.ts, docs/ledger.md §9.4): a chain-C block that
// reaches a node's store from elsewhere is checked against the ledger state at its parent before it is stored.
// Here blocks travel as sync and gossip carry them (BlockStore.appendBatch with full verification); the
// multi-process version with real nodes and gossip is test/p2p/ledgerGate.test.ts.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createBlock } from '../../src/chain/block.ts';
import { GENESIS_PRIVATE_KEY } from '../../src/chain/genesis.ts';
import { TINY } from '../../src/chain/presets.ts';
import { BlockStore } from '../../src/chain/store.ts';
import type { Block } from '../../src/chain/types.ts';
import { isBlyanError } from '../../src/errors.ts';
import { importChain } from '../../src/ledger/chainImport.ts';
import { Ledger } from '../../src/ledger/ledger.ts';
import { LmdbLedgerStore } from '../../src/ledger/lmdbStore.ts';
import { changeOf, encodeParamsChange } from '../../src/ledger/paramsBlock.ts';
import type { AnyTx } from '../../src/ledger/tx.ts';
import { encodeBatch } from '../../src/ledger/txCodec.ts';
import { tempDir } from '../helpers/fixtures.ts';
import { AUTHORITY, bly, freshLedger, PARAMS, sign, user } from './helpers.ts';

const alice = user('gate alice');
const bob = user('gate bob');
const rogue = user('gate rogue');
const PRODUCER = user('producer');

/** A second node's store with its ledger, guarded as a node guards it. */
function followerStore() {
  const t = tempDir('blyan-gate-');
  const { store } = BlockStore.init(t.dir, TINY);
  const ledger = Ledger.open(store);
  const unguard = ledger.store.guardAppends();
  return {
    store,
    ledger,
    ledgerStore: ledger.store as LmdbLedgerStore,
    unguard,
    close: async () => {
      await store.close();
      t.cleanup();
    },
  };
}

/** A chain-C block at the store's head + 1 signed by `key`: what a rogue or buggy producer sends. */
function blockOn(store: BlockStore, txs: readonly AnyTx[], key: Uint8Array, time: number, parent?: Block): { block: Block; payload: Uint8Array } {
  const head = parent === undefined ? store.headOf('C') : { id: parent.id, header: parent.header };
  if (head === undefined) throw new Error('no chain C');
  const payload = encodeBatch(txs);
  const block = createBlock({ chain: 'C', index: head.header.index + 1, prev: head.id, deps: [], type: 'txbatch', time: Math.max(time, head.header.time) }, payload, key, TINY);
  return { block, payload };
}

const balance = async (l: Ledger, a: string) => (await l.account(a as never))?.balance ?? 0n;

test('an honest chain syncs whatever the batches and however far the ledger lags; blocks are checked against the state at their parent', async () => {
  const p = freshLedger();
  const one = followerStore();
  const many = followerStore();
  try {
    await p.ledger.submit(sign(AUTHORITY, 'Grant', { to: alice.addr, amount: bly(10), nonce: 0n }));
    // C:2 spends what C:1 granted, C:3 what C:2 moved: each applies only on top of the one before.
    await p.ledger.submit(sign(alice, 'Transfer', { to: bob.addr, amount: bly(9), nonce: 0n }));
    await p.ledger.submit(sign(bob, 'Transfer', { to: alice.addr, amount: bly(8), nonce: 0n }));
    // Block by block, the ledger not caught up in between: the gate layers the stored, unapplied blocks.
    assert.equal(await importChain(p.ledger.store, one.store, 1), 3);
    assert.equal(one.ledgerStore.height(), 0, 'nothing applied yet: the blocks were only checked');
    // All three in one append.
    assert.equal(await importChain(p.ledger.store, many.store, 64), 3);
    for (const f of [one, many]) {
      assert.equal(f.ledgerStore.catchUp(), 3);
      assert.equal(await balance(f.ledger, alice.addr), bly(9));
      assert.equal(await balance(f.ledger, bob.addr), bly(1));
    }
  } finally {
    await one.close();
    await many.close();
    await p.close();
  }
});

test('a block whose transactions do not apply is refused (LEDGER_BLOCK_INVALID), not stored, and the ledger keeps working', async () => {
  const p = freshLedger();
  const f = followerStore();
  try {
    await p.ledger.submit(sign(AUTHORITY, 'Grant', { to: alice.addr, amount: bly(10), nonce: 0n }));
    await importChain(p.ledger.store, f.store);
    const head = f.store.headOf('C');
    const time = p.clock.now + 1;
    // Overspend, signed with the producer's own key (a buggy producer): the block is as valid as chain rules go.
    const over = blockOn(f.store, [sign(alice, 'Transfer', { to: bob.addr, amount: bly(11), nonce: 0n })], PRODUCER.key, time);
    assert.throws(
      () => f.store.append(over.block, over.payload),
      (e) => isBlyanError(e, 'LEDGER_BLOCK_INVALID') && e.data.rule === 'LEDGER_INSUFFICIENT_FUNDS' && e.data.tx === 0 && /C:2/.test(e.message),
    );
    // A replayed nonce.
    const replay = blockOn(f.store, [sign(AUTHORITY, 'Grant', { to: bob.addr, amount: bly(1), nonce: 0n })], PRODUCER.key, time);
    assert.throws(() => f.store.append(replay.block, replay.payload), (e) => isBlyanError(e, 'LEDGER_BLOCK_INVALID') && e.data.rule === 'LEDGER_NONCE_REPLAYED');
    // A valid block with an invalid child in one batch: the batch is refused whole.
    const good = blockOn(f.store, [sign(alice, 'Transfer', { to: bob.addr, amount: bly(6), nonce: 0n })], rogue.key, time);
    const child = blockOn(f.store, [sign(alice, 'Transfer', { to: bob.addr, amount: bly(6), nonce: 1n })], rogue.key, time, good.block);
    assert.throws(() => f.store.appendBatch([good, child]), (e) => isBlyanError(e, 'LEDGER_BLOCK_INVALID') && e.data.block === 3);
    for (const b of [over, replay, good, child]) assert.equal(f.store.has(b.block.id), false, 'nothing refused is stored');
    assert.deepEqual(f.store.headOf('C')?.id, head?.id);
    // The producer's next block still goes in and applies.
    await p.ledger.submit(sign(alice, 'Transfer', { to: bob.addr, amount: bly(2), nonce: 0n }));
    assert.equal(await importChain(p.ledger.store, f.store), 1);
    assert.equal(await balance(f.ledger, bob.addr), bly(2));
    assert.equal(f.ledgerStore.height(), 2);
  } finally {
    await f.close();
    await p.close();
  }
});

test('C1: once chain A names the producer, another author is refused by the gate and by catch-up; a misconfigured producer refuses to produce', async () => {
  const p = freshLedger();
  const f = followerStore();
  const early = followerStore();
  const t = tempDir('blyan-gate-unguarded-');
  const { store: bare } = BlockStore.init(t.dir, TINY);
  try {
    await p.ledger.submit(sign(AUTHORITY, 'Grant', { to: alice.addr, amount: bly(10), nonce: 0n }));
    // Before any params block: any author is valid (chain C as it always was).
    const before = blockOn(p.store, [sign(alice, 'Transfer', { to: bob.addr, amount: 1n, nonce: 0n })], rogue.key, p.clock.now);
    const activeFrom = p.clock.now + 1000;
    const aHead = p.store.headOf('A');
    if (aHead === undefined) throw new Error('no chain A');
    const payload = encodeParamsChange({ ...changeOf(PARAMS, activeFrom), producer: PRODUCER.addr });
    const params = createBlock({ chain: 'A', index: aHead.header.index + 1, prev: aHead.id, deps: [], type: 'params', time: p.clock.now }, payload, GENESIS_PRIVATE_KEY, TINY);
    for (const s of [p.store, f.store, early.store, bare]) s.append(params, payload);
    for (const s of [f.store, early.store, bare]) await importChain(p.ledger.store, s);
    // Before activeFrom a stranger's block is still valid: the rule holds from activeFrom on only.
    early.store.append(before.block, before.payload);
    assert.equal(early.ledgerStore.catchUp(), 2, "the grant and the stranger’s block");
    assert.equal(await balance(early.ledger, bob.addr), 1n);
    p.clock.now = activeFrom;
    const txs = [sign(alice, 'Transfer', { to: bob.addr, amount: bly(1), nonce: 0n })];
    const stranger = blockOn(f.store, txs, rogue.key, activeFrom);
    assert.throws(
      () => f.store.append(stranger.block, stranger.payload),
      (e) => isBlyanError(e, 'LEDGER_NOT_PRODUCER') && e.data.producer === PRODUCER.addr && e.data.author === rogue.addr,
    );
    assert.equal(f.store.has(stranger.block.id), false);
    // A misconfigured producer (another key, on the follower's data dir) refuses rather than forks.
    const wrong = Ledger.open(f.store, { producerKey: rogue.key, now: () => activeFrom });
    assert.equal(wrong.producerConflict(), PRODUCER.addr, '`blyan up` warns about it');
    assert.equal(wrong.producerConflict(activeFrom - 1), undefined, 'not before activeFrom');
    assert.equal(p.ledger.producerConflict(), undefined, 'the named producer has no conflict');
    await assert.rejects(wrong.submit(txs[0] as AnyTx), (e) => isBlyanError(e, 'LEDGER_NOT_PRODUCER') && /refuses to fork chain C/.test(e.message));
    assert.equal(f.store.headOf('C')?.header.index, 1, 'nothing produced');
    // The named producer's block goes in.
    const r = await p.ledger.submit(txs[0] as AnyTx);
    assert.equal(r.block, 2);
    assert.equal(await importChain(p.ledger.store, f.store), 1);
    assert.equal(await balance(f.ledger, bob.addr), bly(1));
    // Catch-up applies the same rule to a block a store took without the gate (an old node, an archive import).
    bare.append(stranger.block, stranger.payload);
    assert.throws(() => Ledger.open(bare), (e) => isBlyanError(e, 'LEDGER_NOT_PRODUCER'));
    // Guarded afterwards, that store refuses whatever extends the bad block, without blaming the sender: the
    // state at the parent cannot be computed (STORE_CORRUPT, which gossip ignores).
    const late = new LmdbLedgerStore(bare, PARAMS);
    late.guardAppends();
    const child = blockOn(bare, [sign(bob, 'Transfer', { to: alice.addr, amount: 1n, nonce: 0n })], PRODUCER.key, activeFrom);
    assert.throws(() => bare.append(child.block, child.payload), (e) => isBlyanError(e, 'STORE_CORRUPT') && e.data.block === 2);
    assert.equal(bare.has(child.block.id), false);
  } finally {
    await bare.close();
    t.cleanup();
    await f.close();
    await early.close();
    await p.close();
  }
});
