import type { Command } from 'commander';

export interface MineFlags {
  data?: string;
  model?: string;
  experts?: string;
  steps: string;
  lr?: string;
  batch?: string;
  seed?: string;
  topK?: string;
  wallet?: string;
  threads?: string;
  dryRun?: boolean;
  json?: boolean;
}

export function registerMineCommand(program: Command): void {
  program
    .command('mine')
    .description("fine-tune experts on this miner's shard, submit each as a compressed delta block, and validate it (Proof-of-Learning)")
    .option('--experts <list>', 'experts to train, comma-separated, e.g. layer1.expert3,layer2.expert0 (default: one picked from chain data)')
    .option('--steps <n>', 'optimizer steps', '20')
    .option('--lr <x>', 'AdamW learning rate', '0.001')
    .option('--batch <n>', 'sequences per step', '8')
    .option('--seed <n>', 'training seed (default: derived from the model, the miner and the round)')
    .option('--top-k <n>', 'keep only the k largest changes per row of each tensor (default: dense int8)')
    .option('--model <name|hash>', 'model to mine (optional when the chain has one)')
    .option('--wallet <address>', 'wallet that signs the delta blocks (when the data dir has several)')
    .option('--threads <n>', 'compute threads (default: all cores)')
    .option('--dry-run', 'train, build and validate, but append nothing')
    .option('--data <dir>', 'data directory (default $BLYAN_DATA or ~/.blyan)')
    .option('--json', 'print JSON')
    .addHelpText(
      'after',
      '\nThe shard, the round and the default expert follow from chain data and the miner address (docs/proof-of-learning.md).\nA delta is accepted only if it lowers the validation loss of the model by at least the δ of its meta block.',
    )
    .action(async (opts: MineFlags) => {
      await (await import('../actions/mineAction.ts')).mineAction(opts);
    });
}
