import type { CharVocab } from './charVocab.ts';

/**
 * A Hugging Face tokenizer.json that implements a char vocabulary exactly: every character is split off
 * by the pre-tokenizer (`[\s\S]`, isolated) and looked up in a WordLevel vocabulary; the Fuse decoder
 * concatenates tokens back. With tokenizer_config's clean_up_tokenization_spaces false, decode(encode(s))
 * is s for any text over the vocabulary.
 */
export function charTokenizerJson(vocab: CharVocab): Record<string, unknown> {
  return {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: [],
    normalizer: null,
    pre_tokenizer: { type: 'Split', pattern: { Regex: '[\\s\\S]' }, behavior: 'Isolated', invert: false },
    post_processor: null,
    decoder: { type: 'Fuse' },
    model: { type: 'WordLevel', vocab: Object.fromEntries(vocab.chars.map((c, i) => [c, i])), unk_token: '[UNK]' },
  };
}

export function charTokenizerConfigJson(): Record<string, unknown> {
  return { clean_up_tokenization_spaces: false, tokenizer_class: 'PreTrainedTokenizerFast' };
}
