import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { REPO_ROOT } from './node.js'

/** The `plexus` command as installed (compiled by `npm install`). */
export const BIN = join(REPO_ROOT, 'bin', 'plexus.js')

export interface Run { code: number | null, stdout: string, stderr: string }

/** Tests never send traffic beyond 127.0.0.1: the p2p host listens there on a random port, no mDNS. */
export const TEST_NETWORK_ENV = { PLEXUS_P2P_HOST: '127.0.0.1', PLEXUS_P2P_PORT: '0', PLEXUS_MDNS: 'false' }

const baseEnv = (env: Record<string, string>): NodeJS.ProcessEnv => ({ ...process.env, PLEXUS_LOG_LEVEL: 'silent', ...TEST_NETWORK_ENV, ...env })

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

/** What `plexus start --json` prints on its first line. */
export interface StartedNode { url: string, peerId: string | null, multiaddrs: string[], networkId: string | null }

/** Starts `plexus start --json` as a child process and waits for its first line (the URL). */
export async function startNodeProcess (dataDir: string, extra: string[] = []): Promise<{ child: ChildProcess, url: string, info: StartedNode }> {
  const child = spawn(process.execPath, [BIN, 'start', '--data-dir', dataDir, '--port', '0', '--json', '--log-level', 'silent', ...extra], { stdio: ['ignore', 'pipe', 'pipe'], env: baseEnv({}) })
  const lines = createInterface({ input: child.stdout! })
  const first = await new Promise<string>((resolve, reject) => {
    lines.once('line', resolve)
    child.once('exit', code => reject(new Error(`plexus start exited with ${code}`)))
  })
  const info = JSON.parse(first) as StartedNode
  return { child, url: info.url, info }
}
