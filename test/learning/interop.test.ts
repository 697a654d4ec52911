/**
 * Trainer ↔ chain: a tiny trained model exported as a Hugging Face Mixtral checkpoint imports through the
 * CLI, runs in the engine with the trainer's logits (1e-4), generates from a text prompt with the char
 * tokenizer, and reads back from the chain into identical trainer parameters.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { Tokenizer } from '@huggingface/tokenizers';
import { resolveModel } from '../../src/engine/modelRegistry.ts';
import { BatchSampler } from '../../src/learning/batches.ts';
import { CharVocab } from '../../src/learning/charVocab.ts';
import { exportCharMoeCheckpoint } from '../../src/learning/checkpointExport.ts';
import { paramsFromChain } from '../../src/learning/fromChain.ts';
import { JsGemm } from '../../src/learning/gemm/jsGemm.ts';
import { TrainModel } from '../../src/learning/model.ts';
import { createParams, initParams } from '../../src/learning/params.ts';
import { Rng } from '../../src/learning/rng.ts';
import { Trainer } from '../../src/learning/trainer.ts';
import { openStore } from '../../src/cli/openStore.ts';
import { blyan, blyanJson } from '../helpers/cli.ts';
import { tempDir } from '../helpers/fixtures.ts';
import { TINY } from './tiny.ts';

const ENV = { BLYAN_PASSPHRASE: 'interop-test-passphrase' };
const TEXT = 'ROMEO:\nBut soft, what light through yonder window breaks?\nJULIET:\nO Romeo, Romeo! wherefore art thou Romeo?\n'.repeat(8);

test('export → import → engine logits equal the trainer forward; chain → trainer params are identical', async () => {
  const t = tempDir('blyan-train-interop-');
  try {
    const vocab = CharVocab.fromText(TEXT);
    const tokens = vocab.encode(TEXT);
    const params = createParams({ ...TINY, vocab: vocab.size, context: 16 });
    initParams(params, 11);
    const gemm = new JsGemm();
    const trainer = new Trainer(params, gemm, 4 * 16, { lr: 1e-2, clip: 1 });
    const sampler = new BatchSampler(tokens, 4, 16, new Rng(1));
    for (let i = 0; i < 5; i++) trainer.step(sampler.next());

    const ckpt = join(t.dir, 'ckpt');
    exportCharMoeCheckpoint(params, ckpt, { vocab });
    const tokJson: unknown = JSON.parse(readFileSync(join(ckpt, 'tokenizer.json'), 'utf8'));
    const tokCfg: unknown = JSON.parse(readFileSync(join(ckpt, 'tokenizer_config.json'), 'utf8'));
    const tok = new Tokenizer(tokJson as never, tokCfg as never);
    assert.deepEqual(tok.encode(TEXT).ids, Array.from(tokens));
    assert.equal(tok.decode(Array.from(tokens)), TEXT);

    const data = join(t.dir, 'data');
    blyanJson(['init', '--preset', 'tiny', '--data', data]);
    const w = blyan(['wallet', 'new', '--light-kdf', '--data', data], ENV);
    assert.equal(w.code, 0, w.stderr);
    const imp = blyanJson<{ blocks: { expert: number } }>(['import', ckpt, '--name', 'tiny-char', '--data', data], ENV);
    assert.equal(imp.blocks.expert, TINY.layers * TINY.experts);

    const ids = Array.from(vocab.encode('ROMEO:\nBut soft'));
    const engine = blyanJson<{ logits: number[][] }>(['model', 'forward', '--ids', ids.join(','), '--data', data]);
    const model = new TrainModel(params, gemm, ids.length);
    model.forward(Int32Array.from(ids), null, 1, ids.length);
    let maxDiff = 0;
    for (const [r, row] of engine.logits.entries()) {
      for (const [j, v] of row.entries()) maxDiff = Math.max(maxDiff, Math.abs(v - model.logits[r * vocab.size + j]!));
    }
    assert.ok(maxDiff < 1e-4, `engine vs trainer logits differ by ${maxDiff}`);

    const gen = blyan(['model', 'generate', '--prompt', 'ROMEO:', '--max-new-tokens', '5', '--greedy', '--data', data]);
    assert.equal(gen.code, 0, gen.stderr);

    const store = openStore(data);
    try {
      const back = await paramsFromChain(store, resolveModel(store, 'tiny-char'), { context: 16 });
      for (const [i, p] of params.all.entries()) assert.deepEqual(back.all[i]!.data, p.data, p.name);
    } finally {
      await store.close();
    }
  } finally {
    t.cleanup();
  }
});
