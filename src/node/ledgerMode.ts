import { join } from 'node:path';
import { z } from 'zod';
import { writeFileAtomicSync } from '../atomicFile.ts';
import { readJsonFileSync } from '../jsonFile.ts';

/**
 * `<data>/ledger-mode.json`: whether the node last run on this data dir produced chain C or followed a network's
 * producer (docs/ledger.md §9.4). Written at every start and kept after the node stops, because a follower is
 * usually made one by `blyan up --bootstrap …`, a flag nothing else remembers: without it, a CLI command run
 * while the node is down could not tell a follower's data dir from a single node's, and would write a chain-C
 * block of its own (a fork of the network's chain C).
 */
const LedgerModeFile = z.object({ mode: z.enum(['producer', 'follower']), since: z.number().int().nonnegative() });
export type LastLedgerMode = z.infer<typeof LedgerModeFile>['mode'];

const FILE = 'ledger-mode.json';

export function writeLedgerMode(dataDir: string, mode: LastLedgerMode, now = Date.now()): void {
  writeFileAtomicSync(join(dataDir, FILE), `${JSON.stringify({ mode, since: now })}\n`);
}

/** The mode the data dir's node last ran in; undefined when it never ran (or the file is unreadable). */
export function readLedgerMode(dataDir: string): LastLedgerMode | undefined {
  return readJsonFileSync(join(dataDir, FILE), LedgerModeFile)?.mode;
}
