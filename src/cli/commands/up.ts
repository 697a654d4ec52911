import type { Command } from 'commander';
import { DEVNET } from '../../chain/presets.ts';
import { chainSummary, formatSummary } from '../chainSummary.ts';
import { resolveDataDir } from '../dataDir.ts';
import { initStore, openStore, readDataDirConfig } from '../openStore.ts';
import { note, printJson, printLine } from '../output.ts';
import { installShippedModel } from '../shippedModel.ts';

/**
 * `blyan up`: bring this machine's node up. Today that means: make sure the data dir holds the devnet
 * (or the network it was initialised with), check it opens, and print where the chain stands.
 * The HTTP API, web UI and P2P roles attach here as they land.
 */
export function registerUpCommand(program: Command): void {
  program
    .command('up')
    .description('initialise the data dir if needed (devnet) and print the chain summary')
    .option('--data <dir>', 'data directory (default $BLYAN_DATA or ~/.blyan)')
    .option('--json', 'print the chain summary as JSON')
    .action(async (opts: { data?: string; json?: boolean }) => {
      const dataDir = resolveDataDir(opts.data);
      const fresh = readDataDirConfig(dataDir) === undefined;
      const store = fresh ? initStore(dataDir, DEVNET).store : openStore(dataDir);
      try {
        if (fresh) await installShippedModel(store);
        const summary = chainSummary(store, dataDir);
        if (opts.json === true) printJson(summary);
        else {
          printLine(formatSummary(summary));
          note('\nnext: `blyan chain list`, `blyan chain verify`, `blyan wallet new` (see --help)');
        }
      } finally {
        await store.close();
      }
    });
}
