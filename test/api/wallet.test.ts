/**
 * Ledger and sign-in endpoints against a `blyan up` process on 127.0.0.1: SIWE with viem-signed EIP-4361 messages
 * (replays, wrong domain, wrong chain id and expired sessions refused), sessions and API keys with scopes,
 * balances, the devnet faucet, EIP-712 transactions signed by viem, and the economy endpoints.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts';
import { createSiweMessage } from 'viem/siwe';
import { type Account, jsonCall, signIn as signInAt } from './client.ts';
import { startNodeProcess, tinyDataDir } from './fixture.ts';

let node: Awaited<ReturnType<typeof startNodeProcess>>;
let cleanup: () => void;
let url: string;

before(async () => {
  const d = tinyDataDir();
  cleanup = d.cleanup;
  node = await startNodeProcess(d.data, { BLYAN_LOG_LEVEL: 'silent' });
  url = node.url;
});

after(async () => {
  assert.equal(await node.stop(), 0);
  cleanup();
});

const call = (method: string, path: string, body?: unknown, token?: string, headers: Record<string, string> = {}) => jsonCall(url, method, path, body, token, headers);

async function siweMessage(account: Account, over: Partial<Parameters<typeof createSiweMessage>[0]> = {}): Promise<{ message: string; signature: string }> {
  const n = await call('POST', '/wallet/request_nonce', { address: account.address });
  assert.equal(n.status, 200, JSON.stringify(n.body));
  const o = n.body as { nonce: string; domain: string; uri: string; chainId: number; issuedAt: string; expirationTime: string };
  const message = createSiweMessage({
    address: account.address,
    chainId: o.chainId,
    domain: o.domain,
    nonce: o.nonce,
    uri: o.uri,
    version: '1',
    issuedAt: new Date(o.issuedAt),
    expirationTime: new Date(o.expirationTime),
    statement: 'Sign in to Blyan',
    ...over,
  });
  return { message, signature: await account.signMessage({ message }) };
}

const signIn = (account: Account) => signInAt(url, account);

test('SIWE: a viem-signed EIP-4361 message gives a session; a replay, a forged signer, another domain or chain id are refused', async () => {
  const alice = privateKeyToAccount(generatePrivateKey());
  const signed = await siweMessage(alice);
  const ok = await call('POST', '/wallet/authenticate', signed);
  assert.equal(ok.status, 200, JSON.stringify(ok.body));
  assert.equal(ok.body.address, alice.address);
  const token = ok.body.token as string;
  const me = await call('GET', '/wallet/me', undefined, token);
  assert.equal(me.status, 200);
  assert.equal(me.body.address, alice.address);
  assert.equal(me.body.via, 'session');
  assert.equal(me.body.balance, '0');

  // The same message again: the nonce is spent.
  const replay = await call('POST', '/wallet/authenticate', signed);
  assert.equal(replay.status, 401);
  assert.equal(replay.body.code, 'SIWE_BAD_NONCE');

  // Signed by someone else than the address in the message.
  const mallory = privateKeyToAccount(generatePrivateKey());
  const forged = await siweMessage(alice);
  const byMallory = await call('POST', '/wallet/authenticate', { message: forged.message, signature: await mallory.signMessage({ message: forged.message }) });
  assert.equal(byMallory.status, 400);
  assert.equal(byMallory.body.code, 'SIWE_INVALID');

  // Another domain, another chain id, expired: each refused with a reason.
  const wrongDomain = await siweMessage(alice, { domain: 'evil.example' });
  const d = await call('POST', '/wallet/authenticate', wrongDomain);
  assert.equal(d.body.code, 'SIWE_INVALID');
  assert.match(d.body.message as string, /domain/);
  const wrongChain = await siweMessage(alice, { chainId: 1 });
  const c = await call('POST', '/wallet/authenticate', wrongChain);
  assert.equal(c.body.code, 'SIWE_INVALID');
  assert.match(c.body.message as string, /chain id/);
  const expired = await siweMessage(alice, { expirationTime: new Date(Date.now() - 1000) });
  assert.equal((await call('POST', '/wallet/authenticate', expired)).body.code, 'SIWE_INVALID');

  // A tampered message (statement changed after signing).
  const t = await siweMessage(alice);
  const tampered = await call('POST', '/wallet/authenticate', { message: t.message.replace('Sign in to Blyan', 'Sign in to Blyan!'), signature: t.signature });
  assert.equal(tampered.body.code, 'SIWE_INVALID');

  // Not a SIWE message at all; bad bodies.
  assert.equal((await call('POST', '/wallet/authenticate', { message: 'hello', signature: `0x${'1'.repeat(130)}` })).body.code, 'SIWE_INVALID');
  assert.equal((await call('POST', '/wallet/authenticate', { message: 'hello' })).status, 400);
  assert.equal((await call('POST', '/wallet/request_nonce', { address: '0x1234' })).body.code, 'BAD_ARGUMENT');

  // Bearer tokens: unknown → 401; logged out → 401.
  assert.equal((await call('GET', '/wallet/me', undefined, 'not-a-token')).body.code, 'AUTH_INVALID');
  assert.equal((await call('GET', '/wallet/me')).body.code, 'AUTH_REQUIRED');
  assert.equal((await call('POST', '/wallet/logout', undefined, token)).status, 204);
  assert.equal((await call('GET', '/wallet/me', undefined, token)).status, 401);
});

test('API keys: created by a session with scopes, usable as bearer, limited to their scopes, revocable', async () => {
  const bob = privateKeyToAccount(generatePrivateKey());
  const token = await signIn(bob);
  const created = await call('POST', '/apikeys', { name: 'my app', scopes: ['tx'] }, token);
  assert.equal(created.status, 201, JSON.stringify(created.body));
  const key = created.body.key as string;
  assert.match(key, /^blk_/);
  const me = await call('GET', '/wallet/me', undefined, key);
  assert.equal(me.body.address, bob.address);
  assert.equal(me.body.via, 'apiKey');
  // No "chat" scope: chat is forbidden with this key.
  const chat = await call('POST', '/chat', { prompt: 'To be', maxTokens: 2 }, key);
  assert.equal(chat.status, 403);
  assert.equal(chat.body.code, 'AUTH_FORBIDDEN');
  // A key cannot mint keys.
  assert.equal((await call('POST', '/apikeys', { name: 'x', scopes: ['chat'] }, key)).status, 401);
  const list = await call('GET', '/apikeys', undefined, token);
  assert.equal((list.body as unknown as unknown[]).length, 1);
  assert.equal((await call('DELETE', `/apikeys/${created.body.id as string}`, undefined, token)).status, 204);
  assert.equal((await call('GET', '/wallet/me', undefined, key)).body.code, 'AUTH_INVALID');
  assert.equal((await call('POST', '/apikeys', { name: 'x', scopes: ['root'] }, token)).body.code, 'BAD_ARGUMENT');
});

test('faucet, balance, and a viem-signed Transfer through POST /tx; replays and tampering refused', async () => {
  const carol = privateKeyToAccount(generatePrivateKey());
  const dave = privateKeyToAccount(generatePrivateKey());
  const f = await call('POST', '/faucet', { address: carol.address });
  assert.equal(f.status, 200, JSON.stringify(f.body));
  const grant = BigInt(f.body.amount as string);
  assert.ok(grant > 0n);
  assert.equal((await call('POST', '/faucet', { address: carol.address })).body.code, 'RATE_LIMITED');
  const bal = await call('GET', `/wallet/balance/${carol.address}`);
  assert.deepEqual([bal.body.address, bal.body.balance], [carol.address, grant.toString()]);

  const eip = await call('GET', '/wallet/eip712');
  const domain = eip.body.domain as { name: string; version: string; chainId: number };
  const types = eip.body.types as Record<string, { name: string; type: string }[]>;
  assert.equal(domain.chainId, (await call('GET', '/health')).body.chainId);
  const nonce = BigInt((await call('GET', `/wallet/nonce/${carol.address}`)).body.nonce as string);
  const amount = grant / 4n;
  const message = { from: carol.address, to: dave.address, amount, nonce };
  const signature = await carol.signTypedData({ domain, types: { Transfer: types.Transfer as { name: string; type: string }[] }, primaryType: 'Transfer', message });
  const wire = { from: carol.address, to: dave.address, amount: amount.toString(), nonce: nonce.toString() };

  // One changed field: refused, nothing moves.
  const tampered = await call('POST', '/tx', { type: 'Transfer', message: { ...wire, amount: (amount + 1n).toString() }, signature });
  assert.equal(tampered.status, 400);
  assert.equal(tampered.body.code, 'LEDGER_BAD_SIGNATURE');
  const wrongChain = await call('POST', '/tx', { type: 'Transfer', message: wire, signature, domain: { ...domain, chainId: 1 } });
  assert.equal(wrongChain.body.code, 'LEDGER_WRONG_CHAIN_ID');

  const sent = await call('POST', '/tx', { type: 'Transfer', message: wire, signature });
  assert.equal(sent.status, 200, JSON.stringify(sent.body));
  assert.match(sent.body.txId as string, /^0x[0-9a-f]{64}$/);
  assert.equal((await call('GET', `/wallet/balance/${dave.address}`)).body.balance, amount.toString());
  assert.equal((await call('GET', `/wallet/balance/${carol.address}`)).body.balance, (grant - amount).toString());
  const replay = await call('POST', '/tx', { type: 'Transfer', message: wire, signature });
  assert.equal(replay.status, 409);
  assert.equal(replay.body.code, 'LEDGER_NONCE_REPLAYED');

  // More than the balance: 402 and nothing moves.
  const n2 = BigInt((await call('GET', `/wallet/nonce/${carol.address}`)).body.nonce as string);
  const big = { from: carol.address, to: dave.address, amount: grant * 10n, nonce: n2 };
  const sig2 = await carol.signTypedData({ domain, types: { Transfer: types.Transfer as { name: string; type: string }[] }, primaryType: 'Transfer', message: big });
  const broke = await call('POST', '/tx', { type: 'Transfer', message: { ...big, amount: big.amount.toString(), nonce: n2.toString() }, signature: sig2 });
  assert.equal(broke.status, 402);
  assert.equal(broke.body.code, 'LEDGER_INSUFFICIENT_FUNDS');
  assert.equal((await call('GET', `/wallet/balance/${carol.address}`)).body.balance, (grant - amount).toString());

  // Malformed input.
  assert.equal((await call('POST', '/tx', { type: 'Nope', message: wire, signature })).body.code, 'LEDGER_MALFORMED_TX');
  assert.equal((await call('POST', '/tx', { type: 'Transfer', message: { ...wire, amount: '-5' }, signature })).body.code, 'LEDGER_MALFORMED_TX');
  assert.equal((await call('POST', '/tx', { type: 'Transfer', message: wire, signature: '0x12' })).status, 400);

  // The economy adds up: issued = users + staked + escrow + pools + burned.
  const s = (await call('GET', '/economy/supply')).body as Record<string, string>;
  const parts = ['users', 'staked', 'escrow', 'rewardPool', 'validationPool', 'treasury', 'burned'].map((k) => BigInt(s[k] as string));
  assert.equal(parts.reduce((a, b) => a + b, 0n), BigInt(s.issued as string));
  assert.equal(((await call('GET', '/economy/leaderboard')).body as unknown as unknown[]).length, 0);
  const rw = await call('GET', `/economy/rewards/user/${carol.address}`);
  assert.deepEqual([rw.body.total, (rw.body.rewards as unknown[]).length], ['0', 0]);
});
