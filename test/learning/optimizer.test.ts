import assert from 'node:assert/strict';
import { test } from 'node:test';
import { clipGradNorm } from '../../src/learning/clip.ts';
import { AdamW } from '../../src/learning/optimizer.ts';
import type { Param } from '../../src/learning/params.ts';

function param(data: number[], grad: number[]): Param {
  return { name: 'x.w', component: 'x', key: 'w', shape: [data.length], data: Float32Array.from(data), grad: Float32Array.from(grad), trainable: true };
}

test('AdamW: two steps equal a hand computation with PyTorch semantics (decoupled decay, bias correction)', () => {
  const p = param([1, -2, 0.5], [0.5, -0.1, 0]);
  const lr = 0.1;
  const wd = 0.01;
  const opt = new AdamW([p], { lr, weightDecay: wd });
  opt.update();
  // step 1: m̂ = g, v̂ = g², so the update is lr·g/(|g| + eps) after decay by (1 − lr·wd).
  const decay = 1 - lr * wd;
  const want1 = [1 * decay - lr * (0.5 / (0.5 + 1e-8)), -2 * decay + lr * (0.1 / (0.1 + 1e-8)), 0.5 * decay];
  for (const [i, w] of want1.entries()) assert.ok(Math.abs(p.data[i]! - w) < 1e-6, `step 1 [${i}]: ${p.data[i]} vs ${w}`);
  // step 2 with new gradients, by the formulas of torch.optim.AdamW.
  const g2 = [-0.2, 0.3, 1];
  p.grad.set(g2);
  const before = Array.from(p.data);
  opt.update();
  const g1 = [0.5, -0.1, 0];
  for (let i = 0; i < 3; i++) {
    const m = 0.9 * (0.1 * g1[i]!) + 0.1 * g2[i]!;
    const v = 0.999 * (0.001 * g1[i]! ** 2) + 0.001 * g2[i]! ** 2;
    const bc1 = 1 - 0.9 ** 2;
    const bc2 = 1 - 0.999 ** 2;
    const want = before[i]! * decay - (lr / bc1) * (m / (Math.sqrt(v) / Math.sqrt(bc2) + 1e-8));
    assert.ok(Math.abs(p.data[i]! - want) < 1e-6, `step 2 [${i}]: ${p.data[i]} vs ${want}`);
  }
});

test('clipGradNorm: scales to the max norm over all params together, leaves small gradients alone', () => {
  const a = param([0, 0], [3, 0]);
  const b = param([0], [4]);
  const norm = clipGradNorm([a, b], 1);
  assert.ok(Math.abs(norm - 5) < 1e-12);
  const c = 1 / (5 + 1e-6);
  assert.ok(Math.abs(a.grad[0]! - 3 * c) < 1e-7 && Math.abs(b.grad[0]! - 4 * c) < 1e-7);
  const small = param([0], [0.5]);
  assert.equal(clipGradNorm([small], 1), 0.5);
  assert.equal(small.grad[0], 0.5);
});
