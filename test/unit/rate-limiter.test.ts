import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { RateLimiter, type Caller } from '../../src/api/auth.js'
import { isPlexusError, type PlexusError } from '../../src/errors.js'

const rateLimited = (err: unknown): boolean => isPlexusError(err, 'PLX_ERR_RATE_LIMITED')

/** A fixed instant, so that tests never depend on the real clock. */
const T0 = 1_700_000_000_000
const MINUTE = 60_000

const key = (id: string, rateLimitPerMinute: number | null): Caller => ({ kind: 'key', id, name: id, rateLimitPerMinute })
const anonymous = (address: string): Caller => ({ kind: 'anonymous', address })

/** The error a refused check throws. */
function refusal (limiter: RateLimiter, caller: Caller, now: number): PlexusError {
  try {
    limiter.check(caller, now)
  } catch (err) {
    assert.ok(rateLimited(err), `expected PLX_ERR_RATE_LIMITED, got ${String(err)}`)
    return err as PlexusError
  }
  assert.fail(`request at +${now - T0} ms was not refused`)
}

describe('RateLimiter', () => {
  it('lets a key with rateLimitPerMinute 2 make 2 requests, then refuses with PLX_ERR_RATE_LIMITED', () => {
    // Prepare
    const limiter = new RateLimiter(600)
    const caller = key('k1', 2)

    // Execute
    limiter.check(caller, T0)
    limiter.check(caller, T0 + 1_000)
    const err = refusal(limiter, caller, T0 + 2_000)

    // Assert
    assert.equal(err.statusCode, 429)
    assert.equal(err.type, 'rate_limit_error')
    assert.equal(err.openaiCode, 'rate_limit_exceeded')
    assert.equal(typeof err.retryAfterSeconds, 'number')
  })

  it('says when the next request will be allowed', () => {
    // Prepare: 2 per minute refills one request every 30 s
    const limiter = new RateLimiter(600)
    const caller = key('k1', 2)
    limiter.check(caller, T0)
    limiter.check(caller, T0)

    // Execute
    const now = refusal(limiter, caller, T0)
    const later = refusal(limiter, caller, T0 + 20_000)

    // Assert
    assert.equal(now.retryAfterSeconds, 30)
    assert.equal(later.retryAfterSeconds, 10)
  })

  it('allows a request again once the retry time has passed', () => {
    for (const limit of [1, 2, 3, 7, 13, 59, 600]) {
      for (const waited of [0, 1, 999, 7_777, 29_999]) {
        // Prepare: use the whole allowance, then wait a while
        const limiter = new RateLimiter(600)
        const caller = key(`k${limit}`, limit)
        for (let i = 0; i < limit; i++) limiter.check(caller, T0)
        const refusedAt = T0 + Math.min(waited, Math.floor(MINUTE / limit) - 1)
        const err = refusal(limiter, caller, refusedAt)

        // Execute
        const retryAt = refusedAt + (err.retryAfterSeconds ?? 0) * 1000

        // Assert
        assert.ok((err.retryAfterSeconds ?? 0) >= 1, `limit ${limit}`)
        assert.doesNotThrow(() => limiter.check(caller, retryAt), `limit ${limit}, refused at +${refusedAt - T0} ms`)
      }
    }
  })

  it('does not count refused requests', () => {
    // Prepare
    const limiter = new RateLimiter(600)
    const caller = key('k1', 2)
    limiter.check(caller, T0)
    limiter.check(caller, T0)

    // Execute: a client hammering while refused
    for (let t = T0; t < T0 + 30_000; t += 1_000) refusal(limiter, caller, t)

    // Assert: one request is refilled after 30 s, as if the refused ones never happened
    // (1 ms of slack: the refill is computed in floating point, step by step)
    assert.doesNotThrow(() => limiter.check(caller, T0 + 30_001))
    refusal(limiter, caller, T0 + 30_001)
  })

  it('gives the full allowance back after a minute, but no more', () => {
    // Prepare
    const limiter = new RateLimiter(600)
    const caller = key('k1', 2)
    limiter.check(caller, T0)
    limiter.check(caller, T0)
    refusal(limiter, caller, T0)

    // Execute
    const later = T0 + 10 * MINUTE
    limiter.check(caller, later)
    limiter.check(caller, later)

    // Assert
    refusal(limiter, caller, later)
  })

  it('does not double the rate across a clock-minute boundary', () => {
    // Prepare: two requests in the last millisecond of a clock minute
    const limiter = new RateLimiter(600)
    const caller = key('k1', 2)
    const endOfMinute = Math.ceil(T0 / MINUTE) * MINUTE - 1
    limiter.check(caller, endOfMinute)
    limiter.check(caller, endOfMinute)

    // Execute / Assert: the next clock minute brings no fresh allowance
    refusal(limiter, caller, endOfMinute + 1)
  })

  it('counts each key separately', () => {
    // Prepare
    const limiter = new RateLimiter(600)
    const a = key('a', 1)
    const b = key('b', 1)
    limiter.check(a, T0)

    // Execute / Assert
    assert.doesNotThrow(() => limiter.check(b, T0))
    refusal(limiter, a, T0)
    refusal(limiter, b, T0)
  })

  it('applies the default limit to keys without their own and to anonymous callers by address', () => {
    // Prepare
    const limiter = new RateLimiter(1)

    // Execute
    limiter.check(key('plain', null), T0)
    limiter.check(anonymous('10.0.0.1'), T0)

    // Assert
    refusal(limiter, key('plain', null), T0)
    refusal(limiter, anonymous('10.0.0.1'), T0)
    assert.doesNotThrow(() => limiter.check(anonymous('10.0.0.2'), T0))
  })

  it('lets a key\'s own limit exceed the default', () => {
    // Prepare
    const limiter = new RateLimiter(1)
    const caller = key('big', 3)

    // Execute
    for (let i = 0; i < 3; i++) limiter.check(caller, T0)

    // Assert
    refusal(limiter, caller, T0)
  })

  it('never limits local callers', () => {
    // Prepare
    const limiter = new RateLimiter(1)
    const local: Caller = { kind: 'local' }

    // Execute / Assert
    for (let i = 0; i < 1_000; i++) limiter.check(local, T0)
    assert.doesNotThrow(() => limiter.check(local, T0))
  })

  it('keeps limiting recent callers when many callers have been seen', () => {
    // Prepare
    const limiter = new RateLimiter(1)
    const old = anonymous('192.0.2.1')
    limiter.check(old, T0)
    const now = T0 + 2 * MINUTE

    // Execute: enough distinct callers to make the limiter forget idle ones
    for (let i = 0; i < 10_050; i++) limiter.check(anonymous(`10.0.${i >> 8}.${i & 255}`), now)

    // Assert
    refusal(limiter, anonymous('10.0.0.0'), now)
    refusal(limiter, anonymous('10.0.39.65'), now)
    assert.doesNotThrow(() => limiter.check(old, now))
    refusal(limiter, old, now)
  })
})
