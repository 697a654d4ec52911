/**
 * A ledger hand-over on a running network (docs/ledger.md §9.4, src/node/ledgerRole.ts): a producer seed and a
 * follower, both in automatic mode; a params block on chain A names the follower the producer from a second later.
 * Without a restart, the old producer follows from then on and the named node produces once the grace has passed:
 * a transfer through either lands in a block the new producer authored, both agree on chain C, and each data dir
 * records the mode its node now runs in (for the CLI).
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts';
import { readLedgerMode } from '../../src/node/ledgerMode.ts';
import { LEDGER_HANDOVER_GRACE_MS } from '../../src/node/ledgerRole.ts';
import { jsonCall, postTransfer } from '../api/client.ts';
import { startNodeProcess, tinyDataDir } from '../api/fixture.ts';
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
}

const get = async (base: string, path: string) => (await jsonCall(base, 'GET', path)).body;
const status = async (base: string) => (await get(base, '/ledger/status')) as unknown as LedgerStatus;
const heights = async (base: string) => ((await (await fetch(`${base}/chains`)).json()) as { chain: string; height: number }[]).map((c) => c.height);

test('a params block hands chain C over while both nodes run: the named follower produces, the old producer follows', async () => {
  const env = { BLYAN_LOG_LEVEL: 'silent' };
  const seedDir = tinyDataDir();
  cleanups.push(seedDir.cleanup);
  const seed = await startNodeProcess(seedDir.data, env, ['--p2p-port', '0']);
  stops.push(seed.stop);
  const t = tempDir('blyan-handover-');
  cleanups.push(t.cleanup);
  const data = join(t.dir, 'data');
  blyanJson(['init', '--preset', 'tiny', '--data', data]);
  const follower = await startNodeProcess(data, env, ['--p2p-port', '0', '--bootstrap', seed.info.p2p?.multiaddrs[0] as string]);
  stops.push(follower.stop);
  assert.deepEqual([seed.info.ledger, follower.info.ledger], ['producer', 'follower']);
  const [s, f] = [seed.url, follower.url];
  const seedHeights = await heights(s);
  await until('sync', () => heights(f), (h) => JSON.stringify(h) === JSON.stringify(seedHeights));
  const oldKey = ((await get(s, '/wallet/eip712')).provider as string).toLowerCase();
  const newKey = ((await get(f, '/wallet/eip712')).provider as string).toLowerCase();

  const alice = privateKeyToAccount(generatePrivateKey());
  const bob = privateKeyToAccount(generatePrivateKey());
  const grant = await jsonCall(f, 'POST', '/faucet', { address: alice.address });
  assert.equal(grant.status, 200, JSON.stringify(grant.body));
  assert.equal((await status(s)).producer, oldKey);

  // The hand-over: a params block written on the seed's data dir while it runs (its announcer gossips it).
  const set = blyanJson<{ activeFrom: number }>(['ledger', 'set-params', '--producer', newKey, '--active-in', '1', '--data', seedDir.data]);
  await until('the old producer follows', () => status(s), (st) => st.mode === 'follower');
  assert.ok(Date.now() >= set.activeFrom, 'not before the hand-over');
  await until('the named node produces', () => status(f), (st) => st.mode === 'producer');
  assert.ok(Date.now() >= set.activeFrom + LEDGER_HANDOVER_GRACE_MS, 'after the grace');

  // Through the old producer (forwarded), then through the new one: both in the new producer's blocks.
  const granted = BigInt(grant.body.amount as string);
  const first = await postTransfer(s, alice, bob.address, granted / 4n);
  assert.equal(first.status, 200, JSON.stringify(first.body));
  assert.equal(first.body.block, (grant.body.block as number) + 1);
  const second = await postTransfer(f, alice, bob.address, granted / 4n);
  assert.equal(second.status, 200, JSON.stringify(second.body));
  assert.equal(second.body.block, (grant.body.block as number) + 2);
  await until('heads agree', async () => [(await status(s)).head, (await status(f)).head], ([a, b]) => a === b);
  for (const base of [s, f]) {
    const st = await status(base);
    assert.equal(st.producer, newKey, `${base}: the head is the new producer's block`);
    assert.equal(BigInt((await get(base, `/wallet/balance/${bob.address}`)).balance as string), granted / 2n);
  }
  const authors = ((await get(f, `/chains/C/blocks?from=${grant.body.block as number}&limit=3`)).blocks as { author: string }[]).map((b) => b.author.toLowerCase());
  assert.deepEqual(authors, [oldKey, newKey, newKey]);
  assert.deepEqual([readLedgerMode(seedDir.data), readLedgerMode(data)], ['follower', 'producer']);
});
