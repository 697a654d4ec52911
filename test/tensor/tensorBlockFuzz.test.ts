/**
 * Mutation fuzz of the TensorBlock decoder: every mutated payload must either decode or fail with a
 * BlyanError (any other exception fails the test). A payload that decodes must re-encode to exactly its
 * own bytes: the decoder accepts one byte string per list of tensors, so mutations can never produce a
 * second accepted encoding of the same content.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { BlyanError } from '../../src/errors.ts';
import { decodeTensorBlock, encodeTensorBlock } from '../../src/tensor/tensorBlock.ts';
import { bytesOf, sampleTensors } from './helpers.ts';

const RUNS = 6_000;

const SEEDS: Uint8Array[] = [
  encodeTensorBlock(sampleTensors()),
  encodeTensorBlock([
    { name: 'bias', dtype: 'f32', shape: [2], data: bytesOf(Float32Array.of(1, -2)) },
    { name: 'w', dtype: 'int8', shape: [2, 2], data: bytesOf(Int8Array.of(1, -1, 127, 0)), scales: Float32Array.of(0.5, 0.25) },
  ]),
  encodeTensorBlock(Array.from({ length: 40 }, (_, i) => ({ name: `e${i}`, dtype: 'int8' as const, shape: [2, 1], data: Uint8Array.of(i, 255 - i), scales: Float32Array.of(i, 1 / (i + 1)) }))),
];

type Mutation =
  | { kind: 'flip'; pos: number; bit: number }
  | { kind: 'flips'; flips: { pos: number; bit: number }[] }
  | { kind: 'truncate'; len: number }
  | { kind: 'insert'; pos: number; bytes: Uint8Array }
  | { kind: 'delete'; pos: number; count: number }
  | { kind: 'overwrite'; pos: number; bytes: Uint8Array }
  | { kind: 'duplicate'; from: number; len: number; to: number }
  | { kind: 'headerLength'; value: number }
  | { kind: 'headerByte'; pos: number; value: number };

function mutationArb(size: number, headerLength: number): fc.Arbitrary<Mutation> {
  const pos = fc.nat({ max: size - 1 });
  const flip = fc.record({ pos, bit: fc.nat({ max: 7 }) });
  return fc.oneof(
    { weight: 4, arbitrary: flip.map((f) => ({ kind: 'flip' as const, ...f })) },
    { weight: 1, arbitrary: fc.array(flip, { minLength: 2, maxLength: 6 }).map((flips) => ({ kind: 'flips' as const, flips })) },
    { weight: 2, arbitrary: fc.nat({ max: size - 1 }).map((len) => ({ kind: 'truncate' as const, len })) },
    { weight: 2, arbitrary: fc.record({ pos: fc.nat({ max: size }), bytes: fc.uint8Array({ minLength: 1, maxLength: 70 }) }).map((r) => ({ kind: 'insert' as const, ...r })) },
    { weight: 2, arbitrary: fc.record({ pos, count: fc.integer({ min: 1, max: 70 }) }).map((r) => ({ kind: 'delete' as const, ...r })) },
    { weight: 1, arbitrary: fc.record({ pos, bytes: fc.uint8Array({ minLength: 1, maxLength: 12 }) }).map((r) => ({ kind: 'overwrite' as const, ...r })) },
    { weight: 1, arbitrary: fc.record({ from: pos, len: fc.integer({ min: 1, max: 400 }), to: fc.nat({ max: size }) }).map((r) => ({ kind: 'duplicate' as const, ...r })) },
    { weight: 1, arbitrary: fc.oneof(fc.nat({ max: size + 8 }), fc.nat()).map((value) => ({ kind: 'headerLength' as const, value })) },
    // Most of the structure lives in the CBOR header: aim a share of the mutations there.
    { weight: 4, arbitrary: fc.record({ pos: fc.integer({ min: 12, max: 12 + headerLength - 1 }), value: fc.nat({ max: 255 }) }).map((r) => ({ kind: 'headerByte' as const, ...r })) },
  );
}

function apply(src: Uint8Array, m: Mutation): Uint8Array {
  const out = src.slice();
  switch (m.kind) {
    case 'flip':
      out[m.pos] = (out[m.pos] as number) ^ (1 << m.bit);
      return out;
    case 'flips':
      for (const f of m.flips) out[f.pos] = (out[f.pos] as number) ^ (1 << f.bit);
      return out;
    case 'truncate':
      return out.subarray(0, m.len);
    case 'insert':
      return Uint8Array.from([...src.subarray(0, m.pos), ...m.bytes, ...src.subarray(m.pos)]);
    case 'delete':
      return Uint8Array.from([...src.subarray(0, m.pos), ...src.subarray(m.pos + m.count)]);
    case 'overwrite':
      // Positions come from the seed's size; an earlier mutation may have made the input shorter.
      if (m.pos < src.length) out.set(m.bytes.subarray(0, src.length - m.pos), m.pos);
      return out;
    case 'duplicate': {
      const chunk = src.subarray(m.from, m.from + m.len);
      return Uint8Array.from([...src.subarray(0, m.to), ...chunk, ...src.subarray(m.to)]);
    }
    case 'headerLength':
      if (out.length >= 12) new DataView(out.buffer).setUint32(8, m.value >>> 0, true);
      return out;
    case 'headerByte':
      out[m.pos] = m.value;
      return out;
  }
}

test(`fuzz: ${RUNS} mutated TensorBlocks each decode canonically or fail with a BlyanError`, (t) => {
  const outcomes = new Map<string, number>();
  const seedArb = fc.nat({ max: SEEDS.length - 1 }).chain((i) => {
    const seed = SEEDS[i] as Uint8Array;
    const headerLength = new DataView(seed.buffer).getUint32(8, true);
    return fc.tuple(fc.constant(seed), fc.array(mutationArb(seed.length, headerLength), { minLength: 1, maxLength: 3 }));
  });
  fc.assert(
    fc.property(seedArb, ([seed, mutations]) => {
      let input = seed;
      for (const m of mutations) if (input.length > 0) input = apply(input, m);
      try {
        const tb = decodeTensorBlock(input);
        assert.deepEqual(encodeTensorBlock(tb.tensors), input, 'an accepted payload is the canonical encoding of its tensors');
        outcomes.set('ok', (outcomes.get('ok') ?? 0) + 1);
      } catch (err) {
        if (!(err instanceof BlyanError)) throw err;
        const key = `${err.code}/${String(err.data.check)}`;
        outcomes.set(key, (outcomes.get(key) ?? 0) + 1);
      }
    }),
    { numRuns: RUNS },
  );
  t.diagnostic(JSON.stringify(Object.fromEntries([...outcomes].sort((a, b) => b[1] - a[1]))));
  assert.ok(outcomes.size >= 10, 'mutations reached many different checks');
});
