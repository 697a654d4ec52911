import type { DatasetRejection } from './rejection.ts';

/**
 * L0 format rules (docs/datasets.md §3, rules F1–F3): the bytes are text, valid UTF-8, and free of
 * control characters other than tab, line feed and carriage return.
 */

/** Index of the first C0 control other than \t \n \r, DEL, or C1 control (U+0080 … U+009F); −1 if none. */
export function firstControl(text: string): number {
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if ((c < 0x20 && c !== 0x09 && c !== 0x0a && c !== 0x0d) || (c >= 0x7f && c <= 0x9f)) return i;
  }
  return -1;
}

const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

export type TextCheck = { readonly ok: true; readonly text: string } | { readonly ok: false; readonly rejection: DatasetRejection };

export function decodeText(bytes: Uint8Array): TextCheck {
  // F1 — a NUL byte never occurs in text: the file is binary.
  const nul = bytes.indexOf(0);
  if (nul !== -1) {
    return reject('DATASET_BINARY', `the file holds a NUL byte at offset ${nul}: it is binary, not text`, { offset: nul });
  }
  // F2 — valid UTF-8 (no overlongs, no surrogates, nothing above U+10FFFF). A BOM is kept as a character.
  let text: string;
  try {
    text = utf8.decode(bytes);
  } catch {
    return reject('DATASET_NOT_UTF8', 'the file is not valid UTF-8 text', {});
  }
  // F3 — no control characters other than \t \n \r.
  const at = firstControl(text);
  if (at !== -1) {
    const codePoint = text.charCodeAt(at);
    const offset = Buffer.byteLength(text.slice(0, at), 'utf8');
    return reject(
      'DATASET_BAD_CHARSET',
      `control character U+${codePoint.toString(16).toUpperCase().padStart(4, '0')} at byte ${offset}: only \\t, \\n and \\r are allowed`,
      { offset, codePoint },
    );
  }
  return { ok: true, text };
}

function reject(code: DatasetRejection['code'], message: string, data: Record<string, number>): TextCheck {
  return { ok: false, rejection: { code, message, data } };
}
