import { describe, it, beforeEach, afterEach } from 'node:test'
import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { mkdtempSync, rmSync, readFileSync, writeFileSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { ApiKeyStore, API_KEY_PREFIX } from '../../src/auth/keys.js'
import { isPlexusError, type PlexusError } from '../../src/errors.js'

const hasCode = (code: string) => (err: unknown): boolean => isPlexusError(err) && err.code === code
const sha256 = (s: string): string => createHash('sha256').update(s).digest('hex')

let dir: string
let file: string

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'plexus-keys-'))
  file = join(dir, 'api-keys.json')
})

afterEach(() => {
  rmSync(dir, { recursive: true, force: true })
})

describe('ApiKeyStore.create', () => {
  it('returns a plx_ key once, with its info', () => {
    // Prepare
    const store = new ApiKeyStore(file)

    // Execute
    const { key, info } = store.create('laptop')

    // Assert
    assert.equal(API_KEY_PREFIX, 'plx_')
    assert.match(key, /^plx_[A-Za-z0-9_-]{43}$/)
    assert.equal(info.name, 'laptop')
    assert.match(info.id, /^[0-9a-f]{12}$/)
    assert.equal(info.hint, key.slice(0, 8))
    assert.equal(info.revokedAt, null)
    assert.equal(info.rateLimitPerMinute, null)
    assert.equal(info.lastUsedAt, null)
    assert.equal('hash' in info, false)
  })

  it('stores only the sha256 of the key, in a file with mode 0600', () => {
    // Prepare
    const store = new ApiKeyStore(file)

    // Execute
    const { key } = store.create('laptop')
    const content = readFileSync(file, 'utf8')

    // Assert
    assert.equal(statSync(file).mode & 0o777, 0o600)
    assert.equal(content.includes(key), false)
    assert.equal(content.includes(key.slice(API_KEY_PREFIX.length)), false)
    assert.ok(content.includes(sha256(key)))
  })

  it('makes a different key every time', () => {
    // Prepare
    const store = new ApiKeyStore(file)

    // Execute
    const a = store.create('a')
    const b = store.create('b')

    // Assert
    assert.notEqual(a.key, b.key)
    assert.notEqual(a.info.id, b.info.id)
  })

  it('records a per-key rate limit', () => {
    // Prepare
    const store = new ApiKeyStore(file)

    // Execute
    const { key, info } = store.create('bot', { rateLimitPerMinute: 30 })

    // Assert
    assert.equal(info.rateLimitPerMinute, 30)
    assert.equal(store.verify(key)?.rateLimitPerMinute, 30)
  })

  it('refuses a second active key with the same name', () => {
    // Prepare
    const store = new ApiKeyStore(file)
    store.create('laptop')

    // Execute / Assert
    assert.throws(() => store.create('laptop'), (err: unknown) => {
      assert.ok(hasCode('PLX_ERR_BAD_REQUEST')(err))
      assert.equal((err as PlexusError).statusCode, 400)
      return true
    })
    assert.equal(store.list().length, 1)
  })

  it('allows the name of a revoked key again', () => {
    // Prepare
    const store = new ApiKeyStore(file)
    store.create('laptop')
    store.revoke('laptop')

    // Execute
    const { info } = store.create('laptop')

    // Assert
    assert.equal(info.name, 'laptop')
    assert.equal(store.list().length, 2)
  })

  it('refuses invalid names', () => {
    // Prepare
    const store = new ApiKeyStore(file)

    // Execute / Assert
    for (const name of ['', '-x', 'has space', 'a/b', 'x'.repeat(65)]) {
      assert.throws(() => store.create(name), hasCode('PLX_ERR_BAD_REQUEST'), JSON.stringify(name))
    }
    assert.deepEqual(store.list(), [])
  })
})

describe('ApiKeyStore.verify', () => {
  it('finds the key it was given, and nothing for other strings', () => {
    // Prepare
    const store = new ApiKeyStore(file)
    const { key, info } = store.create('laptop')

    // Execute
    const found = store.verify(key)

    // Assert
    assert.deepEqual(found, info)
    assert.equal(store.verify(key.slice(0, -1) + (key.endsWith('A') ? 'B' : 'A')), null)
    assert.equal(store.verify(key.slice(API_KEY_PREFIX.length)), null)
    assert.equal(store.verify('plx_'), null)
    assert.equal(store.verify(''), null)
    assert.equal(store.verify(sha256(key)), null)
  })

  it('verifies keys in a store opened later on the same file', () => {
    // Prepare
    const { key, info } = new ApiKeyStore(file).create('laptop')

    // Execute
    const found = new ApiKeyStore(file).verify(key)

    // Assert
    assert.equal(found?.id, info.id)
  })
})

describe('ApiKeyStore.revoke', () => {
  it('revokes by id: the key stops working and stays listed', () => {
    // Prepare
    const store = new ApiKeyStore(file)
    const { key, info } = store.create('laptop')

    // Execute
    const revoked = store.revoke(info.id)

    // Assert
    assert.equal(revoked.id, info.id)
    assert.equal(typeof revoked.revokedAt, 'string')
    assert.equal(store.verify(key), null)
    const listed = store.list()
    assert.equal(listed.length, 1)
    assert.equal(listed[0]!.revokedAt, revoked.revokedAt)
  })

  it('revokes by name and leaves other keys working', () => {
    // Prepare
    const store = new ApiKeyStore(file)
    const laptop = store.create('laptop')
    const phone = store.create('phone')

    // Execute
    store.revoke('laptop')

    // Assert
    assert.equal(store.verify(laptop.key), null)
    assert.equal(store.verify(phone.key)?.name, 'phone')
  })

  it('refuses an unknown or already revoked key with PLX_ERR_KEY_NOT_FOUND', () => {
    // Prepare
    const store = new ApiKeyStore(file)
    const { info } = store.create('laptop')
    store.revoke(info.id)

    // Execute / Assert
    assert.throws(() => store.revoke('nope'), (err: unknown) => {
      assert.ok(hasCode('PLX_ERR_KEY_NOT_FOUND')(err))
      assert.equal((err as PlexusError).statusCode, 404)
      return true
    })
    assert.throws(() => store.revoke(info.id), hasCode('PLX_ERR_KEY_NOT_FOUND'))
    assert.throws(() => store.revoke('laptop'), hasCode('PLX_ERR_KEY_NOT_FOUND'))
  })

  it('persists the revocation for other stores on the same file', () => {
    // Prepare
    const { key } = new ApiKeyStore(file).create('laptop')

    // Execute
    new ApiKeyStore(file).revoke('laptop')

    // Assert
    assert.equal(new ApiKeyStore(file).verify(key), null)
  })
})

describe('ApiKeyStore.hasActiveKeys', () => {
  it('is true exactly while some key is not revoked', () => {
    // Prepare
    const store = new ApiKeyStore(file)
    const empty = store.hasActiveKeys()

    // Execute
    const a = store.create('a')
    const b = store.create('b')
    const withTwo = store.hasActiveKeys()
    store.revoke(a.info.id)
    const withOne = store.hasActiveKeys()
    store.revoke(b.info.name)
    const withNone = store.hasActiveKeys()

    // Assert
    assert.equal(empty, false)
    assert.equal(withTwo, true)
    assert.equal(withOne, true)
    assert.equal(withNone, false)
  })
})

describe('ApiKeyStore file', () => {
  it('never lists the hash', () => {
    // Prepare
    const store = new ApiKeyStore(file)
    store.create('laptop')

    // Execute
    const listed = store.list()

    // Assert
    assert.equal(listed.length, 1)
    assert.equal('hash' in listed[0]!, false)
  })

  it('refuses a damaged file with PLX_ERR_DATA_DIR', () => {
    for (const content of ['{ not json', '{"version":1,"keys":[{"id":"x"}]}', '{"version":2,"keys":[]}']) {
      writeFileSync(file, content)
      assert.throws(() => new ApiKeyStore(file), hasCode('PLX_ERR_DATA_DIR'), content)
    }
  })
})
