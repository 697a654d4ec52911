/**
 * The delta codec (docs/proof-of-learning.md): pure functions, no I/O. A delta is new − base for each
 * tensor of one component, int8 with one f32 scale per row, dense or top-k sparse.
 */
import { compressDelta } from './deltaCompress.ts';
import { encodeDelta } from './deltaEncode.ts';
import type { Delta, F32Matrix } from './deltaFormat.ts';

export { applyDelta, deltaNorm, dequantizeDelta } from './deltaApply.ts';
export { type CompressOptions, compressDelta, type TopK } from './deltaCompress.ts';
export { decodeDelta } from './deltaDecode.ts';
export { encodeDelta } from './deltaEncode.ts';
export type { Delta, DeltaTensor, DenseDeltaTensor, F32Matrix, SparseDeltaTensor } from './deltaFormat.ts';

export interface DeltaSize {
  /** Bytes of the new tensors as f32 (what shipping the full component in f32 would cost). */
  readonly rawBytes: number;
  /** Bytes of the encoded delta. */
  readonly encodedBytes: number;
  /** rawBytes / encodedBytes. */
  readonly ratio: number;
}

export function deltaSize(tensors: readonly F32Matrix[], encoded: Uint8Array): DeltaSize {
  const rawBytes = tensors.reduce((a, t) => a + 4 * t.rows * t.cols, 0);
  return { rawBytes, encodedBytes: encoded.byteLength, ratio: rawBytes / encoded.byteLength };
}

/** compressDelta + encodeDelta. */
export function makeDelta(base: readonly F32Matrix[], next: readonly F32Matrix[], opts: Parameters<typeof compressDelta>[2] = {}): { delta: Delta; bytes: Uint8Array } {
  const delta = compressDelta(base, next, opts);
  return { delta, bytes: encodeDelta(delta) };
}
