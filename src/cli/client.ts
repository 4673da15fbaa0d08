import { existsSync, readFileSync } from 'node:fs'
import { isPlexusError, PlexusError } from '../errors.js'
import { dataDirPaths, resolveDataDir } from '../node/data-dir.js'
import { RuntimeFileSchema } from '../node/node.js'

/** How CLI commands reach a node: explicit URL and key, or the node running on the data dir. */
export interface NodeTarget {
  url: string
  token: string | null
}

function pidAlive (pid: number): boolean {
  try { process.kill(pid, 0); return true } catch (err) { return (err as NodeJS.ErrnoException).code === 'EPERM' }
}

/**
 * `--url` (or `PLEXUS_URL`) with `PLEXUS_API_KEY`; otherwise the runtime file that a running node
 * writes into its data directory, whose local token authorises the owner's CLI.
 */
export function findNode (options: { url?: string, dataDir: string, env?: NodeJS.ProcessEnv }): NodeTarget {
  const env = options.env ?? process.env
  const url = options.url ?? (env.PLEXUS_URL !== '' ? env.PLEXUS_URL : undefined)
  const key = env.PLEXUS_API_KEY != null && env.PLEXUS_API_KEY !== '' ? env.PLEXUS_API_KEY : null
  if (url != null) {
    try { new URL(url) } catch { throw new PlexusError('PLX_ERR_BAD_REQUEST', [`Invalid --url '${url}'`]) }
    return { url: url.replace(/\/+$/, ''), token: key }
  }
  const runtimePath = dataDirPaths(options.dataDir).runtime
  if (!existsSync(runtimePath)) {
    throw new PlexusError('PLX_ERR_NODE_NOT_RUNNING', [`nothing is running on data directory ${options.dataDir}; start one with \`plexus start\` or pass --url`])
  }
  const parsed = RuntimeFileSchema.safeParse(JSON.parse(readFileSync(runtimePath, 'utf8')))
  if (!parsed.success) throw new PlexusError('PLX_ERR_NODE_NOT_RUNNING', [`${runtimePath} is damaged; restart the node`])
  if (!pidAlive(parsed.data.pid)) {
    throw new PlexusError('PLX_ERR_NODE_NOT_RUNNING', [`the node recorded in ${runtimePath} (pid ${parsed.data.pid}) is not running; start one with \`plexus start\``])
  }
  return { url: parsed.data.url, token: key ?? parsed.data.localToken }
}

/** The node a command talks to: its `--url` (or `PLEXUS_URL`), else the node running on the global `--data-dir`. */
export function nodeFor (opts: { url?: string }, g: { dataDir?: string }): NodeTarget {
  return findNode({ url: opts.url, dataDir: resolveDataDir(g.dataDir) })
}

/**
 * For commands that can also work on the data directory itself: the node given by `--url`, or the
 * one running on the data directory; null when none runs there (a stale runtime file of a crashed
 * node counts as none).
 */
export function runningNode (opts: { url?: string }, g: { dataDir?: string }): NodeTarget | null {
  const explicit = opts.url != null || (process.env.PLEXUS_URL ?? '') !== ''
  const dataDir = resolveDataDir(g.dataDir)
  if (!explicit && !existsSync(dataDirPaths(dataDir).runtime)) return null
  try {
    return findNode({ url: opts.url, dataDir })
  } catch (err) {
    if (explicit || !isPlexusError(err, 'PLX_ERR_NODE_NOT_RUNNING')) throw err
    return null
  }
}

/** A JSON request to a node; an error response becomes a PlexusError-like message. */
export async function callNode<T> (target: NodeTarget, method: string, path: string, body?: unknown, signal?: AbortSignal): Promise<T> {
  const res = await nodeFetch(target, method, path, body, signal)
  if (!res.ok) throw await NodeApiError.from(res)
  return await res.json() as T
}

/** An error answer from a node: its status, code and one-sentence message. */
export class NodeApiError extends Error {
  override readonly name = 'NodeApiError'
  readonly status: number
  readonly code: string | null

  /** Reads an error response (JSON in OpenAI's or Ollama's shape, or plain text). */
  static async from (res: Response): Promise<NodeApiError> {
    const text = await res.text()
    let data: unknown
    try { data = JSON.parse(text) } catch { data = text }
    return new NodeApiError(res.status, data)
  }

  constructor (status: number, data: unknown) {
    super(errorMessage(status, data))
    this.status = status
    const e = (data as { error?: { code?: unknown } } | null)?.error
    this.code = typeof e === 'object' && e != null && typeof e.code === 'string' ? e.code : null
  }
}

export async function nodeFetch (target: NodeTarget, method: string, path: string, body?: unknown, signal?: AbortSignal): Promise<Response> {
  const headers: Record<string, string> = {}
  if (body !== undefined) headers['content-type'] = 'application/json'
  if (target.token != null) headers.authorization = `Bearer ${target.token}`
  try {
    return await fetch(target.url + path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body), signal })
  } catch (err) {
    if ((err as Error).name === 'AbortError') throw err
    throw new PlexusError('PLX_ERR_NODE_NOT_RUNNING', [`cannot reach ${target.url} (${((err as Error).cause as Error | undefined)?.message ?? (err as Error).message})`])
  }
}

export function errorMessage (status: number, data: unknown): string {
  const e = (data as { error?: { message?: string } | string } | null)?.error
  const msg = typeof e === 'string' ? e : e?.message
  return msg ?? `the node answered HTTP ${status}`
}
