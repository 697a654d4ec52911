import { type Hash, sha256 } from '../chain/hash.ts';

/** SHA-256 of each `chunkSize`-byte slice of the content; the last chunk may be shorter. */
export function chunkHashes(content: Uint8Array, chunkSize: number, onProgress?: (done: number, total: number) => void): Hash[] {
  const out: Hash[] = [];
  for (let off = 0; off < content.byteLength; off += chunkSize) {
    out.push(sha256(content.subarray(off, Math.min(off + chunkSize, content.byteLength))));
    onProgress?.(Math.min(off + chunkSize, content.byteLength), content.byteLength);
  }
  return out;
}

export function chunkCount(size: number, chunkSize: number): number {
  return Math.ceil(size / chunkSize);
}
