/**
 * The Porter stemmer: M. F. Porter, "An algorithm for suffix stripping", Program 14(3), 1980,
 * as published at https://tartarus.org/martin/PorterStemmer/ (including its two departures from the
 * paper: `bli` → `ble` and `logi` → `log`). Only lowercase ASCII words are stemmed; the tokenizer
 * leaves every other token alone.
 *
 * We stem in TypeScript rather than with FTS5's `porter` tokenizer so that the index, the query and
 * our BM25 term statistics all see exactly the same terms.
 *
 * @packageDocumentation
 */

const STEP2: Record<string, string> = {
  ational: 'ate', tional: 'tion', enci: 'ence', anci: 'ance', izer: 'ize', bli: 'ble', alli: 'al',
  entli: 'ent', eli: 'e', ousli: 'ous', ization: 'ize', ation: 'ate', ator: 'ate', alism: 'al',
  iveness: 'ive', fulness: 'ful', ousness: 'ous', aliti: 'al', iviti: 'ive', biliti: 'ble', logi: 'log'
}
const STEP3: Record<string, string> = { icate: 'ic', ative: '', alize: 'al', iciti: 'ic', ical: 'ic', ful: '', ness: '' }

// Porter's notation: a word is [C](VC)^m[V]; m is its "measure".
const c = '[^aeiou]'
const v = '[aeiouy]'
const C = `${c}[^aeiouy]*`
const V = `${v}[aeiou]*`
const M_GT_0 = new RegExp(`^(${C})?${V}${C}`)
const M_EQ_1 = new RegExp(`^(${C})?${V}${C}(${V})?$`)
const M_GT_1 = new RegExp(`^(${C})?${V}${C}${V}${C}`)
const HAS_VOWEL = new RegExp(`^(${C})?${v}`)
const CVC = new RegExp(`^${C}${v}[^aeiouwxy]$`)

const STEP1A_SSES_IES = /^(.+?)(ss|i)es$/
const STEP1A_S = /^(.+?)([^s])s$/
const STEP1B_EED = /^(.+?)eed$/
const STEP1B_ED_ING = /^(.+?)(ed|ing)$/
const STEP1B_AT_BL_IZ = /(at|bl|iz)$/
const DOUBLE_CONSONANT = /([^aeiouylsz])\1$/
const STEP1C = /^(.+?)y$/
const STEP2_RE = /^(.+?)(ational|tional|enci|anci|izer|bli|alli|entli|eli|ousli|ization|ation|ator|alism|iveness|fulness|ousness|aliti|iviti|biliti|logi)$/
const STEP3_RE = /^(.+?)(icate|ative|alize|iciti|ical|ful|ness)$/
const STEP4_RE = /^(.+?)(al|ance|ence|er|ic|able|ible|ant|ement|ment|ent|ou|ism|ate|iti|ous|ive|ize)$/
const STEP4_ION = /^(.+?)(s|t)(ion)$/
const STEP5_E = /^(.+?)e$/

/** Stems one lowercase ASCII word; words shorter than three letters are returned unchanged. */
export function porterStem (word: string): string {
  if (word.length < 3) return word
  // An initial y is a consonant; mark it so the vowel patterns do not treat it as one.
  const initialY = word[0] === 'y'
  let w = initialY ? 'Y' + word.slice(1) : word
  let m: RegExpExecArray | null

  // Step 1a: plurals.
  if (STEP1A_SSES_IES.test(w)) w = w.replace(STEP1A_SSES_IES, '$1$2')
  else if (STEP1A_S.test(w)) w = w.replace(STEP1A_S, '$1$2')

  // Step 1b: -eed, -ed, -ing.
  if ((m = STEP1B_EED.exec(w)) != null) {
    if (M_GT_0.test(m[1]!)) w = w.slice(0, -1)
  } else if ((m = STEP1B_ED_ING.exec(w)) != null && HAS_VOWEL.test(m[1]!)) {
    w = m[1]!
    if (STEP1B_AT_BL_IZ.test(w)) w += 'e'
    else if (DOUBLE_CONSONANT.test(w)) w = w.slice(0, -1)
    else if (CVC.test(w)) w += 'e'
  }

  // Step 1c: y → i after a vowel-containing stem.
  if ((m = STEP1C.exec(w)) != null && HAS_VOWEL.test(m[1]!)) w = m[1]! + 'i'

  // Step 2 and 3: map double and single suffixes when the stem's measure is positive.
  if ((m = STEP2_RE.exec(w)) != null && M_GT_0.test(m[1]!)) w = m[1]! + STEP2[m[2]!]!
  if ((m = STEP3_RE.exec(w)) != null && M_GT_0.test(m[1]!)) w = m[1]! + STEP3[m[2]!]!

  // Step 4: drop suffixes when the measure is above one.
  if ((m = STEP4_RE.exec(w)) != null) {
    if (M_GT_1.test(m[1]!)) w = m[1]!
  } else if ((m = STEP4_ION.exec(w)) != null) {
    const stem = m[1]! + m[2]!
    if (M_GT_1.test(stem)) w = stem
  }

  // Step 5: tidy a final -e and -ll.
  if ((m = STEP5_E.exec(w)) != null) {
    const stem = m[1]!
    if (M_GT_1.test(stem) || (M_EQ_1.test(stem) && !CVC.test(stem))) w = stem
  }
  if (w.endsWith('ll') && M_GT_1.test(w)) w = w.slice(0, -1)

  return initialY ? 'y' + w.slice(1) : w
}
