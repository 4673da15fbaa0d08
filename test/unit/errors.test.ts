import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { ERRORS, PlexusError, plexusError, isPlexusError, describeError, type ErrorCode } from '../../src/errors.js'

// Compiled tests run from dist/test/unit/, three levels below the repository root.
const ROOT = new URL('../../../', import.meta.url)
const DOC = readFileSync(new URL('docs/errors.md', ROOT), 'utf8')

/** Rows of the codes table: `| \`CODE\` | status | \`type\` | when | what to do |`. */
function documentedRows (): Map<string, { status: number, type: string }> {
  const rows = new Map<string, { status: number, type: string }>()
  for (const line of DOC.split('\n')) {
    const m = /^\|\s*`(PLX_ERR_[A-Z0-9_]+)`\s*\|\s*(\d+)\s*\|\s*`([a-z_]+)`\s*\|/.exec(line)
    if (m != null) rows.set(m[1]!, { status: Number(m[2]), type: m[3]! })
  }
  return rows
}

describe('docs/errors.md', () => {
  it('documents every code of ERRORS', () => {
    // Prepare
    const codes = Object.keys(ERRORS)

    // Execute
    const missing = codes.filter(code => !DOC.includes(`\`${code}\``))

    // Assert
    assert.ok(codes.length > 0)
    assert.deepEqual(missing, [], `codes missing from docs/errors.md: ${missing.join(', ')}`)
  })

  it('documents no code that ERRORS lacks', () => {
    // Prepare
    const mentioned = new Set(DOC.match(/PLX_ERR_[A-Z0-9_]+/g) ?? [])

    // Execute
    const unknown = [...mentioned].filter(code => !Object.hasOwn(ERRORS, code))

    // Assert
    assert.ok(mentioned.size > 0)
    assert.deepEqual(unknown, [], `codes in docs/errors.md that ERRORS lacks: ${unknown.join(', ')}`)
  })

  it('has one table row per code, with the status and type of ERRORS', () => {
    // Execute
    const rows = documentedRows()

    // Assert
    assert.deepEqual([...rows.keys()].sort(), Object.keys(ERRORS).sort())
    for (const [code, spec] of Object.entries(ERRORS)) {
      assert.deepEqual(rows.get(code), { status: spec.status, type: spec.type }, code)
    }
  })
})

describe('ERRORS', () => {
  it('uses PLX_ERR_ codes, HTTP error statuses and non-empty messages', () => {
    for (const [code, spec] of Object.entries(ERRORS)) {
      assert.match(code, /^PLX_ERR_[A-Z0-9_]+$/)
      assert.ok(spec.status >= 400 && spec.status <= 599, `${code} status ${spec.status}`)
      assert.ok(spec.message.length > 0, code)
    }
  })

  it('gives every OpenAI code at most one Plexus code', () => {
    // Prepare
    const seen = new Map<string, string>()

    // Execute / Assert
    for (const [code, spec] of Object.entries(ERRORS)) {
      const openaiCode = 'openaiCode' in spec ? spec.openaiCode : code
      assert.equal(seen.get(openaiCode), undefined, `${code} and ${seen.get(openaiCode) ?? ''} share ${openaiCode}`)
      seen.set(openaiCode, code)
    }
  })
})

describe('PlexusError', () => {
  it('fills %s placeholders in order', () => {
    // Execute
    const err = new PlexusError('PLX_ERR_CONTEXT_LENGTH', [2048, 2100, 2000, 100])

    // Assert
    assert.equal(err.message, ERRORS.PLX_ERR_CONTEXT_LENGTH.message
      .replace('%s', '2048').replace('%s', '2100').replace('%s', '2000').replace('%s', '100'))
    assert.ok(err.message.indexOf('2048') < err.message.indexOf('2100'))
    assert.ok(err.message.indexOf('2000') < err.message.indexOf('100 for'))
    assert.doesNotMatch(err.message, /%s/)
  })

  it('fills missing arguments with the empty string and ignores extra ones', () => {
    // Execute
    const short = new PlexusError('PLX_ERR_MODEL_LOAD', ['tiny'])
    const long = new PlexusError('PLX_ERR_MODEL_NOT_FOUND', ['a', 'b'])

    // Assert
    assert.equal(short.message, "Model 'tiny' failed to load: ")
    assert.equal(long.message, "The model 'a' does not exist")
  })

  it('does not interpret replacement patterns in arguments', () => {
    // Execute
    const err = new PlexusError('PLX_ERR_BAD_REQUEST', ['$& and $1 and %s'])

    // Assert
    assert.equal(err.message, '$& and $1 and %s')
  })

  it('carries statusCode, type, openaiCode, param and cause', () => {
    // Prepare
    const cause = new Error('underlying')

    // Execute
    const err = new PlexusError('PLX_ERR_MODEL_NOT_FOUND', ['tiny'], { param: 'model', cause })

    // Assert
    assert.ok(err instanceof Error)
    assert.equal(err.name, 'PlexusError')
    assert.equal(err.code, 'PLX_ERR_MODEL_NOT_FOUND')
    assert.equal(err.statusCode, 404)
    assert.equal(err.type, 'not_found_error')
    assert.equal(err.openaiCode, 'model_not_found')
    assert.equal(err.param, 'model')
    assert.equal(err.cause, cause)
  })

  it('defaults openaiCode to the Plexus code, and param and retryAfterSeconds to null', () => {
    // Execute
    const err = new PlexusError('PLX_ERR_MODEL_EXISTS', ['tiny'])

    // Assert
    assert.equal(err.openaiCode, 'PLX_ERR_MODEL_EXISTS')
    assert.equal(err.param, null)
    assert.equal(err.retryAfterSeconds, null)
    assert.equal(err.statusCode, 409)
    assert.equal(err.type, 'invalid_request_error')
  })

  it('carries retryAfterSeconds when given', () => {
    // Execute
    const err = new PlexusError('PLX_ERR_RATE_LIMITED', [2, 30], { retryAfterSeconds: 30 })

    // Assert
    assert.equal(err.retryAfterSeconds, 30)
    assert.equal(err.statusCode, 429)
  })

  it('takes its status and type from ERRORS for every code', () => {
    for (const code of Object.keys(ERRORS) as ErrorCode[]) {
      const err = new PlexusError(code)
      assert.equal(err.code, code)
      assert.equal(err.statusCode, ERRORS[code].status)
      assert.equal(err.type, ERRORS[code].type)
    }
  })

  it('is built by plexusError with its arguments in order', () => {
    // Execute
    const err = plexusError('PLX_ERR_RATE_LIMITED', 2, 30)

    // Assert
    assert.equal(err.code, 'PLX_ERR_RATE_LIMITED')
    assert.equal(err.statusCode, 429)
    assert.equal(err.message, 'Rate limit of 2 requests per minute reached for this key; retry in 30 s')
  })
})

describe('isPlexusError', () => {
  it('recognises a PlexusError, with or without a code', () => {
    // Prepare
    const err = new PlexusError('PLX_ERR_QUEUE_FULL', [3])

    // Assert
    assert.equal(isPlexusError(err), true)
    assert.equal(isPlexusError(err, 'PLX_ERR_QUEUE_FULL'), true)
    assert.equal(isPlexusError(err, 'PLX_ERR_ABORTED'), false)
  })

  it('works by name, so errors from another copy of the module match', () => {
    // Prepare: a look-alike that is not an instance of this module's class
    const foreign = Object.assign(new Error('x'), { name: 'PlexusError', code: 'PLX_ERR_ABORTED' })

    // Assert
    assert.equal(foreign instanceof PlexusError, false)
    assert.equal(isPlexusError(foreign), true)
    assert.equal(isPlexusError(foreign, 'PLX_ERR_ABORTED'), true)
    assert.equal(isPlexusError(foreign, 'PLX_ERR_INTERNAL'), false)
  })

  it('rejects other values', () => {
    assert.equal(isPlexusError(new Error('x')), false)
    assert.equal(isPlexusError(Object.assign(new Error('x'), { code: 'PLX_ERR_ABORTED' })), false)
    assert.equal(isPlexusError(null), false)
    assert.equal(isPlexusError(undefined), false)
    assert.equal(isPlexusError('PlexusError'), false)
    assert.equal(isPlexusError({ name: 'PlexusError' }), true)
  })
})

describe('describeError', () => {
  it('gives the message of an Error and the string of anything else', () => {
    assert.equal(describeError(new PlexusError('PLX_ERR_SHUTTING_DOWN')), ERRORS.PLX_ERR_SHUTTING_DOWN.message)
    assert.equal(describeError('plain'), 'plain')
    assert.equal(describeError(42), '42')
  })
})
