import { readFileSync } from 'node:fs';
import type { z } from 'zod';

/**
 * Reads one of the node's own small bookkeeping files (run file, ledger mode): its JSON parsed by `schema`, or
 * undefined when it is missing, unreadable, not JSON or not of the schema. These files are hints the node
 * rewrites at its next start, so a damaged one means "unknown", never an error. (Files a person edits, such
 * as the config, report their damage instead.) Written with src/atomicFile.ts.
 */
export function readJsonFileSync<T>(path: string, schema: z.ZodType<T>): T | undefined {
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(path, 'utf8'));
  } catch {
    return undefined;
  }
  const parsed = schema.safeParse(raw);
  return parsed.success ? parsed.data : undefined;
}
