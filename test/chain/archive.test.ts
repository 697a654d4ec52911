import assert from 'node:assert/strict';
import { open, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { CarBlockIterator } from '@ipld/car/iterator';
import { CarWriter } from '@ipld/car/writer';
import * as dagCbor from '@ipld/dag-cbor';
import { CID } from 'multiformats/cid';
import * as Digest from 'multiformats/hashes/digest';
import { encodeWitness, exportArchive, importArchive, type ImportResult, verifyArchive } from '../../src/chain/archive/index.ts';
import { createBlock } from '../../src/chain/block.ts';
import { blockCid, DAG_CBOR_CODE, RAW_CODE } from '../../src/chain/cid.ts';
import { sha256, toHex } from '../../src/chain/hash.ts';
import { MAX_HEADER_BYTES, TILE_BYTES } from '../../src/chain/limits.ts';
import { DEVNET, TINY } from '../../src/chain/presets.ts';
import { BlockStore } from '../../src/chain/store.ts';
import { type Block, CHAINS } from '../../src/chain/types.ts';
import { BlyanError } from '../../src/errors.ts';
import { addModel, deterministicBytes, expertBlock, freshStore, TEST_KEY, TEST_KEY_2, tempDir } from '../helpers/fixtures.ts';

// ---- helpers ---------------------------------------------------------------------------------

/** Everything observable about a store's contents: records per chain in order, payloads, lineage. */
function snapshot(store: BlockStore): string {
  const out: string[] = [];
  for (const chain of CHAINS) {
    out.push(`height ${chain} ${store.height(chain)}`);
    for (const { block, seq } of store.iterate(chain)) {
      const rec = store.getRecord(block.id) as Uint8Array;
      const payload = block.header.payloadSize === 0 ? new Uint8Array(0) : store.getPayload(block.header.payloadHash);
      out.push(`${chain}:${seq} ${toHex(rec)} payload=${payload === undefined ? 'MISSING' : toHex(sha256(payload))}`);
    }
  }
  for (const e of store.parameterIndex()) out.push(`lineage ${e.model}/${e.name} ${e.versions} ${toHex(e.current)}`);
  return out.join('\n');
}

function ids(store: BlockStore, chain: 'A' | 'B' | 'C' | 'D'): string[] {
  return [...store.iterate(chain)].map((s) => toHex(s.block.id));
}

async function importError(store: BlockStore, input: string | Uint8Array): Promise<BlyanError> {
  try {
    await importArchive(store, input);
  } catch (err) {
    assert.ok(err instanceof BlyanError, `expected a BlyanError, got ${String(err)}\n${(err as Error).stack}`);
    return err;
  }
  assert.fail('import should have failed');
}

interface Section {
  cid: CID;
  bytes: Uint8Array;
}

async function sectionsOf(bytes: Uint8Array): Promise<{ root: CID; sections: Section[] }> {
  const it = await CarBlockIterator.fromBytes(bytes);
  const [root] = await it.getRoots();
  const sections: Section[] = [];
  for await (const b of it) sections.push({ cid: b.cid as CID, bytes: b.bytes });
  return { root: root as CID, sections };
}

async function carBytes(root: CID, sections: readonly Section[]): Promise<Uint8Array> {
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

function dagCborSection(value: unknown): Section {
  const bytes = dagCbor.encode(value);
  return { cid: CID.create(1, DAG_CBOR_CODE, Digest.create(0x12, sha256(bytes))), bytes };
}

/** Rebuilds an archive from sections, rewriting the manifest's counts to match what is left. */
async function rebuild(sections: readonly Section[], counts?: Record<string, number>): Promise<Uint8Array> {
  const [manifestSection, ...rest] = sections;
  const manifest = dagCbor.decode((manifestSection as Section).bytes) as Record<string, unknown>;
  const m = dagCborSection({ ...manifest, counts: counts ?? manifest.counts });
  return carBytes(m.cid, [m, ...rest]);
}

/** Index of the header section of the block with this id. */
function headerIndex(sections: readonly Section[], id: Uint8Array): number {
  const i = sections.findIndex((s) => s.cid.code === DAG_CBOR_CODE && toHex(s.cid.multihash.digest) === toHex(id));
  assert.ok(i > 0);
  return i;
}

function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

// ---- the source chain ------------------------------------------------------------------------

interface Source {
  store: BlockStore;
  cleanup: () => Promise<void>;
  model: Block;
  blocks: Record<string, Block>;
  big: Uint8Array;
}

/** Genesis + model + a dataset + five experts (one > 4 MiB, one shared payload, one empty) + two deltas. */
function buildSource(): Source {
  const { store, cleanup } = freshStore();
  const model = addModel(store).block;
  const d0 = store.headOf('D');
  assert.ok(d0 !== undefined);
  const datasetPayload = deterministicBytes('dataset', 3000);
  const dataset = createBlock({ chain: 'D', index: 1, prev: d0.id, deps: [], type: 'dataset', time: d0.header.time + 5 }, datasetPayload, TEST_KEY_2, TINY);
  store.append(dataset, datasetPayload);

  const small = deterministicBytes('small', 1000);
  const big = deterministicBytes('big', 2 * TILE_BYTES + 12_345); // three tiles
  const e00 = expertBlock(model.id, 0, 0, small);
  const e01 = expertBlock(model.id, 0, 1, big);
  const e10 = expertBlock(model.id, 1, 0, small); // same payload as e00: stored once, archived once
  const e11 = expertBlock(model.id, 1, 1, new Uint8Array(0), { key: TEST_KEY_2 });
  for (const [b, p] of [[e00, small], [e01, big], [e10, small], [e11, new Uint8Array(0)]] as const) store.append(b, p);
  const deltaPayload = deterministicBytes('delta', 777);
  const delta = expertBlock(model.id, 0, 0, deltaPayload, { base: e00, type: 'delta', time: TINY.genesisTime + 2000 });
  store.append(delta, deltaPayload);
  const delta2Payload = deterministicBytes('delta2', 5000);
  const delta2 = expertBlock(model.id, 0, 0, delta2Payload, { base: delta, type: 'delta', time: TINY.genesisTime + 3000 });
  store.append(delta2, delta2Payload);
  return { store, cleanup, model, blocks: { dataset, e00, e01, e10, e11, delta, delta2 }, big };
}

// ---- tests -----------------------------------------------------------------------------------

describe('chain archive (CAR v1)', () => {
  let src: Source;
  let tmp: { dir: string; cleanup: () => void };
  let file: string;
  let archive: Uint8Array;
  let exported: Awaited<ReturnType<typeof exportArchive>>;
  const exportProgress: [number, number][] = [];

  before(async () => {
    src = buildSource();
    tmp = tempDir('blyan-archive-');
    file = join(tmp.dir, 'chain.car');
    exported = await exportArchive(src.store, file, { onProgress: (d, t) => exportProgress.push([d, t]) });
    archive = new Uint8Array(await readFile(file));
  });

  after(async () => {
    await src.cleanup();
    tmp.cleanup();
  });

  test('export: counts, exact size, progress, no temp file left', async () => {
    // A: genesis + model; C: genesis; D: genesis + dataset; B: 6 blocks.
    assert.deepEqual(exported, { blocks: 11, payloads: 9, bytes: archive.byteLength });
    const last = exportProgress.at(-1) as [number, number];
    assert.deepEqual(last, [archive.byteLength, archive.byteLength]);
    for (let i = 1; i < exportProgress.length; i++) assert.ok((exportProgress[i] as [number, number])[0] >= (exportProgress[i - 1] as [number, number])[0]);
    const { readdir } = await import('node:fs/promises');
    assert.deepEqual(await readdir(tmp.dir), ['chain.car']);
  });

  test('layout: manifest root first, header CIDs are block ids, witnesses link headers, raw payload CIDs are payload hashes', async () => {
    const { root, sections } = await sectionsOf(archive);
    const first = sections[0] as Section;
    assert.ok(first.cid.equals(root));
    const manifest = dagCbor.decode(first.bytes) as Record<string, unknown>;
    assert.deepEqual(manifest, {
      format: 'blyan-archive',
      version: 1,
      network: TINY.network,
      chainId: TINY.chainId,
      genesis: TINY.genesisId,
      counts: { A: 2, B: 6, C: 1, D: 2 },
    });
    // Every CID is sha2-256 of its bytes.
    for (const s of sections) assert.equal(toHex(s.cid.multihash.digest), toHex(sha256(s.bytes)));
    // Order: A, C, D, B, each block as header, witness, [payload].
    const expectedOrder = [...ids(src.store, 'A'), ...ids(src.store, 'C'), ...ids(src.store, 'D'), ...ids(src.store, 'B')];
    const headers = sections.filter((s, i) => i > 0 && s.cid.code === DAG_CBOR_CODE && !('sig' in (dagCbor.decode(s.bytes) as object)));
    assert.deepEqual(headers.map((s) => toHex(s.cid.multihash.digest)), expectedOrder);
    assert.equal(headers[0]?.cid.toString(), blockCid({ id: src.store.genesisId() }).toString());
    for (const h of headers) {
      const i = sections.indexOf(h);
      const w = dagCbor.decode((sections[i + 1] as Section).bytes) as { block: CID; sig: Uint8Array };
      assert.ok(w.block.equals(h.cid));
      assert.equal(w.sig.byteLength, 65);
    }
    const raws = sections.filter((s) => s.cid.code === RAW_CODE);
    assert.equal(raws.length, 9);
    const big = raws.find((s) => s.bytes.byteLength === src.big.byteLength) as Section;
    assert.equal(toHex(big.cid.multihash.digest), toHex(src.blocks.e01?.header.payloadHash as Uint8Array));
    assert.ok(big.bytes.byteLength > TILE_BYTES * 2);
  });

  test('import into a fresh store: same heights, ids and order, payloads and lineage; re-import skips everything', async () => {
    const { dir, cleanup } = tempDir();
    const { store } = BlockStore.init(dir, TINY);
    try {
      const progress: [number, number][] = [];
      const result = await importArchive(store, file, { onProgress: (d, t) => progress.push([d, t]) });
      assert.deepEqual(result, { added: 8, skipped: 3, blocks: 11, bytes: archive.byteLength });
      assert.deepEqual(progress.at(-1), [2 * archive.byteLength, 2 * archive.byteLength]);
      for (let i = 1; i < progress.length; i++) assert.ok((progress[i] as [number, number])[0] >= (progress[i - 1] as [number, number])[0], 'progress is monotonic');
      for (const chain of CHAINS) {
        assert.equal(store.height(chain), src.store.height(chain));
        assert.deepEqual(ids(store, chain), ids(src.store, chain));
      }
      assert.equal(snapshot(store), snapshot(src.store));
      assert.deepEqual(store.getPayload(src.blocks.e01?.header.payloadHash as Uint8Array), src.big);
      assert.deepEqual(
        store.lineage(src.model.id, 'layer0.expert0').map(toHex),
        [src.blocks.e00, src.blocks.delta, src.blocks.delta2].map((b) => toHex((b as Block).id)),
      );

      // Re-import: all skipped, nothing changes.
      const before = snapshot(store);
      const again = await importArchive(store, file);
      assert.deepEqual(again, { added: 0, skipped: 11, blocks: 11, bytes: archive.byteLength });
      assert.equal(snapshot(store), before);
      // And into the store it came from.
      assert.deepEqual(await importArchive(src.store, archive), { added: 0, skipped: 11, blocks: 11, bytes: archive.byteLength });

      // The store survives a reopen with the imported content.
      await store.close();
      const reopened = BlockStore.open(dir, TINY);
      assert.equal(snapshot(reopened), snapshot(src.store));
      await reopened.close();
    } finally {
      cleanup();
    }
  });

  test('partial overlap: a store that already has part of the chain gets only the rest', async () => {
    const { store, cleanup } = freshStore();
    try {
      store.append(src.model, new Uint8Array(src.store.getPayload(src.model.header.payloadHash) as Uint8Array));
      const e00 = src.blocks.e00 as Block;
      store.append(e00, src.store.getPayload(e00.header.payloadHash) as Uint8Array);
      const result = await importArchive(store, file);
      assert.deepEqual(result, { added: 6, skipped: 5, blocks: 11, bytes: archive.byteLength });
      assert.deepEqual(new Set(ids(store, 'B')), new Set(ids(src.store, 'B')));
      assert.deepEqual(ids(store, 'D'), ids(src.store, 'D'));
    } finally {
      await cleanup();
    }
  });

  test('verifyArchive: checks everything, writes nothing', async () => {
    const { store, cleanup } = freshStore();
    try {
      const before = snapshot(store);
      const r = await verifyArchive(store, file);
      assert.equal(r.added, 8);
      assert.equal(r.skipped, 3);
      assert.equal(r.payloads, 9);
      assert.ok(r.payloadBytes > src.big.byteLength);
      assert.equal(snapshot(store), before);
    } finally {
      await cleanup();
    }
  });

  test('a store of another network refuses the archive: ARCHIVE_WRONG_NETWORK', async () => {
    const { dir, cleanup } = tempDir();
    const { store } = BlockStore.init(dir, DEVNET);
    try {
      const before = snapshot(store);
      const err = await importError(store, file);
      assert.equal(err.code, 'ARCHIVE_WRONG_NETWORK');
      assert.match(err.message, /blyan-tiny/);
      assert.equal(snapshot(store), before);
    } finally {
      await store.close();
      cleanup();
    }
  });

  test('one flipped byte at 300 seeded positions: a typed error (or the same result), the store unchanged', async (t) => {
    const { dir, cleanup } = tempDir();
    let { store } = BlockStore.init(dir, TINY);
    const copy = join(dir, 'flip.car');
    await writeFile(copy, archive);
    const fh = await open(copy, 'r+');
    try {
      const fresh = snapshot(store);
      const rand = rng(0xa1c4);
      const positions: number[] = [];
      // Half anywhere (mostly the big payload), half in the structural bytes around it.
      for (let i = 0; i < 150; i++) positions.push(Math.floor(rand() * archive.byteLength));
      const structural = archive.byteLength - src.big.byteLength;
      for (let i = 0; i < 150; i++) {
        const p = Math.floor(rand() * structural);
        positions.push(p < structural / 2 ? p : archive.byteLength - (structural - p));
      }
      const codes = new Map<string, number>();
      for (const pos of positions) {
        const orig = archive[pos] as number;
        const flipped = orig ^ (1 + Math.floor(rand() * 255));
        await fh.write(new Uint8Array([flipped]), 0, 1, pos);
        try {
          const result: ImportResult = await importArchive(store, copy);
          // A harmless flip must give exactly the original result.
          assert.deepEqual(result, { added: 8, skipped: 3, blocks: 11, bytes: archive.byteLength }, `flip at ${pos}`);
          assert.equal(snapshot(store), snapshot(src.store));
          await store.close();
          store = BlockStore.init(join(dir, `s${pos}`), TINY).store;
          codes.set('ok', (codes.get('ok') ?? 0) + 1);
        } catch (err) {
          assert.ok(err instanceof BlyanError, `flip at ${pos}: ${String(err)}\n${(err as Error).stack}`);
          codes.set(err.code, (codes.get(err.code) ?? 0) + 1);
          assert.equal(snapshot(store), fresh, `flip at ${pos} (${err.code}) changed the store`);
        }
        await fh.write(new Uint8Array([orig]), 0, 1, pos);
      }
      t.diagnostic(`outcomes: ${JSON.stringify(Object.fromEntries(codes))}`);
      assert.ok((codes.get('ARCHIVE_CID_MISMATCH') ?? 0) > 50, JSON.stringify([...codes]));
      assert.ok(codes.size >= 3, `several kinds of failure: ${JSON.stringify([...codes])}`);
      // The restored file still imports.
      assert.deepEqual(await importArchive(store, copy), { added: 8, skipped: 3, blocks: 11, bytes: archive.byteLength });
    } finally {
      await fh.close();
      await store.close();
      cleanup();
    }
  });

  test('an archive modified between the verify and write passes is refused, nothing written', async () => {
    const { openSync, writeSync, closeSync, appendFileSync } = await import('node:fs');
    const { store, cleanup } = freshStore();
    try {
      const before = snapshot(store);
      const copy = join(tmp.dir, 'changing.car');
      // Flip a byte of the big payload once pass 1 has read the whole file.
      await writeFile(copy, archive);
      const bigAt = Buffer.from(archive).indexOf(Buffer.from(src.big.subarray(0, 64))) + 1000;
      let changed = false;
      let err: BlyanError | undefined;
      try {
        await importArchive(store, copy, {
          onProgress: (done) => {
            if (!changed && done >= archive.byteLength) {
              changed = true;
              const fd = openSync(copy, 'r+');
              writeSync(fd, new Uint8Array([(archive[bigAt] as number) ^ 0xff]), 0, 1, bigAt);
              closeSync(fd);
            }
          },
        });
        assert.fail('import should have failed');
      } catch (e) {
        assert.ok(e instanceof BlyanError, String(e));
        err = e;
      }
      assert.ok(changed);
      assert.equal(err?.code, 'ARCHIVE_CID_MISMATCH');
      assert.match(err.message, /changed between/);
      assert.equal(snapshot(store), before);

      // Grown between the passes.
      await writeFile(copy, archive);
      changed = false;
      await assert.rejects(
        importArchive(store, copy, {
          onProgress: (done) => {
            if (!changed && done >= archive.byteLength) {
              changed = true;
              appendFileSync(copy, new Uint8Array([0]));
            }
          },
        }),
        (e: unknown) => e instanceof BlyanError && e.code === 'ARCHIVE_MALFORMED' && /changed between/.test(e.message),
      );
      assert.equal(snapshot(store), before);
    } finally {
      await cleanup();
    }
  });

  test('truncated archives at random lengths: typed error, nothing written', async () => {
    const { store, cleanup } = freshStore();
    try {
      const before = snapshot(store);
      const rand = rng(77);
      const lengths = [0, 1, 2, 10, 40, 100, archive.byteLength - 1, archive.byteLength - 65];
      for (let i = 0; i < 60; i++) lengths.push(Math.floor(rand() * archive.byteLength));
      let viaFile = 0;
      for (const len of lengths) {
        const cut = archive.subarray(0, len);
        let input: string | Uint8Array = cut;
        if (viaFile++ % 4 === 0) {
          input = join(src.store.path, '..', `cut-${len}.car`);
          await writeFile(input, cut);
        }
        const err = await importError(store, input);
        assert.ok(['ARCHIVE_MALFORMED', 'BLOCK_PAYLOAD_MISSING'].includes(err.code), `${len}: ${err.code} ${err.message}`);
        assert.equal(snapshot(store), before);
      }
    } finally {
      await cleanup();
    }
  });

  describe('malformed archives', () => {
    let store: BlockStore;
    let cleanup: () => Promise<void>;
    let fresh: string;
    let sections: Section[];
    let root: CID;

    before(async () => {
      ({ store, cleanup } = freshStore());
      fresh = snapshot(store);
      ({ root, sections } = await sectionsOf(archive));
    });
    after(async () => {
      await cleanup();
    });

    async function expectFailure(input: Uint8Array, code: string, pattern?: RegExp): Promise<BlyanError> {
      const err = await importError(store, input);
      assert.equal(err.code, code, err.message);
      if (pattern !== undefined) assert.match(err.message, pattern);
      assert.equal(snapshot(store), fresh);
      return err;
    }

    test('sanity: rebuilding the sections unchanged gives the same bytes', async () => {
      assert.deepEqual(await carBytes(root, sections), archive);
    });

    test('garbage, empty file, missing file', async () => {
      await expectFailure(new Uint8Array(0), 'ARCHIVE_MALFORMED');
      await expectFailure(deterministicBytes('garbage', 5000), 'ARCHIVE_MALFORMED');
      await expectFailure(new TextEncoder().encode('not a car file at all, just some text\n'), 'ARCHIVE_MALFORMED');
      const err = await importError(store, join(tmp.dir, 'does-not-exist.car'));
      assert.equal(err.code, 'IO_ERROR');
    });

    test('wrong CAR version (a CAR v2 pragma)', async () => {
      const header = dagCbor.encode({ version: 2 });
      const bad = new Uint8Array([header.byteLength, ...header, ...new Uint8Array(40)]);
      await expectFailure(bad, 'ARCHIVE_MALFORMED', /CAR v1/);
    });

    test('missing manifest, wrong root, manifest not first, two roots', async () => {
      await expectFailure(await carBytes(root, sections.slice(1)), 'ARCHIVE_MALFORMED', /manifest/);
      await expectFailure(await carBytes(root, []), 'ARCHIVE_MALFORMED', /no manifest/);
      await expectFailure(await carBytes((sections[1] as Section).cid, sections), 'ARCHIVE_MALFORMED', /manifest/);
      const { writer, out } = CarWriter.create([root, (sections[1] as Section).cid]);
      const chunks: Uint8Array[] = [];
      const collect = (async () => {
        for await (const c of out) chunks.push(c);
      })();
      for (const s of sections) await writer.put(s);
      await writer.close();
      await collect;
      await expectFailure(new Uint8Array(Buffer.concat(chunks)), 'ARCHIVE_MALFORMED', /exactly one root/);
    });

    test('manifest: bad format, bad version, wrong counts', async () => {
      const manifest = dagCbor.decode((sections[0] as Section).bytes) as Record<string, unknown>;
      for (const [patch, pattern] of [
        [{ format: 'other' }, /format/],
        [{ version: 2 }, /version/],
        [{ counts: { A: 2, B: 7, C: 1, D: 2 } }, /lists 7 blocks on chain B/],
        [{ extra: 1 }, /fields/],
      ] as const) {
        const m = dagCborSection({ ...manifest, ...patch });
        await expectFailure(await carBytes(m.cid, [m, ...sections.slice(1)]), 'ARCHIVE_MALFORMED', pattern);
      }
      const other = dagCborSection({ ...manifest, chainId: 1 });
      await expectFailure(await carBytes(other.cid, [other, ...sections.slice(1)]), 'ARCHIVE_WRONG_NETWORK');
    });

    test('unknown CID codec and non-sha256 multihash', async () => {
      const pb = { cid: CID.create(1, 0x70, Digest.create(0x12, sha256(new Uint8Array([1, 2, 3])))), bytes: new Uint8Array([1, 2, 3]) };
      await expectFailure(await carBytes(root, [sections[0] as Section, pb, ...sections.slice(1)]), 'ARCHIVE_MALFORMED', /codec 0x70/);
      const id = { cid: CID.create(1, RAW_CODE, Digest.create(0x00, new Uint8Array([1, 2, 3]))), bytes: new Uint8Array([1, 2, 3]) };
      await expectFailure(await carBytes(root, [sections[0] as Section, id, ...sections.slice(1)]), 'ARCHIVE_MALFORMED', /sha2-256/);
    });

    test('a CID that does not match its bytes names the block', async () => {
      const i = headerIndex(sections, src.model.id);
      const s = sections[i] as Section;
      const bytes = s.bytes.slice();
      bytes[bytes.length - 1] = (bytes[bytes.length - 1] as number) ^ 1;
      const copy = sections.slice();
      copy[i] = { cid: s.cid, bytes };
      const err = await expectFailure(await carBytes(root, copy), 'ARCHIVE_CID_MISMATCH');
      assert.ok(err.message.includes(s.cid.toString()), err.message);
      assert.ok(err.message.includes(toHex(src.model.id)), err.message);
      assert.equal((err.data.block as { id: string }).id, toHex(src.model.id));
    });

    test('witness without header, header without witness, payload missing, stray payload', async () => {
      const mi = headerIndex(sections, src.model.id);
      // Drop the model's header: its witness follows the previous block's witness.
      await expectFailure(await rebuild(sections.filter((_, j) => j !== mi)), 'ARCHIVE_MALFORMED', /witness .* does not follow a block header/);
      // Drop the model's witness: its header is followed by the model payload.
      await expectFailure(await rebuild(sections.filter((_, j) => j !== mi + 1)), 'ARCHIVE_MALFORMED', /not followed by its witness/);
      // Drop the witness of the last block: the archive ends.
      await expectFailure(await rebuild(sections.slice(0, -2)), 'ARCHIVE_MALFORMED', /not followed by its witness: the archive ends/);
      // Drop the big payload.
      const bi = headerIndex(sections, (src.blocks.e01 as Block).id);
      const err = await expectFailure(await rebuild(sections.filter((_, j) => j !== bi + 2)), 'BLOCK_PAYLOAD_MISSING');
      assert.match(err.message, new RegExp(`B:0 ${toHex((src.blocks.e01 as Block).id)}`));
      assert.deepEqual(err.data.block, { chain: 'B', index: 0, id: toHex((src.blocks.e01 as Block).id) });
      // The same payload twice.
      const withDup = sections.slice();
      withDup.splice(bi + 3, 0, sections[bi + 2] as Section);
      await expectFailure(await rebuild(withDup), 'ARCHIVE_MALFORMED', /no preceding block needs/);
      // A block twice.
      const twice = [...sections, sections[bi] as Section, sections[bi + 1] as Section];
      await expectFailure(await rebuild(twice, { A: 2, B: 7, C: 1, D: 2 }), 'ARCHIVE_MALFORMED', /appears twice/);
    });

    test('oversized blocks are refused before they are read', async () => {
      // A dag-cbor block where a header belongs, larger than MAX_HEADER_BYTES.
      const huge = dagCborSection({ pad: new Uint8Array(MAX_HEADER_BYTES + 10) });
      await expectFailure(await carBytes(root, [sections[0] as Section, huge, ...sections.slice(1)]), 'BLOCK_TOO_LARGE');
      // A payload section longer than its header says (checked from the section length alone).
      const bi = headerIndex(sections, (src.blocks.e01 as Block).id);
      const copy = sections.slice();
      const p = sections[bi + 2] as Section;
      copy[bi + 2] = { cid: p.cid, bytes: new Uint8Array(p.bytes.byteLength + 1) };
      await expectFailure(await carBytes(root, copy), 'BLOCK_BAD_PAYLOAD', /header says/);
      // A section that claims more bytes than the file has.
      const tiny = await carBytes(root, sections.slice(0, 3));
      const lie = new Uint8Array([...tiny, 0xff, 0xff, 0xff, 0x7f, 1, 0x55, 0x12, 0x20, ...new Uint8Array(32)]);
      await expectFailure(lie, 'ARCHIVE_MALFORMED', /truncated|bound/);
    });

    test('a block whose payload exceeds the preset limit: BLOCK_TOO_LARGE, its payload never read', async () => {
      const head = src.store.headOf('A');
      assert.ok(head !== undefined);
      const payload = new Uint8Array(TINY.maxPayloadBytes + 1);
      const block = createBlock({ chain: 'B', index: 0, prev: null, deps: [src.model.id], type: 'expert', expert: 'layer3.expert3', layer: 3, time: TINY.genesisTime + 9 }, payload, TEST_KEY, TINY);
      const witness = encodeWitness(block.id, block.sig);
      const extra: Section[] = [
        { cid: blockCid(block), bytes: block.headerBytes },
        dagCborSection(dagCbor.decode(witness)),
        { cid: CID.create(1, RAW_CODE, Digest.create(0x12, block.header.payloadHash)), bytes: new Uint8Array(8) },
      ];
      const err = await expectFailure(await rebuild([...sections, ...extra], { A: 2, B: 7, C: 1, D: 2 }), 'BLOCK_TOO_LARGE');
      assert.deepEqual(err.data.block, { chain: 'B', index: 0, id: toHex(block.id) });
    });

    test('rule failures name the block and the rule: bad signature, unknown dep, bad lineage', async () => {
      // Bad signature: a valid-looking signature by another key.
      const e10 = src.blocks.e10 as Block;
      const i = headerIndex(sections, e10.id);
      const forged = createBlock(
        { chain: 'B', index: 0, prev: null, deps: [src.model.id], type: 'expert', expert: 'layer1.expert0', layer: 1, time: e10.header.time },
        src.store.getPayload(e10.header.payloadHash) as Uint8Array,
        TEST_KEY_2,
        TINY,
      );
      assert.notEqual(toHex(forged.id), toHex(e10.id));
      const copy = sections.slice();
      copy[i + 1] = dagCborSection(dagCbor.decode(encodeWitness(e10.id, forged.sig)));
      let err = await expectFailure(await carBytes(root, copy), 'BLOCK_BAD_SIGNATURE');
      assert.match(err.message, new RegExp(`B:0 ${toHex(e10.id)}`));
      assert.match(err.message, /BLOCK_BAD_SIGNATURE/);
      assert.deepEqual(err.data.block, { chain: 'B', index: 0, id: toHex(e10.id) });

      // Unknown dep: drop the model block (header, witness, payload) from the archive.
      const mi = headerIndex(sections, src.model.id);
      const noModel = sections.filter((_, j) => j < mi || j > mi + 2);
      err = await expectFailure(await rebuild(noModel, { A: 1, B: 6, C: 1, D: 2 }), 'BLOCK_UNKNOWN_DEP');
      assert.match(err.message, /archive block B:\d+ [0-9a-f]{64}/);

      // Bad lineage: a delta that names no base version.
      const model = src.model;
      const orphan = createBlock(
        { chain: 'B', index: 0, prev: null, deps: [model.id], type: 'delta', expert: 'layer0.expert3', layer: 0, time: TINY.genesisTime + 50 },
        new Uint8Array(0),
        TEST_KEY,
        TINY,
      );
      const extra: Section[] = [{ cid: blockCid(orphan), bytes: orphan.headerBytes }, dagCborSection(dagCbor.decode(encodeWitness(orphan.id, orphan.sig)))];
      err = await expectFailure(await rebuild([...sections, ...extra], { A: 2, B: 7, C: 1, D: 2 }), 'BLOCK_BAD_LINEAGE');
      assert.match(err.message, new RegExp(`B:0 ${toHex(orphan.id)}`));

      // Linear chain: an index that does not extend the head.
      const d0 = src.store.headOf('D');
      assert.ok(d0 !== undefined);
      const skip = createBlock({ chain: 'D', index: 5, prev: d0.id, deps: [], type: 'dataset', time: d0.header.time + 9 }, new Uint8Array(0), TEST_KEY, TINY);
      const extra2: Section[] = [{ cid: blockCid(skip), bytes: skip.headerBytes }, dagCborSection(dagCbor.decode(encodeWitness(skip.id, skip.sig)))];
      err = await expectFailure(await rebuild([...sections, ...extra2], { A: 2, B: 6, C: 1, D: 3 }), 'BLOCK_BAD_INDEX');
      assert.match(err.message, new RegExp(`D:5 ${toHex(skip.id)}`));
    });

    test('a payload whose bytes do not match the tile root', async () => {
      // A block whose header commits to a wrong tile root cannot be signed by accident; build one on purpose.
      const payload = deterministicBytes('tiles', 1000);
      const good = createBlock({ chain: 'B', index: 0, prev: null, deps: [src.model.id], type: 'expert', expert: 'layer2.expert2', layer: 2, time: TINY.genesisTime + 60 }, payload, TEST_KEY, TINY);
      const header = { ...good.header, tileRoot: sha256(new Uint8Array([9])) };
      const { encodeHeader } = await import('../../src/chain/encoding.ts');
      const { mine, nonceOffset } = await import('../../src/chain/pow.ts');
      const { signDigest, signingDigest } = await import('../../src/chain/sign.ts');
      const headerBytes0 = encodeHeader(header);
      const nonce = mine(headerBytes0, nonceOffset((n) => encodeHeader({ ...header, nonce: n })), header.difficulty);
      const headerBytes = encodeHeader({ ...header, nonce });
      const id = sha256(headerBytes);
      const sig = signDigest(signingDigest(TINY.chainId, 'B', 'expert', id), TEST_KEY);
      const extra: Section[] = [
        { cid: blockCid({ id }), bytes: headerBytes },
        dagCborSection(dagCbor.decode(encodeWitness(id, sig))),
        { cid: CID.create(1, RAW_CODE, Digest.create(0x12, sha256(payload))), bytes: payload },
      ];
      const err = await expectFailure(await rebuild([...sections, ...extra], { A: 2, B: 7, C: 1, D: 2 }), 'BLOCK_BAD_PAYLOAD', /tileRoot/);
      assert.equal((err.data.block as { id: string }).id, toHex(id));
    });
  });
});
