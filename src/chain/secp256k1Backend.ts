import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import fallback from 'secp256k1/bindings.js';

/**
 * The secp256k1 operations blocks need, over one of two native implementations that pass the same
 * test suite (test/chain/secp256k1Backend.test.ts):
 *  - `system`: our N-API addon (native/secp256k1_addon.c) on Debian's current libsecp256k1, built at
 *    install; fastest (verify ≈ 31 µs here).
 *  - `bundled`: the `secp256k1` npm package's prebuilt binding (its 2020 libsecp256k1, ≈ 41 µs).
 * BLYAN_SECP256K1=bundled forces the fallback (tests use it to run the suite on both).
 */
export interface Secp256k1Backend {
  readonly name: 'system' | 'bundled';
  /** RFC 6979 recoverable signature: r ‖ s ‖ recid (65 bytes), low-s. Throws on an invalid key. */
  sign(msg32: Uint8Array, key32: Uint8Array): Uint8Array;
  /** 0: well-formed low-s; 1: r or s out of range; 2: high s. */
  sigShape(sig64: Uint8Array): 0 | 1 | 2;
  /** An opaque in-process form of a public key, for repeated verification; null if not on the curve. */
  parsePublicKey(pub65: Uint8Array): Uint8Array | null;
  verifyParsed(sig64: Uint8Array, msg32: Uint8Array, parsed: Uint8Array): boolean;
  /** The 65-byte uncompressed key that made the signature, or null. */
  recover(sig64: Uint8Array, recid: number, msg32: Uint8Array): Uint8Array | null;
  /**
   * sigShape and recover in one step, for the block-verification hot path: writes the key behind
   * sig65 (r ‖ s ‖ v) into out65 and returns 0, or returns 1 (r or s out of range), 2 (high s),
   * 3 (v is not 0 or 1) or 4 (no key recoverable), leaving out65 unspecified.
   */
  recoverInto(sig65: Uint8Array, msg32: Uint8Array, out65: Uint8Array): RecoverCode;
  /** The 65-byte uncompressed public key, or null for an invalid private key. */
  publicKeyCreate(key32: Uint8Array): Uint8Array | null;
}

export type RecoverCode = 0 | 1 | 2 | 3 | 4;

interface Addon {
  sign(msg: Uint8Array, key: Uint8Array): Uint8Array;
  sigShape(sig: Uint8Array): number;
  parsePublicKey(pub: Uint8Array): Uint8Array | null;
  verifyParsed(sig: Uint8Array, msg: Uint8Array, parsed: Uint8Array): boolean;
  recover(sig: Uint8Array, recid: number, msg: Uint8Array): Uint8Array | null;
  recoverInto?(sig: Uint8Array, msg: Uint8Array, out: Uint8Array): number;
  sha256Into?(data: Uint8Array, out: Uint8Array): void;
  publicKeyCreate(key: Uint8Array): Uint8Array | null;
}

let addonLoaded: Addon | null | undefined;

function loadAddon(): Addon | undefined {
  if (addonLoaded === undefined) {
    const require = createRequire(import.meta.url);
    const path = fileURLToPath(new URL('../../build/Release/blyan_secp256k1.node', import.meta.url));
    try {
      addonLoaded = require(path) as Addon;
    } catch {
      addonLoaded = null;
    }
  }
  return addonLoaded ?? undefined;
}

/**
 * SHA-256 of `data` into `out32` by the addon (OpenSSL inside Node, ~0.3 µs for a signing digest where
 * node:crypto's one-shot call takes ~1.2 µs), or undefined when the addon is not built or predates it.
 */
export function nativeSha256Into(): ((data: Uint8Array, out32: Uint8Array) => void) | undefined {
  return loadAddon()?.sha256Into;
}

function loadSystem(): Secp256k1Backend | undefined {
  const addon = loadAddon();
  if (addon === undefined) return undefined;
  const native = addon.recoverInto;
  const system: Secp256k1Backend = {
    name: 'system',
    sign: (m, k) => addon.sign(m, k),
    sigShape: (s) => addon.sigShape(s) as 0 | 1 | 2,
    parsePublicKey: (p) => addon.parsePublicKey(p),
    verifyParsed: (s, m, p) => addon.verifyParsed(s, m, p),
    recover: (s, r, m) => addon.recover(s, r, m),
    // An addon built before recoverInto existed (a stale build/) still works, through two calls.
    recoverInto: native === undefined ? (s, m, o) => recoverViaTwoCalls(system, s, m, o) : (s, m, o) => native(s, m, o) as RecoverCode,
    publicKeyCreate: (k) => addon.publicKeyCreate(k),
  };
  return system;
}

function recoverViaTwoCalls(b: Pick<Secp256k1Backend, 'sigShape' | 'recover'>, sig65: Uint8Array, msg32: Uint8Array, out65: Uint8Array): RecoverCode {
  const rs = sig65.subarray(0, 64);
  const shape = b.sigShape(rs);
  if (shape !== 0) return shape;
  const v = sig65[64];
  if (v !== 0 && v !== 1) return 3;
  const pub = b.recover(rs, v, msg32);
  if (pub === null) return 4;
  out65.set(pub);
  return 0;
}

function bundled(): Secp256k1Backend {
  return {
    name: 'bundled',
    sign(m, k) {
      const { signature, recid } = fallback.ecdsaSign(m, k);
      const out = new Uint8Array(65);
      out.set(signature, 0);
      out[64] = recid;
      return out;
    },
    sigShape(s) {
      try {
        const n = fallback.signatureNormalize(Uint8Array.from(s));
        return Buffer.compare(n, s) === 0 ? 0 : 2;
      } catch {
        return 1;
      }
    },
    parsePublicKey(p) {
      return fallback.publicKeyVerify(p) ? Uint8Array.from(p) : null;
    },
    verifyParsed(s, m, p) {
      try {
        return fallback.ecdsaVerify(s, m, p);
      } catch {
        return false;
      }
    },
    recover(s, r, m) {
      try {
        return fallback.ecdsaRecover(s, r, m, false);
      } catch {
        return null;
      }
    },
    recoverInto(s, m, o) {
      return recoverViaTwoCalls(this, s, m, o);
    },
    publicKeyCreate(k) {
      return fallback.privateKeyVerify(k) ? fallback.publicKeyCreate(k, false) : null;
    },
  };
}

export function loadBackend(prefer: string | undefined = process.env.BLYAN_SECP256K1): Secp256k1Backend {
  if (prefer === 'bundled') return bundled();
  return loadSystem() ?? bundled();
}

export function allBackends(): Secp256k1Backend[] {
  const sys = loadSystem();
  return sys === undefined ? [bundled()] : [sys, bundled()];
}
