import assert from 'node:assert/strict';
import { test } from 'node:test';
import { BatchSampler, fixedBatches } from '../../src/learning/batches.ts';
import { CharVocab } from '../../src/learning/charVocab.ts';
import { fineTune } from '../../src/learning/fineTune.ts';
import { JsGemm } from '../../src/learning/gemm/jsGemm.ts';
import { cloneParams, createParams, initParams, setTrainable } from '../../src/learning/params.ts';
import { Rng } from '../../src/learning/rng.ts';
import { Trainer } from '../../src/learning/trainer.ts';
import { TINY } from './tiny.ts';

const TEXT = 'the cat sat on the mat. the dog sat on the log. '.repeat(40);
const gemm = new JsGemm();

function setup(seed = 1) {
  const vocab = CharVocab.fromText(TEXT);
  const tokens = vocab.encode(TEXT);
  const params = createParams({ ...TINY, vocab: vocab.size });
  initParams(params, seed);
  return { vocab, tokens, params };
}

test('training lowers the loss on a tiny config', () => {
  const { tokens, params } = setup();
  const trainer = new Trainer(params, gemm, 8 * 8, { lr: 1e-2, clip: 1 });
  const val = fixedBatches(tokens, 2, 8, 8);
  const before = trainer.evaluate(val);
  const sampler = new BatchSampler(tokens, 8, 8, new Rng(2));
  for (let i = 0; i < 40; i++) trainer.step(sampler.next());
  const after = trainer.evaluate(val);
  assert.ok(after < before - 0.8, `val loss ${before} → ${after}`);
});

test('freezing: only the chosen expert changes; every other parameter stays bit-identical and has no optimizer state', () => {
  const { tokens, params } = setup();
  setTrainable(params, ['layer1.expert3']);
  const base = cloneParams(params);
  const trainer = new Trainer(params, gemm, 8 * 8, { lr: 1e-2, clip: 1 });
  assert.deepEqual(
    trainer.trainable.map((p) => p.name),
    ['layer1.expert3.gate', 'layer1.expert3.up', 'layer1.expert3.down'],
  );
  const sampler = new BatchSampler(tokens, 8, 8, new Rng(3));
  for (let i = 0; i < 3; i++) trainer.step(sampler.next());
  for (const [i, p] of params.all.entries()) {
    const same = Buffer.compare(Buffer.from(p.data.buffer), Buffer.from(base.all[i]!.data.buffer)) === 0;
    assert.equal(same, p.component !== 'layer1.expert3', `${p.name} ${same ? 'unchanged' : 'changed'}`);
  }
  assert.throws(() => setTrainable(params, ['layer9.expert0']), /no component/);
});

test('fineTune: new tensors for the chosen experts, lower train loss, base untouched, deterministic', () => {
  const { tokens, params } = setup();
  const before = cloneParams(params);
  const opts = { params, experts: ['layer0.expert1', 'layer1.expert2'], tokens, steps: 12, seed: 9, gemm, lr: 1e-2, batch: 4, context: 8 };
  const a = fineTune(opts);
  const b = fineTune(opts);
  assert.ok(a.lossAfter < a.lossBefore, `${a.lossBefore} → ${a.lossAfter}`);
  assert.deepEqual(
    a.experts.map((e) => [e.component, e.tensors.map((t) => `${t.key}:${t.shape.join('x')}`)]),
    [
      ['layer0.expert1', ['gate:12x16', 'up:12x16', 'down:16x12']],
      ['layer1.expert2', ['gate:12x16', 'up:12x16', 'down:16x12']],
    ],
  );
  assert.deepEqual(a, b);
  for (const [i, p] of params.all.entries()) assert.deepEqual(p.data, before.all[i]!.data);

  // explicit batches instead of a token stream
  const batches = fixedBatches(tokens, 3, 4, 8);
  const c = fineTune({ params, experts: ['layer1.expert0'], batches, steps: 6, seed: 1, gemm, lr: 1e-2 });
  assert.ok(c.lossAfter < c.lossBefore && c.tokensSeen === 6 * 32);
  assert.throws(() => fineTune({ params, experts: ['layer1.expert0'], steps: 1, seed: 1, gemm }), /exactly one/);
});
