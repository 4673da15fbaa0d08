import { PassThrough } from 'node:stream'
import type { FastifyReply } from 'fastify'
import { PlexusError, isPlexusError } from '../errors.js'
import type { InferenceEngine, GenerateRequest, GenerateResult } from '../inference/engine.js'
import type { Metrics } from './metrics.js'

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

/** Runs a generation and records its metrics (tokens, time to first token, outcome). */
export async function generateWithMetrics (
  engine: InferenceEngine,
  metrics: Metrics,
  req: GenerateRequest,
  options: { signal: AbortSignal, onText?: (delta: string) => void }
): Promise<GenerateResult> {
  try {
    const result = await engine.generate(req, options)
    metrics.completionTokens.inc({ model: result.model }, result.usage.completionTokens)
    metrics.promptTokens.inc({ model: result.model }, result.usage.promptTokens)
    metrics.timeToFirstToken.observe({ model: result.model }, (result.timings.queuedMs + result.timings.firstTokenMs) / 1000)
    metrics.generations.inc({ model: result.model, outcome: result.finishReason })
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
 */
export function openStream (reply: FastifyReply, contentType: string): { write: (chunk: string) => void, end: () => void } {
  const body = new PassThrough()
  void reply
    .header('content-type', contentType)
    .header('cache-control', 'no-cache')
    .header('x-accel-buffering', 'no')
    .send(body)
  return {
    write: chunk => { if (!body.destroyed && !body.writableEnded) body.write(chunk) },
    end: () => { if (!body.destroyed && !body.writableEnded) body.end() }
  }
}
