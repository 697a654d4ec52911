/** Sessions, API keys and SIWE nonces with a controlled clock: expiry, revocation and single use. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts';
import { createSiweMessage } from 'viem/siwe';
import { Credentials, SESSION_TTL_MS } from '../../src/api/auth/sessions.ts';
import { NONCE_TTL_MS, SiweNonces } from '../../src/api/auth/siwe.ts';
import { TINY } from '../../src/chain/presets.ts';
import { BlockStore } from '../../src/chain/store.ts';
import { isBlyanError } from '../../src/errors.ts';
import type { Hex20 } from '../../src/ledger/systemAccounts.ts';
import { tempDir } from '../helpers/fixtures.ts';

test('a session expires after its TTL (and says so); API keys keep only their scopes and die when revoked', async () => {
  const t = tempDir();
  const { store } = BlockStore.init(t.dir, TINY);
  try {
    let now = 1_000_000;
    const c = new Credentials(store, () => now);
    const alice = '0x00000000000000000000000000000000000a11ce' as Hex20;
    const s = c.createSession(alice);
    assert.deepEqual(c.session(s.token), { address: alice, expiresAt: now + SESSION_TTL_MS });
    now += SESSION_TTL_MS;
    assert.equal(c.session(s.token), 'expired');
    assert.equal(c.session(s.token), undefined, 'an expired session is removed');
    assert.equal(c.session('made-up'), undefined);

    const k = c.createApiKey(alice, 'app', ['chat', 'chat', 'tx']);
    assert.deepEqual(k.record.scopes, ['chat', 'tx']);
    assert.equal(c.apiKey(k.key)?.address, alice);
    assert.equal(c.revokeApiKey('0x00000000000000000000000000000000000b0b00' as Hex20, k.record.id), false, 'only its owner may revoke a key');
    assert.equal(c.revokeApiKey(alice, k.record.id), true);
    assert.equal(c.apiKey(k.key), undefined);
  } finally {
    await store.close();
    t.cleanup();
  }
});

test('SIWE nonces: single use, bound to their address, expire after 5 minutes', async () => {
  let now = Date.parse('2026-11-30T00:00:00Z');
  const n = new SiweNonces(() => now);
  const account = privateKeyToAccount(generatePrivateKey());
  const addr = account.address.toLowerCase() as Hex20;
  const sign = async (o: ReturnType<SiweNonces['offer']>, address = account.address) => {
    const message = createSiweMessage({ address, chainId: o.chainId, domain: o.domain, nonce: o.nonce, uri: o.uri, version: '1', issuedAt: new Date(o.issuedAt) });
    return { message, signature: await account.signMessage({ message }) };
  };
  const expected = { domain: 'node.test:7777', chainId: 31337 };
  const o1 = n.offer(addr, 'node.test:7777', 'http://node.test:7777', 31337);
  const m1 = await sign(o1);
  assert.equal(await n.verify(m1.message, m1.signature, expected), addr);
  await assert.rejects(n.verify(m1.message, m1.signature, expected), (e) => isBlyanError(e, 'SIWE_BAD_NONCE'));

  const o2 = n.offer(addr, 'node.test:7777', 'http://node.test:7777', 31337);
  const m2 = await sign(o2);
  now += NONCE_TTL_MS;
  await assert.rejects(n.verify(m2.message, m2.signature, expected), (e) => isBlyanError(e, 'SIWE_BAD_NONCE'));

  // A nonce issued to another address.
  const other = privateKeyToAccount(generatePrivateKey());
  const o3 = n.offer(other.address.toLowerCase() as Hex20, 'node.test:7777', 'http://node.test:7777', 31337);
  const m3 = await sign(o3);
  await assert.rejects(n.verify(m3.message, m3.signature, expected), (e) => isBlyanError(e, 'SIWE_INVALID'));
});
