import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { open } from 'lmdb';
import { toHex } from '../../src/chain/hash.ts';
import { DEVNET, TINY } from '../../src/chain/presets.ts';
import { BlockStore, ZERO_COPY_MIN_BYTES } from '../../src/chain/store.ts';
import { verifyStore } from '../../src/chain/verifyStore.ts';
import { BlyanError } from '../../src/errors.ts';
import { createBlock } from '../../src/chain/block.ts';
import { addModel, deterministicBytes, expertBlock, freshStore, TEST_KEY, tempDir } from '../helpers/fixtures.ts';

function heights(store: BlockStore): number[] {
  return (['A', 'B', 'C', 'D'] as const).map((c) => store.height(c));
}

test('init writes the three genesis blocks; reopening finds the same heads', async () => {
  const { dir, cleanup } = tempDir();
  try {
    const { store, created } = BlockStore.init(dir, TINY);
    assert.equal(created, true);
    assert.deepEqual(heights(store), [1, 0, 1, 1]);
    assert.equal(toHex(store.headOf('A')!.id), TINY.genesisId);
    const heads = (['A', 'C', 'D'] as const).map((c) => toHex(store.headOf(c)!.id));
    await store.close();
    const again = BlockStore.open(dir, TINY);
    assert.deepEqual(heights(again), [1, 0, 1, 1]);
    assert.deepEqual((['A', 'C', 'D'] as const).map((c) => toHex(again.headOf(c)!.id)), heads);
    await again.close();
    const reinit = BlockStore.init(dir, TINY);
    assert.equal(reinit.created, false);
    await reinit.store.close();
  } finally {
    cleanup();
  }
});

test('a data dir of one network is refused by another; an empty one asks for init', async () => {
  const { dir, cleanup } = tempDir();
  try {
    const { store } = BlockStore.init(dir, TINY);
    await store.close();
    assert.throws(() => BlockStore.open(dir, DEVNET), (e) => e instanceof BlyanError && e.code === 'STORE_GENESIS_MISMATCH');
    const empty = tempDir();
    assert.throws(() => BlockStore.open(empty.dir, TINY), (e) => e instanceof BlyanError && e.code === 'STORE_NOT_INITIALISED');
    empty.cleanup();
  } finally {
    cleanup();
  }
});

test('payloads round-trip, are stored once, and large ones are zero-copy views', async () => {
  const { store, cleanup } = freshStore();
  try {
    const model = addModel(store).block.id;
    const small = deterministicBytes('small', 3000);
    const e1 = expertBlock(model, 0, 0, small);
    const e2 = expertBlock(model, 0, 1, small);
    store.appendBatch([{ block: e1, payload: small }, { block: e2 }]);
    assert.deepEqual(store.getPayload(e1.header.payloadHash), small);
    assert.deepEqual(store.getPayload(e2.header.payloadHash), small);

    const big = deterministicBytes('big', ZERO_COPY_MIN_BYTES + 4096);
    const e3 = expertBlock(model, 1, 0, big);
    store.append(e3, big);
    const view = store.getPayload(e3.header.payloadHash)!;
    assert.equal(view.byteLength, big.byteLength);
    assert.ok(Buffer.compare(view, big) === 0);
    // A view on the memory map: its ArrayBuffer spans more than the payload itself.
    assert.ok(view.buffer.byteLength > view.byteLength, 'large payload is a view on the map, not a copy');
    const before = view[123];
    store.getPayload(e1.header.payloadHash);
    assert.equal(view[123], before, 'later reads do not disturb the view');
  } finally {
    await cleanup();
  }
});

/** Two experts: one under 16 MiB (lmdb hands it out in its reused read buffer), one over (a view on the map). */
function smallAndBigPayloads(store: BlockStore) {
  const model = addModel(store).block.id;
  const small = deterministicBytes('lend-small', 5 * 1024 * 1024 + 7);
  const big = deterministicBytes('lend-big', ZERO_COPY_MIN_BYTES + 4096);
  const e1 = expertBlock(model, 0, 0, small);
  const e2 = expertBlock(model, 0, 1, big);
  store.appendBatch([
    { block: e1, payload: small },
    { block: e2, payload: big },
  ]);
  return { small, big, e1, e2 };
}

test('lendPayload lends a large payload from the memory map until released, and a small one only until the next read', async () => {
  const { store, cleanup } = freshStore();
  const settle = () => new Promise((r) => setTimeout(r, 10));
  try {
    const { small, big, e1, e2 } = smallAndBigPayloads(store);
    store.getPayload(e1.header.payloadHash);
    await settle();
    assert.equal(store.openReadSnapshots(), 0, 'lmdb lets its own read snapshot go between ticks');

    const lent = store.lendPayload(e2.header.payloadHash)!;
    assert.equal(lent.stable, true);
    assert.ok(Buffer.compare(lent.view, big) === 0);
    assert.ok(lent.view.buffer.byteLength > lent.view.byteLength, 'a view on the map, not a copy');
    // The snapshot outlives the tick, and other reads meanwhile, until the release.
    store.getPayload(e1.header.payloadHash);
    await settle();
    assert.equal(store.openReadSnapshots(), 1, 'held while lent');
    assert.ok(Buffer.compare(lent.view, big) === 0);
    lent.release();
    lent.release(); // a second release does nothing
    store.getPayload(e1.header.payloadHash);
    await settle();
    assert.equal(store.openReadSnapshots(), 0, 'let go once released');

    // A payload under 16 MiB is in lmdb's reused read buffer: not stable, nothing held.
    const s = store.lendPayload(e1.header.payloadHash)!;
    assert.equal(s.stable, false);
    assert.ok(Buffer.compare(s.view, small) === 0);
    s.release();
    await settle();
    assert.equal(store.openReadSnapshots(), 0);

    assert.equal(store.lendPayload(deterministicBytes('absent', 32)), undefined);
    await settle();
    assert.equal(store.openReadSnapshots(), 0, 'a miss holds nothing');
  } finally {
    await cleanup();
  }
});

test('withPayloadView lends the payload bytes for the duration of a synchronous callback', async () => {
  const { store, cleanup } = freshStore();
  try {
    const { small, big, e1, e2 } = smallAndBigPayloads(store);
    for (const [block, bytes] of [
      [e1, small],
      [e2, big],
    ] as const) {
      // The view equals the payload, and what the callback returns comes back.
      const seen = store.withPayloadView(block.header.payloadHash, (view) => {
        assert.equal(view.byteLength, bytes.byteLength);
        assert.ok(Buffer.compare(view, bytes) === 0);
        assert.ok(Buffer.compare(view, store.getPayload(block.header.payloadHash) as Uint8Array) === 0, 'equals getPayload');
        return view.byteLength;
      });
      assert.equal(seen, bytes.byteLength);
    }
    // The small payload is lent from lmdb's read buffer, not copied into memory of its own.
    store.withPayloadView(e1.header.payloadHash, (view) => assert.ok(view.buffer.byteLength > view.byteLength, 'a view on the shared read buffer'));
    assert.equal(store.withPayloadView(deterministicBytes('absent', 32), () => 1), undefined);
    assert.throws(() => store.withPayloadView(e1.header.payloadHash, async () => 1), TypeError);
  } finally {
    await cleanup();
  }
});

test('a batch with one bad block writes nothing', async () => {
  const { store, cleanup } = freshStore();
  try {
    const model = addModel(store).block.id;
    const p = deterministicBytes('p', 100);
    const good = expertBlock(model, 0, 0, p);
    const bad = expertBlock(model, 0, 1, p);
    const tampered = { ...bad, sig: Uint8Array.from(bad.sig, (x, i) => (i === 10 ? x ^ 1 : x)) };
    const before = heights(store);
    assert.throws(() => store.appendBatch([{ block: good, payload: p }, { block: tampered, payload: p }]), (e) => e instanceof BlyanError && e.code === 'BLOCK_BAD_SIGNATURE');
    assert.deepEqual(heights(store), before);
    assert.equal(store.has(good.id), false);
    assert.equal(store.hasPayload(good.header.payloadHash), false);
    // A contextual failure inside the transaction rolls back the earlier blocks too.
    const head = store.headOf('C')!;
    const wrongIndex = createBlock({ chain: 'C', index: 5, prev: head.id, deps: [good.id], type: 'txbatch', time: head.header.time + 1 }, p, TEST_KEY, TINY);
    assert.throws(() => store.appendBatch([{ block: good, payload: p }, { block: wrongIndex, payload: p }]), (e) => e instanceof BlyanError && e.code === 'BLOCK_BAD_INDEX');
    assert.equal(store.has(good.id), false);
    assert.deepEqual(store.lineage(model, 'layer0.expert0'), []);
  } finally {
    await cleanup();
  }
});

test('the parameter index tracks each component lineage, newest last, across reopen', async () => {
  const { store, dir, cleanup } = freshStore();
  try {
    const model = addModel(store).block.id;
    const p0 = deterministicBytes('v0', 500);
    const v0 = expertBlock(model, 2, 5, p0);
    store.append(v0, p0);
    const p1 = deterministicBytes('v1', 500);
    const v1 = expertBlock(model, 2, 5, p1, { base: v0, type: 'delta' });
    store.append(v1, p1);
    const p2 = deterministicBytes('v2', 500);
    const v2 = expertBlock(model, 2, 5, p2, { base: v1, type: 'delta' });
    store.append(v2, p2);
    assert.deepEqual(store.lineage(model, 'layer2.expert5').map(toHex), [v0, v1, v2].map((b) => toHex(b.id)));
    assert.equal(toHex(store.currentVersion(model, 'layer2.expert5')!), toHex(v2.id));
    assert.equal(v2.header.index, 2, 'chain-B index is the DAG depth');
    await store.close();
    const again = BlockStore.open(dir, TINY);
    assert.deepEqual(again.lineage(model, 'layer2.expert5').map(toHex), [v0, v1, v2].map((b) => toHex(b.id)));
    assert.equal(verifyStore(again).blocks, 7);
    await again.close();
  } finally {
    await cleanup().catch(() => undefined);
  }
});

test('verifyStore names the block whose stored payload was tampered with', async () => {
  const { store, dir, cleanup } = freshStore();
  try {
    const model = addModel(store).block.id;
    const p = deterministicBytes('victim', 10_000);
    const victim = expertBlock(model, 3, 3, p);
    store.append(victim, p);
    assert.equal(verifyStore(store).blocks, 5);
    await store.close();
    const env = open({ path: join(dir, 'chain'), maxDbs: 8 });
    const payloads = env.openDB({ name: 'payloads', encoding: 'binary', keyEncoding: 'binary' });
    const mutated = Buffer.from(p);
    mutated[5000] = (mutated[5000] as number) ^ 0x40;
    payloads.putSync(Buffer.from(victim.header.payloadHash), mutated);
    await env.close();
    const again = BlockStore.open(dir, TINY);
    assert.throws(
      () => verifyStore(again),
      (e) => e instanceof BlyanError && e.code === 'BLOCK_BAD_PAYLOAD' && e.data.block === toHex(victim.id) && e.message.includes(toHex(victim.id)),
    );
    await again.close();
  } finally {
    await cleanup().catch(() => undefined);
  }
});
