// Compliance, part 2: every refusal has its code and changes nothing; random operation sequences keep
// the audit green. Shared by both stores through runLedgerCompliance (compliance.ts).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { BlyanError, type BlyanErrorCode, isBlyanError } from '../../src/errors.ts';
import { auditLedger } from '../../src/ledger/audit.ts';
import type { Ledger } from '../../src/ledger/ledger.ts';
import type { LedgerStore } from '../../src/ledger/ledgerStore.ts';
import { authorizeMessage, makeQuote, priceOf } from '../../src/ledger/pricing.ts';
import { accountToJson, holdToJson } from '../../src/ledger/stateCodec.ts';
import { SYSTEM } from '../../src/ledger/systemAccounts.ts';
import { type AnyTx, ledgerDomain, signTx } from '../../src/ledger/tx.ts';
import { txFromJson, txToJson } from '../../src/ledger/txCodec.ts';
import { AUTHORITY, bly, DOMAIN, fund, type MakeEnv, nonceOf, PARAMS, sign, T0, user } from './helpers.ts';
import { holdTag, type Model, type Op, op, toTx, USERS } from './ops.ts';

/** Everything a failed submission must leave as it was, read through the store's consistent view. */
export function dumpState(ledger: Ledger<LedgerStore>): Promise<string> {
  return ledger.store.withView(async (v) => {
    const parts: string[] = [String(v.height)];
    for await (const [a, acc] of v.accounts()) parts.push(`${a}=${accountToJson(acc)}`);
    for await (const h of v.holds()) parts.push(holdToJson(h));
    for await (const [k, n] of v.quotas()) parts.push(`${k}=${n}`);
    for await (const k of v.paidRewards()) parts.push(k);
    let postings = 0;
    for await (const _ of v.postings()) postings++;
    parts.push(`postings=${postings}`);
    return parts.sort().join('\n');
  });
}

export function runRuleCompliance(name: string, makeEnv: MakeEnv): void {
  test(`${name}: every bad input has its own code and changes nothing`, async () => {
    const env = await makeEnv();
    const { ledger } = env;
    const alice = user('alice');
    const bob = user('bob');
    const provider = user('provider');
    const stranger = user('stranger');
    const nonce = (u: { addr: `0x${string}` }) => nonceOf(ledger, u.addr);
    const refused = async (tx: AnyTx, code: BlyanErrorCode) => {
      const before = await dumpState(ledger);
      await assert.rejects(ledger.submit(tx), (e) => isBlyanError(e, code) || assert.fail(`expected ${code}, got ${String(e)}`));
      assert.equal(await dumpState(ledger), before, `${code}: state unchanged`);
    };
    try {
      await fund(ledger, alice.addr, bly(10));
      await refused(signTx('Transfer', { from: alice.addr, to: bob.addr, amount: 1n, nonce: await nonce(alice) }, DOMAIN, bob.key), 'LEDGER_BAD_SIGNATURE');
      await refused(signTx('Transfer', { from: alice.addr, to: bob.addr, amount: 1n, nonce: await nonce(alice) }, ledgerDomain(1), alice.key), 'LEDGER_WRONG_CHAIN_ID');
      await refused(signTx('Transfer', { from: alice.addr, to: bob.addr, amount: 1n, nonce: await nonce(alice) }, { ...DOMAIN, name: 'Other' }, alice.key), 'LEDGER_WRONG_DOMAIN');
      const first = sign(alice, 'Transfer', { to: bob.addr, amount: 1n, nonce: await nonce(alice) });
      await ledger.submit(first);
      await refused(first, 'LEDGER_NONCE_REPLAYED');
      await refused(sign(alice, 'Transfer', { to: bob.addr, amount: bly(11), nonce: await nonce(alice) }), 'LEDGER_INSUFFICIENT_FUNDS');
      await refused(sign(alice, 'Transfer', { to: bob.addr, amount: 0n, nonce: await nonce(alice) }), 'LEDGER_BAD_AMOUNT');
      await refused(sign(alice, 'Transfer', { to: bob.addr, amount: 2n ** 128n, nonce: await nonce(alice) }), 'LEDGER_AMOUNT_OVERFLOW');
      const json = txToJson(sign(alice, 'Transfer', { to: bob.addr, amount: 1n, nonce: await nonce(alice) }));
      assert.throws(() => txFromJson({ ...json, message: { ...json.message, amount: '-1' } }), (e) => isBlyanError(e, 'LEDGER_MALFORMED_TX'));
      await refused(sign(stranger, 'Transfer', { to: bob.addr, amount: 1n, nonce: 0n }), 'LEDGER_UNKNOWN_ACCOUNT');
      const now = env.clock.now;
      const stale = makeQuote({ provider: provider.addr, maxTokens: 1000n, now: now - 600_000, ttlMs: 60_000 }, PARAMS);
      await refused(sign(alice, 'Authorize', authorizeMessage(stale, alice.addr, await nonce(alice))), 'LEDGER_QUOTE_EXPIRED');
      const q = makeQuote({ provider: provider.addr, maxTokens: 1000n, now }, PARAMS);
      await ledger.submit(sign(alice, 'Authorize', authorizeMessage(q, alice.addr, await nonce(alice))));
      await refused(sign(provider, 'Capture', { quoteId: q.quoteId, tokensUsed: 1001n, nonce: await nonce(provider) }), 'LEDGER_CAPTURE_EXCEEDS_AUTH');
      await refused(sign(bob, 'Capture', { quoteId: q.quoteId, tokensUsed: 10n, nonce: await nonce(bob) }), 'LEDGER_NOT_AUTHORIZED');
      await refused(sign(alice, 'Release', { quoteId: q.quoteId, nonce: await nonce(alice) }), 'LEDGER_NOT_AUTHORIZED');
      await refused(sign(provider, 'Capture', { quoteId: `0x${'77'.repeat(32)}`, tokensUsed: 1n, nonce: await nonce(provider) }), 'LEDGER_UNKNOWN_HOLD');
      await refused(sign(alice, 'Authorize', { ...authorizeMessage(q, alice.addr, await nonce(alice)), quoteId: `0x${'78'.repeat(32)}`, amount: 1n }), 'LEDGER_BAD_QUOTE');
      await refused(sign(alice, 'Transfer', { to: SYSTEM.escrow, amount: 1n, nonce: await nonce(alice) }), 'LEDGER_RESERVED_ACCOUNT');
      await refused(sign(alice, 'Grant', { to: alice.addr, amount: 1n, nonce: await nonce(alice) }), 'LEDGER_NOT_AUTHORIZED');
      await assert.rejects(ledger.submit(sign(alice, 'Authorize', authorizeMessage(q, alice.addr, await nonce(alice))), { idempotencyKey: 'other' }), (e) =>
        isBlyanError(e, 'LEDGER_DUPLICATE_QUOTE'),
      );
      await ledger.submit(sign(provider, 'Capture', { quoteId: q.quoteId, tokensUsed: 500n, nonce: await nonce(provider) }));
      await refused(sign(provider, 'Release', { quoteId: q.quoteId, nonce: await nonce(provider) }), 'LEDGER_HOLD_STATE');
      assert.equal(priceOf(500n, PARAMS), bly(1) / 2n);
      await auditLedger(ledger.blocks, ledger.store);
    } finally {
      await env.close();
    }
  });

  test(`${name}: random operation sequences leave an audit that passes`, async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(op, { minLength: 1, maxLength: 30 }), async (ops) => {
        const env = await makeEnv();
        try {
          const { ledger } = env;
          const m: Model = { nonces: new Map(), holds: [], sent: [], time: T0 };
          const funding: Op[] = USERS.map((_, i) => ({ t: 'grant', to: i, amount: bly(10) }));
          for (const o of [...funding, ...ops]) {
            env.clock.now = m.time;
            const snap = await ledger.read({ accounts: [...USERS.map((u) => u.addr), AUTHORITY.addr], holds: m.holds.map((h) => h.quoteId) });
            // toTx may add a hold (authorize): its state is read from the snapshot only for holds known before.
            const known = new Set(m.holds.map((h) => h.quoteId));
            const tx = toTx(o, m, (a) => snap.account(a)?.nonce ?? 0n, (q) => (known.has(q) ? holdTag(snap.hold(q), m.time) : undefined));
            if (tx === undefined) continue;
            try {
              await ledger.submit(tx, { idempotencyKey: `k${m.sent.length}-${Math.random()}` });
              m.sent.push(tx);
            } catch (err) {
              assert.ok(err instanceof BlyanError, `typed error, got ${String(err)}`);
            }
          }
          const report = await auditLedger(ledger.blocks, ledger.store);
          assert.equal(report.debits, report.credits);
        } finally {
          await env.close();
        }
      }),
      { numRuns: 12 },
    );
  });
}
