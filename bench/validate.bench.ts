import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DEVNET } from '../src/chain/presets.ts';
import { initStore } from '../src/cli/openStore.ts';
import { installShippedModel } from '../src/cli/shippedModel.ts';
import { loadKernels } from '../src/engine/kernels/index.ts';
import { resolveModel } from '../src/engine/modelRegistry.ts';
import { evaluate } from '../src/learning/evaluate.ts';
import { lineageSource } from '../src/learning/lineage.ts';
import { loadValidationSet } from '../src/learning/polValidationSet.ts';

/**
 * One Proof-of-Learning validation loss (evaluate.ts) of the shipped devnet model over its whole validation
 * set, without a prefix cache, on a fresh devnet data dir (assets/devnet-model.car installed) in a temp dir.
 * A validator evaluates twice per delta (base and base ⊕ delta), minus the layers a prefix cache can skip.
 */
export async function benchValidate(): Promise<Record<string, unknown>> {
  const dataDir = mkdtempSync(join(tmpdir(), 'blyan-validate-bench-'));
  const { store } = initStore(dataDir, DEVNET);
  await installShippedModel(store);
  const kernels = await loadKernels();
  try {
    const entry = resolveModel(store);
    const vs = await loadValidationSet(store, entry);
    const started = performance.now();
    const r = await evaluate({
      config: entry.meta.config,
      source: lineageSource(store, entry),
      kernels,
      tokens: vs.tokens,
      offsets: vs.spec.offsets,
      context: vs.spec.context,
      batchSize: vs.spec.batchSize,
    });
    const evaluateSeconds = (performance.now() - started) / 1000;
    return {
      bench: 'validate',
      windows: vs.spec.offsets.length,
      tokens: vs.spec.offsets.length * vs.spec.context,
      evaluateSeconds,
      loss: r.loss,
      lossBits: r.bits,
      kernels: kernels.name,
      threads: kernels.threads,
    };
  } finally {
    await kernels.close();
    await store.close();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

if (process.argv[1]?.endsWith('validate.bench.ts') === true) {
  process.stdout.write(`${JSON.stringify(await benchValidate())}\n`);
}
