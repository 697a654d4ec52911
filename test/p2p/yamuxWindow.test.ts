import '../../src/p2p/polyfill.ts';
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { generateKeyPair } from '@libp2p/crypto/keys';
import type { Libp2p, Stream } from '@libp2p/interface';
import { noise } from '@libp2p/noise';
import { tcp } from '@libp2p/tcp';
import { yamux } from '@libp2p/yamux';
import { StreamState, YamuxStream } from '@libp2p/yamux/stream';
import { createLibp2p } from 'libp2p';
import { halfWindowUpdates, yamuxHalfWindow } from '../../src/p2p/yamuxWindow.ts';
import { HASH_ECHO_PROTOCOL, hashEchoRoundTrip, serveHashEcho } from './hashEcho.ts';

// yamuxWindow.ts sends Yamux window updates at half the window instead of after every frame. The wire protocol
// is unchanged: a node using it exchanges small and large messages with a node using stock @libp2p/yamux, both
// ways, and bulk data keeps flowing (a sender blocks only on a used-up window).

const nodes: Libp2p[] = [];
after(async () => {
  await Promise.all(nodes.map((n) => n.stop()));
});

async function node(muxer: 'stock' | 'half'): Promise<Libp2p> {
  const n = await createLibp2p({
    privateKey: await generateKeyPair('Ed25519'),
    addresses: { listen: ['/ip4/127.0.0.1/tcp/0'] },
    transports: [tcp()],
    connectionEncrypters: [noise()],
    streamMuxers: [muxer === 'half' ? yamuxHalfWindow() : yamux()],
  });
  await serveHashEcho(n);
  nodes.push(n);
  return n;
}

// Many small messages on one stream (more than a whole 256 KiB window of them, so updates must come), then
// messages far larger than the window, then small ones again.
const SIZES = [...Array.from({ length: 300 }, (_, i) => 1000 + i * 7), 4 * 1024 * 1024, 9 * 1024 * 1024 + 3, 1, 0, 65_536];

test('half-window Yamux interoperates with stock Yamux in both directions, and with itself', { timeout: 120_000 }, async () => {
  const [stock, half, half2] = await Promise.all([node('stock'), node('half'), node('half')]);
  await hashEchoRoundTrip(half, stock, SIZES); // our side opens the stream (and the connection)
  await hashEchoRoundTrip(stock, half, SIZES); // the stock side opens it, on the same connection
  await hashEchoRoundTrip(half, half2, SIZES);
  // The streams of a half-window muxer carry the new method; a stock muxer's keep the library's.
  const ours = await half.dialProtocol(stock.getMultiaddrs(), HASH_ECHO_PROTOCOL);
  const theirs = await stock.dialProtocol(half.getMultiaddrs(), HASH_ECHO_PROTOCOL);
  const method = (s: Stream) => (s as unknown as { sendWindowUpdate: unknown }).sendWindowUpdate;
  assert.notEqual(method(ours), YamuxStream.prototype.sendWindowUpdate);
  assert.equal(method(theirs), YamuxStream.prototype.sendWindowUpdate);
  await Promise.all([ours.close(), theirs.close()]);
});

test('a stream sends a window update only once half its receive window is used; flags and pauses as before', () => {
  let sent = 0;
  const stream = { state: StreamState.Established, recvWindow: 256 * 1024, recvWindowCapacity: 256 * 1024, sendWindowUpdate: () => void sent++ };
  halfWindowUpdates(stream);
  stream.recvWindowCapacity -= 4096;
  stream.sendWindowUpdate();
  assert.equal(sent, 0, 'a 4 KiB frame into a 256 KiB window needs no update');
  stream.recvWindowCapacity = 128 * 1024 + 1;
  stream.sendWindowUpdate();
  assert.equal(sent, 0, 'just under half used: still none');
  stream.recvWindowCapacity = 128 * 1024;
  stream.sendWindowUpdate();
  assert.equal(sent, 1, 'half used: the library sends it (as go-yamux does)');
  // A new inbound stream must ACK at once, whatever its window; a paused stream is the library's business.
  for (const state of [StreamState.SYNReceived, StreamState.Init, StreamState.Paused]) {
    stream.state = state;
    stream.recvWindowCapacity = stream.recvWindow;
    stream.sendWindowUpdate();
  }
  assert.equal(sent, 4);
});
