import { open as openFile, rename, unlink, type FileHandle } from 'node:fs/promises';
import { createHash } from 'node:crypto';
import { readBlockHead, readHeader, type BytesReader } from '@ipld/car/decoder';
import { CarWriter } from '@ipld/car/writer';
import * as dagCbor from '@ipld/dag-cbor';
import { CID } from 'multiformats/cid';
import * as Digest from 'multiformats/hashes/digest';
import { BlyanError, type BlyanErrorCode } from '../errors.ts';
import { checkPayload, verifyStandalone } from './block.ts';
import { type ChainView, checkContext, topoOrder } from './dag.ts';
import { decodeRecord } from './encoding.ts';
import { equalBytes, type Hash, HASH_BYTES, sha256, toHex } from './hash.ts';
import { MAX_HEADER_BYTES, TILE_BYTES } from './limits.ts';
import type { Preset } from './presets.ts';
import { SIGNATURE_BYTES } from './sign.ts';
import type { AppendItem, BlockStore } from './store.ts';
import { merkleRoot, tileLeaf } from './tiles.ts';
import type { Block, BlockHeader, ChainLetter, LinearChain } from './types.ts';

/**
 * Portable chain archive: a CAR v1 file (docs/archive.md).
 *
 *   CAR header   roots = [manifest CID]
 *   manifest     dag-cbor {format: 'blyan-archive', version: 1, network, chainId, genesis, counts}
 *   per block, chains A, C, D, B in store order:
 *     header     CIDv1(dag-cbor, sha2-256) — the digest is the block id, the bytes are the header bytes
 *     witness    CIDv1(dag-cbor, sha2-256) of dag-cbor {block: <header CID>, sig: <65 bytes>}
 *     payload    CIDv1(raw, sha2-256) — digest = payloadHash; only the first time that hash appears,
 *                never for empty payloads
 *
 * Import is two passes over the file. Pass 1 streams every section, checks every CID, decodes and
 * verifies every block (standalone and contextual rules) and every payload (hash and tile root, tile
 * by tile, never holding a payload); it keeps only the block records. Pass 2 re-reads the payloads
 * that the store lacks, re-hashes them (the file may have changed in between) and hands everything to
 * one `appendBatch` call: a single LMDB transaction, so the store gets all new blocks or none.
 */

export const ARCHIVE_FORMAT = 'blyan-archive';
export const ARCHIVE_VERSION = 1;

export const CODEC_DAG_CBOR = 0x71;
export const CODEC_RAW = 0x55;
export const MULTIHASH_SHA2_256 = 0x12;

/** Order in which chains are written; the importer sorts topologically anyway. */
export const ARCHIVE_CHAIN_ORDER: readonly ChainLetter[] = ['A', 'C', 'D', 'B'];

/** Bounds checked before a section's bytes are read (so a corrupt length never costs memory). */
const MAX_CAR_HEADER_BYTES = 4096;
const MAX_CID_READ_BYTES = 128;
const MAX_MANIFEST_BYTES = 4096;
const MAX_WITNESS_BYTES = 256;
/** Small reads go through a window of this size; payloads are read tile by tile past it. */
const WINDOW_BYTES = 64 * 1024;
/** Export coalesces small CAR chunks into writes of about this size. */
const WRITE_COALESCE_BYTES = 1024 * 1024;

export type ArchiveProgress = (bytesDone: number, bytesTotal: number) => void;

export interface ArchiveManifest {
  readonly format: typeof ARCHIVE_FORMAT;
  readonly version: typeof ARCHIVE_VERSION;
  readonly network: string;
  readonly chainId: number;
  /** Hex id of block A:0. */
  readonly genesis: string;
  readonly counts: Readonly<Record<ChainLetter, number>>;
}

export interface ExportResult {
  readonly blocks: number;
  readonly payloads: number;
  readonly bytes: number;
}

export interface ImportOptions {
  /**
   * Progress over both passes: `bytesTotal` is twice the archive size; pass 1 (verify) covers the
   * first half, pass 2 (re-read payloads and write) the second.
   */
  readonly onProgress?: ArchiveProgress;
  /** Receipt time for the future-time rule (S8); defaults to Date.now(). */
  readonly now?: number;
}

export interface ImportResult {
  /** Blocks written to the store. */
  readonly added: number;
  /** Blocks of the archive the store already had. */
  readonly skipped: number;
  /** Blocks in the archive. */
  readonly blocks: number;
  /** Archive size in bytes. */
  readonly bytes: number;
}

export interface VerifyResult extends ImportResult {
  /** Distinct payloads in the archive and their total size. */
  readonly payloads: number;
  readonly payloadBytes: number;
}

// ---------------------------------------------------------------------------------------------
// CIDs

function sha256Cid(codec: number, digest: Hash): CID {
  return CID.create(1, codec, Digest.create(MULTIHASH_SHA2_256, digest));
}

/** The CID under which a block header is stored: its digest is the block id. */
export function headerCid(id: Hash): CID {
  return sha256Cid(CODEC_DAG_CBOR, id);
}

export function payloadCid(payloadHash: Hash): CID {
  return sha256Cid(CODEC_RAW, payloadHash);
}

export function encodeWitness(id: Hash, sig: Uint8Array): Uint8Array {
  return dagCbor.encode({ block: headerCid(id), sig });
}

export function encodeManifest(m: ArchiveManifest): Uint8Array {
  return dagCbor.encode({
    format: m.format,
    version: m.version,
    network: m.network,
    chainId: m.chainId,
    genesis: m.genesis,
    counts: { A: m.counts.A, B: m.counts.B, C: m.counts.C, D: m.counts.D },
  });
}

function varintLength(n: number): number {
  let len = 1;
  while (n >= 0x80) {
    n = Math.floor(n / 0x80);
    len++;
  }
  return len;
}

/** Bytes a CAR section takes: varint(cid + data) ‖ cid ‖ data. */
function sectionBytes(cidBytes: number, dataBytes: number): number {
  return varintLength(cidBytes + dataBytes) + cidBytes + dataBytes;
}

// ---------------------------------------------------------------------------------------------
// Export

/**
 * Writes every block and payload of the store to `file` as a CAR v1 archive. Streams: at most one
 * payload (a view on the store's memory map when large) and a 1 MiB write buffer are in flight. The
 * archive is written to a temporary file next to `file`, synced, then renamed into place, so a
 * failed export never leaves a half-written archive under the final name.
 */
export async function exportArchive(store: BlockStore, file: string, opts: { onProgress?: ArchiveProgress } = {}): Promise<ExportResult> {
  const preset = store.preset;
  // Snapshot: the chains' heights now; blocks appended while we write are not included.
  const plan: { id: Hash; headerBytes: number; payloadHash: Hash; payloadSize: number }[] = [];
  const counts: Record<ChainLetter, number> = { A: 0, B: 0, C: 0, D: 0 };
  for (const chain of ARCHIVE_CHAIN_ORDER) {
    const height = store.height(chain);
    for (const { block } of store.iterate(chain, 0, height)) {
      plan.push({ id: block.id, headerBytes: block.headerBytes.byteLength, payloadHash: block.header.payloadHash, payloadSize: block.header.payloadSize });
      counts[chain]++;
    }
  }
  const manifestBytes = encodeManifest({
    format: ARCHIVE_FORMAT,
    version: ARCHIVE_VERSION,
    network: preset.network,
    chainId: preset.chainId,
    genesis: preset.genesisId,
    counts,
  });
  const manifestCid = sha256Cid(CODEC_DAG_CBOR, sha256(manifestBytes));

  // Exact size, for progress.
  const cidLen = manifestCid.bytes.byteLength; // every CID here is 36 bytes: v1, codec, sha2-256, 32
  const witnessLen = encodeWitness(new Uint8Array(HASH_BYTES), new Uint8Array(SIGNATURE_BYTES)).byteLength;
  const carHeader = dagCbor.encode({ version: 1, roots: [manifestCid] });
  let bytesTotal = varintLength(carHeader.byteLength) + carHeader.byteLength + sectionBytes(cidLen, manifestBytes.byteLength);
  const seen = new Set<string>();
  for (const p of plan) {
    bytesTotal += sectionBytes(cidLen, p.headerBytes) + sectionBytes(cidLen, witnessLen);
    const key = toHex(p.payloadHash);
    if (p.payloadSize > 0 && !seen.has(key)) {
      seen.add(key);
      bytesTotal += sectionBytes(cidLen, p.payloadSize);
    }
  }
  seen.clear();

  const tmp = `${file}.${process.pid}.partial`;
  let fh: FileHandle;
  try {
    fh = await openFile(tmp, 'w');
  } catch (err) {
    throw new BlyanError('IO_ERROR', `cannot write archive ${file}: ${(err as Error).message}`, { file }, { cause: err });
  }
  let bytesDone = 0;
  let payloads = 0;
  const { writer, out } = CarWriter.create([manifestCid]);

  const writeAll = async (bytes: Uint8Array): Promise<void> => {
    let off = 0;
    while (off < bytes.byteLength) {
      const { bytesWritten } = await fh.write(bytes, off, bytes.byteLength - off);
      off += bytesWritten;
    }
  };

  // Consumer: pulls CAR chunks one at a time (so the producer waits: backpressure), coalescing small ones.
  const consume = async (): Promise<void> => {
    const pending = Buffer.allocUnsafe(WRITE_COALESCE_BYTES);
    let used = 0;
    const flush = async () => {
      if (used > 0) await writeAll(pending.subarray(0, used));
      used = 0;
    };
    for await (const chunk of out) {
      if (chunk.byteLength >= WRITE_COALESCE_BYTES / 4) {
        await flush();
        await writeAll(chunk);
      } else {
        if (used + chunk.byteLength > pending.byteLength) await flush();
        pending.set(chunk, used);
        used += chunk.byteLength;
      }
      bytesDone += chunk.byteLength;
      opts.onProgress?.(bytesDone, bytesTotal);
    }
    await flush();
  };

  const produce = async (): Promise<void> => {
    await writer.put({ cid: manifestCid, bytes: manifestBytes });
    for (const p of plan) {
      const record = store.getRecord(p.id);
      if (record === undefined) throw new BlyanError('STORE_CORRUPT', `block ${toHex(p.id)} vanished from the store during export`);
      const headerBytes = record.subarray(0, record.byteLength - SIGNATURE_BYTES);
      const sig = record.subarray(record.byteLength - SIGNATURE_BYTES);
      const witness = encodeWitness(p.id, sig);
      await writer.put({ cid: headerCid(p.id), bytes: headerBytes });
      await writer.put({ cid: sha256Cid(CODEC_DAG_CBOR, sha256(witness)), bytes: witness });
      const key = toHex(p.payloadHash);
      if (p.payloadSize > 0 && !seen.has(key)) {
        seen.add(key);
        const payload = store.getPayload(p.payloadHash);
        if (payload === undefined) {
          throw new BlyanError('STORE_CORRUPT', `payload ${key} of block ${toHex(p.id)} is missing from the store`);
        }
        await writer.put({ cid: payloadCid(p.payloadHash), bytes: payload });
        payloads++;
      }
    }
    await writer.close();
  };

  try {
    // If either side fails, Promise.all rejects at once (the other side may stay parked forever; it holds nothing).
    await Promise.all([produce(), consume()]);
    await fh.datasync();
    await fh.close();
    await rename(tmp, file);
  } catch (err) {
    await fh.close().catch(() => undefined);
    await unlink(tmp).catch(() => undefined);
    if (err instanceof BlyanError) throw err;
    throw new BlyanError('IO_ERROR', `cannot write archive ${file}: ${(err as Error).message}`, { file }, { cause: err });
  }
  return { blocks: plan.length, payloads, bytes: bytesDone };
}

// ---------------------------------------------------------------------------------------------
// Reading: a bounded positional reader over a file or a byte array

/** Random-access bytes: a file handle or an in-memory archive. */
interface ByteSource {
  readonly size: number;
  /** Fills `into[0, length)` from `position`; throws if the source ends first. */
  read(into: Uint8Array, length: number, position: number): Promise<void>;
  /** Zero-copy view when the source is in memory. */
  view?(position: number, length: number): Uint8Array;
  close(): Promise<void>;
}

function malformed(message: string, data: Record<string, unknown> = {}, cause?: unknown): BlyanError {
  return new BlyanError('ARCHIVE_MALFORMED', message, data, cause === undefined ? undefined : { cause });
}

async function openSource(input: string | Uint8Array): Promise<ByteSource> {
  if (input instanceof Uint8Array) {
    const bytes = input;
    return {
      size: bytes.byteLength,
      async read(into, length, position) {
        if (position + length > bytes.byteLength) throw malformed('archive is truncated');
        into.set(bytes.subarray(position, position + length));
      },
      view: (position, length) => bytes.subarray(position, position + length),
      async close() {},
    };
  }
  let fh: FileHandle;
  try {
    fh = await openFile(input, 'r');
  } catch (err) {
    throw new BlyanError('IO_ERROR', `cannot read archive ${input}: ${(err as Error).message}`, { file: input }, { cause: err });
  }
  const { size } = await fh.stat();
  return {
    size,
    async read(into, length, position) {
      let off = 0;
      while (off < length) {
        const { bytesRead } = await fh.read(into, off, length - off, position + off);
        if (bytesRead === 0) throw malformed(`archive ${input} ended early (was it changed while being read?)`);
        off += bytesRead;
      }
    },
    close: () => fh.close(),
  };
}

/**
 * The BytesReader the @ipld/car decoder functions read through. Unlike the library's stream reader it
 * knows the archive's size (a length past the end fails before anything is read) and enforces a
 * per-read `limit`, so a corrupt varint can never make it buffer the file. Every refill allocates a
 * new window, so views handed out earlier (CIDs keep them) stay valid.
 */
class SourceReader implements BytesReader {
  pos = 0;
  limit = MAX_CID_READ_BYTES;
  private win: Uint8Array = new Uint8Array(0);
  private winStart = 0;

  constructor(readonly src: ByteSource) {}

  private async fill(want: number): Promise<void> {
    const n = Math.min(want, this.src.size - this.pos);
    if (this.pos >= this.winStart && this.pos + n <= this.winStart + this.win.byteLength) return;
    const len = Math.min(Math.max(n, WINDOW_BYTES), this.src.size - this.pos);
    if (this.src.view !== undefined) {
      this.win = this.src.view(this.pos, len);
    } else {
      const buf = new Uint8Array(len);
      await this.src.read(buf, len, this.pos);
      this.win = buf;
    }
    this.winStart = this.pos;
  }

  async upTo(length: number): Promise<Uint8Array> {
    await this.fill(length);
    const off = this.pos - this.winStart;
    return this.win.subarray(off, off + Math.min(length, this.src.size - this.pos));
  }

  async exactly(length: number, seek = false): Promise<Uint8Array> {
    if (!Number.isSafeInteger(length) || length < 0) throw malformed(`corrupt length ${length} at byte ${this.pos}`, { offset: this.pos });
    if (length > this.limit) throw malformed(`a ${length}-byte field at byte ${this.pos} exceeds the ${this.limit}-byte bound`, { offset: this.pos });
    if (length > this.src.size - this.pos) throw malformed(`archive is truncated: ${length} bytes needed at byte ${this.pos}, ${this.src.size - this.pos} left`, { offset: this.pos });
    await this.fill(length);
    const off = this.pos - this.winStart;
    const out = this.win.subarray(off, off + length);
    if (seek) this.pos += length;
    return out;
  }

  seek(length: number): void {
    this.pos += length;
  }
}

/** One CAR section: its CID and where its data lies in the archive. */
interface Section {
  readonly n: number;
  readonly offset: number;
  readonly cid: CID;
  readonly dataStart: number;
  readonly length: number;
}

function describe(s: Section): string {
  return `CAR block #${s.n} (${s.cid.toString()}) at byte ${s.offset}`;
}

function wrapCarError(err: unknown, what: string, offset: number): BlyanError {
  if (err instanceof BlyanError) return err;
  return malformed(`${what} at byte ${offset} is malformed: ${(err as Error).message}`, { offset }, err);
}

async function readCarHeader(reader: SourceReader): Promise<CID> {
  reader.limit = MAX_CAR_HEADER_BYTES;
  let header: Awaited<ReturnType<typeof readHeader>>;
  try {
    header = await readHeader(reader, 1);
  } catch (err) {
    throw malformed(`not a CAR v1 archive (bad or truncated CAR header): ${(err as Error).message}`, {}, err);
  }
  const roots = header.roots;
  const root = roots[0];
  if (roots.length !== 1 || root === undefined) throw malformed(`the archive must have exactly one root (the manifest), it has ${roots.length}`);
  return root;
}

async function nextSection(reader: SourceReader, n: number): Promise<Section | null> {
  if (reader.pos >= reader.src.size) return null;
  const offset = reader.pos;
  reader.limit = MAX_CID_READ_BYTES;
  let head: Awaited<ReturnType<typeof readBlockHead>>;
  try {
    head = await readBlockHead(reader);
  } catch (err) {
    throw wrapCarError(err, `CAR block #${n}`, offset);
  }
  const { cid, blockLength } = head;
  const s: Section = { n, offset, cid, dataStart: reader.pos, length: blockLength };
  if (!Number.isSafeInteger(blockLength) || blockLength < 0) throw malformed(`CAR block #${n} at byte ${offset} has a corrupt length`, { offset });
  if (cid.version !== 1) throw malformed(`${describe(s)} is a CIDv0 block; archives hold only CIDv1`, { offset, cid: cid.toString() });
  if (cid.code !== CODEC_DAG_CBOR && cid.code !== CODEC_RAW) {
    throw malformed(`${describe(s)} has codec 0x${cid.code.toString(16)}; archives hold only dag-cbor (0x71) and raw (0x55)`, { offset, cid: cid.toString() });
  }
  if (cid.multihash.code !== MULTIHASH_SHA2_256 || cid.multihash.size !== HASH_BYTES) {
    throw malformed(`${describe(s)} is not hashed with sha2-256`, { offset, cid: cid.toString() });
  }
  if (s.dataStart + blockLength > reader.src.size) {
    throw malformed(`archive is truncated: ${describe(s)} needs ${blockLength} bytes, ${reader.src.size - s.dataStart} left`, { offset });
  }
  return s;
}

/** Reads a small section's bytes (bounded) and checks them against its CID. */
async function readSmall(reader: SourceReader, s: Section, limit: number, tooLarge: () => BlyanError, what?: string, blockId?: string): Promise<Uint8Array> {
  if (s.length > limit) throw tooLarge();
  reader.limit = limit;
  const bytes = await reader.exactly(s.length, true);
  checkCid(s, sha256(bytes), what, blockId);
  return bytes;
}

function checkCid(s: Section, digest: Hash, what = describe(s), blockId?: string): void {
  if (!equalBytes(digest, s.cid.multihash.digest)) {
    throw new BlyanError('ARCHIVE_CID_MISMATCH', `${what}: its bytes hash to ${toHex(digest)}, not to its CID`, {
      block: blockId === undefined ? { cid: s.cid.toString(), offset: s.offset } : { id: blockId, cid: s.cid.toString(), offset: s.offset },
      cid: s.cid.toString(),
      offset: s.offset,
    });
  }
}

/**
 * Streams a payload tile by tile (double-buffered: the next tile is being read while this one is
 * hashed), computing SHA-256 of the whole and the tile Merkle root in one pass over memory.
 */
async function hashPayload(
  src: ByteSource,
  position: number,
  length: number,
  scratch: Uint8Array[],
  progress: (done: number) => void,
): Promise<{ hash: Hash; root: Hash }> {
  const whole = createHash('sha256');
  const leaves: Hash[] = [];
  const readTile = (i: number, off: number): Promise<Uint8Array> => {
    const n = Math.min(TILE_BYTES, length - off);
    if (src.view !== undefined) return Promise.resolve(src.view(position + off, n));
    const buf = (scratch[i & 1] as Uint8Array).subarray(0, n);
    return src.read(buf, n, position + off).then(() => buf);
  };
  let next: Promise<Uint8Array> | undefined = readTile(0, 0);
  try {
    for (let off = 0, i = 0; off < length; off += TILE_BYTES, i++) {
      const tile = await (next as Promise<Uint8Array>);
      next = off + TILE_BYTES < length ? readTile(i + 1, off + TILE_BYTES) : undefined;
      whole.update(tile);
      leaves.push(tileLeaf(tile));
      progress(off + tile.byteLength);
    }
  } finally {
    // Never leave a read in flight unobserved (its rejection would be unhandled).
    if (next !== undefined) await next.catch(() => undefined);
  }
  return { hash: new Uint8Array(whole.digest()), root: merkleRoot(leaves) };
}

/** Payloads smaller than this are read in groups during pass 2. */
const SMALL_GROUP_BYTES = 1024 * 1024;

/**
 * Reads `length` bytes at `position` into a new buffer and hashes them, pipelined: the next 4 MiB is
 * being read (libuv thread) while the current one is hashed (main thread).
 */
async function readHashed(src: ByteSource, position: number, length: number): Promise<{ buf: Uint8Array; hash: Hash }> {
  if (src.view !== undefined) {
    const buf = src.view(position, length);
    return { buf, hash: sha256(buf) };
  }
  // Not zero-filled: every byte is overwritten by the reads (which throw if they fall short).
  const buf = new Uint8Array(Buffer.allocUnsafeSlow(length).buffer, 0, length);
  const h = createHash('sha256');
  const readChunk = (off: number): Promise<Uint8Array> => {
    const n = Math.min(TILE_BYTES, length - off);
    const chunk = buf.subarray(off, off + n);
    return src.read(chunk, n, position + off).then(() => chunk);
  };
  let next: Promise<Uint8Array> | undefined = readChunk(0);
  try {
    for (let off = 0; off < length; off += TILE_BYTES) {
      const chunk = await (next as Promise<Uint8Array>);
      next = off + TILE_BYTES < length ? readChunk(off + TILE_BYTES) : undefined;
      h.update(chunk);
    }
  } finally {
    if (next !== undefined) await next.catch(() => undefined);
  }
  return { buf, hash: new Uint8Array(h.digest()) };
}

// ---------------------------------------------------------------------------------------------
// Pass 1: verify

function blockLabel(block: Block): string {
  return `${block.header.chain}:${block.header.index} ${toHex(block.id)}`;
}

/** Re-throws a rule failure with the block named in the message and in `data.block`. */
function blockError(block: Block, err: unknown): BlyanError {
  const inner = err instanceof BlyanError ? err : new BlyanError('ARCHIVE_MALFORMED', (err as Error).message);
  const code: BlyanErrorCode = inner.code;
  return new BlyanError(
    code,
    `archive block ${blockLabel(block)} fails rule ${code}: ${inner.message}`,
    { ...inner.data, block: { chain: block.header.chain, index: block.header.index, id: toHex(block.id) }, rule: code },
    { cause: inner },
  );
}

function parseManifest(bytes: Uint8Array, s: Section): ArchiveManifest {
  let v: unknown;
  try {
    v = dagCbor.decode(bytes);
  } catch (err) {
    throw malformed(`the manifest (${describe(s)}) is not valid dag-cbor: ${(err as Error).message}`, {}, err);
  }
  const bad = (why: string) => malformed(`the manifest (${describe(s)}) ${why}`);
  if (v === null || typeof v !== 'object' || Array.isArray(v) || v instanceof Uint8Array) throw bad('is not a map');
  const m = v as Record<string, unknown>;
  if (m.format !== ARCHIVE_FORMAT) throw bad(`has format ${JSON.stringify(m.format)}; expected "${ARCHIVE_FORMAT}"`);
  if (m.version !== ARCHIVE_VERSION) throw bad(`has version ${String(m.version)}; this node reads version ${ARCHIVE_VERSION}`);
  const keys = Object.keys(m).sort().join(',');
  if (keys !== 'chainId,counts,format,genesis,network,version') throw bad(`has fields ${keys}`);
  if (typeof m.network !== 'string' || typeof m.genesis !== 'string' || !Number.isSafeInteger(m.chainId)) throw bad('has a bad network identity');
  const c = m.counts;
  if (c === null || typeof c !== 'object' || Array.isArray(c) || Object.keys(c).sort().join(',') !== 'A,B,C,D') throw bad('has bad counts');
  const counts = c as Record<string, unknown>;
  for (const k of ['A', 'B', 'C', 'D']) {
    const n = counts[k];
    if (typeof n !== 'number' || !Number.isSafeInteger(n) || n < 0) throw bad(`has a bad count for chain ${k}`);
  }
  if (!equalBytes(encodeManifest(m as unknown as ArchiveManifest), bytes)) throw bad('is not canonically encoded');
  return m as unknown as ArchiveManifest;
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

function parseWitness(bytes: Uint8Array): { block: CID; sig: Uint8Array } | undefined {
  let v: unknown;
  try {
    v = dagCbor.decode(bytes);
  } catch {
    return undefined;
  }
  if (v === null || typeof v !== 'object' || Array.isArray(v) || v instanceof Uint8Array) return undefined;
  const w = v as Record<string, unknown>;
  if (Object.keys(w).length !== 2) return undefined;
  const block = CID.asCID(w.block);
  const sig = w.sig;
  if (block === null || !(sig instanceof Uint8Array) || sig.byteLength !== SIGNATURE_BYTES) return undefined;
  return { block, sig };
}

function looksLikeWitness(bytes: Uint8Array): boolean {
  if (bytes.byteLength > MAX_WITNESS_BYTES) return false;
  try {
    const v = dagCbor.decode(bytes) as unknown;
    return v !== null && typeof v === 'object' && 'block' in v && 'sig' in v;
  } catch {
    return false;
  }
}

/** Contextual view for pass 1: the store plus the archive's new blocks checked so far. */
class ImportView implements ChainView {
  private readonly staged = new Map<string, BlockHeader>();
  private readonly heads = new Map<LinearChain, { id: Hash; header: BlockHeader }>();

  constructor(private readonly store: BlockStore) {}

  header(id: Hash): BlockHeader | undefined {
    return this.staged.get(toHex(id)) ?? this.store.header(id);
  }

  head(chain: LinearChain): { id: Hash; header: BlockHeader } | undefined {
    return this.heads.get(chain) ?? this.store.head(chain);
  }

  add(block: Block): void {
    this.staged.set(toHex(block.id), block.header);
    if (block.header.chain !== 'B') this.heads.set(block.header.chain, { id: block.id, header: block.header });
  }
}

/** What pass 1 learned: the blocks to add, in the order they were checked, and where their payloads lie. */
interface ImportPlan {
  readonly manifest: ArchiveManifest;
  readonly newBlocks: Block[];
  readonly skipped: number;
  readonly blocks: number;
  readonly size: number;
  readonly payloads: Map<string, { position: number; length: number; hash: Hash }>;
  readonly payloadBytes: number;
  readonly distinctPayloads: number;
}

async function verifyPass(store: BlockStore, src: ByteSource, now: number, progress: (done: number) => void): Promise<ImportPlan> {
  const preset = store.preset;
  const reader = new SourceReader(src);
  const root = await readCarHeader(reader);
  let manifest: ArchiveManifest | undefined;
  const counts: Record<ChainLetter, number> = { A: 0, B: 0, C: 0, D: 0 };
  const seenIds = new Set<string>();
  const payloads = new Map<string, { position: number; length: number; hash: Hash; size: number; tileRoot: Hash }>();
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
      if (s === null || s.cid.code !== CODEC_RAW) {
        throw blockError(b, new BlyanError('BLOCK_PAYLOAD_MISSING', `its ${b.header.payloadSize}-byte payload ${toHex(b.header.payloadHash)} should follow it in the archive, but ${s === null ? 'the archive ends' : `${describe(s)} does`}`));
      }
      if (!equalBytes(s.cid.multihash.digest, b.header.payloadHash)) {
        throw blockError(b, new BlyanError('BLOCK_BAD_PAYLOAD', `the archive carries payload ${toHex(s.cid.multihash.digest)} (${describe(s)}) where its payload ${toHex(b.header.payloadHash)} belongs`));
      }
      if (s.length !== b.header.payloadSize) {
        throw blockError(b, new BlyanError('BLOCK_BAD_PAYLOAD', `payload is ${s.length} bytes in the archive; the header says ${b.header.payloadSize}`));
      }
      if (scratch.length === 0 && src.view === undefined) scratch.push(new Uint8Array(TILE_BYTES), new Uint8Array(TILE_BYTES));
      const { hash, root: tiles } = await hashPayload(src, s.dataStart, s.length, scratch, (done) => progress(s.dataStart + done));
      checkCid(s, hash, `payload of block ${blockLabel(b)} (${describe(s)})`);
      if (!equalBytes(tiles, b.header.tileRoot)) {
        throw blockError(b, new BlyanError('BLOCK_BAD_PAYLOAD', 'payload tiles do not match the header\'s tileRoot'));
      }
      payloads.set(toHex(b.header.payloadHash), { position: s.dataStart, length: s.length, hash: b.header.payloadHash, size: s.length, tileRoot: tiles });
      payloadBytes += s.length;
      reader.seek(s.length);
      continue;
    }

    if (s === null) break;

    if (manifest === undefined) {
      if (!equalBytes(s.cid.bytes, root.bytes)) throw malformed(`the first block must be the manifest ${root.toString()} named as the root, found ${describe(s)}`);
      if (s.cid.code !== CODEC_DAG_CBOR) throw malformed(`the manifest (${describe(s)}) must be dag-cbor`);
      const bytes = await readSmall(reader, s, MAX_MANIFEST_BYTES, () => malformed(`the manifest (${describe(s)}) is ${s.length} bytes; the limit is ${MAX_MANIFEST_BYTES}`));
      manifest = parseManifest(bytes, s);
      checkNetwork(manifest, preset);
      continue;
    }

    if (s.cid.code === CODEC_RAW) {
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

    // A witness: {block: <the header's CID>, sig}.
    const h = pendingHeader;
    pendingHeader = null;
    const hid = toHex(h.section.cid.multihash.digest);
    const noWitness = (why: string) =>
      malformed(`header ${hid} (${describe(h.section)}) is not followed by its witness: ${why}`, { block: { id: hid, offset: h.section.offset } });
    if (s.length > MAX_WITNESS_BYTES) throw noWitness(`${describe(s)} is too large to be one`);
    const wbytes = await readSmall(reader, s, MAX_WITNESS_BYTES, () => noWitness('too large'), `witness of block ${hid} (${describe(s)})`, hid);
    const w = parseWitness(wbytes);
    if (w === undefined) throw noWitness(`${describe(s)} is not a witness`);
    if (!equalBytes(w.block.bytes, h.section.cid.bytes)) throw noWitness(`${describe(s)} is the witness of ${w.block.toString()}`);
    if (!equalBytes(encodeWitness(h.section.cid.multihash.digest, w.sig), wbytes)) throw noWitness(`${describe(s)} is not canonically encoded`);

    const record = new Uint8Array(h.bytes.byteLength + SIGNATURE_BYTES);
    record.set(h.bytes, 0);
    record.set(w.sig, h.bytes.byteLength);
    let block: Block;
    try {
      block = decodeRecord(record);
    } catch (err) {
      const inner = err instanceof BlyanError ? err : malformed((err as Error).message);
      throw new BlyanError(inner.code, `archive block ${hid} (${describe(h.section)}) fails rule ${inner.code}: ${inner.message}`, {
        ...inner.data,
        block: { id: hid, offset: h.section.offset },
        rule: inner.code,
      }, { cause: inner });
    }
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
      } else if (earlier.size !== payloadSize || !equalBytes(earlier.tileRoot, block.header.tileRoot)) {
        throw blockError(block, new BlyanError('BLOCK_BAD_PAYLOAD', `its payload ${toHex(payloadHash)} is ${earlier.size} bytes with tile root ${toHex(earlier.tileRoot)}; the header says ${payloadSize} bytes, ${toHex(block.header.tileRoot)}`));
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

  // Contextual rules (D*, L*), in dependency order, against the store plus what is staged before.
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

  // Payloads the store will need from pass 2.
  const needed = new Map<string, { position: number; length: number; hash: Hash }>();
  for (const b of ordered) {
    if (b.header.payloadSize === 0) continue;
    const key = toHex(b.header.payloadHash);
    if (needed.has(key) || store.hasPayload(b.header.payloadHash)) continue;
    const p = payloads.get(key);
    if (p === undefined) throw blockError(b, new BlyanError('BLOCK_PAYLOAD_MISSING', 'payload is not in the archive'));
    needed.set(key, { position: p.position, length: p.length, hash: p.hash });
  }
  return {
    manifest,
    newBlocks: ordered,
    skipped,
    blocks: seenIds.size,
    size: src.size,
    payloads: needed,
    payloadBytes,
    distinctPayloads: payloads.size,
  };
}

// ---------------------------------------------------------------------------------------------
// Import

async function withSource<T>(input: string | Uint8Array, fn: (src: ByteSource) => Promise<T>): Promise<T> {
  const src = await openSource(input);
  try {
    return await fn(src);
  } finally {
    await src.close().catch(() => undefined);
  }
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

/**
 * Imports an archive (a file path, or the archive's bytes) into the store: verifies everything first
 * (pass 1, streaming), then re-reads the payloads the store lacks and adds every new block in one
 * atomic `appendBatch` (pass 2). Blocks the store already has are skipped. Any failure throws a
 * BlyanError naming the block and the rule, and leaves the store untouched.
 */
export async function importArchive(store: BlockStore, input: string | Uint8Array, opts: ImportOptions = {}): Promise<ImportResult> {
  const now = opts.now ?? Date.now();
  const plan = await withSource(input, async (src) => {
    const total = 2 * src.size;
    return verifyPass(store, src, now, (done) => opts.onProgress?.(done, total));
  });
  const total = 2 * plan.size;
  if (plan.newBlocks.length === 0) {
    opts.onProgress?.(total, total);
    return { added: 0, skipped: plan.skipped, blocks: plan.blocks, bytes: plan.size };
  }

  // Pass 2: the payloads the store lacks. They are all held until the single appendBatch below
  // (docs/archive.md, "Memory"); each is re-hashed, since the file may have changed since pass 1.
  const bytes = await withSource(input, async (src) => {
    if (src.size !== plan.size) throw malformed(`archive changed between the verify and write passes (size ${plan.size} → ${src.size})`);
    const out = new Map<string, Uint8Array>();
    let need = 0;
    for (const p of plan.payloads.values()) need += p.length;
    let done = 0;
    const accept = (key: string, p: { position: number; hash: Hash }, buf: Uint8Array, hash: Hash) => {
      if (!equalBytes(hash, p.hash)) {
        throw new BlyanError('ARCHIVE_CID_MISMATCH', `payload ${key} at byte ${p.position} changed between the verify and write passes`, {
          block: { payload: key, offset: p.position },
        });
      }
      out.set(key, buf);
      done += buf.byteLength;
      opts.onProgress?.(plan.size + Math.floor((need === 0 ? 1 : done / need) * plan.size * 0.9), total);
    };
    const list = [...plan.payloads.entries()].sort((a, b) => a[1].position - b[1].position);
    for (let i = 0; i < list.length; ) {
      const [key, p] = list[i] as [string, { position: number; length: number; hash: Hash }];
      if (src.view !== undefined || p.length >= SMALL_GROUP_BYTES) {
        const { buf, hash } = await readHashed(src, p.position, p.length);
        accept(key, p, buf, hash);
        i++;
        continue;
      }
      // Small payloads close together: one read for the group, each payload a view on it.
      let j = i + 1;
      while (j < list.length) {
        const q = (list[j] as [string, { position: number; length: number }])[1];
        if (q.length >= SMALL_GROUP_BYTES || q.position + q.length - p.position > SMALL_GROUP_BYTES) break;
        j++;
      }
      const last = (list[j - 1] as [string, { position: number; length: number }])[1];
      const span = last.position + last.length - p.position;
      const group = new Uint8Array(Buffer.allocUnsafeSlow(span).buffer, 0, span);
      await src.read(group, span, p.position);
      for (let k = i; k < j; k++) {
        const [qk, q] = list[k] as [string, { position: number; length: number; hash: Hash }];
        const view = group.subarray(q.position - p.position, q.position - p.position + q.length);
        accept(qk, q, view, sha256(view));
      }
      i = j;
    }
    return out;
  });

  const items: AppendItem[] = plan.newBlocks.map((block) => ({ block, payload: bytes.get(toHex(block.header.payloadHash)) }));
  try {
    store.appendBatch(items, { verified: true, now });
  } catch (err) {
    // Everything was verified against the store as it was in pass 1; only a concurrent change to the
    // store (another import, sync) can make the commit fail. appendBatch is atomic: nothing was written.
    if (!(err instanceof BlyanError)) throw err;
    throw new BlyanError(err.code, `archive import not committed (did the store change while the archive was being verified?): ${err.message}`, err.data, { cause: err });
  }
  opts.onProgress?.(total, total);
  return { added: plan.newBlocks.length, skipped: plan.skipped, blocks: plan.blocks, bytes: plan.size };
}
