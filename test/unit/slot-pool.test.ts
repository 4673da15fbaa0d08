import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { SlotPool } from '../../src/inference/slot-pool.js'
import { PlexusError, isPlexusError } from '../../src/errors.js'

const hasCode = (code: string) => (err: unknown): boolean => isPlexusError(err) && err.code === code

/** Resolves once pending promise callbacks have run, so settled waiters can be observed. */
const tick = async (): Promise<void> => await new Promise(resolve => setImmediate(resolve))

/** Records the order in which promises settle. */
function track<T> (promise: Promise<T>, log: string[], label: string): Promise<T> {
  return promise.then(v => { log.push(`${label}=${String(v)}`); return v }, err => { log.push(`${label}!`); throw err })
}

describe('SlotPool', () => {
  it('hands out free slots in order without waiting', async () => {
    // Prepare
    const pool = new SlotPool(['a', 'b'], 4)

    // Execute
    const first = await pool.acquire()
    const second = await pool.acquire()

    // Assert
    assert.equal(first, 'a')
    assert.equal(second, 'b')
    assert.equal(pool.size, 2)
    assert.equal(pool.active, 2)
    assert.equal(pool.waiting, 0)
  })

  it('hands out the most recently released slot first', async () => {
    // Prepare
    const pool = new SlotPool(['a', 'b', 'c'], 4)
    const a = await pool.acquire()
    const b = await pool.acquire()

    // Execute: b is released last, then a; sequential requests after that.
    pool.release(a)
    pool.release(b)
    const next = await pool.acquire()
    pool.release(next)
    const again = await pool.acquire()

    // Assert: the slot whose cache holds the latest conversation is reused; c was never needed.
    assert.equal(next, 'b')
    assert.equal(again, 'b')
    assert.equal(await pool.acquire(), 'a')
    assert.equal(await pool.acquire(), 'c')
  })

  it('serves waiters first in, first out', async () => {
    // Prepare
    const pool = new SlotPool(['a'], 10)
    const slot = await pool.acquire()
    const log: string[] = []
    const w1 = track(pool.acquire(), log, 'w1')
    const w2 = track(pool.acquire(), log, 'w2')
    const w3 = track(pool.acquire(), log, 'w3')
    await tick()

    // Execute
    pool.release(slot)
    const got1 = await w1
    pool.release(got1)
    const got2 = await w2
    pool.release(got2)
    const got3 = await w3

    // Assert
    assert.deepEqual(log, ['w1=a', 'w2=a', 'w3=a'])
    assert.equal(got3, 'a')
    assert.equal(pool.waiting, 0)
    assert.equal(pool.active, 1)
  })

  it('gives a released slot to the oldest waiter, not back to the free list', async () => {
    // Prepare
    const pool = new SlotPool(['a', 'b'], 10)
    const a = await pool.acquire()
    await pool.acquire()
    const waiter = pool.acquire()

    // Execute
    pool.release(a)

    // Assert
    assert.equal(await waiter, 'a')
    assert.equal(pool.active, 2)
    assert.equal(pool.waiting, 0)
  })

  it('tracks active, waiting and idle', async () => {
    // Prepare
    const pool = new SlotPool([1, 2], 10)
    const before = { active: pool.active, waiting: pool.waiting, idle: pool.idle }

    // Execute
    const one = await pool.acquire()
    const busy = { active: pool.active, waiting: pool.waiting, idle: pool.idle }
    const two = await pool.acquire()
    const waiter = pool.acquire()
    const queued = { active: pool.active, waiting: pool.waiting, idle: pool.idle }
    pool.release(one)
    const three = await waiter
    const handedOn = { active: pool.active, waiting: pool.waiting, idle: pool.idle }
    pool.release(two)
    pool.release(three)
    const after = { active: pool.active, waiting: pool.waiting, idle: pool.idle }

    // Assert
    assert.deepEqual(before, { active: 0, waiting: 0, idle: true })
    assert.deepEqual(busy, { active: 1, waiting: 0, idle: false })
    assert.deepEqual(queued, { active: 2, waiting: 1, idle: false })
    assert.deepEqual(handedOn, { active: 2, waiting: 0, idle: false })
    assert.deepEqual(after, { active: 0, waiting: 0, idle: true })
  })

  it('refuses a request with PLX_ERR_QUEUE_FULL when maxQueue are already waiting', async () => {
    // Prepare
    const pool = new SlotPool(['a'], 2)
    await pool.acquire()
    const w1 = pool.acquire()
    const w2 = pool.acquire()

    // Execute / Assert
    await assert.rejects(pool.acquire(), (err: unknown) => {
      assert.ok(hasCode('PLX_ERR_QUEUE_FULL')(err))
      assert.equal((err as PlexusError).statusCode, 503)
      return true
    })
    assert.equal(pool.waiting, 2)

    // Clean up: the refused request did not disturb the queue.
    pool.release('a')
    assert.equal(await w1, 'a')
    pool.release('a')
    assert.equal(await w2, 'a')
  })

  it('refuses at once with maxQueue 0 when no slot is free', async () => {
    // Prepare
    const pool = new SlotPool(['a'], 0)
    await pool.acquire()

    // Execute / Assert
    await assert.rejects(pool.acquire(), hasCode('PLX_ERR_QUEUE_FULL'))
    assert.equal(pool.waiting, 0)
  })

  it('fails an aborted waiter with PLX_ERR_ABORTED and removes it from the queue', async () => {
    // Prepare
    const pool = new SlotPool(['a'], 10)
    const slot = await pool.acquire()
    const controller = new AbortController()
    const cancelled = pool.acquire({ signal: controller.signal })
    const next = pool.acquire()
    assert.equal(pool.waiting, 2)

    // Execute
    controller.abort()

    // Assert
    await assert.rejects(cancelled, (err: unknown) => {
      assert.ok(hasCode('PLX_ERR_ABORTED')(err))
      assert.equal((err as PlexusError).statusCode, 499)
      return true
    })
    assert.equal(pool.waiting, 1)
    pool.release(slot)
    assert.equal(await next, 'a')
    assert.equal(pool.waiting, 0)
  })

  it('returns a slot to the free list when its only waiter was aborted', async () => {
    // Prepare
    const pool = new SlotPool(['a'], 10)
    const slot = await pool.acquire()
    const controller = new AbortController()
    const cancelled = pool.acquire({ signal: controller.signal })
    controller.abort()
    await assert.rejects(cancelled, hasCode('PLX_ERR_ABORTED'))

    // Execute
    pool.release(slot)

    // Assert
    assert.equal(pool.active, 0)
    assert.equal(pool.idle, true)
    assert.equal(await pool.acquire(), 'a')
  })

  it('ignores an abort after the waiter got its slot', async () => {
    // Prepare
    const pool = new SlotPool(['a'], 10)
    const slot = await pool.acquire()
    const controller = new AbortController()
    const waiter = pool.acquire({ signal: controller.signal })
    pool.release(slot)
    const got = await waiter

    // Execute
    controller.abort()
    await tick()

    // Assert
    assert.equal(got, 'a')
    assert.equal(pool.active, 1)
    assert.equal(pool.waiting, 0)
  })

  it('refuses an already aborted request without taking a slot', async () => {
    // Prepare
    const pool = new SlotPool(['a'], 10)
    const controller = new AbortController()
    controller.abort(new PlexusError('PLX_ERR_ABORTED'))

    // Execute / Assert
    await assert.rejects(pool.acquire({ signal: controller.signal }), hasCode('PLX_ERR_ABORTED'))
    assert.equal(pool.active, 0)
    assert.equal(pool.waiting, 0)
  })

  it('close() fails every waiter with PLX_ERR_SHUTTING_DOWN and refuses new requests', async () => {
    // Prepare
    const pool = new SlotPool(['a'], 10)
    const slot = await pool.acquire()
    const controller = new AbortController()
    const w1 = pool.acquire()
    const w2 = pool.acquire({ signal: controller.signal })

    // Execute
    pool.close()

    // Assert
    await assert.rejects(w1, hasCode('PLX_ERR_SHUTTING_DOWN'))
    await assert.rejects(w2, hasCode('PLX_ERR_SHUTTING_DOWN'))
    assert.equal(pool.waiting, 0)
    await assert.rejects(pool.acquire(), (err: unknown) => {
      assert.ok(hasCode('PLX_ERR_SHUTTING_DOWN')(err))
      assert.equal((err as PlexusError).statusCode, 503)
      return true
    })
    // A holder can still give its slot back after close.
    pool.release(slot)
    assert.equal(pool.active, 0)
    // Aborting a waiter that close() already failed changes nothing.
    controller.abort()
    assert.equal(pool.waiting, 0)
  })

  it('close() refuses new requests even while slots are free', async () => {
    // Prepare
    const pool = new SlotPool(['a', 'b'], 10)

    // Execute
    pool.close()

    // Assert
    await assert.rejects(pool.acquire(), hasCode('PLX_ERR_SHUTTING_DOWN'))
    assert.equal(pool.active, 0)
  })
})
