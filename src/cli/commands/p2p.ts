import type { Command } from 'commander';
import { BlyanError } from '../../errors.ts';
import { readRunFile } from '../../node/runFile.ts';
import { resolveDataDir } from '../dataDir.ts';
import { printJson, printLine } from '../output.ts';

const DATA_HELP = 'data directory of the running node (default: $BLYAN_DATA or ~/.blyan)';

/** Asks the node running on a data dir (`blyan up`) through its API; these commands need a running node. */
async function askNode<T>(data: string | undefined, path: string): Promise<T> {
  const dir = resolveDataDir(data);
  const run = readRunFile(dir);
  if (run === undefined) throw new BlyanError('NOT_FOUND', `no node is running on ${dir}: start one with \`blyan up --data ${dir}\``);
  let res: Response;
  try {
    res = await fetch(`${run.url}${path}`);
  } catch (err) {
    throw new BlyanError('IO_ERROR', `the node at ${run.url} does not answer (${(err as Error).message})`);
  }
  const body = (await res.json()) as T & { code?: string; message?: string };
  if (!res.ok) throw new BlyanError('IO_ERROR', `${run.url}${path}: ${body.message ?? res.status}`);
  return body;
}

interface NodesView {
  self: { peerId: string; multiaddrs: string[]; role: string };
  peers: { peerId: string; heads: Record<string, unknown>; score: number }[];
}

interface SyncView {
  heights: Record<string, { local: number; target: number }>;
  bytes: { done: number; resumed: number; total: number };
  mbps: number;
  running: boolean;
  done: boolean;
  peers: number;
  error: { code: string; message: string } | null;
}

/** `blyan peers` and `blyan sync status`: the running node's view of the network. */
export function registerP2pCommands(program: Command): void {
  program
    .command('peers')
    .description("this node's peer id and multiaddrs, and the peers it is connected to (asks the running node)")
    .option('--data <dir>', DATA_HELP)
    .option('--json', 'print {self, peers} as JSON')
    .action(async (opts: { data?: string; json?: boolean }) => {
      const v = await askNode<NodesView>(opts.data, '/p2p/nodes');
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
      const s = await askNode<SyncView>(opts.data, '/p2p/sync');
      if (opts.json === true) return printJson(s);
      for (const [c, h] of Object.entries(s.heights)) printLine(`chain ${c}: ${h.local} / ${h.target}`);
      printLine(`${(s.bytes.done / 1e6).toFixed(1)} MB fetched (${(s.bytes.resumed / 1e6).toFixed(1)} MB resumed) of ${(s.bytes.total / 1e6).toFixed(1)} MB, ${s.mbps.toFixed(1)} MB/s, ${s.peers} peers`);
      printLine(s.done ? 'sync done' : s.running ? 'syncing…' : 'idle');
      if (s.error !== null) printLine(`last error: ${s.error.code}: ${s.error.message}`);
    });
}
