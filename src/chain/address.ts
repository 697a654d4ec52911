import { keccak_256 } from '@noble/hashes/sha3.js';
import { BlyanError } from '../errors.ts';
import { toHex } from './hash.ts';

/** A 20-byte Ethereum-style account address: keccak256(uncompressed public key without 0x04)[12..32]. */
export type Address = Uint8Array;
export const ADDRESS_BYTES = 20;

export function addressFromPublicKey(uncompressed65: Uint8Array): Address {
  if (uncompressed65.length !== 65 || uncompressed65[0] !== 0x04) {
    throw new BlyanError('KEY_INVALID', 'expected a 65-byte uncompressed secp256k1 public key');
  }
  return keccak_256(uncompressed65.subarray(1)).slice(12);
}

/** EIP-55 mixed-case checksum encoding, so addresses can be pasted into any wallet. */
export function formatAddress(addr: Address): string {
  const hex = toHex(addr);
  const digest = toHex(keccak_256(new TextEncoder().encode(hex)));
  let out = '0x';
  for (let i = 0; i < hex.length; i++) {
    const c = hex[i] as string;
    out += Number.parseInt(digest[i] as string, 16) >= 8 ? c.toUpperCase() : c;
  }
  return out;
}

/** Accepts 0x-prefixed hex; if the input is mixed-case, its EIP-55 checksum must be right. */
export function parseAddress(text: string): Address {
  if (!/^0x[0-9a-fA-F]{40}$/.test(text)) {
    throw new BlyanError('BAD_ARGUMENT', `"${text.slice(0, 64)}" is not an address (0x followed by 40 hex digits)`);
  }
  const bytes = new Uint8Array(Buffer.from(text.slice(2), 'hex'));
  const body = text.slice(2);
  const mixed = body !== body.toLowerCase() && body !== body.toUpperCase();
  if (mixed && formatAddress(bytes) !== text) {
    throw new BlyanError('BAD_ARGUMENT', `address ${text} has a wrong EIP-55 checksum: check for a typo`);
  }
  return bytes;
}
