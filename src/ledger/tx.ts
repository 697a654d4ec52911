import { keccak_256 } from '@noble/hashes/sha3.js';
import { secp256k1Backend } from '../chain/sign.ts';
import { BlyanError } from '../errors.ts';
import { domainSeparator, type Eip712Domain, type FieldValue, hashStruct, type TypedField, typedDataDigest, typeHash } from './eip712.ts';
import { hexAddress } from './systemAccounts.ts';
import { type MessageOf, TX_TYPES, type TxKind } from './txTypes.ts';

/**
 * Signed ledger transactions: EIP-712 typed data, so viem / ethers / MetaMask sign them as they are.
 *   domain    = { name: "Blyan", version: "1", chainId: the preset's chain id }
 *   digest    = keccak256(0x1901 ‖ domainSeparator ‖ hashStruct(message))   — also the tx id
 *   signature = r ‖ s ‖ v (65 bytes), v ∈ {27, 28}, low-s (what eth_signTypedData_v4 returns)
 */
export const DOMAIN_NAME = 'Blyan';
export const DOMAIN_VERSION = '1';

export function ledgerDomain(chainId: number): Eip712Domain {
  return { name: DOMAIN_NAME, version: DOMAIN_VERSION, chainId };
}

export interface SignedTx<K extends TxKind = TxKind> {
  readonly kind: K;
  /** The domain the signer used; must equal this network's (checked before the signature). */
  readonly domain: Eip712Domain;
  readonly message: MessageOf<K>;
  /** 65 bytes r ‖ s ‖ v with v ∈ {27, 28}. */
  readonly sig: Uint8Array;
}

/** Any kind's tx, narrowed by `kind`. */
export type AnyTx = { [K in TxKind]: SignedTx<K> }[TxKind];

const typeHashes = new Map<TxKind, Uint8Array>();
function typeHashOf(kind: TxKind): Uint8Array {
  let h = typeHashes.get(kind);
  if (h === undefined) {
    h = typeHash(kind, TX_TYPES[kind]);
    typeHashes.set(kind, h);
  }
  return h;
}

export function structHash(kind: TxKind, message: object): Uint8Array {
  const fields: readonly TypedField[] = TX_TYPES[kind];
  return hashStruct(typeHashOf(kind), fields, message as Readonly<Record<string, FieldValue>>);
}

/** The EIP-712 digest: what is signed, and the transaction's id. */
export function txDigest(tx: { readonly kind: TxKind; readonly domain: Eip712Domain; readonly message: object }): Uint8Array {
  return typedDataDigest(domainSeparator(tx.domain), structHash(tx.kind, tx.message));
}

/** Signs with a raw key (CLI wallets, tests, the bench). Deterministic (RFC 6979), low-s. */
export function signTx<K extends TxKind>(kind: K, message: MessageOf<K>, domain: Eip712Domain, privateKey: Uint8Array): SignedTx<K> {
  const digest = txDigest({ kind, domain, message });
  const raw = secp256k1Backend().sign(digest, privateKey);
  const sig = Uint8Array.from(raw);
  sig[64] = (raw[64] as number) + 27;
  return { kind, domain, message, sig };
}

const addressCache = new Map<string, string>();
const ADDRESS_CACHE_MAX = 65_536;

/**
 * Rules T1–T3 (docs/ledger.md §4): the domain is this network's (name and version, then chain id), the
 * signature is well-formed and low-s, and it recovers to `message.from`. Returns the tx id (digest).
 */
export function verifyTx(tx: AnyTx, expected: Eip712Domain): Uint8Array {
  if (tx.domain.name !== expected.name || tx.domain.version !== expected.version) {
    throw new BlyanError('LEDGER_WRONG_DOMAIN', `transaction signed for domain "${tx.domain.name}" v${tx.domain.version}; this ledger is "${expected.name}" v${expected.version}`);
  }
  if (tx.domain.chainId !== expected.chainId) {
    throw new BlyanError('LEDGER_WRONG_CHAIN_ID', `transaction signed for chain id ${tx.domain.chainId}; this network is ${expected.chainId}`, {
      got: tx.domain.chainId,
      want: expected.chainId,
    });
  }
  const sig = tx.sig;
  if (sig.length !== 65) throw new BlyanError('LEDGER_BAD_SIGNATURE', `signature must be 65 bytes, got ${sig.length}`);
  const v = sig[64] as number;
  if (v !== 27 && v !== 28) throw new BlyanError('LEDGER_BAD_SIGNATURE', `signature v must be 27 or 28, got ${v}`);
  const backend = secp256k1Backend();
  const rs = sig.subarray(0, 64);
  const shape = backend.sigShape(rs);
  if (shape !== 0) throw new BlyanError('LEDGER_BAD_SIGNATURE', shape === 2 ? 'signature s is not in the lower half (malleable)' : 'signature r or s is out of range');
  const digest = txDigest(tx);
  const pub = backend.recover(rs, v - 27, digest);
  if (pub === null) throw new BlyanError('LEDGER_BAD_SIGNATURE', 'no public key can be recovered from the signature');
  const key = Buffer.from(pub.buffer, pub.byteOffset, pub.byteLength).toString('latin1');
  let signer = addressCache.get(key);
  if (signer === undefined) {
    signer = hexAddress(keccak_256(pub.subarray(1)).subarray(12));
    if (addressCache.size >= ADDRESS_CACHE_MAX) addressCache.clear();
    addressCache.set(key, signer);
  }
  if (signer !== tx.message.from) {
    throw new BlyanError('LEDGER_BAD_SIGNATURE', `signature is by ${signer}, not by ${tx.message.from}`, { signer, from: tx.message.from });
  }
  return digest;
}

export function toHex0x(bytes: Uint8Array): `0x${string}` {
  return `0x${Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex')}`;
}
