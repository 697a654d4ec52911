/**
 * Builds the devnet's shipped model archive (assets/devnet-model.car): `blyan init` (devnet) imports it, so a
 * new node starts with a working, improvable model.
 *
 *   node --import tsx scripts/make-devnet-model.ts [--steps 150] [--seed 1] [--out assets/devnet-model.car]
 *
 * What it does, deterministically (fixed seed, fixed block times; secp256k1 signatures are RFC 6979):
 *  1. trains the char-moe recipe (src/learning/recipes) from scratch for --steps steps on
 *     ../shared/data/tinyshakespeare.txt — briefly, to a validation loss near 2.0, so miners have room to improve;
 *  2. on a fresh devnet store: publishes the text as a gold dataset block on chain D (after the L0 pre-filter),
 *     imports the trained model (a Mixtral checkpoint with a char-level tokenizer) with a validation set in its
 *     meta block: the recipe's 16 × 32 validation windows in the last 10% of the text, δ and the delta norm limit;
 *  3. exports the chains as a verified CAR archive.
 * Every block is signed by the public genesis authority key (src/chain/genesis.ts). The training arithmetic
 * follows the CPU's instruction set (AVX-512 vs AVX2 FMA), so another machine may produce other weights: the
 * committed archive is the artefact, this script is how it was made.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { exportArchive } from '../src/chain/archive/index.ts';
import { toHex } from '../src/chain/hash.ts';
import { GENESIS_PRIVATE_KEY } from '../src/chain/genesis.ts';
import { DEVNET } from '../src/chain/presets.ts';
import { BlockStore } from '../src/chain/store.ts';
import { createDatasetBlock } from '../src/datasets/datasetBlock.ts';
import { datasetLimits } from '../src/datasets/limits.ts';
import { prefilter } from '../src/datasets/prefilter.ts';
import { importCheckpoint } from '../src/engine/import/importCheckpoint.ts';
import type { ValidationSpec } from '../src/engine/modelMeta.ts';
import { splitTokens } from '../src/learning/batches.ts';
import { exportCharMoeCheckpoint } from '../src/learning/checkpointExport.ts';
import { loadGemm } from '../src/learning/gemm/index.ts';
import { CHAR_MOE } from '../src/learning/recipes/charMoe.ts';
import { runCharMoe } from '../src/learning/recipes/runCharMoe.ts';

const ROOT = resolve(import.meta.dirname, '..');
const { values } = parseArgs({
  options: {
    steps: { type: 'string', default: '150' },
    seed: { type: 'string', default: '1' },
    text: { type: 'string', default: resolve(ROOT, '../shared/data/tinyshakespeare.txt') },
    out: { type: 'string', default: join(ROOT, 'assets/devnet-model.car') },
  },
});
const steps = Number(values.steps);
const seed = Number(values.seed);
/** Minimum validation-loss improvement a delta must bring, and the largest accepted delta norm. */
const DELTA = '0.0005';
const DELTA_NORM_LIMIT = '16';
/** Block times: fixed, just after the devnet genesis, so the archive is reproducible. */
const T_DATASET = DEVNET.genesisTime + 60_000;
const T_MODEL = DEVNET.genesisTime + 120_000;

const bytes = new Uint8Array(readFileSync(values.text));
const text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
const gemm = await loadGemm();
process.stderr.write(`training char-moe for ${steps} steps (seed ${seed}, ${gemm.name} gemm × ${gemm.threads})…\n`);
const run = runCharMoe({
  text,
  steps,
  seed,
  gemm,
  evalAt: [0, steps],
  onStep: (s, loss) => {
    if (s % 10 === 0) process.stderr.write(`  step ${s}: train loss ${loss.toFixed(4)}\n`);
  },
});
await gemm.close();
process.stderr.write(`val loss ${run.evals.map((e) => `${e.step}: ${e.valLoss.toFixed(4)}`).join(', ')}; ${run.tokensPerSecond.toFixed(0)} tok/s\n`);

// The recipe's validation windows (src/learning/batches.ts fixedBatches), as offsets into the whole text.
const tokens = run.vocab.encode(text);
const { train, val } = splitTokens(tokens, CHAR_MOE.trainFraction);
const windows = CHAR_MOE.evalBatches * CHAR_MOE.batch;
const last = val.length - CHAR_MOE.context - 1;
const offsets = Array.from({ length: windows }, (_, w) => train.length + Math.floor((w * last) / (windows - 1)));

const work = mkdtempSync(join(tmpdir(), 'blyan-devnet-model-'));
try {
  const ckpt = join(work, 'checkpoint');
  exportCharMoeCheckpoint(run.weights, ckpt, { vocab: run.vocab, maxPositions: CHAR_MOE.context * 8 });
  const { store } = BlockStore.init(join(work, 'chain'), DEVNET);
  try {
    const filtered = prefilter(bytes, { limits: datasetLimits('devnet') });
    if (!filtered.accepted) throw new Error(`the corpus fails L0: ${filtered.rejection?.message}`);
    const ds = createDatasetBlock(
      store,
      { name: 'tinyshakespeare', tier: 'gold', license: 'LicenseRef-PublicDomain', mediaType: 'text/plain; charset=utf-8', chunkSize: datasetLimits('devnet').chunkSize, content: filtered.content, report: filtered.report },
      GENESIS_PRIVATE_KEY,
      { now: T_DATASET },
    );
    const validation: ValidationSpec = {
      dataset: toHex(ds.block.id),
      offsets,
      batchSize: CHAR_MOE.batch,
      context: CHAR_MOE.context,
      delta: DELTA,
      deltaNormLimit: DELTA_NORM_LIMIT,
      tokenizer: 'model',
    };
    const imported = importCheckpoint(store, ckpt, { name: 'char-moe', privateKey: GENESIS_PRIVATE_KEY, now: T_MODEL, validation });
    const out = resolve(values.out);
    rmSync(out, { force: true });
    const { mkdirSync } = await import('node:fs');
    mkdirSync(dirname(out), { recursive: true });
    const exported = await exportArchive(store, out);
    process.stdout.write(
      `${JSON.stringify({
        archive: out,
        bytes: exported.bytes,
        blocks: exported.blocks,
        model: imported.model,
        dataset: toHex(ds.block.id),
        steps,
        seed,
        valLoss: run.evals.at(-1)?.valLoss,
        tokensPerSecond: Math.round(run.tokensPerSecond),
      })}\n`,
    );
  } finally {
    await store.close();
  }
} finally {
  rmSync(work, { recursive: true, force: true });
}
