import { BlyanError } from '../errors.ts';

/** Data on stdout (JSON when asked), people-facing notes on stderr, so `--json | jq` always works. */
export function printJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value, jsonReplacer, 2)}\n`);
}

export function printLine(text = ''): void {
  process.stdout.write(`${text}\n`);
}

export function note(text: string): void {
  process.stderr.write(`${text}\n`);
}

/** bigint → decimal string, bytes → 0x-hex: JSON has neither. */
export function jsonReplacer(_key: string, value: unknown): unknown {
  if (typeof value === 'bigint') return value.toString();
  if (value instanceof Uint8Array) return `0x${Buffer.from(value).toString('hex')}`;
  return value;
}

/** One line a person can act on; the code lets scripts branch. */
export function formatError(err: unknown): string {
  if (err instanceof BlyanError) return `error [${err.code}]: ${err.message}`;
  if (err instanceof Error) return `error: ${err.message}`;
  return `error: ${String(err)}`;
}
