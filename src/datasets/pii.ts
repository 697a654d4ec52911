/**
 * L0 PII rules (docs/datasets.md §3, rules P1–P3): e-mail addresses, payment card numbers and phone
 * numbers, found by fixed ASCII patterns and replaced by fixed markers. The passes run in this order,
 * each over the output of the one before, so the result is a pure function of the input text.
 *
 * Every pattern is linear-time: no two ways to match the same characters (separators and digits are
 * disjoint classes) and bounded repetitions, so a hostile input cannot make the regex engine backtrack
 * more than a constant per position.
 */

export type PiiKind = 'email' | 'card' | 'phone';
export const PII_KINDS: readonly PiiKind[] = ['email', 'card', 'phone'];

export const PII_MARKERS: Readonly<Record<PiiKind, string>> = {
  email: '[EMAIL]',
  card: '[CARD]',
  phone: '[PHONE]',
};

export type PiiCounts = Record<PiiKind, number>;

/** P1 — local part of 1–64 of [A-Za-z0-9._%+-], '@', 1–8 dot-terminated host labels, a 2–24 letter TLD. */
const EMAIL =
  /(?<![A-Za-z0-9._%+-])[A-Za-z0-9._%+-]{1,64}@(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.){1,8}[A-Za-z]{2,24}(?![A-Za-z0-9-])/g;

/**
 * P2 — a maximal run of 13–19 digits, optionally separated by single spaces or hyphens, whose digits
 * pass the Luhn check and are not all the same digit.
 */
const CARD = /(?<![0-9A-Za-z+]|[0-9][ -])[0-9](?:[ -]?[0-9]){12,18}(?![0-9A-Za-z]|[ -][0-9])/g;

/**
 * P3 — either '+' and 8–15 digits with single separators from " .-()" (at most two between digits,
 * parentheses balanced), or the North American form `[1-](555) 123-4567` / `555-123-4567` /
 * `555.123.4567` / `555 123 4567`. A maximal run: no word character or digit group may follow.
 */
const PHONE =
  /(?<![0-9A-Za-z+]|[0-9][ .-])(?:\+[0-9](?:[ .()-]{0,2}[0-9]){7,14}|(?:1[ .-])?(?:\([0-9]{3}\) ?|[0-9]{3}[ .-])[0-9]{3}[ .-][0-9]{4})(?![0-9A-Za-z]|[ .-][0-9])/g;

export function luhnValid(digits: string): boolean {
  let sum = 0;
  for (let i = 0; i < digits.length; i++) {
    let d = digits.charCodeAt(digits.length - 1 - i) - 48;
    if (i % 2 === 1) {
      d *= 2;
      if (d > 9) d -= 9;
    }
    sum += d;
  }
  return sum % 10 === 0;
}

function isCard(candidate: string): boolean {
  const digits = candidate.replace(/[ -]/g, '');
  return luhnValid(digits) && !/^(.)\1*$/.test(digits);
}

function isPhone(candidate: string): boolean {
  if (!candidate.startsWith('+')) return true;
  let depth = 0;
  for (const c of candidate) {
    if (c === '(') depth++;
    else if (c === ')' && --depth < 0) return false;
  }
  return depth === 0;
}

const PASSES: readonly { kind: PiiKind; pattern: RegExp; accept: (m: string) => boolean }[] = [
  { kind: 'email', pattern: EMAIL, accept: () => true },
  { kind: 'card', pattern: CARD, accept: isCard },
  { kind: 'phone', pattern: PHONE, accept: isPhone },
];

/** Replaces every finding by its marker; returns the new text and how many of each kind were found. */
export function redactPii(text: string): { text: string; counts: PiiCounts } {
  const counts: PiiCounts = { email: 0, card: 0, phone: 0 };
  let out = text;
  for (const { kind, pattern, accept } of PASSES) {
    out = out.replace(pattern, (m) => {
      if (!accept(m)) return m;
      counts[kind]++;
      return PII_MARKERS[kind];
    });
  }
  return { text: out, counts };
}
