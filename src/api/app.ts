import Fastify, { LogController } from 'fastify'
import swagger from '@fastify/swagger'
import { serializerCompiler, validatorCompiler, jsonSchemaTransform, type ZodTypeProvider } from 'fastify-type-provider-zod'
import { PlexusError } from '../errors.js'
import type { Logger } from '../logger.js'
import type { InferenceEngine } from '../inference/engine.js'
import type { Router } from '../router/router.js'
import type { PlexusNetwork } from '../p2p/network.js'
import { networkRoutes } from './plexus/network.js'
import { modelRoutes } from './plexus/models.js'
import { federatedRoutes } from './plexus/federated.js'
import { statsRoutes } from './plexus/stats.js'
import { ledgerRoutes } from './plexus/ledger.js'
import type { Books } from '../ledger/books.js'
import type { GovernanceService } from '../governance/service.js'
import { govRoutes } from './plexus/gov.js'
import type { StatsService } from '../analytics/service.js'
import type { DataRegistry } from '../data/registry.js'
import type { FederatedService } from '../federated/service.js'
import type { ApiKeyStore } from '../auth/keys.js'
import type { CabinetService } from '../cabinets/service.js'
import { cabinetRoutes } from './plexus/cabinets.js'
import { authenticate, RateLimiter, type Caller } from './auth.js'
import { toPlexusError, sendOpenAIError, sendOllamaError, isOllamaRoute } from './errors.js'
import type { Metrics } from './metrics.js'
import { openaiRoutes } from './openai/routes.js'
import { ollamaRoutes } from './ollama/routes.js'
import { plexusRoutes, type NodeStatusSource } from './plexus/routes.js'
import { isDashboardPath, webRoutes } from './web.js'

export interface ApiComponents {
  engine: InferenceEngine
  router: Router
  network: PlexusNetwork | null
  data: DataRegistry
  federated: FederatedService
  stats: StatsService
  books: Books
  governance: GovernanceService
  cabinets: CabinetService
  keys: ApiKeyStore
  metrics: Metrics
  logger: Logger
  node: NodeStatusSource
}

export interface ApiOptions {
  bodyLimitBytes: number
  rateLimitPerMinute: number
  requireApiKey: boolean
  /** Bearer token for the CLI on the same machine (from the data directory's runtime file). */
  localToken: string | null
}

declare module 'fastify' {
  interface FastifyRequest {
    caller: Caller | null
  }
}

/** Routes anyone may call: liveness checks must work without credentials. */
const PUBLIC_ROUTES = new Set(['/health'])

/**
 * Builds the HTTP API (not listening): OpenAI-compatible `/v1`, Ollama-compatible `/api`, the
 * native `/api/plexus`, `/health`, `/metrics` and `/openapi.json`. Tests drive it with `inject()`.
 */
export async function buildApi (components: ApiComponents, options: ApiOptions) {
  const app = Fastify({
    bodyLimit: options.bodyLimitBytes,
    loggerInstance: components.logger.child({ component: 'plexus:api' }),
    logController: new LogController({ disableRequestLogging: true }),
    // Generation can legitimately take minutes; the client decides when to give up.
    requestTimeout: 0,
    return503OnClosing: true,
    forceCloseConnections: 'idle'
  }).withTypeProvider<ZodTypeProvider>()

  // Ollama's documentation and clients post JSON with any Content-Type (curl -d sends a form type).
  app.removeContentTypeParser('text/plain')
  app.addContentTypeParser('*', { parseAs: 'string' }, (_request, body, done) => {
    try {
      done(null, body === '' ? undefined : JSON.parse(body as string))
    } catch (err) {
      done(new PlexusError('PLX_ERR_INVALID_JSON', [(err as Error).message]), undefined)
    }
  })
  app.setValidatorCompiler(validatorCompiler)
  app.setSerializerCompiler(serializerCompiler)
  app.decorateRequest('caller', null)

  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'Plexus node API',
        version: components.node.version,
        description: 'OpenAI-compatible (/v1), Ollama-compatible (/api) and native (/api/plexus) endpoints of a Plexus node.'
      },
      components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } },
      security: [{ bearer: [] }]
    },
    transform: jsonSchemaTransform
  })

  const limiter = new RateLimiter(options.rateLimitPerMinute)
  app.addHook('onRequest', async (request) => {
    const path = request.url.split('?')[0] ?? ''
    if (PUBLIC_ROUTES.has(path) || (request.method === 'GET' && isDashboardPath(path))) return
    request.caller = authenticate(request, { keys: components.keys, requireApiKey: options.requireApiKey, localToken: options.localToken })
    limiter.check(request.caller)
  })

  app.addHook('onResponse', async (request, reply) => {
    const route = request.routeOptions.url ?? 'unmatched'
    components.metrics.requests.inc({ method: request.method, route, status: String(reply.statusCode) })
    components.metrics.latency.observe({ route }, reply.elapsedTime / 1000)
  })

  app.setErrorHandler(async (err, request, reply) => {
    const e = toPlexusError(err, options.bodyLimitBytes)
    if (e.statusCode >= 500 && e.code !== 'PLX_ERR_SHUTTING_DOWN' && e.code !== 'PLX_ERR_QUEUE_FULL') {
      request.log.error({ err, code: e.code }, e.message)
    }
    return isOllamaRoute(request) ? sendOllamaError(reply, e) : sendOpenAIError(reply, e)
  })

  app.setNotFoundHandler(async (request, reply) => {
    const e = new PlexusError('PLX_ERR_ROUTE_NOT_FOUND', [request.method, request.url.split('?')[0] ?? ''])
    return isOllamaRoute(request) ? sendOllamaError(reply, e) : sendOpenAIError(reply, e)
  })

  await app.register(openaiRoutes, { prefix: '/v1', engine: components.engine, router: components.router, cabinets: components.cabinets, metrics: components.metrics })
  await app.register(cabinetRoutes, { prefix: '/api/plexus/cabinets', cabinets: components.cabinets })
  await app.register(ollamaRoutes, { prefix: '/api', engine: components.engine, router: components.router, metrics: components.metrics, version: components.node.version, onModelsChanged: () => components.network?.advertiseNow() })
  await app.register(plexusRoutes, { engine: components.engine, metrics: components.metrics, node: components.node, keys: components.keys })

  await app.register(modelRoutes, { engine: components.engine, network: components.network })
  await app.register(networkRoutes, { network: components.network, router: components.router })
  await app.register(federatedRoutes, { data: components.data, federated: components.federated })
  await app.register(statsRoutes, { stats: components.stats })
  await app.register(ledgerRoutes, { books: components.books })
  await app.register(govRoutes, { governance: components.governance })

  app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger())
  await app.register(webRoutes, {})
  return app
}

export type PlexusApi = Awaited<ReturnType<typeof buildApi>>
