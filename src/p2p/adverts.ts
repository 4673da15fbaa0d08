/**
 * Capability adverts: each node periodically (and when something changes) publishes a signed
 * description of what it can do on a gossipsub topic of its network; every node verifies what it
 * receives — size, schema, network, signature by the sending peer's own key, freshness — before
 * it enters the peer table. Invalid adverts are rejected at the gossipsub validator, so they are
 * never forwarded either.
 *
 * @packageDocumentation
 */
import { z } from 'zod'
import { peerIdFromString } from '@libp2p/peer-id'
import type { PeerId } from '@libp2p/interface'
import { TopicValidatorResult, type GossipSub, type Message } from '@libp2p/gossipsub'
import { canonicalJson, signPayload, verifyPayload, type Signer } from '../crypto/signing.js'
import type { Logger } from '../logger.js'
import type { PeerTable } from './peer-table.js'

export const ADVERT_DOMAIN = 'advert'
/** Largest advert accepted, in bytes of JSON. */
export const MAX_ADVERT_BYTES = 16 * 1024
/** Adverts issued further in the future than this are refused (clock skew allowance). */
const MAX_CLOCK_SKEW_MS = 60_000

export function advertTopic (networkId: string): string {
  return `/plexus/${networkId}/adverts/1.0.0`
}

export const AdvertModelSchema = z.strictObject({
  name: z.string().min(1).max(128),
  sha256: z.string().regex(/^[0-9a-f]{64}$/),
  contextLength: z.number().int().min(0).max(100_000_000).nullable(),
  quantization: z.string().max(64).nullable(),
  parameters: z.number().min(0).max(1e15).nullable(),
  /** Decode speed measured on real requests; null until the model has served one. */
  tokensPerSecond: z.number().min(0).max(1e7).nullable()
})

export const AdvertPayloadSchema = z.strictObject({
  v: z.literal(1),
  network: z.string().min(1).max(64),
  peerId: z.string().min(1).max(128),
  /** Strictly increasing per peer (milliseconds-based, so it survives restarts). */
  seq: z.number().int().min(0),
  issuedAt: z.number().int().min(0),
  ttlSeconds: z.number().int().min(1).max(3600),
  version: z.string().max(64),
  models: z.array(AdvertModelSchema).max(64),
  load: z.strictObject({
    active: z.number().int().min(0).max(100_000),
    waiting: z.number().int().min(0).max(1_000_000),
    parallel: z.number().int().min(0).max(100_000)
  }),
  community: z.strictObject({
    accepts: z.boolean(),
    maxConcurrentJobs: z.number().int().min(0).max(100_000),
    maxTokens: z.number().int().min(0).max(100_000_000),
    requestsPerMinute: z.number().int().min(0).max(10_000_000)
  })
})
export type AdvertPayload = z.output<typeof AdvertPayloadSchema>
export type AdvertModel = z.output<typeof AdvertModelSchema>

export const SignedAdvertSchema = z.strictObject({
  payload: AdvertPayloadSchema,
  signature: z.string().max(128)
})
export type SignedAdvert = z.output<typeof SignedAdvertSchema>

export type AdvertContent = Omit<AdvertPayload, 'v' | 'network' | 'peerId' | 'seq' | 'issuedAt' | 'ttlSeconds'>

export function signAdvert (signer: Signer, payload: AdvertPayload): SignedAdvert {
  return { payload, signature: signPayload(signer, ADVERT_DOMAIN, payload) }
}

export type AdvertRejection = 'too-large' | 'malformed' | 'wrong-network' | 'wrong-sender' | 'bad-signature' | 'expired' | 'from-the-future'

/**
 * Checks an advert as received from `from` (the gossipsub message author, itself signed by that
 * peer). Returns the payload or the reason it was refused.
 */
export function verifyAdvert (data: Uint8Array, from: string, networkId: string, now: number = Date.now()): AdvertPayload | AdvertRejection {
  if (data.byteLength > MAX_ADVERT_BYTES) return 'too-large'
  let parsed: SignedAdvert
  try {
    const r = SignedAdvertSchema.safeParse(JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(data)))
    if (!r.success) return 'malformed'
    parsed = r.data
  } catch {
    return 'malformed'
  }
  const { payload, signature } = parsed
  if (payload.network !== networkId) return 'wrong-network'
  if (payload.peerId !== from) return 'wrong-sender'
  let publicKey: Uint8Array | undefined
  try {
    const id = peerIdFromString(payload.peerId)
    publicKey = id.type === 'Ed25519' ? id.publicKey.raw : undefined
  } catch {
    return 'malformed'
  }
  if (publicKey == null || !verifyPayload(publicKey, ADVERT_DOMAIN, payload, signature)) return 'bad-signature'
  if (payload.issuedAt > now + MAX_CLOCK_SKEW_MS) return 'from-the-future'
  if (payload.issuedAt + payload.ttlSeconds * 1000 < now) return 'expired'
  return payload
}

export interface AdvertServiceComponents {
  pubsub: GossipSub
  peerId: PeerId
  signer: Signer
  table: PeerTable
  logger: Logger
  /** What to advertise now. Called often: keep it cheap. */
  content: () => AdvertContent
}

export interface AdvertServiceInit {
  networkId: string
  intervalSeconds: number
  /** How often to look for changes worth an early advert (ms). */
  checkEveryMs?: number
}

export interface AdvertStats {
  published: number
  accepted: number
  rejected: Partial<Record<AdvertRejection, number>>
}

/** Publishes this node's adverts and fills the peer table from others'. */
export class AdvertService {
  readonly #c: AdvertServiceComponents
  readonly #init: Required<AdvertServiceInit>
  readonly #topic: string
  readonly #self: string
  #seq = 0
  #lastContent = ''
  #lastPublishedAt = 0
  #timer: NodeJS.Timeout | null = null
  #soon: NodeJS.Timeout | null = null
  #answer: NodeJS.Timeout | null = null
  #lastAnswer = 0
  readonly stats: AdvertStats = { published: 0, accepted: 0, rejected: {} }
  readonly #onMessage = (evt: CustomEvent<Message>): void => { this.#received(evt.detail) }
  readonly #onSubscription = (): void => { this.publishSoon() }

  constructor (components: AdvertServiceComponents, init: AdvertServiceInit) {
    this.#c = components
    this.#init = { checkEveryMs: 1000, ...init }
    this.#topic = advertTopic(init.networkId)
    this.#self = components.peerId.toString()
  }

  get topic (): string { return this.#topic }

  start (): void {
    const { pubsub } = this.#c
    pubsub.topicValidators.set(this.#topic, (_peer, message) => this.#validate(message))
    pubsub.addEventListener('message', this.#onMessage)
    // A peer that just joined the topic has none of our adverts yet.
    pubsub.addEventListener('subscription-change', this.#onSubscription)
    pubsub.subscribe(this.#topic)
    this.#timer = setInterval(() => { this.#tick() }, this.#init.checkEveryMs)
    this.#timer.unref()
    this.publishSoon()
  }

  stop (): void {
    const { pubsub } = this.#c
    if (this.#timer != null) clearInterval(this.#timer)
    if (this.#soon != null) clearTimeout(this.#soon)
    if (this.#answer != null) clearTimeout(this.#answer)
    this.#timer = this.#soon = this.#answer = null
    pubsub.removeEventListener('message', this.#onMessage)
    pubsub.removeEventListener('subscription-change', this.#onSubscription)
    pubsub.topicValidators.delete(this.#topic)
    try { pubsub.unsubscribe(this.#topic) } catch {}
  }

  /** Publishes within ~50 ms (coalescing bursts of changes). */
  publishSoon (): void {
    if (this.#soon != null || this.#timer == null) return
    this.#soon = setTimeout(() => {
      this.#soon = null
      void this.publish()
    }, 50)
    this.#soon.unref()
  }

  #tick (): void {
    const content = canonicalJson(this.#c.content())
    const due = Date.now() - this.#lastPublishedAt >= this.#init.intervalSeconds * 1000
    if (due || content !== this.#lastContent) void this.publish()
  }

  /** Signs and publishes the current advert now. */
  async publish (): Promise<void> {
    const content = this.#c.content()
    const now = Date.now()
    this.#seq = Math.max(this.#seq + 1, now)
    const payload: AdvertPayload = {
      v: 1,
      network: this.#init.networkId,
      peerId: this.#self,
      seq: this.#seq,
      issuedAt: now,
      // Three missed adverts and a peer is forgotten.
      ttlSeconds: Math.max(3, this.#init.intervalSeconds * 3),
      ...content
    }
    this.#lastContent = canonicalJson(content)
    this.#lastPublishedAt = now
    const data = new TextEncoder().encode(JSON.stringify(signAdvert(this.#c.signer, payload)))
    try {
      await this.#c.pubsub.publish(this.#topic, data)
      this.stats.published++
    } catch (err) {
      this.#c.logger.debug({ err }, 'advert not published')
    }
  }

  #validate (message: Message): TopicValidatorResult {
    if (message.type !== 'signed') return this.#reject('wrong-sender')
    const from = message.from.toString()
    if (from === this.#self) return TopicValidatorResult.Ignore
    const r = verifyAdvert(message.data, from, this.#init.networkId)
    if (typeof r === 'string') return this.#reject(r)
    // Replays and reordered copies of older adverts are dropped quietly.
    if (r.seq <= this.#c.table.seqOf(from)) return TopicValidatorResult.Ignore
    return TopicValidatorResult.Accept
  }

  #reject (reason: AdvertRejection): TopicValidatorResult {
    this.stats.rejected[reason] = (this.stats.rejected[reason] ?? 0) + 1
    this.#c.logger.debug({ reason }, 'advert rejected')
    // Expired ones may be honest but late: ignore them without penalising the forwarder.
    return reason === 'expired' ? TopicValidatorResult.Ignore : TopicValidatorResult.Reject
  }

  #received (message: Message): void {
    if (message.topic !== this.#topic || message.type !== 'signed') return
    // Validated already; parse again (cheap) to get the typed payload.
    const r = verifyAdvert(message.data, message.from.toString(), this.#init.networkId)
    if (typeof r === 'string') return
    const known = this.#c.table.seqOf(r.peerId) >= 0
    if (this.#c.table.upsert(r)) this.stats.accepted++
    // A newcomer learns about everyone within about a second instead of waiting for each peer's
    // periodic advert: answer the first advert of an unknown peer with ours (at most once a second).
    if (!known) this.#answerNewcomer()
  }

  #answerNewcomer (): void {
    if (this.#answer != null) return
    const wait = Math.max(0, this.#lastAnswer + 1000 - Date.now())
    this.#answer = setTimeout(() => {
      this.#answer = null
      this.#lastAnswer = Date.now()
      void this.publish()
    }, wait)
    this.#answer.unref()
  }
}
