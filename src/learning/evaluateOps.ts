/**
 * The non-matmul steps of the consensus forward pass (evaluate.ts), in fixed-order f32 arithmetic with the
 * canonical exp32 (src/engine/kernels/f32math.ts) and canonical RoPE tables (evaluateMath.ts): no
 * Math.exp/log/sin/cos/pow, no order that depends on threads or timing. docs/proof-of-learning.md,
 * "Determinism", lists every step.
 */
import { exp32 } from '../engine/kernels/f32math.ts';
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
 * Causal grouped-query attention over one window of T tokens (positions 0 … T−1). q: [T, heads·d],
 * k, v: [T, kvHeads·d], out: [T, heads·d]. score = round32(dot · round32(1/√d)), dot a left-to-right f32 sum;
 * w = round32(exp32(score − max) / Σ), Σ a left-to-right f32 sum; out = left-to-right f32 sum of w·v.
 */
export function attendWindow(out: Float32Array, q: Float32Array, k: Float32Array, v: Float32Array, T: number, heads: number, kvHeads: number, d: number): void {
  const qDim = heads * d;
  const kvDim = kvHeads * d;
  const group = heads / kvHeads;
  const scale = fr(1 / Math.sqrt(d));
  const scores = new Float32Array(T);
  for (let t = 0; t < T; t++) {
    for (let h = 0; h < heads; h++) {
      const kvh = Math.floor(h / group);
      const qo = t * qDim + h * d;
      let max = Number.NEGATIVE_INFINITY;
      for (let p = 0; p <= t; p++) {
        const ko = p * kvDim + kvh * d;
        let dot = 0;
        for (let i = 0; i < d; i++) dot = fr(dot + fr((q[qo + i] as number) * (k[ko + i] as number)));
        const s = fr(dot * scale);
        scores[p] = s;
        if (s > max) max = s;
      }
      let sum = 0;
      for (let p = 0; p <= t; p++) {
        const e = exp32(fr((scores[p] as number) - max));
        scores[p] = e;
        sum = fr(sum + e);
      }
      for (let i = 0; i < d; i++) out[qo + i] = 0;
      for (let p = 0; p <= t; p++) {
        const w = fr((scores[p] as number) / sum);
        const vo = p * kvDim + kvh * d;
        for (let i = 0; i < d; i++) out[qo + i] = fr((out[qo + i] as number) + fr(w * (v[vo + i] as number)));
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
