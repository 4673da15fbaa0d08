import { spawn } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

/** Running children: a benchmark that dies must not leave nodes behind. */
const live = new Set<ChildProcess>()
process.once('exit', () => { for (const c of live) c.kill('SIGKILL') })

/** What `plexus --json start` prints once the node is up. */
export interface StartInfo {
  url: string
  peerId: string | null
  multiaddrs: string[]
  defaultModel: string | null
}

/** A `plexus start` child process on a throw-away data directory. */
export interface PlexusProcess extends StartInfo {
  pid: number
  child: ChildProcess
  dataDir: string
  /** Milliseconds from spawn to the start line on stdout. */
  startMs: number
  /** Last lines of stderr (for error messages). */
  stderr: () => string
  /** SIGTERM, SIGKILL after 15 s, then removes the data directory. */
  stop: () => Promise<void>
}

export interface PlexusProcessOptions {
  /** Repository root (bin/plexus.js). */
  root: string
  /** Script run instead of bin/plexus.js, taking the same arguments (e.g. a bench variant). */
  script?: string
  /** Arguments after `start` (the data directory, API port 0, p2p on 127.0.0.1:0 and no mDNS are added). */
  args?: string[]
  /** Written as the data directory's config.json before the start (merged with the defaults). */
  config?: Record<string, unknown>
  /** Node options before the script (e.g. `--cpu-prof`, which NODE_OPTIONS refuses). */
  nodeArgs?: string[]
  /** Pins the process (all its threads) to these CPUs with `taskset -c`, e.g. `'1'`. */
  cpus?: string
  /** Extra environment; UV_THREADPOOL_SIZE is left to the launcher unless given. */
  env?: Record<string, string>
  startTimeoutMs?: number
}

/**
 * Starts a node as `node bin/plexus.js --json start …` with the p2p host on 127.0.0.1 only (random
 * ports, no mDNS) and waits for its start line.
 *
 * @param o - arguments, config file content and environment
 */
export async function startPlexusProcess (o: PlexusProcessOptions): Promise<PlexusProcess> {
  const dataDir = await mkdtemp(join(tmpdir(), 'plexus-bench-'))
  if (o.config != null) await writeFile(join(dataDir, 'config.json'), JSON.stringify(o.config))
  const args = [...(o.nodeArgs ?? []), o.script ?? join(o.root, 'bin', 'plexus.js'), '--json', 'start', '--data-dir', dataDir, '--port', '0',
    '--p2p-host', '127.0.0.1', '--p2p-port', '0', '--no-mdns', '--log-level', 'warn', ...(o.args ?? [])]
  const env: NodeJS.ProcessEnv = { ...process.env, ...o.env }
  if (o.env?.UV_THREADPOOL_SIZE == null) delete env.UV_THREADPOOL_SIZE
  const t0 = performance.now()
  // taskset execs node, so the child's pid is the node process's.
  const child = o.cpus != null
    ? spawn('taskset', ['-c', o.cpus, process.execPath, ...args], { cwd: o.root, env, stdio: ['ignore', 'pipe', 'pipe'] })
    : spawn(process.execPath, args, { cwd: o.root, env, stdio: ['ignore', 'pipe', 'pipe'] })
  let err = ''
  child.stderr?.setEncoding('utf8').on('data', (d: string) => { err = (err + d).slice(-4000) })
  live.add(child)
  child.once('close', () => { live.delete(child) })
  const stop = async (): Promise<void> => {
    if (child.exitCode == null && child.signalCode == null) {
      const closed = new Promise<boolean>((resolve) => child.once('close', () => resolve(true)))
      child.kill('SIGTERM')
      const exited = await Promise.race([closed, new Promise<boolean>((resolve) => setTimeout(() => resolve(false), 15_000))])
      if (!exited) child.kill('SIGKILL')
    }
    await rm(dataDir, { recursive: true, force: true })
  }
  try {
    const info = await new Promise<StartInfo>((resolve, reject) => {
      let out = ''
      const timer = setTimeout(() => reject(new Error(`no start line within ${o.startTimeoutMs ?? 60_000} ms`)), o.startTimeoutMs ?? 60_000)
      child.stdout?.setEncoding('utf8').on('data', (d: string) => {
        out += d
        const nl = out.indexOf('\n')
        if (nl < 0) return
        clearTimeout(timer)
        try {
          const j = JSON.parse(out.slice(0, nl)) as Partial<StartInfo>
          if (typeof j.url !== 'string') throw new Error(`unexpected start line: ${out.slice(0, nl)}`)
          resolve({ url: j.url, peerId: j.peerId ?? null, multiaddrs: j.multiaddrs ?? [], defaultModel: j.defaultModel ?? null })
        } catch (e) {
          reject(e as Error)
        }
      })
      child.once('close', (code) => { clearTimeout(timer); reject(new Error(`plexus start exited with code ${String(code)}`)) })
    })
    return { ...info, pid: child.pid ?? -1, child, dataDir, startMs: performance.now() - t0, stderr: () => err, stop }
  } catch (e) {
    await stop()
    throw new Error(`${(e as Error).message}\n${err.trim()}`)
  }
}

/**
 * Resident memory of a process in bytes (VmRSS from /proc), or null when it cannot be read.
 *
 * @param pid - the process
 */
export function processRssBytes (pid: number): number | null {
  try {
    const m = /^VmRSS:\s+(\d+)\s+kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))
    return m != null ? Number(m[1]) * 1024 : null
  } catch {
    return null
  }
}
