import type { Command } from 'commander';
import type { TrainFlags } from '../actions/trainAction.ts';

/** `blyan train`: train a recipe from scratch (the trainer in src/learning), loaded only when it runs. */
export function registerTrainCommand(program: Command): void {
  program
    .command('train')
    .description('train a recipe from scratch and report validation losses and tokens/s')
    .requiredOption('--recipe <name>', 'recipe to train: char-moe')
    .requiredOption('--steps <n>', 'optimizer steps')
    .option('--eval-at <steps>', 'comma-separated steps to evaluate the validation loss at (default: 0 and the last step)')
    .option('--seed <n>', 'seed of the init and the batch sampling', '1')
    .option('--text <file>', 'training text (default ../shared/data/tinyshakespeare.txt beside the repo)')
    .option('--out <path>', 'save the trained weights: a Hugging Face checkpoint directory, or one .safetensors file')
    .option('--batch <n>', 'sequences per step (default: the recipe\'s 32; smaller for quick checks)')
    .option('--eval-batches <n>', 'validation batches (default: the recipe\'s 16)')
    .option('--threads <n>', 'compute threads (default: all cores)')
    .option('--json', 'print JSON')
    .action(async (opts: TrainFlags) => {
      await (await import('../actions/trainAction.ts')).trainAction(opts);
    });
}
