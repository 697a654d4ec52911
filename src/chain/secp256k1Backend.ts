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
  /** The 65-byte uncompressed public key, or null for an invalid private key. */
  publicKeyCreate(key32: Uint8Array): Uint8Array | null;
}

interface Addon {
  sign(msg: Uint8Array, key: Uint8Array): Uint8Array;
  sigShape(sig: Uint8Array): number;
  parsePublicKey(pub: Uint8Array): Uint8Array | null;
  verifyParsed(sig: Uint8Array, msg: Uint8Array, parsed: Uint8Array): boolean;
  recover(sig: Uint8Array, recid: number, msg: Uint8Array): Uint8Array | null;
  publicKeyCreate(key: Uint8Array): Uint8Array | null;
}

function loadSystem(): Secp256k1Backend | undefined {
  const require = createRequire(import.meta.url);
  const path = fileURLToPath(new URL('../../build/Release/blyan_secp256k1.node', import.meta.url));
  let addon: Addon;
  try {
    addon = require(path) as Addon;
  } catch {
    return undefined;
  }
  return {
    name: 'system',
    sign: (m, k) => addon.sign(m, k),
    sigShape: (s) => addon.sigShape(s) as 0 | 1 | 2,
    parsePublicKey: (p) => addon.parsePublicKey(p),
    verifyParsed: (s, m, p) => addon.verifyParsed(s, m, p),
    recover: (s, r, m) => addon.recover(s, r, m),
    publicKeyCreate: (k) => addon.publicKeyCreate(k),
  };
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
