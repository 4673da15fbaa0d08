/**
 * Disclosure control for federated statistics, after DataSHIELD's `nfilter` settings plus two
 * rules DataSHIELD leaves open (dominance and differencing). Every rule is a pure function of what
 * a site computes locally and returns a {@link Verdict}; nothing here touches data or the network.
 *
 * What each rule checks (with the defaults):
 *
 * - **subset** (`nfilter.subset = 3`): the rows a statistic is computed over (after the filter, at
 *   one site) number at least `subset`. An empty subset is refused too: "nobody matches" is itself
 *   a disclosure about the filter's condition.
 * - **table** (`nfilter.tab = 3`): every cell of a contingency table or histogram is either 0 or at
 *   least `tab`. Zero cells are allowed (as in DataSHIELD); cells 1…tab−1 are refused.
 * - **glm** (`nfilter.glm = 0.33`): a model with `p` parameters fitted on `n` rows needs
 *   `p ≤ glm · n`, so that the sufficient statistics cannot be solved back for individual rows.
 * - **levels** (`levelsMax = 40`, `levelsDensity = 0.33`, as DataSHIELD's `nfilter.levels.*`): a
 *   factor used for a table or a model has at most `levelsMax` levels and at most
 *   `levelsDensity · n` levels.
 * - **dominance** (`dominanceShare = 0.9`, `dominanceTop = 1`): for a sum (or mean) over a cell,
 *   with contributions taken in absolute value so that signs cannot cancel, the `dominanceTop`
 *   largest contributions make up at most `dominanceShare` of the total. Sites compute the two
 *   numbers locally ({@link dominanceSummary}, or in SQL as the sum of the top-k |x| and sum |x|);
 *   an all-zero cell passes.
 * - **differencing** (`subset` again): the analyst's history of subsets on the same dataset is kept
 *   as fingerprints ({@link SubsetSketch}); a new subset whose symmetric difference from any
 *   earlier one is non-zero but smaller than `subset` is refused (the mean over "A" and over
 *   "A minus one person" gives that person's value away). Asking again about exactly the same
 *   subset is allowed. The difference is measured by a lower bound that is exact whenever it is
 *   small, so a true difference below `subset` is always refused (up to 64-bit collisions of
 *   row-id hashes); a larger one is, with high probability, allowed. Out of scope: differences
 *   built from three or more queries (A, B, C with A − B − C small), and differences across sites.
 *
 * @packageDocumentation
 */
import { PlexusError } from '../errors.js'

export interface DisclosureSettings {
  /** `nfilter.tab`: smallest allowed non-zero table cell. */
  tab: number
  /** `nfilter.subset`: smallest allowed subset, and smallest allowed difference between subsets. */
  subset: number
  /** `nfilter.glm`: largest ratio of model parameters to rows. */
  glm: number
  /** `nfilter.levels.max`: most levels a factor may have. */
  levelsMax: number
  /** `nfilter.levels.density`: most levels per row. */
  levelsDensity: number
  /** Largest share of a total that the `dominanceTop` largest contributions may hold. */
  dominanceShare: number
  /** How many of the largest contributions are counted by the dominance rule. */
  dominanceTop: number
}

export const DEFAULT_DISCLOSURE: Readonly<DisclosureSettings> = Object.freeze({
  tab: 3,
  subset: 3,
  glm: 0.33,
  levelsMax: 40,
  levelsDensity: 0.33,
  dominanceShare: 0.9,
  dominanceTop: 1
})

export type DisclosureRule = 'subset' | 'table' | 'glm' | 'levels' | 'dominance' | 'differencing'

export interface Verdict {
  allowed: boolean
  /** The rule that refused, or null when allowed. */
  rule: DisclosureRule | null
  /** Why, for the analyst and the audit log (no data values, only counts and thresholds). */
  reason: string
}

const ALLOW: Verdict = Object.freeze({ allowed: true, rule: null, reason: 'allowed' }) as Verdict

function deny (rule: DisclosureRule, reason: string): Verdict {
  return { allowed: false, rule, reason }
}

function badSetting (why: string): PlexusError {
  return new PlexusError('PLX_ERR_STATS_CONFIG_INVALID', [why])
}

/** Defaults overlaid with a node's settings, validated. */
export function disclosureSettings (overrides: Partial<DisclosureSettings> = {}): DisclosureSettings {
  const s: DisclosureSettings = { ...DEFAULT_DISCLOSURE, ...overrides }
  for (const k of ['tab', 'subset', 'dominanceTop'] as const) {
    if (!Number.isSafeInteger(s[k]) || s[k] < 0) throw badSetting(`${k} must be a non-negative integer, not ${String(s[k])}`)
  }
  if (s.dominanceTop < 1) throw badSetting('dominanceTop must be at least 1')
  for (const k of ['glm', 'levelsDensity', 'dominanceShare'] as const) {
    if (!Number.isFinite(s[k]) || s[k] <= 0 || s[k] > 1) throw badSetting(`${k} must be in (0, 1], not ${String(s[k])}`)
  }
  if (!Number.isSafeInteger(s.levelsMax) || s.levelsMax < 2) throw badSetting(`levelsMax must be an integer of at least 2, not ${String(s.levelsMax)}`)
  return s
}

function count (n: number, what: string): number {
  if (!Number.isSafeInteger(n) || n < 0) throw new PlexusError('PLX_ERR_STATS_CONFIG_INVALID', [`${what} must be a non-negative integer count, not ${String(n)}`])
  return n
}

/** Rule **subset**: `rows ≥ subset` (an empty subset is refused). */
export function checkSubset (rows: number, s: DisclosureSettings = DEFAULT_DISCLOSURE): Verdict {
  count(rows, 'rows')
  if (rows < s.subset || rows === 0) return deny('subset', `the subset has fewer than ${Math.max(s.subset, 1)} rows (nfilter.subset)`)
  return ALLOW
}

/** Rule **table**: every cell is 0 or ≥ `tab`. */
export function checkTable (cells: ArrayLike<number>, s: DisclosureSettings = DEFAULT_DISCLOSURE): Verdict {
  let small = 0
  for (let i = 0; i < cells.length; i++) {
    const c = count(cells[i]!, 'a table cell')
    if (c > 0 && c < s.tab) small++
  }
  if (small > 0) return deny('table', `${small} non-zero cell(s) below ${s.tab} (nfilter.tab)`)
  return ALLOW
}

/** Rule **glm**: `parameters ≤ glm · rows` (and the subset rule on `rows`). */
export function checkGlm (rows: number, parameters: number, s: DisclosureSettings = DEFAULT_DISCLOSURE): Verdict {
  const sub = checkSubset(rows, s)
  if (!sub.allowed) return sub
  count(parameters, 'parameters')
  if (parameters > s.glm * rows) return deny('glm', `${parameters} parameters for ${rows} rows exceeds ${s.glm} per row (nfilter.glm)`)
  return ALLOW
}

/** Rule **levels**: `levels ≤ levelsMax` and `levels ≤ levelsDensity · rows`. */
export function checkLevels (levels: number, rows: number, s: DisclosureSettings = DEFAULT_DISCLOSURE): Verdict {
  count(levels, 'levels')
  count(rows, 'rows')
  if (levels > s.levelsMax) return deny('levels', `the factor has ${levels} levels; at most ${s.levelsMax} are allowed (nfilter.levels.max)`)
  if (levels > s.levelsDensity * rows) return deny('levels', `${levels} levels for ${rows} rows exceeds ${s.levelsDensity} per row (nfilter.levels.density)`)
  return ALLOW
}

export interface DominanceSummary {
  /** Sum of the `k` largest |x|. */
  top: number
  /** Sum of all |x|. */
  total: number
}

/** What a site computes locally for the dominance rule. Non-finite values are refused. */
export function dominanceSummary (values: ArrayLike<number>, k = 1): DominanceSummary {
  if (!Number.isSafeInteger(k) || k < 1) throw badSetting('dominanceTop must be at least 1')
  const tops: number[] = []
  let total = 0
  for (let i = 0; i < values.length; i++) {
    const a = Math.abs(values[i]!)
    if (!Number.isFinite(a)) throw new PlexusError('PLX_ERR_STATS_CONFIG_INVALID', ['the dominance rule needs finite values'])
    total += a
    if (tops.length < k) { tops.push(a); tops.sort((x, y) => y - x) } else if (a > tops[k - 1]!) { tops[k - 1] = a; tops.sort((x, y) => y - x) }
  }
  return { top: tops.reduce((x, y) => x + y, 0), total }
}

/** Rule **dominance**: `top ≤ dominanceShare · total` (passes when `total` is 0). */
export function checkDominance (summary: DominanceSummary, s: DisclosureSettings = DEFAULT_DISCLOSURE): Verdict {
  const { top, total } = summary
  if (!Number.isFinite(top) || !Number.isFinite(total) || top < 0 || total < 0 || top > total * (1 + 1e-12)) {
    throw new PlexusError('PLX_ERR_STATS_CONFIG_INVALID', ['a dominance summary needs 0 ≤ top ≤ total'])
  }
  if (total > 0 && top > s.dominanceShare * total) {
    return deny('dominance', `the ${s.dominanceTop === 1 ? 'largest contribution makes' : `${s.dominanceTop} largest contributions make`} up more than ${s.dominanceShare} of the total`)
  }
  return ALLOW
}

/** Runs verdicts in order and returns the first refusal, else "allowed". */
export function combine (...verdicts: Verdict[]): Verdict {
  return verdicts.find(v => !v.allowed) ?? ALLOW
}

/** Throws `PLX_ERR_STATS_DISCLOSURE` for a refusal. */
export function assertAllowed (v: Verdict): void {
  if (!v.allowed) throw new PlexusError('PLX_ERR_STATS_DISCLOSURE', [`${v.reason} [${v.rule ?? ''}]`])
}

// ---------------------------------------------------------------------------------------------
// Differencing: subset fingerprints and per-analyst history

/** Hash subtables in a sketch; every row id lands in one cell of each. */
const K = 4
/** Cells per subtable. */
const W = 32
/** Cells in a sketch (each 16 bytes: count, id low, id high, check). */
export const SKETCH_CELLS = K * W

function fmix (h: number): number {
  h ^= h >>> 16; h = Math.imul(h, 0x85ebca6b)
  h ^= h >>> 13; h = Math.imul(h, 0xc2b2ae35)
  h ^= h >>> 16
  return h >>> 0
}

function hashId (lo: number, hi: number, seed: number): number {
  return fmix(Math.imul(lo ^ seed, 0x9e3779b1) ^ fmix((hi + Math.imul(seed, 0x7feb352d)) >>> 0))
}

function splitId (id: number): [number, number] {
  if (!Number.isSafeInteger(id) || id < 0) throw new PlexusError('PLX_ERR_STATS_CONFIG_INVALID', [`row ids must be non-negative safe integers, not ${String(id)}`])
  return [id >>> 0, Math.floor(id / 0x1_0000_0000) >>> 0]
}

/**
 * A constant-size fingerprint of a set of row ids (2 KiB whatever the subset's size): an
 * invertible Bloom lookup table with 4 subtables of 32 cells, each cell holding a signed count,
 * the XOR of the ids in it and the XOR of a check hash of those ids. Two sketches subtract, and
 * the difference can be peeled back into the ids that are in one subset but not the other when
 * there are few of them — exactly the case the differencing rule must catch.
 */
export class SubsetSketch {
  readonly rows: number
  /** Per cell: [count, idLo, idHi, check], as Int32/Uint32 views of one buffer. */
  readonly cells: Int32Array

  private constructor (rows: number, cells: Int32Array) {
    this.rows = rows
    this.cells = cells
  }

  /** The fingerprint of the subset of rows with these ids (which must be distinct). */
  static of (ids: Iterable<number>): SubsetSketch {
    const cells = new Int32Array(SKETCH_CELLS * 4)
    let rows = 0
    for (const id of ids) {
      const [lo, hi] = splitId(id)
      toggle(cells, lo, hi, 1)
      rows++
    }
    return new SubsetSketch(rows, cells)
  }

  /** Rebuilds a sketch from {@link toJSON}'s output (for a persisted history). */
  static fromJSON (json: { rows: number, cells: string }): SubsetSketch {
    const buf = Buffer.from(json.cells, 'base64')
    if (!Number.isSafeInteger(json.rows) || json.rows < 0 || buf.length !== SKETCH_CELLS * 16) throw new PlexusError('PLX_ERR_STATS_CONFIG_INVALID', ['damaged subset sketch'])
    const cells = new Int32Array(SKETCH_CELLS * 4)
    new Uint8Array(cells.buffer).set(buf)
    return new SubsetSketch(json.rows, cells)
  }

  toJSON (): { rows: number, cells: string } {
    return { rows: this.rows, cells: Buffer.from(this.cells.buffer, this.cells.byteOffset, this.cells.byteLength).toString('base64') }
  }

  /**
   * A lower bound on the size of the symmetric difference between this subset and another, exact
   * when the difference is small (it peels the subtracted sketch; what cannot be peeled counts at
   * least one row per non-empty cell of the fullest subtable, two for a cell whose count cancels).
   * Also at least the difference of the row counts.
   */
  differenceLowerBound (other: SubsetSketch): number {
    const d = new Int32Array(this.cells.length)
    for (let i = 0; i < d.length; i++) d[i] = (i & 3) === 0 ? this.cells[i]! - other.cells[i]! : this.cells[i]! ^ other.cells[i]!
    let peeled = 0
    let progress = true
    while (progress) {
      progress = false
      for (let c = 0; c < SKETCH_CELLS; c++) {
        const n = d[c * 4]!
        if (n !== 1 && n !== -1) continue
        const lo = d[c * 4 + 1]! >>> 0
        const hi = d[c * 4 + 2]! >>> 0
        if ((d[c * 4 + 3]! >>> 0) !== hashId(lo, hi, 0x5bd1e995)) continue
        toggle(d, lo, hi, -n)
        peeled++
        progress = true
      }
    }
    let rest = 0
    for (let j = 0; j < K; j++) {
      let sub = 0
      for (let c = j * W; c < (j + 1) * W; c++) {
        const n = d[c * 4]!
        const empty = n === 0 && d[c * 4 + 1] === 0 && d[c * 4 + 2] === 0 && d[c * 4 + 3] === 0
        if (!empty) sub += n === 0 ? 2 : Math.abs(n)
      }
      rest = Math.max(rest, sub)
    }
    return Math.max(peeled + rest, Math.abs(this.rows - other.rows))
  }
}

function toggle (cells: Int32Array, lo: number, hi: number, sign: number): void {
  const check = hashId(lo, hi, 0x5bd1e995) | 0
  for (let j = 0; j < K; j++) {
    const c = j * W + (hashId(lo, hi, 0x1234567 + j * 0x3c6ef372) % W)
    cells[c * 4] = cells[c * 4]! + sign
    cells[c * 4 + 1] = cells[c * 4 + 1]! ^ (lo | 0)
    cells[c * 4 + 2] = cells[c * 4 + 2]! ^ (hi | 0)
    cells[c * 4 + 3] = cells[c * 4 + 3]! ^ check
  }
}

export interface HistoryEntry {
  dataset: string
  sketch: SubsetSketch
}

/**
 * Per-analyst history of query subsets, for the differencing rule. `check` is pure (it does not
 * record); call `record` once the query is released. The history is bounded per analyst: when
 * full, new subsets are refused rather than old ones forgotten (forgetting would reopen attacks);
 * the owner can `forget` an analyst.
 */
export class QueryHistory {
  private readonly byAnalyst = new Map<string, HistoryEntry[]>()

  constructor (private readonly settings: DisclosureSettings = DEFAULT_DISCLOSURE, readonly maxEntriesPerAnalyst = 10_000) {}

  entries (analyst: string): readonly HistoryEntry[] {
    return this.byAnalyst.get(analyst) ?? []
  }

  /** Rule **differencing**: refuses when 0 < |A Δ B| < subset for an earlier B on the same dataset. */
  check (analyst: string, dataset: string, sketch: SubsetSketch): Verdict {
    const list = this.byAnalyst.get(analyst) ?? []
    let known = false
    for (const e of list) {
      if (e.dataset !== dataset) continue
      const d = e.sketch.differenceLowerBound(sketch)
      if (d === 0) { known = true; continue }
      if (d < this.settings.subset) {
        return deny('differencing', `the subset differs from one of your earlier queries on this dataset by fewer than ${this.settings.subset} rows (nfilter.subset)`)
      }
    }
    if (!known && list.length >= this.maxEntriesPerAnalyst) return deny('differencing', `the query history of this analyst is full (${this.maxEntriesPerAnalyst} subsets); ask the node's owner`)
    return ALLOW
  }

  /** Remembers a released subset (the same subset is stored once); true when it was new. */
  record (analyst: string, dataset: string, sketch: SubsetSketch): boolean {
    const list = this.byAnalyst.get(analyst) ?? []
    if (list.some(e => e.dataset === dataset && e.sketch.differenceLowerBound(sketch) === 0)) return false
    list.push({ dataset, sketch })
    this.byAnalyst.set(analyst, list)
    return true
  }

  forget (analyst: string): void {
    this.byAnalyst.delete(analyst)
  }

  toJSON (): Record<string, Array<{ dataset: string, rows: number, cells: string }>> {
    const out: Record<string, Array<{ dataset: string, rows: number, cells: string }>> = {}
    for (const [a, list] of this.byAnalyst) out[a] = list.map(e => ({ dataset: e.dataset, ...e.sketch.toJSON() }))
    return out
  }

  static fromJSON (json: Record<string, Array<{ dataset: string, rows: number, cells: string }>>, settings: DisclosureSettings = DEFAULT_DISCLOSURE, maxEntriesPerAnalyst = 10_000): QueryHistory {
    const h = new QueryHistory(settings, maxEntriesPerAnalyst)
    for (const [a, list] of Object.entries(json)) h.byAnalyst.set(a, list.map(e => ({ dataset: e.dataset, sketch: SubsetSketch.fromJSON(e) })))
    return h
  }
}
