// The ledger compliance suite: one body of behaviours that every LedgerStore must show, run on LMDB
// (compliance.lmdb.test.ts) and on PostgreSQL (compliance.pg.test.ts). Everything goes through the
// Ledger's asynchronous API, the one both stores share.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isBlyanError } from '../../src/errors.ts';
import { auditLedger } from '../../src/ledger/audit.ts';
import { trustLevelOf } from '../../src/ledger/freeTier.ts';
import type { Ledger } from '../../src/ledger/ledger.ts';
import type { LedgerStore } from '../../src/ledger/ledgerStore.ts';
import { authorizeMessage, burnOf, makeQuote, priceOf } from '../../src/ledger/pricing.ts';
import { deltaRewardAmount, deltaRewardMessage, usageRewardAmount } from '../../src/ledger/rewards.ts';
import { type Hex20, SYSTEM } from '../../src/ledger/systemAccounts.ts';
import { runRuleCompliance } from './complianceRules.ts';
import { AUTHORITY, bly, fund, type MakeEnv, PARAMS, sign, user } from './helpers.ts';

const alice = user('alice');
const provider = user('provider');

const balanceOf = async (l: Ledger<LedgerStore>, a: Hex20) => (await l.account(a))?.balance;
export const audit = (l: Ledger<LedgerStore>) => auditLedger(l.blocks, l.store);

export function runLedgerCompliance(name: string, makeEnv: MakeEnv): void {
  test(`${name}: quote → authorize → capture credits the provider, burns 1%, returns the rest; retries charge once`, async () => {
    const env = await makeEnv();
    try {
      const { ledger } = env;
      await fund(ledger, alice.addr, bly(5));
      const q = makeQuote({ provider: provider.addr, maxTokens: 2000n, now: env.clock.now }, PARAMS);
      assert.equal(q.amount, bly(2));
      const auth = sign(alice, 'Authorize', authorizeMessage(q, alice.addr, 0n));
      const [r1, r2] = await Promise.all([ledger.submit(auth), ledger.submit(auth)]);
      assert.deepEqual(r1, r2, 'concurrent retry returns the same result');
      const r3 = await ledger.submit(sign(alice, 'Authorize', authorizeMessage(q, alice.addr, 1n)));
      assert.deepEqual(r3, r1, 'a re-signed retry with the same quote id returns the first result');
      assert.equal(await balanceOf(ledger, alice.addr), bly(3), 'charged once');
      assert.equal(await balanceOf(ledger, SYSTEM.escrow), bly(2));

      const c1 = await ledger.submit(sign(provider, 'Capture', { quoteId: q.quoteId, tokensUsed: 1500n, nonce: 0n }));
      const c2 = await ledger.submit(sign(provider, 'Capture', { quoteId: q.quoteId, tokensUsed: 1500n, nonce: 1n }));
      assert.deepEqual(c1, c2);
      const fee = priceOf(1500n, PARAMS);
      const burn = burnOf(fee, PARAMS);
      assert.equal(burn, fee / 100n);
      assert.equal(await balanceOf(ledger, provider.addr), fee - burn);
      assert.equal(await balanceOf(ledger, SYSTEM.burn), burn);
      assert.equal(await balanceOf(ledger, alice.addr), bly(5) - fee);
      assert.equal(await balanceOf(ledger, SYSTEM.escrow), 0n);
      assert.equal((await ledger.hold(q.quoteId))?.state, 'credited');
      await assert.rejects(ledger.submit(sign(alice, 'Capture', { quoteId: q.quoteId, tokensUsed: 1n, nonce: 2n })), (e) => isBlyanError(e, 'LEDGER_IDEMPOTENCY_CONFLICT'));
      await ledger.submit(sign(provider, 'Refund', { quoteId: q.quoteId, amount: bly(1), nonce: 2n }));
      await assert.rejects(ledger.submit(sign(provider, 'Refund', { quoteId: q.quoteId, amount: fee, nonce: 3n })), (e) => isBlyanError(e, 'LEDGER_BAD_AMOUNT'));
      assert.equal((await ledger.hold(q.quoteId))?.state, 'refunded');

      // failed inference: the provider releases everything
      const q2 = makeQuote({ provider: provider.addr, maxTokens: 1000n, now: env.clock.now }, PARAMS);
      await ledger.submit(sign(alice, 'Authorize', authorizeMessage(q2, alice.addr, 2n)));
      const before = (await balanceOf(ledger, alice.addr)) ?? 0n;
      await ledger.submit(sign(provider, 'Release', { quoteId: q2.quoteId, nonce: 4n }));
      assert.equal(await balanceOf(ledger, alice.addr), before + bly(1));
      // expiry: capture refused, the user reclaims
      const q3 = makeQuote({ provider: provider.addr, maxTokens: 1000n, now: env.clock.now, ttlMs: 1000 }, PARAMS);
      await ledger.submit(sign(alice, 'Authorize', authorizeMessage(q3, alice.addr, 3n)));
      env.clock.now += 2000;
      await assert.rejects(ledger.submit(sign(provider, 'Capture', { quoteId: q3.quoteId, tokensUsed: 1n, nonce: 5n })), (e) => isBlyanError(e, 'LEDGER_QUOTE_EXPIRED'));
      await ledger.submit(sign(alice, 'Release', { quoteId: q3.quoteId, nonce: 4n }));
      assert.equal((await ledger.hold(q3.quoteId))?.state, 'released');
      const report = await audit(ledger);
      assert.equal(report.debits, report.credits);
      // history: newest first, both sides of the account's postings
      const hist = await ledger.history(alice.addr);
      assert.deepEqual(
        hist.slice(0, 3).map((p) => [p.kind, p.from === alice.addr ? 'out' : 'in']),
        [
          ['release', 'in'],
          ['authorize', 'out'],
          ['release', 'in'],
        ],
      );
      assert.ok(hist.every((p, i) => i === 0 || (hist[i - 1]?.block ?? 0) * 1e6 + (hist[i - 1]?.seq ?? 0) > p.block * 1e6 + p.seq), 'newest first');
      assert.equal((await ledger.history(alice.addr, 2)).length, 2);
    } finally {
      await env.close();
    }
  });

  test(`${name}: 1,000 concurrent charges against one account funded for 300: no overdraft, retries charged once`, async () => {
    const env = await makeEnv({ maxBatch: 128 });
    try {
      const { ledger } = env;
      const price = priceOf(1000n, PARAMS);
      await fund(ledger, alice.addr, price * 300n);
      const quotes = Array.from({ length: 1000 }, (_, i) =>
        makeQuote({ provider: provider.addr, maxTokens: 1000n, now: env.clock.now, quoteId: `0x${i.toString(16).padStart(64, '0')}` }, PARAMS),
      );
      const txs = quotes.map((q, i) => sign(alice, 'Authorize', authorizeMessage(q, alice.addr, BigInt(i))));
      // every charge submitted twice, interleaved: the retry must never charge again
      const results = await Promise.allSettled([...txs, ...txs].map((tx) => ledger.submit(tx)));
      const ok = results.filter((r) => r.status === 'fulfilled').length;
      const failed = results.filter((r) => r.status === 'rejected');
      assert.equal(ok, 600, '300 charges succeed, each returned twice');
      for (const f of failed) assert.ok(isBlyanError((f as PromiseRejectedResult).reason, 'LEDGER_INSUFFICIENT_FUNDS'));
      assert.equal(await balanceOf(ledger, alice.addr), 0n);
      assert.equal(await balanceOf(ledger, SYSTEM.escrow), price * 300n);
      // retry after commit: same receipts, still no charge
      const again = await Promise.allSettled(txs.slice(0, 50).map((tx) => ledger.submit(tx)));
      assert.equal(again.filter((r) => r.status === 'fulfilled').length, 50);
      assert.deepEqual(
        again.map((r) => (r as PromiseFulfilledResult<unknown>).value),
        results.slice(0, 50).map((r) => (r as PromiseFulfilledResult<unknown>).value),
        'the stored receipts',
      );
      assert.equal(await balanceOf(ledger, alice.addr), 0n);
      await audit(ledger);
    } finally {
      await env.close();
    }
  });

  test(`${name}: a caller's idempotency key makes a re-signed retry of a transfer charge once`, async () => {
    const env = await makeEnv();
    try {
      const { ledger } = env;
      const bob = user('bob');
      await fund(ledger, alice.addr, bly(5));
      const first = await ledger.submit(sign(alice, 'Transfer', { to: bob.addr, amount: bly(2), nonce: 0n }), { idempotencyKey: 'pay-bob-1' });
      // The client lost the answer and signed again with the next nonce: same key, same receipt, no second charge.
      const retry = await ledger.submit(sign(alice, 'Transfer', { to: bob.addr, amount: bly(2), nonce: 1n }), { idempotencyKey: 'pay-bob-1' });
      assert.deepEqual(retry, first);
      assert.equal(await balanceOf(ledger, bob.addr), bly(2));
      // Without a key the second signature is a second payment.
      await ledger.submit(sign(alice, 'Transfer', { to: bob.addr, amount: bly(2), nonce: 1n }));
      assert.equal(await balanceOf(ledger, bob.addr), bly(4));
      await assert.rejects(ledger.submit(sign(bob, 'Transfer', { to: alice.addr, amount: 1n, nonce: 0n }), { idempotencyKey: 'pay-bob-1' }), (e) =>
        isBlyanError(e, 'LEDGER_IDEMPOTENCY_CONFLICT'),
      );
      await audit(ledger);
    } finally {
      await env.close();
    }
  });

  test(`${name}: free tier: 5 requests a day for a new address, reset the next day, counted with the hold`, async () => {
    const env = await makeEnv();
    try {
      const { ledger } = env;
      const newbie = user('newbie');
      assert.equal(trustLevelOf(undefined, PARAMS), 'new');
      const free = (n: number) =>
        sign(newbie, 'Authorize', authorizeMessage(makeQuote({ provider: provider.addr, maxTokens: 100n, now: env.clock.now, free: true }, PARAMS), newbie.addr, BigInt(n)));
      // all six at once: the quota check and the count are one step, so exactly five pass
      const six = await Promise.allSettled([0, 1, 2, 3, 4, 5].map((n) => ledger.submit(free(n))));
      assert.equal(six.filter((r) => r.status === 'fulfilled').length, 5);
      assert.ok(isBlyanError((six[5] as PromiseRejectedResult).reason, 'LEDGER_FREE_QUOTA_EXCEEDED'));
      env.clock.now += 86_400_000;
      await ledger.submit(free(6));
      const q = makeQuote({ provider: provider.addr, maxTokens: 100n, now: env.clock.now, free: true }, PARAMS);
      await ledger.submit(sign(newbie, 'Authorize', authorizeMessage(q, newbie.addr, 7n)));
      await ledger.submit(sign(provider, 'Capture', { quoteId: q.quoteId, tokensUsed: 100n, nonce: 0n }));
      assert.equal((await balanceOf(ledger, provider.addr)) ?? 0n, 0n, 'a free capture charges nothing');
      const snap = await ledger.read({ quotaAddrs: [newbie.addr] });
      assert.equal(snap.quotaUsed(newbie.addr, Math.floor(env.clock.now / 86_400_000)), 2);
      await audit(ledger);
    } finally {
      await env.close();
    }
  });

  test(`${name}: rewards paid once, usage factors capped, validators per epoch`, async () => {
    const env = await makeEnv();
    try {
      const { ledger } = env;
      const miner = user('miner');
      const record = { miner: miner.addr, model: `0x${'0a'.repeat(32)}`, component: 'layer0.expert1', improvementPpm: 20_000n, deltaBlock: `0x${'0b'.repeat(32)}` } as const;
      await ledger.submit(sign(AUTHORITY, 'DeltaReward', deltaRewardMessage(record, AUTHORITY.addr, 0n)));
      assert.equal(await balanceOf(ledger, miner.addr), bly(20));
      assert.equal((await ledger.account(miner.addr))?.rewards, bly(20));
      assert.equal(await ledger.rewardPaid(`delta/${record.deltaBlock}`), true);
      await assert.rejects(ledger.submit(sign(AUTHORITY, 'DeltaReward', deltaRewardMessage(record, AUTHORITY.addr, 1n))), (e) => isBlyanError(e, 'LEDGER_ALREADY_PAID'));
      assert.equal(deltaRewardAmount(10_000_000n, PARAMS), PARAMS.rewards.deltaCap);
      await assert.rejects(ledger.submit(sign(miner, 'DeltaReward', deltaRewardMessage({ ...record, deltaBlock: `0x${'0c'.repeat(32)}` }, miner.addr, 0n))), (e) =>
        isBlyanError(e, 'LEDGER_NOT_AUTHORIZED'),
      );
      const capped = usageRewardAmount({ usage: 10n ** 12n, speedPpm: 10n ** 9n, qualityPpm: 10n ** 9n, recencyPpm: 10n ** 9n }, PARAMS);
      const r = PARAMS.rewards;
      assert.equal(capped, (r.usageBase * r.usageCapPpm * r.speedCapPpm * r.qualityCapPpm * r.recencyCapPpm) / 10n ** 24n);
      const epoch = BigInt(Math.floor(env.clock.now / PARAMS.rewards.epochMs)) - 1n;
      const usage = { host: miner.addr, expert: 'layer0.expert1', epoch, usage: 5000n, speedPpm: 1_000_000n, qualityPpm: 1_000_000n, recencyPpm: 1_000_000n };
      await ledger.submit(sign(AUTHORITY, 'UsageReward', { ...usage, nonce: 2n }));
      await assert.rejects(ledger.submit(sign(AUTHORITY, 'UsageReward', { ...usage, nonce: 3n })), (e) => isBlyanError(e, 'LEDGER_ALREADY_PAID'));
      const vals = [user('v1').addr, user('v2').addr, user('v3').addr];
      await ledger.submit(sign(AUTHORITY, 'ValidatorReward', { epoch, validators: vals, nonce: 4n }));
      assert.equal(await balanceOf(ledger, vals[0] as Hex20), PARAMS.rewards.validatorPerEpoch / 3n);
      await assert.rejects(ledger.submit(sign(AUTHORITY, 'ValidatorReward', { epoch: epoch + 1n, validators: vals, nonce: 5n })), (e) =>
        isBlyanError(e, 'LEDGER_MALFORMED_TX'),
      );
      await audit(ledger);
    } finally {
      await env.close();
    }
  });

  test(`${name}: a reward pool smaller than the payout refuses it and never goes negative`, async () => {
    const params = { ...PARAMS, genesis: { ...PARAMS.genesis, rewardPool: bly(15), validationPool: 2n } };
    const env = await makeEnv({ params });
    try {
      const { ledger } = env;
      const miner = user('miner');
      const rec = (i: number, ppm: bigint) =>
        ({ miner: miner.addr, model: `0x${'0a'.repeat(32)}`, component: 'c', improvementPpm: ppm, deltaBlock: `0x${i.toString(16).padStart(64, '0')}` }) as const;
      await ledger.submit(sign(AUTHORITY, 'DeltaReward', deltaRewardMessage(rec(1, 10_000n), AUTHORITY.addr, 0n)));
      await assert.rejects(ledger.submit(sign(AUTHORITY, 'DeltaReward', deltaRewardMessage(rec(2, 10_000n), AUTHORITY.addr, 1n))), (e) =>
        isBlyanError(e, 'LEDGER_POOL_EXHAUSTED'),
      );
      assert.equal(await balanceOf(ledger, SYSTEM.rewardPool), bly(5));
      const epoch = BigInt(Math.floor(env.clock.now / PARAMS.rewards.epochMs)) - 1n;
      await assert.rejects(ledger.submit(sign(AUTHORITY, 'ValidatorReward', { epoch, validators: [miner.addr], nonce: 2n })), (e) => isBlyanError(e, 'LEDGER_POOL_EXHAUSTED'));
      assert.equal(await balanceOf(ledger, SYSTEM.validationPool), 2n);
      await audit(ledger);
    } finally {
      await env.close();
    }
  });

  runRuleCompliance(name, makeEnv);
}
