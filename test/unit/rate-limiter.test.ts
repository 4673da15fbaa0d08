import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { RateLimiter, type Caller } from '../../src/api/auth.js'
import { isPlexusError, type PlexusError } from '../../src/errors.js'

const rateLimited = (err: unknown): boolean => isPlexusError(err, 'PLX_ERR_RATE_LIMITED')

/** A fixed instant 5 s into a clock minute, so that tests never depend on the real time. */
const MINUTE = 60_000
const T0 = 28_000_000 * MINUTE + 5_000

const key = (id: string, rateLimitPerMinute: number | null): Caller => ({ kind: 'key', id, name: id, rateLimitPerMinute })
const anonymous = (address: string): Caller => ({ kind: 'anonymous', address })

describe('RateLimiter', () => {
  it('lets a key with rateLimitPerMinute 2 make 2 requests, then refuses with PLX_ERR_RATE_LIMITED', () => {
    // Prepare
    const limiter = new RateLimiter(600)
    const caller = key('k1', 2)

    // Execute
    limiter.check(caller, T0)
    limiter.check(caller, T0 + 1_000)

    // Assert
    assert.throws(() => limiter.check(caller, T0 + 2_000), (err: unknown) => {
      assert.ok(rateLimited(err))
      assert.equal((err as PlexusError).statusCode, 429)
      assert.equal((err as PlexusError).type, 'rate_limit_error')
      assert.equal((err as PlexusError).openaiCode, 'rate_limit_exceeded')
      return true
    })
  })

  it('keeps refusing until the minute ends', () => {
    // Prepare
    const limiter = new RateLimiter(600)
    const caller = key('k1', 2)
    limiter.check(caller, T0)
    limiter.check(caller, T0)

    // Execute / Assert
    assert.throws(() => limiter.check(caller, T0 + 10_000), rateLimited)
    assert.throws(() => limiter.check(caller, T0 - 5_000 + MINUTE - 1), rateLimited)
  })

  it('starts a new window at the next clock minute', () => {
    // Prepare
    const limiter = new RateLimiter(600)
    const caller = key('k1', 2)
    limiter.check(caller, T0)
    limiter.check(caller, T0)
    assert.throws(() => limiter.check(caller, T0), rateLimited)

    // Execute
    const nextMinute = T0 - 5_000 + MINUTE

    // Assert
    assert.doesNotThrow(() => limiter.check(caller, nextMinute))
    assert.doesNotThrow(() => limiter.check(caller, nextMinute + 30_000))
    assert.throws(() => limiter.check(caller, nextMinute + 59_999), rateLimited)
  })

  it('counts each key separately', () => {
    // Prepare
    const limiter = new RateLimiter(600)
    const a = key('a', 1)
    const b = key('b', 1)
    limiter.check(a, T0)

    // Execute / Assert
    assert.doesNotThrow(() => limiter.check(b, T0))
    assert.throws(() => limiter.check(a, T0), rateLimited)
    assert.throws(() => limiter.check(b, T0), rateLimited)
  })

  it('applies the default limit to keys without their own and to anonymous callers by address', () => {
    // Prepare
    const limiter = new RateLimiter(1)

    // Execute
    limiter.check(key('plain', null), T0)
    limiter.check(anonymous('10.0.0.1'), T0)

    // Assert
    assert.throws(() => limiter.check(key('plain', null), T0), rateLimited)
    assert.throws(() => limiter.check(anonymous('10.0.0.1'), T0), rateLimited)
    assert.doesNotThrow(() => limiter.check(anonymous('10.0.0.2'), T0))
  })

  it('lets a key\'s own limit exceed the default', () => {
    // Prepare
    const limiter = new RateLimiter(1)
    const caller = key('big', 3)

    // Execute / Assert
    for (let i = 0; i < 3; i++) limiter.check(caller, T0)
    assert.throws(() => limiter.check(caller, T0), rateLimited)
  })

  it('never limits local callers', () => {
    // Prepare
    const limiter = new RateLimiter(1)
    const local: Caller = { kind: 'local' }

    // Execute / Assert
    for (let i = 0; i < 1_000; i++) limiter.check(local, T0)
    assert.doesNotThrow(() => limiter.check(local, T0))
  })

  it('keeps working when many callers have been seen', () => {
    // Prepare
    const limiter = new RateLimiter(1)
    const caller = anonymous('192.0.2.1')
    limiter.check(caller, T0)

    // Execute: enough callers in a later minute to make the limiter prune old windows
    for (let i = 0; i < 10_050; i++) limiter.check(anonymous(`10.0.${i >> 8}.${i & 255}`), T0 + MINUTE)

    // Assert
    assert.doesNotThrow(() => limiter.check(caller, T0 + MINUTE))
    assert.throws(() => limiter.check(caller, T0 + MINUTE), rateLimited)
    assert.throws(() => limiter.check(anonymous('10.0.0.0'), T0 + MINUTE), rateLimited)
  })
})
