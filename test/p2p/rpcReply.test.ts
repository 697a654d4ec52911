import assert from 'node:assert/strict';
import { test } from 'node:test';
import { generateKeyPair } from '@libp2p/crypto/keys';
import type { Connection, Stream } from '@libp2p/interface';
import { peerIdFromPrivateKey } from '@libp2p/peer-id';
import { TILE_BYTES } from '../../src/chain/limits.ts';
import { ZERO_COPY_MIN_BYTES } from '../../src/chain/store.ts';
import { tileLeaves, tileProof } from '../../src/chain/tiles.ts';
import { frameHeader } from '../../src/p2p/framing.ts';
import { encryptsOnSend, patchMessageStream } from '../../src/p2p/noiseFast.ts';
import { type RpcReply, serveRpc } from '../../src/p2p/protocols/rpc.ts';
import { encodeTileRequest, handleTile, LeafCache } from '../../src/p2p/protocols/tiles.ts';
import { addModel, deterministicBytes, expertBlock, freshStore } from '../helpers/fixtures.ts';

// serveRpc's `done` hook (src/p2p/protocols/rpc.ts): a handler that lends its response parts (the tile server's
// reused buffers) gets them back exactly once, after the response is written and the stream closed, or after the
// write failed and the stream was aborted — never while the stream may still read them.

/** A responder-side stream: the request is queued to be read; sends, drains and close are scripted by the test. */
class ScriptedStream {
  readonly log: string[] = [];
  readonly sent: Uint8Array[] = [];
  aborted: Error | undefined;
  private readonly incoming: Uint8Array[];

  constructor(
    request: Uint8Array,
    private readonly script: { sendThrowsAfter?: number; neverDrains?: boolean; closeFails?: boolean } = {},
  ) {
    this.incoming = [frameHeader(request.byteLength), request];
  }
  send(data: Uint8Array): boolean {
    if (this.aborted !== undefined) throw new Error('stream aborted');
    if (this.script.sendThrowsAfter !== undefined && this.sent.length >= this.script.sendThrowsAfter) throw new Error('connection reset');
    this.sent.push(data);
    this.log.push('send');
    return this.script.neverDrains !== true;
  }
  onDrain(): Promise<void> {
    // Never drains: only the deadline's abort ends the wait.
    return new Promise((_, reject) => {
      const t = setInterval(() => {
        if (this.aborted !== undefined) {
          clearInterval(t);
          reject(this.aborted);
        }
      }, 5);
    });
  }
  async close(): Promise<void> {
    await new Promise((r) => setTimeout(r, 5));
    if (this.script.closeFails === true) throw new Error('close failed');
    this.log.push('closed');
  }
  abort(err: Error): void {
    this.aborted ??= err;
    this.log.push('aborted');
  }
  [Symbol.asyncIterator](): AsyncIterator<Uint8Array> {
    return {
      next: async () => {
        const value = this.incoming.shift();
        return value === undefined ? { done: true, value: undefined } : { done: false, value };
      },
    };
  }
}

async function serve(stream: ScriptedStream, handle: () => RpcReply | readonly Uint8Array[] | Promise<RpcReply>, timeoutMs = 2000): Promise<{ served: number[] }> {
  const peer = peerIdFromPrivateKey(await generateKeyPair('Ed25519'));
  const served: number[] = [];
  const handler = serveRpc({
    protocol: '/blyan-test/lend/1',
    limits: { requestBytes: 128, responseBytes: 1 << 20 },
    timeoutMs,
    handle,
    onPeerError: () => {},
    onServed: (_, bytes) => served.push(bytes),
  });
  await handler(stream as unknown as Stream, { remotePeer: peer } as unknown as Connection);
  return { served };
}

test('serveRpc calls done once, after the response is written and the stream closed', async () => {
  const stream = new ScriptedStream(Uint8Array.of(1, 2, 3));
  const body = deterministicBytes('lent', 200_000);
  let calls = 0;
  const { served } = await serve(stream, () => ({
    parts: [Uint8Array.of(7), body],
    done: () => {
      calls++;
      stream.log.push('done');
    },
  }));
  assert.equal(calls, 1);
  assert.deepEqual(served, [200_001]);
  assert.equal(stream.aborted, undefined);
  // The whole frame went out before the parts were given back.
  assert.deepEqual(stream.log.slice(-2), ['closed', 'done']);
  const sent = Buffer.concat(stream.sent);
  assert.equal(sent.readUInt32BE(0), 1 + 1 + body.byteLength);
  assert.ok(sent.subarray(6).equals(body));
});

test('serveRpc calls done once when writing the response fails, after the stream is aborted', async () => {
  for (const script of [{ sendThrowsAfter: 2 }, { closeFails: true }]) {
    const stream = new ScriptedStream(Uint8Array.of(1), script);
    let calls = 0;
    const { served } = await serve(stream, () => ({
      parts: [Uint8Array.of(7), deterministicBytes('x', 100_000)],
      done: () => {
        calls++;
        stream.log.push('done');
      },
    }));
    assert.equal(calls, 1, JSON.stringify(script));
    assert.deepEqual(served, []);
    assert.ok(stream.aborted !== undefined);
    assert.deepEqual(stream.log.slice(-2), ['aborted', 'done']);
  }
});

test('serveRpc calls done once when the requester stops reading (deadline), after the stream is aborted', async () => {
  const stream = new ScriptedStream(Uint8Array.of(1), { neverDrains: true });
  let calls = 0;
  await serve(
    stream,
    () => ({
      parts: [Uint8Array.of(7), deterministicBytes('y', 100_000)],
      done: () => {
        calls++;
        stream.log.push('done');
      },
    }),
    100,
  );
  assert.equal(calls, 1);
  assert.deepEqual(stream.log.slice(-2), ['aborted', 'done']);
});

test('a reply of plain parts needs no hook, and a done that throws does not escape serveRpc', async () => {
  const stream = new ScriptedStream(Uint8Array.of(1));
  const { served } = await serve(stream, () => [Uint8Array.of(1, 2)]);
  assert.deepEqual(served, [2]);
  const other = new ScriptedStream(Uint8Array.of(1));
  const r = await serve(other, () => ({
    parts: [Uint8Array.of(1)],
    done: () => {
      throw new Error('boom');
    },
  }));
  assert.deepEqual(r.served, [1]);
});

/** A stand-in for a secured connection patched by noiseFast.ts, inside a libp2p-shaped connection. */
function encryptingConnection(): Connection {
  const secured = {
    encrypt: (c: Uint8Array) => c,
    decrypt: (c: Uint8Array) => c,
    handshake: { encrypt: (c: Uint8Array) => c, decrypt: (c: Uint8Array) => c },
    send: () => true,
    sendData: (d: Uint8Array) => ({ sentBytes: d.byteLength, canSendMore: true }),
    writeStatus: 'writable',
    stream: { send: () => true },
  };
  assert.equal(patchMessageStream(secured), true);
  const connection = { muxer: { maConn: secured } } as unknown as Connection;
  assert.equal(encryptsOnSend(connection), true);
  return connection;
}

test('the tile server sends from a reused buffer only on connections that encrypt on send, and gets it back through done', async () => {
  const { store, cleanup } = freshStore();
  try {
    const model = addModel(store).block.id;
    const payload = deterministicBytes('tiles', 2 * TILE_BYTES + 12_345);
    const block = expertBlock(model, 0, 0, payload);
    store.append(block, payload);
    const leaves = new LeafCache();
    const handle = handleTile({ store, isKnownPeer: () => true, leaves });
    const peer = peerIdFromPrivateKey(await generateKeyPair('Ed25519'));
    const proofOf = (i: number) => Buffer.concat(tileProof(tileLeaves(payload), i));
    const tileOf = (i: number) => payload.subarray(i * TILE_BYTES, Math.min(payload.byteLength, (i + 1) * TILE_BYTES));

    // Without such a connection: a copy of its own, nothing to give back.
    const plain = handle(encodeTileRequest({ payload: block.header.payloadHash, index: 1 }), peer);
    assert.equal(plain.done, undefined);
    assert.ok(Buffer.from(plain.parts[1] as Uint8Array).equals(tileOf(1)));
    assert.ok(Buffer.from((plain.parts[0] as Uint8Array).subarray(1)).equals(proofOf(1)));

    const connection = encryptingConnection();
    const a = handle(encodeTileRequest({ payload: block.header.payloadHash, index: 0 }), peer, connection);
    assert.equal(typeof a.done, 'function');
    assert.ok(Buffer.from(a.parts[1] as Uint8Array).equals(tileOf(0)));
    assert.equal(leaves.idleBuffers, 0);
    a.done?.();
    a.done?.(); // given back once, however often called
    assert.equal(leaves.idleBuffers, 1);
    // The next tile goes out of the same buffer; a short last tile gets memory of its own.
    const b = handle(encodeTileRequest({ payload: block.header.payloadHash, index: 1 }), peer, connection);
    assert.ok((b.parts[1] as Uint8Array).buffer === (a.parts[1] as Uint8Array).buffer, 'the buffer is reused');
    assert.ok(Buffer.from(b.parts[1] as Uint8Array).equals(tileOf(1)));
    assert.ok(Buffer.from((b.parts[0] as Uint8Array).subarray(1)).equals(proofOf(1)));
    const last = handle(encodeTileRequest({ payload: block.header.payloadHash, index: 2 }), peer, connection);
    assert.equal(last.done, undefined);
    assert.ok(Buffer.from(last.parts[1] as Uint8Array).equals(tileOf(2)));
    assert.ok(Buffer.from((last.parts[0] as Uint8Array).subarray(1)).equals(proofOf(2)));
    b.done?.();
    // A tile past the end, or a payload it lacks: NOT_FOUND, nothing taken.
    assert.throws(() => handle(encodeTileRequest({ payload: block.header.payloadHash, index: 3 }), peer, connection), /has 3 tiles/);
    assert.throws(() => handle(encodeTileRequest({ payload: deterministicBytes('none', 32), index: 0 }), peer, connection), /no payload/);
    assert.equal(leaves.idleBuffers, 1);
  } finally {
    await cleanup();
  }
});

test('a tile of a payload over 16 MiB is sent straight from the memory map, its read snapshot held until done', async () => {
  const { store, cleanup } = freshStore();
  const settle = () => new Promise((r) => setTimeout(r, 10));
  try {
    const model = addModel(store).block.id;
    const payload = deterministicBytes('mapped tiles', ZERO_COPY_MIN_BYTES + 12_345);
    const block = expertBlock(model, 0, 0, payload);
    store.append(block, payload);
    const leaves = new LeafCache();
    const peer = peerIdFromPrivateKey(await generateKeyPair('Ed25519'));
    const request = encodeTileRequest({ payload: block.header.payloadHash, index: 4 });
    const tile4 = payload.subarray(4 * TILE_BYTES, 5 * TILE_BYTES);
    for (const [how, handle, connection] of [
      ['bulk', handleTile({ store, isKnownPeer: () => true, leaves, lendBuffers: true }), undefined],
      ['encrypts on send', handleTile({ store, isKnownPeer: () => true, leaves }), encryptingConnection()],
    ] as const) {
      const r = handle(request, peer, connection);
      assert.ok(Buffer.from(r.parts[1] as Uint8Array).equals(tile4), how);
      assert.ok(Buffer.from((r.parts[0] as Uint8Array).subarray(1)).equals(Buffer.concat(tileProof(tileLeaves(payload), 4))), how);
      assert.ok((r.parts[1] as Uint8Array).buffer.byteLength > payload.byteLength, `${how}: a view on the map, not a copy`);
      assert.equal(leaves.idleBuffers, 0, `${how}: no tile buffer taken`);
      await settle();
      assert.equal(store.openReadSnapshots(), 1, `${how}: the snapshot is held while the socket has the bytes`);
      r.done?.();
      await settle();
      assert.equal(store.openReadSnapshots(), 0, `${how}: and let go by done`);
    }
    // Without a connection that lets go at once: a copy, nothing held.
    const plain = handleTile({ store, isKnownPeer: () => true, leaves })(request, peer);
    assert.equal(plain.done, undefined);
    assert.ok(Buffer.from(plain.parts[1] as Uint8Array).equals(tile4));
    await settle();
    assert.equal(store.openReadSnapshots(), 0);
    // A tile past the end: NOT_FOUND, and the snapshot is not left behind.
    assert.throws(() => handleTile({ store, isKnownPeer: () => true, leaves, lendBuffers: true })(encodeTileRequest({ payload: block.header.payloadHash, index: 5 }), peer), /has 5 tiles/);
    await settle();
    assert.equal(store.openReadSnapshots(), 0);
  } finally {
    await cleanup();
  }
});
