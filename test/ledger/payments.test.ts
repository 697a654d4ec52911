import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isBlyanError } from '../../src/errors.ts';
import { auditLedger } from '../../src/ledger/audit.ts';
import { trustLevelOf } from '../../src/ledger/freeTier.ts';
import { authorizeMessage, burnOf, makeQuote, priceOf } from '../../src/ledger/pricing.ts';
import { deltaRewardAmount, deltaRewardMessage, usageRewardAmount } from '../../src/ledger/rewards.ts';
import { SYSTEM } from '../../src/ledger/systemAccounts.ts';
import { AUTHORITY, bly, freshLedger, fund, PARAMS, sign, user } from './helpers.ts';

const alice = user('alice');
const provider = user('provider');

test('quote → authorize → capture credits the provider, burns 1%, returns the rest; retries charge once', async () => {
  const env = freshLedger();
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
    assert.equal(ledger.store.account(alice.addr)?.balance, bly(3), 'charged once');
    assert.equal(ledger.store.account(SYSTEM.escrow)?.balance, bly(2));

    const cap = sign(provider, 'Capture', { quoteId: q.quoteId, tokensUsed: 1500n, nonce: 0n });
    const c1 = await ledger.submit(cap);
    const c2 = await ledger.submit(sign(provider, 'Capture', { quoteId: q.quoteId, tokensUsed: 1500n, nonce: 1n }));
    assert.deepEqual(c1, c2);
    const fee = priceOf(1500n, PARAMS);
    const burn = burnOf(fee, PARAMS);
    assert.equal(burn, fee / 100n);
    assert.equal(ledger.store.account(provider.addr)?.balance, fee - burn);
    assert.equal(ledger.store.account(SYSTEM.burn)?.balance, burn);
    assert.equal(ledger.store.account(alice.addr)?.balance, bly(5) - fee);
    assert.equal(ledger.store.account(SYSTEM.escrow)?.balance, 0n);
    assert.equal(ledger.store.hold(q.quoteId)?.state, 'credited');
    // a conflicting use of the key (another signer) is refused
    await assert.rejects(ledger.submit(sign(alice, 'Capture', { quoteId: q.quoteId, tokensUsed: 1n, nonce: 2n })), (e) => isBlyanError(e, 'LEDGER_IDEMPOTENCY_CONFLICT'));
    // refund part of it
    await ledger.submit(sign(provider, 'Refund', { quoteId: q.quoteId, amount: bly(1), nonce: 2n }));
    await assert.rejects(ledger.submit(sign(provider, 'Refund', { quoteId: q.quoteId, amount: fee, nonce: 3n })), (e) => isBlyanError(e, 'LEDGER_BAD_AMOUNT'));
    assert.equal(ledger.store.hold(q.quoteId)?.state, 'refunded');

    // failed inference: the provider releases everything
    const q2 = makeQuote({ provider: provider.addr, maxTokens: 1000n, now: env.clock.now }, PARAMS);
    await ledger.submit(sign(alice, 'Authorize', authorizeMessage(q2, alice.addr, 2n)));
    const before = ledger.store.account(alice.addr)?.balance ?? 0n;
    await ledger.submit(sign(provider, 'Release', { quoteId: q2.quoteId, nonce: 4n }));
    assert.equal(ledger.store.account(alice.addr)?.balance, before + bly(1));
    // expiry: capture refused, the user reclaims
    const q3 = makeQuote({ provider: provider.addr, maxTokens: 1000n, now: env.clock.now, ttlMs: 1000 }, PARAMS);
    await ledger.submit(sign(alice, 'Authorize', authorizeMessage(q3, alice.addr, 3n)));
    env.clock.now += 2000;
    await assert.rejects(ledger.submit(sign(provider, 'Capture', { quoteId: q3.quoteId, tokensUsed: 1n, nonce: 5n })), (e) => isBlyanError(e, 'LEDGER_QUOTE_EXPIRED'));
    await ledger.submit(sign(alice, 'Release', { quoteId: q3.quoteId, nonce: 4n }));
    assert.equal(ledger.store.hold(q3.quoteId)?.state, 'released');
    const report = auditLedger(env.store, ledger.store);
    assert.equal(report.debits, report.credits);
    assert.equal(ledger.store.history(alice.addr).length > 0, true);
  } finally {
    await env.close();
  }
});

test('1,000 concurrent charges against one account funded for 300: no overdraft, retries charged once', async () => {
  const env = freshLedger({ maxBatch: 128 });
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
    assert.equal(ledger.store.account(alice.addr)?.balance, 0n);
    assert.equal(ledger.store.account(SYSTEM.escrow)?.balance, price * 300n);
    // retry after commit: same receipts, still no charge
    const again = await Promise.allSettled(txs.slice(0, 50).map((tx) => ledger.submit(tx)));
    assert.equal(again.filter((r) => r.status === 'fulfilled').length, 50);
    assert.equal(ledger.store.account(alice.addr)?.balance, 0n);
    auditLedger(env.store, ledger.store);
  } finally {
    await env.close();
  }
});

test('free tier: 5 requests a day for a new address, reset the next day, counted with the hold', async () => {
  const env = freshLedger();
  try {
    const { ledger } = env;
    const newbie = user('newbie');
    assert.equal(trustLevelOf(undefined, PARAMS), 'new');
    const free = (n: number) => sign(newbie, 'Authorize', authorizeMessage(makeQuote({ provider: provider.addr, maxTokens: 100n, now: env.clock.now, free: true }, PARAMS), newbie.addr, BigInt(n)));
    for (let i = 0; i < 5; i++) await ledger.submit(free(i));
    await assert.rejects(ledger.submit(free(5)), (e) => isBlyanError(e, 'LEDGER_FREE_QUOTA_EXCEEDED'));
    env.clock.now += 86_400_000;
    await ledger.submit(free(6));
    // a free capture charges nothing
    const q = makeQuote({ provider: provider.addr, maxTokens: 100n, now: env.clock.now, free: true }, PARAMS);
    await ledger.submit(sign(newbie, 'Authorize', authorizeMessage(q, newbie.addr, 7n)));
    await ledger.submit(sign(provider, 'Capture', { quoteId: q.quoteId, tokensUsed: 100n, nonce: 0n }));
    assert.equal(ledger.store.account(provider.addr)?.balance ?? 0n, 0n);
    assert.equal(trustLevelOf({ balance: 0n, nonce: 0n, stake: bly(1000), rewards: 0n }, PARAMS), 'trusted');
    assert.equal(PARAMS.freeTier.dailyQuota.trusted, 500);
    auditLedger(env.store, ledger.store);
  } finally {
    await env.close();
  }
});

test('rewards: delta records paid once by improvement, usage factors capped, validators per epoch, pools never negative', async () => {
  const env = freshLedger();
  try {
    const { ledger } = env;
    const miner = user('miner');
    const record = { miner: miner.addr, model: `0x${'0a'.repeat(32)}`, component: 'layer0.expert1', improvementPpm: 20_000n, deltaBlock: `0x${'0b'.repeat(32)}` } as const;
    await ledger.submit(sign(AUTHORITY, 'DeltaReward', deltaRewardMessage(record, AUTHORITY.addr, 0n)));
    assert.equal(ledger.store.account(miner.addr)?.balance, bly(20));
    assert.equal(ledger.store.account(miner.addr)?.rewards, bly(20));
    await assert.rejects(ledger.submit(sign(AUTHORITY, 'DeltaReward', deltaRewardMessage(record, AUTHORITY.addr, 1n))), (e) => isBlyanError(e, 'LEDGER_ALREADY_PAID'));
    assert.equal(deltaRewardAmount(10_000_000n, PARAMS), PARAMS.rewards.deltaCap);
    await assert.rejects(ledger.submit(sign(miner, 'DeltaReward', deltaRewardMessage({ ...record, deltaBlock: `0x${'0c'.repeat(32)}` }, miner.addr, 0n))), (e) => isBlyanError(e, 'LEDGER_NOT_AUTHORIZED'));

    const capped = usageRewardAmount({ usage: 10n ** 12n, speedPpm: 10n ** 9n, qualityPpm: 10n ** 9n, recencyPpm: 10n ** 9n }, PARAMS);
    const r = PARAMS.rewards;
    assert.equal(capped, (r.usageBase * r.usageCapPpm * r.speedCapPpm * r.qualityCapPpm * r.recencyCapPpm) / 10n ** 24n);
    const epoch = BigInt(Math.floor(env.clock.now / PARAMS.rewards.epochMs)) - 1n;
    const usage = { host: miner.addr, expert: 'layer0.expert1', epoch, usage: 5000n, speedPpm: 1_000_000n, qualityPpm: 1_000_000n, recencyPpm: 1_000_000n };
    await ledger.submit(sign(AUTHORITY, 'UsageReward', { ...usage, nonce: 2n }));
    await assert.rejects(ledger.submit(sign(AUTHORITY, 'UsageReward', { ...usage, nonce: 3n })), (e) => isBlyanError(e, 'LEDGER_ALREADY_PAID'));
    const vals = [user('v1').addr, user('v2').addr, user('v3').addr];
    await ledger.submit(sign(AUTHORITY, 'ValidatorReward', { epoch, validators: vals, nonce: 4n }));
    assert.equal(ledger.store.account(vals[0] as `0x${string}`)?.balance, PARAMS.rewards.validatorPerEpoch / 3n);
    await assert.rejects(ledger.submit(sign(AUTHORITY, 'ValidatorReward', { epoch: epoch + 1n, validators: vals, nonce: 5n })), (e) => isBlyanError(e, 'LEDGER_MALFORMED_TX'));
    auditLedger(env.store, ledger.store);
  } finally {
    await env.close();
  }
});

test('a reward pool smaller than the payout refuses it and never goes negative', async () => {
  const params = { ...PARAMS, genesis: { ...PARAMS.genesis, rewardPool: bly(15), validationPool: 2n } };
  const env = freshLedger({ params });
  try {
    const { ledger } = env;
    const miner = user('miner');
    const rec = (i: number, ppm: bigint) => ({ miner: miner.addr, model: `0x${'0a'.repeat(32)}`, component: 'c', improvementPpm: ppm, deltaBlock: `0x${i.toString(16).padStart(64, '0')}` }) as const;
    await ledger.submit(sign(AUTHORITY, 'DeltaReward', deltaRewardMessage(rec(1, 10_000n), AUTHORITY.addr, 0n)));
    await assert.rejects(ledger.submit(sign(AUTHORITY, 'DeltaReward', deltaRewardMessage(rec(2, 10_000n), AUTHORITY.addr, 1n))), (e) => isBlyanError(e, 'LEDGER_POOL_EXHAUSTED'));
    assert.equal(ledger.store.account(SYSTEM.rewardPool)?.balance, bly(5));
    const epoch = BigInt(Math.floor(env.clock.now / PARAMS.rewards.epochMs)) - 1n;
    await assert.rejects(ledger.submit(sign(AUTHORITY, 'ValidatorReward', { epoch, validators: [miner.addr], nonce: 2n })), (e) => isBlyanError(e, 'LEDGER_POOL_EXHAUSTED'));
    assert.equal(ledger.store.account(SYSTEM.validationPool)?.balance, 2n);
    auditLedger(env.store, ledger.store);
  } finally {
    await env.close();
  }
});
