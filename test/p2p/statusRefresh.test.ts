/**
 * Anti-entropy (docs/sync-protocol.md §7): gossip has no acknowledgement, so a node re-exchanges status with a
 * few connected peers every few seconds and syncs from one that is ahead. A block appended to a peer's store and
 * never announced still reaches the node.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createBlock } from '../../src/chain/block.ts';
import { TINY } from '../../src/chain/presets.ts';
import { encodeBatch } from '../../src/ledger/txCodec.ts';
import { startP2p } from '../../src/p2p/index.ts';
import { TEST_KEY, } from '../helpers/fixtures.ts';
import { testResources } from '../helpers/testStores.ts';
import { until } from '../helpers/until.ts';
import { AUTHORITY, bly, sign, user } from '../ledger/helpers.ts';

const { stops, freshStore } = testResources();

test('a block that was never gossiped reaches a connected node through the periodic status exchange', async () => {
  const a = freshStore('blyan-refresh-a-');
  const b = freshStore('blyan-refresh-b-');
  const na = await startP2p({ store: a.store, dataDir: a.dir, statusRefreshMs: 300 });
  stops.push(() => na.stop());
  const nb = await startP2p({ store: b.store, dataDir: b.dir, bootstrap: na.multiaddrs(), statusRefreshMs: 300 });
  stops.push(() => nb.stop());
  await until('connected', () => nb.status().peers.length, (n) => n > 0);
  const heightC = b.store.height('C');

  // Appended on A's store only: no publish, so gossip never carries it.
  const head = a.store.headOf('C');
  assert.ok(head !== undefined);
  const payload = encodeBatch([sign(AUTHORITY, 'Grant', { to: user('refresh').addr, amount: bly(1), nonce: 0n })]);
  const block = createBlock({ chain: 'C', index: head.header.index + 1, prev: head.id, deps: [], type: 'txbatch', time: Math.max(Date.now(), head.header.time) }, payload, TEST_KEY, TINY);
  a.store.append(block, payload);

  await until('B holds the block', () => b.store.has(block.id), (has) => has, 20_000);
  assert.equal(b.store.height('C'), heightC + 1);
  assert.ok(Buffer.from(b.store.getPayload(block.header.payloadHash) ?? []).equals(payload), "the payload came with it");
});
