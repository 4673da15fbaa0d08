import { describe, it, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { rmSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import Database from 'better-sqlite3-multiple-ciphers'
import type { Database as Db } from 'better-sqlite3'
import { isPlexusError } from '../../../src/errors.js'
import { LedgerLog } from '../../../src/ledger/log.js'
import { entryId } from '../../../src/ledger/records.js'
import { fromHex, verifyConsistency, verifyInclusion } from '../../../src/ledger/merkle.js'
import { verifyTreeHead } from '../../../src/ledger/tree-head.js'
import { signPayload } from '../../../src/crypto/signing.js'
import { tempDir } from '../../helpers/node.js'
import { makePeer, makeReceipt } from '../../helpers/ledger.js'

const owner = makePeer()
const provider = makePeer()
const requester = makePeer()

function rawDb (file: string): Db {
  return new Database(file) as unknown as Db
}

describe('ledger log', () => {
  let dir: string
  before(() => { dir = tempDir('plexus-ledger-') })
  after(() => { rmSync(dir, { recursive: true, force: true }) })

  it('appends verified receipts and proves their inclusion under a signed head', () => {
    // Prepare
    const log = LedgerLog.open({ file: join(dir, 'a.db'), signer: owner })
    const receipts = Array.from({ length: 13 }, (_, i) => makeReceipt(provider, requester, (['inference', 'fl-round', 'stats-query'] as const)[i % 3]))

    // Execute
    const first = log.append(receipts[0])
    const rest = log.appendMany(receipts.slice(1))
    const sth = log.signHead()

    // Assert
    assert.equal(first.index, 0)
    assert.deepEqual(rest.map(r => r.index), Array.from({ length: 12 }, (_, i) => i + 1))
    assert.equal(log.size, 13)
    assert.deepEqual(verifyTreeHead(sth), sth)
    assert.equal(sth.head.size, 13)
    assert.equal(sth.head.log, owner.peerId)
    for (const r of receipts) {
      const p = log.inclusionProof(r.body.id)
      assert.equal(verifyInclusion(fromHex(p.leafHash), p.index, sth.head.size, p.path.map(fromHex), fromHex(sth.head.root)), true)
      assert.deepEqual(log.receipt(r.body.id)?.receipt, r)
    }
    assert.deepEqual(log.receipts(2, 5).map(e => entryId(e.receipt)), receipts.slice(2, 5).map(r => r.body.id))
    assert.equal(log.verify().ok, true)
    log.close()
  })

  it('heads of a growing log are consistent, with plain and signed proofs', () => {
    const log = LedgerLog.open({ file: join(dir, 'b.db'), signer: owner })
    const heads = []
    for (let i = 0; i < 5; i++) {
      log.appendMany(Array.from({ length: 1 + i * 3 }, () => makeReceipt(provider, requester)))
      heads.push(log.signHead())
    }
    for (const a of heads) {
      for (const b of heads) {
        if (a.head.size > b.head.size) continue
        const proof = log.consistencyProof(a.head.size, b.head.size)
        assert.equal(verifyConsistency(a.head.size, b.head.size, proof.map(fromHex), fromHex(a.head.root), fromHex(b.head.root)), true)
        const signed = log.signedConsistency(a.head.size, b.head.size)
        assert.deepEqual(signed.statement.proof, proof)
        assert.equal(signed.statement.first.root, a.head.root)
      }
    }
    assert.deepEqual(log.heads(), heads)
    assert.deepEqual(log.latestHead(), heads[4])
    const report = log.verify()
    assert.deepEqual(report, { ok: true, size: log.size, headsChecked: 5, firstBad: null })
    log.close()
  })

  it('refuses forged and duplicate receipts, leaving the log as it was', () => {
    const log = LedgerLog.open({ file: join(dir, 'c.db'), signer: owner })
    const good = makeReceipt(provider, requester)
    log.append(good)
    const mallory = makePeer()
    const forged = { ...makeReceipt(provider, requester), requesterSignature: signPayload(mallory, 'receipt-countersign', {}) }
    assert.throws(() => log.append(forged), (e: unknown) => isPlexusError(e, 'PLX_ERR_LEDGER_RECEIPT_INVALID') && /countersignature/.test(e.message))
    assert.throws(() => log.append(good), (e: unknown) => isPlexusError(e, 'PLX_ERR_LEDGER_RECEIPT_DUPLICATE'))
    // A batch whose last receipt is already logged is refused as a whole (one transaction).
    const batch = [makeReceipt(provider, requester), makeReceipt(provider, requester), good]
    assert.throws(() => log.appendMany(batch), (e: unknown) => isPlexusError(e, 'PLX_ERR_LEDGER_RECEIPT_DUPLICATE'))
    assert.equal(log.size, 1)
    assert.equal(log.receipt(batch[0]!.body.id), null)
    // ... and the log carries on where it was.
    assert.equal(log.appendMany(batch.slice(0, 2)).at(-1)?.index, 2)
    assert.throws(() => log.appendMany([batch[0], batch[0]]), (e: unknown) => isPlexusError(e, 'PLX_ERR_LEDGER_RECEIPT_DUPLICATE'))
    assert.equal(log.size, 3)
    // The same new receipt twice in one batch: refused whole, the first copy included.
    const fresh = makeReceipt(provider, requester)
    assert.throws(() => log.appendMany([fresh, fresh]), (e: unknown) => isPlexusError(e, 'PLX_ERR_LEDGER_RECEIPT_DUPLICATE'))
    assert.equal(log.size, 3)
    assert.equal(log.receipt(fresh.body.id), null)
    assert.equal(log.verify().ok, true)
    assert.throws(() => log.inclusionProof('no-such-receipt'), (e: unknown) => isPlexusError(e, 'PLX_ERR_LEDGER_RECEIPT_NOT_FOUND'))
    assert.throws(() => log.consistencyProof(2, 4), (e: unknown) => isPlexusError(e, 'PLX_ERR_LEDGER_RANGE'))
    assert.throws(() => log.receipts(0, 4), (e: unknown) => isPlexusError(e, 'PLX_ERR_LEDGER_RANGE'))
    assert.throws(() => log.inclusionProof(good.body.id, 0), (e: unknown) => isPlexusError(e, 'PLX_ERR_LEDGER_RANGE'))
    log.close()
    // A log belongs to one peer.
    assert.throws(() => LedgerLog.open({ file: join(dir, 'c.db'), signer: mallory }), (e: unknown) => isPlexusError(e, 'PLX_ERR_LEDGER_STORE'))
    const again = LedgerLog.open({ file: join(dir, 'c.db'), signer: owner })
    assert.equal(again.size, 3)
    again.close()
  })

  it('verify names the first tampered entry, node or head', () => {
    const file = join(dir, 'd.db')
    const log = LedgerLog.open({ file, signer: owner })
    // 20 entries: enough for a stored tree node (levels below FIRST_STORED_LEVEL are folded from leaves).
    const receipts = Array.from({ length: 20 }, () => makeReceipt(provider, requester))
    log.appendMany(receipts)
    log.signHead()
    assert.equal(log.verify().ok, true)

    // Tamper with entry 5's token count behind the log's back.
    const raw = rawDb(file)
    const row = raw.prepare('SELECT data FROM entries WHERE idx = 5').get() as { data: string }
    raw.prepare('UPDATE entries SET data = ? WHERE idx = 5').run(row.data.replace('"completionTokens":48', '"completionTokens":4800'))
    let report = log.verify()
    assert.equal(report.ok, false)
    assert.equal(report.firstBad?.what, 'entry')
    assert.equal(report.firstBad?.index, 5)
    assert.equal(report.firstBad?.id, receipts[5]!.body.id)
    assert.match(report.firstBad?.reason ?? '', /provider's signature/)
    raw.prepare('UPDATE entries SET data = ? WHERE idx = 5').run(row.data)
    assert.equal(log.verify().ok, true)

    // Swap two whole (valid) receipts: signatures hold, the leaf hashes do not.
    const r3 = raw.prepare('SELECT data FROM entries WHERE idx = 3').pluck().get() as string
    const r4 = raw.prepare('SELECT data FROM entries WHERE idx = 4').pluck().get() as string
    raw.prepare('UPDATE entries SET data = ?, id = ? WHERE idx = 3').run(r4, 'tmp-id-xyz')
    raw.prepare('UPDATE entries SET data = ?, id = ? WHERE idx = 4').run(r3, receipts[3]!.body.id)
    raw.prepare('UPDATE entries SET id = ? WHERE idx = 3').run(receipts[4]!.body.id)
    report = log.verify()
    assert.equal(report.firstBad?.index, 3)
    assert.match(report.firstBad?.reason ?? '', /leaf hash/)

    // Rewrite history consistently (leaf hashes and nodes recomputed) — the signed head catches it.
    raw.prepare('UPDATE entries SET leaf_hash = (SELECT leaf_hash FROM entries WHERE idx = 4) WHERE idx = 3').run()
    raw.close()
    log.close()
    const raw2 = rawDb(file)
    const rebuilt = LedgerLog.open({ file: join(dir, 'e.db'), signer: owner })
    rebuilt.appendMany([receipts[0], receipts[1], receipts[2], receipts[4], receipts[3], ...receipts.slice(5)])
    raw2.prepare('ATTACH DATABASE ? AS e').run(join(dir, 'e.db'))
    raw2.exec('DELETE FROM main.entries; INSERT INTO main.entries SELECT * FROM e.entries; DELETE FROM main.nodes; INSERT INTO main.nodes SELECT * FROM e.nodes;')
    raw2.close()
    rebuilt.close()
    const reopened = LedgerLog.open({ file, signer: owner })
    report = reopened.verify()
    assert.equal(report.ok, false)
    assert.equal(report.firstBad?.what, 'head')
    assert.match(report.firstBad?.reason ?? '', /rewritten/)

    // A damaged tree node is named.
    const raw3 = rawDb(file)
    raw3.prepare('UPDATE heads SET root = ?').run('00'.repeat(32))
    raw3.prepare('UPDATE nodes SET hash = zeroblob(32) WHERE level = 4 AND idx = 0').run()
    raw3.close()
    report = reopened.verify()
    assert.equal(report.firstBad?.what, 'node')
    assert.match(report.firstBad?.reason ?? '', /4\/0/)
    reopened.close()
  })

  it('a SIGKILL in the middle of appends leaves a consistent log, every time', async () => {
    const file = join(dir, 'crash.db')
    const child = fileURLToPath(new URL('./crash-child.js', import.meta.url))
    const seed = Buffer.from(owner.seed).toString('base64url')
    const x = Buffer.from(owner.publicKey).toString('base64url')
    const kills = 6
    let previous = 0
    for (let round = 0; round < kills; round++) {
      // Execute: let the child commit a random number of batches, then kill -9 it at once.
      const target = previous + 5 + Math.floor(Math.random() * 60)
      const { pending, committed } = await runAndKill(child, [file, seed, x], target)

      // Assert: the log holds exactly the committed appends — the last batch wholly or not at all.
      const log = LedgerLog.open({ file, signer: owner })
      assert.ok(log.size === committed || log.size === pending, `size ${log.size} after committed ${committed} / pending ${pending}`)
      const report = log.verify()
      assert.equal(report.ok, true, JSON.stringify(report.firstBad))
      // Entries are numbered without gaps, in the order the child appended them.
      for (let start = 0; start < log.size; start += 1000) {
        for (const { index, receipt } of log.receipts(start, Math.min(log.size, start + 1000))) {
          assert.equal(entryId(receipt), `crash-${String(index).padStart(6, '0')}`)
        }
      }
      // Every head signed so far matches this tree and is consistent with the latest one.
      const heads = log.heads()
      for (const h of heads) {
        const proof = log.consistencyProof(h.head.size)
        assert.equal(verifyConsistency(h.head.size, log.size, proof.map(fromHex), fromHex(h.head.root), fromHex(log.root())), true)
      }
      assert.ok(log.size >= previous)
      previous = log.size
      log.close()
    }
    assert.ok(previous > kills * 5)
  })
})

async function runAndKill (script: string, args: string[], target: number): Promise<{ pending: number, committed: number }> {
  const proc = spawn(process.execPath, [script, ...args], { stdio: ['ignore', 'pipe', 'inherit'] })
  let pending = -1
  let committed = -1
  let buffered = ''
  let killed = false
  await new Promise<void>((resolve, reject) => {
    proc.stdout.on('data', (chunk: Buffer) => {
      buffered += chunk.toString()
      let nl: number
      while ((nl = buffered.indexOf('\n')) >= 0) {
        const [word, n] = buffered.slice(0, nl).split(' ')
        buffered = buffered.slice(nl + 1)
        if (word === 'start') committed = pending = Number(n)
        if (word === 'pending') pending = Number(n)
        if (word === 'committed') committed = Number(n)
      }
      if (!killed && committed >= target) {
        killed = true
        // A random extra moment, so the kill lands anywhere in an append, not only after a print.
        setTimeout(() => proc.kill('SIGKILL'), Math.floor(Math.random() * 15))
      }
    })
    // 'close', not 'exit': by then everything the child wrote before it died has been read.
    proc.on('close', (code, signal) => {
      if (signal === 'SIGKILL') resolve()
      else reject(new Error(`child exited with ${code ?? signal}`))
    })
  })
  return { pending, committed }
}
