import { describe, it, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { DuckDBInstance, type DuckDBConnection } from '@duckdb/node-api'
import {
  parseFilter, compileWhere, compileFilter, filterColumns, evaluateFilter, quoteIdentifier, tokenize, DEFAULT_FILTER_LIMITS, type Literal
} from '../../../src/analytics/expression.js'
import { isPlexusError } from '../../../src/errors.js'

const COLS = ['age', 'sex', 'bmi', 'bp', 's5', 'name', 'weird col']

function refused (fn: () => unknown, fragment?: RegExp): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(isPlexusError(e), `expected a PlexusError, got ${String(e)}`)
    assert.equal(e.code, 'PLX_ERR_STATS_FILTER_INVALID')
    assert.equal(e.statusCode, 400)
    if (fragment != null) assert.match(e.message, fragment)
    return true
  })
}

describe('filter expression: parsing and compiling', () => {
  it('compiles comparisons to quoted identifiers and ? parameters', () => {
    const c = compileWhere("age >= 50 AND sex = 2 OR name != 'O''Brien'", COLS)
    assert.equal(c.sql, '((("age" >= ?) AND ("sex" = ?)) OR ("name" <> ?))')
    assert.deepEqual(c.params, [50, 2, "O'Brien"])
  })

  it('supports every operator, IN, NOT IN, IS [NOT] NULL, NOT and parentheses with SQL precedence', () => {
    const c = compileWhere('NOT (age < 30 OR age > 60) AND bmi <= 25.5 AND bp <> -1e2 AND s5 IN (4, 4.5, -.5) AND sex NOT IN (1) AND name IS NOT NULL AND bp IS NULL', COLS, { placeholder: '$n' })
    assert.equal(c.sql, '(((((((NOT (("age" < $1) OR ("age" > $2))) AND ("bmi" <= $3)) AND ("bp" <> $4)) AND ("s5" IN ($5, $6, $7))) AND ("sex" NOT IN ($8))) AND ("name" IS NOT NULL)) AND ("bp" IS NULL))')
    assert.deepEqual(c.params, [30, 60, 25.5, -100, 4, 4.5, -0.5, 1])
  })

  it('numbers $n placeholders from firstIndex, keywords in any case, quoted column names', () => {
    const c = compileWhere('"weird col" = 1 and Age in (2,3)'.replace('Age', 'age'), COLS, { placeholder: '$n', firstIndex: 4 })
    assert.equal(c.sql, '(("weird col" = $4) AND ("age" IN ($5, $6)))')
    assert.deepEqual(filterColumns(parseFilter('age = 1 OR (bmi > 2 AND age < 3)', COLS)), ['age', 'bmi'])
  })

  it('AND binds tighter than OR; NOT applies to the next term only', () => {
    const e = parseFilter('age = 1 OR bmi = 2 AND NOT bp = 3', COLS)
    assert.equal(e.kind, 'or')
    assert.equal(compileFilter(e).sql, '(("age" = ?) OR (("bmi" = ?) AND (NOT ("bp" = ?))))')
  })

  it('refuses unknown and disallowed columns, matching names exactly', () => {
    refused(() => parseFilter('height > 3', COLS), /unknown or disallowed column "height"/)
    refused(() => parseFilter('AGE > 3', COLS), /disallowed column/)
    refused(() => parseFilter('"age " > 3', COLS), /disallowed column/)
  })

  it('refuses injection attempts in names and values', () => {
    const attempts = [
      'age = 1; DROP TABLE t',
      "age = 1 --",
      'age = 1 /* x */',
      '"age"" OR 1=1 --" = 1',
      'age"; DROP TABLE t; --" = 1',
      "name = 'x' OR '1'='1'",
      "name = 'unterminated",
      'age = 1 UNION SELECT * FROM secrets',
      'age = (SELECT max(age) FROM t)',
      'age = age',
      'read_csv(\'/etc/passwd\') = 1',
      'age = 0x10',
      'age = 1e999',
      'age = 12abc',
      'age = 1.2.3',
      "name = 'a\u0000b'",
      'age = 1 OR TRUE',
      '1 = 1',
      ''
    ]
    for (const a of attempts) refused(() => compileWhere(a, COLS))
    // A value containing SQL is just a string parameter.
    const c = compileWhere("name = 'x''); DROP TABLE t; --'", COLS)
    assert.equal(c.sql, '("name" = ?)')
    assert.deepEqual(c.params, ["x'); DROP TABLE t; --"])
  })

  it('enforces length, depth, predicate, IN-list and string limits', () => {
    refused(() => parseFilter('age = 1 AND '.repeat(200) + 'age = 1', COLS), /limit is 2000/)
    refused(() => parseFilter('('.repeat(17) + 'age = 1' + ')'.repeat(17), COLS), /nested deeper than 16/)
    parseFilter('('.repeat(16) + 'age = 1' + ')'.repeat(16), COLS)
    refused(() => parseFilter('NOT '.repeat(17) + 'age = 1', COLS), /nested deeper/)
    refused(() => parseFilter(Array.from({ length: 65 }, () => 'age=1').join(' OR '), COLS), /more than 64 conditions/)
    refused(() => parseFilter(`age IN (${Array.from({ length: 257 }, (_, i) => i).join(',')})`, COLS), /more than 256 values/)
    refused(() => parseFilter(`name = '${'x'.repeat(257)}'`, COLS), /longer than 256/)
    refused(() => parseFilter('age = 1', COLS, { maxLength: 5 }), /limit is 5/)
    assert.equal(DEFAULT_FILTER_LIMITS.maxLength, 2000)
  })

  it('gives positions in syntax errors and never echoes long or non-printable input', () => {
    refused(() => parseFilter('age >', COLS), /position 5/)
    refused(() => parseFilter('age = 1 bmi = 2', COLS), /unexpected column "bmi" at position 8/)
    refused(() => parseFilter(`${'x'.repeat(100)} = 1`, COLS), /"x{32}\.\.\."/)
    refused(() => parseFilter('age = 1 \u202e', COLS), /unexpected character "\?"/)
    assert.equal(tokenize('a<>b').at(1)?.t, 'op')
  })

  it('type-checks literals when the column kinds are given', () => {
    const kinds = new Map([['age', 'number'], ['name', 'string']] as const)
    assert.deepEqual(compileWhere("age > 3 AND name IN ('a', 'b')", kinds).params, [3, 'a', 'b'])
    refused(() => parseFilter("age = '3'", kinds), /column "age" holds numbers; a string was given at position 0/)
    refused(() => parseFilter("name IN ('a', 2)", kinds), /holds strings/)
    refused(() => parseFilter('bmi = 3', kinds), /disallowed column "bmi"/)
  })

  it('quotes identifiers by doubling quotes', () => {
    assert.equal(quoteIdentifier('a"b'), '"a""b"')
    refused(() => quoteIdentifier(''))
  })
})

describe('filter expression: the compiled SQL means the same as the parsed filter (DuckDB)', () => {
  let db: DuckDBInstance
  let conn: DuckDBConnection
  const rows: Array<Record<string, Literal | null>> = []
  for (let i = 0; i < 60; i++) {
    rows.push({ id: i, age: 20 + (i * 7) % 50, sex: 1 + (i % 2), bmi: i % 9 === 0 ? null : 18 + (i * 13) % 20 / 2, name: i % 5 === 0 ? null : `p${i % 7}'x` })
  }

  before(async () => {
    db = await DuckDBInstance.create(':memory:')
    conn = await db.connect()
    await conn.run('CREATE TABLE t (id INTEGER, age INTEGER, sex INTEGER, bmi DOUBLE, name VARCHAR)')
    for (const r of rows) await conn.run('INSERT INTO t VALUES ($1, $2, $3, $4, $5)', [r.id, r.age, r.sex, r.bmi, r.name] as never)
  })
  after(() => { conn.closeSync(); db.closeSync() })

  const filters = [
    'age >= 40',
    'age < 30 OR bmi > 25',
    'NOT (bmi > 20)',
    'bmi IS NULL OR name IS NULL',
    "name = 'p3''x'",
    "name != 'p3''x' AND sex = 1",
    'sex IN (1) AND age NOT IN (20, 27, 34)',
    'NOT (age > 30 AND bmi <= 22.5) OR name IS NOT NULL AND sex <> 2',
    "name = 'x''); DROP TABLE t; --'"
  ]
  for (const f of filters) {
    it(f, async () => {
      const c = compileWhere(f, ['age', 'sex', 'bmi', 'name'], { placeholder: '$n' })
      const r = await conn.runAndReadAll(`SELECT id FROM t WHERE ${c.sql} ORDER BY id`, c.params as never)
      const got = r.getRowObjectsJS().map(o => Number(o.id))
      const expr = parseFilter(f, ['age', 'sex', 'bmi', 'name'])
      const want = rows.filter(row => evaluateFilter(expr, row) === true).map(row => row.id as number)
      assert.deepEqual(got, want)
      const n = Number((await conn.runAndReadAll('SELECT count(*) AS n FROM t')).getRowObjectsJS()[0]?.n)
      assert.equal(n, 60)
    })
  }
})
