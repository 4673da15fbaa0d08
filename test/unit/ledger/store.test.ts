import { describe, it, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { rmSync } from 'node:fs'
import { join } from 'node:path'
import { MerkleTree, leafHash } from '../../../src/ledger/merkle.js'
import { FIRST_STORED_LEVEL, SCHEMA_VERSION, SqliteHashStore, getMeta, openLedgerDb, type Db } from '../../../src/ledger/store.js'
import { LedgerLog } from '../../../src/ledger/log.js'
import { tempDir } from '../../helpers/node.js'
import { makePeer, makeReceipt } from '../../helpers/ledger.js'

function leaf (i: number): Uint8Array {
  return leafHash(`leaf ${i}`)
}

/** A ledger file whose entries are synthetic: only the hashes matter to the tree. */
function fillEntries (db: Db, tree: MerkleTree, from: number, to: number): void {
  const insert = db.prepare('INSERT INTO entries (idx, id, data, leaf_hash) VALUES (?, ?, ?, ?)')
  db.transaction(() => {
    for (let i = from; i < to; i++) {
      insert.run(i, `synthetic-${i}`, '{}', leaf(i))
      tree.appendLeafHash(leaf(i))
    }
  })()
}

describe('ledger store', () => {
  let dir: string
  before(() => { dir = tempDir('plexus-ledger-store-') })
  after(() => { rmSync(dir, { recursive: true, force: true }) })

  it('keeps only levels from FIRST_STORED_LEVEL up, and gives the same roots and proofs as a memory tree', () => {
    // Prepare
    const db = openLedgerDb(join(dir, 'fold.db'))
    const memory = new MerkleTree()
    const stored = new MerkleTree(new SqliteHashStore(db))
    const N = 300

    // Execute
    fillEntries(db, stored, 0, N)
    for (let i = 0; i < N; i++) memory.appendLeafHash(leaf(i))

    // Assert: no row below the first stored level, and every stored level complete.
    const levels = db.prepare('SELECT level, COUNT(*) AS n FROM nodes GROUP BY level ORDER BY level').all() as Array<{ level: number, n: number }>
    assert.equal(levels[0]?.level, FIRST_STORED_LEVEL)
    for (const { level, n } of levels) assert.equal(n, Math.floor(N / 2 ** level))
    for (const size of [1, 2, 3, 7, 8, 9, 15, 16, 17, 31, 33, 64, 100, 255, 256, 257, N]) {
      assert.deepEqual(stored.root(size), memory.root(size), `root at ${size}`)
      for (const index of new Set([0, 1, Math.floor(size / 2), size - 2, size - 1].filter(i => i >= 0 && i < size))) {
        assert.deepEqual(stored.inclusionProof(index, size), memory.inclusionProof(index, size), `proof of ${index} at ${size}`)
      }
      assert.deepEqual(stored.consistencyProof(Math.max(1, size >> 1), size), memory.consistencyProof(Math.max(1, size >> 1), size))
    }
    db.close()
  })

  it('a reopened tree appends from folded left siblings', () => {
    // Prepare: 13 leaves (the right edge sits on unstored levels), then reopen and add more.
    const file = join(dir, 'reopen.db')
    let db = openLedgerDb(file)
    fillEntries(db, new MerkleTree(new SqliteHashStore(db)), 0, 13)
    db.close()
    db = openLedgerDb(file)
    const memory = new MerkleTree()
    for (let i = 0; i < 40; i++) memory.appendLeafHash(leaf(i))

    // Execute
    const reopened = new MerkleTree(new SqliteHashStore(db), 13)
    fillEntries(db, reopened, 13, 40)

    // Assert
    assert.deepEqual(reopened.root(), memory.root())
    assert.equal(db.prepare('SELECT COUNT(*) FROM nodes WHERE level = ? AND idx = 1').pluck().get(FIRST_STORED_LEVEL), 1)
    db.close()
  })

  it('a ledger written by schema version 1 (every level stored) is upgraded in place and still verifies', () => {
    // Prepare: a log of 40 receipts, then make it look like version 1 by adding the low levels back.
    const owner = makePeer()
    const provider = makePeer()
    const requester = makePeer()
    const file = join(dir, 'v1.db')
    const log = LedgerLog.open({ file, signer: owner })
    log.appendMany(Array.from({ length: 40 }, () => makeReceipt(provider, requester)))
    log.signHead()
    const root = log.root()
    const store = new SqliteHashStore(log.db)
    const insert = log.db.prepare('INSERT INTO nodes (level, idx, hash) VALUES (?, ?, ?)')
    for (let level = 1; level < FIRST_STORED_LEVEL; level++) {
      for (let idx = 0; (idx + 1) * 2 ** level <= 40; idx++) insert.run(level, idx, store.get(level, idx))
    }
    log.db.prepare("UPDATE meta SET value = '1' WHERE key = 'schema'").run()
    log.close()

    // Execute
    const upgraded = LedgerLog.open({ file, signer: owner })

    // Assert
    assert.equal(getMeta(upgraded.db, 'schema'), String(SCHEMA_VERSION))
    assert.equal(upgraded.db.prepare('SELECT COUNT(*) FROM nodes WHERE level < ?').pluck().get(FIRST_STORED_LEVEL), 0)
    assert.equal(upgraded.root(), root)
    const report = upgraded.verify()
    assert.equal(report.ok, true, JSON.stringify(report.firstBad))
    upgraded.close()
  })
})
