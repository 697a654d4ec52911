/**
 * Chain C on a network of `blyan up` processes (docs/ledger.md §9.4): a seed started without bootstrap peers
 * produces chain C; a node that joins it follows. Transactions submitted to the follower (a faucet grant, a
 * viem-signed Transfer, a paid chat's Authorize and Capture) reach the producer by gossip and land in its
 * blocks once; both nodes then show the same balances and chain-C head, the follower authored no block, and
 * `blyan ledger audit` passes on both data dirs. With the producer stopped, the follower answers a
 * transaction and a paid chat with 503 LEDGER_PRODUCER_UNREACHABLE and moves nothing.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts';
import { jsonCall, postTransfer, signedQuote, signIn } from '../api/client.ts';
import { startNodeProcess, TEXT, tinyDataDir } from '../api/fixture.ts';
import { blyanJson } from '../helpers/cli.ts';
import { tempDir } from '../helpers/fixtures.ts';
import { until } from '../helpers/until.ts';

const stops: (() => Promise<unknown>)[] = [];
const cleanups: (() => void)[] = [];

after(async () => {
  for (const s of stops) await s();
  for (const c of cleanups) c();
});

interface LedgerStatus {
  mode: string;
  height: number;
  head: string | null;
  producer: string | null;
  waiting: number | null;
  mempool: { pending: number; included: number } | null;
}

const get = async (base: string, path: string) => (await jsonCall(base, 'GET', path)).body;
const status = async (base: string) => (await get(base, '/ledger/status')) as unknown as LedgerStatus;
const balance = async (base: string, a: string) => BigInt((await get(base, `/wallet/balance/${a}`)).balance as string);
const heights = async (base: string) => ((await (await fetch(`${base}/chains`)).json()) as { chain: string; height: number }[]).map((c) => c.height);

test('a producer seed and a follower: transactions on the follower land once in the producer’s chain C; paid chat charged once; producer down → 503', async (ctx) => {
  const seedDir = tinyDataDir({ maxPositions: 256 });
  cleanups.push(seedDir.cleanup);
  const env = { BLYAN_LOG_LEVEL: 'silent' };
  const seed = await startNodeProcess(seedDir.data, env, ['--p2p-port', '0']);
  stops.push(seed.stop);
  assert.equal(seed.info.ledger, 'producer', 'a node that starts a network produces chain C');
  const addr = seed.info.p2p?.multiaddrs[0] as string;

  const t = tempDir('blyan-follow-');
  cleanups.push(t.cleanup);
  const data = join(t.dir, 'data');
  blyanJson(['init', '--preset', 'tiny', '--data', data]);
  const TIMEOUT_S = 4;
  const follower = await startNodeProcess(data, { ...env, BLYAN_LEDGER_TIMEOUT: String(TIMEOUT_S) }, ['--p2p-port', '0', '--bootstrap', addr]);
  stops.push(follower.stop);
  assert.equal(follower.info.ledger, 'follower', 'a node that joins follows');
  const [s, f] = [seed.url, follower.url];

  // The follower syncs the chain (the model included) from the seed.
  const seedHeights = await heights(s);
  await until('sync', () => heights(f), (h) => JSON.stringify(h) === JSON.stringify(seedHeights));
  await until('sync done', () => get(f, '/p2p/sync'), (x) => x.done === true);
  const producerKey = ((await get(s, '/wallet/eip712')).provider as string).toLowerCase();
  const followerKey = ((await get(f, '/wallet/eip712')).provider as string).toLowerCase();
  assert.notEqual(producerKey, followerKey);
  const s0 = await status(s);
  const f0 = await status(f);
  assert.deepEqual([s0.mode, f0.mode], ['producer', 'follower']);
  assert.equal(f0.head, s0.head);

  // A faucet grant and a signed Transfer through the follower.
  const alice = privateKeyToAccount(generatePrivateKey());
  const bob = privateKeyToAccount(generatePrivateKey());
  const grant = await jsonCall(f, 'POST', '/faucet', { address: alice.address });
  assert.equal(grant.status, 200, JSON.stringify(grant.body));
  const granted = BigInt(grant.body.amount as string);
  const tTransfer = Date.now();
  const sent = await postTransfer(f, alice, bob.address, granted / 40n);
  ctx.diagnostic(`a Transfer through the follower took ${Date.now() - tTransfer} ms (forwarded, batched, block back)`);
  assert.equal(sent.status, 200, JSON.stringify(sent.body));
  assert.equal(sent.body.block, (grant.body.block as number) + 1);
  // The follower answered once the producer's block reached it: its state already shows the transfer.
  for (const base of [f, s]) {
    await until(`balances on ${base}`, () => balance(base, bob.address), (b) => b === granted / 40n);
    assert.equal(await balance(base, alice.address), granted - granted / 40n);
  }
  assert.equal((await status(f)).head, (await status(s)).head, 'the same chain-C head');

  // A paid chat on the follower: Authorize, answer, Capture — charged once, on both nodes.
  const token = await signIn(f, alice);
  const q = await signedQuote(f, alice, token, 5000);
  assert.equal(q.offer.free, false);
  const beforeChat = await balance(f, alice.address);
  const tChat = Date.now();
  const chat = await jsonCall(f, 'POST', '/chat', { prompt: TEXT, maxTokens: 8, seed: 1, quoteId: q.quoteId, signature: q.signature }, token);
  assert.equal(chat.status, 200, JSON.stringify(chat.body));
  ctx.diagnostic(`a paid chat on the follower (Authorize and Capture through the producer) took ${Date.now() - tChat} ms`);
  const charged = BigInt((chat.body.cost as { charged: string }).charged);
  const burned = BigInt((chat.body.cost as { burned: string }).burned);
  assert.ok(charged > 0n);
  assert.match((chat.body.receipt as { captureTx: string }).captureTx, /^0x[0-9a-f]{64}$/);
  await until('heads agree', async () => [(await status(s)).head, (await status(f)).head], ([a, b]) => a === b);
  for (const base of [s, f]) {
    assert.equal(await balance(base, alice.address), beforeChat - charged, `charged once on ${base}`);
    assert.equal(await balance(base, followerKey), charged - burned, `the follower (provider) credited once on ${base}`);
    assert.equal((await get(base, '/economy/supply')).escrow, '0');
  }
  assert.deepEqual(await get(s, '/economy/supply'), await get(f, '/economy/supply'));

  // Every chain-C block after the genesis is the producer's; the follower produced none.
  const blocks = (await get(f, '/chains/C/blocks?from=0&limit=100')).blocks as { index: number; author: string }[];
  assert.ok(blocks.length >= 5, 'genesis, grant, transfer, authorize, capture');
  for (const b of blocks.slice(1)) assert.equal(b.author.toLowerCase(), producerKey, `C:${b.index} was produced by the seed`);
  assert.equal((await status(f)).producer, producerKey);
  const seedStatus = await status(s);
  assert.equal(seedStatus.mempool?.pending, 0);
  assert.ok((seedStatus.mempool?.included ?? 0) >= 4, 'the follower’s transactions came through the producer’s mempool');

  // The producer goes away: the follower refuses with a typed 503 after its timeout and moves nothing.
  const height = (await status(f)).height;
  assert.equal(await seed.stop(), 0);
  const aliceBefore = await balance(f, alice.address);
  const t0 = Date.now();
  const lost = await postTransfer(f, alice, bob.address, 1n);
  assert.equal(lost.status, 503, JSON.stringify(lost.body));
  assert.equal(lost.body.code, 'LEDGER_PRODUCER_UNREACHABLE');
  assert.match(lost.body.message as string, /seed reachable/);
  assert.ok(Date.now() - t0 >= TIMEOUT_S * 1000 - 500, 'it waited for the producer first');
  const q2 = await signedQuote(f, alice, token, 5000);
  const unpaid = await jsonCall(f, 'POST', '/chat', { prompt: TEXT, maxTokens: 4, quoteId: q2.quoteId, signature: q2.signature }, token);
  assert.equal(unpaid.status, 503, JSON.stringify(unpaid.body));
  assert.equal(unpaid.body.code, 'LEDGER_PRODUCER_UNREACHABLE');
  assert.equal(await balance(f, alice.address), aliceBefore, 'no partial state: nothing moved');
  assert.equal((await get(f, '/economy/supply')).escrow, '0');
  const fStatus = await status(f);
  assert.deepEqual([fStatus.height, fStatus.waiting], [height, 0]);
  assert.equal(await follower.stop(), 0);

  // The audit passes on both data dirs, over the same chain C.
  const audits = [seedDir.data, data].map((d) => blyanJson(['ledger', 'audit', '--data', d]) as { ok: boolean; height: number; transactions: number });
  for (const a of audits) assert.equal(a.ok, true);
  assert.deepEqual(
    audits.map((a) => [a.height, a.transactions]),
    [
      [height, 4],
      [height, 4],
    ],
    'grant, transfer, authorize, capture: each once',
  );
});
