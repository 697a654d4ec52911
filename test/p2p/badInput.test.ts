import '../../src/p2p/polyfill.ts';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import * as dagCbor from '@ipld/dag-cbor';
import type { PeerId, Stream } from '@libp2p/interface';
import { peerIdFromString } from '@libp2p/peer-id';
import { multiaddr } from '@multiformats/multiaddr';
import { TINY } from '../../src/chain/presets.ts';
import { BlockStore } from '../../src/chain/store.ts';
import { isBlyanError } from '../../src/errors.ts';
import { FrameReader, frameHeader, writeFrame } from '../../src/p2p/framing.ts';
import type { Host } from '../../src/p2p/host.ts';
import { HEADERS_PROTOCOL, requestHeaders } from '../../src/p2p/protocols/headers.ts';
import { STATUS_ERROR } from '../../src/p2p/protocols/rpc.ts';
import { localStatus, requestStatus, STATUS_PROTOCOL } from '../../src/p2p/protocols/status.ts';
import { requestTile, TILE_PROTOCOL } from '../../src/p2p/protocols/tiles.ts';
import { blyanJson } from '../helpers/cli.ts';
import { tempDir } from '../helpers/fixtures.ts';
import { until } from '../helpers/until.ts';
import { loopbackHost, NodeProcess } from './fixture.ts';

// Bad input against a serving node in another process: every failure is typed, the peer is penalised,
// nothing is stored, and the node keeps serving.

const SERVE_MS = 1500;
let work: { dir: string; cleanup: () => void };
let seedData: string;
let seed: NodeProcess;
let seedPeer: PeerId;
let seedAddr: string;
let client: Host;
let store: BlockStore;

async function rawHost(): Promise<Host> {
  const h = await loopbackHost();
  await h.start();
  return h;
}

/**
 * A fresh client identity connected to the seed: the seed bans peers whose faults add up, so each test
 * misbehaves under its own peer id.
 */
async function freshClient(): Promise<Host> {
  await client?.stop();
  client = await rawHost();
  await client.dial(multiaddr(seedAddr));
  return client;
}

/** Opens a raw stream and returns the first response frame (status byte and content), or the failure. */
async function rawExchange(protocol: string, write: (s: Stream) => Promise<void>): Promise<{ status: number; content: unknown } | Error> {
  const stream = await client.dialProtocol(seedPeer, protocol);
  try {
    await write(stream);
    const frame = await new FrameReader(stream).readFrame(8 * 1024 * 1024, 'test');
    return { status: frame[0] as number, content: frame[0] === STATUS_ERROR ? dagCbor.decode(frame.subarray(1)) : frame.subarray(1) };
  } catch (err) {
    return err as Error;
  }
}

before(async () => {
  work = tempDir('blyan-p2p-bad-');
  seedData = join(work.dir, 'seed');
  blyanJson(['init', '--preset', 'tiny', '--data', seedData]);
  store = BlockStore.open(seedData, TINY);
  seed = new NodeProcess({ data: seedData, timeouts: { serveMs: SERVE_MS } });
  const r = await seed.ready();
  seedPeer = peerIdFromString(r.peerId);
  seedAddr = r.addrs[0] as string;
});

after(async () => {
  await client?.stop();
  await seed?.stop();
  store?.closeSync();
  work?.cleanup();
});

/** A well-behaved newcomer still gets answers. */
async function seedStillServes(): Promise<void> {
  const theirs = await requestStatus(await freshClient(), seedPeer, localStatus(store), 5000);
  assert.equal(theirs.network, TINY.network);
}

test('an oversized frame is refused by its length prefix with TOO_LARGE; the node keeps serving', { timeout: 30_000 }, async () => {
  await freshClient();
  const r = await rawExchange(HEADERS_PROTOCOL, async (s) => {
    s.send(frameHeader(100 * 1024 * 1024));
    s.send(new Uint8Array(1000));
  });
  assert.ok(!(r instanceof Error), String(r));
  assert.equal(r.status, STATUS_ERROR);
  assert.equal((r.content as { code: string }).code, 'TOO_LARGE');
  await seed.waitFor((e) => e.event === 'p2p' && e.type === 'penalty' && e.code === 'P2P_FRAME_TOO_LARGE', 5000, 'penalty');
  await seedStillServes();
});

test('a malformed request body is refused with BAD_REQUEST and penalised', { timeout: 30_000 }, async () => {
  for (const body of [new Uint8Array([0xff, 0x00, 0x13]), dagCbor.encode({ chain: 'Z', from: 0, count: 1 }), dagCbor.encode({ chain: 'A', from: 0, count: 100_000 })]) {
    await freshClient();
    const r = await rawExchange(HEADERS_PROTOCOL, async (s) => {
      await writeFrame(s, [body]);
      await s.close();
    });
    assert.ok(!(r instanceof Error), String(r));
    assert.equal((r.content as { code: string }).code, 'BAD_REQUEST');
  }
  await seed.waitFor((e) => e.event === 'p2p' && e.type === 'penalty' && e.code === 'P2P_MALFORMED', 5000, 'penalty');
  await seedStillServes();
});

test('headers and tiles are refused before a status exchange', { timeout: 30_000 }, async () => {
  const other = await rawHost();
  try {
    await other.dial(multiaddr(seedAddr));
    await assert.rejects(
      requestHeaders(other, seedPeer, { chain: 'A', from: 0, count: 1 }, 5000),
      (err: unknown) => isBlyanError(err, 'P2P_REMOTE_ERROR') && err.data['remote'] === 'STATUS_REQUIRED',
    );
    const g = store.getBlock(store.genesisId())!;
    await assert.rejects(
      requestTile(other, seedPeer, g.header, 0, 5000),
      (err: unknown) => isBlyanError(err, 'P2P_REMOTE_ERROR') && err.data['remote'] === 'STATUS_REQUIRED',
    );
  } finally {
    await other.stop();
  }
});

test('a slow-loris request (bytes trickled, never finished) is cut off at the deadline', { timeout: 30_000 }, async () => {
  await freshClient();
  const t0 = Date.now();
  const r = await rawExchange(TILE_PROTOCOL, async (s) => {
    s.send(frameHeader(40));
    for (let i = 0; i < 5; i++) {
      s.send(new Uint8Array([i]));
      await new Promise((res) => setTimeout(res, 200));
    }
  });
  const elapsed = Date.now() - t0;
  assert.ok(r instanceof Error, 'the stream was reset, not answered');
  assert.ok(elapsed < SERVE_MS + 2000, `cut off after ${elapsed} ms`);
  await seed.waitFor((e) => e.event === 'p2p' && e.type === 'penalty' && e.code === 'P2P_TIMEOUT', 5000, 'penalty');
  await seedStillServes();
});

test('a response over the limit or not in the wire format is a typed error on the requesting side', { timeout: 30_000 }, async () => {
  const evil = await rawHost();
  try {
    await evil.handle(HEADERS_PROTOCOL, async (stream) => {
      for await (const _ of stream) break;
      stream.send(frameHeader(50 * 1024 * 1024));
      stream.send(new Uint8Array(64));
    });
    await evil.handle(TILE_PROTOCOL, async (stream) => {
      for await (const _ of stream) break;
      await writeFrame(stream, [new Uint8Array([7, 1, 2, 3])]);
      await stream.close();
    });
    await evil.handle(STATUS_PROTOCOL, async (stream) => {
      for await (const _ of stream) break;
      await writeFrame(stream, [new Uint8Array([0]), dagCbor.encode({ v: 2, hello: 'world' })]);
      await stream.close();
    });
    await freshClient();
    await client.dial(evil.getMultiaddrs()[0]!);
    await assert.rejects(requestHeaders(client, evil.peerId, { chain: 'A', from: 0, count: 1 }, 5000), (e: unknown) => isBlyanError(e, 'P2P_FRAME_TOO_LARGE'));
    await assert.rejects(
      requestTile(client, evil.peerId, { payloadHash: new Uint8Array(32), payloadSize: 10, tileRoot: new Uint8Array(32) }, 0, 5000),
      (e: unknown) => isBlyanError(e, 'P2P_MALFORMED'),
    );
    await assert.rejects(requestStatus(client, evil.peerId, localStatus(store), 5000), (e: unknown) => isBlyanError(e, 'P2P_MALFORMED'));
  } finally {
    await evil.stop();
  }
});

test('a node on another genesis is refused: typed error, disconnected and banned, nothing stored', { timeout: 60_000 }, async () => {
  const devnetData = join(work.dir, 'devnet');
  blyanJson(['init', '--preset', 'devnet', '--data', devnetData]);
  const stranger = new NodeProcess({ data: devnetData });
  try {
    const r = await stranger.ready();
    const before = (await stranger.call({ cmd: 'heights' })).heights as Record<string, number>;
    const dial = await stranger.call({ cmd: 'dial', addr: seedAddr }).catch((e: Error) => e);
    assert.ok(dial instanceof Error && dial.message.includes('P2P_WRONG_GENESIS'), String(dial));
    const sync = (await stranger.call({ cmd: 'sync' })).result as { complete: boolean; status: { error: { code: string } } };
    assert.equal(sync.complete, false);
    assert.equal(sync.status.error.code, 'P2P_NO_PEERS');
    await seed.waitFor((e) => e.event === 'p2p' && e.type === 'ban' && e.peer === r.peerId && e.reason === 'wrong-network', 5000, 'seed bans the stranger');
    const heights = (await stranger.call({ cmd: 'heights' })).heights as Record<string, number>;
    assert.deepEqual(heights, before, 'nothing from the other network was stored');
    // And from the other side: a tiny requester sending another genesis gets WRONG_GENESIS.
    const fake = { ...localStatus(store), genesis: new Uint8Array(32).fill(7) };
    const other = await rawHost();
    try {
      await other.dial(multiaddr(seedAddr));
      await assert.rejects(requestStatus(other, seedPeer, fake, 5000), (e: unknown) => isBlyanError(e, 'P2P_WRONG_GENESIS'));
      // The seed hangs up a second after its refusal (time for the answer to get out).
      await until('the seed to hang up', () => other.getConnections(seedPeer).length, (n) => n === 0, 5000, 100);
    } finally {
      await other.stop();
    }
  } finally {
    await stranger.stop();
  }
  await seedStillServes();
});
