import { BlyanError } from '../errors.ts';

/**
 * Fixed validation windows for a model's meta block: `windows` windows of `context` + 1 tokens, evenly
 * spaced over the last `fraction` of the dataset's tokens (the same spacing as the trainer's fixed batches,
 * src/learning/batches.ts), so validators measure text that miners' shards never include.
 */
export function validationWindows(tokenCount: number, windows: number, context: number, fraction = 0.1): number[] {
  if (!Number.isSafeInteger(windows) || windows < 1) throw new BlyanError('BAD_ARGUMENT', `validation windows must be a whole number ≥ 1, got ${windows}`);
  if (!Number.isSafeInteger(context) || context < 1) throw new BlyanError('BAD_ARGUMENT', `validation context must be a whole number ≥ 1, got ${context}`);
  const start = Math.floor((1 - fraction) * tokenCount);
  const last = tokenCount - start - context - 1;
  if (last < 0) {
    throw new BlyanError('BAD_ARGUMENT', `the dataset's last ${Math.round(fraction * 100)}% holds ${tokenCount - start} tokens: too few for a window of ${context} + 1`);
  }
  return Array.from({ length: windows }, (_, w) => start + (windows === 1 ? 0 : Math.floor((w * last) / (windows - 1))));
}
