import assert from 'node:assert/strict';
import { readFileSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { type BlyanErrorCode, isBlyanError } from '../../src/errors.ts';
import { openSafetensors, type SafetensorsInput, writeSafetensors } from '../../src/tensor/safetensors.ts';
import { f32View, toFloat32 } from '../../src/tensor/tensor.ts';
import { bytesOf, GOLDEN, pseudoRandomBytes, tempDir } from './helpers.ts';

const tmp = tempDir();
after(tmp.cleanup);
let fileCount = 0;
const tmpFile = () => join(tmp.dir, `f${fileCount++}.safetensors`);

/** A file from raw parts: u64 LE header length (or `length`), header text, then data bytes. */
function rawFile(header: string | Uint8Array, data: Uint8Array = new Uint8Array(0), length?: bigint): string {
  const h = typeof header === 'string' ? Buffer.from(header, 'utf8') : header;
  const n = new Uint8Array(8);
  new DataView(n.buffer).setBigUint64(0, length ?? BigInt(h.byteLength), true);
  const path = tmpFile();
  writeFileSync(path, Buffer.concat([n, h, data]));
  return path;
}

function expectError(path: string, code: BlyanErrorCode, check: string, tensor?: string): void {
  assert.throws(
    () => openSafetensors(path),
    (e: unknown) => {
      assert.ok(isBlyanError(e), `expected a BlyanError, got ${String(e)}`);
      assert.equal(e.code, code, e.message);
      assert.equal(e.data.check, check, e.message);
      if (tensor !== undefined) assert.equal(e.data.tensor, tensor, e.message);
      return true;
    },
  );
}

function roundTrip(path: string, out: string): void {
  const f = openSafetensors(path);
  try {
    const tensors: SafetensorsInput[] = [...f.tensors].map(([name, info]) => ({ name, dtype: info.dtype, shape: info.shape, data: f.read(name) }));
    writeSafetensors(out, tensors, f.metadata ?? undefined, f.metadataPosition === 'first' ? { metadataPosition: 'first' } : {});
  } finally {
    f.close();
  }
}

for (const golden of GOLDEN) {
  test(`golden ${golden.split('/').at(-2)}: read and written back byte-identical`, () => {
    const f = openSafetensors(golden);
    try {
      assert.deepEqual(f.metadata, { format: 'pt' });
      assert.equal(f.metadataPosition, 'last');
      assert.deepEqual(f.gaps, []);
      const lm = f.tensors.get('lm_head.weight');
      assert.deepEqual(lm && { shape: [...lm.shape], begin: lm.begin }, { shape: [320, 64], begin: 0 });
      const dtypes = new Set([...f.tensors.values()].map((t) => t.dtype));
      assert.deepEqual([...dtypes], [golden.includes('bf16') ? 'bf16' : 'f32']);
      // read() returns exactly the tensor's range, at offset 0 of its own buffer (aligned for typed views).
      const norm = f.read('model.norm.weight');
      assert.equal(norm.byteLength, 64 * (golden.includes('bf16') ? 2 : 4));
      assert.equal(norm.byteOffset, 0);
      const whole = readFileSync(golden);
      const info = f.tensors.get('model.norm.weight');
      assert.ok(info);
      assert.deepEqual(norm, new Uint8Array(whole.subarray(f.dataOffset + info.begin, f.dataOffset + info.end)));
      const values = toFloat32({ name: 'model.norm.weight', dtype: info.dtype, shape: info.shape, data: norm });
      assert.ok(values.every(Number.isFinite));
    } finally {
      f.close();
    }
    const out = tmpFile();
    roundTrip(golden, out);
    assert.ok(readFileSync(out).equals(readFileSync(golden)), 'byte-identical');
  });
}

test('writer matches the reference crate byte for byte (vectors from safetensors/src/tensor.rs tests)', () => {
  // test_serialization: "attn.0" F32 [1, 2, 3] = 0..5
  const data = bytesOf(Float32Array.of(0, 1, 2, 3, 4, 5));
  const a = tmpFile();
  writeSafetensors(a, [{ name: 'attn.0', dtype: 'f32', shape: [1, 2, 3], data }]);
  const header = '{"attn.0":{"dtype":"F32","shape":[1,2,3],"data_offsets":[0,24]}}';
  assert.deepEqual(readFileSync(a), Buffer.concat([Buffer.from([64, 0, 0, 0, 0, 0, 0, 0]), Buffer.from(header), data]));
  // test_serialization_forced_alignement: 7 spaces pad the header to 72 bytes
  const b = tmpFile();
  writeSafetensors(b, [{ name: 'attn0', dtype: 'f32', shape: [1, 1, 2, 3], data }]);
  const header2 = '{"attn0":{"dtype":"F32","shape":[1,1,2,3],"data_offsets":[0,24]}}       ';
  assert.deepEqual(readFileSync(b), Buffer.concat([Buffer.from([72, 0, 0, 0, 0, 0, 0, 0]), Buffer.from(header2), data]));
  // test_empty: "{}" and 6 spaces; with metadata, the ≥ 0.5 position ("first") is the crate's current output
  const c = tmpFile();
  writeSafetensors(c, []);
  assert.deepEqual([...readFileSync(c)], [8, 0, 0, 0, 0, 0, 0, 0, 123, 125, 32, 32, 32, 32, 32, 32]);
  const d = tmpFile();
  writeSafetensors(d, [], { framework: 'pt' }, { metadataPosition: 'first' });
  assert.deepEqual(readFileSync(d).subarray(8).toString(), '{"__metadata__":{"framework":"pt"}}     ');
  assert.equal(openSafetensors(d).metadataPosition, 'last', 'the only key is reported as last');
});

test('writer: dtype-then-name order, escaping, metadata position, and the reader agrees', () => {
  const path = tmpFile();
  const tensors: SafetensorsInput[] = [
    { name: 'b', dtype: 'int8', shape: [3], data: Uint8Array.of(1, 2, 3) },
    { name: 'a', dtype: 'int8', shape: [1], data: Uint8Array.of(9) },
    { name: 'z', dtype: 'f16', shape: [2], data: pseudoRandomBytes(1, 4) },
    { name: 'y', dtype: 'bf16', shape: [1], data: pseudoRandomBytes(2, 2) },
    { name: 'x"\n\u0001é😀', dtype: 'f32', shape: [2], data: pseudoRandomBytes(3, 8) },
    { name: 'empty', dtype: 'f32', shape: [0, 4], data: new Uint8Array(0) },
    { name: 'scalar', dtype: 'f32', shape: [], data: pseudoRandomBytes(4, 4) },
  ];
  writeSafetensors(path, tensors, { format: 'pt', note: 'a "quoted"\tvalue' }, { metadataPosition: 'first' });
  const text = readFileSync(path).subarray(8).toString();
  assert.ok(text.startsWith('{"__metadata__":{"format":"pt","note":"a \\"quoted\\"\\tvalue"},"empty":'));
  assert.ok(text.includes('"x\\"\\n\\u0001é😀":{"dtype":"F32"'), 'serde_json escaping: lowercase \\u00xx, UTF-8 kept');
  const f = openSafetensors(path);
  assert.deepEqual([...f.tensors.keys()], ['empty', 'scalar', 'x"\n\u0001é😀', 'y', 'z', 'a', 'b'], 'F32, BF16, F16, I8; names in byte order');
  assert.equal(f.metadataPosition, 'first');
  assert.deepEqual(f.metadata, { format: 'pt', note: 'a "quoted"\tvalue' });
  for (const t of tensors) assert.deepEqual(f.read(t.name), t.data);
  f.close();
  assert.throws(() => f.read('a'), (e: unknown) => isBlyanError(e, 'BAD_ARGUMENT'), 'closed');
  const again = tmpFile();
  roundTrip(path, again);
  assert.ok(readFileSync(again).equals(readFileSync(path)));
});

test('writer refuses bad input', () => {
  const ok: SafetensorsInput = { name: 'a', dtype: 'f32', shape: [1], data: new Uint8Array(4) };
  const cases: [string, SafetensorsInput[], BlyanErrorCode][] = [
    ['duplicate', [ok, ok], 'BAD_ARGUMENT'],
    ['reserved name', [{ ...ok, name: '__metadata__' }], 'BAD_ARGUMENT'],
    ['lone surrogate', [{ ...ok, name: 'a\ud800' }], 'BAD_ARGUMENT'],
    ['length', [{ ...ok, data: new Uint8Array(3) }], 'BAD_ARGUMENT'],
    ['shape', [{ ...ok, shape: [-1] }], 'BAD_ARGUMENT'],
    ['dtype', [{ ...ok, dtype: 'F32' as never }], 'TENSOR_BAD_DTYPE'],
  ];
  for (const [what, input, code] of cases) assert.throws(() => writeSafetensors(tmpFile(), input), (e: unknown) => isBlyanError(e, code), what);
});

test('reader: zero-length data area, gaps are allowed and reported', () => {
  const f = openSafetensors(rawFile('{"a":{"dtype":"F32","shape":[1],"data_offsets":[8,12]},"b":{"dtype":"I8","shape":[2],"data_offsets":[12,14]}}', new Uint8Array(20)));
  assert.deepEqual(f.gaps, [
    { begin: 0, end: 8 },
    { begin: 14, end: 20 },
  ]);
  assert.equal(f.read('a').byteLength, 4);
  assert.throws(() => f.read('c'), (e: unknown) => isBlyanError(e, 'TENSOR_NOT_FOUND'));
  f.close();
  f.close(); // idempotent
  const empty = openSafetensors(rawFile('{}'));
  assert.equal(empty.tensors.size, 0);
  assert.equal(empty.metadata, null);
  const nullMeta = openSafetensors(rawFile('{"__metadata__":null}'));
  assert.equal(nullMeta.metadata, null);
});

test('reader: truncated files and bad header lengths', () => {
  expectError(rawFile(new Uint8Array(0)), 'SAFETENSORS_MALFORMED', 'json'); // a 0-byte header
  const tiny = tmpFile();
  writeFileSync(tiny, Uint8Array.of(1, 2, 3));
  expectError(tiny, 'SAFETENSORS_MALFORMED', 'truncated');
  expectError(rawFile('{}', new Uint8Array(0), 100_000_001n), 'SAFETENSORS_MALFORMED', 'headerLength');
  expectError(rawFile('{}', new Uint8Array(0), 2n ** 64n - 1n), 'SAFETENSORS_MALFORMED', 'headerLength');
  expectError(rawFile('{}', new Uint8Array(0), 3n), 'SAFETENSORS_MALFORMED', 'truncated');
  // A golden file cut short: the last tensor's offsets now run past the data area.
  const cut = tmpFile();
  const whole = readFileSync(GOLDEN[0]);
  writeFileSync(cut, whole.subarray(0, whole.byteLength - 1));
  expectError(cut, 'SAFETENSORS_MALFORMED', 'offsets');
  // Truncated after it was opened: read() notices the short read.
  const later = tmpFile();
  writeFileSync(later, whole);
  const f = openSafetensors(later);
  truncateSync(later, 9000);
  assert.throws(() => f.read('model.norm.weight'), (e: unknown) => isBlyanError(e, 'SAFETENSORS_MALFORMED') && e.data.check === 'truncated');
  f.close();
});

test('reader: bad header text and JSON', () => {
  expectError(rawFile(Uint8Array.of(0x7b, 0xff, 0x7d)), 'SAFETENSORS_MALFORMED', 'utf8');
  expectError(rawFile(Uint8Array.of(0xef, 0xbb, 0xbf, 0x7b, 0x7d)), 'SAFETENSORS_MALFORMED', 'json'); // a BOM is not JSON
  expectError(rawFile('{"a":'), 'SAFETENSORS_MALFORMED', 'json');
  expectError(rawFile('[]'), 'SAFETENSORS_MALFORMED', 'json');
  expectError(rawFile('"x"'), 'SAFETENSORS_MALFORMED', 'json');
  expectError(rawFile('{"a":{"dtype":"I8","shape":[1],"data_offsets":[0,1]},"a":{"dtype":"I8","shape":[1],"data_offsets":[1,2]}}', new Uint8Array(2)), 'SAFETENSORS_MALFORMED', 'json');
  expectError(rawFile('{"a":{"dtype":"I8","dtype":"I8","shape":[1],"data_offsets":[0,1]}}', new Uint8Array(1)), 'SAFETENSORS_MALFORMED', 'json');
  expectError(rawFile('{"__metadata__":{"k":1}}'), 'SAFETENSORS_MALFORMED', 'metadata');
  expectError(rawFile('{"__metadata__":["x"]}'), 'SAFETENSORS_MALFORMED', 'metadata');
});

test('reader: bad tensor entries name the tensor', () => {
  const one = (info: string, data = new Uint8Array(16)) => rawFile(`{"w":${info}}`, data);
  expectError(one('7'), 'SAFETENSORS_MALFORMED', 'field', 'w');
  expectError(one('{"dtype":"F32","shape":[1],"data_offsets":[0,4],"extra":1}'), 'SAFETENSORS_MALFORMED', 'field', 'w');
  expectError(one('{"dtype":"F64","shape":[1],"data_offsets":[0,8]}'), 'TENSOR_BAD_DTYPE', 'dtype', 'w');
  expectError(one('{"dtype":"BOOL","shape":[1],"data_offsets":[0,1]}'), 'TENSOR_BAD_DTYPE', 'dtype', 'w');
  expectError(one('{"shape":[1],"data_offsets":[0,4]}'), 'TENSOR_BAD_DTYPE', 'dtype', 'w');
  expectError(one('{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}'), 'TENSOR_BAD_SHAPE', 'shape', 'w');
  expectError(one('{"dtype":"F32","shape":[1.5],"data_offsets":[0,4]}'), 'TENSOR_BAD_SHAPE', 'shape', 'w');
  expectError(one('{"dtype":"F32","shape":"1","data_offsets":[0,4]}'), 'TENSOR_BAD_SHAPE', 'shape', 'w');
  expectError(one('{"dtype":"F32","shape":[2],"data_offsets":[0,4]}'), 'TENSOR_BAD_SHAPE', 'length', 'w');
  expectError(one('{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,16]}'), 'TENSOR_BAD_SHAPE', 'length', 'w');
  expectError(one('{"dtype":"F32","shape":[1],"data_offsets":[4,0]}'), 'SAFETENSORS_MALFORMED', 'offsets', 'w');
  expectError(one('{"dtype":"F32","shape":[1],"data_offsets":[16,20]}'), 'SAFETENSORS_MALFORMED', 'offsets', 'w');
  expectError(one('{"dtype":"F32","shape":[1],"data_offsets":[0]}'), 'SAFETENSORS_MALFORMED', 'offsets', 'w');
  expectError(one('{"dtype":"F32","shape":[1],"data_offsets":[0,4,8]}'), 'SAFETENSORS_MALFORMED', 'offsets', 'w');
  expectError(one('{"dtype":"F32","shape":[1],"data_offsets":[-4,0]}'), 'SAFETENSORS_MALFORMED', 'offsets', 'w');
  expectError(one('{"dtype":"F32","shape":[1],"data_offsets":[0,"4"]}'), 'SAFETENSORS_MALFORMED', 'offsets', 'w');
  expectError(
    rawFile('{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}', new Uint8Array(8)),
    'SAFETENSORS_MALFORMED',
    'overlap',
    'b',
  );
});

test('read() gives an aligned copy that typed views can use directly', () => {
  const path = tmpFile();
  const values = Float32Array.of(1.5, -2, 3);
  writeSafetensors(path, [{ name: 'odd', dtype: 'int8', shape: [3], data: Uint8Array.of(1, 2, 3) }, { name: 'v', dtype: 'f32', shape: [3], data: bytesOf(values) }]);
  const f = openSafetensors(path);
  const data = f.read('v');
  assert.deepEqual([...f32View({ name: 'v', dtype: 'f32', shape: [3], data })], [1.5, -2, 3]);
  assert.equal(f32View({ name: 'v', dtype: 'f32', shape: [3], data }).buffer, data.buffer);
  f.close();
});
