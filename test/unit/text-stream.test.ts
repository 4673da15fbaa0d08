import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { StopSequenceFilter } from '../../src/inference/text-stream.js'

/** Pushes every piece, then flushes; returns what was emitted for each step and the joined text. */
function run (stops: string[], pieces: string[]): { emitted: string[], text: string, stopped: boolean } {
  const filter = new StopSequenceFilter(stops)
  const emitted = pieces.map(p => filter.push(p))
  emitted.push(filter.flush())
  return { emitted, text: emitted.join(''), stopped: filter.stopped }
}

describe('StopSequenceFilter', () => {
  it('passes text through unchanged when there are no stop sequences', () => {
    // Execute
    const { emitted, stopped } = run([], ['Once', ' upon', ' a time'])

    // Assert
    assert.deepEqual(emitted, ['Once', ' upon', ' a time', ''])
    assert.equal(stopped, false)
  })

  it('ignores empty stop sequences', () => {
    // Execute
    const { emitted, stopped } = run(['', ''], ['a', 'b'])

    // Assert
    assert.deepEqual(emitted, ['a', 'b', ''])
    assert.equal(stopped, false)
  })

  it('cuts at a stop sequence inside one piece and drops it', () => {
    // Execute
    const { emitted, stopped } = run(['END'], ['The story ENDs here'])

    // Assert
    assert.deepEqual(emitted, ['The story ', ''])
    assert.equal(stopped, true)
  })

  it('finds a stop sequence split across pushes', () => {
    // Prepare
    const filter = new StopSequenceFilter(['END'])

    // Execute
    const a = filter.push('abcE')
    const b = filter.push('N')
    const c = filter.push('Dxyz')

    // Assert
    assert.equal(a, 'abc')
    assert.equal(b, '')
    assert.equal(c, '')
    assert.equal(filter.stopped, true)
    assert.equal(filter.flush(), '')
  })

  it('finds a stop sequence pushed one character at a time', () => {
    // Execute
    const { text, stopped } = run(['\n\nUser:'], [...'Hi there.\n\nUser: more'])

    // Assert
    assert.equal(text, 'Hi there.')
    assert.equal(stopped, true)
  })

  it('releases held-back text once it turns out not to be a stop', () => {
    // Prepare
    const filter = new StopSequenceFilter(['END'])

    // Execute
    const a = filter.push('sEN')
    const b = filter.push('se')

    // Assert
    assert.equal(a, 's')
    assert.equal(b, 'ENse')
    assert.equal(filter.stopped, false)
  })

  it('holds back only the longest suffix that can still start a stop', () => {
    // Prepare
    const filter = new StopSequenceFilter(['abab'])

    // Execute
    const a = filter.push('xaba')
    const b = filter.push('c')

    // Assert
    assert.equal(a, 'x')
    assert.equal(b, 'abac')
  })

  it('finds a stop that overlaps held-back text by more than the new piece', () => {
    // Prepare: 'aa' is held; with 'ab' the stop 'aab' starts one character into the held text
    const filter = new StopSequenceFilter(['aab'])

    // Execute
    const a = filter.push('aa')
    const b = filter.push('ab')

    // Assert
    assert.equal(a, '')
    assert.equal(b, 'a')
    assert.equal(filter.stopped, true)
  })

  it('stops at the earliest of several stop sequences', () => {
    // Execute
    const one = run(['world', 'o w'], ['hello world'])
    const two = run(['zzz', 'lo'], ['hel', 'lo world'])

    // Assert
    assert.equal(one.text, 'hell')
    assert.equal(two.text, 'hel')
    assert.equal(one.stopped, true)
    assert.equal(two.stopped, true)
  })

  it('holds back for whichever stop sequence has the longest matching prefix', () => {
    // Prepare
    const filter = new StopSequenceFilter(['xyz', 'yzw'])

    // Execute
    const a = filter.push('axy')
    const b = filter.push('zw')

    // Assert
    assert.equal(a, 'a')
    assert.equal(b, '')
    assert.equal(filter.stopped, true)
  })

  it('drops everything pushed after the stop', () => {
    // Prepare
    const filter = new StopSequenceFilter(['.'])
    filter.push('One. Two')

    // Execute
    const after = [filter.push(' three'), filter.push('.'), filter.flush()]

    // Assert
    assert.deepEqual(after, ['', '', ''])
    assert.equal(filter.stopped, true)
  })

  it('emits nothing when the text starts with a stop sequence', () => {
    // Execute
    const { emitted, stopped } = run(['###'], ['### heading'])

    // Assert
    assert.deepEqual(emitted, ['', ''])
    assert.equal(stopped, true)
  })

  it('flushes held-back text when generation ends without a stop', () => {
    // Prepare
    const filter = new StopSequenceFilter(['END'])
    const a = filter.push('the EN')

    // Execute
    const rest = filter.flush()
    const again = filter.flush()

    // Assert
    assert.equal(a, 'the ')
    assert.equal(rest, 'EN')
    assert.equal(again, '')
    assert.equal(filter.stopped, false)
  })

  it('loses no text and emits no stop over many ways of splitting the same text', () => {
    // Prepare
    const text = 'Tom ran. He saw a <|end|> sign <|e'
    const stops = ['<|end|>', '<|eot|>']

    // Execute / Assert
    for (let i = 0; i <= text.length; i++) {
      for (let j = i; j <= text.length; j++) {
        const { text: out, stopped } = run(stops, [text.slice(0, i), text.slice(i, j), text.slice(j)])
        assert.equal(out, 'Tom ran. He saw a ', `split at ${i},${j}`)
        assert.equal(stopped, true)
      }
    }
  })

  it('returns all text when no stop occurs, however it is split', () => {
    // Prepare
    const text = 'a <|en <|eo <|end| <|'
    const stops = ['<|end|>', '<|eot|>']

    // Execute / Assert
    for (let i = 0; i <= text.length; i++) {
      const { text: out, stopped } = run(stops, [text.slice(0, i), text.slice(i)])
      assert.equal(out, text, `split at ${i}`)
      assert.equal(stopped, false)
    }
  })

  it('handles non-ASCII text and stop sequences', () => {
    // Execute
    const cjk = run(['。'], ['你好', '世界。再见'])
    const emoji = run(['🛑'], ['go 🚦 go ', '🛑 never'])
    const accents = run(['fin'], ['café crème ', 'fi', 'n'])

    // Assert
    assert.equal(cjk.text, '你好世界')
    assert.equal(emoji.text, 'go 🚦 go ')
    assert.equal(accents.text, 'café crème ')
    assert.ok(cjk.stopped && emoji.stopped && accents.stopped)
  })

  it('matches an emoji stop sequence split between its UTF-16 halves', () => {
    // Prepare
    const filter = new StopSequenceFilter(['🛑'])

    // Execute
    const a = filter.push('halt \uD83D')
    const b = filter.push('\uDED1 rest')

    // Assert
    assert.equal(a, 'halt ')
    assert.equal(b, '')
    assert.equal(filter.stopped, true)
  })

  it('does not hold back an emoji that only shares a high surrogate with a stop', () => {
    // Execute
    const { emitted, stopped } = run(['🛑'], ['ok 😀', ' more'])

    // Assert
    assert.deepEqual(emitted, ['ok 😀', ' more', ''])
    assert.equal(stopped, false)
  })
})
