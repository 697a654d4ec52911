import { type Hash, sha256 } from './hash.ts';
import { TILE_BYTES } from './limits.ts';

const LEAF = new Uint8Array([0]);
const NODE = new Uint8Array([1]);

/** Number of tiles a payload of `size` bytes has; an empty payload is one empty tile. */
export function tileCount(size: number): number {
  return size === 0 ? 1 : Math.ceil(size / TILE_BYTES);
}

/** Leaf hash of one tile: SHA-256(0x00 ‖ tile). The prefix keeps leaves and inner nodes apart. */
export function tileLeaf(tile: Uint8Array): Hash {
  return sha256(LEAF, tile);
}

export function tileLeaves(payload: Uint8Array): Hash[] {
  const n = tileCount(payload.byteLength);
  const leaves: Hash[] = [];
  for (let i = 0; i < n; i++) leaves.push(tileLeaf(payload.subarray(i * TILE_BYTES, (i + 1) * TILE_BYTES)));
  return leaves;
}

/** Binary Merkle root: inner node SHA-256(0x01 ‖ left ‖ right); an odd last node moves up unchanged. */
export function merkleRoot(leaves: readonly Hash[]): Hash {
  if (leaves.length === 0) throw new RangeError('merkleRoot needs at least one leaf');
  let level = leaves.slice();
  while (level.length > 1) {
    const next: Hash[] = [];
    for (let i = 0; i < level.length; i += 2) {
      const left = level[i] as Hash;
      const right = level[i + 1];
      next.push(right === undefined ? left : sha256(NODE, left, right));
    }
    level = next;
  }
  return level[0] as Hash;
}

export function tileRoot(payload: Uint8Array): Hash {
  return merkleRoot(tileLeaves(payload));
}

/** The sibling hashes that prove tile `index` belongs under the root (bottom-up). */
export function tileProof(leaves: readonly Hash[], index: number): Hash[] {
  if (!Number.isSafeInteger(index) || index < 0 || index >= leaves.length) {
    throw new RangeError(`tile index ${index} is outside 0..${leaves.length - 1}`);
  }
  const proof: Hash[] = [];
  let level = leaves.slice();
  let i = index;
  while (level.length > 1) {
    const sibling = i % 2 === 0 ? level[i + 1] : level[i - 1];
    if (sibling !== undefined) proof.push(sibling);
    const next: Hash[] = [];
    for (let j = 0; j < level.length; j += 2) {
      const left = level[j] as Hash;
      const right = level[j + 1];
      next.push(right === undefined ? left : sha256(NODE, left, right));
    }
    level = next;
    i = Math.floor(i / 2);
  }
  return proof;
}

/** Checks one tile against a root without the other tiles (sync fetches tiles from several peers). */
export function verifyTile(tile: Uint8Array, index: number, count: number, proof: readonly Hash[], root: Hash): boolean {
  return verifyTileLeaf(tileLeaf(tile), index, count, proof, root);
}

/** verifyTile for a tile whose leaf hash (SHA-256(0x00 ‖ tile)) the caller computed, e.g. over received chunks. */
export function verifyTileLeaf(leaf: Hash, index: number, count: number, proof: readonly Hash[], root: Hash): boolean {
  // Without this, a negative or fractional index walks the same path as another tile (−1 and 0.5 verify
  // as tile 0), and with count 1 every index verifies. `count` must come from the header's payloadSize.
  if (!Number.isSafeInteger(count) || count < 1 || !Number.isSafeInteger(index) || index < 0 || index >= count) return false;
  let hash = leaf;
  let i = index;
  let width = count;
  let p = 0;
  while (width > 1) {
    const isRight = i % 2 === 1;
    const hasSibling = isRight || i + 1 < width;
    if (hasSibling) {
      const sibling = proof[p++];
      if (sibling === undefined) return false;
      hash = isRight ? sha256(NODE, sibling, hash) : sha256(NODE, hash, sibling);
    }
    i = Math.floor(i / 2);
    width = Math.ceil(width / 2);
  }
  return p === proof.length && Buffer.compare(hash, root) === 0;
}
