import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { randomBytes, scryptSync } from 'node:crypto'
import { spawnSync } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { DEFAULT_SCRYPT } from '../../../src/cabinets/constants.js'
import { KeyUnwrapError, deriveKek, generateDataKey, scryptMemoryBytes, scryptParamsProblem, unwrapKey, wrapKey, zeroize } from '../../../src/cabinets/crypto.js'
import { CHEAP_KDF } from './store-fixtures.js'

const AAD = 'test-aad'

describe('deriveKek', () => {
  it('is deterministic for a passphrase, salt and parameters, and differs when any changes', async () => {
    // Prepare
    const salt = randomBytes(16)

    // Execute
    const a = await deriveKek('passphrase one', salt, CHEAP_KDF)
    const b = await deriveKek('passphrase one', salt, CHEAP_KDF)
    const otherPass = await deriveKek('passphrase two', salt, CHEAP_KDF)
    const otherSalt = await deriveKek('passphrase one', randomBytes(16), CHEAP_KDF)
    const otherParams = await deriveKek('passphrase one', salt, { ...CHEAP_KDF, N: 2048 })

    // Assert
    assert.equal(a.length, 32)
    assert.deepEqual(a, b)
    for (const other of [otherPass, otherSalt, otherParams]) assert.notDeepEqual(a, other)
  })

  it('treats composed and decomposed accents as the same passphrase (NFC)', async () => {
    // Prepare
    const salt = randomBytes(16)

    // Execute
    const composed = await deriveKek('caf\u00e9 au lait', salt, CHEAP_KDF)
    const decomposed = await deriveKek('cafe\u0301 au lait', salt, CHEAP_KDF)

    // Assert
    assert.deepEqual(composed, decomposed)
  })

  it('gives the same key as scrypt itself (RFC 7914)', async () => {
    // Prepare
    const salt = randomBytes(16)

    // Execute
    const kek = await deriveKek('a passphrase', salt, CHEAP_KDF)

    // Assert
    assert.deepEqual(kek, scryptSync('a passphrase', salt, 32, { ...CHEAP_KDF, maxmem: 64 * 1024 * 1024 }))
  })

  it('leaves libuv\'s thread pool free: with a one-thread pool, file reads finish while the KDF runs', () => {
    // Prepare: a node process with the pool the launcher gives (bin/plexus.js), full-cost scrypt,
    // and a chain of pool-bound reads started after it. If the KDF ran in the pool, every read
    // would wait for it and finish last.
    const crypto = new URL('../../../src/cabinets/crypto.js', import.meta.url).href
    const script = `
      import { deriveKek } from ${JSON.stringify(crypto)}
      import { readFile } from 'node:fs/promises'
      import { randomBytes } from 'node:crypto'
      const order = []
      const kdf = deriveKek('a passphrase', randomBytes(16), { N: ${DEFAULT_SCRYPT.N}, r: ${DEFAULT_SCRYPT.r}, p: ${DEFAULT_SCRYPT.p} }).then(() => order.push('kdf'))
      const reads = (async () => { for (let i = 0; i < 5; i++) await readFile(new URL(${JSON.stringify(crypto)})); order.push('reads') })()
      await Promise.all([kdf, reads])
      console.log(JSON.stringify(order))`

    // Execute
    const dir = mkdtempSync(join(tmpdir(), 'plexus-kdf-'))
    const file = join(dir, 'kdf-order.mjs')
    writeFileSync(file, script)
    const r = spawnSync(process.execPath, [file], { env: { ...process.env, UV_THREADPOOL_SIZE: '1' }, encoding: 'utf8' })
    rmSync(dir, { recursive: true, force: true })

    // Assert
    assert.equal(r.status, 0, r.stderr)
    assert.deepEqual(JSON.parse(r.stdout.trim()), ['reads', 'kdf'])
  })

  it('refuses parameters outside the bounds', async () => {
    await assert.rejects(deriveKek('x', randomBytes(16), { N: 1000, r: 1, p: 1 }), RangeError)
    await assert.rejects(deriveKek('x', randomBytes(16), { N: 2 ** 30, r: 8, p: 1 }), RangeError)
  })
})

describe('scrypt parameters', () => {
  it('default to N=2^17, r=8, p=1, which needs 128 MiB', () => {
    assert.deepEqual({ ...DEFAULT_SCRYPT }, { N: 131072, r: 8, p: 1 })
    assert.equal(Math.floor(scryptMemoryBytes(DEFAULT_SCRYPT) / 2 ** 20), 128)
    assert.equal(scryptParamsProblem(DEFAULT_SCRYPT), null)
  })

  it('reject non-powers of two, tiny or huge N, bad r and p, and too much memory', () => {
    assert.match(scryptParamsProblem({ N: 3000, r: 8, p: 1 }) ?? '', /power of two/)
    assert.match(scryptParamsProblem({ N: 512, r: 8, p: 1 }) ?? '', /power of two/)
    assert.match(scryptParamsProblem({ N: 2 ** 23, r: 8, p: 1 }) ?? '', /power of two/)
    assert.match(scryptParamsProblem({ N: 1024, r: 0, p: 1 }) ?? '', /r must/)
    assert.match(scryptParamsProblem({ N: 1024, r: 1, p: 17 }) ?? '', /p must/)
    assert.match(scryptParamsProblem({ N: 2 ** 22, r: 32, p: 1 }) ?? '', /memory/)
  })
})

describe('wrapKey / unwrapKey', () => {
  it('round-trips a data key, with a fresh nonce each time', () => {
    // Prepare
    const dataKey = generateDataKey()
    const kek = randomBytes(32)

    // Execute
    const w1 = wrapKey(dataKey, kek, AAD)
    const w2 = wrapKey(dataKey, kek, AAD)

    // Assert
    assert.deepEqual(unwrapKey(w1, kek, AAD), dataKey)
    assert.notDeepEqual(w1.nonce, w2.nonce)
    assert.notDeepEqual(w1.ciphertext, dataKey)
  })

  it('fails authentication with another KEK, other associated data, or any changed byte', () => {
    // Prepare
    const dataKey = generateDataKey()
    const kek = randomBytes(32)
    const wrapped = wrapKey(dataKey, kek, AAD)
    const flip = (b: Buffer): Buffer => { const c = Buffer.from(b); c[0]! ^= 1; return c }

    // Execute / Assert
    assert.throws(() => unwrapKey(wrapped, randomBytes(32), AAD), KeyUnwrapError)
    assert.throws(() => unwrapKey(wrapped, kek, 'other'), KeyUnwrapError)
    assert.throws(() => unwrapKey({ ...wrapped, nonce: flip(wrapped.nonce) }, kek, AAD), KeyUnwrapError)
    assert.throws(() => unwrapKey({ ...wrapped, ciphertext: flip(wrapped.ciphertext) }, kek, AAD), KeyUnwrapError)
    assert.throws(() => unwrapKey({ ...wrapped, tag: flip(wrapped.tag) }, kek, AAD), KeyUnwrapError)
    assert.throws(() => unwrapKey({ ...wrapped, tag: wrapped.tag.subarray(0, 8) }, kek, AAD), KeyUnwrapError)
  })
})

describe('zeroize', () => {
  it('overwrites a buffer and tolerates null', () => {
    // Prepare
    const buf = Buffer.from('secret')

    // Execute
    zeroize(buf)
    zeroize(null)

    // Assert
    assert.deepEqual([...buf], [0, 0, 0, 0, 0, 0])
  })
})
