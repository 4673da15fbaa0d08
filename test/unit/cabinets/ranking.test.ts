import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { bm25Params, idf, termScore } from '../../../src/cabinets/retrieval/bm25.js'
import { reciprocalRankFusion } from '../../../src/cabinets/retrieval/fusion.js'
import { makeSnippet } from '../../../src/cabinets/retrieval/snippet.js'
import { DEFAULT_TOKENIZER, queryTerms } from '../../../src/cabinets/retrieval/tokenizer.js'
import { hasCode } from './store-fixtures.js'

describe('bm25', () => {
  it('defaults to k1 = 1.2 and b = 0.75 and rejects out-of-range values', () => {
    assert.deepEqual(bm25Params(), { k1: 1.2, b: 0.75 })
    assert.deepEqual(bm25Params({ b: 0 }), { k1: 1.2, b: 0 })
    assert.throws(() => bm25Params({ k1: -1 }), hasCode('PLX_ERR_BAD_REQUEST'))
    assert.throws(() => bm25Params({ k1: 4 }), hasCode('PLX_ERR_BAD_REQUEST'))
    assert.throws(() => bm25Params({ b: 1.5 }), hasCode('PLX_ERR_BAD_REQUEST'))
    assert.throws(() => bm25Params({ b: Number.NaN }), hasCode('PLX_ERR_BAD_REQUEST'))
  })

  it('computes idf = ln(1 + (N − n + 0.5) / (n + 0.5)), positive even for terms in every chunk', () => {
    assert.equal(idf(1, 10), Math.log(1 + 9.5 / 1.5))
    assert.ok(idf(10, 10) > 0)
    assert.ok(idf(1, 10) > idf(5, 10))
  })

  it('saturates with term frequency, penalises long chunks by b, and ignores tf with k1 = 0', () => {
    // Prepare
    const stats = { chunkCount: 100, avgLength: 10 }
    const p = { k1: 1.2, b: 0.75 }

    // Execute / Assert
    assert.equal(termScore(2, 1, 10, stats, p), 2) // tf = 1 at average length: score = idf
    assert.ok(termScore(2, 3, 10, stats, p) > termScore(2, 1, 10, stats, p))
    assert.ok(termScore(2, 100, 10, stats, p) < 2 * (p.k1 + 1)) // bounded by idf·(k1+1)
    assert.ok(termScore(2, 1, 5, stats, p) > termScore(2, 1, 50, stats, p))
    assert.equal(termScore(2, 1, 5, stats, { k1: 1.2, b: 0 }), termScore(2, 1, 50, stats, { k1: 1.2, b: 0 }))
    assert.equal(termScore(2, 1, 10, stats, { k1: 0, b: 0.75 }), termScore(2, 7, 10, stats, { k1: 0, b: 0.75 }))
    assert.equal(termScore(2, 0, 10, stats, p), 0)
  })
})

describe('reciprocalRankFusion', () => {
  it('sums 1/(60 + rank) over lists: second in both beats first in one', () => {
    // Prepare
    const lexical = ['a', 'b', 'c'].map(key => ({ key, item: key }))
    const vector = ['d', 'b', 'e'].map(key => ({ key, item: key }))

    // Execute
    const fused = reciprocalRankFusion([lexical, vector])

    // Assert
    assert.deepEqual(fused.map(f => f.key), ['b', 'a', 'd', 'c', 'e'])
    assert.equal(fused[0]!.score, 2 / 62)
    assert.equal(fused[1]!.score, 1 / 61)
    assert.deepEqual(fused[0]!.ranks, [2, 2])
    assert.deepEqual(fused[2]!.ranks, [null, 1])
  })

  it('breaks ties by best single rank, then key, and counts a repeated key once per list', () => {
    // Prepare
    const one = [{ key: 'x', item: 1 }, { key: 'y', item: 2 }, { key: 'x', item: 3 }]
    const two = [{ key: 'y', item: 4 }, { key: 'x', item: 5 }]

    // Execute
    const fused = reciprocalRankFusion([one, two], 10)

    // Assert
    assert.deepEqual(fused.map(f => [f.key, f.item, f.score]), [['x', 1, 1 / 11 + 1 / 12], ['y', 2, 1 / 12 + 1 / 11]])
  })
})

describe('makeSnippet', () => {
  const terms = (q: string): Set<string> => new Set(queryTerms(q, { ...DEFAULT_TOKENIZER, removeStopWords: true }))

  it('returns short text whole, with whitespace collapsed and controls removed', () => {
    assert.equal(makeSnippet('  a\n\tb\u0000c  ', terms('b'), DEFAULT_TOKENIZER), 'a b c')
  })

  it('centres on the densest match, cuts at word boundaries and marks cuts with …', () => {
    // Prepare
    const filler = (n: number): string => Array.from({ length: n }, (_, i) => `filler${i}`).join(' ')
    const text = `${filler(60)} the zebra crossing is running near the zebra park ${filler(60)}`

    // Execute
    const snippet = makeSnippet(text, terms('zebra running'), DEFAULT_TOKENIZER)

    // Assert
    assert.ok(snippet.length <= 202, String(snippet.length))
    assert.ok(snippet.startsWith('…') && snippet.endsWith('…'))
    assert.match(snippet, /zebra crossing is running near the zebra park/)
    assert.doesNotMatch(snippet, /…\S*filler\d*[^ ]…/)
    for (const word of snippet.replace(/…/g, '').split(' ')) assert.match(word, /^(filler\d+|the|zebra|crossing|is|running|near|park)$/)
  })

  it('falls back to the start of the text without a match', () => {
    // Prepare
    const text = 'alpha beta gamma '.repeat(40)

    // Execute
    const snippet = makeSnippet(text, terms('nothing'), DEFAULT_TOKENIZER)

    // Assert
    assert.ok(snippet.startsWith('alpha beta gamma'))
    assert.ok(snippet.endsWith('…'))
  })
})
