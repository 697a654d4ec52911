import { quantizeInt8PerRow } from '../tensor/quantize.ts';
import { type Delta, type DeltaTensor, deltaMalformed, deltaNotFinite, type F32Matrix } from './deltaFormat.ts';

/** Keep only the k largest |values|, over the whole tensor or in each row. */
export interface TopK {
  readonly k: number;
  readonly per: 'tensor' | 'row';
}

export interface CompressOptions {
  /** Sparse deltas; dense when absent. */
  readonly topK?: TopK;
}

/**
 * The delta of one component: for each tensor, d = round32(new − base), then (optionally) top-k
 * selection by |d| (ties → lower index), then symmetric per-row int8 quantisation of the kept values:
 * scale = round32(max|d| / 127), q = roundHalfEven(d / scale) clamped to ±127 (src/tensor/quantize.ts).
 * Pure and deterministic. Tensors come out in the order of `next`.
 */
export function compressDelta(base: readonly F32Matrix[], next: readonly F32Matrix[], opts: CompressOptions = {}): Delta {
  if (base.length !== next.length) deltaMalformed(`base has ${base.length} tensors, new has ${next.length}`);
  const byName = new Map(base.map((t) => [t.name, t]));
  return { tensors: next.map((n) => compressTensor(byName.get(n.name) ?? deltaMalformed(`base has no tensor ${n.name}`), n, opts)) };
}

function compressTensor(base: F32Matrix, next: F32Matrix, opts: CompressOptions): DeltaTensor {
  const { name, rows, cols } = next;
  if (base.rows !== rows || base.cols !== cols) deltaMalformed(`${name}: base is ${base.rows}×${base.cols}, new is ${rows}×${cols}`, { tensor: name });
  const n = rows * cols;
  const d = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const v = Math.fround((next.values[i] as number) - (base.values[i] as number));
    if (!Number.isFinite(v)) deltaNotFinite(`${name}: the difference at element ${i} is ${v}`, { tensor: name, index: i });
    d[i] = v;
  }
  if (opts.topK === undefined) {
    const { data, scales } = quantizeInt8PerRow(d, rows, cols);
    return { kind: 'dense', name, rows, cols, scales, q: new Int8Array(data.buffer, data.byteOffset, n) };
  }
  const keep = opts.topK.per === 'tensor' ? topKMask(d, 0, n, opts.topK.k) : rowTopK(d, rows, cols, opts.topK.k);
  for (let i = 0; i < n; i++) if (keep[i] === 0) d[i] = 0;
  const { data, scales } = quantizeInt8PerRow(d, rows, cols);
  const qAll = new Int8Array(data.buffer, data.byteOffset, n);
  const counts = new Uint32Array(rows);
  let nnz = 0;
  for (let i = 0; i < n; i++) if (qAll[i] !== 0) nnz++;
  const indices = new Uint32Array(nnz);
  const q = new Int8Array(nnz);
  let j = 0;
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) {
      const v = qAll[r * cols + c] as number;
      if (v === 0) continue;
      indices[j] = c;
      q[j++] = v;
      counts[r] = (counts[r] as number) + 1;
    }
  }
  return { kind: 'sparse', name, rows, cols, scales, counts, indices, q };
}

function rowTopK(d: Float32Array, rows: number, cols: number, k: number): Uint8Array {
  const keep = new Uint8Array(rows * cols);
  for (let r = 0; r < rows; r++) keep.set(topKMask(d, r * cols, cols, k), r * cols);
  return keep;
}

/** Mask of the k largest |d[start … start+n)|; among equal magnitudes the lower indices win. */
function topKMask(d: Float32Array, start: number, n: number, k: number): Uint8Array {
  const keep = new Uint8Array(n);
  if (!Number.isSafeInteger(k) || k < 0) deltaMalformed(`top-k needs a whole k ≥ 0, got ${k}`);
  if (k >= n) return keep.fill(1);
  if (k === 0) return keep;
  const mags = new Float32Array(n);
  for (let i = 0; i < n; i++) mags[i] = Math.abs(d[start + i] as number);
  const sorted = mags.slice().sort();
  const threshold = sorted[n - k] as number; // the k-th largest magnitude
  let above = 0;
  for (let i = 0; i < n; i++) if ((mags[i] as number) > threshold) above++;
  let ties = k - above; // how many entries equal to the threshold still fit
  for (let i = 0; i < n; i++) {
    const m = mags[i] as number;
    if (m > threshold) keep[i] = 1;
    else if (m === threshold && ties > 0) {
      keep[i] = 1;
      ties--;
    }
  }
  return keep;
}
