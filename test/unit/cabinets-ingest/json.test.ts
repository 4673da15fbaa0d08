import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { MAX_JSON_DEPTH } from '../../../src/cabinets/ingest/constants.js'
import { parseFile } from '../../../src/cabinets/ingest/index.js'
import { isIngestError } from '../../../src/cabinets/ingest/ingest-error.js'

describe('parseFile: JSON', () => {
  let dir: string
  before(() => { dir = mkdtempSync(join(tmpdir(), 'plexus-ingest-json-')) })
  after(() => { rmSync(dir, { recursive: true, force: true }) })

  it('flattens nested objects and arrays to "path: value" lines, one paragraph per top-level key', async () => {
    // Prepare
    const path = join(dir, 'config.json')
    writeFileSync(path, JSON.stringify({
      server: { host: 'localhost', ports: [80, 443], tls: { enabled: true } },
      'dotted.key': null,
      users: [{ name: 'Ada', tags: [] }],
      empty: {}
    }))

    // Execute
    const doc = await parseFile(path)

    // Assert
    assert.equal(doc.title, 'config.json')
    assert.equal(doc.mime, 'application/json')
    assert.deepEqual(doc.sections, [{
      heading: null,
      text: [
        'server.host: localhost\nserver.ports[0]: 80\nserver.ports[1]: 443\nserver.tls.enabled: true',
        '["dotted.key"]: null',
        'users[0].name: Ada\nusers[0].tags: []',
        'empty: {}'
      ].join('\n\n')
    }])
  })

  it('writes a top-level array as one paragraph per item, and a bare scalar as its value', async () => {
    // Prepare
    const list = join(dir, 'list.json')
    const scalar = join(dir, 'scalar.json')
    writeFileSync(list, '[{"q": "What?"}, "plain"]')
    writeFileSync(scalar, '"just a string"')

    // Execute
    const first = await parseFile(list)
    const second = await parseFile(scalar)

    // Assert
    assert.deepEqual(first.sections, [{ heading: null, text: '[0].q: What?\n\n[1]: plain' }])
    assert.deepEqual(second.sections, [{ heading: null, text: 'just a string' }])
  })

  it('stops at MAX_JSON_DEPTH instead of walking very deep nesting', async () => {
    // Prepare
    const path = join(dir, 'deep.json')
    const depth = 100_000
    writeFileSync(path, '{"a":'.repeat(depth) + '1' + '}'.repeat(depth))

    // Execute
    const doc = await parseFile(path)

    // Assert
    const text = doc.sections[0]?.text ?? ''
    assert.equal(text, `${Array(MAX_JSON_DEPTH).fill('a').join('.')}: (nested deeper than ${MAX_JSON_DEPTH} levels, left out)`)
  })

  it('refuses invalid JSON as corrupt', async () => {
    // Prepare
    const path = join(dir, 'broken.json')
    writeFileSync(path, '{"a": 1,')

    // Execute
    const result = parseFile(path)

    // Assert
    await assert.rejects(result, (err: unknown) => isIngestError(err, 'corrupt') && /broken\.json is not valid JSON/.test(err.message))
  })
})
