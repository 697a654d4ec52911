/**
 * Proof-of-Learning validation on a small model in a temp `tiny` store: an improving delta is accepted and
 * becomes the version the engine runs; every rejection has its own code and changes nothing; snapshots
 * after `snapshotEvery` deltas; rollback as a new snapshot block.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { equalBytes, type Hash, toHex } from '../../src/chain/hash.ts';
import type { BlockStore } from '../../src/chain/store.ts';
import type { Block } from '../../src/chain/types.ts';
import { loadKernels } from '../../src/engine/kernels/index.ts';
import type { Kernels } from '../../src/engine/kernels/types.ts';
import type { ModelEntry } from '../../src/engine/modelRegistry.ts';
import { MoeModel } from '../../src/engine/moe.ts';
import { isBlyanError } from '../../src/errors.ts';
import { decodeDelta, encodeDelta, type F32Matrix } from '../../src/learning/delta.ts';
import { buildDeltaBlock } from '../../src/learning/deltaBlock.ts';
import { Lineage, lineageSource } from '../../src/learning/lineage.ts';
import { validateDelta } from '../../src/learning/pol.ts';
import { RewardRecords } from '../../src/learning/rewardRecords.ts';
import { rollbackComponent } from '../../src/learning/lineageRollback.ts';
import { freshStore, TEST_KEY, TEST_KEY_2 } from '../helpers/fixtures.ts';
import { add, COMPONENT, improvingStep, lossWith, payloadFor, type PolSetup, rawDeltaBlock, setupModel, T0 } from './polFixture.ts';

let store: BlockStore;
let cleanup: () => Promise<void>;
let kernels: Kernels;
let s: PolSetup;
let entry: ModelEntry;
let step: Float32Array[];
const LR = 0.6;

const fields = (dataset: Hash) => ({ dataset, shards: [0], steps: 3, lr: 0.01, seed: 1, trainLossBefore: 5.5, trainLossAfter: 5.4 });

function current(): Hash {
  return store.currentVersion(entry.id, COMPONENT) as Hash;
}
function currentBlock(): Block {
  return store.getBlock(current()) as Block;
}
function mats(): F32Matrix[] {
  return new Lineage(store).materialize(current());
}

/** Validates and expects rejection with `code`; checks that nothing changed. */
async function rejects(code: string, block: Block, payload: Uint8Array, time = T0 + 100): Promise<void> {
  const versions = store.lineage(entry.id, COMPONENT).length;
  const rewards = new RewardRecords(store).list().length;
  const heightB = store.height('B');
  await assert.rejects(validateDelta({ store, kernels, now: time }, block, payload), (err: unknown) => {
    assert.ok(isBlyanError(err), String(err));
    assert.equal(err.code, code, err.message);
    return true;
  });
  assert.equal(store.lineage(entry.id, COMPONENT).length, versions, 'lineage unchanged');
  assert.equal(new RewardRecords(store).list().length, rewards, 'no reward written');
  assert.equal(store.height('B'), heightB, 'no block written');
  assert.equal(store.has(block.id), false);
}

before(async () => {
  const fs = freshStore();
  store = fs.store;
  cleanup = fs.cleanup;
  kernels = await loadKernels({ threads: 1 });
  s = setupModel(store, fs.dir);
  entry = s.entry;
  step = await improvingStep(store, entry, kernels, 11);
});

after(async () => {
  await kernels.close();
  await cleanup();
});

test('rejections before any delta: malformed, not finite, norm, manifest mismatch, no improvement, poisoned', async () => {
  const base = currentBlock();
  const ds = s.dataset.id;
  const good = buildDeltaBlock({ store, model: entry, component: COMPONENT, newTensors: add(mats(), step, LR), manifestFields: fields(ds), signer: TEST_KEY, time: T0 + 10 });
  const goodDelta = (await import('../../src/learning/podl.ts')).decodeDeltaPayload(good.payload).delta;

  // malformed: truncated delta bytes (the manifest hashes the truncated bytes, so only the codec can object)
  const truncated = goodDelta.subarray(0, goodDelta.length - 7);
  const p1 = payloadFor(entry, base.id, ds, truncated);
  await rejects('DELTA_MALFORMED', rawDeltaBlock(entry, base, ds, p1), p1);
  // malformed: trailing bytes
  const trailing = new Uint8Array([...goodDelta, 0]);
  const p1b = payloadFor(entry, base.id, ds, trailing);
  await rejects('DELTA_MALFORMED', rawDeltaBlock(entry, base, ds, p1b), p1b);
  // malformed: a payload that is not DAG-CBOR
  const junk = new Uint8Array([0xff, 0x00, 0x01]);
  await rejects('DELTA_MALFORMED', rawDeltaBlock(entry, base, ds, junk), junk);

  // not finite: the first row scale patched to NaN
  const nan = goodDelta.slice();
  const scaleAt = 8 + 1 + 'gate'.length + 1 + 8; // preamble, name length, name, encoding, rows, cols
  new DataView(nan.buffer).setFloat32(scaleAt, Number.NaN, true);
  assert.equal(decodeDelta(goodDelta).tensors[0]?.name, 'gate');
  const p2 = payloadFor(entry, base.id, ds, nan);
  await rejects('DELTA_NOT_FINITE', rawDeltaBlock(entry, base, ds, p2), p2);

  // norm too large: +3 on every weight
  const big = buildDeltaBlock({ store, model: entry, component: COMPONENT, newTensors: mats().map((m) => ({ ...m, values: m.values.map((v) => v + 3) })), manifestFields: fields(ds), signer: TEST_KEY, time: T0 + 11 });
  await rejects('DELTA_NORM_TOO_LARGE', big.block, big.payload);

  // manifest mismatches: delta hash, component, base, another dataset, miner
  const p4 = payloadFor(entry, base.id, ds, goodDelta, { deltaHash: new Uint8Array(32) });
  await rejects('DELTA_MANIFEST_MISMATCH', rawDeltaBlock(entry, base, ds, p4), p4);
  const p4b = payloadFor(entry, base.id, ds, goodDelta, { component: 'layer1.expert1' });
  await rejects('DELTA_MANIFEST_MISMATCH', rawDeltaBlock(entry, base, ds, p4b), p4b);
  const p4c = payloadFor(entry, s.otherDataset.id, ds, goodDelta, { base: s.otherDataset.id });
  await rejects('DELTA_MANIFEST_MISMATCH', rawDeltaBlock(entry, base, ds, p4c), p4c);
  const other = s.otherDataset.id;
  const p4d = payloadFor(entry, base.id, other, goodDelta);
  await rejects('DELTA_MANIFEST_MISMATCH', rawDeltaBlock(entry, base, other, p4d), p4d);
  const p4e = payloadFor(entry, base.id, ds, goodDelta, {}, TEST_KEY_2);
  await rejects('DELTA_MANIFEST_MISMATCH', rawDeltaBlock(entry, base, ds, p4e), p4e);

  // no improvement: a zero delta
  const zero = buildDeltaBlock({ store, model: entry, component: COMPONENT, newTensors: mats(), manifestFields: fields(ds), signer: TEST_KEY, time: T0 + 12 });
  await rejects('DELTA_NO_IMPROVEMENT', zero.block, zero.payload);
  // poisoned: the same step uphill (trained to raise the loss) is caught by the loss check
  const poisoned = buildDeltaBlock({ store, model: entry, component: COMPONENT, newTensors: add(mats(), step, -LR), manifestFields: fields(ds), signer: TEST_KEY, time: T0 + 13 });
  const before = await lossWith(store, entry, kernels, null);
  const poisonedLoss = await lossWith(store, entry, kernels, add(mats(), step, -LR));
  assert.ok(poisonedLoss > before, `poisoned loss ${poisonedLoss} > ${before}`);
  await rejects('DELTA_NO_IMPROVEMENT', poisoned.block, poisoned.payload);
});

let accepted: Block;
let acceptedPayload: Uint8Array;

test('an improving delta is accepted, becomes the current version, and the engine runs it', async () => {
  const original = mats();
  const built = buildDeltaBlock({ store, model: entry, component: COMPONENT, newTensors: add(original, step, LR), manifestFields: fields(s.dataset.id), signer: TEST_KEY, time: T0 + 20 });
  assert.equal(built.snapshot, undefined);
  const r = await validateDelta({ store, kernels, now: T0 + 100 }, built.block, built.payload);
  accepted = built.block;
  acceptedPayload = built.payload;
  assert.ok(r.improvement >= Math.fround(0.0005), `improvement ${r.improvement}`);
  assert.equal(r.bits.newLoss.length, 8);
  assert.ok(equalBytes(current(), built.block.id));
  const rec = new RewardRecords(store).get(toHex(built.block.id));
  assert.equal(rec?.component, COMPONENT);
  assert.equal(rec?.newLossBits, r.bits.newLoss);
  assert.equal(rec?.miner, `0x${toHex(built.block.header.author)}`);
  // the loss of the current model is the accepted new loss, bit for bit
  assert.equal(await lossWith(store, entry, kernels, null), r.newLoss);
  // the engine materialises base ⊕ delta through the lineage
  const model = await MoeModel.load(entry.meta.config, lineageSource(store, entry), kernels, { cacheBytes: 1 << 24 });
  const w = await model.experts.get(COMPONENT);
  assert.equal(w.block, toHex(built.block.id));
  const applied = new Lineage(store).materialize(built.block.id);
  const gate = w.tensor('gate');
  assert.deepEqual(new Float32Array(gate.data.buffer, gate.data.byteOffset, gate.data.byteLength / 4), applied[0]?.values);
  const out = await model.newSession().forward([72, 101, 108, 108, 111]);
  assert.ok(out.logits.every(Number.isFinite));
  console.log(`delta ${built.size.encodedBytes} B vs ${built.size.rawBytes} B raw f32 (×${built.size.ratio.toFixed(2)}); loss ${r.baseLoss} → ${r.newLoss}; eval ${r.evalMs.toFixed(1)} ms`);
});

test('stale base and replay', async () => {
  // stale: a delta on the original version, which is no longer current
  const originalBlock = store.getBlock(s.original) as Block;
  const stale = buildDeltaBlock({ store, model: entry, component: COMPONENT, base: s.original, newTensors: add(new Lineage(store).materialize(s.original), step, LR * 0.9), manifestFields: fields(s.dataset.id), signer: TEST_KEY, time: T0 + 30 });
  assert.ok(stale.block.header.deps.some((d) => equalBytes(d, originalBlock.id)));
  await rejects('DELTA_STALE_BASE', stale.block, stale.payload);
  // replay: the accepted block again, and its payload in a fresh block
  await assert.rejects(validateDelta({ store, kernels, now: T0 + 100 }, accepted, acceptedPayload), (e: unknown) => isBlyanError(e, 'DELTA_REPLAY'));
  const again = rawDeltaBlock(entry, store.getBlock(s.original) as Block, s.dataset.id, acceptedPayload, { time: T0 + 31 });
  await rejects('DELTA_REPLAY', again, acceptedPayload);
  // replay of the delta bytes under a new manifest (another seed) on the current version
  const { decodeDeltaPayload } = await import('../../src/learning/podl.ts');
  const bytes = decodeDeltaPayload(acceptedPayload).delta;
  const p = payloadFor(entry, current(), s.dataset.id, bytes, { seed: 99 });
  await rejects('DELTA_REPLAY', rawDeltaBlock(entry, currentBlock(), s.dataset.id, p, { time: T0 + 32 }), p);
  assert.ok(encodeDelta(decodeDelta(bytes)).length === bytes.length);
});

test('snapshot after snapshotEvery deltas, then rollback to the original version', async () => {
  // tiny preset: snapshotEvery = 3; one delta is accepted, two more make three
  for (const [i, seed] of [21, 31].entries()) {
    const dir = await improvingStep(store, entry, kernels, seed);
    const built = buildDeltaBlock({ store, model: entry, component: COMPONENT, newTensors: add(mats(), dir, LR), manifestFields: fields(s.dataset.id), signer: TEST_KEY, time: T0 + 40 + i });
    if (i === 0) assert.equal(built.snapshot, undefined);
    else assert.ok(built.snapshot !== undefined, 'third delta carries a snapshot');
    const opts = built.snapshot === undefined ? {} : { snapshot: built.snapshot };
    await validateDelta({ store, kernels, now: T0 + 100 }, built.block, built.payload, opts);
    if (built.snapshot !== undefined) {
      assert.ok(equalBytes(current(), built.snapshot.block.id));
      assert.equal(currentBlock().header.type, 'snapshot');
      assert.deepEqual(new Lineage(store).materialize(built.snapshot.block.id), new Lineage(store).materialize(built.block.id));
    }
  }
  assert.equal(store.lineage(entry.id, COMPONENT).length, 5); // expert, 3 deltas, snapshot
  const before = store.lineage(entry.id, COMPONENT).length;
  const r = rollbackComponent({ store, model: entry, component: COMPONENT, to: s.original, signer: TEST_KEY, time: T0 + 50 });
  assert.equal(store.lineage(entry.id, COMPONENT).length, before + 1);
  assert.ok(equalBytes(current(), r.block.id));
  assert.equal(r.block.header.type, 'snapshot');
  assert.deepEqual(new Lineage(store).materialize(r.block.id), new Lineage(store).materialize(s.original));
  assert.ok(r.block.header.deps.some((d) => equalBytes(d, store.lineage(entry.id, COMPONENT).at(-2) as Hash)));
});
