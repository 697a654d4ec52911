/**
 * `blyan wallet send`, `blyan ledger faucet` and `blyan ledger pay-rewards` on a data dir whose node runs go
 * through that node (POST /tx), so on a network chain C keeps one author (docs/ledger.md §9.4): a seed that
 * produces and a follower, both `blyan up` processes. The node's refusals come out as the same typed CLI errors;
 * on a follower's data dir whose node is down the commands refuse (LEDGER_FOLLOWER_OFFLINE) and write nothing;
 * on a single node's data dir with no node they commit locally as before.
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { formatAddress } from '../../src/chain/address.ts';
import { addressOf } from '../../src/chain/sign.ts';
import { TINY } from '../../src/chain/presets.ts';
import { BlockStore } from '../../src/chain/store.ts';
import { RewardRecords } from '../../src/learning/rewardRecords.ts';
import { GENESIS_AUTHORITY } from '../../src/ledger/params.ts';
import type { Hex20 } from '../../src/ledger/systemAccounts.ts';
import { jsonCall } from '../api/client.ts';
import { startNodeProcess } from '../api/fixture.ts';
import { blyan, blyanJson } from '../helpers/cli.ts';
import { rewardRecord, tempDir } from '../helpers/fixtures.ts';
import { until } from '../helpers/until.ts';
import { user } from '../ledger/helpers.ts';

const stops: (() => Promise<unknown>)[] = [];
const cleanups: (() => void)[] = [];
after(async () => {
  for (const s of stops) await s();
  for (const c of cleanups) c();
});

/** The passphrase startNodeProcess gives the nodes; the CLI unlocks the follower's wallet with it too. */
const ENV = { BLYAN_PASSPHRASE: 'api-test-passphrase' };

interface Receipt {
  txId: string;
  kind: string;
  from: string;
  block: number;
  blockId: string;
  index: number;
}

const get = async (base: string, path: string) => (await jsonCall(base, 'GET', path)).body;
const balance = async (base: string, a: string) => BigInt((await get(base, `/wallet/balance/${a}`)).balance as string);
const cBlocks = async (base: string) => (await get(base, '/chains/C/blocks?from=0&limit=100')).blocks as { index: number; id: string; author: string }[];
const BLY = 10n ** 18n;

/** Exit code 1 with one line `error [CODE]: …` on stderr. */
function assertTypedError(args: string[], code: string, env: Record<string, string> = {}): string {
  const r = blyan(args, env);
  assert.equal(r.code, 1, `${args.join(' ')}: expected ${code}, got ${r.code}: ${r.stdout} ${r.stderr}`);
  assert.match(r.stderr, new RegExp(`^error \\[${code}\\]: `), r.stderr);
  assert.equal(r.stderr.trim().split('\n').length, 1, `one line: ${r.stderr}`);
  return r.stderr;
}

/** Two reward records of the learning loop, as a node that accepted deltas keeps them: a 2% improvement (20 BLY) and none. */
function addRewardRecords(data: string, miner: Hex20): void {
  const store = BlockStore.open(data, TINY);
  try {
    const record = (block: string, improvement: number) => rewardRecord(miner, block, improvement);
    const recs = new RewardRecords(store);
    store.sideDb('learning').transactionSync(() => {
      recs.putSync(record('01'.repeat(32), 0.04), new Uint8Array(32).fill(1), new Uint8Array(32).fill(2));
      recs.putSync(record('02'.repeat(32), 0), new Uint8Array(32).fill(3), new Uint8Array(32).fill(4));
    });
  } finally {
    store.closeSync();
  }
}

function dataDir(prefix: string): string {
  const t = tempDir(prefix);
  cleanups.push(t.cleanup);
  const data = join(t.dir, 'data');
  blyanJson(['init', '--preset', 'tiny', '--data', data]);
  return data;
}

test('on a network, the ledger CLI goes through the running node: one chain-C author; a stopped follower refuses', async () => {
  const seedDir = dataDir('blyan-cli-seed-');
  const seed = await startNodeProcess(seedDir, { BLYAN_LOG_LEVEL: 'silent' }, ['--p2p-port', '0']);
  stops.push(seed.stop);
  assert.equal(seed.info.ledger, 'producer');

  const followerDir = dataDir('blyan-cli-follower-');
  const alice = user('cli-node-alice');
  const aliceAddr = formatAddress(addressOf(alice.key));
  const bob = formatAddress(addressOf(user('cli-node-bob').key));
  const keyFile = join(followerDir, '..', 'alice.key');
  writeFileSync(keyFile, Buffer.from(alice.key).toString('hex'));
  blyanJson(['wallet', 'import', keyFile, '--light-kdf', '--data', followerDir], ENV);
  const miner = user('cli-node-miner').addr;
  addRewardRecords(followerDir, miner);
  const follower = await startNodeProcess(followerDir, { BLYAN_LOG_LEVEL: 'silent', BLYAN_LEDGER_TIMEOUT: '3' }, ['--p2p-port', '0', '--bootstrap', seed.info.p2p?.multiaddrs[0] as string]);
  stops.push(follower.stop);
  assert.equal(follower.info.ledger, 'follower');
  const [s, f] = [seed.url, follower.url];
  await until('the follower synced', () => get(f, '/p2p/sync'), (x) => x.done === true);
  const producerKey = ((await get(s, '/wallet/eip712')).provider as string).toLowerCase();

  // A faucet grant and a transfer on the follower's data dir: through the follower, into the producer's blocks.
  const granted = blyanJson<Receipt>(['ledger', 'faucet', aliceAddr, '10', '--data', followerDir]);
  assert.equal(granted.kind, 'Grant');
  assert.equal(granted.from, GENESIS_AUTHORITY, 'the same --json shape as a local grant (the signer as 0x-hex)');
  assert.equal(granted.block, 1);
  const sent = blyanJson<Receipt & { from: string; to: string; amount: string }>(['wallet', 'send', bob, '2.5', '--data', followerDir], ENV);
  assert.deepEqual([sent.kind, sent.from, sent.to, sent.amount, sent.block], ['Transfer', aliceAddr, bob, '2.5', 2]);
  const text = blyan(['wallet', 'send', bob, '0.5', '--data', followerDir], ENV);
  assert.equal(text.code, 0, text.stderr);
  assert.match(text.stdout, /^sent 0\.5 BLY to 0x[0-9a-fA-F]{40} in block C:3 \(tx 0x[0-9a-f]{64}\)\n$/);
  for (const base of [s, f]) {
    await until(`bob's balance on ${base}`, () => balance(base, bob), (b) => b === 3n * BLY);
    assert.equal(await balance(base, aliceAddr), 7n * BLY);
  }

  // The producer's own data dir, its node running: through it as well (a local grant would be a block signed
  // by the genesis authority, not by the node).
  const onSeed = blyanJson<Receipt>(['ledger', 'faucet', bob, '1', '--data', seedDir]);
  assert.equal(onSeed.block, 4);
  await until('the grant on the follower', () => balance(f, bob), (b) => b === 4n * BLY);
  const blocks = await cBlocks(f);
  assert.deepEqual(blocks.map((b) => b.index), [0, 1, 2, 3, 4]);

  // The node's refusals, typed as they would be locally.
  assertTypedError(['wallet', 'send', bob, '100', '--data', followerDir], 'LEDGER_INSUFFICIENT_FUNDS', ENV);
  assertTypedError(['ledger', 'faucet', '0x00000000000000000000000000000000000000b5', '1', '--data', followerDir], 'LEDGER_RESERVED_ACCOUNT');
  // The learning loop's reward records on the follower's data dir: paid through it, once.
  const paid = blyanJson<{ status: string; error?: string }[]>(['ledger', 'pay-rewards', '--data', followerDir]);
  assert.deepEqual(paid.map((r) => r.status), ['paid', 'refused']);
  assert.match(paid[1]?.error ?? '', /^LEDGER_BAD_AMOUNT: /, 'an improvement too small to earn anything');
  await until('the reward on the producer', () => balance(s, miner), (b) => b === 20n * BLY);
  const again = blyanJson<{ status: string }[]>(['ledger', 'pay-rewards', '--data', followerDir]);
  assert.deepEqual(again.map((r) => r.status), ['already-paid', 'refused']);

  const all = await cBlocks(f);
  assert.deepEqual(all.map((b) => b.index), [0, 1, 2, 3, 4, 5]);
  for (const b of all.slice(1)) assert.equal(b.author.toLowerCase(), producerKey, `C:${b.index} was produced by the seed`);
  assert.deepEqual(await cBlocks(s), all, 'one chain C');

  // The producer goes away: the follower's 503 comes out of the CLI as the same typed error.
  assert.equal(await seed.stop(), 0);
  const unreachable = assertTypedError(['wallet', 'send', bob, '1', '--data', followerDir], 'LEDGER_PRODUCER_UNREACHABLE', ENV);
  assert.match(unreachable, /seed reachable/);

  // The follower stops too: its data dir refuses instead of writing chain C, with or without the wallet.
  assert.equal(await follower.stop(), 0);
  for (const [args, env] of [
    [['wallet', 'send', bob, '1', '--data', followerDir], ENV],
    [['ledger', 'faucet', bob, '1', '--data', followerDir], {}],
    [['ledger', 'pay-rewards', '--data', followerDir], {}],
  ] as const) {
    const msg = assertTypedError([...args], 'LEDGER_FOLLOWER_OFFLINE', env);
    assert.match(msg, /blyan up --data/);
    assert.match(msg, /last ran as a follower/);
  }
  const audit = blyanJson<{ ok: boolean; height: number; transactions: number }>(['ledger', 'audit', '--data', followerDir]);
  assert.deepEqual([audit.ok, audit.height, audit.transactions], [true, 5, 5], 'nothing was written on the follower');
  // A data dir configured as a follower refuses even if its node never ran.
  const configured = dataDir('blyan-cli-configured-');
  writeFileSync(join(configured, 'node.json'), JSON.stringify({ bootstrap: [seed.info.p2p?.multiaddrs[0]] }));
  assert.match(assertTypedError(['ledger', 'faucet', bob, '1', '--data', configured], 'LEDGER_FOLLOWER_OFFLINE'), /bootstrap peers/);

  // The seed's data dir, its node stopped, is a single producer's: the grant is committed locally, as before.
  const local = blyanJson<Receipt>(['ledger', 'faucet', bob, '1', '--data', seedDir]);
  assert.equal(local.block, 6);
  const audited = blyanJson<{ ok: boolean; height: number }>(['ledger', 'audit', '--data', seedDir]);
  assert.deepEqual([audited.ok, audited.height], [true, 6]);
});
