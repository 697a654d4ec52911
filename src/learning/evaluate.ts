/**
 * The validation loss of Proof-of-Learning: mean next-token cross-entropy of the model over fixed windows
 * of the validation set, as exact f32 bits (docs/proof-of-learning.md, "Determinism"). Pure: the same
 * weights, tokens and windows give the same bits on every machine, thread count and kernel implementation.
 * Matrix products go to the kernels (bitwise identical by design, docs/kernels.md), over whole windows at
 * once (tokens > 1); everything else is fixed-order f32 arithmetic with canonical exp/log (evaluateOps.ts).
 */
import type { ComponentWeights, ExpertSource } from '../engine/expertSource.ts';
import type { Kernels, WeightMatrix } from '../engine/kernels/types.ts';
import type { ModelConfig } from '../engine/modelConfig.ts';
import { addBias, addInPlace, clampInPlace, rmsNorm } from '../engine/ops.ts';
import { asMatrix, asVector, readRow } from '../engine/weights.ts';
import { BlyanError } from '../errors.ts';
import { crossEntropy32, f32Hex } from './evaluateLoss.ts';
import { CanonicalAttention, CanonicalRope, routeCanonical, sigmoid32 } from './evaluateOps.ts';

const fr = Math.fround;

export interface EvaluateInput {
  readonly config: ModelConfig;
  /** Where every component's weights come from (wrap with withComponent to substitute one). */
  readonly source: ExpertSource;
  readonly kernels: Kernels;
  /** The validation text as token ids. */
  readonly tokens: ArrayLike<number>;
  /** Window i covers tokens [offsets[i], offsets[i] + context]: context inputs, each predicting the next. */
  readonly offsets: readonly number[];
  readonly context: number;
  /** Windows per forward call (speed and memory only: the loss does not depend on it). */
  readonly batchSize: number;
  /** Optional reuse of the hidden states entering `layer`, which do not change when only later layers do. */
  readonly prefix?: PrefixReuse;
}

export interface PrefixReuse {
  readonly cache: PrefixCache;
  /** Names everything the states depend on: model, validation set, versions of every component below `layer`. */
  readonly key: string;
  readonly layer: number;
}

export interface LossResult {
  /** The mean cross-entropy, an f32 value. */
  readonly loss: number;
  /** Its bits, 8 hex digits (big-endian): what validators compare. */
  readonly bits: string;
  /** Positions averaged over (windows × context). */
  readonly positions: number;
}

/** Bounded cache of hidden states (a few entries: each is windows × context × hidden floats). */
export class PrefixCache {
  private readonly entries = new Map<string, Float32Array[]>();
  constructor(readonly maxEntries = 2) {}
  get(key: string): Float32Array[] | undefined {
    return this.entries.get(key);
  }
  set(key: string, states: Float32Array[]): void {
    this.entries.delete(key);
    this.entries.set(key, states);
    while (this.entries.size > this.maxEntries) this.entries.delete(this.entries.keys().next().value as string);
  }
}

/** A source that serves `weights` for its component and everything else from `source`. */
export function withComponent(source: ExpertSource, weights: ComponentWeights): ExpertSource {
  return { load: (name) => (name === weights.name ? Promise.resolve(weights) : source.load(name)) };
}

export async function evaluate(input: EvaluateInput): Promise<LossResult> {
  const { config: c, context: T, offsets, tokens } = input;
  checkInput(input);
  const components = new Map<string, Promise<ComponentWeights>>();
  const load = (name: string): Promise<ComponentWeights> => {
    let p = components.get(name);
    if (p === undefined) {
      p = input.source.load(name);
      components.set(name, p);
    }
    return p;
  };
  const rope = new CanonicalRope(c.headDim, c.ropeTheta, T);
  const attention = new CanonicalAttention(T, c.numHeads, c.numKvHeads, c.headDim);
  const reuse = input.prefix;
  const cached = reuse === undefined ? undefined : reuse.cache.get(reuse.key);
  const saved: Float32Array[] = [];
  let total = 0;
  let positions = 0;
  const embed = asMatrix((await load('embed')).tensor('embed'));
  const head = await load('head');
  const finalNorm = asVector(head.tensor('norm'), c.hiddenSize);
  const lmHead = c.tieWordEmbeddings ? embed : asMatrix(head.tensor('lm_head'));
  for (let b0 = 0, batch = 0; b0 < offsets.length; b0 += input.batchSize, batch++) {
    const windows = offsets.slice(b0, b0 + input.batchSize);
    const N = windows.length * T;
    let x: Float32Array;
    let first = 0;
    if (cached !== undefined && reuse !== undefined) {
      x = (cached[batch] as Float32Array).slice();
      first = reuse.layer;
    } else {
      x = new Float32Array(N * c.hiddenSize);
      windows.forEach((off, w) => {
        for (let t = 0; t < T; t++) readRow(embed, tokens[off + t] as number, x, (w * T + t) * c.hiddenSize);
      });
    }
    for (let l = first; l < c.numLayers; l++) {
      if (reuse !== undefined && cached === undefined && l === reuse.layer) saved.push(x.slice());
      await layerForward(input, load, rope, attention, l, x, windows.length);
    }
    // head and loss, one window at a time (T × vocab logits)
    const H = c.hiddenSize;
    const V = c.vocabSize;
    const normed = new Float32Array(T * H);
    const logits = new Float32Array(T * V);
    for (const [w, off] of windows.entries()) {
      rmsNorm(normed, x.subarray(w * T * H, (w + 1) * T * H), finalNorm, H, T, c.rmsNormEps);
      input.kernels.matmul(logits, lmHead, normed, T);
      for (let t = 0; t < T; t++) {
        total += crossEntropy32(logits, t * V, V, tokens[off + t + 1] as number);
        positions++;
      }
    }
  }
  if (reuse !== undefined && cached === undefined) reuse.cache.set(reuse.key, saved);
  const loss = fr(total / positions);
  return { loss, bits: f32Hex(loss), positions };
}

function checkInput(input: EvaluateInput): void {
  const { config: c, context: T, offsets, tokens } = input;
  if (!Number.isSafeInteger(T) || T < 1 || T > c.maxPositions) {
    throw new BlyanError('ENGINE_BAD_INPUT', `validation context ${T} must be 1 … ${c.maxPositions} (the model's context)`);
  }
  if (!Number.isSafeInteger(input.batchSize) || input.batchSize < 1) throw new BlyanError('ENGINE_BAD_INPUT', `batch size ${input.batchSize} must be ≥ 1`);
  if (offsets.length === 0) throw new BlyanError('ENGINE_BAD_INPUT', 'the validation set has no windows');
  for (const off of offsets) {
    if (!Number.isSafeInteger(off) || off < 0 || off + T + 1 > tokens.length) {
      throw new BlyanError('ENGINE_BAD_INPUT', `validation window at ${off} (+${T + 1} tokens) is outside the ${tokens.length} tokens`, { offset: off });
    }
  }
  for (let i = 0; i < tokens.length; i++) {
    const id = tokens[i] as number;
    if (!Number.isInteger(id) || id < 0 || id >= c.vocabSize) {
      throw new BlyanError('ENGINE_BAD_INPUT', `token id ${id} at ${i} is outside the vocabulary (0 … ${c.vocabSize - 1})`);
    }
  }
}

interface Ffn {
  gate: WeightMatrix;
  up: WeightMatrix;
  down: WeightMatrix;
}

function ffnOf(cw: ComponentWeights): Ffn {
  return { gate: asMatrix(cw.tensor('gate')), up: asMatrix(cw.tensor('up')), down: asMatrix(cw.tensor('down')) };
}

function runFfn(k: Kernels, w: Ffn, x: Float32Array, tokens: number, scale?: readonly number[]): Float32Array {
  const y = new Float32Array(tokens * w.down.rows);
  k.expertFfn(y, w.gate, w.up, w.down, x, tokens, scale);
  return y;
}

/** One decoder layer over `windows` windows of T tokens each, x: [windows·T, H], updated in place. */
async function layerForward(
  input: EvaluateInput,
  load: (name: string) => Promise<ComponentWeights>,
  rope: CanonicalRope,
  attention: CanonicalAttention,
  l: number,
  x: Float32Array,
  windows: number,
): Promise<void> {
  const { config: c, kernels: k, context: T } = input;
  const H = c.hiddenSize;
  const N = windows * T;
  const qDim = c.numHeads * c.headDim;
  const kvDim = c.numKvHeads * c.headDim;
  const a = await load(`layer${l}.attn`);
  const h = new Float32Array(N * H);
  rmsNorm(h, x, asVector(a.tensor('input_norm'), H), H, N, c.rmsNormEps);
  const q = new Float32Array(N * qDim);
  const kk = new Float32Array(N * kvDim);
  const v = new Float32Array(N * kvDim);
  k.matmulMany([q, kk, v], [asMatrix(a.tensor('q')), asMatrix(a.tensor('k')), asMatrix(a.tensor('v'))], h, N);
  if (c.qkvBias) {
    addBias(q, asVector(a.tensor('q_bias'), qDim), qDim, N);
    addBias(kk, asVector(a.tensor('k_bias'), kvDim), kvDim, N);
    addBias(v, asVector(a.tensor('v_bias'), kvDim), kvDim, N);
  }
  if (c.qkNorm) {
    rmsNorm(q, q, asVector(a.tensor('q_norm'), qDim), qDim, N, c.rmsNormEps);
    rmsNorm(kk, kk, asVector(a.tensor('k_norm'), kvDim), kvDim, N, c.rmsNormEps);
  }
  if (c.clipQkv !== null) {
    clampInPlace(q, c.clipQkv);
    clampInPlace(kk, c.clipQkv);
    clampInPlace(v, c.clipQkv);
  }
  for (let w = 0; w < windows; w++) {
    for (let t = 0; t < T; t++) {
      rope.apply(q, (w * T + t) * qDim, c.numHeads, t);
      rope.apply(kk, (w * T + t) * kvDim, c.numKvHeads, t);
    }
  }
  const attnOut = new Float32Array(N * qDim);
  for (let w = 0; w < windows; w++) {
    attention.attend(
      k,
      attnOut.subarray(w * T * qDim, (w + 1) * T * qDim),
      q.subarray(w * T * qDim, (w + 1) * T * qDim),
      kk.subarray(w * T * kvDim, (w + 1) * T * kvDim),
      v.subarray(w * T * kvDim, (w + 1) * T * kvDim),
    );
  }
  const o = new Float32Array(N * H);
  k.matmul(o, asMatrix(a.tensor('o')), attnOut, N);
  addInPlace(x, o);
  rmsNorm(h, x, asVector(a.tensor('post_norm'), H), H, N, c.rmsNormEps);
  if (!c.sparseLayers[l]) {
    addInPlace(x, runFfn(k, ffnOf(await load(`layer${l}.mlp`)), h, N));
    return;
  }
  addInPlace(x, await moeForward(input, load, l, h, N));
}

async function moeForward(input: EvaluateInput, load: (name: string) => Promise<ComponentWeights>, l: number, h: Float32Array, N: number): Promise<Float32Array> {
  const { config: c, kernels: k } = input;
  const H = c.hiddenSize;
  const E = c.numExperts;
  const logits = new Float32Array(N * E);
  k.matmul(logits, asMatrix((await load(`layer${l}.router`)).tensor('gate')), h, N);
  const routes = Array.from({ length: N }, (_, t) => routeCanonical(logits, t * E, E, c.topK, c.normTopkProb));
  const byExpert = new Map<number, { token: number; slot: number }[]>();
  for (const [t, r] of routes.entries()) {
    for (const [slot, e] of r.experts.entries()) {
      const list = byExpert.get(e) ?? [];
      list.push({ token: t, slot });
      byExpert.set(e, list);
    }
  }
  // Each token's expert outputs are summed in slot order (most probable first), whatever the load order.
  const contributions: Float32Array[][] = Array.from({ length: N }, () => new Array<Float32Array>(c.topK));
  for (const e of [...byExpert.keys()].sort((a, b) => a - b)) {
    const uses = byExpert.get(e) as { token: number; slot: number }[];
    const w = ffnOf(await load(`layer${l}.expert${e}`));
    const xs = new Float32Array(uses.length * H);
    for (const [i, u] of uses.entries()) xs.set(h.subarray(u.token * H, (u.token + 1) * H), i * H);
    const scale = uses.map((u) => (routes[u.token] as { weights: number[] }).weights[u.slot] as number);
    const ys = runFfn(k, w, xs, uses.length, scale);
    for (const [i, u] of uses.entries()) (contributions[u.token] as Float32Array[])[u.slot] = ys.subarray(i * H, (i + 1) * H);
  }
  const out = new Float32Array(N * H);
  for (let t = 0; t < N; t++) {
    for (const y of contributions[t] as Float32Array[]) {
      for (let j = 0; j < H; j++) out[t * H + j] = fr((out[t * H + j] as number) + (y[j] as number));
    }
  }
  if (c.sharedExpertIntermediate > 0) {
    const s = await load(`layer${l}.shared`);
    const gateW = asVector(s.tensor('shared_gate'), H);
    const sh = runFfn(k, ffnOf(s), h, N);
    for (let t = 0; t < N; t++) {
      let dot = 0;
      for (let j = 0; j < H; j++) dot = fr(dot + fr((gateW[j] as number) * (h[t * H + j] as number)));
      const g = sigmoid32(dot);
      for (let j = 0; j < H; j++) out[t * H + j] = fr((out[t * H + j] as number) + fr(g * (sh[t * H + j] as number)));
    }
  }
  return out;
}
