import { BlyanError } from '../errors.ts';
import { type TensorView, toFloat32 } from '../tensor/tensor.ts';
import type { WeightMatrix } from './kernels/types.ts';

/** A 2-D tensor as a kernel operand: no copy, the bytes stay where they are (often the LMDB map). */
export function asMatrix(t: TensorView): WeightMatrix {
  if (t.shape.length !== 2) throw new BlyanError('MODEL_SHAPE_MISMATCH', `${t.name} should be a matrix, has shape [${t.shape.join(', ')}]`);
  const [rows, cols] = t.shape as [number, number];
  const m: WeightMatrix = { dtype: t.dtype, rows, cols, data: t.data };
  return t.scales === undefined ? m : { ...m, scales: t.scales };
}

/** Small tensors (norm weights, biases) as f32 copies. */
export function asVector(t: TensorView, length: number): Float32Array {
  const v = toFloat32(t);
  if (v.length !== length) throw new BlyanError('MODEL_SHAPE_MISMATCH', `${t.name} should have ${length} values, has ${v.length}`);
  return v;
}

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

function bf16(bits: number): number {
  u32[0] = bits << 16;
  return f32[0] as number;
}

function f16(bits: number): number {
  const s = bits & 0x8000 ? -1 : 1;
  const e = (bits >> 10) & 0x1f;
  const m = bits & 0x3ff;
  if (e === 0) return s * m * 2 ** -24;
  if (e === 31) return m === 0 ? s * Number.POSITIVE_INFINITY : Number.NaN;
  return s * (1 + m / 1024) * 2 ** (e - 15);
}

/** Copies row `row` of a matrix into `out` as f32 (embedding lookup). */
export function readRow(m: WeightMatrix, row: number, out: Float32Array, outOffset = 0): void {
  const { cols, data } = m;
  const dv = new DataView(data.buffer, data.byteOffset, data.byteLength);
  switch (m.dtype) {
    case 'f32':
      for (let c = 0; c < cols; c++) out[outOffset + c] = dv.getFloat32((row * cols + c) * 4, true);
      return;
    case 'bf16':
      for (let c = 0; c < cols; c++) out[outOffset + c] = bf16(dv.getUint16((row * cols + c) * 2, true));
      return;
    case 'f16':
      for (let c = 0; c < cols; c++) out[outOffset + c] = f16(dv.getUint16((row * cols + c) * 2, true));
      return;
    case 'int8': {
      const scale = m.scales?.[row] ?? 1;
      for (let c = 0; c < cols; c++) out[outOffset + c] = dv.getInt8(row * cols + c) * scale;
      return;
    }
  }
}
