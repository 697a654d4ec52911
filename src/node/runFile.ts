import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { writeFileAtomicSync } from '../atomicFile.ts';
import { readJsonFileSync } from '../jsonFile.ts';

/**
 * `<data>/node.run.json`: where the node running on a data dir answers (its API URL, peer id and multiaddrs),
 * so `blyan peers` and `blyan sync status` can ask it. Written at start, removed at a clean stop; a stale file
 * (a killed node) is recognised by its pid no longer running.
 */
export const RunInfo = z.object({
  url: z.string(),
  pid: z.number().int(),
  role: z.string(),
  peerId: z.string().nullable(),
  multiaddrs: z.array(z.string()),
});
export type RunInfo = z.infer<typeof RunInfo>;

const FILE = 'node.run.json';

export function writeRunFile(dataDir: string, info: RunInfo): void {
  writeFileAtomicSync(join(dataDir, FILE), `${JSON.stringify(info, null, 2)}\n`);
}

export function removeRunFile(dataDir: string): void {
  rmSync(join(dataDir, FILE), { force: true });
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** The running node of a data dir, or undefined when none runs. */
export function readRunFile(dataDir: string): RunInfo | undefined {
  const info = readJsonFileSync(join(dataDir, FILE), RunInfo);
  return info !== undefined && alive(info.pid) ? info : undefined;
}
