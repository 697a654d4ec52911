// What the child processes of the p2p tests and benches share (nodeChild.ts, expertChild.ts): the JSON-lines
// protocol of fixture.ts NodeProcess — events and replies out on stdout, commands in on stdin — and opening the
// data dir's store with the preset it was made for.
import '../../src/p2p/polyfill.ts';
import { createInterface } from 'node:readline';
import { presetByName } from '../../src/chain/presets.ts';
import { BlockStore } from '../../src/chain/store.ts';

export type Command = Record<string, unknown>;

/** Writes one JSON line to the parent. */
export function out(o: Record<string, unknown>): void {
  process.stdout.write(`${JSON.stringify(o)}\n`);
}

/** The store of a data dir made by `BlockStore.init`, opened with its own preset. */
export function openChildStore(data: string): BlockStore {
  const presetName = BlockStore.presetNameOf(data);
  if (presetName === undefined) throw new Error(`no chain in ${data}`);
  return BlockStore.open(data, presetByName(presetName));
}

/**
 * Answers the parent's commands: each line is a JSON command with an `id`; `run`'s result (or its error's
 * message and code) goes back as `{event: 'reply', id, ...}`. Lines that are not JSON are ignored.
 */
export function serveCommands(run: (cmd: Command) => Promise<Record<string, unknown>>): void {
  createInterface({ input: process.stdin }).on('line', (line) => {
    let cmd: Command;
    try {
      cmd = JSON.parse(line) as Command;
    } catch {
      return;
    }
    run(cmd)
      .then((r) => out({ event: 'reply', id: cmd.id, ...r }))
      .catch((err: unknown) => out({ event: 'reply', id: cmd.id, error: { message: (err as Error).message, code: (err as { code?: string }).code } }));
  });
}

/** The `stop` command: stops the node, closes the store, replies, exits. */
export async function stopAndExit(cmd: Command, node: { stop(): Promise<void> }, store: BlockStore): Promise<never> {
  await node.stop();
  await store.close();
  out({ event: 'reply', id: cmd.id });
  process.exit(0);
}
