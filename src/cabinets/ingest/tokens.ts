/**
 * A fast token-count estimate for chunking when no real tokenizer is at hand. It is meant to
 * land at or a little above what BPE / WordPiece tokenizers of common LLM and embedding models
 * produce, so chunks sized with it rarely overflow a model's window:
 *
 * - Latin-script words: one token per LATIN_CHARS_PER_TOKEN characters, rounded up ("the" 1,
 *   "tokenizer" 2, "internationalization" 4);
 * - digit runs: one token per DIGITS_PER_TOKEN digits (Llama 3 and GPT-4 split numbers into
 *   groups of three);
 * - Han, kana and Hangul: one token per character;
 * - words in other scripts (Cyrillic, Arabic, Devanagari, Thai, …), which vocabularies cover
 *   less well: one token per OTHER_CHARS_PER_TOKEN characters;
 * - emoji: EMOJI_TOKENS each (four UTF-8 bytes, often two byte-level tokens);
 * - any other visible character (punctuation, symbols, joiners): one token; whitespace: none.
 *
 * The service may pass a model's real tokenizer to chunkSections instead.
 */

/** Average characters per token of English words in GPT-style and WordPiece vocabularies is 4–6; 5 errs high. */
const LATIN_CHARS_PER_TOKEN = 5
/** Numbers are split into groups of up to three digits. */
const DIGITS_PER_TOKEN = 3
/** Scripts with thinner vocabulary coverage; 2 errs high for most of them. */
const OTHER_CHARS_PER_TOKEN = 2
/** Tokens per emoji code point. */
const EMOJI_TOKENS = 2

const CJK = '\\p{Script=Han}\\p{Script=Hiragana}\\p{Script=Katakana}\\p{Script=Hangul}'
/** Groups: 1 CJK character, 2 digit run, 3 Latin word, 4 other-script word, 5 emoji, 6 anything else visible. */
const PIECE = new RegExp(
  `([${CJK}])|(\\p{Nd}+)|([\\p{Script=Latin}][\\p{Script=Latin}\\p{M}]*)|((?:(?![${CJK}\\p{Script=Latin}])[\\p{L}\\p{M}])+)|(\\p{Extended_Pictographic})|(\\S)`,
  'gu'
)

/** Estimate how many tokens an LLM tokenizer would make of `text`. Deterministic and linear in its length. */
export function estimateTokens (text: string): number {
  let tokens = 0
  PIECE.lastIndex = 0
  for (let m = PIECE.exec(text); m !== null; m = PIECE.exec(text)) {
    const piece = m[0]
    if (m[2] !== undefined) tokens += Math.ceil(piece.length / DIGITS_PER_TOKEN)
    else if (m[3] !== undefined) tokens += Math.ceil(piece.length / LATIN_CHARS_PER_TOKEN)
    else if (m[4] !== undefined) tokens += Math.ceil(piece.length / OTHER_CHARS_PER_TOKEN)
    else if (m[5] !== undefined) tokens += EMOJI_TOKENS
    else tokens += 1
  }
  return tokens
}
