import { z } from 'zod';
import type { Hash } from '../chain/hash.ts';

/** The L0 rules version. Any change to what L0 accepts or how it rewrites bytes bumps it. */
export const L0_RULES = 'l0/v1';

export type PiiMode = 'redact' | 'reject';

/**
 * What the L0 pre-filter did, stored in the dataset block (docs/datasets.md §3). With the original
 * bytes (`input.sha256` identifies them) and the options recorded here, anyone can re-run L0 and get
 * the same content bytes.
 */
export interface L0Report {
  readonly rules: typeof L0_RULES;
  readonly input: { readonly size: number; readonly sha256: Hash };
  readonly limits: { readonly minBytes: number; readonly maxBytes: number };
  readonly pii: { readonly mode: PiiMode; readonly email: number; readonly card: number; readonly phone: number };
  readonly toxicity: { readonly words: number; readonly hits: number; readonly maxPpm: number };
}

const count = z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER);
const hash32 = z.instanceof(Uint8Array).refine((b) => b.length === 32, 'expected 32 bytes');

export const L0ReportSchema = z.strictObject({
  rules: z.literal(L0_RULES),
  input: z.strictObject({ size: count, sha256: hash32 }),
  limits: z.strictObject({ minBytes: count, maxBytes: count }),
  pii: z.strictObject({ mode: z.enum(['redact', 'reject']), email: count, card: count, phone: count }),
  toxicity: z.strictObject({ words: count, hits: count, maxPpm: z.number().int().min(0).max(1_000_000) }),
});
