import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { type BlyanErrorCode, isBlyanError } from '../../src/errors.ts';
import { auditLedger } from '../../src/ledger/audit.ts';
import { makeQuote, authorizeMessage, priceOf } from '../../src/ledger/pricing.ts';
import { SYSTEM } from '../../src/ledger/systemAccounts.ts';
import { signTx, type AnyTx } from '../../src/ledger/tx.ts';
import { txFromJson, txToJson } from '../../src/ledger/txCodec.ts';
import { accountToJson, holdToJson } from '../../src/ledger/stateCodec.ts';
import { ledgerDomain } from '../../src/ledger/tx.ts';
import { bly, DOMAIN, freshLedger, fund, PARAMS, sign, user } from './helpers.ts';

const alice = user('alice');
const bob = user('bob');
const provider = user('provider');
const stranger = user('stranger');
let env: ReturnType<typeof freshLedger>;

before(async () => {
  env = freshLedger();
  await fund(env.ledger, alice.addr, bly(10));
});
after(async () => {
  await env.close();
});

/** Everything a failed submission must leave as it was. */
function snapshot(): string {
  const s = env.ledger.store;
  const parts: string[] = [String(s.height()), String(env.store.height('C'))];
  for (const [a, acc] of s.accounts()) parts.push(`${a}=${accountToJson(acc)}`);
  for (const h of s.holds()) parts.push(holdToJson(h));
  for (const [k, v] of s.quotaEntries()) parts.push(`${k}=${v}`);
  return parts.join('\n');
}

async function refused(tx: AnyTx | (() => AnyTx), code: BlyanErrorCode): Promise<void> {
  const before = snapshot();
  await assert.rejects(
    async () => env.ledger.submit(typeof tx === 'function' ? tx() : tx),
    (e) => isBlyanError(e, code) || assert.fail(`expected ${code}, got ${String(e)}`),
  );
  assert.equal(snapshot(), before, `${code}: state unchanged`);
}

const nonceOf = (u: { addr: `0x${string}` }) => env.ledger.store.account(u.addr)?.nonce ?? 0n;

test('every bad input of issue 6 has its own code and changes nothing', async () => {
  // bad signature: signed by bob, claims alice
  const forged = signTx('Transfer', { from: alice.addr, to: bob.addr, amount: 1n, nonce: nonceOf(alice) }, DOMAIN, bob.key);
  await refused(forged, 'LEDGER_BAD_SIGNATURE');
  // wrong chain id, wrong domain
  await refused(signTx('Transfer', { from: alice.addr, to: bob.addr, amount: 1n, nonce: nonceOf(alice) }, ledgerDomain(1), alice.key), 'LEDGER_WRONG_CHAIN_ID');
  await refused(signTx('Transfer', { from: alice.addr, to: bob.addr, amount: 1n, nonce: nonceOf(alice) }, { ...DOMAIN, name: 'Other' }, alice.key), 'LEDGER_WRONG_DOMAIN');
  // replayed nonce
  const first = sign(alice, 'Transfer', { to: bob.addr, amount: 1n, nonce: nonceOf(alice) });
  await env.ledger.submit(first);
  await refused(first, 'LEDGER_NONCE_REPLAYED');
  // insufficient funds
  await refused(sign(alice, 'Transfer', { to: bob.addr, amount: bly(11), nonce: nonceOf(alice) }), 'LEDGER_INSUFFICIENT_FUNDS');
  // zero, negative, overflowing amounts
  await refused(sign(alice, 'Transfer', { to: bob.addr, amount: 0n, nonce: nonceOf(alice) }), 'LEDGER_BAD_AMOUNT');
  await refused(sign(alice, 'Transfer', { to: bob.addr, amount: 2n ** 128n, nonce: nonceOf(alice) }), 'LEDGER_AMOUNT_OVERFLOW');
  const json = txToJson(sign(alice, 'Transfer', { to: bob.addr, amount: 1n, nonce: nonceOf(alice) }));
  assert.throws(() => txFromJson({ ...json, message: { ...json.message, amount: '-1' } }), (e) => isBlyanError(e, 'LEDGER_MALFORMED_TX'));
  assert.throws(() => txFromJson({ ...json, message: { ...json.message, amount: (2n ** 256n).toString() } }), (e) => isBlyanError(e, 'LEDGER_AMOUNT_OVERFLOW'));
  // unknown account
  await refused(sign(stranger, 'Transfer', { to: bob.addr, amount: 1n, nonce: 0n }), 'LEDGER_UNKNOWN_ACCOUNT');
  // expired quote
  const now = env.clock.now;
  const stale = { ...makeQuote({ provider: provider.addr, maxTokens: 1000n, now: now - 600_000, ttlMs: 60_000 }, PARAMS) };
  await refused(sign(alice, 'Authorize', authorizeMessage(stale, alice.addr, nonceOf(alice))), 'LEDGER_QUOTE_EXPIRED');
  // capture above authorization
  const q = makeQuote({ provider: provider.addr, maxTokens: 1000n, now }, PARAMS);
  await env.ledger.submit(sign(alice, 'Authorize', authorizeMessage(q, alice.addr, nonceOf(alice))));
  await refused(sign(provider, 'Capture', { quoteId: q.quoteId, tokensUsed: 1001n, nonce: nonceOf(provider) }), 'LEDGER_CAPTURE_EXCEEDS_AUTH');
  // and the rest of the state machine's refusals
  await refused(sign(bob, 'Capture', { quoteId: q.quoteId, tokensUsed: 10n, nonce: nonceOf(bob) }), 'LEDGER_NOT_AUTHORIZED');
  await refused(sign(alice, 'Release', { quoteId: q.quoteId, nonce: nonceOf(alice) }), 'LEDGER_NOT_AUTHORIZED');
  await refused(sign(provider, 'Capture', { quoteId: `0x${'77'.repeat(32)}`, tokensUsed: 1n, nonce: nonceOf(provider) }), 'LEDGER_UNKNOWN_HOLD');
  await refused(sign(alice, 'Authorize', { ...authorizeMessage(q, alice.addr, nonceOf(alice)), quoteId: `0x${'78'.repeat(32)}`, amount: 1n }), 'LEDGER_BAD_QUOTE');
  await refused(sign(alice, 'Transfer', { to: SYSTEM.escrow, amount: 1n, nonce: nonceOf(alice) }), 'LEDGER_RESERVED_ACCOUNT');
  await refused(sign(alice, 'Grant', { to: alice.addr, amount: 1n, nonce: nonceOf(alice) }), 'LEDGER_NOT_AUTHORIZED');
  // A duplicate quote id submitted under another idempotency key reaches the chain rule.
  await assert.rejects(
    env.ledger.submit(sign(alice, 'Authorize', authorizeMessage(q, alice.addr, nonceOf(alice))), { idempotencyKey: 'other' }),
    (e) => isBlyanError(e, 'LEDGER_DUPLICATE_QUOTE'),
  );
  await env.ledger.submit(sign(provider, 'Capture', { quoteId: q.quoteId, tokensUsed: 500n, nonce: nonceOf(provider) }));
  await refused(sign(provider, 'Release', { quoteId: q.quoteId, nonce: nonceOf(provider) }), 'LEDGER_HOLD_STATE');
  assert.equal(priceOf(500n, PARAMS), bly(1) / 2n);
  auditLedger(env.store, env.ledger.store);
});
