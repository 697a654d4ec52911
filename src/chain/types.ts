import type { Address } from './address.ts';
import type { Hash } from './hash.ts';

/** A meta (model specs), B parameters (DAG), C ledger, D datasets. */
export type ChainLetter = 'A' | 'B' | 'C' | 'D';
export const CHAINS: readonly ChainLetter[] = ['A', 'B', 'C', 'D'];
export type LinearChain = Exclude<ChainLetter, 'B'>;

export function isChainLetter(x: unknown): x is ChainLetter {
  return x === 'A' || x === 'B' || x === 'C' || x === 'D';
}

/** Block types each chain admits (rule S3). */
export const BLOCK_TYPES = {
  A: ['genesis', 'model', 'validators', 'params'],
  B: ['base', 'router', 'expert', 'delta', 'snapshot'],
  C: ['genesis', 'txbatch'],
  D: ['genesis', 'dataset'],
} as const satisfies Record<ChainLetter, readonly string[]>;

export type BlockType = (typeof BLOCK_TYPES)[ChainLetter][number];

/**
 * The signed, hashed part of a block. Encoded as canonical DAG-CBOR (docs/block-encoding.md);
 * the block id is SHA-256 of those bytes. The signature is not part of it (it signs the id).
 */
export interface BlockHeader {
  /** Encoding version: 1. */
  readonly v: 1;
  readonly chain: ChainLetter;
  /** A, C, D: height (genesis 0). B: DAG depth, 1 + the largest index among its chain-B deps (0 if none). */
  readonly index: number;
  /** Linear chains: id of the block at index − 1; null at index 0 and always on chain B. */
  readonly prev: Hash | null;
  /** Ids this block depends on, strictly ascending bytewise (so one set has one encoding). */
  readonly deps: readonly Hash[];
  readonly type: BlockType;
  /** Chain B only: the component this block holds, e.g. `layer3.expert7`, `layer3.router`, `embed`. */
  readonly expert: string | null;
  /** Chain B only: the layer of that component, null for model-wide parts (embeddings, lm_head). */
  readonly layer: number | null;
  /** SHA-256 of the payload bytes (SHA-256 of nothing when there is no payload). */
  readonly payloadHash: Hash;
  readonly payloadSize: number;
  /** Merkle root over the payload's 4 MiB tiles (docs/block-encoding.md), for partial verification. */
  readonly tileRoot: Hash;
  /** Milliseconds since the Unix epoch. */
  readonly time: number;
  /** 8 bytes the author varies for proof-of-work. */
  readonly nonce: Uint8Array;
  /** Leading zero bits the id claims to have; at least the preset's minimum for the chain. */
  readonly difficulty: number;
  readonly author: Address;
}

/** A decoded block: the header, its exact bytes, its id and the author's signature over the id. */
export interface Block {
  readonly header: BlockHeader;
  readonly headerBytes: Uint8Array;
  readonly id: Hash;
  readonly sig: Uint8Array;
}
