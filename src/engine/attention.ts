import type { KvCache } from './kvCache.ts';

/**
 * Causal grouped-query attention for `tokens` new positions starting at `start`, whose keys and values
 * are already in the cache. q: [tokens, heads·d]; out: [tokens, heads·d]. Scores in f32 with a fixed
 * summation order; softmax subtracts the row max like torch's.
 */
export function attend(
  out: Float32Array,
  q: Float32Array,
  cache: KvCache,
  layer: number,
  start: number,
  tokens: number,
  heads: number,
  kvHeads: number,
  headDim: number,
): void {
  const keys = cache.keysOf(layer);
  const values = cache.valuesOf(layer);
  const kvDim = kvHeads * headDim;
  const qDim = heads * headDim;
  const group = heads / kvHeads;
  const scale = 1 / Math.sqrt(headDim);
  const scores = new Float32Array(start + tokens);
  for (let t = 0; t < tokens; t++) {
    const len = start + t + 1; // causal: positions 0..start+t
    for (let h = 0; h < heads; h++) {
      const kvh = Math.floor(h / group);
      const qo = t * qDim + h * headDim;
      let max = Number.NEGATIVE_INFINITY;
      for (let p = 0; p < len; p++) {
        const ko = p * kvDim + kvh * headDim;
        let dot = 0;
        for (let i = 0; i < headDim; i++) dot += (q[qo + i] as number) * (keys[ko + i] as number);
        const s = Math.fround(dot * scale);
        scores[p] = s;
        if (s > max) max = s;
      }
      let sum = 0;
      for (let p = 0; p < len; p++) {
        const e = Math.fround(Math.exp((scores[p] as number) - max));
        scores[p] = e;
        sum += e;
      }
      const oo = t * qDim + h * headDim;
      for (let i = 0; i < headDim; i++) out[oo + i] = 0;
      for (let p = 0; p < len; p++) {
        const w = (scores[p] as number) / sum;
        const vo = p * kvDim + kvh * headDim;
        for (let i = 0; i < headDim; i++) out[oo + i] = (out[oo + i] as number) + w * (values[vo + i] as number);
      }
    }
  }
}
