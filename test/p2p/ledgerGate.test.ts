/**
 * A chain-C block from the network is stored only if it keeps the ledger's rules (docs/ledger.md §9.4,
 * src/ledger/blockGate.ts): by sync, a peer serving a block whose transactions do not apply is penalised and the
 * block never stored; by gossip, on a network whose chain A names the ledger producer (`blyan ledger set-params
 * --producer`), a follower (`blyan up --bootstrap`) refuses a block signed by another key and a producer-signed
 * block that overspends, bans whoever sent each, and its ledger keeps settling honest transactions.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { privateKeyToAccount } from 'viem/accounts';
import { createBlock } from '../../src/chain/block.ts';
import { fromHex, toHex } from '../../src/chain/hash.ts';
import { TINY } from '../../src/chain/presets.ts';
import type { Block } from '../../src/chain/types.ts';
import { Ledger } from '../../src/ledger/ledger.ts';
import type { AnyTx } from '../../src/ledger/tx.ts';
import { encodeBatch } from '../../src/ledger/txCodec.ts';
import { loadOrCreateNodeKey } from '../../src/node/nodeKey.ts';
import { blockTopic, encodeBlockMessage } from '../../src/p2p/gossip.ts';
import { type P2pEvent, startP2p } from '../../src/p2p/index.ts';
import { jsonCall, postTransfer } from '../api/client.ts';
import { startNodeProcess, tinyDataDir } from '../api/fixture.ts';
import { blyanJson } from '../helpers/cli.ts';
import { TEST_KEY, tempDir } from '../helpers/fixtures.ts';
import { testResources } from '../helpers/testStores.ts';
import { until } from '../helpers/until.ts';
import { AUTHORITY, bly, sign, user } from '../ledger/helpers.ts';

const { stops, cleanups, freshStore } = testResources();

/** A chain-C txbatch block on top of `head`, signed by `key`. */
function cBlock(head: { id: Uint8Array; index: number; time: number }, txs: readonly AnyTx[], key: Uint8Array): { block: Block; payload: Uint8Array } {
  const payload = encodeBatch(txs);
  const block = createBlock({ chain: 'C', index: head.index + 1, prev: head.id, deps: [], type: 'txbatch', time: Math.max(Date.now(), head.time) }, payload, key, TINY);
  return { block, payload };
}

test('sync: a peer serving a chain-C block whose transactions do not apply is penalised; the block is not stored; the valid ones before it are', async () => {
  const alice = user('sync gate alice');
  const bob = user('sync gate bob');
  // The bad peer's chain: a valid grant (its own ledger produced it), then an overspend appended without any ledger.
  const bad = freshStore('blyan-gate-bad-');
  const badLedger = Ledger.open(bad.store, { producerKey: TEST_KEY });
  await badLedger.submit(sign(AUTHORITY, 'Grant', { to: alice.addr, amount: bly(10), nonce: 0n }));
  const c1 = bad.store.headOf('C');
  assert.ok(c1 !== undefined);
  const over = cBlock({ id: c1.id, index: c1.header.index, time: c1.header.time }, [sign(alice, 'Transfer', { to: bob.addr, amount: bly(11), nonce: 0n })], TEST_KEY);
  bad.store.append(over.block, over.payload);

  const victim = freshStore('blyan-gate-victim-');
  const ledger = Ledger.open(victim.store);
  ledger.store.guardAppends();
  const badNode = await startP2p({ store: bad.store, dataDir: bad.dir, autoSync: false });
  stops.push(() => badNode.stop());
  const events: P2pEvent[] = [];
  const node = await startP2p({ store: victim.store, dataDir: victim.dir, bootstrap: badNode.multiaddrs(), autoSync: false, onEvent: (e) => events.push(e) });
  stops.push(() => node.stop());
  await until('the bad peer connected', () => node.status().peers.length, (n) => n > 0);

  const result = await node.sync();
  const penalty = events.find((e) => e.type === 'penalty' && e.code === 'LEDGER_BLOCK_INVALID');
  assert.ok(penalty !== undefined && penalty.type === 'penalty', JSON.stringify({ result, events: events.filter((e) => e.type !== 'served') }));
  assert.equal(penalty.peer, badNode.peerId);
  assert.equal(penalty.reason, 'bad-data');
  assert.match(penalty.message, /C:2.*LEDGER_INSUFFICIENT_FUNDS/);
  assert.ok(events.some((e) => e.type === 'ban' && e.peer === badNode.peerId), 'bad data bans the peer');
  assert.equal(victim.store.has(over.block.id), false, 'the invalid block was not stored');
  assert.equal(victim.store.headOf('C')?.header.index, 1, 'the valid grant before it was');
  assert.equal((await ledger.account(alice.addr))?.balance, bly(10), 'and the ledger applies it');
});

test('gossip: with the producer named on chain A, a follower refuses a stranger’s block and a producer-signed overspend, bans each sender, and keeps settling', async () => {
  const env = { BLYAN_LOG_LEVEL: 'silent' };
  const seedDir = tinyDataDir();
  cleanups.push(seedDir.cleanup);
  // The seed's node key is made before it first starts, so chain A can name it the producer from now on.
  const producerKey = loadOrCreateNodeKey(seedDir.data);
  const set = blyanJson<{ activeFrom: number; params: { producer: string } }>(['ledger', 'set-params', '--producer', producerKey.address, '--active-in', '0', '--data', seedDir.data]);
  assert.equal(set.params.producer.toLowerCase(), producerKey.address);
  const seed = await startNodeProcess(seedDir.data, env, ['--p2p-port', '0']);
  stops.push(seed.stop);
  assert.equal(seed.info.ledger, 'producer');

  const t = tempDir('blyan-gate-follow-');
  cleanups.push(t.cleanup);
  const data = join(t.dir, 'data');
  blyanJson(['init', '--preset', 'tiny', '--data', data]);
  const follower = await startNodeProcess(data, env, ['--p2p-port', '0', '--bootstrap', seed.info.p2p?.multiaddrs[0] as string]);
  stops.push(follower.stop);
  assert.equal(follower.info.ledger, 'follower');
  const [s, f] = [seed.url, follower.url];
  const heights = async (base: string) => ((await jsonCall(base, 'GET', '/chains')).body as unknown as { chain: string; height: number }[]).map((c) => c.height);
  const seedHeights = await heights(s);
  await until('sync', () => heights(f), (h) => JSON.stringify(h) === JSON.stringify(seedHeights));
  const params = (await jsonCall(f, 'GET', '/economy/params')).body as { now: { params: { producer: string | null } } };
  assert.equal(params.now.params.producer?.toLowerCase(), producerKey.address, 'the follower has the params block naming the producer');

  const alice = user('gossip gate alice');
  const bob = user('gossip gate bob');
  const grant = await jsonCall(f, 'POST', '/faucet', { address: alice.addr });
  // On failure, both nodes' ledger views (mode, head, mempool, waiting): where the transaction stopped.
  const views = async () => JSON.stringify({ seed: (await jsonCall(s, 'GET', '/ledger/status')).body, follower: (await jsonCall(f, 'GET', '/ledger/status')).body });
  assert.equal(grant.status, 200, `${JSON.stringify(grant.body)} ${grant.status === 200 ? '' : await views()}`);
  const granted = BigInt(grant.body.amount as string);
  const cHead = async () => {
    const r = (await jsonCall(f, 'GET', '/ledger/status')).body as { height: number; head: string; producer: string };
    return r;
  };
  const before = await cHead();
  assert.equal(before.producer, producerKey.address);
  const headOf = async () => {
    const st = await cHead();
    const blocks = (await jsonCall(f, 'GET', `/chains/C/blocks?from=${st.height}&limit=1`)).body.blocks as { time: number }[];
    return { id: fromHex(st.head, 32), index: st.height, time: (blocks[0] as { time: number }).time };
  };

  /** A gossiping stranger on a fresh data dir of the same network, connected to the follower. */
  const stranger = async (name: string) => {
    const { store, dir } = freshStore(`blyan-gate-${name}-`);
    const node = await startP2p({ store, dataDir: dir, bootstrap: [follower.info.p2p?.multiaddrs[0] as string], autoSync: false });
    stops.push(() => node.stop());
    const topic = blockTopic(TINY.genesisId.slice(0, 16));
    const fid = follower.info.p2p?.peerId as string;
    await until(`${name} in the follower's block topic`, () => node.libp2p.services.pubsub.getSubscribers(topic).map(String), (ids) => ids.includes(fid));
    // Gossipsub sends only over a stream it has opened itself, which can come after the peer's subscription.
    const outbound = (node.libp2p.services.pubsub as unknown as { streamsOutbound: Map<string, unknown> }).streamsOutbound;
    await until(`${name}'s gossip stream to the follower`, () => outbound.has(fid), (open) => open);
    return {
      node,
      publish: async (b: { block: Block; payload: Uint8Array }) => (await node.libp2p.services.pubsub.publish(topic, encodeBlockMessage(b.block, b.payload))).recipients.length,
    };
  };
  const connectedTo = (node: { libp2p: { getConnections: () => { remotePeer: { toString(): string } }[] } }) =>
    node.libp2p.getConnections().filter((c) => c.remotePeer.toString() === follower.info.p2p?.peerId).length;
  const followerPeers = async () => ((await jsonCall(f, 'GET', '/p2p/nodes')).body.peers as { peerId: string }[]).map((p) => p.peerId);

  // 1. Rule C1: a valid grant, but in a block signed by a key that is not the producer's.
  const authorityNonce = BigInt((await jsonCall(f, 'GET', `/wallet/nonce/${AUTHORITY.addr}`)).body.nonce as string);
  const foreign = cBlock(await headOf(), [sign(AUTHORITY, 'Grant', { to: bob.addr, amount: bly(1), nonce: authorityNonce })], TEST_KEY);
  const one = await stranger('stranger');
  assert.ok((await followerPeers()).includes(one.node.peerId));
  assert.equal(await one.publish(foreign), 1);
  await until('the follower bans the stranger', () => connectedTo(one.node), (n) => n === 0);
  assert.equal((await followerPeers()).includes(one.node.peerId), false);
  assert.equal((await jsonCall(f, 'GET', `/blocks/${toHex(foreign.block.id)}`)).status, 404, 'not stored');

  // 2. A block signed with the producer's own key (a buggy producer) whose transfer overspends.
  const over = cBlock(await headOf(), [sign(alice, 'Transfer', { to: bob.addr, amount: granted + 1n, nonce: 0n })], producerKey.privateKey);
  const two = await stranger('relay');
  assert.equal(await two.publish(over), 1);
  await until('the follower bans the relay', () => connectedTo(two.node), (n) => n === 0);
  assert.equal((await jsonCall(f, 'GET', `/blocks/${toHex(over.block.id)}`)).status, 404, 'not stored');
  const still = await cHead();
  assert.deepEqual([still.height, still.head], [before.height, before.head], 'the follower’s chain C did not move');

  // The follower's ledger keeps working: an honest transfer through it settles in the producer's next block.
  const sent = await postTransfer(f, privateKeyToAccount(`0x${Buffer.from(alice.key).toString('hex')}`), bob.addr, granted / 4n);
  assert.equal(sent.status, 200, JSON.stringify(sent.body));
  assert.equal(sent.body.block, before.height + 1);
  const bal = async (base: string, a: string) => BigInt((await jsonCall(base, 'GET', `/wallet/balance/${a}`)).body.balance as string);
  assert.equal(await bal(f, bob.addr), granted / 4n);
  await until('heads agree', async () => [(await cHead()).head, ((await jsonCall(s, 'GET', '/ledger/status')).body as { head: string }).head], ([a, b]) => a === b);
  assert.equal((await cHead()).producer, producerKey.address);
});

test('gossip: a chain-C block too large to inline is forwarded only after its payload is fetched and applies; an invalid one stops at the first node', async () => {
  // relayBad and relayGood — victim — downstream: the downstream node hears of blocks only through the victim.
  const victim = freshStore('blyan-gate-big-victim-');
  const victimLedger = Ledger.open(victim.store);
  victimLedger.store.guardAppends();
  const down = freshStore('blyan-gate-big-down-');
  const downLedger = Ledger.open(down.store);
  downLedger.store.guardAppends();
  const genesisC = victim.store.headOf('C');
  assert.ok(genesisC !== undefined);
  const parent = { id: genesisC.id, index: genesisC.header.index, time: genesisC.header.time };

  // Over 1 MiB of grants: a valid block, and one whose first transaction overspends.
  const grants = (n: number) => Array.from({ length: n }, (_, i) => sign(AUTHORITY, 'Grant', { to: user(`big grant ${i % 7}`).addr, amount: bly(1), nonce: BigInt(i) }));
  const good = cBlock(parent, grants(5200), TEST_KEY);
  const poor = user('big gate poor');
  const bad = cBlock(parent, [sign(poor, 'Transfer', { to: AUTHORITY.addr, amount: bly(1), nonce: 0n }), ...grants(5200)], TEST_KEY);
  for (const b of [good, bad]) assert.ok(b.payload.byteLength > 1024 * 1024, `${b.payload.byteLength} bytes: too large to inline`);

  const relay = async (name: string, b: { block: Block; payload: Uint8Array }, denyPeers: string[] = []) => {
    const s = freshStore(`blyan-gate-big-${name}-`);
    s.store.append(b.block, b.payload); // stored without a ledger: this relay serves whatever it holds
    return { node: await startP2p({ store: s.store, dataDir: s.dir, autoSync: false, denyPeers }), block: b };
  };
  const relayBad = await relay('bad', bad);
  stops.push(() => relayBad.node.stop());
  // Each relay reaches the victim only (they may learn of each other through it): a publish has one recipient.
  const relayGood = await relay('good', good, [relayBad.node.peerId]);
  stops.push(() => relayGood.node.stop());
  const victimEvents: P2pEvent[] = [];
  const victimNode = await startP2p({ store: victim.store, dataDir: victim.dir, bootstrap: [...relayBad.node.multiaddrs(), ...relayGood.node.multiaddrs()], autoSync: false, onEvent: (e) => victimEvents.push(e) });
  stops.push(() => victimNode.stop());
  const downEvents: P2pEvent[] = [];
  // The relays may learn of the downstream node (DHT, identify) and dial it: it refuses them, so it hears only the victim.
  const downNode = await startP2p({ store: down.store, dataDir: down.dir, bootstrap: victimNode.multiaddrs(), autoSync: false, denyPeers: [relayBad.node.peerId, relayGood.node.peerId], onEvent: (e) => downEvents.push(e) });
  stops.push(() => downNode.stop());

  const topic = blockTopic(TINY.genesisId.slice(0, 16));
  const subscribed = (node: typeof victimNode, peer: string) => until(`${peer.slice(-6)} in the block topic`, () => node.libp2p.services.pubsub.getSubscribers(topic).map(String), (ids) => ids.includes(peer));
  await subscribed(relayBad.node, victimNode.peerId);
  await subscribed(relayGood.node, victimNode.peerId);
  await subscribed(victimNode, downNode.peerId);
  const peersOf = (node: typeof victimNode) => node.libp2p.getConnections().map((c) => c.remotePeer.toString());
  assert.deepEqual(
    [peersOf(downNode).includes(relayBad.node.peerId), peersOf(downNode).includes(relayGood.node.peerId)],
    [false, false],
    'the downstream node is connected to the victim only',
  );
  const publish = async (r: typeof relayBad) => (await r.node.libp2p.services.pubsub.publish(topic, encodeBlockMessage(r.block.block, r.block.payload))).recipients.length;
  const saw = (events: P2pEvent[], b: { block: Block }) => events.filter((e) => e.type === 'gossip-block' && e.id === toHex(b.block.id));

  // The invalid one: the victim fetches its payload from the relay, its ledger refuses it, the relay is banned.
  assert.equal(await publish(relayBad), 1);
  await until('the victim judges the bad block', () => saw(victimEvents, bad).map((e) => e.type === 'gossip-block' && e.verdict), (v) => v.length > 0);
  assert.deepEqual(
    saw(victimEvents, bad).map((e) => e.type === 'gossip-block' && [e.verdict, e.code]),
    [['reject', 'LEDGER_BLOCK_INVALID']],
  );
  assert.ok(victimEvents.some((e) => e.type === 'penalty' && e.peer === relayBad.node.peerId && e.code === 'LEDGER_BLOCK_INVALID'), 'the relay that served it is penalised');
  assert.equal(victim.store.has(bad.block.id), false);

  // The valid one reaches the downstream node through the victim, after the victim stored it.
  assert.deepEqual(peersOf(downNode), [victimNode.peerId], 'still connected to the victim only');
  assert.equal(await publish(relayGood), 1);
  await until('the downstream node judges the good block', () => saw(downEvents, good).length, (n) => n > 0);
  assert.equal(victim.store.has(good.block.id), true);
  assert.equal(down.store.has(good.block.id), true);
  assert.deepEqual(
    saw(downEvents, good).map((e) => e.type === 'gossip-block' && [e.verdict, e.peer]),
    [['accept', victimNode.peerId]],
    JSON.stringify(downEvents.filter((e) => e.type !== 'served')),
  );
  // Gossip between two peers keeps its order, so had the victim forwarded the bad block it would be here by now.
  assert.deepEqual(saw(downEvents, bad), [], 'the invalid block never left the victim');
  assert.equal(down.store.has(bad.block.id), false);
  assert.equal((await downLedger.account(user('big grant 0').addr))?.balance, bly(743), 'the downstream ledger applied the big block');
});
