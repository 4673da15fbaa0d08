import { describe, it, beforeEach, afterEach } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, mkdirSync, rmSync, writeFileSync, copyFileSync, existsSync, statSync, unlinkSync, readFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { ModelRegistry, MODEL_NAME_RE, modelNameFromPath } from '../../src/inference/registry.js'
import { isPlexusError, type PlexusError } from '../../src/errors.js'

// Compiled tests run from dist/test/unit/, three levels below the repository root.
const ROOT = new URL('../../../', import.meta.url)
const FIXTURE = fileURLToPath(new URL('models/stories260K.gguf', ROOT))
const FIXTURE_SHA256 = '270cba1bd5109f42d03350f60406024560464db173c0e387d91f0426d3bd256d'

const hasCode = (code: string) => (err: unknown): boolean => isPlexusError(err) && err.code === code

let dir: string
let registryFile: string
let storeDir: string

function newRegistry (): ModelRegistry {
  return new ModelRegistry({ registryFile, storeDir })
}

/** A private copy of the fixture, for tests that move or delete the file. */
function fixtureCopy (name = 'stories260K.gguf'): string {
  const p = join(dir, name)
  copyFileSync(FIXTURE, p)
  return p
}

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'plexus-registry-'))
  registryFile = join(dir, 'models.json')
  storeDir = join(dir, 'models')
  mkdirSync(storeDir)
})

afterEach(() => {
  rmSync(dir, { recursive: true, force: true })
})

describe('ModelRegistry.add', () => {
  it('registers the fixture with metadata read from its GGUF header', async () => {
    // Prepare
    const registry = newRegistry()

    // Execute
    const record = await registry.add(FIXTURE)

    // Assert
    assert.equal(record.name, 'stories260K')
    assert.equal(record.path, FIXTURE)
    assert.equal(record.sha256, FIXTURE_SHA256)
    assert.equal(record.sizeBytes, statSync(FIXTURE).size)
    assert.equal(record.owned, false)
    assert.ok(!Number.isNaN(Date.parse(record.addedAt)))
    assert.equal(record.metadata.architecture, 'llama')
    assert.equal(record.metadata.contextLength, 2048)
    assert.equal(record.metadata.quantization, 'F32')
    assert.ok(record.metadata.parameters > 200_000, `parameters ${record.metadata.parameters}`)
    assert.ok(record.metadata.ggufVersion >= 2)
    assert.deepEqual(registry.list(), [record])
    assert.deepEqual(registry.get('stories260K'), record)
    assert.equal(registry.has('stories260K'), true)
    assert.deepEqual(registry.findBySha256(FIXTURE_SHA256), record)
  })

  it('uses the given name', async () => {
    // Prepare
    const registry = newRegistry()

    // Execute
    const record = await registry.add(FIXTURE, { name: 'tiny:latest' })

    // Assert
    assert.equal(record.name, 'tiny:latest')
    assert.equal(registry.has('tiny:latest'), true)
    assert.equal(registry.has('stories260K'), false)
  })

  it('refuses a name that is already registered with PLX_ERR_MODEL_EXISTS', async () => {
    // Prepare
    const registry = newRegistry()
    await registry.add(FIXTURE, { name: 'tiny' })

    // Execute / Assert
    await assert.rejects(registry.add(FIXTURE, { name: 'tiny' }), (err: unknown) => {
      assert.ok(hasCode('PLX_ERR_MODEL_EXISTS')(err))
      assert.equal((err as PlexusError).statusCode, 409)
      return true
    })
    assert.equal(registry.list().length, 1)
  })

  it('allows the same file under two names', async () => {
    // Prepare
    const registry = newRegistry()

    // Execute
    await registry.add(FIXTURE, { name: 'one' })
    await registry.add(FIXTURE, { name: 'two' })

    // Assert
    assert.deepEqual(registry.list().map(m => m.name), ['one', 'two'])
  })

  it('refuses invalid names with PLX_ERR_BAD_REQUEST', async () => {
    // Prepare
    const registry = newRegistry()
    const bad = ['', '-tiny', '.tiny', 'has space', 'a/b', '../escape', 'tiny?', 'ü', 'x'.repeat(129)]

    // Execute / Assert
    for (const name of bad) {
      await assert.rejects(registry.add(FIXTURE, { name }), hasCode('PLX_ERR_BAD_REQUEST'), JSON.stringify(name))
    }
    assert.deepEqual(registry.list(), [])
  })

  it('accepts names of up to 128 allowed characters', async () => {
    // Prepare
    const registry = newRegistry()
    const name = 'A' + 'b'.repeat(126) + '9'

    // Execute
    const record = await registry.add(FIXTURE, { name })

    // Assert
    assert.equal(record.name.length, 128)
  })

  it('refuses a file that is not GGUF with PLX_ERR_MODEL_INVALID_FILE', async () => {
    // Prepare
    const registry = newRegistry()
    const fake = join(dir, 'fake.gguf')
    writeFileSync(fake, '<!doctype html><title>Sign in to continue</title>\n')

    // Execute / Assert
    await assert.rejects(registry.add(fake), (err: unknown) => {
      assert.ok(hasCode('PLX_ERR_MODEL_INVALID_FILE')(err))
      assert.equal((err as PlexusError).statusCode, 400)
      return true
    })
    assert.deepEqual(registry.list(), [])
  })

  it('refuses an empty file with PLX_ERR_MODEL_INVALID_FILE', async () => {
    // Prepare
    const registry = newRegistry()
    const empty = join(dir, 'empty.gguf')
    writeFileSync(empty, '')

    // Execute / Assert
    await assert.rejects(registry.add(empty), hasCode('PLX_ERR_MODEL_INVALID_FILE'))
    assert.deepEqual(registry.list(), [])
  })

  it('refuses a GGUF file cut off inside its header with PLX_ERR_MODEL_INVALID_FILE', async () => {
    // Prepare: an interrupted download keeps the magic bytes but not the rest of the header
    const registry = newRegistry()
    const header = readFileSync(FIXTURE)
    const cuts = [4, 64]

    // Execute / Assert
    for (const bytes of cuts) {
      const truncated = join(dir, `truncated-${bytes}.gguf`)
      writeFileSync(truncated, header.subarray(0, bytes))
      await assert.rejects(registry.add(truncated), hasCode('PLX_ERR_MODEL_INVALID_FILE'), `${bytes} bytes`)
    }
    assert.deepEqual(registry.list(), [])
  })

  it('refuses a missing file or a directory with PLX_ERR_MODEL_INVALID_FILE', async () => {
    // Prepare
    const registry = newRegistry()

    // Execute / Assert
    await assert.rejects(registry.add(join(dir, 'missing.gguf')), hasCode('PLX_ERR_MODEL_INVALID_FILE'))
    await assert.rejects(registry.add(storeDir), hasCode('PLX_ERR_MODEL_INVALID_FILE'))
    assert.deepEqual(registry.list(), [])
  })

  it('records the given sha256 instead of hashing', async () => {
    // Prepare
    const registry = newRegistry()
    const given = 'ab'.repeat(32)

    // Execute
    const record = await registry.add(FIXTURE, { sha256: given })

    // Assert
    assert.equal(record.sha256, given)
  })

  it('stores a copy in the store directory with store: copy', async () => {
    // Prepare
    const registry = newRegistry()
    const source = fixtureCopy()

    // Execute
    const record = await registry.add(source, { store: 'copy' })

    // Assert
    assert.equal(record.path, join(storeDir, `${FIXTURE_SHA256}.gguf`))
    assert.equal(record.owned, true)
    assert.ok(existsSync(record.path))
    assert.ok(existsSync(source))
    assert.equal(statSync(record.path).size, statSync(source).size)
  })

  it('moves the file into the store directory with store: move', async () => {
    // Prepare
    const registry = newRegistry()
    const source = fixtureCopy()

    // Execute
    const record = await registry.add(source, { store: 'move' })

    // Assert
    assert.equal(record.path, join(storeDir, `${FIXTURE_SHA256}.gguf`))
    assert.equal(record.owned, true)
    assert.ok(existsSync(record.path))
    assert.equal(existsSync(source), false)
  })
})

describe('ModelRegistry.get', () => {
  it('refuses an unknown name with PLX_ERR_MODEL_NOT_FOUND (404, param model)', () => {
    // Prepare
    const registry = newRegistry()

    // Execute / Assert
    assert.throws(() => registry.get('nope'), (err: unknown) => {
      assert.ok(hasCode('PLX_ERR_MODEL_NOT_FOUND')(err))
      assert.equal((err as PlexusError).statusCode, 404)
      assert.equal((err as PlexusError).param, 'model')
      return true
    })
    assert.equal(registry.has('nope'), false)
    assert.equal(registry.findBySha256(FIXTURE_SHA256), undefined)
  })

  it('returns copies that callers cannot use to change the registry', async () => {
    // Prepare
    const registry = newRegistry()
    await registry.add(FIXTURE, { name: 'tiny' })

    // Execute
    const record = registry.get('tiny')
    record.name = 'changed'
    registry.list()[0]!.path = '/elsewhere'

    // Assert
    assert.equal(registry.get('tiny').name, 'tiny')
    assert.equal(registry.get('tiny').path, FIXTURE)
  })
})

describe('ModelRegistry.remove', () => {
  it('forgets a referenced model and keeps its file', async () => {
    // Prepare
    const registry = newRegistry()
    const source = fixtureCopy()
    await registry.add(source, { name: 'tiny' })

    // Execute
    const removed = registry.remove('tiny')

    // Assert
    assert.equal(removed.name, 'tiny')
    assert.equal(registry.has('tiny'), false)
    assert.ok(existsSync(source))
    assert.throws(() => registry.get('tiny'), hasCode('PLX_ERR_MODEL_NOT_FOUND'))
  })

  it('deletes an owned copy', async () => {
    // Prepare
    const registry = newRegistry()
    const record = await registry.add(FIXTURE, { name: 'tiny', store: 'copy' })

    // Execute
    registry.remove('tiny')

    // Assert
    assert.equal(existsSync(record.path), false)
    assert.ok(existsSync(FIXTURE))
  })

  it('keeps an owned file while another record still uses it', async () => {
    // Prepare
    const registry = newRegistry()
    const a = await registry.add(FIXTURE, { name: 'a', store: 'copy' })
    const b = await registry.add(FIXTURE, { name: 'b', store: 'copy' })
    assert.equal(a.path, b.path)

    // Execute
    registry.remove('a')
    const keptAfterFirst = existsSync(a.path)
    registry.remove('b')

    // Assert
    assert.equal(keptAfterFirst, true)
    assert.equal(existsSync(a.path), false)
  })

  it('refuses an unknown name with PLX_ERR_MODEL_NOT_FOUND', () => {
    // Prepare
    const registry = newRegistry()

    // Execute / Assert
    assert.throws(() => registry.remove('nope'), hasCode('PLX_ERR_MODEL_NOT_FOUND'))
  })
})

describe('ModelRegistry.check', () => {
  it('reports a file that went missing', async () => {
    // Prepare
    const registry = newRegistry()
    const source = fixtureCopy()
    await registry.add(source, { name: 'tiny' })
    const before = registry.check('tiny')

    // Execute
    unlinkSync(source)
    const after = registry.check('tiny')

    // Assert
    assert.deepEqual(before, { ok: true })
    assert.equal(after.ok, false)
    assert.equal(typeof after.problem, 'string')
  })

  it('reports a file that changed size', async () => {
    // Prepare
    const registry = newRegistry()
    const source = fixtureCopy()
    await registry.add(source, { name: 'tiny' })

    // Execute
    writeFileSync(source, 'shorter')
    const result = registry.check('tiny')

    // Assert
    assert.equal(result.ok, false)
  })
})

describe('ModelRegistry persistence', () => {
  it('writes models.json with mode 0600 and reads it in a new instance', async () => {
    // Prepare
    const first = newRegistry()
    const record = await first.add(FIXTURE, { name: 'tiny' })

    // Execute
    const second = newRegistry()

    // Assert
    assert.equal(statSync(registryFile).mode & 0o777, 0o600)
    assert.deepEqual(second.list(), [record])
    assert.deepEqual(second.get('tiny'), record)
  })

  it('sees changes made by another instance', async () => {
    // Prepare
    const reader = newRegistry()
    const writer = newRegistry()

    // Execute
    await writer.add(FIXTURE, { name: 'tiny' })
    const afterAdd = reader.has('tiny')
    writer.remove('tiny')
    const afterRemove = reader.has('tiny')

    // Assert
    assert.equal(afterAdd, true)
    assert.equal(afterRemove, false)
  })

  it('refuses a name that another instance registered meanwhile', async () => {
    // Prepare
    const a = newRegistry()
    const b = newRegistry()
    await a.add(FIXTURE, { name: 'tiny' })

    // Execute / Assert
    await assert.rejects(b.add(FIXTURE, { name: 'tiny' }), hasCode('PLX_ERR_MODEL_EXISTS'))
    assert.equal(newRegistry().list().length, 1)
  })

  it('refuses a damaged models.json with PLX_ERR_DATA_DIR', () => {
    for (const content of ['{ not json', '[]', '{"version":2,"models":[]}', '{"version":1,"models":[{"name":"x"}]}']) {
      writeFileSync(registryFile, content)
      assert.throws(() => newRegistry(), hasCode('PLX_ERR_DATA_DIR'), content)
    }
  })

  it('reports a models.json damaged after start with PLX_ERR_DATA_DIR', () => {
    // Prepare
    const registry = newRegistry()

    // Execute
    writeFileSync(registryFile, '{ not json')

    // Assert
    assert.throws(() => registry.list(), hasCode('PLX_ERR_DATA_DIR'))
    assert.throws(() => registry.get('tiny'), hasCode('PLX_ERR_DATA_DIR'))
  })
})

describe('modelNameFromPath', () => {
  it('strips the directory and the .gguf extension', () => {
    assert.equal(modelNameFromPath('/models/TinyLlama-1.1B.Q4_K_M.gguf'), 'TinyLlama-1.1B.Q4_K_M')
    assert.equal(modelNameFromPath('stories260K.GGUF'), 'stories260K')
    assert.equal(modelNameFromPath('/models/model.bin'), 'model.bin')
  })

  it('replaces characters a name may not contain', () => {
    assert.equal(modelNameFromPath('/models/My Model (1).gguf'), 'My-Model--1-')
    assert.equal(modelNameFromPath('/models/.hidden.gguf'), 'hidden')
  })

  it('falls back to "model" when nothing usable is left', () => {
    assert.equal(modelNameFromPath('/models/.gguf'), 'model')
    assert.equal(modelNameFromPath('/models/___.gguf'), 'model')
    assert.equal(modelNameFromPath('/models/модель.gguf'), 'model')
  })

  it('always gives a valid name of at most 128 characters', () => {
    const paths = ['/a/' + 'x'.repeat(300) + '.gguf', '/a/-lead.gguf', '/a/ü-ber.gguf', '/a/🦙 llama.gguf', '/a/a:b.gguf']
    for (const p of paths) {
      const name = modelNameFromPath(p)
      assert.match(name, MODEL_NAME_RE, p)
      assert.ok(name.length <= 128, p)
    }
  })
})
