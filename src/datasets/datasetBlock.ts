import * as dagCbor from '@ipld/dag-cbor';
import { decodeUntrustedCbor } from '../cborBounds.ts';
import { z } from 'zod';
import { createBlock } from '../chain/block.ts';
import { equalBytes, type Hash, sha256 } from '../chain/hash.ts';
import type { Preset } from '../chain/presets.ts';
import type { BlockStore } from '../chain/store.ts';
import type { Block } from '../chain/types.ts';
import { BlyanError } from '../errors.ts';
import { firstControl } from './charset.ts';
import { chunkCount, chunkHashes } from './chunks.ts';
import { MAX_CHUNK_SIZE, MAX_CHUNKS, MAX_DATASET_NAME, MAX_LICENSE_LENGTH, MIN_CHUNK_SIZE } from './limits.ts';
import { type L0Report, L0ReportSchema } from './report.ts';

/**
 * The payload of a chain-D block of type `dataset` (docs/datasets.md §2): metadata, the L0 report and
 * the content itself, as one canonical DAG-CBOR map.
 */
export const DATASET_FORMAT = 'blyan-dataset/v1';
export const DATASET_TIERS = ['gold', 'silver', 'experimental'] as const;
export type DatasetTier = (typeof DATASET_TIERS)[number];
export const TEXT_MEDIA_TYPE = 'text/plain; charset=utf-8';

/** Everything but the content: what listings and the sharding function need. */
export interface DatasetMeta {
  readonly format: typeof DATASET_FORMAT;
  readonly name: string;
  readonly tier: DatasetTier;
  /** An SPDX license expression, or NOASSERTION. */
  readonly license: string;
  readonly mediaType: string;
  /** Content length in bytes. */
  readonly size: number;
  /** SHA-256 of the content. */
  readonly sha256: Hash;
  readonly chunkSize: number;
  /** SHA-256 of each chunkSize slice of the content, in order. */
  readonly chunks: readonly Hash[];
  readonly report: L0Report;
}

export interface DatasetPayload extends DatasetMeta {
  readonly content: Uint8Array;
}

/** What an author decides; sizes and hashes are derived. */
export interface DatasetDraft {
  readonly name: string;
  readonly tier: DatasetTier;
  readonly license: string;
  readonly mediaType?: string;
  readonly chunkSize: number;
  readonly content: Uint8Array;
  readonly report: L0Report;
}

const hash32 = z.instanceof(Uint8Array).refine((b) => b.length === 32, 'expected 32 bytes');
/** Printable text without control characters. */
const label = (max: number) =>
  z
    .string()
    .min(1)
    .max(max)
    .refine((s) => firstControl(s) === -1, 'no control characters');
/** SPDX expression syntax, loosely: ids, parentheses, AND / OR / WITH. */
export const LICENSE_PATTERN = /^[A-Za-z0-9.+:()-]+(?: (?:AND|OR|WITH) [A-Za-z0-9.+:()-]+)*$/;

const PayloadSchema = z.strictObject({
  format: z.literal(DATASET_FORMAT),
  name: label(MAX_DATASET_NAME),
  tier: z.enum(DATASET_TIERS),
  license: z.string().max(MAX_LICENSE_LENGTH).regex(LICENSE_PATTERN),
  mediaType: label(100),
  size: z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER),
  sha256: hash32,
  chunkSize: z.number().int().min(MIN_CHUNK_SIZE).max(MAX_CHUNK_SIZE),
  chunks: z.array(hash32).max(MAX_CHUNKS),
  report: L0ReportSchema,
  content: z.instanceof(Uint8Array),
});

export function buildDatasetPayload(draft: DatasetDraft, onProgress?: (done: number, total: number) => void): DatasetPayload {
  const payload: DatasetPayload = {
    format: DATASET_FORMAT,
    name: draft.name,
    tier: draft.tier,
    license: draft.license,
    mediaType: draft.mediaType ?? TEXT_MEDIA_TYPE,
    size: draft.content.byteLength,
    sha256: sha256(draft.content),
    chunkSize: draft.chunkSize,
    chunks: chunkHashes(draft.content, draft.chunkSize, onProgress),
    report: draft.report,
    content: draft.content,
  };
  const parsed = PayloadSchema.safeParse(payload);
  if (!parsed.success) {
    const i = parsed.error.issues[0];
    throw new BlyanError('BAD_ARGUMENT', `dataset ${i?.path.join('.') ?? '?'}: ${i?.message ?? 'invalid'}`, { field: i?.path.join('.') ?? '' });
  }
  return payload;
}

/** Canonical DAG-CBOR: the same payload always has the same bytes (and so the same payloadHash). */
export function encodeDatasetPayload(payload: DatasetPayload): Uint8Array {
  return dagCbor.encode(payload);
}

/**
 * Parses and checks a payload: strict DAG-CBOR, the schema, the canonical encoding, and that size,
 * sha256 and chunks agree with the content. Throws DATASET_MALFORMED naming the first problem.
 */
export function decodeDatasetPayload(bytes: Uint8Array): DatasetPayload {
  let value: unknown;
  try {
    value = decodeUntrustedCbor(bytes);
  } catch (err) {
    throw malformed(`not valid DAG-CBOR: ${(err as Error).message}`);
  }
  const parsed = PayloadSchema.safeParse(value);
  if (!parsed.success) {
    const i = parsed.error.issues[0];
    throw malformed(`${i?.path.join('.') || 'payload'}: ${i?.message ?? 'invalid'}`);
  }
  const p = parsed.data as DatasetPayload;
  if (p.size !== p.content.byteLength) throw malformed(`size says ${p.size} bytes; the content has ${p.content.byteLength}`);
  if (!equalBytes(sha256(p.content), p.sha256)) throw malformed('sha256 does not match the content');
  if (p.chunks.length !== chunkCount(p.size, p.chunkSize)) {
    throw malformed(`${p.chunks.length} chunk hashes for ${chunkCount(p.size, p.chunkSize)} chunks`);
  }
  const actual = chunkHashes(p.content, p.chunkSize);
  const bad = actual.findIndex((h, i) => !equalBytes(h, p.chunks[i] as Hash));
  if (bad !== -1) throw malformed(`chunk ${bad} does not match its hash`);
  if (!equalBytes(encodeDatasetPayload(p), bytes)) throw malformed('not in canonical DAG-CBOR form');
  return p;
}

function malformed(what: string): BlyanError {
  return new BlyanError('DATASET_MALFORMED', `dataset payload is malformed: ${what}`);
}

export function metaOf(payload: DatasetPayload): DatasetMeta {
  const { content: _content, ...meta } = payload;
  return meta;
}

/**
 * A signed, mined dataset block on top of chain D's head. Chain D is linear: `prev` is the head and
 * the index follows it (rule L4); `deps` is empty, since the chain already hangs off A:0 through D:0
 * and a dataset belongs to no model. The time never goes back behind the head (rule L5).
 */
export function buildDatasetBlock(
  head: { readonly id: Hash; readonly header: { readonly index: number; readonly time: number } },
  payloadBytes: Uint8Array,
  privateKey: Uint8Array,
  preset: Preset,
  now: number,
): Block {
  return createBlock(
    { chain: 'D', index: head.header.index + 1, prev: head.id, deps: [], type: 'dataset', time: Math.max(now, head.header.time) },
    payloadBytes,
    privateKey,
    preset,
  );
}

export interface CreatedDataset {
  readonly block: Block;
  readonly meta: DatasetMeta;
  /** The encoded payload (its SHA-256 is the header's payloadHash). */
  readonly payloadBytes: Uint8Array;
}

/** Builds the payload and the block and appends it in one store transaction (all or nothing). */
export function createDatasetBlock(
  store: BlockStore,
  draft: DatasetDraft,
  privateKey: Uint8Array,
  opts: { readonly now?: number; readonly onProgress?: (done: number, total: number) => void } = {},
): CreatedDataset {
  const head = store.head('D');
  if (head === undefined) throw new BlyanError('STORE_CORRUPT', 'chain D has no genesis block');
  const payload = buildDatasetPayload(draft, opts.onProgress);
  const payloadBytes = encodeDatasetPayload(payload);
  const now = opts.now ?? Date.now();
  const block = buildDatasetBlock(head, payloadBytes, privateKey, store.preset, now);
  store.append(block, payloadBytes, { now });
  return { block, meta: metaOf(payload), payloadBytes };
}
