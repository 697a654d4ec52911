import assert from 'node:assert/strict';
import { test } from 'node:test';
import { sha256, toHex } from '../../src/chain/hash.ts';
import { TILE_BYTES } from '../../src/chain/limits.ts';
import { merkleRoot, tileCount, tileLeaf, tileLeaves, tileProof, tileRoot, verifyTile } from '../../src/chain/tiles.ts';
import { deterministicBytes } from '../helpers/fixtures.ts';

/** Small distinct tiles: the tree does not care how long a tile is, only verifyTile's leaf hash does. */
function tilesOf(count: number): Uint8Array[] {
  return Array.from({ length: count }, (_, i) => deterministicBytes(`tile ${count}/${i}`, 37 + i));
}

test('tileCount: an empty payload is one tile, then ceil(size / 4 MiB)', () => {
  assert.equal(tileCount(0), 1);
  assert.equal(tileCount(1), 1);
  assert.equal(tileCount(TILE_BYTES), 1);
  assert.equal(tileCount(TILE_BYTES + 1), 2);
  assert.equal(tileCount(9 * 1024 * 1024), 3);
});

test('merkleRoot: leaf and node hashes and odd-node promotion as documented', () => {
  const [a, b, c] = [1, 2, 3].map((i) => tileLeaf(Uint8Array.of(i))) as [Uint8Array, Uint8Array, Uint8Array];
  assert.equal(toHex(a), toHex(sha256(Uint8Array.of(0, 1))));
  assert.equal(toHex(merkleRoot([a])), toHex(a));
  const ab = sha256(Uint8Array.of(1), a, b);
  assert.equal(toHex(merkleRoot([a, b])), toHex(ab));
  // Three leaves: c is promoted unchanged, then hashed with ab.
  assert.equal(toHex(merkleRoot([a, b, c])), toHex(sha256(Uint8Array.of(1), ab, c)));
  assert.throws(() => merkleRoot([]), RangeError);
  assert.equal(toHex(tileRoot(new Uint8Array(0))), toHex(sha256(Uint8Array.of(0))));
});

test('tileProof / verifyTile: every index of counts 1..9 verifies; wrong tiles, indices, proofs and roots do not', () => {
  for (let count = 1; count <= 9; count++) {
    const tiles = tilesOf(count);
    const leaves = tiles.map(tileLeaf);
    const root = merkleRoot(leaves);
    const otherRoot = merkleRoot(tilesOf(count + 1).map(tileLeaf));
    for (let i = 0; i < count; i++) {
      const tile = tiles[i] as Uint8Array;
      const proof = tileProof(leaves, i);
      assert.ok(proof.length <= Math.ceil(Math.log2(count)), `count ${count} index ${i}: proof length ${proof.length}`);
      assert.equal(verifyTile(tile, i, count, proof, root), true, `count ${count} index ${i}`);

      // Another tile's bytes, a changed byte, a truncated tile.
      for (let j = 0; j < count; j++) {
        if (j !== i) assert.equal(verifyTile(tiles[j] as Uint8Array, i, count, proof, root), false, `count ${count}: tile ${j} at ${i}`);
      }
      const flipped = tile.slice();
      flipped[0] = (flipped[0] as number) ^ 1;
      assert.equal(verifyTile(flipped, i, count, proof, root), false);
      assert.equal(verifyTile(tile.subarray(1), i, count, proof, root), false);

      // Every other index, including out-of-range, negative and fractional ones, with this proof.
      for (const k of [-2, -1, 0.5, i + 0.5, count, count + 1, 2 * count, ...Array.from({ length: count }, (_, x) => x)]) {
        if (k !== i) assert.equal(verifyTile(tile, k, count, proof, root), false, `count ${count}: tile ${i} claimed at index ${k}`);
      }
      // With the proof built for the index claimed (a prover who lies about the position).
      for (let k = 0; k < count; k++) {
        if (k !== i) assert.equal(verifyTile(tile, k, count, tileProof(leaves, k), root), false, `count ${count}: tile ${i} with proof of ${k}`);
      }

      // Tampered, shortened, lengthened proofs; a wrong root; nonsense counts.
      for (let p = 0; p < proof.length; p++) {
        const bad = proof.slice();
        const h = (bad[p] as Uint8Array).slice();
        h[31] = (h[31] as number) ^ 0x80;
        bad[p] = h;
        assert.equal(verifyTile(tile, i, count, bad, root), false);
      }
      if (proof.length > 0) assert.equal(verifyTile(tile, i, count, proof.slice(0, -1), root), false);
      assert.equal(verifyTile(tile, i, count, [...proof, root], root), false);
      assert.equal(verifyTile(tile, i, count, proof, otherRoot), false);
      for (const badCount of [0, -1, 1.5, Number.NaN]) assert.equal(verifyTile(tile, i, badCount, proof, root), false);
    }
    for (const bad of [-1, count, 0.5, Number.NaN]) assert.throws(() => tileProof(leaves, bad), RangeError, `tileProof(count ${count}, ${bad})`);
  }
});

test('tile proofs over a real 9 MiB payload (three 4 MiB tiles, the last one short)', () => {
  const payload = deterministicBytes('nine mebibytes', 9 * 1024 * 1024);
  const leaves = tileLeaves(payload);
  assert.equal(leaves.length, 3);
  const root = tileRoot(payload);
  for (let i = 0; i < 3; i++) {
    const tile = payload.subarray(i * TILE_BYTES, (i + 1) * TILE_BYTES);
    assert.equal(verifyTile(tile, i, 3, tileProof(leaves, i), root), true);
  }
  // The short last tile padded with zeros is a different tile.
  const padded = new Uint8Array(TILE_BYTES);
  padded.set(payload.subarray(2 * TILE_BYTES));
  assert.equal(verifyTile(padded, 2, 3, tileProof(leaves, 2), root), false);
});
