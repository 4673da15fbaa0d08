/**
 * A node's append-only receipt log: receipts (both signatures verified before they go in) as the
 * leaves of an RFC 9162 Merkle tree, stored in SQLite (store.ts), with signed tree heads,
 * inclusion proofs by receipt id, consistency proofs between sizes, and `verify()`, which re-checks
 * everything stored and names the first bad entry.
 *
 * @packageDocumentation
 */
import { canonicalJson } from '../crypto/signing.js'
import { PlexusError, isPlexusError } from '../errors.js'
import { MerkleTree, MemoryHashStore, equalHashes, toHex } from './merkle.js'
import { verifyEntryWithJson, type LedgerEntry } from './records.js'
import { FIRST_STORED_LEVEL, SqliteHashStore, getMeta, openLedgerDb, setMeta, type Db } from './store.js'
import { signConsistency, signTreeHead, verifyTreeHead, type SignedConsistencyProof, type SignedTreeHead } from './tree-head.js'
import type { PeerSigner } from './peer-keys.js'

/** Most receipts one `receipts(start, end)` call returns. */
export const MAX_RECEIPT_RANGE = 1000

export interface LedgerLogInit {
  /** The SQLite file (created if missing). */
  file: string
  /** The node's signer: signs tree heads and consistency proofs; the log belongs to its peer id. */
  signer: PeerSigner
  /** Clock for head timestamps (tests pin it). */
  now?: () => number
}

export interface AppendResult {
  index: number
  id: string
  leafHash: string
}

export interface InclusionProof {
  id: string
  index: number
  size: number
  leafHash: string
  path: string[]
}

export interface VerifyProblem {
  what: 'entry' | 'node' | 'head'
  /** The entry's index (for an entry), or the head's size. */
  index: number
  /** The receipt id, for an entry whose id could be read. */
  id: string | null
  reason: string
}

export interface VerifyReport {
  ok: boolean
  size: number
  headsChecked: number
  /** The first problem found, in log order: entries, then tree nodes, then heads. */
  firstBad: VerifyProblem | null
}

interface EntryRow { idx: number, id: string, data: string, leaf_hash: Buffer }
interface HeadRow { size: number, root: string, timestamp: number, signature: string }

export class LedgerLog {
  readonly #db: Db
  readonly #file: string
  readonly #signer: PeerSigner
  readonly #now: () => number
  readonly #hashes: SqliteHashStore
  #tree: MerkleTree
  readonly #insertEntry
  readonly #entryById
  readonly #appendTx: (items: Array<{ id: string, data: string, hash: Uint8Array }>) => AppendResult[]

  private constructor (db: Db, init: LedgerLogInit) {
    this.#db = db
    this.#file = init.file
    this.#signer = init.signer
    this.#now = init.now ?? Date.now
    const size = db.prepare('SELECT COUNT(*) FROM entries').pluck().get() as number
    const last = db.prepare('SELECT MAX(idx) FROM entries').pluck().get() as number | null
    if (size > 0 && last !== size - 1) throw new PlexusError('PLX_ERR_LEDGER_CORRUPT', [init.file, `entries are not numbered 0…${size - 1} (the last is ${last})`])
    this.#hashes = new SqliteHashStore(db)
    this.#tree = new MerkleTree(this.#hashes, size)
    this.#insertEntry = db.prepare('INSERT INTO entries (idx, id, data, leaf_hash) VALUES (?, ?, ?, ?)')
    this.#entryById = db.prepare('SELECT idx, id, data, leaf_hash FROM entries WHERE id = ?')
    this.#appendTx = db.transaction((items: Array<{ id: string, data: string, hash: Uint8Array }>) => {
      const out: AppendResult[] = []
      for (const { id, data, hash } of items) {
        const index = this.#tree.size
        try {
          this.#insertEntry.run(index, id, data, hash)
        } catch (err) {
          // entries.id is UNIQUE: the constraint is the duplicate check (no extra query per append).
          if ((err as { code?: string }).code === 'SQLITE_CONSTRAINT_UNIQUE') throw new PlexusError('PLX_ERR_LEDGER_RECEIPT_DUPLICATE', [id])
          throw err
        }
        this.#tree.appendLeafHash(hash)
        out.push({ index, id, leafHash: toHex(hash) })
      }
      return out
    })
  }

  /** Opens (or creates) the log in `init.file`. A log belongs to one peer for life. */
  static open (init: LedgerLogInit): LedgerLog {
    const db = openLedgerDb(init.file)
    try {
      const owner = getMeta(db, 'owner')
      if (owner == null) setMeta(db, 'owner', init.signer.peerId)
      else if (owner !== init.signer.peerId) throw new PlexusError('PLX_ERR_LEDGER_STORE', [init.file, `it is the log of peer ${owner}, not of ${init.signer.peerId}`])
      return new LedgerLog(db, init)
    } catch (err) {
      db.close()
      throw err
    }
  }

  get size (): number { return this.#tree.size }
  get owner (): string { return this.#signer.peerId }
  get file (): string { return this.#file }

  /** Verifies a receipt (schema, both signatures) or a record (its author's signature) and appends it. */
  append (receipt: unknown): AppendResult {
    return this.appendMany([receipt])[0]!
  }

  /** Verifies every receipt first, then appends them all in one transaction (all or none). */
  appendMany (receipts: readonly unknown[]): AppendResult[] {
    const items = receipts.map(r => {
      const { id, json, leafHash } = verifyEntryWithJson(r)
      return { id, data: json, hash: leafHash }
    })
    // A repeated id, in the batch or against the log, is refused by entries.id's UNIQUE
    // constraint inside the transaction, which then rolls back whole.
    const before = this.#tree.size
    try {
      return this.#appendTx(items)
    } catch (err) {
      // The transaction rolled back: forget the leaves the in-memory size counted.
      this.#resetSize(before)
      if (isPlexusError(err)) throw err
      throw new PlexusError('PLX_ERR_LEDGER_STORE', [this.#file, (err as Error).message], { cause: err })
    }
  }

  #resetSize (size: number): void {
    // The tree is append-only on purpose; after a rollback, view the store again at the old size.
    this.#tree = new MerkleTree(this.#hashes, size)
  }

  /** The receipt with this id, or null. */
  receipt (id: string): { index: number, receipt: LedgerEntry } | null {
    const row = this.#entryById.get(id) as EntryRow | undefined
    return row == null ? null : { index: row.idx, receipt: JSON.parse(row.data) as LedgerEntry }
  }

  /** Receipts with index in [start, end), at most MAX_RECEIPT_RANGE of them. */
  receipts (start: number, end: number = this.size): Array<{ index: number, receipt: LedgerEntry }> {
    if (!Number.isSafeInteger(start) || !Number.isSafeInteger(end) || start < 0 || end < start || end > this.size) {
      throw new PlexusError('PLX_ERR_LEDGER_RANGE', [this.size, `receipts [${start}, ${end})`])
    }
    if (end - start > MAX_RECEIPT_RANGE) throw new PlexusError('PLX_ERR_LEDGER_RANGE', [this.size, `${end - start} receipts at once (the limit is ${MAX_RECEIPT_RANGE})`])
    const rows = this.#db.prepare('SELECT idx, data FROM entries WHERE idx >= ? AND idx < ? ORDER BY idx').all(start, end) as Array<{ idx: number, data: string }>
    return rows.map(r => ({ index: r.idx, receipt: JSON.parse(r.data) as LedgerEntry }))
  }

  /** The Merkle root at `size` (default: now), hex. */
  root (size: number = this.size): string {
    this.#checkSize(size)
    return toHex(this.#tree.root(size))
  }

  /**
   * Signs a head for the current size, after making every entry it covers durable (a head must
   * never cover entries a power loss could take back), and stores it.
   */
  signHead (): SignedTreeHead {
    this.#db.pragma('wal_checkpoint(FULL)')
    const sth = signTreeHead(this.#signer, { size: this.size, root: this.root(), timestamp: this.#now() })
    this.#db.prepare('INSERT INTO heads (size, root, timestamp, signature) VALUES (?, ?, ?, ?)').run(sth.head.size, sth.head.root, sth.head.timestamp, sth.signature)
    return sth
  }

  /** The most recent head this log signed, or null. */
  latestHead (): SignedTreeHead | null {
    const row = this.#db.prepare('SELECT size, root, timestamp, signature FROM heads ORDER BY seq DESC LIMIT 1').get() as HeadRow | undefined
    return row == null ? null : this.#headFromRow(row)
  }

  /** Every head this log signed, oldest first. */
  heads (): SignedTreeHead[] {
    return (this.#db.prepare('SELECT size, root, timestamp, signature FROM heads ORDER BY seq').all() as HeadRow[]).map(r => this.#headFromRow(r))
  }

  #headFromRow (r: HeadRow): SignedTreeHead {
    return { head: { v: 1, log: this.owner, size: r.size, root: r.root, timestamp: r.timestamp }, signature: r.signature }
  }

  /** The inclusion proof of receipt `id` in the tree of `size` leaves (default: now). */
  inclusionProof (id: string, size: number = this.size): InclusionProof {
    const row = this.#entryById.get(id) as EntryRow | undefined
    if (row == null) throw new PlexusError('PLX_ERR_LEDGER_RECEIPT_NOT_FOUND', [id])
    this.#checkSize(size)
    if (row.idx >= size) throw new PlexusError('PLX_ERR_LEDGER_RANGE', [this.size, `receipt '${id}' is entry ${row.idx}, not in a tree of ${size}`])
    return { id, index: row.idx, size, leafHash: row.leaf_hash.toString('hex'), path: this.#tree.inclusionProof(row.idx, size).map(toHex) }
  }

  /** The RFC 9162 consistency proof from `first` to `second` leaves (default: now). */
  consistencyProof (first: number, second: number = this.size): string[] {
    this.#checkSize(second)
    if (!Number.isSafeInteger(first) || first < 0 || first > second) throw new PlexusError('PLX_ERR_LEDGER_RANGE', [this.size, `a consistency proof from ${first} to ${second}`])
    return this.#tree.consistencyProof(first, second).map(toHex)
  }

  /** The consistency proof between two sizes as a statement signed by this log (for peers). */
  signedConsistency (first: number, second: number = this.size): SignedConsistencyProof {
    const proof = this.consistencyProof(first, second)
    return signConsistency(this.#signer, { size: first, root: this.root(first) }, { size: second, root: this.root(second) }, proof)
  }

  /**
   * Re-checks everything stored: each entry's receipt (schema and both signatures), that its data
   * is canonical and its leaf hash right, that entries are numbered without gaps, that every
   * stored tree node is the hash of its children, and that every head this log signed verifies and
   * matches the tree at its size. Stops at, and names, the first bad thing.
   */
  verify (): VerifyReport {
    const size = this.size
    const rebuilt = new MerkleTree(new MemoryHashStore())
    const report = (firstBad: VerifyProblem | null, headsChecked = 0): VerifyReport => ({ ok: firstBad == null, size, headsChecked, firstBad })
    for (const row of this.#db.prepare('SELECT idx, id, data, leaf_hash FROM entries ORDER BY idx').iterate() as IterableIterator<EntryRow>) {
      const bad = (reason: string): VerifyReport => report({ what: 'entry', index: row.idx, id: row.id, reason })
      if (row.idx !== rebuilt.size) return bad(`expected entry ${rebuilt.size} here`)
      let checked: { id: string, json: string, leafHash: Uint8Array }
      try {
        checked = verifyEntryWithJson(JSON.parse(row.data))
      } catch (err) {
        return bad(isPlexusError(err) ? err.message : `not JSON: ${(err as Error).message}`)
      }
      if (checked.id !== row.id) return bad(`the entry inside has id '${checked.id}'`)
      if (checked.json !== row.data) return bad('the stored bytes are not the canonical form of the entry')
      const h = checked.leafHash
      if (!equalHashes(h, row.leaf_hash)) return bad('the stored leaf hash does not match the receipt')
      rebuilt.appendLeafHash(h)
    }
    if (rebuilt.size !== size) return report({ what: 'entry', index: rebuilt.size, id: null, reason: `the log should have ${size} entries but has ${rebuilt.size}` })
    let nodes = 0
    for (const row of this.#db.prepare('SELECT level, idx, hash FROM nodes ORDER BY level, idx').iterate() as IterableIterator<{ level: number, idx: number, hash: Buffer }>) {
      nodes++
      const span = 2 ** row.level
      let expected: Uint8Array | null = null
      if (row.level >= FIRST_STORED_LEVEL && (row.idx + 1) * span <= size) expected = rebuilt.subtreeHash(row.idx * span, (row.idx + 1) * span)
      if (expected == null || !equalHashes(expected, row.hash)) {
        return report({ what: 'node', index: row.idx, id: null, reason: `tree node ${row.level}/${row.idx} ${expected == null ? 'should not exist' : 'is not the hash of its children'}` })
      }
    }
    let expectedNodes = 0
    for (let span = 2 ** FIRST_STORED_LEVEL; span <= size; span *= 2) expectedNodes += Math.floor(size / span)
    if (nodes !== expectedNodes) return report({ what: 'node', index: -1, id: null, reason: `the tree has ${nodes} stored nodes, ${expectedNodes} expected` })
    let headsChecked = 0
    for (const sth of this.heads()) {
      const bad = (reason: string): VerifyReport => report({ what: 'head', index: sth.head.size, id: null, reason }, headsChecked)
      try {
        verifyTreeHead(sth)
      } catch (err) {
        return bad((err as Error).message)
      }
      if (sth.head.size > size) return bad(`a head for ${sth.head.size} entries, but the log has ${size}`)
      if (toHex(rebuilt.root(sth.head.size)) !== sth.head.root) return bad(`the head at size ${sth.head.size} does not match the tree: the log was rewritten`)
      headsChecked++
    }
    return report(null, headsChecked)
  }

  close (): void {
    this.#db.close()
  }

  /** The database handle, for the seen-heads book (heads.ts) that shares the file. */
  get db (): Db { return this.#db }

  #checkSize (size: number): void {
    if (!Number.isSafeInteger(size) || size < 0 || size > this.size) throw new PlexusError('PLX_ERR_LEDGER_RANGE', [this.size, `size ${size}`])
  }
}
