import { CID } from 'multiformats/cid';
import * as Digest from 'multiformats/hashes/digest';
import type { Hash } from './hash.ts';
import type { Block } from './types.ts';

/** Multicodec codes (multiformats table). */
export const DAG_CBOR_CODE = 0x71;
export const RAW_CODE = 0x55;
export const SHA2_256_CODE = 0x12;

/** A block's CID: CIDv1, dag-cbor, sha2-256 of its header bytes. The digest is the block id. */
export function blockCid(block: Pick<Block, 'id'>): CID {
  return CID.createV1(DAG_CBOR_CODE, Digest.create(SHA2_256_CODE, block.id));
}

/** A payload's CID: CIDv1, raw, sha2-256 = payloadHash. */
export function payloadCid(payloadHash: Hash): CID {
  return CID.createV1(RAW_CODE, Digest.create(SHA2_256_CODE, payloadHash));
}
