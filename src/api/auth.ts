import { timingSafeEqual } from 'node:crypto'
import type { FastifyRequest } from 'fastify'
import { TokenBuckets } from '../rate-limit.js'
import { PlexusError } from '../errors.js'
import type { ApiKeyStore } from '../auth/keys.js'

/** Who is calling: an API key, the node's own CLI (local token), or anyone (open loopback node). */
export type Caller =
  | { kind: 'key', id: string, name: string, rateLimitPerMinute: number | null }
  | { kind: 'local' }
  | { kind: 'anonymous', address: string }

export interface AuthOptions {
  keys: ApiKeyStore
  /** Require a key even when none exists yet (set on non-loopback binds). */
  requireApiKey: boolean
  /** Token written to the data directory's runtime file for the CLI on the same machine. */
  localToken: string | null
}

function bearer (request: FastifyRequest): string | null {
  const h = request.headers.authorization
  if (typeof h !== 'string') return null
  const m = /^Bearer\s+(\S+)\s*$/i.exec(h)
  return m?.[1] ?? null
}

function sameSecret (a: string, b: string): boolean {
  const x = Buffer.from(a)
  const y = Buffer.from(b)
  return x.length === y.length && timingSafeEqual(x, y)
}

/**
 * Authenticates a request. Once any API key exists (or `requireApiKey` is set) every request must
 * carry a valid one; a node with no keys on loopback is open, like Ollama.
 */
export function authenticate (request: FastifyRequest, options: AuthOptions): Caller {
  const token = bearer(request)
  if (token != null && options.localToken != null && sameSecret(token, options.localToken)) return { kind: 'local' }
  const required = options.requireApiKey || options.keys.hasActiveKeys()
  if (token != null) {
    const key = options.keys.verify(token)
    if (key != null) return { kind: 'key', id: key.id, name: key.name, rateLimitPerMinute: key.rateLimitPerMinute }
    if (required) throw new PlexusError('PLX_ERR_AUTH_INVALID')
  }
  if (required) throw new PlexusError('PLX_ERR_AUTH_MISSING')
  return { kind: 'anonymous', address: request.ip }
}

/**
 * A token bucket per caller: `limit` requests per minute, refilled continuously, with bursts of up
 * to `limit`. Unlike fixed windows, there is no boundary at which a caller gets twice the rate.
 */
export class RateLimiter {
  readonly #buckets = new TokenBuckets()
  readonly #defaultLimit: number

  constructor (defaultLimit: number) {
    this.#defaultLimit = defaultLimit
  }

  check (caller: Caller, now = Date.now()): void {
    if (caller.kind === 'local') return
    const id = caller.kind === 'key' ? `key:${caller.id}` : `ip:${caller.address}`
    const limit = caller.kind === 'key' ? caller.rateLimitPerMinute ?? this.#defaultLimit : this.#defaultLimit
    const r = this.#buckets.take(id, limit, now)
    if (!r.ok) throw new PlexusError('PLX_ERR_RATE_LIMITED', [limit, r.retryAfterSeconds], { retryAfterSeconds: r.retryAfterSeconds })
  }
}
