// The ledger producer's mempool of gossiped transactions (src/ledger/mempool.ts, docs/ledger.md §9.4):
// dedup by tx id, a bound, stateless rule breaks rejected, state-dependent refusals ignored, admitted ones
// committed by the producer's batch.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { TxReceipt } from '../../src/ledger/ledgerStore.ts';
import { Mempool } from '../../src/ledger/mempool.ts';
import { SYSTEM } from '../../src/ledger/systemAccounts.ts';
import { type AnyTx, toHex0x, txDigest } from '../../src/ledger/tx.ts';
import { AUTHORITY, bly, freshLedger, fund, sign, user } from './helpers.ts';

const alice = user('mempool alice');
const bob = user('mempool bob');
const idOf = (tx: AnyTx) => toHex0x(txDigest(tx));

/** A submit that settles when the test says so. */
function manualSubmit() {
  const calls: { tx: AnyTx; resolve: (r: TxReceipt) => void; reject: (e: unknown) => void }[] = [];
  const submit = (tx: AnyTx) => new Promise<TxReceipt>((resolve, reject) => calls.push({ tx, resolve, reject }));
  return { calls, submit };
}

const receipt = (tx: AnyTx): TxReceipt => ({ txId: idOf(tx), kind: tx.kind, from: tx.message.from, block: 1, blockId: '00', index: 0 });
const settle = () => new Promise((r) => setImmediate(r));

test('mempool: a transaction is admitted once; duplicates (pending or included) are ignored; a refused one may come again', async () => {
  const { calls, submit } = manualSubmit();
  const pool = new Mempool({ submit });
  const t1 = sign(alice, 'Transfer', { to: bob.addr, amount: 1n, nonce: 0n });
  const t2 = sign(alice, 'Transfer', { to: bob.addr, amount: 2n, nonce: 1n });
  assert.equal(pool.offer(t1, idOf(t1)), 'accept');
  // The same id with or without 0x, any case.
  assert.equal(pool.offer(t1, idOf(t1).slice(2).toUpperCase()), 'ignore');
  assert.equal(pool.offer(t2, idOf(t2)), 'accept');
  assert.equal(calls.length, 2, 'each handed to the batch once');
  assert.equal(pool.stats().pending, 2);
  calls[0]?.resolve(receipt(t1));
  calls[1]?.reject(new Error('refused by the batch'));
  await settle();
  assert.equal(pool.stats().pending, 0);
  assert.equal(pool.offer(t1, idOf(t1)), 'ignore', 'an included transaction is remembered');
  assert.equal(pool.offer(t2, idOf(t2)), 'accept', 'a refused one is forgotten, so it can be offered again');
  const s = pool.stats();
  assert.deepEqual([s.accepted, s.included, s.refused, s.duplicates], [3, 1, 1, 2]);
});

test('mempool: bounded; beyond maxPending gossip is ignored, not queued', async () => {
  const { calls, submit } = manualSubmit();
  const pool = new Mempool({ submit, maxPending: 3 });
  const txs = [0, 1, 2, 3, 4].map((n) => sign(alice, 'Transfer', { to: bob.addr, amount: 1n, nonce: BigInt(n) }));
  assert.deepEqual(
    txs.map((t) => pool.offer(t, idOf(t))),
    ['accept', 'accept', 'accept', 'ignore', 'ignore'],
  );
  assert.equal(calls.length, 3);
  assert.equal(pool.stats().full, 2);
  calls[0]?.resolve(receipt(txs[0] as AnyTx));
  await settle();
  assert.equal(pool.offer(txs[3] as AnyTx, idOf(txs[3] as AnyTx)), 'accept', 'room again once one settled');
  // The recent-id memory is bounded too.
  const small = new Mempool({ submit: async (tx) => receipt(tx), maxRecent: 2 });
  for (const t of txs.slice(0, 3)) small.offer(t, idOf(t));
  await settle();
  assert.equal(small.offer(txs[0] as AnyTx, idOf(txs[0] as AnyTx)), 'accept', 'the oldest id was forgotten');
  assert.equal(small.offer(txs[2] as AnyTx, idOf(txs[2] as AnyTx)), 'ignore');
});

test('mempool on a producer: stateless rule breaks rejected, state-dependent refusals ignored, valid ones committed', async () => {
  const env = freshLedger();
  try {
    const { ledger } = env;
    const pool = ledger.mempool;
    assert.ok(pool !== undefined, 'a producer has a mempool');
    assert.equal(ledger.mode, 'producer');
    await fund(ledger, alice.addr, bly(5));
    // Stateless: a transfer to the escrow account can never be valid → reject (the peer is penalised).
    const reserved = sign(alice, 'Transfer', { to: SYSTEM.escrow, amount: 1n, nonce: 0n });
    assert.equal(ledger.gossipTx(reserved, idOf(reserved)), 'reject');
    // State-dependent: more than alice has, a used nonce, a stranger's grant → ignore (the sender's view may lag).
    const tooMuch = sign(alice, 'Transfer', { to: bob.addr, amount: bly(50), nonce: 0n });
    assert.equal(ledger.gossipTx(tooMuch, idOf(tooMuch)), 'ignore');
    const grant = sign(bob, 'Grant', { to: bob.addr, amount: bly(1), nonce: 0n });
    assert.equal(ledger.gossipTx(grant, idOf(grant)), 'ignore');
    const s0 = pool.stats();
    assert.deepEqual([s0.rejected, s0.ignored, s0.accepted], [1, 2, 0]);
    assert.equal(await ledger.height(), 1, 'nothing refused reached a block');

    // Valid: admitted, batched, committed once, however often it is offered.
    const ok = sign(alice, 'Transfer', { to: bob.addr, amount: bly(2), nonce: 0n });
    const commits: number[] = [];
    ledger.onCommit((b) => commits.push(b));
    assert.equal(ledger.gossipTx(ok, idOf(ok)), 'accept');
    assert.equal(ledger.gossipTx(ok, idOf(ok)), 'ignore');
    for (let i = 0; i < 100 && pool.stats().pending > 0; i++) await new Promise((r) => setTimeout(r, 10));
    assert.equal((await ledger.account(bob.addr))?.balance, bly(2));
    assert.equal((await ledger.account(alice.addr))?.balance, bly(3));
    assert.deepEqual(commits, [2]);
    assert.equal(ledger.gossipTx(ok, idOf(ok)), 'ignore', 'included: a late duplicate is ignored');
    const replay = sign(alice, 'Transfer', { to: bob.addr, amount: bly(1), nonce: 0n });
    assert.equal(ledger.gossipTx(replay, idOf(replay)), 'ignore', 'a replayed nonce is refused without blame');
    assert.equal(pool.stats().included, 1);
    // The authority's faucet grant through gossip works like a local one.
    const g = sign(AUTHORITY, 'Grant', { to: bob.addr, amount: bly(1), nonce: 1n });
    assert.equal(ledger.gossipTx(g, idOf(g)), 'accept');
    for (let i = 0; i < 100 && pool.stats().pending > 0; i++) await new Promise((r) => setTimeout(r, 10));
    assert.equal((await ledger.account(bob.addr))?.balance, bly(3));
  } finally {
    await env.close();
  }
});
