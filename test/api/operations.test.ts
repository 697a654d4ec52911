/**
 * Operating a node: Prometheus metrics, the OpenAPI document and its browsable page (no CDN), rate limits
 * per IP that answer 429 with the JSON error shape, and expert usage counted from answers.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { BlyanNode } from '../../src/node/node.ts';
import { startNode, tinyDataDir } from './fixture.ts';

let node: BlyanNode;
let cleanup: () => void;
let url: string;

before(async () => {
  const d = tinyDataDir();
  cleanup = d.cleanup;
  node = await startNode(d.data, { BLYAN_LOG_LEVEL: 'silent', BLYAN_RATE_LIMIT: '60', BLYAN_CHAT_RATE_LIMIT: '4' });
  url = node.url;
});

after(async () => {
  await node.stop();
  cleanup();
});

test('usage: answers count tokens per expert; /experts and /experts/top agree', async () => {
  const r = await fetch(`${url}/chat`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ prompt: 'To be, or not', maxTokens: 6 }) });
  const body = (await r.json()) as { experts: { expert: string }[][][] };
  const expected = new Map<string, number>();
  for (const e of body.experts.flat(2)) expected.set(e.expert, (expected.get(e.expert) ?? 0) + 1);
  const experts = (await (await fetch(`${url}/experts`)).json()) as { name: string; usage: number }[];
  for (const e of experts) assert.equal(e.usage, expected.get(e.name) ?? 0, e.name);
  const top = (await (await fetch(`${url}/experts/top?limit=3`)).json()) as { name: string; usage: number; hash: string }[];
  assert.equal(top.length, Math.min(3, expected.size));
  const sorted = [...expected.values()].sort((a, b) => b - a);
  assert.deepEqual(top.map((t) => t.usage), sorted.slice(0, 3));
  assert.equal((await fetch(`${url}/experts/top?limit=0`)).status, 400);
});

test('GET /metrics: Prometheus text with requests, latency, tokens, cache and chain heights', async () => {
  const res = await fetch(`${url}/metrics`);
  assert.equal(res.status, 200);
  assert.match(res.headers.get('content-type') ?? '', /text\/plain/);
  const text = await res.text();
  assert.match(text, /blyan_http_requests_total\{method="POST",route="\/chat",status="200"\} [1-9]/);
  assert.match(text, /blyan_http_request_duration_seconds_bucket/);
  assert.match(text, /blyan_chat_tokens_total\{endpoint="chat"\} 6/);
  assert.match(text, /blyan_chain_height\{chain="A"\} [1-9]/);
  assert.match(text, /blyan_expert_cache_misses [1-9]/);
  assert.match(text, /blyan_pol_deltas_total|# HELP blyan_pol_deltas_total/);
});

test('OpenAPI: /docs/json lists the routes with summaries; /docs serves its page from the node', async () => {
  const doc = (await (await fetch(`${url}/docs/json`)).json()) as { openapi: string; paths: Record<string, Record<string, { summary?: string }>> };
  assert.match(doc.openapi, /^3\./);
  for (const p of ['/health', '/chat', '/v1/chat/completions', '/wallet/authenticate', '/tx', '/experts/{name}']) assert.ok(doc.paths[p] !== undefined, p);
  assert.equal(doc.paths['/chat']?.post?.summary, 'One answer with its experts, cost and receipt');
  const page = await fetch(`${url}/docs/`);
  assert.equal(page.status, 200);
  const html = await page.text();
  assert.doesNotMatch(html, /https?:\/\/(?!127\.0\.0\.1)[a-z0-9.-]+\/[^"']*\.(js|css)/i, 'no asset from another host');
});

test('rate limits: chat has its own smaller limit; over it is 429 RATE_LIMITED with JSON', async () => {
  const codes: number[] = [];
  for (let i = 0; i < 6; i++) {
    const r = await fetch(`${url}/chat/quote`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"maxTokens": 5}' });
    codes.push(r.status);
    if (r.status === 429) {
      const b = (await r.json()) as { code: string; message: string };
      assert.equal(b.code, 'RATE_LIMITED');
      assert.match(b.message, /per minute/);
      assert.ok(r.headers.get('retry-after') !== null);
    } else await r.arrayBuffer();
  }
  // The earlier /chat in this file counted too; quotes without sign-in are 401s but still counted.
  assert.ok(codes.includes(429), `codes: ${codes}`);
  assert.ok(codes.slice(0, 3).every((c) => c === 401));
  // Other routes have the general limit still.
  assert.equal((await fetch(`${url}/health`)).status, 200);
});
