import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { splitAtoms, wordAtoms, type Atom } from '../../../src/cabinets/ingest/split.js'
import { estimateTokens } from '../../../src/cabinets/ingest/tokens.js'

const render = (atoms: Atom[]): string => atoms.map((a, i) => i === 0 ? a.text : a.sep + a.text).join('')

describe('splitAtoms', () => {
  it('keeps paragraphs that fit whole', () => {
    // Prepare
    const text = 'First paragraph here.\n\nSecond one.'

    // Execute
    const atoms = splitAtoms(text, 100, estimateTokens)

    // Assert
    assert.deepEqual(atoms, [
      { text: 'First paragraph here.', tokens: 5, sep: '' },
      { text: 'Second one.', tokens: 4, sep: '\n\n' }
    ])
  })

  it('cuts long paragraphs at sentences, line breaks and CJK full stops, with the separators that joined them', () => {
    // Prepare
    const text = 'One sentence. "Two?" Three!\nline four\n\n第一句。第二句。'

    // Execute
    const atoms = splitAtoms(text, 4, estimateTokens)

    // Assert
    assert.deepEqual(atoms.map(a => [a.sep, a.text]), [
      ['', 'One sentence.'],
      [' ', '"Two?"'],
      [' ', 'Three!'],
      ['\n', 'line four'],
      ['\n\n', '第一句。'],
      ['', '第二句。']
    ])
  })

  it('restores the text when the atoms are joined with their separators, at any budget', () => {
    // Prepare
    const text = 'Alpha beta gamma delta epsilon. Zeta eta theta iota kappa lambda mu.\nname: Ada\nage: 36\n\n' +
      '检索增强生成把文档切成小块再检索。第二句话也很长很长很长。\n\n' + 'x'.repeat(60) + ' 👨‍👩‍👧👨‍👩‍👧👨‍👩‍👧 🇫🇷🇫🇷 e\u0301e\u0301'

    // Execute
    const results = [1, 2, 3, 5, 8, 13, 1000].map(budget => splitAtoms(text, budget, estimateTokens))

    // Assert
    for (const atoms of results) {
      assert.equal(render(atoms), text)
      for (const atom of atoms) assert.equal(atom.tokens, estimateTokens(atom.text))
    }
  })

  it('never cuts inside a grapheme cluster, even when one is over budget', () => {
    // Prepare
    const text = '👨‍👩‍👧'.repeat(5) + '🇫🇷'.repeat(5) + 'e\u0301'.repeat(5)

    // Execute
    const atoms = splitAtoms(text, 1, estimateTokens)

    // Assert
    assert.deepEqual(atoms.slice(0, 10).map(a => a.text), [...Array(5).fill('👨‍👩‍👧'), ...Array(5).fill('🇫🇷')])
    const accented = atoms.slice(10).map(a => a.text)
    assert.ok(accented.length > 1)
    assert.ok(accented.every(t => /^(e\u0301)+$/.test(t)), 'no accent separated from its letter')
    assert.equal(accented.join(''), 'e\u0301'.repeat(5))
  })
})

describe('wordAtoms', () => {
  it('splits at whitespace and between CJK characters', () => {
    // Prepare
    const text = 'hello, world\n中文 ok'

    // Execute
    const atoms = wordAtoms(text, estimateTokens)

    // Assert
    assert.deepEqual(atoms.map(a => [a.sep, a.text]), [['', 'hello,'], [' ', 'world'], ['\n', '中'], ['', '文'], [' ', 'ok']])
  })
})
