import '../../src/p2p/polyfill.ts';
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { generateKeyPair } from '@libp2p/crypto/keys';
import type { Connection, Libp2p, Stream } from '@libp2p/interface';
import { noise } from '@libp2p/noise';
import { tcp } from '@libp2p/tcp';
import { yamux } from '@libp2p/yamux';
import { createLibp2p } from 'libp2p';
import { FrameReader, writeFrame } from '../../src/p2p/framing.ts';
import { encryptsOnSend, fastNoise, fastNoiseStats, patchMessageStream } from '../../src/p2p/noiseFast.ts';
import { hashEchoRoundTrip, serveHashEcho } from './hashEcho.ts';

// The Noise wrapper (src/p2p/noiseFast.ts) changes how bytes are copied, not which bytes go on the wire: a node
// using it talks to a node using stock @libp2p/noise, both ways, with large and small messages alike.

const nodes: Libp2p[] = [];

after(async () => {
  await Promise.all(nodes.map((n) => n.stop()));
});

/** TCP + the chosen Noise + Yamux on 127.0.0.1, nothing else. */
async function plainNode(encrypter: 'stock' | 'fast'): Promise<Libp2p> {
  return createLibp2p({
    privateKey: await generateKeyPair('Ed25519'),
    addresses: { listen: ['/ip4/127.0.0.1/tcp/0'] },
    transports: [tcp()],
    connectionEncrypters: [encrypter === 'fast' ? fastNoise() : noise()],
    streamMuxers: [yamux()],
  });
}

async function node(encrypter: 'stock' | 'fast'): Promise<Libp2p> {
  const n = await plainNode(encrypter);
  await serveHashEcho(n);
  nodes.push(n);
  return n;
}

// Sizes around the Noise message limit (65535 − 16 bytes of plaintext), below the native-cipher cut-off
// (1200), and a tile's worth.
const SIZES = [0, 1, 1199, 1200, 65_518, 65_519, 65_520, 131_039, 300_001, 4 * 1024 * 1024];

test('fast Noise interoperates with stock Noise in both directions, and with itself', { timeout: 60_000 }, async () => {
  const [stockA, stockB, fast, fast2] = await Promise.all([node('stock'), node('stock'), node('fast'), node('fast')]);
  await hashEchoRoundTrip(fast, stockA, SIZES); // the wrapper as handshake initiator
  await hashEchoRoundTrip(stockB, fast, SIZES); // as responder
  await hashEchoRoundTrip(fast, fast2, SIZES);
  // Four secured connections on the fast side (one each with the stock nodes, two between the fast nodes).
  assert.deepEqual(fastNoiseStats, { patched: 4, unpatched: 0 });
});

test('a connection object of another shape is left alone', () => {
  assert.equal(patchMessageStream({}), false);
  assert.equal(patchMessageStream(null), false);
  assert.equal(patchMessageStream({ encrypt: () => 0, decrypt: () => 0 }), false);
});

const REUSE_PROTOCOL = '/blyan-test/reuse/1';

/** Answers a request `u32 size ‖ seed` with that many deterministic bytes, then overwrites them once closed. */
async function reusingServer(encrypter: 'stock' | 'fast', seen: boolean[]): Promise<Libp2p> {
  const n = await plainNode(encrypter);
  await n.handle(
    REUSE_PROTOCOL,
    async (stream: Stream, connection: Connection) => {
      seen.push(encryptsOnSend(connection));
      const request = await new FrameReader(stream).readFrame(64, 'request');
      const body = patterned(new DataView(request.buffer, request.byteOffset).getUint32(0), request[4] as number);
      await writeFrame(stream, [body]);
      await stream.close();
      // What a server that reuses its buffers does next: the bytes sent must not change on the wire.
      body.fill(0xee);
    },
    { maxInboundStreams: 64 },
  );
  nodes.push(n);
  return n;
}

function patterned(size: number, seed: number): Uint8Array {
  const b = new Uint8Array(size);
  for (let i = 0; i < size; i += 4096) b[i] = (seed + i / 4096) & 0xff;
  return b;
}

/** Asks `server` for `count` bodies of `size` bytes at once; returns how many came back altered. */
async function askAll(client: Libp2p, server: Libp2p, count: number, size: number): Promise<number> {
  const answers = await Promise.all(
    Array.from({ length: count }, async (_, k) => {
      const stream = await client.dialProtocol(server.getMultiaddrs(), REUSE_PROTOCOL);
      const req = new Uint8Array(5);
      new DataView(req.buffer).setUint32(0, size);
      req[4] = k;
      await writeFrame(stream, [req]);
      await stream.close();
      const body = await new FrameReader(stream).readFrame(size, 'answer');
      return Buffer.from(body).equals(patterned(size, k));
    }),
  );
  return answers.filter((ok) => !ok).length;
}

test('fast Noise encrypts what is sent at once: a server may reuse a buffer once its stream has closed', { timeout: 120_000 }, async () => {
  const seen: boolean[] = [];
  const [server, client] = await Promise.all([reusingServer('fast', seen), node('fast')]);
  for (let round = 0; round < 3; round++) assert.equal(await askAll(client, server, 8, 4 * 1024 * 1024), 0, `round ${round}: every body intact`);
  assert.ok(seen.length === 24 && seen.every((x) => x), 'the server saw connections that encrypt on send');
  // A stock Noise connection makes no such promise (its queue may hold plaintext), so encryptsOnSend says no.
  const stockSeen: boolean[] = [];
  const stock = await reusingServer('stock', stockSeen);
  assert.equal(await askAll(client, stock, 1, 1024), 0);
  assert.deepEqual(stockSeen, [false]);
});
