/**
 * The TokenBatcher window, varied: node B serves copies of the `/plexus/infer/1.0.0` server with
 * other batching windows under bench-only protocol ids, and one requester node per window has its
 * `dialProtocol` redirected to that copy, so the router, requester and SSE path are the real ones. Everything runs
 * in this process (one clock; CPU per request is this process's). src/ is untouched.
 *
 * The copy keeps the real server's request handling minus the operator limits (rate, concurrency,
 * token cap), which cost microseconds once per request.
 *
 * @packageDocumentation
 */
import type { Stream } from '@libp2p/interface'
import type { InferenceEngine } from '../../src/inference/engine.js'
import { readFrames, sendFrame } from '../../src/p2p/framing.js'
import { INFER_PROTOCOL, InferRequestSchema, MAX_INFER_FRAME_BYTES, TokenBatcher, toGenerateRequest } from '../../src/p2p/infer-protocol.js'
import type { ServerFrame } from '../../src/p2p/infer-protocol.js'
import { startNode, stopNodes, waitForNetworkModel } from './route-trace.js'
import type { Traced } from './route-trace.js'
import { decodeTps, streamTimed } from './sse-stream.js'
import { median } from './stats.js'

/** The server side of one stream with a given batching window (the real handler, simplified). */
async function serve (engine: InferenceEngine, windowMs: number, stream: Stream): Promise<void> {
  const send = async (frame: ServerFrame): Promise<void> => { await sendFrame(stream, frame, MAX_INFER_FRAME_BYTES) }
  const frames = readFrames(stream, MAX_INFER_FRAME_BYTES)
  const job = new AbortController()
  try {
    const first = await frames.next()
    const parsed = InferRequestSchema.safeParse(first.value)
    if (first.done === true || !parsed.success) throw new Error('bad request')
    void (async () => {
      try { for await (const _ of frames) break } catch {}
      job.abort()
    })()
    stream.addEventListener('close', () => job.abort(), { once: true })
    const batcher = new TokenBatcher((frame) => { void send(frame).catch(() => job.abort()) }, windowMs)
    const result = await engine.generate(toGenerateRequest(parsed.data), { signal: job.signal, onPiece: (ids, text) => batcher.add(ids, text) })
    batcher.flush()
    await send({ type: 'done', finishReason: result.finishReason, usage: result.usage })
    await stream.close({ signal: AbortSignal.timeout(5_000) }).catch(() => stream.abort(new Error('close timed out')))
  } catch (err) {
    stream.abort(err as Error)
  }
}

const protocolFor = (windowMs: number): string => `/plexus-bench/infer-w${windowMs}/1.0.0`

/** Per configuration: medians over the requests. */
export interface WindowResult {
  /** `local`, `src (4 ms)` or `copy, N ms`. */
  config: string
  windowMs: number | null
  tps: number
  /** SSE text events the client got = token frames for the peer configurations. */
  events: number
  tokens: number
  /** CPU of this process (A, B and the client together) per request, ms. */
  cpuMs: number
}

/**
 * Streams `reps` interleaved requests per configuration and reports decode rate, frames and CPU.
 *
 * @param o - model (served by B), request size, windows to try (ms)
 */
export async function measureWindows (o: { model: string, prompt: string, maxTokens: number, reps: number, windows: number[], seed: number }): Promise<WindowResult[]> {
  const nodes: Traced[] = []
  try {
    const B = await startNode({}, [o.model], false)
    nodes.push(B)
    const bNet = B.node.network
    if (bNet == null) throw new Error('network off')
    for (const w of o.windows) {
      await bNet.libp2p.handle(protocolFor(w), async (stream) => { await serve(B.node.engine, w, stream) }, { maxInboundStreams: 64 })
    }
    // One requester per configuration: a requester keeps an idle stream per peer for its next
    // request, so one requester switching protocols would hand a request the previous one's.
    const requester = async (windowMs: number | null): Promise<Traced> => {
      const A = await startNode({ network: { bootstrap: [bNet.multiaddrs()[0] ?? ''] } }, undefined, false)
      nodes.push(A)
      const libp2p = A.node.network?.libp2p
      if (libp2p == null) throw new Error('network off')
      if (windowMs != null) {
        const dial = libp2p.dialProtocol.bind(libp2p)
        libp2p.dialProtocol = (async (peer, protocols, options) =>
          await dial(peer, protocols === INFER_PROTOCOL ? protocolFor(windowMs) : protocols, options)) as typeof libp2p.dialProtocol
      }
      return A
    }
    const name = B.node.registry.list()[0]?.name ?? ''
    const peerHeaders = { 'x-plexus-privacy': 'community' }
    const configs: Array<{ config: string, windowMs: number | null, url: string, headers: Record<string, string> }> = [
      { config: 'local', windowMs: null, url: B.url, headers: {} },
      { config: 'src (4 ms)', windowMs: null, url: (await requester(null)).url, headers: peerHeaders }
    ]
    for (const w of o.windows) configs.push({ config: `copy, ${w} ms`, windowMs: w, url: (await requester(w)).url, headers: peerHeaders })
    await waitForNetworkModel(nodes.slice(1), name)
    const body = { model: name, prompt: o.prompt, max_tokens: o.maxTokens, seed: o.seed }
    const samples = new Map<string, Array<{ tps: number, events: number, tokens: number, cpuMs: number }>>(configs.map((c) => [c.config, []]))
    for (let r = -1; r < o.reps; r++) {
      const order = configs.map((_, i) => configs[(i + Math.max(0, r)) % configs.length]!)
      for (const c of order) {
        const u0 = process.cpuUsage()
        const s = await streamTimed(`${c.url}/v1/completions`, body, c.headers)
        const u = process.cpuUsage(u0)
        if (r >= 0) samples.get(c.config)!.push({ tps: decodeTps(s), events: s.arrivals.length, tokens: s.completionTokens, cpuMs: (u.user + u.system) / 1000 })
      }
    }
    return configs.map((c) => {
      const xs = samples.get(c.config)!
      return { config: c.config, windowMs: c.windowMs, tps: median(xs.map((x) => x.tps)), events: median(xs.map((x) => x.events)), tokens: median(xs.map((x) => x.tokens)), cpuMs: median(xs.map((x) => x.cpuMs)) }
    })
  } finally {
    await stopNodes(nodes)
  }
}
