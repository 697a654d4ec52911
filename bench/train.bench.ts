import { readFileSync } from 'node:fs';
import { defaultTextPath } from '../src/cli/actions/trainAction.ts';
import { trainingGemm } from '../src/learning/gemmProvider.ts';
import { CHAR_MOE } from '../src/learning/recipes/charMoe.ts';
import { runCharMoe } from '../src/learning/recipes/runCharMoe.ts';

/**
 * Training throughput of the char-moe recipe (batch 32 × 128, forward + backward + clip + AdamW; no
 * evaluation) against the PyTorch reference's 8,841 tokens/s on these 2 cores.
 */
export async function benchTrain(steps = Number(process.env['BLYAN_BENCH_TRAIN_STEPS'] ?? 12)): Promise<Record<string, unknown>> {
  const text = readFileSync(defaultTextPath(), 'utf8');
  const gemm = await trainingGemm();
  try {
    // One warm-up step (first-touch page faults, JIT), then the measured run from the same seed.
    runCharMoe({ text, steps: 1, evalAt: [], seed: 1, gemm });
    const run = runCharMoe({ text, steps, evalAt: [], seed: 1, gemm });
    const pytorch = CHAR_MOE.pytorchTokensPerSecond;
    return {
      bench: 'train',
      recipe: CHAR_MOE.name,
      steps,
      tokensPerStep: CHAR_MOE.batch * CHAR_MOE.context,
      msPerStep: (run.trainSeconds * 1000) / steps,
      tokensPerSecond: run.tokensPerSecond,
      pytorchTokensPerSecond: pytorch,
      ratio: run.tokensPerSecond / pytorch,
      gemm: gemm.name,
      threads: gemm.threads,
      lastLoss: run.lastLoss,
    };
  } finally {
    await gemm.close();
  }
}

if (process.argv[1]?.endsWith('train.bench.ts') === true) {
  process.stdout.write(`${JSON.stringify(await benchTrain())}\n`);
}
