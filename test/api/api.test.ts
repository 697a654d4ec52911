/**
 * The HTTP API against a node started in this process on 127.0.0.1 with a tiny-preset data dir:
 * every read endpoint, chat, the OpenAI-compatible endpoints (JSON and SSE) and the error shapes.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import OpenAI from 'openai';
import type { BlyanNode } from '../../src/node/node.ts';
import { startNode, tinyDataDir } from './fixture.ts';

let node: BlyanNode;
let cleanup: () => void;
let url: string;

before(async () => {
  const d = tinyDataDir();
  cleanup = d.cleanup;
  node = await startNode(d.data, { BLYAN_BODY_LIMIT: '4096' });
  url = node.url;
});

after(async () => {
  await node.stop();
  cleanup();
});

async function get(path: string): Promise<{ status: number; body: unknown; type: string | null }> {
  const r = await fetch(url + path);
  const type = r.headers.get('content-type');
  const body: unknown = type?.startsWith('application/json') ? await r.json() : new Uint8Array(await r.arrayBuffer());
  return { status: r.status, body, type };
}

async function post(path: string, body: string, type = 'application/json'): Promise<{ status: number; body: unknown }> {
  const r = await fetch(url + path, { method: 'POST', headers: { 'content-type': type }, body });
  return { status: r.status, body: await r.json() };
}

interface ChainHead {
  chain: string;
  height: number;
  head: string | null;
}

test('GET /health and /chains describe the network', async () => {
  const h = await get('/health');
  assert.equal(h.status, 200);
  assert.deepEqual(Object.keys(h.body as object).sort(), ['chainId', 'genesis', 'role', 'status', 'version']);
  assert.equal((h.body as { status: string }).status, 'ok');
  assert.equal((h.body as { genesis: string }).genesis, node.store.preset.genesisId);
  const c = (await get('/chains')).body as ChainHead[];
  assert.deepEqual(c.map((x) => x.chain), ['A', 'B', 'C', 'D']);
  assert.ok((c[1] as ChainHead).height > 0);
});

test('blocks: paging, one block, its payload; bad and unknown hashes', async () => {
  const page = (await get('/chains/B/blocks?from=1&limit=3')).body as { blocks: { hash: string; seq: number; payloadHash: string; payloadSize: number }[]; next: number | null };
  assert.deepEqual(page.blocks.map((b) => b.seq), [1, 2, 3]);
  assert.equal(page.next, 4);
  const first = page.blocks[0] as { hash: string; payloadHash: string; payloadSize: number };
  const one = await get(`/blocks/${first.hash}`);
  assert.equal(one.status, 200);
  assert.equal((one.body as { hash: string }).hash, first.hash);
  const payload = await get(`/blocks/0x${first.hash}/payload`);
  assert.equal(payload.status, 200);
  assert.equal(payload.type, 'application/octet-stream');
  assert.equal((payload.body as Uint8Array).length, first.payloadSize);
  const missing = await get(`/blocks/${'ab'.repeat(32)}`);
  assert.equal(missing.status, 404);
  assert.equal((missing.body as { code: string }).code, 'NOT_FOUND');
  for (const path of ['/blocks/xyz', '/chains/E/blocks', '/chains/A/blocks?limit=0', '/chains/A/blocks?from=-1']) {
    const r = await get(path);
    assert.equal(r.status, 400, path);
    assert.equal((r.body as { code: string }).code, 'BAD_ARGUMENT', path);
  }
  const none = await get('/no/such/route');
  assert.equal(none.status, 404);
  assert.equal((none.body as { code: string }).code, 'ROUTE_NOT_FOUND');
});

test('experts: current versions and a lineage', async () => {
  const list = (await get('/experts')).body as { name: string; version: number; hash: string; size: number }[];
  assert.equal(list.length, 8);
  const e = list.find((x) => x.name === 'layer1.expert2');
  assert.ok(e !== undefined && e.version === 1 && e.size > 0);
  const lineage = (await get('/experts/layer1.expert2')).body as { current: string; versions: { hash: string }[] };
  assert.equal(lineage.current, e.hash);
  assert.deepEqual(lineage.versions.map((v) => v.hash), [e.hash]);
  assert.equal((await get('/experts/layer9.expert9')).status, 404);
  assert.equal((await get('/experts?model=nope')).status, 404);
});

test('POST /chat answers with tokens, experts per token and layer with their blocks, and usage', async () => {
  const r = await post('/chat', JSON.stringify({ prompt: 'To be', maxTokens: 6, seed: 7 }));
  assert.equal(r.status, 200);
  const b = r.body as { text: string; tokens: number[]; experts: { expert: string; block: string }[][][]; usage: { promptTokens: number; completionTokens: number; totalTokens: number } };
  assert.equal(b.tokens.length, 6);
  assert.equal(b.text.length, 6); // char-level model
  assert.deepEqual(b.usage, { promptTokens: 5, completionTokens: 6, totalTokens: 11 });
  assert.equal(b.experts.length, 6);
  for (const perLayer of b.experts) {
    assert.equal(perLayer.length, 2);
    for (const layer of perLayer) {
      assert.equal(layer.length, 2); // top-2
      for (const x of layer) assert.match(x.block, /^[0-9a-f]{64}$/);
    }
  }
  const again = await post('/chat', JSON.stringify({ prompt: 'To be', maxTokens: 6, seed: 7 }));
  assert.deepEqual((again.body as { tokens: number[] }).tokens, b.tokens, 'same seed, same answer');
});

test('bad input is a 4xx JSON {code, message}, never a 500', async () => {
  const cases: [string, string, number, string][] = [
    ['{bad', 'application/json', 400, 'BAD_JSON'],
    ['', 'application/json', 400, 'BAD_JSON'],
    ['{"prompt": 3}', 'application/json', 400, 'BAD_ARGUMENT'],
    ['{"prompt": "x", "maxTokens": 0}', 'application/json', 400, 'BAD_ARGUMENT'],
    ['{"prompt": "x", "temperature": -1}', 'application/json', 400, 'BAD_ARGUMENT'],
    ['{"prompt": "x", "extra": 1}', 'application/json', 400, 'BAD_ARGUMENT'],
    ['{"prompt": "x", "model": "nope"}', 'application/json', 404, 'MODEL_NOT_FOUND'],
    [JSON.stringify({ prompt: 'to be '.repeat(20) }), 'application/json', 400, 'ENGINE_CONTEXT_OVERFLOW'],
    [JSON.stringify({ prompt: 'x'.repeat(5000) }), 'application/json', 413, 'BODY_TOO_LARGE'],
    ['prompt=x', 'text/plain', 415, 'UNSUPPORTED_MEDIA_TYPE'],
  ];
  for (const [body, type, status, code] of cases) {
    const r = await post('/chat', body, type);
    assert.equal(r.status, status, body.slice(0, 40));
    assert.equal((r.body as { code: string }).code, code, body.slice(0, 40));
    assert.equal(typeof (r.body as { message: string }).message, 'string');
  }
  const oa = await post('/v1/chat/completions', JSON.stringify({ model: 'tiny-char', messages: [] }));
  assert.equal(oa.status, 400);
});

test('GET /v1/models and a non-streaming chat completion', async () => {
  const models = (await get('/v1/models')).body as { object: string; data: { id: string; object: string }[] };
  assert.equal(models.object, 'list');
  assert.deepEqual(models.data.map((m) => [m.id, m.object]), [['tiny-char', 'model']]);
  const r = await post('/v1/chat/completions', JSON.stringify({ model: 'tiny-char', messages: [{ role: 'user', content: 'to be' }], max_tokens: 5, temperature: 0 }));
  assert.equal(r.status, 200);
  const c = r.body as { object: string; model: string; choices: { message: { role: string; content: string }; finish_reason: string }[]; usage: { completion_tokens: number } };
  assert.equal(c.object, 'chat.completion');
  assert.equal(c.model, 'tiny-char');
  assert.equal(c.choices[0]?.message.role, 'assistant');
  assert.equal(c.choices[0]?.finish_reason, 'length');
  assert.equal(c.usage.completion_tokens, 5);
});

test('a streamed chat completion arrives as OpenAI chunks over SSE, ending with [DONE]', async () => {
  const body = { model: 'tiny-char', messages: [{ role: 'user', content: 'to be' }], max_tokens: 8, temperature: 0, stream: true };
  const plain = await post('/v1/chat/completions', JSON.stringify({ ...body, stream: false }));
  const r = await fetch(`${url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  assert.equal(r.status, 200);
  assert.match(r.headers.get('content-type') ?? '', /^text\/event-stream/);
  const events = (await r.text()).split('\n\n').filter((e) => e !== '');
  assert.ok(events.every((e) => e.startsWith('data: ')));
  assert.equal(events.at(-1), 'data: [DONE]');
  const chunks = events.slice(0, -1).map((e) => JSON.parse(e.slice(6)) as { object: string; id: string; choices: { delta: { role?: string; content?: string }; finish_reason: string | null }[] });
  assert.ok(chunks.every((c) => c.object === 'chat.completion.chunk' && c.id === chunks[0]?.id));
  assert.equal(chunks[0]?.choices[0]?.delta.role, 'assistant');
  assert.equal(chunks.at(-1)?.choices[0]?.finish_reason, 'length');
  const text = chunks.map((c) => c.choices[0]?.delta.content ?? '').join('');
  assert.equal(text, (plain.body as { choices: { message: { content: string } }[] }).choices[0]?.message.content);
});

test('while an answer streams, other requests are served; a client that leaves cancels it', async () => {
  const ac = new AbortController();
  const body = { model: 'tiny-char', messages: [{ role: 'user', content: 'to' }], max_tokens: 50, stream: true };
  const r = await fetch(`${url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body), signal: ac.signal });
  const reader = (r.body as ReadableStream<Uint8Array>).getReader();
  await reader.read(); // the first chunk
  assert.equal((await get('/health')).status, 200);
  ac.abort();
  await reader.cancel().catch(() => undefined);
  // The engine is free again: the next answer comes.
  const next = await post('/chat', JSON.stringify({ prompt: 'to', maxTokens: 2 }));
  assert.equal(next.status, 200);
});

test('stop strings end a completion without being included', async () => {
  const base = { model: 'tiny-char', messages: [{ role: 'user', content: 'to be' }], max_tokens: 20, temperature: 0 };
  const full = ((await post('/v1/chat/completions', JSON.stringify(base))).body as { choices: { message: { content: string } }[] }).choices[0]?.message.content ?? '';
  const stop = full.slice(3, 5);
  const cut = (await post('/v1/chat/completions', JSON.stringify({ ...base, stop }))).body as { choices: { message: { content: string }; finish_reason: string }[] };
  assert.equal(cut.choices[0]?.message.content, full.slice(0, full.indexOf(stop)));
  assert.equal(cut.choices[0]?.finish_reason, 'stop');
});

test('the official openai client completes and streams against the node', async () => {
  const client = new OpenAI({ baseURL: `${url}/v1`, apiKey: 'unused', maxRetries: 0 });
  const models = await client.models.list();
  assert.deepEqual(models.data.map((m) => m.id), ['tiny-char']);
  const params = { model: 'tiny-char', messages: [{ role: 'user' as const, content: 'to be' }], max_tokens: 6, temperature: 0 };
  const c = await client.chat.completions.create(params);
  assert.equal(c.choices[0]?.message.content?.length, 6);
  let streamed = '';
  for await (const ch of await client.chat.completions.create({ ...params, stream: true })) streamed += ch.choices[0]?.delta.content ?? '';
  assert.equal(streamed, c.choices[0]?.message.content);
  await assert.rejects(client.chat.completions.create({ ...params, model: 'nope' }), (e: unknown) => e instanceof OpenAI.APIError && e.status === 404);
});

test('GET /chat/stream sends stream_start, token events with experts and rate, stream_end with usage', async () => {
  const r = await fetch(`${url}/chat/stream?prompt=${encodeURIComponent('to be')}&maxTokens=4&seed=1`);
  assert.equal(r.status, 200);
  const events = (await r.text())
    .split('\n\n')
    .filter((e) => e !== '')
    .map((e) => {
      const [name, data] = e.split('\n') as [string, string];
      return { event: name.replace(/^event: /, ''), data: JSON.parse(data.replace(/^data: /, '')) as Record<string, unknown> };
    });
  assert.deepEqual(events.map((e) => e.event), ['stream_start', 'token', 'token', 'token', 'token', 'stream_end']);
  const tokens = events.filter((e) => e.event === 'token');
  assert.equal(tokens.map((e) => e.data.text).join(''), events.at(-1)?.data.text);
  assert.equal((tokens[3]?.data.experts as unknown[] | undefined)?.length, 2);
  assert.equal((events.at(-1)?.data.usage as { completionTokens: number } | undefined)?.completionTokens, 4);
  const bad = await get('/chat/stream?maxTokens=4');
  assert.equal(bad.status, 400);
});
