/**
 * Prices from chain A: `blyan ledger set-params` appends a params block signed by the ledger authority; from
 * its activeFrom on, quotes, charges, the burn and the audit all use it; handing authority to another
 * address takes the faucet away from the genesis authority. A running node follows without a restart.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts';
import { blyan, blyanJson } from '../helpers/cli.ts';
import { jsonCall, signedQuote, signIn } from './client.ts';
import { startNodeProcess, TEXT, tinyDataDir } from './fixture.ts';

let node: Awaited<ReturnType<typeof startNodeProcess>>;
let cleanup: () => void;
let data: string;
let url: string;

before(async () => {
  const d = tinyDataDir({ maxPositions: 256 });
  cleanup = d.cleanup;
  data = d.data;
  node = await startNodeProcess(d.data, { BLYAN_LOG_LEVEL: 'silent' });
  url = node.url;
});

after(async () => {
  await node.stop();
  cleanup();
});

const call = (method: string, path: string, body?: unknown, token?: string) => jsonCall(url, method, path, body, token);

test('a params block changes the price and the burn for quotes, charges and the audit', async () => {
  const before = (await call('GET', '/economy/params')).body as { now: { block: string | null; params: { pricing: { perKiloToken: string } } } };
  assert.equal(before.now.block, null, 'the preset is in force at first');
  assert.equal(before.now.params.pricing.perKiloToken, (10n ** 18n).toString());

  const set = blyanJson(['ledger', 'set-params', '--price-per-1k', '3', '--burn-bps', '1000', '--active-in', '0', '--data', data, '--json']) as { block: string; params: { pricing: { perKiloToken: string; burnBps: string } } };
  assert.equal(set.params.pricing.perKiloToken, (3n * 10n ** 18n).toString());
  const shown = blyanJson(['ledger', 'params', '--data', data, '--json']) as { now: { block: string } };
  assert.equal(shown.now.block, set.block);
  const viaApi = (await call('GET', '/economy/params')).body as { now: { block: string } };
  assert.equal(viaApi.now.block, set.block, 'the running node sees the new chain-A block');

  const alice = privateKeyToAccount(generatePrivateKey());
  assert.equal((await call('POST', '/faucet', { address: alice.address })).status, 200);
  const token = await signIn(url, alice);
  const { offer, quoteId, signature } = await signedQuote(url, alice, token, 5000);
  const q = offer as typeof offer & { pricePer1kTokens: string; burnBps: string };
  assert.equal(q.amount, (5000n * 3n * 10n ** 15n).toString());
  assert.equal(q.burnBps, '1000');
  const r = await call('POST', '/chat', { prompt: TEXT, maxTokens: 8, quoteId, signature }, token);
  assert.equal(r.status, 200, JSON.stringify(r.body));
  const usage = r.body.usage as { totalTokens: number };
  const cost = r.body.cost as { charged: string; burned: string };
  const fee = BigInt(usage.totalTokens) * 3n * 10n ** 15n;
  assert.deepEqual([cost.charged, cost.burned], [fee.toString(), (fee / 10n).toString()]);

  // Hand the ledger authority to a new address: the genesis authority can no longer grant.
  const validator = privateKeyToAccount(generatePrivateKey());
  blyanJson(['ledger', 'set-params', '--authorities', validator.address, '--active-in', '0', '--data', data, '--json']);
  const refused = await call('POST', '/faucet', { address: privateKeyToAccount(generatePrivateKey()).address });
  assert.equal(refused.status, 403, JSON.stringify(refused.body));
  assert.equal(refused.body.code, 'LEDGER_NOT_AUTHORIZED');
  // And the genesis authority can no longer change the parameters either.
  const again = blyan(['ledger', 'set-params', '--price-per-1k', '1', '--active-in', '0', '--data', data]);
  assert.notEqual(again.code, 0);
  assert.match(again.stderr, /LEDGER_NOT_AUTHORIZED/);

  // The audit replays every block with the parameters in force at its time.
  const report = blyanJson(['ledger', 'audit', '--data', data, '--json']) as { debits: string; credits: string; burned: string };
  assert.equal(report.debits, report.credits);
  assert.equal(report.burned, (fee / 10n).toString());
});
