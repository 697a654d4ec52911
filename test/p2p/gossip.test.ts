import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { TINY } from '../../src/chain/presets.ts';
import { BlockStore } from '../../src/chain/store.ts';
import { verifyStore } from '../../src/chain/verifyStore.ts';
import { tempDir } from '../helpers/fixtures.ts';
import { copyDataDir, NodeProcess, seedDataDir } from './fixture.ts';

// Gossip between three processes on 127.0.0.1: a seed and two nodes holding the same chain.

let seed: { data: string; cleanup: () => void };
let work: { dir: string; cleanup: () => void };
let nodes: NodeProcess[] = [];
let ids: string[] = [];
let dirs: string[] = [];

before(async () => {
  seed = seedDataDir();
  work = tempDir('blyan-p2p-gossip-');
  dirs = [seed.data, copyDataDir(seed.data, join(work.dir, 'n1')), copyDataDir(seed.data, join(work.dir, 'n2'))];
  const s = new NodeProcess({ data: dirs[0] as string });
  const sr = await s.ready();
  const n1 = new NodeProcess({ data: dirs[1] as string, bootstrap: sr.addrs });
  const n2 = new NodeProcess({ data: dirs[2] as string, bootstrap: sr.addrs });
  const [r1, r2] = await Promise.all([n1.ready(), n2.ready()]);
  nodes = [s, n1, n2];
  ids = [sr.peerId, r1.peerId, r2.peerId];
  // Wait until each node sees the others subscribed (gossipsub exchanges subscriptions on connect).
  const deadline = Date.now() + 20_000;
  for (const [i, n] of nodes.entries()) {
    const want = i === 0 ? 2 : 1;
    for (;;) {
      const r = await n.call({ cmd: 'subscribers' });
      if ((r.n as number) >= want) break;
      if (Date.now() > deadline) throw new Error(`node ${i} sees ${String(r.n)} subscribers`);
      await new Promise((res) => setTimeout(res, 200));
    }
  }
  // Give the mesh a heartbeat to form, so the seed forwards n1's messages to n2.
  await new Promise((res) => setTimeout(res, 1500));
});

after(async () => {
  await Promise.all(nodes.map((p) => p.stop().catch(() => p.kill())));
  work?.cleanup();
  seed?.cleanup();
});

async function hasEverywhere(block: string, who: readonly NodeProcess[], timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (const n of who) {
    for (;;) {
      if ((await n.call({ cmd: 'has', block })).has === true) break;
      if (Date.now() > deadline) throw new Error(`block ${block.slice(0, 16)} did not arrive`);
      await new Promise((res) => setTimeout(res, 100));
    }
  }
}

test('a block appended on one node reaches every other node by gossip and each validates and stores it', { timeout: 120_000 }, async () => {
  const [s, n1, n2] = nodes as [NodeProcess, NodeProcess, NodeProcess];
  const mined = await n1.call({ cmd: 'mine', size: 4096 });
  const id = mined.block as string;
  await hasEverywhere(id, [s, n2]);
  for (const n of [s, n2]) {
    const ev = await n.waitFor((e) => e.event === 'p2p' && e.type === 'gossip-block' && e.id === id && e.verdict === 'accept', 10_000, 'accept');
    assert.equal(ev.verdict, 'accept');
  }
});

test('a block whose payload is too large to inline: the header is gossiped, the payload fetched by tiles', { timeout: 120_000 }, async () => {
  const [s, n1, n2] = nodes as [NodeProcess, NodeProcess, NodeProcess];
  const mined = await n2.call({ cmd: 'mine', size: 2 * 1024 * 1024 + 7 });
  const id = mined.block as string;
  await hasEverywhere(id, [s, n1]);
  assert.ok(s.eventsOf('tile-request').length >= 1, 'the seed fetched the payload by tile');
});

test('a forged block is rejected by its receiver, not stored anywhere, and the sender is banned', { timeout: 120_000 }, async () => {
  const [s, n1, n2] = nodes as [NodeProcess, NodeProcess, NodeProcess];
  const forged = await n1.call({ cmd: 'forge' });
  const id = forged.block as string;
  const ev = await s.waitFor((e) => e.event === 'p2p' && e.type === 'gossip-block' && e.id === id, 15_000, 'verdict on the forged block');
  assert.equal(ev.verdict, 'reject');
  assert.equal(ev.code, 'BLOCK_BAD_SIGNATURE');
  await s.waitFor((e) => e.event === 'p2p' && e.type === 'ban' && e.peer === ids[1], 5000, 'ban of the forger');
  await new Promise((res) => setTimeout(res, 500));
  assert.equal((await s.call({ cmd: 'has', block: id })).has, false);
  assert.equal((await n2.call({ cmd: 'has', block: id })).has, false);
  // The network keeps working for honest nodes.
  const mined = await n2.call({ cmd: 'mine', size: 1000 });
  await hasEverywhere(mined.block as string, [s]);
  await Promise.all(nodes.map((n) => n.stop()));
  for (const dir of [dirs[0], dirs[2]] as string[]) {
    const store = BlockStore.open(dir, TINY);
    try {
      verifyStore(store);
    } finally {
      store.closeSync();
    }
  }
});
