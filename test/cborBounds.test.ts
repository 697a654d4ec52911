import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as dagCbor from '@ipld/dag-cbor';
import { CID } from 'multiformats/cid';
import { cborBoundsProblem } from '../src/cborBounds.ts';

const cid = CID.parse('bafyreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy');

test('every DAG-CBOR encoding passes the scan: ints of every width, floats, strings, bytes, tags, nesting', () => {
  const values: unknown[] = [
    0,
    23,
    24,
    255,
    256,
    65_535,
    65_536,
    2 ** 32,
    Number.MAX_SAFE_INTEGER,
    -1,
    -(2 ** 40),
    1.5,
    -0.25,
    1e300,
    true,
    false,
    null,
    '',
    'é'.repeat(300),
    new Uint8Array(70_000),
    [],
    [[[[1]]]],
    { a: 1, b: [1, 2, { c: 'x' }], d: new Uint8Array(3) },
    { link: cid, list: [cid, cid] },
    Array.from({ length: 1000 }, (_, i) => i * 1.5),
  ];
  for (const v of values) assert.equal(cborBoundsProblem(dagCbor.encode(v)), undefined, JSON.stringify(v, (_k, x) => (typeof x === 'bigint' ? String(x) : x))?.slice(0, 80));
});

test('a container longer than the bytes left is malformed, at its head', () => {
  assert.equal(cborBoundsProblem(Uint8Array.of(0x9a, 0xff, 0xff, 0xff, 0xff, 0, 0))?.kind, 'malformed'); // array of 2^32-1
  assert.equal(cborBoundsProblem(Uint8Array.of(0x9b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff))?.kind, 'malformed'); // 2^64-1
  assert.equal(cborBoundsProblem(Uint8Array.of(0x83, 1, 2))?.kind, 'malformed'); // 3 items, 2 bytes
  assert.equal(cborBoundsProblem(Uint8Array.of(0x82, 1, 2)), undefined);
  assert.equal(cborBoundsProblem(Uint8Array.of(0xa2, 0x61, 0x61, 1))?.kind, 'malformed'); // 2 entries need 4 bytes
  assert.equal(cborBoundsProblem(Uint8Array.of(0x45, 1, 2, 3, 4))?.kind, 'malformed'); // 5-byte string, 4 left
  assert.equal(cborBoundsProblem(Uint8Array.of(0x19, 1))?.kind, 'malformed'); // 2-byte integer cut off
  assert.match(cborBoundsProblem(Uint8Array.of(0x81, 0x9a, 0xff, 0xff, 0xff, 0xff))?.message ?? '', /array at byte 1 declares 4294967295 items/);
});

test('indefinite lengths and reserved additional info are malformed (DAG-CBOR forbids them)', () => {
  assert.equal(cborBoundsProblem(Uint8Array.of(0x9f, 1, 0xff))?.kind, 'malformed');
  assert.equal(cborBoundsProblem(Uint8Array.of(0x1c))?.kind, 'malformed');
});

test('limits: a longer array or map than the caller allows is a limit problem; at the limit it passes', () => {
  const list = dagCbor.encode(Array.from({ length: 10 }, (_, i) => i));
  assert.equal(cborBoundsProblem(list, { maxArrayItems: 10 }), undefined);
  assert.deepEqual(cborBoundsProblem(list, { maxArrayItems: 9 }), { kind: 'limit', message: 'array at byte 0 declares 10 items, at most 9 are allowed' });
  const nested = dagCbor.encode({ a: { b: 1, c: 2, d: 3 } });
  assert.equal(cborBoundsProblem(nested, { maxMapEntries: 3 }), undefined);
  assert.equal(cborBoundsProblem(nested, { maxMapEntries: 2 })?.kind, 'limit');
  // Byte and text strings are not containers: their length is bounded only by the input.
  assert.equal(cborBoundsProblem(dagCbor.encode(new Uint8Array(100)), { maxArrayItems: 1, maxMapEntries: 1 }), undefined);
});
