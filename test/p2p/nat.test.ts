import '../../src/p2p/polyfill.ts';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { TINY } from '../../src/chain/presets.ts';
import { BlockStore } from '../../src/chain/store.ts';
import { verifyStore } from '../../src/chain/verifyStore.ts';
import { type P2pNode, startP2p } from '../../src/p2p/index.ts';
import { tinyDataDir } from '../api/fixture.ts';
import { tempDir } from '../helpers/fixtures.ts';
import { until } from '../helpers/until.ts';
import { copyDataDir, loopbackHost } from './fixture.ts';

// NAT traversal on 127.0.0.1 (docs/sync-protocol.md §1.1): a node that listens on no address of its own —
// as if behind a NAT nobody can dial through — is reached through a relay, and a new node syncs the whole
// chain from it over the relayed connection.

const nodes: P2pNode[] = [];
const stores: BlockStore[] = [];
const cleanups: (() => void)[] = [];

after(async () => {
  for (const n of nodes.reverse()) await n.stop().catch(() => undefined);
  for (const s of stores) s.closeSync();
  for (const c of cleanups) c();
});


test('a node behind a relay is dialled through it, and a new node syncs the chain from it', { timeout: 120_000 }, async () => {
  const fx = tinyDataDir();
  cleanups.push(fx.cleanup);
  const work = tempDir('blyan-p2p-nat-');
  cleanups.push(work.cleanup);
  const open = (data: string) => {
    const s = BlockStore.open(data, TINY);
    stores.push(s);
    return s;
  };

  const relayData = copyDataDir(fx.data, join(work.dir, 'relay'));
  const relay = await startP2p({ store: open(relayData), dataDir: relayData, autoSync: false, nat: { relayServer: true } });
  nodes.push(relay);

  // Behind the "NAT": no listening address at all, only relay reservations.
  const hiddenData = copyDataDir(fx.data, join(work.dir, 'hidden'));
  const hidden = await startP2p({ store: open(hiddenData), dataDir: hiddenData, autoSync: false, listen: [], bootstrap: relay.multiaddrs(), nat: { relayClient: true } });
  nodes.push(hidden);
  const circuit = (await until('a relay reservation', () => hidden.multiaddrs().find((a) => a.includes('/p2p-circuit/')), (a) => a !== undefined, 30_000, 100)) as string;
  assert.ok(circuit.startsWith('/ip4/127.0.0.1/'), circuit);
  assert.ok(circuit.endsWith(`/p2p/${hidden.peerId}`), circuit);

  // A new node with only the genesis block, which knows the hidden node by its relayed address alone.
  const freshDir = join(work.dir, 'fresh');
  const { store: fresh } = BlockStore.init(freshDir, TINY);
  stores.push(fresh);
  const joiner = await startP2p({ store: fresh, dataDir: freshDir, autoSync: false });
  nodes.push(joiner);
  assert.equal(await joiner.dial(circuit), hidden.peerId);
  const conns = joiner.libp2p.getConnections().filter((c) => c.remotePeer.toString() === hidden.peerId);
  assert.ok(conns.length > 0 && conns.every((c) => c.remoteAddr.toString().includes('/p2p-circuit')), conns.map((c) => c.remoteAddr.toString()).join(' '));

  // The relay applies no data limit (a Blyan relay carries syncs), so the whole chain comes through it.
  const result = await joiner.sync();
  assert.equal(result.complete, true, JSON.stringify(result.status));
  const source = stores[1] as BlockStore;
  const want = source.headOf('B');
  assert.ok(want !== undefined && fresh.has(want.id));
  // verifyStore throws on any block that fails a rule; the joiner holds every block the hidden node has.
  assert.deepEqual(verifyStore(fresh), verifyStore(source));
});

test('AutoNAT, UPnP and hole punching are services only when asked for (never started here: UPnP talks to the gateway)', async () => {
  const plain = await loopbackHost();
  const all = await loopbackHost({ nat: { autoNat: true, upnp: true, relayClient: true, relayServer: true, announce: ['/ip4/203.0.113.7/tcp/4001'] } });
  const names = (h: typeof plain) => Object.keys(h.services).sort();
  assert.deepEqual(names(plain), ['dht', 'identify', 'ping', 'pubsub']);
  assert.deepEqual(names(all), ['autoNAT', 'dcutr', 'dht', 'identify', 'ping', 'pubsub', 'relay', 'upnp']);
  await plain.stop();
  await all.stop();
});
