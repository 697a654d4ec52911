/**
 * The learning part of the HTTP API against a node in this process on 127.0.0.1 (tiny preset): datasets
 * (add with the L0 pre-filter, list, show), mining jobs in the learning worker followed over SSE to an
 * accepted delta and to a refused one, the node answering while a job trains, one job at a time, and
 * /pol/deltas with accepted deltas from the chain and refusals that survive a restart.
 */
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { after, before, test } from 'node:test';
import { toHex } from '../../src/chain/hash.ts';
import { BatchSampler } from '../../src/learning/batches.ts';
import { CharVocab } from '../../src/learning/charVocab.ts';
import { exportCharMoeCheckpoint } from '../../src/learning/checkpointExport.ts';
import { loadGemm } from '../../src/learning/gemm/index.ts';
import { createParams, initParams } from '../../src/learning/params.ts';
import { Rng } from '../../src/learning/rng.ts';
import { Trainer } from '../../src/learning/trainer.ts';
import type { BlyanNode } from '../../src/node/node.ts';
import { blyan, blyanJson } from '../helpers/cli.ts';
import { TEST_KEY, tempDir } from '../helpers/fixtures.ts';
import { startNode } from './fixture.ts';

const PASSPHRASE = 'learning-api-passphrase';
const ENV = { BLYAN_PASSPHRASE: PASSPHRASE };
const CORPUS = resolve(import.meta.dirname, '../../../shared/data/tinyshakespeare.txt');
const EXPERT = 'layer1.expert2';

let node: BlyanNode;
let url: string;
let data: string;
let dir: string;
let cleanup: () => void;
let text: string;
let datasetId: string | undefined;
const savedPassphrase = process.env['BLYAN_PASSPHRASE'];

interface Answer {
  status: number;
  body: Record<string, unknown>;
}

async function call(method: string, path: string, body?: unknown): Promise<Answer> {
  const init: RequestInit = { method };
  if (body !== undefined) {
    init.headers = { 'content-type': 'application/json' };
    init.body = typeof body === 'string' ? body : JSON.stringify(body);
  }
  const r = await fetch(url + path, init);
  return { status: r.status, body: (await r.json()) as Record<string, unknown> };
}

interface SseEvent {
  event: string;
  data: Record<string, unknown>;
}

/** Reads a job's event stream to its end, calling `onEvent` as each event arrives. */
async function follow(jobId: string, onEvent: (e: SseEvent) => void = () => {}): Promise<SseEvent[]> {
  const r = await fetch(`${url}/mine/${jobId}/events`);
  assert.equal(r.status, 200);
  assert.match(r.headers.get('content-type') ?? '', /^text\/event-stream/);
  const events: SseEvent[] = [];
  const decoder = new TextDecoder();
  let buf = '';
  for await (const chunk of r.body as unknown as AsyncIterable<Uint8Array>) {
    buf += decoder.decode(chunk, { stream: true });
    for (let end = buf.indexOf('\n\n'); end !== -1; end = buf.indexOf('\n\n')) {
      const block = buf.slice(0, end);
      buf = buf.slice(end + 2);
      const name = /^event: (.+)$/m.exec(block)?.[1];
      const payload = /^data: (.+)$/m.exec(block)?.[1];
      if (name === undefined || payload === undefined) continue; // keep-alive comments
      const e = { event: name, data: JSON.parse(payload) as Record<string, unknown> };
      events.push(e);
      onEvent(e);
    }
  }
  return events;
}

/** A promise and the function that resolves it. */
function signal(): { promise: Promise<void>; fire: () => void } {
  let fire: () => void = () => {};
  const promise = new Promise<void>((res) => {
    fire = res;
  });
  return { promise, fire };
}

/** A small char-level MoE trained a few steps (as in test/e2e/mining.test.ts), written as a checkpoint. */
async function checkpoint(): Promise<string> {
  const vocab = CharVocab.fromText(text);
  const params = createParams({ vocab: vocab.size, dModel: 32, layers: 2, heads: 2, headDim: 16, experts: 4, topK: 2, hidden: 48, context: 32, ropeTheta: 10000, eps: 1e-5, auxCoef: 0.01 });
  initParams(params, 3);
  const gemm = await loadGemm();
  const trainer = new Trainer(params, gemm, 8 * 32, { lr: 3e-3, clip: 1 });
  const sampler = new BatchSampler(vocab.encode(text.slice(0, 250_000)), 8, 32, new Rng(5));
  for (let i = 0; i < 10; i++) trainer.step(sampler.next());
  await gemm.close();
  const ckpt = join(dir, 'ckpt');
  exportCharMoeCheckpoint(params, ckpt, { vocab, maxPositions: 64 });
  return ckpt;
}

async function restart(): Promise<void> {
  await node.stop();
  node = await startNode(data);
  url = node.url;
}

before(async () => {
  const t = tempDir('blyan-api-learning-');
  dir = t.dir;
  cleanup = t.cleanup;
  // ~300 KB of the corpus: four whole 64 KiB chunks (shards) before the validation windows (the last 10%).
  text = readFileSync(CORPUS, 'utf8').slice(0, 300_000);
  data = join(dir, 'data');
  blyanJson(['init', '--preset', 'tiny', '--data', data]);
  // A fixed miner key, as in the e2e mining test.
  const keyFile = join(dir, 'miner.key');
  writeFileSync(keyFile, `0x${toHex(TEST_KEY)}\n`, { mode: 0o600 });
  const w = blyan(['wallet', 'import', keyFile, '--light-kdf', '--data', data], ENV);
  assert.equal(w.code, 0, w.stderr);
  process.env['BLYAN_PASSPHRASE'] = PASSPHRASE;
  node = await startNode(data);
  url = node.url;
});

after(async () => {
  await node.stop();
  if (savedPassphrase === undefined) delete process.env['BLYAN_PASSPHRASE'];
  else process.env['BLYAN_PASSPHRASE'] = savedPassphrase;
  cleanup();
});

test('POST /datasets adds a dataset as `blyan dataset add` does; list and show', async () => {
  const r = await call('POST', '/datasets', { name: 'shakespeare', text, tier: 'gold', license: 'LicenseRef-PublicDomain' });
  assert.equal(r.status, 201, JSON.stringify(r.body));
  datasetId = r.body['id'] as string;
  assert.match(datasetId, /^[0-9a-f]{64}$/);
  assert.equal(r.body['index'], 1);
  assert.equal(r.body['name'], 'shakespeare');
  assert.equal(r.body['tier'], 'gold');
  assert.equal(r.body['size'], Buffer.byteLength(text));
  assert.equal((r.body['report'] as { rules: string }).rules, 'l0/v1');

  // The same JSON as the CLI gives for the same chain.
  const list = await fetch(`${url}/datasets`).then((x) => x.json());
  assert.deepEqual(list, blyanJson(['dataset', 'list', '--data', data]));
  for (const ref of [datasetId, datasetId.slice(0, 12), 'D:1', 'shakespeare']) {
    const s = await call('GET', `/datasets/${encodeURIComponent(ref)}`);
    assert.equal(s.status, 200, ref);
    assert.equal(s.body['id'], datasetId);
  }
  const chunks = await call('GET', `/datasets/${datasetId}?chunks=true`);
  assert.equal((chunks.body['chunkHashes'] as string[]).length, chunks.body['chunks']);
  const missing = await call('GET', '/datasets/D:99');
  assert.equal(missing.status, 404);
  assert.equal(missing.body['code'], 'DATASET_NOT_FOUND');
});

test('POST /datasets: the L0 pre-filter refuses with its code and report (422); bad input is 400, oversized 413', async () => {
  const refusals: [Record<string, unknown>, string][] = [
    [{ name: 'bin', text: `${'x'.repeat(300)}\u0000` }, 'DATASET_BINARY'],
    [{ name: 'small', text: 'too short' }, 'DATASET_TOO_SMALL'],
    [{ name: 'again', text }, 'DATASET_DUPLICATE'],
    [{ name: 'pii', text: `${'Some words of text. '.repeat(20)}Write to someone@example.com today.`, pii: 'reject' }, 'DATASET_PII'],
  ];
  for (const [body, code] of refusals) {
    const r = await call('POST', '/datasets', body);
    assert.equal(r.status, 422, `${code}: ${JSON.stringify(r.body)}`);
    assert.equal(r.body['code'], code);
    assert.equal(typeof r.body['message'], 'string');
    assert.equal((r.body['report'] as { rules: string }).rules, 'l0/v1');
  }
  for (const body of [{ text }, { name: 'x', text, license: 'not a license!' }, { name: 'x', text, tier: 'platinum' }, { name: 'x', text, extra: 1 }, '{"name":']) {
    const r = await call('POST', '/datasets', body);
    assert.equal(r.status, 400, JSON.stringify(body).slice(0, 80));
    assert.equal(typeof r.body['code'], 'string');
    assert.equal(typeof r.body['message'], 'string');
  }
  const big = await call('POST', '/datasets', { name: 'big', text: 'x'.repeat(node.config.bodyLimit) });
  assert.equal(big.status, 413);
  assert.equal(big.body['code'], 'BODY_TOO_LARGE');
  const list = (await fetch(`${url}/datasets`).then((x) => x.json())) as unknown[];
  assert.equal(list.length, 1, 'nothing refused was added');
});

test('mining over the API: SSE to an accepted delta and a refused one, /health during a job, one job at a time, /pol/deltas', async () => {
  assert.ok(datasetId !== undefined, 'needs the dataset of the first test');
  const ckpt = await checkpoint();
  // Two models from the same checkpoint, both validated on the dataset: one as in the e2e test (δ 0.0001),
  // one whose norm limit no delta can meet, so its deltas are refused (rule P7) whatever training does.
  const validation = ['--validation-dataset', datasetId, '--validation-windows', '64', '--validation-context', '32'];
  blyanJson(['import', ckpt, '--name', 'tiny-char', ...validation, '--delta', '0.0001', '--data', data], ENV);
  blyanJson(['import', ckpt, '--name', 'tiny-strict', ...validation, '--delta-norm-limit', '0.000001', '--data', data], ENV);

  // Bad input: 400 with {code, message}, before any job starts.
  for (const body of [{ model: 'tiny-char', steps: 0 }, { model: 'tiny-char', expert: 'layer9.expert9' }, { model: 'tiny-char', expert: 'head' }, { model: 'tiny-char', bogus: true }, {}]) {
    const r = await call('POST', '/mine', body);
    assert.equal(r.status, 400, JSON.stringify(body));
    assert.equal(typeof r.body['code'], 'string');
    assert.equal(typeof r.body['message'], 'string');
  }
  // Without BLYAN_PASSPHRASE the node cannot sign: 503 saying how to fix it.
  delete process.env['BLYAN_PASSPHRASE'];
  const locked = await call('POST', '/mine', { model: 'tiny-char' });
  process.env['BLYAN_PASSPHRASE'] = PASSPHRASE;
  assert.equal(locked.status, 503);
  assert.equal(locked.body['code'], 'PASSPHRASE_REQUIRED');
  assert.match(locked.body['message'] as string, /BLYAN_PASSPHRASE/);

  // A refused delta, from a job long enough that /health is asked while its worker trains.
  const strict = await call('POST', '/mine', { model: 'tiny-strict', expert: EXPERT, steps: 120, lr: 0.003 });
  assert.equal(strict.status, 202, JSON.stringify(strict.body));
  const strictId = strict.body['jobId'] as string;
  const busy = await call('POST', '/mine', { model: 'tiny-char' });
  assert.equal(busy.status, 409);
  assert.equal(busy.body['code'], 'MINE_BUSY');

  let progressSeen = 0;
  let done = false;
  let health: Promise<{ status: number; progressAt: number; doneAt: boolean }> | undefined;
  const strictEvents = await follow(strictId, (e) => {
    if (e.event === 'progress') progressSeen++;
    if (e.event === 'done') done = true;
    if (e.event === 'progress' && health === undefined) {
      health = fetch(`${url}/health`).then((r) => ({ status: r.status, progressAt: progressSeen, doneAt: done }));
    }
  });
  assert.ok(health !== undefined, 'a progress event came');
  const h = await health;
  assert.equal(h.status, 200);
  assert.equal(h.doneAt, false, '/health answered while the job was running');
  assert.ok(progressSeen > h.progressAt, `training went on after /health answered (${h.progressAt} → ${progressSeen} progress events)`);
  const names = strictEvents.map((e) => e.event);
  assert.ok(names.indexOf('progress') < names.indexOf('evaluating'), names.join(','));
  const rejected = strictEvents.find((e) => e.event === 'rejected');
  assert.ok(rejected !== undefined, names.join(','));
  assert.equal(rejected.data['code'], 'DELTA_NORM_TOO_LARGE');
  assert.equal(rejected.data['expert'], EXPERT);
  assert.deepEqual(strictEvents.at(-1), { event: 'done', data: { status: 'rejected' } });
  const p = strictEvents.find((e) => e.event === 'progress');
  assert.equal(p?.data['steps'], 120);
  assert.equal(typeof p?.data['loss'], 'number');

  // An accepted delta, with the settings of the e2e mining test.
  const before = await call('GET', `/experts/${EXPERT}?model=tiny-char`);
  assert.equal((before.body['versions'] as unknown[]).length, 1);
  const job = await call('POST', '/mine', { model: 'tiny-char', expert: EXPERT, steps: 16, lr: 0.003, batch: 8 });
  assert.equal(job.status, 202, JSON.stringify(job.body));
  const jobId = job.body['jobId'] as string;
  const events = await follow(jobId);
  const accepted = events.find((e) => e.event === 'accepted');
  assert.ok(accepted !== undefined, JSON.stringify(events.filter((e) => e.event !== 'progress')));
  assert.ok((accepted.data['improvement'] as number) > 0);
  assert.deepEqual(events.at(-1), { event: 'done', data: { status: 'accepted' } });
  const block = accepted.data['block'] as string;
  // A late subscriber gets the story again, the progress events folded into the latest.
  const replay = await follow(jobId);
  assert.deepEqual(
    replay.map((e) => e.event),
    ['training', 'progress', 'evaluating', 'accepted', 'done'],
  );
  assert.equal(replay[1]?.data['step'], 16);

  const status = await call('GET', `/mine/${jobId}`);
  assert.equal(status.body['status'], 'accepted');
  assert.equal(status.body['expert'], EXPERT);
  assert.equal(status.body['step'], 16);
  const jobs = await call('GET', '/mine');
  assert.equal(jobs.body['running'], null);
  assert.deepEqual(
    (jobs.body['jobs'] as { jobId: string }[]).map((j) => j.jobId),
    [jobId, strictId],
  );

  // The expert has a new version, and the node's chain heads follow what the worker appended.
  const lineage = await call('GET', `/experts/${EXPERT}?model=tiny-char`);
  const versions = lineage.body['versions'] as { hash: string; type: string }[];
  assert.equal(versions.length, 2);
  assert.equal(lineage.body['current'], block);
  assert.equal(versions[1]?.type, 'delta');
  const chains = (await fetch(`${url}/chains`).then((x) => x.json())) as { chain: string; head: string }[];
  assert.equal(chains.find((c) => c.chain === 'B')?.head, block);

  const pol = await call('GET', `/pol/deltas?expert=${EXPERT}`);
  const acc = pol.body['accepted'] as Record<string, unknown>[];
  const rej = pol.body['rejected'] as Record<string, unknown>[];
  assert.equal(acc.length, 1);
  assert.equal(acc[0]?.['block'], block);
  assert.equal(acc[0]?.['version'], 2);
  assert.equal(acc[0]?.['modelName'], 'tiny-char');
  assert.equal(acc[0]?.['improvement'], accepted.data['improvement']);
  assert.equal(acc[0]?.['base'], versions[0]?.hash);
  assert.equal(rej.length, 1);
  assert.equal(rej[0]?.['code'], 'DELTA_NORM_TOO_LARGE');
  assert.equal(rej[0]?.['expert'], EXPERT);
  assert.equal(rej[0]?.['jobId'], strictId);
  assert.match(rej[0]?.['miner'] as string, /^0x[0-9a-f]{40}$/);
  assert.deepEqual((await call('GET', '/pol/deltas?model=tiny-char')).body['rejected'], []);
  assert.equal((await call('GET', '/pol/deltas?limit=0')).status, 400);

  // Unknown and malformed job ids.
  assert.equal((await call('GET', '/mine/00000000-0000-0000-0000-000000000000')).status, 404);
  assert.equal((await call('GET', '/mine/nope')).status, 400);

  // Refusals are the node's own record, kept in its store across a restart.
  await restart();
  const again = await call('GET', '/pol/deltas');
  assert.deepEqual(again.body['rejected'], pol.body['rejected']);
  assert.equal((again.body['accepted'] as unknown[]).length, 1);
});

test('DELETE /mine/:jobId cancels a running job, and so does stopping the node', async () => {
  const r = await call('POST', '/mine', { model: 'tiny-strict', expert: EXPERT, steps: 100_000 });
  assert.equal(r.status, 202, JSON.stringify(r.body));
  const jobId = r.body['jobId'] as string;
  let asked = false;
  const events = await follow(jobId, (e) => {
    if (e.event === 'progress' && !asked) {
      asked = true;
      void call('DELETE', `/mine/${jobId}`);
    }
  });
  assert.deepEqual(events.at(-1), { event: 'done', data: { status: 'cancelled' } });
  assert.equal((await call('GET', `/mine/${jobId}`)).body['status'], 'cancelled');
  // A cancelled job refused nothing: the only refusal of tiny-strict is the one of the previous test.
  assert.equal(((await call('GET', '/pol/deltas?model=tiny-strict')).body['rejected'] as unknown[]).length, 1);

  const second = await call('POST', '/mine', { model: 'tiny-strict', expert: EXPERT, steps: 100_000 });
  assert.equal(second.status, 202, JSON.stringify(second.body));
  const training = signal();
  const tail = follow(second.body['jobId'] as string, (e) => {
    if (e.event === 'progress') training.fire();
  });
  await training.promise;
  await restart();
  assert.deepEqual((await tail).at(-1), { event: 'done', data: { status: 'cancelled' } });
});
