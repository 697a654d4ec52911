import { timingSafeEqual, randomUUID } from 'node:crypto';
import { ctr } from '@noble/ciphers/aes.js';
import { pbkdf2Async } from '@noble/hashes/pbkdf2.js';
import { scryptAsync } from '@noble/hashes/scrypt.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { keccak_256 } from '@noble/hashes/sha3.js';
import { randomBytes } from '@noble/hashes/utils.js';
import { z } from 'zod';
import { formatAddress } from '../chain/address.ts';
import { toHex } from '../chain/hash.ts';
import { addressOf, isValidPrivateKey } from '../chain/sign.ts';
import { BlyanError, type BlyanErrorCode } from '../errors.ts';

/**
 * Ethereum keystore v3 ("Web3 Secret Storage Definition"), so a Blyan key can be opened by geth,
 * MetaMask or ethers and the other way round.
 *
 *   DK   = kdf(passphrase, salt)                      (scrypt or pbkdf2-hmac-sha256, dklen ≥ 32)
 *   ct   = AES-128-CTR(key = DK[0..16], iv)(privateKey)
 *   mac  = keccak256(DK[16..32] ‖ ct)
 *
 * All KDF work goes through noble (`scryptAsync`, `pbkdf2Async`): node:crypto's scrypt (OpenSSL)
 * refuses the spec's own test vector (n=2^18, r=1, p=8) whatever maxmem is, as OpenSSL enforces
 * RFC 7914's N < 2^(16·r); and the async variants yield to the event loop so a prompt or a progress
 * line stays alive during the second or more that scrypt takes.
 */

export interface ScryptKdfParams {
  dklen: number;
  n: number;
  r: number;
  p: number;
  salt: string;
}

export interface Pbkdf2KdfParams {
  dklen: number;
  c: number;
  prf: 'hmac-sha256';
  salt: string;
}

interface CipherFields {
  cipher: 'aes-128-ctr';
  /** 32 bytes, lowercase hex without 0x. */
  ciphertext: string;
  /** 16 bytes: the initial AES-CTR counter block. */
  cipherparams: { iv: string };
  /** keccak256(DK[16..32] ‖ ciphertext), 32 bytes. */
  mac: string;
}

export type KeystoreCrypto =
  | (CipherFields & { kdf: 'scrypt'; kdfparams: ScryptKdfParams })
  | (CipherFields & { kdf: 'pbkdf2'; kdfparams: Pbkdf2KdfParams });

/** A keystore in normalised form: `crypto` (never `Crypto`), hex lowercase without 0x. */
export interface KeystoreV3 {
  /** 20-byte address, lowercase hex without 0x (optional in the spec; geth and we always write it). */
  address?: string;
  crypto: KeystoreCrypto;
  id?: string;
  version: 3;
}

/** geth's defaults ("standard" scrypt): about 256 MiB and one to a few seconds. */
export const STANDARD_KDF = { n: 2 ** 18, r: 8, p: 1 } as const;
/** geth's --lightkdf: about 4 MiB; for tests, and for users who choose speed over brute-force cost. */
export const LIGHT_KDF = { n: 4096, r: 8, p: 6 } as const;

/**
 * What we agree to compute for a file we did not write. A hostile keystore could otherwise ask for
 * terabytes (n = 2^40) or hours of CPU. The limits are 2x above the largest settings in common use
 * (geth standard n=2^18 r=8 p=1 and the spec vector n=2^18 r=1 p=8 both cost 2^21 block mixes).
 */
export const KDF_LIMITS = {
  scryptMaxN: 2 ** 20,
  scryptMaxR: 32,
  scryptMaxP: 16,
  /** 128·n·r bytes for scrypt's V array. */
  scryptMaxMemoryBytes: 2 ** 29,
  /** n·r·p, proportional to CPU time. */
  scryptMaxWork: 2 ** 22,
  pbkdf2MaxIterations: 2 ** 22,
} as const;

const DKLEN = 32;
const HEX = /^(0x)?[0-9a-fA-F]*$/;

function hexField(minBytes: number, maxBytes: number) {
  const what = minBytes === maxBytes ? `${minBytes} bytes` : `${minBytes} to ${maxBytes} bytes`;
  return z
    .string()
    .regex(HEX, 'must be hex')
    .transform((s) => s.replace(/^0x/, '').toLowerCase())
    .refine((s) => s.length % 2 === 0 && s.length >= minBytes * 2 && s.length <= maxBytes * 2, `must be ${what} of hex`);
}

const dklenField = z.number().int().min(32, 'must be at least 32').max(64, 'must be at most 64');

const EnvelopeSchema = z.object({
  address: z
    .string()
    .regex(/^(0x)?[0-9a-fA-F]{40}$/, 'must be 20 bytes of hex')
    .transform((s) => s.replace(/^0x/, '').toLowerCase())
    .optional(),
  id: z.string().max(100).optional(),
  crypto: z.object({
    cipher: z.string(),
    cipherparams: z.object({ iv: hexField(16, 16) }),
    // A secp256k1 private key is exactly 32 bytes; anything else cannot be one of ours.
    ciphertext: hexField(32, 32),
    kdf: z.string(),
    kdfparams: z.record(z.string(), z.unknown()),
    mac: hexField(32, 32),
  }),
});

const ScryptParamsSchema = z.object({
  dklen: dklenField,
  n: z.number().int(),
  r: z.number().int(),
  p: z.number().int(),
  salt: hexField(1, 1024),
});

const Pbkdf2ParamsSchema = z.object({
  dklen: dklenField,
  c: z.number().int(),
  prf: z.string(),
  salt: hexField(1, 1024),
});

function parseWith<T>(schema: z.ZodType<T>, value: unknown, prefix: string): T {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  const issue = result.error.issues[0];
  const path = [prefix, ...(issue?.path ?? []).map(String)].filter((s) => s !== '').join('.');
  throw new BlyanError('KEYSTORE_MALFORMED', `keystore field ${path}: ${issue?.message ?? 'invalid'}`, { path });
}

/** Throws unless scrypt(n, r, p) is within KDF_LIMITS; checked before any memory is allocated. */
export function checkScryptParams(params: { n: number; r: number; p: number }, source: 'file' | 'options' = 'file'): void {
  const { n, r, p } = params;
  // A file that breaks the rules is malformed; one that is merely too costly is unsupported by us.
  const invalid: BlyanErrorCode = source === 'file' ? 'KEYSTORE_MALFORMED' : 'BAD_ARGUMENT';
  const costly: BlyanErrorCode = source === 'file' ? 'KEYSTORE_UNSUPPORTED' : 'BAD_ARGUMENT';
  if (!Number.isSafeInteger(n) || n < 2 || !Number.isInteger(Math.log2(n))) {
    throw new BlyanError(invalid, `scrypt n must be a power of two ≥ 2, got ${n}`, { n });
  }
  if (!Number.isSafeInteger(r) || r < 1 || !Number.isSafeInteger(p) || p < 1) {
    throw new BlyanError(invalid, `scrypt r and p must be positive integers, got r=${r} p=${p}`, { r, p });
  }
  const L = KDF_LIMITS;
  const tooBig =
    n > L.scryptMaxN
      ? `n=${n} is above ${L.scryptMaxN}`
      : r > L.scryptMaxR
        ? `r=${r} is above ${L.scryptMaxR}`
        : p > L.scryptMaxP
          ? `p=${p} is above ${L.scryptMaxP}`
          : 128 * n * r > L.scryptMaxMemoryBytes
            ? `n·r needs ${(128 * n * r) / 2 ** 20} MiB, above ${L.scryptMaxMemoryBytes / 2 ** 20} MiB`
            : n * r * p > L.scryptMaxWork
              ? `n·r·p=${n * r * p} is above ${L.scryptMaxWork}`
              : undefined;
  if (tooBig !== undefined) {
    throw new BlyanError(costly, `scrypt parameters too costly: ${tooBig} (this tool's limit, to resist hostile files)`, {
      n,
      r,
      p,
    });
  }
}

/** Validates the shape and the supported algorithms of a keystore, without any KDF work. */
export function parseKeystore(json: unknown): KeystoreV3 {
  if (typeof json === 'string') {
    try {
      json = JSON.parse(json);
    } catch {
      throw new BlyanError('KEYSTORE_MALFORMED', 'keystore is not valid JSON');
    }
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) {
    throw new BlyanError('KEYSTORE_MALFORMED', 'keystore must be a JSON object');
  }
  const obj = json as Record<string, unknown>;
  if (obj.version === undefined) throw new BlyanError('KEYSTORE_MALFORMED', 'keystore has no "version" field');
  if (obj.version !== 3) {
    throw new BlyanError('KEYSTORE_UNSUPPORTED', `keystore version ${JSON.stringify(obj.version)} is not supported (only version 3)`, {
      version: obj.version,
    });
  }
  // geth before 1.4 wrote "Crypto"; both spellings are still found in the wild.
  const envelope = parseWith(EnvelopeSchema, { ...obj, crypto: obj.crypto ?? obj.Crypto }, '');
  const c = envelope.crypto;
  if (c.cipher !== 'aes-128-ctr') {
    throw new BlyanError('KEYSTORE_UNSUPPORTED', `keystore cipher "${c.cipher.slice(0, 40)}" is not supported (only aes-128-ctr)`);
  }
  const fields: CipherFields = { cipher: 'aes-128-ctr', ciphertext: c.ciphertext, cipherparams: c.cipherparams, mac: c.mac };
  let crypto: KeystoreCrypto;
  if (c.kdf === 'scrypt') {
    const kp = parseWith(ScryptParamsSchema, c.kdfparams, 'crypto.kdfparams');
    checkScryptParams(kp);
    crypto = { ...fields, kdf: 'scrypt', kdfparams: kp };
  } else if (c.kdf === 'pbkdf2') {
    const kp = parseWith(Pbkdf2ParamsSchema, c.kdfparams, 'crypto.kdfparams');
    if (kp.prf !== 'hmac-sha256') {
      throw new BlyanError('KEYSTORE_UNSUPPORTED', `pbkdf2 prf "${kp.prf.slice(0, 40)}" is not supported (only hmac-sha256)`);
    }
    if (kp.c < 1 || kp.c > KDF_LIMITS.pbkdf2MaxIterations) {
      throw new BlyanError('KEYSTORE_UNSUPPORTED', `pbkdf2 c=${kp.c} is outside 1..${KDF_LIMITS.pbkdf2MaxIterations}`);
    }
    crypto = { ...fields, kdf: 'pbkdf2', kdfparams: { ...kp, prf: 'hmac-sha256' } };
  } else {
    throw new BlyanError('KEYSTORE_UNSUPPORTED', `keystore kdf "${c.kdf.slice(0, 40)}" is not supported (scrypt or pbkdf2)`);
  }
  const out: KeystoreV3 = { crypto, version: 3 };
  if (envelope.address !== undefined) out.address = envelope.address;
  if (envelope.id !== undefined) out.id = envelope.id;
  return out;
}

function bytes(hex: string): Uint8Array {
  return new Uint8Array(Buffer.from(hex, 'hex'));
}

async function deriveKey(crypto: KeystoreCrypto, passphrase: string): Promise<Uint8Array> {
  const salt = bytes(crypto.kdfparams.salt);
  if (crypto.kdf === 'scrypt') {
    const { n, r, p, dklen } = crypto.kdfparams;
    return scryptAsync(passphrase, salt, { N: n, r, p, dkLen: dklen });
  }
  return pbkdf2Async(sha256, passphrase, salt, { c: crypto.kdfparams.c, dkLen: crypto.kdfparams.dklen });
}

function macOf(derivedKey: Uint8Array, ciphertext: Uint8Array): Uint8Array {
  const body = new Uint8Array(16 + ciphertext.length);
  body.set(derivedKey.subarray(16, 32), 0);
  body.set(ciphertext, 16);
  return keccak_256(body);
}

export interface EncryptOptions {
  kdf?: 'scrypt';
  n?: number;
  r?: number;
  p?: number;
  salt?: Uint8Array;
  iv?: Uint8Array;
  uuid?: string;
}

export async function encryptKeystore(
  privateKey: Uint8Array,
  passphrase: string,
  opts: EncryptOptions = {},
): Promise<KeystoreV3> {
  if (!isValidPrivateKey(privateKey)) throw new BlyanError('KEY_INVALID', 'not a valid secp256k1 private key');
  const n = opts.n ?? STANDARD_KDF.n;
  const r = opts.r ?? STANDARD_KDF.r;
  const p = opts.p ?? STANDARD_KDF.p;
  // Refuse to write a file that we (and other careful tools) would refuse to open.
  checkScryptParams({ n, r, p }, 'options');
  const salt = opts.salt ?? randomBytes(32);
  const iv = opts.iv ?? randomBytes(16);
  if (iv.length !== 16) throw new BlyanError('BAD_ARGUMENT', `iv must be 16 bytes, got ${iv.length}`);
  if (salt.length < 1 || salt.length > 1024) throw new BlyanError('BAD_ARGUMENT', 'salt must be 1 to 1024 bytes');
  const dk = await scryptAsync(passphrase, salt, { N: n, r, p, dkLen: DKLEN });
  const ciphertext = ctr(dk.slice(0, 16), iv).encrypt(privateKey);
  const mac = macOf(dk, ciphertext);
  dk.fill(0);
  return {
    address: toHex(addressOf(privateKey)),
    crypto: {
      cipher: 'aes-128-ctr',
      ciphertext: toHex(ciphertext),
      cipherparams: { iv: toHex(iv) },
      kdf: 'scrypt',
      kdfparams: { dklen: DKLEN, n, p, r, salt: toHex(salt) },
      mac: toHex(mac),
    },
    id: opts.uuid ?? randomUUID(),
    version: 3,
  };
}

/** How a keystore is named in messages: its address when it states one. */
function describe(ks: KeystoreV3): string {
  if (ks.address !== undefined) return formatAddress(bytes(ks.address));
  return ks.id !== undefined ? `id ${ks.id}` : '(no address)';
}

/** Returns the 32-byte private key. `json` is the parsed file or its text. */
export async function decryptKeystore(json: unknown, passphrase: string): Promise<Uint8Array> {
  const ks = parseKeystore(json);
  const ciphertext = bytes(ks.crypto.ciphertext);
  const dk = await deriveKey(ks.crypto, passphrase);
  try {
    // Constant-time: the comparison must not tell an attacker how many MAC bytes were right.
    if (!timingSafeEqual(macOf(dk, ciphertext), bytes(ks.crypto.mac))) {
      throw new BlyanError('KEYSTORE_BAD_PASSPHRASE', `wrong passphrase for keystore ${describe(ks)}`, {
        keystore: describe(ks),
      });
    }
    const key = ctr(dk.slice(0, 16), bytes(ks.crypto.cipherparams.iv)).decrypt(ciphertext);
    if (!isValidPrivateKey(key)) {
      throw new BlyanError('KEYSTORE_MALFORMED', `keystore ${describe(ks)} decrypts to an invalid secp256k1 private key`);
    }
    if (ks.address !== undefined && toHex(addressOf(key)) !== ks.address) {
      throw new BlyanError(
        'KEYSTORE_MALFORMED',
        `keystore says address ${describe(ks)} but its key belongs to ${formatAddress(addressOf(key))}`,
      );
    }
    return key;
  } finally {
    dk.fill(0);
  }
}
