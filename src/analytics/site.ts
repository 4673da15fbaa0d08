/**
 * The site side of federated statistics: what a node does when an analyst asks about one of its
 * datasets. In order: the analyst must be allowed (allow-list by peer id), the function must be
 * auto-approved by the owner's policy or approved for this exact query (else the query waits in
 * the approvals queue and nothing runs), the query must name only allowed columns and parse; then
 * the node selects the rows (a parameterised DuckDB query over its own file), computes the
 * sufficient statistics in the layout of {@link ./layout.ts}, and releases them only if every
 * disclosure rule passes. Every query, its verdict and what was released go to the audit log.
 *
 * Layouts (what one site returns; the analyst adds them element by element, so they also work
 * under secure aggregation):
 *
 * - `count`: `[n]`
 * - `sum|mean|var|sd` with c columns and G groups (G = 1 without `by`):
 *   per group `[n, Σx₁, Σx₁², …, Σx_c, Σx_c²]`
 * - `histogram|quantiles`: `[below, bin₁ … bin_k, above]`
 * - `table|chisq`: cell counts over the given levels, row-major
 * - `cor` with q columns: `[n, Σx_j (q), Σx_j·x_k for j ≤ k]`
 * - `ttest`: `[n, Σx, Σx²]` per group (one group with `mu`)
 * - `glm` at β: `[n, XᵀWX (p²), XᵀWz (p), deviance]`
 *
 * @packageDocumentation
 */
import { randomBytes } from 'node:crypto'
import { appendFileSync, existsSync, mkdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { z } from 'zod'
import { PlexusError, isPlexusError } from '../errors.js'
import type { Logger } from '../logger.js'
import type { DataRegistry } from '../data/registry.js'
import { readJsonFile, writeJsonAtomic } from '../node/json-file.js'
import { parseFilter, compileFilter } from './expression.js'
import {
  checkDominance, checkGlm, checkLevels, checkSubset, checkTable, combine, disclosureSettings,
  dominanceSummary, QueryHistory, SubsetSketch, type DisclosureSettings, type Verdict
} from './disclosure.js'
import { siteStatistics } from './glm.js'
import { factorColumns, parseQuery, queryColumns, queryHash, STATS_FUNCTIONS, type StatsFunction, type StatsQuery } from './query.js'

/** The owner's policy for statistics queries. */
export interface StatsPolicy {
  /** Functions that run without the owner's review. */
  autoApprove: StatsFunction[]
  /** Analysts (peer ids) who may ask at all; null: any peer of the network. */
  allowAnalysts: string[] | null
  disclosure: Partial<DisclosureSettings>
  /** What happens to a table cell below `tab` or a group below `subset`: refuse the query, or release it with the cell suppressed. */
  smallCells: 'refuse' | 'suppress'
  /** Total ε each analyst may spend on differentially private queries at this node. */
  privacyBudget: number
}

export const DEFAULT_STATS_POLICY: StatsPolicy = {
  autoApprove: [...STATS_FUNCTIONS],
  allowAnalysts: null,
  disclosure: {},
  smallCells: 'refuse',
  privacyBudget: 10
}

/** Most levels a factor may bring to a query (before the disclosure rule's own limit). */
const MAX_LEVELS = 1000

/** What a site sends for one step. */
export interface SiteRelease {
  status: 'ok'
  vector: number[]
  /** Indexes of cells (or group blocks) set to 0 because they were below the threshold. */
  suppressed: number[]
  /**
   * Rows the statistic covered (for the query's receipt). Only when the figures already imply it
   * (every function's release does, unless a cell was suppressed or noise was added).
   */
  rows?: number
}

export interface SiteQueued {
  status: 'queued'
  approval: string
}

export type SiteAnswer = SiteRelease | SiteQueued

/** A step of a query as it arrives from the analyst. */
export const SiteStepSchema = z.discriminatedUnion('op', [
  /** Would this site answer? (allow-list, approval, dataset and columns; reads no rows). */
  z.strictObject({ op: z.literal('probe'), query: z.unknown() }),
  z.strictObject({ op: z.literal('levels'), query: z.unknown() }),
  z.strictObject({
    op: z.literal('compute'),
    query: z.unknown(),
    levels: z.record(z.string().max(128), z.array(z.string().max(256)).max(MAX_LEVELS)).optional(),
    beta: z.array(z.number().finite()).max(64).optional()
  })
])
export type SiteStep = z.output<typeof SiteStepSchema>

const ApprovalSchema = z.strictObject({
  id: z.string(),
  analyst: z.string(),
  query: z.unknown(),
  hash: z.string(),
  status: z.enum(['pending', 'approved', 'denied', 'used']),
  requestedAt: z.string(),
  decidedAt: z.string().nullable()
})
export type Approval = Omit<z.output<typeof ApprovalSchema>, 'query'> & { query: StatsQuery }
const ApprovalsFileSchema = z.strictObject({ approvals: z.array(ApprovalSchema) })

export interface AuditEntry {
  time: string
  analyst: string
  op: SiteStep['op']
  query: StatsQuery | unknown
  verdict: 'released' | 'refused' | 'queued' | 'invalid'
  rule: string | null
  reason: string
  /** What left the node (the vector, or the levels), when something did. */
  released: unknown
}

export interface StatsSiteComponents {
  data: DataRegistry
  /** Folder for the approvals, history, budgets and the audit log. */
  dir: string
  logger: Logger
  policy: () => StatsPolicy
}

function refuse (why: string): PlexusError {
  return new PlexusError('PLX_ERR_STATS_QUERY_INVALID', [why])
}

function laplace (scale: number): number {
  // Inverse CDF with a uniform from the system CSPRNG (53 bits).
  const b = randomBytes(8)
  const u = ((b.readUInt32BE(0) >>> 5) * 67108864 + (b.readUInt32BE(4) >>> 6)) / 9007199254740992 - 0.5
  return -scale * Math.sign(u) * Math.log(1 - 2 * Math.abs(u))
}

/** A factor value as a level name (numbers without a trailing .0). */
export function levelOf (v: number | string): string {
  return typeof v === 'number' ? String(v) : v
}

export class StatsSite {
  readonly #c: StatsSiteComponents
  readonly #history: QueryHistory
  readonly #budgets: Record<string, number>

  constructor (components: StatsSiteComponents) {
    this.#c = components
    mkdirSync(components.dir, { recursive: true, mode: 0o700 })
    const saved = readJsonFile(this.#historyFile, z.record(z.string(), z.array(z.object({ dataset: z.string(), rows: z.number(), cells: z.string() }))), {})
    this.#history = QueryHistory.fromJSON(saved, this.#settings())
    this.#budgets = readJsonFile(this.#budgetFile, z.record(z.string(), z.number()), {})
  }

  get #historyFile (): string { return join(this.#c.dir, 'history.json') }
  get #budgetFile (): string { return join(this.#c.dir, 'privacy-budget.json') }
  get #approvalsFile (): string { return join(this.#c.dir, 'approvals.json') }
  get #auditFile (): string { return join(this.#c.dir, 'audit.jsonl') }

  #settings (): DisclosureSettings {
    return disclosureSettings(this.#c.policy().disclosure)
  }

  // -- approvals ------------------------------------------------------------------------------

  approvals (): Approval[] {
    return readJsonFile(this.#approvalsFile, ApprovalsFileSchema, { approvals: [] }).approvals as Approval[]
  }

  #saveApprovals (list: Approval[]): void {
    writeJsonAtomic(this.#approvalsFile, { approvals: list.slice(-10_000) }, 0o600)
  }

  /** The owner's decision on a queued query. */
  decide (id: string, decision: 'approve' | 'deny'): Approval {
    const list = this.approvals()
    const a = list.find(x => x.id === id)
    if (a == null) throw new PlexusError('PLX_ERR_STATS_APPROVAL_NOT_FOUND', [id])
    if (a.status !== 'pending') throw refuse(`approval ${id} is already ${a.status}`)
    a.status = decision === 'approve' ? 'approved' : 'denied'
    a.decidedAt = new Date().toISOString()
    this.#saveApprovals(list)
    this.#c.logger.info({ approval: id, decision }, 'statistics query decided')
    return a
  }

  /** True when the query may run now: auto-approved, or approved for this analyst and query. */
  #approved (analyst: string, q: StatsQuery): { ok: true } | { ok: false, approval: string } {
    if (this.#c.policy().autoApprove.includes(q.fn)) return { ok: true }
    const hash = queryHash(q)
    const list = this.approvals()
    const mine = list.filter(a => a.analyst === analyst && a.hash === hash)
    if (mine.some(a => a.status === 'approved')) return { ok: true }
    const denied = mine.find(a => a.status === 'denied')
    if (denied != null) throw new PlexusError('PLX_ERR_STATS_DENIED', [denied.id])
    const pending = mine.find(a => a.status === 'pending')
    if (pending != null) return { ok: false, approval: pending.id }
    const approval: Approval = { id: `apr-${randomBytes(5).toString('base64url')}`, analyst, query: q, hash, status: 'pending', requestedAt: new Date().toISOString(), decidedAt: null }
    this.#saveApprovals([...list, approval])
    this.#c.logger.info({ approval: approval.id, analyst, fn: q.fn }, 'statistics query waits for approval')
    return { ok: false, approval: approval.id }
  }

  // -- audit ----------------------------------------------------------------------------------

  #audit (entry: Omit<AuditEntry, 'time'>): void {
    appendFileSync(this.#auditFile, JSON.stringify({ time: new Date().toISOString(), ...entry }) + '\n', { mode: 0o600 })
  }

  /** The audit log, newest last (at most `limit` entries). */
  audit (limit = 1000): AuditEntry[] {
    if (!existsSync(this.#auditFile)) return []
    const lines = readFileSync(this.#auditFile, 'utf8').split('\n').filter(l => l !== '')
    return lines.slice(-limit).flatMap(l => { try { return [JSON.parse(l) as AuditEntry] } catch { return [] } })
  }

  /** ε left for an analyst. */
  budgetLeft (analyst: string): number {
    return this.#c.policy().privacyBudget - (this.#budgets[analyst] ?? 0)
  }

  // -- answering ------------------------------------------------------------------------------

  /** Answers one step of a query from `analyst` (a peer id, or the owner's own node id). */
  async answer (analyst: string, stepInput: unknown, options: { secure?: boolean } = {}): Promise<SiteAnswer | { status: 'ok', levels: Record<string, string[]> }> {
    const policy = this.#c.policy()
    if (policy.allowAnalysts != null && !policy.allowAnalysts.includes(analyst) && !policy.allowAnalysts.includes('*')) {
      this.#audit({ analyst, op: 'compute', query: (stepInput as { query?: unknown } | null)?.query ?? null, verdict: 'refused', rule: 'allow-list', reason: 'analyst not on the allow-list', released: null })
      throw new PlexusError('PLX_ERR_STATS_FORBIDDEN', [analyst])
    }
    const parsedStep = SiteStepSchema.safeParse(stepInput)
    if (!parsedStep.success) throw refuse('malformed statistics request')
    const step = parsedStep.data
    let q: StatsQuery
    try {
      q = parseQuery(step.query)
    } catch (err) {
      this.#audit({ analyst, op: step.op, query: step.query, verdict: 'invalid', rule: null, reason: (err as Error).message, released: null })
      throw err
    }
    const approved = this.#approved(analyst, q)
    if (!approved.ok) {
      this.#audit({ analyst, op: step.op, query: q, verdict: 'queued', rule: null, reason: `waits for the owner's approval (${approved.approval})`, released: null })
      return { status: 'queued', approval: approved.approval }
    }
    try {
      if (step.op === 'probe') {
        this.#checkColumns(q)
        return { status: 'ok', levels: {} }
      }
      if (step.op === 'levels') {
        const levels = await this.#levels(analyst, q)
        this.#audit({ analyst, op: 'levels', query: q, verdict: 'released', rule: null, reason: 'allowed', released: levels })
        return { status: 'ok', levels }
      }
      const release = await this.#compute(analyst, q, step.levels ?? {}, step.beta ?? null, options.secure === true)
      this.#audit({ analyst, op: 'compute', query: q, verdict: 'released', rule: null, reason: release.suppressed.length > 0 ? `${release.suppressed.length} cell(s) suppressed` : 'allowed', released: release.vector })
      return release
    } catch (err) {
      const disclosure = isPlexusError(err) && err.code === 'PLX_ERR_STATS_DISCLOSURE'
      const rule = disclosure ? /\[(\w+)\]$/.exec(err.message)?.[1] ?? null : null
      this.#audit({ analyst, op: step.op, query: q, verdict: disclosure ? 'refused' : 'invalid', rule, reason: (err as Error).message, released: null })
      throw err
    }
  }

  /** Checks the query's columns against the dataset and the owner's allowed columns. */
  #checkColumns (q: StatsQuery): { kinds: Map<string, 'number' | 'string'> } {
    const data = this.#c.data
    const kinds = data.kinds(q.dataset)
    for (const c of queryColumns(q)) {
      if (!data.get(q.dataset).columns.some(k => k.name === c)) throw refuse(`dataset '${q.dataset}' has no column ${JSON.stringify(c.slice(0, 64))}`)
      if (!kinds.has(c)) throw new PlexusError('PLX_ERR_STATS_COLUMN_DENIED', [c.slice(0, 64), q.dataset])
    }
    const factors = new Set(factorColumns(q))
    // A logistic regression's response may be a factor when `success` names the level that counts as 1.
    if (q.fn === 'glm' && q.family === 'binomial' && q.success != null) factors.add(q.columns[0]!)
    for (const c of q.columns) {
      if (!factors.has(c) && kinds.get(c) !== 'number') throw refuse(`column '${c}' is not numeric`)
    }
    return { kinds }
  }

  async #rows (q: StatsQuery, kinds: Map<string, 'number' | 'string'>): Promise<{ rowids: number[], values: Array<Array<number | string>> }> {
    const where = q.where != null && q.where.trim() !== '' ? compileFilter(parseFilter(q.where, kinds)) : null
    return await this.#c.data.select(q.dataset, queryColumns(q), where)
  }

  async #levels (analyst: string, q: StatsQuery): Promise<Record<string, string[]>> {
    const { kinds } = this.#checkColumns(q)
    const { rowids, values } = await this.#rows(q, kinds)
    const s = this.#settings()
    const verdicts: Verdict[] = [checkSubset(rowids.length, s)]
    const out: Record<string, string[]> = {}
    const cols = queryColumns(q)
    for (const f of factorColumns(q)) {
      const j = cols.indexOf(f)
      const counts = new Map<string, number>()
      for (const v of values[j]!) { const l = levelOf(v); counts.set(l, (counts.get(l) ?? 0) + 1) }
      verdicts.push(checkLevels(counts.size, rowids.length, s))
      // A level held by one or two rows would reveal a (nearly) unique value: the marginal counts
      // obey the table rule too (with `smallCells: suppress` such a level is still named, and its
      // counts are suppressed in the answer).
      if (this.#c.policy().smallCells === 'refuse') verdicts.push(checkTable([...counts.values()], s))
      out[f] = [...counts.keys()].sort()
    }
    this.#decide(analyst, q, rowids, combine(...verdicts))
    return out
  }

  /** Throws the refusal, or records the subset in the analyst's history. */
  #decide (analyst: string, q: StatsQuery, rowids: number[], verdict: Verdict, groups: number[][] = []): void {
    const sketches = [SubsetSketch.of(rowids), ...groups.filter(g => g.length > 0).map(g => SubsetSketch.of(g))]
    const v = combine(verdict, ...sketches.map(sk => this.#history.check(analyst, q.dataset, sk)))
    if (!v.allowed) throw new PlexusError('PLX_ERR_STATS_DISCLOSURE', [`${v.reason} [${v.rule ?? ''}]`])
    let added = false
    for (const sk of sketches) added = this.#history.record(analyst, q.dataset, sk) || added
    // Written only when it changed (a repeated subset, e.g. each IRLS round, adds nothing).
    if (added) writeJsonAtomic(this.#historyFile, this.#history.toJSON(), 0o600)
  }

  async #compute (analyst: string, q: StatsQuery, levelsIn: Record<string, string[]>, beta: number[] | null, secure: boolean): Promise<SiteRelease> {
    const { kinds } = this.#checkColumns(q)
    const s = this.#settings()
    // Under secure aggregation nothing says which cells were suppressed: small cells are refused.
    const refuseSmall = this.#c.policy().smallCells === 'refuse' || secure || q.epsilon != null
    if (q.epsilon != null && this.budgetLeft(analyst) < q.epsilon) {
      throw new PlexusError('PLX_ERR_STATS_DISCLOSURE', [`the analyst's privacy budget at this node has ${Math.max(0, this.budgetLeft(analyst)).toFixed(3)} ε left, the query needs ${q.epsilon} [privacy-budget]`])
    }
    const { rowids, values } = await this.#rows(q, kinds)
    const n = rowids.length
    const cols = queryColumns(q)
    const num = (c: string): Float64Array => Float64Array.from(values[cols.indexOf(c)]! as number[])
    const levels = (c: string): string[] => {
      const l = levelsIn[c]
      if (l == null) throw refuse(`levels for '${c}' are missing`)
      if (new Set(l).size !== l.length) throw refuse(`levels for '${c}' repeat`)
      return l
    }
    const indexIn = (c: string): Int32Array => {
      const l = levels(c)
      const map = new Map(l.map((v, i) => [v, i]))
      const col = values[cols.indexOf(c)]!
      const out = new Int32Array(col.length)
      for (let i = 0; i < col.length; i++) {
        const k = map.get(levelOf(col[i]!))
        if (k == null) throw refuse(`'${c}' has a value outside the levels the analyst sent (ask for levels again)`)
        out[i] = k
      }
      return out
    }
    const verdicts: Verdict[] = [checkSubset(n, s)]
    const suppressed: number[] = []
    const groupsRowids: number[][] = []
    let vector: number[]
    const smallCells = (cells: number[]): void => {
      const v = checkTable(cells, s)
      if (v.allowed) return
      if (refuseSmall) { verdicts.push(v); return }
      cells.forEach((c, i) => { if (c > 0 && c < s.tab) { suppressed.push(i); cells[i] = 0 } })
    }
    switch (q.fn) {
      case 'count':
        vector = [n]
        break
      case 'sum': case 'mean': case 'var': case 'sd': {
        const c = q.columns.length
        const groupOf = q.by != null ? indexIn(q.by) : new Int32Array(n)
        const g = q.by != null ? levels(q.by).length : 1
        if (q.by != null) verdicts.push(checkLevels(g, n, s))
        const block = 1 + 2 * c
        vector = new Array<number>(g * block).fill(0)
        const xs = q.columns.map(num)
        for (let i = 0; i < n; i++) {
          const o = groupOf[i]! * block
          vector[o]!++
          for (let j = 0; j < c; j++) { const x = xs[j]![i]!; vector[o + 1 + 2 * j]! += x; vector[o + 2 + 2 * j]! += x * x }
        }
        for (let k = 0; k < g; k++) groupsRowids.push(rowids.filter((_r, i) => groupOf[i] === k))
        // Groups below the subset threshold: refuse, or suppress the whole block.
        for (let k = 0; k < g; k++) {
          const ng = vector[k * block]!
          if (ng > 0 && ng < s.subset) {
            if (refuseSmall) verdicts.push(checkSubset(ng, s))
            else { suppressed.push(k * block); vector.fill(0, k * block, (k + 1) * block) }
          }
        }
        if (q.fn === 'sum' || q.fn === 'mean') {
          for (let k = 0; k < g; k++) {
            for (const x of xs) verdicts.push(checkDominance(dominanceSummary(x.filter((_v, i) => groupOf[i] === k), s.dominanceTop), s))
          }
        }
        break
      }
      case 'histogram': case 'quantiles': {
        const [lo, hi] = q.range!
        const bins = q.bins!
        const x = num(q.columns[0]!)
        vector = new Array<number>(bins + 2).fill(0)
        for (let i = 0; i < n; i++) vector[histogramCell(x[i]!, lo, hi, bins)]!++
        smallCells(vector)
        break
      }
      case 'table': case 'chisq': {
        const a = indexIn(q.columns[0]!)
        const la = levels(q.columns[0]!).length
        verdicts.push(checkLevels(la, n, s))
        let lb = 1
        let b: Int32Array = new Int32Array(n)
        if (q.columns.length === 2) { b = indexIn(q.columns[1]!); lb = levels(q.columns[1]!).length; verdicts.push(checkLevels(lb, n, s)) }
        if (la * lb > 100_000) throw refuse('the table would have more than 100,000 cells')
        vector = new Array<number>(la * lb).fill(0)
        for (let i = 0; i < n; i++) vector[a[i]! * lb + b[i]!]!++
        smallCells(vector)
        break
      }
      case 'cor': {
        const xs = q.columns.map(num)
        const m = xs.length
        vector = new Array<number>(1 + m + (m * (m + 1)) / 2).fill(0)
        vector[0] = n
        for (let i = 0; i < n; i++) {
          let o = 1 + m
          for (let j = 0; j < m; j++) {
            const xj = xs[j]![i]!
            vector[1 + j]! += xj
            for (let k = j; k < m; k++) vector[o++]! += xj * xs[k]![i]!
          }
        }
        break
      }
      case 'ttest': {
        const x = num(q.columns[0]!)
        const groupOf = q.by != null ? indexIn(q.by) : new Int32Array(n)
        const g = q.by != null ? levels(q.by).length : 1
        if (q.by != null && g !== 2) throw refuse(`ttest needs a 'by' factor with exactly 2 levels; '${q.by}' has ${g}`)
        vector = new Array<number>(3 * g).fill(0)
        for (let i = 0; i < n; i++) { const o = 3 * groupOf[i]!; vector[o]!++; vector[o + 1]! += x[i]!; vector[o + 2]! += x[i]! * x[i]! }
        for (let k = 0; k < g; k++) {
          if (vector[3 * k]! > 0) verdicts.push(checkSubset(vector[3 * k]!, s))
          if (q.by != null) groupsRowids.push(rowids.filter((_r, i) => groupOf[i] === k))
        }
        break
      }
      case 'glm': {
        const p = q.columns.length
        if (beta == null || beta.length !== p) throw refuse(`glm needs β with ${p} values (intercept and ${p - 1} predictors)`)
        verdicts.push(checkGlm(n, p, s))
        const family = q.family ?? 'gaussian'
        const yCol = values[0]!
        const y = new Float64Array(n)
        for (let i = 0; i < n; i++) {
          const v = yCol[i]!
          y[i] = family === 'binomial' && q.success != null ? (levelOf(v) === levelOf(q.success) ? 1 : 0) : Number(v)
        }
        const x = new Float64Array(n * p)
        const preds = q.columns.slice(1).map(num)
        for (let i = 0; i < n; i++) {
          x[i * p] = 1
          for (let j = 0; j < p - 1; j++) x[i * p + j + 1] = preds[j]![i]!
        }
        if (n > 0 && verdicts.every(v => v.allowed)) {
          const st = siteStatistics(family, x, y, p, Float64Array.from(beta))
          vector = [st.n, ...st.xtwx, ...st.xtwz, st.deviance]
        } else vector = []
        break
      }
    }
    this.#decide(analyst, q, rowids, combine(...verdicts), groupsRowids)
    if (q.epsilon != null) {
      // Laplace mechanism: one person changes one count by 1, so each count gets Laplace(1/ε).
      vector = vector.map(v => v + laplace(1 / q.epsilon!))
      this.#budgets[analyst] = (this.#budgets[analyst] ?? 0) + q.epsilon
      writeJsonAtomic(this.#budgetFile, this.#budgets, 0o600)
    }
    return { status: 'ok', vector, suppressed, ...(suppressed.length === 0 && q.epsilon == null ? { rows: n } : {}) }
  }
}

/** The cell of a value in `[below, bin₁ … bin_k, above]` (the top edge belongs to the last bin). */
export function histogramCell (x: number, lo: number, hi: number, bins: number): number {
  if (x < lo) return 0
  if (x > hi) return bins + 1
  if (x === hi) return bins
  return 1 + Math.min(bins - 1, Math.floor(((x - lo) / (hi - lo)) * bins))
}
