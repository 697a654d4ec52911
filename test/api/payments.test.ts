/**
 * Charges through the API against a real node on 127.0.0.1: a viem-signed quote pays for exactly the tokens
 * produced (POST /chat, SSE, WebSocket); cancelling mid-stream charges only what was produced; a failed
 * answer charges nothing; insufficient balance is a 402 with nothing moved; the free tier runs out with a
 * 429; and the ledger audit passes after all of it. The node is a `blyan up` process.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts';
import WebSocket from 'ws';
import { burnOf, priceOf } from '../../src/ledger/pricing.ts';
import { blyanJson } from '../helpers/cli.ts';
import { type Account, jsonCall, signedQuote as signedQuoteAt, signIn as signInAt, signOffer } from './client.ts';
import { startNodeProcess, TEXT, tinyDataDir } from './fixture.ts';

let node: Awaited<ReturnType<typeof startNodeProcess>>;
let cleanup: () => void;
let url: string;
let data: string;

before(async () => {
  const d = tinyDataDir({ maxPositions: 4096 });
  cleanup = d.cleanup;
  data = d.data;
  node = await startNodeProcess(d.data, { BLYAN_LOG_LEVEL: 'silent', BLYAN_ANON_DAILY_QUOTA: '3' });
  url = node.url;
});

after(async () => {
  assert.equal(await node.stop(), 0, 'the node exits cleanly on SIGTERM');
  cleanup();
});

const call = (method: string, path: string, body?: unknown, token?: string) => jsonCall(url, method, path, body, token);
const signIn = (account: Account) => signInAt(url, account);
const signedQuote = (account: Account, token: string, maxTokens: number) => signedQuoteAt(url, account, token, maxTokens);

const balanceOf = async (a: Account) => BigInt((await call('GET', `/wallet/balance/${a.address}`)).body.balance as string);
const provider = async () => BigInt((await call('GET', `/wallet/balance/${(await call('GET', '/wallet/eip712')).body.provider as string}`)).body.balance as string);
const params = () => ({ pricing: { perKiloToken: 10n ** 18n, burnBps: 100n } }) as Parameters<typeof priceOf>[1];

// A paid quote: more tokens than a free request may have (tiny preset: 4,096).
const PAID = 5000;

async function funded(): Promise<{ account: Account; token: string }> {
  const account = privateKeyToAccount(generatePrivateKey());
  assert.equal((await call('POST', '/faucet', { address: account.address })).status, 200);
  return { account, token: await signIn(account) };
}

test('POST /chat with a signed paid quote: charged exactly the tokens used, 1% burned, receipt names the expert blocks', async () => {
  const { account, token } = await funded();
  const before = await balanceOf(account);
  const providerBefore = await provider();
  const { quoteId, signature, offer } = await signedQuote(account, token, PAID);
  assert.equal(offer.free, false);
  assert.equal(BigInt(offer.amount), priceOf(BigInt(PAID), params()));
  const r = await call('POST', '/chat', { prompt: TEXT, maxTokens: 20, seed: 1, quoteId, signature }, token);
  assert.equal(r.status, 200, JSON.stringify(r.body));
  const usage = r.body.usage as { totalTokens: number; completionTokens: number };
  const cost = r.body.cost as { charged: string; burned: string; free: boolean; tokens: number };
  const fee = priceOf(BigInt(usage.totalTokens), params());
  assert.deepEqual([cost.charged, cost.burned, cost.free, cost.tokens], [fee.toString(), burnOf(fee, params()).toString(), false, usage.totalTokens]);
  assert.equal(await balanceOf(account), before - fee);
  assert.equal((await provider()) - providerBefore, fee - burnOf(fee, params()));
  const receipt = r.body.receipt as { quoteId: string; experts: { expert: string; block: string }[]; captureTx: string };
  assert.equal(receipt.quoteId, quoteId);
  assert.match(receipt.captureTx, /^0x[0-9a-f]{64}$/);
  // Every expert of every token is in the receipt, with its current block.
  const used = new Set((r.body.experts as { expert: string; block: string }[][][]).flat(2).map((e) => `${e.expert}@${e.block}`));
  assert.deepEqual(new Set(receipt.experts.map((e) => `${e.expert}@${e.block}`)), used);
  for (const e of receipt.experts) assert.equal((await fetch(`${url}/blocks/${e.block}`)).status, 200);
  // The same quote cannot pay twice.
  const again = await call('POST', '/chat', { prompt: TEXT, maxTokens: 5, quoteId, signature }, token);
  assert.equal(again.status, 404);
  assert.equal(again.body.code, 'LEDGER_UNKNOWN_HOLD');
});

test('a failed answer after authorize is not charged; insufficient balance is 402; a bad signature charges nothing', async () => {
  const { account, token } = await funded();
  const before = await balanceOf(account);
  // An empty-after-encoding prompt fails inside the engine, after the funds went to escrow: all released.
  const q1 = await signedQuote(account, token, PAID);
  const failed = await call('POST', '/chat', { prompt: '\u{1F600}', maxTokens: 5, quoteId: q1.quoteId, signature: q1.signature }, token);
  assert.equal(failed.status, 400, JSON.stringify(failed.body));
  assert.equal(await balanceOf(account), before);
  assert.equal((await call('GET', '/economy/supply')).body.escrow, '0');

  // A quote bigger than the balance.
  const huge = await signedQuote(account, token, 900_000);
  const broke = await call('POST', '/chat', { prompt: TEXT, maxTokens: 5, quoteId: huge.quoteId, signature: huge.signature }, token);
  assert.equal(broke.status, 402);
  assert.equal(broke.body.code, 'LEDGER_INSUFFICIENT_FUNDS');

  // Signed by another key.
  const q2 = await signedQuote(account, token, PAID);
  const other = privateKeyToAccount(generatePrivateKey());
  const forged = await signOffer(other, q2.offer);
  const bad = await call('POST', '/chat', { prompt: TEXT, maxTokens: 5, quoteId: q2.quoteId, signature: forged }, token);
  assert.equal(bad.body.code, 'LEDGER_BAD_SIGNATURE');
  assert.equal(await balanceOf(account), before);
  // quoteId without signature.
  assert.equal((await call('POST', '/chat', { prompt: TEXT, quoteId: q2.quoteId }, token)).body.code, 'BAD_ARGUMENT');
});

test('a prompt larger than the quote is refused before anything is charged', async () => {
  const { account, token } = await funded();
  const before = await balanceOf(account);
  const q = await signedQuote(account, token, 5);
  assert.equal(q.offer.free, true, 'small quotes of a new address are on the ledger free tier');
  const r = await call('POST', '/chat', { prompt: TEXT, maxTokens: 5, quoteId: q.quoteId, signature: q.signature }, token);
  assert.equal(r.status, 400);
  assert.equal(r.body.code, 'QUOTE_TOO_SMALL');
  assert.equal(await balanceOf(account), before);
});

test('SSE: stream_start carries the quote, tokens the running cost, stream_end the settled cost; cancelling charges only what was produced', async () => {
  const { account, token } = await funded();
  const before = await balanceOf(account);
  const { quoteId, signature } = await signedQuote(account, token, PAID);
  const ctl = new AbortController();
  const qs = new URLSearchParams({ prompt: 'To', maxTokens: '4000', quoteId, signature, seed: '3' });
  const res = await fetch(`${url}/chat/stream?${qs}`, { headers: { authorization: `Bearer ${token}` }, signal: ctl.signal });
  assert.equal(res.status, 200);
  const reader = (res.body as ReadableStream<Uint8Array>).getReader();
  let text = '';
  let tokens = 0;
  let start: { quote: { quoteId: string; free: boolean } } | undefined;
  let lastCost = 0n;
  while (tokens < 5) {
    const { value, done } = await reader.read();
    if (done) break;
    text += Buffer.from(value).toString('utf8');
    for (const block of text.split('\n\n').slice(0, -1)) {
      const ev = /^event: (\w+)/.exec(block)?.[1];
      const data = JSON.parse(block.split('data: ')[1] as string) as Record<string, unknown>;
      if (ev === 'stream_start') start = data as typeof start;
      if (ev === 'token') {
        tokens++;
        const c = BigInt(data.cost as string);
        assert.ok(c >= lastCost, 'the running cost never goes down');
        lastCost = c;
      }
    }
    text = text.slice(text.lastIndexOf('\n\n') + 2);
  }
  assert.equal(start?.quote.quoteId, quoteId);
  assert.equal(start?.quote.free, false);
  assert.ok(lastCost > 0n);
  ctl.abort();
  // The capture lands once the node sees the disconnect; the fee is 10^15 base units per token here.
  let after = await balanceOf(account);
  for (let i = 0; i < 200 && after === before - BigInt(PAID) * 10n ** 15n; i++) {
    await new Promise((r) => setTimeout(r, 25));
    after = await balanceOf(account);
  }
  const charged = before - after;
  assert.equal(charged % 10n ** 15n, 0n);
  const used = Number(charged / 10n ** 15n);
  assert.equal(charged, priceOf(BigInt(used), params()));
  assert.ok(used >= 1 + 5, `charged for at least the prompt and the tokens received (${used})`);
  assert.ok(used < 1 + 4000, `generation stopped early (${used} tokens charged)`);
  assert.equal((await call('GET', '/economy/supply')).body.escrow, '0', 'nothing left in escrow');
});

test('WebSocket: two streams on one socket, one cancelled mid-stream; heartbeat ping/pong; bad frames answered, socket kept', async () => {
  const { account, token } = await funded();
  const before = await balanceOf(account);
  const q = await signedQuote(account, token, PAID);
  const ws = new WebSocket(`${url.replace('http', 'ws')}/ws/chat?token=${token}`);
  await new Promise((r, j) => {
    ws.once('open', r);
    ws.once('error', j);
  });
  const events: Record<string, unknown>[] = [];
  const ended = new Map<string, Record<string, unknown>>();
  let cancelled = false;
  const done = new Promise<void>((resolve) => {
    ws.on('message', (data) => {
      const m = JSON.parse(String(data)) as Record<string, unknown>;
      events.push(m);
      if (m.type === 'token' && m.id === 'b' && !cancelled && (m.tokens as number) >= 3) {
        cancelled = true;
        ws.send(JSON.stringify({ type: 'cancel', id: 'b' }));
      }
      if (m.type === 'end' || (m.type === 'error' && m.id !== null)) ended.set(m.id as string, m);
      if (ended.size === 2) resolve();
    });
  });
  ws.send('not json');
  ws.send(JSON.stringify({ type: 'ping' }));
  ws.send(JSON.stringify({ type: 'start', id: 'a', prompt: TEXT, maxTokens: 8, seed: 1 }));
  ws.send(JSON.stringify({ type: 'start', id: 'b', prompt: 'To', maxTokens: 4000, seed: 2, quoteId: q.quoteId, signature: q.signature }));
  await done;
  ws.close();
  assert.ok(events.some((e) => e.type === 'error' && e.id === null && e.code === 'BAD_JSON'));
  assert.ok(events.some((e) => e.type === 'pong'));
  const a = ended.get('a') as { finishReason: string; usage: { completionTokens: number }; cost: { free: boolean; charged: string } };
  assert.equal(a.usage.completionTokens, 8);
  assert.deepEqual([a.cost.free, a.cost.charged], [true, '0']);
  const b = ended.get('b') as { finishReason: string; usage: { totalTokens: number; completionTokens: number }; cost: { charged: string } };
  assert.equal(b.finishReason, 'cancelled');
  assert.ok(b.usage.completionTokens < 4000);
  assert.equal(b.cost.charged, priceOf(BigInt(b.usage.totalTokens), params()).toString());
  assert.equal(await balanceOf(account), before - BigInt(b.cost.charged));
  // Stream a's tokens all carry id "a", b's "b": streams do not mix.
  assert.ok(events.filter((e) => e.type === 'token').every((e) => e.id === 'a' || e.id === 'b'));
});

test('anonymous free tier: a daily quota per IP, then 429 with a way forward; the ledger audit passes', async () => {
  // No earlier test chats anonymously (the WebSocket signs in with ?token=); the quota is 3.
  const results: number[] = [];
  for (let i = 0; i < 4; i++) results.push((await call('POST', '/chat', { prompt: TEXT, maxTokens: 2 })).status);
  assert.deepEqual(results, [200, 200, 200, 429]);
  const r = await call('POST', '/chat', { prompt: TEXT, maxTokens: 2 });
  assert.equal(r.body.code, 'FREE_TIER_EXHAUSTED');
  assert.match(r.body.message as string, /quote/);
  const report = blyanJson(['ledger', 'audit', '--data', data, '--json']) as { debits: string; credits: string };
  assert.equal(report.debits, report.credits);
});
