import * as dagCbor from '@ipld/dag-cbor';
import { decodeUntrustedCbor } from '../../cborBounds.ts';
import { CID } from 'multiformats/cid';
import * as Digest from 'multiformats/hashes/digest';
import { blockCid, DAG_CBOR_CODE, SHA2_256_CODE } from '../cid.ts';
import { equalBytes, type Hash, sha256 } from '../hash.ts';
import { SIGNATURE_BYTES } from '../sign.ts';
import type { ChainLetter } from '../types.ts';
import { malformed } from './errors.ts';

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
 */

export const ARCHIVE_FORMAT = 'blyan-archive';
export const ARCHIVE_VERSION = 1;

/** Order in which chains are written; the importer sorts topologically anyway. */
export const ARCHIVE_CHAIN_ORDER: readonly ChainLetter[] = ['A', 'C', 'D', 'B'];

/** Bounds checked before a section's bytes are read (so a corrupt length never costs memory). */
export const MAX_CAR_HEADER_BYTES = 4096;
export const MAX_CID_READ_BYTES = 128;
export const MAX_MANIFEST_BYTES = 4096;
export const MAX_WITNESS_BYTES = 256;

export interface ArchiveManifest {
  readonly format: typeof ARCHIVE_FORMAT;
  readonly version: typeof ARCHIVE_VERSION;
  readonly network: string;
  readonly chainId: number;
  /** Hex id of block A:0. */
  readonly genesis: string;
  readonly counts: Readonly<Record<ChainLetter, number>>;
}

/** The CID of a dag-cbor section addressed by the SHA-256 of its bytes (the manifest, a witness). */
export function dagCborCid(bytes: Uint8Array): CID {
  return CID.createV1(DAG_CBOR_CODE, Digest.create(SHA2_256_CODE, sha256(bytes)));
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

/** Decodes and checks a manifest; `label` names it in error messages. */
export function parseManifest(bytes: Uint8Array, label: string): ArchiveManifest {
  let v: unknown;
  try {
    v = decodeUntrustedCbor(bytes);
  } catch (err) {
    throw malformed(`${label} is not valid dag-cbor: ${(err as Error).message}`, {}, err);
  }
  const bad = (why: string) => malformed(`${label} ${why}`);
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

/** A block's witness: links its header by CID and carries the signature (which is not in the header). */
export function encodeWitness(id: Hash, sig: Uint8Array): Uint8Array {
  return dagCbor.encode({ block: blockCid({ id }), sig });
}

export function parseWitness(bytes: Uint8Array): { block: CID; sig: Uint8Array } | undefined {
  let v: unknown;
  try {
    v = decodeUntrustedCbor(bytes);
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

export function looksLikeWitness(bytes: Uint8Array): boolean {
  if (bytes.byteLength > MAX_WITNESS_BYTES) return false;
  try {
    const v = decodeUntrustedCbor(bytes) as unknown;
    return v !== null && typeof v === 'object' && 'block' in v && 'sig' in v;
  } catch {
    return false;
  }
}

/** Bytes the unsigned LEB128 varint of `n` takes (CAR length prefixes). */
export function varintLength(n: number): number {
  let len = 1;
  while (n >= 0x80) {
    n = Math.floor(n / 0x80);
    len++;
  }
  return len;
}

/** Bytes a CAR section takes: varint(cid + data) ‖ cid ‖ data. */
export function sectionBytes(cidBytes: number, dataBytes: number): number {
  return varintLength(cidBytes + dataBytes) + cidBytes + dataBytes;
}
