import { BlyanError } from '../errors.ts';

/**
 * A character-level vocabulary: the sorted (by code point, like Python's sorted(set(text))) unique
 * characters of a text; id = position in that list.
 */
export class CharVocab {
  readonly chars: readonly string[];
  private readonly index: Map<string, number>;

  constructor(chars: readonly string[]) {
    this.chars = chars;
    this.index = new Map(chars.map((c, i) => [c, i]));
  }

  static fromText(text: string): CharVocab {
    const set = new Set<string>();
    for (const c of text) set.add(c);
    return new CharVocab([...set].sort((a, b) => (a.codePointAt(0) as number) - (b.codePointAt(0) as number)));
  }

  get size(): number {
    return this.chars.length;
  }

  encode(text: string): Int32Array {
    const out = new Int32Array(text.length);
    let n = 0;
    for (const c of text) {
      const id = this.index.get(c);
      if (id === undefined) throw new BlyanError('BAD_ARGUMENT', `character ${JSON.stringify(c)} is not in the vocabulary`);
      out[n++] = id;
    }
    return out.slice(0, n);
  }

  decode(ids: ArrayLike<number>): string {
    let s = '';
    for (let i = 0; i < ids.length; i++) s += this.chars[ids[i] as number] ?? '';
    return s;
  }
}
