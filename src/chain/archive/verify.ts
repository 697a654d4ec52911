import { BlyanError } from '../../errors.ts';
import { checkPayload, verifyStandalone } from '../block.ts';
import { DAG_CBOR_CODE, RAW_CODE } from '../cid.ts';
import { checkContext, topoOrder } from '../dag.ts';
import { decodeRecord } from '../encoding.ts';
import { equalBytes, type Hash, toHex } from '../hash.ts';
import { MAX_HEADER_BYTES, TILE_BYTES } from '../limits.ts';
import type { Preset } from '../presets.ts';
import { SIGNATURE_BYTES } from '../sign.ts';
import type { BlockStore } from '../store.ts';
import type { Block, ChainLetter } from '../types.ts';
import { blockError, blockLabel, malformed } from './errors.ts';
import { type ArchiveManifest, encodeWitness, looksLikeWitness, MAX_MANIFEST_BYTES, MAX_WITNESS_BYTES, parseManifest, parseWitness } from './format.ts';
import { hashPayload } from './payload.ts';
import { SourceReader } from './reader.ts';
import { checkCid, describe, nextSection, readCarHeader, readSmall, type Section } from './section.ts';
import { type ByteSource, withSource } from './source.ts';
import type { ImportOptions, VerifyResult } from './types.ts';
import { ImportView } from './view.ts';

/** Where a payload lies in the archive and what it hashes to. */
export interface PayloadSpan {
  readonly position: number;
  readonly length: number;
  readonly hash: Hash;
}

/** What pass 1 learned: the blocks to add, in the order they were checked, and where their payloads lie. */
export interface ImportPlan {
  readonly newBlocks: Block[];
  readonly skipped: number;
  readonly blocks: number;
  readonly size: number;
  /** The payloads the store lacks, by hex payload hash. */
  readonly payloads: Map<string, PayloadSpan>;
  readonly payloadBytes: number;
  readonly distinctPayloads: number;
}

type SeenPayload = PayloadSpan & { readonly tileRoot: Hash };

/**
 * Pass 1 of an import: streams every section, checks every CID, decodes and verifies every block
 * (standalone and contextual rules) and every payload (hash and tile root, tile by tile, never holding
 * a payload); it keeps only the block records. Writes nothing.
 */
export async function verifyPass(store: BlockStore, src: ByteSource, now: number, progress: (done: number) => void): Promise<ImportPlan> {
  const preset = store.preset;
  const reader = new SourceReader(src);
  const root = await readCarHeader(reader);
  let manifest: ArchiveManifest | undefined;
  const counts: Record<ChainLetter, number> = { A: 0, B: 0, C: 0, D: 0 };
  const seenIds = new Set<string>();
  const payloads = new Map<string, SeenPayload>();
  const newBlocks: Block[] = [];
  let skipped = 0;
  let payloadBytes = 0;
  let pendingHeader: { section: Section; bytes: Uint8Array } | null = null;
  let awaitingPayload: Block | null = null;
  const scratch: Uint8Array[] = [];

  for (let n = 0; ; n++) {
    const s = await nextSection(reader, n);
    progress(reader.pos);

    if (awaitingPayload !== null) {
      const b = awaitingPayload;
      awaitingPayload = null;
      const p = await checkPayloadSection(b, s, src, scratch, progress);
      payloads.set(toHex(b.header.payloadHash), p);
      payloadBytes += p.length;
      reader.seek(p.length);
      continue;
    }

    if (s === null) break;

    if (manifest === undefined) {
      if (!equalBytes(s.cid.bytes, root.bytes)) throw malformed(`the first block must be the manifest ${root.toString()} named as the root, found ${describe(s)}`);
      if (s.cid.code !== DAG_CBOR_CODE) throw malformed(`the manifest (${describe(s)}) must be dag-cbor`);
      const bytes = await readSmall(reader, s, MAX_MANIFEST_BYTES, () => malformed(`the manifest (${describe(s)}) is ${s.length} bytes; the limit is ${MAX_MANIFEST_BYTES}`));
      manifest = parseManifest(bytes, `the manifest (${describe(s)})`);
      checkNetwork(manifest, preset);
      continue;
    }

    if (s.cid.code === RAW_CODE) {
      throw malformed(
        pendingHeader !== null
          ? `header ${toHex(pendingHeader.section.cid.multihash.digest)} (${describe(pendingHeader.section)}) is not followed by its witness (${describe(s)} is a payload)`
          : `${describe(s)} is a payload that no preceding block needs (a payload appears once, right after the first block that names it)`,
        { offset: s.offset, cid: s.cid.toString() },
      );
    }

    if (pendingHeader === null) {
      // A header: its CID digest is the block id, i.e. SHA-256 of the header bytes.
      const claimed = toHex(s.cid.multihash.digest);
      const bytes = await readSmall(
        reader,
        s,
        MAX_HEADER_BYTES,
        () =>
          new BlyanError('BLOCK_TOO_LARGE', `header ${claimed} (${describe(s)}) is ${s.length} bytes; the limit is ${MAX_HEADER_BYTES}`, {
            block: { id: claimed, offset: s.offset },
          }),
        `header of block ${claimed} (${describe(s)})`,
        claimed,
      );
      if (looksLikeWitness(bytes)) throw malformed(`witness ${describe(s)} does not follow a block header`, { offset: s.offset, cid: s.cid.toString() });
      pendingHeader = { section: s, bytes };
      continue;
    }

    const block = await readWitnessedBlock(reader, pendingHeader, s);
    pendingHeader = null;
    const key = toHex(block.id);
    if (seenIds.has(key)) throw blockError(block, malformed('the block appears twice in the archive'));
    seenIds.add(key);
    try {
      verifyStandalone(block, preset, { now });
    } catch (err) {
      throw blockError(block, err);
    }
    counts[block.header.chain]++;
    if (store.has(block.id)) skipped++;
    else newBlocks.push(block);

    const { payloadHash, payloadSize } = block.header;
    if (payloadSize === 0) {
      try {
        checkPayload(block.header, new Uint8Array(0), preset);
      } catch (err) {
        throw blockError(block, err);
      }
    } else {
      const earlier = payloads.get(toHex(payloadHash));
      if (earlier === undefined) {
        awaitingPayload = block;
      } else if (earlier.length !== payloadSize || !equalBytes(earlier.tileRoot, block.header.tileRoot)) {
        throw blockError(block, new BlyanError('BLOCK_BAD_PAYLOAD', `its payload ${toHex(payloadHash)} is ${earlier.length} bytes with tile root ${toHex(earlier.tileRoot)}; the header says ${payloadSize} bytes, ${toHex(block.header.tileRoot)}`));
      }
    }
  }

  if (manifest === undefined) throw malformed('the archive holds no manifest (it has no blocks)');
  if (pendingHeader !== null) {
    throw malformed(`header ${toHex(pendingHeader.section.cid.multihash.digest)} (${describe(pendingHeader.section)}) is not followed by its witness: the archive ends`);
  }
  for (const chain of ['A', 'B', 'C', 'D'] as const) {
    if (counts[chain] !== manifest.counts[chain]) {
      throw malformed(`the manifest lists ${manifest.counts[chain]} blocks on chain ${chain}; the archive holds ${counts[chain]} (truncated?)`, { chain });
    }
  }

  const ordered = checkContextual(store, newBlocks, preset);
  return {
    newBlocks: ordered,
    skipped,
    blocks: seenIds.size,
    size: src.size,
    payloads: neededPayloads(store, ordered, payloads),
    payloadBytes,
    distinctPayloads: payloads.size,
  };
}

function checkNetwork(m: ArchiveManifest, preset: Preset): void {
  if (m.network !== preset.network || m.chainId !== preset.chainId || m.genesis !== preset.genesisId) {
    throw new BlyanError(
      'ARCHIVE_WRONG_NETWORK',
      `the archive is from network ${m.network} (chain id ${m.chainId}, genesis ${m.genesis}); this store is ${preset.network} (chain id ${preset.chainId}, genesis ${preset.genesisId})`,
      { archive: { network: m.network, chainId: m.chainId, genesis: m.genesis }, store: { network: preset.network, chainId: preset.chainId, genesis: preset.genesisId } },
    );
  }
}

/**
 * Checks that section `s` is block `b`'s payload (CID, size, SHA-256, tile root), streaming it tile by
 * tile through `scratch` (two tile buffers, allocated on first use); returns where it lies.
 */
async function checkPayloadSection(
  b: Block,
  s: Section | null,
  src: ByteSource,
  scratch: Uint8Array[],
  progress: (done: number) => void,
): Promise<SeenPayload> {
  if (s === null || s.cid.code !== RAW_CODE) {
    throw blockError(b, new BlyanError('BLOCK_PAYLOAD_MISSING', `its ${b.header.payloadSize}-byte payload ${toHex(b.header.payloadHash)} should follow it in the archive, but ${s === null ? 'the archive ends' : `${describe(s)} does`}`));
  }
  if (!equalBytes(s.cid.multihash.digest, b.header.payloadHash)) {
    throw blockError(b, new BlyanError('BLOCK_BAD_PAYLOAD', `the archive carries payload ${toHex(s.cid.multihash.digest)} (${describe(s)}) where its payload ${toHex(b.header.payloadHash)} belongs`));
  }
  if (s.length !== b.header.payloadSize) {
    throw blockError(b, new BlyanError('BLOCK_BAD_PAYLOAD', `payload is ${s.length} bytes in the archive; the header says ${b.header.payloadSize}`));
  }
  if (scratch.length === 0 && src.view === undefined) scratch.push(new Uint8Array(TILE_BYTES), new Uint8Array(TILE_BYTES));
  const { hash, root } = await hashPayload(src, s.dataStart, s.length, scratch, (done) => progress(s.dataStart + done));
  checkCid(s, hash, `payload of block ${blockLabel(b)} (${describe(s)})`);
  if (!equalBytes(root, b.header.tileRoot)) {
    throw blockError(b, new BlyanError('BLOCK_BAD_PAYLOAD', 'payload tiles do not match the header\'s tileRoot'));
  }
  return { position: s.dataStart, length: s.length, hash: b.header.payloadHash, tileRoot: root };
}

/** Reads the witness `s` ({block: <the header's CID>, sig}) of header `h` and decodes the block. */
async function readWitnessedBlock(reader: SourceReader, h: { section: Section; bytes: Uint8Array }, s: Section): Promise<Block> {
  const hid = toHex(h.section.cid.multihash.digest);
  const noWitness = (why: string) =>
    malformed(`header ${hid} (${describe(h.section)}) is not followed by its witness: ${why}`, { block: { id: hid, offset: h.section.offset } });
  const wbytes = await readSmall(reader, s, MAX_WITNESS_BYTES, () => noWitness(`${describe(s)} is too large to be one`), `witness of block ${hid} (${describe(s)})`, hid);
  const w = parseWitness(wbytes);
  if (w === undefined) throw noWitness(`${describe(s)} is not a witness`);
  if (!equalBytes(w.block.bytes, h.section.cid.bytes)) throw noWitness(`${describe(s)} is the witness of ${w.block.toString()}`);
  if (!equalBytes(encodeWitness(h.section.cid.multihash.digest, w.sig), wbytes)) throw noWitness(`${describe(s)} is not canonically encoded`);

  const record = new Uint8Array(h.bytes.byteLength + SIGNATURE_BYTES);
  record.set(h.bytes, 0);
  record.set(w.sig, h.bytes.byteLength);
  try {
    return decodeRecord(record);
  } catch (err) {
    const inner = err instanceof BlyanError ? err : malformed((err as Error).message);
    throw new BlyanError(inner.code, `archive block ${hid} (${describe(h.section)}) fails rule ${inner.code}: ${inner.message}`, {
      ...inner.data,
      block: { id: hid, offset: h.section.offset },
      rule: inner.code,
    }, { cause: inner });
  }
}

/**
 * Contextual rules (D*, L*), in dependency order, against the store plus what is staged before.
 * Returns the new blocks in that order.
 */
function checkContextual(store: BlockStore, newBlocks: Block[], preset: Preset): Block[] {
  let ordered: Block[];
  try {
    ordered = topoOrder(newBlocks, (id) => store.has(id));
  } catch (err) {
    const name = err instanceof BlyanError ? err.data.block : undefined;
    const culprit = typeof name === 'string' ? newBlocks.find((b) => toHex(b.id) === name) : undefined;
    throw culprit !== undefined ? blockError(culprit, err) : err;
  }
  const view = new ImportView(store);
  for (const block of ordered) {
    try {
      checkContext(block, view, preset);
    } catch (err) {
      throw blockError(block, err);
    }
    view.add(block);
  }
  return ordered;
}

/** Payloads the store will need from pass 2. */
function neededPayloads(store: BlockStore, ordered: Block[], payloads: ReadonlyMap<string, SeenPayload>): Map<string, PayloadSpan> {
  const needed = new Map<string, PayloadSpan>();
  for (const b of ordered) {
    if (b.header.payloadSize === 0) continue;
    const key = toHex(b.header.payloadHash);
    if (needed.has(key) || store.hasPayload(b.header.payloadHash)) continue;
    const p = payloads.get(key);
    if (p === undefined) throw blockError(b, new BlyanError('BLOCK_PAYLOAD_MISSING', 'payload is not in the archive'));
    needed.set(key, { position: p.position, length: p.length, hash: p.hash });
  }
  return needed;
}

/**
 * Verifies an archive against a store without writing anything (pass 1 of an import): every CID,
 * every block (standalone and contextual rules) and every payload. Useful for `chain import --dry-run`
 * and for benchmarking verification alone.
 */
export async function verifyArchive(store: BlockStore, input: string | Uint8Array, opts: ImportOptions = {}): Promise<VerifyResult> {
  const now = opts.now ?? Date.now();
  return withSource(input, async (src) => {
    const plan = await verifyPass(store, src, now, (done) => opts.onProgress?.(done, src.size));
    return {
      added: plan.newBlocks.length,
      skipped: plan.skipped,
      blocks: plan.blocks,
      bytes: plan.size,
      payloads: plan.distinctPayloads,
      payloadBytes: plan.payloadBytes,
    };
  });
}
