import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { JsonValueEnd, checkJsonSchema } from '../../src/inference/output-format.js'
import { isPlexusError } from '../../src/errors.js'

/** Feeds text in pieces of `size` characters; the index of the character after which the value was complete, or -1. */
function endOf (text: string, size: number): number {
  const end = new JsonValueEnd()
  for (let i = 0; i < text.length; i += size) {
    const piece = text.slice(i, i + size)
    for (let k = 0; k < piece.length; k++) {
      if (end.push(piece[k]!)) return i + k
    }
  }
  return -1
}

describe('JsonValueEnd', () => {
  it('ends a value where JSON.parse would accept it, whatever the pieces', () => {
    const values = [
      '{ "happy": false, "mood": "sunny", "count": -500 }',
      '[1, [2, {"a": "]}"}], "x\\"}y"]',
      '"a string with { and [ and \\\\"',
      '{"nested": {"deep": [{"k": "v\\\\"}]}}',
      '{}',
      '[]'
    ]
    for (const value of values) {
      assert.doesNotThrow(() => JSON.parse(value))
      for (const size of [1, 2, 5, 1000]) {
        // Execute: the value, then what a model might go on with.
        const at = endOf(`${value}\n\n  {"more": 1}`, size)
        // Assert: complete exactly at its last character.
        assert.equal(at, value.length - 1, `${value} in pieces of ${size}`)
      }
    }
  })

  it('ends a number or literal at the whitespace after it', () => {
    assert.equal(endOf('-3000000000 ', 1), 11)
    assert.equal(endOf('true\n', 3), 4)
    assert.equal(endOf('null', 1), -1)
  })

  it('does not end inside an unfinished value', () => {
    assert.equal(endOf('{ "Can I have a pie?" : "I can make a pie.\n                    , " said the owl', 7), -1)
    assert.equal(endOf('[1, 2, {"a": [3]}', 1), -1)
  })
})

describe('checkJsonSchema', () => {
  const refused = (schema: Record<string, unknown>, mention: RegExp): void => {
    assert.throws(() => checkJsonSchema(schema), (e: unknown) => isPlexusError(e, 'PLX_ERR_BAD_REQUEST') && mention.test(e.message))
  }

  it('passes what the grammar builder honours, with anyOf as oneOf and a bare object as any object', () => {
    const schema = {
      $defs: { pet: { type: 'object', properties: { name: { type: 'string', maxLength: 20 } }, required: ['name'], additionalProperties: false } },
      type: 'object',
      title: 'Story',
      properties: {
        mood: { enum: ['sunny', 'rainy'] },
        pets: { type: 'array', items: { $ref: '#/$defs/pet' }, maxItems: 3 },
        when: { type: 'string', format: 'date' },
        note: { anyOf: [{ type: 'string' }, { type: 'null' }] },
        extra: { type: 'object' },
        kind: { const: 'story' }
      },
      required: ['mood', 'pets']
    }
    const out = checkJsonSchema(schema) as { properties: Record<string, Record<string, unknown>> }
    assert.deepEqual(out.properties.note, { oneOf: [{ type: 'string' }, { type: 'null' }] })
    assert.deepEqual(out.properties.extra, { type: 'object', additionalProperties: true })
    assert.deepEqual(out.properties.pets, schema.properties.pets)
  })

  it('refuses what it would ignore or misread, naming where', () => {
    refused({}, /schema needs one of type/)
    refused({ type: 'no-such-type' }, /schema\.type has 'no-such-type'/)
    refused({ type: 'string', pattern: '^a+$' }, /schema uses 'pattern'/)
    refused({ type: 'object', properties: { n: { type: 'number', minimum: 0 } } }, /schema\.properties\.n uses 'minimum'/)
    refused({ $ref: '#/$defs/nowhere' }, /\$ref/)
    refused({ enum: 5 }, /schema\.enum/)
    refused({ oneOf: 'x' }, /schema\.oneOf/)
    refused({ type: 'object', properties: { a: { type: 'string' } }, required: ['b'] }, /required/)
    refused({ type: 'string', minItems: 2 }, /applies to type 'array'/)
    refused({ type: ['string', 'object'] }, /use oneOf/)
    let deep: Record<string, unknown> = { type: 'string' }
    for (let i = 0; i < 40; i++) deep = { type: 'array', items: deep }
    refused(deep, /deeper than/)
  })
})
