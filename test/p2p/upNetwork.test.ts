/**
 * `blyan up` on the network, as users run it: a seed prints its multiaddr; a new node started with
 * `--bootstrap` syncs the chain from it (`blyan sync status` reports done, `blyan peers` lists the seed,
 * `blyan chain verify` passes); a transaction made on the new node (a ledger follower) reaches the seed, the
 * chain-C producer, by gossip, and the seed's block holds it (test/p2p/ledgerNetwork.test.ts has the rest);
 * a seed does not answer chat.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { startNodeProcess, tinyDataDir, type UpInfo } from '../api/fixture.ts';
import { blyan, blyanJson } from '../helpers/cli.ts';
import { tempDir } from '../helpers/fixtures.ts';
import { until } from '../helpers/until.ts';

const stops: (() => Promise<unknown>)[] = [];
const cleanups: (() => void)[] = [];

after(async () => {
  for (const s of stops) await s();
  for (const c of cleanups) c();
});

/** `blyan up --json` on free loopback ports, stopped after the tests. */
async function up(data: string, args: string[]): Promise<UpInfo> {
  const node = await startNodeProcess(data, { BLYAN_LOG_LEVEL: 'silent' }, ['--p2p-port', '0', ...args]);
  stops.push(node.stop);
  return node.info;
}


test('a seed and a new node: sync, peers, verify, gossip of a new block, roles', async () => {
  const seedDir = tinyDataDir();
  cleanups.push(seedDir.cleanup);
  const seed = await up(seedDir.data, ['--role', 'seed']);
  assert.equal(seed.role, 'seed');
  const addr = seed.p2p?.multiaddrs[0] as string;
  assert.match(addr, /^\/ip4\/127\.0\.0\.1\/tcp\/\d+\/p2p\/\w+$/);
  // A seed serves the chain, not chat.
  assert.equal((await fetch(`${seed.url}/chat`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"prompt":"x"}' })).status, 404);
  assert.equal((await fetch(`${seed.url}/health`)).status, 200);

  const t = tempDir('blyan-join-');
  cleanups.push(t.cleanup);
  const data = join(t.dir, 'data');
  blyanJson(['init', '--preset', 'tiny', '--data', data]);
  const joined = await up(data, ['--bootstrap', addr]);
  const chains = async (url: string) => ((await (await fetch(`${url}/chains`)).json()) as { chain: string; height: number }[]).map((c) => c.height);
  const seedHeights = await chains(seed.url);
  await until('sync', () => blyanJson(['sync', 'status', '--data', data, '--json']) as { done: boolean; heights: Record<string, { local: number }> }, (s) => s.done);
  assert.deepEqual(await chains(joined.url), seedHeights);
  const peers = blyanJson(['peers', '--data', data, '--json']) as { self: { peerId: string }; peers: { peerId: string }[] };
  assert.ok(peers.peers.some((p) => p.peerId === seed.p2p?.peerId), 'the seed is a peer');
  const verify = blyan(['chain', 'verify', '--data', data]);
  assert.equal(verify.code, 0, verify.stderr);
  // The new node can chat with the synced model.
  const chat = await fetch(`${joined.url}/chat`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ prompt: 'To be', maxTokens: 4 }) });
  assert.equal(chat.status, 200);

  // The faucet's Grant made on the new node (a follower) reaches the seed (the producer) by gossip; its block holds it.
  const grant = await fetch(`${joined.url}/faucet`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ address: `0x${'ab'.repeat(20)}` }) });
  assert.equal(grant.status, 200);
  const c = (await chains(joined.url))[2] as number;
  await until('gossip to the seed', () => chains(seed.url), (h) => h[2] === c);

  // Without a running node the CLI says so.
  const idle = tempDir('blyan-idle-');
  cleanups.push(idle.cleanup);
  const r = blyan(['peers', '--data', idle.dir]);
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, /no node is running/);
});

test('a worker started with --experts syncs only those experts (and chain A, the model-wide parts), and its chain verifies', async () => {
  const seedDir = tinyDataDir();
  cleanups.push(seedDir.cleanup);
  const seed = await up(seedDir.data, ['--role', 'seed']);
  const t = tempDir('blyan-worker-');
  cleanups.push(t.cleanup);
  const data = join(t.dir, 'data');
  blyanJson(['init', '--preset', 'tiny', '--data', data]);
  const chosen = ['layer0.expert1', 'layer1.expert0'];
  const worker = await up(data, ['--role', 'worker', '--experts', chosen.join(','), '--bootstrap', seed.p2p?.multiaddrs[0] as string]);
  assert.equal(worker.role, 'worker');
  await until('sync', () => blyanJson(['sync', 'status', '--data', data, '--json']) as { done: boolean }, (s) => s.done);
  const names = async (url: string) => ((await (await fetch(`${url}/p2p/experts`)).json()) as { experts: { name: string }[] }).experts.map((e) => e.name).filter((n) => /^layer\d+\.expert\d+$/.test(n));
  const all = await names(seed.url);
  assert.ok(all.length > chosen.length, `the seed holds more experts: ${all.join(' ')}`);
  assert.deepEqual((await names(worker.url)).sort(), chosen);
  const verify = blyan(['chain', 'verify', '--data', data]);
  assert.equal(verify.code, 0, verify.stderr);
});
