// HTTP API benchmarks (issue 7), against a real `blyan up` process on 127.0.0.1 over the devnet data dir
// (the shipped model): /health and /v1/models requests per second with autocannon; chat time-to-first-token
// and tokens/s through the API (SSE) vs `blyan model generate` on the same model and prompt; latency of 50
// concurrent chat streams (answers queue for the engine, so this is the queueing a user would feel).
// Rate limits are off for the run (BLYAN_RATE_LIMIT=0): they would measure the limiter, not the node. Logging is
// on (at warn, so that the output is not flooded): every request pays for the logger as on a real node.
import { spawn, spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import autocannon from 'autocannon';
import { tempDir } from '../test/helpers/fixtures.ts';

const BIN = join(import.meta.dirname, '..', 'bin', 'blyan.js');
const PROMPT = 'ROMEO:\nWhat light through yonder window breaks?\n';
const NEW_TOKENS = 64;

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] as number;
}
function quantile(xs: number[], q: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil(q * s.length) - 1)] as number;
}

async function startNode(data: string): Promise<{ url: string; stop: () => Promise<void> }> {
  const child = spawn(process.execPath, [BIN, 'up', '--data', data, '--port', '0', '--json'], {
    env: { ...process.env, BLYAN_RATE_LIMIT: '0', BLYAN_LOG_LEVEL: 'warn', BLYAN_ANON_DAILY_QUOTA: '1000000' },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const rl = createInterface({ input: child.stdout });
  const url = await new Promise<string>((resolve, reject) => {
    let buf = '';
    rl.on('line', (line) => {
      buf += line;
      try {
        resolve((JSON.parse(buf) as { url: string }).url);
      } catch {
        // the JSON spans several lines
      }
    });
    child.once('exit', (code) => reject(new Error(`blyan up exited with ${code}`)));
  });
  return {
    url,
    stop: () =>
      new Promise((resolve) => {
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
      }),
  };
}

/** The same /health answer from a bare Fastify server: what this machine can do at all, in this run. */
async function bareFastify(): Promise<{ url: string; stop: () => Promise<void> }> {
  const code = `
    const Fastify = (await import('fastify')).default;
    const app = Fastify({ logger: false });
    app.get('/health', async () => ({ status: 'ok', chainId: 1, genesis: '${'0'.repeat(64)}', version: '0.1.0', role: 'full' }));
    await app.listen({ port: 0, host: '127.0.0.1' });
    console.log(JSON.stringify({ url: 'http://127.0.0.1:' + app.server.address().port }));`;
  const child = spawn(process.execPath, ['--input-type=module', '-e', code], { cwd: join(import.meta.dirname, '..'), stdio: ['ignore', 'pipe', 'inherit'] });
  const url = await new Promise<string>((resolve, reject) => {
    createInterface({ input: child.stdout }).once('line', (line) => resolve((JSON.parse(line) as { url: string }).url));
    child.once('exit', (c) => reject(new Error(`bare fastify exited with ${c}`)));
  });
  return {
    url,
    stop: () =>
      new Promise((resolve) => {
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
      }),
  };
}

interface Cannonade {
  rps: number;
  p99Ms: number;
  errors: number;
}

async function cannon(url: string, seconds: number): Promise<Cannonade> {
  const r = await autocannon({ url, connections: 64, duration: seconds, pipelining: 1 });
  return { rps: Math.round(r.requests.average), p99Ms: r.latency.p99, errors: r.errors + r.non2xx };
}

/**
 * /health of the node against the same answer from bare Fastify, in alternating 2-s runs (B N, N B, …) after a
 * warm-up of each: the load of a shared machine drifts within seconds, so one long run of each measured the
 * drift as much as the node. The ratio is the median of the ratios of runs next to each other in time.
 */
async function healthAgainstBare(nodeUrl: string, bareUrl: string): Promise<{ node: Cannonade[]; bare: Cannonade[]; ratio: number }> {
  await cannon(`${bareUrl}/health`, 1);
  await cannon(`${nodeUrl}/health`, 1);
  const node: Cannonade[] = [];
  const bare: Cannonade[] = [];
  for (let i = 0; i < 5; i++) {
    if (i % 2 === 0) bare.push(await cannon(`${bareUrl}/health`, 2));
    node.push(await cannon(`${nodeUrl}/health`, 2));
    if (i % 2 === 1) bare.push(await cannon(`${bareUrl}/health`, 2));
  }
  return { node, bare, ratio: median(node.map((n, i) => n.rps / (bare[i] as Cannonade).rps)) };
}

interface StreamTiming {
  ttftMs: number;
  totalMs: number;
  tokens: number;
  tokPerSec: number;
}

/** One SSE answer, timed from the request to the first token and to the end. */
async function stream(url: string, maxTokens: number, seed: number): Promise<StreamTiming> {
  const q = new URLSearchParams({ prompt: PROMPT, maxTokens: String(maxTokens), temperature: '0', seed: String(seed) });
  const t0 = performance.now();
  const res = await fetch(`${url}/chat/stream?${q}`);
  if (res.status !== 200) throw new Error(`chat stream: ${res.status} ${await res.text()}`);
  const reader = (res.body as ReadableStream<Uint8Array>).getReader();
  let first = 0;
  let last = 0;
  let tokens = 0;
  let pending = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    pending += Buffer.from(value).toString('utf8');
    const parts = pending.split('\n\n');
    pending = parts.pop() ?? '';
    for (const p of parts) {
      if (!p.startsWith('event: token')) continue;
      if ((JSON.parse(p.slice(p.indexOf('data: ') + 6)) as { id: number | null }).id === null) continue;
      last = performance.now();
      if (tokens++ === 0) first = last;
    }
  }
  const end = performance.now();
  return { ttftMs: first - t0, totalMs: end - t0, tokens, tokPerSec: tokens > 1 ? (tokens - 1) / ((last - first) / 1000) : 0 };
}

function cliGenerate(data: string): { ttftMs: number; tokPerSec: number } {
  const r = spawnSync(process.execPath, [BIN, 'model', 'generate', '--prompt', PROMPT, '--max-new-tokens', String(NEW_TOKENS), '--greedy', '--json', '--data', data], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`blyan model generate: ${r.stderr}`);
  const j = JSON.parse(r.stdout) as { ids: number[]; prefillMs: number; decodeMs: number };
  return { ttftMs: j.prefillMs, tokPerSec: j.ids.length / (j.decodeMs / 1000) };
}

export async function benchApi(): Promise<Record<string, unknown>> {
  const t = tempDir('blyan-bench-api-');
  const data = join(t.dir, 'data');
  // Enough queue for 50 concurrent streams (the default of 16 answers the rest with 503 NODE_BUSY).
  spawnSync(process.execPath, [BIN, 'up', '--once', '--data', data], { encoding: 'utf8' });
  writeFileSync(join(data, 'node.json'), JSON.stringify({ maxQueuedChats: 64 }));
  const node = await startNode(data);
  try {
    const bare = await bareFastify();
    const health = await healthAgainstBare(node.url, bare.url).finally(() => bare.stop());
    const models = await cannon(`${node.url}/v1/models`, 8);
    await stream(node.url, 8, 0); // loads the model
    const api: StreamTiming[] = [];
    const cli: { ttftMs: number; tokPerSec: number }[] = [];
    // Interleaved, so both see the same machine load.
    for (let i = 0; i < 3; i++) {
      api.push(await stream(node.url, NEW_TOKENS, i));
      cli.push(cliGenerate(data));
    }
    const concurrent = await Promise.all(Array.from({ length: 50 }, (_, i) => stream(node.url, 32, i)));
    const apiTok = median(api.map((x) => x.tokPerSec));
    const cliTok = median(cli.map((x) => x.tokPerSec));
    return {
      bench: 'api',
      healthReqPerSec: median(health.node.map((x) => x.rps)),
      healthTargetReqPerSec: 20_000,
      healthP99Ms: median(health.node.map((x) => x.p99Ms)),
      healthErrors: health.node.reduce((a, x) => a + x.errors, 0),
      bareFastifyHealthReqPerSec: median(health.bare.map((x) => x.rps)),
      healthOverBareFastify: Number(health.ratio.toFixed(3)),
      healthRunsReqPerSec: health.node.map((x) => x.rps),
      bareFastifyRunsReqPerSec: health.bare.map((x) => x.rps),
      modelsReqPerSec: models.rps,
      modelsP99Ms: models.p99Ms,
      chatApiTtftMs: Number(median(api.map((x) => x.ttftMs)).toFixed(1)),
      chatCliTtftMs: Number(median(cli.map((x) => x.ttftMs)).toFixed(1)),
      chatApiTokPerSec: Number(apiTok.toFixed(1)),
      chatCliTokPerSec: Number(cliTok.toFixed(1)),
      chatApiOverCli: Number((apiTok / cliTok).toFixed(3)),
      concurrentStreams: 50,
      concurrentTokensEach: 32,
      concurrentTtftP50Ms: Math.round(quantile(concurrent.map((x) => x.ttftMs), 0.5)),
      concurrentTtftP99Ms: Math.round(quantile(concurrent.map((x) => x.ttftMs), 0.99)),
      concurrentTotalP50Ms: Math.round(quantile(concurrent.map((x) => x.totalMs), 0.5)),
      concurrentTotalP99Ms: Math.round(quantile(concurrent.map((x) => x.totalMs), 0.99)),
      concurrentAllTokens: concurrent.every((x) => x.tokens === 32),
    };
  } finally {
    await node.stop();
    t.cleanup();
  }
}
