/**
 * Two `blyan up` processes on one PostgreSQL ledger (a service deployment): a grant made through one node
 * is spendable through the other, a paid answer on one is charged once and seen by both, chain C is
 * mirrored into both block stores, and the audit of the shared ledger passes.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts';
import { blyanJson } from '../helpers/cli.ts';
import { type PgServer, startPostgres } from '../helpers/postgres.ts';
import { jsonCall, signedQuote, signIn } from './client.ts';
import { startNodeProcess, TEXT, tinyDataDir } from './fixture.ts';

let pgServer: PgServer;
let ledgerUrl: string;
const dirs: { data: string; cleanup: () => void }[] = [];
const nodes: Awaited<ReturnType<typeof startNodeProcess>>[] = [];

before(async () => {
  pgServer = await startPostgres();
  ledgerUrl = await pgServer.createDatabase('shared_ledger');
  for (let i = 0; i < 2; i++) {
    const d = tinyDataDir({ maxPositions: 256 });
    dirs.push(d);
    nodes.push(await startNodeProcess(d.data, { BLYAN_LOG_LEVEL: 'silent', BLYAN_LEDGER_URL: ledgerUrl }));
  }
});

after(async () => {
  for (const n of nodes) await n.stop();
  for (const d of dirs) d.cleanup();
  pgServer?.stop();
});

const call = (base: string, method: string, path: string, body?: unknown, token?: string) => jsonCall(base, method, path, body, token);

test('one ledger behind two nodes: grant on A, paid answer on B, both see the same balances and chain C', async () => {
  const [a, b] = nodes.map((n) => n.url) as [string, string];
  const alice = privateKeyToAccount(generatePrivateKey());
  const grant = await call(a, 'POST', '/faucet', { address: alice.address });
  assert.equal(grant.status, 200, JSON.stringify(grant.body));
  const granted = BigInt(grant.body.amount as string);
  assert.equal((await call(b, 'GET', `/wallet/balance/${alice.address}`)).body.balance, granted.toString());

  // Sign in and pay on B.
  const token = await signIn(b, alice);
  const q = await signedQuote(b, alice, token, 5000);
  const signature = q.signature;
  const r = await call(b, 'POST', '/chat', { prompt: TEXT, maxTokens: 10, quoteId: q.quoteId, signature }, token);
  assert.equal(r.status, 200, JSON.stringify(r.body));
  const charged = BigInt((r.body.cost as { charged: string }).charged);
  assert.ok(charged > 0n);
  for (const base of [a, b]) assert.equal((await call(base, 'GET', `/wallet/balance/${alice.address}`)).body.balance, (granted - charged).toString());

  // Both block stores mirror chain C from the database.
  const heightOf = async (base: string) => ((await (await fetch(`${base}/chains`)).json()) as { chain: string; height: number }[]).find((c) => c.chain === 'C')?.height;
  let ha = await heightOf(a);
  let hb = await heightOf(b);
  for (let i = 0; i < 100 && (ha !== hb || (ha ?? 0) < 3); i++) {
    await new Promise((res) => setTimeout(res, 100));
    ha = await heightOf(a);
    hb = await heightOf(b);
  }
  assert.equal(ha, hb);
  assert.ok((ha ?? 0) >= 3, 'genesis, the grant, the authorize and the capture');
  assert.deepEqual((await call(a, 'GET', '/economy/supply')).body, (await call(b, 'GET', '/economy/supply')).body);

  const report = blyanJson(['ledger', 'audit', '--data', (dirs[0] as { data: string }).data, '--ledger-url', ledgerUrl, '--json']) as { debits: string; credits: string };
  assert.equal(report.debits, report.credits);
});
