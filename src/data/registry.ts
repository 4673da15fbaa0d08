/**
 * Local datasets: tabular files the owner registers (`plexus data add`) are loaded into a DuckDB
 * database inside the data directory, with their typed schema and the columns the owner allows
 * analysts and federated jobs to use. The data never leaves the node: federated learning reads
 * numeric matrices from here, federated statistics run approved aggregate queries.
 *
 * @packageDocumentation
 */
import { createHash } from 'node:crypto'
import { createReadStream, existsSync, mkdirSync, statSync } from 'node:fs'
import { basename, extname, join, resolve } from 'node:path'
import { z } from 'zod'
import { DuckDBInstance, type DuckDBConnection } from '@duckdb/node-api'
import { PlexusError } from '../errors.js'
import { readJsonFile, writeJsonAtomic } from '../node/json-file.js'
import type { LocalDataset } from '../federated/types.js'

export const DatasetNameSchema = z.string().regex(/^[a-z0-9][a-z0-9_-]{0,63}$/, 'lowercase letters, digits, - and _, at most 64, starting with a letter or digit')

/** Largest file `data add` loads. */
export const MAX_DATASET_BYTES = 2 * 1024 * 1024 * 1024
const MAX_COLUMNS = 4096
const FORMATS = { '.csv': 'csv', '.tsv': 'csv', '.txt': 'csv', '.parquet': 'parquet', '.json': 'json', '.jsonl': 'json', '.ndjson': 'json' } as const

const ColumnSchema = z.strictObject({ name: z.string(), type: z.string() })
const DatasetRecordSchema = z.strictObject({
  name: DatasetNameSchema,
  source: z.string(),
  sha256: z.string(),
  rows: z.number().int(),
  columns: z.array(ColumnSchema),
  /** Columns analysts and federated jobs may use (the owner's declaration). */
  allowedColumns: z.array(z.string()),
  addedAt: z.string()
})
export type DatasetRecord = z.output<typeof DatasetRecordSchema>
const ManifestSchema = z.strictObject({ datasets: z.array(DatasetRecordSchema) })

export interface AddOptions {
  /** Columns analysts may use; default: every column. */
  allowedColumns?: string[]
  /** CSV: the first line holds column names (default true). */
  header?: boolean
  /** CSV: lines to skip before the data (or the header). */
  skipRows?: number
  /** Names for the columns, in order (CSV without a usable header). */
  columnNames?: string[]
}

const NUMERIC = /^(TINYINT|SMALLINT|INTEGER|BIGINT|HUGEINT|UTINYINT|USMALLINT|UINTEGER|UBIGINT|FLOAT|DOUBLE|DECIMAL.*|BOOLEAN)$/

const quoteIdent = (name: string): string => `"${name.replace(/"/g, '""')}"`
const quoteString = (s: string): string => `'${s.replace(/'/g, "''")}'`
const tableOf = (name: string): string => quoteIdent(`ds_${name}`)

async function sha256File (path: string): Promise<string> {
  const hash = createHash('sha256')
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer)
  return hash.digest('hex')
}

export class DataRegistry {
  readonly #dir: string
  readonly #db: DuckDBInstance
  readonly #conn: DuckDBConnection
  #queue: Promise<unknown> = Promise.resolve()

  private constructor (dir: string, db: DuckDBInstance, conn: DuckDBConnection) {
    this.#dir = dir
    this.#db = db
    this.#conn = conn
  }

  /** Opens (creating) the registry in `dir`: `data.duckdb` and `datasets.json`. */
  static async open (dir: string): Promise<DataRegistry> {
    mkdirSync(dir, { recursive: true, mode: 0o700 })
    let db: DuckDBInstance
    try {
      db = await DuckDBInstance.create(join(dir, 'data.duckdb'))
    } catch (err) {
      throw new PlexusError('PLX_ERR_DATASET_IO', [`cannot open ${join(dir, 'data.duckdb')}: ${(err as Error).message}`], { cause: err })
    }
    return new DataRegistry(dir, db, await db.connect())
  }

  get #manifestPath (): string { return join(this.#dir, 'datasets.json') }

  list (): DatasetRecord[] {
    return readJsonFile(this.#manifestPath, ManifestSchema, { datasets: [] }).datasets
  }

  has (name: string): boolean {
    return this.list().some(d => d.name === name)
  }

  get (name: string): DatasetRecord {
    const found = this.list().find(d => d.name === name)
    if (found == null) throw new PlexusError('PLX_ERR_DATASET_NOT_FOUND', [name])
    return found
  }

  /** One statement at a time on the shared connection. */
  async #serial<T> (fn: () => Promise<T>): Promise<T> {
    const run = this.#queue.then(fn, fn)
    this.#queue = run.catch(() => {})
    return await run
  }

  /** Loads a CSV/TSV/Parquet/JSON file as a new dataset. */
  async add (nameInput: string, file: string, options: AddOptions = {}): Promise<DatasetRecord> {
    const parsedName = DatasetNameSchema.safeParse(nameInput)
    if (!parsedName.success) throw new PlexusError('PLX_ERR_DATASET_INVALID', [`name '${String(nameInput).slice(0, 80)}': ${parsedName.error.issues[0]?.message ?? 'invalid'}`])
    const name = parsedName.data
    if (this.has(name)) throw new PlexusError('PLX_ERR_DATASET_EXISTS', [name])
    const path = resolve(file)
    if (!existsSync(path) || !statSync(path).isFile()) throw new PlexusError('PLX_ERR_DATASET_INVALID', [`${file} is not a file`])
    if (statSync(path).size > MAX_DATASET_BYTES) throw new PlexusError('PLX_ERR_DATASET_INVALID', [`${file} is larger than ${MAX_DATASET_BYTES} bytes`])
    const format = FORMATS[extname(path).toLowerCase() as keyof typeof FORMATS]
    if (format == null) throw new PlexusError('PLX_ERR_DATASET_INVALID', [`${basename(path)}: use .csv, .tsv, .parquet, .json or .jsonl`])
    const source = format === 'csv'
      ? `read_csv(${quoteString(path)}, header = ${options.header === false ? 'false' : 'true'}, skip = ${Math.max(0, Math.floor(options.skipRows ?? 0))}${extname(path).toLowerCase() === '.tsv' ? ", delim = '\\t'" : ''})`
      : format === 'parquet' ? `read_parquet(${quoteString(path)})` : `read_json_auto(${quoteString(path)})`
    const table = tableOf(name)
    return await this.#serial(async () => {
      try {
        await this.#conn.run(`CREATE TABLE ${table} AS SELECT * FROM ${source}`)
        let columns = await this.#columns(name)
        if (options.columnNames != null) {
          if (options.columnNames.length !== columns.length) throw new PlexusError('PLX_ERR_DATASET_INVALID', [`${options.columnNames.length} column names given for ${columns.length} columns`])
          const names = options.columnNames.map(n => z.string().min(1).max(128).parse(n))
          if (new Set(names).size !== names.length) throw new PlexusError('PLX_ERR_DATASET_INVALID', ['column names must be unique'])
          for (let i = 0; i < columns.length; i++) {
            if (columns[i]!.name !== names[i]) await this.#conn.run(`ALTER TABLE ${table} RENAME COLUMN ${quoteIdent(columns[i]!.name)} TO ${quoteIdent(names[i]!)}`)
          }
          columns = await this.#columns(name)
        }
        if (columns.length > MAX_COLUMNS) throw new PlexusError('PLX_ERR_DATASET_INVALID', [`more than ${MAX_COLUMNS} columns`])
        const allowed = options.allowedColumns ?? columns.map(c => c.name)
        const unknown = allowed.filter(c => !columns.some(k => k.name === c))
        if (unknown.length > 0) throw new PlexusError('PLX_ERR_DATASET_INVALID', [`unknown column(s) ${unknown.join(', ')}; the file has ${columns.map(c => c.name).join(', ')}`])
        const rows = Number((await this.#conn.runAndReadAll(`SELECT count(*) AS n FROM ${table}`)).getRowObjectsJS()[0]?.n ?? 0)
        const record: DatasetRecord = { name, source: basename(path), sha256: await sha256File(path), rows, columns, allowedColumns: allowed, addedAt: new Date().toISOString() }
        writeJsonAtomic(this.#manifestPath, { datasets: [...this.list(), record] }, 0o600)
        return record
      } catch (err) {
        await this.#conn.run(`DROP TABLE IF EXISTS ${table}`).catch(() => {})
        if (err instanceof PlexusError) throw err
        if (err instanceof z.ZodError) throw new PlexusError('PLX_ERR_DATASET_INVALID', [z.prettifyError(err)])
        throw new PlexusError('PLX_ERR_DATASET_INVALID', [`${basename(path)}: ${(err as Error).message.split('\n')[0] ?? ''}`], { cause: err })
      }
    })
  }

  async #columns (name: string): Promise<Array<{ name: string, type: string }>> {
    const r = await this.#conn.runAndReadAll(`DESCRIBE ${tableOf(name)}`)
    return r.getRowObjectsJS().map(row => ({ name: String(row.column_name), type: String(row.column_type) }))
  }

  async remove (name: string): Promise<void> {
    this.get(name)
    await this.#serial(async () => {
      await this.#conn.run(`DROP TABLE IF EXISTS ${tableOf(name)}`)
      writeJsonAtomic(this.#manifestPath, { datasets: this.list().filter(d => d.name !== name) }, 0o600)
    })
  }

  /**
   * The dataset as a numeric matrix for training: `features` columns (numeric, allowed) and an
   * integer `label` column with classes 0…k−1. Rows with a missing value are refused, not skipped.
   */
  async numeric (name: string, features: string[], label: string): Promise<LocalDataset & { classes: number }> {
    const record = this.get(name)
    for (const c of [...features, label]) {
      const col = record.columns.find(k => k.name === c)
      if (col == null) throw new PlexusError('PLX_ERR_DATASET_INVALID', [`dataset '${name}' has no column '${c}'`])
      if (!record.allowedColumns.includes(c)) throw new PlexusError('PLX_ERR_DATASET_INVALID', [`column '${c}' of dataset '${name}' is not allowed for use`])
      if (!NUMERIC.test(col.type)) throw new PlexusError('PLX_ERR_DATASET_INVALID', [`column '${c}' of dataset '${name}' is ${col.type}, not numeric`])
    }
    const cols = [...features, label].map(quoteIdent).join(', ')
    const result = await this.#serial(async () => await this.#conn.runAndReadAll(`SELECT ${cols} FROM ${tableOf(name)}`))
    const columns = result.getColumnsJS()
    const rows = result.currentRowCount
    const x = new Float32Array(rows * features.length)
    const y = new Int32Array(rows)
    for (let j = 0; j < features.length; j++) {
      const column = columns[j] ?? []
      for (let i = 0; i < rows; i++) {
        const v = column[i]
        if (v == null) throw new PlexusError('PLX_ERR_DATASET_INVALID', [`dataset '${name}' has a missing value in '${features[j]}' (row ${i + 1})`])
        x[i * features.length + j] = Number(v)
      }
    }
    const labels = columns[features.length] ?? []
    let classes = 0
    for (let i = 0; i < rows; i++) {
      const v = Number(labels[i])
      if (!Number.isInteger(v) || v < 0 || v > 100_000) throw new PlexusError('PLX_ERR_DATASET_INVALID', [`label '${label}' must hold class indices 0, 1, …; row ${i + 1} has ${String(labels[i])}`])
      y[i] = v
      classes = Math.max(classes, v + 1)
    }
    return { x, y, rows, features: features.length, classes }
  }

  /**
   * The rows of a dataset that match `where` and have a value in every one of `columns` (complete
   * cases), column by column, with DuckDB's stable row ids. Only for computations inside the node:
   * callers release aggregates, never these values. Column names must already be checked against
   * the dataset's allowed columns.
   */
  async select (name: string, columns: readonly string[], where: { sql: string, params: Array<number | string> } | null): Promise<{ rowids: number[], values: Array<Array<number | string>> }> {
    const record = this.get(name)
    for (const c of columns) if (!record.columns.some(k => k.name === c)) throw new PlexusError('PLX_ERR_DATASET_INVALID', [`dataset '${name}' has no column '${c}'`])
    const conditions = [...(where != null ? [where.sql] : []), ...columns.map(c => `${quoteIdent(c)} IS NOT NULL`)]
    const sql = `SELECT rowid AS "__rowid"${columns.map(c => `, ${quoteIdent(c)}`).join('')} FROM ${tableOf(name)}${conditions.length > 0 ? ` WHERE ${conditions.join(' AND ')}` : ''}`
    const result = await this.#serial(async () => await this.#conn.runAndReadAll(sql, where?.params ?? []))
    const cols = result.getColumnsJS()
    const plain = (v: unknown): number | string => typeof v === 'bigint' ? Number(v) : typeof v === 'boolean' ? (v ? 1 : 0) : typeof v === 'number' ? v : String(v)
    return { rowids: (cols[0] ?? []).map(v => Number(v)), values: columns.map((_c, j) => (cols[j + 1] ?? []).map(plain)) }
  }

  /** Column kinds for the filter language: numeric columns compare with numbers, others with strings. */
  kinds (name: string): Map<string, 'number' | 'string'> {
    const record = this.get(name)
    return new Map(record.columns.filter(c => record.allowedColumns.includes(c.name)).map(c => [c.name, NUMERIC.test(c.type) ? 'number' : 'string']))
  }

  async close (): Promise<void> {
    await this.#queue
    this.#conn.closeSync()
    this.#db.closeSync()
  }
}
