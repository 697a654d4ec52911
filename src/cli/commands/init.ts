import type { Command } from 'commander';
import { PRESET_NAMES, presetByName } from '../../chain/presets.ts';
import { chainSummary, formatSummary } from '../chainSummary.ts';
import { resolveDataDir } from '../dataDir.ts';
import { initStore } from '../openStore.ts';
import { installShippedModel } from '../shippedModel.ts';
import { note, printJson, printLine } from '../output.ts';

export function registerInitCommand(program: Command): void {
  program
    .command('init')
    .description('create a data dir holding the genesis blocks of a network (safe to run again)')
    .option('--preset <name>', `network preset: ${PRESET_NAMES.join(' | ')}`, 'devnet')
    .option('--data <dir>', 'data directory (default $BLYAN_DATA or ~/.blyan)')
    .option('--empty', 'devnet only: genesis blocks alone, without the shipped char-level model and its dataset')
    .option('--json', 'print the chain summary as JSON')
    .action(async (opts: { preset: string; data?: string; empty?: boolean; json?: boolean }) => {
      const dataDir = resolveDataDir(opts.data);
      const preset = presetByName(opts.preset);
      const { store, created } = initStore(dataDir, preset);
      try {
        const model = opts.empty === true ? { installed: false, blocks: 0 } : await installShippedModel(store);
        if (model.installed && opts.json !== true) note(`installed the shipped devnet model (${model.blocks} blocks): try \`blyan chat\` or \`blyan mine\``);
        const summary = chainSummary(store, dataDir);
        if (opts.json === true) {
          printJson({ created, ...summary });
        } else {
          note(created ? `initialised ${preset.network} in ${dataDir}` : `${dataDir} already holds ${preset.network}; nothing to do`);
          printLine(formatSummary(summary));
        }
      } finally {
        await store.close();
      }
    });
}
