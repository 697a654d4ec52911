import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import fc from 'fast-check';
import { equalBytes, sha256 } from '../../src/chain/hash.ts';
import { DATASET_LIMITS } from '../../src/datasets/limits.ts';
import { luhnValid, redactPii } from '../../src/datasets/pii.ts';
import { type PrefilterOptions, prefilter } from '../../src/datasets/prefilter.ts';
import { TOXIC_WORDS_V1 } from '../../src/datasets/toxicWords.ts';

const enc = new TextEncoder();
const dec = new TextDecoder();
const LIMITS = { minBytes: 16, maxBytes: 4096 };
const run = (text: string | Uint8Array, opts: Partial<PrefilterOptions> = {}) =>
  prefilter(typeof text === 'string' ? enc.encode(text) : text, { limits: LIMITS, ...opts });
const padding = 'Plain words of ordinary prose, nothing to see here. ';

test('clean text passes unchanged, with a complete report', () => {
  const input = enc.encode(padding.repeat(3));
  const r = prefilter(input, { limits: LIMITS });
  assert.equal(r.accepted, true);
  assert.equal(r.rejection, null);
  assert.ok(equalBytes(r.content, input));
  assert.equal(r.report.rules, 'l0/v1');
  assert.deepEqual(r.report.input, { size: input.length, sha256: sha256(input) });
  assert.deepEqual(r.report.pii, { mode: 'redact', email: 0, card: 0, phone: 0 });
  assert.deepEqual(r.report.toxicity, { words: 27, hits: 0, maxPpm: 10_000 });
  assert.deepEqual(r.report.limits, LIMITS);
});

test('e-mail addresses are redacted', () => {
  const r = run(`${padding}Write to john.doe+list@mail.example.co.uk or A_B@x-y.org.`);
  assert.equal(r.accepted, true);
  assert.equal(r.report.pii.email, 2);
  assert.match(dec.decode(r.content), /Write to \[EMAIL\] or \[EMAIL\]\.$/);
  // Not addresses: no TLD, a bare @, a handle.
  const none = redactPii('user@localhost, @handle, a @ b.com, mail@example.c0m');
  assert.equal(none.counts.email, 0, none.text);
});

test('card numbers are redacted only when they pass Luhn (no false positives)', () => {
  assert.equal(luhnValid('4111111111111111'), true);
  assert.equal(luhnValid('4111111111111112'), false);
  assert.equal(luhnValid('79927398713'), true);
  const r = run(`${padding}Visa 4111 1111 1111 1111, Amex 3782-822463-10005, MC 5555555555554444.`);
  assert.equal(r.report.pii.card, 3);
  assert.match(dec.decode(r.content), /Visa \[CARD\], Amex \[CARD\], MC \[CARD\]\.$/);
  for (const s of [
    'order 4111 1111 1111 1112 shipped', // fails Luhn
    'id 1234567890123456', // fails Luhn
    'zeros 0000 0000 0000 0000', // passes Luhn, but one repeated digit
    'run 4111 1111 1111 1111 1111 1111', // 24 digits: too long to be a card
    'short 411111111111', // 12 digits
    'serial AB4111111111111111', // glued to letters
  ]) {
    const out = redactPii(s);
    assert.equal(out.counts.card, 0, s);
    assert.equal(out.text.includes('[CARD]'), false, s);
  }
});

test('phone numbers are redacted in international and North American forms', () => {
  for (const s of ['+1 (555) 123-4567', '+44 20 7946 0958', '+49.151.1234.5678', '555-123-4567', '(555) 123-4567', '1-555-123-4567', '555.123.4567']) {
    const out = redactPii(`call ${s} now`);
    assert.deepEqual(out, { text: 'call [PHONE] now', counts: { email: 0, card: 0, phone: 1 } }, s);
  }
  for (const s of ['dated 2024-01-15', 'Act 3, scene 2, line 145', 'version 1.2.3', '+12345', 'isbn 978-3-16-148410-0', 'value 12.345.6789.1']) {
    assert.equal(redactPii(s).counts.phone, 0, s);
  }
});

test('--pii reject refuses any finding and reports what was found', () => {
  const r = run(`${padding}mail a@b.io, call 555-123-4567`, { pii: 'reject' });
  assert.equal(r.accepted, false);
  assert.equal(r.rejection?.code, 'DATASET_PII');
  assert.deepEqual(r.rejection?.data, { email: 1, card: 0, phone: 1 });
  assert.equal(run(padding, { pii: 'reject' }).accepted, true);
});

test('toxicity: over the rate is rejected, under it passes; words are whole ASCII-letter runs', () => {
  const word = TOXIC_WORDS_V1[0] as string;
  // 2 hits in 27 + 2 words ≈ 6.9% > 1%
  const bad = run(`${padding.repeat(3)}${word} ${word.toUpperCase()}`);
  assert.equal(bad.rejection?.code, 'DATASET_TOXIC');
  assert.equal(bad.report.toxicity.hits, 2);
  // 1 hit in 27·4 + 1 words < 1% passes, and is counted.
  const ok = run(`${padding.repeat(12)}${word}`, { limits: { minBytes: 16, maxBytes: 1 << 20 } });
  assert.equal(ok.accepted, true);
  assert.equal(ok.report.toxicity.hits, 1);
  // Inside a longer word it is not a hit; the limit is an option.
  assert.equal(run(`${padding}x${word}x`).report.toxicity.hits, 0);
  assert.equal(run(`${padding}${word}`, { maxToxicPpm: 1_000_000 }).accepted, true);
});

test('charset: NUL is binary, bad UTF-8 and control characters are refused; \\t \\n \\r and any script pass', () => {
  const nul = enc.encode(`${padding}\u0000tail`);
  assert.equal(run(nul).rejection?.code, 'DATASET_BINARY');
  const badUtf8 = new Uint8Array([...enc.encode(padding), 0xc3, 0x28]);
  assert.equal(run(badUtf8).rejection?.code, 'DATASET_NOT_UTF8');
  const overlong = new Uint8Array([...enc.encode(padding), 0xc0, 0xaf]);
  assert.equal(run(overlong).rejection?.code, 'DATASET_NOT_UTF8');
  for (const c of ['\u0007', '\u001b', '\u007f', '\u0085', '\u000c']) {
    const r = run(`${padding}${c}`);
    assert.equal(r.rejection?.code, 'DATASET_BAD_CHARSET', JSON.stringify(c));
    assert.equal(r.rejection?.data.offset, enc.encode(padding).length);
  }
  assert.equal(run(`${padding}\tτὸ εὖ 日本語 🙂\r\n`).accepted, true);
  assert.equal(run(`\ufeff${padding}`).accepted, true, 'a BOM is a character, kept as it is');
});

test('size limits apply to the input and to the redacted result', () => {
  assert.equal(run('tiny').rejection?.code, 'DATASET_TOO_SMALL');
  assert.equal(run('x'.repeat(4097)).rejection?.code, 'DATASET_TOO_LARGE');
  assert.equal(run('x'.repeat(4096)).accepted, true);
  // 6-byte addresses become 7-byte markers: the result outgrows the limit.
  const grows = 'a@b.cd '.repeat(585); // 4095 bytes in, 4680 out
  const r = run(grows);
  assert.equal(r.rejection?.code, 'DATASET_TOO_LARGE');
  assert.equal(r.report.pii.email, 585);
});

test('exact duplicates are refused by the hash of the result', () => {
  const text = `${padding}reach me at a@b.io`;
  const first = run(text);
  const seen = first.content;
  const again = run(text, { isDuplicate: (h) => equalBytes(h, sha256(seen)) });
  assert.equal(again.rejection?.code, 'DATASET_DUPLICATE');
  assert.equal(run(`${text}!`, { isDuplicate: (h) => equalBytes(h, sha256(seen)) }).accepted, true);
});

test('deterministic: the same bytes and options give the same content and report', () => {
  fc.assert(
    fc.property(fc.string({ unit: 'grapheme', minLength: 16, maxLength: 300 }), (s) => {
      const a = run(`${s} a@b.io 555-123-4567`);
      const b = run(`${s} a@b.io 555-123-4567`);
      assert.deepEqual(a, b);
      // Redaction is idempotent: running L0 on its own output finds nothing more.
      if (a.accepted) assert.deepEqual(run(a.content).content, a.content);
    }),
    { numRuns: 200 },
  );
});

test('linear time on hostile inputs (no catastrophic backtracking)', () => {
  // No absolute limits: each hostile pattern at 16 KiB and at 1 MiB, per-byte cost compared in this run (best of
  // five each). Quadratic backtracking would cost 64x more per byte at the larger size; the bound is 10x. A loaded
  // machine only inflates one measurement (a collection during the large input, say), while quadratic code fails
  // every attempt: up to three attempts, the best one judged (as test/chain/decoderDos.test.ts).
  const patterns: [string, (n: number) => string][] = [
    ['letters', (n) => 'a'.repeat(n)],
    ['digits and spaces', (n) => '1 '.repeat(n / 2)],
    ['long phone-like numbers', (n) => '+1234567890123456789 '.repeat(Math.ceil(n / 21))],
    ['an e-mail local part that never ends', (n) => `${'a.'.repeat(n / 2)}@`],
    ['an e-mail domain that never ends', (n) => `x@${'b-'.repeat(n / 2)}`],
  ];
  const perByte = (s: string): number => {
    let best = Number.POSITIVE_INFINITY;
    for (let i = 0; i < 5; i++) {
      const started = performance.now();
      redactPii(s);
      best = Math.min(best, performance.now() - started);
    }
    return best / s.length;
  };
  for (const [name, make] of patterns) {
    const small = make(1 << 14);
    const large = make(1 << 20);
    redactPii(small); // warm up
    let ratio = Number.POSITIVE_INFINITY;
    for (let attempt = 0; attempt < 3 && ratio >= 10; attempt++) ratio = Math.min(ratio, perByte(large) / perByte(small));
    assert.ok(ratio < 10, `${name}: per-byte cost grew ${ratio.toFixed(1)}x from ${small.length} to ${large.length} characters`);
  }
});

test('tinyshakespeare.txt passes L0 under both presets, untouched', () => {
  const input = readFileSync(new URL('../../../shared/data/tinyshakespeare.txt', import.meta.url));
  for (const limits of Object.values(DATASET_LIMITS)) {
    const r = prefilter(input, { limits, pii: 'reject' });
    assert.equal(r.accepted, true, r.rejection?.message);
    assert.ok(equalBytes(r.content, input));
    assert.equal(r.report.toxicity.hits, 0);
  }
});
