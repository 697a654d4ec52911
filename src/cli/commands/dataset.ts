import { type Command, Option } from 'commander';

// Dataset code loads only when a dataset command runs.
const actions = () => import('../actions/datasetActions.ts');

const DATA = ['--data <dir>', 'data directory (default $BLYAN_DATA or ~/.blyan)'] as const;
/** Hidden spelling some docs use; --data wins when both are given. */
const dataDirAlias = () => new Option('--data-dir <dir>').hideHelp();

export interface DatasetDataOpts {
  data?: string;
  dataDir?: string;
  json?: boolean;
}

export function registerDatasetCommands(program: Command): void {
  const dataset = program
    .command('dataset')
    .description('add, list and inspect training datasets (chain D)')
    .addHelpText('after', '\nEvery dataset passes the L0 pre-filter (size, UTF-8 text, PII, toxicity, duplicates; docs/datasets.md) before it is signed.');

  dataset
    .command('add')
    .description('run the L0 pre-filter on a UTF-8 text file and publish it as a signed dataset block on chain D')
    .argument('<file>', 'UTF-8 text file')
    .option('--tier <tier>', 'gold | silver | experimental', 'experimental')
    .option('--license <spdx>', 'SPDX license expression', 'NOASSERTION')
    .option('--name <name>', 'dataset name (default: the file name)')
    .option('--pii <mode>', 'redact (replace e-mails, phones, card numbers by markers) | reject', 'redact')
    .option('--wallet <address>', 'wallet that signs the block (when the data dir has several)')
    .addOption(new Option('--address <address>').hideHelp())
    .option(...DATA)
    .addOption(dataDirAlias())
    .option('--json', 'print JSON')
    .action(async (file: string, opts: DatasetDataOpts & { tier: string; license: string; name?: string; pii: string; wallet?: string; address?: string }) => {
      await (await actions()).addAction(file, opts);
    });

  dataset
    .command('list')
    .description('datasets on chain D, oldest first')
    .option(...DATA)
    .addOption(dataDirAlias())
    .option('--json', 'print JSON')
    .action(async (opts: DatasetDataOpts) => {
      await (await actions()).listAction(opts);
    });

  dataset
    .command('show')
    .description('one dataset (hash, 8+ digit hash prefix, D:N or name); with --shard, the shard a miner trains on in a round')
    .argument('<id>', 'dataset block hash, D:N or name')
    .option('--shard', 'show the shard of --miner in --round')
    .option('--miner <address>', 'miner address (with --shard)')
    .option('--round <n>', 'round number (with --shard)')
    .option('--shards <n>', 'cut the dataset into this many shards (default: one per chunk)')
    .option('--chunks', 'list every chunk hash')
    .option('--out <file>', 'write the content (with --shard: the shard bytes) to this file (must not exist)')
    .option(...DATA)
    .addOption(dataDirAlias())
    .option('--json', 'print JSON')
    .action(async (id: string, opts: DatasetDataOpts & { shard?: boolean; miner?: string; round?: string; shards?: string; chunks?: boolean; out?: string }) => {
      await (await actions()).showAction(id, opts);
    });
}
