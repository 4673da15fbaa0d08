/**
 * The dashboard: the Vite build of `web/` (in `dist/web`, made by `npm install`'s prepare step)
 * served at `/`. The page and its assets are public — they hold no data; every API call the page
 * makes carries the owner's key like any other client. `GET /` without `Accept: text/html` answers
 * one line, as Ollama does, so scripts probing the root keep working.
 *
 * @packageDocumentation
 */
import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify'
import fastifyStatic from '@fastify/static'
import { PACKAGE_ROOT } from '../paths.js'

export const WEB_DIR = join(PACKAGE_ROOT, 'dist', 'web')

/** Strict: the page loads only its own scripts and styles and talks only to this node. */
export const DASHBOARD_CSP = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self' 'unsafe-inline'",
  "img-src 'self' data: blob:",
  "connect-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "frame-ancestors 'none'",
  "form-action 'self'"
].join('; ')

/** Paths the dashboard serves without credentials. */
export function isDashboardPath (path: string): boolean {
  return path === '/' || path === '/index.html' || path.startsWith('/assets/')
}

export const webRoutes: FastifyPluginAsync<{ dir?: string }> = async (app, options) => {
  const dir = options.dir ?? WEB_DIR
  const indexFile = join(dir, 'index.html')
  const built = existsSync(indexFile)
  const index = built ? readFileSync(indexFile) : null

  if (built && existsSync(join(dir, 'assets'))) {
    await app.register(fastifyStatic, {
      root: join(dir, 'assets'),
      prefix: '/assets/',
      // Vite puts a content hash in every asset name, so they never change.
      immutable: true,
      maxAge: '365d',
      wildcard: false,
      schemaHide: true
    })
  }

  const page = async (request: FastifyRequest, reply: FastifyReply): Promise<unknown> => {
    const wantsHtml = (request.headers.accept ?? '').includes('text/html')
    if (!wantsHtml) return await reply.type('text/plain; charset=utf-8').send('Plexus is running\n')
    if (index == null) {
      return await reply.code(503).type('text/plain; charset=utf-8')
        .send('The dashboard is not built. Run `npm install` (or `npm run build`) in the Plexus folder, then restart the node.\n')
    }
    return await reply
      .header('content-security-policy', DASHBOARD_CSP)
      .header('x-content-type-options', 'nosniff')
      .header('referrer-policy', 'no-referrer')
      .header('cache-control', 'no-cache')
      .type('text/html; charset=utf-8')
      .send(index)
  }
  app.get('/', { schema: { hide: true } }, page)
  app.get('/index.html', { schema: { hide: true } }, page)
}
