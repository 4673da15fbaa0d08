import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { chiSquareUpper, incompleteBeta, logGamma, normalTwoSided, studentTwoSided, upperGamma } from '../../../src/analytics/distributions.js'
import { binEdges, chiSquareTest, histogramQuantiles, tTest, varianceOf, vectorLength } from '../../../src/analytics/pool.js'
import { parseQuery, queryHash } from '../../../src/analytics/query.js'
import { histogramCell } from '../../../src/analytics/site.js'

const near = (a: number, b: number, tol = 1e-12): void => assert.ok(Math.abs(a - b) <= tol * Math.max(1, Math.abs(b)), `${a} vs ${b}`)

describe('distribution functions against closed forms', () => {
  it('log Γ of integers and halves', () => {
    near(logGamma(5), Math.log(24))
    near(logGamma(0.5), 0.5 * Math.log(Math.PI))
    near(logGamma(10.5), Math.log(1133278.3889487855), 1e-12)
  })
  it("Student's t: df 1 (Cauchy) and df 2 have closed forms", () => {
    for (const t of [0.1, 1, 2.5, 10]) {
      near(studentTwoSided(t, 1), 1 - (2 / Math.PI) * Math.atan(t))
      near(studentTwoSided(t, 2), 1 - t / Math.sqrt(t * t + 2))
    }
    near(studentTwoSided(0, 7), 1)
  })
  it('chi-square: df 2 is exponential, df 1 is erfc', () => {
    for (const x of [0.5, 3, 12]) near(chiSquareUpper(x, 2), Math.exp(-x / 2))
    near(chiSquareUpper(3.841458820694124, 1), 0.05, 1e-10)
    near(normalTwoSided(1.959963984540054), 0.05, 1e-10)
  })
  it('incomplete beta and gamma at their edges and symmetry', () => {
    assert.equal(incompleteBeta(0, 2, 3), 0)
    assert.equal(incompleteBeta(1, 2, 3), 1)
    near(incompleteBeta(0.3, 2, 5) + incompleteBeta(0.7, 5, 2), 1)
    near(incompleteBeta(0.5, 1, 1), 0.5)
    near(upperGamma(1, 2), Math.exp(-2))
    near(upperGamma(3, 0), 1)
  })
})

describe('pooling', () => {
  it('variance from power sums', () => {
    const xs = [2, 4, 4, 4, 5, 5, 7, 9]
    const s = xs.reduce((a, b) => a + b, 0)
    const ss = xs.reduce((a, b) => a + b * b, 0)
    near(varianceOf(xs.length, s, ss)!, 32 / 7)
    assert.equal(varianceOf(1, 3, 9), null)
  })
  it('histogram cells and quantiles', () => {
    assert.equal(histogramCell(-1, 0, 10, 5), 0)
    assert.equal(histogramCell(0, 0, 10, 5), 1)
    assert.equal(histogramCell(9.99, 0, 10, 5), 5)
    assert.equal(histogramCell(10, 0, 10, 5), 5)
    assert.equal(histogramCell(10.01, 0, 10, 5), 6)
    assert.deepEqual(binEdges(0, 10, 5), [0, 2, 4, 6, 8, 10])
    // 10 values uniform in [0, 10): the median lies in the middle of the range.
    const q = histogramQuantiles([0, 2, 2, 2, 2, 2, 0], 0, 10, [0, 0.5, 1])
    near(q[0]!, 0); near(q[1]!, 5); near(q[2]!, 10)
    assert.deepEqual(histogramQuantiles([5, 1, 0], 0, 1, [0.1]), [null])
  })
  it('chi-square test of a 2×2 table (by hand) drops empty rows', () => {
    const r = chiSquareTest([[10, 20], [30, 40], [0, 0]])
    // expected: rows 30, 70; cols 40, 60; N 100
    const e = [[12, 18], [28, 42]]
    const stat = [[10, 20], [30, 40]].reduce((acc, row, i) => acc + row.reduce((a, o, j) => a + (o - e[i]![j]!) ** 2 / e[i]![j]!, 0), 0)
    near(r.statistic, stat)
    assert.equal(r.df, 1)
  })
  it("Welch's t-test equals the textbook formula", () => {
    const a = [1, 2, 3, 4, 5]
    const b = [2, 4, 6, 8, 10, 12]
    const sums = (x: number[]): [number, number, number] => [x.length, x.reduce((p, v) => p + v, 0), x.reduce((p, v) => p + v * v, 0)]
    const r = tTest([sums(a), sums(b)], null)
    const va = 2.5
    const vb = 14
    const t = (3 - 7) / Math.sqrt(va / 5 + vb / 6)
    near(r.t, t)
    near(r.df, (va / 5 + vb / 6) ** 2 / ((va / 5) ** 2 / 4 + (vb / 6) ** 2 / 5))
  })
})

describe('queries', () => {
  it('checks that arguments fit the function', () => {
    const bad: unknown[] = [
      { dataset: 'd', fn: 'count', columns: ['x'] },
      { dataset: 'd', fn: 'histogram', columns: ['x'], bins: 5 },
      { dataset: 'd', fn: 'histogram', columns: ['x'], bins: 5, range: [3, 1] },
      { dataset: 'd', fn: 'ttest', columns: ['x'] },
      { dataset: 'd', fn: 'ttest', columns: ['x'], by: 'g', mu: 1 },
      { dataset: 'd', fn: 'chisq', columns: ['x'] },
      { dataset: 'd', fn: 'mean', columns: ['x', 'x'] },
      { dataset: 'd', fn: 'mean', columns: ['x'], by: 'x' },
      { dataset: 'd', fn: 'mean', columns: ['x'], epsilon: 1 },
      { dataset: 'd', fn: 'glm', columns: ['y'], success: 1 },
      { dataset: 'D!', fn: 'count' },
      { dataset: 'd', fn: 'count', extra: 1 }
    ]
    for (const q of bad) assert.throws(() => parseQuery(q), (e: any) => e.code === 'PLX_ERR_STATS_QUERY_INVALID', JSON.stringify(q))
  })
  it('hashes the same question the same way', () => {
    const a = parseQuery({ fn: 'mean', dataset: 'd', columns: ['x'], where: 'y > 1' })
    const b = parseQuery({ where: 'y > 1', columns: ['x'], dataset: 'd', fn: 'mean' })
    assert.equal(queryHash(a), queryHash(b))
    assert.notEqual(queryHash(a), queryHash(parseQuery({ fn: 'mean', dataset: 'd', columns: ['x'] })))
  })
  it('knows the length of every layout', () => {
    const levels = { g: ['a', 'b', 'c'], h: ['u', 'v'] }
    assert.equal(vectorLength(parseQuery({ dataset: 'd', fn: 'count' }), levels), 1)
    assert.equal(vectorLength(parseQuery({ dataset: 'd', fn: 'mean', columns: ['x', 'y'], by: 'g' }), levels), 15)
    assert.equal(vectorLength(parseQuery({ dataset: 'd', fn: 'table', columns: ['g', 'h'] }), levels), 6)
    assert.equal(vectorLength(parseQuery({ dataset: 'd', fn: 'cor', columns: ['x', 'y', 'z'] }), levels), 10)
    assert.equal(vectorLength(parseQuery({ dataset: 'd', fn: 'glm', columns: ['y', 'x'] }), levels), 8)
  })
})
