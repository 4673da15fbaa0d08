/**
 * Claim files: a file created with O_EXCL that holds its claimant's process id and start time, so
 * that one process at a time does something to a name (create a cabinet, download a model into a
 * partial file), and a claim left behind by a process that died is recognised as such.
 *
 * @packageDocumentation
 */
import { readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'

/** An empty or unreadable claim younger than this may be one whose writer is still writing it. */
const WRITE_GRACE_MS = 5_000

export interface ClaimOptions {
  /** A claim older than this is stale whatever its process (a process id can be reused). */
  maxAgeMs: number
  /** Clears what the claimant of a stale claim left (the claim itself is removed after). */
  onStale?: () => void
}

/** Whether the claim in `file` was left by a claimant that is no longer running, or is older than `maxAgeMs`. */
export function claimIsStale (file: string, maxAgeMs: number): boolean {
  let age: number
  try {
    age = Date.now() - statSync(file).mtimeMs
  } catch {
    return false // gone meanwhile: its claimant finished
  }
  if (age > maxAgeMs) return true
  let pid: unknown
  try {
    pid = (JSON.parse(readFileSync(file, 'utf8')) as { pid?: unknown }).pid
  } catch {
    return age > WRITE_GRACE_MS
  }
  if (typeof pid !== 'number' || !Number.isSafeInteger(pid) || pid <= 0) return age > WRITE_GRACE_MS
  try {
    process.kill(pid, 0)
    return false
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'ESRCH'
  }
}

/**
 * Takes the claim `file` for this process: true when taken, false while a running claimant holds
 * it. A stale claim is cleared (`onStale` first) and taken. Other file-system errors are thrown.
 */
export function takeClaim (file: string, options: ClaimOptions): boolean {
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      writeFileSync(file, JSON.stringify({ pid: process.pid, startedAt: Date.now() }), { flag: 'wx', mode: 0o600 })
      return true
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err
      if (!claimIsStale(file, options.maxAgeMs)) return false
      options.onStale?.()
      rmSync(file, { force: true })
    }
  }
  return false
}

export function releaseClaim (file: string): void {
  rmSync(file, { force: true })
}
