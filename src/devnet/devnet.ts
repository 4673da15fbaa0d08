/**
 * A devnet: N Plexus nodes on 127.0.0.1, each a `plexus start` child process with its own data
 * directory, all on one fresh network id and bootstrapped to each other. The data directories are
 * initialised first, so every node's peer id — and so every bootstrap multiaddr — is known before
 * any node starts. `devnet.json` in the devnet's directory records the processes, so a devnet left
 * running (`detach()`) can be stopped later by another process (`stopDevnet`).
 *
 * @packageDocumentation
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, readSync, rmSync } from 'node:fs'
import { createServer, type Server } from 'node:net'
import { join, resolve } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { z } from 'zod'
import { publicKeyFromRaw } from '@libp2p/crypto/keys'
import { peerIdFromPublicKey } from '@libp2p/peer-id'
import { PlexusError } from '../errors.js'
import { PACKAGE_ROOT } from '../paths.js'
import { initDataDir, RuntimeFileSchema } from '../node/node.js'
import { readJsonFile, writeJsonAtomic } from '../node/json-file.js'
import { dataDirPaths } from '../node/data-dir.js'
import { callNode, findNode, type NodeTarget } from '../cli/client.js'
import { pidAlive, processCommandLine, stopProcesses, type StopResult } from './processes.js'

export const MAX_DEVNET_NODES = 64
/** With a base port P, node i listens on P+i (API) and P+P2P_PORT_OFFSET+i (p2p). */
export const P2P_PORT_OFFSET = 100
export const DEVNET_FILE = 'devnet.json'
const HOST = '127.0.0.1'
const BIN = join(PACKAGE_ROOT, 'bin', 'plexus.js')
export const DEVNET_LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'silent'] as const

const NodeNameSchema = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_-]{0,31}$/, 'letters, digits, dashes and underscores, at most 32')
const NetworkIdSchema = z.string().regex(/^[a-z0-9][a-z0-9._-]{0,63}$/, 'lowercase letters, digits, dots, dashes and underscores, at most 64')

export const DevnetNodeSpecSchema = z.strictObject({
  /** Default: A, B, C, … */
  name: NodeNameSchema.optional(),
  /** Extra `plexus start` arguments for this node; they come last, so they win. */
  args: z.array(z.string().max(1024)).max(64).default([])
})

export const DevnetOptionsSchema = z.strictObject({
  /** Holds the nodes' data directories, their logs and `devnet.json`. */
  dir: z.string().min(1).max(4096),
  nodes: z.array(DevnetNodeSpecSchema).min(1).max(MAX_DEVNET_NODES),
  /** API ports base+i and p2p ports base+100+i; without it, free ports are picked. */
  basePort: z.number().int().min(1).max(65535).optional(),
  /** Default: `devnet-<8 random hex digits>`, so separate devnets never mix. */
  networkId: NetworkIdSchema.optional(),
  logLevel: z.enum(DEVNET_LOG_LEVELS).default('info'),
  /**
   * Threads per evaluation in each node. The nodes share this machine's cores, so the default is
   * 1 (0 = each node measures its own, which is slow and skewed while the others run).
   */
  threads: z.number().int().min(0).max(512).default(1),
  /** How long the nodes may take to start and all see each other. */
  timeoutSeconds: z.number().min(1).max(3600).default(180)
}).superRefine((o, ctx) => {
  if (o.basePort != null && o.basePort + P2P_PORT_OFFSET + o.nodes.length - 1 > 65535) {
    ctx.addIssue({ code: 'custom', path: ['basePort'], message: `with ${o.nodes.length} nodes the base port must be at most ${65535 - P2P_PORT_OFFSET - o.nodes.length + 1}` })
  }
  const names = o.nodes.map((n, i) => n.name ?? nodeName(i))
  const dup = names.find((n, i) => names.indexOf(n) !== i)
  if (dup != null) ctx.addIssue({ code: 'custom', path: ['nodes'], message: `two nodes are named ${dup}` })
})
export type DevnetOptions = z.input<typeof DevnetOptionsSchema>

const DevnetNodeRecordSchema = z.strictObject({
  name: NodeNameSchema,
  dataDir: z.string(),
  pid: z.number().int().positive(),
  /** Null until the node printed its start line. */
  url: z.string().nullable(),
  peerId: z.string().max(128),
  multiaddr: z.string().max(512),
  p2pPort: z.number().int().min(1).max(65535),
  models: z.array(z.string()).max(64),
  logFile: z.string(),
  args: z.array(z.string()).max(64)
})
export type DevnetNode = z.output<typeof DevnetNodeRecordSchema>

export const DevnetFileSchema = z.strictObject({
  version: z.literal(1),
  networkId: NetworkIdSchema,
  dir: z.string(),
  createdAt: z.string(),
  nodes: z.array(DevnetNodeRecordSchema).max(MAX_DEVNET_NODES)
})
export type DevnetFile = z.output<typeof DevnetFileSchema>

/** What `plexus start --json` prints first. */
const StartLineSchema = z.object({
  url: z.string(),
  peerId: z.string().nullable(),
  multiaddrs: z.array(z.string()),
  networkId: z.string().nullable()
})

/** A, B, …, Z, AA, AB, … */
export function nodeName (i: number): string {
  const letter = (n: number): string => String.fromCharCode(65 + n)
  return i < 26 ? letter(i) : letter(Math.floor(i / 26) - 1) + letter(i % 26)
}

/** The libp2p peer id of a node identity (its Ed25519 public key). */
export function peerIdOf (publicKey: Uint8Array): string {
  return peerIdFromPublicKey(publicKeyFromRaw(publicKey)).toString()
}

function devnetError (message: string): PlexusError {
  return new PlexusError('PLX_ERR_DEVNET_START', [message])
}

export interface DevnetHooks {
  /** One line per step, for people watching. */
  onProgress?: (message: string) => void
  /** Aborting stops whatever has started and rejects. */
  signal?: AbortSignal
}

/** Starts a devnet and resolves once every node is up and sees every other one. */
export async function startDevnet (options: DevnetOptions, hooks: DevnetHooks = {}): Promise<Devnet> {
  const parsed = DevnetOptionsSchema.safeParse(options)
  if (!parsed.success) throw devnetError(parsed.error.issues.map(i => `${i.path.join('.') || 'options'}: ${i.message}`).join('; '))
  const o = parsed.data
  const dir = resolve(o.dir)
  mkdirSync(dir, { recursive: true, mode: 0o700 })
  const running = runningNodes(dir)
  if (running.length > 0) throw devnetError(`a devnet is already running in ${dir} (pids ${running.map(n => n.pid).join(', ')}); stop it with \`plexus devnet down --dir ${dir}\``)
  rmSync(join(dir, DEVNET_FILE), { force: true })

  const networkId = o.networkId ?? `devnet-${randomBytes(4).toString('hex')}`
  const planned = o.nodes.map((spec, i) => {
    const name = spec.name ?? nodeName(i)
    const dataDir = join(dir, name)
    const { identity } = initDataDir(dataDir)
    return { name, dataDir, args: spec.args, peerId: peerIdOf(identity.publicKey), logFile: join(dir, `${name}.log`), outFile: join(dir, `${name}.out`) }
  })
  const p2pPorts = o.basePort != null
    ? await checkPortsFree(planned.flatMap((n, i) => [
      { port: o.basePort as number + i, what: `the API port of node ${n.name}` },
      { port: o.basePort as number + P2P_PORT_OFFSET + i, what: `the p2p port of node ${n.name}` }
    ])).then(() => planned.map((_, i) => o.basePort as number + P2P_PORT_OFFSET + i))
    : await freePorts(planned.length)
  const multiaddrs = planned.map((n, i) => `/ip4/${HOST}/tcp/${p2pPorts[i] as number}/p2p/${n.peerId}`)

  hooks.onProgress?.(`starting ${planned.length} node${planned.length === 1 ? '' : 's'} on network ${networkId} in ${dir}`)
  const devnet = new Devnet(dir, networkId)
  try {
    planned.forEach((n, i) => {
      const apiPort = o.basePort != null ? o.basePort + i : 0
      const args = [
        BIN, 'start', '--data-dir', n.dataDir, '--host', HOST, '--port', String(apiPort),
        '--p2p-host', HOST, '--p2p-port', String(p2pPorts[i]), '--no-mdns', '--network', networkId,
        ...multiaddrs.filter((_, j) => j !== i).flatMap(a => ['--bootstrap', a]),
        '--threads', String(o.threads), '--json', '--log-level', o.logLevel, ...n.args
      ]
      const out = openSync(n.outFile, 'w', 0o600)
      const err = openSync(n.logFile, 'w', 0o600)
      let child: ChildProcess
      try {
        // Detached: a Ctrl+C in the terminal reaches only the devnet, which then stops each node once.
        child = spawn(process.execPath, args, { detached: true, stdio: ['ignore', out, err], env: process.env })
      } finally {
        closeSync(out)
        closeSync(err)
      }
      // A failed spawn has no pid and reports the reason as an 'error' event.
      child.on('error', () => {})
      if (child.pid == null) throw devnetError(`cannot start a process for node ${n.name}`)
      devnet.add({ name: n.name, dataDir: n.dataDir, pid: child.pid, url: null, peerId: n.peerId, multiaddr: multiaddrs[i] as string, p2pPort: p2pPorts[i] as number, models: [], logFile: n.logFile, args: n.args }, child, n.outFile)
    })
    devnet.save()
    const deadline = Date.now() + o.timeoutSeconds * 1000
    await devnet.waitStarted(deadline, hooks)
    hooks.onProgress?.('all nodes are up; waiting until each one has the adverts of all the others')
    await devnet.waitMeshed(deadline, hooks)
    devnet.save()
    return devnet
  } catch (err) {
    await devnet.stop()
    throw err
  }
}

interface Member {
  node: DevnetNode
  child: ChildProcess
  outFile: string
  target: NodeTarget | null
}

/** A started devnet: its nodes, and the child processes while this process holds them. */
export class Devnet {
  readonly dir: string
  readonly networkId: string
  readonly createdAt = new Date().toISOString()
  readonly #members: Member[] = []
  #stopping: Promise<StopResult> | null = null

  constructor (dir: string, networkId: string) {
    this.dir = dir
    this.networkId = networkId
  }

  get file (): string { return join(this.dir, DEVNET_FILE) }
  get nodes (): DevnetNode[] { return this.#members.map(m => m.node) }

  /** @internal */
  add (node: DevnetNode, child: ChildProcess, outFile: string): void {
    this.#members.push({ node, child, outFile, target: null })
  }

  node (name: string): DevnetNode {
    const m = this.#members.find(x => x.node.name === name)
    if (m == null) throw new PlexusError('PLX_ERR_BAD_REQUEST', [`the devnet has no node ${name}`])
    return m.node
  }

  /** How to call a node's API (its URL and its local token). */
  target (name: string): NodeTarget {
    const m = this.#members.find(x => x.node.name === name)
    if (m?.target == null) throw new PlexusError('PLX_ERR_BAD_REQUEST', [`node ${name} of the devnet is not running`])
    return m.target
  }

  toJSON (): DevnetFile {
    return { version: 1, networkId: this.networkId, dir: this.dir, createdAt: this.createdAt, nodes: this.nodes }
  }

  /** @internal Writes `devnet.json`. */
  save (): void {
    writeJsonAtomic(this.file, this.toJSON(), 0o600)
  }

  /** Calls `listener` when a node exits on its own (not through `stop()`). */
  onExit (listener: (node: DevnetNode, code: number | null, signal: NodeJS.Signals | null) => void): void {
    for (const m of this.#members) {
      m.child.on('exit', (code, signal) => { if (this.#stopping == null) listener(m.node, code, signal) })
    }
  }

  /** Leaves the nodes running after this process exits (stop them with `stopDevnet`). */
  detach (): void {
    for (const m of this.#members) m.child.unref()
  }

  /** SIGTERM to every node, `graceMs` to exit, then SIGKILL; removes `devnet.json`. */
  async stop (graceMs = 15_000): Promise<StopResult> {
    this.#stopping ??= (async () => {
      const r = await stopProcesses(this.#members.map(m => m.node.pid), graceMs)
      rmSync(this.file, { force: true })
      return r
    })()
    return await this.#stopping
  }

  #failIfExited (m: Member): void {
    const { exitCode, signalCode } = m.child
    if (exitCode == null && signalCode == null) return
    throw devnetError(`node ${m.node.name} exited (${exitCode != null ? `code ${exitCode}` : signalCode}) before it was ready: ${lastLine(m.node.logFile)} (log: ${m.node.logFile})`)
  }

  /** @internal Waits for each node's start line (URL, peer id, multiaddrs). */
  async waitStarted (deadline: number, hooks: DevnetHooks): Promise<void> {
    const pending = new Set(this.#members)
    while (pending.size > 0) {
      for (const m of pending) {
        const line = firstLine(m.outFile)
        if (line == null) { this.#failIfExited(m); continue }
        let started: z.output<typeof StartLineSchema>
        try {
          started = StartLineSchema.parse(JSON.parse(line))
        } catch {
          throw devnetError(`node ${m.node.name} printed an unexpected start line: ${line.slice(0, 200)}`)
        }
        if (started.peerId == null) throw devnetError(`node ${m.node.name} started without its peer-to-peer host (were --no-p2p arguments given?)`)
        if (started.peerId !== m.node.peerId) throw devnetError(`node ${m.node.name} runs as peer ${started.peerId}, not ${m.node.peerId} as its identity says`)
        m.node.url = started.url
        m.target = findNode({ dataDir: m.node.dataDir, env: {} })
        m.node.models = (await callNode<{ models: Array<{ name: string }> }>(m.target, 'GET', '/api/plexus/status')).models.map(x => x.name)
        hooks.onProgress?.(`node ${m.node.name} is up at ${started.url} (peer ${m.node.peerId})`)
        pending.delete(m)
      }
      if (pending.size === 0) break
      checkWait(deadline, hooks, () => `waiting for node${pending.size === 1 ? '' : 's'} ${[...pending].map(m => m.node.name).join(', ')} to start`)
      await sleep(100)
    }
  }

  /** @internal Waits until every node's peer table holds every other node. */
  async waitMeshed (deadline: number, hooks: DevnetHooks): Promise<void> {
    for (;;) {
      const missing: string[] = []
      for (const m of this.#members) {
        this.#failIfExited(m)
        const { peers } = await callNode<{ peers: Array<{ peerId: string }> }>(m.target as NodeTarget, 'GET', '/api/plexus/peers')
        const seen = new Set(peers.map(p => p.peerId))
        const unseen = this.#members.filter(o => o !== m && !seen.has(o.node.peerId)).map(o => o.node.name)
        if (unseen.length > 0) missing.push(`${m.node.name} lacks ${unseen.join(', ')}`)
      }
      if (missing.length === 0) return
      checkWait(deadline, hooks, () => `the nodes did not all see each other (${missing.slice(0, 4).join('; ')}${missing.length > 4 ? '; …' : ''})`)
      await sleep(250)
    }
  }
}

function checkWait (deadline: number, hooks: DevnetHooks, what: () => string): void {
  if (hooks.signal?.aborted === true) throw new PlexusError('PLX_ERR_ABORTED')
  if (Date.now() > deadline) throw devnetError(`timed out ${what()}`)
}

/** The first complete line of a file, or null (reads at most 64 KiB). */
function firstLine (path: string): string | null {
  let fd: number
  try { fd = openSync(path, 'r') } catch { return null }
  try {
    const buf = Buffer.alloc(64 * 1024)
    const n = readSync(fd, buf, 0, buf.length, 0)
    const text = buf.subarray(0, n).toString('utf8')
    const end = text.indexOf('\n')
    return end < 0 ? null : text.slice(0, end)
  } finally {
    closeSync(fd)
  }
}

/** The last line of a log, for an error message: the `msg` of a JSON log line, or the text. */
function lastLine (path: string): string {
  let text = ''
  try { text = readFileSync(path, 'utf8').slice(-16 * 1024) } catch {}
  // Commander's usage errors end with a hint line; the line before says what was wrong.
  const line = text.trimEnd().split('\n').filter(l => !l.startsWith('(run with --help')).pop() ?? ''
  if (line === '') return 'it printed nothing'
  try {
    const j = JSON.parse(line) as { msg?: unknown, err?: { message?: unknown } }
    const msg = [j.msg, j.err?.message].filter(x => typeof x === 'string').join(': ')
    if (msg !== '') return msg.slice(0, 300)
  } catch {}
  return line.replace(/^plexus: /, '').slice(0, 300)
}

async function listenOn (port: number): Promise<Server> {
  const server = createServer()
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen({ port, host: HOST, exclusive: true }, () => resolve())
  })
  return server
}

async function closeAll (servers: Server[]): Promise<void> {
  await Promise.all(servers.map(async s => await new Promise(resolve => s.close(resolve))))
}

/** `n` distinct free TCP ports on 127.0.0.1 (held together while chosen, so they differ). */
async function freePorts (n: number): Promise<number[]> {
  const servers: Server[] = []
  try {
    for (let i = 0; i < n; i++) servers.push(await listenOn(0))
    return servers.map(s => (s.address() as { port: number }).port)
  } finally {
    await closeAll(servers)
  }
}

/** Refuses, naming the first one, when any of the ports is taken. */
async function checkPortsFree (ports: Array<{ port: number, what: string }>): Promise<void> {
  const servers: Server[] = []
  try {
    for (const { port, what } of ports) {
      try {
        servers.push(await listenOn(port))
      } catch (err) {
        throw devnetError(`port ${port} (${what}) is not free: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}; choose another --base-port, or none to use free ports`)
      }
    }
  } finally {
    await closeAll(servers)
  }
}

/** Reads `devnet.json` of a directory; null when there is none. */
export function readDevnetFile (dir: string): DevnetFile | null {
  const path = join(resolve(dir), DEVNET_FILE)
  try {
    return readJsonFile(path, DevnetFileSchema, null as unknown as DevnetFile)
  } catch (err) {
    throw new PlexusError('PLX_ERR_DEVNET_NOT_FOUND', [resolve(dir), (err as Error).message])
  }
}

/**
 * Whether the recorded pid is still that node (not a stranger that reused the pid): its command
 * line names its data directory, or — where command lines cannot be read — its runtime file
 * names the pid.
 */
function isNodeProcess (node: DevnetNode): boolean {
  if (!pidAlive(node.pid)) return false
  const cmdline = processCommandLine(node.pid)
  if (cmdline != null) return cmdline.includes(node.dataDir)
  const runtime = dataDirPaths(node.dataDir).runtime
  if (!existsSync(runtime)) return false
  try {
    return RuntimeFileSchema.parse(JSON.parse(readFileSync(runtime, 'utf8'))).pid === node.pid
  } catch {
    return false
  }
}

/** The recorded nodes of a directory's devnet that are still running. */
export function runningNodes (dir: string): DevnetNode[] {
  let file: DevnetFile | null
  try { file = readDevnetFile(dir) } catch { return [] }
  return file?.nodes.filter(isNodeProcess) ?? []
}

export interface DownResult extends StopResult {
  dir: string
  networkId: string
  /** Nodes that were no longer running. */
  gone: string[]
}

/** Stops the devnet recorded in `dir/devnet.json` (SIGTERM, grace, SIGKILL) and removes the file. */
export async function stopDevnet (dir: string, graceMs = 15_000): Promise<DownResult> {
  const abs = resolve(dir)
  const file = readDevnetFile(abs)
  if (file == null) throw new PlexusError('PLX_ERR_DEVNET_NOT_FOUND', [abs, `there is no ${DEVNET_FILE}; start one with \`plexus devnet up --dir ${abs}\``])
  const live = file.nodes.filter(isNodeProcess)
  const r = await stopProcesses(live.map(n => n.pid), graceMs)
  rmSync(join(abs, DEVNET_FILE), { force: true })
  return { ...r, dir: abs, networkId: file.networkId, gone: file.nodes.filter(n => !live.includes(n)).map(n => n.name) }
}
