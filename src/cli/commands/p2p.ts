import type { Command } from 'commander';
import { z } from 'zod';
import { BlyanError } from '../../errors.ts';
import { readRunFile } from '../../node/runFile.ts';
import { resolveDataDir } from '../dataDir.ts';
import { callNode } from '../nodeClient.ts';
import { printJson, printLine } from '../output.ts';

const DATA_HELP = 'data directory of the running node (default: $BLYAN_DATA or ~/.blyan)';

/** Asks the node running on a data dir (`blyan up`) through its API; these commands need a running node. */
async function askNode<S extends z.ZodType>(data: string | undefined, path: string, answer: S): Promise<z.output<S>> {
  const dir = resolveDataDir(data);
  const run = readRunFile(dir);
  if (run === undefined) throw new BlyanError('NOT_FOUND', `no node is running on ${dir}: start one with \`blyan up --data ${dir}\``);
  return callNode(run.url, { method: 'GET', path }, answer);
}

// The answers' fields these commands print; the rest is kept for --json (loose objects).
const NodesView = z.looseObject({
  self: z.looseObject({ peerId: z.string(), multiaddrs: z.array(z.string()), role: z.string() }),
  peers: z.array(z.looseObject({ peerId: z.string(), score: z.number() })),
});

const SyncView = z.looseObject({
  heights: z.record(z.string(), z.looseObject({ local: z.number(), target: z.number() })),
  bytes: z.looseObject({ done: z.number(), resumed: z.number(), total: z.number() }),
  mbps: z.number(),
  running: z.boolean(),
  done: z.boolean(),
  peers: z.number(),
  error: z.looseObject({ code: z.string(), message: z.string() }).nullable(),
});

/** `blyan peers` and `blyan sync status`: the running node's view of the network. */
export function registerP2pCommands(program: Command): void {
  program
    .command('peers')
    .description("this node's peer id and multiaddrs, and the peers it is connected to (asks the running node)")
    .option('--data <dir>', DATA_HELP)
    .option('--json', 'print {self, peers} as JSON')
    .action(async (opts: { data?: string; json?: boolean }) => {
      const v = await askNode(opts.data, '/p2p/nodes', NodesView);
      if (opts.json === true) return printJson(v);
      printLine(`self ${v.self.peerId} (${v.self.role})`);
      for (const m of v.self.multiaddrs) printLine(`  ${m}`);
      if (v.peers.length === 0) printLine('no peers connected');
      for (const p of v.peers) printLine(`peer ${p.peerId}  score ${p.score}`);
    });

  const sync = program.command('sync').description('chain sync with peers');
  sync
    .command('status')
    .description('heights (local and best known), bytes fetched, rate and whether sync is done (asks the running node)')
    .option('--data <dir>', DATA_HELP)
    .option('--json', 'print {heights, bytes, done, …} as JSON')
    .action(async (opts: { data?: string; json?: boolean }) => {
      const s = await askNode(opts.data, '/p2p/sync', SyncView);
      if (opts.json === true) return printJson(s);
      for (const [c, h] of Object.entries(s.heights)) printLine(`chain ${c}: ${h.local} / ${h.target}`);
      printLine(`${(s.bytes.done / 1e6).toFixed(1)} MB fetched (${(s.bytes.resumed / 1e6).toFixed(1)} MB resumed) of ${(s.bytes.total / 1e6).toFixed(1)} MB, ${s.mbps.toFixed(1)} MB/s, ${s.peers} peers`);
      printLine(s.done ? 'sync done' : s.running ? 'syncing…' : 'idle');
      if (s.error !== null) printLine(`last error: ${s.error.code}: ${s.error.message}`);
    });
}
