import { describeError, isPlexusError } from '../errors.js'

export { formatBytes } from './progress.js'

/** Options every command shares. */
export interface GlobalOptions {
  dataDir?: string
  json?: boolean
}

/** Prints `data` as JSON with --json, else the human rendering. */
export function output (json: boolean | undefined, data: unknown, human: () => string): void {
  if (json === true) process.stdout.write(JSON.stringify(data, null, 2) + '\n')
  else {
    const text = human()
    if (text !== '') process.stdout.write(text.endsWith('\n') ? text : text + '\n')
  }
}

/** A simple aligned table for human output. */
export function table (headers: string[], rows: Array<Array<string | number>>): string {
  const cells = [headers, ...rows.map(r => r.map(String))]
  const widths = headers.map((_, i) => Math.max(...cells.map(r => (r[i] ?? '').length)))
  return cells.map(r => r.map((c, i) => (c ?? '').padEnd(widths[i] ?? 0)).join('  ').trimEnd()).join('\n')
}

export function formatCount (n: number): string {
  if (n >= 1e9) return `${(n / 1e9).toFixed(1)}B`
  if (n >= 1e6) return `${(n / 1e6).toFixed(1)}M`
  if (n >= 1e3) return `${(n / 1e3).toFixed(0)}K`
  return String(n)
}

/** Errors are one clear sentence on stderr and a non-zero exit (2 for usage, 1 otherwise). */
export function fail (err: unknown, json?: boolean): never {
  const message = describeError(err)
  if (json === true) {
    const code = isPlexusError(err) ? err.code : 'PLX_ERR_INTERNAL'
    process.stderr.write(JSON.stringify({ error: { code, message } }) + '\n')
  } else {
    process.stderr.write(`plexus: ${message}\n`)
  }
  process.exit(1)
}
