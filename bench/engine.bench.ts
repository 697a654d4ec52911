import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { DEVNET } from '../src/chain/presets.ts';
import { BlockStore } from '../src/chain/store.ts';
import { generate } from '../src/engine/generate.ts';
import { importCheckpoint } from '../src/engine/import/importCheckpoint.ts';
import { loadKernels } from '../src/engine/kernels/index.ts';
import { LocalExpertSource } from '../src/engine/localSource.ts';
import { resolveModel } from '../src/engine/modelRegistry.ts';
import { MoeModel } from '../src/engine/moe.ts';
import { Sampler } from '../src/engine/sampler.ts';
import { decodeTensorBlock } from '../src/tensor/tensorBlock.ts';
import { TEST_KEY } from '../test/helpers/fixtures.ts';

/**
 * Decode and prefill speed on the llama.cpp anchor model (shared/anchors/llamacpp: a 1.58 GB BF16
 * Mixtral-shaped model written both as a HF checkpoint and as a GGUF), interleaved with llama.cpp rounds
 * and memory-bandwidth samples in one run, as the anchor's README asks. Same prompt construction, same
 * token counts, same definition of active bytes per token.
 */
const HERE = import.meta.dirname;
const ANCHOR = '/tmp/llamacpp';
const MODEL_DIR = '/tmp/llamacpp-model/mixtral-synth';
const ACTIVE_BYTES_PER_TOKEN = 460_134_400;
const N = 64;
const PROMPT_LEN = 8;
const PREFILL_LEN = 128;

const tokenIds = (n: number, vocab: number, mul: number, add: number) => {
  const t = [1];
  for (let i = 1; i < n; i++) t.push(3 + ((i * mul + add) % (vocab - 3)));
  return t;
};
const median = (a: number[]) => {
  const s = [...a].sort((x, y) => x - y);
  return s.length % 2 ? (s[(s.length - 1) / 2] as number) : ((s[s.length / 2 - 1] as number) + (s[s.length / 2] as number)) / 2;
};
const r3 = (x: number) => Number(x.toFixed(3));

function membw(threads: number): number {
  const bin = '/tmp/llamacpp-model/membw';
  if (!existsSync(bin)) execFileSync('gcc', ['-O3', '-march=native', '-pthread', '-o', bin, join(ANCHOR, 'membw.c')]);
  const r = JSON.parse(execFileSync(bin, [String(threads), '1024', '5'], { encoding: 'utf8' })) as { best_GBps: number };
  return r.best_GBps;
}

function llamaRound(): { decode: number; prefill: number } {
  const r = spawnSync(process.execPath, ['bench_llamacpp.mjs', '--no-native', '--rounds', '1', '--n', String(N), '--skip-bw'], {
    cwd: ANCHOR,
    encoding: 'utf8',
    maxBuffer: 64 * 1024 * 1024,
  });
  const line = r.stdout.trim().split('\n').pop() ?? '';
  const j = JSON.parse(line) as { decode_tok_per_s: number; prefill_tok_per_s: number };
  return { decode: j.decode_tok_per_s, prefill: j.prefill_tok_per_s };
}

export async function benchEngine(opts: { rounds?: number; llama?: boolean } = {}): Promise<Record<string, unknown>> {
  const rounds = opts.rounds ?? 3;
  const prep = spawnSync('bash', [resolve(HERE, 'prepare-anchor.sh')], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
  if (prep.status !== 0 || !existsSync(join(MODEL_DIR, 'hf', 'model.safetensors'))) {
    return { bench: 'engine', skipped: 'the llama.cpp anchor model could not be prepared (bench/prepare-anchor.sh)' };
  }
  const dir = mkdtempSync(join(tmpdir(), 'blyan-engine-bench-'));
  try {
    const { store } = BlockStore.init(dir, DEVNET);
    let t = performance.now();
    const imported = importCheckpoint(store, join(MODEL_DIR, 'hf'), { privateKey: TEST_KEY, name: 'mixtral-synth' });
    const importSeconds = (performance.now() - t) / 1000;
    const entry = resolveModel(store);
    const kernels = await loadKernels({ threads: 2 });
    const warmSource = new LocalExpertSource(store, entry);
    t = performance.now();
    await warmSource.warm();
    const warmSeconds = (performance.now() - t) / 1000;
    const model = await MoeModel.load(entry.meta.config, warmSource, kernels, { cacheBytes: 4 * 1024 ** 3 });
    const vocab = entry.meta.config.vocabSize;
    const prompt = tokenIds(PROMPT_LEN, vocab, 7919, 17);
    const prefillPrompt = tokenIds(PREFILL_LEN, vocab, 104729, 31);
    // Warm-up like llama.cpp's bench: a long prefill touches nearly every expert, then a short decode.
    await model.newSession().forward(prefillPrompt);
    await generate(model.newSession(), prompt, new Sampler({ greedy: true }), { maxNewTokens: 16 });

    const ours: { decode: number; prefill: number }[] = [];
    const llama: { decode: number; prefill: number }[] = [];
    const bw1: number[] = [];
    const bw2: number[] = [];
    let firstIds: number[] | null = null;
    for (let r = 0; r < rounds; r++) {
      bw1.push(membw(1));
      bw2.push(membw(2));
      t = performance.now();
      await model.newSession().forward(prefillPrompt);
      const prefill = PREFILL_LEN / ((performance.now() - t) / 1000);
      // Decode: time N single-token steps after the prompt, as llama.cpp's bench does.
      const session = model.newSession();
      const times: number[] = [];
      const g = await generate(session, prompt, new Sampler({ greedy: true }), {
        maxNewTokens: N + 1,
        onToken: () => {
          times.push(performance.now());
          return undefined;
        },
      });
      firstIds ??= g.ids.slice(0, 16);
      const decode = N / (((times[N] as number) - (times[0] as number)) / 1000);
      ours.push({ decode, prefill });
      if (opts.llama !== false) llama.push(llamaRound());
    }
    const bestBw = Math.max(...bw1, ...bw2);
    const oursBest = Math.max(...ours.map((o) => o.decode));
    const llamaBest = llama.length > 0 ? Math.max(...llama.map((o) => o.decode)) : null;

    // Cold expert load (an expert is 22 MB > 16 MiB): zero-copy view vs reading a file and parsing it.
    const source = new LocalExpertSource(store, entry);
    const name = 'layer5.expert3';
    t = performance.now();
    const view = await source.load(name);
    view.tensor('down');
    const zeroCopyMs = performance.now() - t;
    const payloadFile = join(dir, 'expert.blyt');
    const id = store.currentVersion(entry.id, name);
    const block = store.getBlock(id as Uint8Array);
    writeFileSync(payloadFile, store.getPayload(block?.header.payloadHash as Uint8Array) as Uint8Array);
    execFileSync('sync');
    t = performance.now();
    decodeTensorBlock(new Uint8Array(readFileSync(payloadFile))).get('down');
    const readFileMs = performance.now() - t;
    await kernels.close();
    await store.close();

    // Cache budget smaller than the model, in a child process so its peak RSS is its own.
    const child = spawnSync(process.execPath, ['--import', 'tsx', resolve(HERE, 'engineCacheChild.ts'), dir, '512'], { encoding: 'utf8' });
    const cache = child.status === 0 ? (JSON.parse(child.stdout.trim().split('\n').pop() ?? '{}') as Record<string, unknown>) : { error: child.stderr.slice(-500) };

    return {
      bench: 'engine',
      model: 'anchor mixtral-synth (1.58 GB BF16, 8 layers × 8 experts, top-2)',
      kernels: `${kernels.name}/${kernels.isa} × ${kernels.threads} threads`,
      importSeconds: r3(importSeconds),
      importMBps: r3(imported.payloadBytes / 1e6 / importSeconds),
      warmSeconds: r3(warmSeconds),
      decodeTokPerSec: { best: r3(oursBest), median: r3(median(ours.map((o) => o.decode))), all: ours.map((o) => r3(o.decode)) },
      llamaCppDecodeTokPerSec: llamaBest === null ? null : { best: r3(llamaBest), median: r3(median(llama.map((o) => o.decode))), all: llama.map((o) => r3(o.decode)) },
      decodeRatioBest: llamaBest === null ? null : r3(oursBest / llamaBest),
      decodeRatioMedian: llama.length > 0 ? r3(median(ours.map((o) => o.decode)) / median(llama.map((o) => o.decode))) : null,
      prefillTokPerSec: { ours: r3(Math.max(...ours.map((o) => o.prefill))), llamaCpp: llama.length > 0 ? r3(Math.max(...llama.map((o) => o.prefill))) : null, promptTokens: PREFILL_LEN },
      bandwidthGBps: { best: r3(bestBw), oneThread: bw1.map(r3), twoThreads: bw2.map(r3) },
      activeBytesPerToken: ACTIVE_BYTES_PER_TOKEN,
      activeBytesPerSecOverBandwidth: r3((oursBest * ACTIVE_BYTES_PER_TOKEN) / 1e9 / bestBw),
      llamaActiveBytesPerSecOverBandwidth: llamaBest === null ? null : r3((llamaBest * ACTIVE_BYTES_PER_TOKEN) / 1e9 / bestBw),
      greedyFirst16: firstIds,
      coldExpertLoad: { zeroCopyMs: r3(zeroCopyMs), readFileAndParseMs: r3(readFileMs), ratio: r3(readFileMs / zeroCopyMs) },
      cacheBudget512MB: cache,
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
