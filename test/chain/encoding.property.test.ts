/**
 * Property tests and a mutation fuzz for the block encoding (docs/block-encoding.md, rules E1–E3, S1–S7).
 *
 * Signature checks here run with the public-key cache of src/chain/sign.ts cleared before each one, and
 * one test checks that a warm cache changes no verdict.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as dagCbor from '@ipld/dag-cbor';
import fc from 'fast-check';
import { commitPayload, createBlock, verifyStandalone } from '../../src/chain/block.ts';
import { blockIdOf, decodeHeader, decodeRecord, encodeHeader, encodeRecord } from '../../src/chain/encoding.ts';
import { genesisOf } from '../../src/chain/genesis.ts';
import { equalBytes, type Hash, sha256, toHex } from '../../src/chain/hash.ts';
import { MAX_HEADER_BYTES } from '../../src/chain/limits.ts';
import { TINY } from '../../src/chain/presets.ts';
import { clearPublicKeyCache, SIGNATURE_BYTES } from '../../src/chain/sign.ts';
import type { BlockStore } from '../../src/chain/store.ts';
import type { Block } from '../../src/chain/types.ts';
import { isBlyanError } from '../../src/errors.ts';
import { addModel, deterministicBytes, freshStore, TEST_KEY } from '../helpers/fixtures.ts';
import { bytes, headerArb, view } from './headerArbitraries.ts';

const FIELDS = [
  'v', 'chain', 'index', 'prev', 'deps', 'type', 'expert', 'layer',
  'payloadHash', 'payloadSize', 'tileRoot', 'time', 'nonce', 'difficulty', 'author',
] as const;

// ---------- arbitrary valid headers (headerArbitraries.ts) ----------

test('property: any valid header round-trips encode → decode, and as a record', () => {
  fc.assert(
    fc.property(headerArb, bytes(SIGNATURE_BYTES), (header, sig) => {
      const encoded = encodeHeader(header);
      assert.ok(encoded.byteLength <= MAX_HEADER_BYTES);
      assert.deepEqual(view(decodeHeader(encoded)), view(header));
      const block = decodeRecord(encodeRecord({ headerBytes: encoded, sig }));
      assert.deepEqual(view(block.header), view(header));
      assert.ok(equalBytes(block.headerBytes, encoded));
      assert.ok(equalBytes(block.id, sha256(encoded)));
      assert.ok(equalBytes(block.sig, sig));
      // One header, one encoding: re-encoding the decoded header gives the same bytes.
      assert.ok(equalBytes(encodeHeader(block.header), encoded));
    }),
    { numRuns: 500 },
  );
});

// ---------- fixed valid blocks to mutate ----------

const T0 = TINY.genesisTime;
const genesis = genesisOf(TINY);
const modelPayload = dagCbor.encode({ family: 'test', name: 'property-model', layers: 2, experts: 4 });
const model = createBlock({ chain: 'A', index: 1, prev: genesis.a.block.id, deps: [], type: 'model', time: T0 + 1 }, modelPayload, TEST_KEY, TINY);
const expertPayload = deterministicBytes('property expert', 300);
const expert = createBlock(
  { chain: 'B', index: 0, prev: null, deps: [model.id], type: 'expert', expert: 'layer1.expert2', layer: 1, time: T0 + 2 },
  expertPayload,
  TEST_KEY,
  TINY,
);
const deltaPayload = deterministicBytes('property delta', 40);
const delta = createBlock(
  { chain: 'B', index: 1, prev: null, deps: [model.id, expert.id], type: 'delta', expert: 'layer1.expert2', layer: 1, time: T0 + 3 },
  deltaPayload,
  TEST_KEY,
  TINY,
);
const txPayload = dagCbor.encode({ txs: [] });
const txbatch = createBlock({ chain: 'C', index: 1, prev: genesis.c.block.id, deps: [], type: 'txbatch', time: T0 + 4 }, txPayload, TEST_KEY, TINY);

interface Base {
  readonly name: string;
  readonly block: Block;
  readonly payload: Uint8Array;
}
const BASES: readonly Base[] = [
  { name: 'A:0', block: genesis.a.block, payload: genesis.a.payload },
  { name: 'C:0', block: genesis.c.block, payload: genesis.c.payload },
  { name: 'A:1 model', block: model, payload: modelPayload },
  { name: 'B expert', block: expert, payload: expertPayload },
  { name: 'B delta', block: delta, payload: deltaPayload },
  { name: 'C:1 txbatch', block: txbatch, payload: txPayload },
];
for (const b of BASES) verifyStandalone(b.block, TINY, { payload: b.payload });

type Outcome = { kind: 'rejected'; code: string; decoded: Block | undefined } | { kind: 'accepted'; block: Block };

/** decodeRecord then the standalone rules; any throw must be a BlyanError. */
function judge(record: Uint8Array, payload?: Uint8Array): Outcome {
  let block: Block | undefined;
  try {
    block = decodeRecord(record);
    clearPublicKeyCache();
    verifyStandalone(block, TINY, payload === undefined ? {} : { payload });
    return { kind: 'accepted', block };
  } catch (err) {
    if (!isBlyanError(err)) throw new Error(`non-BlyanError for record ${toHex(record)}: ${String(err)}`, { cause: err });
    return { kind: 'rejected', code: err.code, decoded: block };
  }
}

/** "Rejected or changes its hash", and never the same id with different content. */
function assertRejectedOrNewId(base: Block, mutated: Uint8Array, outcome: Outcome, what: string): void {
  const original = encodeRecord(base);
  if (outcome.kind === 'accepted') {
    assert.ok(!equalBytes(outcome.block.id, base.id), `${what}: accepted with the original id ${toHex(base.id)}`);
    assert.ok(!equalBytes(mutated, original));
    return;
  }
  const d = outcome.decoded;
  if (d !== undefined && equalBytes(d.id, base.id)) {
    // Same id means the same header bytes (SHA-256); the change was in the signature and it was rejected.
    assert.ok(equalBytes(d.headerBytes, base.headerBytes), `${what}: same id, different header`);
  }
}

test('property: any single-byte change of a record is rejected or changes its hash', () => {
  fc.assert(
    fc.property(fc.nat({ max: BASES.length - 1 }), fc.nat(), fc.integer({ min: 1, max: 255 }), (bi, pos, delta) => {
      const base = BASES[bi] as Base;
      const rec = encodeRecord(base.block);
      const at = pos % rec.length;
      const mutated = rec.slice();
      mutated[at] = ((mutated[at] as number) + delta) & 0xff;
      assertRejectedOrNewId(base.block, mutated, judge(mutated, base.payload), `${base.name} byte ${at} +${delta}`);
    }),
    { numRuns: 3000 },
  );
});

test('exhaustive: every byte of every base record XOR 0x01, 0x80, 0xff and set to 0x00 — never accepted with the same id', () => {
  let accepted = 0;
  let total = 0;
  for (const base of BASES) {
    const rec = encodeRecord(base.block);
    for (let at = 0; at < rec.length; at++) {
      const old = rec[at] as number;
      for (const value of new Set([old ^ 0x01, old ^ 0x80, old ^ 0xff, 0x00])) {
        if (value === old) continue;
        const mutated = rec.slice();
        mutated[at] = value;
        const outcome = judge(mutated, base.payload);
        assertRejectedOrNewId(base.block, mutated, outcome, `${base.name} byte ${at} = ${value}`);
        if (outcome.kind === 'accepted') accepted++;
        total++;
      }
    }
  }
  // A changed header has a new id, so it would need fresh PoW and a signature by the author's key.
  assert.equal(accepted, 0, `${accepted} of ${total} single-byte mutants were accepted`);
});

test('property: decodeRecord throws only BlyanErrors on arbitrary bytes', () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: MAX_HEADER_BYTES + SIGNATURE_BYTES + 64 }), (input) => {
      try {
        decodeRecord(input);
      } catch (err) {
        assert.ok(isBlyanError(err), `non-BlyanError ${String(err)} for ${toHex(input)}`);
      }
    }),
    { numRuns: 3000 },
  );
});

// ---------- structured garbage: valid CBOR, wrong shapes ----------

/** An object with exactly these own keys, including ones like "__proto__" and "toString". */
function objectOf(entries: readonly (readonly [string, unknown])[]): Record<string, unknown> {
  const o: Record<string, unknown> = {};
  for (const [k, v] of entries) Object.defineProperty(o, k, { value: v, enumerable: true, configurable: true, writable: true });
  return o;
}

/** Keys that name Object.prototype members: a decoder that treats a decoded map as a plain object trips on them. */
const PROTO_KEYS = ['toString', 'valueOf', '__proto__', 'constructor', 'hasOwnProperty', 'toJSON', 'then'];
const keyArb = fc.oneof(
  { arbitrary: fc.constantFrom(...PROTO_KEYS), weight: 2 },
  { arbitrary: fc.constantFrom(...FIELDS), weight: 1 },
  { arbitrary: fc.string({ maxLength: 8 }), weight: 1 },
);
const { cborValue } = fc.letrec<{ cborValue: unknown }>((tie) => ({
  cborValue: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    fc.constant(null),
    fc.boolean(),
    fc.integer(),
    fc.maxSafeInteger(),
    fc.double({ noNaN: true, noDefaultInfinity: true }),
    fc.string({ maxLength: 12 }),
    fc.constantFrom('A', 'B', 'C', 'D', 'genesis', 'model', 'expert', 'delta', 'layer1.expert2', 'layer1.router'),
    fc.uint8Array({ maxLength: 40 }),
    bytes(32),
    fc.array(tie('cborValue'), { maxLength: 4 }),
    fc.uniqueArray(fc.tuple(keyArb, tie('cborValue')), { maxLength: 4, selector: ([k]) => k }).map(objectOf),
    fc.uniqueArray(fc.tuple(keyArb, tie('cborValue')), { minLength: 1, maxLength: 4, selector: ([k]) => k }).map(objectOf),
  ),
}));

test('property: a valid header with fields replaced, removed or added by arbitrary CBOR values is rejected with a BlyanError', () => {
  fc.assert(
    fc.property(
      // Replacing values of existing fields only reaches the per-field checks; adding or removing keys stops at E3.
      fc.uniqueArray(fc.tuple(fc.constantFrom(...FIELDS), cborValue), { minLength: 1, maxLength: 3, selector: ([k]) => k }),
      fc.oneof(
        { arbitrary: fc.constant({ add: [] as [string, unknown][], remove: [] as string[] }), weight: 3 },
        {
          arbitrary: fc.record({
            add: fc.uniqueArray(fc.tuple(keyArb, cborValue), { maxLength: 2, selector: ([k]) => k }),
            remove: fc.subarray<string>([...FIELDS], { maxLength: 2 }),
          }),
          weight: 1,
        },
      ),
      (replace, { add, remove }) => {
        const map = new Map<string, unknown>(Object.entries({ ...expert.header }).filter(([k]) => !remove.includes(k)));
        for (const [k, v] of [...replace, ...add]) map.set(k, v);
        let encoded: Uint8Array;
        try {
          encoded = dagCbor.encode(objectOf([...map.entries()]));
        } catch {
          return; // not representable in DAG-CBOR: nothing to decode
        }
        try {
          decodeRecord(encodeRecord({ headerBytes: encoded, sig: expert.sig }));
        } catch (err) {
          assert.ok(isBlyanError(err), `non-BlyanError ${String(err)} for header ${toHex(encoded)}`);
        }
      },
    ),
    { numRuns: 5000 },
  );
});

test('regression: a version field that is a map with a non-callable "toString" gives BLOCK_BAD_VERSION, not a TypeError', () => {
  for (const v of [objectOf([['toString', 1]]), objectOf([['valueOf', 1], ['toString', null]]), [1], 'x', null, 2, 1.5]) {
    const encoded = dagCbor.encode({ ...expert.header, v });
    assert.throws(() => decodeRecord(encodeRecord({ headerBytes: encoded, sig: expert.sig })), (err: unknown) => isBlyanError(err, 'BLOCK_BAD_VERSION') || isBlyanError(err, 'BLOCK_NOT_CANONICAL'));
  }
});

// ---------- the fuzz: ≥ 10,000 mutated records, part of them through BlockStore.append ----------

/** mulberry32: a small seeded PRNG so a failing mutant can be replayed from its number. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
}

const MUTATIONS = ['bitflip', 'bitflips', 'truncate', 'truncate-middle', 'insert', 'overwrite', 'random-bytes', 'splice', 'duplicate', 'swap'] as const;

function mutate(rec: Uint8Array, rand: () => number, other: Uint8Array): { kind: (typeof MUTATIONS)[number]; bytes: Uint8Array } {
  const int = (n: number) => Math.floor(rand() * n);
  const randomBytes = (n: number) => Uint8Array.from({ length: n }, () => int(256));
  const kind = MUTATIONS[int(MUTATIONS.length)] as (typeof MUTATIONS)[number];
  const out = Array.from(rec);
  switch (kind) {
    case 'bitflip': {
      const at = int(out.length);
      out[at] = (out[at] as number) ^ (1 << int(8));
      break;
    }
    case 'bitflips':
      for (let i = 2 + int(6); i > 0; i--) {
        const at = int(out.length);
        out[at] = (out[at] as number) ^ (1 << int(8));
      }
      break;
    case 'truncate':
      out.length = int(out.length);
      break;
    case 'truncate-middle':
      out.splice(int(out.length), 1 + int(16));
      break;
    case 'insert':
      out.splice(int(out.length + 1), 0, ...randomBytes(1 + int(16)));
      break;
    case 'overwrite': {
      const at = int(out.length);
      const n = 1 + int(8);
      for (let i = 0; i < n && at + i < out.length; i++) out[at + i] = int(256);
      break;
    }
    case 'random-bytes':
      return { kind, bytes: randomBytes(int(600)) };
    case 'splice': {
      const at = int(out.length);
      const from = int(other.length);
      const n = 1 + int(40);
      out.splice(at, n, ...other.subarray(from, from + n));
      break;
    }
    case 'duplicate': {
      const at = int(out.length);
      const n = 1 + int(40);
      out.splice(at, 0, ...out.slice(at, at + n));
      break;
    }
    case 'swap': {
      const a = int(out.length);
      const b = int(out.length);
      [out[a], out[b]] = [out[b] as number, out[a] as number];
      break;
    }
  }
  return { kind, bytes: Uint8Array.from(out) };
}

function recordCount(store: BlockStore): number {
  // The store has no public count of records; read the LMDB sub-database directly (test only).
  return (store as unknown as { records: { getCount(): number } }).records.getCount();
}

function snapshot(store: BlockStore): string {
  return JSON.stringify({
    heights: (['A', 'B', 'C', 'D'] as const).map((c) => store.height(c)),
    heads: (['A', 'B', 'C', 'D'] as const).map((c) => {
      const h = store.headOf(c);
      return h === undefined ? null : toHex(h.id);
    }),
    records: recordCount(store),
    lineage: [...store.parameterIndex()].length,
  });
}

test('fuzz: 12,000 mutated records (bit flips, truncations, insertions, random bytes, splices) each give a BlyanError or a valid block; rejected appends write nothing', async (t) => {
  const MUTANTS = 12_000;
  const { store, cleanup } = freshStore();
  try {
    addModel(store); // A:1, so our own A:1 above conflicts and store bases below are fresh
    const storeModel = store.headOf('A');
    assert.ok(storeModel !== undefined);
    // Bases that are valid to append to this store right now (they are not in it yet).
    const nextA = createBlock(
      { chain: 'A', index: 2, prev: storeModel.id, deps: [], type: 'params', time: storeModel.header.time + 1 },
      modelPayload,
      TEST_KEY,
      TINY,
    );
    const storeExpert = createBlock(
      { chain: 'B', index: 0, prev: null, deps: [storeModel.id], type: 'expert', expert: 'layer0.expert3', layer: 0, time: T0 + 5 },
      expertPayload,
      TEST_KEY,
      TINY,
    );
    const storeBases: readonly Base[] = [
      { name: 'store A:2', block: nextA, payload: modelPayload },
      { name: 'store B expert', block: storeExpert, payload: expertPayload },
      { name: 'store C:1', block: txbatch, payload: txPayload },
    ];
    const all = [...BASES, ...storeBases];
    const before = snapshot(store);
    const payloadsAbsent = () => storeBases.every((b) => b.block.header.payloadSize === 0 || !store.hasPayload(b.block.header.payloadHash));
    assert.ok(payloadsAbsent());

    const rand = prng(0xb1a5);
    const stats = { decoded: 0, standalone: 0, viaStore: 0, accepted: 0 };
    const codes = new Map<string, number>();
    for (let n = 0; n < MUTANTS; n++) {
      const useStore = n % 3 === 0;
      const pool = useStore ? storeBases : all;
      const base = pool[Math.floor(rand() * pool.length)] as Base;
      const other = (all[Math.floor(rand() * all.length)] as Base).block;
      const original = encodeRecord(base.block);
      const { kind, bytes: mutated } = mutate(original, rand, encodeRecord(other));
      if (equalBytes(mutated, original)) continue; // e.g. a swap of two equal bytes
      const what = `mutant #${n} (${kind} of ${base.name}): ${toHex(mutated)}`;

      let block: Block;
      try {
        block = decodeRecord(mutated);
      } catch (err) {
        assert.ok(isBlyanError(err), `${what}: decodeRecord threw ${String(err)}`);
        codes.set(err.code, (codes.get(err.code) ?? 0) + 1);
        continue;
      }
      stats.decoded++;
      if (useStore) {
        stats.viaStore++;
        clearPublicKeyCache();
        try {
          store.append(block, rand() < 0.5 ? base.payload : undefined);
        } catch (err) {
          assert.ok(isBlyanError(err), `${what}: append threw ${String(err)}`);
          codes.set(err.code, (codes.get(err.code) ?? 0) + 1);
          assert.equal(snapshot(store), before, `${what}: rejected append changed the store`);
          assert.ok(!store.has(block.id), what);
          assert.ok(payloadsAbsent(), `${what}: rejected append stored a payload`);
          continue;
        }
        assert.fail(`${what}: the store accepted a mutated block ${toHex(block.id)}`);
      }
      stats.standalone++;
      const outcome = judge(mutated, base.payload);
      assertRejectedOrNewId(base.block, mutated, outcome, what);
      if (outcome.kind === 'accepted') stats.accepted++;
      else codes.set(outcome.code, (codes.get(outcome.code) ?? 0) + 1);
    }
    t.diagnostic(`mutants ${MUTANTS}; decoded ${stats.decoded}; via store ${stats.viaStore}; standalone ${stats.standalone}; accepted ${stats.accepted}`);
    t.diagnostic(`codes ${JSON.stringify(Object.fromEntries([...codes].sort()))}`);
    assert.ok(stats.viaStore >= 200, `only ${stats.viaStore} mutants reached BlockStore.append`);
    assert.equal(stats.accepted, 0);

    // The store still works: the unmutated bases append.
    store.appendBatch(storeBases.map((b) => ({ block: b.block, payload: b.payload })));
    assert.equal(store.height('A'), 3);
    assert.equal(store.height('B'), 1);
    assert.equal(store.height('C'), 2);
  } finally {
    await cleanup();
  }
});

test('a record that differs only in the recovery id is rejected on the uncached path', () => {
  for (const base of BASES) {
    const rec = encodeRecord(base.block);
    const flipped = rec.slice();
    flipped[rec.length - 1] = (flipped[rec.length - 1] as number) ^ 1;
    clearPublicKeyCache();
    assert.throws(() => verifyStandalone(decodeRecord(flipped), TINY), (err: unknown) => isBlyanError(err, 'BLOCK_BAD_SIGNATURE'), base.name);
  }
});

test(
  'a record that differs only in the recovery id is rejected when the author key is cached',
  () => {
    const rec = encodeRecord(model);
    clearPublicKeyCache();
    verifyStandalone(model, TINY); // warms the cache for TEST_KEY's address
    const flipped = rec.slice();
    flipped[rec.length - 1] = (flipped[rec.length - 1] as number) ^ 1;
    assert.throws(() => verifyStandalone(decodeRecord(flipped), TINY), (err: unknown) => isBlyanError(err, 'BLOCK_BAD_SIGNATURE'));
  },
);

test('blockIdOf is SHA-256 of the header bytes and commitPayload matches the payload (sanity for the bases)', () => {
  for (const b of BASES) {
    assert.ok(equalBytes(blockIdOf(b.block.headerBytes), sha256(b.block.headerBytes)));
    const c = commitPayload(b.payload);
    assert.ok(equalBytes(c.payloadHash, b.block.header.payloadHash));
    assert.ok(equalBytes(c.tileRoot as Hash, b.block.header.tileRoot));
    assert.equal(c.payloadSize, b.block.header.payloadSize);
  }
});
