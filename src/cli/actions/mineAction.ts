import { z } from 'zod';
import { loadKernels } from '../../engine/kernels/index.ts';
import { resolveModel } from '../../engine/modelRegistry.ts';
import { BlyanError } from '../../errors.ts';
import { loadGemm } from '../../learning/gemm/index.ts';
import { type MineResult, mine } from '../../learning/miner.ts';
import { unlockWallet } from '../../wallet/signer.ts';
import type { MineFlags } from '../commands/mine.ts';
import { resolveDataDir } from '../dataDir.ts';
import { openStore } from '../openStore.ts';
import { printJson, printLine } from '../output.ts';
import { type Progress, progressBar } from '../progress.ts';

const posInt = (flag: string) => z.coerce.number({ error: () => `${flag} must be a number` }).int(`${flag} must be a whole number`).positive(`${flag} must be > 0`);
const Flags = z.object({
  steps: posInt('--steps').max(100_000, '--steps must be at most 100000'),
  lr: z.coerce.number({ error: () => '--lr must be a number' }).positive('--lr must be > 0').max(1, '--lr must be ≤ 1'),
  batch: posInt('--batch').max(512, '--batch must be at most 512'),
  seed: z.coerce.number().int('--seed must be a whole number').min(0, '--seed must be ≥ 0').max(0xffffffff, '--seed must fit in 32 bits').optional(),
  topK: posInt('--top-k').optional(),
  threads: posInt('--threads').optional(),
  experts: z
    .string()
    .transform((s) => s.split(',').map((x) => x.trim()).filter((x) => x !== ''))
    .refine((a) => a.length > 0 && a.every((x) => /^layer\d+\.expert\d+$/.test(x)), '--experts must list experts like layer1.expert3,layer2.expert0')
    .optional(),
});

export async function mineAction(opts: MineFlags): Promise<void> {
  const parsed = Flags.safeParse({ steps: opts.steps, lr: opts.lr ?? '0.001', batch: opts.batch ?? '8', seed: opts.seed, topK: opts.topK, threads: opts.threads, experts: opts.experts });
  if (!parsed.success) throw new BlyanError('BAD_ARGUMENT', parsed.error.issues[0]?.message ?? 'bad arguments');
  const f = parsed.data;
  const dataDir = resolveDataDir(opts.data);
  const store = openStore(dataDir);
  const json = opts.json === true;
  let bar: Progress | undefined;
  try {
    const model = resolveModel(store, opts.model);
    const wallet = await unlockWallet(dataDir, opts.wallet === undefined ? {} : { address: opts.wallet });
    const threads = f.threads === undefined ? {} : { threads: f.threads };
    const kernels = await loadKernels(threads);
    const gemm = await loadGemm(threads);
    try {
      const result = await mine({
        store,
        model,
        kernels,
        gemm,
        privateKey: wallet.privateKey,
        steps: f.steps,
        lr: f.lr,
        batch: f.batch,
        ...(f.experts === undefined ? {} : { experts: f.experts }),
        ...(f.seed === undefined ? {} : { seed: f.seed }),
        ...(f.topK === undefined ? {} : { topKPerRow: f.topK }),
        ...(opts.dryRun === true ? { dryRun: true } : {}),
        onPhase: (phase, detail) => {
          if (phase === 'train') {
            if (!json) process.stderr.write(`training ${detail}\n`);
            bar = progressBar('mining', f.steps, { quiet: json, unit: 'steps | loss {loss}' });
          } else if (phase === 'validate') {
            bar?.stop();
            bar = undefined;
            if (!json) process.stderr.write(`validating the delta of ${detail} on the public validation set…\n`);
          }
        },
        onStep: (step, loss) => bar?.update(step, { loss: loss.toFixed(4) }),
      });
      bar?.stop();
      if (json) printJson(result);
      else printSummary(result, opts.dryRun === true);
      if (result.deltas.every((d) => !d.accepted)) process.exitCode = 1;
    } finally {
      await gemm.close();
      await kernels.close();
    }
  } finally {
    bar?.stop();
    await store.close();
  }
}

function printSummary(r: MineResult, dryRun: boolean): void {
  printLine(`miner ${r.miner}, round ${r.round}: shard ${r.shard.index} of ${r.shard.shards} (${r.shardTokens} tokens), seed ${r.seed}`);
  printLine(`trained ${r.experts.join(', ')} for ${r.steps} steps in ${r.trainSeconds.toFixed(1)} s: train loss ${r.trainLossBefore.toFixed(4)} → ${r.trainLossAfter.toFixed(4)}`);
  for (const d of r.deltas) {
    const size = `${(d.deltaBytes / 1024).toFixed(1)} KiB (${(d.rawBytes / d.deltaBytes).toFixed(1)}× smaller than f32)`;
    if (d.accepted && d.result !== undefined) {
      const v = d.result;
      printLine(
        `${dryRun ? 'would accept' : 'accepted'} ${d.component}: validation loss ${v.baseLoss.toFixed(5)} → ${v.newLoss.toFixed(5)} (−${v.improvement.toFixed(5)}), delta ${size}, block ${d.block}${d.snapshot === null ? '' : `, snapshot ${d.snapshot}`}`,
      );
    } else {
      printLine(`rejected ${d.component} [${d.rejection?.code}]: ${d.rejection?.message}`);
    }
  }
}
