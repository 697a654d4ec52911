import '../../src/p2p/polyfill.ts';
import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { peerIdFromPrivateKey } from '@libp2p/peer-id';
import { TINY } from '../../src/chain/presets.ts';
import { BlockStore } from '../../src/chain/store.ts';
import { type P2pNode, startP2p } from '../../src/p2p/index.ts';
import { loadOrCreatePeerKey } from '../../src/p2p/peerId.ts';
import { tinyDataDir } from '../api/fixture.ts';
import { tempDir } from '../helpers/fixtures.ts';
import { until } from '../helpers/until.ts';
import { copyDataDir } from './fixture.ts';

// A seed that is down when a node starts: the node keeps dialling it (1 s, then doubling) and joins once it is up.

const nodes: P2pNode[] = [];
const stores: BlockStore[] = [];
const cleanups: (() => void)[] = [];

after(async () => {
  for (const n of nodes) await n.stop().catch(() => undefined);
  for (const s of stores) s.closeSync();
  for (const c of cleanups) c();
});

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as { port: number }).port;
      srv.close(() => resolve(port));
    });
  });
}

test('a node started while its seed is down joins the seed once it comes up', { timeout: 60_000 }, async () => {
  const fx = tinyDataDir();
  cleanups.push(fx.cleanup);
  const work = tempDir('blyan-p2p-seed-retry-');
  cleanups.push(work.cleanup);
  const seedData = copyDataDir(fx.data, join(work.dir, 'seed'));
  const nodeData = copyDataDir(fx.data, join(work.dir, 'node'));
  const seedId = peerIdFromPrivateKey(await loadOrCreatePeerKey(seedData)).toString();
  const port = await freePort();
  const addr = `/ip4/127.0.0.1/tcp/${port}/p2p/${seedId}`;

  const nodeStore = BlockStore.open(nodeData, TINY);
  stores.push(nodeStore);
  const node = await startP2p({ store: nodeStore, dataDir: nodeData, autoSync: false, bootstrap: [addr] });
  nodes.push(node);
  assert.equal(node.status().peers.length, 0, 'the seed is not up yet');
  await new Promise((r) => setTimeout(r, 1500));

  const seedStore = BlockStore.open(seedData, TINY);
  stores.push(seedStore);
  const seed = await startP2p({ store: seedStore, dataDir: seedData, autoSync: false, listen: [`/ip4/127.0.0.1/tcp/${port}`] });
  nodes.push(seed);
  assert.equal(seed.peerId, seedId);
  await until('the node to join the seed', () => node.status().peers.map((p) => p.id), (ids) => ids.includes(seedId), 30_000, 100);
});
