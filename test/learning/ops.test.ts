/** Finite-difference gradient checks of every trainer op on its own (f32 ops, central differences). */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { JsGemm } from '../../src/learning/gemm/jsGemm.ts';
import { attentionBackward, attentionForward } from '../../src/learning/ops/attention.ts';
import { auxLossForward, auxLossGrad } from '../../src/learning/ops/auxLoss.ts';
import { crossEntropyBackward, crossEntropyForward } from '../../src/learning/ops/crossEntropy.ts';
import { embeddingBackward, embeddingForward } from '../../src/learning/ops/embedding.ts';
import { fastExp } from '../../src/learning/ops/fastExp.ts';
import { linearBackward, linearForward } from '../../src/learning/ops/linear.ts';
import { rmsNormBackward, rmsNormForward } from '../../src/learning/ops/rmsnorm.ts';
import { mergeHeads, RopeTable, splitHeads } from '../../src/learning/ops/rope.ts';
import { routerBackward, routerForward } from '../../src/learning/ops/router.ts';
import { swigluBackward, swigluForward } from '../../src/learning/ops/swiglu.ts';
import { Rng } from '../../src/learning/rng.ts';
import { Rope } from '../../src/engine/rope.ts';
import { checkGrad, dotLoss, randn } from './gradcheck.ts';

const gemm = new JsGemm();

test('embedding: gather forward, scatter-add backward', () => {
  const rng = new Rng(1);
  const V = 5;
  const D = 3;
  const ids = Int32Array.of(1, 4, 1, 0);
  const table = randn(V * D, rng);
  const r = randn(ids.length * D, rng);
  const out = new Float32Array(ids.length * D);
  const loss = () => {
    embeddingForward(table, ids, out, ids.length, D);
    return dotLoss(out, r);
  };
  loss();
  const g = new Float32Array(V * D);
  embeddingBackward(r, ids, g, ids.length, D);
  checkGrad('table', table, g, loss);
  assert.deepEqual(Array.from(g.subarray(2 * D, 3 * D)), [0, 0, 0]);
});

test('linear: dX and dW', () => {
  const rng = new Rng(2);
  const n = 4;
  const inF = 6;
  const outF = 5;
  const X = randn(n * inF, rng);
  const W = randn(outF * inF, rng);
  const r = randn(n * outF, rng);
  const Y = new Float32Array(n * outF);
  const loss = () => {
    linearForward(gemm, X, W, Y, n, inF, outF);
    return dotLoss(Y, r);
  };
  loss();
  const dX = new Float32Array(n * inF);
  const dW = new Float32Array(outF * inF);
  linearBackward(gemm, X, W, r, dX, dW, n, inF, outF, false);
  checkGrad('X', X, dX, loss);
  checkGrad('W', W, dW, loss);
});

test('rmsnorm: dx (accumulated) and dw', () => {
  const rng = new Rng(3);
  const rows = 3;
  const D = 8;
  const x = randn(rows * D, rng);
  const w = randn(D, rng, 0.5).map((v) => 1 + v);
  const r = randn(rows * D, rng);
  const y = new Float32Array(rows * D);
  const rinv = new Float32Array(rows);
  const loss = () => {
    rmsNormForward(x, w, y, rinv, rows, D, 1e-5);
    return dotLoss(y, r);
  };
  loss();
  const dx = new Float32Array(rows * D).fill(0.25);
  const dw = new Float32Array(D);
  rmsNormBackward(x, w, rinv, r, dx, dw, rows, D);
  checkGrad('x', x, dx.map((v) => v - 0.25), loss);
  checkGrad('w', w, dw, loss);
});

test('rope: splitHeads matches the engine rotation, mergeHeads is its backward', () => {
  const rng = new Rng(4);
  const B = 2;
  const T = 5;
  const H = 2;
  const hd = 8;
  const D = H * hd;
  const table = new RopeTable(hd, T, 10000);
  const x = randn(B * T * D, rng);
  const out = new Float32Array(x.length);
  splitHeads(x, out, B, T, H, hd, table);
  const engine = new Rope(hd, 10000);
  for (let b = 0; b < B; b++) {
    for (let t = 0; t < T; t++) {
      const row = Float32Array.from(x.subarray((b * T + t) * D, (b * T + t + 1) * D));
      engine.apply(row, 0, H, t);
      for (let h = 0; h < H; h++) for (let i = 0; i < hd; i++) assert.equal(out[((b * H + h) * T + t) * hd + i], row[h * hd + i]);
    }
  }
  const r = randn(x.length, rng);
  const loss = () => {
    splitHeads(x, out, B, T, H, hd, table);
    return dotLoss(out, r);
  };
  const dx = new Float32Array(x.length);
  mergeHeads(r, dx, B, T, H, hd, table);
  checkGrad('x', x, dx, loss);
});

test('causal attention: dQ, dK, dV', () => {
  const rng = new Rng(5);
  const BH = 3;
  const T = 5;
  const hd = 4;
  const Q = randn(BH * T * hd, rng);
  const K = randn(BH * T * hd, rng);
  const V = randn(BH * T * hd, rng);
  const P = new Float32Array(BH * T * T);
  const O = new Float32Array(BH * T * hd);
  const r = randn(O.length, rng);
  const loss = () => {
    attentionForward(gemm, Q, K, V, P, O, BH, T, hd);
    return dotLoss(O, r);
  };
  loss();
  // causality: the first query sees only the first key
  for (let bh = 0; bh < BH; bh++) assert.equal(P[bh * T * T], 1);
  const dP = new Float32Array(P.length);
  const dQ = new Float32Array(Q.length);
  const dK = new Float32Array(K.length);
  const dV = new Float32Array(V.length);
  attentionBackward(gemm, Q, K, V, P, r, dP, dQ, dK, dV, BH, T, hd);
  checkGrad('Q', Q, dQ, loss);
  checkGrad('K', K, dK, loss);
  checkGrad('V', V, dV, loss);
});

test('router + top-k + renormalisation + aux loss: d logits', () => {
  const rng = new Rng(6);
  const n = 6;
  const E = 5;
  const k = 2;
  const logits = randn(n * E, rng);
  const probs = new Float32Array(n * E);
  const topIdx = new Int32Array(n * k);
  const topW = new Float32Array(n * k);
  const r = randn(n * k, rng);
  const coef = 0.7;
  const loss = () => {
    routerForward(logits, probs, topIdx, topW, n, E, k);
    const aux = auxLossForward([probs], [topIdx], n, E, k);
    return dotLoss(topW, r) + coef * aux.value;
  };
  loss();
  for (let t = 0; t < n; t++) {
    assert.ok(Math.abs(topW[t * k]! + topW[t * k + 1]! - 1) < 1e-6);
    assert.ok(probs[t * E + topIdx[t * k]!]! >= probs[t * E + topIdx[t * k + 1]!]!);
  }
  const aux = auxLossForward([probs], [topIdx], n, E, k);
  const g = new Float64Array(E);
  auxLossGrad(aux, coef, g);
  const dProbs = new Float32Array(n * E);
  for (let t = 0; t < n; t++) for (let e = 0; e < E; e++) dProbs[t * E + e] = g[e]!;
  const dLogits = new Float32Array(n * E);
  routerBackward(probs, topIdx, topW, r, dProbs, dLogits, n, E, k);
  checkGrad('logits', logits, dLogits, loss, { h: 1e-3 });
});

test('aux loss equals HF load_balancing_loss_func on a hand example', () => {
  // 2 layers × 2 tokens, 3 experts, top-1: one-hot means per slot × mean probs, × E.
  const p0 = Float32Array.of(0.5, 0.3, 0.2, 0.1, 0.6, 0.3);
  const p1 = Float32Array.of(0.2, 0.2, 0.6, 0.7, 0.2, 0.1);
  const a = auxLossForward([p0, p1], [Int32Array.of(0, 1), Int32Array.of(2, 0)], 2, 3, 1);
  const tokensPerExpert = [2 / 4, 1 / 4, 1 / 4];
  const meanProb = [(0.5 + 0.1 + 0.2 + 0.7) / 4, (0.3 + 0.6 + 0.2 + 0.2) / 4, (0.2 + 0.3 + 0.6 + 0.1) / 4];
  const want = 3 * tokensPerExpert.reduce((s, f, e) => s + f * meanProb[e]!, 0);
  assert.ok(Math.abs(a.value - want) < 1e-6, `${a.value} vs ${want}`);
});

test('SwiGLU expert: dX, dW1, dW3, dW2', () => {
  const rng = new Rng(7);
  const n = 4;
  const D = 6;
  const I = 5;
  const X = randn(n * D, rng);
  const W1 = randn(I * D, rng, 0.5);
  const W3 = randn(I * D, rng, 0.5);
  const W2 = randn(D * I, rng, 0.5);
  const G = new Float32Array(n * I);
  const U = new Float32Array(n * I);
  const S = new Float32Array(n * I);
  const A = new Float32Array(n * I);
  const Y = new Float32Array(n * D);
  const r = randn(n * D, rng);
  const loss = () => {
    swigluForward(gemm, X, W1, W3, W2, G, U, S, A, Y, n, D, I);
    return dotLoss(Y, r);
  };
  loss();
  const dX = new Float32Array(X.length);
  const grads = { dW1: new Float32Array(W1.length), dW3: new Float32Array(W3.length), dW2: new Float32Array(W2.length) };
  swigluBackward(gemm, X, W1, W3, W2, G, U, S, A, r, dX, grads, n, D, I);
  checkGrad('X', X, dX, loss);
  checkGrad('W1', W1, grads.dW1, loss);
  checkGrad('W3', W3, grads.dW3, loss);
  checkGrad('W2', W2, grads.dW2, loss);
});

test('cross-entropy: value and d logits', () => {
  const rng = new Rng(8);
  const n = 4;
  const V = 7;
  const logits = randn(n * V, rng, 2);
  const targets = Int32Array.of(0, 3, 6, 3);
  const uniform = crossEntropyForward(new Float32Array(n * V), targets, n, V);
  assert.ok(Math.abs(uniform - Math.log(V)) < 1e-12);
  const loss = () => crossEntropyForward(logits, targets, n, V);
  const d = new Float32Array(n * V);
  crossEntropyBackward(logits, targets, d, n, V);
  checkGrad('logits', logits, d, loss, { h: 1e-3 });
});

test('fastExp: within 1e-8 of Math.exp over the range the activations use', () => {
  let worst = 0;
  for (let i = 0; i <= 200_000; i++) {
    const x = -87 + (175 * i) / 200_000;
    worst = Math.max(worst, Math.abs(fastExp(x) / Math.exp(x) - 1));
  }
  assert.ok(worst < 1e-8, `relative error ${worst}`);
  assert.equal(fastExp(0), 1);
  assert.equal(fastExp(-1000), 0);
  assert.ok(Number.isFinite(fastExp(1000)));
});
