import { describe, it, beforeEach, afterEach } from 'node:test'
import assert from 'node:assert/strict'
import { readFileSync, statSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { changeKeyringPassphrase, createKeyring, readKeyring, unlockKeyring } from '../../../src/cabinets/keyring.js'
import { CHEAP_KDF, PASSPHRASE, hasCode, removeDir, tempDir } from './store-fixtures.js'

let dir: string
let file: string

beforeEach(() => {
  dir = tempDir()
  file = join(dir, 'k.keyring.json')
})

afterEach(() => {
  removeDir(dir)
})

describe('createKeyring', () => {
  it('writes a 0600 file holding only version, kdf, wrapped key and dates, never the data key', async () => {
    // Execute
    const dataKey = await createKeyring(file, PASSPHRASE, { kdf: CHEAP_KDF, now: () => new Date('2025-01-02T03:04:05Z') })

    // Assert
    const text = readFileSync(file, 'utf8')
    const json = JSON.parse(text) as Record<string, unknown>
    assert.equal(statSync(file).mode & 0o777, 0o600)
    assert.deepEqual(Object.keys(json).sort(), ['changedAt', 'createdAt', 'kdf', 'version', 'wrappedKey'])
    assert.deepEqual(Object.keys(json.kdf as object).sort(), ['N', 'name', 'p', 'r', 'salt'])
    assert.deepEqual(Object.keys(json.wrappedKey as object).sort(), ['cipher', 'ciphertext', 'nonce', 'tag'])
    assert.equal(json.createdAt, '2025-01-02T03:04:05.000Z')
    assert.equal(dataKey.length, 32)
    for (const encoding of ['hex', 'base64', 'base64url'] as const) assert.ok(!text.includes(dataKey.toString(encoding)), encoding)
    assert.ok(!text.includes(PASSPHRASE))
  })

  it('records the default scrypt parameters when none are given', async () => {
    // Execute
    await createKeyring(file, PASSPHRASE)

    // Assert
    const { kdf } = readKeyring(file, 'k')
    assert.deepEqual({ name: kdf.name, N: kdf.N, r: kdf.r, p: kdf.p }, { name: 'scrypt', N: 131072, r: 8, p: 1 })
  })

  it('refuses passphrases shorter than 8 characters', async () => {
    await assert.rejects(createKeyring(file, 'short', { kdf: CHEAP_KDF }), (err: unknown) => hasCode('PLX_ERR_BAD_REQUEST')(err) && (err as { param: string }).param === 'passphrase')
  })
})

describe('unlockKeyring', () => {
  it('returns the data key for the right passphrase', async () => {
    // Prepare
    const dataKey = Buffer.from(await createKeyring(file, PASSPHRASE, { kdf: CHEAP_KDF }))

    // Execute
    const unlocked = await unlockKeyring(file, PASSPHRASE, 'k')

    // Assert
    assert.deepEqual(unlocked, dataKey)
  })

  it('fails with PLX_ERR_CABINET_PASSPHRASE (403) for a wrong passphrase', async () => {
    // Prepare
    await createKeyring(file, PASSPHRASE, { kdf: CHEAP_KDF })

    // Execute / Assert
    await assert.rejects(unlockKeyring(file, 'correct horse battery stapler', 'k'), (err: unknown) =>
      hasCode('PLX_ERR_CABINET_PASSPHRASE')(err) && (err as { statusCode: number }).statusCode === 403)
  })

  it('fails with PLX_ERR_CABINET_KEYRING when the file is missing, not JSON, malformed, or asks for absurd scrypt costs', async () => {
    // Prepare
    await createKeyring(file, PASSPHRASE, { kdf: CHEAP_KDF })
    const good = JSON.parse(readFileSync(file, 'utf8')) as { kdf: { N: number }, wrappedKey: { tag: string } }
    const variants = [
      'not json',
      JSON.stringify({ version: 1 }),
      JSON.stringify({ ...good, kdf: { ...good.kdf, N: 2 ** 30 } }),
      JSON.stringify({ ...good, wrappedKey: { ...good.wrappedKey, tag: 'AAAA' } })
    ]

    // Execute / Assert
    await assert.rejects(unlockKeyring(join(dir, 'missing.keyring.json'), PASSPHRASE, 'k'), hasCode('PLX_ERR_CABINET_KEYRING'))
    for (const text of variants) {
      writeFileSync(file, text)
      await assert.rejects(unlockKeyring(file, PASSPHRASE, 'k'), hasCode('PLX_ERR_CABINET_KEYRING'), text.slice(0, 40))
    }
  })
})

describe('changeKeyringPassphrase', () => {
  it('re-wraps the same data key: the new passphrase unlocks it, the old one no longer does', async () => {
    // Prepare
    const dataKey = Buffer.from(await createKeyring(file, PASSPHRASE, { kdf: CHEAP_KDF }))
    const before = readKeyring(file, 'k')

    // Execute
    await changeKeyringPassphrase(file, PASSPHRASE, 'a brand new passphrase', 'k', { kdf: CHEAP_KDF })

    // Assert
    const after = readKeyring(file, 'k')
    assert.deepEqual(await unlockKeyring(file, 'a brand new passphrase', 'k'), dataKey)
    await assert.rejects(unlockKeyring(file, PASSPHRASE, 'k'), hasCode('PLX_ERR_CABINET_PASSPHRASE'))
    assert.notEqual(after.kdf.salt, before.kdf.salt)
    assert.notEqual(after.wrappedKey.nonce, before.wrappedKey.nonce)
    assert.equal(after.createdAt, before.createdAt)
    assert.equal(statSync(file).mode & 0o777, 0o600)
  })

  it('refuses a wrong old passphrase and leaves the keyring unchanged', async () => {
    // Prepare
    await createKeyring(file, PASSPHRASE, { kdf: CHEAP_KDF })
    const before = readFileSync(file, 'utf8')

    // Execute / Assert
    await assert.rejects(changeKeyringPassphrase(file, 'not the passphrase', 'a brand new passphrase', 'k', { kdf: CHEAP_KDF }), hasCode('PLX_ERR_CABINET_PASSPHRASE'))
    assert.equal(readFileSync(file, 'utf8'), before)
  })
})
