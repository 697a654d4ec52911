/**
 * The learning loop end to end on the `tiny` preset, through the real CLI: add a dataset → import a model
 * whose meta block names a validation set on it → mine (fine-tune an expert on the miner's shard, delta block,
 * Proof-of-Learning validation) → the delta is the expert's new version, the engine runs it, a reward record
 * is kept → two more rounds, the third compacted by a snapshot → rollback restores the first version.
 */
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { test } from 'node:test';
import { fromHex, toHex } from '../../src/chain/hash.ts';
import { openStore } from '../../src/cli/openStore.ts';
import { resolveModel } from '../../src/engine/modelRegistry.ts';
import { BatchSampler } from '../../src/learning/batches.ts';
import { CharVocab } from '../../src/learning/charVocab.ts';
import { exportCharMoeCheckpoint } from '../../src/learning/checkpointExport.ts';
import { loadGemm } from '../../src/learning/gemm/index.ts';
import { createParams, initParams } from '../../src/learning/params.ts';
import { RewardRecords } from '../../src/learning/rewardRecords.ts';
import { Rng } from '../../src/learning/rng.ts';
import { Trainer } from '../../src/learning/trainer.ts';
import { blyan, blyanJson } from '../helpers/cli.ts';
import { TEST_KEY, tempDir } from '../helpers/fixtures.ts';

const ENV = { BLYAN_PASSPHRASE: 'e2e-mining-passphrase' };
const CORPUS = resolve(import.meta.dirname, '../../../shared/data/tinyshakespeare.txt');

interface MinedJson {
  round: number;
  shard: { index: number; byteStart: number; byteEnd: number };
  trainLossBefore: number;
  trainLossAfter: number;
  deltas: {
    component: string;
    block: string;
    accepted: boolean;
    deltaBytes: number;
    rawBytes: number;
    snapshot: string | null;
    rejection?: { code: string };
    result?: { baseLoss: number; newLoss: number; improvement: number; reward: { miner: string } };
  }[];
}

test('add dataset → import with validation set → mine → validate → new expert version → reward record; snapshot; rollback', async () => {
  const t = tempDir('blyan-e2e-mining-');
  try {
    // ~300 KB of the corpus: four whole 64 KiB chunks (shards) before the validation windows (the last 10%).
    const text = readFileSync(CORPUS, 'utf8').slice(0, 300_000);
    const textFile = join(t.dir, 'shakespeare.txt');
    writeFileSync(textFile, text);
    const data = join(t.dir, 'data');
    blyanJson(['init', '--preset', 'tiny', '--data', data]);
    // A fixed miner key: the shard and the default seed follow from the miner's address, so the run is reproducible.
    const keyFile = join(t.dir, 'miner.key');
    writeFileSync(keyFile, `0x${toHex(TEST_KEY)}\n`, { mode: 0o600 });
    const w = blyan(['wallet', 'import', keyFile, '--light-kdf', '--data', data], ENV);
    assert.equal(w.code, 0, w.stderr);
    const ds = blyanJson<{ id: string }>(['dataset', 'add', textFile, '--tier', 'gold', '--license', 'LicenseRef-PublicDomain', '--data', data], ENV);

    // A small char-level MoE, trained a few steps so it is a real (if weak) model.
    const vocab = CharVocab.fromText(text);
    const params = createParams({ vocab: vocab.size, dModel: 32, layers: 2, heads: 2, headDim: 16, experts: 4, topK: 2, hidden: 48, context: 32, ropeTheta: 10000, eps: 1e-5, auxCoef: 0.01 });
    initParams(params, 3);
    const gemm = await loadGemm();
    const trainer = new Trainer(params, gemm, 8 * 32, { lr: 3e-3, clip: 1 });
    const sampler = new BatchSampler(vocab.encode(text.slice(0, 250_000)), 8, 32, new Rng(5));
    for (let i = 0; i < 10; i++) trainer.step(sampler.next());
    await gemm.close();
    const ckpt = join(t.dir, 'ckpt');
    exportCharMoeCheckpoint(params, ckpt, { vocab, maxPositions: 64 });

    const bad = blyan(['import', ckpt, '--validation-dataset', ds.id, '--delta', '-1', '--data', data], ENV);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /BAD_ARGUMENT.*--delta/);
    const imp = blyanJson<{ model: string }>(
      ['import', ckpt, '--name', 'tiny-char', '--validation-dataset', ds.id, '--validation-windows', '64', '--validation-context', '32', '--delta', '0.0001', '--data', data],
      ENV,
    );

    const component = 'layer1.expert2';
    const mineOnce = (): MinedJson => {
      // Exit code 1 means every delta was rejected; the JSON report says why.
      const r = blyan(['mine', '--experts', component, '--steps', '16', '--lr', '0.003', '--batch', '8', '--data', data, '--json'], ENV);
      assert.ok(r.code === 0 || r.code === 1, r.stderr);
      return JSON.parse(r.stdout) as MinedJson;
    };
    const first = mineOnce();
    assert.equal(first.round, 1, 'the first round after import: the expert has one version');
    const d1 = first.deltas[0]!;
    assert.equal(d1.component, component);
    assert.equal(d1.accepted, true, JSON.stringify(d1.rejection));
    assert.ok(d1.result!.newLoss < d1.result!.baseLoss - 0.0001, `validation loss ${d1.result!.baseLoss} → ${d1.result!.newLoss}`);
    assert.ok(first.trainLossAfter < first.trainLossBefore);
    assert.ok(d1.deltaBytes < d1.rawBytes / 3, `int8 delta ${d1.deltaBytes} B vs ${d1.rawBytes} B of f32`);
    // The shard is in the training part of the text (before the validation windows).
    assert.ok(first.shard.byteEnd <= 0.9 * Buffer.byteLength(text));

    {
      const store = openStore(data);
      try {
        const model = resolveModel(store, 'tiny-char');
        assert.equal(model.idHex, imp.model);
        assert.equal(toHex(store.currentVersion(model.id, component)!), d1.block, 'the delta is the current version');
        assert.equal(store.lineage(model.id, component).length, 2);
        const reward = new RewardRecords(store).get(d1.block);
        assert.ok(reward !== undefined, 'a reward record is kept for the ledger');
        assert.equal(reward.component, component);
        assert.equal(reward.miner, d1.result!.reward.miner);
        assert.ok(reward.improvement > 0);
      } finally {
        await store.close();
      }
    }
    // The engine runs the new version.
    const gen = blyan(['model', 'generate', '--prompt', 'ROMEO:', '--max-new-tokens', '8', '--greedy', '--data', data]);
    assert.equal(gen.code, 0, gen.stderr);

    // Rounds 2 and 3: each builds on the version before; the third carries a snapshot (tiny: every 3 deltas).
    const second = mineOnce();
    assert.equal(second.round, 2);
    assert.ok(second.deltas[0]!.accepted, JSON.stringify(second.deltas[0]));
    const third = mineOnce();
    assert.equal(third.round, 3);
    const d2 = second.deltas[0]!;
    const d3 = third.deltas[0]!;
    assert.ok(d2.accepted && d3.accepted, JSON.stringify([d2.rejection, d3.rejection]));
    assert.ok(d2.result!.baseLoss === d1.result!.newLoss, 'round 2 starts from the loss round 1 reached');
    assert.ok(d3.result!.newLoss < d2.result!.newLoss);
    assert.equal(d2.snapshot, null);
    assert.notEqual(d3.snapshot, null, 'the third delta since the full version carries a snapshot');

    // Rollback to the imported version: a new block, history kept.
    const store = openStore(data);
    let original: string;
    try {
      const model = resolveModel(store, 'tiny-char');
      original = toHex(store.lineage(model.id, component)[0]!);
      assert.equal(toHex(store.currentVersion(model.id, component)!), d3.snapshot);
    } finally {
      await store.close();
    }
    const rb = blyan(['model', 'rollback', component, '--to', original, '--data', data, '--json'], ENV);
    assert.equal(rb.code, 0, rb.stderr);
    const after = openStore(data);
    try {
      const model = resolveModel(after, 'tiny-char');
      const lineage = after.lineage(model.id, component).map(toHex);
      assert.equal(lineage.length, 6, 'import, three deltas, the snapshot and the rollback');
      assert.ok(lineage.includes(d1.block) && lineage.includes(d3.snapshot!), 'history is kept');
      const current = after.getBlock(fromHex(lineage.at(-1)!, 32))!;
      assert.equal(current.header.type, 'snapshot');
    } finally {
      await after.close();
    }
  } finally {
    t.cleanup();
  }
});
