/**
 * The filter language of federated statistics (`--where`), parsed by Plexus and compiled to a
 * parameterised DuckDB `WHERE` clause. Filter text is never pasted into SQL: column names must be
 * in the owner's allowed list (matched exactly) and are emitted as quoted identifiers; every
 * literal becomes a bound parameter.
 *
 * Grammar (keywords are case-insensitive):
 *
 * ```
 * expr      := or
 * or        := and ( OR and )*
 * and       := not ( AND not )*
 * not       := NOT not | primary
 * primary   := '(' expr ')' | predicate
 * predicate := column ( '=' | '!=' | '<>' | '<' | '<=' | '>' | '>=' ) literal
 *            | column [NOT] IN '(' literal ( ',' literal )* ')'
 *            | column IS [NOT] NULL
 * column    := [A-Za-z_][A-Za-z0-9_]*   (not a keyword)  |  '"' ( [^"] | '""' )* '"'
 * literal   := number | '-' number | "'" ( [^'] | "''" )* "'"
 * number    := digits [ '.' digits ] [ ( 'e' | 'E' ) [ '+' | '-' ] digits ]  |  '.' digits ...
 * ```
 *
 * Limits (all configurable): 2,000 characters, nesting depth 16 (parentheses and NOT), 64
 * predicates, 256 values in one `IN` list, 256 characters in one string literal. Anything else —
 * an unknown or disallowed column, a stray `;`, a comment, a malformed literal — is refused with
 * `PLX_ERR_STATS_FILTER_INVALID` before anything runs.
 *
 * @packageDocumentation
 */
import { PlexusError } from '../errors.js'

/** A column's kind, when known: literals compared with it must be of the same kind. */
export type ColumnKind = 'number' | 'string'

/** Allowed columns: names, or names with their kinds (then literals are type-checked). */
export type AllowedColumns = Iterable<string> | ReadonlyMap<string, ColumnKind>

export type ComparisonOp = '=' | '!=' | '<' | '<=' | '>' | '>='
export type Literal = number | string

/** A parsed filter. Column names are exactly as in the allowed list. */
export type FilterExpr =
  | { kind: 'compare', column: string, op: ComparisonOp, value: Literal }
  | { kind: 'in', column: string, values: Literal[], negated: boolean }
  | { kind: 'null', column: string, negated: boolean }
  | { kind: 'and', left: FilterExpr, right: FilterExpr }
  | { kind: 'or', left: FilterExpr, right: FilterExpr }
  | { kind: 'not', operand: FilterExpr }

export interface FilterLimits {
  maxLength: number
  maxDepth: number
  maxPredicates: number
  maxInValues: number
  maxStringLength: number
}

export const DEFAULT_FILTER_LIMITS: Readonly<FilterLimits> = Object.freeze({
  maxLength: 2000,
  maxDepth: 16,
  maxPredicates: 64,
  maxInValues: 256,
  maxStringLength: 256
})

const KEYWORDS = new Set(['AND', 'OR', 'NOT', 'IN', 'IS', 'NULL'])

type Token =
  | { t: 'ident', v: string, pos: number }
  | { t: 'kw', v: string, pos: number }
  | { t: 'num', v: number, pos: number }
  | { t: 'str', v: string, pos: number }
  | { t: 'op', v: string, pos: number }
  | { t: 'eof', pos: number }

function refuse (why: string): PlexusError {
  return new PlexusError('PLX_ERR_STATS_FILTER_INVALID', [why], { param: 'where' })
}

/** A fragment of user text safe to echo in a message: short, printable ASCII only. */
function show (s: string): string {
  const clipped = s.length > 32 ? `${s.slice(0, 32)}...` : s
  return JSON.stringify(clipped.replace(/[^\x20-\x7e]/g, '?'))
}

const NUMBER_RE = /^(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?/
const IDENT_RE = /^[A-Za-z_][A-Za-z0-9_]*/

/** Splits filter text into tokens; refuses any character outside the language. */
export function tokenize (text: string, limits: FilterLimits = DEFAULT_FILTER_LIMITS): Token[] {
  const tokens: Token[] = []
  let i = 0
  while (i < text.length) {
    const c = text[i]!
    if (c === ' ' || c === '\t' || c === '\n' || c === '\r') { i++; continue }
    const rest = text.slice(i, i + 64)
    if (c === "'") {
      let v = ''
      let j = i + 1
      for (;;) {
        if (j >= text.length) throw refuse(`unterminated string literal at position ${i}`)
        const d = text[j]!
        if (d === "'") {
          if (text[j + 1] === "'") { v += "'"; j += 2; continue }
          break
        }
        if (d.charCodeAt(0) < 0x20 || d === '\u007f') throw refuse(`control character in string literal at position ${j}`)
        v += d
        j++
        if (v.length > limits.maxStringLength) throw refuse(`string literal at position ${i} is longer than ${limits.maxStringLength} characters`)
      }
      tokens.push({ t: 'str', v, pos: i })
      i = j + 1
      continue
    }
    if (c === '"') {
      let v = ''
      let j = i + 1
      for (;;) {
        if (j >= text.length) throw refuse(`unterminated quoted column name at position ${i}`)
        const d = text[j]!
        if (d === '"') {
          if (text[j + 1] === '"') { v += '"'; j += 2; continue }
          break
        }
        v += d
        j++
      }
      if (v.length === 0) throw refuse(`empty quoted column name at position ${i}`)
      tokens.push({ t: 'ident', v, pos: i })
      i = j + 1
      continue
    }
    const num = NUMBER_RE.exec(rest)
    if (num != null && (c !== '.' || /\d/.test(text[i + 1] ?? ''))) {
      const after = text[i + num[0].length]
      if (after !== undefined && /[A-Za-z0-9_.]/.test(after)) throw refuse(`malformed number ${show(text.slice(i, i + num[0].length + 8))} at position ${i}`)
      const v = Number(num[0])
      if (!Number.isFinite(v)) throw refuse(`number ${show(num[0])} at position ${i} is out of range`)
      tokens.push({ t: 'num', v, pos: i })
      i += num[0].length
      continue
    }
    const id = IDENT_RE.exec(rest)
    if (id != null) {
      // Read the whole identifier, not only the 64-character window.
      let j = i + id[0].length
      while (j < text.length && /[A-Za-z0-9_]/.test(text[j]!)) j++
      const word = text.slice(i, j)
      const upper = word.toUpperCase()
      tokens.push(KEYWORDS.has(upper) ? { t: 'kw', v: upper, pos: i } : { t: 'ident', v: word, pos: i })
      i = j
      continue
    }
    const two = text.slice(i, i + 2)
    if (two === '<=' || two === '>=' || two === '!=' || two === '<>') {
      tokens.push({ t: 'op', v: two === '<>' ? '!=' : two, pos: i })
      i += 2
      continue
    }
    if (c === '=' || c === '<' || c === '>' || c === '(' || c === ')' || c === ',' || c === '-') {
      tokens.push({ t: 'op', v: c, pos: i })
      i++
      continue
    }
    throw refuse(`unexpected character ${show(c)} at position ${i}`)
  }
  tokens.push({ t: 'eof', pos: text.length })
  return tokens
}

function describeToken (tok: Token): string {
  switch (tok.t) {
    case 'eof': return 'end of filter'
    case 'str': return `string ${show(tok.v)}`
    case 'num': return `number ${tok.v}`
    case 'kw': return tok.v
    case 'ident': return `column ${show(tok.v)}`
    case 'op': return `'${tok.v}'`
  }
}

class Parser {
  private i = 0
  private depth = 0
  private predicates = 0

  constructor (
    private readonly tokens: Token[],
    private readonly allowed: ReadonlySet<string>,
    private readonly kinds: ReadonlyMap<string, ColumnKind> | null,
    private readonly limits: FilterLimits
  ) {}

  private typed (column: string, pos: number, values: Literal[]): void {
    const kind = this.kinds?.get(column)
    if (kind == null) return
    for (const v of values) {
      if (typeof v !== kind) throw refuse(`column ${show(column)} holds ${kind === 'number' ? 'numbers' : 'strings'}; a ${typeof v === 'number' ? 'number' : 'string'} was given at position ${pos}`)
    }
  }

  private peek (): Token { return this.tokens[this.i]! }
  private next (): Token { return this.tokens[this.i++]! }
  private isKw (v: string): boolean { const t = this.peek(); return t.t === 'kw' && t.v === v }
  private isOp (v: string): boolean { const t = this.peek(); return t.t === 'op' && t.v === v }

  private expectOp (v: string): void {
    const t = this.next()
    if (t.t !== 'op' || t.v !== v) throw refuse(`expected '${v}' at position ${t.pos}, found ${describeToken(t)}`)
  }

  parse (): FilterExpr {
    if (this.peek().t === 'eof') throw refuse('the filter is empty')
    const e = this.or()
    const t = this.peek()
    if (t.t !== 'eof') throw refuse(`unexpected ${describeToken(t)} at position ${t.pos}`)
    return e
  }

  private enter (pos: number): void {
    if (++this.depth > this.limits.maxDepth) throw refuse(`nested deeper than ${this.limits.maxDepth} levels at position ${pos}`)
  }

  private or (): FilterExpr {
    let left = this.and()
    while (this.isKw('OR')) { this.next(); left = { kind: 'or', left, right: this.and() } }
    return left
  }

  private and (): FilterExpr {
    let left = this.not()
    while (this.isKw('AND')) { this.next(); left = { kind: 'and', left, right: this.not() } }
    return left
  }

  private not (): FilterExpr {
    if (this.isKw('NOT')) {
      const t = this.next()
      this.enter(t.pos)
      const operand = this.not()
      this.depth--
      return { kind: 'not', operand }
    }
    return this.primary()
  }

  private primary (): FilterExpr {
    if (this.isOp('(')) {
      const t = this.next()
      this.enter(t.pos)
      const e = this.or()
      this.expectOp(')')
      this.depth--
      return e
    }
    return this.predicate()
  }

  private column (): string {
    const t = this.next()
    if (t.t !== 'ident') throw refuse(`expected a column name at position ${t.pos}, found ${describeToken(t)}`)
    if (!this.allowed.has(t.v)) throw refuse(`unknown or disallowed column ${show(t.v)} at position ${t.pos}`)
    return t.v
  }

  private literal (): Literal {
    const t = this.next()
    if (t.t === 'num' || t.t === 'str') return t.v
    if (t.t === 'op' && t.v === '-') {
      const n = this.next()
      if (n.t !== 'num') throw refuse(`expected a number after '-' at position ${n.pos}`)
      return n.v === 0 ? 0 : -n.v
    }
    throw refuse(`expected a number or a 'string' at position ${t.pos}, found ${describeToken(t)}`)
  }

  private predicate (): FilterExpr {
    const start = this.peek().pos
    const column = this.column()
    if (++this.predicates > this.limits.maxPredicates) throw refuse(`more than ${this.limits.maxPredicates} conditions (at position ${start})`)
    if (this.isKw('IS')) {
      this.next()
      let negated = false
      if (this.isKw('NOT')) { this.next(); negated = true }
      const t = this.next()
      if (t.t !== 'kw' || t.v !== 'NULL') throw refuse(`expected NULL at position ${t.pos}, found ${describeToken(t)}`)
      return { kind: 'null', column, negated }
    }
    let negated = false
    if (this.isKw('NOT')) { this.next(); negated = true; if (!this.isKw('IN')) throw refuse(`expected IN after NOT at position ${this.peek().pos}`) }
    if (this.isKw('IN')) {
      this.next()
      this.expectOp('(')
      const values: Literal[] = [this.literal()]
      while (this.isOp(',')) {
        this.next()
        values.push(this.literal())
        if (values.length > this.limits.maxInValues) throw refuse(`IN list at position ${start} has more than ${this.limits.maxInValues} values`)
      }
      this.expectOp(')')
      this.typed(column, start, values)
      return { kind: 'in', column, values, negated }
    }
    const t = this.next()
    if (t.t !== 'op' || !['=', '!=', '<', '<=', '>', '>='].includes(t.v)) {
      throw refuse(`expected a comparison (= != < <= > >=), IN or IS after the column at position ${t.pos}, found ${describeToken(t)}`)
    }
    const value = this.literal()
    this.typed(column, start, [value])
    return { kind: 'compare', column, op: t.v as ComparisonOp, value }
  }
}

/**
 * Parses filter text against the allowed columns (with their kinds, when given as a map, so that
 * `age = 'x'` is refused here rather than failing in DuckDB). Throws `PLX_ERR_STATS_FILTER_INVALID` for
 * anything outside the language or the limits.
 */
export function parseFilter (text: string, allowedColumns: AllowedColumns, limits: Partial<FilterLimits> = {}): FilterExpr {
  const lim: FilterLimits = { ...DEFAULT_FILTER_LIMITS, ...limits }
  if (typeof text !== 'string') throw refuse('the filter must be a string')
  if (text.length > lim.maxLength) throw refuse(`the filter is ${text.length} characters long; the limit is ${lim.maxLength}`)
  const kinds = allowedColumns instanceof Map ? allowedColumns as ReadonlyMap<string, ColumnKind> : null
  const allowed = new Set(kinds != null ? kinds.keys() : allowedColumns as Iterable<string>)
  return new Parser(tokenize(text, lim), allowed, kinds, lim).parse()
}

/** DuckDB quoted identifier: `"name"` with inner quotes doubled. Refuses NUL and empty names. */
export function quoteIdentifier (name: string): string {
  if (name.length === 0 || name.includes('\u0000')) throw refuse('unusable column name')
  return `"${name.replace(/"/g, '""')}"`
}

export interface CompiledFilter {
  /** A parenthesised SQL boolean expression, to follow `WHERE`. */
  sql: string
  /** Values for the placeholders, in order. */
  params: Literal[]
}

export interface CompileOptions {
  /** `'?'` (default) or `'$n'` numbered placeholders. */
  placeholder?: '?' | '$n'
  /** First number for `$n` placeholders (default 1), to follow parameters of the rest of the query. */
  firstIndex?: number
}

/** Compiles a parsed filter to a parameterised DuckDB boolean expression. */
export function compileFilter (expr: FilterExpr, options: CompileOptions = {}): CompiledFilter {
  const params: Literal[] = []
  const numbered = options.placeholder === '$n'
  const first = options.firstIndex ?? 1
  const param = (v: Literal): string => {
    params.push(v)
    return numbered ? `$${first + params.length - 1}` : '?'
  }
  const go = (e: FilterExpr): string => {
    switch (e.kind) {
      case 'compare': return `(${quoteIdentifier(e.column)} ${e.op === '!=' ? '<>' : e.op} ${param(e.value)})`
      case 'in': return `(${quoteIdentifier(e.column)} ${e.negated ? 'NOT IN' : 'IN'} (${e.values.map(param).join(', ')}))`
      case 'null': return `(${quoteIdentifier(e.column)} IS ${e.negated ? 'NOT NULL' : 'NULL'})`
      case 'and': return `(${go(e.left)} AND ${go(e.right)})`
      case 'or': return `(${go(e.left)} OR ${go(e.right)})`
      case 'not': return `(NOT ${go(e.operand)})`
    }
  }
  return { sql: go(expr), params }
}

/** Parses and compiles in one step. */
export function compileWhere (text: string, allowedColumns: AllowedColumns, options: CompileOptions & { limits?: Partial<FilterLimits> } = {}): CompiledFilter {
  return compileFilter(parseFilter(text, allowedColumns, options.limits), options)
}

/** The columns a filter reads, each once, in first-use order. */
export function filterColumns (expr: FilterExpr): string[] {
  const out = new Set<string>()
  const go = (e: FilterExpr): void => {
    if (e.kind === 'and' || e.kind === 'or') { go(e.left); go(e.right) } else if (e.kind === 'not') go(e.operand)
    else out.add(e.column)
  }
  go(expr)
  return [...out]
}

/**
 * Evaluates a filter on one row with SQL's three-valued logic (`null` = unknown; a row is kept
 * only when the result is `true`). Used to select rows without a database, and by tests to check
 * that the compiled SQL means the same thing.
 */
export function evaluateFilter (expr: FilterExpr, row: Readonly<Record<string, Literal | null | undefined>>): boolean | null {
  const cmp = (a: Literal, b: Literal): number | null => {
    if (typeof a !== typeof b) return null
    return a < b ? -1 : a > b ? 1 : 0
  }
  switch (expr.kind) {
    case 'compare': {
      const v = row[expr.column]
      if (v == null) return null
      const c = cmp(v, expr.value)
      if (c == null) return null
      switch (expr.op) {
        case '=': return c === 0
        case '!=': return c !== 0
        case '<': return c < 0
        case '<=': return c <= 0
        case '>': return c > 0
        case '>=': return c >= 0
      }
      return null
    }
    case 'in': {
      const v = row[expr.column]
      if (v == null) return null
      const hit = expr.values.some(x => cmp(v, x) === 0)
      return expr.negated ? !hit : hit
    }
    case 'null': {
      const isNull = row[expr.column] == null
      return expr.negated ? !isNull : isNull
    }
    case 'not': {
      const r = evaluateFilter(expr.operand, row)
      return r == null ? null : !r
    }
    case 'and': {
      const l = evaluateFilter(expr.left, row)
      const r = evaluateFilter(expr.right, row)
      if (l === false || r === false) return false
      return l == null || r == null ? null : true
    }
    case 'or': {
      const l = evaluateFilter(expr.left, row)
      const r = evaluateFilter(expr.right, row)
      if (l === true || r === true) return true
      return l == null || r == null ? null : false
    }
  }
}
