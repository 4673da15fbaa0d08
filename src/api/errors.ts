import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify'
import { hasZodFastifySchemaValidationErrors } from 'fastify-type-provider-zod'
import { PlexusError, isPlexusError } from '../errors.js'

/** Turns anything thrown in a route into a PlexusError with the right status and param. */
export function toPlexusError (err: unknown, bodyLimit: number): PlexusError {
  if (isPlexusError(err)) return err
  const fe = err as FastifyError & { validation?: unknown, validationContext?: string }
  if (hasZodFastifySchemaValidationErrors(fe)) {
    const first = fe.validation[0]
    const path = (first?.instancePath ?? '').replace(/^\//, '').replace(/\//g, '.')
    const where = fe.validationContext ?? 'body'
    const message = fe.validation
      .slice(0, 5)
      .map(v => `${v.instancePath === '' ? where : v.instancePath.replace(/^\//, '').replace(/\//g, '.')}: ${v.message ?? 'invalid'}`)
      .join('; ')
    return new PlexusError('PLX_ERR_BAD_REQUEST', [`Invalid request ${where}: ${message}`], { param: path === '' ? undefined : path })
  }
  switch (fe.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return new PlexusError('PLX_ERR_BODY_TOO_LARGE', [bodyLimit])
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return new PlexusError('PLX_ERR_INVALID_JSON', [fe.message])
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return new PlexusError('PLX_ERR_BAD_REQUEST', ['Unsupported Content-Type: send application/json'])
    default:
      break
  }
  if (fe instanceof SyntaxError && fe.statusCode === 400) return new PlexusError('PLX_ERR_INVALID_JSON', [fe.message])
  if (typeof fe.statusCode === 'number' && fe.statusCode >= 400 && fe.statusCode < 500) {
    return new PlexusError('PLX_ERR_BAD_REQUEST', [fe.message])
  }
  return new PlexusError('PLX_ERR_INTERNAL', [fe?.message ?? String(err)], { cause: err })
}

/** OpenAI's error body: `{"error":{"message","type","param","code"}}`. */
export function openaiErrorBody (e: PlexusError): { error: { message: string, type: string, param: string | null, code: string } } {
  return { error: { message: e.message, type: e.type, param: e.param, code: e.openaiCode } }
}

/** Sends an error in OpenAI's shape (used by /v1 and the native API). */
export function sendOpenAIError (reply: FastifyReply, e: PlexusError): FastifyReply {
  if (e.retryAfterSeconds != null) void reply.header('retry-after', String(e.retryAfterSeconds))
  return reply.status(e.statusCode).type('application/json').send(openaiErrorBody(e))
}

/** Ollama's error body: `{"error":"message"}`. */
export function sendOllamaError (reply: FastifyReply, e: PlexusError): FastifyReply {
  if (e.retryAfterSeconds != null) void reply.header('retry-after', String(e.retryAfterSeconds))
  return reply.status(e.statusCode).type('application/json').send({ error: e.message })
}

export function isOllamaRoute (request: FastifyRequest): boolean {
  return request.url.startsWith('/api/') && !request.url.startsWith('/api/plexus')
}
