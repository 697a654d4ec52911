import { createHash } from 'node:crypto';
import { BlyanError } from '../errors.ts';
import type { Hash } from './hash.ts';
import { NONCE_BYTES } from './limits.ts';

/** Number of leading zero bits of a hash, most significant bit of byte 0 first. */
export function leadingZeroBits(hash: Hash): number {
  let bits = 0;
  for (const byte of hash) {
    if (byte === 0) {
      bits += 8;
      continue;
    }
    return bits + Math.clz32(byte) - 24;
  }
  return bits;
}

// In canonical DAG-CBOR the nonce is always the text key "nonce" (0x65 'n' 'o' 'n' 'c' 'e')
// followed by an 8-byte byte string (0x48), so mining can rewrite those 8 bytes in place.
const NONCE_MARKER = Uint8Array.from([0x65, 0x6e, 0x6f, 0x6e, 0x63, 0x65, 0x40 + NONCE_BYTES]);

export function nonceOffset(headerBytes: Uint8Array): number {
  const at = Buffer.from(headerBytes.buffer, headerBytes.byteOffset, headerBytes.byteLength).indexOf(NONCE_MARKER);
  if (at < 0) throw new BlyanError('BLOCK_MALFORMED', 'header has no nonce field');
  return at + NONCE_MARKER.length;
}

/**
 * Finds a nonce that gives the encoded header at least `difficulty` leading zero bits, searching
 * 0, 1, 2, … so the result is deterministic. Mutates `headerBytes` in place; returns the nonce.
 */
export function mine(headerBytes: Uint8Array, difficulty: number, maxTries = 2 ** 40): Uint8Array {
  const off = nonceOffset(headerBytes);
  const view = new DataView(headerBytes.buffer, headerBytes.byteOffset + off, NONCE_BYTES);
  for (let i = 0; i < maxTries; i++) {
    view.setUint32(0, Math.floor(i / 2 ** 32));
    view.setUint32(4, i >>> 0);
    const h = createHash('sha256').update(headerBytes).digest();
    if (leadingZeroBits(h) >= difficulty) return headerBytes.slice(off, off + NONCE_BYTES);
  }
  throw new BlyanError('BLOCK_WEAK_POW', `no nonce found for difficulty ${difficulty} within ${maxTries} tries`);
}
