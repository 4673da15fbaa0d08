/**
 * Token buckets per key: each key may spend `limitPerMinute` requests per minute, refilled
 * continuously. Used for API keys and for peers of the network alike.
 */
export class TokenBuckets {
  readonly #buckets = new Map<string, { tokens: number, at: number }>()
  readonly #maxKeys: number

  constructor (options: { maxKeys?: number } = {}) {
    this.#maxKeys = options.maxKeys ?? 10_000
  }

  /** Spends one token of `key`; when none is left, says how many seconds until one is. */
  take (key: string, limitPerMinute: number, now = Date.now()): { ok: true } | { ok: false, retryAfterSeconds: number } {
    const perMs = limitPerMinute / 60_000
    const b = this.#buckets.get(key) ?? { tokens: limitPerMinute, at: now }
    b.tokens = Math.min(limitPerMinute, b.tokens + Math.max(0, now - b.at) * perMs)
    b.at = now
    this.#buckets.set(key, b)
    if (b.tokens < 1) return { ok: false, retryAfterSeconds: Math.ceil((1 - b.tokens) / perMs / 1000) }
    b.tokens -= 1
    if (this.#buckets.size > this.#maxKeys) this.#prune(now)
    return { ok: true }
  }

  /** Forgets keys whose buckets are full again (they are indistinguishable from new ones). */
  #prune (now: number): void {
    for (const [k, b] of this.#buckets) if (now - b.at > 60_000) this.#buckets.delete(k)
  }
}
