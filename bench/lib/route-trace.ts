/**
 * Where the time to first token goes: two real nodes in this process, with their
 * router, engine, network and libp2p methods wrapped at run time to timestamp each step of one
 * request (src/ is untouched). One process means one clock, so the steps add up exactly; it also
 * means one event loop, so the absolute figures are a little higher than with separate processes.
 *
 * @packageDocumentation
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { PlexusNode } from '../../src/node/node.js'
import { silentLogger } from '../../src/logger.js'
import type { ConfigOverrides } from '../../src/node/config.js'
import { streamTimed, ttftMs } from './sse-stream.js'

/** Milliseconds after the client sent the request, per step mark. */
export type Marks = Record<string, number>

export interface TraceResult {
  /** Per path (`local`, `peer`), the marks of every timed request. */
  runs: Record<string, Marks[]>
  /** Token frames per request on the peer path (= SSE text events seen by the client). */
  framesPerRequest: number[]
  tokensPerRequest: number[]
}

/** A node started in this process for tracing. */
export interface Traced {
  node: PlexusNode
  url: string
  dataDir: string
}

/**
 * Starts a node in this process: 127.0.0.1, random ports, no mDNS, one decode thread, no community
 * rate limit.
 *
 * @param config - overrides
 * @param models - model files to serve
 * @param embeddedModel - register stories260K when no models are given
 */
export async function startNode (config: ConfigOverrides, models: string[] | undefined, embeddedModel: boolean): Promise<Traced> {
  const dataDir = mkdtempSync(join(tmpdir(), 'plexus-trace-'))
  const node = await PlexusNode.create({
    dataDir,
    logger: silentLogger(),
    writeRuntimeFile: false,
    models,
    embeddedModel,
    config: {
      ...config,
      api: { host: '127.0.0.1', port: 0 },
      inference: { threads: 1, parallel: 2, ...config.inference },
      network: { host: '127.0.0.1', port: 0, mdns: false, community: { requestsPerMinutePerPeer: 100_000 }, ...config.network }
    }
  })
  return { node, url: await node.start(), dataDir }
}

/**
 * Runs `reps` interleaved requests per path (`local` on B, `peer` through A) and returns the step
 * marks: `A.router`/`B.router` (router.generate), `A.run` (PlexusNetwork.run), `A.open`/`A.opened`
 * (a `dialProtocol` for the inference stream on the request path, absent when A used the idle
 * stream it keeps per peer), `A.send` (request frame), `B.engine` (engine.generate), `B.piece`
 * (first token on B), `A.piece` (first token frame on A), `A.text`/`B.text` (router emits text),
 * `client` (first text at the client).
 *
 * @param o - model file (served by B), request settings
 */
export async function traceRoutes (o: { model: string, prompt: string, maxTokens: number, reps: number, warmup?: number, seed?: number, temperature?: number }): Promise<TraceResult> {
  const nodes: Traced[] = []
  try {
    const B = await startNode({}, [o.model], false)
    nodes.push(B)
    const A = await startNode({ network: { bootstrap: [B.node.network?.multiaddrs()[0] ?? ''] } }, undefined, false)
    nodes.push(A)
    const modelName = B.node.registry.list()[0]?.name ?? ''
    await waitForNetworkModel([A], modelName)
    let marks: Marks = {}
    let t0 = 0
    const mark = (k: string): void => { if (marks[k] == null) marks[k] = performance.now() - t0 }
    // Between A.run and the request frame: the request path (a stream opened for the next request
    // after this one is not part of it).
    const onRequestPath = (): boolean => marks['A.run'] != null && marks['A.send'] == null
    for (const [n, tag] of [[A, 'A'], [B, 'B']] as const) {
      const router = n.node.router
      const generate = router.generate.bind(router)
      router.generate = async (req, opts) => {
        mark(`${tag}.router`)
        return await generate(req, { ...opts, onText: (t) => { mark(`${tag}.text`); opts.onText?.(t) } })
      }
    }
    const engine = B.node.engine
    const engineGenerate = engine.generate.bind(engine)
    engine.generate = async (req, opts = {}) => {
      mark('B.engine')
      return await engineGenerate(req, { ...opts, onPiece: (ids, text) => { mark('B.piece'); opts.onPiece?.(ids, text) } })
    }
    const network = A.node.network
    if (network == null) throw new Error('network off')
    const run = network.run.bind(network)
    network.run = async (peer, job, opts) => {
      mark('A.run')
      return await run(peer, job, { ...opts, onPiece: (ids, text) => { mark('A.piece'); opts.onPiece(ids, text) } })
    }
    const libp2p = network.libp2p
    const dial = libp2p.dialProtocol.bind(libp2p)
    libp2p.dialProtocol = (async (...args: Parameters<typeof dial>) => {
      const timed = onRequestPath()
      if (timed) mark('A.open')
      const s = await dial(...args)
      if (timed) mark('A.opened')
      const send = s.send.bind(s)
      s.send = (data) => { if (onRequestPath()) mark('A.send'); return send(data) }
      return s
    }) as typeof libp2p.dialProtocol
    const body = { model: modelName, prompt: o.prompt, max_tokens: o.maxTokens, seed: o.seed ?? 1, temperature: o.temperature ?? 0.8 }
    const paths: Array<[string, string, Record<string, string>]> = [
      ['local', B.url, {}],
      ['peer', A.url, { 'x-plexus-privacy': 'community' }]
    ]
    const result: TraceResult = { runs: { local: [], peer: [] }, framesPerRequest: [], tokensPerRequest: [] }
    const warmup = o.warmup ?? 5
    for (let i = 0; i < warmup + o.reps; i++) {
      const order = i % 2 === 0 ? paths : [...paths].reverse()
      for (const [name, url, headers] of order) {
        // Let the previous request's after-work (stream closes, A opening its next stream) finish.
        await new Promise((resolve) => setTimeout(resolve, 20))
        marks = {}
        t0 = performance.now()
        const s = await streamTimed(`${url}/v1/completions`, body, headers)
        marks.client = ttftMs(s)
        if (i < warmup) continue
        result.runs[name]!.push(marks)
        if (name === 'peer') {
          result.framesPerRequest.push(s.arrivals.length)
          result.tokensPerRequest.push(s.completionTokens)
        }
      }
    }
    return result
  } finally {
    await stopNodes(nodes)
  }
}

/**
 * Stops nodes started with {@link startNode} (last first) and removes their data directories.
 *
 * @param nodes - the nodes
 */
export async function stopNodes (nodes: Traced[]): Promise<void> {
  for (const n of [...nodes].reverse()) {
    await n.node.stop({ graceMs: 0 }).catch(() => {})
    rmSync(n.dataDir, { recursive: true, force: true })
  }
}

/**
 * Waits until every requester lists `model` as served on the network (B's adverts arrived).
 *
 * @param requesters - nodes without the model
 * @param model - model name
 * @param timeoutMs - give up after this long
 */
export async function waitForNetworkModel (requesters: Traced[], model: string, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!requesters.every((n) => n.node.router.models().some((m) => m.id === model && m.location === 'network'))) {
    if (Date.now() > deadline) throw new Error(`adverts did not arrive within ${timeoutMs} ms`)
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
}
