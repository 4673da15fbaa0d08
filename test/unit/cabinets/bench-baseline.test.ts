import { describe, it, beforeEach, afterEach } from 'node:test'
import assert from 'node:assert/strict'
import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { CabinetStore } from '../../../src/cabinets/store.js'
import { PASSPHRASE, createStore, doc, hasCode, removeDir, tempDir } from './store-fixtures.js'

const SQLITE_HEADER = Buffer.from('SQLite format 3\0')

let dir: string

beforeEach(() => {
  dir = tempDir()
})

afterEach(() => {
  removeDir(dir)
})

describe('CabinetStore.createUnencryptedForBenchmark (benchmark baseline only)', () => {
  it('writes a plain SQLite file and no keyring, and stores and searches like an encrypted cabinet', async () => {
    // Prepare
    const plain = CabinetStore.createUnencryptedForBenchmark(dir, 'plain')
    const encrypted = await createStore(dir, 'encrypted')
    for (const store of [plain, encrypted]) store.upsertDocument(doc('a.txt', ['the quick brown fox', 'lazy dogs sleep']))

    // Execute
    const [plainHits, encryptedHits] = [plain, encrypted].map(s => s.search({ query: 'fox', mode: 'lexical' }).hits)
    plain.close()
    encrypted.close()

    // Assert
    assert.deepEqual(readFileSync(join(dir, 'plain.cabinet')).subarray(0, 16), SQLITE_HEADER)
    assert.notDeepEqual(readFileSync(join(dir, 'encrypted.cabinet')).subarray(0, 16), SQLITE_HEADER)
    assert.equal(existsSync(join(dir, 'plain.keyring.json')), false)
    assert.deepEqual(plainHits, encryptedHits)
  })

  it('cannot be unlocked as a cabinet, and refuses an existing name', async () => {
    // Prepare
    CabinetStore.createUnencryptedForBenchmark(dir, 'plain').close()

    // Execute / Assert
    await assert.rejects(CabinetStore.open(dir, 'plain', PASSPHRASE), hasCode('PLX_ERR_CABINET_KEYRING'))
    assert.throws(() => CabinetStore.createUnencryptedForBenchmark(dir, 'plain'), hasCode('PLX_ERR_CABINET_EXISTS'))
    assert.throws(() => CabinetStore.createUnencryptedForBenchmark(dir, '../x'), hasCode('PLX_ERR_BAD_REQUEST'))
  })
})
