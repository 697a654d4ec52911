import type { Command } from 'commander';
import type { EngineOptions } from '../engineContext.ts';
import { addSamplingOptions, type SamplingFlags } from '../samplingFlags.ts';

/**
 * `blyan chat`: an interactive conversation on the model, streaming tokens as they come. The KV cache
 * carries over between turns. Models without a tokenizer take and print token ids.
 */
export function registerChatCommand(program: Command): void {
  addSamplingOptions(
    program
      .command('chat')
      .description('talk to a model interactively (text when it has a tokenizer, token ids otherwise); /reset clears the context, /quit leaves')
      .option('--model <name|hash>', 'which model (may be left out when only one is imported)')
      .option('--max-new-tokens <n>', 'longest answer in tokens', '128')
      .option('--cache-mb <n>', 'expert cache budget in MiB (default 2048)')
      .option('--threads <n>', 'compute threads (default: all cores)')
      .option('--data <dir>', 'data directory (default $BLYAN_DATA or ~/.blyan)'),
  ).action(async (opts: EngineOptions & SamplingFlags & { maxNewTokens: string }) => {
    await (await import('../actions/chatAction.ts')).chatAction(opts);
  });
}
