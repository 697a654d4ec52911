import '../../src/p2p/polyfill.ts';
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import * as dagCbor from '@ipld/dag-cbor';
import type { PeerId, Stream } from '@libp2p/interface';
import { type BlyanError, isBlyanError } from '../../src/errors.ts';
import { FrameReader, writeFrame } from '../../src/p2p/framing.ts';
import type { Host } from '../../src/p2p/host.ts';
import { RpcError, STATUS_OK } from '../../src/p2p/protocols/rpc.ts';
import { RpcSessions, serveSession } from '../../src/p2p/protocols/rpcSession.ts';
import { loopbackHost } from './fixture.ts';

// Request/response sessions (src/p2p/protocols/rpcSession.ts) between two libp2p hosts in this process.

const ECHO = '/test/session-echo/1';
const RAW = '/test/session-raw/1';
const LIMITS = { requestBytes: 64 * 1024, responseBytes: 64 * 1024 };

let server: Host;
let client: Host;
let serverPeer: PeerId;
/** Streams the echo protocol has opened, and the server-side errors it reported. */
const opened: Stream[] = [];
const peerErrors: string[] = [];
let rawHandler: (stream: Stream) => Promise<void> = async () => {};


/** Echo handler: 'sleep:N' waits N ms, 'fail' answers BUSY, 'crash' throws a plain error; else echoes. */
async function handle(request: Uint8Array): Promise<Uint8Array[]> {
  const text = new TextDecoder().decode(request);
  if (text.startsWith('sleep:')) await new Promise((r) => setTimeout(r, Number(text.slice(6))));
  if (text === 'fail') throw new RpcError('BUSY', 'try later');
  if (text === 'crash') throw new Error('boom');
  return [request];
}

before(async () => {
  server = await loopbackHost();
  const echo = serveSession({
    protocol: ECHO,
    limits: LIMITS,
    timeoutMs: 2000,
    idleMs: 1500,
    handle,
    onPeerError: (_peer, err) => peerErrors.push(err.code),
  });
  await server.handle(ECHO, (stream, connection) => {
    opened.push(stream);
    return echo(stream, connection);
  });
  await server.handle(RAW, (stream) => rawHandler(stream));
  await server.start();
  client = await loopbackHost();
  await client.start();
  const conn = await client.dial(server.getMultiaddrs()[0] as Parameters<Host['dial']>[0]);
  serverPeer = conn.remotePeer;
});

after(async () => {
  await client?.stop();
  await server?.stop();
});

const text = (parts: Uint8Array[]) => new TextDecoder().decode(Buffer.concat(parts));
const bytes = (s: string) => new TextEncoder().encode(s);

test('requests follow each other on one stream; pipelined ones are answered in order', async () => {
  const s = new RpcSessions(client, ECHO, 10_000);
  const before = opened.length;
  for (let i = 0; i < 20; i++) assert.equal(text(await s.request(serverPeer, bytes(`hello ${i}`), { limits: LIMITS, timeoutMs: 2000 })), `hello ${i}`);
  const all = await Promise.all(Array.from({ length: 16 }, (_, i) => s.request(serverPeer, bytes(i % 3 === 0 ? `sleep:20` : `p${i}`), { limits: LIMITS, timeoutMs: 2000 })));
  assert.deepEqual(all.map(text), Array.from({ length: 16 }, (_, i) => (i % 3 === 0 ? 'sleep:20' : `p${i}`)));
  assert.equal(opened.length - before, 1, 'one stream for all 36 requests');
  assert.equal(s.size, 1);
  s.stop();
});

test('an error answer ends that request only; the session goes on', async () => {
  const s = new RpcSessions(client, ECHO, 10_000);
  const before = opened.length;
  await assert.rejects(s.request(serverPeer, bytes('fail'), { limits: LIMITS, timeoutMs: 2000 }), (e) => isBlyanError(e, 'P2P_REMOTE_ERROR') && e.data['remote'] === 'BUSY');
  await assert.rejects(s.request(serverPeer, bytes('crash'), { limits: LIMITS, timeoutMs: 2000 }), (e) => isBlyanError(e, 'P2P_REMOTE_ERROR') && e.data['remote'] === 'INTERNAL');
  assert.equal(text(await s.request(serverPeer, bytes('still here'), { limits: LIMITS, timeoutMs: 2000 })), 'still here');
  assert.equal(opened.length - before, 1);
  s.stop();
});

test('a missed deadline is P2P_TIMEOUT and ends the session; the next request opens a new one', async () => {
  const s = new RpcSessions(client, ECHO, 10_000);
  const before = opened.length;
  await assert.rejects(s.request(serverPeer, bytes('sleep:600'), { limits: LIMITS, timeoutMs: 150 }), (e) => isBlyanError(e, 'P2P_TIMEOUT'));
  assert.equal(s.size, 0);
  assert.equal(text(await s.request(serverPeer, bytes('again'), { limits: LIMITS, timeoutMs: 2000 })), 'again');
  assert.equal(opened.length - before, 2);
  s.stop();
});

test('a request over the limit is refused with TOO_LARGE before its body is read, and ends the session', async () => {
  const s = new RpcSessions(client, ECHO, 10_000);
  const errorsBefore = peerErrors.length;
  const big = new Uint8Array(LIMITS.requestBytes + 1);
  await assert.rejects(s.request(serverPeer, big, { limits: { ...LIMITS, requestBytes: 1 << 20 }, timeoutMs: 2000 }), (e) => isBlyanError(e) && (e.data['remote'] === 'TOO_LARGE' || e.code === 'P2P_STREAM_CLOSED'));
  assert.ok(peerErrors.slice(errorsBefore).includes('P2P_FRAME_TOO_LARGE'), JSON.stringify(peerErrors));
  assert.equal(text(await s.request(serverPeer, bytes('small'), { limits: LIMITS, timeoutMs: 2000 })), 'small');
  s.stop();
});

test('idle sessions close; one the responder ended meanwhile is reopened without failing the request', async () => {
  // The requester's idle limit (2.5 s) is longer than the responder's (1.5 s): the responder ends it first.
  const s = new RpcSessions(client, ECHO, 2500);
  const before = opened.length;
  assert.equal(text(await s.request(serverPeer, bytes('one'), { limits: LIMITS, timeoutMs: 2000 })), 'one');
  await new Promise((r) => setTimeout(r, 1800));
  assert.equal(text(await s.request(serverPeer, bytes('two'), { limits: LIMITS, timeoutMs: 2000 })), 'two');
  assert.equal(opened.length - before, 2, 'a second stream after the responder ended the first');
  // A requester idle limit shorter than the responder's: the requester closes, the session map empties.
  const t = new RpcSessions(client, ECHO, 200);
  await t.request(serverPeer, bytes('x'), { limits: LIMITS, timeoutMs: 2000 });
  assert.equal(t.size, 1);
  await new Promise((r) => setTimeout(r, 400));
  assert.equal(t.size, 0);
  s.stop();
  t.stop();
});

test('answers that break the protocol end the session with a typed error', async () => {
  const answer = async (frame: (id: number) => Uint8Array[]) => {
    rawHandler = async (stream) => {
      const reader = new FrameReader(stream);
      const req = await reader.readFrame(1 << 16, 'raw');
      const id = new DataView(req.buffer, req.byteOffset, 4).getUint32(0, false);
      await writeFrame(stream, frame(id));
    };
    const s = new RpcSessions(client, RAW, 10_000);
    try {
      await s.request(serverPeer, bytes('q'), { limits: { requestBytes: 1024, responseBytes: 16 }, timeoutMs: 2000 });
      assert.fail('expected a rejection');
    } catch (err) {
      return err as BlyanError;
    } finally {
      s.stop();
    }
  };
  const idOf = (id: number) => {
    const b = new Uint8Array(4);
    new DataView(b.buffer).setUint32(0, id, false);
    return b;
  };
  assert.equal((await answer((id) => [idOf(id + 1), Uint8Array.of(STATUS_OK), bytes('hi')])).code, 'P2P_MALFORMED');
  assert.equal((await answer(() => [Uint8Array.of(1, 2)])).code, 'P2P_MALFORMED');
  assert.equal((await answer((id) => [idOf(id), Uint8Array.of(STATUS_OK), new Uint8Array(17)])).code, 'P2P_FRAME_TOO_LARGE');
  assert.equal((await answer((id) => [idOf(id), Uint8Array.of(9), bytes('??')])).code, 'P2P_MALFORMED');
  const remote = await answer((id) => [idOf(id), Uint8Array.of(1), dagCbor.encode({ code: 'BUSY', message: 'later' })]);
  assert.ok(isBlyanError(remote, 'P2P_REMOTE_ERROR') && remote.data['remote'] === 'BUSY');
});

test('a request body that stalls after its length is cut off by the responder (slow loris)', async () => {
  const errorsBefore = peerErrors.length;
  const stream = await client.dialProtocol(serverPeer, ECHO);
  const header = new Uint8Array(4);
  new DataView(header.buffer).setUint32(0, 100, false);
  stream.send(header);
  stream.send(new Uint8Array(10));
  const reader = new FrameReader(stream);
  await assert.rejects(reader.readFrame(1024, 'loris'), (e) => e instanceof Error);
  assert.ok(peerErrors.slice(errorsBefore).includes('P2P_TIMEOUT'), JSON.stringify(peerErrors));
});
