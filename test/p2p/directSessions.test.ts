/**
 * Sealed sessions on the direct channel (docs/expert-rpc.md §2.1): a ticket over libp2p admits one TCP
 * connection to the bulk port, whose bytes are ChaCha20-Poly1305 records; the session protocol runs in them as
 * on a libp2p stream.
 */
import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import { test } from 'node:test';
import { peerIdFromString } from '@libp2p/peer-id';
import { DirectSessions } from '../../src/p2p/direct/directSessions.ts';
import { sealedKeys, sealedStream } from '../../src/p2p/direct/sealedStream.ts';
import { FrameReader, writeFrame } from '../../src/p2p/framing.ts';
import { startP2p } from '../../src/p2p/index.ts';
import { requestDirectTicket } from '../../src/p2p/protocols/direct.ts';
import { RpcSessions } from '../../src/p2p/protocols/rpcSession.ts';
import { deterministicBytes } from '../helpers/fixtures.ts';
import { testResources } from '../helpers/testStores.ts';

const { stops, freshStore } = testResources();
const ECHO = '/blyan-test/echo/1';
const LIMITS = { requestBytes: 64 * 1024, responseBytes: 64 * 1024 };

async function pair(opts: { responderBulk?: false } = {}) {
  const a = freshStore('blyan-direct-a-');
  const served: string[] = [];
  const responder = await startP2p({ store: a.store, dataDir: a.dir, autoSync: false, ...(opts.responderBulk === false ? { bulk: false as const } : {}) });
  stops.push(() => responder.stop());
  await responder.handleSession({
    protocol: ECHO,
    limits: LIMITS,
    timeoutMs: 5000,
    idleMs: 60_000,
    handle: (req, peer, connection) => {
      served.push(connection === undefined ? 'direct' : 'libp2p');
      assert.equal(peer.toString(), requester.peerId, 'the ticket names the peer');
      return [req.slice().reverse()];
    },
    onPeerError: () => undefined,
  });
  const b = freshStore('blyan-direct-b-');
  const requester = await startP2p({ store: b.store, dataDir: b.dir, autoSync: false, bootstrap: responder.multiaddrs() });
  stops.push(() => requester.stop());
  await requester.dial(responder.multiaddrs()[0] as string);
  return { responder, requester, served, responderId: peerIdFromString(responder.peerId) };
}

/** Connects to the port, sends `token`, and resolves the socket once the accept byte came (or null if closed). */
function present(port: number, token: Uint8Array): Promise<Socket | null> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port, noDelay: true });
    socket.on('error', () => undefined);
    socket.once('data', (d: Buffer) => {
      if (d[0] !== 0x01 || d.byteLength !== 1) throw new Error(`unexpected ${d.toString('hex')}`);
      socket.pause();
      resolve(socket);
    });
    socket.once('close', () => resolve(null));
    socket.write(token);
  });
}

test('a session over the direct channel: requests answered in sealed records, the ticket good for one connection', async () => {
  const { requester, served, responderId } = await pair();
  const ticket = await requestDirectTicket(requester.libp2p, responderId, ECHO, 5000);
  const socket = await present(ticket.port, ticket.token);
  assert.ok(socket !== null, 'the token was taken');
  const stream = sealedStream(socket, sealedKeys(ticket.secret, ticket.token, 'requester'), 'test');
  const reader = new FrameReader(stream);
  for (let id = 1; id <= 3; id++) {
    const body = deterministicBytes(`echo ${id}`, 1000 * id);
    await writeFrame(stream, [Uint8Array.of(0, 0, 0, id), body]);
    const answer = await reader.readFrame(4 + 1 + body.byteLength, 'answer');
    assert.deepEqual([...answer.subarray(0, 5)], [0, 0, 0, id, 0x00], 'its id, status OK');
    assert.ok(Buffer.from(answer.subarray(5)).equals(Buffer.from(body).reverse()));
  }
  assert.deepEqual(served, ['direct', 'direct', 'direct']);
  // The same token again: taken already, the connection is closed without a byte.
  assert.equal(await present(ticket.port, ticket.token), null);
  // Plaintext where records belong: the responder drops the connection.
  const t2 = await requestDirectTicket(requester.libp2p, responderId, ECHO, 5000);
  const raw = await present(t2.port, t2.token);
  assert.ok(raw !== null);
  const closed = new Promise((r) => raw.once('close', r));
  raw.resume();
  raw.write(Buffer.concat([Uint8Array.of(0, 0, 0, 9), Buffer.from('not a sealed record at all')]));
  await closed;
  socket.destroy();
});

test('tickets: NOT_FOUND for a protocol not offered there, BUSY past 16 unused ones of a peer', async () => {
  const { requester, responderId } = await pair();
  await assert.rejects(requestDirectTicket(requester.libp2p, responderId, '/blyan-test/nothing/1', 5000), (err: Error & { data?: Record<string, unknown> }) => err.data?.['remote'] === 'NOT_FOUND');
  for (let i = 0; i < 16; i++) await requestDirectTicket(requester.libp2p, responderId, ECHO, 5000);
  await assert.rejects(requestDirectTicket(requester.libp2p, responderId, ECHO, 5000), (err: Error & { data?: Record<string, unknown> }) => err.data?.['remote'] === 'BUSY');
});

test('RpcSessions open on the direct channel where it is offered, and over libp2p where it is not', async () => {
  for (const responderBulk of [undefined, false] as const) {
    const { requester, served, responderId } = await pair(responderBulk === false ? { responderBulk } : {});
    const direct = new DirectSessions(requester.libp2p);
    const sessions = new RpcSessions(requester.libp2p, ECHO, 30_000, direct);
    try {
      for (let i = 0; i < 3; i++) {
        const body = deterministicBytes(`rpc ${i}`, 3000);
        const parts = await sessions.request(responderId, body, { limits: LIMITS, timeoutMs: 5000 });
        assert.ok(Buffer.concat(parts).equals(Buffer.from(body).reverse()));
      }
      if (responderBulk === false) {
        assert.deepEqual(served, ['libp2p', 'libp2p', 'libp2p']);
        assert.deepEqual(direct.stats, { opened: 0, fallbacks: 1, broken: 0 });
      } else {
        assert.deepEqual(served, ['direct', 'direct', 'direct']);
        assert.deepEqual(direct.stats, { opened: 1, fallbacks: 0, broken: 0 });
      }
    } finally {
      sessions.stop();
      direct.stop();
    }
  }
});
