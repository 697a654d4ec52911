import { homedir } from 'node:os';
import { join, resolve } from 'node:path';

/** `--data DIR` beats `BLYAN_DATA`, which beats `~/.blyan`. */
export function resolveDataDir(flag: string | undefined): string {
  if (flag !== undefined && flag !== '') return resolve(flag);
  const env = process.env.BLYAN_DATA;
  if (env !== undefined && env !== '') return resolve(env);
  return join(homedir(), '.blyan');
}
