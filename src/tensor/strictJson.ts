/**
 * JSON.parse keeps the last of two equal keys without a word, so `{"w": A, "w": B}` means B here and may
 * mean A to another reader. For files that decide which bytes become a tensor, an ambiguous header must be
 * refused, not interpreted. parseJsonStrict parses, then finds duplicate keys in one linear scan; it also
 * reports the top-level keys in file order (JSON.parse objects list integer-like keys first).
 */
export type StrictJsonResult =
  | { ok: true; value: unknown; topLevelKeys: string[] }
  | { ok: false; error: string };

export function parseJsonStrict(text: string): StrictJsonResult {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    return { ok: false, error: (err as Error).message };
  }
  // From here the text is known to be valid JSON, which keeps the scanner small: a string runs to the first
  // unescaped quote, and the only places a key can start are right after "{" or after "," inside an object.
  const stack: (Set<string> | null)[] = [];
  const topLevelKeys: string[] = [];
  let expectKey = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x22) {
      let j = i + 1;
      let escaped = false;
      for (;;) {
        const d = text.charCodeAt(j);
        if (d === 0x5c) {
          escaped = true;
          j += 2;
        } else if (d === 0x22) break;
        else j++;
      }
      const keys = stack[stack.length - 1];
      if (expectKey && keys) {
        const key = escaped ? (JSON.parse(text.slice(i, j + 1)) as string) : text.slice(i + 1, j);
        if (keys.has(key)) return { ok: false, error: `duplicate key ${JSON.stringify(key.slice(0, 80))}` };
        keys.add(key);
        if (stack.length === 1) topLevelKeys.push(key);
        expectKey = false;
      }
      i = j;
    } else if (c === 0x7b) {
      stack.push(new Set());
      expectKey = true;
    } else if (c === 0x5b) {
      stack.push(null);
      expectKey = false;
    } else if (c === 0x7d || c === 0x5d) {
      stack.pop();
      expectKey = false;
    } else if (c === 0x2c) {
      expectKey = stack[stack.length - 1] !== null;
    }
  }
  return { ok: true, value, topLevelKeys };
}
