import { createHash } from 'node:crypto';
import { type Hash, sha256 } from '../hash.ts';
import { TILE_BYTES } from '../limits.ts';
import { merkleRoot, tileLeaf } from '../tiles.ts';
import type { ByteSource } from './source.ts';

/**
 * Streams a payload tile by tile (double-buffered: the next tile is being read while this one is
 * hashed), computing SHA-256 of the whole and the tile Merkle root in one pass over memory.
 */
export async function hashPayload(
  src: ByteSource,
  position: number,
  length: number,
  scratch: Uint8Array[],
  progress: (done: number) => void,
): Promise<{ hash: Hash; root: Hash }> {
  const whole = createHash('sha256');
  const leaves: Hash[] = [];
  const readTile = (i: number, off: number): Promise<Uint8Array> => {
    const n = Math.min(TILE_BYTES, length - off);
    if (src.view !== undefined) return Promise.resolve(src.view(position + off, n));
    const buf = (scratch[i & 1] as Uint8Array).subarray(0, n);
    return src.read(buf, n, position + off).then(() => buf);
  };
  let next: Promise<Uint8Array> | undefined = readTile(0, 0);
  try {
    for (let off = 0, i = 0; off < length; off += TILE_BYTES, i++) {
      const tile = await (next as Promise<Uint8Array>);
      next = off + TILE_BYTES < length ? readTile(i + 1, off + TILE_BYTES) : undefined;
      whole.update(tile);
      leaves.push(tileLeaf(tile));
      progress(off + tile.byteLength);
    }
  } finally {
    // Never leave a read in flight unobserved (its rejection would be unhandled).
    if (next !== undefined) await next.catch(() => undefined);
  }
  return { hash: new Uint8Array(whole.digest()), root: merkleRoot(leaves) };
}

/**
 * Reads `length` bytes at `position` into a new buffer and hashes them, pipelined: the next 4 MiB is
 * being read (libuv thread) while the current one is hashed (main thread).
 */
export async function readHashed(src: ByteSource, position: number, length: number): Promise<{ buf: Uint8Array; hash: Hash }> {
  if (src.view !== undefined) {
    const buf = src.view(position, length);
    return { buf, hash: sha256(buf) };
  }
  // Not zero-filled: every byte is overwritten by the reads (which throw if they fall short).
  const buf = new Uint8Array(Buffer.allocUnsafeSlow(length).buffer, 0, length);
  const h = createHash('sha256');
  const readChunk = (off: number): Promise<Uint8Array> => {
    const n = Math.min(TILE_BYTES, length - off);
    const chunk = buf.subarray(off, off + n);
    return src.read(chunk, n, position + off).then(() => chunk);
  };
  let next: Promise<Uint8Array> | undefined = readChunk(0);
  try {
    for (let off = 0; off < length; off += TILE_BYTES) {
      const chunk = await (next as Promise<Uint8Array>);
      next = off + TILE_BYTES < length ? readChunk(off + TILE_BYTES) : undefined;
      h.update(chunk);
    }
  } finally {
    if (next !== undefined) await next.catch(() => undefined);
  }
  return { buf, hash: new Uint8Array(h.digest()) };
}
