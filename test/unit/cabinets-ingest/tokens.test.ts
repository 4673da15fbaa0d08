import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { estimateTokens } from '../../../src/cabinets/ingest/tokens.js'

describe('estimateTokens', () => {
  it('counts English close to a BPE tokenizer: a word per token, long words as several, punctuation apart', () => {
    // Prepare
    const sentence = 'The quick brown fox jumps over the lazy dog.'

    // Execute
    const tokens = estimateTokens(sentence)

    // Assert
    assert.equal(tokens, 10)
    assert.equal(estimateTokens('internationalization'), 4)
  })

  it('counts digits in groups of three, CJK per character, other scripts per two characters and emoji as two', () => {
    // Prepare
    const samples: Array<[string, number]> = [
      ['1234567', 3],
      ['你好世界', 4],
      ['こんにちは', 5],
      ['Привет', 3],
      ['👍', 2],
      ['a👍b', 4]
    ]

    // Execute
    const counts = samples.map(([text]) => estimateTokens(text))

    // Assert
    assert.deepEqual(counts, samples.map(([, n]) => n))
  })

  it('gives nothing for whitespace and adds up across whitespace', () => {
    // Prepare
    const a = 'Retrieval-augmented generation, 2024!'
    const b = '检索增强生成 🤖'

    // Execute
    const joined = estimateTokens(`${a} \n ${b}`)

    // Assert
    assert.equal(estimateTokens(' \n\t '), 0)
    assert.equal(estimateTokens(''), 0)
    assert.equal(joined, estimateTokens(a) + estimateTokens(b))
  })
})
