import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import {
  DEFAULT_DISCLOSURE, disclosureSettings, checkSubset, checkTable, checkGlm, checkLevels, checkDominance, dominanceSummary,
  combine, assertAllowed, SubsetSketch, QueryHistory, SKETCH_CELLS
} from '../../../src/analytics/disclosure.js'
import { isPlexusError } from '../../../src/errors.js'
import { seededRandom } from '../../../src/random.js'

function hasCode (code: string) {
  return (e: unknown): boolean => { assert.ok(isPlexusError(e)); assert.equal(e.code, code); return true }
}

const rng = seededRandom

const range = (a: number, b: number): number[] => Array.from({ length: b - a }, (_, i) => a + i)

describe('disclosure settings', () => {
  it('has DataSHIELD defaults', () => {
    assert.equal(DEFAULT_DISCLOSURE.tab, 3)
    assert.equal(DEFAULT_DISCLOSURE.subset, 3)
    assert.equal(DEFAULT_DISCLOSURE.glm, 0.33)
    assert.equal(DEFAULT_DISCLOSURE.levelsMax, 40)
    assert.equal(DEFAULT_DISCLOSURE.dominanceShare, 0.9)
    assert.deepEqual(disclosureSettings(), { ...DEFAULT_DISCLOSURE })
    assert.equal(disclosureSettings({ tab: 5 }).tab, 5)
  })
  it('refuses out-of-range settings', () => {
    for (const bad of [{ tab: -1 }, { subset: 2.5 }, { glm: 0 }, { glm: 1.5 }, { dominanceShare: Number.NaN }, { levelsMax: 1 }, { dominanceTop: 0 }]) {
      assert.throws(() => disclosureSettings(bad), hasCode('PLX_ERR_STATS_CONFIG_INVALID'))
    }
  })
})

describe('disclosure rules', () => {
  it('subset: at least nfilter.subset rows, and never an empty subset', () => {
    assert.equal(checkSubset(3).allowed, true)
    assert.deepEqual(checkSubset(2), { allowed: false, rule: 'subset', reason: 'the subset has fewer than 3 rows (nfilter.subset)' })
    assert.equal(checkSubset(0).allowed, false)
    assert.equal(checkSubset(0, disclosureSettings({ subset: 0 })).allowed, false)
    assert.equal(checkSubset(4, disclosureSettings({ subset: 5 })).allowed, false)
    assert.throws(() => checkSubset(-1), hasCode('PLX_ERR_STATS_CONFIG_INVALID'))
  })
  it('table: zero cells pass, cells 1..tab-1 are refused', () => {
    assert.equal(checkTable([0, 3, 10, 0]).allowed, true)
    const v = checkTable([5, 1, 2, 8])
    assert.equal(v.allowed, false)
    assert.equal(v.rule, 'table')
    assert.match(v.reason, /2 non-zero cell\(s\) below 3/)
    assert.equal(checkTable(new Float64Array([4, 4])).allowed, true)
    assert.throws(() => checkTable([1.5]), hasCode('PLX_ERR_STATS_CONFIG_INVALID'))
  })
  it('glm: parameters <= 0.33 n, and the subset rule', () => {
    assert.equal(checkGlm(100, 33).allowed, true)
    assert.equal(checkGlm(100, 34).rule, 'glm')
    assert.equal(checkGlm(2, 0).rule, 'subset')
    assert.equal(checkGlm(442, 11).allowed, true)
  })
  it('levels: at most levelsMax, and at most levelsDensity per row', () => {
    assert.equal(checkLevels(40, 1000).allowed, true)
    assert.equal(checkLevels(41, 1000).rule, 'levels')
    assert.equal(checkLevels(10, 30).allowed, false)
    assert.equal(checkLevels(9, 30).allowed, true)
  })
  it('dominance: the largest |value| may hold at most the configured share of the total', () => {
    assert.deepEqual(dominanceSummary([1, -2, 3, 4]), { top: 4, total: 10 })
    assert.deepEqual(dominanceSummary([1, -2, 3, 4], 2), { top: 7, total: 10 })
    assert.equal(checkDominance(dominanceSummary([10, 10, 10])).allowed, true)
    const v = checkDominance(dominanceSummary([1, 1, 1, 1000]))
    assert.equal(v.allowed, false)
    assert.equal(v.rule, 'dominance')
    // Signs cannot hide a dominant value: +1000 and -999 net to 1 but |values| are counted.
    assert.equal(checkDominance(dominanceSummary([1000, -999, 1, 1])).allowed, true)
    assert.equal(checkDominance(dominanceSummary([1000, -1, 1, 1])).allowed, false)
    assert.equal(checkDominance({ top: 0, total: 0 }).allowed, true)
    const s = disclosureSettings({ dominanceShare: 0.8, dominanceTop: 2 })
    assert.equal(checkDominance(dominanceSummary([50, 40, 5, 5], 2), s).allowed, false)
    assert.equal(checkDominance(dominanceSummary([30, 30, 20, 20], 2), s).allowed, true)
    assert.throws(() => checkDominance({ top: 2, total: 1 }), hasCode('PLX_ERR_STATS_CONFIG_INVALID'))
    assert.throws(() => dominanceSummary([1, Number.POSITIVE_INFINITY]), hasCode('PLX_ERR_STATS_CONFIG_INVALID'))
  })
  it('combine returns the first refusal; assertAllowed throws PLX_ERR_STATS_DISCLOSURE', () => {
    assert.equal(combine(checkSubset(10), checkTable([1]), checkGlm(1, 1)).rule, 'table')
    assert.equal(combine(checkSubset(10)).allowed, true)
    assertAllowed(checkSubset(10))
    assert.throws(() => assertAllowed(checkTable([2])), (e: unknown) => {
      assert.ok(isPlexusError(e))
      assert.equal(e.code, 'PLX_ERR_STATS_DISCLOSURE')
      assert.equal(e.statusCode, 403)
      assert.match(e.message, /\[table\]/)
      return true
    })
  })
})

describe('subset sketches', () => {
  it('have constant size and measure small differences exactly', () => {
    const a = SubsetSketch.of(range(0, 10_000))
    assert.equal(a.cells.byteLength, SKETCH_CELLS * 16)
    assert.equal(JSON.stringify(a.toJSON()).length < 3000, true)
    assert.equal(a.differenceLowerBound(SubsetSketch.of(range(0, 10_000))), 0)
    assert.equal(a.differenceLowerBound(SubsetSketch.of(range(1, 10_000))), 1)
    // Same size, one person swapped for another: difference 2 though the counts are equal.
    assert.equal(a.differenceLowerBound(SubsetSketch.of([...range(1, 10_000), 123_456])), 2)
    assert.equal(a.differenceLowerBound(SubsetSketch.of([...range(0, 5_000), ...range(5_002, 10_000), 2 ** 40, 2 ** 52 + 7])), 4)
  })

  it('never under-reports small differences (random subsets, many trials)', () => {
    const r = rng(42)
    for (let trial = 0; trial < 300; trial++) {
      const n = 3 + Math.floor(r() * 2000)
      const base = new Set<number>()
      while (base.size < n) base.add(Math.floor(r() * 1e9))
      const other = new Set(base)
      const removals = Math.floor(r() * 4)
      const additions = Math.floor(r() * 4)
      const ids = [...base]
      for (let i = 0; i < removals && other.size > 0; i++) other.delete(ids[Math.floor(r() * ids.length)]!)
      for (let i = 0; i < additions; i++) other.add(1e9 + Math.floor(r() * 1e9))
      let diff = 0
      for (const x of base) if (!other.has(x)) diff++
      for (const x of other) if (!base.has(x)) diff++
      const lb = SubsetSketch.of(base).differenceLowerBound(SubsetSketch.of(other))
      assert.ok(lb <= diff, `a lower bound: ${lb} <= ${diff}`)
      assert.equal(lb, diff, `exact for small differences (trial ${trial})`)
    }
  })

  it('reports large differences as large', () => {
    const r = rng(7)
    for (let trial = 0; trial < 50; trial++) {
      const lo = Math.floor(r() * 1000)
      const a = SubsetSketch.of(range(0, 3000))
      const b = SubsetSketch.of(range(lo, lo + 2990 + Math.floor(r() * 20)))
      assert.ok(a.differenceLowerBound(b) >= 3)
    }
    assert.ok(SubsetSketch.of(range(0, 500)).differenceLowerBound(SubsetSketch.of(range(1000, 1500))) >= 32)
  })

  it('round-trips through JSON and refuses damaged ones and bad ids', () => {
    const a = SubsetSketch.of([5, 9, 12, 2 ** 53 - 1])
    const b = SubsetSketch.fromJSON(JSON.parse(JSON.stringify(a.toJSON())))
    assert.equal(b.rows, 4)
    assert.equal(a.differenceLowerBound(b), 0)
    assert.throws(() => SubsetSketch.fromJSON({ rows: 1, cells: 'AAAA' }), hasCode('PLX_ERR_STATS_CONFIG_INVALID'))
    assert.throws(() => SubsetSketch.of([-1]), hasCode('PLX_ERR_STATS_CONFIG_INVALID'))
    assert.throws(() => SubsetSketch.of([1.5]), hasCode('PLX_ERR_STATS_CONFIG_INVALID'))
  })
})

describe('differencing protection', () => {
  it('refuses "a subset, then the subset minus one person"; allows repeats and well-separated subsets', () => {
    const h = new QueryHistory()
    const everyone = SubsetSketch.of(range(0, 442))
    assert.equal(h.check('alice', 'diabetes', everyone).allowed, true)
    h.record('alice', 'diabetes', everyone)
    const minusOne = SubsetSketch.of(range(1, 442))
    const v = h.check('alice', 'diabetes', minusOne)
    assert.equal(v.allowed, false)
    assert.equal(v.rule, 'differencing')
    assert.equal(h.check('alice', 'diabetes', SubsetSketch.of(range(2, 442))).allowed, false)
    assert.equal(h.check('alice', 'diabetes', SubsetSketch.of(range(3, 442))).allowed, true)
    assert.equal(h.check('alice', 'diabetes', everyone).allowed, true, 'the same subset again reveals nothing new')
    // Other analysts and other datasets have their own history.
    assert.equal(h.check('bob', 'diabetes', minusOne).allowed, true)
    assert.equal(h.check('alice', 'other', minusOne).allowed, true)
    // Recording the same subset twice stores it once.
    h.record('alice', 'diabetes', SubsetSketch.of(range(0, 442)))
    assert.equal(h.entries('alice').length, 1)
  })

  it('catches the attack from either side and against any earlier subset', () => {
    const h = new QueryHistory(disclosureSettings({ subset: 5 }))
    h.record('a', 'd', SubsetSketch.of(range(100, 200)))
    h.record('a', 'd', SubsetSketch.of(range(0, 50)))
    assert.equal(h.check('a', 'd', SubsetSketch.of([...range(0, 50), 999])).allowed, false)
    assert.equal(h.check('a', 'd', SubsetSketch.of(range(100, 196))).allowed, false)
    assert.equal(h.check('a', 'd', SubsetSketch.of(range(100, 195))).allowed, true)
  })

  it('survives JSON persistence, is bounded per analyst, and can forget', () => {
    const h = new QueryHistory(DEFAULT_DISCLOSURE, 2)
    h.record('a', 'd', SubsetSketch.of(range(0, 100)))
    h.record('a', 'd', SubsetSketch.of(range(200, 300)))
    const full = h.check('a', 'd', SubsetSketch.of(range(400, 500)))
    assert.equal(full.allowed, false)
    assert.match(full.reason, /history of this analyst is full/)
    assert.equal(h.check('a', 'd', SubsetSketch.of(range(0, 100))).allowed, true)
    const restored = QueryHistory.fromJSON(JSON.parse(JSON.stringify(h.toJSON())), DEFAULT_DISCLOSURE, 2)
    assert.equal(restored.check('a', 'd', SubsetSketch.of(range(0, 99))).allowed, false)
    restored.forget('a')
    assert.equal(restored.check('a', 'd', SubsetSketch.of(range(0, 99))).allowed, true)
  })
})
