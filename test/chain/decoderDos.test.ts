/**
 * Decoder cost is at most linear in its input (noble's slow-dos.test.ts style). No absolute time limits:
 * each check compares the per-byte cost of a large input with that of a small one of the same shape,
 * each measured as the median of several timed loops. A quadratic decoder would show a 16x ratio
 * between the 256-byte and the 4 KiB inputs; the threshold is 10x, which timer noise does not reach.
 * Inputs above the record limit (MAX_HEADER_BYTES + 65) must be refused before any parsing.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as dagCbor from '@ipld/dag-cbor';
import { createBlock, sortDeps } from '../../src/chain/block.ts';
import { decodeRecord, encodeRecord } from '../../src/chain/encoding.ts';
import { genesisOf } from '../../src/chain/genesis.ts';
import { sha256 } from '../../src/chain/hash.ts';
import { MAX_HEADER_BYTES } from '../../src/chain/limits.ts';
import { TINY } from '../../src/chain/presets.ts';
import { SIGNATURE_BYTES } from '../../src/chain/sign.ts';
import { isBlyanError } from '../../src/errors.ts';
import { TEST_KEY } from '../helpers/fixtures.ts';

const MAX_RECORD = MAX_HEADER_BYTES + SIGNATURE_BYTES;
const SMALL = 256;
const LARGE = MAX_HEADER_BYTES;
const MAX_PER_BYTE_RATIO = 10;

/** decodeRecord, expecting either a block or a BlyanError (anything else fails the test). */
function decodeOnce(record: Uint8Array): string {
  try {
    decodeRecord(record);
    return 'ok';
  } catch (err) {
    if (!isBlyanError(err)) throw err;
    return err.code;
  }
}

/** Median nanoseconds per call: loops of enough calls to take ≥ 3 ms, repeated 7 times. */
function medianNsPerCall(record: Uint8Array): number {
  for (let i = 0; i < 50; i++) decodeOnce(record); // warm up the JIT
  let reps = 1;
  for (;;) {
    const t = process.hrtime.bigint();
    for (let i = 0; i < reps; i++) decodeOnce(record);
    if (Number(process.hrtime.bigint() - t) >= 3e6 || reps >= 1 << 20) break;
    reps *= 2;
  }
  const samples: number[] = [];
  for (let s = 0; s < 7; s++) {
    const t = process.hrtime.bigint();
    for (let i = 0; i < reps; i++) decodeOnce(record);
    samples.push(Number(process.hrtime.bigint() - t) / reps);
  }
  samples.sort((a, b) => a - b);
  return samples[3] as number;
}

const SIG = new Uint8Array(SIGNATURE_BYTES).fill(0x11);
const record = (body: Uint8Array | number[]) => encodeRecord({ headerBytes: Uint8Array.from(body), sig: SIG });
/** Minimal CBOR head for a major type and a length < 2^16 (strict decoders reject longer forms). */
const head = (major: number, n: number) => (n < 24 ? [(major << 5) | n] : n < 256 ? [(major << 5) | 24, n] : [(major << 5) | 25, n >> 8, n & 0xff]);
/** A distinct 3-letter ASCII key for each n < 26^3, as a CBOR text string (4 bytes). */
const key3 = (n: number) => [0x63, 0x61 + (Math.floor(n / 676) % 26), 0x61 + (Math.floor(n / 26) % 26), 0x61 + (n % 26)];

/** Each shape builds a header-part of about `size` bytes. */
const SHAPES: Record<string, (size: number) => Uint8Array | number[]> = {
  'nested arrays [[[…0…]]]': (size) => [...new Array<number>(size - 1).fill(0x81), 0x00],
  'nested maps {"a":{"a":…}}': (size) => {
    const k = Math.floor((size - 1) / 3);
    return [...Array.from({ length: k }, () => [0xa1, 0x61, 0x61]).flat(), 0x00];
  },
  'one long text string': (size) => [...head(3, size - 3), ...new Array<number>(size - 3).fill(0x61)],
  'one long byte string': (size) => [...head(2, size - 3), ...new Array<number>(size - 3).fill(0xee)],
  'array of many zeros': (size) => [...head(4, size - 3), ...new Array<number>(size - 3).fill(0)],
  'array declaring 2^64-1 items, holding zeros': (size) => [0x9b, ...new Array<number>(8).fill(0xff), ...new Array<number>(size - 9).fill(0)],
  'map declaring 2^64-1 entries, holding unique keys': (size) => {
    const out = [0xbb, ...new Array<number>(8).fill(0xff)];
    for (let i = 0; out.length + 5 <= size; i++) out.push(...key3(i), 0x00);
    return out;
  },
  'byte string declaring 2^64-1 bytes': (size) => [0x5b, ...new Array<number>(8).fill(0xff), ...new Array<number>(size - 9).fill(0)],
  'map of many distinct keys': (size) => {
    const keys: number[] = [];
    let n = 0;
    while (keys.length + 5 <= size - 3) {
      keys.push(...key3(n), 0x00);
      n++;
    }
    return [...head(5, n), ...keys];
  },
  'header with a long expert name (rejected by field checks)': (size) => {
    const h = genesisOf(TINY).a.block.header;
    const fixed = dagCbor.encode({ ...h, expert: '' }).length;
    return dagCbor.encode({ ...h, expert: 'x'.repeat(Math.max(1, size - fixed - 2)) });
  },
};

/** Valid chain-B headers with k deps: decoded completely, through the canonical re-encoding check. */
function validWithDeps(k: number): Uint8Array {
  const model = sha256(new TextEncoder().encode('dos model'));
  const deps = sortDeps([model, ...Array.from({ length: k - 1 }, (_, i) => sha256(Uint8Array.of(i, i >> 8)))]);
  return encodeRecord(
    createBlock({ chain: 'B', index: 1, prev: null, deps, type: 'expert', expert: 'layer0.expert0', layer: 0, time: TINY.genesisTime }, new Uint8Array(0), TEST_KEY, TINY),
  );
}

for (const [name, build] of Object.entries(SHAPES)) {
  test(`decodeRecord is linear: ${name}`, (t) => {
    const small = record(build(SMALL));
    const large = record(build(LARGE));
    assert.ok(large.byteLength <= MAX_RECORD, `large input (${large.byteLength} bytes) must be parsed, not refused by size`);
    const codes = [decodeOnce(small), decodeOnce(large)];
    // A shared, loaded machine only ever inflates a measurement; a super-linear decoder fails every attempt,
    // so up to three attempts are taken and the best one is judged.
    let ns: readonly [number, number] = [medianNsPerCall(small), medianNsPerCall(large)];
    let perByte: readonly [number, number] = [ns[0] / small.byteLength, ns[1] / large.byteLength];
    for (let attempt = 1; attempt < 3 && perByte[1] >= MAX_PER_BYTE_RATIO * perByte[0]; attempt++) {
      ns = [medianNsPerCall(small), medianNsPerCall(large)];
      perByte = [ns[0] / small.byteLength, ns[1] / large.byteLength];
    }
    t.diagnostic(`${small.byteLength} B: ${ns[0].toFixed(0)} ns (${codes[0]}); ${large.byteLength} B: ${ns[1].toFixed(0)} ns (${codes[1]}); per-byte ratio ${(perByte[1] / perByte[0]).toFixed(2)}`);
    assert.ok(perByte[1] < MAX_PER_BYTE_RATIO * perByte[0], `per-byte cost grew ${(perByte[1] / perByte[0]).toFixed(1)}x from ${small.byteLength} to ${large.byteLength} bytes`);
  });
}

test('decodeRecord is linear: valid headers with 2 and 64 deps (full decode and canonical check)', (t) => {
  const small = validWithDeps(2);
  const large = validWithDeps(64);
  assert.equal(decodeOnce(small), 'ok');
  assert.equal(decodeOnce(large), 'ok');
  let ns: readonly [number, number] = [0, 0];
  let ratio = Number.POSITIVE_INFINITY;
  for (let attempt = 0; attempt < 3 && !(ratio < MAX_PER_BYTE_RATIO); attempt++) {
    ns = [medianNsPerCall(small), medianNsPerCall(large)];
    ratio = ns[1] / large.byteLength / (ns[0] / small.byteLength);
  }
  t.diagnostic(`${small.byteLength} B: ${ns[0].toFixed(0)} ns; ${large.byteLength} B: ${ns[1].toFixed(0)} ns; per-byte ratio ${ratio.toFixed(2)}`);
  assert.ok(ratio < MAX_PER_BYTE_RATIO);
});

test('records above MAX_HEADER_BYTES + 65 are refused by size, without reading their bytes', (t) => {
  // A record one byte over the limit, 1 MiB and 64 MiB: all BLOCK_TOO_LARGE, in about the same time.
  const atLimit = new Uint8Array(MAX_RECORD);
  const over = [MAX_RECORD + 1, 1 << 20, 64 << 20].map((n) => new Uint8Array(n).fill(0x81));
  assert.notEqual(decodeOnce(atLimit), 'BLOCK_TOO_LARGE', 'a record at the limit is parsed');
  for (const r of over) assert.equal(decodeOnce(r), 'BLOCK_TOO_LARGE');
  const base = medianNsPerCall(over[0] as Uint8Array);
  const huge = medianNsPerCall(over[2] as Uint8Array);
  t.diagnostic(`${MAX_RECORD + 1} B: ${base.toFixed(0)} ns; 64 MiB: ${huge.toFixed(0)} ns`);
  assert.ok(huge < MAX_PER_BYTE_RATIO * base, 'refusing 64 MiB costs more than refusing 4 KiB: the bytes were read');

  // Proof that nothing is read: an input whose only readable property is its length.
  let touched = '';
  const untouchable = new Proxy(new Uint8Array(0), {
    get(_target, prop) {
      if (prop === 'byteLength') return 2 ** 31;
      touched = String(prop);
      throw new Error(`decoder read ${touched}`);
    },
  });
  assert.throws(() => decodeRecord(untouchable), (err: unknown) => isBlyanError(err, 'BLOCK_TOO_LARGE'));
  assert.equal(touched, '');
});
