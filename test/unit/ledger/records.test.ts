import { describe, it, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { rmSync } from 'node:fs'
import { join } from 'node:path'
import Database from 'better-sqlite3-multiple-ciphers'
import { LedgerLog } from '../../../src/ledger/log.js'
import { entryId, isRecord, signRecord, verifyRecordWithJson } from '../../../src/ledger/records.js'
import { tempDir } from '../../helpers/node.js'
import { makePeer, makeReceipt } from '../../helpers/ledger.js'

describe('records: one-author statements in the log', () => {
  let dir: string
  before(() => { dir = tempDir('plexus-records-') })
  after(() => { rmSync(dir, { recursive: true, force: true }) })

  it('are signed by their author, stored next to receipts, proven and verified like them', () => {
    const owner = makePeer()
    const other = makePeer()
    const log = LedgerLog.open({ file: join(dir, 'a.db'), signer: owner })
    log.append(makeReceipt(other, owner))
    const rec = signRecord(owner, { kind: 'spot-check', id: 'check:000001', time: 1_700_000_000_000, data: { subject: 'inf:abc', match: false } })
    log.append(rec)
    assert.equal(log.size, 2)
    const back = log.receipt('check:000001')!
    assert.ok(isRecord(back.receipt))
    assert.equal(entryId(back.receipt), 'check:000001')
    assert.equal(log.inclusionProof('check:000001').index, 1)
    assert.equal(log.verify().ok, true)
    // The same id again is refused; so is a record whose signature was made by someone else.
    assert.throws(() => log.append(rec), (e: any) => e.code === 'PLX_ERR_LEDGER_RECEIPT_DUPLICATE')
    const forged = { ...signRecord(other, { kind: 'vote', id: 'vote:000001', time: 1, data: {} }), record: { ...rec.record, id: 'vote:000001' } }
    assert.throws(() => log.append(forged), (e: any) => e.code === 'PLX_ERR_LEDGER_RECEIPT_INVALID' && /does not verify/.test(e.message))
    assert.throws(() => verifyRecordWithJson({ record: { ...rec.record, data: { x: 'y'.repeat(20_000) } }, signature: rec.signature }), /larger than/)
    log.close()
    // Tampering with a stored record is caught and named.
    const db = new Database(join(dir, 'a.db'))
    const row = db.prepare('SELECT data FROM entries WHERE id = ?').get('check:000001') as { data: string }
    db.prepare('UPDATE entries SET data = ? WHERE id = ?').run(row.data.replace('"match":false', '"match":true'), 'check:000001')
    db.close()
    const again = LedgerLog.open({ file: join(dir, 'a.db'), signer: owner })
    const report = again.verify()
    assert.equal(report.ok, false)
    assert.equal(report.firstBad?.id, 'check:000001')
    again.close()
  })
})
