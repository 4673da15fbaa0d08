import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { MAX_HEADING_CHARS } from '../../../src/cabinets/ingest/constants.js'
import { normalizeHeading, normalizeText } from '../../../src/cabinets/ingest/text.js'

describe('normalizeText', () => {
  it('normalises line ends, spaces, blank lines and removes control and invisible characters', () => {
    // Prepare
    const raw = '  a\u00A0\u00A0b\t c \r\nd\u0000e\u001B\u200Bf soft\u00ADhyphen\r\r\r\n\n\ng\u2028h\fi  '

    // Execute
    const text = normalizeText(raw)

    // Assert
    assert.equal(text, 'a b c\ndef softhyphen\n\ng\nh\n\ni')
  })

  it('composes to NFC and replaces lone surrogates, keeping emoji sequences intact', () => {
    // Prepare
    const raw = 'e\u0301 \uD800 👨‍👩‍👧 🇫🇷'

    // Execute
    const text = normalizeText(raw)

    // Assert
    assert.equal(text, '\u00E9 \uFFFD 👨‍👩‍👧 🇫🇷')
  })
})

describe('normalizeHeading', () => {
  it('makes one line, gives null for blank, and cuts long headings with an ellipsis', () => {
    // Prepare
    const long = 'word '.repeat(100)

    // Execute
    const oneLine = normalizeHeading(' Two\n lines ')
    const blank = normalizeHeading(' \n ')
    const cut = normalizeHeading(long)

    // Assert
    assert.equal(oneLine, 'Two lines')
    assert.equal(blank, null)
    assert.equal([...(cut ?? '')].length <= MAX_HEADING_CHARS, true)
    assert.ok(cut?.endsWith('…'))
  })
})
