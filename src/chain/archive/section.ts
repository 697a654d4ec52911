import { readBlockHead, readHeader } from '@ipld/car/decoder';
import type { CID } from 'multiformats/cid';
import { BlyanError } from '../../errors.ts';
import { DAG_CBOR_CODE, RAW_CODE, SHA2_256_CODE } from '../cid.ts';
import { equalBytes, type Hash, HASH_BYTES, sha256, toHex } from '../hash.ts';
import { malformed } from './errors.ts';
import { MAX_CAR_HEADER_BYTES, MAX_CID_READ_BYTES } from './format.ts';
import type { SourceReader } from './reader.ts';

/** One CAR section: its CID and where its data lies in the archive. */
export interface Section {
  readonly n: number;
  readonly offset: number;
  readonly cid: CID;
  readonly dataStart: number;
  readonly length: number;
}

export function describe(s: Section): string {
  return `CAR block #${s.n} (${s.cid.toString()}) at byte ${s.offset}`;
}

function wrapCarError(err: unknown, what: string, offset: number): BlyanError {
  if (err instanceof BlyanError) return err;
  return malformed(`${what} at byte ${offset} is malformed: ${(err as Error).message}`, { offset }, err);
}

/** Reads the CAR header and returns its single root, the manifest's CID. */
export async function readCarHeader(reader: SourceReader): Promise<CID> {
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

/**
 * Reads the next section's length and CID (not its data) and checks that the CID is one an archive
 * may hold and that the data fits in the file. Returns null at the end of the archive.
 */
export async function nextSection(reader: SourceReader, n: number): Promise<Section | null> {
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
  if (cid.code !== DAG_CBOR_CODE && cid.code !== RAW_CODE) {
    throw malformed(`${describe(s)} has codec 0x${cid.code.toString(16)}; archives hold only dag-cbor (0x71) and raw (0x55)`, { offset, cid: cid.toString() });
  }
  if (cid.multihash.code !== SHA2_256_CODE || cid.multihash.size !== HASH_BYTES) {
    throw malformed(`${describe(s)} is not hashed with sha2-256`, { offset, cid: cid.toString() });
  }
  if (s.dataStart + blockLength > reader.src.size) {
    throw malformed(`archive is truncated: ${describe(s)} needs ${blockLength} bytes, ${reader.src.size - s.dataStart} left`, { offset });
  }
  return s;
}

/** Reads a small section's bytes (bounded) and checks them against its CID. */
export async function readSmall(
  reader: SourceReader,
  s: Section,
  limit: number,
  tooLarge: () => BlyanError,
  what?: string,
  blockId?: string,
): Promise<Uint8Array> {
  if (s.length > limit) throw tooLarge();
  reader.limit = limit;
  const bytes = await reader.exactly(s.length, true);
  checkCid(s, sha256(bytes), what, blockId);
  return bytes;
}

export function checkCid(s: Section, digest: Hash, what = describe(s), blockId?: string): void {
  if (!equalBytes(digest, s.cid.multihash.digest)) {
    throw new BlyanError('ARCHIVE_CID_MISMATCH', `${what}: its bytes hash to ${toHex(digest)}, not to its CID`, {
      block: blockId === undefined ? { cid: s.cid.toString(), offset: s.offset } : { id: blockId, cid: s.cid.toString(), offset: s.offset },
      cid: s.cid.toString(),
      offset: s.offset,
    });
  }
}
