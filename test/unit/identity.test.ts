import { describe, it, beforeEach, afterEach } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync, writeFileSync, readFileSync, statSync, chmodSync, existsSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createIdentity, loadIdentity, loadOrCreateIdentity } from '../../src/node/identity.js'
import { isPlexusError } from '../../src/errors.js'

let dir: string
let path: string

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'plexus-identity-'))
  path = join(dir, 'identity.json')
})

afterEach(() => {
  rmSync(dir, { recursive: true, force: true })
})

const identityInvalid = (err: unknown): boolean => isPlexusError(err, 'PLX_ERR_IDENTITY_INVALID')
const data = new TextEncoder().encode('receipt #1: 42 tokens')

interface IdentityFile { type: string, privateKey: string, publicKey: string, createdAt: string }
const readIdentityFile = (p: string): IdentityFile => JSON.parse(readFileSync(p, 'utf8')) as IdentityFile
const writeIdentityFile = (p: string, value: unknown): void => writeFileSync(p, JSON.stringify(value), { mode: 0o600 })

describe('createIdentity', () => {
  it('writes an Ed25519 identity file with mode 0600', () => {
    // Execute
    const id = createIdentity(path)

    // Assert
    assert.equal(statSync(path).mode & 0o777, 0o600)
    const file = readIdentityFile(path)
    assert.equal(file.type, 'Ed25519')
    assert.equal(Buffer.from(file.publicKey, 'base64url').length, 32)
    assert.equal(Buffer.from(file.privateKey, 'base64url').length, 32)
    assert.deepEqual(Buffer.from(id.publicKey), Buffer.from(file.publicKey, 'base64url'))
    assert.match(id.fingerprint, /^[0-9a-f]{16}$/)
    assert.equal(id.exportSeed().length, 32)
    assert.ok(!Number.isNaN(Date.parse(file.createdAt)))
  })

  it('refuses to overwrite an existing file', () => {
    // Prepare
    createIdentity(path)
    const before = readFileSync(path, 'utf8')

    // Execute / Assert
    assert.throws(() => createIdentity(path), identityInvalid)
    assert.equal(readFileSync(path, 'utf8'), before)
  })

  it('makes a different key each time', () => {
    // Execute
    const a = createIdentity(join(dir, 'a.json'))
    const b = createIdentity(join(dir, 'b.json'))

    // Assert
    assert.notDeepEqual(Buffer.from(a.publicKey), Buffer.from(b.publicKey))
    assert.notEqual(a.fingerprint, b.fingerprint)
  })
})

describe('loadIdentity', () => {
  it('round-trips: same public key, fingerprint and seed', () => {
    // Prepare
    const created = createIdentity(path)

    // Execute
    const loaded = loadIdentity(path)

    // Assert
    assert.deepEqual(Buffer.from(loaded.publicKey), Buffer.from(created.publicKey))
    assert.equal(loaded.fingerprint, created.fingerprint)
    assert.deepEqual(Buffer.from(loaded.exportSeed()), Buffer.from(created.exportSeed()))
  })

  it('signs and verifies across created and loaded copies', () => {
    // Prepare
    const created = createIdentity(path)
    const loaded = loadIdentity(path)

    // Execute
    const byLoaded = loaded.sign(data)
    const byCreated = created.sign(data)

    // Assert
    assert.equal(byLoaded.length, 64)
    assert.equal(created.verify(data, byLoaded), true)
    assert.equal(loaded.verify(data, byCreated), true)
    assert.equal(loaded.verify(data, byLoaded), true)
  })

  it('rejects a signature made by another identity, or over other data', () => {
    // Prepare
    const mine = createIdentity(path)
    const other = createIdentity(join(dir, 'other.json'))
    const signature = mine.sign(data)

    // Execute
    const fromOther = other.sign(data)

    // Assert
    assert.equal(mine.verify(data, fromOther), false)
    assert.equal(other.verify(data, signature), false)
    assert.equal(mine.verify(new TextEncoder().encode('receipt #1: 43 tokens'), signature), false)
    const flipped = new Uint8Array(signature)
    flipped[0] = flipped[0]! ^ 1
    assert.equal(mine.verify(data, flipped), false)
  })

  it('refuses a file readable by other users', () => {
    // Prepare
    createIdentity(path)
    chmodSync(path, 0o644)

    // Execute / Assert
    assert.throws(() => loadIdentity(path), identityInvalid)
  })

  it('refuses a file readable by its group', () => {
    // Prepare
    createIdentity(path)
    chmodSync(path, 0o640)

    // Execute / Assert
    assert.throws(() => loadIdentity(path), identityInvalid)
  })

  it('refuses a missing file', () => {
    assert.throws(() => loadIdentity(path), identityInvalid)
  })

  it('refuses a file that is not valid JSON', () => {
    // Prepare
    writeFileSync(path, '{"type":"Ed25519",', { mode: 0o600 })

    // Execute / Assert
    assert.throws(() => loadIdentity(path), identityInvalid)
  })

  it('refuses a file whose public key does not match its private key', () => {
    // Prepare
    const otherPath = join(dir, 'other.json')
    createIdentity(path)
    createIdentity(otherPath)
    const other = readIdentityFile(otherPath)
    const file = readIdentityFile(path)
    writeIdentityFile(path, { ...file, publicKey: other.publicKey })

    // Execute / Assert
    assert.throws(() => loadIdentity(path), identityInvalid)
  })

  it('refuses files with missing, malformed or extra fields', () => {
    // Prepare
    createIdentity(path)
    const good = readIdentityFile(path)
    const damaged: unknown[] = [
      { ...good, type: 'RSA' },
      { ...good, privateKey: good.privateKey.slice(1) },
      { ...good, publicKey: 'not base64url!' + good.publicKey.slice(14) },
      { type: good.type, privateKey: good.privateKey, createdAt: good.createdAt },
      { ...good, extra: true },
      [good],
      null
    ]

    // Execute / Assert
    for (const value of damaged) {
      writeIdentityFile(path, value)
      assert.throws(() => loadIdentity(path), identityInvalid, JSON.stringify(value))
    }
  })
})

describe('loadOrCreateIdentity', () => {
  it('creates on first use and loads the same identity afterwards', () => {
    // Execute
    const first = loadOrCreateIdentity(path)
    const second = loadOrCreateIdentity(path)

    // Assert
    assert.equal(first.created, true)
    assert.equal(second.created, false)
    assert.ok(existsSync(path))
    assert.equal(second.identity.fingerprint, first.identity.fingerprint)
  })

  it('does not replace a damaged file', () => {
    // Prepare
    writeFileSync(path, 'garbage', { mode: 0o600 })

    // Execute / Assert
    assert.throws(() => loadOrCreateIdentity(path), identityInvalid)
    assert.equal(readFileSync(path, 'utf8'), 'garbage')
  })
})
