import { ADDRESS_BYTES, type Address } from '../chain/address.ts';
import { type Hash, HASH_BYTES, sha256 } from '../chain/hash.ts';
import { BlyanError } from '../errors.ts';
import { chunkCount } from './chunks.ts';

/**
 * Deterministic sharding (docs/datasets.md §4): which part of a dataset a miner trains on in a round,
 * a pure function of (dataset id, miner address, round, shard count) that anyone can recompute.
 *
 *   seed  = SHA-256( "blyan/dataset-shard/v1" ‖ 0x00 ‖ dataset id (32) ‖ miner (20) ‖ u64be(round) ‖ u32be(shards) )
 *   index = u64be(seed[0..8]) mod shards
 *   chunks [⌊index·N/shards⌋, ⌊(index+1)·N/shards⌋) of the N = ⌈size/chunkSize⌉ chunks
 *
 * The shards partition the chunks: contiguous, disjoint, covering every chunk, none empty.
 */
export const SHARD_DOMAIN = 'blyan/dataset-shard/v1';
const DOMAIN_BYTES = new TextEncoder().encode(`${SHARD_DOMAIN}\0`);
const MAX_SHARDS = 0xffff_ffff;

export interface ShardedDataset {
  /** The dataset block id. */
  readonly id: Hash;
  readonly size: number;
  readonly chunkSize: number;
}

export interface Shard {
  readonly round: number;
  /** How many shards the dataset is cut into. */
  readonly shards: number;
  /** Which of them this miner got, 0 … shards − 1. */
  readonly index: number;
  /** Chunk range, end exclusive. */
  readonly chunkStart: number;
  readonly chunkEnd: number;
  /** Byte range of the content, end exclusive. */
  readonly byteStart: number;
  readonly byteEnd: number;
}

/** The seed bytes of the layout above. */
export function shardSeed(datasetId: Hash, miner: Address, round: number, shards: number): Hash {
  if (datasetId.length !== HASH_BYTES) throw new BlyanError('BAD_ARGUMENT', 'a dataset id is 32 bytes');
  if (miner.length !== ADDRESS_BYTES) throw new BlyanError('BAD_ARGUMENT', 'a miner address is 20 bytes');
  const tail = new Uint8Array(12);
  const view = new DataView(tail.buffer);
  view.setBigUint64(0, BigInt(round));
  view.setUint32(8, shards);
  return sha256(DOMAIN_BYTES, datasetId, miner, tail);
}

/** Chunk range of shard `index` when N chunks are cut into `shards` parts. */
export function shardRange(chunks: number, shards: number, index: number): { chunkStart: number; chunkEnd: number } {
  // chunks ≤ 2^20 and shards ≤ 2^32 keep the products below 2^53, so the division is exact.
  return { chunkStart: Math.floor((index * chunks) / shards), chunkEnd: Math.floor(((index + 1) * chunks) / shards) };
}

/** The shard `miner` trains on in `round`. `shards` defaults to one shard per chunk. */
export function shardFor(dataset: ShardedDataset, miner: Address, round: number, shards?: number): Shard {
  const chunks = chunkCount(dataset.size, dataset.chunkSize);
  if (!Number.isSafeInteger(round) || round < 0) throw new BlyanError('BAD_ARGUMENT', `a round is a whole number ≥ 0, got ${round}`);
  if (chunks < 1) throw new BlyanError('BAD_ARGUMENT', 'an empty dataset has no shards');
  const n = shards ?? chunks;
  if (!Number.isSafeInteger(n) || n < 1 || n > chunks || n > MAX_SHARDS) {
    throw new BlyanError('BAD_ARGUMENT', `shards must be between 1 and the ${chunks} chunks of the dataset, got ${n}`);
  }
  const seed = shardSeed(dataset.id, miner, round, n);
  const index = Number(new DataView(seed.buffer, seed.byteOffset, 8).getBigUint64(0) % BigInt(n));
  const { chunkStart, chunkEnd } = shardRange(chunks, n, index);
  return {
    round,
    shards: n,
    index,
    chunkStart,
    chunkEnd,
    byteStart: chunkStart * dataset.chunkSize,
    byteEnd: Math.min(chunkEnd * dataset.chunkSize, dataset.size),
  };
}

/** The shard's bytes (a view, no copy). The content must be the dataset's (same size). */
export function shardBytes(content: Uint8Array, shard: Shard): Uint8Array {
  if (shard.byteEnd > content.byteLength || shard.byteStart > shard.byteEnd) {
    throw new BlyanError('BAD_ARGUMENT', `shard bytes ${shard.byteStart}…${shard.byteEnd} are outside the ${content.byteLength}-byte content`);
  }
  return content.subarray(shard.byteStart, shard.byteEnd);
}
