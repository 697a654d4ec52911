import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as dagCbor from '@ipld/dag-cbor';
import fc from 'fast-check';
import { createBlock } from '../../src/chain/block.ts';
import { equalBytes, sha256 } from '../../src/chain/hash.ts';
import { TINY } from '../../src/chain/presets.ts';
import {
  buildDatasetBlock,
  buildDatasetPayload,
  createDatasetBlock,
  type DatasetDraft,
  decodeDatasetPayload,
  encodeDatasetPayload,
} from '../../src/datasets/datasetBlock.ts';
import { DATASET_LIMITS } from '../../src/datasets/limits.ts';
import { prefilter } from '../../src/datasets/prefilter.ts';
import { listDatasets, readDataset, resolveDataset } from '../../src/datasets/registry.ts';
import { isBlyanError } from '../../src/errors.ts';
import { deterministicBytes, freshStore, TEST_KEY } from '../helpers/fixtures.ts';

const CHUNK = 1024;

function draft(text: string, over: Partial<DatasetDraft> = {}): DatasetDraft {
  const r = prefilter(new TextEncoder().encode(text), { limits: { minBytes: 1, maxBytes: 1 << 24 } });
  assert.equal(r.accepted, true);
  return { name: 'sample', tier: 'silver', license: 'CC-BY-4.0', chunkSize: CHUNK, content: r.content, report: r.report, ...over };
}

const longText = 'To be, or not to be, that is the question. '.repeat(100); // 4300 bytes: 5 chunks

function rejects(bytes: Uint8Array, re?: RegExp): void {
  assert.throws(
    () => decodeDatasetPayload(bytes),
    (e: unknown) => isBlyanError(e, 'DATASET_MALFORMED') && (re === undefined || re.test(e.message)),
  );
}

/** Re-encodes a payload map with one field changed (canonical encoding, so only that field is wrong). */
function tamper(bytes: Uint8Array, patch: Record<string, unknown>): Uint8Array {
  const value = dagCbor.decode(bytes) as Record<string, unknown>;
  return dagCbor.encode({ ...value, ...patch });
}

test('payload round trip: canonical bytes, derived size, sha256 and chunk hashes', () => {
  const p = buildDatasetPayload(draft(longText));
  assert.equal(p.format, 'blyan-dataset/v1');
  assert.equal(p.size, 4300);
  assert.equal(p.chunks.length, 5);
  assert.ok(equalBytes(p.chunks[4] as Uint8Array, sha256(p.content.subarray(4096))));
  const bytes = encodeDatasetPayload(p);
  const back = decodeDatasetPayload(bytes);
  assert.deepEqual(back, p);
  assert.ok(equalBytes(encodeDatasetPayload(back), bytes));
});

test('payload round trip for any content (property)', () => {
  fc.assert(
    fc.property(fc.string({ unit: 'grapheme', minLength: 1, maxLength: 3000 }), fc.constantFrom('gold', 'silver', 'experimental'), (text, tier) => {
      const r = prefilter(new TextEncoder().encode(text), { limits: { minBytes: 1, maxBytes: 1 << 20 } });
      fc.pre(r.accepted);
      const p = buildDatasetPayload({ name: 'p', tier: tier as 'gold', license: 'MIT', chunkSize: CHUNK, content: r.content, report: r.report });
      assert.deepEqual(decodeDatasetPayload(encodeDatasetPayload(p)), p);
    }),
    { numRuns: 60 },
  );
});

test('malformed payloads are refused with DATASET_MALFORMED', () => {
  const good = encodeDatasetPayload(buildDatasetPayload(draft(longText)));
  for (const cut of [0, 1, 10, good.length >> 1, good.length - 1]) rejects(good.subarray(0, cut));
  rejects(new Uint8Array([...good, 0x00]), /DAG-CBOR/);
  rejects(dagCbor.encode([1, 2, 3]));
  rejects(dagCbor.encode('a string'));
  rejects(tamper(good, { format: 'blyan-dataset/v2' }), /format/);
  rejects(tamper(good, { size: '4300' }), /size/);
  rejects(tamper(good, { size: -1 }), /size/);
  rejects(tamper(good, { size: 4301 }), /size says/);
  rejects(tamper(good, { tier: 'platinum' }), /tier/);
  rejects(tamper(good, { license: 'MIT; rm -rf /' }), /license/);
  rejects(tamper(good, { name: '' }), /name/);
  rejects(tamper(good, { name: 'bell\u0007' }), /name/);
  rejects(tamper(good, { sha256: new Uint8Array(32) }), /sha256/);
  rejects(tamper(good, { sha256: new Uint8Array(31) }), /sha256/);
  rejects(tamper(good, { chunkSize: 12 }), /chunkSize/);
  rejects(tamper(good, { chunkSize: 2048 }), /chunk hashes/);
  rejects(tamper(good, { chunks: [] }), /chunk hashes/);
  rejects(tamper(good, { chunks: Array.from({ length: 5 }, () => new Uint8Array(32)) }), /chunk 0/);
  rejects(tamper(good, { chunks: 'x' }), /chunks/);
  rejects(tamper(good, { content: 'text' }), /content/);
  rejects(tamper(good, { extra: 1 }));
  rejects(tamper(good, { report: { rules: 'l0/v0' } }), /report/);
  const value = dagCbor.decode(good) as Record<string, unknown>;
  const { mediaType: _m, ...missing } = value;
  rejects(dagCbor.encode(missing), /mediaType/);
  // Integers written as floats: the parser accepts 4300.0 only if it is not canonical — rejected either way.
  const asFloat = new Uint8Array(good);
  const sizeKey = new TextEncoder().encode('size');
  const at = Buffer.from(asFloat).indexOf(Buffer.from(sizeKey)) + sizeKey.length;
  assert.equal(asFloat[at], 0x19); // u16 head for 4300
  const patched = new Uint8Array([...asFloat.subarray(0, at), 0xf9, 0x6c, 0x33, ...asFloat.subarray(at + 3)]); // f16 4300
  rejects(patched);
});

test('createDatasetBlock appends a signed block on chain D; readDataset and listDatasets read it back', async () => {
  const { store, cleanup } = freshStore();
  try {
    const d = draft(longText);
    const created = createDatasetBlock(store, d, TEST_KEY, { now: TINY.genesisTime + 10_000 });
    assert.equal(created.block.header.chain, 'D');
    assert.equal(created.block.header.type, 'dataset');
    assert.equal(created.block.header.index, 1);
    assert.deepEqual(created.block.header.deps, []);
    assert.ok(equalBytes(created.block.header.prev as Uint8Array, store.idAt('D', 0) as Uint8Array));
    assert.equal(store.height('D'), 2);
    const read = readDataset(store, created.block.id);
    assert.ok(equalBytes(read.content, d.content));
    assert.deepEqual(read.meta, created.meta);
    const second = createDatasetBlock(store, draft(`${longText}!`, { name: 'second', tier: 'gold' }), TEST_KEY, { now: TINY.genesisTime + 20_000 });
    assert.equal(second.block.header.index, 2);
    const list = listDatasets(store);
    assert.deepEqual(list.map((e) => [e.index, e.meta.name, e.meta.tier]), [[1, 'sample', 'silver'], [2, 'second', 'gold']]);
    assert.equal(resolveDataset(store, 'D:2').meta.name, 'second');
    assert.equal(resolveDataset(store, list[0]?.idHex.slice(0, 10) as string).index, 1);
    assert.equal(resolveDataset(store, 'sample').index, 1);
    assert.throws(() => resolveDataset(store, 'D:9'), (e: unknown) => isBlyanError(e, 'DATASET_NOT_FOUND'));
    assert.throws(() => readDataset(store, store.genesisId()), (e: unknown) => isBlyanError(e, 'DATASET_NOT_FOUND'));
    assert.throws(() => readDataset(store, new Uint8Array(32)), (e: unknown) => isBlyanError(e, 'DATASET_NOT_FOUND'));
  } finally {
    await cleanup();
  }
});

test('a dataset block with a malformed payload is valid as a block, unreadable as a dataset, skipped by listings', async () => {
  const { store, cleanup } = freshStore();
  try {
    const head = store.head('D');
    assert.ok(head !== undefined);
    const junk = deterministicBytes('junk', 500);
    const block = buildDatasetBlock(head, junk, TEST_KEY, TINY, TINY.genesisTime + 1);
    store.append(block, junk, { now: TINY.genesisTime + 1 });
    assert.throws(() => readDataset(store, block.id), (e: unknown) => isBlyanError(e, 'DATASET_MALFORMED'));
    const skipped: string[] = [];
    assert.deepEqual(listDatasets(store, (_id, err) => skipped.push(err.code)), []);
    assert.deepEqual(skipped, ['DATASET_MALFORMED']);
  } finally {
    await cleanup();
  }
});

test('a refused dataset block leaves the store as it was', async () => {
  const t = freshStore();
  try {
    const head = t.store.head('D');
    assert.ok(head !== undefined);
    const p = encodeDatasetPayload(buildDatasetPayload(draft(longText)));
    // Signed for another network's chain id: S7 fails, the store refuses it whole.
    const wrong = createBlock(
      { chain: 'D', index: 1, prev: head.id, deps: [], type: 'dataset', time: TINY.genesisTime + 1 },
      p,
      TEST_KEY,
      { ...TINY, chainId: 1 },
    );
    assert.throws(() => t.store.append(wrong, p), (e: unknown) => isBlyanError(e, 'BLOCK_BAD_SIGNATURE'));
    assert.equal(t.store.height('D'), 1);
    assert.equal(t.store.hasPayload(sha256(p)), false);
  } finally {
    await t.cleanup();
  }
});

test('the chunk size of every preset is within the decoder bounds', () => {
  for (const l of Object.values(DATASET_LIMITS)) {
    const p = buildDatasetPayload({ ...draft(longText), chunkSize: l.chunkSize });
    assert.deepEqual(decodeDatasetPayload(encodeDatasetPayload(p)), p);
  }
});
