import { existsSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { InvalidArgumentError, type Command } from 'commander'
import { z } from 'zod'
import { PlexusError, plexusErrorFromWire } from '../../errors.js'
import { ensureDataDir, resolveDataDir } from '../../node/data-dir.js'
import { DataRegistry, DatasetNameSchema, type DatasetRecord, type AddOptions } from '../../data/registry.js'
import { runningNode, callNode, NodeApiError, type NodeTarget } from '../client.js'
import { output, table, type GlobalOptions } from '../output.js'
import { intOption } from '../parse.js'

/**
 * An error answer from the node as the PlexusError it was on the node (same code, same sentence),
 * so that `--json` reports the real code; anything else unchanged.
 */
export function fromNode (err: unknown): unknown {
  if (!(err instanceof NodeApiError) || err.code == null) return err
  return plexusErrorFromWire(err.code, err.message, { cause: err }) ?? err
}

/** Runs a node call, turning the node's error answers back into PlexusErrors. */
export async function viaNode<T> (fn: () => Promise<T>): Promise<T> {
  try { return await fn() } catch (err) { throw fromNode(err) }
}

/** A dataset name as the registry accepts it, or a one-sentence error. */
export function datasetName (name: string): string {
  const r = DatasetNameSchema.safeParse(name)
  if (!r.success) throw new PlexusError('PLX_ERR_BAD_REQUEST', [`Invalid dataset name '${name}': use lowercase letters, digits, - and _ (at most 64, starting with a letter or digit)`])
  return r.data
}

const ColumnList = z.array(z.string().trim().min(1).max(128)).min(1).max(4096)

/** `a,b,c` for --columns and --names (commander parser: a bad list is a usage error). */
function columnList (flag: string): (value: string) => string[] {
  return (value: string) => {
    const r = ColumnList.safeParse(value.split(','))
    if (!r.success) throw new InvalidArgumentError(`${flag} takes column names separated by commas (no empty names, at most 128 characters each).`)
    if (new Set(r.data).size !== r.data.length) throw new InvalidArgumentError(`${flag} names a column twice.`)
    return r.data
  }
}

/** What the `plexus data` commands need: the running node's API, or the registry opened here. */
interface DataBackend {
  readonly kind: 'node' | 'local'
  list: () => Promise<DatasetRecord[]>
  get: (name: string) => Promise<DatasetRecord>
  add: (name: string, file: string, options: AddOptions) => Promise<DatasetRecord>
  remove: (name: string) => Promise<void>
  close: () => Promise<void>
}

class NodeDataBackend implements DataBackend {
  readonly kind = 'node' as const
  constructor (readonly target: NodeTarget) {}
  async list (): Promise<DatasetRecord[]> {
    return (await viaNode(async () => await callNode<{ datasets: DatasetRecord[] }>(this.target, 'GET', '/api/plexus/data'))).datasets
  }

  async get (name: string): Promise<DatasetRecord> {
    return await viaNode(async () => await callNode<DatasetRecord>(this.target, 'GET', `/api/plexus/data/${name}`))
  }

  async add (name: string, file: string, o: AddOptions): Promise<DatasetRecord> {
    // The node reads the file itself: on this machine, an absolute path means the same to it.
    const body = { name, path: file, allowed_columns: o.allowedColumns, header: o.header, skip_rows: o.skipRows, column_names: o.columnNames }
    return await viaNode(async () => await callNode<DatasetRecord>(this.target, 'POST', '/api/plexus/data', body))
  }

  async remove (name: string): Promise<void> {
    await viaNode(async () => await callNode(this.target, 'DELETE', `/api/plexus/data/${name}`))
  }

  async close (): Promise<void> {}
}

/** No node runs: DuckDB is opened here (it allows one process) and closed when the command ends. */
class LocalDataBackend implements DataBackend {
  readonly kind = 'local' as const
  #registry: DataRegistry | null = null
  constructor (readonly dir: string) {}

  /** Reading commands on a data directory that never held a dataset create nothing. */
  get #empty (): boolean { return !existsSync(join(this.dir, 'datasets.json')) }

  async #open (): Promise<DataRegistry> {
    this.#registry ??= await DataRegistry.open(this.dir)
    return this.#registry
  }

  async list (): Promise<DatasetRecord[]> { return this.#empty ? [] : (await this.#open()).list() }
  async get (name: string): Promise<DatasetRecord> {
    if (this.#empty) throw new PlexusError('PLX_ERR_DATASET_NOT_FOUND', [name])
    return (await this.#open()).get(name)
  }

  async add (name: string, file: string, o: AddOptions): Promise<DatasetRecord> { return await (await this.#open()).add(name, file, o) }
  async remove (name: string): Promise<void> {
    if (this.#empty) throw new PlexusError('PLX_ERR_DATASET_NOT_FOUND', [name])
    await (await this.#open()).remove(name)
  }

  async close (): Promise<void> { await this.#registry?.close() }
}

/** The running node if there is one on the data dir (or at --url), else the registry directly. */
async function dataBackend (opts: UrlOption, g: GlobalOptions, create: boolean): Promise<DataBackend> {
  const node = runningNode(opts, g)
  if (node != null) return new NodeDataBackend(node)
  const dataDir = resolveDataDir(g.dataDir)
  if (create) ensureDataDir(dataDir)
  return new LocalDataBackend(join(dataDir, 'data'))
}

async function withBackend<T> (opts: UrlOption, g: GlobalOptions, create: boolean, fn: (b: DataBackend) => Promise<T>): Promise<T> {
  const backend = await dataBackend(opts, g, create)
  try {
    return await fn(backend)
  } finally {
    await backend.close()
  }
}

function allowedSummary (d: DatasetRecord): string {
  return d.allowedColumns.length === d.columns.length ? 'all' : `${d.allowedColumns.length} of ${d.columns.length}`
}

/** The datasets as a table (name, rows, columns, allowed, source). */
export function datasetsTable (datasets: DatasetRecord[]): string {
  if (datasets.length === 0) return 'No datasets yet; register one with `plexus data add NAME FILE`.'
  return table(['NAME', 'ROWS', 'COLUMNS', 'ALLOWED', 'SOURCE', 'ADDED'], datasets.map(d => [
    d.name, d.rows, d.columns.length, allowedSummary(d), d.source, d.addedAt.slice(0, 19).replace('T', ' ')
  ]))
}

/** One dataset: its figures, then each column with its type and whether jobs may use it. */
export function describeDataset (d: DatasetRecord): string {
  return [
    `name     ${d.name}`,
    `source   ${d.source} (sha256 ${d.sha256.slice(0, 16)}…)`,
    `rows     ${d.rows}`,
    `columns  ${d.columns.length}, ${allowedSummary(d)} allowed for analysis and federated jobs`,
    `added    ${d.addedAt}`,
    '',
    table(['COLUMN', 'TYPE', 'ALLOWED'], d.columns.map(c => [c.name, c.type, d.allowedColumns.includes(c.name) ? 'yes' : 'no']))
  ].join('\n')
}

interface UrlOption { url?: string }
interface AddFlags extends UrlOption { columns?: string[], header?: boolean, skip?: number, names?: string[] }
const URL_HELP = 'node to use (default: the one running on the data directory, else the data directory itself; or PLEXUS_URL)'

export function registerData (program: Command): void {
  const data = program.command('data').description('local datasets for federated learning: they never leave this node')

  data
    .command('add')
    .description('register a local dataset from a CSV, TSV, Parquet or JSON file (the node reads the file from this machine)')
    .argument('<name>', 'dataset name: lowercase letters, digits, - and _')
    .argument('<file>', 'the file to load')
    .option('--columns <a,b,c>', 'the only columns analysts and federated jobs may use (default: all)', columnList('--columns'))
    .option('--no-header', 'CSV: the first line is data, not column names')
    .option('--skip <n>', 'CSV: lines to skip before the header (or the data)', intOption('--skip', 0, 1_000_000))
    .option('--names <a,b,c>', 'names for the columns, in order (a CSV without a usable header)', columnList('--names'))
    .option('--url <url>', URL_HELP)
    .action(async (nameArg: string, file: string, opts: AddFlags, cmd: Command) => {
      const g = cmd.optsWithGlobals<GlobalOptions>()
      const name = datasetName(nameArg)
      const path = resolve(file)
      if (!existsSync(path)) throw new PlexusError('PLX_ERR_DATASET_INVALID', [`${file} does not exist`])
      const record = await withBackend(opts, g, true, async b => await b.add(name, path, {
        allowedColumns: opts.columns, header: opts.header === false ? false : undefined, skipRows: opts.skip, columnNames: opts.names
      }))
      output(g.json, record, () => `Added dataset '${record.name}': ${record.rows} rows, ${record.columns.length} columns (${allowedSummary(record)} allowed) from ${record.source}.`)
    })

  data
    .command('ls')
    .description('list the local datasets')
    .option('--url <url>', URL_HELP)
    .action(async (opts: UrlOption, cmd: Command) => {
      const g = cmd.optsWithGlobals<GlobalOptions>()
      const datasets = await withBackend(opts, g, false, async b => await b.list())
      output(g.json, { datasets }, () => datasetsTable(datasets))
    })

  data
    .command('show')
    .description('one dataset: rows, source, and each column with its type and whether it is allowed')
    .argument('<name>', 'dataset name')
    .option('--url <url>', URL_HELP)
    .action(async (nameArg: string, opts: UrlOption, cmd: Command) => {
      const g = cmd.optsWithGlobals<GlobalOptions>()
      const name = datasetName(nameArg)
      const d = await withBackend(opts, g, false, async b => await b.get(name))
      output(g.json, d, () => describeDataset(d))
    })

  data
    .command('rm')
    .description('remove a dataset (its loaded copy; the original file stays)')
    .argument('<name>', 'dataset name')
    .option('--url <url>', URL_HELP)
    .action(async (nameArg: string, opts: UrlOption, cmd: Command) => {
      const g = cmd.optsWithGlobals<GlobalOptions>()
      const name = datasetName(nameArg)
      await withBackend(opts, g, false, async b => { await b.remove(name) })
      output(g.json, { removed: name }, () => `Removed dataset '${name}'.`)
    })
}
