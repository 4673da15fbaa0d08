import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { availableParallelism } from 'node:os'
import { calibrationCandidates, defaultThreads, pickThreads, resolveThreads } from '../../src/inference/threads.js'

describe('defaultThreads', () => {
  it('uses one thread on machines with one or two cores', () => {
    assert.equal(defaultThreads(1), 1)
    assert.equal(defaultThreads(2), 1)
  })

  it('keeps one core free for the Node process on larger machines', () => {
    assert.equal(defaultThreads(3), 2)
    assert.equal(defaultThreads(4), 3)
    assert.equal(defaultThreads(8), 7)
    assert.equal(defaultThreads(9), 8)
  })

  it('never goes above 8 threads', () => {
    assert.equal(defaultThreads(16), 8)
    assert.equal(defaultThreads(128), 8)
  })

  it('is at least 1 and at most the core count for every core count', () => {
    for (let cores = 1; cores <= 64; cores++) {
      const threads = defaultThreads(cores)
      assert.ok(Number.isInteger(threads), `cores=${cores}`)
      assert.ok(threads >= 1 && threads <= Math.max(1, cores), `cores=${cores} threads=${threads}`)
    }
  })

  it('measures this machine when no core count is given', () => {
    assert.equal(defaultThreads(), defaultThreads(availableParallelism()))
  })
})

describe('resolveThreads', () => {
  it('uses the configured count when it is positive', () => {
    assert.equal(resolveThreads(4, 16), 4)
    assert.equal(resolveThreads(1, 2), 1)
    assert.equal(resolveThreads(12, 2), 12)
  })

  it('uses the default for this core count when configured as 0', () => {
    assert.equal(resolveThreads(0, 2), 1)
    assert.equal(resolveThreads(0, 4), 3)
    assert.equal(resolveThreads(0, 32), 8)
  })

  it('uses this machine\'s default when no core count is given', () => {
    assert.equal(resolveThreads(0), defaultThreads(availableParallelism()))
    assert.equal(resolveThreads(5), 5)
  })
})

describe('calibrationCandidates', () => {
  it('tries 1 up to min(cores, 4), plus the static rule on larger machines', () => {
    assert.deepEqual(calibrationCandidates(1), [1])
    assert.deepEqual(calibrationCandidates(2), [1, 2])
    assert.deepEqual(calibrationCandidates(4), [1, 2, 3, 4])
    assert.deepEqual(calibrationCandidates(8), [1, 2, 3, 4, 7])
    assert.deepEqual(calibrationCandidates(64), [1, 2, 3, 4, 8])
  })
})

describe('pickThreads', () => {
  it('takes the fewest threads within 10 % of the best rate', () => {
    assert.equal(pickThreads(new Map([[1, 120], [2, 158]])), 2)
    assert.equal(pickThreads(new Map([[1, 150], [2, 158]])), 1)
    assert.equal(pickThreads(new Map([[1, 2000], [2, 80]])), 1)
    assert.equal(pickThreads(new Map([[1, 50], [2, 90], [3, 100], [4, 101]])), 3)
  })

  it('falls back to one thread when nothing was measured', () => {
    assert.equal(pickThreads(new Map()), 1)
  })

  it('never picks a count whose rate is under 90 % of the best', () => {
    const rates = new Map([[1, 100], [2, 111], [3, 140], [4, 150]])
    const picked = pickThreads(rates)
    assert.ok((rates.get(picked) ?? 0) >= 0.9 * 150)
  })
})
