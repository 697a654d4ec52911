import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { test } from 'node:test';
import { RECORD_MAX, sealedKeys, sealedStream, sealRecord } from '../../src/p2p/direct/sealedStream.ts';
import { FrameReader, writeFrame } from '../../src/p2p/framing.ts';
import { deterministicBytes } from '../helpers/fixtures.ts';

const secret = new Uint8Array(randomBytes(32));
const token = new Uint8Array(randomBytes(32));

/** A connected pair of sockets on 127.0.0.1: [requester side, responder side]. */
async function socketPair(): Promise<{ a: Socket; b: Socket; close: () => Promise<void> }> {
  let onAccept: (s: Socket) => void = () => undefined;
  const accepted = new Promise<Socket>((resolve) => {
    onAccept = resolve;
  });
  const server: Server = createServer((s) => onAccept(s));
  const port = await new Promise<number>((resolve) => server.listen(0, '127.0.0.1', () => resolve((server.address() as { port: number }).port)));
  const a = connect({ host: '127.0.0.1', port, noDelay: true });
  await new Promise((r) => a.once('connect', r));
  const b = await accepted;
  return {
    a,
    b,
    close: async () => {
      a.destroy();
      b.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

test('sealed frames go both ways intact, a frame larger than a record spanning several', async () => {
  const { a, b, close } = await socketPair();
  try {
    const req = sealedStream(a, sealedKeys(secret, token, 'requester'), 'test requester');
    const res = sealedStream(b, sealedKeys(secret, token, 'responder'), 'test responder');
    const reqReader = new FrameReader(req);
    const resReader = new FrameReader(res);
    const sizes = [1, 2048, RECORD_MAX - 4, 3 * RECORD_MAX + 17];
    for (const [i, size] of sizes.entries()) {
      const body = deterministicBytes(`frame ${i}`, size);
      await writeFrame(req, [body]);
      const got = await resReader.readFrame(size, 'at responder');
      assert.ok(Buffer.from(got).equals(body), `frame of ${size} bytes reaches the responder`);
      const answer = deterministicBytes(`answer ${i}`, size);
      await writeFrame(res, [answer.subarray(0, 5), answer.subarray(5)]);
      assert.ok(Buffer.from(await reqReader.readFrame(size, 'at requester')).equals(answer), `answer of ${size} bytes reaches the requester`);
    }
    // A clean end is the end of the stream, not a failure.
    await req.close();
    assert.equal(await resReader.atEnd(), true);
  } finally {
    await close();
  }
});

test('a record altered, replayed or sealed with the wrong key fails to open (P2P_BAD_DATA): the channel is broken, a lost connection to the session', async () => {
  const keys = sealedKeys(secret, token, 'requester');
  const cases: [string, (s: Socket) => void][] = [
    [
      'altered',
      (s) => {
        const r = sealRecord(keys.send, 0n, deterministicBytes('x', 100));
        (r[10] as number) ^= 1;
        s.write(r);
      },
    ],
    [
      'replayed',
      (s) => {
        const r = sealRecord(keys.send, 0n, deterministicBytes('x', 100));
        s.write(r);
        s.write(r);
      },
    ],
    ['reordered', (s) => s.write(sealRecord(keys.send, 1n, deterministicBytes('x', 100)))],
    ['other direction', (s) => s.write(sealRecord(keys.receive, 0n, deterministicBytes('x', 100)))],
  ];
  for (const [name, send] of cases) {
    const { a, b, close } = await socketPair();
    try {
      const broken: Error[] = [];
      const res = sealedStream(b, sealedKeys(secret, token, 'responder'), 'test responder', { onBroken: (e) => broken.push(e) });
      send(a);
      const it = res[Symbol.asyncIterator]();
      if (name === 'replayed') assert.equal((await it.next()).done, false, 'the first copy opens');
      await assert.rejects(it.next(), (err: Error & { code?: string; data?: Record<string, unknown> }) => err.code === 'P2P_STREAM_CLOSED' && err.data?.['reason'] === 'P2P_BAD_DATA', name);
      assert.equal(broken.length, 1, `${name}: onBroken heard of it`);
      assert.equal((broken[0] as Error & { code?: string }).code, 'P2P_BAD_DATA');
      await new Promise((r) => setTimeout(r, 20));
      assert.equal(b.destroyed, true, `${name}: the connection is cut`);
    } finally {
      await close();
    }
  }
});

test('a record header over the limit, or a connection ending inside a record, is P2P_MALFORMED (a broken channel)', async () => {
  for (const bytes of [Uint8Array.of(0, 0x10, 0, 0), Uint8Array.of(0, 0, 0, 8)]) {
    const { a, b, close } = await socketPair();
    try {
      const broken: Error[] = [];
      const res = sealedStream(b, sealedKeys(secret, token, 'responder'), 'test responder', { onBroken: (e) => broken.push(e) });
      a.write(bytes);
      await assert.rejects(res[Symbol.asyncIterator]().next(), (err: Error & { code?: string; data?: Record<string, unknown> }) => err.code === 'P2P_STREAM_CLOSED' && err.data?.['reason'] === 'P2P_MALFORMED');
      assert.equal(broken.length, 1);
    } finally {
      await close();
    }
  }
  const { a, b, close } = await socketPair();
  try {
    const res = sealedStream(b, sealedKeys(secret, token, 'responder'), 'test responder');
    a.end(sealRecord(sealedKeys(secret, token, 'requester').send, 0n, deterministicBytes('x', 100)).subarray(0, 50));
    await assert.rejects(res[Symbol.asyncIterator]().next(), (err: Error & { code?: string; data?: Record<string, unknown> }) => err.code === 'P2P_STREAM_CLOSED' && err.data?.['reason'] === 'P2P_MALFORMED');
  } finally {
    await close();
  }
});

test('each ticket derives its own pair of direction keys', () => {
  const r = sealedKeys(secret, token, 'requester');
  const s = sealedKeys(secret, token, 'responder');
  assert.deepEqual(r.send, s.receive);
  assert.deepEqual(r.receive, s.send);
  assert.notDeepEqual(r.send, r.receive);
  const other = sealedKeys(secret, new Uint8Array(randomBytes(32)), 'requester');
  assert.notDeepEqual(other.send, r.send);
});

test('records that arrive split anywhere, even inside their length, and two in one read, are reassembled', async () => {
  const { a, b, close } = await socketPair();
  try {
    a.setNoDelay(true);
    const keys = sealedKeys(secret, token, 'requester');
    const res = sealedStream(b, sealedKeys(secret, token, 'responder'), 'test responder');
    const it = res[Symbol.asyncIterator]();
    const bodies = [deterministicBytes('split 0', 5000), deterministicBytes('split 1', 300), deterministicBytes('split 2', 70_000)];
    const records = bodies.map((body, i) => sealRecord(keys.send, BigInt(i), body));
    const r0 = records[0] as Uint8Array;
    // The first record in pieces of 1, 2, 3 bytes and the rest; the second and third in one write.
    for (const piece of [r0.subarray(0, 1), r0.subarray(1, 3), r0.subarray(3, 6), r0.subarray(6)]) {
      a.write(piece);
      await new Promise((r) => setTimeout(r, 15));
    }
    a.write(Buffer.concat([records[1] as Uint8Array, records[2] as Uint8Array]));
    let got = Buffer.alloc(0);
    const want = Buffer.concat(bodies);
    while (got.byteLength < want.byteLength) {
      const next = await it.next();
      assert.equal(next.done, false);
      got = Buffer.concat([got, next.value as Uint8Array]);
    }
    assert.ok(got.equals(want));
  } finally {
    await close();
  }
});
