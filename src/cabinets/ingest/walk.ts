/**
 * Lists the files under a set of paths: depth first, entries in code-unit order of their names
 * (locale-independent, so the same tree always gives the same order), hidden entries (names
 * starting with `.`) skipped below the given paths, symlinks followed but each real directory and
 * file visited once (which also breaks symlink loops). Only regular files are listed: reading a
 * FIFO or device could block forever.
 */
import { readdir, realpath, stat } from 'node:fs/promises'
import { join, resolve } from 'node:path'

/** One file found by walkFiles. */
export interface WalkedFile {
  /** Absolute path, through the directories walked (symlinks not resolved). */
  path: string
  size: number
  mtimeMs: number
}

/** Options for walkFiles. */
export interface WalkOptions {
  signal?: AbortSignal
  /**
   * Called for an entry below the given paths that could not be read (vanished, no permission,
   * broken symlink); the walk goes on. By default such entries are skipped silently. Errors on
   * the given paths themselves are thrown.
   */
  onError?: (path: string, err: Error) => void
}

interface WalkState {
  seen: Set<string>
  options: WalkOptions
}

/**
 * Yield every regular file under `paths` (files or directories), in a deterministic order.
 * Paths given explicitly are walked even when hidden.
 */
export async function * walkFiles (paths: readonly string[], options: WalkOptions = {}): AsyncGenerator<WalkedFile> {
  const state: WalkState = { seen: new Set(), options }
  for (const path of paths) yield * visit(resolve(path), true, state)
}

async function * visit (path: string, explicit: boolean, state: WalkState): AsyncGenerator<WalkedFile> {
  state.options.signal?.throwIfAborted()
  let info: Awaited<ReturnType<typeof stat>>
  let real: string
  try {
    info = await stat(path)
    real = await realpath(path)
  } catch (err) {
    if (explicit) throw err
    state.options.onError?.(path, err as Error)
    return
  }
  if (!info.isFile() && !info.isDirectory()) return
  if (state.seen.has(real)) return
  state.seen.add(real)
  if (info.isFile()) {
    yield { path, size: info.size, mtimeMs: info.mtimeMs }
    return
  }
  let names: string[]
  try {
    names = await readdir(path)
  } catch (err) {
    if (explicit) throw err
    state.options.onError?.(path, err as Error)
    return
  }
  // Default sort compares UTF-16 code units: the same on every machine and locale.
  for (const name of names.sort()) {
    if (name.startsWith('.')) continue
    yield * visit(join(path, name), false, state)
  }
}
