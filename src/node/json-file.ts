import { readFileSync, writeFileSync, renameSync, openSync, fsyncSync, closeSync, existsSync } from 'node:fs'
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
