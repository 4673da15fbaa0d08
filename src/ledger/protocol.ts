/**
 * The ledger over the network: a request/response protocol `/plexus/ledger/1.0.0` (one request
 * frame, one response frame, src/p2p/framing.ts) to ask a log for its head, consistency and
 * inclusion proofs and receipts; and a gossipsub topic on which signed tree heads and equivocation
 * evidence travel, checked by a topic validator so that invalid ones are never forwarded.
 *
 * Heads fetched from a log are re-published on the topic, so a log that shows different histories
 * to different peers has its heads meet in every peer's `HeadBook`; a head that needs a proof makes
 * the node ask its signer (`audit`), and any evidence found is published for everyone.
 *
 * @packageDocumentation
 */
import { z } from 'zod'
import { TopicValidatorResult, type GossipSub, type Message } from '@libp2p/gossipsub'
import { peerIdFromString } from '@libp2p/peer-id'
import type { Connection, PeerId, Stream } from '@libp2p/interface'
import { PlexusError, isPlexusError } from '../errors.js'
import type { Logger } from '../logger.js'
import { readFrames, sendFrame, FrameError } from '../p2p/framing.js'
import { MAX_HEAD_BYTES } from './constants.js'
import { HeadBook, EquivocationSchema, verifyEquivocation, type Equivocation } from './heads.js'
import { LedgerLog, type InclusionProof } from './log.js'
import { verifyEntry, type LedgerEntry } from './records.js'
import { HashHex, SignedTreeHeadSchema, verifyConsistencySignature, verifyTreeHead, type SignedConsistencyProof, type SignedTreeHead } from './tree-head.js'

export const LEDGER_PROTOCOL = '/plexus/ledger/1.0.0'
/** A response holds at most MAX_RECEIPTS_PER_REQUEST receipts of ≤ 4 KiB each, plus framing. */
export const MAX_RECEIPTS_PER_REQUEST = 100
export const MAX_LEDGER_FRAME_BYTES = 512 * 1024
/** A request is a few hundred bytes. */
export const MAX_REQUEST_BYTES = 1024
/** The requester must send its request, and the server answer, within this. */
export const REQUEST_TIMEOUT_MS = 10_000
/** Concurrent inbound ledger streams per connection (requests are one frame each and quick). */
export const MAX_INBOUND_STREAMS = 16
/** A gossip message is one head or one piece of evidence (two heads or a signed proof). */
const MAX_GOSSIP_BYTES = 4 * MAX_HEAD_BYTES

export function ledgerTopic (networkId: string): string {
  return `/plexus/${networkId}/ledger-heads/1.0.0`
}

const Size = z.number().int().min(0).max(Number.MAX_SAFE_INTEGER)
export const LedgerRequestSchema = z.discriminatedUnion('type', [
  z.strictObject({ type: z.literal('get-head') }),
  z.strictObject({ type: z.literal('get-consistency'), first: Size, second: Size }),
  z.strictObject({ type: z.literal('get-inclusion'), id: z.string().min(1).max(128), size: Size.optional() }),
  z.strictObject({ type: z.literal('get-receipts'), start: Size, end: Size })
])
export type LedgerRequest = z.output<typeof LedgerRequestSchema>

const InclusionProofSchema = z.strictObject({
  id: z.string().max(128), index: Size, size: Size, leafHash: HashHex, path: z.array(HashHex).max(64)
})

export type LedgerResponse =
  | { type: 'head', head: SignedTreeHead | null }
  | { type: 'consistency', proof: SignedConsistencyProof }
  | { type: 'inclusion', proof: InclusionProof }
  | { type: 'receipts', receipts: Array<{ index: number, receipt: LedgerEntry }> }
  | { type: 'error', code: string, message: string }

const GossipSchema = z.discriminatedUnion('type', [
  z.strictObject({ type: z.literal('head'), head: SignedTreeHeadSchema }),
  z.strictObject({ type: z.literal('evidence'), evidence: EquivocationSchema })
])
type Gossip = z.output<typeof GossipSchema>

/** Answers one request from `log` (the dispatch table of the protocol). */
export function answer (log: LedgerLog, request: LedgerRequest): LedgerResponse {
  try {
    switch (request.type) {
      case 'get-head': return { type: 'head', head: log.latestHead() }
      case 'get-consistency': return { type: 'consistency', proof: log.signedConsistency(request.first, request.second) }
      case 'get-inclusion': return { type: 'inclusion', proof: log.inclusionProof(request.id, request.size) }
      case 'get-receipts':
        if (request.end - request.start > MAX_RECEIPTS_PER_REQUEST) throw new PlexusError('PLX_ERR_LEDGER_PROTOCOL', [`at most ${MAX_RECEIPTS_PER_REQUEST} receipts per request`])
        return { type: 'receipts', receipts: log.receipts(request.start, request.end) }
    }
  } catch (err) {
    if (isPlexusError(err)) return { type: 'error', code: err.code, message: err.message }
    throw err
  }
}

/**
 * Serves one inbound ledger stream: one request frame (bounded, schema-checked, within the
 * timeout), one response. Anything malformed resets the stream; nothing a peer sends can throw out
 * of here.
 */
export async function serveStream (stream: Stream, respond: (request: LedgerRequest, from: PeerId) => LedgerResponse, connection: Connection, onRefused?: (reason: string) => void): Promise<void> {
  const timer = setTimeout(() => stream.abort(new Error('request timed out')), REQUEST_TIMEOUT_MS)
  try {
    const frames = readFrames(stream, MAX_REQUEST_BYTES)
    const first = await frames.next()
    if (first.done === true) throw new FrameError('truncated', 'no request')
    const parsed = LedgerRequestSchema.safeParse(first.value)
    const response: LedgerResponse = parsed.success
      ? respond(parsed.data, connection.remotePeer)
      : { type: 'error', code: 'PLX_ERR_LEDGER_PROTOCOL', message: `malformed request: ${z.prettifyError(parsed.error).slice(0, 300)}` }
    if (!parsed.success) onRefused?.('malformed')
    await sendFrame(stream, response, MAX_LEDGER_FRAME_BYTES)
    await stream.close({ signal: AbortSignal.timeout(2_000) }).catch(() => stream.abort(new Error('close timed out')))
  } catch (err) {
    onRefused?.(err instanceof FrameError ? err.reason : 'failed')
    stream.abort(err as Error)
  } finally {
    clearTimeout(timer)
  }
}

export interface LedgerLibp2p {
  peerId: PeerId
  handle: (protocol: string, handler: (stream: Stream, connection: Connection) => void | Promise<void>, options?: { maxInboundStreams?: number }) => Promise<void>
  unhandle: (protocol: string) => Promise<void>
  dialProtocol: (peer: PeerId, protocol: string, options?: { signal?: AbortSignal }) => Promise<Stream>
  services: { pubsub: GossipSub }
}

export interface LedgerServiceComponents {
  libp2p: LedgerLibp2p
  log: LedgerLog
  book: HeadBook
  logger: Logger
}

export interface LedgerServiceInit {
  networkId: string
}

export interface LedgerNetStats {
  served: number
  refused: Record<string, number>
  gossip: { accepted: number, rejected: Record<string, number> }
  evidencePublished: number
}

/** Serves this node's log, gossips heads and evidence, and audits the heads it sees. */
export class LedgerService {
  readonly #c: LedgerServiceComponents
  readonly #topic: string
  readonly stats: LedgerNetStats = { served: 0, refused: {}, gossip: { accepted: 0, rejected: {} }, evidencePublished: 0 }
  #auditing: Promise<void> | null = null
  readonly #onMessage = (evt: CustomEvent<Message>): void => { this.#received(evt.detail) }

  constructor (components: LedgerServiceComponents, init: LedgerServiceInit) {
    this.#c = components
    this.#topic = ledgerTopic(init.networkId)
  }

  get topic (): string { return this.#topic }

  async start (): Promise<void> {
    const { libp2p } = this.#c
    await libp2p.handle(LEDGER_PROTOCOL, async (stream, connection) => {
      await serveStream(stream, req => { this.stats.served++; return answer(this.#c.log, req) }, connection, reason => { this.stats.refused[reason] = (this.stats.refused[reason] ?? 0) + 1 })
    }, { maxInboundStreams: MAX_INBOUND_STREAMS })
    const pubsub = libp2p.services.pubsub
    pubsub.topicValidators.set(this.#topic, (_peer, message) => this.#validate(message))
    pubsub.addEventListener('message', this.#onMessage)
    pubsub.subscribe(this.#topic)
  }

  async stop (): Promise<void> {
    const pubsub = this.#c.libp2p.services.pubsub
    pubsub.removeEventListener('message', this.#onMessage)
    pubsub.topicValidators.delete(this.#topic)
    try { pubsub.unsubscribe(this.#topic) } catch {}
    await this.#c.libp2p.unhandle(LEDGER_PROTOCOL)
    await this.#auditing
  }

  /** Signs a head of this node's log and publishes it. */
  async publishHead (): Promise<SignedTreeHead> {
    const sth = this.#c.log.signHead()
    await this.#publish({ type: 'head', head: sth })
    return sth
  }

  /** Asks `peer` for its latest head, records it, and passes it on to the network. */
  async fetchHead (peer: string, signal?: AbortSignal): Promise<SignedTreeHead | null> {
    const r = await this.#request(peer, { type: 'get-head' }, signal)
    if (r.type !== 'head') throw this.#bad(peer, r)
    if (r.head == null) return null
    const sth = verifyTreeHead(r.head)
    if (sth.head.log !== peer) throw new PlexusError('PLX_ERR_LEDGER_PROTOCOL', [`${peer} answered with the head of ${sth.head.log}`])
    await this.#take(sth)
    await this.#publish({ type: 'head', head: sth })
    return sth
  }

  /** A signed consistency proof from the log `peer` (checked for form and signature only). */
  async fetchConsistency (peer: string, first: number, second: number, signal?: AbortSignal): Promise<SignedConsistencyProof> {
    const r = await this.#request(peer, { type: 'get-consistency', first, second }, signal)
    if (r.type !== 'consistency') throw this.#bad(peer, r)
    const scp = verifyConsistencySignature(r.proof)
    if (scp.statement.log !== peer || scp.statement.first.size !== first || scp.statement.second.size !== second) {
      throw new PlexusError('PLX_ERR_LEDGER_PROOF_INVALID', [`${peer} answered with a proof for other sizes or another log`])
    }
    return scp
  }

  async fetchInclusion (peer: string, id: string, size?: number, signal?: AbortSignal): Promise<InclusionProof> {
    const r = await this.#request(peer, { type: 'get-inclusion', id, ...(size != null ? { size } : {}) }, signal)
    if (r.type !== 'inclusion') throw this.#bad(peer, r)
    const p = InclusionProofSchema.safeParse(r.proof)
    if (!p.success || p.data.id !== id) throw new PlexusError('PLX_ERR_LEDGER_PROOF_INVALID', [`malformed inclusion proof from ${peer}`])
    return p.data
  }

  /** Receipts [start, end) of `peer`'s log, each verified (a bad one fails the whole answer). */
  async fetchReceipts (peer: string, start: number, end: number, signal?: AbortSignal): Promise<Array<{ index: number, receipt: LedgerEntry }>> {
    const r = await this.#request(peer, { type: 'get-receipts', start, end }, signal)
    if (r.type !== 'receipts' || !Array.isArray(r.receipts) || r.receipts.length > end - start) throw this.#bad(peer, r)
    return r.receipts.map((e, i) => {
      if (e == null || e.index !== start + i) throw new PlexusError('PLX_ERR_LEDGER_PROTOCOL', [`${peer} sent receipts out of order`])
      return { index: e.index, receipt: verifyEntry(e.receipt) }
    })
  }

  /**
   * For every head waiting for a proof, asks its signer for one and resolves it; evidence found is
   * stored and published. Signers that do not answer stay pending (retried on the next audit).
   */
  async audit (signal?: AbortSignal): Promise<Equivocation[]> {
    const found: Equivocation[] = []
    for (const p of this.#c.book.pending()) {
      if (this.#c.book.isFlagged(p.signer)) continue
      try {
        const scp = await this.fetchConsistency(p.signer, p.first.size, p.second.size, signal)
        const r = this.#c.book.resolve(scp)
        if (r.status === 'equivocation') {
          found.push(r.evidence)
          await this.#publish({ type: 'evidence', evidence: r.evidence })
          this.stats.evidencePublished++
        }
      } catch (err) {
        this.#c.logger.debug({ signer: p.signer, err: (err as Error).message }, 'ledger audit: no usable proof')
      }
    }
    return found
  }

  async #take (sth: SignedTreeHead): Promise<void> {
    const r = this.#c.book.observe(sth)
    if (r.status === 'equivocation') {
      await this.#publish({ type: 'evidence', evidence: r.evidence })
      this.stats.evidencePublished++
    } else if (r.status === 'pending') {
      this.#scheduleAudit()
    }
  }

  #scheduleAudit (): void {
    if (this.#auditing != null) return
    this.#auditing = (async () => {
      try { await this.audit(AbortSignal.timeout(REQUEST_TIMEOUT_MS * 3)) } finally { this.#auditing = null }
    })()
  }

  /** Waits for the audit in progress, if any (tests, shutdown). */
  async idle (): Promise<void> { await this.#auditing }

  async #publish (g: Gossip): Promise<void> {
    try {
      await this.#c.libp2p.services.pubsub.publish(this.#topic, new TextEncoder().encode(JSON.stringify(g)))
    } catch (err) {
      this.#c.logger.debug({ err: (err as Error).message }, 'ledger gossip not published')
    }
  }

  #parse (data: Uint8Array): Gossip | string {
    if (data.byteLength > MAX_GOSSIP_BYTES) return 'too-large'
    let value: unknown
    try {
      value = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(data))
    } catch {
      return 'malformed'
    }
    const r = GossipSchema.safeParse(value)
    if (!r.success) return 'malformed'
    try {
      if (r.data.type === 'head') verifyTreeHead(r.data.head)
      else verifyEquivocation(r.data.evidence)
    } catch {
      return 'bad-signature-or-evidence'
    }
    return r.data
  }

  #validate (message: Message): TopicValidatorResult {
    if (message.type !== 'signed') return TopicValidatorResult.Reject
    if (message.from.equals(this.#c.libp2p.peerId)) return TopicValidatorResult.Ignore
    const g = this.#parse(message.data)
    if (typeof g === 'string') {
      this.stats.gossip.rejected[g] = (this.stats.gossip.rejected[g] ?? 0) + 1
      return TopicValidatorResult.Reject
    }
    return TopicValidatorResult.Accept
  }

  #received (message: Message): void {
    if (message.topic !== this.#topic) return
    const g = this.#parse(message.data)
    if (typeof g === 'string') return
    this.stats.gossip.accepted++
    const notTaken = (err: unknown): void => { this.#c.logger.debug({ err: (err as Error).message }, 'ledger gossip not taken') }
    try {
      // (A head can pass the validator and still be refused by the book, e.g. dated in the future.)
      if (g.type === 'evidence') this.#c.book.addEvidence(g.evidence)
      else if (g.head.head.log !== this.#c.log.owner) this.#take(g.head).catch(notTaken)
    } catch (err) {
      notTaken(err)
    }
  }

  async #request (peer: string, request: LedgerRequest, signal?: AbortSignal): Promise<Record<string, unknown> & LedgerResponse> {
    let id: PeerId
    try {
      id = peerIdFromString(peer)
    } catch {
      throw new PlexusError('PLX_ERR_LEDGER_PROTOCOL', [`'${peer}' is not a peer id`])
    }
    const timeout = AbortSignal.timeout(REQUEST_TIMEOUT_MS)
    const s = signal == null ? timeout : AbortSignal.any([signal, timeout])
    let stream: Stream
    try {
      stream = await this.#c.libp2p.dialProtocol(id, LEDGER_PROTOCOL, { signal: s })
    } catch (err) {
      throw new PlexusError('PLX_ERR_PEER_FAILED', [`cannot reach ${peer}: ${(err as Error).message}`], { cause: err })
    }
    const onAbort = (): void => { stream.abort(new Error('timed out')) }
    s.addEventListener('abort', onAbort, { once: true })
    try {
      await sendFrame(stream, request, MAX_REQUEST_BYTES, s)
      for await (const frame of readFrames(stream, MAX_LEDGER_FRAME_BYTES)) {
        await stream.close().catch(() => {})
        if (frame == null || typeof frame !== 'object' || typeof (frame as { type?: unknown }).type !== 'string') throw new PlexusError('PLX_ERR_LEDGER_PROTOCOL', [`${peer} sent a response without a type`])
        return frame as Record<string, unknown> & LedgerResponse
      }
      throw new PlexusError('PLX_ERR_LEDGER_PROTOCOL', [`${peer} closed the stream without answering`])
    } catch (err) {
      stream.abort(err as Error)
      if (isPlexusError(err)) throw err
      throw new PlexusError('PLX_ERR_LEDGER_PROTOCOL', [`${peer}: ${(err as Error).message}`], { cause: err })
    } finally {
      s.removeEventListener('abort', onAbort)
    }
  }

  #bad (peer: string, r: { type: string, message?: unknown }): PlexusError {
    if (r.type === 'error') return new PlexusError('PLX_ERR_LEDGER_PROTOCOL', [`${peer} refused: ${String(r.message).slice(0, 300)}`])
    return new PlexusError('PLX_ERR_LEDGER_PROTOCOL', [`${peer} sent an unexpected '${String(r.type).slice(0, 40)}' response`])
  }
}
