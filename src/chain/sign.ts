// The native binding directly: the package's index silently falls back to a slow pure-JS build.
import secp from 'secp256k1/bindings.js';
import { BlyanError } from '../errors.ts';
import { addressFromPublicKey, type Address } from './address.ts';
import { equalBytes, type Hash, sha256 } from './hash.ts';

/**
 * Block signatures: secp256k1 ECDSA, 65 bytes r‖s‖v with v ∈ {0,1} (recovery id), low-s only.
 *
 * Why libsecp256k1 (the `secp256k1` package, native) and not @noble/curves here: verification is the hot
 * path of sync and archive import (DESIGN target: 10,000 headers in < 0.5 s on one core). noble verifies
 * ~520/s; libsecp256k1 ~24,000/s. The header carries only the 20-byte author address (so ordinary
 * Ethereum keys own blocks); the first block of an author is checked by public-key recovery, and the
 * recovered key is cached per address so later blocks take the cheaper plain verify.
 */
export const SIGNATURE_BYTES = 65;

const DOMAIN_TAG = new TextEncoder().encode('blyan/block-signature/v1\0');

/** The digest an author signs: domain tag ‖ u32be(chainId) ‖ chain letter ‖ type ‖ 0x00 ‖ block id. */
export function signingDigest(chainId: number, chain: string, type: string, id: Hash): Hash {
  const head = new Uint8Array(5);
  new DataView(head.buffer).setUint32(0, chainId >>> 0);
  head[4] = chain.charCodeAt(0);
  return sha256(DOMAIN_TAG, head, new TextEncoder().encode(type), new Uint8Array([0]), id);
}

export function isValidPrivateKey(key: Uint8Array): boolean {
  return key.length === 32 && secp.privateKeyVerify(key);
}

export function publicKeyOf(privateKey: Uint8Array): Uint8Array {
  if (!isValidPrivateKey(privateKey)) throw new BlyanError('KEY_INVALID', 'not a valid secp256k1 private key');
  return secp.publicKeyCreate(privateKey, false);
}

export function addressOf(privateKey: Uint8Array): Address {
  return addressFromPublicKey(publicKeyOf(privateKey));
}

/** RFC 6979 deterministic signature (libsecp256k1 default), always low-s. */
export function signDigest(digest: Hash, privateKey: Uint8Array): Uint8Array {
  const { signature, recid } = secp.ecdsaSign(digest, privateKey);
  const out = new Uint8Array(SIGNATURE_BYTES);
  out.set(signature, 0);
  out[64] = recid;
  return out;
}

const pubkeyCache = new Map<string, Uint8Array>();
const PUBKEY_CACHE_MAX = 65_536;

/** A signature is malformed (not just wrong) when r or s is out of range, s is high, or v is not 0/1. */
function assertSignatureShape(sig: Uint8Array): void {
  if (sig.length !== SIGNATURE_BYTES) {
    throw new BlyanError('BLOCK_BAD_SIGNATURE', `signature must be ${SIGNATURE_BYTES} bytes, got ${sig.length}`);
  }
  const v = sig[64] as number;
  if (v !== 0 && v !== 1) throw new BlyanError('BLOCK_BAD_SIGNATURE', `signature recovery id must be 0 or 1, got ${v}`);
  const rs = sig.subarray(0, 64);
  let normalized: Uint8Array;
  try {
    normalized = secp.signatureNormalize(Uint8Array.from(rs));
  } catch {
    throw new BlyanError('BLOCK_BAD_SIGNATURE', 'signature r or s is out of range');
  }
  if (!equalBytes(normalized, rs)) throw new BlyanError('BLOCK_BAD_SIGNATURE', 'signature s is not in the lower half (malleable)');
}

/** Throws BLOCK_BAD_SIGNATURE unless `sig` over `digest` was made by the key behind `author`. */
export function verifyDigest(digest: Hash, sig: Uint8Array, author: Address): void {
  assertSignatureShape(sig);
  const key = Buffer.from(author.buffer, author.byteOffset, author.byteLength).toString('latin1');
  const cached = pubkeyCache.get(key);
  const rs = sig.subarray(0, 64);
  if (cached !== undefined) {
    if (secp.ecdsaVerify(rs, digest, cached)) return;
    throw new BlyanError('BLOCK_BAD_SIGNATURE', 'signature does not match the block author');
  }
  let pub: Uint8Array;
  try {
    pub = secp.ecdsaRecover(rs, sig[64] as number, digest, false);
  } catch {
    throw new BlyanError('BLOCK_BAD_SIGNATURE', 'no public key can be recovered from the signature');
  }
  if (!equalBytes(addressFromPublicKey(pub), author)) {
    throw new BlyanError('BLOCK_BAD_SIGNATURE', 'signature does not match the block author');
  }
  if (pubkeyCache.size >= PUBKEY_CACHE_MAX) pubkeyCache.clear();
  pubkeyCache.set(key, pub);
}

/** For benchmarks and tests that must measure the uncached (recovery) path. */
export function clearPublicKeyCache(): void {
  pubkeyCache.clear();
}
