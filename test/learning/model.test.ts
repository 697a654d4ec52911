import assert from 'node:assert/strict';
import { test } from 'node:test';
import { JsGemm } from '../../src/learning/gemm/jsGemm.ts';
import { TrainModel } from '../../src/learning/model.ts';
import { createParams, initParams, setTrainable } from '../../src/learning/params.ts';
import { Rng } from '../../src/learning/rng.ts';
import { checkGrad } from './gradcheck.ts';
import { TINY } from './tiny.ts';

test('whole model: every parameter gradient matches finite differences (tiny config, f32)', () => {
  const p = createParams(TINY);
  initParams(p, 3, 0.3);
  const rng = new Rng(5);
  for (const t of p.all) if (t.shape.length === 1) for (let i = 0; i < t.data.length; i++) t.data[i] = 1 + 0.2 * rng.normal();
  const B = 2;
  const T = 6;
  const ids = Int32Array.from({ length: B * T }, () => rng.int(TINY.vocab));
  const targets = Int32Array.from({ length: B * T }, () => rng.int(TINY.vocab));
  const m = new TrainModel(p, new JsGemm(), B * T);
  const base = m.forward(ids, targets, B, T);
  assert.ok(base.aux > 0);
  m.backward();
  const grads = new Map(p.all.map((t) => [t.name, Float32Array.from(t.grad)]));
  for (const t of p.all) {
    checkGrad(t.name, t.data, grads.get(t.name) as Float32Array, () => m.forward(ids, targets, B, T).loss, { h: 3e-3, samples: 6, atol: 5e-4, rtol: 5e-2 });
  }
});

test('partial backward (frozen layers below, skipped weight gradients) gives the same gradients for what trains', () => {
  const p = createParams(TINY);
  initParams(p, 4, 0.3);
  const rng = new Rng(6);
  const B = 2;
  const T = 6;
  const ids = Int32Array.from({ length: B * T }, () => rng.int(TINY.vocab));
  const targets = Int32Array.from({ length: B * T }, () => rng.int(TINY.vocab));
  const m = new TrainModel(p, new JsGemm(), B * T);
  m.forward(ids, targets, B, T);
  m.backward();
  const full = new Map(p.all.map((t) => [t.name, Float32Array.from(t.grad)]));
  for (const which of [['layer1.expert2'], ['layer1.router', 'layer0.expert0'], ['layer1.attn'], ['head'], ['embed']]) {
    setTrainable(p, which);
    for (const t of p.all) t.grad.fill(0);
    m.forward(ids, targets, B, T);
    m.backward();
    for (const t of p.all) {
      if (t.trainable) assert.deepEqual(t.grad, full.get(t.name), `${which.join(',')}: ${t.name}`);
      else assert.ok(t.grad.every((v) => v === 0), `${which.join(',')}: frozen ${t.name} got a gradient`);
    }
  }
});
