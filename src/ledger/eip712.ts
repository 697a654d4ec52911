import { keccak_256 } from '@noble/hashes/sha3.js';

/**
 * EIP-712 typed-data hashing (https://eips.ethereum.org/EIPS/eip-712) for the flat struct types the
 * ledger uses: fields of type address, uint64, uint256, bytes32, string and address[]. No nested
 * structs, so encodeType is just `Name(type1 name1,…)`.
 *
 *   digest = keccak256(0x19 ‖ 0x01 ‖ domainSeparator ‖ hashStruct(message))
 */
export type FieldType = 'address' | 'uint64' | 'uint256' | 'bytes32' | 'string' | 'address[]';
export interface TypedField {
  readonly name: string;
  readonly type: FieldType;
}
/** A message value as viem takes it: addresses and bytes32 as 0x-hex, integers as bigint. */
export type FieldValue = string | bigint | readonly string[];

export interface Eip712Domain {
  readonly name: string;
  readonly version: string;
  readonly chainId: number;
}

export const DOMAIN_TYPE: readonly TypedField[] = [
  { name: 'name', type: 'string' },
  { name: 'version', type: 'string' },
  { name: 'chainId', type: 'uint256' },
];

const utf8 = new TextEncoder();

export function encodeType(primaryType: string, fields: readonly TypedField[]): string {
  return `${primaryType}(${fields.map((f) => `${f.type} ${f.name}`).join(',')})`;
}

export function typeHash(primaryType: string, fields: readonly TypedField[]): Uint8Array {
  return keccak_256(utf8.encode(encodeType(primaryType, fields)));
}

function hexInto(out: Uint8Array, offset: number, hex: string, bytes: number): void {
  // Right-aligned in the 32-byte word (addresses are left-padded with zeros).
  out.set(Buffer.from(hex.slice(2), 'hex').subarray(0, bytes), offset + 32 - bytes);
}

function uintInto(out: Uint8Array, offset: number, v: bigint): void {
  let x = v;
  for (let i = 31; i >= 0 && x > 0n; i--) {
    out[offset + i] = Number(x & 0xffn);
    x >>= 8n;
  }
}

function encodeValue(out: Uint8Array, offset: number, type: FieldType, value: FieldValue): void {
  switch (type) {
    case 'address':
      hexInto(out, offset, value as string, 20);
      return;
    case 'bytes32':
      hexInto(out, offset, value as string, 32);
      return;
    case 'uint64':
    case 'uint256':
      uintInto(out, offset, value as bigint);
      return;
    case 'string':
      out.set(keccak_256(utf8.encode(value as string)), offset);
      return;
    case 'address[]': {
      const list = value as readonly string[];
      const buf = new Uint8Array(32 * list.length);
      for (const [i, a] of list.entries()) hexInto(buf, 32 * i, a, 20);
      out.set(keccak_256(buf), offset);
      return;
    }
  }
}

/** hashStruct(s) = keccak256(typeHash ‖ encodeData(s)). Values must already be checked (zod schemas in txTypes.ts). */
export function hashStruct(typeHashBytes: Uint8Array, fields: readonly TypedField[], message: Readonly<Record<string, FieldValue>>): Uint8Array {
  const buf = new Uint8Array(32 * (fields.length + 1));
  buf.set(typeHashBytes, 0);
  for (const [i, f] of fields.entries()) encodeValue(buf, 32 * (i + 1), f.type, message[f.name] as FieldValue);
  return keccak_256(buf);
}

const DOMAIN_TYPE_HASH = typeHash('EIP712Domain', DOMAIN_TYPE);
const separatorCache = new Map<string, Uint8Array>();

export function domainSeparator(domain: Eip712Domain): Uint8Array {
  const key = `${domain.name}\u0000${domain.version}\u0000${domain.chainId}`;
  let sep = separatorCache.get(key);
  if (sep === undefined) {
    sep = hashStruct(DOMAIN_TYPE_HASH, DOMAIN_TYPE, { name: domain.name, version: domain.version, chainId: BigInt(domain.chainId) });
    separatorCache.set(key, sep);
  }
  return sep;
}

export function typedDataDigest(domainSep: Uint8Array, structHash: Uint8Array): Uint8Array {
  const buf = new Uint8Array(66);
  buf[0] = 0x19;
  buf[1] = 0x01;
  buf.set(domainSep, 2);
  buf.set(structHash, 34);
  return keccak_256(buf);
}
