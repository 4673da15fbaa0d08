import { randomBytes } from 'node:crypto'
import { PassThrough } from 'node:stream'
import type { FastifyReply } from 'fastify'
import { PlexusError, isPlexusError } from '../errors.js'
import type { InferenceEngine, GenerateRequest } from '../inference/engine.js'
import type { Router, RoutedResult } from '../router/router.js'
import { requestedLevel, type PrivacyTag } from '../router/privacy.js'
import type { Metrics } from './metrics.js'
import { openaiErrorBody, toPlexusError } from './errors.js'

/**
 * Finds a registered model by the name a client sent. Ollama clients add `:latest` to bare names,
 * so `stories260K:latest` finds `stories260K`.
 */
export function resolveModelName (engine: InferenceEngine, name: string | undefined): string {
  if (name == null || name === '') return engine.defaultModelName()
  if (engine.registry.has(name)) return name
  if (name.endsWith(':latest') && engine.registry.has(name.slice(0, -':latest'.length))) return name.slice(0, -':latest'.length)
  throw new PlexusError('PLX_ERR_MODEL_NOT_FOUND', [name], { param: 'model' })
}

/** An AbortSignal that fires when the client goes away before the response is complete. */
export function disconnectSignal (reply: FastifyReply): AbortSignal {
  const controller = new AbortController()
  // The response's 'close' fires when the connection goes away or after the response is sent; only
  // the former, seen as an unfinished response, means the client left. (The request's own 'close'
  // fires as soon as its body has been read, so it cannot be used.)
  reply.raw.once('close', () => {
    if (!reply.raw.writableFinished) controller.abort(new PlexusError('PLX_ERR_ABORTED'))
  })
  return controller.signal
}

/** The privacy level a request asked for: `plexus.privacy` in the body, else `X-Plexus-Privacy`, else the node's default. */
export function requestPrivacy (router: Router, headers: Record<string, unknown>, bodyField: string | undefined): PrivacyTag {
  const header = headers['x-plexus-privacy']
  return { level: requestedLevel(typeof header === 'string' ? header : undefined, bodyField, router.defaultPrivacy), pinnedBy: [] }
}

/** Routes a generation (here, a peer or the cloud) and records its metrics (tokens, time to first token, outcome). */
export async function generateWithMetrics (
  router: Router,
  metrics: Metrics,
  req: GenerateRequest,
  options: { privacy: PrivacyTag, signal: AbortSignal, onText?: (delta: string) => void }
): Promise<RoutedResult> {
  try {
    const result = await router.generate(req, options)
    metrics.completionTokens.inc({ model: result.model }, result.usage.completionTokens)
    metrics.promptTokens.inc({ model: result.model }, result.usage.promptTokens)
    metrics.timeToFirstToken.observe({ model: result.model }, (result.timings.queuedMs + result.timings.firstTokenMs) / 1000)
    metrics.generations.inc({ model: result.model, outcome: result.finishReason })
    metrics.routed.inc({ route: result.route.kind })
    return result
  } catch (err) {
    const outcome = isPlexusError(err, 'PLX_ERR_ABORTED') ? 'cancelled' : 'error'
    metrics.generations.inc({ model: req.model, outcome })
    throw err
  }
}

/**
 * A streaming response body. Fastify sends the stream (so hooks and metrics still run); writes
 * after the client left are dropped.
 *
 * Chunks written in the same turn of the event loop go out as one socket write, issued from
 * `setImmediate` (the same loop iteration, so no chunk waits for a later one): a token arrives
 * from node-llama-cpp in the poll phase, the engine asks for the next one before this flush runs,
 * and the write then overlaps with llama.cpp decoding instead of delaying it. Each chunk keeps its
 * own event/line, so clients see exactly the same bytes as with a write per chunk.
 */
export function openStream (reply: FastifyReply, contentType: string): { write: (chunk: string) => void, end: () => void } {
  const body = new PassThrough()
  void reply
    .header('content-type', contentType)
    .header('cache-control', 'no-cache')
    .header('x-accel-buffering', 'no')
    .send(body)
  const open = (): boolean => !body.destroyed && !body.writableEnded
  let queued: string[] = []
  let scheduled = false
  const flush = (): void => {
    scheduled = false
    if (queued.length === 0) return
    const data = queued.length === 1 ? queued[0] as string : queued.join('')
    queued = []
    if (open()) body.write(data)
  }
  return {
    write: chunk => {
      if (!open()) return
      queued.push(chunk)
      if (!scheduled) {
        scheduled = true
        setImmediate(flush)
      }
    },
    end: () => {
      flush()
      if (open()) body.end()
    }
  }
}

/**
 * `JSON.stringify(make(text))` for a chunk shape that only varies in one string, built once: the
 * object is serialised with a unique placeholder, and each call splices the JSON of `text` in.
 * The bytes are exactly those of serialising the whole object, without doing so per token.
 */
export function jsonWithHole (make: (hole: string) => object): (text: string) => string {
  const hole = `\u0000plexus-${randomBytes(8).toString('hex')}\u0000`
  const json = JSON.stringify(make(hole))
  const quoted = JSON.stringify(hole)
  const at = json.indexOf(quoted)
  if (at < 0 || json.indexOf(quoted, at + 1) >= 0) return text => JSON.stringify(make(text))
  const before = json.slice(0, at)
  const after = json.slice(at + quoted.length)
  return text => before + JSON.stringify(text) + after
}

/**
 * Writes a Server-Sent Events response: each object as a `data:` event, then `data: [DONE]`. An
 * error after the stream started is sent as an `error` object event (the status is already 200).
 */
export async function streamSse (reply: FastifyReply, body: (write: (event: object) => void, writeJson: (json: string) => void) => Promise<void>): Promise<void> {
  const stream = openStream(reply, 'text/event-stream; charset=utf-8')
  const writeJson = (json: string): void => stream.write(`data: ${json}\n\n`)
  const write = (event: object): void => writeJson(JSON.stringify(event))
  try {
    await body(write, writeJson)
    stream.write('data: [DONE]\n\n')
  } catch (err) {
    if (!isPlexusError(err, 'PLX_ERR_ABORTED')) write(openaiErrorBody(toPlexusError(err, 0)))
  } finally {
    stream.end()
  }
}
