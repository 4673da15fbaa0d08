import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { defaultBits, dequantize, quantize, resolveConfig, shareThreshold } from '../../../src/federated/secagg/index.js'
import { isPlexusError } from '../../../src/errors.js'

/** `count` uniform values in [−scale, scale] (the assertions below hold for any values). */
function uniform (count: number, scale: number): Float32Array {
  const bytes = randomBytes(count * 4)
  return Float32Array.from(new Uint32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + count * 4)), w => (w / 2 ** 31 - 1) * scale)
}

const base = { session: 'q', length: 1000, clipRange: 2, maxClients: 100 }

describe('secure aggregation parameters', () => {
  it('picks the widest quantisation that cannot overflow the sum', () => {
    assert.equal(defaultBits(1), 32)
    assert.equal(defaultBits(2), 31)
    assert.equal(defaultBits(100), 25)
    assert.equal(defaultBits(10_000), 18)
    for (const n of [2, 3, 7, 100, 1000, 10_000]) {
      const b = defaultBits(n)
      assert.ok(n * (2 ** (b - 1) - 1) <= 2 ** 31 - 1, `n=${n}`)
      assert.ok(b === 32 || n * (2 ** b - 1) > 2 ** 31 - 1, `n=${n} could use ${b + 1} bits`)
    }
  })

  it('fills in defaults and derives the step', () => {
    // Execute
    const c = resolveConfig(base)

    // Assert
    assert.equal(c.bits, 25)
    assert.equal(c.maxLevel, 2 ** 24 - 1)
    assert.equal(c.step, 2 / (2 ** 24 - 1))
    assert.equal(c.threshold, 2 / 3)
    assert.equal(c.neighbours, 'complete')
    assert.equal(c.extras, 0)
    assert.equal(c.minClients, 3)
  })

  it('refuses unusable parameters with PLX_ERR_SECAGG_CONFIG', () => {
    const bad = [
      { ...base, bits: 26 },
      { ...base, clipRange: 0 },
      { ...base, clipRange: Infinity },
      { ...base, length: 0 },
      { ...base, length: 1.5 },
      { ...base, maxClients: 1 },
      { ...base, threshold: 0.5 },
      { ...base, threshold: 1.2 },
      { ...base, extras: 1000 },
      { ...base, minClients: 200 },
      { ...base, session: '' },
      { ...base, neighbours: 1 },
      { ...base, unknown: true }
    ]
    for (const config of bad) {
      assert.throws(() => resolveConfig(config as typeof base), (err: unknown) => isPlexusError(err, 'PLX_ERR_SECAGG_CONFIG'), JSON.stringify(config))
    }
  })

  it('needs a strict majority of holders and at least the threshold fraction', () => {
    assert.equal(shareThreshold(100, 2 / 3), 67)
    assert.equal(shareThreshold(3, 2 / 3), 2)
    assert.equal(shareThreshold(4, 0.51), 3)
    assert.equal(shareThreshold(10, 1), 10)
    assert.equal(shareThreshold(2, 2 / 3), 2)
  })
})

describe('quantisation', () => {
  it('round-trips within half a step per coordinate, and clips to the range', () => {
    // Prepare
    const c = resolveConfig(base)
    const x = uniform(c.length, 3)

    // Execute
    const back = dequantize(new Int32Array(quantize(x, c).buffer), c)

    // Assert: |x̂ − clip(x)| ≤ Δ/2, plus float32 rounding of the result
    for (let i = 0; i < x.length; i++) {
      const clipped = Math.max(-2, Math.min(2, x[i]!))
      assert.ok(Math.abs(back[i]! - clipped) <= c.step / 2 + Math.abs(clipped) * 2 ** -23, `i=${i}: ${x[i]} → ${back[i]}`)
    }
  })

  it('keeps a sum of m clients within m·Δ/2 of the sum of the clipped inputs, with no overflow at the extremes', () => {
    // Prepare: 100 clients, some at exactly ±R and beyond
    const c = resolveConfig({ ...base, length: 200 })
    const inputs = Array.from({ length: 100 }, () => {
      const x = uniform(c.length, 2.5)
      x[0] = 5
      x[1] = -5
      return x
    })

    // Execute: sum the quantised vectors with 32-bit wrap-around, as the protocol does
    const sum = new Int32Array(c.length)
    for (const x of inputs) {
      const q = new Int32Array(quantize(x, c).buffer)
      for (let i = 0; i < sum.length; i++) sum[i] = (sum[i]! + q[i]!) | 0
    }
    const total = dequantize(sum, c)

    // Assert
    assert.equal(sum[0], 100 * c.maxLevel)
    assert.equal(sum[1], -100 * c.maxLevel)
    for (let i = 0; i < c.length; i++) {
      const exact = inputs.reduce((s, x) => s + Math.max(-2, Math.min(2, x[i]!)), 0)
      assert.ok(Math.abs(total[i]! - exact) <= 100 * c.step / 2 + Math.abs(exact) * 2 ** -23 + 1e-9, `i=${i}`)
    }
  })

  it('carries extra coordinates as exact integers', () => {
    // Prepare
    const c = resolveConfig({ ...base, length: 4, extras: 2 })
    const x = Float32Array.from([0.5, -0.25, 1234, -7])

    // Execute
    const q = new Int32Array(quantize(x, c).buffer)

    // Assert
    assert.equal(q[2], 1234)
    assert.equal(q[3], -7)
    assert.deepEqual([...dequantize(q, c)].slice(2), [1234, -7])
  })

  it('refuses a wrong length, non-finite values and bad extras with PLX_ERR_SECAGG_INPUT', () => {
    const c = resolveConfig({ ...base, length: 3, extras: 1 })
    const cases: unknown[] = [
      new Float32Array(2),
      new Float32Array(4),
      Float32Array.from([NaN, 0, 0]),
      Float32Array.from([0, Infinity, 0]),
      Float32Array.from([0, 0, 1.5]),
      Float32Array.from([0, 0, c.maxExtra + 1000]),
      [0, 0, 0]
    ]
    for (const x of cases) {
      assert.throws(() => quantize(x as Float32Array, c), (err: unknown) => isPlexusError(err, 'PLX_ERR_SECAGG_INPUT'), String(x))
    }
  })
})
