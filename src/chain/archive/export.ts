import { open as openFile, rename, unlink, type FileHandle } from 'node:fs/promises';
import { CarWriter } from '@ipld/car/writer';
import * as dagCbor from '@ipld/dag-cbor';
import type { CID } from 'multiformats/cid';
import { BlyanError } from '../../errors.ts';
import { blockCid, payloadCid } from '../cid.ts';
import { type Hash, HASH_BYTES, toHex } from '../hash.ts';
import { SIGNATURE_BYTES } from '../sign.ts';
import type { BlockStore } from '../store.ts';
import type { ChainLetter } from '../types.ts';
import { ARCHIVE_CHAIN_ORDER, ARCHIVE_FORMAT, ARCHIVE_VERSION, dagCborCid, encodeManifest, encodeWitness, sectionBytes, varintLength } from './format.ts';
import type { ArchiveProgress, ExportResult } from './types.ts';

/** Export coalesces small CAR chunks into writes of about this size. */
const WRITE_COALESCE_BYTES = 1024 * 1024;

/** A block to write, noted when the export starts. */
interface PlannedBlock {
  readonly id: Hash;
  readonly headerBytes: number;
  readonly payloadHash: Hash;
  readonly payloadSize: number;
}

/**
 * Writes every block and payload of the store to `file` as a CAR v1 archive. Streams: at most one
 * payload (a view on the store's memory map when large) and a 1 MiB write buffer are in flight. The
 * archive is written to a temporary file next to `file`, synced, then renamed into place, so a
 * failed export never leaves a half-written archive under the final name.
 */
export async function exportArchive(store: BlockStore, file: string, opts: { onProgress?: ArchiveProgress } = {}): Promise<ExportResult> {
  const preset = store.preset;
  // Snapshot: the chains' heights now; blocks appended while we write are not included.
  const plan: PlannedBlock[] = [];
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
  const manifestCid = dagCborCid(manifestBytes);

  const bytesTotal = archiveBytes(plan, manifestCid, manifestBytes.byteLength);

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
    const seen = new Set<string>();
    await writer.put({ cid: manifestCid, bytes: manifestBytes });
    for (const p of plan) {
      const record = store.getRecord(p.id);
      if (record === undefined) throw new BlyanError('STORE_CORRUPT', `block ${toHex(p.id)} vanished from the store during export`);
      const headerBytes = record.subarray(0, record.byteLength - SIGNATURE_BYTES);
      const sig = record.subarray(record.byteLength - SIGNATURE_BYTES);
      const witness = encodeWitness(p.id, sig);
      await writer.put({ cid: blockCid(p), bytes: headerBytes });
      await writer.put({ cid: dagCborCid(witness), bytes: witness });
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

/** The exact size of the archive, for progress. */
function archiveBytes(plan: readonly PlannedBlock[], manifestCid: CID, manifestBytes: number): number {
  const cidLen = manifestCid.bytes.byteLength; // every CID here is 36 bytes: v1, codec, sha2-256, 32
  const witnessLen = encodeWitness(new Uint8Array(HASH_BYTES), new Uint8Array(SIGNATURE_BYTES)).byteLength;
  const carHeader = dagCbor.encode({ version: 1, roots: [manifestCid] });
  let bytes = varintLength(carHeader.byteLength) + carHeader.byteLength + sectionBytes(cidLen, manifestBytes);
  const seen = new Set<string>();
  for (const p of plan) {
    bytes += sectionBytes(cidLen, p.headerBytes) + sectionBytes(cidLen, witnessLen);
    const key = toHex(p.payloadHash);
    if (p.payloadSize > 0 && !seen.has(key)) {
      seen.add(key);
      bytes += sectionBytes(cidLen, p.payloadSize);
    }
  }
  return bytes;
}
