/**
 * Runs parses in a worker thread, so that a slow or pathological file never blocks the node's
 * event loop (the APIs keep answering), and can be stopped: on timeout, on abort, or when it
 * passes the heap limit, the worker is terminated and a fresh one serves the next file. One
 * worker parses one file at a time; other requests wait in order. The worker is unref'd while
 * idle and stopped after PARSER_IDLE_MS.
 */
import { basename } from 'node:path'
import { Worker } from 'node:worker_threads'
import { MAX_FILE_BYTES, PARSE_TIMEOUT_MS, PARSER_HEAP_MB, PARSER_IDLE_MS } from './constants.js'
import { IngestError } from './ingest-error.js'
import type { ParsedDocument } from './types.js'
import { fromWire, type ParseReply, type ParseRequest } from './worker-protocol.js'

const WORKER_URL = new URL('./worker.js', import.meta.url)

/** Options for one parse. */
export interface SandboxParseOptions {
  signal?: AbortSignal
  maxBytes?: number
  timeoutMs?: number
}

/** Settings of a sandbox (the defaults come from constants.ts). */
export interface SandboxInit {
  heapMb?: number
  idleMs?: number
}

interface Job {
  request: ParseRequest
  timeoutMs: number
  signal?: AbortSignal
  onAbort?: () => void
  timer?: NodeJS.Timeout
  resolve: (doc: ParsedDocument) => void
  reject: (err: unknown) => void
}

/** A parser worker with a queue. */
export class ParserSandbox {
  readonly #heapMb: number
  readonly #idleMs: number
  readonly #queue: Job[] = []
  #worker: Worker | null = null
  #running: Job | null = null
  #idleTimer: NodeJS.Timeout | null = null
  #nextId = 1

  constructor (init: SandboxInit = {}) {
    this.#heapMb = init.heapMb ?? PARSER_HEAP_MB
    this.#idleMs = init.idleMs ?? PARSER_IDLE_MS
  }

  /** Parse `path` in the worker. Rejects with IngestError, a file-system error, or the abort reason. */
  async parse (path: string, options: SandboxParseOptions = {}): Promise<ParsedDocument> {
    const { signal, maxBytes = MAX_FILE_BYTES, timeoutMs = PARSE_TIMEOUT_MS } = options
    signal?.throwIfAborted()
    return await new Promise<ParsedDocument>((resolve, reject) => {
      const job: Job = { request: { id: this.#nextId++, path, maxBytes }, timeoutMs, signal, resolve, reject }
      if (signal !== undefined) {
        job.onAbort = () => { this.#cancel(job, signal.reason) }
        signal.addEventListener('abort', job.onAbort, { once: true })
      }
      this.#queue.push(job)
      this.#next()
    })
  }

  /** Stop the worker now; parses in progress or waiting are rejected. */
  async close (): Promise<void> {
    const jobs = [...(this.#running === null ? [] : [this.#running]), ...this.#queue.splice(0)]
    this.#running = null
    for (const job of jobs) this.#settle(job, new Error('The parser was closed'))
    await this.#kill()
  }

  #next (): void {
    if (this.#running !== null) return
    const job = this.#queue.shift()
    if (job === undefined) {
      this.#idle()
      return
    }
    if (this.#idleTimer !== null) clearTimeout(this.#idleTimer)
    this.#idleTimer = null
    this.#running = job
    const worker = this.#ensureWorker()
    worker.ref()
    job.timer = setTimeout(() => {
      const seconds = Math.round(job.timeoutMs / 1000)
      this.#fail(new IngestError('too_large', `${basename(job.request.path)} took longer than ${seconds} s to parse; it may be malformed or too complex.`))
    }, job.timeoutMs)
    worker.postMessage(job.request)
  }

  #ensureWorker (): Worker {
    if (this.#worker !== null) return this.#worker
    const worker = new Worker(WORKER_URL, { resourceLimits: { maxOldGenerationSizeMb: this.#heapMb } })
    worker.on('message', (reply: ParseReply) => { this.#onReply(reply) })
    worker.on('error', (err: Error & { code?: string }) => { this.#onDeath(worker, err) })
    worker.on('exit', code => { this.#onDeath(worker, new Error(`The parser worker exited with code ${code}`)) })
    this.#worker = worker
    return worker
  }

  #onReply (reply: ParseReply): void {
    const job = this.#running
    if (job === null || job.request.id !== reply.id) return
    this.#running = null
    this.#settle(job, reply.ok ? null : fromWire(reply.error), reply.ok ? reply.doc : undefined)
    this.#next()
  }

  /** The worker died on its own (heap limit, crash): fail the running job and start afresh. */
  #onDeath (worker: Worker, err: Error & { code?: string }): void {
    if (worker !== this.#worker) return
    this.#worker = null
    const job = this.#running
    if (job === null) return
    const fileName = basename(job.request.path)
    this.#running = null
    this.#settle(job, err.code === 'ERR_WORKER_OUT_OF_MEMORY'
      ? new IngestError('too_large', `${fileName} needs more than ${this.#heapMb} MiB of memory to parse.`, { cause: err })
      : new IngestError('corrupt', `${fileName} could not be parsed: the parser stopped (${err.message}).`, { cause: err }))
    this.#next()
  }

  /** Fail the running job and terminate its worker (timeout). */
  #fail (err: unknown): void {
    const job = this.#running
    if (job === null) return
    this.#running = null
    void this.#kill()
    this.#settle(job, err)
    this.#next()
  }

  #cancel (job: Job, reason: unknown): void {
    if (this.#running === job) {
      this.#fail(reason)
      return
    }
    const at = this.#queue.indexOf(job)
    if (at !== -1) this.#queue.splice(at, 1)
    this.#settle(job, reason)
  }

  #settle (job: Job, err: unknown, doc?: ParsedDocument): void {
    clearTimeout(job.timer)
    if (job.onAbort !== undefined) job.signal?.removeEventListener('abort', job.onAbort)
    if (err === null && doc !== undefined) job.resolve(doc)
    else job.reject(err)
  }

  /** Let the process exit while the worker waits, and stop it after the idle time. */
  #idle (): void {
    this.#worker?.unref()
    if (this.#worker === null || this.#idleTimer !== null) return
    this.#idleTimer = setTimeout(() => {
      this.#idleTimer = null
      void this.#kill()
    }, this.#idleMs)
    this.#idleTimer.unref()
  }

  async #kill (): Promise<void> {
    const worker = this.#worker
    this.#worker = null
    if (this.#idleTimer !== null) clearTimeout(this.#idleTimer)
    this.#idleTimer = null
    await worker?.terminate()
  }
}
