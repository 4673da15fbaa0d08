import { readFileSync } from 'node:fs'
import { setTimeout as sleep } from 'node:timers/promises'

/**
 * True while a process with this id exists (EPERM: it exists but belongs to someone else). A
 * zombie — exited, but not yet reaped by a parent that may never do it (an orphan under an init
 * that does not reap) — counts as gone.
 */
export function pidAlive (pid: number): boolean {
  try { process.kill(pid, 0) } catch (err) { return (err as NodeJS.ErrnoException).code === 'EPERM' }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    // Field 3, after the parenthesised command name (which may itself hold spaces or parentheses).
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z'
  } catch {
    return true
  }
}

/**
 * The command line of a process (Linux `/proc`), or null where it cannot be read: on another
 * system, or when the process is gone.
 */
export function processCommandLine (pid: number): string[] | null {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(a => a !== '')
  } catch {
    return null
  }
}

/** Waits until every pid has exited or `ms` passed; returns the ones still alive. */
export async function waitForExit (pids: number[], ms: number): Promise<number[]> {
  const deadline = Date.now() + ms
  let alive = pids.filter(pidAlive)
  while (alive.length > 0 && Date.now() < deadline) {
    await sleep(50)
    alive = alive.filter(pidAlive)
  }
  return alive
}

function signal (pid: number, sig: NodeJS.Signals): void {
  try { process.kill(pid, sig) } catch {}
}

export interface StopResult {
  /** Exited after SIGTERM. */
  stopped: number[]
  /** Still alive after the grace period, then killed. */
  killed: number[]
}

/**
 * Stops processes cleanly: SIGTERM to each, up to `graceMs` for them to exit, then SIGKILL for
 * those left (and a short wait for the kernel to reap them).
 */
export async function stopProcesses (pids: number[], graceMs: number): Promise<StopResult> {
  const running = pids.filter(pidAlive)
  for (const pid of running) signal(pid, 'SIGTERM')
  const stragglers = await waitForExit(running, graceMs)
  for (const pid of stragglers) signal(pid, 'SIGKILL')
  await waitForExit(stragglers, 5_000)
  return { stopped: running.filter(p => !stragglers.includes(p)), killed: stragglers }
}
