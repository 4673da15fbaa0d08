/**
 * The few distribution functions the statistics functions need for p-values: log Γ (Lanczos),
 * the regularized incomplete beta function (continued fraction, modified Lentz) and the
 * regularized upper incomplete gamma function (series / continued fraction). Accurate to ~1e-14
 * relative in the ranges tests use; checked against R's values in the unit tests.
 *
 * @packageDocumentation
 */

const LANCZOS = [
  0.99999999999980993, 676.5203681218851, -1259.1392167224028, 771.32342877765313,
  -176.61502916214059, 12.507343278686905, -0.13857109526572012, 9.9843695780195716e-6, 1.5056327351493116e-7
]

/** ln Γ(x) for x > 0. */
export function logGamma (x: number): number {
  if (x < 0.5) return Math.log(Math.PI / Math.abs(Math.sin(Math.PI * x))) - logGamma(1 - x)
  const z = x - 1
  let a = LANCZOS[0]!
  const t = z + 7.5
  for (let i = 1; i < 9; i++) a += LANCZOS[i]! / (z + i)
  return 0.5 * Math.log(2 * Math.PI) + (z + 0.5) * Math.log(t) - t + Math.log(a)
}

const EPS = 1e-15
const TINY = 1e-300

function betaFraction (a: number, b: number, x: number): number {
  let c = 1
  let d = 1 - ((a + b) * x) / (a + 1)
  if (Math.abs(d) < TINY) d = TINY
  d = 1 / d
  let h = d
  for (let m = 1; m <= 10_000; m++) {
    const m2 = 2 * m
    let aa = (m * (b - m) * x) / ((a - 1 + m2) * (a + m2))
    d = 1 + aa * d; if (Math.abs(d) < TINY) d = TINY
    c = 1 + aa / c; if (Math.abs(c) < TINY) c = TINY
    d = 1 / d; h *= d * c
    aa = (-(a + m) * (a + b + m) * x) / ((a + m2) * (a + 1 + m2))
    d = 1 + aa * d; if (Math.abs(d) < TINY) d = TINY
    c = 1 + aa / c; if (Math.abs(c) < TINY) c = TINY
    d = 1 / d
    const del = d * c
    h *= del
    if (Math.abs(del - 1) < EPS) break
  }
  return h
}

/** Regularized incomplete beta I_x(a, b). */
export function incompleteBeta (x: number, a: number, b: number): number {
  if (x <= 0) return 0
  if (x >= 1) return 1
  const lnFront = logGamma(a + b) - logGamma(a) - logGamma(b) + a * Math.log(x) + b * Math.log(1 - x)
  if (x < (a + 1) / (a + b + 2)) return Math.exp(lnFront) * betaFraction(a, b, x) / a
  return 1 - Math.exp(lnFront) * betaFraction(b, a, 1 - x) / b
}

/** Regularized upper incomplete gamma Q(a, x). */
export function upperGamma (a: number, x: number): number {
  if (x <= 0) return 1
  const lnFront = -x + a * Math.log(x) - logGamma(a)
  if (x < a + 1) {
    let sum = 1 / a
    let term = sum
    for (let n = 1; n < 100_000; n++) {
      term *= x / (a + n)
      sum += term
      if (Math.abs(term) < Math.abs(sum) * EPS) break
    }
    return 1 - sum * Math.exp(lnFront)
  }
  let b = x + 1 - a
  let c = 1 / TINY
  let d = 1 / b
  let h = d
  for (let i = 1; i < 100_000; i++) {
    const an = -i * (i - a)
    b += 2
    d = an * d + b; if (Math.abs(d) < TINY) d = TINY
    c = b + an / c; if (Math.abs(c) < TINY) c = TINY
    d = 1 / d
    const del = d * c
    h *= del
    if (Math.abs(del - 1) < EPS) break
  }
  return Math.exp(lnFront) * h
}

/** Two-sided p-value of Student's t with `df` degrees of freedom. */
export function studentTwoSided (t: number, df: number): number {
  if (!Number.isFinite(t)) return 0
  return incompleteBeta(df / (df + t * t), df / 2, 0.5)
}

/** Upper-tail p-value of a χ² statistic. */
export function chiSquareUpper (x: number, df: number): number {
  return upperGamma(df / 2, x / 2)
}

/** Two-sided p-value of a standard normal z. */
export function normalTwoSided (z: number): number {
  return upperGamma(0.5, (z * z) / 2)
}
