import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { test } from 'node:test';
import { secp256k1 as noble } from '@noble/curves/secp256k1.js';
import { addressFromPublicKey } from '../../src/chain/address.ts';
import { sha256 } from '../../src/chain/hash.ts';
import { allBackends, nativeSha256Into } from '../../src/chain/secp256k1Backend.ts';

// One suite for every native implementation (system libsecp256k1 addon and the bundled fallback),
// checked against @noble/curves as an independent reference.
const N = 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141n;

function hex(b: Uint8Array): string {
  return Buffer.from(b).toString('hex');
}

test('the system addon is built (CI installs libsecp256k1-dev)', () => {
  assert.ok(allBackends().some((b) => b.name === 'system'), 'native/secp256k1_addon.c was not built: run `npm run build:native`');
});

test('the addon\'s SHA-256 (block ids, signing digests) equals node:crypto\'s at every length around the block size', () => {
  const sha256Into = nativeSha256Into();
  assert.ok(sha256Into !== undefined, 'the system addon is built with sha256Into');
  const out = new Uint8Array(32);
  const data = Uint8Array.from({ length: 4200 }, (_, i) => (i * 131 + 7) & 0xff);
  for (const n of [0, 1, 31, 32, 55, 56, 63, 64, 65, 67, 119, 120, 128, 231, 1000, 4096, 4161, 4200]) {
    const part = data.subarray(4200 - n); // a view at an offset, as record subarrays are
    sha256Into(part, out);
    assert.equal(hex(out), createHash('sha256').update(part).digest('hex'), `${n} bytes`);
  }
  assert.throws(() => sha256Into(data, new Uint8Array(31)), TypeError);
  assert.throws(() => sha256Into([1, 2] as unknown as Uint8Array, out), TypeError);
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

  test(`${backend.name}: recoverInto gives recover's key and sigShape's verdicts, with v taken from the signature`, () => {
    const out = new Uint8Array(65);
    for (let i = 1; i <= 10; i++) {
      const key = sha256(new TextEncoder().encode(`key ${i}`));
      const msg = sha256(new TextEncoder().encode(`msg ${i}`));
      const sig = backend.sign(msg, key);
      assert.equal(backend.recoverInto(sig, msg, out), 0);
      assert.equal(hex(out), hex(backend.publicKeyCreate(key)!));
      // The other recovery id names another key (or none): v is part of what is verified.
      const flipped = Uint8Array.from(sig);
      flipped[64] = (sig[64] as number) ^ 1;
      const code = backend.recoverInto(flipped, msg, out);
      assert.ok(code === 4 || (code === 0 && hex(out) !== hex(backend.publicKeyCreate(key)!)));
      for (const v of [2, 3, 27, 255]) {
        flipped[64] = v;
        assert.equal(backend.recoverInto(flipped, msg, out), 3, `v = ${v}`);
      }
    }
    const msg = sha256(new TextEncoder().encode('m'));
    const sig = backend.sign(msg, sha256(new TextEncoder().encode('k')));
    const high = Uint8Array.from(sig);
    high.set(Buffer.from((N - BigInt(`0x${hex(sig.subarray(32, 64))}`)).toString(16).padStart(64, '0'), 'hex'), 32);
    assert.equal(backend.recoverInto(high, msg, out), 2);
    assert.equal(backend.recoverInto(new Uint8Array(65).fill(0xff).fill(0, 64), msg, out), 1);
    assert.equal(backend.recoverInto(new Uint8Array(65), msg, out), 4, 'r = s = 0 parses, and recovers nothing');
    // A well-formed (r, s) whose r is no point's x coordinate: nothing to recover.
    let unrecoverable = 0;
    for (let r = 1; r < 40; r++) {
      const rs = new Uint8Array(65);
      rs[31] = r;
      rs[63] = 1;
      if (backend.recover(rs.subarray(0, 64), 0, msg) !== null) continue;
      assert.equal(backend.recoverInto(rs, msg, out), 4, `r = ${r}`);
      unrecoverable++;
    }
    assert.ok(unrecoverable > 0);
  });
}
