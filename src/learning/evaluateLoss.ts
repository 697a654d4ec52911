import { exp32, log32 } from '../engine/kernels/f32math.ts';

const fr = Math.fround;

/**
 * Cross-entropy of one position in f32: max of the logits, Σ exp32(l − max) left to right in f32,
 * lse = round32(log32(Σ) + max), ce = round32(lse − l[target]). A non-finite logit gives a non-finite loss.
 */
export function crossEntropy32(logits: Float32Array, offset: number, vocab: number, target: number): number {
  let max = Number.NEGATIVE_INFINITY;
  for (let i = 0; i < vocab; i++) {
    const v = logits[offset + i] as number;
    if (v > max || Number.isNaN(v)) max = v;
  }
  let sum = 0;
  for (let i = 0; i < vocab; i++) sum = fr(sum + exp32(fr((logits[offset + i] as number) - max)));
  const lse = fr(log32(sum) + max);
  return fr(lse - (logits[offset + target] as number));
}

/** The bits of an f32 value as 8 hex digits (big-endian): how losses are compared and reported. */
export function f32Hex(x: number): string {
  const b = new DataView(new ArrayBuffer(4));
  b.setFloat32(0, x);
  return b.getUint32(0).toString(16).padStart(8, '0');
}
