import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { MAX_QUERY_TERMS } from '../../../src/cabinets/constants.js'
import { porterStem } from '../../../src/cabinets/retrieval/porter.js'
import { DEFAULT_TOKENIZER, indexTerms, queryTerms, tokenize } from '../../../src/cabinets/retrieval/tokenizer.js'

const PLAIN = { stemming: false, removeDiacritics: false, cjkBigrams: false }

describe('porterStem', () => {
  it('matches the reference vocabulary of Porter\'s published implementation', () => {
    // Prepare: pairs from https://tartarus.org/martin/PorterStemmer/ (voc.txt → output.txt)
    const pairs: Array<[string, string]> = [
      ['caresses', 'caress'], ['ponies', 'poni'], ['ties', 'ti'], ['caress', 'caress'], ['cats', 'cat'],
      ['feed', 'feed'], ['agreed', 'agre'], ['plastered', 'plaster'], ['motoring', 'motor'], ['sing', 'sing'],
      ['conflated', 'conflat'], ['troubled', 'troubl'], ['sized', 'size'], ['hopping', 'hop'], ['tanned', 'tan'],
      ['falling', 'fall'], ['hissing', 'hiss'], ['fizzed', 'fizz'], ['failing', 'fail'], ['filing', 'file'],
      ['happy', 'happi'], ['sky', 'sky'], ['relational', 'relat'], ['conditional', 'condit'], ['rational', 'ration'],
      ['digitizer', 'digit'], ['conformabli', 'conform'], ['radicalli', 'radic'], ['differentli', 'differ'],
      ['analogousli', 'analog'], ['vietnamization', 'vietnam'], ['predication', 'predic'], ['operator', 'oper'],
      ['feudalism', 'feudal'], ['decisiveness', 'decis'], ['hopefulness', 'hope'], ['callousness', 'callous'],
      ['formaliti', 'formal'], ['sensitiviti', 'sensit'], ['sensibiliti', 'sensibl'], ['triplicate', 'triplic'],
      ['formative', 'form'], ['formalize', 'formal'], ['electriciti', 'electr'], ['electrical', 'electr'],
      ['hopeful', 'hope'], ['goodness', 'good'], ['revival', 'reviv'], ['allowance', 'allow'], ['inference', 'infer'],
      ['airliner', 'airlin'], ['gyroscopic', 'gyroscop'], ['adjustable', 'adjust'], ['defensible', 'defens'],
      ['irritant', 'irrit'], ['replacement', 'replac'], ['adjustment', 'adjust'], ['dependent', 'depend'],
      ['adoption', 'adopt'], ['homologous', 'homolog'], ['communism', 'commun'], ['activate', 'activ'],
      ['angulariti', 'angular'], ['effective', 'effect'], ['bowdlerize', 'bowdler'], ['probate', 'probat'],
      ['rate', 'rate'], ['cease', 'ceas'], ['controll', 'control'], ['roll', 'roll'], ['running', 'run'],
      ['runs', 'run'], ['generalizations', 'gener'], ['oscillators', 'oscil'], ['yelling', 'yell'], ['is', 'is']
    ]

    // Execute
    const wrong = pairs.filter(([word, stem]) => porterStem(word) !== stem).map(([word, stem]) => `${word}: ${porterStem(word)} ≠ ${stem}`)

    // Assert
    assert.deepEqual(wrong, [])
  })
})

describe('tokenize', () => {
  it('splits on anything but letters, digits and marks, lowercases, and keeps offsets into the original text', () => {
    // Execute
    const tokens = tokenize('Hello, World! e-mail x2 ÆSIR', PLAIN)

    // Assert
    assert.deepEqual(tokens.map(t => t.term), ['hello', 'world', 'e', 'mail', 'x2', 'æsir'])
    assert.deepEqual(tokens.map(t => 'Hello, World! e-mail x2 ÆSIR'.slice(t.start, t.end)), ['Hello', 'World', 'e', 'mail', 'x2', 'ÆSIR'])
  })

  it('folds diacritics and compatibility forms when asked', () => {
    // Execute
    const folded = tokenize('Café ﬁnal Ｆｕｌｌ naïve', { ...PLAIN, removeDiacritics: true }).map(t => t.term)
    const kept = tokenize('Café', PLAIN).map(t => t.term)

    // Assert
    assert.deepEqual(folded, ['cafe', 'final', 'full', 'naive'])
    assert.deepEqual(kept, ['café'])
  })

  it('never emits a term holding a separator, even when NFKC introduces one', () => {
    // Execute
    const terms = indexTerms('⑴ ½ a\u00a0b', DEFAULT_TOKENIZER)

    // Assert
    for (const term of terms) assert.match(term, /^[\p{L}\p{N}\p{M}]+$/u)
    assert.ok(terms.includes('1'))
  })

  it('indexes runs of spaceless scripts as overlapping character pairs when asked', () => {
    // Execute
    const pairs = indexTerms('東京都に住む 2024年 ภาษาไทย x', DEFAULT_TOKENIZER)
    const runs = indexTerms('東京都に住む', PLAIN)

    // Assert: 東京都に住む → 東京 京都 都に に住 住む; digits stay whole next to a CJK run; one
    // character alone is itself; other scripts are untouched.
    assert.deepEqual(pairs, ['東京', '京都', '都に', 'に住', '住む', '2024', '年', 'ภา', 'าษ', 'ษา', 'าไ', 'ไท', 'ทย', 'x'])
    assert.deepEqual(runs, ['東京都に住む'])
    // A query for part of a run finds its pairs; astral characters are paired by code point.
    assert.deepEqual(queryTerms('京都', { ...DEFAULT_TOKENIZER, removeStopWords: true }), ['京都'])
    assert.deepEqual(indexTerms('𠮷野家', DEFAULT_TOKENIZER), ['𠮷野', '野家'])
  })

  it('stems lowercase ASCII words only', () => {
    // Execute
    const terms = indexTerms('Running runs runner2 ñandúes', DEFAULT_TOKENIZER)

    // Assert
    assert.deepEqual(terms, ['run', 'run', 'runner2', 'nandu'])
  })
})

describe('queryTerms', () => {
  it('drops stop words, keeps order, removes duplicates', () => {
    // Execute
    const terms = queryTerms('The running of the runs and a fox', { ...DEFAULT_TOKENIZER, removeStopWords: true })

    // Assert
    assert.deepEqual(terms, ['run', 'fox'])
  })

  it('keeps stop words when asked, or when the query has nothing else', () => {
    // Execute
    const kept = queryTerms('the fox', { ...PLAIN, removeStopWords: false })
    const onlyStops = queryTerms('to be or not to be', { ...PLAIN, removeStopWords: true })

    // Assert
    assert.deepEqual(kept, ['the', 'fox'])
    assert.deepEqual(onlyStops, ['to', 'be', 'or', 'not'])
  })

  it('turns FTS5 syntax into plain words', () => {
    // Execute
    const terms = queryTerms('"foo" OR bar* NEAR( title:x ^y', { ...PLAIN, removeStopWords: false })

    // Assert
    assert.deepEqual(terms, ['foo', 'or', 'bar', 'near', 'title', 'x', 'y'])
  })

  it('keeps at most MAX_QUERY_TERMS terms', () => {
    // Prepare
    const query = Array.from({ length: 200 }, (_, i) => `w${i}`).join(' ')

    // Execute
    const terms = queryTerms(query, { ...PLAIN, removeStopWords: true })

    // Assert
    assert.equal(terms.length, MAX_QUERY_TERMS)
    assert.equal(terms[0], 'w0')
  })
})
