import assert from 'node:assert/strict';
import { test } from 'node:test';
import { secp256k1 as noble } from '@noble/curves/secp256k1.js';
import { addressFromPublicKey } from '../../src/chain/address.ts';
import { sha256 } from '../../src/chain/hash.ts';
import { allBackends } from '../../src/chain/secp256k1Backend.ts';

// One suite for every native implementation (system libsecp256k1 addon and the bundled fallback),
// checked against @noble/curves as an independent reference.
const N = 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141n;

function hex(b: Uint8Array): string {
  return Buffer.from(b).toString('hex');
}

test('the system addon is built (CI installs libsecp256k1-dev)', () => {
  assert.ok(allBackends().some((b) => b.name === 'system'), 'native/secp256k1_addon.c was not built: run `npm run build:native`');
});

for (const backend of allBackends()) {
  test(`${backend.name}: public keys and RFC 6979 signatures match noble`, () => {
    for (let i = 1; i <= 20; i++) {
      const key = sha256(new TextEncoder().encode(`key ${i}`));
      const msg = sha256(new TextEncoder().encode(`msg ${i}`));
      const pub = backend.publicKeyCreate(key);
      assert.ok(pub !== null);
      assert.equal(hex(pub), hex(noble.getPublicKey(key, false)));
      const sig = backend.sign(msg, key);
      const ref = noble.sign(msg, key, { prehash: false, format: 'recovered' });
      // noble's recovered format is recid ‖ r ‖ s
      assert.equal(hex(sig.subarray(0, 64)), hex(ref.subarray(1)));
      assert.equal(sig[64], ref[0]);
      assert.equal(backend.sigShape(sig.subarray(0, 64)), 0);
      assert.equal(hex(backend.recover(sig.subarray(0, 64), sig[64]!, msg)!), hex(pub));
      const parsed = backend.parsePublicKey(pub);
      assert.ok(parsed !== null);
      assert.equal(backend.verifyParsed(sig.subarray(0, 64), msg, parsed), true);
      const otherMsg = sha256(msg);
      assert.equal(backend.verifyParsed(sig.subarray(0, 64), otherMsg, parsed), false);
      const rec = backend.recover(sig.subarray(0, 64), sig[64]!, otherMsg);
      assert.ok(rec === null || hex(addressFromPublicKey(rec)) !== hex(addressFromPublicKey(pub)));
    }
  });

  test(`${backend.name}: malformed inputs are reported, not thrown`, () => {
    const key = sha256(new TextEncoder().encode('k'));
    const msg = sha256(new TextEncoder().encode('m'));
    const sig = backend.sign(msg, key);
    // high-s twin: s' = n - s
    const s = BigInt(`0x${hex(sig.subarray(32, 64))}`);
    const high = Uint8Array.from(sig.subarray(0, 64));
    high.set(Buffer.from((N - s).toString(16).padStart(64, '0'), 'hex'), 32);
    assert.equal(backend.sigShape(high), 2);
    const overflow = new Uint8Array(64).fill(0xff);
    assert.equal(backend.sigShape(overflow), 1);
    assert.equal(backend.recover(overflow, 0, msg), null);
    assert.equal(backend.publicKeyCreate(new Uint8Array(32)), null, 'zero is not a private key');
    assert.equal(backend.publicKeyCreate(new Uint8Array(32).fill(0xff)), null, 'n or above is not a private key');
    const notOnCurve = new Uint8Array(65);
    notOnCurve[0] = 4;
    notOnCurve[64] = 7;
    assert.equal(backend.parsePublicKey(notOnCurve), null);
    assert.throws(() => backend.sign(msg, new Uint8Array(32)));
  });
}
