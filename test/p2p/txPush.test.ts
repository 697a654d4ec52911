/**
 * `/blyan/tx/1` (docs/sync-protocol.md §9.1): a transaction handed to a peer directly when gossip did not
 * carry it. The receiver checks it as a gossiped one, takes it once, gossips it on, and refuses (and scores
 * down) whoever pushes an invalid one. A ledger follower's relay (src/node/p2pService.ts) falls back to it when
 * its publish reached nobody and when a submission is repeated inside gossipsub's two-minute dedup window.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { toHex } from '../../src/chain/hash.ts';
import { TINY } from '../../src/chain/presets.ts';
import { isBlyanError } from '../../src/errors.ts';
import { type AnyTx, ledgerDomain, verifyTx } from '../../src/ledger/tx.ts';
import { encodeBatch } from '../../src/ledger/txCodec.ts';
import type { Hex32 } from '../../src/ledger/txTypes.ts';
import { P2pService } from '../../src/node/p2pService.ts';
import { type P2pEvent, type P2pNode, startP2p } from '../../src/p2p/index.ts';
import { pushTx, txLimits } from '../../src/p2p/protocols/txPush.ts';
import { TX_MESSAGE_MAX } from '../../src/p2p/gossip.ts';
import { testResources } from '../helpers/testStores.ts';
import { until } from '../helpers/until.ts';
import { AUTHORITY, bly, sign, user } from '../ledger/helpers.ts';

const { stops, freshStore } = testResources();

/** A node that records every transaction offered to its mempool (by gossip or pushed) and takes it. */
async function taker(name: string, bootstrap: string[] = []): Promise<{ node: P2pNode; seen: string[]; events: P2pEvent[] }> {
  const { store, dir } = freshStore(`blyan-txpush-${name}-`);
  const seen: string[] = [];
  const events: P2pEvent[] = [];
  const node = await startP2p({
    store,
    dataDir: dir,
    bootstrap,
    autoSync: false,
    onEvent: (e) => events.push(e),
    onTx: (_tx, id) => {
      seen.push(id);
      return 'accept';
    },
  });
  stops.push(() => node.stop());
  return { node, seen, events };
}

const idOf = (tx: AnyTx) => toHex(verifyTx(tx, ledgerDomain(TINY.chainId)));
const grant = (to: string, nonce: bigint) => sign(AUTHORITY, 'Grant', { to: user(to).addr, amount: bly(1), nonce });

test('a pushed transaction is taken once, gossiped on, and an invalid push is refused and costs the pusher', async () => {
  const producer = await taker('producer');
  const far = await taker('far', producer.node.multiaddrs());
  const pusher = await taker('pusher', producer.node.multiaddrs());
  await until('the pusher sees the producer on the transaction topic', () => pusher.node.txSubscribers(), (n) => n > 0);
  await until('the producer sees the far node on the transaction topic', () => producer.node.txSubscribers(), (n) => n >= 2);

  const tx = grant('push one', 0n);
  const id = idOf(tx);
  assert.ok((await pusher.node.pushTx(tx, 5000)) >= 1, 'the producer answered');
  assert.deepEqual(producer.seen, [id], 'offered to the producer’s mempool once');
  const firstVerdict = producer.events.find((e) => e.type === 'gossip-tx' && e.id === id);
  assert.ok(firstVerdict !== undefined && firstVerdict.type === 'gossip-tx' && firstVerdict.verdict === 'accept');
  await until('the producer gossiped it on to the far node', () => far.seen.slice(), (s) => s.includes(id));

  // Pushed again (a client retrying): answered, not offered twice.
  assert.ok((await pusher.node.pushTx(tx, 5000)) >= 1);
  assert.deepEqual(producer.seen, [id]);

  // A transaction whose signature does not match its message: BAD_REQUEST, nothing offered, the pusher scored down.
  const forged = { ...tx, message: { ...tx.message, amount: bly(1000) } } as AnyTx;
  const producerPeer = producer.node.libp2p.peerId;
  await assert.rejects(
    pushTx(pusher.node.libp2p, producerPeer, encodeBatch([forged]), txLimits(TX_MESSAGE_MAX), 5000),
    (err: unknown) => isBlyanError(err, 'P2P_REMOTE_ERROR') && (err.data as { remote?: string }).remote === 'BAD_REQUEST' && /transaction refused: .*signature/i.test(err.message),
  );
  assert.deepEqual(producer.seen, [id]);
  await until('the producer penalised the pusher', () => producer.events.filter((e) => e.type === 'penalty' && e.peer === pusher.node.peerId).length, (n) => n > 0);
  // The producer keeps serving: a valid push from another peer is taken.
  const next = grant('push two', 1n);
  assert.ok((await far.node.pushTx(next, 5000)) >= 1);
  assert.ok(producer.seen.includes(idOf(next)));
});

test('a follower’s relay pushes a transaction directly when its gossip reached nobody, and again when it is resubmitted', async () => {
  const producer = await taker('relay-producer');
  const { store, dir } = freshStore('blyan-txpush-follower-');
  const svc = await P2pService.start({ store, dataDir: dir, host: '127.0.0.1', port: 0, bootstrap: producer.node.multiaddrs() });
  stops.push(() => svc.stop());
  await until('the follower sees the producer on the transaction topic', () => svc.p2p.txSubscribers(), (n) => n > 0);
  const relay = svc.txRelay();

  // The fault gossipsub has while its stream to a subscriber is still opening: the publish reaches nobody
  // (0 recipients), and the same bytes cannot be published again for two minutes.
  const realPublish = svc.p2p.publishTx;
  let gossiped = 0;
  (svc.p2p as { publishTx: P2pNode['publishTx'] }).publishTx = async () => {
    gossiped++;
    return 0;
  };
  const tx = grant('relay one', 0n);
  const id = idOf(tx);
  await relay.publish(tx, `0x${id}` as Hex32, Date.now() + 15_000);
  assert.equal(gossiped, 1, 'gossip was tried first');
  assert.deepEqual(producer.seen, [id], 'the direct push reached the producer');

  // A resubmission inside the dedup window is not gossiped again but pushed (the producer answers it knows it).
  (svc.p2p as { publishTx: P2pNode['publishTx'] }).publishTx = realPublish;
  let published = 0;
  (svc.p2p as { publishTx: P2pNode['publishTx'] }).publishTx = async (t) => {
    published++;
    return realPublish(t);
  };
  await relay.publish(tx, `0x${id}` as Hex32, Date.now() + 15_000);
  assert.equal(published, 0, 'not gossiped twice within two minutes');
  assert.deepEqual(producer.seen, [id]);

  // A new transaction goes by gossip when gossip carries it.
  const other = grant('relay two', 1n);
  await relay.publish(other, `0x${idOf(other)}` as Hex32, Date.now() + 15_000);
  assert.equal(published, 1);
  await until('gossip delivered it', () => producer.seen.slice(), (s) => s.includes(idOf(other)));

  // With the producer gone, a transaction nobody answers is LEDGER_PRODUCER_UNREACHABLE by the deadline.
  await producer.node.stop();
  await until('the follower saw the producer go', () => svc.p2p.txSubscribers(), (n) => n === 0);
  const lost = grant('relay three', 2n);
  await assert.rejects(relay.publish(lost, `0x${idOf(lost)}` as Hex32, Date.now() + 3000), (err: unknown) => isBlyanError(err, 'LEDGER_PRODUCER_UNREACHABLE'));
});
