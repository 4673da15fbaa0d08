import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { parseKeepAlive } from '../../src/api/ollama/routes.js'

describe("Ollama's keep_alive", () => {
  it('reads numbers as seconds and strings as Go durations; negative is forever', () => {
    assert.equal(parseKeepAlive(0), 0)
    assert.equal(parseKeepAlive(30), 30_000)
    assert.equal(parseKeepAlive('0'), 0)
    assert.equal(parseKeepAlive('300'), 300_000)
    assert.equal(parseKeepAlive('5m'), 300_000)
    assert.equal(parseKeepAlive('1h30m'), 5_400_000)
    assert.equal(parseKeepAlive('1.5s'), 1500)
    assert.equal(parseKeepAlive('250ms'), 250)
    assert.equal(parseKeepAlive(-1), -1)
    assert.equal(parseKeepAlive('-1'), -1)
    assert.equal(parseKeepAlive('-1m'), -1)
    assert.equal(parseKeepAlive('100000h'), -1, 'beyond a year is as good as forever')
  })

  it('refuses what is not a duration', () => {
    for (const v of ['5 minutes', 'm', '', '1d', '5m3', Number.NaN, Number.POSITIVE_INFINITY]) assert.equal(parseKeepAlive(v), null, String(v))
  })
})
