import { describe, it, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { writeFileSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import { DuckDBInstance, type DuckDBConnection } from '@duckdb/node-api'
import { startTestNode, tempDir, waitFor, type TestNode } from '../helpers/node.js'
import { loadDiabetes, DIABETES_COLUMNS } from '../../src/analytics/diabetes.js'
import { histogramQuantiles } from '../../src/analytics/pool.js'
import { fitGlm, siteStatistics } from '../../src/analytics/glm.js'
import { chiSquareUpper, studentTwoSided } from '../../src/analytics/distributions.js'
import { STATS_PROTOCOL } from '../../src/analytics/protocol.js'
import { encodeFrame } from '../../src/p2p/framing.js'

const NETWORK = 'stats-test'
const HEADER = [...DIABETES_COLUMNS, 'progression', 'agegroup']
type Row = Record<string, number | string>

function agegroup (age: number): string {
  return age < 40 ? 'under-40' : age < 60 ? '40-59' : '60-plus'
}

function writeCsv (path: string, rows: Row[]): void {
  writeFileSync(path, [HEADER.join(','), ...rows.map(r => HEADER.map(h => r[h]).join(','))].join('\n') + '\n')
}

async function post (url: string, body: unknown): Promise<{ status: number, body: any }> {
  const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) })
  return { status: res.status, body: await res.json() }
}

function close (actual: number, expected: number, tol: number, what: string): void {
  const scale = Math.max(1, Math.abs(expected))
  assert.ok(Math.abs(actual - expected) <= tol * scale, `${what}: ${actual} vs ${expected} (tolerance ${tol} relative)`)
}

describe('federated statistics on three real nodes (diabetes split into three sites)', { timeout: 600_000 }, () => {
  const root = tempDir('plexus-stats-')
  const nodes: TestNode[] = []
  let pooled: DuckDBConnection
  let pooledDb: DuckDBInstance
  const all: Row[] = loadDiabetes().rows.map(r => ({ ...r, agegroup: agegroup(r.age) }))
  const sites: Row[][] = [[], [], []]
  all.forEach((r, i) => sites[i % 3]!.push(r))
  let query: (body: Record<string, unknown>) => Promise<{ status: number, body: any }>
  const peer = (i: number): string => nodes[i]!.node.network!.peerId

  /** One aggregate row over the pooled file. */
  async function ref (sql: string): Promise<Record<string, number>> {
    const rows = (await pooled.runAndReadAll(sql)).getRowObjectsJS()
    return Object.fromEntries(Object.entries(rows[0] ?? {}).map(([k, v]) => [k, Number(v)]))
  }
  async function refRows (sql: string): Promise<Array<Record<string, unknown>>> {
    return (await pooled.runAndReadAll(sql)).getRowObjectsJS()
  }

  before(async () => {
    // Site 0 is also the analyst. Site 1 waits for the owner before fitting models; site 2 only
    // answers site 0 and suppresses small cells instead of refusing.
    nodes.push(await startTestNode({ network: { networkId: NETWORK } }, { embeddedModel: false }))
    const bootstrap = nodes[0]!.node.network!.multiaddrs()
    nodes.push(await startTestNode({ network: { networkId: NETWORK, bootstrap }, stats: { autoApprove: ['count', 'sum', 'mean', 'var', 'sd', 'quantiles', 'histogram', 'table', 'cor', 'ttest', 'chisq'] } }, { embeddedModel: false }))
    nodes.push(await startTestNode({ network: { networkId: NETWORK, bootstrap }, stats: { allowAnalysts: [nodes[0]!.node.network!.peerId], smallCells: 'suppress' } }, { embeddedModel: false }))
    await waitFor('adverts', () => nodes[0]!.node.network!.table.size === 2)
    for (const [i, n] of nodes.entries()) {
      const file = join(root, `site-${i}.csv`)
      writeCsv(file, sites[i]!)
      // s6 is kept from analysts.
      const r = await post(`${n.url}/api/plexus/data`, { name: 'diabetes', path: file, allowed_columns: HEADER.filter(h => h !== 's6') })
      assert.equal(r.status, 201, JSON.stringify(r.body))
    }
    const file = join(root, 'pooled.csv')
    writeCsv(file, all)
    pooledDb = await DuckDBInstance.create(':memory:')
    pooled = await pooledDb.connect()
    await pooled.run(`CREATE TABLE t AS SELECT * FROM read_csv('${file}', header = true)`)
    query = async body => await post(`${nodes[0]!.url}/api/plexus/stats/query`, { dataset: 'diabetes', ...body })
  })

  after(async () => {
    pooled?.closeSync()
    pooledDb?.closeSync()
    for (const n of nodes) await n.close()
    rmSync(root, { recursive: true, force: true })
  })

  it('count, sum, mean, var and sd equal DuckDB on the pooled file to 1e-9', async () => {
    const c = await query({ fn: 'count', where: 'age > 50 AND sex = 2' })
    assert.equal(c.status, 200, JSON.stringify(c.body))
    assert.equal(c.body.complete, true)
    assert.deepEqual(c.body.sites.map((s: any) => s.status), ['ok', 'ok', 'ok'])
    assert.equal(c.body.pooled.n, (await ref('SELECT count(*) n FROM t WHERE age > 50 AND sex = 2')).n)

    const expected = await ref('SELECT sum(bmi) s_bmi, avg(bmi) m_bmi, var_samp(bmi) v_bmi, stddev_samp(bmi) d_bmi, sum(s5) s_s5, avg(s5) m_s5, var_samp(s5) v_s5, stddev_samp(s5) d_s5 FROM t')
    for (const fn of ['sum', 'mean', 'var', 'sd'] as const) {
      const r = await query({ fn, columns: ['bmi', 's5'] })
      assert.equal(r.status, 200, JSON.stringify(r.body))
      const [bmi, s5] = r.body.pooled.groups[0].values
      const key = { sum: 's', mean: 'm', var: 'v', sd: 'd' }[fn]
      close(bmi.value, expected[`${key}_bmi`]!, 1e-9, `${fn}(bmi)`)
      close(s5.value, expected[`${key}_s5`]!, 1e-9, `${fn}(s5)`)
      assert.equal(bmi.n, all.length)
      // Per-site results are there too in a plain query.
      assert.equal(r.body.sites.filter((s: any) => s.result != null).length, 3)
    }
    const byAge = await query({ fn: 'mean', columns: ['bp'], by: 'agegroup' })
    assert.equal(byAge.status, 200, JSON.stringify(byAge.body))
    const groups = await refRows('SELECT agegroup, avg(bp) m, count(*) n FROM t GROUP BY agegroup')
    for (const g of groups) {
      const got = byAge.body.pooled.groups.find((x: any) => x.level === g.agegroup)
      close(got.values[0].value, Number(g.m), 1e-9, `mean(bp) for ${String(g.agegroup)}`)
      assert.equal(got.n, Number(g.n))
    }
  })

  it('histograms, quantiles, tables, correlation, t-test and chi-square equal the pooled computation', async () => {
    // A binning in which no site has a non-empty bin below nfilter.tab.
    const [lo, hi, bins] = [18, 36, 6]
    const h = await query({ fn: 'histogram', columns: ['bmi'], range: [lo, hi], bins })
    assert.equal(h.status, 200, JSON.stringify(h.body))
    assert.equal(h.body.complete, true, JSON.stringify(h.body.sites))
    const cells = new Array<number>(bins + 2).fill(0)
    for (const row of await refRows(`SELECT CASE WHEN bmi < ${lo} THEN 0 WHEN bmi > ${hi} THEN ${bins + 1} WHEN bmi = ${hi} THEN ${bins} ELSE 1 + least(${bins - 1}, floor((bmi - ${lo}) / (${hi} - ${lo}) * ${bins})::INTEGER) END AS cell, count(*) n FROM t GROUP BY cell`)) {
      cells[Number(row.cell)] = Number(row.n)
    }
    assert.deepEqual(h.body.pooled.counts, cells.slice(1, bins + 1))
    const probs = [0.1, 0.5, 0.9]
    const qs = await query({ fn: 'quantiles', columns: ['bmi'], range: [lo, hi], bins, probs })
    assert.equal(qs.status, 200, JSON.stringify(qs.body))
    const expectedQ = histogramQuantiles(cells, lo, hi, probs)
    qs.body.pooled.quantiles.forEach((v: number, i: number) => close(v, expectedQ[i]!, 1e-9, `quantile ${probs[i]}`))
    // The histogram quantiles are an approximation of the exact ones: within a bin width.
    const exact = await ref('SELECT quantile_cont(bmi, 0.5) q FROM t')
    assert.ok(Math.abs(qs.body.pooled.quantiles[1] - exact.q!) <= (hi - lo) / bins)

    const tab = await query({ fn: 'table', columns: ['sex', 'agegroup'] })
    assert.equal(tab.status, 200, JSON.stringify(tab.body))
    const [sexLevels, ageLevels] = tab.body.pooled.levels
    for (const row of await refRows('SELECT sex, agegroup, count(*) n FROM t GROUP BY ALL')) {
      assert.equal(tab.body.pooled.counts[sexLevels.indexOf(String(row.sex))][ageLevels.indexOf(row.agegroup)], Number(row.n))
    }

    const cor = await query({ fn: 'cor', columns: ['bmi', 'bp', 's5'] })
    assert.equal(cor.status, 200, JSON.stringify(cor.body))
    const rc = await ref('SELECT corr(bmi, bp) a, corr(bmi, s5) b, corr(bp, s5) c FROM t')
    close(cor.body.pooled.matrix[0][1], rc.a!, 1e-9, 'cor(bmi, bp)')
    close(cor.body.pooled.matrix[0][2], rc.b!, 1e-9, 'cor(bmi, s5)')
    close(cor.body.pooled.matrix[1][2], rc.c!, 1e-9, 'cor(bp, s5)')

    const tt = await query({ fn: 'ttest', columns: ['bmi'], by: 'sex' })
    assert.equal(tt.status, 200, JSON.stringify(tt.body))
    const g = await refRows('SELECT sex, count(*) n, avg(bmi) m, var_samp(bmi) v FROM t GROUP BY sex ORDER BY sex')
    const [a, b] = g.map(x => ({ n: Number(x.n), m: Number(x.m), v: Number(x.v) }))
    const se2 = a!.v / a!.n + b!.v / b!.n
    const t = (a!.m - b!.m) / Math.sqrt(se2)
    const df = se2 ** 2 / ((a!.v / a!.n) ** 2 / (a!.n - 1) + (b!.v / b!.n) ** 2 / (b!.n - 1))
    close(tt.body.pooled.t, t, 1e-9, 't')
    close(tt.body.pooled.df, df, 1e-9, 'df')
    close(tt.body.pooled.p, studentTwoSided(t, df), 1e-9, 'p')

    const chi = await query({ fn: 'chisq', columns: ['sex', 'agegroup'] })
    assert.equal(chi.status, 200, JSON.stringify(chi.body))
    const counts: number[][] = tab.body.pooled.counts
    const rs = counts.map(r => r.reduce((x, y) => x + y, 0))
    const cs = counts[0]!.map((_v, j) => counts.reduce((x, r) => x + r[j]!, 0))
    const total = rs.reduce((x, y) => x + y, 0)
    let stat = 0
    counts.forEach((r, i) => r.forEach((o, j) => { const e = rs[i]! * cs[j]! / total; stat += (o - e) ** 2 / e }))
    close(chi.body.pooled.statistic, stat, 1e-9, 'chi-square')
    assert.equal(chi.body.pooled.df, 2)
    close(chi.body.pooled.p, chiSquareUpper(stat, 2), 1e-9, 'chi-square p')
  })

  it('linear and logistic regression equal IRLS on the pooled data to 1e-6, once the site owner approves', async () => {
    const predictors = ['age', 'bmi', 'bp', 's5']
    const first = await query({ fn: 'glm', columns: ['progression', ...predictors] })
    assert.equal(first.status, 200, JSON.stringify(first.body))
    // Site 1 does not auto-approve glm: the query waits there, nothing ran, no pooled result.
    assert.equal(first.body.complete, false)
    assert.equal(first.body.pooled, null)
    const waiting = first.body.sites.find((s: any) => s.peer === peer(1))
    assert.equal(waiting.status, 'queued')
    const audit1 = await (await fetch(`${nodes[1]!.url}/api/plexus/stats/audit`)).json() as { entries: any[] }
    assert.equal(audit1.entries.at(-1).verdict, 'queued')
    assert.equal(audit1.entries.at(-1).released, null)
    const list = await (await fetch(`${nodes[1]!.url}/api/plexus/stats/approvals`)).json() as { approvals: any[] }
    assert.equal(list.approvals.length, 1)
    assert.equal(list.approvals[0].id, waiting.approval)
    assert.equal(list.approvals[0].analyst, peer(0))
    const ok = await post(`${nodes[1]!.url}/api/plexus/stats/approvals/${waiting.approval}/approve`, {})
    assert.equal(ok.status, 200, JSON.stringify(ok.body))

    const r = await query({ fn: 'glm', columns: ['progression', ...predictors] })
    assert.equal(r.status, 200, JSON.stringify(r.body))
    assert.equal(r.body.complete, true)
    // The same IRLS over the pooled rows as one site.
    const p = predictors.length + 1
    const x = new Float64Array(all.length * p)
    const y = new Float64Array(all.length)
    all.forEach((row, i) => { x[i * p] = 1; predictors.forEach((c, j) => { x[i * p + j + 1] = Number(row[c]) }); y[i] = Number(row.progression) })
    const fit = await fitGlm('gaussian', p, beta => [siteStatistics('gaussian', x, y, p, beta)])
    r.body.pooled.terms.forEach((term: any, j: number) => {
      close(term.estimate, fit.coefficients[j]!, 1e-6, `β ${term.term}`)
      close(term.standardError, fit.standardErrors[j]!, 1e-6, `se ${term.term}`)
    })
    // Ordinary least squares by DuckDB for one predictor, as an independent check.
    const simple = await query({ fn: 'glm', columns: ['progression', 'bmi'] })
    const waiting2 = simple.body.sites.find((s: any) => s.status === 'queued')
    await post(`${nodes[1]!.url}/api/plexus/stats/approvals/${waiting2.approval}/approve`, {})
    const simple2 = await query({ fn: 'glm', columns: ['progression', 'bmi'] })
    const ols = await ref('SELECT regr_intercept(progression, bmi) a, regr_slope(progression, bmi) b FROM t')
    close(simple2.body.pooled.terms[0].estimate, ols.a!, 1e-6, 'intercept vs regr_intercept')
    close(simple2.body.pooled.terms[1].estimate, ols.b!, 1e-6, 'slope vs regr_slope')

    const logitQuery = { fn: 'glm', family: 'binomial', success: 2, columns: ['sex', 'bmi', 's4', 's5'] }
    const l1 = await query(logitQuery)
    await post(`${nodes[1]!.url}/api/plexus/stats/approvals/${l1.body.sites.find((s: any) => s.status === 'queued').approval}/approve`, {})
    const logit = await query(logitQuery)
    assert.equal(logit.status, 200, JSON.stringify(logit.body))
    const lp = 4
    const lx = new Float64Array(all.length * lp)
    const ly = new Float64Array(all.length)
    all.forEach((row, i) => { lx[i * lp] = 1; ['bmi', 's4', 's5'].forEach((c, j) => { lx[i * lp + j + 1] = Number(row[c]) }); ly[i] = row.sex === 2 ? 1 : 0 })
    const lfit = await fitGlm('binomial', lp, beta => [siteStatistics('binomial', lx, ly, lp, beta)])
    logit.body.pooled.terms.forEach((term: any, j: number) => close(term.estimate, lfit.coefficients[j]!, 1e-6, `logit β ${term.term}`))
  })

  it('each site that answers a plain query signs a stats-query receipt; the analyst countersigns it and both keep it; secure queries give none', async () => {
    const receipts = (n: TestNode): Array<{ body: { kind: string, provider: string, requester: string, id: string, queries: number, rows: number } }> =>
      [...n.node.books!.entries()].filter((e: any) => e.body?.kind === 'stats-query') as any
    // Countersignatures of the earlier tests' queries may still be on their way.
    await nodes[0]!.node.stats!.receiptsIdle()
    const before = nodes.map(n => receipts(n).length)
    const r = await query({ fn: 'mean', columns: ['bmi'], where: 'age > 50' })
    assert.equal(r.status, 200, JSON.stringify(r.body))
    await nodes[0]!.node.stats!.receiptsIdle()
    // The analyst (site 0) holds one receipt per remote site; its own site signs none for itself.
    const ours = receipts(nodes[0]!).slice(before[0])
    assert.deepEqual(ours.map(x => x.body.provider).sort(), [peer(1), peer(2)].sort())
    for (const [i, n] of nodes.entries()) {
      if (i === 0) continue
      const theirs = receipts(n).slice(before[i])
      assert.equal(theirs.length, 1, `site ${i} recorded the countersigned receipt`)
      const mine = ours.find(x => x.body.provider === peer(i))!
      assert.deepEqual(theirs[0], mine, 'both logs hold the same receipt, signed by both')
      assert.equal(mine.body.requester, peer(0))
      assert.equal(mine.body.queries, 1)
      // The rows the statistic covered (the release implies them: nothing was suppressed, no noise).
      assert.equal(mine.body.rows, sites[i]!.filter(x => Number(x.age) > 50).length)
      assert.equal(n.node.books!.verify().log.ok, true)
    }
    const secure = await query({ fn: 'mean', columns: ['bmi'], secure: true })
    assert.equal(secure.body.complete, true)
    await nodes[0]!.node.stats!.receiptsIdle()
    assert.equal(receipts(nodes[0]!).length, ours.length + before[0]!, 'secure aggregation: the analyst sees no per-site figures to check, so no receipts')
    assert.equal(nodes[0]!.node.stats!.receiptStats.refused, 0)
  })

  it('with secure aggregation the analyst gets the same totals and no site figures', async () => {
    const m = await query({ fn: 'var', columns: ['bmi', 's5'], secure: true })
    assert.equal(m.status, 200, JSON.stringify(m.body))
    assert.equal(m.body.secure, true)
    assert.equal(m.body.complete, true, JSON.stringify(m.body.sites))
    assert.ok(m.body.sites.every((s: any) => s.status === 'ok' && s.result == null))
    const expected = await ref('SELECT var_samp(bmi) a, var_samp(s5) b FROM t')
    close(m.body.pooled.groups[0].values[0].value, expected.a!, 1e-9, 'secure var(bmi)')
    close(m.body.pooled.groups[0].values[1].value, expected.b!, 1e-9, 'secure var(s5)')
    const tab = await query({ fn: 'table', columns: ['sex', 'agegroup'], secure: true })
    assert.equal(tab.body.complete, true, JSON.stringify(tab.body.sites))
    const plain = await query({ fn: 'table', columns: ['sex', 'agegroup'] })
    assert.deepEqual(tab.body.pooled.counts, plain.body.pooled.counts)
    // The regression the owner of site 1 approved earlier, now through secure sums at every IRLS step.
    const glm = await query({ fn: 'glm', columns: ['progression', 'bmi'], secure: true })
    assert.equal(glm.body.complete, true, JSON.stringify(glm.body.sites))
    const ols = await ref('SELECT regr_intercept(progression, bmi) a, regr_slope(progression, bmi) b FROM t')
    close(glm.body.pooled.terms[0].estimate, ols.a!, 1e-6, 'secure intercept')
    close(glm.body.pooled.terms[1].estimate, ols.b!, 1e-6, 'secure slope')
    // A site that would suppress a small cell refuses it under secure aggregation, and the whole query fails.
    const small = await query({ fn: 'histogram', columns: ['bmi'], range: [15, 45], bins: 6, secure: true })
    assert.equal(small.body.pooled, null)
    assert.ok(small.body.sites.some((s: any) => s.status === 'refused' && s.code === 'PLX_ERR_STATS_DISCLOSURE'), JSON.stringify(small.body.sites))
  })

  it('refuses small cells, suppresses them where configured, and logs the verdicts', async () => {
    // A filter whose sex table has a cell of 1 or 2 at the site, over enough rows for two levels
    // (nfilter.levels.density: 2 levels need at least 7 rows).
    const filterFor = (rows: Row[]): string => {
      for (let a = 79; a >= 19; a--) {
        for (let b = 42; b >= 18; b--) {
          const kept = rows.filter(r => Number(r.age) >= a && Number(r.bmi) >= b)
          const c = [1, 2].map(s => kept.filter(r => r.sex === s).length)
          if (kept.length >= 8 && c.some(v => v > 0 && v < 3)) return `age >= ${a} AND bmi >= ${b}`
        }
      }
      throw new Error('the data has no such filter')
    }
    const refused = await query({ fn: 'table', columns: ['sex'], where: filterFor(sites[1]!), peers: [peer(1)] })
    assert.equal(refused.status, 200)
    assert.equal(refused.body.pooled, null)
    assert.equal(refused.body.sites[0].status, 'refused')
    assert.equal(refused.body.sites[0].code, 'PLX_ERR_STATS_DISCLOSURE')
    assert.match(refused.body.sites[0].message, /nfilter\.tab/)
    const suppressed = await query({ fn: 'table', columns: ['sex'], where: filterFor(sites[2]!), peers: [peer(2)] })
    assert.equal(suppressed.status, 200, JSON.stringify(suppressed.body))
    assert.equal(suppressed.body.complete, true)
    assert.ok(suppressed.body.pooled.suppressed.length > 0)
    for (const i of suppressed.body.pooled.suppressed) assert.equal(suppressed.body.pooled.counts[i][0], 0)
    const audit = await (await fetch(`${nodes[1]!.url}/api/plexus/stats/audit`)).json() as { entries: any[] }
    const last = audit.entries.at(-1)
    assert.equal(last.verdict, 'refused')
    assert.equal(last.rule, 'table')
    assert.equal(last.released, null)
  })

  it('refuses a sum that one contribution dominates (dominance rule)', async () => {
    const file = join(root, 'incomes.csv')
    writeFileSync(file, ['income', ...Array.from({ length: 9 }, () => '100'), '50000'].join('\n') + '\n')
    const r = await post(`${nodes[1]!.url}/api/plexus/data`, { name: 'incomes', path: file })
    assert.equal(r.status, 201, JSON.stringify(r.body))
    const sum = await post(`${nodes[0]!.url}/api/plexus/stats/query`, { dataset: 'incomes', fn: 'sum', columns: ['income'], peers: [peer(1)] })
    assert.equal(sum.body.pooled, null)
    assert.match(sum.body.sites[0].message, /largest contribution makes up more than 0\.9 of the total \[dominance\]/)
    // A count over the same rows reveals no value and is allowed.
    const count = await post(`${nodes[0]!.url}/api/plexus/stats/query`, { dataset: 'incomes', fn: 'count', peers: [peer(1)] })
    assert.equal(count.body.pooled.n, 10)
  })

  it('adds Laplace noise when asked for differential privacy and stops at the analyst\'s budget', async () => {
    const exact = sites[1]!.length
    const noisy = await query({ fn: 'count', epsilon: 6, peers: [peer(1)] })
    assert.equal(noisy.status, 200, JSON.stringify(noisy.body))
    assert.equal(noisy.body.complete, true)
    const n = noisy.body.pooled.n as number
    assert.ok(!Number.isInteger(n), 'the released count carries continuous noise')
    // Laplace(1/6): |noise| > 4 has probability e^-24.
    assert.ok(Math.abs(n - exact) < 4, `${n} vs ${exact}`)
    // The default budget is ε = 10 per analyst: a second ε = 6 does not fit.
    const over = await query({ fn: 'count', epsilon: 6, peers: [peer(1)] })
    assert.equal(over.body.pooled, null)
    assert.match(over.body.sites[0].message, /privacy budget/)
    const mean = await query({ fn: 'mean', columns: ['bmi'], epsilon: 1, peers: [peer(1)] })
    assert.equal(mean.status, 400)
  })

  it('refuses a differencing attack: a mean over a subset, then over the subset minus one person', async () => {
    const subset = sites[1]!.filter(r => Number(r.age) > 50)
    const person = subset.find(r => subset.filter(o => o.bmi === r.bmi).length === 1)!
    const first = await query({ fn: 'mean', columns: ['s5'], where: 'age > 50', peers: [peer(1)] })
    assert.equal(first.body.complete, true, JSON.stringify(first.body))
    const again = await query({ fn: 'mean', columns: ['s5'], where: 'age > 50', peers: [peer(1)] })
    assert.equal(again.body.complete, true, 'the same subset may be asked again')
    const attack = await query({ fn: 'mean', columns: ['s5'], where: `age > 50 AND bmi != ${String(person.bmi)}`, peers: [peer(1)] })
    assert.equal(attack.body.pooled, null)
    assert.equal(attack.body.sites[0].status, 'refused')
    assert.match(attack.body.sites[0].message, /differs from one of your earlier queries/)
  })

  it('refuses analysts that are not on the allow-list, and columns the owner kept back', async () => {
    // Site 2 answers only site 0; site 1 asking site 2 is refused there.
    await nodes[1]!.node.network!.libp2p.dial(nodes[2]!.node.network!.libp2p.getMultiaddrs()[0]!)
    const r = await post(`${nodes[1]!.url}/api/plexus/stats/query`, { dataset: 'diabetes', fn: 'count', peers: [peer(2)] })
    assert.equal(r.status, 200)
    assert.equal(r.body.sites[0].status, 'refused')
    assert.equal(r.body.sites[0].code, 'PLX_ERR_STATS_FORBIDDEN')
    const s6 = await query({ fn: 'mean', columns: ['s6'] })
    assert.equal(s6.body.pooled, null)
    assert.ok(s6.body.sites.every((s: any) => s.code === 'PLX_ERR_STATS_COLUMN_DENIED'))
  })

  it('malformed and hostile queries get clear errors and run nothing', async () => {
    const before = (await (await fetch(`${nodes[1]!.url}/api/plexus/stats/audit`)).json() as { entries: any[] }).entries.length
    const cases: Array<[Record<string, unknown>, number, RegExp]> = [
      [{ fn: 'mean', columns: ['nope'] }, 200, /no column/],
      [{ fn: 'mean', columns: ['bmi'], where: "bmi > 1; DROP TABLE ds_diabetes" }, 200, /filter|character/i],
      [{ fn: 'mean', columns: ['bmi"; DROP TABLE x; --'] }, 200, /no column/],
      [{ fn: 'mean', columns: ['bmi'], where: 'x'.repeat(5000) }, 400, /where|2000|characters/i],
      [{ fn: 'histogram', columns: ['bmi'] }, 400, /range/],
      [{ fn: 'explode' }, 400, /fn/],
      [{ fn: 'mean', columns: Array.from({ length: 100 }, (_v, i) => `c${i}`) }, 400, /columns/]
    ]
    for (const [body, status, pattern] of cases) {
      const r = await query({ ...body, peers: [peer(1)] })
      assert.equal(r.status, status, JSON.stringify(r.body))
      const message = status === 200 ? r.body.sites[0].message : r.body.error.message
      assert.match(message, pattern, JSON.stringify(r.body))
      if (status === 200) assert.equal(r.body.pooled, null)
    }
    const after = (await (await fetch(`${nodes[1]!.url}/api/plexus/stats/audit`)).json() as { entries: any[] }).entries
    // The queries that reached the site are logged as invalid; nothing was released.
    for (const e of after.slice(before)) { assert.notEqual(e.verdict, 'released'); assert.equal(e.released, null) }
    // Raw garbage over the protocol from a connected peer: oversized, not JSON, unknown type, a
    // step without a query. Each stream ends with an error or a refusal; nothing is released.
    const b = nodes[1]!.node.network!.libp2p
    const target = nodes[0]!.node.network!.libp2p.peerId
    const oversized = new Uint8Array(8); new DataView(oversized.buffer).setUint32(0, 0xFFFFFFF0)
    const notJson = encodeFrame('x', 1024).slice(); notJson.set(new TextEncoder().encode('{{{'), 4)
    for (const payload of [oversized, notJson, encodeFrame({ type: 'nope' }, 1024), encodeFrame({ type: 'stats.step', step: { op: 'compute' } }, 1024), encodeFrame({ type: 'stats.secure', step: 'mask', session: 'x' }, 1024)]) {
      const stream = await b.dialProtocol(target, STATS_PROTOCOL)
      stream.send(payload)
      let reply = ''
      try { for await (const chunk of stream) reply += new TextDecoder().decode(chunk.subarray()) } catch {}
      assert.ok(!reply.includes('"ok":true'), reply)
    }
    // The node is healthy and the data intact.
    const c = await query({ fn: 'count', peers: [peer(1)] })
    assert.equal(c.body.pooled.n, sites[1]!.length)
  })
})
