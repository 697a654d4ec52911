import { BlyanError } from '../errors.ts';
import { bf16ArrayToF32, type DType, dtypeBytes, f16ArrayToF32 } from './dtypes.ts';

export { quantizeInt8PerRow, type QuantizedInt8 } from './quantize.ts';

/**
 * A tensor whose bytes live elsewhere: `data` is a view (a TensorBlock payload in LMDB, a read buffer),
 * never a copy. Row-major; `data` holds numel × dtypeBytes little-endian bytes.
 */
export interface TensorView {
  name: string;
  dtype: DType;
  shape: readonly number[];
  /** raw little-endian bytes, a view */
  data: Uint8Array;
  /** int8 only: one f32 scale per row, rows = product of all dims except the last */
  scales?: Float32Array;
}

/** Product of the dims; 1 for a scalar (shape []). */
export function numel(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

/** Treats the tensor as a matrix: cols = last dim, rows = everything before it (1 for a vector). */
export function rowsCols(t: Pick<TensorView, 'shape' | 'name'>): { rows: number; cols: number } {
  const cols = t.shape[t.shape.length - 1];
  if (cols === undefined) throw new BlyanError('TENSOR_BAD_SHAPE', `tensor "${t.name}" is a scalar: it has no rows`, { tensor: t.name });
  if (cols === 0) return { rows: numel(t.shape.slice(0, -1)), cols: 0 };
  return { rows: numel(t.shape) / cols, cols };
}

function expectDType(t: TensorView, dtype: DType | readonly DType[]): void {
  const ok = typeof dtype === 'string' ? t.dtype === dtype : dtype.includes(t.dtype);
  if (!ok) throw new BlyanError('TENSOR_BAD_DTYPE', `tensor "${t.name}" is ${t.dtype}, expected ${String(dtype)}`, { tensor: t.name, dtype: t.dtype });
}

function checkLength(t: TensorView): number {
  const n = numel(t.shape);
  if (t.data.byteLength !== n * dtypeBytes(t.dtype)) {
    throw new BlyanError('TENSOR_BAD_SHAPE', `tensor "${t.name}": ${t.data.byteLength} bytes do not hold [${t.shape.join(', ')}] ${t.dtype}`, { tensor: t.name });
  }
  return n;
}

/**
 * The f32 elements as a Float32Array on the same memory when `data.byteOffset` is a multiple of 4 (always
 * true for TensorBlock views of an aligned payload); otherwise a copy, because a typed array cannot start
 * at an unaligned offset. Writing through a view writes the payload.
 */
export function f32View(t: TensorView): Float32Array {
  expectDType(t, 'f32');
  const n = checkLength(t);
  if (t.data.byteOffset % 4 === 0) return new Float32Array(t.data.buffer, t.data.byteOffset, n);
  return new Float32Array(t.data.slice().buffer, 0, n);
}

/** bf16 / f16 elements as raw 16-bit patterns; same memory when 2-aligned, else a copy (as f32View). */
export function u16View(t: TensorView): Uint16Array {
  expectDType(t, ['bf16', 'f16']);
  const n = checkLength(t);
  if (t.data.byteOffset % 2 === 0) return new Uint16Array(t.data.buffer, t.data.byteOffset, n);
  return new Uint16Array(t.data.slice().buffer, 0, n);
}

/** The int8 elements on the same memory (bytes need no alignment). */
export function i8View(t: TensorView): Int8Array {
  expectDType(t, 'int8');
  const n = checkLength(t);
  return new Int8Array(t.data.buffer, t.data.byteOffset, n);
}

/**
 * All elements widened to a fresh Float32Array (int8 is dequantised: q · scale of its row, rounded to f32).
 * Always a copy: meant for small tensors, tests and reference paths, not for the engine's hot loops.
 */
export function toFloat32(t: TensorView): Float32Array {
  switch (t.dtype) {
    case 'f32':
      return f32View(t).slice();
    case 'bf16':
      return bf16ArrayToF32(u16View(t));
    case 'f16':
      return f16ArrayToF32(u16View(t));
    case 'int8': {
      const q = i8View(t);
      const { rows, cols } = rowsCols(t);
      const scales = t.scales;
      if (scales === undefined || scales.length !== rows) {
        throw new BlyanError('TENSOR_MALFORMED', `int8 tensor "${t.name}" needs ${rows} scales, has ${scales?.length ?? 0}`, { tensor: t.name });
      }
      const out = new Float32Array(q.length);
      for (let r = 0; r < rows; r++) {
        const s = scales[r] as number;
        for (let c = r * cols, end = c + cols; c < end; c++) out[c] = (q[c] as number) * s;
      }
      return out;
    }
  }
}
