import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as dagCbor from '@ipld/dag-cbor';
import { isBlyanError } from '../../src/errors.ts';
import { FrameReader, type FrameStream, frameHeader, withDeadline, writeFrame } from '../../src/p2p/framing.ts';
import { decodeHeadersRequest } from '../../src/p2p/protocols/headers.ts';
import { decodeStatus } from '../../src/p2p/protocols/status.ts';
import { checkTileResponse } from '../../src/p2p/protocols/tiles.ts';
import { TILE_BYTES } from '../../src/chain/limits.ts';
import { tileLeaves, tileProof, tileRoot } from '../../src/chain/tiles.ts';
import { sha256 } from '../../src/chain/hash.ts';

/** A stream fed by the test: chunks arrive when pushed; abort() ends reads with the error. */
class FakeStream implements FrameStream {
  sent: Uint8Array[] = [];
  aborted: Error | undefined;
  private queue: Uint8Array[] = [];
  private ended = false;
  private wake: (() => void) | undefined;

  push(...chunks: Uint8Array[]): void {
    this.queue.push(...chunks);
    this.wake?.();
  }
  end(): void {
    this.ended = true;
    this.wake?.();
  }
  send(data: Uint8Array): boolean {
    this.sent.push(data);
    return true;
  }
  async onDrain(): Promise<void> {}
  async close(): Promise<void> {}
  abort(err: Error): void {
    this.aborted = err;
    this.wake?.();
  }
  [Symbol.asyncIterator](): AsyncIterator<Uint8Array> {
    return {
      next: async () => {
        for (;;) {
          if (this.aborted !== undefined) throw this.aborted;
          const c = this.queue.shift();
          if (c !== undefined) return { done: false, value: c };
          if (this.ended) return { done: true, value: undefined };
          await new Promise<void>((r) => {
            this.wake = r;
          });
        }
      },
    };
  }
}

function frame(body: Uint8Array): Uint8Array {
  return Buffer.concat([frameHeader(body.byteLength), body]);
}

test('frames split across chunks at every byte reassemble exactly', async () => {
  const a = new Uint8Array(300).map((_, i) => i & 0xff);
  const b = new Uint8Array(0);
  const c = new Uint8Array([9, 8, 7]);
  const wire = Buffer.concat([frame(a), frame(b), frame(c)]);
  for (const size of [1, 2, 3, 5, 64, wire.byteLength]) {
    const s = new FakeStream();
    for (let i = 0; i < wire.byteLength; i += size) s.push(wire.subarray(i, i + size));
    s.end();
    const r = new FrameReader(s);
    for (const want of [a, b, c]) assert.ok(Buffer.from(await r.readFrame(1000, 't')).equals(want));
    assert.equal(await r.atEnd(), true);
  }
});

test('a length over the limit is refused from the 4-byte prefix alone', async () => {
  const s = new FakeStream();
  s.push(frameHeader(2 ** 32 - 1));
  const err = await new FrameReader(s).readFrame(1024, 't').catch((e: unknown) => e);
  assert.ok(isBlyanError(err, 'P2P_FRAME_TOO_LARGE'));
  assert.deepEqual(err.data, { length: 2 ** 32 - 1, limit: 1024 });
});

test('a stream that ends inside a frame is P2P_STREAM_CLOSED', async () => {
  const s = new FakeStream();
  s.push(frameHeader(10), new Uint8Array(4));
  s.end();
  await assert.rejects(new FrameReader(s).readFrame(100, 't'), (e: unknown) => isBlyanError(e, 'P2P_STREAM_CLOSED'));
});

test('a trickling sender is cut off by the deadline on the whole frame (P2P_TIMEOUT), and the stream aborted', async () => {
  const s = new FakeStream();
  s.push(frameHeader(100));
  const timer = setInterval(() => s.push(new Uint8Array(1)), 10);
  try {
    const t0 = Date.now();
    const err = await withDeadline(s, 150, 't', () => new FrameReader(s).readFrame(1000, 't')).catch((e: unknown) => e);
    assert.ok(isBlyanError(err, 'P2P_TIMEOUT'), String(err));
    assert.ok(Date.now() - t0 < 1000);
    assert.ok(s.aborted !== undefined);
  } finally {
    clearInterval(timer);
  }
});

test('writeFrame sends a large frame as the length then its parts, uncopied; a small one in one send', async () => {
  const s = new FakeStream();
  const big = new Uint8Array(70_000);
  await writeFrame(s, [Uint8Array.of(0), big]);
  assert.equal(s.sent.length, 3);
  assert.deepEqual(s.sent[0], frameHeader(70_001));
  assert.equal(s.sent[2], big);
  const t = new FakeStream();
  await writeFrame(t, [Uint8Array.of(7), Uint8Array.of(8, 9)]);
  assert.equal(t.sent.length, 1);
  assert.deepEqual([...(t.sent[0] as Uint8Array)], [0, 0, 0, 3, 7, 8, 9]);
});

test('request and status decoders refuse anything but their exact shape', () => {
  const bad = [new Uint8Array([0xa1]), dagCbor.encode([1, 2]), dagCbor.encode({ chain: 'A', from: -1, count: 1 }), dagCbor.encode({ chain: 'A', from: 0, count: 1, extra: 1 }), dagCbor.encode({ chain: 'A', from: 0, count: 513 })];
  for (const b of bad) assert.throws(() => decodeHeadersRequest(b), (e: unknown) => isBlyanError(e, 'P2P_MALFORMED'));
  assert.deepEqual(decodeHeadersRequest(dagCbor.encode({ chain: 'B', from: 7, count: 512 })), { chain: 'B', from: 7, count: 512 });
  const head = { n: 0, id: null };
  const ok = { v: 1, network: 'x', chainId: 1, genesis: new Uint8Array(32), heads: { A: head, B: head, C: head, D: head } };
  assert.equal(decodeStatus(dagCbor.encode(ok)).network, 'x');
  assert.throws(() => decodeStatus(dagCbor.encode({ ...ok, v: 2 })), (e: unknown) => isBlyanError(e, 'P2P_MALFORMED'));
  assert.throws(() => decodeStatus(dagCbor.encode({ ...ok, heads: { ...ok.heads, A: { n: 3, id: null } } })), (e: unknown) => isBlyanError(e, 'P2P_MALFORMED'));
  assert.throws(() => decodeStatus(dagCbor.encode({ ...ok, genesis: new Uint8Array(31) })), (e: unknown) => isBlyanError(e, 'P2P_MALFORMED'));
});

test('a tile answer is kept only with the right length and a proof to the header tile root', () => {
  const size = 2 * TILE_BYTES + 100;
  const payload = new Uint8Array(size).map((_, i) => Math.imul(i, 2654435761) >>> 24);
  const leaves = tileLeaves(payload);
  const target = { payloadHash: sha256(payload), payloadSize: size, tileRoot: tileRoot(payload) };
  const answer = (index: number, tile: Uint8Array, proof = tileProof(leaves, index)) => Buffer.concat([Uint8Array.of(proof.length), ...proof, tile]);
  for (let i = 0; i < 3; i++) {
    const tile = payload.subarray(i * TILE_BYTES, (i + 1) * TILE_BYTES);
    assert.ok(Buffer.from(checkTileResponse(answer(i, tile), target, i)).equals(tile));
  }
  const t1 = payload.subarray(TILE_BYTES, 2 * TILE_BYTES);
  const flipped = t1.slice();
  flipped[5] = (flipped[5] as number) ^ 1;
  assert.throws(() => checkTileResponse(answer(1, flipped), target, 1), (e: unknown) => isBlyanError(e, 'P2P_BAD_DATA'));
  // The right bytes under another index, a short tile, a proof of the wrong depth, a garbage proof length.
  assert.throws(() => checkTileResponse(answer(0, t1), target, 0), (e: unknown) => isBlyanError(e, 'P2P_BAD_DATA'));
  assert.throws(() => checkTileResponse(answer(1, t1.subarray(1)), target, 1), (e: unknown) => isBlyanError(e, 'P2P_BAD_DATA'));
  assert.throws(() => checkTileResponse(answer(1, t1, tileProof(leaves, 1).slice(1)), target, 1), (e: unknown) => isBlyanError(e, 'P2P_BAD_DATA'));
  assert.throws(() => checkTileResponse(Uint8Array.of(200, 1, 2), target, 1), (e: unknown) => isBlyanError(e, 'P2P_MALFORMED'));
});
