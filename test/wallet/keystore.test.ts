import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { toHex } from '../../src/chain/hash.ts';
import { addressOf } from '../../src/chain/sign.ts';
import { type BlyanErrorCode, isBlyanError } from '../../src/errors.ts';
import { decryptKeystore, encryptKeystore, type KeystoreV3, LIGHT_KDF, parseKeystore } from '../../src/wallet/keystore.ts';

// Test vectors of the Ethereum wiki's "Web3 Secret Storage Definition" (ethereum/wiki,
// Web3-Secret-Storage-Definition.md, section "Test Vectors"), reproduced exactly.
const VECTOR_PASSWORD = 'testpassword';
const VECTOR_SECRET = '7a28b5ba57c53603b0b07b56bba752f7784bf506fa95edc395f5cf6c7514fe9d';
const VECTOR_ADDRESS = '008aeeda4d805471df9b2a5b0f38a0c3bcba786b';

const PBKDF2_VECTOR = `{
    "crypto" : {
        "cipher" : "aes-128-ctr",
        "cipherparams" : {
            "iv" : "6087dab2f9fdbbfaddc31a909735c1e6"
        },
        "ciphertext" : "5318b4d5bcd28de64ee5559e671353e16f075ecae9f99c7a79a38af5f869aa46",
        "kdf" : "pbkdf2",
        "kdfparams" : {
            "c" : 262144,
            "dklen" : 32,
            "prf" : "hmac-sha256",
            "salt" : "ae3cd4e7013836a3df6bd7241b12db061dbe2c6785853cce422d148a624ce0bd"
        },
        "mac" : "517ead924a9d0dc3124507e3393d175ce3ff7c1e96529c6c555ce9e51205e9b2"
    },
    "id" : "3198bc9c-6672-5ab3-d995-4942343ae5b6",
    "version" : 3
}`;

const SCRYPT_VECTOR = `{
    "crypto" : {
        "cipher" : "aes-128-ctr",
        "cipherparams" : {
            "iv" : "83dbcc02d8ccb40e466191a123791e0e"
        },
        "ciphertext" : "d172bf743a674da9cdad04534d56926ef8358534d458fffccd4e6ad2fbde479c",
        "kdf" : "scrypt",
        "kdfparams" : {
            "dklen" : 32,
            "n" : 262144,
            "r" : 1,
            "p" : 8,
            "salt" : "ab0c7876052600dd703518d6fc3fe8984592145b591fc8fb5c6d43190334ba19"
        },
        "mac" : "2103ac29920d71da29f15d75b4a16dbe95cfd7ff8faea1056c33131d846e3097"
    },
    "id" : "3198bc9c-6672-5ab3-d995-4942343ae5b6",
    "version" : 3
}`;

function hex(text: string): Uint8Array {
  return new Uint8Array(Buffer.from(text, 'hex'));
}

async function rejectsWith(promise: Promise<unknown>, code: BlyanErrorCode, message?: RegExp): Promise<void> {
  await assert.rejects(promise, (err: unknown) => {
    assert.ok(isBlyanError(err, code), `expected ${code}, got ${String(err)}`);
    if (message !== undefined) assert.match(err.message, message);
    return true;
  });
}

function throwsWith(fn: () => unknown, code: BlyanErrorCode): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(isBlyanError(err, code), `expected ${code}, got ${String(err)}`);
    return true;
  });
}

/** A fresh deep copy of the scrypt vector, for mutation tests. */
function scryptVector(): Record<string, unknown> & { crypto: Record<string, unknown> & { kdfparams: Record<string, unknown> } } {
  return JSON.parse(SCRYPT_VECTOR);
}

const KEY = hex('4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318');
/** Cheap parameters for tests that only exercise the format, not the KDF cost. */
const TINY = { n: 16, r: 1, p: 1 };

test('decrypts the spec scrypt vector (n=262144, r=1, p=8)', async () => {
  const key = await decryptKeystore(SCRYPT_VECTOR, VECTOR_PASSWORD);
  assert.equal(toHex(key), VECTOR_SECRET);
  assert.equal(toHex(addressOf(key)), VECTOR_ADDRESS);
});

test('decrypts the spec pbkdf2 vector (c=262144)', async () => {
  const key = await decryptKeystore(JSON.parse(PBKDF2_VECTOR), VECTOR_PASSWORD);
  assert.equal(toHex(key), VECTOR_SECRET);
});

test('encrypting with the vector salt, iv and parameters reproduces its ciphertext and mac', async () => {
  const v = scryptVector();
  const ks = await encryptKeystore(hex(VECTOR_SECRET), VECTOR_PASSWORD, {
    n: 262144,
    r: 1,
    p: 8,
    salt: hex(v.crypto.kdfparams.salt as string),
    iv: hex((v.crypto.cipherparams as { iv: string }).iv),
    uuid: v.id as string,
  });
  assert.equal(ks.crypto.ciphertext, v.crypto.ciphertext);
  assert.equal(ks.crypto.mac, v.crypto.mac);
  assert.equal(ks.address, VECTOR_ADDRESS);
  assert.equal(ks.id, v.id);
});

test('encrypt → decrypt round trip with LIGHT_KDF writes the geth layout', async () => {
  const ks = await encryptKeystore(KEY, 'pass phrase', LIGHT_KDF);
  assert.equal(ks.version, 3);
  assert.equal(ks.address, toHex(addressOf(KEY)));
  assert.match(ks.id ?? '', /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  assert.equal(ks.crypto.cipher, 'aes-128-ctr');
  assert.deepEqual(ks.crypto.kdfparams, { ...ks.crypto.kdfparams, dklen: 32, n: 4096, r: 8, p: 6 });
  for (const field of [ks.crypto.ciphertext, ks.crypto.mac, ks.crypto.cipherparams.iv, ks.crypto.kdfparams.salt]) {
    assert.match(field, /^[0-9a-f]+$/);
  }
  assert.deepEqual(await decryptKeystore(JSON.parse(JSON.stringify(ks)), 'pass phrase'), KEY);
});

test('round trip holds for any key and passphrase (property)', async () => {
  await fc.assert(
    fc.asyncProperty(fc.uint8Array({ minLength: 32, maxLength: 32 }), fc.string({ unit: 'grapheme' }), async (key, pass) => {
      fc.pre(key.some((b) => b !== 0) && key[0] !== 0xff); // a valid scalar: non-zero and below the group order
      const ks = await encryptKeystore(key, pass, TINY);
      assert.deepEqual(await decryptKeystore(ks, pass), key);
    }),
    { numRuns: 25 },
  );
});

test('wrong passphrase → KEYSTORE_BAD_PASSPHRASE naming the address', async () => {
  const ks = await encryptKeystore(KEY, 'right', TINY);
  await rejectsWith(decryptKeystore(ks, 'wrong'), 'KEYSTORE_BAD_PASSPHRASE', /wrong passphrase for keystore 0x[0-9a-fA-F]{40}/);
  await rejectsWith(decryptKeystore(SCRYPT_VECTOR, 'testpassworD'), 'KEYSTORE_BAD_PASSPHRASE');
});

test('a flipped bit in ciphertext or mac is caught by the mac', async () => {
  const ks = await encryptKeystore(KEY, 'pw', TINY);
  for (const field of ['ciphertext', 'mac'] as const) {
    const bad: KeystoreV3 = structuredClone(ks);
    const text = bad.crypto[field];
    bad.crypto[field] = (text[0] === '0' ? '1' : '0') + text.slice(1);
    await rejectsWith(decryptKeystore(bad, 'pw'), 'KEYSTORE_BAD_PASSPHRASE');
  }
});

test('an address field that does not match the key → KEYSTORE_MALFORMED', async () => {
  const ks = await encryptKeystore(KEY, 'pw', TINY);
  ks.address = '00'.repeat(20);
  await rejectsWith(decryptKeystore(ks, 'pw'), 'KEYSTORE_MALFORMED', /does not match|belongs to/);
});

test('accepts the legacy "Crypto" key, 0x prefixes and upper-case hex', async () => {
  const ks = await encryptKeystore(KEY, 'pw', TINY);
  const { crypto, ...rest } = ks;
  const legacy = {
    ...rest,
    address: `0x${(ks.address ?? '').toUpperCase()}`,
    Crypto: { ...crypto, ciphertext: `0x${crypto.ciphertext.toUpperCase()}` },
  };
  assert.deepEqual(await decryptKeystore(legacy, 'pw'), KEY);
});

test('malformed shapes → KEYSTORE_MALFORMED', async () => {
  const cases: Array<[string, unknown]> = [
    ['not JSON', '{"crypto":'],
    ['a number', 42],
    ['null', null],
    ['an array', [SCRYPT_VECTOR]],
    ['no version', (() => { const v = scryptVector(); delete v.version; return v; })()],
    ['no crypto', { version: 3 }],
    ['crypto not an object', { version: 3, crypto: 'x' }],
    ['short iv', (() => { const v = scryptVector(); v.crypto.cipherparams = { iv: 'abcd' }; return v; })()],
    ['non-hex ciphertext', (() => { const v = scryptVector(); v.crypto.ciphertext = 'zz'.repeat(32); return v; })()],
    ['odd-length salt', (() => { const v = scryptVector(); v.crypto.kdfparams.salt = 'abc'; return v; })()],
    ['missing salt', (() => { const v = scryptVector(); delete v.crypto.kdfparams.salt; return v; })()],
    ['dklen 16', (() => { const v = scryptVector(); v.crypto.kdfparams.dklen = 16; return v; })()],
    ['n as a string', (() => { const v = scryptVector(); v.crypto.kdfparams.n = '262144'; return v; })()],
    ['n not a power of two', (() => { const v = scryptVector(); v.crypto.kdfparams.n = 1000; return v; })()],
    ['r = 0', (() => { const v = scryptVector(); v.crypto.kdfparams.r = 0; return v; })()],
    ['address not hex', { ...scryptVector(), address: 'nope' }],
  ];
  for (const [name, json] of cases) {
    await rejectsWith(decryptKeystore(json, VECTOR_PASSWORD), 'KEYSTORE_MALFORMED').catch((err: unknown) => {
      throw new Error(`case "${name}": ${(err as Error).message}`);
    });
  }
});

test('unsupported versions and algorithms → KEYSTORE_UNSUPPORTED', async () => {
  const cases: Array<[string, unknown]> = [
    ['version 1', { ...scryptVector(), version: 1 }],
    ['version "3"', { ...scryptVector(), version: '3' }],
    ['aes-128-cbc', (() => { const v = scryptVector(); v.crypto.cipher = 'aes-128-cbc'; return v; })()],
    ['argon2', (() => { const v = scryptVector(); v.crypto.kdf = 'argon2id'; return v; })()],
    ['pbkdf2 with sha512', (() => { const v = JSON.parse(PBKDF2_VECTOR); v.crypto.kdfparams.prf = 'hmac-sha512'; return v; })()],
  ];
  for (const [name, json] of cases) {
    await rejectsWith(decryptKeystore(json, VECTOR_PASSWORD), 'KEYSTORE_UNSUPPORTED').catch((err: unknown) => {
      throw new Error(`case "${name}": ${(err as Error).message}`);
    });
  }
});

test('absurd KDF costs are refused before any work (DoS)', async () => {
  // The yardstick, in this run: one legitimate decryption of the spec vector (scrypt n=2^18, r=1, p=8). A refusal
  // that ran any of the KDF first would cost at least a good part of it; refusals take microseconds.
  const t0 = performance.now();
  await decryptKeystore(scryptVector(), VECTOR_PASSWORD);
  const legit = performance.now() - t0;
  const costly: Array<Record<string, number>> = [
    { n: 2 ** 40 }, // 128 TiB
    { n: 2 ** 21 }, // above the n limit
    { n: 2 ** 20, r: 8 }, // 1 GiB
    { n: 2 ** 18, r: 1, p: 16 * 2 }, // p above its limit
    { n: 2 ** 18, r: 4, p: 16 }, // 2^24 block mixes, minutes of CPU
    { r: 1_000_000 },
  ];
  for (const params of costly) {
    const v = scryptVector();
    Object.assign(v.crypto.kdfparams, params);
    const started = performance.now();
    await rejectsWith(decryptKeystore(v, VECTOR_PASSWORD), 'KEYSTORE_UNSUPPORTED', /too costly/);
    const ms = performance.now() - started;
    assert.ok(ms < legit / 10, `rejecting ${JSON.stringify(params)} took ${ms.toFixed(1)} ms, a legitimate decryption ${legit.toFixed(1)} ms`);
  }
  const pb = JSON.parse(PBKDF2_VECTOR);
  pb.crypto.kdfparams.c = 1e9;
  const started = performance.now();
  await rejectsWith(decryptKeystore(pb, VECTOR_PASSWORD), 'KEYSTORE_UNSUPPORTED');
  const ms = performance.now() - started;
  assert.ok(ms < legit / 10, `rejecting PBKDF2 c=1e9 took ${ms.toFixed(1)} ms, a legitimate decryption ${legit.toFixed(1)} ms`);
});

test('encrypt refuses an invalid key and parameters it would not accept back', async () => {
  await rejectsWith(encryptKeystore(new Uint8Array(32), 'pw', TINY), 'KEY_INVALID');
  await rejectsWith(encryptKeystore(new Uint8Array(31).fill(1), 'pw', TINY), 'KEY_INVALID');
  await rejectsWith(encryptKeystore(KEY, 'pw', { n: 2 ** 22 }), 'BAD_ARGUMENT');
  await rejectsWith(encryptKeystore(KEY, 'pw', { ...TINY, n: 1000 }), 'BAD_ARGUMENT');
  await rejectsWith(encryptKeystore(KEY, 'pw', { ...TINY, iv: new Uint8Array(8) }), 'BAD_ARGUMENT');
});

test('parseKeystore normalises without doing KDF work', () => {
  const parsed = parseKeystore(`{"Crypto":${JSON.stringify(scryptVector().crypto)},"version":3,"address":"0x${VECTOR_ADDRESS.toUpperCase()}"}`);
  assert.equal(parsed.address, VECTOR_ADDRESS);
  assert.equal(parsed.crypto.kdf, 'scrypt');
  throwsWith(() => parseKeystore('[]'), 'KEYSTORE_MALFORMED');
});
