import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { test } from 'node:test';
import fc from 'fast-check';
import { fromHex, toHex } from '../../src/chain/hash.ts';
import { isBlyanError } from '../../src/errors.ts';
import { shardBytes, shardFor, shardRange, shardSeed } from '../../src/datasets/sharding.ts';

const id = fromHex('00a680799f2de532c7a7fbc6c254bdaf052824f4429ddeeabc42f6c7b2c32487', 32);
const miner = fromHex('17fe491884cecc7b8c5db14a510b5d51ddde955d', 20);
const tinyShakespeare = { id, size: 1_115_394, chunkSize: 65_536 };

const arbDataset = fc.record({
  id: fc.uint8Array({ minLength: 32, maxLength: 32 }),
  size: fc.integer({ min: 1, max: 50_000_000 }),
  chunkSize: fc.constantFrom(1024, 4096, 65_536, 1 << 20),
});

test('the seed is SHA-256 of the documented byte layout (checked with node:crypto)', () => {
  const round = 0x0102_0304_0506;
  const layout = Buffer.concat([
    Buffer.from('blyan/dataset-shard/v1\0', 'ascii'),
    Buffer.from(id),
    Buffer.from(miner),
    Buffer.from([0x00, 0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06]), // u64be(round)
    Buffer.from([0x00, 0x00, 0x00, 0x12]), // u32be(18)
  ]);
  assert.equal(layout.length, 23 + 32 + 20 + 8 + 4);
  const want = createHash('sha256').update(layout).digest();
  assert.equal(toHex(shardSeed(id, miner, round, 18)), want.toString('hex'));
  const shard = shardFor(tinyShakespeare, miner, round);
  assert.equal(shard.index, Number(want.readBigUInt64BE(0) % 18n));
});

test('a fixed vector: tinyshakespeare, one miner, rounds 0–3', () => {
  const got = [0, 1, 2, 3].map((r) => shardFor(tinyShakespeare, miner, r));
  for (const s of got) {
    assert.equal(s.shards, 18);
    assert.equal(s.chunkEnd, s.chunkStart + 1);
    assert.equal(s.byteStart, s.chunkStart * 65_536);
  }
  // Recorded once from the reference implementation (docs/datasets.md §4); another implementation must agree.
  assert.equal(toHex(shardSeed(id, miner, 0, 18)), '380697e4fb6ba59b38d9f79012c910f9a6d6a76a1f7e787e9d8177dc2c5cee13');
  assert.deepEqual(got.map((s) => s.index), [9, 14, 4, 15]);
  assert.deepEqual(shardFor(tinyShakespeare, miner, 17, 4), {
    round: 17,
    shards: 4,
    index: 3,
    chunkStart: 13,
    chunkEnd: 18,
    byteStart: 851_968,
    byteEnd: 1_115_394,
  });
});

test('shards partition the chunks: contiguous, disjoint, none empty, covering all (property)', () => {
  fc.assert(
    fc.property(fc.integer({ min: 1, max: 1 << 20 }), fc.integer({ min: 1, max: 5000 }), (chunks, want) => {
      const shards = Math.min(chunks, want);
      let next = 0;
      for (let i = 0; i < shards; i++) {
        const r = shardRange(chunks, shards, i);
        assert.equal(r.chunkStart, next);
        assert.ok(r.chunkEnd > r.chunkStart);
        next = r.chunkEnd;
      }
      assert.equal(next, chunks);
    }),
    { numRuns: 200 },
  );
});

test('shardFor is pure and in range; its bytes lie inside the content (property)', () => {
  fc.assert(
    fc.property(arbDataset, fc.uint8Array({ minLength: 20, maxLength: 20 }), fc.nat(), fc.option(fc.integer({ min: 1, max: 64 })), (ds, m, round, want) => {
      const chunks = Math.ceil(ds.size / ds.chunkSize);
      const shards = want === null ? undefined : Math.min(want, chunks);
      const a = shardFor(ds, m, round, shards);
      assert.deepEqual(shardFor({ ...ds, id: Uint8Array.from(ds.id) }, Uint8Array.from(m), round, shards), a);
      assert.ok(a.index >= 0 && a.index < a.shards);
      assert.equal(a.shards, shards ?? chunks);
      assert.ok(a.byteStart < a.byteEnd && a.byteEnd <= ds.size);
      assert.equal(a.byteEnd === ds.size, a.chunkEnd === chunks);
    }),
    { numRuns: 300 },
  );
});

test('the shard bytes of all shards, in order, are the whole content', () => {
  const content = new Uint8Array(10_000).map((_, i) => i % 251);
  const ds = { id, size: content.length, chunkSize: 1024 };
  const parts: number[] = [];
  for (let i = 0; i < 4; i++) {
    const r = shardRange(10, 4, i);
    const bytes = shardBytes(content, { round: 0, shards: 4, index: i, ...r, byteStart: r.chunkStart * 1024, byteEnd: Math.min(r.chunkEnd * 1024, content.length) });
    parts.push(...bytes);
  }
  assert.deepEqual(Uint8Array.from(parts), content);
  const s = shardFor(ds, miner, 5);
  assert.equal(shardBytes(content, s).length, s.byteEnd - s.byteStart);
  assert.throws(() => shardBytes(content.subarray(0, 10), s), (e: unknown) => isBlyanError(e, 'BAD_ARGUMENT'));
});

test('miners spread over the shards: every shard gets some of 2,000 miners, none more than twice its share', () => {
  const counts = new Array<number>(18).fill(0);
  for (let i = 0; i < 2000; i++) {
    const m = new Uint8Array(20);
    new DataView(m.buffer).setUint32(16, i);
    const s = shardFor(tinyShakespeare, m, 7);
    counts[s.index] = (counts[s.index] ?? 0) + 1;
  }
  assert.ok(counts.every((c) => c > 0 && c < (2 * 2000) / 18), counts.join(','));
  // And one miner moves between shards from round to round.
  const seen = new Set([...Array(50).keys()].map((r) => shardFor(tinyShakespeare, miner, r).index));
  assert.ok(seen.size > 10);
});

test('bad arguments are refused', () => {
  const bad: [() => unknown, string][] = [
    [() => shardFor(tinyShakespeare, miner, -1), 'negative round'],
    [() => shardFor(tinyShakespeare, miner, 1.5), 'fractional round'],
    [() => shardFor(tinyShakespeare, miner, 0, 0), 'zero shards'],
    [() => shardFor(tinyShakespeare, miner, 0, 19), 'more shards than chunks'],
    [() => shardFor({ ...tinyShakespeare, size: 0 }, miner, 0), 'empty dataset'],
    [() => shardFor(tinyShakespeare, miner.subarray(1), 0), 'short address'],
    [() => shardFor({ ...tinyShakespeare, id: id.subarray(1) }, miner, 0), 'short id'],
  ];
  for (const [fn, what] of bad) assert.throws(fn, (e: unknown) => isBlyanError(e, 'BAD_ARGUMENT'), what);
});
