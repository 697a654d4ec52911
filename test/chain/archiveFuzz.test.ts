import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { CarBlockIterator } from '@ipld/car/iterator';
import { CarWriter } from '@ipld/car/writer';
import * as dagCbor from '@ipld/dag-cbor';
import fc from 'fast-check';
import { CID } from 'multiformats/cid';
import * as Digest from 'multiformats/hashes/digest';
import { exportArchive, importArchive, type ImportResult } from '../../src/chain/archive/index.ts';
import { sha256, toHex } from '../../src/chain/hash.ts';
import { TINY } from '../../src/chain/presets.ts';
import { BlockStore } from '../../src/chain/store.ts';
import { CHAINS } from '../../src/chain/types.ts';
import { BlyanError } from '../../src/errors.ts';
import { addModel, deterministicBytes, expertBlock, freshStore, tempDir } from '../helpers/fixtures.ts';

const RUNS = 10_000;
/** Second property: mutate one section's content and re-address it, so the checks past the CIDs run. */
const SEMANTIC_RUNS = 3_000;

function snapshot(store: BlockStore): string {
  const out: string[] = [];
  for (const chain of CHAINS) {
    out.push(`height ${chain} ${store.height(chain)}`);
    for (const { block, seq } of store.iterate(chain)) {
      const payload = block.header.payloadSize === 0 ? new Uint8Array(0) : store.getPayload(block.header.payloadHash);
      out.push(`${chain}:${seq} ${toHex(store.getRecord(block.id) as Uint8Array)} ${payload === undefined ? 'MISSING' : toHex(sha256(payload))}`);
    }
  }
  for (const e of store.parameterIndex()) out.push(`lineage ${e.model}/${e.name} ${e.versions} ${toHex(e.current)}`);
  return out.join('\n');
}

type Mutation =
  | { kind: 'flip'; pos: number; bit: number }
  | { kind: 'flips'; flips: { pos: number; bit: number }[] }
  | { kind: 'truncate'; len: number }
  | { kind: 'insert'; pos: number; bytes: Uint8Array }
  | { kind: 'delete'; pos: number; count: number }
  | { kind: 'overwrite'; pos: number; bytes: Uint8Array }
  | { kind: 'duplicate'; from: number; len: number; to: number };

function mutationArb(size: number): fc.Arbitrary<Mutation> {
  const pos = fc.nat({ max: size - 1 });
  const flip = fc.record({ pos, bit: fc.nat({ max: 7 }) });
  return fc.oneof(
    { weight: 4, arbitrary: flip.map((f) => ({ kind: 'flip' as const, ...f })) },
    { weight: 1, arbitrary: fc.array(flip, { minLength: 2, maxLength: 6 }).map((flips) => ({ kind: 'flips' as const, flips })) },
    { weight: 2, arbitrary: fc.nat({ max: size - 1 }).map((len) => ({ kind: 'truncate' as const, len })) },
    { weight: 2, arbitrary: fc.record({ pos: fc.nat({ max: size }), bytes: fc.uint8Array({ minLength: 1, maxLength: 8 }) }).map((r) => ({ kind: 'insert' as const, ...r })) },
    { weight: 2, arbitrary: fc.record({ pos, count: fc.integer({ min: 1, max: 16 }) }).map((r) => ({ kind: 'delete' as const, ...r })) },
    { weight: 1, arbitrary: fc.record({ pos, bytes: fc.uint8Array({ minLength: 1, maxLength: 12 }) }).map((r) => ({ kind: 'overwrite' as const, ...r })) },
    { weight: 1, arbitrary: fc.record({ from: pos, len: fc.integer({ min: 1, max: 400 }), to: fc.nat({ max: size }) }).map((r) => ({ kind: 'duplicate' as const, ...r })) },
  );
}

function apply(src: Uint8Array, m: Mutation): Uint8Array {
  switch (m.kind) {
    case 'flip':
    case 'flips': {
      const out = src.slice();
      for (const f of m.kind === 'flip' ? [m] : m.flips) out[f.pos] = (out[f.pos] as number) ^ (1 << f.bit);
      return out;
    }
    case 'truncate':
      return src.slice(0, m.len);
    case 'insert':
      return Buffer.concat([src.subarray(0, m.pos), m.bytes, src.subarray(m.pos)]);
    case 'delete':
      return Buffer.concat([src.subarray(0, m.pos), src.subarray(m.pos + m.count)]);
    case 'overwrite': {
      const out = src.slice();
      out.set(m.bytes.subarray(0, out.length - m.pos), m.pos);
      return out;
    }
    case 'duplicate': {
      const piece = src.subarray(m.from, m.from + m.len);
      return Buffer.concat([src.subarray(0, m.to), piece, src.subarray(m.to)]);
    }
  }
}

test(`archive fuzz: ${RUNS} mutated archives each fail with a BlyanError (or import identically), never touching the store`, { timeout: 300_000 }, async (t) => {
  // A small chain: genesis, a model, three experts (one sharing a payload, one empty) and a delta.
  const source = freshStore();
  const model = addModel(source.store).block;
  const p1 = deterministicBytes('fuzz-1', 300);
  const p2 = deterministicBytes('fuzz-2', 200);
  const e1 = expertBlock(model.id, 0, 0, p1);
  source.store.append(e1, p1);
  source.store.append(expertBlock(model.id, 0, 1, p2), p2);
  source.store.append(expertBlock(model.id, 1, 0, new Uint8Array(0)), new Uint8Array(0));
  const d = deterministicBytes('fuzz-delta', 100);
  source.store.append(expertBlock(model.id, 0, 0, d, { base: e1, type: 'delta', time: TINY.genesisTime + 5000 }), d);

  const tmp = tempDir('blyan-fuzz-');
  const file = join(tmp.dir, 'small.car');
  await exportArchive(source.store, file);
  const { readFile } = await import('node:fs/promises');
  const archive = new Uint8Array(await readFile(file));
  const expectedSnapshot = snapshot(source.store);

  let n = 0;
  let failures = 0;
  let target = BlockStore.init(join(tmp.dir, `t${n}`), TINY).store;
  const fresh = snapshot(target);
  const now = Date.now();
  const expected: ImportResult = { added: 5, skipped: 3, blocks: 8, bytes: archive.byteLength };
  const outcomes = new Map<string, number>();
  try {
    // Sanity: the unmutated archive imports, then reset.
    assert.deepEqual(await importArchive(target, archive, { now }), expected);
    assert.equal(snapshot(target), expectedSnapshot);
    await target.close();
    target = BlockStore.init(join(tmp.dir, `t${++n}`), TINY).store;

    const started = performance.now();
    await fc.assert(
      fc.asyncProperty(mutationArb(archive.byteLength), async (m) => {
        const mutated = apply(archive, m);
        let result: ImportResult;
        try {
          result = await importArchive(target, mutated, { now });
        } catch (err) {
          if (!(err instanceof BlyanError)) throw new Error(`${JSON.stringify(m)}: not a BlyanError: ${String(err)}\n${(err as Error).stack}`);
          outcomes.set(err.code, (outcomes.get(err.code) ?? 0) + 1);
          // Nothing was written. (Heights and heads are enough after a failure; a full compare every 50 runs.)
          for (const chain of CHAINS) assert.equal(target.height(chain), chain === 'B' ? 0 : 1);
          if (failures++ % 50 === 0) assert.equal(snapshot(target), fresh);
          return;
        }
        // A mutation that kept the archive valid must import exactly the same chain.
        outcomes.set('ok', (outcomes.get('ok') ?? 0) + 1);
        assert.deepEqual({ ...result, bytes: archive.byteLength }, expected, JSON.stringify(m));
        assert.equal(snapshot(target), expectedSnapshot, JSON.stringify(m));
        await target.close();
        target = BlockStore.init(join(tmp.dir, `t${++n}`), TINY).store;
      }),
      { numRuns: RUNS, seed: 20_261_123, endOnFailure: true },
    );
    const seconds = (performance.now() - started) / 1000;
    t.diagnostic(`${RUNS} mutations of a ${archive.byteLength}-byte archive in ${seconds.toFixed(1)} s: ${JSON.stringify(Object.fromEntries(outcomes))}`);
    assert.equal(snapshot(target), fresh);
    assert.equal([...outcomes.values()].reduce((a, b) => a + b, 0), RUNS);
  } finally {
    await target.close();
    await source.cleanup();
    tmp.cleanup();
  }
});

async function sectionsOf(bytes: Uint8Array): Promise<{ root: CID; sections: { cid: CID; bytes: Uint8Array }[] }> {
  const it = await CarBlockIterator.fromBytes(bytes);
  const [root] = await it.getRoots();
  const sections: { cid: CID; bytes: Uint8Array }[] = [];
  for await (const b of it) sections.push({ cid: b.cid as CID, bytes: b.bytes.slice() });
  return { root: root as CID, sections };
}

async function carBytes(root: CID, sections: readonly { cid: CID; bytes: Uint8Array }[]): Promise<Uint8Array> {
  const { writer, out } = CarWriter.create([root]);
  const chunks: Uint8Array[] = [];
  const collect = (async () => {
    for await (const c of out) chunks.push(c);
  })();
  for (const s of sections) await writer.put(s);
  await writer.close();
  await collect;
  return new Uint8Array(Buffer.concat(chunks));
}

test(`archive fuzz: ${SEMANTIC_RUNS} archives with one section's content mutated and re-addressed (valid CIDs) fail with a rule error`, { timeout: 300_000 }, async (t) => {
  const source = freshStore();
  const model = addModel(source.store).block;
  const p1 = deterministicBytes('sem-1', 300);
  const e1 = expertBlock(model.id, 0, 0, p1);
  source.store.append(e1, p1);
  const d = deterministicBytes('sem-delta', 100);
  source.store.append(expertBlock(model.id, 0, 0, d, { base: e1, type: 'delta', time: TINY.genesisTime + 5000 }), d);
  const tmp = tempDir('blyan-fuzz-');
  const file = join(tmp.dir, 'small.car');
  await exportArchive(source.store, file);
  const { readFile } = await import('node:fs/promises');
  const archive = new Uint8Array(await readFile(file));
  const { root, sections } = await sectionsOf(archive);
  const target = BlockStore.init(join(tmp.dir, 't'), TINY).store;
  const fresh = snapshot(target);
  const now = Date.now();
  const outcomes = new Map<string, number>();
  const reCid = (codec: number, bytes: Uint8Array) => CID.create(1, codec, Digest.create(0x12, sha256(bytes)));
  try {
    await fc.assert(
      fc.asyncProperty(
        fc.nat({ max: sections.length - 1 }),
        mutationArb(4096),
        async (i, m) => {
          const copy = sections.map((s) => ({ ...s }));
          const sec = copy[i] as { cid: CID; bytes: Uint8Array };
          const clamp = (x: number) => Math.min(x, Math.max(0, sec.bytes.length - 1));
          const local: Mutation =
            m.kind === 'flip' ? { ...m, pos: clamp(m.pos) }
            : m.kind === 'flips' ? { kind: 'flips', flips: m.flips.map((f) => ({ ...f, pos: clamp(f.pos) })) }
            : m.kind === 'truncate' ? { kind: 'truncate', len: clamp(m.len) }
            : m.kind === 'insert' ? { ...m, pos: Math.min(m.pos, sec.bytes.length) }
            : m.kind === 'delete' ? { ...m, pos: clamp(m.pos) }
            : m.kind === 'overwrite' ? { ...m, pos: clamp(m.pos) }
            : { kind: 'duplicate', from: clamp(m.from), len: m.len, to: Math.min(m.to, sec.bytes.length) };
          const bytes = sec.bytes.length === 0 ? new Uint8Array([1]) : apply(sec.bytes, local);
          if (Buffer.compare(bytes, sec.bytes) === 0) return;
          const oldCid = sec.cid;
          copy[i] = { cid: reCid(oldCid.code, bytes), bytes };
          let newRoot = root;
          if (i === 0) newRoot = (copy[0] as { cid: CID }).cid;
          // A re-addressed header: point its witness at the new CID so the header itself gets decoded and checked.
          const next = copy[i + 1];
          if (i > 0 && next !== undefined && next.cid.code === 0x71) {
            const w = dagCbor.decode(next.bytes) as { block?: CID; sig?: Uint8Array };
            if (w.block?.equals(oldCid) && w.sig !== undefined) {
              const wb = dagCbor.encode({ block: (copy[i] as { cid: CID }).cid, sig: w.sig });
              copy[i + 1] = { cid: reCid(0x71, wb), bytes: wb };
            }
          }
          const mutated = await carBytes(newRoot, copy);
          try {
            await importArchive(target, mutated, { now });
          } catch (err) {
            if (!(err instanceof BlyanError)) throw new Error(`section ${i} ${JSON.stringify(local)}: not a BlyanError: ${String(err)}\n${(err as Error).stack}`);
            outcomes.set(err.code, (outcomes.get(err.code) ?? 0) + 1);
            for (const chain of CHAINS) assert.equal(target.height(chain), chain === 'B' ? 0 : 1);
            return;
          }
          throw new Error(`section ${i} ${JSON.stringify(local)}: a mutated, re-addressed section was accepted`);
        },
      ),
      { numRuns: SEMANTIC_RUNS, seed: 777, endOnFailure: true },
    );
    t.diagnostic(`outcomes: ${JSON.stringify(Object.fromEntries(outcomes))}`);
    assert.equal(snapshot(target), fresh);
    assert.ok(outcomes.size >= 6, 'many different rules fire');
  } finally {
    await target.close();
    await source.cleanup();
    tmp.cleanup();
  }
});
