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

/**
 * Where the 8 nonce bytes sit in an encoded header: encode the header with two different nonces and
 * take where they differ. Structural, so no hash or address elsewhere in the header can be mistaken for it.
 */
export function nonceOffset(encode: (nonce: Uint8Array) => Uint8Array): number {
  const a = encode(new Uint8Array(NONCE_BYTES));
  const b = encode(new Uint8Array(NONCE_BYTES).fill(0xff));
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return i;
  throw new BlyanError('BLOCK_MALFORMED', 'header has no nonce field');
}

/**
 * Finds a nonce that gives the encoded header at least `difficulty` leading zero bits, searching
 * 0, 1, 2, … so the result is deterministic. `off` is nonceOffset's answer. Mutates `headerBytes` in
 * place; returns the nonce.
 */
export function mine(headerBytes: Uint8Array, off: number, difficulty: number, maxTries = 2 ** 40): Uint8Array {
  const view = new DataView(headerBytes.buffer, headerBytes.byteOffset + off, NONCE_BYTES);
  for (let i = 0; i < maxTries; i++) {
    view.setUint32(0, Math.floor(i / 2 ** 32));
    view.setUint32(4, i >>> 0);
    const h = createHash('sha256').update(headerBytes).digest();
    if (leadingZeroBits(h) >= difficulty) return headerBytes.slice(off, off + NONCE_BYTES);
  }
  throw new BlyanError('BLOCK_WEAK_POW', `no nonce found for difficulty ${difficulty} within ${maxTries} tries`);
}
