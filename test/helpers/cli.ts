import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { REPO_ROOT } from './node.js'

/** The `plexus` command as installed (compiled by `npm install`). */
export const BIN = join(REPO_ROOT, 'bin', 'plexus.js')

export interface Run { code: number | null, stdout: string, stderr: string }

const baseEnv = (env: Record<string, string>): NodeJS.ProcessEnv => ({ ...process.env, PLEXUS_LOG_LEVEL: 'silent', ...env })

/** Runs `plexus …` to completion (blocking; for commands that need no node from this process). */
export function plexus (args: string[], env: Record<string, string> = {}): Run {
  const r = spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', env: baseEnv(env), timeout: 300_000 })
  return { code: r.status, stdout: r.stdout, stderr: r.stderr }
}

/** Runs `plexus …` without blocking this process's event loop (needed while it serves a node). */
export async function plexusAsync (args: string[], env: Record<string, string> = {}): Promise<Run> {
  const child = spawn(process.execPath, [BIN, ...args], { env: baseEnv(env) })
  let stdout = ''
  let stderr = ''
  child.stdout.on('data', d => { stdout += String(d) })
  child.stderr.on('data', d => { stderr += String(d) })
  const [code] = await once(child, 'exit') as [number | null]
  return { code, stdout, stderr }
}

/** Starts `plexus start --json` as a child process and waits for its first line (the URL). */
export async function startNodeProcess (dataDir: string, extra: string[] = []): Promise<{ child: ChildProcess, url: string }> {
  const child = spawn(process.execPath, [BIN, 'start', '--data-dir', dataDir, '--port', '0', '--json', '--log-level', 'silent', ...extra], { stdio: ['ignore', 'pipe', 'pipe'] })
  const lines = createInterface({ input: child.stdout! })
  const first = await new Promise<string>((resolve, reject) => {
    lines.once('line', resolve)
    child.once('exit', code => reject(new Error(`plexus start exited with ${code}`)))
  })
  return { child, url: (JSON.parse(first) as { url: string }).url }
}
