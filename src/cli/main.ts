import { Command, CommanderError } from 'commander';
import { formatError } from './output.ts';
import { registerChainCommands } from './commands/chain.ts';
import { registerInitCommand } from './commands/init.ts';
import { registerP2pCommands } from './commands/p2p.ts';
import { registerUpCommand } from './commands/up.ts';
import { registerWalletCommands } from './commands/wallet.ts';
import { registerModelCommands } from './commands/model.ts';
import { registerChatCommand } from './commands/chat.ts';
import { registerLedgerCommands } from './commands/ledger.ts';
import { registerTrainCommand } from './commands/train.ts';
import { registerDatasetCommands } from './commands/dataset.ts';
import { registerMineCommand } from './commands/mine.ts';

export function buildProgram(): Command {
  const program = new Command('blyan')
    .description('Blyan: a Mixture-of-Experts language model kept on a verifiable blockchain')
    .version('0.1.0')
    .showHelpAfterError('(run with --help for usage)')
    .configureOutput({ outputError: (str, write) => write(str) })
    .exitOverride();
  registerInitCommand(program);
  registerUpCommand(program);
  registerP2pCommands(program);
  registerChainCommands(program);
  registerWalletCommands(program);
  registerModelCommands(program);
  registerChatCommand(program);
  registerLedgerCommands(program);
  registerTrainCommand(program);
  registerDatasetCommands(program);
  registerMineCommand(program);
  for (const cmd of allCommands(program)) cmd.exitOverride();
  return program;
}

function* allCommands(cmd: Command): Generator<Command> {
  for (const sub of cmd.commands) {
    yield sub;
    yield* allCommands(sub);
  }
}

/** Runs the CLI and returns the exit code: 0 on success, 1 on a failed operation, 2 on bad usage. */
export async function main(argv: string[]): Promise<number> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv);
    return typeof process.exitCode === 'number' ? process.exitCode : 0;
  } catch (err) {
    if (err instanceof CommanderError) {
      // --help and --version "fail" with exit code 0; commander already printed what was needed.
      return err.exitCode === 0 ? 0 : 2;
    }
    process.stderr.write(`${formatError(err)}\n`);
    if (process.env.BLYAN_DEBUG === '1' && err instanceof Error) process.stderr.write(`${err.stack ?? ''}\n`);
    return 1;
  }
}
