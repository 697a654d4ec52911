/**
 * The non-matmul steps of the consensus forward pass (evaluate.ts), in fixed-order f32 arithmetic with the
 * canonical exp32 (src/engine/kernels/f32math.ts) and canonical RoPE tables (evaluateMath.ts): no
 * Math.exp/log/sin/cos/pow, no order that depends on threads or timing. docs/proof-of-learning.md,
 * "Determinism", lists every step.
 */
import { exp32 } from '../engine/kernels/f32math.ts';
import type { Kernels, WeightMatrix } from '../engine/kernels/types.ts';
import { cosSin64, pow64 } from './evaluateMath.ts';

const fr = Math.fround;

/** RoPE tables: invFreq[i] = round32(1 / θ^round32(2i/d)), angle = round32(p·invFreq[i]), cos/sin rounded to f32. */
export class CanonicalRope {
  readonly cos: Float32Array;
  readonly sin: Float32Array;
  readonly half: number;

  constructor(
    readonly headDim: number,
    theta: number,
    positions: number,
  ) {
    const half = headDim / 2;
    this.half = half;
    const invFreq = new Float32Array(half);
    for (let i = 0; i < half; i++) invFreq[i] = fr(1 / pow64(theta, fr((2 * i) / headDim)));
    this.cos = new Float32Array(positions * half);
    this.sin = new Float32Array(positions * half);
    for (let p = 0; p < positions; p++) {
      for (let i = 0; i < half; i++) {
        const cs = cosSin64(fr(p * (invFreq[i] as number)));
        this.cos[p * half + i] = cs.cos;
        this.sin[p * half + i] = cs.sin;
      }
    }
  }

  /** Rotates `heads` heads of one token at position `pos` ("rotate_half" layout), in place. */
  apply(x: Float32Array, offset: number, heads: number, pos: number): void {
    const h = this.half;
    for (let head = 0; head < heads; head++) {
      const b = offset + head * this.headDim;
      for (let i = 0; i < h; i++) {
        const c = this.cos[pos * h + i] as number;
        const s = this.sin[pos * h + i] as number;
        const x1 = x[b + i] as number;
        const x2 = x[b + i + h] as number;
        x[b + i] = fr(fr(x1 * c) - fr(x2 * s));
        x[b + i + h] = fr(fr(x2 * c) + fr(x1 * s));
      }
    }
  }
}

/**
 * Causal grouped-query attention over one window of T tokens (positions 0 … T−1), with both matrix products
 * in the kernels' canonical dot product (docs/kernels.md: 32 lane sums in column order, then fold32).
 * q: [T, heads·d], k, v: [T, kvHeads·d], out: [T, heads·d]. For each head (kv head kvh = ⌊head / group⌋):
 *   dot[t, p]  = canonical dot of k[p] and q[t] over the head's d columns (p ≤ t used);
 *   score      = round32(dot · round32(1/√d)); e = exp32(round32(score − max_p≤t score)); Σ = left-to-right
 *                f32 sum of e over p = 0 … t; w[t, p] = round32(e / Σ) for p ≤ t and +0 for p > t;
 *   out[t, i]  = canonical dot of w[t, 0 … T−1] and v[0 … T−1, i] (all T positions, the masked ones with
 *                weight +0, which add ±0 to a lane and so leave it unchanged when v is finite).
 * One instance per context length and head layout; its scratch buffers are reused, so one call at a time.
 */
export class CanonicalAttention {
  private readonly group: number;
  private readonly scale: number;
  private readonly kh: Float32Array;
  private readonly vt: Float32Array;
  private readonly qg: Float32Array;
  private readonly p: Float32Array;
  private readonly og: Float32Array;
  private readonly kMat: WeightMatrix;
  private readonly vMat: WeightMatrix;

  constructor(
    readonly T: number,
    readonly heads: number,
    readonly kvHeads: number,
    readonly d: number,
  ) {
    this.group = heads / kvHeads;
    this.scale = fr(1 / Math.sqrt(d));
    this.kh = new Float32Array(T * d);
    this.vt = new Float32Array(d * T);
    this.qg = new Float32Array(this.group * T * d);
    this.p = new Float32Array(this.group * T * T);
    this.og = new Float32Array(this.group * T * d);
    const bytes = (a: Float32Array): Uint8Array => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
    // Scratch matrices: their bytes change every call (transient: the wasm kernels must not cache them).
    this.kMat = { dtype: 'f32', rows: T, cols: d, data: bytes(this.kh), transient: true };
    this.vMat = { dtype: 'f32', rows: d, cols: T, data: bytes(this.vt), transient: true };
  }

  /** Attention of one window: writes out [T, heads·d]. */
  attend(kernels: Kernels, out: Float32Array, q: Float32Array, k: Float32Array, v: Float32Array): void {
    const { T, heads, kvHeads, d, group, scale, kh, vt, qg, p: probs, og } = this;
    const qDim = heads * d;
    const kvDim = kvHeads * d;
    for (let kvh = 0; kvh < kvHeads; kvh++) {
      for (let t = 0; t < T; t++) {
        const src = t * kvDim + kvh * d;
        for (let i = 0; i < d; i++) {
          kh[t * d + i] = k[src + i] as number;
          vt[i * T + t] = v[src + i] as number;
        }
      }
      for (let g = 0; g < group; g++) {
        const h = kvh * group + g;
        for (let t = 0; t < T; t++) qg.set(q.subarray(t * qDim + h * d, t * qDim + h * d + d), (g * T + t) * d);
      }
      // dot[g·T + t, p] = canonical dot(k[p], q_head[t]): the group's heads share the keys, so one call.
      kernels.matmul(probs, this.kMat, qg, group * T);
      for (let row = 0; row < group * T; row++) {
        const t = row % T;
        const o = row * T;
        let max = Number.NEGATIVE_INFINITY;
        for (let j = 0; j <= t; j++) {
          const s = fr((probs[o + j] as number) * scale);
          probs[o + j] = s;
          if (s > max) max = s;
        }
        let sum = 0;
        for (let j = 0; j <= t; j++) {
          const e = exp32(fr((probs[o + j] as number) - max));
          probs[o + j] = e;
          sum = fr(sum + e);
        }
        for (let j = 0; j <= t; j++) probs[o + j] = fr((probs[o + j] as number) / sum);
        probs.fill(0, o + t + 1, o + T);
      }
      // out_head[t, i] = canonical dot(w[t, :], v[:, i]) over all T positions (+0 weights past t).
      kernels.matmul(og, this.vMat, probs, group * T);
      for (let g = 0; g < group; g++) {
        const h = kvh * group + g;
        for (let t = 0; t < T; t++) out.set(og.subarray((g * T + t) * d, (g * T + t + 1) * d), t * qDim + h * d);
      }
    }
  }
}

export interface Route {
  readonly experts: number[];
  readonly weights: number[];
}

/**
 * Router: softmax in f32 (max, exp32, left-to-right sum, divide), top-k by probability with ties to the lower
 * expert index, optionally renormalised (left-to-right f32 sum, divide).
 */
export function routeCanonical(logits: Float32Array, offset: number, E: number, topK: number, renormalize: boolean): Route {
  const probs = new Float32Array(E);
  let max = Number.NEGATIVE_INFINITY;
  for (let e = 0; e < E; e++) max = Math.max(max, logits[offset + e] as number);
  let sum = 0;
  for (let e = 0; e < E; e++) {
    const v = exp32(fr((logits[offset + e] as number) - max));
    probs[e] = v;
    sum = fr(sum + v);
  }
  for (let e = 0; e < E; e++) probs[e] = fr((probs[e] as number) / sum);
  const order = Array.from({ length: E }, (_, e) => e).sort((a, b) => (probs[b] as number) - (probs[a] as number) || a - b);
  const experts = order.slice(0, topK);
  let weights = experts.map((e) => probs[e] as number);
  if (renormalize) {
    let s = 0;
    for (const w of weights) s = fr(s + w);
    weights = weights.map((w) => fr(w / s));
  }
  return { experts, weights };
}

/** sigmoid in f32: 1 / (1 + exp32(−x)). */
export function sigmoid32(x: number): number {
  return fr(1 / fr(1 + exp32(fr(-x))));
}
