import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { type DType, dtypeBytes } from '../../src/tensor/dtypes.ts';
import { decodeTensorBlock, encodeTensorBlock, type TensorInput } from '../../src/tensor/tensorBlock.ts';

const dtypeArb = fc.constantFrom<DType>('f32', 'bf16', 'f16', 'int8');
const shapeArb = fc.array(fc.integer({ min: 1, max: 6 }), { minLength: 1, maxLength: 4 });
/** Names the format allows: no control characters (U+0000–U+001F, U+007F). */
const isControl = (c: string) => (c.codePointAt(0) as number) < 0x20 || c === '\u007f';
const nameArb = fc.string({ minLength: 1, maxLength: 20, unit: 'grapheme' }).filter((s) => ![...s].some(isControl));
const scaleArb = fc.float({ min: 0, max: Math.fround(1e30), noNaN: true });

function tensorArb(name: string): fc.Arbitrary<TensorInput> {
  return fc.tuple(dtypeArb, shapeArb).chain(([dtype, shape]): fc.Arbitrary<TensorInput> => {
    const n = shape.reduce((a, b) => a * b, 1);
    const rows = n / (shape[shape.length - 1] as number);
    const data = fc.uint8Array({ minLength: n * dtypeBytes(dtype), maxLength: n * dtypeBytes(dtype) });
    if (dtype !== 'int8') return data.map((d) => ({ name, dtype, shape, data: d }));
    return fc.tuple(data, fc.array(scaleArb, { minLength: rows, maxLength: rows })).map(([d, s]) => ({ name, dtype, shape, data: d, scales: Float32Array.from(s) }));
  });
}

const blockArb = fc.uniqueArray(nameArb, { minLength: 1, maxLength: 8 }).chain((names) => fc.tuple(...names.map(tensorArb)));

test('property: decode(encode(tensors)) gives the tensors back, as views, and re-encodes to the same bytes', () => {
  fc.assert(
    fc.property(blockArb, (tensors) => {
      const payload = encodeTensorBlock(tensors);
      const tb = decodeTensorBlock(payload);
      assert.equal(tb.tensors.length, tensors.length);
      tensors.forEach((t, i) => {
        const got = tb.tensors[i];
        assert.ok(got !== undefined);
        assert.equal(got.name, t.name);
        assert.equal(got.dtype, t.dtype);
        assert.deepEqual([...got.shape], [...t.shape]);
        assert.deepEqual(got.data, t.data);
        assert.equal(got.data.buffer, payload.buffer);
        assert.equal(got.data.byteOffset % 64, 0);
        if (t.scales === undefined) assert.equal(got.scales, undefined);
        else {
          assert.deepEqual(got.scales, t.scales);
          assert.equal(got.scales?.buffer, payload.buffer);
        }
        assert.equal(tb.get(t.name), got);
      });
      assert.deepEqual(encodeTensorBlock(tb.tensors), payload);
    }),
    { numRuns: 400 },
  );
});

test('property: the encoding depends on tensor order (order is kept), and on every data byte', () => {
  fc.assert(
    fc.property(blockArb, fc.nat(), (tensors, pick) => {
      const payload = encodeTensorBlock(tensors);
      if (tensors.length > 1) {
        const reversed = encodeTensorBlock([...tensors].reverse());
        assert.notDeepEqual(reversed, payload);
        assert.deepEqual(
          decodeTensorBlock(reversed).tensors.map((t) => t.name),
          [...tensors].reverse().map((t) => t.name),
        );
      }
      const t = tensors[pick % tensors.length] as TensorInput;
      const changed = t.data.slice();
      const at = pick % changed.length;
      changed[at] = (changed[at] as number) ^ 1;
      const other = encodeTensorBlock(tensors.map((x) => (x === t ? { ...x, data: changed } : x)));
      assert.equal(other.byteLength, payload.byteLength);
      assert.notDeepEqual(other, payload);
    }),
    { numRuns: 200 },
  );
});
