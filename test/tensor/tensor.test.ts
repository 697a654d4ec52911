import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { isBlyanError } from '../../src/errors.ts';
import { f32ToBf16, f32ToF16 } from '../../src/tensor/dtypes.ts';
import { f32View, i8View, numel, quantizeInt8PerRow, rowsCols, type TensorView, toFloat32, u16View } from '../../src/tensor/tensor.ts';

const bytesOf = (a: ArrayBufferView) => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);

test('numel and rowsCols', () => {
  assert.equal(numel([]), 1);
  assert.equal(numel([3, 4, 5]), 60);
  assert.deepEqual(rowsCols({ name: 'w', shape: [3, 4, 5] }), { rows: 12, cols: 5 });
  assert.deepEqual(rowsCols({ name: 'v', shape: [7] }), { rows: 1, cols: 7 });
  assert.throws(() => rowsCols({ name: 's', shape: [] }), (e: unknown) => isBlyanError(e, 'TENSOR_BAD_SHAPE'));
});

test('f32View and u16View share memory when aligned, copy when not', () => {
  const values = Float32Array.of(1, -2, 3.5, 0.25);
  const buf = new Uint8Array(4 + 16 + 1);
  buf.set(bytesOf(values), 4);
  const aligned: TensorView = { name: 'a', dtype: 'f32', shape: [2, 2], data: buf.subarray(4, 20) };
  const v = f32View(aligned);
  assert.equal(v.buffer, buf.buffer);
  assert.equal(v.byteOffset, 4);
  assert.deepEqual([...v], [1, -2, 3.5, 0.25]);
  v[0] = 9; // a view: writes reach the underlying bytes
  assert.equal(new DataView(buf.buffer).getFloat32(4, true), 9);

  const odd = new Uint8Array(17);
  odd.set(bytesOf(values), 1);
  const unaligned: TensorView = { name: 'u', dtype: 'f32', shape: [4], data: odd.subarray(1) };
  const c = f32View(unaligned);
  assert.notEqual(c.buffer, odd.buffer);
  assert.deepEqual([...c], [1, -2, 3.5, 0.25]);

  const h = Uint16Array.of(f32ToBf16(1), f32ToBf16(-0.5));
  const hb = new Uint8Array(6);
  hb.set(bytesOf(h), 2);
  const bf: TensorView = { name: 'b', dtype: 'bf16', shape: [2], data: hb.subarray(2) };
  assert.equal(u16View(bf).buffer, hb.buffer);
  const hbOdd = new Uint8Array(5);
  hbOdd.set(bytesOf(h), 1);
  const bfOdd: TensorView = { name: 'b', dtype: 'bf16', shape: [2], data: hbOdd.subarray(1) };
  assert.notEqual(u16View(bfOdd).buffer, hbOdd.buffer);
  assert.deepEqual([...u16View(bfOdd)], [...h]);

  assert.throws(() => f32View(bf), (e: unknown) => isBlyanError(e, 'TENSOR_BAD_DTYPE'));
  assert.throws(() => f32View({ ...aligned, shape: [3] }), (e: unknown) => isBlyanError(e, 'TENSOR_BAD_SHAPE'));
});

test('toFloat32 widens bf16 and f16 exactly and dequantises int8 per row', () => {
  const xs = [1, -2, 0.1, 65504, -0, 3e-5];
  const bf = Uint16Array.from(xs, (x) => f32ToBf16(x));
  const f16 = Uint16Array.from(xs, (x) => f32ToF16(x));
  const wb = toFloat32({ name: 'b', dtype: 'bf16', shape: [6], data: bytesOf(bf) });
  const wh = toFloat32({ name: 'h', dtype: 'f16', shape: [2, 3], data: bytesOf(f16) });
  // 0.1 → 205/2048 (bf16: 8 significant bits); 65504 → 2^16; 3e-5 → 252 · 2^-23
  assert.deepEqual([...wb], [1, -2, 205 / 2048, 65536, -0, 252 * 2 ** -23]);
  // 0.1 → 1638/16384; 3e-5 is below 2^-14, an f16 subnormal: 503 · 2^-24
  assert.deepEqual([...wh], [1, -2, 1638 / 16384, 65504, -0, 503 * 2 ** -24]);

  const q = Int8Array.of(127, -127, 0, 64, 1, -1);
  const scales = Float32Array.of(0.5, 2);
  const w = toFloat32({ name: 'q', dtype: 'int8', shape: [2, 3], data: bytesOf(q), scales });
  assert.deepEqual([...w], [63.5, -63.5, 0, 128, 2, -2]);
  assert.throws(() => toFloat32({ name: 'q', dtype: 'int8', shape: [2, 3], data: bytesOf(q) }), (e: unknown) => isBlyanError(e, 'TENSOR_MALFORMED'));
  assert.equal(i8View({ name: 'q', dtype: 'int8', shape: [6], data: bytesOf(q) }).buffer, q.buffer);

  const f = Float32Array.of(1, 2, 3);
  const copy = toFloat32({ name: 'f', dtype: 'f32', shape: [3], data: bytesOf(f) });
  assert.notEqual(copy.buffer, f.buffer, 'toFloat32 always copies');
});

test('quantizeInt8PerRow: symmetric scale, half to even, clamped, deterministic', () => {
  const rows = [
    [127, -63.5, 0.5, 1.5], // scale 1: 0.5 → 0, 1.5 → 2 (ties to even), -63.5 → -64
    [0, 0, 0, 0], // zero row: scale 0, q 0
    [-2.54, 1.27, 0.01, 0.005], // scale 0.02 (f32)
  ];
  const { data, scales } = quantizeInt8PerRow(Float32Array.from(rows.flat()), 3, 4);
  const q = new Int8Array(data.buffer);
  assert.deepEqual([...scales], [1, 0, Math.fround(2.54 / 127)]);
  assert.deepEqual([...q.subarray(0, 8)], [127, -64, 0, 2, 0, 0, 0, 0]);
  assert.equal(q[8], -127);
  assert.ok([...q].every((v) => v >= -127 && v <= 127));
  assert.throws(() => quantizeInt8PerRow(Float32Array.of(1, Number.NaN), 1, 2), (e: unknown) => isBlyanError(e, 'TENSOR_MALFORMED'));
  assert.throws(() => quantizeInt8PerRow(Float32Array.of(1, 2, 3), 2, 2), (e: unknown) => isBlyanError(e, 'TENSOR_BAD_SHAPE'));
});

test('quantizeInt8PerRow: each value within half a step of its dequantised value; max maps to ±127', () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 1, max: 6 }),
      fc.integer({ min: 1, max: 12 }),
      fc.array(fc.float({ noNaN: true, noDefaultInfinity: true, min: Math.fround(-1e30), max: Math.fround(1e30) }), { minLength: 72, maxLength: 72 }),
      (rows, cols, pool) => {
        const x = Float32Array.from(pool.slice(0, rows * cols));
        const { data, scales } = quantizeInt8PerRow(x, rows, cols);
        const again = quantizeInt8PerRow(x, rows, cols);
        assert.deepEqual(again.data, data);
        assert.deepEqual(again.scales, scales);
        const deq = toFloat32({ name: 'q', dtype: 'int8', shape: [rows, cols], data, scales });
        for (let r = 0; r < rows; r++) {
          const s = scales[r] as number;
          let maxAbs = 0;
          for (let c = 0; c < cols; c++) maxAbs = Math.max(maxAbs, Math.abs(x[r * cols + c] as number));
          const q = new Int8Array(data.buffer, r * cols, cols);
          for (let c = 0; c < cols; c++) {
            const i = r * cols + c;
            // Half a step, plus the relative slack of rounding the scale and the product to f32, plus an
            // absolute 2^-142 for rows so small that maxabs/127 is an f32 subnormal (or underflows to 0).
            assert.ok(Math.abs((deq[i] as number) - (x[i] as number)) <= s * 0.5 + maxAbs * 2 ** -20 + 2 ** -142, `row ${r} col ${c}`);
            if (s >= 2 ** -126 && Math.abs(x[i] as number) === maxAbs) assert.equal(Math.abs(q[c] as number), 127, 'the largest value maps to ±127');
          }
        }
      },
    ),
    { numRuns: 500 },
  );
});
