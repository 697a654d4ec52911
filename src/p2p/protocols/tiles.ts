import '../polyfill.ts';
import { createHash } from 'node:crypto';
import * as dagCbor from '@ipld/dag-cbor';
import type { Connection, Libp2p, PeerId } from '@libp2p/interface';
import { z } from 'zod';
import { type Hash, toHex } from '../../chain/hash.ts';
import { TILE_BYTES } from '../../chain/limits.ts';
import type { BlockStore } from '../../chain/store.ts';
import { tileCount, tileLeaves, tileProof, verifyTileLeaf } from '../../chain/tiles.ts';
import { BlyanError } from '../../errors.ts';
import { type FrameReader, joinParts, partsLength, sliceParts } from '../framing.ts';
import { encryptsOnSend } from '../noiseFast.ts';
import { decodeBody, RpcError, type RpcLimits, type RpcReply, rpcRequestParts, rpcRequestStream } from './rpc.ts';

/**
 * `/blyan/tile/1` (docs/sync-protocol.md §6): one 4 MiB tile of a payload, by payload hash and tile index,
 * with the Merkle proof that ties it to the block header's tileRoot:
 *
 *   response content = u8(k) ‖ k × 32-byte sibling hashes (bottom-up, as tiles.ts tileProof) ‖ tile bytes
 *
 * The requester takes the tile count from the header's payloadSize (never from the responder), checks the
 * tile's length and the proof against tileRoot, and keeps the tile only then.
 */
export const TILE_PROTOCOL = '/blyan/tile/1';
/** Proof depth for the largest payload the encoding allows (2^53 bytes / 4 MiB = 2^31 tiles). */
export const MAX_PROOF_HASHES = 32;
export const TILE_LIMITS: RpcLimits = { requestBytes: 128, responseBytes: 1 + MAX_PROOF_HASHES * 32 + TILE_BYTES };

export interface TileRequest {
  readonly payload: Hash;
  readonly index: number;
}

const RequestSchema = z
  .object({
    payload: z.instanceof(Uint8Array).refine((b) => b.byteLength === 32, 'must be 32 bytes'),
    index: z.number().int().nonnegative().max(2 ** 31),
  })
  .strict();

export function encodeTileRequest(r: TileRequest): Uint8Array {
  return dagCbor.encode({ payload: r.payload, index: r.index });
}

export function decodeTileRequest(bytes: Uint8Array): TileRequest {
  return decodeBody(bytes, RequestSchema, 'tile request');
}

/**
 * What the tile server keeps between requests, both bounded:
 *  - leaf hashes of recently served payloads, so serving tile i of an n-tile payload does not hash all n
 *    tiles again for every request (that would make a full transfer quadratic);
 *  - idle tile buffers. A tile is copied out of the store's lent view (BlockStore.withPayloadView) into one
 *    of them and sent from there; it comes back when the response is written (serveRpc's `done`). Fresh
 *    memory costs a page fault per 4 KiB on first touch, which on small VMs made copying a payload out of
 *    LMDB slower than sending it (docs/sync-protocol.md §11); these buffers are touched once.
 */
export class LeafCache {
  private readonly leavesMap = new Map<string, Hash[]>();
  private readonly idle: Uint8Array[] = [];

  constructor(
    private readonly maxEntries = 64,
    /** Idle tile buffers kept (4 MiB each): as many as tile streams one connection may open. */
    private readonly maxIdleBuffers = 16,
  ) {}

  leaves(key: string, payload: Uint8Array): Hash[] {
    const hit = this.leavesMap.get(key);
    if (hit !== undefined) {
      this.leavesMap.delete(key);
      this.leavesMap.set(key, hit);
      return hit;
    }
    const leaves = tileLeaves(payload);
    if (this.leavesMap.size >= this.maxEntries) this.leavesMap.delete(this.leavesMap.keys().next().value as string);
    this.leavesMap.set(key, leaves);
    return leaves;
  }

  /** A tile buffer (TILE_BYTES), idle or new; give it back with giveBuffer once nothing refers to it. */
  takeBuffer(): Uint8Array {
    return this.idle.pop() ?? new Uint8Array(TILE_BYTES);
  }

  giveBuffer(buffer: Uint8Array): void {
    if (buffer.byteLength === TILE_BYTES && this.idle.length < this.maxIdleBuffers) this.idle.push(buffer);
  }

  /** Idle tile buffers held (tests). */
  get idleBuffers(): number {
    return this.idle.length;
  }
}

/** Tiles below this are copied into memory of their own: a few pages, not worth a 4 MiB buffer. */
const REUSE_MIN_BYTES = 64 * 1024;

/** Bytes of tile `index` of a payload of `size` bytes. */
export function tileLength(size: number, index: number): number {
  return Math.max(0, Math.min(TILE_BYTES, size - index * TILE_BYTES));
}

/**
 * The `/blyan/tile/1` handler. When the bytes sent are let go of as soon as they are written (the bulk
 * channel's socket, or a connection whose encrypter works on send, `encryptsOnSend`), the tile is lent: straight
 * from LMDB's memory map under a read transaction (payloads of 16 MiB and more), or copied into a reused tile
 * buffer; either comes back through the reply's `done`. Otherwise (another encrypter, or no connection given)
 * the tile is copied into memory of its own, which the stream may keep as long as it likes.
 */
export function handleTile(deps: {
  store: BlockStore;
  isKnownPeer: (peer: PeerId) => boolean;
  leaves: LeafCache;
  /** Always lend reused buffers (the caller gives each back once its socket let go of it: the bulk channel). */
  lendBuffers?: boolean;
}): (request: Uint8Array, peer: PeerId, connection?: Connection) => RpcReply {
  return (request, peer, connection) => {
    const req = decodeTileRequest(request);
    if (!deps.isKnownPeer(peer)) throw new RpcError('STATUS_REQUIRED', 'exchange /blyan/status/1 first');
    const key = toHex(req.payload);
    const reuse = deps.lendBuffers === true || (connection !== undefined && encryptsOnSend(connection));
    if (!reuse) {
      // The view lasts only while this callback runs: everything that leaves it is a copy.
      const reply = deps.store.withPayloadView(req.payload, (payload): RpcReply => {
        const { head, tile } = tileReply(deps.leaves, key, payload, req.index);
        return { parts: [head, tile.slice()] };
      });
      if (reply === undefined) throw new RpcError('NOT_FOUND', `no payload ${key}`);
      return reply;
    }
    const lent = deps.store.lendPayload(req.payload);
    if (lent === undefined) throw new RpcError('NOT_FOUND', `no payload ${key}`);
    let head: Uint8Array;
    let tile: Uint8Array;
    try {
      ({ head, tile } = tileReply(deps.leaves, key, lent.view, req.index));
    } catch (err) {
      lent.release();
      throw err;
    }
    // Sent straight from LMDB's memory map: the store's read transaction keeps every page of it in place
    // until `done` (the socket, or the encrypter, let go of the bytes).
    if (lent.stable) return { parts: [head, tile], done: lent.release };
    // In lmdb's reused read buffer (a payload under 16 MiB): copied before anything reads the store again.
    if (tile.byteLength < REUSE_MIN_BYTES) return { parts: [head, tile.slice()] };
    const buffer = deps.leaves.takeBuffer();
    buffer.set(tile);
    let given = false;
    const done = () => {
      if (given) return;
      given = true;
      deps.leaves.giveBuffer(buffer);
    };
    return { parts: [head, buffer.subarray(0, tile.byteLength)], done };
  };
}

/** The proof head and the tile's bytes (a view into `payload`) for one request; NOT_FOUND past the last tile. */
function tileReply(leaves: LeafCache, key: string, payload: Uint8Array, index: number): { head: Uint8Array; tile: Uint8Array } {
  const count = tileCount(payload.byteLength);
  if (index >= count) throw new RpcError('NOT_FOUND', `payload ${key} has ${count} tiles`);
  const proof = count === 1 ? [] : tileProof(leaves.leaves(key, payload), index);
  const head = new Uint8Array(1 + proof.length * 32);
  head[0] = proof.length;
  for (const [i, h] of proof.entries()) head.set(h, 1 + i * 32);
  const start = index * TILE_BYTES;
  return { head, tile: payload.subarray(start, start + tileLength(payload.byteLength, index)) };
}

/** What the requester knows of the payload, from a verified header. */
export interface TileTarget {
  readonly payloadHash: Hash;
  readonly payloadSize: number;
  readonly tileRoot: Hash;
}

/**
 * Fetches one tile and checks it against the header's tile root; a tile that fails is P2P_BAD_DATA. The tile
 * comes back as the chunks it arrived in (views), so the caller copies it once, straight to its place.
 */
export async function requestTile(libp2p: Libp2p, peer: PeerId, target: TileTarget, index: number, timeoutMs: number): Promise<Uint8Array[]> {
  const content = await rpcRequestParts(libp2p, peer, encodeTileRequest({ payload: target.payloadHash, index }), { protocol: TILE_PROTOCOL, limits: TILE_LIMITS, timeoutMs });
  return checkTileParts(content, target, index);
}

/**
 * Fetches one tile straight into `into` (exactly the tile's length, from the header): the length is checked
 * from the frame header before any tile byte is read, and each chunk is hashed into the leaf and copied to its
 * place as it arrives (while it is in cache; the chunks are free to go at once). The bytes in `into` are
 * unverified until this resolves: on P2P_BAD_DATA (or any failure) they are garbage, to be overwritten.
 */
export async function requestTileInto(libp2p: Libp2p, peer: PeerId, target: TileTarget, index: number, timeoutMs: number, into: Uint8Array): Promise<void> {
  checkDestination(target, index, into);
  const request = encodeTileRequest({ payload: target.payloadHash, index });
  await rpcRequestStream(libp2p, peer, request, { protocol: TILE_PROTOCOL, limits: TILE_LIMITS, timeoutMs }, (reader, length, where) => readTileInto(reader, length, where, target, index, into));
}

export function checkDestination(target: TileTarget, index: number, into: Uint8Array): void {
  const expected = tileLength(target.payloadSize, index);
  if (into.byteLength !== expected) throw new RangeError(`tile ${index} has ${expected} bytes; the destination has ${into.byteLength}`);
}

/**
 * Reads the content of an OK tile response (`length` bytes: proof, then tile) off `reader` into `into`, hashing
 * each chunk into the leaf as it is copied, and checks it against the header's tile root (P2P_BAD_DATA if not).
 * Shared by `/blyan/tile/1` and the bulk channel (src/p2p/bulk).
 */
export async function readTileInto(reader: FrameReader, length: number, where: string, target: TileTarget, index: number, into: Uint8Array): Promise<void> {
  const expected = tileLength(target.payloadSize, index);
  const what = `tile ${index} of payload ${toHex(target.payloadHash).slice(0, 16)}… (${where})`;
  if (length < 1) throw new BlyanError('P2P_MALFORMED', `${what}: empty response`);
  const k = (await reader.readBytes(1, what))[0] as number;
  if (k > MAX_PROOF_HASHES || length < 1 + k * 32) throw new BlyanError('P2P_MALFORMED', `${what}: bad proof length ${k}`);
  // Copied: the reader's chunks may be reused once read past (the bulk channel's receive ring).
  const proofBytes = (await reader.readBytes(k * 32, what)).slice();
  const proof: Hash[] = [];
  for (let i = 0; i < k; i++) proof.push(proofBytes.subarray(i * 32, (i + 1) * 32));
  const tileBytes = length - 1 - k * 32;
  if (tileBytes !== expected) {
    throw new BlyanError('P2P_BAD_DATA', `${what}: ${tileBytes} bytes, the header implies ${expected}`, { payload: toHex(target.payloadHash), index });
  }
  // The leaf hash, SHA-256(0x00 ‖ tile), and the one copy, chunk by chunk.
  const h = createHash('sha256').update(LEAF_PREFIX);
  let off = 0;
  await reader.readInto(tileBytes, what, (part) => {
    h.update(part);
    into.set(part, off);
    off += part.byteLength;
  });
  if (!verifyTileLeaf(new Uint8Array(h.digest()), index, tileCount(target.payloadSize), proof, target.tileRoot)) {
    throw new BlyanError('P2P_BAD_DATA', `${what}: does not verify against the header's tileRoot`, { payload: toHex(target.payloadHash), index });
  }
}

export function checkTileResponse(content: Uint8Array, target: TileTarget, index: number): Uint8Array {
  return joinParts(checkTileParts([content], target, index));
}

export function checkTileParts(content: readonly Uint8Array[], target: TileTarget, index: number): Uint8Array[] {
  const what = `tile ${index} of payload ${toHex(target.payloadHash).slice(0, 16)}…`;
  const length = partsLength(content);
  if (length < 1) throw new BlyanError('P2P_MALFORMED', `${what}: empty response`);
  const k = (content[0] as Uint8Array)[0] as number;
  if (k > MAX_PROOF_HASHES || length < 1 + k * 32) throw new BlyanError('P2P_MALFORMED', `${what}: bad proof length ${k}`);
  const head = joinParts(sliceParts(content, 0, 1 + k * 32));
  const proof: Hash[] = [];
  for (let i = 0; i < k; i++) proof.push(head.subarray(1 + i * 32, 1 + (i + 1) * 32));
  const tile = sliceParts(content, 1 + k * 32, length);
  const tileBytes = length - 1 - k * 32;
  const count = tileCount(target.payloadSize);
  const expected = tileLength(target.payloadSize, index);
  if (tileBytes !== expected) {
    throw new BlyanError('P2P_BAD_DATA', `${what}: ${tileBytes} bytes, the header implies ${expected}`, { payload: toHex(target.payloadHash), index });
  }
  // The leaf hash, SHA-256(0x00 ‖ tile), over the chunks as they arrived.
  const h = createHash('sha256').update(LEAF_PREFIX);
  for (const part of tile) h.update(part);
  if (!verifyTileLeaf(new Uint8Array(h.digest()), index, count, proof, target.tileRoot)) {
    throw new BlyanError('P2P_BAD_DATA', `${what}: does not verify against the header's tileRoot`, { payload: toHex(target.payloadHash), index });
  }
  return tile;
}

const LEAF_PREFIX = new Uint8Array([0]);
