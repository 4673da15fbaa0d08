import { describe, it, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { request as httpRequest } from 'node:http'
import { PlexusNode } from '../../src/node/node.js'
import { silentLogger } from '../../src/logger.js'
import { startTestNode, tempDir, readSse, metricValue, type TestNode } from '../helpers/node.js'

const json = (body: unknown): RequestInit => ({ method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) })

describe('scheduling: concurrency, cancellation, determinism', () => {
  let t: TestNode

  before(async () => { t = await startTestNode({ inference: { parallel: 2, maxQueue: 16 } }) })
  after(async () => { await t.close() })

  it('completes 8 concurrent requests over 2 parallel sequences', async () => {
    const results = await Promise.all(Array.from({ length: 8 }, async (_, i) => {
      const r = await fetch(`${t.url}/v1/completions`, json({ model: 'stories260K', prompt: 'Once upon a time', max_tokens: 30, seed: i, temperature: 0.8 }))
      assert.equal(r.status, 200)
      return await r.json() as { usage: { completion_tokens: number }, choices: Array<{ text: string, finish_reason: string }> }
    }))
    assert.equal(results.length, 8)
    for (const r of results) {
      assert.ok(r.usage.completion_tokens >= 1)
      assert.ok(r.choices[0]!.text.length > 0)
    }
    assert.deepEqual(t.node.engine.queueStats(), { active: 0, waiting: 0 })
  })

  it('repeats seeded outputs exactly, and different seeds differ', async () => {
    const ask = async (seed: number): Promise<string> => {
      const r = await fetch(`${t.url}/v1/chat/completions`, json({ model: 'stories260K', messages: [{ role: 'user', content: 'Tell a story' }], max_tokens: 40, temperature: 1, seed }))
      return (await r.json() as { choices: Array<{ message: { content: string } }> }).choices[0]!.message.content
    }
    const a = await ask(42)
    const b = await ask(42)
    const c = await ask(43)
    assert.equal(a, b)
    assert.notEqual(a, c)
  })

  it('frees the slot when a streaming client disconnects', async () => {
    const before = await (await fetch(`${t.url}/metrics`)).text()
    const cancelledBefore = metricValue(before, 'plexus_generations_total', 'model="stories260K",outcome="cancelled"') ?? 0

    // Occupy both sequences with long generations, read a little of each, then hang up.
    const controllers = [new AbortController(), new AbortController()]
    await Promise.all(controllers.map(async c => {
      const r = await fetch(`${t.url}/v1/completions`, { ...json({ model: 'stories260K', prompt: 'Once upon a time', max_tokens: 500, stream: true, temperature: 1 }), signal: c.signal })
      assert.equal(r.status, 200)
      const reader = r.body!.getReader()
      await reader.read()
      c.abort()
    }))

    // A new request gets a slot and completes.
    const r = await fetch(`${t.url}/v1/completions`, json({ model: 'stories260K', prompt: 'Once', max_tokens: 5 }))
    assert.equal(r.status, 200)
    // Both cancellations were recorded as such (the abort is noticed at the next token).
    let cancelled = 0
    for (let i = 0; i < 100 && cancelled < cancelledBefore + 2; i++) {
      cancelled = metricValue(await (await fetch(`${t.url}/metrics`)).text(), 'plexus_generations_total', 'model="stories260K",outcome="cancelled"') ?? 0
      if (cancelled < cancelledBefore + 2) await new Promise(resolve => setTimeout(resolve, 20))
    }
    assert.equal(cancelled, cancelledBefore + 2)
    assert.deepEqual(t.node.engine.queueStats(), { active: 0, waiting: 0 })
  })

  it('frees the slot when a non-streaming client disconnects', async () => {
    const done = new Promise<void>((resolve) => {
      const req = httpRequest(`${t.url}/v1/completions`, { method: 'POST', headers: { 'content-type': 'application/json' } })
      req.on('error', () => resolve())
      req.end(JSON.stringify({ model: 'stories260K', prompt: 'Once upon a time', max_tokens: 500 }))
      setTimeout(() => { req.destroy(); resolve() }, 30)
    })
    await done
    for (let i = 0; i < 100 && t.node.engine.queueStats().active > 0; i++) await new Promise(resolve => setTimeout(resolve, 20))
    assert.deepEqual(t.node.engine.queueStats(), { active: 0, waiting: 0 })
  })
})

describe('bad input gets a clear error and breaks nothing', () => {
  let t: TestNode

  before(async () => { t = await startTestNode({ api: { bodyLimitBytes: 64 * 1024 } }) })
  after(async () => { await t.close() })

  const errorOf = async (r: Response): Promise<{ message: string, type: string, code: string, param: string | null }> =>
    (await r.json() as { error: { message: string, type: string, code: string, param: string | null } }).error

  it('refuses invalid JSON with 400', async () => {
    const r = await fetch(`${t.url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"model": "stories260K", "messages": [' })
    assert.equal(r.status, 400)
    const e = await errorOf(r)
    assert.equal(e.code, 'invalid_json')
    assert.equal(e.type, 'invalid_request_error')
  })

  it('refuses missing fields and wrong types with 400 naming the field', async () => {
    const missing = await fetch(`${t.url}/v1/chat/completions`, json({ model: 'stories260K' }))
    assert.equal(missing.status, 400)
    assert.equal((await errorOf(missing)).param, 'messages')

    const wrongType = await fetch(`${t.url}/v1/chat/completions`, json({ model: 'stories260K', messages: 'hello' }))
    assert.equal(wrongType.status, 400)
    assert.equal((await errorOf(wrongType)).param, 'messages')

    const badRole = await fetch(`${t.url}/v1/chat/completions`, json({ model: 'stories260K', messages: [{ role: 'wizard', content: 'hi' }] }))
    assert.equal(badRole.status, 400)

    const temp = await fetch(`${t.url}/v1/completions`, json({ model: 'stories260K', prompt: 'x', temperature: 'hot' }))
    assert.equal(temp.status, 400)
    assert.equal((await errorOf(temp)).param, 'temperature')

    const negative = await fetch(`${t.url}/v1/completions`, json({ model: 'stories260K', prompt: 'x', max_tokens: -5 }))
    assert.equal(negative.status, 400)
    assert.equal((await errorOf(negative)).param, 'max_tokens')

    const n17 = await fetch(`${t.url}/v1/chat/completions`, json({ model: 'stories260K', messages: [{ role: 'user', content: 'hi' }], n: 17 }))
    assert.equal(n17.status, 400)
    assert.equal((await errorOf(n17)).param, 'n')
    const tooMany = await fetch(`${t.url}/v1/completions`, json({ model: 'stories260K', prompt: ['a', 'b', 'c'], n: 6 }))
    assert.equal(tooMany.status, 400)
    assert.match((await errorOf(tooMany)).message, /At most 16 generations per request/)

    const tools = await fetch(`${t.url}/v1/chat/completions`, json({ model: 'stories260K', messages: [{ role: 'user', content: 'hi' }], tools: [{ type: 'function' }] }))
    assert.equal(tools.status, 400)
    assert.match((await errorOf(tools)).message, /Tool calling is not supported/)
  })

  it('refuses unknown models with 404 and unknown routes with 404', async () => {
    const r = await fetch(`${t.url}/v1/completions`, json({ model: 'gpt-4', prompt: 'x' }))
    assert.equal(r.status, 404)
    assert.equal((await errorOf(r)).code, 'model_not_found')
    const route = await fetch(`${t.url}/v1/nothing-here`)
    assert.equal(route.status, 404)
  })

  it('refuses an oversized body with 413', async () => {
    const r = await fetch(`${t.url}/v1/completions`, json({ model: 'stories260K', prompt: 'x'.repeat(100 * 1024) }))
    assert.equal(r.status, 413)
    assert.equal((await errorOf(r)).code, 'request_too_large')
  })

  it('refuses embedding token ids outside the vocabulary', async () => {
    const r = await fetch(`${t.url}/v1/embeddings`, json({ model: 'stories260K', input: [1, 2, 999999] }))
    assert.equal(r.status, 400)
    assert.equal((await errorOf(r)).param, 'input[0]')
    const ok = await fetch(`${t.url}/v1/embeddings`, json({ model: 'stories260K', input: [1, 2, 3] }))
    assert.equal(ok.status, 200)
  })

  it('keeps serving after all of that', async () => {
    const r = await fetch(`${t.url}/v1/completions`, json({ model: 'stories260K', prompt: 'Once', max_tokens: 3 }))
    assert.equal(r.status, 200)
    assert.equal((await r.json() as { usage: { completion_tokens: number } }).usage.completion_tokens, 3)
  })
})

describe('access control', () => {
  it('refuses to listen on a non-loopback address without an API key', async () => {
    const dataDir = tempDir()
    const node = await PlexusNode.create({ dataDir, logger: silentLogger(), writeRuntimeFile: false, config: { api: { host: '0.0.0.0', port: 0 } } })
    await assert.rejects(node.start(), { code: 'PLX_ERR_INSECURE_BIND' })
    await node.stop()
  })

  it('limits requests per key per minute with 429 and Retry-After', async () => {
    const t = await startTestNode()
    try {
      const { key } = t.node.keys.create('limited', { rateLimitPerMinute: 3 })
      const headers = { authorization: `Bearer ${key}` }
      const statuses: number[] = []
      let retryAfter: string | null = null
      for (let i = 0; i < 4; i++) {
        const r = await fetch(`${t.url}/v1/models`, { headers })
        statuses.push(r.status)
        if (r.status === 429) retryAfter = r.headers.get('retry-after')
      }
      assert.deepEqual(statuses, [200, 200, 200, 429])
      assert.ok(retryAfter != null && Number(retryAfter) >= 1 && Number(retryAfter) <= 60)
    } finally {
      await t.close()
    }
  })
})

describe('observability', () => {
  let t: TestNode
  before(async () => { t = await startTestNode() })
  after(async () => { await t.close() })

  it('exposes Prometheus metrics for requests, tokens, queue and loaded models', async () => {
    await fetch(`${t.url}/v1/completions`, json({ model: 'stories260K', prompt: 'Once', max_tokens: 7, temperature: 0 }))
    const stream = await fetch(`${t.url}/v1/completions`, json({ model: 'stories260K', prompt: 'Once', max_tokens: 5, stream: true }))
    const events = await readSse(stream)
    assert.equal(events.at(-1), '[DONE]')
    const r = await fetch(`${t.url}/metrics`)
    assert.equal(r.status, 200)
    assert.match(r.headers.get('content-type') ?? '', /text\/plain/)
    const text = await r.text()
    assert.equal(metricValue(text, 'plexus_http_requests_total', 'method="POST",route="/v1/completions",status="200"'), 2)
    assert.equal(metricValue(text, 'plexus_tokens_generated_total', 'model="stories260K"'), 12)
    assert.equal(metricValue(text, 'plexus_queue_depth'), 0)
    assert.equal(metricValue(text, 'plexus_models_loaded'), 1)
    assert.ok((metricValue(text, 'plexus_model_memory_bytes', 'model="stories260K"') ?? 0) > 1_000_000)
    assert.equal(metricValue(text, 'plexus_time_to_first_token_seconds_count', 'model="stories260K"'), 2)
  })

  it('serves an OpenAPI document generated from the route schemas', async () => {
    const doc = await (await fetch(`${t.url}/openapi.json`)).json() as { openapi: string, paths: Record<string, Record<string, { requestBody?: { content: Record<string, { schema: { properties?: Record<string, unknown> } }> } }>> }
    assert.equal(doc.openapi, '3.1.0')
    for (const p of ['/v1/chat/completions', '/v1/completions', '/v1/embeddings', '/v1/models', '/api/chat', '/api/generate', '/api/embed', '/api/tags', '/health', '/metrics', '/api/plexus/status']) {
      assert.ok(doc.paths[p] != null, `${p} is documented`)
    }
    const chatBody = doc.paths['/v1/chat/completions']!.post!.requestBody!.content['application/json']!.schema
    assert.ok(chatBody.properties?.messages != null)
    assert.ok(chatBody.properties?.max_tokens != null)
  })

  it('reports node status', async () => {
    // A model loaded, so that the status lists it with its threads and GPU layers (none on this CPU build).
    assert.equal((await fetch(`${t.url}/api/plexus/models/stories260K/load`, { method: 'POST' })).status, 200)
    const s = await (await fetch(`${t.url}/api/plexus/status`)).json() as { nodeId: string, threads: number, models: Array<{ name: string }>, queue: { active: number }, loaded: Array<{ name: string, threads: number, gpuLayers: number, expiresAt: string | null }> }
    assert.match(s.nodeId, /^[0-9a-f]{16}$/)
    const loaded = s.loaded.find(m => m.name === 'stories260K')
    assert.ok(loaded != null && loaded.threads >= 1)
    assert.equal(loaded.gpuLayers, 0)
    assert.equal(loaded.expiresAt, null)
    assert.ok(s.threads >= 1)
    assert.deepEqual(s.models.map(m => m.name), ['stories260K'])
    assert.equal(s.queue.active, 0)
  })
})
