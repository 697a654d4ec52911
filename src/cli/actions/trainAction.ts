import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { z } from 'zod';
import { BlyanError } from '../../errors.ts';
import { exportCharMoeCheckpoint, hfTensors, mixtralConfigJson } from '../../learning/checkpointExport.ts';
import { trainingGemm } from '../../learning/gemmProvider.ts';
import { CHAR_MOE } from '../../learning/recipes/charMoe.ts';
import { runCharMoe } from '../../learning/recipes/runCharMoe.ts';
import { writeSafetensors } from '../../tensor/safetensors.ts';
import { parsePositiveInt } from '../engineContext.ts';
import { note, printJson, printLine } from '../output.ts';
import { progressBar } from '../progress.ts';

export interface TrainFlags {
  recipe: string;
  steps: string;
  evalAt?: string;
  seed: string;
  text?: string;
  out?: string;
  batch?: string;
  evalBatches?: string;
  threads?: string;
  json?: boolean;
}

const Flags = z.object({
  recipe: z.literal('char-moe', { message: 'unknown recipe (available: char-moe)' }),
  steps: z.string().regex(/^\d+$/, 'a whole number ≥ 0').transform(Number),
  evalAt: z
    .string()
    .regex(/^\d+(,\d+)*$/, 'comma-separated whole numbers, e.g. 0,250,500')
    .transform((s) => s.split(',').map(Number))
    .optional(),
  seed: z.string().regex(/^\d+$/, 'a whole number ≥ 0').transform(Number),
});

/** ../shared/data/tinyshakespeare.txt beside the repo root (found from this file, then from the cwd upwards). */
export function defaultTextPath(): string {
  const rel = join('shared', 'data', 'tinyshakespeare.txt');
  const repoRoot = resolve(import.meta.dirname, '../../..');
  const tried: string[] = [];
  for (const start of [repoRoot, process.cwd()]) {
    for (let dir = start; ; dir = dirname(dir)) {
      for (const candidate of [join(dir, '..', rel), join(dir, rel)]) {
        tried.push(candidate);
        if (existsSync(candidate)) return candidate;
      }
      if (dirname(dir) === dir) break;
    }
  }
  throw new BlyanError('IO_ERROR', `tinyshakespeare.txt not found (looked in ${resolve(repoRoot, '..', rel)} and upwards): pass --text FILE`);
}

function readText(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (err) {
    throw new BlyanError('IO_ERROR', `cannot read ${path}: ${(err as Error).message}`, { file: path }, { cause: err });
  }
}

export async function trainAction(opts: TrainFlags): Promise<void> {
  const parsed = Flags.safeParse(opts);
  if (!parsed.success) {
    const i = parsed.error.issues[0];
    throw new BlyanError('BAD_ARGUMENT', `--${String(i?.path[0] ?? '').replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}: ${i?.message ?? 'invalid'}`);
  }
  const f = parsed.data;
  const threads = opts.threads === undefined ? undefined : parsePositiveInt(opts.threads, '--threads', 1);
  const textPath = opts.text === undefined ? defaultTextPath() : resolve(opts.text);
  const text = readText(textPath);
  const evalAt = f.evalAt ?? [0, f.steps];
  const batch = parsePositiveInt(opts.batch, '--batch', CHAR_MOE.batch);
  const evalBatches = parsePositiveInt(opts.evalBatches, '--eval-batches', CHAR_MOE.evalBatches);
  const json = opts.json === true;
  const gemm = await trainingGemm(threads === undefined ? {} : { threads });
  try {
    if (!json) note(`training ${f.recipe} for ${f.steps} steps on ${textPath} (gemm: ${gemm.name}, ${gemm.threads} thread(s))`);
    const bar = progressBar('training', f.steps, { quiet: json, unit: 'steps | loss {loss}' });
    bar.update(0, { loss: '-' });
    const run = runCharMoe({
      text,
      steps: f.steps,
      evalAt,
      seed: f.seed,
      gemm,
      batch,
      evalBatches,
      onStep: (step, loss) => bar.update(step, { loss: loss.toFixed(4) }),
      onEval: (step, valLoss) => {
        if (!json && !process.stderr.isTTY) note(`step ${step}: val loss ${valLoss.toFixed(4)}`);
      },
    });
    bar.stop();
    if (opts.out !== undefined) {
      const out = resolve(opts.out);
      if (out.endsWith('.safetensors')) {
        writeSafetensors(out, hfTensors(run.weights, mixtralConfigJson(run.weights)), { format: 'pt', vocab: JSON.stringify(run.vocab.chars) });
      } else exportCharMoeCheckpoint(run.weights, out, { vocab: run.vocab });
    }
    const result = { evals: run.evals, tokensPerSecond: run.tokensPerSecond, params: run.params };
    if (json) {
      printJson(result);
      return;
    }
    for (const e of run.evals) {
      const ref = CHAR_MOE.pytorch[e.step];
      printLine(`step ${String(e.step).padStart(5)}  val loss ${e.valLoss.toFixed(4)}${ref === undefined ? '' : `  (PyTorch ${ref.toFixed(2)})`}`);
    }
    printLine(`${run.params.toLocaleString('en-US')} parameters; ${Math.round(run.tokensPerSecond)} tokens/s (${(run.tokensPerSecond / CHAR_MOE.pytorchTokensPerSecond).toFixed(2)}× PyTorch) over ${run.trainSeconds.toFixed(1)} s of training`);
    if (opts.out !== undefined) printLine(`weights saved to ${resolve(opts.out)}`);
  } finally {
    await gemm.close();
  }
}
