/**
 * Governance over the network: proposals and votes (signed ledger records) travel on a gossipsub
 * topic of the network, checked by a topic validator (size, schema, the author's signature, kind)
 * so that invalid ones are never forwarded; and a request/response protocol `/plexus/gov/1.0.0`
 * (one request frame, one response frame, src/p2p/framing.ts) lets a node that was offline ask a
 * peer for the proposals and votes it missed.
 *
 * @packageDocumentation
 */
import { z } from 'zod'
import { TopicValidatorResult, type Message } from '@libp2p/gossipsub'
import { peerIdFromString } from '@libp2p/peer-id'
import type { Connection, Stream } from '@libp2p/interface'
import { PlexusError } from '../errors.js'
import type { Logger } from '../logger.js'
import { readFrames, sendFrame } from '../p2p/framing.js'
import type { LedgerLibp2p } from '../ledger/protocol.js'
import { MAX_RECORD_BYTES, verifyRecordWithJson, type SignedRecord } from '../ledger/records.js'

export const GOV_PROTOCOL = '/plexus/gov/1.0.0'
/** One gossip message is one record (a record is at most 16 KiB of canonical JSON). */
export const MAX_GOV_GOSSIP_BYTES = MAX_RECORD_BYTES + 1024
/** A sync answer: at most MAX_SYNC_RECORDS records. */
export const MAX_SYNC_RECORDS = 2000
export const MAX_SYNC_FRAME_BYTES = 8 * 1024 * 1024
/** A catch-up request lists at most MAX_SYNC_RECORDS proposals the asker holds (~100 bytes each). */
const MAX_REQUEST_BYTES = 256 * 1024
const REQUEST_TIMEOUT_MS = 10_000

export function govTopic (networkId: string): string {
  return `/plexus/${networkId}/gov/1.0.0`
}

/**
 * What the asker already holds, per proposal id: a digest of the votes it has for it
 * (`votesDigest`). The answer leaves out the proposals whose digest matches; without `have` (an
 * older peer) it holds everything recent.
 */
export const HaveSchema = z.record(z.string().regex(/^[A-Za-z0-9_.:-]{8,128}$/), z.string().regex(/^[0-9a-f]{16}$/))
  .refine(h => Object.keys(h).length <= MAX_SYNC_RECORDS, `at most ${MAX_SYNC_RECORDS} proposals`)
export type Have = z.output<typeof HaveSchema>
const SyncRequestSchema = z.strictObject({ type: z.literal('sync'), have: HaveSchema.optional() })

/** Parses and verifies one governance record from gossip bytes; a string says why not. */
export function parseGossip (data: Uint8Array): SignedRecord | 'too-large' | 'malformed' | 'invalid' | 'wrong-kind' {
  if (data.byteLength > MAX_GOV_GOSSIP_BYTES) return 'too-large'
  let value: unknown
  try {
    value = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(data))
  } catch {
    return 'malformed'
  }
  let record: SignedRecord
  try {
    record = verifyRecordWithJson(value).record
  } catch {
    return 'invalid'
  }
  return record.record.kind === 'proposal' || record.record.kind === 'vote' ? record : 'wrong-kind'
}

export interface GovNetComponents {
  libp2p: LedgerLibp2p
  logger: Logger
  /** A record from gossip or a sync answer (already signature-checked); catch-up waits for each. */
  onRecord: (record: SignedRecord, from: string) => Promise<void>
  /** The records a peer that asks to catch up gets (proposals first, then votes), less what it says it has. */
  records: (have: Have | null) => SignedRecord[]
  /** What this node holds, to send with its own catch-up requests. */
  have: () => Have
}

export interface GovNetStats {
  gossip: { accepted: number, rejected: Record<string, number> }
  served: number
  refused: number
  synced: number
}

/** The gossip topic and the catch-up protocol of one network. */
export class GovNet {
  readonly #c: GovNetComponents
  readonly topic: string
  readonly stats: GovNetStats = { gossip: { accepted: 0, rejected: {} }, served: 0, refused: 0, synced: 0 }
  readonly #onMessage = (evt: CustomEvent<Message>): void => {
    const m = evt.detail
    if (m.topic !== this.topic || m.type !== 'signed') return
    const r = parseGossip(m.data)
    if (typeof r === 'string') return
    this.stats.gossip.accepted++
    void this.#c.onRecord(r, m.from.toString())
  }

  constructor (components: GovNetComponents, networkId: string) {
    this.#c = components
    this.topic = govTopic(networkId)
  }

  async start (): Promise<void> {
    const { libp2p } = this.#c
    await libp2p.handle(GOV_PROTOCOL, async (stream, connection) => { await this.#serve(stream, connection) }, { maxInboundStreams: 8 })
    const pubsub = libp2p.services.pubsub
    pubsub.topicValidators.set(this.topic, (_peer, message) => this.#validate(message))
    pubsub.addEventListener('message', this.#onMessage)
    pubsub.subscribe(this.topic)
  }

  async stop (): Promise<void> {
    const pubsub = this.#c.libp2p.services.pubsub
    pubsub.removeEventListener('message', this.#onMessage)
    pubsub.topicValidators.delete(this.topic)
    try { pubsub.unsubscribe(this.topic) } catch {}
    await this.#c.libp2p.unhandle(GOV_PROTOCOL).catch(() => {})
  }

  async publish (record: SignedRecord): Promise<void> {
    try {
      await this.#c.libp2p.services.pubsub.publish(this.topic, new TextEncoder().encode(JSON.stringify(record)))
    } catch (err) {
      this.#c.logger.debug({ err: (err as Error).message }, 'governance gossip not published')
    }
  }

  /** Publishes raw bytes on the topic (tests use it to send malformed messages). */
  async publishRaw (data: Uint8Array): Promise<void> {
    await this.#c.libp2p.services.pubsub.publish(this.topic, data)
  }

  #validate (message: Message): TopicValidatorResult {
    if (message.type !== 'signed') return TopicValidatorResult.Reject
    if (message.from.equals(this.#c.libp2p.peerId)) return TopicValidatorResult.Ignore
    const r = parseGossip(message.data)
    if (typeof r === 'string') {
      this.stats.gossip.rejected[r] = (this.stats.gossip.rejected[r] ?? 0) + 1
      return TopicValidatorResult.Reject
    }
    return TopicValidatorResult.Accept
  }

  async #serve (stream: Stream, _connection: Connection): Promise<void> {
    const timer = setTimeout(() => stream.abort(new Error('request timed out')), REQUEST_TIMEOUT_MS)
    try {
      const first = await readFrames(stream, MAX_REQUEST_BYTES).next()
      const request = first.done !== true ? SyncRequestSchema.safeParse(first.value) : null
      if (request?.success === true) this.stats.served++
      else this.stats.refused++
      const response = request?.success === true
        ? { type: 'records', records: this.#c.records(request.data.have ?? null) }
        : { type: 'error', code: 'PLX_ERR_GOV_PROTOCOL', message: 'expected {"type":"sync","have"?:{proposal id: votes digest}}' }
      await sendFrame(stream, response, MAX_SYNC_FRAME_BYTES)
      await stream.close({ signal: AbortSignal.timeout(2_000) }).catch(() => stream.abort(new Error('close timed out')))
    } catch (err) {
      this.stats.refused++
      stream.abort(err as Error)
    } finally {
      clearTimeout(timer)
    }
  }

  /** Asks `peer` for its governance records; each valid one goes to `onRecord`. Returns how many came. */
  async sync (peer: string, signal?: AbortSignal): Promise<number> {
    const timeout = AbortSignal.timeout(REQUEST_TIMEOUT_MS)
    const s = signal == null ? timeout : AbortSignal.any([signal, timeout])
    let stream: Stream
    try {
      stream = await this.#c.libp2p.dialProtocol(peerIdFromString(peer), GOV_PROTOCOL, { signal: s })
    } catch (err) {
      throw new PlexusError('PLX_ERR_GOV_PROTOCOL', [`cannot reach ${peer}: ${(err as Error).message}`], { cause: err })
    }
    try {
      await sendFrame(stream, { type: 'sync', have: this.#c.have() }, MAX_REQUEST_BYTES, s)
      const first = await readFrames(stream, MAX_SYNC_FRAME_BYTES).next()
      await stream.close().catch(() => {})
      const r = z.strictObject({ type: z.literal('records'), records: z.array(z.unknown()).max(MAX_SYNC_RECORDS) }).safeParse(first.value)
      if (!r.success) throw new PlexusError('PLX_ERR_GOV_PROTOCOL', [`${peer} sent no usable answer`])
      let n = 0
      for (const value of r.data.records) {
        try {
          const { record } = verifyRecordWithJson(value)
          if (record.record.kind !== 'proposal' && record.record.kind !== 'vote') continue
          await this.#c.onRecord(record, peer)
          n++
        } catch {}
      }
      this.stats.synced += n
      return n
    } catch (err) {
      stream.abort(err as Error)
      if (err instanceof PlexusError) throw err
      throw new PlexusError('PLX_ERR_GOV_PROTOCOL', [`${peer}: ${(err as Error).message}`], { cause: err })
    }
  }
}
