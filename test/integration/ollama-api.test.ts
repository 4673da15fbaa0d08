import { describe, it, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { readFileSync } from 'node:fs'
import { startTestNode, waitFor, FIXTURE_MODEL, FIXTURE_SHA256, type TestNode } from '../helpers/node.js'

/** Ollama's endpoints with plain fetch, as Ollama clients call them. */
describe('Ollama-compatible API', () => {
  let t: TestNode
  const post = async (path: string, body: unknown): Promise<Response> =>
    await fetch(t.url + path, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) })

  before(async () => { t = await startTestNode() })
  after(async () => { await t.close() })

  it('reports its version', async () => {
    const r = await fetch(`${t.url}/api/version`)
    assert.equal(r.status, 200)
    const body = await r.json() as { version: string }
    assert.match(body.version, /^\d+\.\d+\.\d+/)
  })

  it('lists local models as tags with digest and details', async () => {
    const body = await (await fetch(`${t.url}/api/tags`)).json() as { models: Array<{ name: string, digest: string, size: number, details: { family: string, quantization_level: string, format: string } }> }
    assert.equal(body.models.length, 1)
    const m = body.models[0]!
    assert.equal(m.name, 'stories260K')
    assert.equal(m.digest, FIXTURE_SHA256)
    assert.equal(m.size, 1185376)
    assert.equal(m.details.family, 'llama')
    assert.equal(m.details.format, 'gguf')
    assert.equal(m.details.quantization_level, 'F32')
  })

  it('streams chat as NDJSON by default, ending with done and counts', async () => {
    const r = await post('/api/chat', { model: 'stories260K', messages: [{ role: 'user', content: 'Tell a story' }], options: { num_predict: 10, temperature: 0 } })
    assert.equal(r.status, 200)
    assert.match(r.headers.get('content-type') ?? '', /application\/x-ndjson/)
    const lines = (await r.text()).trim().split('\n').map(l => JSON.parse(l) as { done: boolean, message: { role: string, content: string }, eval_count?: number, prompt_eval_count?: number, done_reason?: string })
    assert.ok(lines.length >= 2)
    const last = lines.at(-1)!
    assert.equal(last.done, true)
    assert.equal(last.done_reason, 'length')
    assert.equal(last.eval_count, 10)
    assert.ok((last.prompt_eval_count ?? 0) > 3)
    assert.ok(lines.slice(0, -1).every(l => !l.done && l.message.role === 'assistant'))
    assert.ok(lines.map(l => l.message.content).join('').length > 0)
  })

  it('answers chat in one object with stream:false, same text as the stream for the same seed', async () => {
    const body = { model: 'stories260K:latest', messages: [{ role: 'user', content: 'A story' }], options: { num_predict: 12, seed: 7, temperature: 0.8 } }
    const one = await (await post('/api/chat', { ...body, stream: false })).json() as { message: { content: string }, done: boolean, model: string }
    assert.equal(one.done, true)
    assert.equal(one.model, 'stories260K', 'the :latest suffix resolves to the bare name')
    const streamed = (await (await post('/api/chat', body)).text()).trim().split('\n').map(l => (JSON.parse(l) as { message: { content: string } }).message.content).join('')
    assert.equal(streamed, one.message.content)
  })

  it('generates raw text and templated text', async () => {
    const raw = await (await post('/api/generate', { model: 'stories260K', prompt: 'Once upon a time', raw: true, stream: false, options: { num_predict: 8, temperature: 0 } })).json() as { response: string, done: boolean, eval_count: number }
    assert.equal(raw.done, true)
    assert.equal(raw.eval_count, 8)
    assert.ok(raw.response.length > 0)
    const lines = (await (await post('/api/generate', { model: 'stories260K', prompt: 'Once upon a time', system: 'Be kind.', options: { num_predict: 5 } })).text()).trim().split('\n')
    const last = JSON.parse(lines.at(-1)!) as { done: boolean, eval_count: number }
    assert.equal(last.done, true)
    assert.equal(last.eval_count, 5)
  })

  it('constrains output with format: a JSON schema or "json"', async () => {
    // A schema whose values are bounded, so this tiny model completes it.
    const format = { type: 'object', properties: { happy: { type: 'boolean' }, mood: { enum: ['sunny', 'rainy'] } }, required: ['happy', 'mood'] }
    const chat = await (await post('/api/chat', { model: 'stories260K', messages: [{ role: 'user', content: 'A story' }], format, stream: false, options: { num_predict: 80, seed: 3, temperature: 0.8 } })).json() as { message: { content: string }, done_reason: string }
    assert.equal(chat.done_reason, 'stop')
    const doc = JSON.parse(chat.message.content) as { happy: unknown, mood: unknown }
    assert.equal(typeof doc.happy, 'boolean')
    assert.ok(doc.mood === 'sunny' || doc.mood === 'rainy')
    const gen = await (await post('/api/generate', { model: 'stories260K', prompt: 'A story', format: 'json', stream: false, options: { num_predict: 30, temperature: 0 } })).json() as { response: string }
    assert.match(gen.response, /^\{/)
    const bad = await post('/api/chat', { model: 'stories260K', messages: [{ role: 'user', content: 'A story' }], format: { type: 'string', pattern: 'a+' } })
    assert.equal(bad.status, 400)
    assert.match((await bad.json() as { error: string }).error, /pattern/)
  })

  it('accepts a body posted without a JSON content type, like curl -d', async () => {
    const r = await fetch(`${t.url}/api/generate`, { method: 'POST', body: JSON.stringify({ model: 'stories260K', prompt: 'Once', raw: true, stream: false, options: { num_predict: 2 } }) })
    assert.equal(r.status, 200)
    assert.equal((await r.json() as { eval_count: number }).eval_count, 2)
  })

  it('embeds one or many inputs', async () => {
    const r = await (await post('/api/embed', { model: 'stories260K', input: ['Once upon a time', 'a dog'] })).json() as { embeddings: number[][], prompt_eval_count: number }
    assert.equal(r.embeddings.length, 2)
    assert.equal(r.embeddings[0]!.length, 64)
    assert.ok(r.prompt_eval_count > 2)
    const single = await (await post('/api/embed', { model: 'stories260K', input: 'Once upon a time' })).json() as { embeddings: number[][] }
    single.embeddings[0]!.forEach((x, i) => assert.ok(Math.abs(x - r.embeddings[0]![i]!) < 1e-4))
  })

  it('lists loaded models in ps and shows model details', async () => {
    const ps = await (await fetch(`${t.url}/api/ps`)).json() as { models: Array<{ name: string, context_length: number }> }
    assert.deepEqual(ps.models.map(m => m.name), ['stories260K'])
    assert.equal(ps.models[0]!.context_length, 512)
    const show = await (await post('/api/show', { model: 'stories260K' })).json() as { model_info: Record<string, unknown>, details: { family: string } }
    assert.equal(show.details.family, 'llama')
    assert.equal(show.model_info['llama.context_length'], 2048)
  })

  it('answers errors in Ollama\'s shape', async () => {
    const unknown = await post('/api/chat', { model: 'missing', messages: [{ role: 'user', content: 'hi' }] })
    assert.equal(unknown.status, 404)
    const body = await unknown.json() as { error: string }
    assert.equal(typeof body.error, 'string')
    assert.ok(body.error.includes('missing'))

    const bad = await post('/api/generate', { model: 'stories260K', prompt: 12 })
    assert.equal(bad.status, 400)
    assert.equal(typeof (await bad.json() as { error: string }).error, 'string')

    const overflow = await post('/api/generate', { model: 'stories260K', prompt: 'word '.repeat(700), raw: true })
    assert.equal(overflow.status, 400)
    assert.match((await overflow.json() as { error: string }).error, /context length/)

    const notJson = await fetch(`${t.url}/api/chat`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"model": ' })
    assert.equal(notJson.status, 400)
    assert.equal(typeof (await notJson.json() as { error: string }).error, 'string')
  })

  it('embeds with the older /api/embeddings, as /api/embed does', async () => {
    const old = await (await post('/api/embeddings', { model: 'stories260K', prompt: 'Once upon a time' })).json() as { embedding: number[] }
    const now = await (await post('/api/embed', { model: 'stories260K', input: 'Once upon a time' })).json() as { embeddings: number[][] }
    assert.equal(old.embedding.length, now.embeddings[0]!.length)
    old.embedding.forEach((x, i) => assert.ok(Math.abs(x - now.embeddings[0]![i]!) < 1e-4))
  })

  it('pulls a GGUF by URL with Ollama progress lines, refuses registry names, and deletes', async () => {
    // Prepare: a web server on 127.0.0.1 offering a GGUF (the fixture with a few bytes more, so a new sha256).
    const bytes = Buffer.concat([readFileSync(FIXTURE_MODEL), Buffer.alloc(32)])
    const server = createServer((req, res) => { res.writeHead(200, { 'content-length': String(bytes.length) }).end(bytes) })
    await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/tiny-copy.gguf`
    try {
      // Execute: pull it, streamed.
      const r = await post('/api/pull', { model: url })
      assert.equal(r.status, 200)
      const lines = (await r.text()).trim().split('\n').map(l => JSON.parse(l) as { status?: string, error?: string, total?: number, completed?: number })

      // Assert: Ollama's shape, ending in success; the model is served under the file's name.
      assert.deepEqual(lines.filter(l => l.error != null), [])
      assert.equal(lines[0]!.status, 'pulling manifest')
      assert.ok(lines.some(l => l.status === 'downloading' && l.completed === bytes.length && l.total === bytes.length))
      assert.equal(lines.at(-1)!.status, 'success')
      const tags = async (): Promise<string[]> => ((await (await fetch(`${t.url}/api/tags`)).json()) as { models: Array<{ name: string }> }).models.map(m => m.name).sort()
      assert.deepEqual(await tags(), ['stories260K', 'tiny-copy'])

      // A registry name cannot be pulled, and says why.
      const byName = await post('/api/pull', { model: 'llama3.2' })
      assert.equal(byName.status, 400)
      assert.match((await byName.json() as { error: string }).error, /by URL/)

      // Delete it (and it is gone); deleting it again is a 404.
      const del = await fetch(`${t.url}/api/delete`, { method: 'DELETE', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: 'tiny-copy' }) })
      assert.equal(del.status, 200)
      assert.deepEqual(await tags(), ['stories260K'])
      const again = await fetch(`${t.url}/api/delete`, { method: 'DELETE', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: 'tiny-copy' }) })
      assert.equal(again.status, 404)
    } finally {
      server.closeAllConnections()
      await new Promise<void>(resolve => server.close(() => resolve()))
    }
  })

  it('honours keep_alive: a deadline after the request, forever, and 0 to unload', async () => {
    type Ps = { models: Array<{ name: string, expires_at: string }> }
    const ps = async (): Promise<Ps['models']> => (await (await fetch(`${t.url}/api/ps`)).json() as Ps).models
    const generate = async (keep: unknown): Promise<Response> => await post('/api/generate', { model: 'stories260K', prompt: 'Once', raw: true, stream: false, keep_alive: keep, options: { num_predict: 2 } })

    // Forever (-1), then a deadline 2 s after the request.
    assert.equal((await generate(-1)).status, 200)
    assert.equal((await ps())[0]!.expires_at, '9999-12-31T23:59:59.000Z')
    const before = Date.now()
    assert.equal((await generate('2s')).status, 200)
    const expires = Date.parse((await ps())[0]!.expires_at)
    assert.ok(expires >= before + 2000 && expires <= Date.now() + 2000, `expires_at ${new Date(expires).toISOString()}`)
    await waitFor('the model to be unloaded at its deadline', async () => (await ps()).length === 0, 30_000)

    // An empty request loads it (with a deadline), and one with keep_alive 0 unloads it.
    const load = await (await post('/api/generate', { model: 'stories260K', keep_alive: '10m' })).json() as { done_reason: string }
    assert.equal(load.done_reason, 'load')
    assert.equal((await ps()).length, 1)
    const unload = await (await post('/api/chat', { model: 'stories260K', messages: [], keep_alive: 0 })).json() as { done_reason: string }
    assert.equal(unload.done_reason, 'unload')
    assert.deepEqual(await ps(), [])

    // A keep_alive that is not a duration is refused.
    const bad = await generate('5 minutes')
    assert.equal(bad.status, 400)
    assert.match((await bad.json() as { error: string }).error, /keep_alive/)
  })
})
