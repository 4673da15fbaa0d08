import { describe, it, beforeEach, afterEach } from 'node:test'
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { copyFileSync, existsSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { spawnSync } from 'node:child_process'
import Database from 'better-sqlite3-multiple-ciphers'
import { isPlexusError } from '../../../src/errors.js'
import { unlockKeyring } from '../../../src/cabinets/keyring.js'
import { CabinetStore } from '../../../src/cabinets/store.js'
import { CHEAP_KDF, PASSPHRASE, createStore, doc, hasCode, removeDir, sha256, tempDir } from './store-fixtures.js'

let dir: string

beforeEach(() => {
  dir = tempDir()
})

afterEach(() => {
  removeDir(dir)
})

/** Every encoding of `needle` an index or a careless writer could leave on disk. */
function occurrences (needle: string): Map<string, number> {
  const found = new Map<string, number>()
  const forms = [needle, needle.toLowerCase(), needle.toUpperCase()]
  for (const file of readdirSync(dir)) {
    const bytes = readFileSync(join(dir, file))
    let n = 0
    for (const form of forms) {
      for (const encoded of [Buffer.from(form, 'utf8'), Buffer.from(form, 'utf16le')]) {
        for (let at = bytes.indexOf(encoded); at >= 0; at = bytes.indexOf(encoded, at + 1)) n++
      }
    }
    found.set(file, n)
  }
  return found
}

const allZero = (found: Map<string, number>): boolean => [...found.values()].every(n => n === 0)

describe('encryption at rest (canary)', () => {
  it('leaves no trace of document data in any file of the cabinet directory, with the WAL live, after a checkpoint and after closing', async () => {
    // Prepare: the canary goes everywhere a document can put text
    const canary = `Canary${randomBytes(12).toString('hex')}`
    const store = await createStore(dir, 'secret')
    store.setEmbeddingModel({ name: `model-${canary}`, sha256: sha256('m'), dims: 2 })
    store.upsertDocument(doc(`private/${canary}.txt`, [`The launch code is ${canary} and nobody may know.`, `Second ${canary} chunk`], { title: `Title ${canary}` }))
    store.upsertDocument({ ...doc('other.txt', ['nothing to see']), chunks: [{ heading: `Heading ${canary}`, text: 'body', tokenCount: 1 }] })
    store.putVectors(store.chunksMissingVectors(10).map(c => ({ chunkId: c.chunkId, vector: [1, c.chunkId] })))
    store.appendAudit({ action: 'search', caller: `caller-${canary}`, query: canary, detail: { canary } })

    // Execute / Assert: open, with committed data still only in the WAL
    const wal = join(dir, 'secret.cabinet-wal')
    assert.ok(existsSync(wal) && statSync(wal).size > 0, 'the WAL holds data')
    for (const file of readdirSync(dir)) assert.equal(statSync(join(dir, file)).mode & 0o777, 0o600, file)
    const whileOpen = occurrences(canary)
    assert.ok(whileOpen.size >= 3, [...whileOpen.keys()].join(', '))
    assert.ok(allZero(whileOpen), JSON.stringify([...whileOpen]))
    const hits = store.search({ query: canary, mode: 'lexical' }).hits
    assert.equal(hits.length, 2)
    assert.match(hits[0]!.snippet, new RegExp(canary))

    store.checkpoint()
    assert.ok(allZero(occurrences(canary)))

    store.close()
    const closed = occurrences(canary)
    assert.ok(allZero(closed))
    assert.deepEqual([...closed.keys()].sort(), ['secret.cabinet', 'secret.keyring.json'])
  })

  it('writes a file that is not plaintext SQLite, and that stock SQLCipher opens with the raw data key', async () => {
    // Prepare
    const store = await createStore(dir, 'compat')
    store.upsertDocument(doc('a.txt', ['hello']))
    store.close()
    const file = join(dir, 'compat.cabinet')
    const key = await unlockKeyring(join(dir, 'compat.keyring.json'), PASSPHRASE, 'compat')

    // Execute
    const plain = new Database(file)
    const plainRead = (): unknown => plain.prepare('SELECT count(*) FROM sqlite_master').get()
    const keyed = new Database(file)
    keyed.pragma("cipher='sqlcipher'")
    keyed.pragma('legacy=4')
    keyed.pragma(`key="x'${key.toString('hex')}'"`)
    const count = keyed.prepare('SELECT count(*) AS n FROM documents').get() as { n: number }

    // Assert
    assert.notDeepEqual(readFileSync(file).subarray(0, 16), Buffer.from('SQLite format 3\0'))
    assert.throws(plainRead, /not a database/)
    assert.equal(count.n, 1)
    plain.close()
    keyed.close()
  })
})

describe('wrong passphrase', () => {
  it('fails with PLX_ERR_CABINET_PASSPHRASE and opens nothing', async () => {
    // Prepare
    const store = await createStore(dir, 'c')
    store.close()

    // Execute / Assert
    await assert.rejects(CabinetStore.open(dir, 'c', 'correct horse battery stable'), (err: unknown) =>
      hasCode('PLX_ERR_CABINET_PASSPHRASE')(err) && (err as { statusCode: number }).statusCode === 403)
    await assert.rejects(CabinetStore.open(dir, 'c', ''), hasCode('PLX_ERR_CABINET_PASSPHRASE'))
    const reopened = await CabinetStore.open(dir, 'c', PASSPHRASE)
    reopened.close()
  })
})

describe('passphrase change', () => {
  it('keeps the data, locks out the old passphrase, and leaves the cabinet file byte-for-byte unchanged', async () => {
    // Prepare
    const store = await createStore(dir, 'c')
    store.upsertDocument(doc('a.txt', ['persistent words']))
    store.close()
    const file = join(dir, 'c.cabinet')
    const before = sha256(readFileSync(file).toString('binary'))
    const keyringBefore = readFileSync(join(dir, 'c.keyring.json'), 'utf8')

    // Execute
    await CabinetStore.changePassphrase(dir, 'c', PASSPHRASE, 'new passphrase 2', { kdf: CHEAP_KDF })

    // Assert
    assert.equal(sha256(readFileSync(file).toString('binary')), before)
    assert.notEqual(readFileSync(join(dir, 'c.keyring.json'), 'utf8'), keyringBefore)
    await assert.rejects(CabinetStore.open(dir, 'c', PASSPHRASE), hasCode('PLX_ERR_CABINET_PASSPHRASE'))
    const reopened = await CabinetStore.open(dir, 'c', 'new passphrase 2')
    assert.equal(reopened.search({ query: 'persistent', mode: 'lexical' }).hits.length, 1)

    // …and from an open store, which stays usable
    await assert.rejects(reopened.changePassphrase('wrong passphrase', 'third passphrase'), hasCode('PLX_ERR_CABINET_PASSPHRASE'))
    await reopened.changePassphrase('new passphrase 2', 'third passphrase', { kdf: CHEAP_KDF })
    assert.equal(reopened.listDocuments().length, 1)
    reopened.close()
    const third = await CabinetStore.open(dir, 'c', 'third passphrase')
    third.close()
  })
})

describe('damaged files', () => {
  /** XORs one byte at each offset. */
  const flip = (file: string, offsets: number[]): void => {
    const bytes = readFileSync(file)
    for (const at of offsets) bytes[at]! ^= 0x5a
    writeFileSync(file, bytes)
  }

  it('reports bytes flipped in the middle of the file as PLX_ERR_CABINET_CORRUPT, on open or on use, and keeps running', async () => {
    // Prepare: a few hundred pages of data
    const store = await createStore(dir, 'c')
    store.batch(() => {
      for (let i = 0; i < 300; i++) store.upsertDocument(doc(`d${i}.txt`, [`common ${i} ${randomBytes(400).toString('hex')}`]))
    })
    store.close()
    const file = join(dir, 'c.cabinet')
    const pages = Math.floor(statSync(file).size / 4096)
    const middle = Array.from({ length: Math.floor(pages / 3) }, (_, i) => (Math.floor(pages / 3) + i) * 4096 + 2048)
    flip(file, middle)

    // Execute
    const errors: unknown[] = []
    let report: { ok: boolean, problems: string[] } | null = null
    try {
      const damaged = await CabinetStore.open(dir, 'c', PASSPHRASE)
      const uses: Array<() => unknown> = [
        () => damaged.listDocuments(),
        () => damaged.search({ query: 'common', mode: 'lexical', topK: 100 }),
        () => damaged.listDocuments().map(d => damaged.getChunks(d.path)),
        () => damaged.stats()
      ]
      for (const use of uses) {
        try { use() } catch (err) { errors.push(err) }
      }
      report = damaged.checkIntegrity({ full: true })
      damaged.close()
    } catch (err) {
      errors.push(err)
    }

    // Assert
    assert.ok(errors.length > 0, 'some use of the damaged cabinet failed')
    for (const err of errors) assert.ok(isPlexusError(err, 'PLX_ERR_CABINET_CORRUPT'), String(err))
    if (report != null) {
      assert.equal(report.ok, false)
      assert.ok(report.problems.length > 0 && report.problems.length <= 21)
    }
  })

  it('refuses a damaged first page on open', async () => {
    // Prepare
    const store = await createStore(dir, 'c')
    store.upsertDocument(doc('a.txt', ['x']))
    store.close()

    // Execute
    flip(join(dir, 'c.cabinet'), [1000])

    // Assert
    await assert.rejects(CabinetStore.open(dir, 'c', PASSPHRASE), hasCode('PLX_ERR_CABINET_CORRUPT'))
  })

  it('refuses a keyring that belongs to another cabinet as PLX_ERR_CABINET_CORRUPT', async () => {
    // Prepare
    for (const name of ['a', 'b']) (await createStore(dir, name)).close()
    copyFileSync(join(dir, 'b.keyring.json'), join(dir, 'a.keyring.json'))

    // Execute / Assert
    await assert.rejects(CabinetStore.open(dir, 'a', PASSPHRASE), hasCode('PLX_ERR_CABINET_CORRUPT'))
  })

  it('refuses a cabinet written by a newer schema with PLX_ERR_CABINET_VERSION', async () => {
    // Prepare
    ;(await createStore(dir, 'c')).close()
    const key = await unlockKeyring(join(dir, 'c.keyring.json'), PASSPHRASE, 'c')
    const raw = new Database(join(dir, 'c.cabinet'))
    raw.pragma("cipher='sqlcipher'")
    raw.pragma('legacy=4')
    raw.pragma(`key="x'${key.toString('hex')}'"`)
    raw.prepare("UPDATE meta SET value = '99' WHERE key = 'schema_version'").run()
    raw.close()

    // Execute / Assert
    await assert.rejects(CabinetStore.open(dir, 'c', PASSPHRASE), hasCode('PLX_ERR_CABINET_VERSION'))
  })
})

describe('crash safety', () => {
  const storeUrl = new URL('../../../src/cabinets/store.js', import.meta.url).href

  /** Runs a child that opens the cabinet, writes, and SIGKILLs itself at a chosen moment. */
  function crashChild (mode: 'mid-transaction' | 'after-commit', canary: string): ReturnType<typeof spawnSync> {
    const script = `
      import { createHash } from 'node:crypto'
      const { CabinetStore } = await import(${JSON.stringify(storeUrl)})
      const store = await CabinetStore.open(process.env.CAB_DIR, 'c', ${JSON.stringify(PASSPHRASE)})
      const make = i => {
        const text = 'crashword ' + i + ' ${canary} ' + 'filler '.repeat(200)
        return { path: 'crash/' + i, mime: 'text/plain', mtime: 1, size: text.length,
          sha256: createHash('sha256').update(text).digest('hex'), chunks: [{ heading: null, text, tokenCount: 3 }] }
      }
      if (process.env.MODE === 'mid-transaction') {
        let checks = 0
        const signal = { get aborted () { if (++checks === 1500) process.kill(process.pid, 'SIGKILL'); return false } }
        store.batch(() => { for (let i = 0; i < 1000; i++) store.upsertDocument(make(i), { signal }) })
      } else {
        for (let i = 0; i < 20; i++) store.upsertDocument(make(i))
        process.kill(process.pid, 'SIGKILL')
      }
      await new Promise(resolve => setTimeout(resolve, 10000))
    `
    return spawnSync(process.execPath, ['--input-type=module', '-e', script], { env: { ...process.env, CAB_DIR: dir, MODE: mode }, encoding: 'utf8' })
  }

  it('keeps the cabinet consistent and unchanged when the process dies in the middle of a transaction', async () => {
    // Prepare
    const canary = `Crash${randomBytes(8).toString('hex')}`
    const store = await createStore(dir, 'c')
    store.upsertDocument(doc('before.txt', ['written before the crash']))
    store.close()

    // Execute
    const child = crashChild('mid-transaction', canary)

    // Assert
    assert.equal(child.signal, 'SIGKILL', String(child.stderr))
    assert.ok(allZero(occurrences(canary)))
    const reopened = await CabinetStore.open(dir, 'c', PASSPHRASE)
    assert.deepEqual(reopened.listDocuments().map(d => d.path), ['before.txt'])
    assert.deepEqual(reopened.search({ query: 'crashword', mode: 'lexical' }).hits, [])
    assert.deepEqual(reopened.checkIntegrity({ full: true }), { ok: true, problems: [] })
    reopened.close()
  })

  it('keeps committed documents when the process dies before checkpointing the WAL', async () => {
    // Prepare
    const canary = `Crash${randomBytes(8).toString('hex')}`
    ;(await createStore(dir, 'c')).close()

    // Execute
    const child = crashChild('after-commit', canary)

    // Assert
    assert.equal(child.signal, 'SIGKILL', String(child.stderr))
    assert.ok(existsSync(join(dir, 'c.cabinet-wal')))
    assert.ok(allZero(occurrences(canary)))
    const reopened = await CabinetStore.open(dir, 'c', PASSPHRASE)
    assert.equal(reopened.listDocuments().length, 20)
    assert.equal(reopened.search({ query: canary, mode: 'lexical', topK: 100 }).hits.length, 20)
    assert.deepEqual(reopened.checkIntegrity({ full: true }), { ok: true, problems: [] })
    reopened.close()
  })
})
