import { TOXIC_WORDS_V1 } from './toxicWords.ts';

/**
 * L0 toxicity screen (docs/datasets.md §3, rule T1): the share of words on the list, in parts per
 * million, compared with integers only so every implementation draws the same line.
 */

/** Default limit: more than 1% listed words rejects the dataset. */
export const DEFAULT_MAX_TOXIC_PPM = 10_000;

const LIST = new Set(TOXIC_WORDS_V1);
const WORD = /[A-Za-z]+/g;

export interface ToxicityCount {
  /** Maximal runs of ASCII letters. */
  readonly words: number;
  /** Of those, how many (lowercased) are on the list. */
  readonly hits: number;
}

export function countToxic(text: string): ToxicityCount {
  let words = 0;
  let hits = 0;
  for (const m of text.matchAll(WORD)) {
    words++;
    if (LIST.has(m[0].toLowerCase())) hits++;
  }
  return { words, hits };
}

/** T1 — hits / words > maxPpm / 10^6, as integers. */
export function overToxicLimit(count: ToxicityCount, maxPpm: number): boolean {
  return count.hits * 1_000_000 > count.words * maxPpm;
}
