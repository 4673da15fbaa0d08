/**
 * Federated generalised linear models fitted by iteratively reweighted least squares (IRLS).
 *
 * Each IRLS step needs only sums over rows, so each site computes, at the analyst's current β,
 *
 *   XᵀWX = Σᵢ wᵢ xᵢ xᵢᵀ   and   XᵀWz = Σᵢ xᵢ wᵢ zᵢ = Σᵢ xᵢ (wᵢ ηᵢ + (yᵢ − μᵢ) g′(μᵢ) wᵢ)
 *
 * with ηᵢ = xᵢᵀβ, μᵢ = g⁻¹(ηᵢ) and the working weights wᵢ = 1 / (V(μᵢ) g′(μᵢ)²); for the canonical
 * links used here (identity for `gaussian`, logit for `binomial`) g′(μ)w = 1, so
 * wᵢzᵢ = wᵢηᵢ + (yᵢ − μᵢ) with no division. The analyst adds the sites' matrices and vectors and
 * solves (XᵀWX) β′ = XᵀWz (Cholesky, on Float64Array). At convergence the inverse of XᵀWX, times
 * the dispersion (1 for binomial, RSS / (n − p) for gaussian), is the covariance of β̂.
 *
 * Only aggregates leave a site: p² + p numbers, the row count and the deviance. Disclosure rules
 * (`checkGlm` in `./disclosure.ts`) decide whether a site may answer at all.
 *
 * @packageDocumentation
 */
import { PlexusError } from '../errors.js'

export type GlmFamily = 'gaussian' | 'binomial'

/** What one site returns for one IRLS step. */
export interface SiteStatistics {
  /** Number of rows used. */
  n: number
  /** XᵀWX, p×p row-major. */
  xtwx: Float64Array
  /** XᵀWz, length p. */
  xtwz: Float64Array
  /** Deviance at the β the statistics were computed for. */
  deviance: number
}

function invalid (why: string): PlexusError {
  return new PlexusError('PLX_ERR_STATS_GLM_INVALID', [why])
}

function failed (why: string): PlexusError {
  return new PlexusError('PLX_ERR_STATS_GLM_FAILED', [why])
}

const MU_EPS = 1e-10

/**
 * One site's sufficient statistics at `beta`. `x` is n×p row-major (include a column of ones for
 * an intercept), `y` has n values (0/1 for binomial).
 */
export function siteStatistics (family: GlmFamily, x: Float64Array, y: Float64Array, p: number, beta: Float64Array): SiteStatistics {
  if (family !== 'gaussian' && family !== 'binomial') throw invalid(`unknown family '${String(family)}'`)
  if (!Number.isSafeInteger(p) || p < 1) throw invalid('a model needs at least one coefficient')
  if (beta.length !== p) throw invalid(`β has ${beta.length} values for ${p} columns`)
  const n = y.length
  if (x.length !== n * p) throw invalid(`X has ${x.length} values, expected ${n} rows × ${p} columns`)
  const xtwx = new Float64Array(p * p)
  const xtwz = new Float64Array(p)
  let deviance = 0
  for (let i = 0; i < n; i++) {
    const yi = y[i]!
    if (!Number.isFinite(yi)) throw invalid(`row ${i}: the response is not a finite number`)
    if (family === 'binomial' && yi !== 0 && yi !== 1) throw invalid(`row ${i}: a logistic response must be 0 or 1`)
    const row = i * p
    let eta = 0
    for (let j = 0; j < p; j++) {
      const v = x[row + j]!
      if (!Number.isFinite(v)) throw invalid(`row ${i}: a predictor is not a finite number`)
      eta += v * beta[j]!
    }
    let w: number
    let wz: number
    if (family === 'gaussian') {
      w = 1
      wz = yi
      deviance += (yi - eta) * (yi - eta)
    } else {
      let mu = 1 / (1 + Math.exp(-eta))
      mu = Math.min(1 - MU_EPS, Math.max(MU_EPS, mu))
      w = mu * (1 - mu)
      wz = w * eta + (yi - mu)
      deviance += -2 * (yi === 1 ? Math.log(mu) : Math.log(1 - mu))
    }
    for (let j = 0; j < p; j++) {
      const xj = x[row + j]!
      if (xj === 0) continue
      xtwz[j] = xtwz[j]! + xj * wz
      const wxj = w * xj
      for (let k = j; k < p; k++) xtwx[j * p + k] = xtwx[j * p + k]! + wxj * x[row + k]!
    }
  }
  for (let j = 0; j < p; j++) for (let k = 0; k < j; k++) xtwx[j * p + k] = xtwx[k * p + j]!
  return { n, xtwx, xtwz, deviance }
}

/** Sums the sites' statistics (what secure aggregation would hand the analyst). */
export function poolStatistics (p: number, sites: readonly SiteStatistics[]): SiteStatistics {
  if (sites.length === 0) throw invalid('no site returned statistics')
  const xtwx = new Float64Array(p * p)
  const xtwz = new Float64Array(p)
  let n = 0
  let deviance = 0
  for (const s of sites) {
    if (s.xtwx.length !== p * p || s.xtwz.length !== p) throw invalid(`a site returned statistics for another number of coefficients than ${p}`)
    if (!Number.isSafeInteger(s.n) || s.n < 0 || !Number.isFinite(s.deviance)) throw invalid('a site returned an impossible row count or deviance')
    for (let i = 0; i < p * p; i++) {
      if (!Number.isFinite(s.xtwx[i]!)) throw invalid('a site returned a non-finite XᵀWX')
      xtwx[i] = xtwx[i]! + s.xtwx[i]!
    }
    for (let i = 0; i < p; i++) {
      if (!Number.isFinite(s.xtwz[i]!)) throw invalid('a site returned a non-finite XᵀWz')
      xtwz[i] = xtwz[i]! + s.xtwz[i]!
    }
    n += s.n
    deviance += s.deviance
  }
  return { n, xtwx, xtwz, deviance }
}

/**
 * Cholesky factor L (lower, row-major) of a symmetric positive-definite p×p matrix. Throws
 * `PLX_ERR_STATS_GLM_FAILED` when the matrix is singular or not positive definite (relative to
 * its diagonal).
 */
export function cholesky (a: Float64Array, p: number): Float64Array {
  const l = new Float64Array(p * p)
  let maxDiag = 0
  for (let i = 0; i < p; i++) maxDiag = Math.max(maxDiag, Math.abs(a[i * p + i]!))
  const tol = maxDiag * p * 1e-13
  for (let j = 0; j < p; j++) {
    let d = a[j * p + j]!
    for (let k = 0; k < j; k++) d -= l[j * p + k]! * l[j * p + k]!
    if (!(d > tol)) throw failed(`the information matrix is singular (coefficient ${j} is collinear with the others, constant, or there are too few rows)`)
    const ljj = Math.sqrt(d)
    l[j * p + j] = ljj
    for (let i = j + 1; i < p; i++) {
      let s = a[i * p + j]!
      for (let k = 0; k < j; k++) s -= l[i * p + k]! * l[j * p + k]!
      l[i * p + j] = s / ljj
    }
  }
  return l
}

/** Solves L Lᵀ x = b given the Cholesky factor. */
export function choleskySolve (l: Float64Array, p: number, b: Float64Array): Float64Array {
  const y = new Float64Array(p)
  for (let i = 0; i < p; i++) {
    let s = b[i]!
    for (let k = 0; k < i; k++) s -= l[i * p + k]! * y[k]!
    y[i] = s / l[i * p + i]!
  }
  const x = new Float64Array(p)
  for (let i = p - 1; i >= 0; i--) {
    let s = y[i]!
    for (let k = i + 1; k < p; k++) s -= l[k * p + i]! * x[k]!
    x[i] = s / l[i * p + i]!
  }
  return x
}

/** Inverse of a symmetric positive-definite matrix from its Cholesky factor. */
export function choleskyInverse (l: Float64Array, p: number): Float64Array {
  const inv = new Float64Array(p * p)
  const e = new Float64Array(p)
  for (let j = 0; j < p; j++) {
    e.fill(0)
    e[j] = 1
    const col = choleskySolve(l, p, e)
    for (let i = 0; i < p; i++) inv[i * p + j] = col[i]!
  }
  return inv
}

export interface GlmFit {
  family: GlmFamily
  coefficients: Float64Array
  standardErrors: Float64Array
  /** Covariance of the coefficients, p×p row-major. */
  covariance: Float64Array
  /** Deviance at the fitted coefficients (RSS for gaussian). */
  deviance: number
  /** 1 for binomial; RSS / (n − p) for gaussian. */
  dispersion: number
  n: number
  /** Rounds of site statistics used (the last one at the fitted coefficients). */
  iterations: number
  converged: boolean
}

export interface GlmOptions {
  /** Most IRLS steps (default 25, as R's glm). */
  maxIterations?: number
  /** Relative change in deviance that counts as converged (default 1e-10). */
  tolerance?: number
  /** Starting β (default zeros). */
  start?: Float64Array
}

/**
 * Fits a GLM by federated IRLS. `gather(beta)` asks every site for its {@link SiteStatistics} at
 * `beta` (over the network, or directly in tests) and resolves to the list. Convergence is R's
 * rule: |dev − dev_prev| / (|dev| + 0.1) < tolerance, checked on the statistics of each round, so
 * the returned covariance and deviance belong to the returned coefficients. Throws
 * `PLX_ERR_STATS_GLM_FAILED` when the information matrix is singular or IRLS does not converge.
 */
export async function fitGlm (
  family: GlmFamily,
  p: number,
  gather: (beta: Float64Array) => Promise<readonly SiteStatistics[]> | readonly SiteStatistics[],
  options: GlmOptions = {}
): Promise<GlmFit> {
  if (family !== 'gaussian' && family !== 'binomial') throw invalid(`unknown family '${String(family)}'`)
  if (!Number.isSafeInteger(p) || p < 1) throw invalid('a model needs at least one coefficient')
  const maxIterations = options.maxIterations ?? 25
  const tolerance = options.tolerance ?? 1e-10
  let beta: Float64Array = options.start != null ? Float64Array.from(options.start) : new Float64Array(p)
  if (beta.length !== p) throw invalid(`the starting β has ${beta.length} values for ${p} coefficients`)
  let previous = Number.NaN
  for (let round = 1; round <= maxIterations + 1; round++) {
    const pooled = poolStatistics(p, await gather(beta))
    if (pooled.n <= p) throw failed(`${pooled.n} rows cannot fit ${p} coefficients`)
    const l = cholesky(pooled.xtwx, p)
    const dev = pooled.deviance
    const done = Number.isFinite(previous) && Math.abs(dev - previous) / (Math.abs(dev) + 0.1) < tolerance
    if (done) {
      const dispersion = family === 'gaussian' ? dev / (pooled.n - p) : 1
      const inv = choleskyInverse(l, p)
      const covariance = inv.map(v => v * dispersion)
      const standardErrors = new Float64Array(p)
      for (let j = 0; j < p; j++) standardErrors[j] = Math.sqrt(covariance[j * p + j]!)
      return { family, coefficients: beta, standardErrors, covariance, deviance: dev, dispersion, n: pooled.n, iterations: round, converged: true }
    }
    previous = dev
    beta = choleskySolve(l, p, pooled.xtwz)
    if (!beta.every(Number.isFinite)) throw failed('IRLS produced non-finite coefficients')
  }
  throw failed(`IRLS did not converge in ${maxIterations} iterations (for logistic regression, a predictor may separate the classes perfectly)`)
}

/** Builds an n×p design matrix with a leading intercept column from row arrays. */
export function designMatrix (rows: ReadonlyArray<ArrayLike<number>>, intercept = true): { x: Float64Array, p: number } {
  const q = rows[0]?.length ?? 0
  const p = q + (intercept ? 1 : 0)
  const x = new Float64Array(rows.length * p)
  rows.forEach((r, i) => {
    if (r.length !== q) throw invalid(`row ${i} has ${r.length} values, expected ${q}`)
    if (intercept) x[i * p] = 1
    for (let j = 0; j < q; j++) x[i * p + j + (intercept ? 1 : 0)] = r[j]!
  })
  return { x, p }
}
