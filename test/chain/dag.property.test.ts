/**
 * Contextual rules (docs/block-rules.md, D0–D6, L1–L5) and the standalone rules S5–S8 as the store
 * applies them: property tests over random chain-B DAGs, synthetic cycles for topoOrder, and one
 * unit test per error code with blocks built by hand so they get past the earlier checks.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as dagCbor from '@ipld/dag-cbor';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import fc from 'fast-check';
import { commitPayload, createBlock, sortDeps, verifyStandalone } from '../../src/chain/block.ts';
import { type ChainView, checkContext, topoOrder } from '../../src/chain/dag.ts';
import { blockIdOf, decodeRecord, encodeHeader, encodeRecord } from '../../src/chain/encoding.ts';
import { GENESIS_PRIVATE_KEY, genesisOf } from '../../src/chain/genesis.ts';
import { type Hash, sha256, toHex } from '../../src/chain/hash.ts';
import { MAX_HEADER_BYTES, NONCE_BYTES } from '../../src/chain/limits.ts';
import { leadingZeroBits, mine, nonceOffset } from '../../src/chain/pow.ts';
import { DEVNET, TINY } from '../../src/chain/presets.ts';
import { addressOf, clearPublicKeyCache, SIGNATURE_BYTES, signDigest, signingDigest } from '../../src/chain/sign.ts';
import { BlockStore } from '../../src/chain/store.ts';
import type { Block, BlockHeader, LinearChain } from '../../src/chain/types.ts';
import { type BlyanErrorCode, isBlyanError } from '../../src/errors.ts';
import { addModel, deterministicBytes, expertBlock, freshStore, TEST_KEY, TEST_KEY_2, tempDir } from '../helpers/fixtures.ts';

const T0 = TINY.genesisTime;
const GENESIS = genesisOf(TINY);

function rejects(fn: () => unknown, code: BlyanErrorCode, message?: string): void {
  assert.throws(fn, (err: unknown) => {
    if (isBlyanError(err, code)) return true;
    throw new assert.AssertionError({ message: `${message ?? 'expected'} ${code}, got ${isBlyanError(err) ? err.code : String(err)}`, actual: err, expected: code });
  });
}

// ---------- hand-built blocks ----------

interface ForgeOptions {
  /** Key whose address is the author (default TEST_KEY). */
  readonly key?: Uint8Array;
  /** Key that signs (default: the author's key). */
  readonly signKey?: Uint8Array;
  readonly chainId?: number;
  /** Pick a nonce whose id has FEWER than this many leading zero bits, instead of mining. */
  readonly weakBelow?: number;
}

type Fields = Partial<BlockHeader> & Pick<BlockHeader, 'chain' | 'index' | 'type'>;

/** Like createBlock, but every header field can be set, including inconsistent ones. */
function forge(fields: Fields, payload: Uint8Array = new Uint8Array(0), opts: ForgeOptions = {}): Block {
  const key = opts.key ?? TEST_KEY;
  const header: BlockHeader = {
    v: 1,
    prev: null,
    deps: [],
    expert: null,
    layer: null,
    ...commitPayload(payload),
    time: T0 + 1000,
    nonce: new Uint8Array(NONCE_BYTES),
    difficulty: TINY.minDifficulty[fields.chain],
    author: addressOf(key),
    ...fields,
  };
  const headerBytes = encodeHeader(header);
  if (opts.weakBelow !== undefined) {
    const view = new DataView(headerBytes.buffer, headerBytes.byteOffset + nonceOffset((n) => encodeHeader({ ...header, nonce: n })), NONCE_BYTES);
    for (let i = 0; leadingZeroBits(blockIdOf(headerBytes)) >= opts.weakBelow; i++) view.setUint32(4, i);
  } else {
    mine(headerBytes, nonceOffset((n) => encodeHeader({ ...header, nonce: n })), header.difficulty);
  }
  const id = blockIdOf(headerBytes);
  const sig = signDigest(signingDigest(opts.chainId ?? TINY.chainId, header.chain, header.type, id), opts.signKey ?? key);
  return decodeRecord(encodeRecord({ headerBytes, sig }));
}

function withSig(block: Block, sig: Uint8Array): Block {
  return decodeRecord(encodeRecord({ headerBytes: block.headerBytes, sig }));
}

/** A chain-B expert block of `model` (deps and depth given), payload-free unless one is passed. */
function bBlock(model: Block, fields: Partial<BlockHeader> = {}, payload?: Uint8Array, opts?: ForgeOptions): Block {
  return forge({ chain: 'B', index: 0, type: 'expert', expert: 'layer0.expert0', layer: 0, deps: [model.id], ...fields }, payload, opts);
}

/** A read-only ChainView over a list of blocks (the last block of each linear chain is its head). */
class MemoryView implements ChainView {
  private readonly headers = new Map<string, BlockHeader>();
  private readonly heads = new Map<LinearChain, { id: Hash; header: BlockHeader }>();
  constructor(blocks: readonly Block[] = []) {
    for (const b of blocks) {
      this.headers.set(toHex(b.id), b.header);
      if (b.header.chain !== 'B') this.heads.set(b.header.chain, { id: b.id, header: b.header });
    }
  }
  header(id: Hash): BlockHeader | undefined {
    return this.headers.get(toHex(id));
  }
  head(chain: LinearChain): { id: Hash; header: BlockHeader } | undefined {
    return this.heads.get(chain);
  }
}

function recordCount(store: BlockStore): number {
  // No public count of records; read the LMDB sub-database directly (test only).
  return (store as unknown as { records: { getCount(): number } }).records.getCount();
}

function state(store: BlockStore): string {
  return JSON.stringify({ h: (['A', 'B', 'C', 'D'] as const).map((c) => store.height(c)), n: recordCount(store), l: [...store.parameterIndex()].length });
}

/** Runs fn on a fresh tiny store holding genesis and one model block (A:1). */
async function withStore(fn: (store: BlockStore, model: Block) => void | Promise<void>): Promise<void> {
  const { store, cleanup } = freshStore();
  try {
    const { block } = addModel(store);
    await fn(store, block);
  } finally {
    await cleanup();
  }
}

/** The append must fail with `code` and leave the store exactly as it was. */
function rejectsAppend(store: BlockStore, code: BlyanErrorCode, block: Block, payload?: Uint8Array, now?: number): void {
  const before = state(store);
  const had = store.has(block.id);
  clearPublicKeyCache();
  rejects(() => store.append(block, payload, now === undefined ? {} : { now }), code);
  assert.equal(state(store), before, `a rejected ${code} append wrote something`);
  assert.equal(store.has(block.id), had);
}

// ---------- random DAGs ----------

/** Block i: extra deps among blocks 0..i-1, and optionally a delta of an earlier block. */
interface NodeSpec {
  readonly deps: readonly number[];
  readonly deltaOf: number | null;
}

const dagSpecArb: fc.Arbitrary<NodeSpec[]> = fc
  .array(fc.record({ deps: fc.uniqueArray(fc.nat(), { maxLength: 4 }), delta: fc.option(fc.nat(), { freq: 3 }) }), { minLength: 1, maxLength: 10 })
  .map((raw) =>
    raw.map(({ deps, delta }, i) => ({
      deps: i === 0 ? [] : [...new Set(deps.map((d) => d % i))],
      deltaOf: i === 0 || delta === null ? null : delta % i,
    })),
  );

/** The DAG model block: A:1 on the tiny genesis, the same in every store. */
const DAG_MODEL_PAYLOAD = dagCbor.encode({ family: 'test', name: 'dag-model', layers: 1, experts: 64 });
const DAG_MODEL = createBlock({ chain: 'A', index: 1, prev: GENESIS.a.block.id, deps: [], type: 'model', time: T0 + 1 }, DAG_MODEL_PAYLOAD, TEST_KEY, TINY);

interface DagBlock {
  readonly block: Block;
  readonly payload: Uint8Array;
}

function buildDag(spec: readonly NodeSpec[]): DagBlock[] {
  const out: DagBlock[] = [];
  const names: string[] = [];
  for (const [i, node] of spec.entries()) {
    const name = node.deltaOf === null ? `layer0.expert${i}` : (names[node.deltaOf] as string);
    // One version of a component per block (rule D4): drop other versions of the same component.
    const deps = node.deps.filter((d) => names[d] !== name || d === node.deltaOf);
    if (node.deltaOf !== null && !deps.includes(node.deltaOf)) deps.push(node.deltaOf);
    const depth = deps.reduce((m, d) => Math.max(m, (out[d] as DagBlock).block.header.index + 1), 0);
    const payload = deterministicBytes(`dag ${i}`, 1 + (i % 5) * 7);
    const block = createBlock(
      {
        chain: 'B',
        index: depth,
        prev: null,
        deps: [DAG_MODEL.id, ...deps.map((d) => (out[d] as DagBlock).block.id)],
        type: node.deltaOf === null ? 'expert' : 'delta',
        expert: name,
        layer: 0,
        time: T0 + 10 + i,
      },
      payload,
      TEST_KEY,
      TINY,
    );
    names.push(name);
    out.push({ block, payload });
  }
  return out;
}

function shuffled<T>(items: readonly T[], seed: number): T[] {
  const out = items.slice();
  let s = seed >>> 0;
  for (let i = out.length - 1; i > 0; i--) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    const j = s % (i + 1);
    [out[i], out[j]] = [out[j] as T, out[i] as T];
  }
  return out;
}

function lineageSets(store: BlockStore): string[] {
  return [...store.parameterIndex()].map((e) => `${e.name}:${store.lineage(DAG_MODEL.id, e.name).map(toHex).sort().join(',')}`).sort();
}

test('property: random chain-B DAGs — sequential appends, any shuffled batch, and a batch missing one block', async () => {
  await fc.assert(
    fc.asyncProperty(dagSpecArb, fc.integer(), async (spec, seed) => {
      const dag = buildDag(spec);
      const ids = new Set(dag.map((d) => toHex(d.block.id)));
      assert.equal(ids.size, dag.length);

      // 1. In generation order (a topological order), one by one: every block is accepted.
      const seq = freshStore();
      try {
        seq.store.append(DAG_MODEL, DAG_MODEL_PAYLOAD);
        for (const [i, d] of dag.entries()) {
          const stored = seq.store.append(d.block, d.payload);
          assert.equal(stored.seq, i);
        }
        assert.equal(seq.store.height('B'), dag.length);

        // 2. A batch without one block that has children fails with BLOCK_UNKNOWN_DEP and writes nothing.
        const batch = freshStore();
        try {
          batch.store.append(DAG_MODEL, DAG_MODEL_PAYLOAD);
          const parents = dag.filter((p) => dag.some((c) => c.block.header.deps.some((x) => toHex(x) === toHex(p.block.id))));
          if (parents.length > 0) {
            const removed = parents[Math.abs(seed) % parents.length] as DagBlock;
            const rest = shuffled(dag.filter((d) => d !== removed), seed);
            const before = state(batch.store);
            assert.throws(
              () => batch.store.appendBatch(rest.map((d) => ({ block: d.block, payload: d.payload }))),
              (err: unknown) => {
                assert.ok(isBlyanError(err, 'BLOCK_UNKNOWN_DEP'), String(err));
                assert.equal(err.data.dep, toHex(removed.block.id));
                const child = dag.find((d) => toHex(d.block.id) === err.data.block);
                assert.ok(child?.block.header.deps.some((x) => toHex(x) === toHex(removed.block.id)), 'the reported block is a child of the removed one');
                return true;
              },
            );
            assert.equal(state(batch.store), before);
            for (const d of dag) assert.equal(batch.store.has(d.block.id), false);
          }

          // 3. The whole DAG as one shuffled batch: accepted, in an order where deps come first.
          const results = batch.store.appendBatch(shuffled(dag, seed ^ 0x5a5a).map((d) => ({ block: d.block, payload: d.payload })));
          const position = new Map(results.map((r, i) => [toHex(r.block.id), i]));
          for (const r of results) {
            for (const dep of r.block.header.deps) {
              const p = position.get(toHex(dep));
              if (p !== undefined) assert.ok(p < (position.get(toHex(r.block.id)) as number), 'a dep was appended after its dependant');
            }
          }
          assert.equal(batch.store.height('B'), dag.length);
          assert.deepEqual(lineageSets(batch.store), lineageSets(seq.store));
          // And a second time: every block is a duplicate.
          rejects(() => batch.store.appendBatch(dag.map((d) => ({ block: d.block, payload: d.payload }))), 'BLOCK_DUPLICATE');
        } finally {
          await batch.cleanup();
        }
      } finally {
        await seq.cleanup();
      }
    }),
    { numRuns: 40 },
  );
});

/** Fake {id, header} items for topoOrder: ids are arbitrary hashes, deps are whatever we say. */
function fakeItems(depsOf: readonly (readonly number[])[], tag: number): { id: Hash; header: BlockHeader }[] {
  const ids = depsOf.map((_, i) => sha256(Uint8Array.of(tag & 0xff, i)));
  const template = GENESIS.a.block.header;
  return depsOf.map((deps, i) => ({ id: ids[i] as Hash, header: { ...template, chain: 'B', prev: null, deps: sortDeps(deps.map((d) => ids[d] as Hash)) } }));
}

test('property: topoOrder orders any acyclic batch so deps come first', () => {
  fc.assert(
    fc.property(dagSpecArb, fc.integer(), (spec, seed) => {
      const items = fakeItems(spec.map((n) => n.deps), 1);
      const external = sha256(Uint8Array.of(9, 9));
      const withExternal = items.map((it) => ({ ...it, header: { ...it.header, deps: sortDeps([...it.header.deps, external]) } }));
      const order = topoOrder(shuffled(withExternal, seed), (id) => toHex(id) === toHex(external));
      const pos = new Map(order.map((x, i) => [toHex(x.id), i]));
      assert.equal(order.length, items.length);
      for (const x of order) for (const d of x.header.deps) if (pos.has(toHex(d))) assert.ok((pos.get(toHex(d)) as number) < (pos.get(toHex(x.id)) as number));
      // An external dep that is not known is BLOCK_UNKNOWN_DEP.
      rejects(() => topoOrder(withExternal, () => false), 'BLOCK_UNKNOWN_DEP');
    }),
    { numRuns: 200 },
  );
});

test('property: topoOrder detects synthetic cycles with BLOCK_CYCLE and names the blocks of the cycle', () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 1, max: 6 }),
      fc.array(fc.record({ onCycle: fc.boolean(), deps: fc.uniqueArray(fc.nat(), { maxLength: 3 }) }), { maxLength: 8 }),
      fc.integer(),
      (k, extra, seed) => {
        // Nodes 0..k-1 form the cycle 0 → 1 → … → k-1 → 0 (k = 1 is a self-loop).
        const depsOf: number[][] = Array.from({ length: k }, (_, i) => [(i + 1) % k]);
        const downstream = new Set<number>(depsOf.keys());
        for (const [j, e] of extra.entries()) {
          const i = k + j;
          // Either depends on a cycle node (so it is stuck too) or only on earlier non-stuck nodes.
          const deps = e.onCycle ? [e.deps[0] === undefined ? 0 : (e.deps[0] as number) % k] : e.deps.map((d) => d % i).filter((d) => !downstream.has(d));
          depsOf.push(deps);
          if (deps.some((d) => downstream.has(d))) downstream.add(i);
        }
        const items = fakeItems(depsOf, 2);
        assert.throws(
          () => topoOrder(shuffled(items, seed), () => false),
          (err: unknown) => {
            assert.ok(isBlyanError(err, 'BLOCK_CYCLE'), String(err));
            // The blocks named are all of the cycle, and nothing that does not depend on it.
            const named = new Set(err.data.blocks as string[]);
            for (const [i, it] of items.entries()) {
              if (i < k) assert.ok(named.has(toHex(it.id)), `cycle node ${i} not named`);
              if (!downstream.has(i)) assert.ok(!named.has(toHex(it.id)), `node ${i} is not on or behind the cycle`);
            }
            return true;
          },
        );
      },
    ),
    { numRuns: 300 },
  );
});

test('topoOrder: the same block twice in a batch is BLOCK_DUPLICATE, not a cycle', () => {
  const [a, b] = fakeItems([[], [0]], 3) as [{ id: Hash; header: BlockHeader }, { id: Hash; header: BlockHeader }];
  rejects(() => topoOrder([a, b, b], () => false), 'BLOCK_DUPLICATE');
  rejects(() => topoOrder([a, a, b], () => false), 'BLOCK_DUPLICATE');
});

// ---------- one test per error code ----------

test('BLOCK_DUPLICATE (D0): a block already in the store, or twice in one batch', async () => {
  await withStore((store, model) => {
    rejectsAppend(store, 'BLOCK_DUPLICATE', model);
    rejects(() => store.append(GENESIS.a.block, GENESIS.a.payload), 'BLOCK_DUPLICATE');
    const e = expertBlock(model.id, 0, 0, deterministicBytes('dup', 10));
    const before = state(store);
    rejects(() => store.appendBatch([{ block: e, payload: deterministicBytes('dup', 10) }, { block: e }]), 'BLOCK_DUPLICATE');
    assert.equal(state(store), before);
  });
});

test('BLOCK_UNKNOWN_DEP (D1): a dep the node does not have', async () => {
  await withStore((store, model) => {
    const unknown = sha256(new TextEncoder().encode('nowhere'));
    const b = bBlock(model, { deps: sortDeps([model.id, unknown]) });
    rejectsAppend(store, 'BLOCK_UNKNOWN_DEP', b);
    // checkContext itself (the store reports it earlier, from topoOrder).
    rejects(() => checkContext(b, store, TINY), 'BLOCK_UNKNOWN_DEP');
    // A linear block whose prev is unknown and not in the batch is reported the same way by the store.
    const orphan = forge({ chain: 'A', index: 2, type: 'params', prev: unknown, time: T0 + 5 });
    rejectsAppend(store, 'BLOCK_UNKNOWN_DEP', orphan);
  });
});

test('BLOCK_BAD_PREV (L4): prev is not the head of the chain, or the chain has no genesis', async () => {
  await withStore((store) => {
    // Head of A is A:1 (the model); A:2 names A:0 as prev.
    rejectsAppend(store, 'BLOCK_BAD_PREV', forge({ chain: 'A', index: 2, type: 'params', prev: GENESIS.a.block.id, time: T0 + 5 }));
    // C:1 whose prev is a block of another chain.
    rejectsAppend(store, 'BLOCK_BAD_PREV', forge({ chain: 'C', index: 1, type: 'txbatch', prev: GENESIS.a.block.id, time: T0 + 5 }));
  });
  const a1 = forge({ chain: 'A', index: 1, type: 'params', prev: GENESIS.a.block.id, time: T0 + 5 });
  rejects(() => checkContext(a1, new MemoryView(), TINY), 'BLOCK_BAD_PREV');
});

test('BLOCK_BAD_INDEX (L1, L4, D3): a second genesis, a skipped height, a wrong DAG depth', async () => {
  await withStore((store, model) => {
    // L1: chain C already has its genesis; another C:0 (right deps, right author) is refused.
    const c0 = forge({ chain: 'C', index: 0, type: 'genesis', deps: [GENESIS.a.block.id], time: T0 + 7 }, new Uint8Array(0), { key: GENESIS_PRIVATE_KEY });
    rejectsAppend(store, 'BLOCK_BAD_INDEX', c0);
    // L4: A is at height 1, a block claims index 3.
    rejectsAppend(store, 'BLOCK_BAD_INDEX', forge({ chain: 'A', index: 3, type: 'params', prev: model.id, time: T0 + 5 }));
    // D3: depth 0 block claiming 1, and a block on top of a depth-0 block claiming 0 or 2.
    rejectsAppend(store, 'BLOCK_BAD_INDEX', bBlock(model, { index: 1 }));
    const e = bBlock(model, { expert: 'layer0.expert5' });
    store.append(e);
    rejectsAppend(store, 'BLOCK_BAD_INDEX', bBlock(model, { deps: sortDeps([model.id, e.id]), index: 0 }));
    rejectsAppend(store, 'BLOCK_BAD_INDEX', bBlock(model, { deps: sortDeps([model.id, e.id]), index: 2 }));
    store.append(bBlock(model, { deps: sortDeps([model.id, e.id]), index: 1 }));
  });
});

test('BLOCK_BAD_TIME (L5): a linear block older than its predecessor', async () => {
  await withStore((store, model) => {
    rejectsAppend(store, 'BLOCK_BAD_TIME', forge({ chain: 'A', index: 2, type: 'params', prev: model.id, time: model.header.time - 1 }));
    // Equal time is allowed.
    store.append(forge({ chain: 'A', index: 2, type: 'params', prev: model.id, time: model.header.time }));
  });
});

test('BLOCK_WRONG_GENESIS (L2, L3): A:0 of another network, C:0 / D:0 not hanging off A:0 or not by the genesis authority', async () => {
  const empty = new MemoryView();
  // L2: devnet's A:0 (and a made-up tiny-signed A:0) are not the tiny genesis.
  rejects(() => checkContext(genesisOf(DEVNET).a.block, empty, TINY), 'BLOCK_WRONG_GENESIS');
  const fakeA0 = forge({ chain: 'A', index: 0, type: 'genesis', time: T0 + 1 }, new Uint8Array(0), { key: GENESIS_PRIVATE_KEY });
  rejects(() => checkContext(fakeA0, empty, TINY), 'BLOCK_WRONG_GENESIS');
  checkContext(GENESIS.a.block, empty, TINY);

  // L3, with A:0 accepted and no C or D yet.
  const onlyA0 = new MemoryView([GENESIS.a.block]);
  checkContext(GENESIS.c.block, onlyA0, TINY);
  checkContext(GENESIS.d.block, onlyA0, TINY);
  const g = { key: GENESIS_PRIVATE_KEY };
  rejects(() => checkContext(forge({ chain: 'C', index: 0, type: 'genesis', deps: [] }, undefined, g), onlyA0, TINY), 'BLOCK_WRONG_GENESIS', 'C:0 without deps:');
  const withModel = new MemoryView([GENESIS.a.block, DAG_MODEL]);
  const twoDeps = forge({ chain: 'D', index: 0, type: 'genesis', deps: sortDeps([GENESIS.a.block.id, DAG_MODEL.id]) }, undefined, g);
  rejects(() => checkContext(twoDeps, withModel, TINY), 'BLOCK_WRONG_GENESIS', 'D:0 with two deps:');
  const onModel = forge({ chain: 'D', index: 0, type: 'genesis', deps: [DAG_MODEL.id] }, undefined, g);
  rejects(() => checkContext(onModel, withModel, TINY), 'BLOCK_WRONG_GENESIS', 'D:0 on the model:');
  const byTestKey = forge({ chain: 'C', index: 0, type: 'genesis', deps: [GENESIS.a.block.id] });
  rejects(() => checkContext(byTestKey, onlyA0, TINY), 'BLOCK_WRONG_GENESIS', 'C:0 by another key:');

  // Through the store, another network's A:0 fails its signature (other chain id) before any context rule,
  // and with signatures skipped (an already verified archive) rule L1 comes first.
  await withStore((store) => {
    rejectsAppend(store, 'BLOCK_BAD_SIGNATURE', genesisOf(DEVNET).a.block, genesisOf(DEVNET).a.payload);
    rejects(() => store.append(genesisOf(DEVNET).a.block, genesisOf(DEVNET).a.payload, { verified: true }), 'BLOCK_BAD_INDEX');
  });
});

test('BLOCK_MISSING_MODEL_DEP (D2): a chain-B block without exactly one model block among its deps', async () => {
  await withStore((store, model) => {
    rejectsAppend(store, 'BLOCK_MISSING_MODEL_DEP', bBlock(model, { deps: [GENESIS.a.block.id] }));
    const e = bBlock(model, { expert: 'layer0.expert7' });
    store.append(e);
    rejectsAppend(store, 'BLOCK_MISSING_MODEL_DEP', bBlock(model, { deps: [e.id], index: 1, expert: 'layer0.expert8' }));
    const model2 = addModel(store, 'second-model').block;
    rejectsAppend(store, 'BLOCK_MISSING_MODEL_DEP', bBlock(model, { deps: sortDeps([model.id, model2.id]) }));
  });
});

test('BLOCK_BAD_LINEAGE (D4, D5): deltas without their base, a base of another model, two versions at once', async () => {
  await withStore((store, model) => {
    const delta = (deps: Hash[], index: number, type: 'delta' | 'snapshot' = 'delta', expert = 'layer0.expert0') =>
      bBlock(model, { type, deps: sortDeps([model.id, ...deps]), index, expert });
    rejectsAppend(store, 'BLOCK_BAD_LINEAGE', delta([], 0));
    rejectsAppend(store, 'BLOCK_BAD_LINEAGE', delta([], 0, 'snapshot'));
    const e0 = bBlock(model);
    store.append(e0);
    // A delta of layer0.expert1 that depends on layer0.expert0 names no base of its own component.
    rejectsAppend(store, 'BLOCK_BAD_LINEAGE', delta([e0.id], 1, 'delta', 'layer0.expert1'));
    const d1 = delta([e0.id], 1);
    store.append(d1);
    // Two versions of layer0.expert0 among the deps.
    rejectsAppend(store, 'BLOCK_BAD_LINEAGE', delta([e0.id, d1.id], 2));
    // D5: the base belongs to another model.
    const model2 = addModel(store, 'other-model').block;
    const e2 = bBlock(model2);
    store.append(e2);
    rejectsAppend(store, 'BLOCK_BAD_LINEAGE', delta([e2.id], 1));
    // The good one.
    store.append(delta([d1.id], 2));
    assert.equal(store.lineage(model.id, 'layer0.expert0').length, 3);
    assert.equal(store.lineage(model2.id, 'layer0.expert0').length, 1);
  });
});

test('BLOCK_WEAK_POW (S6): difficulty below the preset, or an id without the claimed zero bits', async () => {
  await withStore((store, model) => {
    const low = bBlock(model, { difficulty: TINY.minDifficulty.B - 1 });
    rejectsAppend(store, 'BLOCK_WEAK_POW', low);
    const weak = bBlock(model, {}, undefined, { weakBelow: TINY.minDifficulty.B });
    assert.ok(leadingZeroBits(weak.id) < TINY.minDifficulty.B);
    rejectsAppend(store, 'BLOCK_WEAK_POW', weak);
    const overclaim = bBlock(model, { difficulty: 40 }, undefined, { weakBelow: 40 });
    rejectsAppend(store, 'BLOCK_WEAK_POW', overclaim);
    // More work than required is fine.
    store.append(bBlock(model, { difficulty: TINY.minDifficulty.B + 2 }));
  });
});

test('BLOCK_BAD_SIGNATURE (S7): wrong key, high s, recovery id 2, another chain id, r = 0', async () => {
  await withStore((store, model) => {
    rejectsAppend(store, 'BLOCK_BAD_SIGNATURE', bBlock(model, {}, undefined, { signKey: TEST_KEY_2 }));
    rejectsAppend(store, 'BLOCK_BAD_SIGNATURE', bBlock(model, {}, undefined, { chainId: DEVNET.chainId }));
    const good = bBlock(model, { expert: 'layer0.expert9' });
    // High s: n − s with the recovery id flipped is the same signature in the malleable form.
    const n = secp256k1.Point.CURVE().n;
    const s = BigInt(`0x${toHex(good.sig.subarray(32, 64))}`);
    const high = good.sig.slice();
    high.set(Buffer.from((n - s).toString(16).padStart(64, '0'), 'hex'), 32);
    high[64] = (good.sig[64] as number) ^ 1;
    const digest = signingDigest(TINY.chainId, 'B', 'expert', good.id);
    const pub = secp256k1.getPublicKey(TEST_KEY, false);
    assert.equal(secp256k1.verify(high.subarray(0, 64), digest, pub, { prehash: false, lowS: false }), true, 'valid apart from s being high');
    rejectsAppend(store, 'BLOCK_BAD_SIGNATURE', withSig(good, high));
    for (const v of [2, 3, 27, 28]) {
      const bad = good.sig.slice();
      bad[64] = v;
      rejectsAppend(store, 'BLOCK_BAD_SIGNATURE', withSig(good, bad));
    }
    const zeroR = good.sig.slice();
    zeroR.fill(0, 0, 32);
    rejectsAppend(store, 'BLOCK_BAD_SIGNATURE', withSig(good, zeroR));
    rejectsAppend(store, 'BLOCK_BAD_SIGNATURE', withSig(good, new Uint8Array(SIGNATURE_BYTES)));
    store.append(good);
  });
});

test('BLOCK_FUTURE_TIME (S8): more than maxFutureMs ahead of the receipt time', async () => {
  await withStore((store, model) => {
    const now = T0 + 10_000_000;
    rejectsAppend(store, 'BLOCK_FUTURE_TIME', bBlock(model, { time: now + TINY.maxFutureMs + 1 }), undefined, now);
    store.append(bBlock(model, { time: now + TINY.maxFutureMs }), undefined, { now });
  });
});

test('a time beyond the range of Date is a bad field (E3), not a crash', async () => {
  await withStore((_store, model) => {
    assert.throws(() => bBlock(model, { time: 8_640_000_000_000_001 }), (e: unknown) => isBlyanError(e, 'BLOCK_BAD_FIELD'));
    bBlock(model, { time: 8_640_000_000_000_000 });
  });
});

test('BLOCK_PAYLOAD_MISSING: a payload-carrying block without its payload (unless already stored)', async () => {
  await withStore((store, model) => {
    const payload = deterministicBytes('payload', 1234);
    const e = bBlock(model, {}, payload);
    rejectsAppend(store, 'BLOCK_PAYLOAD_MISSING', e);
    store.append(e, payload);
    // The same payload under another block: already stored, so it may be left out.
    store.append(bBlock(model, { expert: 'layer0.expert1' }, payload));
    // In one batch, one copy of a shared payload is enough (here it comes with the first block that needs it).
    const p2 = deterministicBytes('shared', 99);
    const first = bBlock(model, { expert: 'layer0.expert2' }, p2);
    const second = bBlock(model, { expert: 'layer0.expert3' }, p2);
    store.appendBatch([{ block: first, payload: p2 }, { block: second }]);
    assert.equal(store.height('B'), 4);
  });
});

test('BLOCK_BAD_PAYLOAD (S5): bytes, size or tile root do not match the header', async () => {
  await withStore((store, model) => {
    const payload = deterministicBytes('good payload', 500);
    const e = bBlock(model, {}, payload);
    const other = payload.slice();
    other[499] = (other[499] as number) ^ 1;
    rejectsAppend(store, 'BLOCK_BAD_PAYLOAD', e, other);
    rejectsAppend(store, 'BLOCK_BAD_PAYLOAD', e, payload.subarray(0, 499));
    // Right hash and size, wrong tile root.
    const badTiles = bBlock(model, { tileRoot: sha256(payload) }, payload);
    rejectsAppend(store, 'BLOCK_BAD_PAYLOAD', badTiles, payload);
    // Size 0 but a payload hash that is not SHA-256 of nothing (no payload sent).
    const emptyLie = bBlock(model, { payloadSize: 0, payloadHash: sha256(payload) });
    rejectsAppend(store, 'BLOCK_BAD_PAYLOAD', emptyLie);
    store.append(e, payload);
  });
});

test('BLOCK_TOO_LARGE (E1, S5): payload size over the preset limit, records over the header limit', async () => {
  await withStore((store, model) => {
    const huge = bBlock(model, { payloadSize: TINY.maxPayloadBytes + 1 });
    rejectsAppend(store, 'BLOCK_TOO_LARGE', huge);
    verifyStandalone(bBlock(model, { payloadSize: TINY.maxPayloadBytes }), TINY); // at the limit: fine without the bytes
  });
  rejects(() => decodeRecord(new Uint8Array(MAX_HEADER_BYTES + SIGNATURE_BYTES + 1)), 'BLOCK_TOO_LARGE');
  rejects(() => encodeHeader({ ...GENESIS.a.block.header, expert: 'x'.repeat(MAX_HEADER_BYTES) }), 'BLOCK_TOO_LARGE');
});

test('STORE_GENESIS_MISMATCH: a tiny data dir opened as devnet', async () => {
  const { dir, cleanup } = tempDir();
  try {
    const { store } = BlockStore.init(dir, TINY);
    await store.close();
    rejects(() => BlockStore.open(dir, DEVNET), 'STORE_GENESIS_MISMATCH');
    rejects(() => BlockStore.init(dir, DEVNET), 'STORE_GENESIS_MISMATCH');
    const again = BlockStore.open(dir, TINY);
    assert.equal(again.height('A'), 1);
    await again.close();
  } finally {
    cleanup();
  }
});

test('contextual checks need nothing but the view: the genesis blocks pass against an empty store view in order', () => {
  const view = new MemoryView();
  checkContext(GENESIS.a.block, view, TINY);
  const withA = new MemoryView([GENESIS.a.block]);
  checkContext(GENESIS.c.block, withA, TINY);
  rejects(() => checkContext(GENESIS.c.block, new MemoryView([GENESIS.a.block, GENESIS.c.block]), TINY), 'BLOCK_DUPLICATE');
});
