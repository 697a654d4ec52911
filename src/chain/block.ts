import { BlyanError } from '../errors.ts';
import { blockIdOf, encodeHeader } from './encoding.ts';
import { compareBytes, equalBytes, type Hash, sha256 } from './hash.ts';
import { NONCE_BYTES } from './limits.ts';
import { leadingZeroBits, mine, nonceOffset } from './pow.ts';
import type { Preset } from './presets.ts';
import { addressOf, signDigest, signingDigest, verifyDigest } from './sign.ts';
import { tileRoot } from './tiles.ts';
import type { Block, BlockHeader, BlockType, ChainLetter } from './types.ts';

/** What an author decides; everything else in the header is derived. */
export interface BlockDraft {
  readonly chain: ChainLetter;
  readonly index: number;
  readonly prev: Hash | null;
  readonly deps: readonly Hash[];
  readonly type: BlockType;
  readonly expert?: string | null;
  readonly layer?: number | null;
  readonly time: number;
  /** Defaults to the preset minimum for the chain. */
  readonly difficulty?: number;
}

export interface PayloadCommitment {
  readonly payloadHash: Hash;
  readonly payloadSize: number;
  readonly tileRoot: Hash;
}

export function commitPayload(payload: Uint8Array): PayloadCommitment {
  return { payloadHash: sha256(payload), payloadSize: payload.byteLength, tileRoot: tileRoot(payload) };
}

export function sortDeps(deps: readonly Hash[]): Hash[] {
  const sorted = deps.slice().sort(compareBytes);
  return sorted.filter((d, i) => i === 0 || compareBytes(sorted[i - 1] as Hash, d) !== 0);
}

/** Builds, mines and signs a block. Deterministic for the same inputs (RFC 6979, nonce search from 0). */
export function createBlock(draft: BlockDraft, payload: Uint8Array, privateKey: Uint8Array, preset: Preset): Block {
  const difficulty = draft.difficulty ?? preset.minDifficulty[draft.chain];
  const header: BlockHeader = {
    v: 1,
    chain: draft.chain,
    index: draft.index,
    prev: draft.prev,
    deps: sortDeps(draft.deps),
    type: draft.type,
    expert: draft.expert ?? null,
    layer: draft.layer ?? null,
    ...commitPayload(payload),
    time: draft.time,
    nonce: new Uint8Array(NONCE_BYTES),
    difficulty,
    author: addressOf(privateKey),
  };
  const headerBytes = encodeHeader(header);
  const nonce = mine(headerBytes, nonceOffset((n) => encodeHeader({ ...header, nonce: n })), difficulty);
  const id = blockIdOf(headerBytes);
  const sig = signDigest(signingDigest(preset.chainId, header.chain, header.type, id), privateKey);
  return { header: { ...header, nonce }, headerBytes, id, sig };
}

/** Rule S6: the claimed difficulty meets the preset, and the id really has that many leading zero bits. */
export function checkPow(block: Block, preset: Preset): void {
  const min = preset.minDifficulty[block.header.chain];
  if (block.header.difficulty < min) {
    throw new BlyanError('BLOCK_WEAK_POW', `block claims difficulty ${block.header.difficulty}; chain ${block.header.chain} needs at least ${min}`);
  }
  const bits = leadingZeroBits(block.id);
  if (bits < block.header.difficulty) {
    throw new BlyanError('BLOCK_WEAK_POW', `block id has ${bits} leading zero bits; it claims ${block.header.difficulty}`);
  }
}

/** Rule S7: the signature over the domain-separated id recovers to the author. */
export function checkSignature(block: Block, preset: Preset): void {
  verifyDigest(signingDigest(preset.chainId, block.header.chain, block.header.type, block.id), block.sig, block.header.author);
}

/** Rule S5: payload size within the preset limit; hash and tile root match the bytes. */
export function checkPayload(header: BlockHeader, payload: Uint8Array, preset: Preset): void {
  checkPayloadSize(header, preset);
  if (payload.byteLength !== header.payloadSize) {
    throw new BlyanError('BLOCK_BAD_PAYLOAD', `payload is ${payload.byteLength} bytes; the header says ${header.payloadSize}`);
  }
  if (!equalBytes(sha256(payload), header.payloadHash)) {
    throw new BlyanError('BLOCK_BAD_PAYLOAD', 'payload bytes do not match the header\'s payloadHash');
  }
  if (!equalBytes(tileRoot(payload), header.tileRoot)) {
    throw new BlyanError('BLOCK_BAD_PAYLOAD', 'payload tiles do not match the header\'s tileRoot');
  }
}

export function checkPayloadSize(header: BlockHeader, preset: Preset): void {
  if (header.payloadSize > preset.maxPayloadBytes) {
    throw new BlyanError('BLOCK_TOO_LARGE', `payload of ${header.payloadSize} bytes exceeds the ${preset.name} limit of ${preset.maxPayloadBytes}`);
  }
}

/** Rule S8: not from too far in the future (only checked when a block is first received). */
export function checkTime(header: BlockHeader, preset: Preset, now: number): void {
  if (header.time > now + preset.maxFutureMs) {
    throw new BlyanError('BLOCK_FUTURE_TIME', `block time ${header.time} ms is more than ${preset.maxFutureMs} ms ahead of this node's clock (${now} ms)`);
  }
}

/**
 * Every rule that needs nothing but the block itself (and its payload, when given): S5–S8.
 * Encoding rules E1–E3 and S1–S4 already held when the block was decoded.
 */
export function verifyStandalone(block: Block, preset: Preset, opts: { payload?: Uint8Array; now?: number } = {}): void {
  checkPayloadSize(block.header, preset);
  checkPow(block, preset);
  checkSignature(block, preset);
  if (opts.payload !== undefined) checkPayload(block.header, opts.payload, preset);
  if (opts.now !== undefined) checkTime(block.header, preset, opts.now);
}
