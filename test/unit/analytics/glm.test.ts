import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import {
  siteStatistics, poolStatistics, fitGlm, cholesky, choleskySolve, choleskyInverse, designMatrix, type GlmFamily, type SiteStatistics
} from '../../../src/analytics/glm.js'
import { loadDiabetes, DIABETES_COLUMNS } from '../../../src/analytics/diabetes.js'
import { checkGlm } from '../../../src/analytics/disclosure.js'
import { isPlexusError } from '../../../src/errors.js'

function hasCode (code: string) {
  return (e: unknown): boolean => { assert.ok(isPlexusError(e)); assert.equal(e.code, code); return true }
}

const data = loadDiabetes()

// Reference fits on the pooled file, computed independently with NumPy 2.4
// (numpy.linalg.lstsq for OLS; Newton-Raphson with numpy.linalg.solve for the logit).
const OLS = [-334.5671385187848, -0.036361224223622646, -22.859648090498414, 5.6029620919237, 1.1168079933181823, -1.0899963340632286, 0.7464504555142115, 0.3720047150891365, 6.5338319359903405, 68.4831249647879, 0.2801169893215006]
const OLS_SE = [67.45462110427236, 0.21704143540876225, 5.835821285014881, 0.7171055005609208, 0.22523816918827072, 0.5733318585493663, 0.5308343897654039, 0.7824638456259856, 5.958637837215951, 15.669719238688785, 0.27331395035936457]
const OLS_RSS = 1263985.7856333437
const LOGIT_COLS = ['age', 'sex', 'bmi', 'bp', 's5'] as const
const LOGIT = [-14.555106859985536, -0.0031179011296026907, -0.6163736977838903, 0.1719912795642758, 0.034453873482398124, 1.6932290286379406]
const LOGIT_SE = [1.4935124012845464, 0.009735372667252263, 0.2504966791637514, 0.03335266276715099, 0.010179361586110842, 0.294643301887248]
const LOGIT_DEV = 441.85569914165137

interface Site { x: Float64Array, y: Float64Array }

function sites (cols: readonly string[], response: (progression: number) => number, k: number): { parts: Site[], p: number, pooled: Site } {
  const rows = data.rows
  const design = designMatrix(rows.map(r => cols.map(c => r[c as keyof typeof r])))
  const y = Float64Array.from(rows, r => response(r.progression))
  const p = design.p
  // Unequal, contiguous sites: 150, 140 and the rest (152) for k = 3.
  const cuts = k === 3 ? [0, 150, 290, rows.length] : Array.from({ length: k + 1 }, (_, i) => Math.round(i * rows.length / k))
  const parts: Site[] = []
  for (let s = 0; s < k; s++) parts.push({ x: design.x.slice(cuts[s]! * p, cuts[s + 1]! * p), y: y.slice(cuts[s]!, cuts[s + 1]!) })
  return { parts, p, pooled: { x: design.x, y } }
}

function close (got: ArrayLike<number>, want: ArrayLike<number>, rel: number, what: string): void {
  assert.equal(got.length, want.length)
  for (let i = 0; i < want.length; i++) {
    const g = got[i]!
    const w = want[i]!
    assert.ok(Math.abs(g - w) <= rel * Math.max(1, Math.abs(w)), `${what}[${i}]: ${g} vs ${w}`)
  }
}

async function federated (family: GlmFamily, parts: Site[], p: number) {
  let rounds = 0
  const fit = await fitGlm(family, p, async beta => {
    rounds++
    // Each site sees only β and returns only its aggregates.
    return parts.map(s => {
      assert.equal(checkGlm(s.y.length, p).allowed, true)
      return siteStatistics(family, s.x, s.y, p, beta)
    })
  })
  assert.equal(fit.iterations, rounds)
  return fit
}

/** An independent pooled solver: Gauss-Jordan with partial pivoting on the normal equations. */
function gaussJordan (a: number[][], b: number[]): number[] {
  const n = b.length
  const m = a.map((r, i) => [...r, b[i]!])
  for (let c = 0; c < n; c++) {
    let piv = c
    for (let r = c + 1; r < n; r++) if (Math.abs(m[r]![c]!) > Math.abs(m[piv]![c]!)) piv = r
    ;[m[c], m[piv]] = [m[piv]!, m[c]!]
    const d = m[c]![c]!
    for (let j = c; j <= n; j++) m[c]![j] = m[c]![j]! / d
    for (let r = 0; r < n; r++) {
      if (r === c) continue
      const f = m[r]![c]!
      if (f !== 0) for (let j = c; j <= n; j++) m[r]![j] = m[r]![j]! - f * m[c]![j]!
    }
  }
  return m.map(r => r[n]!)
}

describe('federated GLM on the diabetes data split into 3 sites', () => {
  it('loads 442 patients with 10 variables and the target', () => {
    assert.equal(data.rows.length, 442)
    assert.equal(DIABETES_COLUMNS.length, 10)
    assert.deepEqual(data.rows[0], { age: 59, sex: 2, bmi: 32.1, bp: 101, s1: 157, s2: 93.2, s3: 38, s4: 4, s5: 4.8598, s6: 87, progression: 151 })
  })

  it('linear regression equals the pooled fit (coefficients to 1e-6, SEs and RSS too)', async () => {
    const { parts, p, pooled } = sites(DIABETES_COLUMNS, y => y, 3)
    const fit = await federated('gaussian', parts, p)
    assert.equal(fit.converged, true)
    assert.equal(fit.n, 442)
    close(fit.coefficients, OLS, 1e-6, 'β')
    close(fit.standardErrors, OLS_SE, 1e-6, 'se')
    assert.ok(Math.abs(fit.deviance - OLS_RSS) / OLS_RSS < 1e-9)
    assert.ok(Math.abs(fit.dispersion - OLS_RSS / (442 - 11)) / fit.dispersion < 1e-9)
    // Against an independent pooled solve in this process.
    const xs: number[][] = Array.from({ length: p }, () => new Array<number>(p).fill(0))
    const xy = new Array<number>(p).fill(0)
    for (let i = 0; i < 442; i++) {
      for (let j = 0; j < p; j++) {
        xy[j]! += pooled.x[i * p + j]! * pooled.y[i]!
        for (let k = 0; k < p; k++) xs[j]![k]! += pooled.x[i * p + j]! * pooled.x[i * p + k]!
      }
    }
    close(fit.coefficients, gaussJordan(xs, xy), 1e-6, 'β vs Gauss-Jordan')
  })

  it('logistic regression equals the pooled fit (coefficients to 1e-6)', async () => {
    const { parts, p, pooled } = sites(LOGIT_COLS, y => (y > 140 ? 1 : 0), 3)
    const fit = await federated('binomial', parts, p)
    assert.equal(fit.converged, true)
    assert.ok(fit.iterations < 15)
    close(fit.coefficients, LOGIT, 1e-6, 'β')
    close(fit.standardErrors, LOGIT_SE, 1e-6, 'se')
    assert.ok(Math.abs(fit.deviance - LOGIT_DEV) < 1e-6)
    assert.equal(fit.dispersion, 1)
    // One site holding everything gives the same answer as three.
    const single = await federated('binomial', [pooled], p)
    close(fit.coefficients, single.coefficients, 1e-9, 'β 3 sites vs 1')
  })

  it('site statistics add up: the sum over sites is the pooled statistic', () => {
    const { parts, p, pooled } = sites(LOGIT_COLS, y => (y > 140 ? 1 : 0), 3)
    const beta = Float64Array.from({ length: p }, (_, i) => (i === 0 ? -1 : 0.01))
    const sum = poolStatistics(p, parts.map(s => siteStatistics('binomial', s.x, s.y, p, beta)))
    const whole = siteStatistics('binomial', pooled.x, pooled.y, p, beta)
    close(sum.xtwx, whole.xtwx, 1e-12, 'XᵀWX')
    close(sum.xtwz, whole.xtwz, 1e-12, 'XᵀWz')
    assert.equal(sum.n, whole.n)
    // What leaves a site: p² + p numbers, n and the deviance.
    const one = siteStatistics('binomial', parts[0]!.x, parts[0]!.y, p, beta)
    assert.deepEqual(Object.keys(one).sort(), ['deviance', 'n', 'xtwx', 'xtwz'])
    assert.equal(one.xtwx.length + one.xtwz.length, p * p + p)
  })
})

describe('GLM linear algebra and failures', () => {
  it('Cholesky solves and inverts a symmetric positive-definite matrix', () => {
    const a = Float64Array.from([4, 12, -16, 12, 37, -43, -16, -43, 98])
    const l = cholesky(a, 3)
    close(l, [2, 0, 0, 6, 1, 0, -8, 5, 3], 1e-15, 'L')
    close(choleskySolve(l, 3, Float64Array.from([1, 2, 3])), gaussJordan([[4, 12, -16], [12, 37, -43], [-16, -43, 98]], [1, 2, 3]), 1e-12, 'x')
    const inv = choleskyInverse(l, 3)
    for (let i = 0; i < 3; i++) {
      for (let j = 0; j < 3; j++) {
        let s = 0
        for (let k = 0; k < 3; k++) s += a[i * 3 + k]! * inv[k * 3 + j]!
        assert.ok(Math.abs(s - (i === j ? 1 : 0)) < 1e-12)
      }
    }
  })

  it('refuses a singular design (a duplicated column)', async () => {
    const x = designMatrix(data.rows.map(r => [r.bmi, r.bmi * 2]))
    const y = Float64Array.from(data.rows, r => r.progression)
    await assert.rejects(fitGlm('gaussian', x.p, () => [siteStatistics('gaussian', x.x, y, x.p, new Float64Array(x.p))]), hasCode('PLX_ERR_STATS_GLM_FAILED'))
  })

  it('reports non-convergence under perfect separation', async () => {
    const xs = data.rows.map(r => [r.progression])
    const x = designMatrix(xs)
    const y = Float64Array.from(data.rows, r => (r.progression > 140 ? 1 : 0))
    await assert.rejects(fitGlm('binomial', x.p, beta => [siteStatistics('binomial', x.x, y, x.p, beta)], { maxIterations: 25 }), hasCode('PLX_ERR_STATS_GLM_FAILED'))
  })

  it('refuses unusable inputs', async () => {
    const x = Float64Array.from([1, 2, 1, 3, 1, 4, 1, 5])
    const ok = Float64Array.from([0, 1, 0, 1])
    assert.throws(() => siteStatistics('binomial', x, Float64Array.from([0, 2, 0, 1]), 2, new Float64Array(2)), hasCode('PLX_ERR_STATS_GLM_INVALID'))
    assert.throws(() => siteStatistics('gaussian', x, Float64Array.from([0, Number.NaN, 0, 1]), 2, new Float64Array(2)), hasCode('PLX_ERR_STATS_GLM_INVALID'))
    assert.throws(() => siteStatistics('gaussian', x, ok, 3, new Float64Array(3)), hasCode('PLX_ERR_STATS_GLM_INVALID'))
    assert.throws(() => siteStatistics('gaussian', x, ok, 2, new Float64Array(3)), hasCode('PLX_ERR_STATS_GLM_INVALID'))
    assert.throws(() => siteStatistics('poisson' as GlmFamily, x, ok, 2, new Float64Array(2)), hasCode('PLX_ERR_STATS_GLM_INVALID'))
    const bad: SiteStatistics = { n: 4, xtwx: new Float64Array(9), xtwz: new Float64Array(3), deviance: 0 }
    assert.throws(() => poolStatistics(2, [bad]), hasCode('PLX_ERR_STATS_GLM_INVALID'))
    assert.throws(() => poolStatistics(2, []), hasCode('PLX_ERR_STATS_GLM_INVALID'))
    await assert.rejects(fitGlm('gaussian', 2, () => [siteStatistics('gaussian', x.slice(0, 4), ok.slice(0, 2), 2, new Float64Array(2))]), hasCode('PLX_ERR_STATS_GLM_FAILED'))
  })
})
