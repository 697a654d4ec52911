// A ledger follower in process (src/ledger/follower.ts, docs/ledger.md §9.4): transactions submitted to it are
// checked against its view, relayed to the producer's mempool, and settled when the producer's chain-C block
// reaches it (here: copied block by block as gossip would carry them). The multi-process version with real
// `blyan up` nodes is test/p2p/ledgerNetwork.test.ts.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { TINY } from '../../src/chain/presets.ts';
import { addressOf } from '../../src/chain/sign.ts';
import { BlockStore } from '../../src/chain/store.ts';
import { isBlyanError } from '../../src/errors.ts';
import { auditLedger } from '../../src/ledger/audit.ts';
import { importChain } from '../../src/ledger/chainImport.ts';
import type { TxRelay } from '../../src/ledger/follower.ts';
import { Ledger } from '../../src/ledger/ledger.ts';
import type { LedgerStore, TxReceipt } from '../../src/ledger/ledgerStore.ts';
import { authorizeMessage, makeQuote } from '../../src/ledger/pricing.ts';
import { type Hex20, hexAddress, SYSTEM } from '../../src/ledger/systemAccounts.ts';
import { type AnyTx, toHex0x, txDigest } from '../../src/ledger/tx.ts';
import { tempDir } from '../helpers/fixtures.ts';
import { until } from '../helpers/until.ts';
import { AUTHORITY, bly, freshLedger, PARAMS, sign, user } from './helpers.ts';

const alice = user('follower alice');
const bob = user('follower bob');
const provider = user('follower provider');
const PRODUCER = hexAddress(addressOf(user('producer').key));
const idOf = (tx: AnyTx) => toHex0x(txDigest(tx));

/** A producer and a follower of it. `net.deliver = false` holds transactions back (the producer is unreachable). */
function network(timeoutMs = 5_000) {
  const producer = freshLedger();
  const t = tempDir('blyan-follower-');
  const { store } = BlockStore.init(t.dir, TINY);
  const follower = Ledger.open(store, { now: () => producer.clock.now });
  const net = { deliver: true, held: [] as AnyTx[], published: 0 };
  const relay: TxRelay = {
    publish: async (tx, txId) => {
      net.published++;
      if (net.deliver) producer.ledger.gossipTx(tx, txId);
      else net.held.push(tx);
    },
  };
  follower.follow({ relay, timeoutMs, pollMs: 50 });
  // Blocks travel as gossip carries them: appended to the follower's block store, fully verified.
  let shipping = Promise.resolve();
  producer.ledger.onCommit(() => {
    shipping = shipping.then(async () => {
      await importChain(producer.ledger.store, store);
      follower.poke();
    });
  });
  return {
    producer: producer.ledger,
    follower,
    store,
    clock: producer.clock,
    net,
    close: async () => {
      await shipping;
      follower.stop();
      await store.close();
      t.cleanup();
      await producer.close();
    },
  };
}

const balance = async (l: Ledger<LedgerStore>, a: Hex20) => (await l.account(a))?.balance ?? 0n;
const head = (l: Ledger<LedgerStore>) => l.status().head;

test('follower: a grant and a transfer land in the producer’s blocks once; both nodes agree; the follower produced nothing; audits pass', async () => {
  const n = network();
  try {
    assert.equal(n.follower.mode, 'follower');
    assert.equal(n.follower.mempool, undefined, 'a follower has no mempool');
    const g = await n.follower.submit(sign(AUTHORITY, 'Grant', { to: alice.addr, amount: bly(10), nonce: 0n }));
    assert.equal(g.block, 1);
    const t = await n.follower.submit(sign(alice, 'Transfer', { to: bob.addr, amount: bly(3), nonce: 0n }));
    assert.equal(t.block, 2);
    assert.equal(t.blockId, n.producer.status().head, 'the receipt names the producer’s block');
    for (const l of [n.producer, n.follower]) {
      assert.equal(await balance(l, alice.addr), bly(7));
      assert.equal(await balance(l, bob.addr), bly(3));
      assert.equal(await l.height(), 2);
      const report = await auditLedger(l.blocks, l.store);
      assert.equal(report.transactions, 2, 'each transaction once');
    }
    assert.equal(head(n.follower), head(n.producer));
    for (const { block } of n.store.iterate('C', 1)) assert.equal(hexAddress(block.header.author), PRODUCER, `C:${block.header.index} is the producer’s`);
    const s = n.follower.status();
    assert.deepEqual([s.mode, s.producer, s.waiting, s.mempool], ['follower', PRODUCER, 0, null]);
    assert.equal(n.producer.status().mempool?.included, 2);
  } finally {
    await n.close();
  }
});

test('follower: an Authorize retried (concurrently, then re-signed) gets the first receipt and charges once', async () => {
  const n = network();
  try {
    await n.follower.submit(sign(AUTHORITY, 'Grant', { to: alice.addr, amount: bly(10), nonce: 0n }));
    const q = makeQuote({ provider: provider.addr, maxTokens: 2000n, now: n.clock.now }, PARAMS);
    const auth = sign(alice, 'Authorize', authorizeMessage(q, alice.addr, 0n));
    const [r1, r2] = await Promise.all([n.follower.submit(auth), n.follower.submit(auth)]);
    assert.deepEqual(r1, r2);
    const r3 = await n.follower.submit(sign(alice, 'Authorize', authorizeMessage(q, alice.addr, 1n)));
    assert.deepEqual(r3, r1, 'the key recorded when the block arrived returns the first receipt');
    assert.equal(n.net.published, 2, 'the retries were not forwarded');
    for (const l of [n.producer, n.follower]) {
      assert.equal(await balance(l, alice.addr), bly(8));
      assert.equal(await balance(l, SYSTEM.escrow), bly(2));
    }
    // The provider captures through the follower.
    const c = await n.follower.submit(sign(provider, 'Capture', { quoteId: q.quoteId, tokensUsed: 1000n, nonce: 0n }));
    assert.equal(c.kind, 'Capture');
    assert.equal(await balance(n.follower, SYSTEM.escrow), 0n);
    assert.equal(await balance(n.follower, alice.addr), await balance(n.producer, alice.addr));
  } finally {
    await n.close();
  }
});

test('follower: what its view refuses is refused at once and never forwarded; relayed gossip is checked for stateless rules only', async () => {
  const n = network();
  try {
    await assert.rejects(n.follower.submit(sign(alice, 'Transfer', { to: bob.addr, amount: bly(1), nonce: 0n })), (e) => isBlyanError(e, 'LEDGER_UNKNOWN_ACCOUNT'));
    await n.follower.submit(sign(AUTHORITY, 'Grant', { to: alice.addr, amount: bly(1), nonce: 0n }));
    const before = n.net.published;
    await assert.rejects(n.follower.submit(sign(alice, 'Transfer', { to: bob.addr, amount: bly(5), nonce: 0n })), (e) => isBlyanError(e, 'LEDGER_INSUFFICIENT_FUNDS'));
    assert.equal(n.net.published, before);
    // Gossip from another node: forwarded unless it breaks a rule whatever the state.
    const reserved = sign(alice, 'Transfer', { to: SYSTEM.escrow, amount: 1n, nonce: 1n });
    assert.equal(n.follower.gossipTx(reserved, idOf(reserved)), 'reject');
    const tooMuch = sign(alice, 'Transfer', { to: bob.addr, amount: bly(5), nonce: 1n });
    assert.equal(n.follower.gossipTx(tooMuch, idOf(tooMuch)), 'accept', 'state may differ: the producer decides');
  } finally {
    await n.close();
  }
});

test('follower without a producer: LEDGER_PRODUCER_UNREACHABLE after the timeout, nothing applied; a late block still settles the watch', async () => {
  const n = network(300);
  try {
    await n.follower.submit(sign(AUTHORITY, 'Grant', { to: alice.addr, amount: bly(10), nonce: 0n }));
    n.net.deliver = false;
    const tx = sign(alice, 'Transfer', { to: bob.addr, amount: bly(4), nonce: 0n });
    const t0 = Date.now();
    await assert.rejects(n.follower.submit(tx), (e) => {
      assert.ok(isBlyanError(e, 'LEDGER_PRODUCER_UNREACHABLE'), String(e));
      assert.match(e.message, /no ledger producer included transaction 0x[0-9a-f]{64} within 0\.3 s; is the seed reachable\?/);
      return true;
    });
    assert.ok(Date.now() - t0 >= 290);
    assert.equal(await balance(n.follower, alice.addr), bly(10), 'nothing moved');
    assert.equal(await n.follower.height(), 1);
    assert.equal(n.follower.status().waiting, 0);
    // The producer comes back and gets it after all: the follower notices and runs the watch.
    const late = new Promise<TxReceipt>((resolve) => assert.ok(n.follower.whenIncluded(idOf(tx), resolve)));
    n.producer.gossipTx(tx, idOf(tx));
    const r = await late;
    assert.equal(r.txId, idOf(tx));
    assert.equal(await balance(n.follower, alice.addr), bly(6));
    assert.equal(n.follower.whenIncluded(idOf(tx), () => undefined), false, 'settled: nothing left to watch');
  } finally {
    await n.close();
  }
});

test('follower: a transaction the chain rules out for good (its nonce used meanwhile) is refused when the block arrives, not at the timeout', async () => {
  const n = network(20_000);
  try {
    await n.follower.submit(sign(AUTHORITY, 'Grant', { to: alice.addr, amount: bly(10), nonce: 0n }));
    n.net.deliver = false;
    const t0 = Date.now();
    const held = n.follower.submit(sign(alice, 'Transfer', { to: bob.addr, amount: bly(1), nonce: 0n }));
    // The same nonce spent through another node.
    await n.producer.submit(sign(alice, 'Transfer', { to: provider.addr, amount: bly(2), nonce: 0n }));
    await assert.rejects(held, (e) => isBlyanError(e, 'LEDGER_NONCE_REPLAYED'));
    assert.ok(Date.now() - t0 < 10_000);
    assert.equal(await balance(n.follower, bob.addr), 0n);
    assert.equal(await balance(n.follower, provider.addr), bly(2));
  } finally {
    await n.close();
  }
});

test('only a ledger with a producer key can produce; produce() on a producer changes nothing', async () => {
  const env = freshLedger();
  const t = tempDir('blyan-follower-nokey-');
  const { store } = BlockStore.init(t.dir, TINY);
  const keyless = Ledger.open(store);
  try {
    keyless.follow({ relay: { publish: async () => undefined }, timeoutMs: 1000 });
    assert.throws(() => keyless.produce(), (e) => isBlyanError(e, 'BAD_ARGUMENT') && /producer key/.test(e.message));
    assert.equal(keyless.mode, 'follower');
    env.ledger.produce();
    assert.equal(env.ledger.mode, 'producer');
    assert.equal(env.ledger.status().producer, null, 'only the genesis so far');
    assert.equal(env.ledger.status().height, 0);
  } finally {
    keyless.stop();
    await store.close();
    t.cleanup();
    await env.close();
  }
});

test('hand-over: a follower holding a producer key produces, its waiting transactions in its own block; the old producer follows and forwards', async () => {
  const producer = freshLedger();
  const t = tempDir('blyan-handover-');
  const { store } = BlockStore.init(t.dir, TINY);
  const successorKey = user('successor').key;
  const successor = Ledger.open(store, { producerKey: successorKey, now: () => producer.clock.now });
  const toSuccessor = { deliver: false, held: [] as AnyTx[] };
  successor.follow({
    relay: {
      publish: async (tx, txId) => {
        if (toSuccessor.deliver) producer.ledger.gossipTx(tx, txId);
        else toSuccessor.held.push(tx);
      },
    },
    timeoutMs: 5_000,
    pollMs: 50,
  });
  // Blocks travel both ways as gossip would carry them (each side's chain C into the other's block store).
  const ship = async (from: Ledger<LedgerStore>, to: Ledger<LedgerStore>) => {
    await importChain(from.store, to.blocks);
    to.poke();
  };
  try {
    assert.deepEqual([producer.ledger.mode, successor.mode], ['producer', 'follower']);
    await producer.ledger.submit(sign(AUTHORITY, 'Grant', { to: alice.addr, amount: bly(10), nonce: 0n }));
    await ship(producer.ledger, successor);
    // The old producer is out of reach: this transfer waits at the successor...
    const waiting = successor.submit(sign(alice, 'Transfer', { to: bob.addr, amount: bly(1), nonce: 0n }));
    await until('the transfer waits', () => successor.status().waiting, (n) => n === 1);
    assert.equal(toSuccessor.held.length, 1);
    // ...until production moves to the successor: the same submission settles in its own block.
    successor.produce();
    assert.equal(successor.mode, 'producer');
    const r = await waiting;
    assert.equal(r.block, 2);
    const c2 = store.headOf('C');
    assert.equal(c2 !== undefined && hexAddress(c2.header.author), hexAddress(addressOf(successorKey)), 'C:2 is the successor’s');

    // The old producer follows. What it had queued when it switched (its batch runs on the next turn of the event
    // loop) is forwarded, not produced.
    await ship(successor, producer.ledger);
    const queued = producer.ledger.submit(sign(alice, 'Transfer', { to: bob.addr, amount: bly(2), nonce: 1n }));
    producer.ledger.follow({ relay: { publish: async (tx, txId) => void successor.gossipTx(tx, txId) }, timeoutMs: 5_000, pollMs: 50 });
    assert.equal(producer.ledger.mode, 'follower');
    successor.onCommit(() => void ship(successor, producer.ledger));
    const q = await queued;
    assert.equal(q.block, 3);
    const later = await producer.ledger.submit(sign(alice, 'Transfer', { to: bob.addr, amount: bly(3), nonce: 2n }));
    assert.equal(later.block, 4);
    for (const l of [producer.ledger, successor]) {
      assert.equal(await balance(l, bob.addr), bly(6), 'each transfer once');
      assert.equal(await l.height(), 4);
    }
    assert.equal(head(producer.ledger), head(successor));
    const authors = [...producer.store.iterate('C', 1)].map(({ block }) => hexAddress(block.header.author));
    assert.deepEqual(authors, [PRODUCER, hexAddress(addressOf(successorKey)), hexAddress(addressOf(successorKey)), hexAddress(addressOf(successorKey))]);
  } finally {
    producer.ledger.stop();
    successor.stop();
    await store.close();
    t.cleanup();
    await producer.close();
  }
});
