// A byte-exact round trip over a libp2p stream, for the tests that check a change to the stack (noiseFast.ts,
// yamuxWindow.ts) keeps the wire protocol: the server answers each frame with its SHA-256 and the frame itself.
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import type { Libp2p, Stream } from '@libp2p/interface';
import { FrameReader, writeFrame } from '../../src/p2p/framing.ts';

export const HASH_ECHO_PROTOCOL = '/blyan-test/echo-hash/1';

/** Makes `n` answer HASH_ECHO_PROTOCOL streams. */
export async function serveHashEcho(n: Libp2p): Promise<void> {
  await n.handle(HASH_ECHO_PROTOCOL, async (stream: Stream) => {
    const reader = new FrameReader(stream);
    while (!(await reader.atEnd())) {
      const body = await reader.readFrame(64 * 1024 * 1024, 'echo');
      await writeFrame(stream, [createHash('sha256').update(body).digest(), body]);
    }
    await stream.close();
  });
}

/** Sends frames of the given sizes from `a` to `b` on one stream and checks every byte that comes back. */
export async function hashEchoRoundTrip(a: Libp2p, b: Libp2p, sizes: readonly number[]): Promise<void> {
  const stream = await a.dialProtocol(b.getMultiaddrs(), HASH_ECHO_PROTOCOL);
  const reader = new FrameReader(stream);
  for (const size of sizes) {
    const body = randomBytes(size);
    await writeFrame(stream, [body]);
    const answer = await reader.readFrame(64 * 1024 * 1024 + 32, 'answer');
    assert.equal(answer.byteLength, size + 32);
    assert.ok(Buffer.from(answer.subarray(0, 32)).equals(createHash('sha256').update(body).digest()), `hash of a ${size}-byte frame`);
    assert.ok(Buffer.from(answer.subarray(32)).equals(body), `echo of a ${size}-byte frame`);
  }
  await stream.close();
}
