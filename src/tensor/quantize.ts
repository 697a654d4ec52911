import { BlyanError } from '../errors.ts';

export interface QuantizedInt8 {
  /** rows × cols int8 values as raw bytes (two's complement), row-major */
  data: Uint8Array;
  /** one f32 scale per row: value ≈ q · scale */
  scales: Float32Array;
}

/** Round half to even: the one rule every node applies, so the same f32 input gives the same bytes. */
function roundHalfEven(v: number): number {
  const f = Math.floor(v);
  const d = v - f;
  if (d > 0.5) return f + 1;
  if (d < 0.5) return f;
  return f % 2 === 0 ? f : f + 1;
}

/**
 * Symmetric per-row int8 quantisation: scale = maxabs / 127 (rounded to f32), q = roundHalfEven(x / scale)
 * clamped to [-127, 127]; -128 is never produced, so negation is closed. An all-zero row gets scale 0 and
 * q = 0. Deterministic: only IEEE double arithmetic on exactly representable f32 inputs, no reductions
 * whose order could vary. Non-finite inputs are refused (they have no int8 meaning).
 */
export function quantizeInt8PerRow(f32: Float32Array, rows: number, cols: number): QuantizedInt8 {
  if (!Number.isSafeInteger(rows) || !Number.isSafeInteger(cols) || rows < 0 || cols < 0 || rows * cols !== f32.length) {
    throw new BlyanError('TENSOR_BAD_SHAPE', `cannot quantise ${f32.length} values as ${rows} rows × ${cols} cols`, { rows, cols });
  }
  const data = new Uint8Array(rows * cols);
  const q = new Int8Array(data.buffer);
  const scales = new Float32Array(rows);
  for (let r = 0; r < rows; r++) {
    const start = r * cols;
    let maxAbs = 0;
    for (let i = start; i < start + cols; i++) {
      const v = f32[i] as number;
      if (!Number.isFinite(v)) {
        throw new BlyanError('TENSOR_MALFORMED', `cannot quantise a non-finite value (${v}) at row ${r}, column ${i - start}`, { row: r, col: i - start });
      }
      const a = Math.abs(v);
      if (a > maxAbs) maxAbs = a;
    }
    const scale = Math.fround(maxAbs / 127);
    scales[r] = scale;
    if (scale === 0) continue; // all zeros (or all values below the f32 subnormal range of maxabs/127)
    for (let i = start; i < start + cols; i++) {
      const x = roundHalfEven((f32[i] as number) / scale);
      q[i] = Math.min(127, Math.max(-127, x));
    }
  }
  return { data, scales };
}
