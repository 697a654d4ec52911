import { type Hash, sha256, toHex } from '../chain/hash.ts';
import { decodeText } from './charset.ts';
import type { DatasetLimits } from './limits.ts';
import { redactPii } from './pii.ts';
import type { DatasetRejection } from './rejection.ts';
import { L0_RULES, type L0Report, type PiiMode } from './report.ts';
import { countToxic, DEFAULT_MAX_TOXIC_PPM, overToxicLimit } from './toxicity.ts';

/**
 * The L0 pre-filter (docs/datasets.md §3): a pure function of the bytes and the options. Rules run in
 * a fixed order and the first failure is the rejection reported:
 *   Z1 size of the input → F1 binary → F2 UTF-8 → F3 charset → P1–P3 PII (redact or reject) →
 *   T1 toxicity → Z1 size of the result → U1 exact duplicate.
 */
export interface PrefilterOptions {
  readonly limits: Pick<DatasetLimits, 'minBytes' | 'maxBytes'>;
  /** `redact` (default) replaces findings by markers; `reject` refuses any finding. */
  readonly pii?: PiiMode;
  /** Largest accepted share of listed words, in parts per million (default 10,000 = 1%). */
  readonly maxToxicPpm?: number;
  /** Whether a dataset with this content hash is already on chain D (rule U1). */
  readonly isDuplicate?: (contentSha256: Hash) => boolean;
}

export interface PrefilterResult {
  readonly accepted: boolean;
  /** The bytes to publish (after redaction); the input itself when rejected before any rewrite. */
  readonly content: Uint8Array;
  readonly report: L0Report;
  /** Null when accepted. */
  readonly rejection: DatasetRejection | null;
}

export function prefilter(input: Uint8Array, opts: PrefilterOptions): PrefilterResult {
  const { minBytes, maxBytes } = opts.limits;
  const mode = opts.pii ?? 'redact';
  const maxPpm = opts.maxToxicPpm ?? DEFAULT_MAX_TOXIC_PPM;
  let report: L0Report = {
    rules: L0_RULES,
    input: { size: input.byteLength, sha256: sha256(input) },
    limits: { minBytes, maxBytes },
    pii: { mode, email: 0, card: 0, phone: 0 },
    toxicity: { words: 0, hits: 0, maxPpm },
  };
  const refuse = (rejection: DatasetRejection, content = input): PrefilterResult => ({ accepted: false, content, report, rejection });

  // Z1 — size limits, before anything else reads the bytes.
  const sizeProblem = checkSize(input.byteLength, minBytes, maxBytes);
  if (sizeProblem !== null) return refuse(sizeProblem);

  // F1–F3 — text: no NUL, valid UTF-8, no control characters but \t \n \r.
  const decoded = decodeText(input);
  if (!decoded.ok) return refuse(decoded.rejection);

  // P1–P3 — PII found and replaced by markers.
  const redacted = redactPii(decoded.text);
  const { email, card, phone } = redacted.counts;
  report = { ...report, pii: { mode, email, card, phone } };
  const findings = email + card + phone;
  if (mode === 'reject' && findings > 0) {
    return refuse({
      code: 'DATASET_PII',
      message: `personal data found (${email} e-mail, ${card} card, ${phone} phone): remove it or use --pii redact`,
      data: { email, card, phone },
    });
  }
  const content = findings === 0 ? input : new Uint8Array(Buffer.from(redacted.text, 'utf8'));

  // T1 — share of listed words.
  const tox = countToxic(redacted.text);
  report = { ...report, toxicity: { ...tox, maxPpm } };
  if (overToxicLimit(tox, maxPpm)) {
    return refuse(
      {
        code: 'DATASET_TOXIC',
        message: `${tox.hits} of ${tox.words} words are on the toxicity list (limit ${maxPpm / 10_000}%)`,
        data: { hits: tox.hits, words: tox.words, maxPpm },
      },
      content,
    );
  }

  // Z1 — again on the result: markers may be longer than what they replace.
  const afterProblem = checkSize(content.byteLength, minBytes, maxBytes);
  if (afterProblem !== null) return refuse(afterProblem, content);

  // U1 — exact duplicate of a dataset already on chain D.
  const hash = sha256(content);
  if (opts.isDuplicate?.(hash) === true) {
    return refuse({ code: 'DATASET_DUPLICATE', message: 'a dataset with exactly this content is already on chain D', data: { sha256: toHex(hash) } }, content);
  }
  return { accepted: true, content, report, rejection: null };
}

function checkSize(size: number, minBytes: number, maxBytes: number): DatasetRejection | null {
  if (size > maxBytes) {
    return { code: 'DATASET_TOO_LARGE', message: `the text is ${size} bytes; datasets may hold at most ${maxBytes}`, data: { size, maxBytes } };
  }
  if (size < minBytes) {
    return { code: 'DATASET_TOO_SMALL', message: `the text is ${size} bytes; datasets need at least ${minBytes}`, data: { size, minBytes } };
  }
  return null;
}
