import { BlyanError, type BlyanErrorCode } from '../../errors.ts';
import { toHex } from '../hash.ts';
import type { Block } from '../types.ts';

/** An archive that is not a well-formed Blyan CAR file (docs/archive.md). */
export function malformed(message: string, data: Record<string, unknown> = {}, cause?: unknown): BlyanError {
  return new BlyanError('ARCHIVE_MALFORMED', message, data, cause === undefined ? undefined : { cause });
}

export function blockLabel(block: Block): string {
  return `${block.header.chain}:${block.header.index} ${toHex(block.id)}`;
}

/** Re-throws a rule failure with the block named in the message and in `data.block`. */
export function blockError(block: Block, err: unknown): BlyanError {
  const inner = err instanceof BlyanError ? err : new BlyanError('ARCHIVE_MALFORMED', (err as Error).message);
  const code: BlyanErrorCode = inner.code;
  return new BlyanError(
    code,
    `archive block ${blockLabel(block)} fails rule ${code}: ${inner.message}`,
    { ...inner.data, block: { chain: block.header.chain, index: block.header.index, id: toHex(block.id) }, rule: code },
    { cause: inner },
  );
}
