/**
 * decodeTensorBlock costs at most linear time in its input (noble's slow-dos.test.ts style, as
 * test/chain/decoderDos.test.ts). No absolute time limits: each check compares the per-byte cost of a
 * large input with that of a small input of the same shape, each the median of several timed loops.
 * A quadratic step would show a ratio of 16x or more between the sizes used; the threshold is 10x.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isBlyanError } from '../../src/errors.ts';
import { decodeTensorBlock, encodeTensorBlock, MAX_HEADER_BYTES, type TensorInput } from '../../src/tensor/tensorBlock.ts';

const MAX_PER_BYTE_RATIO = 10;

function decodeOnce(payload: Uint8Array): string {
  try {
    decodeTensorBlock(payload);
    return 'ok';
  } catch (err) {
    if (!isBlyanError(err)) throw err;
    return `${err.code}/${String(err.data.check)}`;
  }
}

/** Median nanoseconds per call: loops of enough calls to take ≥ 3 ms, repeated 7 times. */
function medianNsPerCall(payload: Uint8Array): number {
  for (let i = 0; i < 20; i++) decodeOnce(payload);
  let reps = 1;
  for (;;) {
    const t = process.hrtime.bigint();
    for (let i = 0; i < reps; i++) decodeOnce(payload);
    if (Number(process.hrtime.bigint() - t) >= 3e6 || reps >= 1 << 16) break;
    reps *= 2;
  }
  const samples: number[] = [];
  for (let s = 0; s < 7; s++) {
    const t = process.hrtime.bigint();
    for (let i = 0; i < reps; i++) decodeOnce(payload);
    samples.push(Number(process.hrtime.bigint() - t) / reps);
  }
  samples.sort((a, b) => a - b);
  return samples[3] as number;
}

/** A payload whose header is exactly `header` (no data area). */
function rawHeader(header: number[] | Uint8Array): Uint8Array {
  const out = new Uint8Array(12 + header.length);
  out.set([0x42, 0x4c, 0x59, 0x54, 1, 0, 0, 0], 0);
  new DataView(out.buffer).setUint32(8, header.length, true);
  out.set(header, 12);
  return out;
}

const head = (major: number, n: number) =>
  n < 24 ? [(major << 5) | n] : n < 256 ? [(major << 5) | 24, n] : n < 65536 ? [(major << 5) | 25, n >> 8, n & 0xff] : [(major << 5) | 26, n >>> 24, (n >> 16) & 0xff, (n >> 8) & 0xff, n & 0xff];
const manyInt8 = (n: number, nameLength = 8): TensorInput[] =>
  Array.from({ length: n }, (_, i) => ({ name: `${i}`.padStart(nameLength, 'x'), dtype: 'int8', shape: [1, 3], data: Uint8Array.of(i, 2, 3), scales: Float32Array.of(0.5) }));

/** Each shape builds an input of about `size` bytes (header bytes, or whole payload). */
const SHAPES: Record<string, { small: number; large: number; build: (size: number) => Uint8Array }> = {
  'valid block, many small int8 tensors (full decode)': {
    small: 128,
    large: 4096,
    build: (n) => encodeTensorBlock(manyInt8(n)),
  },
  'valid block, many tensors with 256-character names': {
    small: 64,
    large: 2048,
    build: (n) => encodeTensorBlock(manyInt8(n, 256)),
  },
  'valid block, many tensors, the last one with a dirty padding byte': {
    small: 128,
    large: 4096,
    build: (n) => {
      const p = encodeTensorBlock(manyInt8(n));
      p[p.length - 5] = 1; // the padding before the last scales
      return p;
    },
  },
  'valid int8 tensor with many rows (scales scanned)': {
    small: 1024,
    large: 1 << 20,
    build: (rows) => encodeTensorBlock([{ name: 'q', dtype: 'int8', shape: [rows, 4], data: new Uint8Array(rows * 4), scales: new Float32Array(rows).fill(0.25) }]),
  },
  // Nesting deeper than the CBOR decoder's stack allows fails as 'cbor' (both sizes here); shallower
  // nesting decodes and fails the schema at the top level, before anything is re-encoded.
  'header: nested arrays [[[…]]]': {
    small: 64 * 1024,
    large: MAX_HEADER_BYTES,
    build: (size) => rawHeader([...new Array<number>(size - 1).fill(0x81), 0x00]),
  },
  'header: map of many distinct keys': {
    small: 4096,
    large: MAX_HEADER_BYTES,
    build: (size) => {
      const keys: number[] = [];
      let n = 0;
      for (; keys.length + 6 <= size - 5; n++) keys.push(0x64, 0x61 + (Math.floor(n / 17576) % 26), 0x61 + (Math.floor(n / 676) % 26), 0x61 + (Math.floor(n / 26) % 26), 0x61 + (n % 26), 0x00);
      return rawHeader([...head(5, n), ...keys]);
    },
  },
  'header: tensors list of many entries, the last invalid': {
    small: 64,
    large: 4096,
    build: (n) => {
      const p = encodeTensorBlock(manyInt8(n));
      const h = new DataView(p.buffer).getUint32(8, true);
      p[12 + h - 1] = (p[12 + h - 1] as number) ^ 1; // last byte of the header: the last entry's scalesOffset
      return p;
    },
  },
  'header: array declaring 2^32-1 items, holding zeros': {
    small: 4096,
    large: MAX_HEADER_BYTES,
    build: (size) => rawHeader([0x9a, 0xff, 0xff, 0xff, 0xff, ...new Array<number>(size - 5).fill(0)]),
  },
  'header: one long text string': {
    small: 4096,
    large: MAX_HEADER_BYTES,
    build: (size) => rawHeader([...head(3, size - 5), ...new Array<number>(size - 5).fill(0x61)]),
  },
};

for (const [name, shape] of Object.entries(SHAPES)) {
  test(`decodeTensorBlock is linear: ${name}`, (t) => {
    const small = shape.build(shape.small);
    const large = shape.build(shape.large);
    const codes = [decodeOnce(small), decodeOnce(large)];
    // A shared, loaded machine only ever inflates a measurement; a super-linear decoder fails every attempt
    // (the sizes are 32–256x apart), so up to three attempts are taken and the best one is judged.
    let ns: readonly [number, number] = [medianNsPerCall(small), medianNsPerCall(large)];
    let perByte: readonly [number, number] = [ns[0] / small.byteLength, ns[1] / large.byteLength];
    for (let attempt = 1; attempt < 3 && perByte[1] >= MAX_PER_BYTE_RATIO * perByte[0]; attempt++) {
      ns = [medianNsPerCall(small), medianNsPerCall(large)];
      perByte = [ns[0] / small.byteLength, ns[1] / large.byteLength];
    }
    t.diagnostic(`${small.byteLength} B: ${ns[0].toFixed(0)} ns (${codes[0]}); ${large.byteLength} B: ${ns[1].toFixed(0)} ns (${codes[1]}); per-byte ratio ${(perByte[1] / perByte[0]).toFixed(2)}`);
    assert.equal(codes[0], codes[1], 'both sizes take the same path');
    assert.ok(perByte[1] < MAX_PER_BYTE_RATIO * perByte[0], `per-byte cost grew ${(perByte[1] / perByte[0]).toFixed(1)}x from ${small.byteLength} to ${large.byteLength} bytes`);
  });
}

test('a header length above 1 MiB is refused before the header is read', () => {
  const p = rawHeader([0xa0]);
  new DataView(p.buffer).setUint32(8, MAX_HEADER_BYTES + 1, true);
  assert.equal(decodeOnce(p), 'TENSOR_MALFORMED/headerLength');
  const big = new Uint8Array(64 << 20);
  big.set(p.subarray(0, 12));
  assert.equal(decodeOnce(big), 'TENSOR_MALFORMED/headerLength');
});
