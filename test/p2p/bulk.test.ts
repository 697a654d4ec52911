/**
 * The bulk channel (docs/sync-protocol.md §6.1): tiles over plain TCP to a ticket holder, each checked against
 * its header's tile root. A wrong token gets nothing; a bulk channel that serves bad bytes (tampered on the way)
 * sends the tiles back over the authenticated `/blyan/tile/1`, and costs the peer nothing.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { connect, createServer, type Socket } from 'node:net';
import { test } from 'node:test';
import { peerIdFromString } from '@libp2p/peer-id';
import { createBlock } from '../../src/chain/block.ts';
import { TINY } from '../../src/chain/presets.ts';
import type { BlockStore } from '../../src/chain/store.ts';
import { verifyStore } from '../../src/chain/verifyStore.ts';
import { type P2pEvent, startP2p } from '../../src/p2p/index.ts';
import { BULK_LIMITS, BULK_PROTOCOL, encodeBulkTicket, requestBulkTicket } from '../../src/p2p/protocols/bulk.ts';
import { serveRpc } from '../../src/p2p/protocols/rpc.ts';
import { encodeTileRequest } from '../../src/p2p/protocols/tiles.ts';
import { addModel, TEST_KEY, } from '../helpers/fixtures.ts';
import { testResources } from '../helpers/testStores.ts';
import { until } from '../helpers/until.ts';

const { stops, freshStore } = testResources();

/** A seed store with two experts of 9 MiB (3 tiles each). */
function seedStore(prefix: string): { store: BlockStore; dir: string } {
  const s = freshStore(prefix);
  const model = addModel(s.store, 'bulk-model');
  for (let i = 0; i < 2; i++) {
    const payload = new Uint8Array(randomBytes(9 * 1024 * 1024));
    s.store.append(createBlock({ chain: 'B', index: 0, prev: null, deps: [model.block.id], type: 'expert', expert: `layer0.expert${i}`, layer: 0, time: TINY.genesisTime + 1000 + i }, payload, TEST_KEY, TINY), payload);
  }
  return s;
}

function frame(body: Uint8Array): Uint8Array {
  const out = new Uint8Array(4 + body.byteLength);
  new DataView(out.buffer).setUint32(0, body.byteLength, false);
  out.set(body, 4);
  return out;
}

/** Opens a TCP connection, writes `bytes`, and collects what comes back until the server closes it. */
function exchange(port: number, bytes: Uint8Array, closeAfterMs = 10_000): Promise<{ received: Buffer; closedByServer: boolean }> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    const socket: Socket = connect({ host: '127.0.0.1', port });
    const timer = setTimeout(() => {
      socket.destroy();
      resolve({ received: Buffer.concat(chunks), closedByServer: false });
    }, closeAfterMs);
    socket.on('data', (c: Buffer) => chunks.push(c));
    socket.on('error', () => undefined);
    socket.once('close', () => {
      clearTimeout(timer);
      resolve({ received: Buffer.concat(chunks), closedByServer: true });
    });
    socket.write(bytes);
  });
}

test('a new node syncs tiles over the bulk channel; a wrong token gets nothing; an error answer keeps the connection', async () => {
  const seed = seedStore('blyan-bulk-seed-');
  const seedEvents: P2pEvent[] = [];
  const seedNode = await startP2p({ store: seed.store, dataDir: seed.dir, autoSync: false, onEvent: (e) => seedEvents.push(e) });
  stops.push(() => seedNode.stop());
  const joiner = freshStore('blyan-bulk-join-');
  const joinEvents: P2pEvent[] = [];
  const joinNode = await startP2p({ store: joiner.store, dataDir: joiner.dir, bootstrap: seedNode.multiaddrs(), autoSync: false, onEvent: (e) => joinEvents.push(e) });
  stops.push(() => joinNode.stop());

  const r = await joinNode.sync();
  assert.equal(r.complete, true, JSON.stringify(r));
  verifyStore(joiner.store);
  const served = seedEvents.filter((e) => e.type === 'served');
  const requested = joinEvents.filter((e) => e.type === 'tile-request').length;
  assert.ok(requested >= 6, `${requested} tiles: the two experts' six and the model's`);
  assert.equal(served.filter((e) => e.type === 'served' && e.protocol === BULK_PROTOCOL).length, requested, 'every tile over the bulk channel');
  assert.equal(served.filter((e) => e.type === 'served' && e.protocol === '/blyan/tile/1').length, 0);

  // The port is the seed's; a connection with a token it never gave is closed without a byte.
  const ticket = await requestBulkTicket(joinNode.libp2p, peerIdFromString(seedNode.peerId), 5000);
  const wrong = await exchange(ticket.port, new Uint8Array(randomBytes(32)));
  assert.deepEqual([wrong.closedByServer, wrong.received.byteLength], [true, 0]);
  // With the token, a tile of a payload the seed lacks is an error answer (status 0x01), and the connection stays.
  const missing = encodeTileRequest({ payload: new Uint8Array(32), index: 0 });
  const asked = await exchange(ticket.port, Buffer.concat([ticket.token, frame(missing)]), 1500);
  assert.equal(asked.closedByServer, false, 'kept open for the next request');
  assert.ok(asked.received.byteLength > 5);
  assert.equal(asked.received[4], 0x01, 'an error answer');
});

test('a bulk channel that serves bad bytes sends the tiles back to /blyan/tile/1, and the peer is not penalised', async () => {
  const seed = seedStore('blyan-bulk-tamper-seed-');
  const seedEvents: P2pEvent[] = [];
  const seedNode = await startP2p({ store: seed.store, dataDir: seed.dir, autoSync: false, bulk: false, onEvent: (e) => seedEvents.push(e) });
  stops.push(() => seedNode.stop());
  // What someone on the path could do: whatever the token, answer every tile request with garbage.
  let tampered = 0;
  const evil = createServer((socket) => {
    socket.on('error', () => undefined);
    let seen = 0;
    socket.on('data', (c: Buffer) => {
      seen += c.byteLength;
      if (seen < 32 + 4) return;
      tampered++;
      socket.write(frame(Buffer.concat([Buffer.of(0x00, 0x00), randomBytes(1000)])));
      seen = 32;
    });
  });
  await new Promise<void>((r) => evil.listen(0, '127.0.0.1', () => r()));
  stops.push(() => new Promise((r) => evil.close(r)));
  const evilPort = (evil.address() as { port: number }).port;
  await seedNode.libp2p.handle(
    BULK_PROTOCOL,
    serveRpc({ protocol: BULK_PROTOCOL, limits: BULK_LIMITS, timeoutMs: 5000, handle: () => [encodeBulkTicket({ v: 1, port: evilPort, token: new Uint8Array(32), ttlMs: 600_000 })], onPeerError: () => undefined }),
  );

  const joiner = freshStore('blyan-bulk-tamper-join-');
  const joinEvents: P2pEvent[] = [];
  const joinNode = await startP2p({ store: joiner.store, dataDir: joiner.dir, bootstrap: seedNode.multiaddrs(), autoSync: false, onEvent: (e) => joinEvents.push(e) });
  stops.push(() => joinNode.stop());
  const r = await joinNode.sync();
  assert.equal(r.complete, true, JSON.stringify(r));
  verifyStore(joiner.store);
  assert.ok(tampered >= 1, 'the bulk channel was tried');
  const requested = joinEvents.filter((e) => e.type === 'tile-request').length;
  assert.ok(requested >= 6);
  await until('every tile served over libp2p', () => seedEvents.filter((e) => e.type === 'served' && e.protocol === '/blyan/tile/1').length, (n) => n === requested);
  assert.deepEqual(
    joinEvents.filter((e) => (e.type === 'penalty' || e.type === 'ban') && e.peer === seedNode.peerId),
    [],
    'bytes from an unauthenticated channel never cost the peer',
  );
});
