import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as dagCbor from '@ipld/dag-cbor';
import { type BlyanErrorCode, isBlyanError } from '../../src/errors.ts';
import { decodeTensorBlock, encodeTensorBlock, MAX_HEADER_BYTES, MAX_TENSORS, type TensorInput } from '../../src/tensor/tensorBlock.ts';
import { bytesOf, type Cbor, cbor, craft, sampleTensors } from './helpers.ts';

const EXAMPLE: TensorInput[] = [
  { name: 'bias', dtype: 'f32', shape: [2], data: bytesOf(Float32Array.of(1, -2)) },
  { name: 'w', dtype: 'int8', shape: [2, 2], data: bytesOf(Int8Array.of(1, -1, 127, 0)), scales: Float32Array.of(0.5, 0.25) },
];

/** The worked example of docs/tensorblock.md, byte for byte (zero runs written as z(n)). */
const z = (n: number) => '00'.repeat(n);
const EXAMPLE_HEX = [
  '424c5954', '0100', '0000', '84000000', // "BLYT", version 1, flags 0, header length 132 (u16/u32 LE)
  'a1', '67', '74656e736f7273', '82', // {"tensors": [ …2 entries
  'a5', '64', '6e616d65', '64', '62696173', // {"name": "bias",
  '65', '6474797065', '63', '663332', // "dtype": "f32",
  '65', '7368617065', '81', '02', // "shape": [2],
  '66', '6c656e677468', '08', // "length": 8,
  '66', '6f6666736574', '18', 'c0', // "offset": 192}
  'a7', '64', '6e616d65', '61', '77', // {"name": "w",
  '65', '6474797065', '64', '696e7438', // "dtype": "int8",
  '65', '7368617065', '82', '02', '02', // "shape": [2, 2],
  '66', '6c656e677468', '04', // "length": 4,
  '66', '6f6666736574', '19', '0100', // "offset": 256,
  '6c', '7363616c65734c656e677468', '08', // "scalesLength": 8,
  '6c', '7363616c65734f6666736574', '19', '0140', // "scalesOffset": 320}]}
  z(48), // zero padding from 144 to 192, where the data area starts
  '0000803f', '000000c0', z(56), // bias = [1, -2] as f32 LE; padding to 256
  '01ff7f00', z(60), // w = [[1, -1], [127, 0]] as int8; padding to 320
  '0000003f', '0000803e', // scales of w = [0.5, 0.25] as f32 LE; the payload ends here, at 328
].join('');

function expectError(payload: Uint8Array, code: BlyanErrorCode, check: string, tensor?: string): void {
  assert.throws(
    () => decodeTensorBlock(payload),
    (e: unknown) => {
      assert.ok(isBlyanError(e), `expected a BlyanError, got ${String(e)}`);
      assert.equal(e.code, code, e.message);
      assert.equal(e.data.check, check, e.message);
      if (tensor !== undefined) {
        assert.equal(e.data.tensor, tensor, e.message);
        assert.ok(e.message.includes(`"${tensor}"`), 'the message names the tensor');
      }
      return true;
    },
  );
}

test('the worked example of docs/tensorblock.md', () => {
  const payload = encodeTensorBlock(EXAMPLE);
  assert.equal(Buffer.from(payload).toString('hex'), EXAMPLE_HEX);
  const tb = decodeTensorBlock(payload);
  assert.deepEqual(
    tb.tensors.map((t) => [t.name, t.data.byteOffset, t.data.byteLength, t.scales?.byteOffset]),
    [
      ['bias', 192, 8, undefined],
      ['w', 256, 4, 320],
    ],
  );
});

test('round trip: every dtype, int8 with scales, order kept, get() by name', () => {
  const input = sampleTensors();
  const payload = encodeTensorBlock(input);
  const tb = decodeTensorBlock(payload);
  assert.deepEqual(
    tb.tensors.map((t) => t.name),
    input.map((t) => t.name),
  );
  for (const t of input) {
    const got = tb.get(t.name);
    assert.equal(got.dtype, t.dtype);
    assert.deepEqual([...got.shape], [...t.shape]);
    assert.deepEqual(got.data, t.data);
    assert.deepEqual(got.scales, t.scales);
    assert.ok(tb.has(t.name));
  }
  assert.equal(tb.has('nope'), false);
  assert.throws(() => tb.get('nope'), (e: unknown) => isBlyanError(e, 'TENSOR_NOT_FOUND') && e.message.includes('"nope"'));
  // Deterministic and canonical: encoding again, or re-encoding what was decoded, gives the same bytes.
  assert.deepEqual(encodeTensorBlock(input), payload);
  assert.deepEqual(encodeTensorBlock(tb.tensors.map((t) => ({ ...t }))), payload);
});

test('layout: data area and every region start at multiples of 64; all padding is zero', () => {
  const payload = encodeTensorBlock(sampleTensors());
  const headerLength = new DataView(payload.buffer).getUint32(8, true);
  const tb = decodeTensorBlock(payload);
  const first = tb.tensors[0]?.data.byteOffset as number;
  assert.equal(first, Math.ceil((12 + headerLength) / 64) * 64);
  const covered = new Uint8Array(payload.byteLength);
  covered.fill(1, 0, 12 + headerLength);
  for (const t of tb.tensors) {
    assert.equal(t.data.byteOffset % 64, 0);
    covered.fill(1, t.data.byteOffset, t.data.byteOffset + t.data.byteLength);
    if (t.scales) {
      assert.equal(t.scales.byteOffset % 64, 0);
      covered.fill(1, t.scales.byteOffset, t.scales.byteOffset + t.scales.byteLength);
    }
  }
  for (let i = 0; i < payload.byteLength; i++) if (covered[i] === 0) assert.equal(payload[i], 0, `padding byte ${i}`);
});

test('zero copy: views share the payload buffer, also inside a larger buffer (LMDB-style)', () => {
  const payload = encodeTensorBlock(sampleTensors());
  for (const shift of [0, 64, 4, 1]) {
    const arena = new Uint8Array(payload.byteLength + 200);
    arena.set(payload, shift);
    const view = arena.subarray(shift, shift + payload.byteLength);
    const tb = decodeTensorBlock(view);
    for (const t of tb.tensors) {
      assert.equal(t.data.buffer, arena.buffer, `${t.name} data is a view (shift ${shift})`);
      assert.ok(t.data.byteOffset >= shift && t.data.byteOffset + t.data.byteLength <= shift + payload.byteLength);
      if (t.scales !== undefined) {
        // Scales are a view whenever their absolute offset is 4-aligned; at shift 1 they are a documented copy.
        assert.equal(t.scales.buffer === arena.buffer, shift % 4 === 0, `${t.name} scales at shift ${shift}`);
      }
    }
    // Proof by mutation: a write into the arena shows through the decoded view.
    const w1 = tb.get('w1');
    arena[w1.data.byteOffset] = 0xab;
    assert.equal(w1.data[0], 0xab);
  }
});

test('encoder refuses bad input with typed errors', () => {
  const ok = sampleTensors();
  const cases: [string, TensorInput[], BlyanErrorCode][] = [
    ['no tensors', [], 'TENSOR_MALFORMED'],
    ['duplicate names', [ok[0] as TensorInput, ok[0] as TensorInput], 'TENSOR_MALFORMED'],
    ['empty name', [{ ...(ok[0] as TensorInput), name: '' }], 'TENSOR_MALFORMED'],
    ['control character in name', [{ ...(ok[0] as TensorInput), name: 'a\nb' }], 'TENSOR_MALFORMED'],
    ['unknown dtype', [{ ...(ok[0] as TensorInput), dtype: 'f64' as never }], 'TENSOR_BAD_DTYPE'],
    ['short data', [{ ...(ok[0] as TensorInput), data: new Uint8Array(4) }], 'TENSOR_BAD_SHAPE'],
    ['zero dim', [{ ...(ok[0] as TensorInput), shape: [0, 5], data: new Uint8Array(0) }], 'TENSOR_BAD_SHAPE'],
    ['scalar', [{ ...(ok[0] as TensorInput), shape: [], data: new Uint8Array(4) }], 'TENSOR_BAD_SHAPE'],
    ['int8 without scales', [{ name: 'q', dtype: 'int8', shape: [2, 2], data: new Uint8Array(4) }], 'TENSOR_MALFORMED'],
    ['int8 with wrong scale count', [{ name: 'q', dtype: 'int8', shape: [2, 2], data: new Uint8Array(4), scales: new Float32Array(3) }], 'TENSOR_MALFORMED'],
    ['NaN scale', [{ name: 'q', dtype: 'int8', shape: [2, 2], data: new Uint8Array(4), scales: Float32Array.of(1, Number.NaN) }], 'TENSOR_MALFORMED'],
    ['negative scale', [{ name: 'q', dtype: 'int8', shape: [2, 2], data: new Uint8Array(4), scales: Float32Array.of(1, -1) }], 'TENSOR_MALFORMED'],
    ['scales on f32', [{ ...(ok[0] as TensorInput), scales: new Float32Array(3) }], 'TENSOR_MALFORMED'],
  ];
  for (const [what, input, code] of cases) assert.throws(() => encodeTensorBlock(input), (e: unknown) => isBlyanError(e, code), what);
});

test('limits: 4096 tensors encode and decode; 4097 do not', () => {
  const many = Array.from({ length: MAX_TENSORS }, (_, i) => ({ name: `t${i}`, dtype: 'int8' as const, shape: [1], data: Uint8Array.of(i & 0x7f), scales: Float32Array.of(1) }));
  const tb = decodeTensorBlock(encodeTensorBlock(many));
  assert.equal(tb.tensors.length, MAX_TENSORS);
  assert.equal(tb.get('t4095').data[0], 4095 & 0x7f);
  assert.throws(() => encodeTensorBlock([...many, { ...(many[0] as TensorInput), name: 'extra' }]), (e: unknown) => isBlyanError(e, 'TENSOR_MALFORMED'));
  const tooMany = craft((s) => ({ tensors: Array.from({ length: MAX_TENSORS + 1 }, (_, i) => ({ name: `t${i}`, dtype: 'f32', shape: [1], offset: s + 64 * i, length: 4 })) }));
  expectError(tooMany, 'TENSOR_MALFORMED', 'count');
});

// ---- the decoder's checks, one malformed input each ----

const entry = (start: number, over: Record<string, unknown> = {}) => ({ name: 'a', dtype: 'f32', shape: [2], offset: start, length: 8, ...over });
const one = (over: Record<string, unknown> = {}) => craft((s) => ({ tensors: [entry(s, over)] }));

test('decoder: preamble checks (truncated, magic, version, flags, header length)', () => {
  const good = encodeTensorBlock(EXAMPLE);
  expectError(good.subarray(0, 11), 'TENSOR_MALFORMED', 'truncated');
  expectError(new Uint8Array(0), 'TENSOR_MALFORMED', 'truncated');
  const patch = (pos: number, bytes: number[]) => {
    const p = good.slice();
    p.set(bytes, pos);
    return p;
  };
  expectError(patch(0, [0x42, 0x4c, 0x59, 0x55]), 'TENSOR_MALFORMED', 'magic');
  expectError(patch(4, [2, 0]), 'TENSOR_MALFORMED', 'version');
  expectError(patch(6, [1, 0]), 'TENSOR_MALFORMED', 'flags');
  expectError(patch(8, [0xff, 0xff, 0xff, 0xff]), 'TENSOR_MALFORMED', 'headerLength');
  const over = MAX_HEADER_BYTES + 1;
  expectError(patch(8, [over & 0xff, (over >> 8) & 0xff, over >> 16, 0]), 'TENSOR_MALFORMED', 'headerLength');
  const pastEnd = good.slice();
  new DataView(pastEnd.buffer).setUint32(8, good.byteLength - 11, true); // 12 + H is one byte past the end
  expectError(pastEnd, 'TENSOR_MALFORMED', 'headerLength');
});

test('decoder: header must be canonical DAG-CBOR of the right shape', () => {
  const raw = (bytes: number[] | Uint8Array, size?: number) => craft(() => null, { headerBytes: () => Uint8Array.from(bytes), ...(size === undefined ? {} : { size: () => size }) });
  expectError(raw([0xff, 0x00]), 'TENSOR_MALFORMED', 'cbor');
  expectError(raw([]), 'TENSOR_MALFORMED', 'cbor');
  const good = (s: number): Cbor => ({ entries: [['tensors', [{ entries: [['name', 'a'], ['dtype', 'f32'], ['shape', [2]], ['length', 8], ['offset', s]] }]]] });
  // Sanity: the hand-written CBOR is exactly what dag-cbor writes, and decodes.
  assert.equal(decodeTensorBlock(craft(good, { headerBytes: (v) => Uint8Array.from(cbor(v as Cbor)), size: (s) => s + 8 })).get('a').data.byteLength, 8);
  // Keys out of canonical order; an integer in a longer form than needed; a repeated key.
  const reordered = (s: number): Cbor => ({ entries: [['tensors', [{ entries: [['dtype', 'f32'], ['name', 'a'], ['shape', [2]], ['length', 8], ['offset', s]] }]]] });
  expectError(craft(reordered, { headerBytes: (v) => Uint8Array.from(cbor(v as Cbor)), size: (s) => s + 8 }), 'TENSOR_MALFORMED', 'canonical');
  const longInt = (s: number): Cbor => ({ entries: [['tensors', [{ entries: [['name', 'a'], ['dtype', 'f32'], ['shape', [2]], ['length', { long: 8 }], ['offset', s]] }]]] });
  // (dag-cbor's strict decoder already refuses non-minimal integers; the re-encoding check would too)
  expectError(craft(longInt, { headerBytes: (v) => Uint8Array.from(cbor(v as Cbor)), size: (s) => s + 8 }), 'TENSOR_MALFORMED', 'cbor');
  const repeated = (s: number): Cbor => ({ entries: [['tensors', [{ entries: [['name', 'a'], ['name', 'a'], ['dtype', 'f32'], ['shape', [2]], ['length', 8], ['offset', s]] }]]] });
  expectError(craft(repeated, { headerBytes: (v) => Uint8Array.from(cbor(v as Cbor)), size: (s) => s + 8 }), 'TENSOR_MALFORMED', 'cbor');
  // A "__proto__" key must not be able to smuggle fields in through the prototype.
  const proto = (s: number): Cbor => ({ entries: [['tensors', [{ entries: [['name', 'a'], ['dtype', 'f32'], ['shape', [2]], ['length', 8], ['offset', s], ['__proto__', { entries: [['x', 1]] }]] }]]] });
  assert.throws(() => decodeTensorBlock(craft(proto, { headerBytes: (v) => Uint8Array.from(cbor(v as Cbor)), size: (s) => s + 8 })), (e: unknown) => isBlyanError(e, 'TENSOR_MALFORMED'));
  // Trailing bytes after the CBOR item inside the declared header.
  expectError(craft((s) => ({ tensors: [entry(s)] }), { headerBytes: (v) => Uint8Array.from([...dagCbor.encode(v), 0]) }), 'TENSOR_MALFORMED', 'cbor');

  expectError(craft(() => [1, 2]), 'TENSOR_MALFORMED', 'field');
  expectError(craft(() => ({ tensors: 1 })), 'TENSOR_MALFORMED', 'field');
  expectError(craft((s) => ({ tensors: [entry(s)], extra: 1 })), 'TENSOR_MALFORMED', 'field');
  expectError(craft(() => ({ tensors: [] })), 'TENSOR_MALFORMED', 'count');
  expectError(craft(() => ({ tensors: [7] })), 'TENSOR_MALFORMED', 'field');
});

test('decoder: field checks name the tensor', () => {
  expectError(one({ name: '' }), 'TENSOR_MALFORMED', 'name');
  expectError(one({ name: 'x'.repeat(257) }), 'TENSOR_MALFORMED', 'name');
  expectError(one({ name: 'a\u0000' }), 'TENSOR_MALFORMED', 'name');
  expectError(one({ name: 5 }), 'TENSOR_MALFORMED', 'name');
  expectError(one({ extra: 1 }), 'TENSOR_MALFORMED', 'field', 'a');
  expectError(craft((s) => ({ tensors: [{ name: 'a', shape: [2], offset: s, length: 8 }] })), 'TENSOR_MALFORMED', 'field', 'a');
  expectError(one({ dtype: 'f64' }), 'TENSOR_BAD_DTYPE', 'dtype', 'a');
  expectError(one({ dtype: 'F32' }), 'TENSOR_BAD_DTYPE', 'dtype', 'a');
  expectError(one({ shape: [] }), 'TENSOR_BAD_SHAPE', 'shape', 'a');
  expectError(one({ shape: [0] }), 'TENSOR_BAD_SHAPE', 'shape', 'a');
  expectError(one({ shape: [-2] }), 'TENSOR_BAD_SHAPE', 'shape', 'a');
  expectError(one({ shape: [1.5] }), 'TENSOR_BAD_SHAPE', 'shape', 'a');
  expectError(one({ shape: [2, '1'] }), 'TENSOR_BAD_SHAPE', 'shape', 'a');
  expectError(one({ shape: [1, 1, 1, 1, 1, 1, 1, 1, 2] }), 'TENSOR_BAD_SHAPE', 'shape', 'a');
  expectError(one({ shape: [2 ** 40, 2 ** 40, 2 ** 40] }), 'TENSOR_BAD_SHAPE', 'size', 'a');
  expectError(one({ length: 4 }), 'TENSOR_BAD_SHAPE', 'length', 'a');
  expectError(one({ length: -8 }), 'TENSOR_MALFORMED', 'field', 'a');
  expectError(one({ length: 8.5 }), 'TENSOR_MALFORMED', 'field', 'a');
  expectError(one({ offset: 'x' }), 'TENSOR_MALFORMED', 'field', 'a');
  expectError(craft((s) => ({ tensors: [entry(s, { offset: 2n ** 60n })] }), { size: (s) => s + 8 }), 'TENSOR_MALFORMED', 'field', 'a');
  expectError(craft((s) => ({ tensors: [entry(s), entry(s + 64)] })), 'TENSOR_MALFORMED', 'duplicate', 'a');
});

test('decoder: layout checks (alignment, overlap, gap, bounds, trailing bytes, padding)', () => {
  expectError(one({ offset: undefined }), 'TENSOR_MALFORMED', 'field', 'a');
  expectError(craft((s) => ({ tensors: [entry(s, { offset: s + 1 })] })), 'TENSOR_MALFORMED', 'alignment', 'a');
  expectError(craft((s) => ({ tensors: [entry(s, { offset: s - 64 })] })), 'TENSOR_MALFORMED', 'overlap', 'a');
  expectError(craft((s) => ({ tensors: [entry(s, { offset: 0 })] }), { size: (s) => s + 8 }), 'TENSOR_MALFORMED', 'overlap', 'a');
  expectError(craft((s) => ({ tensors: [entry(s, { offset: s + 64 })] })), 'TENSOR_MALFORMED', 'gap', 'a');
  const two = (s: number, second: number) => ({ tensors: [entry(s), { ...entry(s), name: 'b', shape: [32], length: 128, offset: second }] });
  expectError(craft((s) => two(s, s)), 'TENSOR_MALFORMED', 'overlap', 'b');
  expectError(craft((s) => two(s, s + 128)), 'TENSOR_MALFORMED', 'gap', 'b');
  const good = craft((s) => two(s, s + 64));
  assert.equal(decodeTensorBlock(good).get('b').data.byteLength, 128);
  expectError(good.subarray(0, good.byteLength - 1), 'TENSOR_MALFORMED', 'bounds', 'b');
  expectError(Uint8Array.from([...good, 0]), 'TENSOR_MALFORMED', 'trailing');
  const dirty = good.slice();
  dirty[(decodeTensorBlock(good).get('a').data.byteOffset as number) + 8] = 1; // first padding byte after a's data
  expectError(dirty, 'TENSOR_MALFORMED', 'padding', 'b');
  const dirtyHeaderPad = good.slice();
  dirtyHeaderPad[(decodeTensorBlock(good).get('a').data.byteOffset as number) - 1] = 1;
  expectError(dirtyHeaderPad, 'TENSOR_MALFORMED', 'padding', 'a');
});

test('decoder: int8 scales present exactly for int8, the right length, finite', () => {
  const q = (s: number, over: Record<string, unknown> = {}) => ({ tensors: [{ name: 'q', dtype: 'int8', shape: [3, 2], offset: s, length: 6, scalesOffset: s + 64, scalesLength: 12, ...over }] });
  assert.equal(decodeTensorBlock(craft(q)).get('q').scales?.length, 3);
  expectError(craft((s) => q(s, { scalesOffset: undefined, scalesLength: undefined })), 'TENSOR_MALFORMED', 'scales', 'q');
  expectError(craft((s) => q(s, { scalesLength: undefined })), 'TENSOR_MALFORMED', 'scales', 'q');
  expectError(craft((s) => q(s, { scalesLength: 8 })), 'TENSOR_MALFORMED', 'scales', 'q');
  expectError(craft((s) => q(s, { scalesOffset: s + 8 })), 'TENSOR_MALFORMED', 'alignment', 'q');
  expectError(craft((s) => q(s, { scalesOffset: s + 128 })), 'TENSOR_MALFORMED', 'gap', 'q');
  expectError(craft((s) => q(s, { scalesOffset: s })), 'TENSOR_MALFORMED', 'overlap', 'q');
  expectError(one({ scalesOffset: 0, scalesLength: 4 }), 'TENSOR_MALFORMED', 'scales', 'a');
  for (const bad of [Number.NaN, Number.POSITIVE_INFINITY, -1]) {
    const p = craft(q);
    const at = decodeTensorBlock(p).get('q').scales?.byteOffset as number;
    new DataView(p.buffer).setFloat32(at + 4, bad, true);
    expectError(p, 'TENSOR_MALFORMED', 'scales', 'q');
  }
});
