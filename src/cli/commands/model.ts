import type { Command } from 'commander';
import type { EngineOptions } from '../engineContext.ts';
import { addSamplingOptions, type SamplingFlags } from '../samplingFlags.ts';

// Engine code loads only when a model command runs, so `blyan wallet …` and friends start fast.
const actions = () => import('../actions/modelActions.ts');

export interface ImportFlags {
  name?: string;
  address?: string;
  data?: string;
  json?: boolean;
  validationDataset?: string;
  validationWindows?: string;
  validationContext?: string;
  delta?: string;
  deltaNormLimit?: string;
}

const DATA = ['--data <dir>', 'data directory (default $BLYAN_DATA or ~/.blyan)'] as const;
const MODEL = ['--model <name|hash>', 'which model (may be left out when only one is imported)'] as const;
const CACHE = ['--cache-mb <n>', 'expert cache budget in MiB (default 2048)'] as const;
const THREADS = ['--threads <n>', 'compute threads (default: all cores)'] as const;

export function registerModelCommands(program: Command): void {
  program
    .command('import')
    .description('import a Hugging Face MoE checkpoint (config.json + safetensors) as blocks: meta on chain A, base/router/expert blocks on chain B')
    .argument('<dir>', 'checkpoint directory')
    .option('--name <name>', 'model name (default: the directory name)')
    .option('--address <addr>', 'wallet that signs the blocks (when the data dir has several)')
    .option('--validation-dataset <id>', 'dataset (chain D hash, D:N or name) whose last 10% is the validation set miners must improve (enables mining)')
    .option('--validation-windows <n>', 'validation windows of --validation-context tokens', '64')
    .option('--validation-context <n>', 'tokens per validation window (default: min(128, the model context − 1))')
    .option('--delta <x>', 'δ: the validation-loss drop a delta must bring to be accepted', '0.0005')
    .option('--delta-norm-limit <x>', 'largest accepted L2 norm of a delta', '16')
    .option(...DATA)
    .option('--json', 'print a JSON summary')
    .action(async (dir: string, opts: ImportFlags) => {
      await (await actions()).importAction(dir, opts);
    });

  const model = program.command('model').description('list, run and export the models on chain');

  model
    .command('list')
    .description('models imported on this chain')
    .option(...DATA)
    .option('--json', 'print JSON')
    .action(async (opts: { data?: string; json?: boolean }) => {
      await (await actions()).listAction(opts);
    });

  model
    .command('forward')
    .description('run token ids through the model; print logits and expert choices')
    .requiredOption('--ids <ids>', 'comma-separated token ids, e.g. 1,2,3')
    .option(...MODEL)
    .option(...CACHE)
    .option(...THREADS)
    .option(...DATA)
    .option('--json', 'print JSON (the only output format: logits are large)')
    .action(async (opts: EngineOptions & { ids: string; json?: boolean }) => {
      await (await actions()).forwardAction(opts);
    });

  addSamplingOptions(
    model
      .command('generate')
      .description('generate tokens after a prompt (ids, or text when the model has a tokenizer)')
      .option('--ids <ids>', 'prompt as comma-separated token ids')
      .option('--prompt <text>', 'prompt as text (needs the model tokenizer)')
      .option('--max-new-tokens <n>', 'tokens to generate', '32')
      .option('--no-cache', 'recompute the whole sequence each step instead of using the KV cache'),
  )
    .option(...MODEL)
    .option(...CACHE)
    .option(...THREADS)
    .option(...DATA)
    .option('--json', 'print JSON')
    .action(async (opts: EngineOptions & SamplingFlags & { ids?: string; prompt?: string; maxNewTokens: string; cache: boolean; json?: boolean }) => {
      await (await actions()).generateAction(opts);
    });

  model
    .command('rollback')
    .description('restore an earlier version of a component as a new snapshot block (history is kept)')
    .argument('<expert>', 'component, e.g. layer1.expert3')
    .requiredOption('--to <version>', 'block id (or unique hex prefix) of the version to restore')
    .option(...MODEL)
    .option('--address <addr>', 'wallet that signs the snapshot (when the data dir has several)')
    .option(...DATA)
    .option('--json', 'print JSON')
    .action(async (expert: string, opts: { to: string; model?: string; address?: string; data?: string; json?: boolean }) => {
      await (await import('../actions/rollbackAction.ts')).rollbackAction(expert, opts);
    });

  model
    .command('export')
    .description('write the model back as a Hugging Face checkpoint (tensors bit-identical to the import)')
    .argument('<dir>', 'output directory (created; must be empty)')
    .option(...MODEL)
    .option(...DATA)
    .option('--json', 'print JSON')
    .action(async (dir: string, opts: { model?: string; data?: string; json?: boolean }) => {
      await (await actions()).exportAction(dir, opts);
    });
}
