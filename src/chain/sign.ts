import { BlyanError } from '../errors.ts';
import { addressFromPublicKey, type Address } from './address.ts';
import { equalBytes, HASH_BYTES, type Hash, sha256 } from './hash.ts';
import { loadBackend, nativeSha256Into, type Secp256k1Backend } from './secp256k1Backend.ts';

/**
 * Block signatures: secp256k1 ECDSA, 65 bytes r‖s‖v with v ∈ {0,1} (recovery id), low-s only.
 *
 * Why libsecp256k1 (native, see secp256k1Backend.ts) and not @noble/curves here: verification is the hot
 * path of sync and archive import (target: 10,000 headers in < 0.5 s on one core). noble verifies
 * ~520/s; libsecp256k1 ~29,000/s and recovers ~25,000/s (Debian's 0.2.0; the 2019 copy inside the
 * `secp256k1` npm package, built with -O3 and x86_64 asm, recovers in ~52 µs against ~40). The header
 * carries only the 20-byte author address (so ordinary Ethereum keys own blocks); every signature is
 * checked by public-key recovery, which leaves ~85% of a header's verification time in libsecp256k1, and
 * a per-author cache of recovered keys skips the keccak of known authors.
 */
export const SIGNATURE_BYTES = 65;

const DOMAIN_TAG = new TextEncoder().encode('blyan/block-signature/v1\0');

/** The digest an author signs: domain tag ‖ u32be(chainId) ‖ chain letter ‖ type ‖ 0x00 ‖ block id. */
export function signingDigest(chainId: number, chain: string, type: string, id: Hash): Hash {
  const key = `${chainId}/${chain}/${type}`;
  let msg = messageCache.get(key);
  if (msg === undefined) {
    const typeBytes = new TextEncoder().encode(type);
    msg = new Uint8Array(DOMAIN_TAG.length + 5 + typeBytes.length + 1 + HASH_BYTES);
    msg.set(DOMAIN_TAG, 0);
    new DataView(msg.buffer).setUint32(DOMAIN_TAG.length, chainId >>> 0);
    msg[DOMAIN_TAG.length + 4] = chain.charCodeAt(0);
    msg.set(typeBytes, DOMAIN_TAG.length + 5);
    messageCache.set(key, msg);
  }
  if (id.length !== HASH_BYTES) {
    const odd = new Uint8Array(msg.length - HASH_BYTES + id.length);
    odd.set(msg.subarray(0, msg.length - HASH_BYTES), 0);
    odd.set(id, msg.length - HASH_BYTES);
    return sha256(odd);
  }
  // The message is rebuilt in place: it is hashed at once and never handed out.
  msg.set(id, msg.length - HASH_BYTES);
  if (sha256Into === undefined) return sha256(msg);
  sha256Into(msg, digestOut);
  return digestOut.slice();
}

/** Per chain id, chain and type: the digest message with room for the id at its end. */
const messageCache = new Map<string, Uint8Array>();
const sha256Into = nativeSha256Into();
const digestOut = new Uint8Array(HASH_BYTES);

let backend: Secp256k1Backend = loadBackend();

/** Which native implementation signs and verifies (tests run the suite on each). */
export function secp256k1Backend(): Secp256k1Backend {
  return backend;
}

export function useSecp256k1Backend(b: Secp256k1Backend): void {
  backend = b;
  pubkeyCache.clear();
}

export function isValidPrivateKey(key: Uint8Array): boolean {
  return key.length === 32 && backend.publicKeyCreate(key) !== null;
}

export function publicKeyOf(privateKey: Uint8Array): Uint8Array {
  const pub = privateKey.length === 32 ? backend.publicKeyCreate(privateKey) : null;
  if (pub === null) throw new BlyanError('KEY_INVALID', 'not a valid secp256k1 private key');
  return pub;
}

export function addressOf(privateKey: Uint8Array): Address {
  return addressFromPublicKey(publicKeyOf(privateKey));
}

/** RFC 6979 deterministic signature, always low-s. */
export function signDigest(digest: Hash, privateKey: Uint8Array): Uint8Array {
  if (!isValidPrivateKey(privateKey)) throw new BlyanError('KEY_INVALID', 'not a valid secp256k1 private key');
  return backend.sign(digest, privateKey);
}

const pubkeyCache = new Map<string, Uint8Array>();
const PUBKEY_CACHE_MAX = 65_536;

/** Where verifyDigest receives each recovered key: one buffer, so a signature costs no allocation. */
const recovered = new Uint8Array(65);

/**
 * Throws BLOCK_BAD_SIGNATURE unless `sig` over `digest` was made by the key behind `author`.
 * Always recovers with the signature's own v, so every node reaches the same verdict on the same bytes
 * whatever it has seen before (a plain verify would ignore v and make v malleable). The cache only saves
 * the keccak of a public key already matched to this author.
 * A signature is malformed (not just wrong) when r or s is out of range, s is high, or v is not 0/1.
 */
export function verifyDigest(digest: Hash, sig: Uint8Array, author: Address): void {
  if (sig.length !== SIGNATURE_BYTES) {
    throw new BlyanError('BLOCK_BAD_SIGNATURE', `signature must be ${SIGNATURE_BYTES} bytes, got ${sig.length}`);
  }
  const v = sig[64] as number;
  if (v !== 0 && v !== 1) throw new BlyanError('BLOCK_BAD_SIGNATURE', `signature recovery id must be 0 or 1, got ${v}`);
  const code = backend.recoverInto(sig, digest, recovered);
  if (code === 1) throw new BlyanError('BLOCK_BAD_SIGNATURE', 'signature r or s is out of range');
  if (code === 2) throw new BlyanError('BLOCK_BAD_SIGNATURE', 'signature s is not in the lower half (malleable)');
  if (code !== 0) throw new BlyanError('BLOCK_BAD_SIGNATURE', 'no public key can be recovered from the signature');
  const key = Buffer.from(author.buffer, author.byteOffset, author.byteLength).toString('latin1');
  const known = pubkeyCache.get(key);
  if (known !== undefined && equalBytes(known, recovered)) return;
  if (!equalBytes(addressFromPublicKey(recovered), author)) {
    throw new BlyanError('BLOCK_BAD_SIGNATURE', 'signature does not match the block author');
  }
  if (pubkeyCache.size >= PUBKEY_CACHE_MAX) pubkeyCache.clear();
  pubkeyCache.set(key, recovered.slice());
}

/** For benchmarks and tests that must measure the uncached (recovery) path. */
export function clearPublicKeyCache(): void {
  pubkeyCache.clear();
}
