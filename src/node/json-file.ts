import { readFileSync, writeFileSync, renameSync, openSync, fsyncSync, closeSync, existsSync, statSync } from 'node:fs'
import type { z } from 'zod'

/**
 * Writes a file atomically: to a temporary sibling, fsync, then rename over the target, so a crash
 * leaves either the old or the new content, never a torn file.
 */
export function writeFileAtomic (path: string, data: string, mode = 0o600): void {
  const tmp = `${path}.${process.pid}.${Date.now()}.tmp`
  writeFileSync(tmp, data, { mode })
  const fd = openSync(tmp, 'r')
  try { fsyncSync(fd) } finally { closeSync(fd) }
  renameSync(tmp, path)
}

export function writeJsonAtomic (path: string, value: unknown, mode = 0o600): void {
  writeFileAtomic(path, JSON.stringify(value, null, 2) + '\n', mode)
}

/** Reads and validates a JSON file; returns `fallback` when it does not exist. */
export function readJsonFile<T extends z.ZodType> (path: string, schema: T, fallback: z.output<T>): z.output<T> {
  if (!existsSync(path)) return fallback
  const text = readFileSync(path, 'utf8')
  let raw: unknown
  try {
    raw = JSON.parse(text)
  } catch (err) {
    throw new Error(`${path} is not valid JSON (${(err as Error).message})`)
  }
  const parsed = schema.safeParse(raw)
  if (!parsed.success) {
    throw new Error(`${path} is not valid: ${parsed.error.issues.map(i => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ')}`)
  }
  return parsed.data
}

/**
 * A small JSON state file shared between processes (the CLI and a running node both change
 * `models.json` and `api-keys.json`). `read()` costs one `stat` while the file is unchanged and
 * re-parses it only when another writer replaced it (atomic writes change inode, mtime or size).
 */
export class JsonStateFile<T extends z.ZodType> {
  readonly #path: string
  readonly #schema: T
  readonly #fallback: z.output<T>
  #stamp = ''
  #value: z.output<T>

  constructor (path: string, schema: T, fallback: z.output<T>) {
    this.#path = path
    this.#schema = schema
    this.#fallback = fallback
    this.#value = fallback
  }

  read (): z.output<T> {
    const stamp = fileStamp(this.#path)
    if (stamp !== this.#stamp) {
      this.#value = stamp === '' ? this.#fallback : readJsonFile(this.#path, this.#schema, this.#fallback)
      this.#stamp = stamp
    }
    return this.#value
  }

  write (value: z.output<T>, mode = 0o600): void {
    writeJsonAtomic(this.#path, value, mode)
    this.#value = value
    this.#stamp = fileStamp(this.#path)
  }
}

function fileStamp (path: string): string {
  try {
    const s = statSync(path, { bigint: true })
    return `${s.ino}:${s.mtimeNs}:${s.size}`
  } catch {
    return ''
  }
}
