/**
 * The heads a node has seen from other logs, and equivocation evidence (independent of gossip:
 * the protocol layer feeds heads and proofs in, and asks `pending()` which proofs to fetch).
 *
 * Per signer the book keeps a trusted frontier: the first head seen, then every head proven
 * consistent with a trusted one. A new head of the same size as a stored one must have the same
 * root; any other new head waits (`pending`) until the signer provides a signed consistency proof
 * between it and the frontier. Since consistency is transitive, every trusted head is then a
 * prefix of the largest.
 *
 * Two signed statements that cannot both be true are **evidence**, checkable by anyone with
 * `verifyEquivocation` (no trust in the reporter needed):
 * - `conflicting-roots`: two signed claims (tree heads, or a side of a signed consistency proof)
 *   of the same size with different roots;
 * - `bad-proof`: a consistency proof signed by the log that does not verify (an honest log only
 *   signs proofs between its own heads, which always verify).
 * A log that refuses to answer stays `pending`; that is suspicion, not evidence.
 *
 * @packageDocumentation
 */
import { z } from 'zod'
import { canonicalJson } from '../crypto/signing.js'
import { PlexusError } from '../errors.js'
import { MAX_CLOCK_SKEW_MS } from './constants.js'
import type { Db } from './store.js'
import {
  SignedConsistencyProofSchema, SignedTreeHeadSchema, consistencyHolds, verifyConsistencySignature, verifyTreeHead,
  type HeadRef, type SignedTreeHead
} from './tree-head.js'

const ClaimSchema = z.union([
  z.strictObject({ head: SignedTreeHeadSchema }),
  z.strictObject({ statement: SignedConsistencyProofSchema, side: z.enum(['first', 'second']) })
])
export type Claim = z.output<typeof ClaimSchema>

export const EquivocationSchema = z.discriminatedUnion('kind', [
  z.strictObject({ v: z.literal(1), kind: z.literal('conflicting-roots'), signer: z.string().max(128), claims: z.tuple([ClaimSchema, ClaimSchema]) }),
  z.strictObject({ v: z.literal(1), kind: z.literal('bad-proof'), signer: z.string().max(128), statement: SignedConsistencyProofSchema })
])
export type Equivocation = z.output<typeof EquivocationSchema>

function notEvidence (why: string): PlexusError {
  return new PlexusError('PLX_ERR_LEDGER_PROOF_INVALID', [`not evidence of equivocation: ${why}`])
}

/** The (signer, size, root) a claim asserts, after checking its signature. */
function claimOf (c: Claim): { signer: string, ref: HeadRef } {
  if ('head' in c) {
    const sth = verifyTreeHead(c.head)
    return { signer: sth.head.log, ref: { size: sth.head.size, root: sth.head.root } }
  }
  const scp = verifyConsistencySignature(c.statement)
  return { signer: scp.statement.log, ref: scp.statement[c.side] }
}

/** Checks evidence from anyone; returns it typed, or throws `PLX_ERR_LEDGER_PROOF_INVALID`. */
export function verifyEquivocation (value: unknown): Equivocation {
  const r = EquivocationSchema.safeParse(value)
  if (!r.success) throw notEvidence('malformed')
  const e = r.data
  if (e.kind === 'bad-proof') {
    const scp = verifyConsistencySignature(e.statement)
    if (scp.statement.log !== e.signer) throw notEvidence('the proof is not by the accused log')
    if (consistencyHolds(scp.statement)) throw notEvidence('the proof verifies')
    return e
  }
  const [a, b] = e.claims.map(claimOf) as [ReturnType<typeof claimOf>, ReturnType<typeof claimOf>]
  if (a.signer !== e.signer || b.signer !== e.signer) throw notEvidence('the claims are not both by the accused log')
  if (a.ref.size !== b.ref.size) throw notEvidence('the claims are about different sizes')
  if (a.ref.root === b.ref.root) throw notEvidence('the claims agree')
  return e
}

export type HeadStatus = 'trusted' | 'pending' | 'conflicting'

export type ObserveResult =
  | { status: 'trusted' | 'known' }
  | { status: 'pending', first: HeadRef, second: HeadRef }
  | { status: 'equivocation', evidence: Equivocation }

export interface SeenHead { sth: SignedTreeHead, status: HeadStatus, receivedAt: number }

interface SeenRow { signer: string, size: number, root: string, timestamp: number, signature: string, status: HeadStatus, received_at: number }

export interface HeadBookInit {
  /** Clock (tests pin it). */
  now?: () => number
}

/** Heads seen from peers and the evidence against them, in the ledger's SQLite file. */
export class HeadBook {
  readonly #db: Db
  readonly #now: () => number

  constructor (db: Db, init: HeadBookInit = {}) {
    this.#db = db
    this.#now = init.now ?? Date.now
  }

  /**
   * Takes a signed head from a peer (gossip, a reply). Throws `PLX_ERR_LEDGER_HEAD_INVALID` for
   * a malformed or badly signed one; otherwise says whether it is already trusted, waits for a
   * consistency proof (`first` → `second`, to ask the signer for), or convicts its signer.
   */
  observe (value: unknown): ObserveResult {
    const sth = verifyTreeHead(value)
    const { log: signer, size, root } = sth.head
    if (sth.head.timestamp > this.#now() + MAX_CLOCK_SKEW_MS) throw new PlexusError('PLX_ERR_LEDGER_HEAD_INVALID', [`${signer}'s head at size ${size} is dated in the future`])
    if (this.#get(signer, size, root) != null) return { status: 'known' }
    const rival = this.#db.prepare('SELECT * FROM seen_heads WHERE signer = ? AND size = ? AND root != ? LIMIT 1').get(signer, size, root) as SeenRow | undefined
    if (rival != null) {
      this.#insert(sth, 'conflicting')
      const evidence: Equivocation = { v: 1, kind: 'conflicting-roots', signer, claims: [{ head: this.#sth(rival) }, { head: sth }] }
      this.#record(evidence)
      return { status: 'equivocation', evidence }
    }
    const frontier = this.latest(signer)
    if (frontier == null) {
      this.#insert(sth, 'trusted')
      return { status: 'trusted' }
    }
    this.#insert(sth, 'pending')
    const [first, second] = frontier.head.size < size ? [frontier.head, sth.head] : [sth.head, frontier.head]
    return { status: 'pending', first: { size: first.size, root: first.root }, second: { size: second.size, root: second.root } }
  }

  /**
   * Takes a signed consistency proof from a log. Throws `PLX_ERR_LEDGER_PROOF_INVALID` when it is
   * malformed or not signed by the log; returns `consistent` (the pending head it connects becomes
   * trusted) or the evidence it amounts to.
   */
  resolve (value: unknown): { status: 'consistent' } | { status: 'equivocation', evidence: Equivocation } {
    const scp = verifyConsistencySignature(value)
    const { log: signer, first, second } = scp.statement
    for (const side of ['first', 'second'] as const) {
      const ref = scp.statement[side]
      const rival = this.#db.prepare('SELECT * FROM seen_heads WHERE signer = ? AND size = ? AND root != ? LIMIT 1').get(signer, ref.size, ref.root) as SeenRow | undefined
      if (rival != null) {
        const evidence: Equivocation = { v: 1, kind: 'conflicting-roots', signer, claims: [{ head: this.#sth(rival) }, { statement: scp, side }] }
        this.#record(evidence)
        return { status: 'equivocation', evidence }
      }
    }
    if (!consistencyHolds(scp.statement)) {
      const evidence: Equivocation = { v: 1, kind: 'bad-proof', signer, statement: scp }
      this.#record(evidence)
      return { status: 'equivocation', evidence }
    }
    const a = this.#get(signer, first.size, first.root)
    const b = this.#get(signer, second.size, second.root)
    if (a != null && b != null && (a.status === 'trusted' || b.status === 'trusted')) {
      this.#db.prepare("UPDATE seen_heads SET status = 'trusted' WHERE signer = ? AND status = 'pending' AND ((size = ? AND root = ?) OR (size = ? AND root = ?))")
        .run(signer, first.size, first.root, second.size, second.root)
    }
    return { status: 'consistent' }
  }

  /** Evidence received from another peer: checked, then stored, so the signer is flagged here too. */
  addEvidence (value: unknown): Equivocation {
    const e = verifyEquivocation(value)
    this.#record(e)
    return e
  }

  /** The proofs to ask each signer for: every pending head against that signer's frontier. */
  pending (): Array<{ signer: string, first: HeadRef, second: HeadRef }> {
    const rows = this.#db.prepare("SELECT * FROM seen_heads WHERE status = 'pending' ORDER BY signer, size").all() as SeenRow[]
    return rows.flatMap(r => {
      const f = this.latest(r.signer)
      if (f == null) return []
      const mine = { size: r.size, root: r.root }
      const theirs = { size: f.head.size, root: f.head.root }
      return [{ signer: r.signer, ...(r.size < f.head.size ? { first: mine, second: theirs } : { first: theirs, second: mine }) }]
    })
  }

  /** The signer's largest trusted head, or null. */
  latest (signer: string): SignedTreeHead | null {
    const row = this.#db.prepare("SELECT * FROM seen_heads WHERE signer = ? AND status = 'trusted' ORDER BY size DESC LIMIT 1").get(signer) as SeenRow | undefined
    return row == null ? null : this.#sth(row)
  }

  /** Every head seen (of one signer, or all), by signer and size. */
  heads (signer?: string): SeenHead[] {
    const rows = (signer == null
      ? this.#db.prepare('SELECT * FROM seen_heads ORDER BY signer, size, root').all()
      : this.#db.prepare('SELECT * FROM seen_heads WHERE signer = ? ORDER BY size, root').all(signer)) as SeenRow[]
    return rows.map(r => ({ sth: this.#sth(r), status: r.status, receivedAt: r.received_at }))
  }

  equivocations (signer?: string): Equivocation[] {
    const rows = (signer == null
      ? this.#db.prepare('SELECT evidence FROM equivocations ORDER BY seq').pluck().all()
      : this.#db.prepare('SELECT evidence FROM equivocations WHERE signer = ? ORDER BY seq').pluck().all(signer)) as string[]
    return rows.map(r => JSON.parse(r) as Equivocation)
  }

  /** Has this signer been caught equivocating? */
  isFlagged (signer: string): boolean {
    return this.#db.prepare('SELECT 1 FROM equivocations WHERE signer = ? LIMIT 1').get(signer) != null
  }

  /** Re-checks every stored head's signature and every stored piece of evidence. */
  verify (): { ok: boolean, heads: number, evidence: number, problems: string[] } {
    const problems: string[] = []
    const heads = this.heads()
    for (const h of heads) {
      try { verifyTreeHead(h.sth) } catch (err) { problems.push(`head ${h.sth.head.log}@${h.sth.head.size}: ${(err as Error).message}`) }
    }
    const evidence = this.equivocations()
    for (const e of evidence) {
      try { verifyEquivocation(e) } catch (err) { problems.push(`evidence against ${e.signer}: ${(err as Error).message}`) }
    }
    return { ok: problems.length === 0, heads: heads.length, evidence: evidence.length, problems }
  }

  #get (signer: string, size: number, root: string): SeenRow | null {
    return (this.#db.prepare('SELECT * FROM seen_heads WHERE signer = ? AND size = ? AND root = ?').get(signer, size, root) as SeenRow | undefined) ?? null
  }

  #insert (sth: SignedTreeHead, status: HeadStatus): void {
    this.#db.prepare('INSERT OR IGNORE INTO seen_heads (signer, size, root, timestamp, signature, status, received_at) VALUES (?, ?, ?, ?, ?, ?, ?)')
      .run(sth.head.log, sth.head.size, sth.head.root, sth.head.timestamp, sth.signature, status, this.#now())
  }

  #record (e: Equivocation): void {
    const text = canonicalJson(e)
    const exists = this.#db.prepare('SELECT 1 FROM equivocations WHERE signer = ? AND evidence = ?').get(e.signer, text) != null
    if (!exists) this.#db.prepare('INSERT INTO equivocations (signer, evidence, detected_at) VALUES (?, ?, ?)').run(e.signer, text, this.#now())
  }

  #sth (r: SeenRow): SignedTreeHead {
    return { head: { v: 1, log: r.signer, size: r.size, root: r.root, timestamp: r.timestamp }, signature: r.signature }
  }
}
